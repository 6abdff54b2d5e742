//! [`TrackedFuture`]: a future counted in a [`ShieldSet`](super::ShieldSet)
//! until it ends, so that a drain waits for it.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::set::{End, Ticket};

pin_project_lite::pin_project! {
    /// A future counted in a [`ShieldSet`](super::ShieldSet) until it ends;
    /// created by [`ShieldSet::track`](super::ShieldSet::track). Spawn it
    /// on any executor (or await it): it behaves exactly like the future it
    /// wraps, and [`drain`](super::ShieldSet::drain) waits for it.
    ///
    /// It leaves the set's count when it completes (`completed`), when its
    /// poll panics (`panicked`; the panic goes on to the executor as
    /// before), or when it is dropped before completing (`lost`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::new();
    /// let task = smol::spawn(set.track(async { 7 })?);
    /// assert_eq!(task.await, 7);
    /// assert_eq!(set.stats().completed, 1);
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    #[must_use = "futures do nothing unless polled; spawn it"]
    pub struct TrackedFuture<F> {
        // Before `ticket`: the future is dropped before it leaves the count.
        #[pin]
        future: F,
        ticket: Ticket,
    }
}

impl<F> TrackedFuture<F> {
    pub(crate) fn new(future: F, ticket: Ticket) -> Self {
        TrackedFuture { future, ticket }
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                this.ticket.record(End::Completed);
                Poll::Ready(v)
            }
            Err(panic) => {
                this.ticket.record(End::Panicked);
                resume_unwind(panic)
            }
        }
    }
}

impl<F> fmt::Debug for TrackedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedFuture")
            .field("ended", &self.ticket.is_recorded())
            .finish_non_exhaustive()
    }
}
