//! Adaptive concurrency limits: a [`Limiter`] whose limit is set, as TCP
//! sets its congestion window, from what its own permits measure.
//!
//! A fixed limit is wrong twice: too low wastes capacity, too high lets a
//! queue build inside the service until everything times out, and the
//! right value moves whenever the work or the machine changes. An
//! [`AdaptiveLimiter`] owns a [`Limiter`] (so FIFO fairness, weights,
//! [`max_waiting`](AdaptiveLimiterBuilder::max_waiting) shedding,
//! [`close`](AdaptiveLimiter::close) and
//! [`acquire_timeout`](AdaptiveLimiter::acquire_timeout) are the fixed
//! limiter's, unchanged) and a *policy*. Each [`AdaptivePermit`] records
//! when it was granted; when it is released the policy gets a sample (the
//! round-trip time from grant to release, whether the work failed, how
//! many permits were in use at the grant) and returns a new limit, which
//! is applied with [`Limiter::set_limit`] (growing serves waiters at once,
//! shrinking never revokes a held permit).
//!
//! ```
//! use async_guard::limit::adaptive::{AdaptiveLimiter, Gradient};
//! # futures_lite::future::block_on(async {
//! let limiter = AdaptiveLimiter::builder()
//!     .policy(Gradient::new())
//!     .initial_limit(8)
//!     .min_limit(2)
//!     .max_limit(256)
//!     .max_waiting(64)
//!     .build();
//! let mut permit = limiter.acquire().await?;
//! let ok = true; // ... call the service ...
//! if !ok {
//!     permit.failed(); // a loss: AIMD backs off, Gradient shrinks
//! }
//! drop(permit); // the sample is taken here
//! assert_eq!(limiter.stats().samples, 1);
//! # Ok::<(), async_guard::Error>(())
//! # }).unwrap();
//! ```
//!
//! # The policies
//!
//! - [`Gradient`] (latency-based), after Netflix's `Gradient2Limit`
//!   (<https://github.com/Netflix/concurrency-limits>) and Envoy's adaptive
//!   concurrency filter (<https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/adaptive_concurrency_filter>):
//!   once per round-trip, while the round's mean RTT is within `tolerance`
//!   of the no-load RTT the limit grows by a small queue allowance, beyond
//!   it the limit shrinks in proportion (`tolerance * min_rtt / rtt`, at
//!   most halving), smoothed. The no-load RTT is measured, as Envoy does,
//!   by briefly dropping the limit to `min_limit` every `probe_interval`.
//!   It reacts to queueing *before* anything fails.
//! - [`Aimd`] (loss-based), after TCP Reno's congestion avoidance
//!   (Jacobson 1988, RFC 5681) and Netflix's `AIMDLimit`: `+increase` per
//!   round of successes, `*backoff` on a loss (a permit marked
//!   [`failed`](AdaptivePermit::failed), a panic, a cancelled
//!   [`run`](AdaptiveLimiter::run), or an RTT above a threshold), at most
//!   once per round.
//!
//! Related designs, not implemented here: TCP Vegas (Brakmo and Peterson
//! 1995) estimates the queue as `limit * (1 - min_rtt / rtt)` and keeps it
//! between two thresholds; it is very sensitive to the minimum RTT being
//! right, which a service whose latency also varies with the request mix
//! rarely gives, and Gradient covers the same latency signal with a
//! smoothed estimate. Envoy's adaptive concurrency filter (a gradient
//! controller, whose minimum-RTT probe `Gradient` borrows) and brpc's auto
//! concurrency limiter (<https://github.com/apache/brpc>, `docs/en/auto_concurrency_limiter.md`:
//! `max_qps * ((2 + alpha) * min_latency - avg_latency)`, also with a
//! periodic re-measurement of the minimum latency) both accept the probes'
//! throughput cost because a no-load latency cannot be observed under load.
//! Netflix's Gradient2 instead keeps a long-term average of the RTT, which
//! creeps upwards under sustained overload (it was the first version of
//! this module, and on the test service it grew the limit without bound).
//!
//! # Picking one, and the parameters
//!
//! Start with [`Gradient`] when overload shows as latency (a CPU-bound or
//! queueing service: the usual case): `tolerance` is how much latency
//! inflation you accept for throughput (1.5 to 2), `queue_allowance` how
//! hard it probes upwards, `smoothing` how fast it moves. Use [`Aimd`] when
//! overload shows as failures (timeouts, `503`s, shed requests
//! downstream), or when latency is too noisy to carry a signal; give it an
//! [`rtt_threshold`](Aimd::rtt_threshold) at your latency objective so a
//! slow success counts as a loss. Always set `min_limit` and `max_limit`
//! to what the service can sanely run.
//!
//! # Failure modes
//!
//! - *Latency-insensitive overload*: if overload does not raise the RTT the
//!   permit measures (the work is queued elsewhere after the permit is
//!   released, or the service fails fast), Gradient sees nothing and keeps
//!   growing to `max_limit`; only losses can stop it (mark them with
//!   [`failed`](AdaptivePermit::failed), or use AIMD).
//! - *Bimodal workloads*: when requests of very different cost share one
//!   limiter, the short-term RTT follows the mix rather than the load: a
//!   burst of slow requests looks like congestion and shrinks the limit, a
//!   burst of fast ones looks like headroom. Use one limiter per class, or
//!   [`ignore`](AdaptivePermit::ignore) the samples of the odd class.
//! - *A lasting slowdown of the work itself* (a heavier request mix, a
//!   slower machine) looks like congestion to Gradient until the next
//!   probe re-measures the no-load RTT: meanwhile the limit is held too
//!   low (at about `queue_allowance / (1 - gradient)`). A shorter
//!   `probe_interval` shortens that, at the probes' cost.
//! - *Probes cost throughput*: about two round-trips at `min_limit` every
//!   `probe_interval`; with long requests, lengthen the interval.
//! - *Idle periods*: samples taken while less than half of the limit was
//!   in use do not move the limit (no information about its size), so a
//!   lightly loaded limiter neither grows without bound nor collapses.
//! - AIMD never converges to a point: it saw-tooths between `backoff *
//!   capacity` and the capacity, as TCP does.
//!
//! # Cost
//!
//! An adaptive permit is a fixed [`Permit`](super::Permit) (one reference
//! count, no extra atomic write) plus a draw at its grant (an addition to
//! a per-thread Weyl sequence, evenly spread whatever the caller's rhythm)
//! that picks it for *sampling* or not. A sampled permit reads the clock at the grant
//! and at the release and runs the policy (a short mutex section, taken
//! with `try_lock` for a success: when two releases race, one sample is
//! skipped rather than one release waiting, see
//! [`AdaptiveStats::skipped`]); a [`Limiter::set_limit`] follows only when
//! the rounded limit changes. That costs several times a whole uncontended
//! acquire and release, so at high rates only a subset is sampled:
//! about one sample per
//! [`sample_interval`](AdaptiveLimiterBuilder::sample_interval) (50 µs), i.e.
//! every permit below 20,000 permits a second, at least one in 256 above.
//! `benches/adaptive.rs` measures the whole against the fixed limiter it
//! wraps (BENCHMARKS.md).
//!
//! # Edge cases
//!
//! - `min_limit` is at least 1; `max_limit` below `min_limit` is raised to
//!   it; the initial limit is clamped into `[min_limit, max_limit]`.
//! - A weighted request heavier than the *current* limit waits (FIFO, and
//!   everyone behind it) until the policy raises the limit, or until
//!   nothing else is in use: then it runs alone, above the limit (the
//!   limit moves only on samples, which stop once the permits in use drain
//!   behind it, so waiting for the policy alone could stall the limiter for
//!   good, e.g. behind Gradient's probe at `min_limit`). `try_acquire_many`
//!   never does that: it takes only what fits the limit. One heavier than
//!   `max_limit` can never be granted and fails at once with
//!   [`AcquireError::TooMany`]. Keep weights at or below `min_limit`.
//! - `min_limit`, `max_limit` and the initial limit are clamped to
//!   [`Limiter::MAX_PERMITS`].
//! - An empty permit (`acquire_many(0)`) is not sampled; nor is a permit
//!   marked [`ignore`](AdaptivePermit::ignore).
//! - At high rates the policy sees an evenly spread subset of the
//!   permits, losses included: a loss on a permit that was not sampled is
//!   not counted (losses under overload come in numbers).
//!   `sample_interval(Duration::ZERO)` samples every permit.
//! - After [`close`](AdaptiveLimiter::close), held permits still return
//!   and are still sampled.
//! - Time is read with [`crate::time::now`]: under a
//!   `time::TestClock` (feature `test-util`) the RTTs are virtual, so a
//!   policy can be tested deterministically.
//!
//! # Cancellation safety
//!
//! [`AdaptiveAcquire`] and [`AdaptiveAcquireTimeout`] wrap the fixed
//! limiter's [`Acquire`](super::Acquire) and
//! [`AcquireTimeout`](super::AcquireTimeout): dropping them at any point
//! loses nothing (see [`Limiter`]'s cancellation safety). A sampled permit
//! feeds the policy exactly once, when dropped; dropping an
//! [`AdaptiveRun`] before its future finished counts as a loss. The
//! policy's lock is never held while waking a waiter or running user code:
//! the new limit is applied after it is released.

mod aimd;
mod control;
mod futures;
mod gradient;
mod permit;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use aimd::Aimd;
pub use futures::{AdaptiveAcquire, AdaptiveAcquireTimeout, AdaptiveRun};
pub use gradient::Gradient;
pub use permit::AdaptivePermit;

use control::Sample;
pub(super) use control::Shared;

use super::{AcquireError, Limiter, LimiterStats};

/// Which algorithm drives an [`AdaptiveLimiter`]; built from [`Gradient`]
/// or [`Aimd`] with `into()`.
///
/// # Examples
///
/// ```
/// use async_guard::limit::adaptive::{Aimd, Policy};
/// let p: Policy = Aimd::new().into();
/// assert!(matches!(p, Policy::Aimd(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Policy {
    /// Latency-based, see [`Gradient`].
    Gradient(Gradient),
    /// Loss-based, see [`Aimd`].
    Aimd(Aimd),
}

impl From<Gradient> for Policy {
    fn from(g: Gradient) -> Self {
        Policy::Gradient(g)
    }
}

impl From<Aimd> for Policy {
    fn from(a: Aimd) -> Self {
        Policy::Aimd(a)
    }
}

/// A [`Limiter`] whose limit follows the service's capacity, measured from
/// its own permits; see the [module docs](self).
///
/// Cloning is cheap and every clone is the same limiter.
///
/// # Examples
///
/// ```
/// use async_guard::limit::adaptive::AdaptiveLimiter;
/// # futures_lite::future::block_on(async {
/// let limiter = AdaptiveLimiter::new(); // Gradient, initial limit 20
/// let answer = limiter.run(async { 6 * 7 }).await?;
/// assert_eq!(answer, 42);
/// # Ok::<(), async_guard::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct AdaptiveLimiter {
    limiter: Limiter,
    /// The same as `limiter`'s `Inner::adaptive`, at hand without a check.
    shared: Arc<Shared>,
}

/// Configures an [`AdaptiveLimiter`]; from [`AdaptiveLimiter::builder`].
///
/// # Examples
///
/// ```
/// use async_guard::limit::adaptive::{Aimd, AdaptiveLimiter};
/// let l = AdaptiveLimiter::builder()
///     .policy(Aimd::new())
///     .initial_limit(4)
///     .min_limit(1)
///     .max_limit(64)
///     .build();
/// assert_eq!(l.stats().limit, 4);
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "a builder does nothing until `build()`"]
pub struct AdaptiveLimiterBuilder {
    policy: Policy,
    initial: usize,
    min: usize,
    max: usize,
    max_waiting: usize,
    sample_interval: Duration,
}

impl AdaptiveLimiterBuilder {
    /// The algorithm (default [`Gradient::new()`]).
    ///
    /// ```
    /// use async_guard::limit::adaptive::{Aimd, AdaptiveLimiter};
    /// let l = AdaptiveLimiter::builder().policy(Aimd::new().backoff(0.5)).build();
    /// # let _ = l;
    /// ```
    pub fn policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policy = policy.into();
        self
    }

    /// The limit before any sample (default 20), clamped into
    /// `[min_limit, max_limit]`.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(5).build();
    /// assert_eq!(l.stats().limit, 5);
    /// ```
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.initial = limit;
        self
    }

    /// The policy never sets the limit below this (default 1; 0 counts as 1).
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder()
    ///     .min_limit(8).initial_limit(2).build();
    /// assert_eq!(l.stats().limit, 8);
    /// ```
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.min = limit.max(1);
        self
    }

    /// The policy never sets the limit above this (default 1000; raised to
    /// `min_limit` if lower).
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder()
    ///     .max_limit(3).build();
    /// assert_eq!(l.stats().limit, 3);
    /// ```
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max = limit;
        self
    }

    /// Load shedding, as [`LimiterBuilder::max_waiting`](super::LimiterBuilder::max_waiting):
    /// when `max_waiting` callers already wait, the next one gets
    /// [`AcquireError::Overloaded`] at once. Default: unbounded.
    ///
    /// ```
    /// use async_guard::limit::adaptive::AdaptiveLimiter;
    /// # futures_lite::future::block_on(async {
    /// let l = AdaptiveLimiter::builder().initial_limit(1).max_limit(1).max_waiting(0).build();
    /// let _held = l.acquire().await.unwrap();
    /// assert!(l.acquire().await.unwrap_err().is_overloaded());
    /// # });
    /// ```
    pub fn max_waiting(mut self, max_waiting: usize) -> Self {
        self.max_waiting = max_waiting;
        self
    }

    /// How sparsely permits are sampled at high rates: the limiter aims for
    /// about one sample per `interval` on average (default 50 µs). Below
    /// `1 / interval` permits a second (20,000 by default) every permit is
    /// sampled; above, one in `rate * interval`, and at least one
    /// in 256 (see [`AdaptiveStats::sample_one_in`]). A sample costs two
    /// clock readings and the policy's arithmetic, more than a whole
    /// uncontended acquire and release; an evenly spread subset gives
    /// unbiased estimates of the round-trip times and the loss rate. The rate is
    /// measured over 10 ms windows; after a sudden drop in rate the next
    /// sample comes within about 256 permits. `Duration::ZERO` samples every
    /// permit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder()
    ///     .sample_interval(Duration::ZERO) // every permit
    ///     .build();
    /// assert_eq!(l.stats().sample_one_in, 1);
    /// ```
    pub fn sample_interval(mut self, interval: Duration) -> Self {
        self.sample_interval = interval;
        self
    }

    /// Builds the limiter.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().build();
    /// assert_eq!(l.stats().limit, 20);
    /// ```
    pub fn build(self) -> AdaptiveLimiter {
        let min = self.min.max(1);
        let max = self.max.max(min);
        let initial = self.initial.clamp(min, max);
        let shared = Arc::new(Shared::new(
            self.policy,
            initial,
            (min, max),
            self.sample_interval,
        ));
        let limiter = Limiter::builder()
            .limit(initial)
            .max_waiting(self.max_waiting)
            .build_with(Some(shared.clone()));
        AdaptiveLimiter { limiter, shared }
    }
}

impl Default for AdaptiveLimiter {
    fn default() -> Self {
        AdaptiveLimiter::new()
    }
}

impl AdaptiveLimiter {
    /// A gradient-driven limiter with the builder's defaults (initial limit
    /// 20, bounds 1..=1000, unbounded queue).
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// assert_eq!(l.stats().limit, 20);
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts configuring a limiter (policy, bounds, `max_waiting`).
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().max_limit(50).build();
    /// # let _ = l;
    /// ```
    pub fn builder() -> AdaptiveLimiterBuilder {
        AdaptiveLimiterBuilder {
            policy: Policy::Gradient(Gradient::new()),
            initial: 20,
            min: 1,
            max: 1000,
            max_waiting: usize::MAX,
            sample_interval: Duration::from_micros(50),
        }
    }

    /// Waits for one permit (FIFO, as [`Limiter::acquire`]).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// let p = l.acquire().await.unwrap();
    /// assert_eq!(p.weight(), 1);
    /// # });
    /// ```
    #[inline]
    pub fn acquire(&self) -> AdaptiveAcquire {
        self.acquire_many(1)
    }

    /// Waits for `weight` permits (FIFO, as [`Limiter::acquire_many`]): a
    /// weight above the current limit waits until the policy raises it, or
    /// runs alone once nothing else is in use; a weight above `max_limit`,
    /// which can never be granted, fails at once with
    /// [`AcquireError::TooMany`].
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(4).build();
    /// assert_eq!(l.acquire_many(3).await.unwrap().weight(), 3);
    /// # });
    /// ```
    #[inline]
    pub fn acquire_many(&self, weight: usize) -> AdaptiveAcquire {
        AdaptiveAcquire::new(self.limiter.acquire_many(weight))
    }

    /// Takes one permit if it is free now and nobody queues ahead; see
    /// [`Limiter::try_acquire`].
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(1).build();
    /// let p = l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_err());
    /// # drop(p);
    /// ```
    pub fn try_acquire(&self) -> Result<AdaptivePermit, AcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `weight` permits if free now; see [`Limiter::try_acquire_many`].
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(4).build();
    /// assert_eq!(l.try_acquire_many(2).unwrap().weight(), 2);
    /// ```
    pub fn try_acquire_many(&self, weight: usize) -> Result<AdaptivePermit, AcquireError> {
        Ok(AdaptivePermit::new(self.limiter.try_acquire_many(weight)?))
    }

    /// Waits at most `duration` for one permit; see
    /// [`Limiter::acquire_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(1).max_limit(1).build();
    /// let held = l.acquire().await.unwrap();
    /// let err = l.acquire_timeout(Duration::from_millis(5)).await.unwrap_err();
    /// assert!(err.is_elapsed());
    /// # drop(held);
    /// # });
    /// ```
    pub fn acquire_timeout(&self, duration: Duration) -> AdaptiveAcquireTimeout {
        self.acquire_many_timeout(1, duration)
    }

    /// Waits at most `duration` for `weight` permits; see
    /// [`Limiter::acquire_many_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(4).build();
    /// let p = l.acquire_many_timeout(2, Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(p.weight(), 2);
    /// # });
    /// ```
    pub fn acquire_many_timeout(
        &self,
        weight: usize,
        duration: Duration,
    ) -> AdaptiveAcquireTimeout {
        AdaptiveAcquireTimeout::new(self.limiter.acquire_many_timeout(weight, duration))
    }

    /// Acquires a permit, runs `future`, releases the permit with a sample:
    /// a success if `future` finished, a loss if it was dropped first
    /// (cancelled, timed out by an enclosing timeout) or panicked.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// assert_eq!(l.run(async { 1 + 1 }).await.unwrap(), 2);
    /// assert_eq!(l.stats().samples, 1);
    /// assert_eq!(l.stats().failures, 0);
    /// # });
    /// ```
    pub fn run<F: Future>(&self, future: F) -> AdaptiveRun<F> {
        AdaptiveRun::new(self.acquire(), future)
    }

    /// Closes the limiter; see [`Limiter::close`].
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// assert!(l.close());
    /// assert!(l.acquire().await.unwrap_err().is_closed());
    /// # });
    /// ```
    pub fn close(&self) -> bool {
        self.limiter.close()
    }

    /// `true` once [`close`](AdaptiveLimiter::close) was called.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// l.close();
    /// assert!(l.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.limiter.is_closed()
    }

    /// Permits free right now.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(3).build();
    /// let _p = l.try_acquire().unwrap();
    /// assert_eq!(l.available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        self.limiter.available()
    }

    /// A snapshot: the fixed limiter's counters plus the policy's state.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::builder().initial_limit(7).build();
    /// let s = l.stats();
    /// assert_eq!((s.limit, s.limiter.limit, s.samples), (7, 7, 0));
    /// assert_eq!(s.no_load_rtt, None);
    /// ```
    pub fn stats(&self) -> AdaptiveStats {
        let limiter = self.limiter.stats();
        let policy = self.shared.snapshot();
        AdaptiveStats {
            limiter,
            limit: limiter.limit,
            estimated_limit: policy.limit,
            min_limit: self.shared.min_limit,
            max_limit: self.shared.max_limit,
            no_load_rtt: policy.no_load_rtt,
            recent_rtt: policy.recent_rtt,
            samples: policy.samples,
            failures: policy.failures,
            skipped: policy.skipped,
            sample_one_in: policy.stride,
        }
    }
}

impl fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AdaptiveLimiter")
            .field(&self.stats())
            .finish()
    }
}

/// A snapshot of an [`AdaptiveLimiter`]; from [`AdaptiveLimiter::stats`].
///
/// ```
/// let s = async_guard::limit::adaptive::AdaptiveLimiter::new().stats();
/// assert_eq!(s.limit, 20);
/// assert_eq!(s.recent_rtt, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AdaptiveStats {
    /// The underlying fixed limiter's counters (in use, waiting, shed, ...).
    pub limiter: LimiterStats,
    /// The limit applied right now (same as `limiter.limit`).
    pub limit: usize,
    /// The policy's unrounded limit.
    pub estimated_limit: f64,
    /// The lower bound.
    pub min_limit: usize,
    /// The upper bound.
    pub max_limit: usize,
    /// The estimated no-load round-trip time: Gradient's last probe,
    /// AIMD's lowest RTT seen. `None` before the first sample.
    pub no_load_rtt: Option<Duration>,
    /// The recent round-trip time (Gradient: the last round's mean; AIMD: a
    /// moving average over about 10 samples).
    pub recent_rtt: Option<Duration>,
    /// Samples fed to the policy so far.
    pub samples: u64,
    /// Of those, losses (failed, panicked, cancelled `run`).
    pub failures: u64,
    /// Successes not fed to the policy because another release was
    /// updating it at that instant (the release path never waits for the
    /// policy's lock; losses are never skipped).
    pub skipped: u64,
    /// Sampling right now: one permit in this many feeds the policy (1:
    /// every one; see
    /// [`sample_interval`](AdaptiveLimiterBuilder::sample_interval)).
    pub sample_one_in: u32,
}
