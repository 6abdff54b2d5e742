//! What an adaptive limiter shares with its permits: the policy behind a
//! mutex, the sampling stride, and the figures `stats()` reads.

use std::cell::Cell;
use std::sync::{PoisonError, TryLockError};
use std::time::{Duration, Instant};

use super::{Policy, aimd, gradient};
use crate::limit::limiter::Inner;
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The sparsest sampling: one permit in this many. It bounds how long the
/// policy can go without a sample when the rate falls suddenly (at most
/// about this many permits) and keeps a sample's cost, spread over the
/// permits it stands for, below a nanosecond or two.
pub(super) const MAX_STRIDE: u32 = 256;

/// How long the sampling rate is measured before the stride is revised.
const WINDOW: Duration = Duration::from_millis(10);

thread_local! {
    /// The last of this thread's sampling draws; 0 until its first draw,
    /// which seeds it (see [`seed`]).
    static DRAW: Cell<u32> = const { Cell::new(0) };
}

/// Where the next thread's draws start: itself a Weyl sequence (of
/// another irrational, `sqrt(2) - 1`), so that the first draws of
/// successive threads are spread evenly too. Without it every thread
/// started at the same point of the same sequence (its first draw was
/// always 0.618): a thread taking one permit, or a few, was never sampled
/// once the stride was above 1, and a pool's threads drew in lockstep.
/// (`std`'s atomic: loom's cannot be a `static`; this is no protocol.)
static SEED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A fresh thread's starting point (called once per thread, or again
/// after 2^32 draws, when the sequence passes 0).
#[cold]
#[inline(never)]
fn seed() -> u32 {
    const STEP: u32 = 0x6A09_E667; // 2^32 * (sqrt(2) - 1)
    SEED.fetch_add(STEP, std::sync::atomic::Ordering::Relaxed)
        .wrapping_add(STEP)
}

/// The next sampling draw of this thread: a Weyl sequence (multiples of
/// the golden ratio, modulo 2^32). It covers `[0, 2^32)` evenly, and so
/// does every arithmetic subsequence of it, so that neither a caller's own
/// rhythm (every other acquire is a cheap request) nor several limiters
/// sharing the thread bias which permits a limiter samples; and it costs
/// an addition (a random generator costs a multiplication and a lazily
/// initialised state).
#[inline]
fn draw() -> u32 {
    const GOLDEN: u32 = 0x9E37_79B9; // 2^32 / golden ratio
    DRAW.with(|d| {
        let mut x = d.get();
        if x == 0 {
            x = seed();
        }
        let x = x.wrapping_add(GOLDEN);
        d.set(x);
        x
    })
}

/// One observation handed to a policy.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) rtt: Duration,
    pub(super) failed: bool,
    /// Permits (by weight) in use just after the grant; the whole limit
    /// when somebody was queueing.
    pub(super) in_flight: usize,
    pub(super) granted: Instant,
    pub(super) released: Instant,
    /// How many permits this sample stands for (the stride at its grant).
    pub(super) stride: u32,
}

enum State {
    Gradient(gradient::GradientState),
    Aimd(aimd::AimdState),
}

impl State {
    /// (no-load RTT, recent RTT) in seconds, as the policy estimates them.
    fn rtts(&self) -> (Option<f64>, Option<f64>) {
        match self {
            State::Gradient(g) => g.rtts(),
            State::Aimd(a) => a.rtts(),
        }
    }
}

/// Permits released since `started`, estimated from the samples (each
/// stands for `stride` permits), to set the next stride.
struct Window {
    started: Option<Instant>,
    permits: u64,
}

struct Control {
    state: State,
    /// The unrounded limit.
    limit: f64,
    samples: u64,
    failures: u64,
    window: Window,
}

/// The policy's half of an adaptive limiter, reached by its permits
/// through the fixed limiter's `Inner` (see `Inner::adaptive`).
pub(in crate::limit) struct Shared {
    control: Mutex<Control>,
    pub(super) min_limit: usize,
    pub(in crate::limit) max_limit: usize,
    /// The limit the policy wants (rounded); applied after the lock is gone.
    target: AtomicUsize,
    /// One permit in `stride` is sampled (picked by `draw` at its grant).
    stride: AtomicU32,
    /// The aimed-for time between two samples, in seconds.
    sample_interval: f64,
    /// (no-load RTT, recent RTT) in nanoseconds, `u64::MAX` for none yet.
    no_load_nanos: AtomicU64,
    recent_nanos: AtomicU64,
    /// Success samples skipped because the policy was busy.
    skipped: AtomicU64,
}

/// What `AdaptiveLimiter::stats` reports of the policy.
pub(super) struct Snapshot {
    pub(super) limit: f64,
    pub(super) samples: u64,
    pub(super) failures: u64,
    pub(super) no_load_rtt: Option<Duration>,
    pub(super) recent_rtt: Option<Duration>,
    pub(super) skipped: u64,
    pub(super) stride: u32,
}

fn nanos(secs: Option<f64>) -> u64 {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let n = s * 1e9;
            if n >= u64::MAX as f64 {
                u64::MAX - 1
            } else {
                n as u64
            }
        }
        _ => u64::MAX,
    }
}

fn from_nanos(n: u64) -> Option<Duration> {
    (n != u64::MAX).then(|| Duration::from_nanos(n))
}

impl Shared {
    /// `min <= initial <= max` (the builder clamps them); all three are
    /// clamped to [`Limiter::MAX_PERMITS`](crate::limit::Limiter::MAX_PERMITS)
    /// here, the most the fixed limiter can apply: above it the policy's
    /// target would never be the applied limit, and a weight between the
    /// two would pass `admit`'s ceiling and wait for ever.
    pub(super) fn new(
        policy: Policy,
        initial: usize,
        (min, max): (usize, usize),
        sample_interval: Duration,
    ) -> Self {
        let most = crate::limit::Limiter::MAX_PERMITS;
        let (min, max, initial) = (min.min(most), max.min(most), initial.min(most));
        let state = match policy {
            Policy::Gradient(g) => State::Gradient(gradient::GradientState::new(g)),
            Policy::Aimd(a) => State::Aimd(aimd::AimdState::new(a)),
        };
        Shared {
            control: Mutex::new(Control {
                state,
                limit: initial as f64,
                samples: 0,
                failures: 0,
                window: Window {
                    started: None,
                    permits: 0,
                },
            }),
            min_limit: min,
            max_limit: max,
            target: AtomicUsize::new(initial),
            stride: AtomicU32::new(1),
            sample_interval: sample_interval.as_secs_f64(),
            no_load_nanos: AtomicU64::new(u64::MAX),
            recent_nanos: AtomicU64::new(u64::MAX),
            skipped: AtomicU64::new(0),
        }
    }

    /// Whether to time a permit granted now: `Some(stride)` for one in
    /// `stride`, picked by [`draw`] (no shared write).
    #[inline]
    pub(super) fn pick(&self) -> Option<u32> {
        let stride = self.stride.load(Ordering::Relaxed);
        // `draw / 2^32 < 1 / stride`, without a division.
        (stride <= 1 || (u64::from(draw()) * u64::from(stride)) >> 32 == 0).then_some(stride)
    }

    /// Permits in use right after a grant, from the fixed limiter's word.
    pub(super) fn in_flight(&self, limiter: &Inner) -> usize {
        let limit = self.target.load(Ordering::Relaxed);
        match limiter.free_now() {
            Some(free) => limit.saturating_sub(free),
            None => limit, // somebody queues: all spoken for
        }
    }

    /// Feeds the policy one sample and applies the limit it returns.
    pub(super) fn record(&self, limiter: &Inner, sample: Sample) {
        let target = {
            // A success never waits for the policy's lock: if another
            // release is updating the policy right now, this sample is
            // skipped (counted), so releases do not queue on each other.
            // Losses always get through.
            let mut c = if sample.failed {
                self.control.lock().unwrap_or_else(PoisonError::into_inner)
            } else {
                match self.control.try_lock() {
                    Ok(c) => c,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => {
                        self.skipped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            };
            self.resample(&mut c.window, &sample);
            let limit = c.limit;
            let new = match &mut c.state {
                State::Gradient(g) => g.on_sample(limit, self.min_limit as f64, &sample),
                State::Aimd(a) => a.on_sample(limit, &sample),
            };
            let rtts = c.state.rtts();
            let (lo, hi) = (self.min_limit as f64, self.max_limit as f64);
            c.limit = if new.is_nan() {
                limit
            } else {
                new.clamp(lo, hi)
            };
            c.samples += 1;
            c.failures += u64::from(sample.failed);
            // Written only when they change: these lines are shared.
            for (cell, value) in [(&self.no_load_nanos, rtts.0), (&self.recent_nanos, rtts.1)] {
                let value = nanos(value);
                if cell.load(Ordering::Relaxed) != value {
                    cell.store(value, Ordering::Relaxed);
                }
            }
            let target = (c.limit.round() as usize).clamp(self.min_limit, self.max_limit);
            // Under the lock, so only this release changes `target` now.
            let previous = self.target.load(Ordering::SeqCst);
            (previous != target).then(|| {
                self.target.store(target, Ordering::SeqCst);
                if target < previous {
                    self.thin_out(previous, target);
                }
                (previous, target, rtts)
            })
        };
        let Some((previous, target, rtts)) = target else {
            return;
        };
        // The policy's lock is released: now wake whoever the new limit
        // lets in. Re-check afterwards, so that of two releases racing, the
        // last limit the policy chose is the one that stays applied.
        self.apply(limiter, target);
        crate::trace::event!("async_guard::limit", DEBUG, "adaptive limit changed";
            limit = target, previous,
            no_load_rtt_ms = rtts.0.map_or(-1.0, |s| s * 1e3),
            recent_rtt_ms = rtts.1.map_or(-1.0, |s| s * 1e3));
        let _ = (previous, rtts); // (read without `tracing` too)
    }

    /// Revises the stride once a window is over, so that samples come
    /// about one per `sample_interval`: every permit at low rates, a
    /// one in `stride` above `1 / sample_interval` permits a second.
    fn resample(&self, window: &mut Window, sample: &Sample) {
        let started = *window.started.get_or_insert(sample.granted);
        window.permits += u64::from(sample.stride);
        let Some(elapsed) = sample.released.checked_duration_since(started) else {
            return;
        };
        if elapsed < WINDOW {
            return;
        }
        let rate = window.permits as f64 / elapsed.as_secs_f64();
        let stride = (rate * self.sample_interval).clamp(1.0, f64::from(MAX_STRIDE)) as u32;
        if self.stride.load(Ordering::Relaxed) != stride {
            self.stride.store(stride, Ordering::Relaxed);
        }
        *window = Window {
            started: Some(sample.released),
            permits: 0,
        };
    }

    /// A lower limit lowers the rate of permits in proportion (at the same
    /// round-trip time, by Little's law): lower the stride with it at once,
    /// rather than after the next window. Without this, Gradient's probe
    /// at `min_limit` would wait about `stride` permits for its samples
    /// (e.g. 256 round-trips at a limit of 1) instead of a few.
    fn thin_out(&self, previous: usize, target: usize) {
        let stride = self.stride.load(Ordering::Relaxed);
        let scaled = (u128::from(stride) * target as u128 / previous.max(1) as u128).max(1);
        let scaled = u32::try_from(scaled).unwrap_or(MAX_STRIDE);
        if scaled < stride {
            self.stride.store(scaled, Ordering::Relaxed);
        }
    }

    fn apply(&self, limiter: &Inner, mut target: usize) {
        loop {
            limiter.set_limit(target);
            let now = self.target.load(Ordering::SeqCst);
            if now == target {
                return;
            }
            target = now;
        }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let (limit, samples, failures) = {
            let c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
            (c.limit, c.samples, c.failures)
        };
        Snapshot {
            limit,
            samples,
            failures,
            no_load_rtt: from_nanos(self.no_load_nanos.load(Ordering::Relaxed)),
            recent_rtt: from_nanos(self.recent_nanos.load(Ordering::Relaxed)),
            skipped: self.skipped.load(Ordering::Relaxed),
            stride: self.stride.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::draw;

    /// One in `stride` draws is picked, and so is one in `stride` of every
    /// arithmetic subsequence (a caller's rhythm): within 2 %.
    #[test]
    fn draws_pick_one_in_stride_in_every_subsequence() {
        for stride in [2u64, 3, 7, 64, 256] {
            for step in 1..=4usize {
                let n = 200_000usize;
                let picked = (0..n * step)
                    .map(|_| draw())
                    .step_by(step)
                    .filter(|&d| (u64::from(d) * stride) >> 32 == 0)
                    .count();
                let expected = n as f64 / stride as f64;
                let error = (picked as f64 - expected).abs() / expected;
                assert!(
                    error < 0.02,
                    "stride {stride}, step {step}: {picked} of {n}"
                );
            }
        }
    }
}
