//! [`TestClock`]: virtual time for tests (feature `test-util`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::rt::virtual_clock::{Driven, Virtual};

/// A paused, virtual clock for testing code that uses async-guard (and
/// [`sleep`](super::sleep)) without waiting in real time. Needs the
/// `test-util` feature; never needed in production.
///
/// Every timer of the crate follows the clock *entered* for the future being
/// polled ([`enter`](TestClock::enter), [`block_on`](TestClock::block_on)):
/// timeouts and deadline scopes, stream timeouts,
/// [`acquire_timeout`](crate::Limiter::acquire_timeout), shield grace
/// periods and drains, reaper TTLs (a [`Reaper`](crate::Reaper) built under
/// the clock keeps it), [`Budget`](crate::Budget) time slices,
/// [`LagProbe`](crate::LagProbe) beats, stall detection, and
/// [`sleep`](super::sleep)/[`sleep_until`](super::sleep_until). Time moves
/// only when you say so: [`advance`](TestClock::advance) by a duration,
/// [`advance_to`](TestClock::advance_to) an instant, or
/// [`jump`](TestClock::jump) to the next pending deadline; each wakes
/// everything due on the way, in deadline order. With
/// [`set_auto_advance`](TestClock::set_auto_advance) the clock jumps by
/// itself whenever every future it drives is waiting.
///
/// # Parallel tests
///
/// A clock is entered per future, on the thread polling it, like a
/// deadline scope; there is no process-wide switch. Two tests on two
/// threads of one `cargo test` process each see their own time.
///
/// # Interplay with real time
///
/// - `Instant`s read from a test clock are ordinary [`std::time::Instant`]s:
///   the clock starts at the real `Instant::now()` of its creation and then
///   moves only when advanced, so comparing them with `Instant::now()`
///   means nothing after the first advance.
/// - Timers that are not async-guard's stay on real time: an
///   `async_io::Timer` (or `smol::Timer`) in your code keeps ticking in real
///   time under a test clock. Use [`sleep`](super::sleep) in code you want
///   to test in virtual time.
/// - Work that leaves the clocked futures runs in real time: CPU-pool jobs
///   ([`offload`](crate::offload())), `unblock`, tasks you spawn on an
///   executor without wrapping them in [`enter`](TestClock::enter).
/// - Auto-advance sees only the futures the clock drives (those polled
///   inside `enter`, and background work they start): when those all wait,
///   it jumps, even if a thread or real I/O outside the clock would have
///   woken them first. Keep such tests on explicit `advance`.
///
/// # Examples
///
/// A reaper and a timeout, tested in virtual time in a few lines:
///
/// ```
/// use std::time::Duration;
/// use async_guard::time::{TestClock, timeout, sleep};
/// use async_guard::Reaper;
///
/// let clock = TestClock::new();
/// clock.set_auto_advance(true);
/// clock.block_on(async {
///     let start = async_guard::time::now();
///     // An hour-long timeout fires at once in real time, exactly on time.
///     let err = timeout(Duration::from_secs(3600), std::future::pending::<()>())
///         .await
///         .unwrap_err();
///     assert_eq!(err.deadline(), start + Duration::from_secs(3600));
///
///     // A task that never touches its activity is reaped after its TTL.
///     let reaper = Reaper::new(Duration::from_secs(30));
///     let idle = reaper.track("idle", |_activity| sleep(Duration::from_secs(600)));
///     assert!(idle.await.is_err());
/// });
/// ```
#[derive(Clone)]
pub struct TestClock {
    inner: Arc<Virtual>,
}

impl TestClock {
    /// A new paused clock, reading the real time now.
    ///
    /// ```
    /// let clock = async_guard::time::TestClock::new();
    /// let t0 = clock.now();
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// assert_eq!(clock.now(), t0); // paused
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        TestClock {
            inner: Virtual::new(Instant::now()),
        }
    }

    /// The virtual time now.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let clock = async_guard::time::TestClock::new();
    /// let t0 = clock.now();
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(clock.now(), t0 + Duration::from_secs(1));
    /// ```
    pub fn now(&self) -> Instant {
        self.inner.now()
    }

    /// Moves time forward by `by`, waking everything due on the way in
    /// deadline order (the clock reads each deadline as it wakes it).
    /// Woken tasks run when their executor polls them; by then the clock
    /// reads the end of the advance. A duration past what `Instant` can
    /// hold moves to the last pending deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::time::{TestClock, sleep};
    /// use futures_lite::{future, FutureExt};
    ///
    /// let clock = TestClock::new();
    /// let mut nap = Box::pin(clock.enter(sleep(Duration::from_secs(5))));
    /// assert!(future::block_on(future::poll_once(&mut nap)).is_none());
    /// clock.advance(Duration::from_secs(5));
    /// assert!(future::block_on(future::poll_once(&mut nap)).is_some());
    /// ```
    pub fn advance(&self, by: Duration) {
        self.inner.advance(by);
    }

    /// Moves time forward to `at` (never back), waking everything due on
    /// the way in deadline order.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let clock = async_guard::time::TestClock::new();
    /// let later = clock.now() + Duration::from_millis(1500);
    /// clock.advance_to(later);
    /// assert_eq!(clock.now(), later);
    /// clock.advance_to(later - Duration::from_secs(1)); // no going back
    /// assert_eq!(clock.now(), later);
    /// ```
    pub fn advance_to(&self, at: Instant) {
        self.inner.advance_to(at);
    }

    /// The earliest deadline registered on this clock, if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use async_guard::time::{TestClock, sleep};
    /// use futures_lite::future;
    /// let clock = TestClock::new();
    /// assert_eq!(clock.next_deadline(), None);
    /// let mut nap = Box::pin(clock.enter(sleep(Duration::from_secs(2))));
    /// let _ = future::block_on(future::poll_once(&mut nap));
    /// assert_eq!(clock.next_deadline(), Some(clock.now() + Duration::from_secs(2)));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inner.next_deadline()
    }

    /// Jumps to the next pending deadline and wakes what is due there;
    /// returns it (`None`: nothing pending, time does not move).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use async_guard::time::{TestClock, sleep};
    /// use futures_lite::future;
    /// let clock = TestClock::new();
    /// let mut nap = Box::pin(clock.enter(sleep(Duration::from_secs(7))));
    /// let _ = future::block_on(future::poll_once(&mut nap));
    /// let t0 = clock.now();
    /// assert_eq!(clock.jump(), Some(t0 + Duration::from_secs(7)));
    /// assert_eq!(clock.jump(), None);
    /// ```
    pub fn jump(&self) -> Option<Instant> {
        self.inner.jump()
    }

    /// Turns auto-advance on or off: when on, whenever every future this
    /// clock drives is waiting (none running, none woken), the clock jumps
    /// to the next pending deadline by itself, as Trio's `MockClock` with
    /// `autojump_threshold = 0`. It works on any executor, because the
    /// clock watches the polls of the futures it drives, not the executor.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::time::{TestClock, sleep};
    /// let clock = TestClock::new();
    /// clock.set_auto_advance(true);
    /// let t0 = clock.now();
    /// clock.block_on(sleep(Duration::from_secs(86_400)));
    /// assert_eq!(clock.now(), t0 + Duration::from_secs(86_400));
    /// ```
    pub fn set_auto_advance(&self, on: bool) {
        self.inner.set_auto(on);
    }

    /// Wraps `future` so that it runs on this clock wherever it is polled
    /// (any executor, any thread).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::time::{TestClock, now};
    /// let clock = TestClock::new();
    /// let seen = smol::block_on(clock.enter(async { now() }));
    /// assert_eq!(seen, clock.now());
    /// ```
    pub fn enter<F: Future>(&self, future: F) -> OnClock<F> {
        OnClock {
            inner: Driven::new(future, self.inner.clone()),
        }
    }

    /// Runs `future` to completion on the current thread, on this clock
    /// (`futures_lite::future::block_on(clock.enter(future))`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::time::{TestClock, timeout};
    /// let clock = TestClock::new();
    /// clock.set_auto_advance(true);
    /// let r = clock.block_on(timeout(Duration::from_secs(5), std::future::pending::<()>()));
    /// assert!(r.is_err());
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(self.enter(future))
    }
}

impl fmt::Debug for TestClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClock")
            .field(
                "next_deadline_in",
                &self.next_deadline().map(|at| at - self.now()),
            )
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A future running on a [`TestClock`]; created by
    /// [`TestClock::enter`].
    ///
    /// ```
    /// let clock = async_guard::time::TestClock::new();
    /// let fut: async_guard::time::OnClock<_> = clock.enter(async { 1 });
    /// assert_eq!(futures_lite::future::block_on(fut), 1);
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct OnClock<F> {
        #[pin]
        inner: Driven<F>,
    }
}

impl<F: Future> Future for OnClock<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for OnClock<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnClock").finish_non_exhaustive()
    }
}
