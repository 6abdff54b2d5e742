//! The crate's one clock.
//!
//! Every instant the crate handles is a plain [`std::time::Instant`]. For
//! compact storage (the deadline scope) instants are also encoded as
//! nanoseconds since one process-wide epoch ([`to_nanos`]/[`from_nanos`]).
//!
//! Readings are never cached across work: a caller that needs "now" reads
//! it at that moment. (An earlier design shared one reading per poll of the
//! outermost timeout; a nested `block_on` or a long synchronous stretch then
//! saw time stand still, and timers hung or fired early.)
//!
//! There is no coarse clock. Linux's `CLOCK_MONOTONIC_COARSE` costs a third
//! of an exact reading, but on this project's test machine (a VM) it lagged
//! the exact clock by more than its advertised 4 ms resolution in most
//! reads (up to 9.4 ms), so it cannot bound the start of a timeout without
//! letting it fire early; a tick counter kept by the timer thread goes stale
//! whenever that thread sleeps. Exact readings it is.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The time now: the virtual clock's if one is entered on this thread
/// (feature `test-util`), else the real one.
#[inline]
pub(crate) fn now() -> Instant {
    #[cfg(feature = "test-util")]
    if let Some(now) = super::virtual_clock::now() {
        return now;
    }
    Instant::now()
}

/// `at` as nanoseconds since the epoch (0 for anything before it, which
/// is long past; `u64::MAX` past what a `u64` holds, centuries away).
#[inline]
pub(crate) fn to_nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `nanos` after the epoch (`None` if `Instant` cannot hold it).
#[inline]
pub(crate) fn from_nanos(nanos: u64) -> Option<Instant> {
    epoch().checked_add(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trip() {
        let t = now() + Duration::from_millis(5);
        let back = from_nanos(to_nanos(t)).unwrap();
        assert!(back <= t && t - back < Duration::from_nanos(2));
        assert_eq!(to_nanos(epoch()), 0);
        if let Some(far) = now().checked_add(Duration::from_secs(1 << 40)) {
            assert_eq!(to_nanos(far), u64::MAX);
        }
    }
}
