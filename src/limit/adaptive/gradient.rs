//! The gradient policy (Gradient2-style): latency-based.

use super::Sample;

/// A latency-driven policy in the style of Netflix's `Gradient2Limit`: it
/// compares a long-term average of the round-trip time (the estimate of
/// the no-load RTT) with a short-term one and shrinks the limit when the
/// short-term RTT rises above `tolerance` times the long-term one.
///
/// On every sample (while the limiter is busy enough to tell, see below):
///
/// ```text
/// gradient  = clamp(tolerance * long_rtt / short_rtt, 0.5, 1.0)
/// target    = limit * gradient + queue_allowance
/// limit     = limit * (1 - smoothing) + target * smoothing
/// ```
///
/// With `gradient == 1` (latency within tolerance) the limit grows by
/// about `queue_allowance * smoothing` per sample; beyond tolerance it
/// shrinks, at most halving per step. A sample taken while fewer than half
/// of the limit's permits were in use does not move the limit (the limiter
/// was not the bottleneck, so the sample says nothing about its size), but
/// still updates the RTT averages. A failed or dropped sample counts as the
/// steepest gradient (0.5). When the long-term RTT is more than twice the
/// short-term one (the service got much faster), the long-term average
/// decays by 5 % per sample so the estimate follows.
///
/// # Examples
///
/// ```
/// use async_guard::limit::adaptive::{AdaptiveLimiter, Gradient};
/// let limiter = AdaptiveLimiter::builder()
///     .policy(Gradient::new().tolerance(2.0).smoothing(0.1))
///     .initial_limit(10)
///     .build();
/// assert_eq!(limiter.stats().limit, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gradient {
    pub(super) tolerance: f64,
    pub(super) smoothing: f64,
    pub(super) queue_allowance: f64,
    pub(super) short_window: u32,
    pub(super) long_window: u32,
}

impl Default for Gradient {
    fn default() -> Self {
        Gradient::new()
    }
}

impl Gradient {
    /// The defaults: tolerance 1.5, smoothing 0.2, queue allowance 4,
    /// short window 10 samples, long window 200 samples.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new();
    /// assert_eq!(g, Default::default());
    /// ```
    pub fn new() -> Self {
        Gradient {
            tolerance: 1.5,
            smoothing: 0.2,
            queue_allowance: 4.0,
            short_window: 10,
            long_window: 200,
        }
    }

    /// How much the short-term RTT may exceed the long-term one before the
    /// limit shrinks (default 1.5; values below 1 are raised to 1, NaN is
    /// ignored). Higher: more throughput, more queueing latency.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().tolerance(2.0);
    /// # let _ = g;
    /// ```
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        if !tolerance.is_nan() {
            self.tolerance = tolerance.clamp(1.0, 1e6);
        }
        self
    }

    /// The weight of each new estimate, in `(0, 1]` (default 0.2; out of
    /// range values are clamped, NaN ignored). Lower: steadier, slower.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().smoothing(0.05);
    /// # let _ = g;
    /// ```
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        if !smoothing.is_nan() {
            self.smoothing = smoothing.clamp(1e-6, 1.0);
        }
        self
    }

    /// Extra permits added on top of `limit * gradient` (default 4): the
    /// queue the policy allows the service to build, which is also how it
    /// probes for more capacity. Negative or NaN values count as 0.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().queue_allowance(2.0);
    /// # let _ = g;
    /// ```
    pub fn queue_allowance(mut self, permits: f64) -> Self {
        self.queue_allowance = if permits.is_nan() {
            0.0
        } else {
            permits.clamp(0.0, 1e9)
        };
        self
    }

    /// Samples in the short-term RTT average (an exponential moving
    /// average over about this many samples; default 10, at least 1).
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().short_window(5);
    /// # let _ = g;
    /// ```
    pub fn short_window(mut self, samples: u32) -> Self {
        self.short_window = samples.max(1);
        self
    }

    /// Samples in the long-term RTT average, the no-load estimate (default
    /// 200, at least 1). Longer: a steadier baseline that follows a real
    /// change of the service more slowly.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().long_window(1000);
    /// # let _ = g;
    /// ```
    pub fn long_window(mut self, samples: u32) -> Self {
        self.long_window = samples.max(1);
        self
    }
}

/// The running state of a [`Gradient`] policy (RTTs in seconds).
#[derive(Debug, Clone)]
pub(super) struct GradientState {
    config: Gradient,
    short: Option<f64>,
    long: Option<f64>,
}

fn ema(prev: Option<f64>, sample: f64, window: u32) -> f64 {
    match prev {
        None => sample,
        Some(prev) => {
            let alpha = 2.0 / (f64::from(window) + 1.0);
            prev + alpha * (sample - prev)
        }
    }
}

impl GradientState {
    pub(super) fn new(config: Gradient) -> Self {
        GradientState {
            config,
            short: None,
            long: None,
        }
    }

    /// (no-load RTT estimate, recent RTT), in seconds.
    pub(super) fn rtts(&self) -> (Option<f64>, Option<f64>) {
        (self.long, self.short)
    }

    pub(super) fn on_sample(&mut self, limit: f64, sample: &Sample) -> f64 {
        let c = self.config;
        let rtt = sample.rtt.as_secs_f64();
        let short = ema(self.short, rtt, c.short_window);
        let mut long = ema(self.long, rtt, c.long_window);
        if long > 2.0 * short {
            long *= 0.95;
        }
        self.short = Some(short);
        self.long = Some(long);
        let gradient = if sample.failed {
            0.5
        } else {
            if (sample.in_flight as f64) < limit / 2.0 {
                return limit; // not the bottleneck: no information
            }
            if short <= 0.0 {
                1.0
            } else {
                (c.tolerance * long / short).clamp(0.5, 1.0)
            }
        };
        let target = limit * gradient + c.queue_allowance;
        limit * (1.0 - c.smoothing) + target * c.smoothing
    }
}
