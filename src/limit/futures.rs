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

/// A permit a [`Holding`] holds while its future runs: told when the
/// future starts and when it finishes (an adaptive permit counts a run
/// dropped in between as a loss).
pub(super) trait Held {
    /// The future starts, holding the permit.
    fn started(&mut self) {}
    /// The future finished: the permit is released right after.
    fn finished(&mut self) {}
}

impl Held for Permit {}

pin_project_lite::pin_project! {
    /// Acquires with `A`, then runs `F` while holding the permit `P`; the
    /// engine of [`Run`] and of the adaptive limiter's run.
    pub(super) struct Holding<A, P, F> {
        acquire: Option<A>,
        permit: Option<P>,
        done: bool,
        #[pin]
        future: F,
    }
}

impl<A, P, F> Holding<A, P, F> {
    pub(super) fn new(acquire: A, future: F) -> Self {
        Holding {
            acquire: Some(acquire),
            permit: None,
            done: false,
            future,
        }
    }

    pub(super) fn holds_permit(&self) -> bool {
        self.permit.is_some()
    }
}

impl<A, P, F> Future for Holding<A, P, F>
where
    A: Future<Output = Result<P, AcquireError>> + Unpin,
    P: Held,
    F: Future,
{
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
                    permit.started();
                    *this.permit = Some(permit);
                }
                Err(e) => {
                    // Done: the future never runs without a permit.
                    *this.done = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
        let out = std::task::ready!(this.future.poll(cx));
        *this.done = true;
        if let Some(mut permit) = this.permit.take() {
            permit.finished(); // released as soon as the work ends
        }
        Poll::Ready(Ok(out))
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
        #[pin]
        inner: Holding<Acquire, Permit, F>,
    }
}

impl<F> Run<F> {
    pub(super) fn new(acquire: Acquire, future: F) -> Self {
        Run {
            inner: Holding::new(acquire, future),
        }
    }
}

impl<F: Future> Future for Run<F> {
    type Output = Result<F::Output, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("holds_permit", &self.inner.holds_permit())
            .finish_non_exhaustive()
    }
}
