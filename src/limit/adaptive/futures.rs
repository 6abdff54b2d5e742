//! The named futures of an [`AdaptiveLimiter`](super::AdaptiveLimiter):
//! the fixed limiter's, with their permits wrapped in [`AdaptivePermit`]s.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::AdaptivePermit;
use crate::limit::{Acquire, AcquireError, AcquireTimeout};

/// The future of [`AdaptiveLimiter::acquire`](super::AdaptiveLimiter::acquire)
/// and [`acquire_many`](super::AdaptiveLimiter::acquire_many): the fixed
/// limiter's [`Acquire`], whose permit is picked for sampling at the grant.
/// Dropping it is always safe. `'static`, `Send`, `Unpin`.
///
/// # Examples
///
/// ```
/// use async_guard::limit::adaptive::{AdaptiveAcquire, AdaptiveLimiter};
/// # futures_lite::future::block_on(async {
/// let l = AdaptiveLimiter::builder().initial_limit(1).build();
/// let held = l.acquire().await.unwrap();
/// let waiter: AdaptiveAcquire = l.acquire();
/// drop(waiter); // never polled: nothing to undo
/// # drop(held);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AdaptiveAcquire(Acquire);

impl AdaptiveAcquire {
    pub(super) fn new(inner: Acquire) -> Self {
        AdaptiveAcquire(inner)
    }
}

impl Future for AdaptiveAcquire {
    type Output = Result<AdaptivePermit, AcquireError>;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Inline, as the fixed `Acquire::poll` (whose lock-free grant is
        // inline too): the permit stays in registers, and this future is
        // as small as the fixed one.
        Pin::new(&mut self.0).poll(cx).map_ok(AdaptivePermit::new)
    }
}

impl fmt::Debug for AdaptiveAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AdaptiveAcquire").field(&self.0).finish()
    }
}

/// The future of [`AdaptiveLimiter::acquire_timeout`](super::AdaptiveLimiter::acquire_timeout)
/// and [`acquire_many_timeout`](super::AdaptiveLimiter::acquire_many_timeout):
/// the fixed limiter's [`AcquireTimeout`], whose permit is picked for
/// sampling at the grant. Dropping it leaves the queue at once. `'static`,
/// `Send`, `Unpin`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::limit::adaptive::{AdaptiveAcquireTimeout, AdaptiveLimiter};
/// # futures_lite::future::block_on(async {
/// let l = AdaptiveLimiter::new();
/// let wait: AdaptiveAcquireTimeout = l.acquire_timeout(Duration::from_secs(1));
/// assert!(wait.await.is_ok());
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AdaptiveAcquireTimeout(AcquireTimeout);

impl AdaptiveAcquireTimeout {
    pub(super) fn new(inner: AcquireTimeout) -> Self {
        AdaptiveAcquireTimeout(inner)
    }
}

impl Future for AdaptiveAcquireTimeout {
    type Output = Result<AdaptivePermit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_ok(AdaptivePermit::new)
    }
}

impl fmt::Debug for AdaptiveAcquireTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AdaptiveAcquireTimeout")
            .field(&self.0)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AdaptiveLimiter::run`](super::AdaptiveLimiter::run):
    /// acquires one permit, runs the future while holding it, and releases
    /// the permit with a success when the future ends. Dropped (cancelled)
    /// while the future runs, or unwound by a panic, it releases the permit
    /// with a loss.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_guard::limit::adaptive::{AdaptiveLimiter, AdaptiveRun};
    /// # futures_lite::future::block_on(async {
    /// let l = AdaptiveLimiter::new();
    /// let run: AdaptiveRun<_> = l.run(async { 1 + 1 });
    /// assert_eq!(run.await.unwrap(), 2);
    /// assert_eq!(l.stats().failures, 0);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct AdaptiveRun<F> {
        acquire: Option<AdaptiveAcquire>,
        permit: Option<AdaptivePermit>,
        done: bool,
        #[pin]
        future: F,
    }
}

impl<F> AdaptiveRun<F> {
    pub(super) fn new(acquire: AdaptiveAcquire, future: F) -> Self {
        AdaptiveRun {
            acquire: Some(acquire),
            permit: None,
            done: false,
            future,
        }
    }
}

impl<F: Future> Future for AdaptiveRun<F> {
    type Output = Result<F::Output, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.done {
            return Poll::Pending; // polled after completion
        }
        if let Some(acquire) = this.acquire {
            let granted = std::task::ready!(Pin::new(acquire).poll(cx));
            *this.acquire = None;
            match granted {
                Ok(mut permit) => {
                    // A loss until the future finishes. Only a sampled
                    // permit's mark feeds anything: marking an unsampled
                    // one would box it (and split it) for nothing, on
                    // every run at the rates where sampling is sparse.
                    if permit.is_sampled() {
                        permit.failed();
                    }
                    *this.permit = Some(permit);
                }
                Err(e) => {
                    *this.done = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
        let out = std::task::ready!(this.future.poll(cx));
        *this.done = true;
        if let Some(mut permit) = this.permit.take() {
            permit.succeeded(); // released as soon as the work ends
        }
        Poll::Ready(Ok(out))
    }
}

impl<F> fmt::Debug for AdaptiveRun<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveRun")
            .field("holds_permit", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
