//! [`sleep`] and [`sleep_until`]: waiting on the crate's own timer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::rt::{clock, timer};

/// Waits until `duration` has passed, counted from the first poll (as
/// [`timeout`](super::timeout) counts).
///
/// It runs on the same timer as every deadline of the crate (1 ms ticks:
/// never early, at most about a tick late), so it needs no reactor and
/// works under any executor. `Duration::MAX` (or any duration past what
/// `Instant` can hold) sleeps forever.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # futures_lite::future::block_on(async {
/// let start = Instant::now();
/// async_guard::time::sleep(Duration::from_millis(5)).await;
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: None,
        not_started: Some(duration),
        timer: timer::Sleep::default(),
    }
}

/// Waits until the instant `deadline` (at once if it passed).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # futures_lite::future::block_on(async {
/// let at = Instant::now() + Duration::from_millis(5);
/// async_guard::time::sleep_until(at).await;
/// assert!(Instant::now() >= at);
/// # });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Some(deadline),
        not_started: None,
        timer: timer::Sleep::default(),
    }
}

/// The future of [`sleep`] and [`sleep_until`]: resolves once its deadline
/// has passed. Dropping it cancels its timer registration.
///
/// # Examples
///
/// ```
/// use std::pin::pin;
/// use std::time::{Duration, Instant};
/// # futures_lite::future::block_on(async {
/// let mut nap = pin!(async_guard::time::sleep(Duration::from_secs(60)));
/// nap.as_mut().reset(Instant::now()); // changed my mind
/// nap.await;
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    /// `None`: never, or not started.
    deadline: Option<Instant>,
    /// A duration whose clock starts at the first poll.
    not_started: Option<Duration>,
    timer: timer::Sleep,
}

impl Sleep {
    /// When it ends (`None`: never). Before the first poll of a
    /// [`sleep`], this is when it would end if it started now.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(async_guard::time::sleep_until(at).deadline(), Some(at));
    /// assert_eq!(async_guard::time::sleep(Duration::MAX).deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        match self.not_started {
            Some(d) => clock::now().checked_add(d),
            None => self.deadline,
        }
    }

    /// Moves the deadline to `at`, earlier or later.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// let mut nap = async_guard::time::sleep(Duration::from_secs(60));
    /// let at = Instant::now();
    /// nap.reset(at);
    /// assert_eq!(nap.deadline(), Some(at));
    /// ```
    pub fn reset(&mut self, at: Instant) {
        self.deadline = Some(at);
        self.not_started = None;
    }

    /// `true` once the deadline has passed (reads the clock).
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(async_guard::time::sleep(Duration::ZERO).is_elapsed());
    /// assert!(!async_guard::time::sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.deadline().is_some_and(|at| clock::now() >= at)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(d) = this.not_started.take() {
            this.deadline = clock::now().checked_add(d);
        }
        match this.deadline {
            Some(at) => this.timer.poll_until(at, cx).map(drop),
            None => Poll::Pending,
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("remaining", &super::deadline::Remaining(self.deadline()))
            .finish()
    }
}
