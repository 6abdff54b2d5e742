//! [`Limiter`], its builder, the [`Acquire`] future and [`LimiterStats`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::AcquireError;
use super::permit::Permit;
use super::queue::{Outcome, Queue};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Mutex, MutexGuard};
use crate::{Closed, Overloaded};

/// A fair, weighted, closable concurrency limiter with load shedding:
/// asyncio's `Semaphore`, grown up for services.
///
/// Cloning is cheap and every clone is the same limiter. See the
/// [module docs](super) for fairness, shedding, resizing and cancellation.
///
/// # Examples
///
/// ```
/// use async_guard::limit::Limiter;
/// # futures_lite::future::block_on(async {
/// let limiter = Limiter::new(3);
/// let permit = limiter.acquire().await?;
/// assert_eq!(limiter.stats().in_use, 1);
/// drop(permit);
/// assert_eq!(limiter.stats().in_use, 0);
/// # Ok::<(), async_guard::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Limiter {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    state: Mutex<State>,
    max_waiting: usize,
    /// Kept outside the lock: waits are timed by the waiters themselves,
    /// so no clock is read while the lock is held.
    longest_wait_nanos: AtomicU64,
}

struct State {
    limit: usize,
    in_use: usize,
    closed: bool,
    queue: Queue,
    acquired: u64,
    shed: u64,
    timed_out: u64,
}

/// Wakers collected under the lock and woken after it is released.
#[derive(Default)]
struct Wakers {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakers {
    fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        match self.first {
            None => self.first = Some(waker),
            Some(_) => self.rest.push(waker),
        }
    }

    fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        self.rest.into_iter().for_each(Waker::wake);
    }
}

impl State {
    fn free(&self) -> usize {
        self.limit.saturating_sub(self.in_use)
    }

    fn take(&mut self, weight: usize) {
        self.in_use += weight;
        self.acquired += 1;
    }

    /// Hands free permits to the queue head(s), strictly in order: a head
    /// that does not fit blocks everyone behind it (no barging, so a large
    /// waiter is never starved). Keeps the invariant "the head, if any,
    /// does not fit", which makes this O(1) when nothing changed.
    fn grant_waiters(&mut self, wakers: &mut Wakers) {
        while let Some(key) = self.queue.front() {
            let Some(node) = self.queue.node(key) else {
                break;
            };
            if node.weight > self.free() {
                break;
            }
            // Uncounted again if the waiter is dropped before collecting:
            // the grant is then handed on, and counted once, there.
            self.in_use += node.weight;
            self.acquired += 1;
            wakers.push(self.queue.remove(key, Outcome::GRANTED));
        }
    }

    /// Permits come back (a permit dropped, a granted waiter dropped).
    fn release(&mut self, weight: usize, wakers: &mut Wakers) {
        self.in_use = self.in_use.saturating_sub(weight);
        self.grant_waiters(wakers);
    }

    /// Applies a new limit: waiters heavier than it can never be served, so
    /// they are told at once; the rest are served if the limit grew.
    fn set_limit(&mut self, limit: usize, wakers: &mut Wakers) {
        let shrinks = limit < self.limit;
        self.limit = limit;
        if shrinks {
            let mut at = self.queue.front();
            while let Some(key) = at {
                at = self.queue.next_of(key);
                if self.queue.node(key).is_some_and(|n| n.weight > limit) {
                    wakers.push(self.queue.remove(key, Outcome::TOO_MANY));
                }
            }
        }
        self.grant_waiters(wakers);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code that can panic runs under the lock; recover anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn release(&self, weight: usize) {
        if weight == 0 {
            return;
        }
        let mut wakers = Wakers::default();
        self.lock().release(weight, &mut wakers);
        wakers.wake();
    }

    /// A forgotten permit leaves the limiter for good: the limit shrinks by
    /// its weight and it no longer counts as in use.
    pub(super) fn forget(&self, weight: usize) {
        if weight == 0 {
            return;
        }
        let mut wakers = Wakers::default();
        {
            let mut state = self.lock();
            state.in_use = state.in_use.saturating_sub(weight);
            let limit = state.limit.saturating_sub(weight);
            state.set_limit(limit, &mut wakers);
        }
        wakers.wake();
    }

    /// The decisions that need no waiting: `Ok(true)` granted, `Ok(false)`
    /// must queue.
    fn admit(&self, state: &mut State, weight: usize) -> Result<bool, AcquireError> {
        if state.closed {
            return Err(AcquireError::Closed(Closed::new()));
        }
        if weight == 0 {
            state.acquired += 1;
            return Ok(true);
        }
        if weight > state.limit {
            return Err(AcquireError::TooMany {
                requested: weight,
                limit: state.limit,
            });
        }
        if state.queue.len() == 0 && weight <= state.free() {
            state.take(weight);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Configures a [`Limiter`]; from [`Limiter::builder`].
///
/// # Examples
///
/// ```
/// use async_guard::limit::Limiter;
/// let limiter = Limiter::builder().limit(8).max_waiting(100).build();
/// assert_eq!(limiter.stats().limit, 8);
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "a builder does nothing until `build()`"]
pub struct LimiterBuilder {
    limit: usize,
    max_waiting: usize,
}

impl LimiterBuilder {
    /// How many permits may be held at once (default 1). Zero admits
    /// nothing: every acquire of weight one or more fails with
    /// [`AcquireError::TooMany`] until [`Limiter::set_limit`] raises it.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::builder().limit(4).build();
    /// assert_eq!(l.stats().limit, 4);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Load shedding: when `max_waiting` callers already wait, the next one
    /// gets [`AcquireError::Overloaded`] at once instead of queueing.
    /// Default: unbounded. `0` means "never wait": an acquire either gets its
    /// permits at once or is shed.
    ///
    /// ```
    /// use async_guard::limit::Limiter;
    /// # futures_lite::future::block_on(async {
    /// let l = Limiter::builder().limit(1).max_waiting(0).build();
    /// let _held = l.acquire().await.unwrap();
    /// assert!(l.acquire().await.unwrap_err().is_overloaded());
    /// assert_eq!(l.stats().shed, 1);
    /// # });
    /// ```
    pub fn max_waiting(mut self, max_waiting: usize) -> Self {
        self.max_waiting = max_waiting;
        self
    }

    /// Builds the limiter.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::builder().build();
    /// assert_eq!(l.stats().limit, 1);
    /// ```
    pub fn build(self) -> Limiter {
        Limiter {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    limit: self.limit,
                    in_use: 0,
                    closed: false,
                    queue: Queue::default(),
                    acquired: 0,
                    shed: 0,
                    timed_out: 0,
                }),
                max_waiting: self.max_waiting,
                longest_wait_nanos: AtomicU64::new(0),
            }),
        }
    }
}

impl Limiter {
    /// A limiter with `limit` permits and an unbounded wait queue.
    ///
    /// ```
    /// let limiter = async_guard::limit::Limiter::new(3);
    /// assert_eq!(limiter.available(), 3);
    /// ```
    pub fn new(limit: usize) -> Self {
        Self::builder().limit(limit).build()
    }

    /// Starts configuring a limiter (limit, `max_waiting`).
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::builder().limit(2).max_waiting(10).build();
    /// # let _ = l;
    /// ```
    pub fn builder() -> LimiterBuilder {
        LimiterBuilder {
            limit: 1,
            max_waiting: usize::MAX,
        }
    }

    /// Waits for one permit. Same as [`acquire_many(1)`](Limiter::acquire_many).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(1);
    /// let permit = limiter.acquire().await.unwrap();
    /// drop(permit); // released
    /// # });
    /// ```
    pub fn acquire(&self) -> Acquire {
        self.acquire_many(1)
    }

    /// Waits for `weight` permits at once, in strict FIFO order with every
    /// other waiter (see the [module docs](super#fairness)).
    ///
    /// Fails at once when the limiter is closed, when `weight` exceeds the
    /// limit ([`AcquireError::TooMany`]) or when `max_waiting` callers already
    /// wait ([`AcquireError::Overloaded`]). `weight == 0` succeeds at once
    /// with an empty permit (unless closed).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(10);
    /// let big = limiter.acquire_many(7).await.unwrap();
    /// assert_eq!(big.weight(), 7);
    /// assert_eq!(limiter.available(), 3);
    /// # });
    /// ```
    pub fn acquire_many(&self, weight: usize) -> Acquire {
        Acquire {
            inner: Some(self.inner.clone()),
            weight,
            waiting: None,
            queued_at: None,
        }
    }

    /// Takes one permit if it is free right now and nobody queues ahead
    /// (no barging); otherwise [`AcquireError::NoneFree`] (or `Closed`,
    /// `TooMany`). Never waits, never counts as shed.
    ///
    /// ```
    /// let limiter = async_guard::limit::Limiter::new(1);
    /// let held = limiter.try_acquire().unwrap();
    /// assert!(limiter.try_acquire().is_err());
    /// drop(held);
    /// assert!(limiter.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<Permit, AcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `weight` permits if they are free right now; see
    /// [`try_acquire`](Limiter::try_acquire).
    ///
    /// ```
    /// let limiter = async_guard::limit::Limiter::new(4);
    /// assert_eq!(limiter.try_acquire_many(3).unwrap().weight(), 3);
    /// ```
    pub fn try_acquire_many(&self, weight: usize) -> Result<Permit, AcquireError> {
        let admitted = self.inner.admit(&mut self.inner.lock(), weight)?;
        if admitted {
            Ok(Permit::new(self.inner.clone(), weight))
        } else {
            Err(AcquireError::NoneFree)
        }
    }

    /// Waits at most `duration` for one permit; `Err(AcquireError::Elapsed)`
    /// after that (counted in [`LimiterStats::timed_out`]). Built on
    /// [`time::timeout`](crate::time::timeout), so an enclosing deadline
    /// scope bounds it too. `Duration::ZERO` still takes a free permit.
    ///
    /// ```
    /// use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(1);
    /// let held = limiter.acquire_timeout(Duration::from_secs(1)).await.unwrap();
    /// let err = limiter.acquire_timeout(Duration::from_millis(5)).await.unwrap_err();
    /// assert!(err.is_elapsed());
    /// assert_eq!(limiter.stats().timed_out, 1);
    /// # drop(held);
    /// # });
    /// ```
    pub fn acquire_timeout(
        &self,
        duration: Duration,
    ) -> impl Future<Output = Result<Permit, AcquireError>> + Send + use<> {
        self.acquire_many_timeout(1, duration)
    }

    /// Waits at most `duration` for `weight` permits; see
    /// [`acquire_timeout`](Limiter::acquire_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(4);
    /// let p = limiter.acquire_many_timeout(4, Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(p.weight(), 4);
    /// # });
    /// ```
    pub fn acquire_many_timeout(
        &self,
        weight: usize,
        duration: Duration,
    ) -> impl Future<Output = Result<Permit, AcquireError>> + Send + use<> {
        let inner = self.inner.clone();
        let acquire = self.acquire_many(weight);
        async move {
            match crate::time::timeout(duration, acquire).await {
                Ok(result) => result,
                Err(elapsed) => {
                    // The dropped `Acquire` already handed on any permits
                    // granted in the same instant.
                    inner.lock().timed_out += 1;
                    Err(AcquireError::Elapsed(elapsed))
                }
            }
        }
    }

    /// Acquires one permit, runs `future` while holding it, releases it:
    /// `async with semaphore:` in one call.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(2);
    /// let answer = limiter.run(async { 6 * 7 }).await.unwrap();
    /// assert_eq!(answer, 42);
    /// assert_eq!(limiter.available(), 2);
    /// # });
    /// ```
    pub fn run<F: Future>(
        &self,
        future: F,
    ) -> impl Future<Output = Result<F::Output, AcquireError>> + use<F> {
        let acquire = self.acquire();
        async move {
            let _permit = acquire.await?;
            Ok(future.await)
        }
    }

    /// Closes the limiter: every queued waiter wakes with
    /// [`AcquireError::Closed`], every later acquire fails at once. Permits
    /// already held keep working and return normally; so do permits granted
    /// to a waiter before the close (it gets them). Returns `false` if it
    /// was already closed.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(1);
    /// let held = limiter.acquire().await.unwrap();
    /// assert!(limiter.close());
    /// assert!(!limiter.close());
    /// assert!(limiter.acquire().await.unwrap_err().is_closed());
    /// drop(held); // fine
    /// assert_eq!(limiter.stats().in_use, 0);
    /// # });
    /// ```
    pub fn close(&self) -> bool {
        let mut wakers = Wakers::default();
        let newly = {
            let mut state = self.inner.lock();
            let newly = !state.closed;
            state.closed = true;
            while let Some(key) = state.queue.front() {
                wakers.push(state.queue.remove(key, Outcome::CLOSED));
            }
            newly
        };
        wakers.wake();
        newly
    }

    /// `true` once [`close`](Limiter::close) was called.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(1);
    /// assert!(!l.is_closed());
    /// l.close();
    /// assert!(l.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Changes the limit at run time. Growing serves waiters at once.
    /// Shrinking never revokes a held permit: while more are in use than the
    /// new limit, releases are absorbed until the count is below it. Queued
    /// waiters heavier than the new limit fail with
    /// [`AcquireError::TooMany`] (they could never be served).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let limiter = async_guard::limit::Limiter::new(2);
    /// let a = limiter.acquire().await.unwrap();
    /// let b = limiter.acquire().await.unwrap();
    /// limiter.set_limit(1);
    /// drop(a); // absorbed: still 1 in use, the new limit
    /// assert!(limiter.try_acquire().is_err());
    /// drop(b);
    /// assert!(limiter.try_acquire().is_ok());
    /// # });
    /// ```
    pub fn set_limit(&self, limit: usize) {
        let mut wakers = Wakers::default();
        self.inner.lock().set_limit(limit, &mut wakers);
        wakers.wake();
    }

    /// Permits free right now (the limit minus those in use, or zero).
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(3);
    /// let _p = l.try_acquire().unwrap();
    /// assert_eq!(l.available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        self.inner.lock().free()
    }

    /// A snapshot of the limiter's counters.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(3);
    /// let _p = l.try_acquire().unwrap();
    /// let s = l.stats();
    /// assert_eq!((s.limit, s.in_use, s.waiting, s.acquired), (3, 1, 0, 1));
    /// ```
    pub fn stats(&self) -> LimiterStats {
        let state = self.inner.lock();
        LimiterStats {
            limit: state.limit,
            in_use: state.in_use,
            waiting: state.queue.len(),
            acquired: state.acquired,
            shed: state.shed,
            timed_out: state.timed_out,
            longest_wait: Duration::from_nanos(
                self.inner.longest_wait_nanos.load(Ordering::Relaxed),
            ),
            closed: state.closed,
        }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Limiter").field(&self.stats()).finish()
    }
}

/// Counters of a [`Limiter`]; from [`Limiter::stats`].
///
/// ```
/// let s = async_guard::limit::Limiter::new(2).stats();
/// assert_eq!(s.limit, 2);
/// assert_eq!(s.longest_wait, std::time::Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LimiterStats {
    /// The current limit.
    pub limit: usize,
    /// Permits held right now (may exceed `limit` just after it shrank).
    pub in_use: usize,
    /// Callers queued right now.
    pub waiting: usize,
    /// Acquisitions granted so far, not permits: a weighted one counts
    /// once, so does an empty one (`acquire_many(0)`); a grant abandoned by
    /// a dropped waiter is not counted.
    pub acquired: u64,
    /// Requests shed with [`AcquireError::Overloaded`] so far.
    pub shed: u64,
    /// `acquire_timeout` calls that ran out of time so far.
    pub timed_out: u64,
    /// The longest time a caller waited in the queue, from queueing until
    /// it resumed holding its permits (scheduling delay included).
    pub longest_wait: Duration,
    /// Whether the limiter is closed.
    pub closed: bool,
}

/// The future of [`Limiter::acquire`] and [`Limiter::acquire_many`].
///
/// Owned (`'static`, `Send`): it can be moved into a spawned task. Dropping
/// it at any point is safe: a queued waiter leaves the queue (letting the
/// next one through if it was the head), and permits granted to it but not
/// yet collected go to the next waiter.
///
/// ```
/// # futures_lite::future::block_on(async {
/// let limiter = async_guard::limit::Limiter::new(1);
/// let held = limiter.acquire().await.unwrap();
/// let waiter = limiter.acquire();
/// drop(waiter); // never polled: nothing to undo
/// drop(held);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Acquire {
    /// `None` once completed.
    inner: Option<Arc<Inner>>,
    weight: usize,
    /// Our slot in the wait queue and the cell where the queue publishes
    /// how the wait ended (read without the lock), once queued.
    waiting: Option<(usize, Arc<Outcome>)>,
    /// When we queued (read after the lock was released).
    queued_at: Option<Instant>,
}

impl Future for Acquire {
    type Output = Result<Permit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_ref() else {
            // Polled after completion: stays pending rather than panicking.
            return Poll::Pending;
        };
        let outcome = match &this.waiting {
            None => {
                let mut state = inner.lock();
                match inner.admit(&mut state, this.weight) {
                    Ok(true) => Ok(()),
                    Err(e) => Err(e),
                    Ok(false) if state.queue.len() >= inner.max_waiting => {
                        state.shed += 1;
                        Err(AcquireError::Overloaded(Overloaded::new()))
                    }
                    Ok(false) => {
                        let cell = Arc::new(Outcome::default());
                        let key =
                            state
                                .queue
                                .push_back(this.weight, cx.waker().clone(), cell.clone());
                        drop(state);
                        this.waiting = Some((key, cell));
                        this.queued_at = Some(Instant::now());
                        return Poll::Pending;
                    }
                }
            }
            Some((key, cell)) => {
                // The common case (woken because granted) takes no lock.
                let mut outcome = cell.get();
                if outcome == Outcome::WAITING {
                    let mut state = inner.lock();
                    outcome = cell.get(); // only changes under the lock
                    if outcome == Outcome::WAITING {
                        if let Some(node) = state.queue.node_mut(*key) {
                            if !node.waker.will_wake(cx.waker()) {
                                node.waker = cx.waker().clone();
                            }
                        }
                        return Poll::Pending;
                    }
                }
                match outcome {
                    Outcome::GRANTED => Ok(()),
                    Outcome::CLOSED => Err(AcquireError::Closed(Closed::new())),
                    _ => Err(AcquireError::TooMany {
                        requested: this.weight,
                        limit: inner.lock().limit,
                    }),
                }
            }
        };
        this.waiting = None;
        if let (Ok(()), Some(at)) = (&outcome, this.queued_at) {
            let waited = u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX);
            inner
                .longest_wait_nanos
                .fetch_max(waited, Ordering::Relaxed);
        }
        let inner = this.inner.take();
        Poll::Ready(match (outcome, inner) {
            (Ok(()), Some(inner)) => Ok(Permit::new(inner, this.weight)),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(AcquireError::Closed(Closed::new())), // unreachable
        })
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let (Some(inner), Some((key, cell))) = (self.inner.as_ref(), self.waiting.take()) else {
            return;
        };
        let mut wakers = Wakers::default();
        {
            let mut state = inner.lock();
            // Read under the lock, where it can no longer change.
            match cell.get() {
                // Left the queue: if it was the head, the next may fit now.
                Outcome::WAITING => {
                    state.queue.remove(key, Outcome::CLOSED);
                    state.grant_waiters(&mut wakers);
                }
                // Granted but never collected: hand the permits on.
                Outcome::GRANTED => {
                    state.acquired = state.acquired.saturating_sub(1);
                    state.release(self.weight, &mut wakers);
                }
                _ => {}
            }
        }
        wakers.wake();
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("weight", &self.weight)
            .field("queued", &self.waiting.is_some())
            .field("done", &self.inner.is_none())
            .finish()
    }
}
