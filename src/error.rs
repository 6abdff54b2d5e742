//! Small typed errors shared by the cures, and the crate-wide [`Error`].
//!
//! Each error is a tiny opaque struct (in the style of `tower`): it says in
//! plain words what happened, implements [`std::error::Error`], and converts
//! into [`Error`] with `?` when a caller wants one type for everything.

use std::fmt;
use std::time::{Duration, Instant};

/// A deadline passed before the operation finished.
///
/// Returned by [`timeout`](crate::time::timeout) and friends (the
/// [`Timeout`](crate::time::Timeout) future and the stream adaptors of
/// [`StreamExt`](crate::StreamExt)); also carried by
/// [`AcquireError::Elapsed`](crate::limit::AcquireError::Elapsed) when
/// [`Limiter::acquire_timeout`](crate::limit::Limiter::acquire_timeout) runs
/// out of time. It tells which
/// deadline fired ([`deadline`](Elapsed::deadline)), whether it was the
/// operation's own deadline or one of an enclosing deadline scope
/// ([`is_enclosing`](Elapsed::is_enclosing)), and how late the wake-up was
/// ([`late_by`](Elapsed::late_by)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::time::timeout;
/// # futures_lite::future::block_on(async {
/// let err = timeout(Duration::from_millis(5), std::future::pending::<()>())
///     .await
///     .unwrap_err();
/// assert!(!err.is_enclosing());
/// assert_eq!(err.to_string(), "timed out after 5ms");
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    deadline: Instant,
    enclosing: bool,
    late_by: Duration,
    after: Option<Duration>,
}

impl Elapsed {
    /// `after`: the duration the operation was given, if it was given one
    /// (rather than an instant), for the message.
    pub(crate) fn new(
        deadline: Instant,
        enclosing: bool,
        now: Instant,
        after: Option<Duration>,
    ) -> Self {
        Elapsed {
            deadline,
            enclosing,
            late_by: now.saturating_duration_since(deadline),
            after: after.filter(|_| !enclosing),
        }
    }

    /// The duration the operation was given, when it was given one (a
    /// [`timeout`](crate::time::timeout), not a
    /// [`timeout_at`](crate::time::timeout_at)) and its own deadline fired.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let err = async_guard::time::timeout(Duration::from_millis(3), std::future::pending::<()>())
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.timed_out_after(), Some(Duration::from_millis(3)));
    /// # });
    /// ```
    pub fn timed_out_after(&self) -> Option<Duration> {
        self.after
    }

    /// The deadline that fired.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # futures_lite::future::block_on(async {
    /// let at = Instant::now() + Duration::from_millis(2);
    /// let err = async_guard::time::timeout_at(at, std::future::pending::<()>()).await.unwrap_err();
    /// assert_eq!(err.deadline(), at);
    /// # });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// `true` when the deadline that fired belonged to an enclosing deadline
    /// scope rather than to the operation itself.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use async_guard::time::timeout;
    /// # futures_lite::future::block_on(async {
    /// let outer = timeout(Duration::from_millis(5), async {
    ///     // The inner timeout is longer, so the outer scope's deadline bounds it.
    ///     timeout(Duration::from_secs(60), std::future::pending::<()>()).await
    /// });
    /// let inner_result = outer.await.unwrap();
    /// assert!(inner_result.unwrap_err().is_enclosing());
    /// # });
    /// ```
    pub fn is_enclosing(&self) -> bool {
        self.enclosing
    }

    /// How long after the deadline the expiry was observed (timer slack plus
    /// scheduling delay). Useful to spot an overloaded event loop.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let err = async_guard::time::timeout(Duration::ZERO, std::future::pending::<()>())
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.late_by() < Duration::from_secs(1));
    /// # });
    /// ```
    pub fn late_by(&self) -> Duration {
        self.late_by
    }
}

/// What was configured, stable from one occurrence to the next (so logs
/// group well): "timed out after 2s", "deadline passed", "enclosing
/// deadline passed". How late it was noticed is in `Debug` and
/// [`late_by`](Elapsed::late_by).
impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.enclosing, self.after) {
            (true, _) => f.write_str("timed out: an enclosing deadline passed"),
            (false, Some(d)) => write!(f, "timed out after {d:?}"),
            (false, None) => f.write_str("timed out: deadline passed"),
        }
    }
}

impl fmt::Debug for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Elapsed");
        if let Some(after) = self.after {
            d.field("after", &after);
        }
        d.field("enclosing", &self.enclosing)
            .field("late_by", &self.late_by)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Elapsed {}

/// The resource was closed: no new work is accepted.
///
/// Returned by [`ShieldSet::shield`](crate::shield::ShieldSet::shield) on a
/// closed set, by a reaper's [`Idle`](crate::reaper::Idle) once the reaper is
/// closed, and carried by
/// [`AcquireError::Closed`](crate::limit::AcquireError::Closed) for a closed
/// [`Limiter`](crate::limit::Limiter), including to every waiter that was
/// queued when `close()` was called.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # futures_lite::future::block_on(async {
/// let reaper = async_guard::Reaper::new(Duration::from_secs(60));
/// let (_activity, idle) = reaper.watch("connection");
/// reaper.close();
/// let closed: async_guard::Closed = idle.await.unwrap_err();
/// assert_eq!(closed.to_string(), "closed: it no longer accepts new work");
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed(());

impl Closed {
    pub(crate) fn new() -> Self {
        Closed(())
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("closed: it no longer accepts new work")
    }
}

impl std::error::Error for Closed {}

/// Too much work was already waiting: the request was shed at once instead of
/// queued (load shedding).
///
/// Returned by [`CpuPool::try_run`](crate::offload::CpuPool::try_run) on a
/// pool whose [`max_waiting`](crate::offload::CpuPoolBuilder::max_waiting) jobs
/// already wait, and carried by
/// [`AcquireError::Overloaded`](crate::limit::AcquireError::Overloaded) when a
/// limiter's [`max_waiting`](crate::limit::LimiterBuilder::max_waiting)
/// callers already wait. (Converted with `?`, an
/// [`AcquireError`](crate::limit::AcquireError) becomes [`Error::Limit`],
/// which keeps its message.)
///
/// # Examples
///
/// ```
/// use async_guard::CpuPool;
/// let pool = CpuPool::builder().threads(1).max_waiting(0).build();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let busy = pool.try_run(move || rx.recv().ok()).unwrap();
/// while pool.stats().running == 0 {
///     std::thread::yield_now(); // until its one thread took the job
/// }
/// let shed = pool.try_run(|| ()).unwrap_err();
/// assert!(shed.to_string().contains("overloaded"));
/// # tx.send(()).unwrap();
/// # futures_lite::future::block_on(busy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded(());

impl Overloaded {
    pub(crate) fn new() -> Self {
        Overloaded(())
    }
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("overloaded: too many requests already waiting, this one was rejected")
    }
}

impl std::error::Error for Overloaded {}

/// A tracked task showed no activity for longer than its time-to-live and was
/// cancelled by its reaper, or was stopped because its reaper was closed
/// ([`is_closed`](Reaped::is_closed) tells which).
///
/// Returned by the [`Tracked`](crate::reaper::Tracked) future of
/// [`Reaper::track`](crate::reaper::Reaper::track).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::Reaper;
/// # futures_lite::future::block_on(async {
/// let reaper = Reaper::new(Duration::from_millis(5));
/// let e = reaper.track("session-7", |_| std::future::pending::<()>()).await.unwrap_err();
/// assert_eq!(e.name(), "session-7");
/// assert!(e.to_string().contains("idle"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    name: std::sync::Arc<str>,
    idle_for: Duration,
    by_close: bool,
}

impl Reaped {
    pub(crate) fn new(name: impl Into<std::sync::Arc<str>>, idle_for: Duration) -> Self {
        Reaped {
            name: name.into(),
            idle_for,
            by_close: false,
        }
    }

    /// The error for a task stopped because its reaper was closed (or
    /// dropped), whatever its idle time.
    pub(crate) fn closed(name: impl Into<std::sync::Arc<str>>, idle_for: Duration) -> Self {
        Reaped {
            by_close: true,
            ..Reaped::new(name, idle_for)
        }
    }

    /// `true` when the task was stopped by its reaper closing rather than
    /// for being idle too long.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let reaper = async_guard::Reaper::new(Duration::from_secs(60));
    /// let task = reaper.track("t", |_| std::future::pending::<()>());
    /// reaper.close();
    /// let e = task.await.unwrap_err();
    /// assert!(e.is_closed());
    /// assert!(e.to_string().contains("closed"));
    /// # });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.by_close
    }

    /// The name the task was tracked under.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let reaper = async_guard::Reaper::new(Duration::from_millis(5));
    /// let e = reaper.track("a", |_| std::future::pending::<()>()).await.unwrap_err();
    /// assert_eq!(e.name(), "a");
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long the task had been idle when it was reaped.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let reaper = async_guard::Reaper::new(Duration::from_millis(5));
    /// let e = reaper.track("a", |_| std::future::pending::<()>()).await.unwrap_err();
    /// assert!(e.idle_for() >= Duration::from_millis(5)); // never reaped early
    /// # });
    /// ```
    pub fn idle_for(&self) -> Duration {
        self.idle_for
    }
}

impl fmt::Display for Reaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.by_close {
            write!(
                f,
                "task `{}` was stopped: its reaper was closed (idle for {:?})",
                self.name, self.idle_for
            )
        } else {
            write!(
                f,
                "task `{}` was reaped: idle for {:?}, longer than its time-to-live",
                self.name, self.idle_for
            )
        }
    }
}

impl std::error::Error for Reaped {}

/// Shielded work ran out of its grace period and was stopped; returned by
/// [`shield_within`](crate::shield::shield_within) and
/// [`ShieldSet::shield_within`](crate::shield::ShieldSet::shield_within).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::shield_within;
/// # futures_lite::future::block_on(async {
/// let stuck = shield_within(Duration::from_millis(2), std::future::pending::<()>());
/// let e = stuck.await.unwrap_err();
/// assert_eq!(e.grace(), Duration::from_millis(2));
/// assert!(e.to_string().contains("grace period"));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    grace: Duration,
}

impl Expired {
    pub(crate) fn new(grace: Duration) -> Self {
        Expired { grace }
    }

    /// The grace period that ran out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let e = async_guard::shield::shield_within(Duration::ZERO, std::future::pending::<()>())
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(e.grace(), Duration::ZERO);
    /// # });
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shielded work stopped: its grace period of {:?} ran out before it finished",
            self.grace
        )
    }
}

impl std::error::Error for Expired {}

/// Any error of async-guard, for callers that want one type.
///
/// Every typed error converts into it with `?`, and so does
/// [`AcquireError`](crate::limit::AcquireError). `Error` is transparent: its
/// `Display` is the inner error's message, and
/// [`source`](std::error::Error::source) is the inner error's source (none of
/// the crate's errors has one), so error reports that walk the chain print
/// each message once. Match on the variant to get the typed error back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::{Error, time::timeout};
/// async fn check() -> Result<(), Error> {
///     timeout(Duration::ZERO, std::future::pending::<()>()).await?;
///     Ok(())
/// }
/// let err = futures_lite::future::block_on(check()).unwrap_err();
/// assert!(matches!(err, Error::Elapsed(_)));
/// // Transparent: the message once, no source to print it a second time.
/// assert_eq!(err.to_string(), "timed out after 0ns");
/// assert!(std::error::Error::source(&err).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A deadline passed.
    Elapsed(Elapsed),
    /// The resource was closed.
    Closed(Closed),
    /// The request was shed because too much work was waiting.
    Overloaded(Overloaded),
    /// An idle task was reaped.
    Reaped(Reaped),
    /// Shielded work ran out of its grace period.
    Expired(Expired),
    /// A [`Limiter`](crate::limit::Limiter) refused a permit: the
    /// [`AcquireError`](crate::limit::AcquireError) unchanged, so the
    /// message stays the limiter's (e.g. "limiter closed: ...", or the
    /// numbers of a `TooMany`).
    Limit(crate::limit::AcquireError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Elapsed(e) => e.fmt(f),
            Error::Closed(e) => e.fmt(f),
            Error::Overloaded(e) => e.fmt(f),
            Error::Reaped(e) => e.fmt(f),
            Error::Expired(e) => e.fmt(f),
            Error::Limit(e) => e.fmt(f),
        }
    }
}

// `Error` is a transparent wrapper: its `Display` already *is* the inner
// error's message, so it reports the inner error's source (none), not the
// inner error itself. Returning the inner error as the source would print
// every message twice in error reports that walk the chain (`anyhow`'s
// `{:#}`, `eyre`, a logging layer). Match on the variant to get the typed error.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Elapsed(e) => std::error::Error::source(e),
            Error::Closed(e) => std::error::Error::source(e),
            Error::Overloaded(e) => std::error::Error::source(e),
            Error::Reaped(e) => std::error::Error::source(e),
            Error::Expired(e) => std::error::Error::source(e),
            Error::Limit(e) => std::error::Error::source(e),
        }
    }
}

macro_rules! into_error {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$ty(e)
            }
        }
    )*};
}
into_error!(Elapsed, Closed, Overloaded, Reaped);

// ---- shield ----
impl From<Expired> for Error {
    fn from(e: Expired) -> Self {
        Error::Expired(e)
    }
}
// ---- end shield ----
