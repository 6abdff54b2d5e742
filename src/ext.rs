//! Extension traits that put the cures on any future or stream.
//!
//! # Naming
//!
//! The traits are meant to be imported next to `futures_lite`'s, so none of
//! their method names exists on `futures_lite::FutureExt` or
//! `futures_lite::StreamExt` (checked against futures-lite 2). Import them
//! anonymously to avoid the trait-name clash:
//!
//! ```
//! use async_guard::{FutureExt as _, StreamExt as _};
//! use futures_lite::{FutureExt, StreamExt};
//! ```
//!
//! (`async_std::prelude` has its own `FutureExt::timeout` and
//! `StreamExt::timeout`; if you import both preludes, call ours through
//! [`time::timeout`](crate::time::timeout) or a fully qualified path.)

use std::future::Future;
use std::time::{Duration, Instant};

use futures_lite::Stream;

use crate::budget::{Budget, Cooperative, DetectStalls};
use crate::shield::{self, Expired, Shielded};
use crate::time::{self, IdleTimeout, Timeout, TimeoutEach, WithDeadline};

/// Cures for any [`Future`]: timeouts ([`time`](crate::time)), shields
/// ([`shield`](mod@crate::shield)) and stall detection
/// ([`budget`](crate::budget)) as methods.
///
/// Implemented for every future. Import it anonymously (or through
/// [`prelude`](crate::prelude)) so it does not clash with
/// `futures_lite::FutureExt`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::prelude::*;
/// # futures_lite::future::block_on(async {
/// // Bounded, and shielded: the caller may give up, the write goes on.
/// let write = async { "written" }.shield();
/// assert_eq!(write.timeout(Duration::from_secs(1)).await?, "written");
/// # Ok::<(), async_guard::Error>(())
/// # }).unwrap();
/// ```
pub trait FutureExt: Future + Sized {
    /// Bounds the future by `duration`; see [`time::timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(async { 1 }.timeout(Duration::from_secs(1)).await, Ok(1));
    /// # });
    /// ```
    fn timeout(self, duration: Duration) -> Timeout<Self> {
        time::timeout(duration, self)
    }

    /// Bounds the future by the instant `at`; see [`time::timeout_at`].
    ///
    /// (Named like the free function rather than `deadline`, because
    /// [`Timeout::deadline`] is the getter for the deadline in force and a
    /// by-value trait method of the same name would shadow it.)
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let at = Instant::now() + Duration::from_millis(5);
    /// assert!(std::future::pending::<()>().timeout_at(at).await.is_err());
    /// # });
    /// ```
    fn timeout_at(self, at: Instant) -> Timeout<Self> {
        time::timeout_at(at, self)
    }

    /// Runs the future as shielded work that survives its caller; see
    /// [`shield::shield`].
    ///
    /// ```
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(async { 3 }.shield().await, 3);
    /// # });
    /// ```
    fn shield(self) -> Shielded<Self::Output>
    where
        Self: Send + 'static,
        Self::Output: Send + 'static,
    {
        shield::shield(self)
    }

    /// Runs the future as shielded work bounded by a grace period; see
    /// [`shield::shield_within`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let stuck = std::future::pending::<()>().shield_within(Duration::from_millis(5));
    /// assert!(stuck.await.is_err());
    /// # });
    /// ```
    fn shield_within(self, grace: Duration) -> Shielded<Result<Self::Output, Expired>>
    where
        Self: Send + 'static,
        Self::Output: Send + 'static,
    {
        shield::shield_within(grace, self)
    }

    /// Times every poll of this future and calls `hook(name, duration)` for
    /// each poll that took `threshold` or longer; see [`DetectStalls`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let work = async { std::thread::sleep(Duration::from_millis(5)) }; // blocks its thread
    /// work.detect_stalls(Duration::from_millis(1), |name, took| eprintln!("{name} blocked for {took:?}"))
    ///     .named("work")
    ///     .await;
    /// # });
    /// ```
    fn detect_stalls<H>(self, threshold: Duration, hook: H) -> DetectStalls<Self, H>
    where
        H: FnMut(&str, Duration),
    {
        DetectStalls::new(self, threshold, hook)
    }
}

impl<F: Future> FutureExt for F {}

/// Cures for any [`Stream`]: stream timeouts ([`time`](crate::time)),
/// cooperative yielding ([`budget`](crate::budget)) and bounded concurrent
/// mapping ([`limit`](crate::limit)) as methods.
///
/// Implemented for every stream. Import it anonymously (or through
/// [`prelude`](crate::prelude)) so it does not clash with
/// `futures_lite::StreamExt`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::prelude::*;
/// use futures_lite::{stream, StreamExt};
/// # futures_lite::future::block_on(async {
/// let replies: Vec<u32> = stream::iter(1..=100)
///     .map_limited(8, |x| async move { x * 2 }) // at most 8 in flight
///     .cooperative(32)                           // yield every 32 items
///     .idle_timeout(Duration::from_secs(1))      // give up on a silent source
///     .map(|r| r.expect("never silent"))
///     .collect()
///     .await;
/// assert_eq!(replies.len(), 100);
/// assert_eq!(replies[99], 200);
/// # });
/// ```
pub trait StreamExt: Stream + Sized {
    /// Yields `Err(Elapsed)` for each silent gap of `gap`, then keeps going;
    /// see [`TimeoutEach`] and the [table in `time`](crate::time#streams-which-adaptor).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::StreamExt as _;
    /// use futures_lite::StreamExt;
    /// # futures_lite::future::block_on(async {
    /// let mut s = futures_lite::stream::pending::<u8>().timeout_each(Duration::from_millis(2));
    /// assert!(s.next().await.unwrap().is_err());
    /// assert!(s.next().await.unwrap().is_err()); // still going
    /// # });
    /// ```
    fn timeout_each(self, gap: Duration) -> TimeoutEach<Self> {
        TimeoutEach::new(self, gap)
    }

    /// Ends with one `Err(Elapsed)` after `gap` of silence; see [`IdleTimeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::StreamExt as _;
    /// use futures_lite::StreamExt;
    /// # futures_lite::future::block_on(async {
    /// let mut s = futures_lite::stream::pending::<u8>().idle_timeout(Duration::from_millis(2));
    /// assert!(s.next().await.unwrap().is_err());
    /// assert!(s.next().await.is_none()); // ended
    /// # });
    /// ```
    fn idle_timeout(self, gap: Duration) -> IdleTimeout<Self> {
        IdleTimeout::new(self, gap)
    }

    /// Bounds the whole stream by the instant `at`; see [`WithDeadline`].
    ///
    /// ```
    /// use std::time::Instant;
    /// use async_guard::StreamExt as _;
    /// use futures_lite::StreamExt;
    /// # futures_lite::future::block_on(async {
    /// let mut s = futures_lite::stream::repeat(1).deadline(Instant::now());
    /// assert!(s.next().await.unwrap().is_err()); // even an always-ready stream stops
    /// assert!(s.next().await.is_none());
    /// # });
    /// ```
    fn deadline(self, at: Instant) -> WithDeadline<Self> {
        WithDeadline::new(self, Some(at))
    }

    /// Yields to the executor after every `n` consecutive ready items
    /// (`0` counts as `1`), so an always-ready stream cannot monopolise its
    /// task; see [`Cooperative`].
    ///
    /// ```
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let n = stream::repeat(0u8).take(10_000).cooperative(128).count().await;
    /// assert_eq!(n, 10_000);
    /// # });
    /// ```
    fn cooperative(self, n: usize) -> Cooperative<Self> {
        Cooperative::new(self, Budget::new(n))
    }

    /// Like [`cooperative`](StreamExt::cooperative), with any [`Budget`]
    /// (for example a time slice): each ready item spends one tick.
    ///
    /// ```
    /// use async_guard::{budget::Budget, StreamExt as _};
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let s = stream::iter(0..1_000).cooperative_with(Budget::default());
    /// assert_eq!(s.count().await, 1_000);
    /// # });
    /// ```
    fn cooperative_with(self, budget: Budget) -> Cooperative<Self> {
        Cooperative::new(self, budget)
    }

    /// Maps each item through the async function `f`, with at most `limit`
    /// calls in flight, yielding the outputs in input order; see
    /// [`MapLimited`](crate::limit::MapLimited).
    ///
    /// ```
    /// use async_guard::StreamExt as _;
    /// use futures_lite::{stream, StreamExt};
    /// # futures_lite::future::block_on(async {
    /// let out: Vec<u32> = stream::iter([3, 1, 2])
    ///     .map_limited(2, |x| async move { x + 1 })
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, [4, 2, 3]);
    /// # });
    /// ```
    fn map_limited<F, Fut>(self, limit: usize, f: F) -> crate::limit::MapLimited<Self, F, Fut>
    where
        F: FnMut(Self::Item) -> Fut,
        Fut: std::future::Future,
    {
        crate::limit::MapLimited::new(self, limit, f)
    }
}

impl<S: Stream> StreamExt for S {}
