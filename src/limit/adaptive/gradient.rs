//! The gradient policy: latency-based.

use std::time::{Duration, Instant};

use super::Sample;

/// A latency-driven policy: the gradient of Netflix's `Gradient2Limit` and
/// Envoy's adaptive concurrency filter, with Envoy's periodic measurement
/// of the no-load round-trip time.
///
/// Samples are grouped in *rounds*: a round ends when a permit granted
/// after it began is released (one round-trip, as TCP counts), so the
/// limit moves once per round whatever the request rate. At the end of a
/// round, with `short_rtt` its mean RTT and `min_rtt` the no-load estimate:
///
/// ```text
/// gradient = clamp(tolerance * min_rtt / short_rtt, 0.5, 1.0)
/// target   = limit * gradient + queue_allowance
/// limit    = limit * (1 - smoothing) + target * smoothing
/// ```
///
/// With latency within tolerance the limit grows by about
/// `queue_allowance * smoothing` per round; beyond it the limit shrinks in
/// proportion. A failed round (a permit marked failed, a panic, a cancelled
/// `run`) counts as the steepest gradient, 0.5. A round in which fewer than
/// half of the limit's permits were ever in use does not move the limit
/// (the limiter was not the bottleneck, the round says nothing about its
/// size). Above a capacity of `C` permits the limit settles near
/// `tolerance * C + queue_allowance`.
///
/// `min_rtt` cannot be learned under load (a limiter that always runs at
/// its limit only sees queued latency, and a running average of it creeps
/// upwards: the drift of Gradient2's long-term average). So, like Envoy,
/// the policy *probes*: at the first sample and then every
/// `probe_interval`, it drops the limit to `min_limit`, ignores the samples
/// of permits granted before that, takes the mean RTT of the next
/// `probe_samples` permits as `min_rtt` (or of those it got, at least one,
/// once four times the RTT seen when the probe began has passed), and goes
/// back to the limit it had. A probe costs roughly two round-trips at
/// `min_limit`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::limit::adaptive::{AdaptiveLimiter, Gradient};
/// let limiter = AdaptiveLimiter::builder()
///     .policy(Gradient::new().tolerance(2.0).probe_interval(Duration::from_secs(30)))
///     .initial_limit(10)
///     .build();
/// assert_eq!(limiter.stats().limit, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gradient {
    pub(super) tolerance: f64,
    pub(super) smoothing: f64,
    pub(super) queue_allowance: f64,
    pub(super) probe_interval: Duration,
    pub(super) probe_samples: u32,
}

impl Default for Gradient {
    fn default() -> Self {
        Gradient::new()
    }
}

impl Gradient {
    /// The defaults: tolerance 1.5, smoothing 0.2, queue allowance 4
    /// (Netflix's), a probe every 10 s of 5 samples.
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
            probe_interval: Duration::from_secs(10),
            probe_samples: 5,
        }
    }

    /// How much the round's RTT may exceed the no-load RTT before the limit
    /// shrinks (default 1.5; values below 1 are raised to 1, NaN is
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

    /// The weight of each round's estimate, in `(0, 1]` (default 0.2; out
    /// of range values are clamped, NaN ignored). Lower: steadier, slower.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().smoothing(0.5);
    /// # let _ = g;
    /// ```
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        if !smoothing.is_nan() {
            self.smoothing = smoothing.clamp(1e-6, 1.0);
        }
        self
    }

    /// Extra permits on top of `limit * gradient` (default 4): the queue
    /// the policy lets the service build, which is also how it probes for
    /// more capacity. Negative or NaN values count as 0.
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().queue_allowance(1.0);
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

    /// How often the no-load RTT is measured again (default 10 s;
    /// `Duration::MAX`: only once, at the start). Shorter: a lasting change
    /// of the service's own latency is learned sooner, at the cost of more
    /// time spent at `min_limit`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let g = async_guard::limit::adaptive::Gradient::new().probe_interval(Duration::from_secs(60));
    /// # let _ = g;
    /// ```
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Samples a probe averages (default 5, at least 1).
    ///
    /// ```
    /// let g = async_guard::limit::adaptive::Gradient::new().probe_samples(10);
    /// # let _ = g;
    /// ```
    pub fn probe_samples(mut self, samples: u32) -> Self {
        self.probe_samples = samples.max(1);
        self
    }
}

/// A round being measured.
#[derive(Debug, Clone)]
struct Round {
    started: Instant,
    rtt_sum: f64,
    count: u32,
    max_in_flight: usize,
    failed: bool,
}

impl Round {
    fn new(started: Instant) -> Round {
        Round {
            started,
            rtt_sum: 0.0,
            count: 0,
            max_in_flight: 0,
            failed: false,
        }
    }
}

/// A probe of the no-load RTT under way.
#[derive(Debug, Clone)]
struct Probe {
    started: Instant,
    /// After this, the probe ends with the samples it has (at least one).
    deadline: Option<Instant>,
    /// The limit to go back to.
    saved: f64,
    rtt_sum: f64,
    count: u32,
}

/// The running state of a [`Gradient`] policy (RTTs in seconds).
#[derive(Debug, Clone)]
pub(super) struct GradientState {
    config: Gradient,
    min_rtt: Option<f64>,
    short: Option<f64>,
    round: Option<Round>,
    probe: Option<Probe>,
    last_probe: Option<Instant>,
}

impl GradientState {
    pub(super) fn new(config: Gradient) -> Self {
        GradientState {
            config,
            min_rtt: None,
            short: None,
            round: None,
            probe: None,
            last_probe: None,
        }
    }

    /// (no-load RTT estimate, recent RTT), in seconds.
    pub(super) fn rtts(&self) -> (Option<f64>, Option<f64>) {
        (self.min_rtt, self.short)
    }

    pub(super) fn on_sample(&mut self, limit: f64, floor: f64, sample: &Sample) -> f64 {
        let c = self.config;
        let rtt = sample.rtt.as_secs_f64();
        if let Some(probe) = &mut self.probe {
            if sample.granted < probe.started {
                return floor; // granted at the old concurrency: no use
            }
            probe.rtt_sum += rtt;
            probe.count += 1;
            let late = probe.deadline.is_some_and(|d| sample.released >= d);
            if probe.count < c.probe_samples && !late {
                return floor;
            }
            let measured = probe.rtt_sum / f64::from(probe.count);
            let saved = probe.saved;
            self.min_rtt = Some(measured);
            self.short = Some(measured);
            self.probe = None;
            self.round = Some(Round::new(sample.released));
            return saved;
        }
        let due = match self.last_probe {
            None => true,
            Some(at) => sample
                .released
                .checked_duration_since(at)
                .is_some_and(|d| d >= c.probe_interval),
        };
        if due {
            self.last_probe = Some(sample.released);
            // Long enough to drain the old concurrency and take samples at
            // the floor; without it, permits held for long by a few slow
            // callers would keep the limit at the floor.
            let rtt_now = self.short.unwrap_or(rtt).max(rtt);
            self.probe = Some(Probe {
                started: sample.released,
                deadline: sample
                    .released
                    .checked_add(Duration::from_secs_f64((4.0 * rtt_now).min(1e9))),
                saved: limit,
                rtt_sum: 0.0,
                count: 0,
            });
            return floor;
        }
        let round = self.round.get_or_insert_with(|| Round::new(sample.granted));
        round.rtt_sum += rtt;
        round.count += 1;
        round.max_in_flight = round.max_in_flight.max(sample.in_flight);
        round.failed |= sample.failed;
        if sample.granted < round.started {
            return limit; // the round is not over yet
        }
        let round = std::mem::replace(round, Round::new(sample.released));
        let short = round.rtt_sum / f64::from(round.count.max(1));
        self.short = Some(short);
        let gradient = if round.failed {
            0.5
        } else if (round.max_in_flight as f64) < limit / 2.0 {
            return limit; // not the bottleneck: no information
        } else {
            match self.min_rtt {
                Some(min) if short > 0.0 => (c.tolerance * min / short).clamp(0.5, 1.0),
                _ => 1.0,
            }
        };
        let target = limit * gradient + c.queue_allowance;
        limit * (1.0 - c.smoothing) + target * c.smoothing
    }
}
