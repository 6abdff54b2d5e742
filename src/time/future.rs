//! The [`Timeout`] future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::deadline::Deadline;
use crate::Elapsed;

pin_project_lite::pin_project! {
    /// A future bounded by a deadline; created by [`timeout`](super::timeout),
    /// [`timeout_at`](super::timeout_at) and [`FutureExt`](crate::FutureExt).
    ///
    /// While the inner future is polled, the deadline is the *current* one
    /// for everything nested inside it (see [`remaining`](super::remaining)).
    ///
    /// The deadline can be moved while the future is pending with
    /// [`reset`](Timeout::reset) and [`extend`](Timeout::extend). After it
    /// resolved to `Err(Elapsed)` the inner future is still intact: move the
    /// deadline and await the `Timeout` again to keep waiting, or take the
    /// inner future back with [`into_inner`](Timeout::into_inner).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::{Duration, Instant};
    /// use async_guard::time::timeout;
    /// # futures_lite::future::block_on(async {
    /// let mut op = pin!(timeout(Duration::from_millis(5), async_io::Timer::after(Duration::from_millis(30))));
    /// assert!(op.as_mut().await.is_err()); // the first 5 ms ran out
    /// op.as_mut().extend(Duration::from_secs(5)); // give it more time
    /// assert!(op.as_mut().await.is_ok());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        deadline: Deadline,
        state: State,
    }
}

/// Where a [`Timeout`] stands, for [`Timeout::is_expired`] and `Debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Expired,
    Finished,
}

impl<F> Timeout<F> {
    pub(crate) fn new(future: F, deadline: Deadline) -> Self {
        Timeout {
            future,
            deadline,
            state: State::Active,
        }
    }

    /// `true` once this timeout has returned `Err(Elapsed)` (and its
    /// deadline was not moved since), as asyncio's `Timeout.expired()`.
    ///
    /// ```
    /// # use std::pin::pin;
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let mut t = pin!(async_guard::time::timeout(Duration::ZERO, std::future::pending::<()>()));
    /// assert!(!t.is_expired());
    /// assert!(t.as_mut().await.is_err());
    /// assert!(t.is_expired());
    /// t.as_mut().extend(Duration::from_secs(1)); // active again
    /// assert!(!t.is_expired());
    /// # });
    /// ```
    pub fn is_expired(&self) -> bool {
        self.state == State::Expired
    }

    /// The operation's own deadline; `None` means it has none (for example
    /// `Duration::MAX`). An enclosing scope may still bound it.
    ///
    /// A timeout made from a duration starts its clock at its first poll;
    /// before that, this is when it would end if it started now.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// let t = async_guard::time::timeout_at(at, async {});
    /// assert_eq!(t.deadline(), Some(at));
    /// assert_eq!(async_guard::time::timeout(Duration::MAX, async {}).deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.own()
    }

    /// Moves the deadline to `at`, earlier or later, even into the past
    /// (the next poll then reports `Elapsed` unless the inner future is
    /// ready). The timer registration is reused.
    ///
    /// ```
    /// # use std::pin::pin;
    /// # use std::time::{Duration, Instant};
    /// # futures_lite::future::block_on(async {
    /// let mut t = pin!(async_guard::time::timeout(Duration::from_secs(60), std::future::pending::<()>()));
    /// t.as_mut().reset(Instant::now());
    /// assert!(t.await.is_err());
    /// # });
    /// ```
    pub fn reset(self: Pin<&mut Self>, at: Instant) {
        let this = self.project();
        this.deadline.set(Some(at));
        this.state.rearm();
    }

    /// Pushes the deadline back by `by` (saturating: overflow means never).
    /// Does nothing when there is no deadline.
    ///
    /// ```
    /// # use std::pin::pin;
    /// # use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// let mut t = pin!(async_guard::time::timeout_at(at, async {}));
    /// t.as_mut().extend(Duration::from_secs(1));
    /// assert_eq!(t.deadline(), Some(at + Duration::from_secs(1)));
    /// t.as_mut().extend(Duration::MAX);
    /// assert_eq!(t.deadline(), None);
    /// ```
    pub fn extend(self: Pin<&mut Self>, by: Duration) {
        let this = self.project();
        this.deadline.extend(by);
        this.state.rearm();
    }

    /// Removes the deadline: the operation may now take forever (an
    /// enclosing scope still applies).
    ///
    /// ```
    /// # use std::pin::pin;
    /// # use std::time::Duration;
    /// let mut t = pin!(async_guard::time::timeout(Duration::ZERO, async {}));
    /// t.as_mut().clear();
    /// assert_eq!(t.deadline(), None);
    /// ```
    pub fn clear(self: Pin<&mut Self>) {
        let this = self.project();
        this.deadline.set(None);
        this.state.rearm();
    }

    /// Gives the inner future back (for example after `Err(Elapsed)`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let t = async_guard::time::timeout(Duration::ZERO, std::future::ready(7));
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(t.into_inner().await, 7);
    /// # });
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The inner future always gets its poll first: a result that is
        // ready wins over a deadline that passed at the same time.
        if let Poll::Ready(out) = this.deadline.scoped(|| this.future.poll(cx)) {
            this.deadline.disarm();
            *this.state = State::Finished;
            return Poll::Ready(Ok(out));
        }
        this.deadline.poll_expired(cx).map(|elapsed| {
            *this.state = State::Expired;
            Err(elapsed)
        })
    }
}

impl State {
    /// A moved deadline makes an expired timeout active again.
    fn rearm(&mut self) {
        if *self == State::Expired {
            *self = State::Active;
        }
    }
}

/// Shows the state and the time left, e.g.
/// `Timeout { state: Active, remaining: 1.2s, .. }`.
impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("state", &self.state)
            .field(
                "remaining",
                &super::deadline::Remaining(self.deadline.own()),
            )
            .finish_non_exhaustive()
    }
}
