//! [`AdaptivePermit`]: a permit that feeds the policy when released.

use std::fmt;
use std::time::Instant;

use super::control::Sample;
use crate::limit::Permit;
use crate::rt::clock;

/// Permits from an [`AdaptiveLimiter`](super::AdaptiveLimiter): a
/// [`Permit`] that, if it was picked for sampling, feeds the policy one
/// sample when dropped (the time since the grant, and the outcome).
///
/// Below about `1 / sample_interval` permits a second (20,000 by default)
/// every permit is sampled; above, one in
/// [`sample_one_in`](super::AdaptiveStats::sample_one_in) (see
/// [`sample_interval`](super::AdaptiveLimiterBuilder::sample_interval)).
/// Success by default; [`failed`](AdaptivePermit::failed) marks a loss,
/// [`ignore`](AdaptivePermit::ignore) skips the sample. Dropped while its
/// thread panics, it counts as a loss.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
/// let mut p = l.acquire().await.unwrap();
/// p.failed();
/// drop(p);
/// assert_eq!(l.stats().failures, 1);
/// # });
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct AdaptivePermit {
    repr: Repr,
}

/// An unsampled permit is a bare fixed permit, as small and as cheap to
/// move as one (the enum takes no more room: the box fits beside the
/// permit's non-null pointer); a sampled one (or one marked failed)
/// carries its notes in a box.
enum Repr {
    Plain(Permit),
    Noted(Box<Noted>),
}

/// A sampled permit's grant, and its outcome.
struct Noted {
    /// Dropped after `Drop::drop` has fed the policy: the limit a sample
    /// shrinks applies before these permits go to the next waiter.
    permit: Permit,
    /// `None` if the permit is not sampled (only marked failed).
    granted: Option<Instant>,
    in_flight: usize,
    stride: u32,
    failed: bool,
}

impl AdaptivePermit {
    /// Wraps a permit of an adaptive limiter, picking it for sampling or
    /// not. An unsampled permit costs a draw (an addition) and nothing more.
    #[inline]
    pub(super) fn new(permit: Permit) -> Self {
        let stride = match permit.limiter().adaptive.as_deref() {
            // An empty permit says nothing about the load.
            Some(shared) if permit.weight() > 0 => shared.pick(),
            _ => None,
        };
        let repr = match stride {
            None => Repr::Plain(permit),
            Some(stride) => Repr::Noted(start(permit, stride)),
        };
        AdaptivePermit { repr }
    }

    fn permit(&self) -> &Permit {
        match &self.repr {
            Repr::Plain(permit) => permit,
            Repr::Noted(noted) => &noted.permit,
        }
    }

    fn noted(&self) -> Option<&Noted> {
        match &self.repr {
            Repr::Plain(_) => None,
            Repr::Noted(noted) => Some(noted),
        }
    }

    /// How many permits this holds.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// assert_eq!(l.try_acquire_many(2).unwrap().weight(), 2);
    /// ```
    pub fn weight(&self) -> usize {
        self.permit().weight()
    }

    /// Marks the work as failed from overload (timed out, rejected, shed
    /// downstream): if the permit is sampled, the sample is a loss. Do not
    /// mark failures that load does not cause (a bad request), or the limit
    /// shrinks for nothing.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// let mut p = l.acquire().await.unwrap();
    /// p.failed();
    /// assert!(p.is_failed());
    /// # });
    /// ```
    pub fn failed(&mut self) {
        self.set_failed(true);
    }

    /// Undoes [`failed`](AdaptivePermit::failed): the sample is a success.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// let mut p = l.acquire().await.unwrap();
    /// p.failed();
    /// p.succeeded();
    /// assert!(!p.is_failed());
    /// # });
    /// ```
    pub fn succeeded(&mut self) {
        self.set_failed(false);
    }

    fn set_failed(&mut self, failed: bool) {
        match &mut self.repr {
            Repr::Noted(noted) => noted.failed = failed,
            Repr::Plain(_) if !failed => {}
            Repr::Plain(permit) => {
                // Rare: note the mark on an unsampled permit too, so that
                // `is_failed` tells the truth (it feeds no sample).
                let Some(empty) = permit.split(0) else {
                    return;
                };
                let permit = std::mem::replace(permit, empty);
                self.repr = Repr::Noted(Box::new(Noted {
                    permit,
                    granted: None,
                    in_flight: 0,
                    stride: 0,
                    failed,
                }));
            }
        }
    }

    /// Whether the permit is marked as failed.
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// assert!(!l.try_acquire().unwrap().is_failed());
    /// ```
    pub fn is_failed(&self) -> bool {
        self.noted().is_some_and(|n| n.failed)
    }

    /// Takes no sample at release (e.g. a request answered from a cache,
    /// whose RTT says nothing about the service's load).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// let mut p = l.acquire().await.unwrap();
    /// p.ignore();
    /// assert!(!p.is_sampled());
    /// drop(p);
    /// assert_eq!(l.stats().samples, 0);
    /// # });
    /// ```
    pub fn ignore(&mut self) {
        if let Repr::Noted(noted) = &mut self.repr {
            noted.granted = None;
        }
    }

    /// Whether this permit will feed the policy a sample when dropped:
    /// picked for sampling at its grant, not empty and not
    /// [`ignore`](AdaptivePermit::ignore)d.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// assert!(l.acquire().await.unwrap().is_sampled()); // low rate: every permit
    /// assert!(!l.acquire_many(0).await.unwrap().is_sampled());
    /// # });
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.granted_at().is_some()
    }

    /// When a sampled permit was granted, on the crate's clock
    /// ([`time::now`](crate::time::now)); `None` if it is not sampled (its
    /// grant was not timed, to save the clock reading).
    ///
    /// ```
    /// let l = async_guard::limit::adaptive::AdaptiveLimiter::new();
    /// let p = l.try_acquire().unwrap();
    /// assert!(p.granted_at().unwrap() <= async_guard::time::now());
    /// ```
    pub fn granted_at(&self) -> Option<Instant> {
        self.noted().and_then(|n| n.granted)
    }
}

/// A sampled permit's grant: out of line, as few permits are sampled at
/// the rates where the cost matters.
#[cold]
#[inline(never)]
fn start(permit: Permit, stride: u32) -> Box<Noted> {
    let limiter = permit.limiter();
    let in_flight = limiter
        .adaptive
        .as_deref()
        .map_or(0, |shared| shared.in_flight(limiter));
    Box::new(Noted {
        granted: Some(clock::now()),
        in_flight,
        stride,
        failed: false,
        permit,
    })
}

impl Noted {
    /// Feeds the policy this permit's sample, if it is sampled.
    #[cold]
    #[inline(never)]
    fn record(&self) {
        let Some(granted) = self.granted else {
            return;
        };
        let limiter = self.permit.limiter();
        let Some(shared) = limiter.adaptive.as_deref() else {
            return;
        };
        let released = clock::now();
        shared.record(
            limiter,
            Sample {
                rtt: released.saturating_duration_since(granted),
                failed: self.failed || std::thread::panicking(),
                in_flight: self.in_flight,
                granted,
                released,
                stride: self.stride,
            },
        );
    }
}

impl Drop for AdaptivePermit {
    #[inline]
    fn drop(&mut self) {
        // Learn from the sample first; the permits go back when the field
        // drops, right after. No lock of ours is held while waking anyone.
        if let Repr::Noted(noted) = &self.repr {
            noted.record();
        }
    }
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("weight", &self.weight())
            .field("failed", &self.is_failed())
            .field("sampled", &self.is_sampled())
            .finish()
    }
}
