//! [`MapLimited`]: a stream mapped through an async function with at most
//! `n` calls in flight, outputs in input order.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::running::{Progress, Running};

pin_project_lite::pin_project! {
    /// The stream of [`StreamExt::map_limited`](crate::StreamExt::map_limited).
    ///
    /// Takes items from the inner stream while fewer than `limit` are
    /// outstanding (running, or finished but waiting for an earlier one),
    /// runs `f(item)` for each concurrently inside the consuming task and
    /// yields the outputs in input order. Memory is bounded by `limit`.
    /// `limit == 0` is treated as 1.
    ///
    /// ```
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let doubled: Vec<u32> = stream::iter(1..=5)
    ///     .map_limited(2, |x| async move { x * 2 })
    ///     .collect()
    ///     .await;
    /// assert_eq!(doubled, [2, 4, 6, 8, 10]);
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct MapLimited<S, F, Fut: Future> {
        #[pin]
        stream: S,
        f: F,
        limit: usize,
        running: Running<Fut>,
        // Outputs from sequence number `next_out` on; `None`: not done yet.
        pending: VecDeque<Option<Fut::Output>>,
        next_in: usize,
        next_out: usize,
        stream_done: bool,
    }
}

impl<S, F, Fut: Future> MapLimited<S, F, Fut> {
    pub(crate) fn new(stream: S, limit: usize, f: F) -> Self {
        MapLimited {
            stream,
            f,
            limit: limit.max(1),
            running: Running::new(),
            pending: VecDeque::new(),
            next_in: 0,
            next_out: 0,
            stream_done: false,
        }
    }
}

impl<S, F, Fut> Stream for MapLimited<S, F, Fut>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    type Item = Fut::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        this.running.begin();
        loop {
            if matches!(this.pending.front(), Some(Some(_))) {
                *this.next_out += 1;
                return Poll::Ready(this.pending.pop_front().flatten());
            }
            while !*this.stream_done && this.pending.len() < *this.limit {
                match this.stream.as_mut().poll_next(cx) {
                    Poll::Ready(Some(item)) => {
                        this.running.push(*this.next_in, (this.f)(item));
                        this.pending.push_back(None);
                        *this.next_in += 1;
                    }
                    Poll::Ready(None) => *this.stream_done = true,
                    Poll::Pending => break,
                }
            }
            if this.running.len() == 0 {
                // Nothing runs and nothing is buffered: the stream decides.
                return if *this.stream_done {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                };
            }
            let next_out = *this.next_out;
            let pending = &mut *this.pending;
            match this.running.poll_woken(cx, |seq, out| {
                if let Some(slot) = seq.checked_sub(next_out).and_then(|i| pending.get_mut(i)) {
                    *slot = Some(out);
                }
                true
            }) {
                Progress::Polled => continue,
                Progress::Idle => return Poll::Pending,
                Progress::Exhausted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S, F, Fut: Future> fmt::Debug for MapLimited<S, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapLimited")
            .field("limit", &self.limit)
            .field("running", &self.running.len())
            .field("buffered", &self.pending.len())
            .finish()
    }
}
