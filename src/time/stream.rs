//! Timeouts for streams (asyncio's async iterators): per gap, idle, whole.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::Stream;

use super::deadline::Deadline;
use crate::Elapsed;

pin_project_lite::pin_project! {
    /// The shared core of the per-gap adaptors: a deadline that restarts
    /// whenever the consumer asks for the next item.
    struct Gaps<S> {
        #[pin]
        stream: S,
        gap: Duration,
        deadline: Deadline,
        armed: bool,
        end_on_timeout: bool,
        done: bool,
    }
}

impl<S: Stream> Gaps<S> {
    fn new(stream: S, gap: Duration, end_on_timeout: bool) -> Self {
        Gaps {
            stream,
            gap,
            deadline: Deadline::default(),
            armed: false,
            end_on_timeout,
            done: false,
        }
    }

    fn poll_gap(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<S::Item, Elapsed>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if !*this.armed {
            // The gap starts when the consumer asks for the next item. The
            // previous timer registration is kept and lazily re-armed.
            this.deadline.restart(*this.gap);
            *this.armed = true;
        }
        match this.deadline.scoped(|| this.stream.poll_next(cx)) {
            Poll::Ready(Some(item)) => {
                *this.armed = false;
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(None) => {
                *this.done = true;
                this.deadline.disarm();
                Poll::Ready(None)
            }
            Poll::Pending => this.deadline.poll_expired(cx).map(|elapsed| {
                *this.armed = false;
                // An enclosing deadline never un-passes: end after saying so.
                *this.done = *this.end_on_timeout || elapsed.is_enclosing();
                Some(Err(elapsed))
            }),
        }
    }
}

macro_rules! gap_stream {
    ($(#[$doc:meta])* $name:ident, end_on_timeout = $end:expr) => {
        pin_project_lite::pin_project! {
            $(#[$doc])*
            #[must_use = "streams do nothing unless polled"]
            pub struct $name<S> {
                #[pin]
                inner: Gaps<S>,
            }
        }

        impl<S: Stream> $name<S> {
            pub(crate) fn new(stream: S, gap: Duration) -> Self {
                $name { inner: Gaps::new(stream, gap, $end) }
            }

            /// Gives the inner stream back.
            ///
            /// ```
            /// use std::time::Duration;
            /// use async_guard::StreamExt as _;
            /// use futures_lite::{stream, StreamExt};
            /// # futures_lite::future::block_on(async {
            /// let gap = Duration::from_secs(1);
            /// // Same method on both per-gap adaptors:
            /// let inner = stream::iter([1, 2]).timeout_each(gap).into_inner();
            /// assert_eq!(inner.collect::<Vec<_>>().await, [1, 2]);
            /// let inner = stream::iter([3]).idle_timeout(gap).into_inner();
            /// assert_eq!(inner.collect::<Vec<_>>().await, [3]);
            /// # });
            /// ```
            pub fn into_inner(self) -> S {
                self.inner.stream
            }
        }

        impl<S: Stream> Stream for $name<S> {
            type Item = Result<S::Item, Elapsed>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                self.project().inner.poll_gap(cx)
            }
        }

        impl<S> fmt::Debug for $name<S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("gap", &self.inner.gap)
                    .field("done", &self.inner.done)
                    .finish_non_exhaustive()
            }
        }
    };
}

gap_stream! {
    /// A stream that reports every silent gap: created by
    /// [`StreamExt::timeout_each`](crate::StreamExt::timeout_each).
    ///
    /// Yields `Ok(item)` for each item and an `Err(Elapsed)` each time the
    /// inner stream stays silent for the gap, then keeps going. It ends when
    /// the inner stream ends (or after an enclosing deadline fired).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let slow = stream::once_future(async_io::Timer::after(Duration::from_millis(30))).map(|_| 1);
    /// let items: Vec<_> = slow.timeout_each(Duration::from_millis(10)).take(2).collect().await;
    /// assert!(items[0].is_err()); // a gap of 10 ms passed first
    /// # });
    /// ```
    TimeoutEach, end_on_timeout = false
}

gap_stream! {
    /// A stream that ends after one silent gap: created by
    /// [`StreamExt::idle_timeout`](crate::StreamExt::idle_timeout).
    ///
    /// Yields `Ok(item)` for each item; once the inner stream stays silent
    /// for the gap it yields one `Err(Elapsed)` and ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let items: Vec<_> = stream::iter([1, 2])
    ///     .chain(stream::pending())
    ///     .idle_timeout(Duration::from_millis(5))
    ///     .collect()
    ///     .await;
    /// assert_eq!(items.len(), 3);
    /// assert!(items[2].is_err());
    /// # });
    /// ```
    IdleTimeout, end_on_timeout = true
}

pin_project_lite::pin_project! {
    /// A stream bounded by one deadline for the whole of it: created by
    /// [`StreamExt::deadline`](crate::StreamExt::deadline).
    ///
    /// Yields `Ok(item)` until the deadline; then one `Err(Elapsed)` and it
    /// ends. While the inner stream is polled the deadline is the current
    /// one for everything nested inside it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let ticks = stream::repeat_with(|| async_io::Timer::after(Duration::from_millis(2)))
    ///     .then(|t| t);
    /// let at = Instant::now() + Duration::from_millis(20);
    /// let items: Vec<_> = ticks.deadline(at).collect().await;
    /// assert!(items.last().unwrap().is_err());
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct WithDeadline<S> {
        #[pin]
        stream: S,
        deadline: Deadline,
        done: bool,
    }
}

impl<S> WithDeadline<S> {
    pub(crate) fn new(stream: S, at: Option<Instant>) -> Self {
        WithDeadline {
            stream,
            deadline: Deadline::at(at),
            done: false,
        }
    }

    /// Gives the inner stream back.
    ///
    /// ```
    /// # use std::time::Instant;
    /// use async_guard::StreamExt as _;
    /// let s = futures_lite::stream::iter([1]).deadline(Instant::now());
    /// let _inner = s.into_inner();
    /// ```
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Stream> Stream for WithDeadline<S> {
    type Item = Result<S::Item, Elapsed>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_frame(cx)
    }
}

impl<S: Stream> WithDeadline<S> {
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<S::Item, Elapsed>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        // A stream that is always ready must still stop at its deadline.
        if this.deadline.passed() {
            if let Poll::Ready(elapsed) = this.deadline.poll_expired(cx) {
                *this.done = true;
                return Poll::Ready(Some(Err(elapsed)));
            }
        }
        match this.deadline.scoped(|| this.stream.poll_next(cx)) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) => {
                *this.done = true;
                this.deadline.disarm();
                Poll::Ready(None)
            }
            Poll::Pending => this.deadline.poll_expired(cx).map(|elapsed| {
                *this.done = true;
                Some(Err(elapsed))
            }),
        }
    }
}

impl<S> fmt::Debug for WithDeadline<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithDeadline")
            .field(
                "remaining",
                &super::deadline::Remaining(self.deadline.own()),
            )
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
