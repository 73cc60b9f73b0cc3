//! How many RTSP connections a server takes at once (`max-clients` of
//! `onvifbackchannelsrc`).
//!
//! An idle connection costs the server one file descriptor, but a client
//! that has sent DESCRIBE and SETUP has a media prepared for it: about five
//! threads and four descriptors here, as in gst-rtsp-server alone. Without
//! a bound, a burst of clients that never PLAY (or never leave) exhausts a
//! small device. Connections beyond the bound get `503 Service Unavailable`
//! and are closed.

use std::sync::Mutex;

/// The connections a server has admitted, out of a changeable maximum.
#[derive(Debug, Default)]
pub struct ClientSlots {
    taken: Mutex<u32>,
}

impl ClientSlots {
    /// Takes a slot for a new connection if fewer than `max` are taken
    /// (`max` 0: no limit): Ok(slots now taken), or Err(slots taken) when
    /// the connection must be refused.
    pub fn try_take(&self, max: u32) -> Result<u32, u32> {
        let mut taken = self.taken.lock().unwrap();
        if max != 0 && *taken >= max {
            return Err(*taken);
        }
        *taken += 1;
        Ok(*taken)
    }

    /// An admitted connection closed.
    pub fn release(&self) {
        let mut taken = self.taken.lock().unwrap();
        *taken = taken.saturating_sub(1);
    }

    pub fn taken(&self) -> u32 {
        *self.taken.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_maximum_then_refuses() {
        let slots = ClientSlots::default();
        assert_eq!(slots.try_take(2), Ok(1));
        assert_eq!(slots.try_take(2), Ok(2));
        assert_eq!(slots.try_take(2), Err(2));
        assert_eq!(slots.try_take(2), Err(2));
        assert_eq!(slots.taken(), 2);
    }

    #[test]
    fn a_connection_that_leaves_frees_its_slot() {
        let slots = ClientSlots::default();
        slots.try_take(1).unwrap();
        assert_eq!(slots.try_take(1), Err(1));
        slots.release();
        assert_eq!(slots.try_take(1), Ok(1));
    }

    #[test]
    fn zero_is_no_limit() {
        let slots = ClientSlots::default();
        for n in 1..=1000 {
            assert_eq!(slots.try_take(0), Ok(n));
        }
    }

    #[test]
    fn a_lower_maximum_applies_to_new_connections_only() {
        let slots = ClientSlots::default();
        for _ in 0..5 {
            slots.try_take(0).unwrap();
        }
        assert_eq!(slots.try_take(3), Err(5));
        for _ in 0..3 {
            slots.release();
        }
        assert_eq!(slots.try_take(3), Ok(3));
    }

    #[test]
    fn releases_never_go_below_zero() {
        let slots = ClientSlots::default();
        slots.release();
        assert_eq!(slots.taken(), 0);
        assert_eq!(slots.try_take(1), Ok(1));
    }
}
