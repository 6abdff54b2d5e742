//! The reaper's coarse clock: how long a period is, how many periods make a
//! time-to-live, and when the driver wakes next.
//!
//! The clock is a counter of periods that only the driver advances. A touch
//! copies it, so a touch that read period `L` happened before the driver
//! stored `L + 1`. The driver stores period `p` no earlier than the first
//! grid point (`epoch + k * period`) after it stored `p - 1`; by induction,
//! storing `L + 1 + ttl_periods` happens more than `(ttl_periods - 1) *
//! period >= ttl` after storing `L + 1`. Hence reaping an entry last touched
//! in `L` once the clock reaches `L + 1 + ttl_periods` is never early, even
//! when the driver runs late (it then only reaps late). Normally that is at
//! most `(ttl_periods + 1) * period < ttl + 3 * period = ttl + tick` after the
//! touch, plus timer and scheduling slack.

use std::time::{Duration, Instant};

/// The finest tick: the driver wakes at most every millisecond.
pub(crate) const MIN_TICK: Duration = Duration::from_millis(3);
/// Bounds the ring of buckets to about 2k entries.
const MAX_PERIODS_PER_TTL: u32 = 512;

#[derive(Debug)]
pub(crate) struct Pace {
    epoch: Instant,
    pub(crate) ttl: Duration,
    pub(crate) tick: Duration,
    period: Duration,
    pub(crate) ttl_periods: u64,
}

impl Pace {
    /// The tick defaults to `ttl / 16` and is clamped to
    /// `[max(3 ms, ttl / 512), max(ttl, 3 ms)]`.
    pub(crate) fn new(ttl: Duration, tick: Option<Duration>) -> Self {
        let floor = MIN_TICK.max(ttl / MAX_PERIODS_PER_TTL);
        let ceiling = ttl.max(MIN_TICK);
        let tick = tick.unwrap_or(ttl / 16).clamp(floor, ceiling);
        let period = tick / 3;
        let ttl_periods = ttl.as_nanos().div_ceil(period.as_nanos()) + 1;
        Pace {
            epoch: crate::rt::clock::now(),
            ttl,
            tick,
            period,
            ttl_periods: u64::try_from(ttl_periods).unwrap_or(u64::MAX),
        }
    }

    /// How many buckets the expiry queue needs (see `queue`).
    pub(crate) fn buckets(&self) -> usize {
        usize::try_from(self.ttl_periods + 2).unwrap_or(usize::MAX)
    }

    /// The period from which an entry last touched in `last` may be reaped.
    pub(crate) fn due(&self, last: u64) -> u64 {
        last.saturating_add(self.ttl_periods + 1)
    }

    /// `periods` clock periods as a duration (saturating).
    pub(crate) fn duration(&self, periods: u64) -> Duration {
        nanos_to_duration(self.period.as_nanos().saturating_mul(u128::from(periods)))
    }

    /// The first grid point after `stored_at`, the instant just after the
    /// driver stored a period; `None` if not representable (never).
    pub(crate) fn next_wake(&self, stored_at: Instant) -> Option<Instant> {
        let since = stored_at.saturating_duration_since(self.epoch).as_nanos();
        let period = self.period.as_nanos();
        // u64 division when it fits (always, short of centuries): the driver
        // does this on every tick, and a u128 division is several times slower.
        let target = match (u64::try_from(since), u64::try_from(period)) {
            (Ok(since), Ok(period)) => u128::from((since / period + 1).checked_mul(period)?),
            _ => (since / period + 1).checked_mul(period)?,
        };
        let secs = u64::try_from(target / 1_000_000_000).ok()?;
        let at = Duration::new(secs, (target % 1_000_000_000) as u32);
        self.epoch.checked_add(at)
    }
}

fn nanos_to_duration(nanos: u128) -> Duration {
    match u64::try_from(nanos / 1_000_000_000) {
        Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_counts_periods() {
        let p = Pace::new(Duration::from_secs(5), None);
        assert_eq!(
            p.tick,
            Duration::from_millis(312) + Duration::from_micros(500)
        );
        assert!(p.duration(p.ttl_periods - 1) >= p.ttl);
        assert!(p.duration(p.ttl_periods + 1) < p.ttl + p.tick);
        let zero = Pace::new(Duration::ZERO, None);
        assert_eq!(zero.tick, MIN_TICK);
        assert_eq!(zero.ttl_periods, 1);
        let coarse = Pace::new(Duration::from_millis(10), Some(Duration::from_secs(9)));
        assert_eq!(coarse.tick, Duration::from_millis(10));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        for ttl in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            for tick in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
                let p = Pace::new(ttl, tick);
                assert!(p.buckets() <= 2048, "{ttl:?} {tick:?}");
                let _ = p.next_wake(Instant::now());
                assert_eq!(p.duration(u64::MAX), Duration::MAX);
                assert_eq!(p.due(u64::MAX), u64::MAX);
            }
        }
    }

    #[test]
    fn wakes_on_the_grid() {
        let p = Pace::new(Duration::from_millis(48), Some(Duration::from_millis(3)));
        let t = p.epoch + Duration::from_micros(1500);
        assert_eq!(p.next_wake(t), Some(p.epoch + Duration::from_millis(2)));
        let on_point = p.epoch + Duration::from_millis(2);
        assert_eq!(
            p.next_wake(on_point),
            Some(p.epoch + Duration::from_millis(3))
        );
    }
}
