use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;

use crate::talk::{self, Talk, RATE};

use crate::output::CAT;

/// Samples per block: 10 ms.
const BLOCK: u64 = RATE as u64 / 100;
/// How far behind the clock the source may fall before it skips ahead.
const MAX_LATE: gst::ClockTime = gst::ClockTime::from_mseconds(100);

fn samples_to_time(samples: u64) -> gst::ClockTime {
    gst::ClockTime::SECOND
        .mul_div_floor(samples, RATE as u64)
        .unwrap()
}

fn time_to_samples(time: gst::ClockTime) -> u64 {
    time.nseconds()
        .mul_div_floor(RATE as u64, gst::ClockTime::SECOND.nseconds())
        .unwrap()
}

#[derive(Default)]
struct Wait {
    flushing: bool,
    id: Option<gst::SingleShotClockId>,
}

#[derive(Default)]
pub struct TalkOutputSrc {
    pub(super) talk: Mutex<Option<Arc<Talk>>>,
    /// Sample offset of the next block, from running time 0.
    next: Mutex<Option<u64>>,
    wait: Mutex<Wait>,
    talking: Mutex<bool>,
}

#[glib::object_subclass]
impl ObjectSubclass for TalkOutputSrc {
    const NAME: &'static str = "GstOnvifBackchannelOutputSrc";
    type Type = super::TalkOutputSrc;
    type ParentType = gst_base::PushSrc;
}

impl ObjectImpl for TalkOutputSrc {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_live(true);
        obj.set_format(gst::Format::Time);
    }
}

impl GstObjectImpl for TalkOutputSrc {}

impl ElementImpl for TalkOutputSrc {
    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &talk::raw_caps(),
            )
            .unwrap()]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSrcImpl for TalkOutputSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.next.lock().unwrap() = None;
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn query(&self, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            // A block is complete only when its last sample is due.
            let block = samples_to_time(BLOCK);
            q.set(true, block, Some(block));
            return true;
        }
        BaseSrcImplExt::parent_query(self, query)
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        let mut wait = self.wait.lock().unwrap();
        wait.flushing = true;
        if let Some(id) = wait.id.take() {
            id.unschedule();
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.wait.lock().unwrap().flushing = false;
        Ok(())
    }
}

impl PushSrcImpl for TalkOutputSrc {
    fn create(
        &self,
        _buffer: Option<&mut gst::BufferRef>,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let obj = self.obj();
        let (Some(clock), Some(base_time)) = (obj.clock(), obj.base_time()) else {
            return Err(gst::FlowError::Flushing);
        };
        let now = clock.time().saturating_sub(base_time);
        let offset = {
            let mut next = self.next.lock().unwrap();
            let offset = match *next {
                Some(offset) if samples_to_time(offset) + MAX_LATE >= now => offset,
                Some(offset) => {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "{} behind the clock, skipping ahead",
                        now - samples_to_time(offset)
                    );
                    time_to_samples(now)
                }
                None => time_to_samples(now),
            };
            *next = Some(offset + BLOCK);
            offset
        };
        let pts = samples_to_time(offset);
        let end = samples_to_time(offset + BLOCK);

        // Wait until the block's last sample is due, then take what arrived.
        let id = clock.new_single_shot_id(base_time + end);
        {
            let mut wait = self.wait.lock().unwrap();
            if wait.flushing {
                return Err(gst::FlowError::Flushing);
            }
            wait.id = Some(id.clone());
        }
        let (res, _) = id.wait();
        self.wait.lock().unwrap().id = None;
        if res == Err(gst::ClockError::Unscheduled) {
            return Err(gst::FlowError::Flushing);
        }

        let mut samples = [0f32; BLOCK as usize];
        // Late when this thread was held up: the blocks it then pulls in a
        // row to catch up were due before audio that arrived meanwhile.
        let late = clock.time().saturating_sub(base_time + end);
        let heard = match self.talk.lock().unwrap().as_ref() {
            Some(talk) => talk.pull(&mut samples, late),
            None => 0,
        };
        {
            let mut talking = self.talking.lock().unwrap();
            if *talking != (heard > 0) {
                *talking = heard > 0;
                gst::debug!(
                    CAT,
                    imp = self,
                    "output at {pts}: {}",
                    if heard > 0 { "audio" } else { "silence" }
                );
            }
        }
        let mut buffer =
            gst::Buffer::with_size(samples.len() * 4).map_err(|_| gst::FlowError::Error)?;
        {
            let buffer = buffer.get_mut().unwrap();
            buffer.set_pts(pts);
            buffer.set_duration(end - pts);
            buffer.set_offset(offset);
            buffer.set_offset_end(offset + BLOCK);
            let mut map = buffer.map_writable().map_err(|_| gst::FlowError::Error)?;
            for (chunk, s) in map.chunks_exact_mut(4).zip(samples) {
                chunk.copy_from_slice(&s.to_ne_bytes());
            }
        }
        Ok(CreateSuccess::NewBuffer(buffer))
    }
}
