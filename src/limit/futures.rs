//! The named futures of the limiter: [`Acquire`] (of `acquire` and
//! `acquire_many`), [`AcquireTimeout`] (of `acquire_timeout` and
//! `acquire_many_timeout`) and [`Run`] (of `run`). Gathering futures are
//! [`Gather`](super::Gather) and [`TryGather`](super::TryGather).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::limiter::Inner;
use super::{AcquireError, Permit};
use crate::time::Timeout;

pub use super::limiter::Acquire;

/// The future of [`Limiter::acquire_timeout`](super::Limiter::acquire_timeout)
/// and [`acquire_many_timeout`](super::Limiter::acquire_many_timeout):
/// `Err(AcquireError::Elapsed)` once its time is up (counted in
/// [`LimiterStats::timed_out`](super::LimiterStats::timed_out)). Dropping it
/// leaves the queue at once; permits granted in the same instant are handed
/// on. `'static`, `Send`, `Unpin`.
///
/// ```
/// use std::time::Duration;
/// use async_guard::limit::{AcquireTimeout, Limiter};
/// # futures_lite::future::block_on(async {
/// let limiter = Limiter::new(1);
/// let wait: AcquireTimeout = limiter.acquire_timeout(Duration::from_secs(1));
/// assert!(wait.await.is_ok());
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AcquireTimeout {
    /// `None` once it returned.
    inner: Option<Timeout<Acquire>>,
    limiter: Arc<Inner>,
}

impl AcquireTimeout {
    pub(super) fn new(inner: Timeout<Acquire>, limiter: Arc<Inner>) -> Self {
        AcquireTimeout {
            inner: Some(inner),
            limiter,
        }
    }
}

impl Future for AcquireTimeout {
    type Output = Result<Permit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Pending; // polled after completion
        };
        match Pin::new(inner).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => {
                self.inner = None;
                Poll::Ready(result)
            }
            Poll::Ready(Err(elapsed)) => {
                // Leave the queue first (dropping the `Acquire` hands on
                // any permits granted in the same instant), then count.
                self.inner = None;
                self.limiter.note_timed_out();
                crate::trace::event!("async_guard::limit", DEBUG, "acquire timed out";
                    timed_out_after = ?elapsed.timed_out_after());
                Poll::Ready(Err(AcquireError::Elapsed(elapsed)))
            }
        }
    }
}

impl fmt::Debug for AcquireTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireTimeout")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Limiter::run`](super::Limiter::run): acquires one
    /// permit, then runs the future while holding it; the permit goes back
    /// when the future ends or the `Run` is dropped.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(1);
    /// let run: async_guard::limit::Run<_> = limiter.run(async { 1 + 1 });
    /// assert_eq!(run.await.unwrap(), 2);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Run<F> {
        acquire: Option<Acquire>,
        permit: Option<Permit>,
        done: bool,
        #[pin]
        future: F,
    }
}

impl<F> Run<F> {
    pub(super) fn new(acquire: Acquire, future: F) -> Self {
        Run {
            acquire: Some(acquire),
            permit: None,
            done: false,
            future,
        }
    }
}

impl<F: Future> Future for Run<F> {
    type Output = Result<F::Output, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.done {
            return Poll::Pending; // polled after completion
        }
        if let Some(acquire) = this.acquire {
            match Pin::new(acquire).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    *this.acquire = None;
                    *this.done = true;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(permit)) => {
                    *this.acquire = None;
                    *this.permit = Some(permit);
                }
            }
        }
        let out = std::task::ready!(this.future.poll(cx));
        *this.done = true;
        this.permit.take(); // released as soon as the work ends
        Poll::Ready(Ok(out))
    }
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("holds_permit", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
