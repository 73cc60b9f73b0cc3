// SPDX-License-Identifier: MPL-2.0
//! The plugin's pure modules, compiled from the plugin's own sources (see
//! Cargo.toml for why not as a dependency; `soap` is src/onvif/soap.rs, which
//! uses nothing of the crate; `discovery` is src/onvif/discovery.rs, its glib
//! part left out under cfg(fuzzing)). `sdp`, `codecs` and `direct`
//! refer to their neighbours as `crate::...`, which resolves to the copies
//! here.

#[path = "../../src/http/auth_params.rs"]
pub mod auth_params;
#[path = "../../src/codecs.rs"]
pub mod codecs;
#[path = "../../src/direct.rs"]
pub mod direct;
#[path = "../../src/onvif/discovery.rs"]
pub mod discovery;
#[path = "../../src/pcm.rs"]
pub mod pcm;
#[path = "../../src/reorder.rs"]
pub mod reorder;
#[path = "../../src/rtp.rs"]
pub mod rtp;
#[path = "../../src/rtsp_headers.rs"]
pub mod rtsp_headers;
#[path = "../../src/sdp.rs"]
pub mod sdp;
#[path = "../../src/sink/plan.rs"]
pub mod sink_plan;
#[path = "../../src/sink/rtsp.rs"]
pub mod sink_rtsp;
#[path = "../../src/onvif/soap.rs"]
pub mod soap;
#[path = "../../src/upsample.rs"]
pub mod upsample;
#[path = "../../src/vad.rs"]
pub mod vad;
#[path = "../../src/webrtc/offer.rs"]
pub mod webrtc_offer;

// The paths those modules use for their neighbours (`crate::webrtc::offer`
// and so on), pointing at the copies here. (`sink::rtsp`'s digest answer
// needs glib and is left out under cfg(fuzzing).)
pub mod webrtc {
    pub use crate::webrtc_offer as offer;
}
pub mod http {
    pub use crate::auth_params;
}
pub mod onvif {
    pub use crate::discovery;
}
pub mod sink {
    pub use crate::sink_plan as plan;
    pub use crate::sink_rtsp as rtsp;
}
