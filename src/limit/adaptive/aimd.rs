//! The AIMD policy: loss-based.

use std::time::{Duration, Instant};

use super::Sample;

/// Additive increase, multiplicative decrease: TCP Reno's congestion
/// avoidance applied to a concurrency limit, like Netflix's `AIMDLimit`.
///
/// - A success adds `increase / limit` (so about `increase` per round of
///   `limit` releases, like TCP's one segment per RTT), but only when at
///   least half of the limit was in use at the grant (otherwise the
///   limiter was not the bottleneck and growing it would be blind).
/// - A *loss* multiplies the limit by `backoff` (default 0.7, CUBIC's
///   factor from RFC 8312). A loss is a
///   permit marked [`failed`](super::AdaptivePermit::failed), one dropped
///   while its thread panicked, a [`run`](super::AdaptiveLimiter::run)
///   whose future was dropped before it finished, or a success slower than
///   [`rtt_threshold`](Aimd::rtt_threshold). Like TCP, it backs off at most
///   once per round: losses of permits granted before the last decrease
///   do not decrease again (a burst of failures is one congestion event).
///
/// AIMD sees only losses: it keeps growing while the service is slow but
/// not failing. Use it when overload shows as errors or timeouts (or set
/// `rtt_threshold`), and [`Gradient`](super::Gradient) when it shows as
/// latency first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::limit::adaptive::{Aimd, AdaptiveLimiter};
/// let limiter = AdaptiveLimiter::builder()
///     .policy(Aimd::new().backoff(0.5).rtt_threshold(Duration::from_secs(2)))
///     .build();
/// # let _ = limiter;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aimd {
    pub(super) backoff: f64,
    pub(super) increase: f64,
    pub(super) rtt_threshold: Duration,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd::new()
    }
}

impl Aimd {
    /// The defaults: backoff 0.7, increase 1 per round, no RTT threshold.
    ///
    /// ```
    /// let a = async_guard::limit::adaptive::Aimd::new();
    /// assert_eq!(a, Default::default());
    /// ```
    pub fn new() -> Self {
        Aimd {
            backoff: 0.7,
            increase: 1.0,
            rtt_threshold: Duration::MAX,
        }
    }

    /// The factor applied on a loss, in `[0.1, 1.0]` (default 0.7; clamped,
    /// NaN ignored).
    ///
    /// ```
    /// let a = async_guard::limit::adaptive::Aimd::new().backoff(0.5);
    /// # let _ = a;
    /// ```
    pub fn backoff(mut self, backoff: f64) -> Self {
        if !backoff.is_nan() {
            self.backoff = backoff.clamp(0.1, 1.0);
        }
        self
    }

    /// Permits added per round of successes (default 1; negative or NaN
    /// counts as 0).
    ///
    /// ```
    /// let a = async_guard::limit::adaptive::Aimd::new().increase(2.0);
    /// # let _ = a;
    /// ```
    pub fn increase(mut self, permits: f64) -> Self {
        self.increase = if permits.is_nan() {
            0.0
        } else {
            permits.clamp(0.0, 1e9)
        };
        self
    }

    /// A success slower than this counts as a loss (default
    /// `Duration::MAX`: never).
    ///
    /// ```
    /// use std::time::Duration;
    /// let a = async_guard::limit::adaptive::Aimd::new().rtt_threshold(Duration::from_millis(500));
    /// # let _ = a;
    /// ```
    pub fn rtt_threshold(mut self, threshold: Duration) -> Self {
        self.rtt_threshold = threshold;
        self
    }
}

/// The running state of an [`Aimd`] policy.
#[derive(Debug, Clone)]
pub(super) struct AimdState {
    config: Aimd,
    last_decrease: Option<Instant>,
    min_rtt: Option<f64>,
    recent: Option<f64>,
}

impl AimdState {
    pub(super) fn new(config: Aimd) -> Self {
        AimdState {
            config,
            last_decrease: None,
            min_rtt: None,
            recent: None,
        }
    }

    /// (lowest RTT seen, recent RTT), in seconds.
    pub(super) fn rtts(&self) -> (Option<f64>, Option<f64>) {
        (self.min_rtt, self.recent)
    }

    pub(super) fn on_sample(&mut self, limit: f64, sample: &Sample) -> f64 {
        let c = self.config;
        let rtt = sample.rtt.as_secs_f64();
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.recent = Some(match self.recent {
            None => rtt,
            Some(r) => r + (rtt - r) * (2.0 / 11.0),
        });
        let loss = sample.failed || sample.rtt > c.rtt_threshold;
        if loss {
            if self.last_decrease.is_some_and(|at| sample.granted < at) {
                return limit; // same congestion event
            }
            self.last_decrease = Some(sample.released);
            return limit * c.backoff;
        }
        if (sample.in_flight as f64) < limit / 2.0 {
            return limit;
        }
        limit + c.increase / limit.max(1.0)
    }
}
