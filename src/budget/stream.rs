//! [`Cooperative`]: a stream that yields after a run of ready items.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::Budget;

pin_project_lite::pin_project! {
    /// A stream that gives the executor a turn after a run of ready items:
    /// created by [`StreamExt::cooperative`](crate::StreamExt::cooperative),
    /// [`StreamExt::cooperative_with`](crate::StreamExt::cooperative_with)
    /// and [`budget::iter`](super::iter).
    ///
    /// Every item the inner stream has ready spends one tick of the
    /// [`Budget`]; when the budget is spent, the next poll wakes the task and
    /// returns `Pending` once before asking the inner stream again. Whenever
    /// the inner stream itself returns `Pending` the task yields anyway, so
    /// the budget starts over.
    ///
    /// Items are never lost or reordered: the yield happens between items.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let always_ready = stream::repeat(1u8).take(1_000);
    /// let total: u32 = always_ready.cooperative(64).fold(0, |acc, x| acc + u32::from(x)).await;
    /// assert_eq!(total, 1_000);
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Cooperative<S> {
        #[pin]
        stream: S,
        budget: Budget,
        must_yield: bool,
    }
}

impl<S> Cooperative<S> {
    pub(crate) fn new(stream: S, budget: Budget) -> Self {
        Cooperative {
            stream,
            budget,
            must_yield: false,
        }
    }

    /// The budget, for its counters ([`Budget::yields`], [`Budget::ticks`]).
    ///
    /// ```
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let mut s = stream::iter(0..10).cooperative(4);
    /// while s.next().await.is_some() {}
    /// assert_eq!(s.budget().yields(), 2); // after items 4 and 8
    /// # });
    /// ```
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Gives the inner stream back.
    ///
    /// ```
    /// use async_guard::StreamExt as _;
    /// let s = futures_lite::stream::iter([1, 2]).cooperative(1);
    /// let _inner = s.into_inner();
    /// ```
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Stream> Stream for Cooperative<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if *this.must_yield {
            *this.must_yield = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.stream.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                *this.must_yield = this.budget.spend();
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                this.budget.reset();
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S> fmt::Debug for Cooperative<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cooperative")
            .field("budget", &self.budget)
            .field("must_yield", &self.must_yield)
            .finish_non_exhaustive()
    }
}
