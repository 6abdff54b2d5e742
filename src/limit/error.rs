//! [`AcquireError`]: why a limiter refused a permit.

use std::fmt;

use crate::{Closed, Elapsed, Error, Overloaded};

/// Why [`Limiter`](super::Limiter) refused a permit.
///
/// Every variant is decided at once, without queueing, except `Closed`
/// (also delivered to queued waiters by [`close`](super::Limiter::close))
/// and `Elapsed` (the timeout of
/// [`acquire_timeout`](super::Limiter::acquire_timeout) ran out).
///
/// It converts into the crate-wide [`Error`] with `?` as
/// [`Error::Limit`], unchanged: the message stays exactly this one.
///
/// # Examples
///
/// ```
/// use async_guard::limit::{AcquireError, Limiter};
/// # futures_lite::future::block_on(async {
/// let limiter = Limiter::new(2);
/// let err = limiter.acquire_many(Limiter::MAX_PERMITS + 1).await.unwrap_err();
/// assert!(matches!(err, AcquireError::TooMany { .. }));
/// assert!(err.to_string().contains("more than the maximum"));
/// // Through `?`, the crate-wide error says the same.
/// let wide = async_guard::Error::from(err);
/// assert_eq!(wide.to_string(), err.to_string());
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireError {
    /// The limiter is closed.
    Closed(Closed),
    /// `max_waiting` callers already wait: this one was shed at once.
    Overloaded(Overloaded),
    /// The timeout ran out before permits were free.
    Elapsed(Elapsed),
    /// More permits were requested than any limiter can ever hold
    /// ([`Limiter::MAX_PERMITS`](super::Limiter::MAX_PERMITS)): waiting
    /// could never succeed, so the request fails at once. (A request above
    /// the *current* limit waits for it to grow.)
    TooMany {
        /// Permits asked for.
        requested: usize,
        /// The maximum: [`Limiter::MAX_PERMITS`](super::Limiter::MAX_PERMITS), or an adaptive limiter's `max_limit`.
        limit: usize,
    },
    /// Only from the `try_` methods: the permits are not free right now
    /// (or others queue ahead and fairness forbids barging past them).
    NoneFree,
}

impl AcquireError {
    /// `true` for [`AcquireError::Closed`].
    ///
    /// ```
    /// # use async_guard::limit::Limiter;
    /// let l = Limiter::new(1);
    /// l.close();
    /// assert!(l.try_acquire().unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, AcquireError::Closed(_))
    }

    /// `true` for [`AcquireError::Overloaded`] (the request was shed).
    ///
    /// ```
    /// # use async_guard::limit::Limiter;
    /// # futures_lite::future::block_on(async {
    /// let l = Limiter::builder().limit(1).max_waiting(0).build();
    /// let _held = l.acquire().await.unwrap();
    /// assert!(l.acquire().await.unwrap_err().is_overloaded());
    /// # });
    /// ```
    pub fn is_overloaded(&self) -> bool {
        matches!(self, AcquireError::Overloaded(_))
    }

    /// `true` for [`AcquireError::Elapsed`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use async_guard::limit::Limiter;
    /// # futures_lite::future::block_on(async {
    /// let l = Limiter::new(1);
    /// let _held = l.acquire().await.unwrap();
    /// assert!(l.acquire_timeout(Duration::from_millis(1)).await.unwrap_err().is_elapsed());
    /// # });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        matches!(self, AcquireError::Elapsed(_))
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Closed(e) => write!(f, "limiter {e}"),
            AcquireError::Overloaded(e) => write!(f, "limiter {e}"),
            AcquireError::Elapsed(e) => write!(f, "waiting for a permit: {e}"),
            AcquireError::TooMany { requested, limit } => write!(
                f,
                "asked for {requested} permits, more than the maximum of {limit} a limiter can hold: it could never be granted"
            ),
            AcquireError::NoneFree => f.write_str("no permits are free right now"),
        }
    }
}

// No `source()`: the message above already includes the inner error's, and
// reporting it again as a source would print it twice in error reports
// that walk the chain. Match on the variant to get the typed error.
impl std::error::Error for AcquireError {}

/// Carried whole, so that the message never changes through `?`.
impl From<AcquireError> for Error {
    fn from(e: AcquireError) -> Self {
        Error::Limit(e)
    }
}
