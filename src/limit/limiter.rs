//! [`Limiter`], its builder, the [`Acquire`] future and [`LimiterStats`].
//!
//! # How it works
//!
//! The free permits a newcomer may take live in one atomic word, next to
//! two flags: `CLOSED`, and `SLOW`, which is set exactly while somebody
//! queues or a shrink still has to absorb held permits ("debt"). While
//! `SLOW` is clear, acquire and release are one compare-and-swap on that
//! word. While it is set, the word holds no permits (they were moved into
//! `State::reserved`, under the mutex, by [`Inner::lockdown`]) and every
//! acquire and release goes through the mutex, where permits are handed to
//! the queue head in strict FIFO order. [`Inner::settle`] publishes the
//! reserved permits back into the word and clears `SLOW` once the queue is
//! empty and no debt is left. Only code holding the mutex sets or clears
//! `SLOW`, and nobody but the mutex holder changes the word while `SLOW` is
//! set (the lock-free paths compare-and-swap against a value without it),
//! so the two never race.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::AcquireError;
use super::adaptive::Shared as Adaptive;
use super::futures::{AcquireTimeout, Run};
use super::permit::Permit;
use super::queue::{Outcome, Queue};
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard};
use crate::{Closed, Overloaded};

/// The one clock the limiter reads (wait statistics only): the crate's,
/// so a `TestClock` measures waits in virtual time.
fn now() -> Instant {
    crate::rt::clock::now()
}

/// Flag bits of [`Inner::word`]; the free permits are stored above them.
const CLOSED: usize = 1;
const SLOW: usize = 2;
const SHIFT: u32 = 2;

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
    /// `free << SHIFT | SLOW | CLOSED`: see the module comment.
    word: AtomicUsize,
    /// Acquisitions granted on the lock-free path.
    acquired_fast: AtomicU64,
    state: Mutex<State>,
    max_waiting: usize,
    /// Kept outside the lock: waits are timed by the waiters themselves,
    /// so no clock is read while the lock is held.
    longest_wait_nanos: AtomicU64,
    /// The policy of an [`AdaptiveLimiter`](super::AdaptiveLimiter), which
    /// its permits reach through their `Arc<Inner>`: kept here so that an
    /// adaptive permit holds one reference count, as a fixed one does.
    pub(super) adaptive: Option<Arc<Adaptive>>,
}

/// The books, under the mutex. With `free` the permits in the word:
/// `limit + debt == free + reserved + in_use`, and `debt > 0` implies
/// `free == reserved == 0`.
struct State {
    limit: usize,
    /// Held permits that a shrink removed: absorbed as they come back.
    debt: usize,
    /// Free permits kept for the queue (and, briefly inside a locked
    /// section, the ones taken out of the word by `lockdown`).
    reserved: usize,
    closed: bool,
    queue: Queue,
    /// Acquisitions granted under the lock (the rest: `acquired_fast`).
    acquired: u64,
    /// An adaptive limiter's: a head heavier than the limit is served once
    /// nothing is in use, running alone (see [`State::fits`]).
    run_alone: bool,
    rejected: u64,
    timed_out: u64,
}

/// Wakers collected under the lock and woken (or dropped) after it is
/// released: a waker's drop may release a permit of this same limiter.
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
    /// Hands reserved permits to the queue head(s), strictly in order: a
    /// head that does not fit blocks everyone behind it (no barging, so a
    /// large waiter is never starved). Keeps the invariant "the head, if
    /// any, does not fit", which makes this O(1) when nothing changed.
    fn grant_waiters(&mut self, wakers: &mut Wakers) {
        while let Some(key) = self.queue.front() {
            let Some(node) = self.queue.node(key) else {
                break;
            };
            if !self.fits(node.weight) {
                break;
            }
            // Uncounted again if the waiter is dropped before collecting:
            // the grant is then handed on, and counted once, there.
            self.take(node.weight);
            self.acquired += 1;
            wakers.push(self.queue.remove(key, Outcome::GRANTED));
        }
    }

    /// Whether a grant of `weight` fits now (after `lockdown`): the reserve
    /// covers it, or, for an adaptive limiter, nothing at all is in use
    /// (`reserved == limit`, no debt) and it is heavier than the limit. An
    /// adaptive limit moves only on samples, which stop once the permits in
    /// use drain behind a head that does not fit (FIFO): without running
    /// it alone, a head heavier than a shrunk limit (e.g. Gradient's probe
    /// at `min_limit`) would stall the limiter for good.
    fn fits(&self, weight: usize) -> bool {
        weight <= self.reserved
            || (self.run_alone && self.limit > 0 && self.debt == 0 && self.reserved == self.limit)
    }

    /// Grants `weight` permits that [`fits`](Self::fits): from the reserve,
    /// and what exceeds it as debt (running alone above the limit), paid
    /// off as they come back. Keeps `debt > 0` implying `reserved == 0`.
    fn take(&mut self, weight: usize) {
        let from = weight.min(self.reserved);
        self.reserved -= from;
        self.debt += weight - from;
    }

    /// Permits come back to the books (after `lockdown`): they pay off the
    /// debt first, the rest is reserved (and handed on by `settle`).
    fn give_back(&mut self, weight: usize) {
        let paid = weight.min(self.debt);
        self.debt -= paid;
        self.reserved += weight - paid;
    }

    /// Applies a new limit (after `lockdown`, already clamped to the
    /// maximum). Never revokes a held permit: what cannot come out of the
    /// reserve becomes debt.
    fn resize(&mut self, limit: usize) {
        if limit >= self.limit {
            self.give_back(limit - self.limit);
        } else {
            let cut = self.limit - limit;
            let from_reserve = cut.min(self.reserved);
            self.reserved -= from_reserve;
            self.debt += cut - from_reserve;
        }
        self.limit = limit;
    }
}

impl Inner {
    /// Counts an acquire that timed out (see `AcquireTimeout`).
    pub(super) fn note_timed_out(&self) {
        self.lock().timed_out += 1;
    }

    /// See [`Limiter::set_limit`].
    pub(super) fn set_limit(&self, limit: usize) {
        let limit = limit.min(Limiter::MAX_PERMITS);
        self.locked(|state| state.resize(limit));
    }

    /// The free permits a newcomer could take, read from the atomic word
    /// alone (no lock): `None` while anybody queues or a shrink is being
    /// absorbed (every permit is spoken for), or once closed.
    pub(super) fn free_now(&self) -> Option<usize> {
        let word = self.word.load(Ordering::Relaxed);
        (word & (SLOW | CLOSED) == 0).then_some(word >> SHIFT)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code that can panic runs under the lock; recover anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock-free acquire: succeeds only if nobody queues, no debt is
    /// left, the limiter is open and `weight` permits are free.
    #[inline]
    fn try_fast(&self, weight: usize) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & (SLOW | CLOSED) != 0 || word >> SHIFT < weight {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word - (weight << SHIFT),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.acquired_fast.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Under the lock: makes the books the only place permits live (sets
    /// `SLOW`, moves the word's free permits into `reserved`), so that the
    /// caller may change them freely. Undone by [`settle`](Self::settle).
    fn lockdown(&self, state: &mut State) {
        let mut word = self.word.load(Ordering::Acquire);
        while word & SLOW == 0 {
            match self.word.compare_exchange_weak(
                word,
                (word & CLOSED) | SLOW,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    state.reserved += word >> SHIFT;
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Under the lock, after `lockdown` and a change of the books: serves
    /// the queue, then, if nobody queues and no debt is left, publishes
    /// the reserve into the word and clears `SLOW`.
    fn settle(&self, state: &mut State, wakers: &mut Wakers) {
        state.grant_waiters(wakers);
        if state.queue.len() == 0 && state.debt == 0 {
            let free = std::mem::take(&mut state.reserved);
            let closed = if state.closed { CLOSED } else { 0 };
            // Nobody else writes the word while `SLOW` is set.
            self.word.store(free << SHIFT | closed, Ordering::Release);
        }
    }

    /// Runs `f` on the books between `lockdown` and `settle`, then wakes
    /// (and drops) the collected wakers after the lock is released.
    fn locked<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut wakers = Wakers::default();
        let out = {
            let mut state = self.lock();
            self.lockdown(&mut state);
            let out = f(&mut state);
            self.settle(&mut state, &mut wakers);
            out
        };
        wakers.wake();
        out
    }

    #[inline]
    pub(super) fn release(&self, weight: usize) {
        if weight == 0 {
            return;
        }
        let mut word = self.word.load(Ordering::Relaxed);
        while word & SLOW == 0 {
            // `word >> SHIFT + weight <= limit <= MAX_PERMITS`: no overflow.
            match self.word.compare_exchange_weak(
                word,
                word + (weight << SHIFT),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
        self.locked(|state| state.give_back(weight));
    }

    /// A forgotten permit leaves the limiter for good: the limit shrinks by
    /// its weight and it no longer counts as in use.
    pub(super) fn forget(&self, weight: usize) {
        if weight == 0 {
            return;
        }
        self.locked(|state| {
            if weight <= state.limit {
                state.limit -= weight;
            } else {
                // `in_use == limit + debt` here (debt implies no reserve).
                state.debt = state.debt.saturating_sub(weight - state.limit);
                state.limit = 0;
            }
        });
    }

    /// The part of an acquire that may need the books: `Ok(true)` granted,
    /// `Ok(false)` queued (with `waker`, its key and cell stored in
    /// `queued`), or an error decided at once.
    #[inline(never)]
    fn admit(
        &self,
        weight: usize,
        waker: Option<&Waker>,
        queued: &mut Option<(usize, Arc<Outcome>)>,
    ) -> Result<bool, AcquireError> {
        // (The callers tried the lock-free path already.)
        let word = self.word.load(Ordering::Acquire);
        if word & CLOSED != 0 {
            return Err(AcquireError::Closed(Closed::new()));
        }
        // The largest limit this limiter can ever have: a heavier request
        // can never be granted and fails at once.
        let ceiling = self
            .adaptive
            .as_ref()
            .map_or(Limiter::MAX_PERMITS, |a| a.max_limit);
        if weight > ceiling {
            return Err(AcquireError::TooMany {
                requested: weight,
                limit: ceiling,
            });
        }
        if weight == 0 {
            self.acquired_fast.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        if waker.is_none() && word & SLOW == 0 {
            // Nobody queues, no debt: simply not enough free right now.
            return Err(AcquireError::NoneFree);
        }
        let mut wakers = Wakers::default();
        // (limit, waiting) of a shed request, reported once the lock is
        // released: a `tracing` subscriber is code of the user's.
        let mut shed = None;
        let result = {
            let mut state = self.lock();
            if state.closed {
                Err(AcquireError::Closed(Closed::new()))
            } else if self.try_fast(weight) {
                Ok(true)
            } else {
                self.lockdown(&mut state);
                let result = if state.queue.len() == 0 && state.fits(weight) {
                    // `reserved > 0` implies no debt: we are the head.
                    state.take(weight);
                    state.acquired += 1;
                    Ok(true)
                } else if let Some(waker) = waker {
                    if state.queue.len() >= self.max_waiting {
                        state.rejected += 1;
                        shed = Some((state.limit, state.queue.len()));
                        Err(AcquireError::Overloaded(Overloaded::new()))
                    } else {
                        *queued = Some(state.queue.push_back(weight, waker.clone()));
                        Ok(false)
                    }
                } else {
                    Err(AcquireError::NoneFree)
                };
                self.settle(&mut state, &mut wakers);
                result
            }
        };
        wakers.wake();
        if let Some((limit, waiting)) = shed {
            crate::trace::event!("async_guard::limit", WARN, "load shed"; limit, waiting);
            let _ = (limit, waiting); // (read without `tracing` too)
        }
        result
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
    /// How many permits may be held at once (default 1), at most
    /// [`Limiter::MAX_PERMITS`] (larger values are clamped to it). Zero is a
    /// closed gate: acquires wait until [`Limiter::set_limit`] or
    /// [`Limiter::add_permits`] opens it.
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
    /// assert_eq!(l.stats().rejected, 1);
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
        self.build_with(None)
    }

    /// Builds the limiter, with an adaptive policy's state if any.
    pub(super) fn build_with(self, adaptive: Option<Arc<Adaptive>>) -> Limiter {
        let limit = self.limit.min(Limiter::MAX_PERMITS);
        Limiter {
            inner: Arc::new(Inner {
                word: AtomicUsize::new(limit << SHIFT),
                acquired_fast: AtomicU64::new(0),
                state: Mutex::new(State {
                    limit,
                    debt: 0,
                    reserved: 0,
                    closed: false,
                    queue: Queue::default(),
                    acquired: 0,
                    run_alone: adaptive.is_some(),
                    rejected: 0,
                    timed_out: 0,
                }),
                max_waiting: self.max_waiting,
                longest_wait_nanos: AtomicU64::new(0),
                adaptive,
            }),
        }
    }
}

impl Limiter {
    /// The largest limit and the largest request a limiter accepts:
    /// `usize::MAX >> 3` (2^61 - 1 on 64-bit targets). Limits above it are
    /// clamped to it; a request above it can never be granted and fails at
    /// once with [`AcquireError::TooMany`]. Every smaller request waits
    /// until it fits, however small the limit is right now.
    ///
    /// ```
    /// use async_guard::limit::{AcquireError, Limiter};
    /// let l = Limiter::new(usize::MAX);
    /// assert_eq!(l.stats().limit, Limiter::MAX_PERMITS);
    /// assert!(matches!(
    ///     l.try_acquire_many(Limiter::MAX_PERMITS + 1),
    ///     Err(AcquireError::TooMany { .. })
    /// ));
    /// ```
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

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
    /// A request larger than the current limit waits until the limit grows
    /// (bound the wait with [`acquire_many_timeout`](Limiter::acquire_many_timeout)
    /// or `max_waiting`). Fails at once when the limiter is closed, when
    /// `weight` exceeds [`Limiter::MAX_PERMITS`] ([`AcquireError::TooMany`])
    /// or when `max_waiting` callers already wait
    /// ([`AcquireError::Overloaded`]). `weight == 0` succeeds at once with an
    /// empty permit (unless closed).
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
        if weight != 0 && self.inner.try_fast(weight) {
            return Ok(Permit::new(self.inner.clone(), weight));
        }
        match self.inner.admit(weight, None, &mut None)? {
            true => Ok(Permit::new(self.inner.clone(), weight)),
            false => Err(AcquireError::NoneFree), // not reached: never queues
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
    pub fn acquire_timeout(&self, duration: Duration) -> AcquireTimeout {
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
    pub fn acquire_many_timeout(&self, weight: usize, duration: Duration) -> AcquireTimeout {
        let acquire = crate::time::timeout(duration, self.acquire_many(weight));
        AcquireTimeout::new(acquire, self.inner.clone())
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
    pub fn run<F: Future>(&self, future: F) -> Run<F> {
        Run::new(self.acquire(), future)
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
            self.inner.word.fetch_or(CLOSED, Ordering::AcqRel);
            self.inner.lockdown(&mut state);
            while let Some(key) = state.queue.front() {
                wakers.push(state.queue.remove(key, Outcome::CLOSED));
            }
            self.inner.settle(&mut state, &mut wakers);
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
        self.inner.word.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Changes the limit at run time (clamped to [`Limiter::MAX_PERMITS`]).
    /// Growing serves waiters at once. Shrinking never revokes a held
    /// permit: while more are in use than the new limit, releases are
    /// absorbed until the count is below it. Queued waiters stay queued,
    /// even those heavier than the new limit: they are served once it grows
    /// again. `set_limit(0)` pauses admission (a closed gate, not
    /// [`close`](Limiter::close)). Atomic with respect to
    /// [`add_permits`](Limiter::add_permits) and
    /// [`forget_permits`](Limiter::forget_permits).
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
        self.inner.set_limit(limit);
    }

    /// Raises the limit by `n` (saturating at [`Limiter::MAX_PERMITS`]),
    /// serving waiters at once: tokio's and async-lock's `add_permits`,
    /// e.g. to open a gate built with `Limiter::new(0)`. Atomic: two
    /// concurrent calls never lose an update, and each is applied whole
    /// with respect to [`set_limit`](Limiter::set_limit) and
    /// [`forget_permits`](Limiter::forget_permits).
    ///
    /// ```
    /// use async_guard::limit::Limiter;
    /// # futures_lite::future::block_on(async {
    /// let gate = Limiter::new(0);
    /// let mut waiter = Box::pin(gate.acquire());
    /// assert!(futures_lite::future::poll_once(waiter.as_mut()).await.is_none());
    /// gate.add_permits(1);
    /// assert_eq!(waiter.await.unwrap().weight(), 1);
    /// assert_eq!(gate.stats().limit, 1);
    /// # });
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.inner.locked(|state| {
            let limit = state.limit.saturating_add(n).min(Self::MAX_PERMITS);
            state.resize(limit);
        });
    }

    /// Lowers the limit by up to `n` and returns by how much it actually
    /// went down (`min(n, limit)`). Like a shrinking
    /// [`set_limit`](Limiter::set_limit), it never revokes a held permit
    /// (releases are absorbed until the books balance) and waiters stay
    /// queued. Atomic with respect to [`add_permits`](Limiter::add_permits)
    /// and `set_limit`.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(3);
    /// let held = l.try_acquire().unwrap();
    /// assert_eq!(l.forget_permits(2), 2);
    /// assert_eq!(l.available(), 0);
    /// assert_eq!(l.forget_permits(5), 1); // only 1 was left
    /// assert_eq!(l.stats().limit, 0);
    /// drop(held); // absorbed
    /// assert_eq!(l.stats().in_use, 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        self.inner.locked(|state| {
            let removed = n.min(state.limit);
            state.resize(state.limit - removed);
            removed
        })
    }

    /// How many permits a newcomer could take right now: the free permits
    /// if nobody queues, zero while anybody queues (FIFO: a newcomer waits
    /// behind them, and the free permits are reserved for the queue head,
    /// see [`LimiterStats::reserved`]) and zero once closed.
    ///
    /// ```
    /// use async_guard::limit::Limiter;
    /// # futures_lite::future::block_on(async {
    /// let l = Limiter::new(8);
    /// let held = l.try_acquire_many(2).unwrap();
    /// assert_eq!(l.available(), 6);
    /// let mut big = Box::pin(l.acquire_many(8)); // waits for all 8
    /// assert!(futures_lite::future::poll_once(big.as_mut()).await.is_none());
    /// assert_eq!(l.available(), 0); // the 6 free are kept for `big`
    /// assert_eq!(l.stats().reserved, 6);
    /// assert!(l.try_acquire().is_err());
    /// drop(held);
    /// assert_eq!(big.await.unwrap().weight(), 8);
    /// # });
    /// ```
    pub fn available(&self) -> usize {
        let word = self.inner.word.load(Ordering::Acquire);
        if word & CLOSED != 0 {
            return 0;
        }
        if word & SLOW == 0 {
            return word >> SHIFT;
        }
        // `SLOW` may be set only for the instant of a locked operation:
        // ask the books.
        let state = self.inner.lock();
        if state.queue.len() == 0 && state.debt == 0 {
            (self.inner.word.load(Ordering::Acquire) >> SHIFT) + state.reserved
        } else {
            0
        }
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
        // Read under the lock, where only the lock-free paths change the
        // word, and they keep `free + in_use` constant.
        let free = self.inner.word.load(Ordering::Acquire) >> SHIFT;
        let in_use = (state.limit + state.debt).saturating_sub(free + state.reserved);
        let acquired_fast = self.inner.acquired_fast.load(Ordering::Relaxed);
        LimiterStats {
            limit: state.limit,
            in_use,
            waiting: state.queue.len(),
            reserved: state.reserved,
            acquired: state.acquired.wrapping_add(acquired_fast),
            rejected: state.rejected,
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
    /// Free permits that nobody but the queue may take: kept for the head
    /// waiter, which needs more than are free (strict FIFO, no barging).
    /// [`Limiter::available`] does not count them.
    pub reserved: usize,
    /// Acquisitions granted so far, not permits: a weighted one counts
    /// once, so does an empty one (`acquire_many(0)`); a grant abandoned by
    /// a dropped waiter is not counted. (Counted on two counters read one
    /// after the other: exact once the limiter is quiet.)
    pub acquired: u64,
    /// Requests shed with [`AcquireError::Overloaded`] so far.
    pub rejected: u64,
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

impl Acquire {
    /// The lock-free grant alone: `Some` if granted now, and then this
    /// future is complete; `None` leaves it untouched, to be polled.
    #[inline]
    fn try_now(&mut self) -> Option<Permit> {
        let inner = self.inner.as_ref()?;
        if self.waiting.is_some() || self.weight == 0 || !inner.try_fast(self.weight) {
            return None;
        }
        let inner = self.inner.take()?;
        Some(Permit::new(inner, self.weight))
    }
}

impl Future for Acquire {
    type Output = Result<Permit, AcquireError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The lock-free grant inline in the caller, the rest out of line.
        match self.try_now() {
            Some(permit) => Poll::Ready(Ok(permit)),
            None => self.poll_slow(cx),
        }
    }
}

impl Acquire {
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<Permit, AcquireError>> {
        let this = self;
        let Some(inner) = this.inner.as_ref() else {
            // Polled after completion: stays pending rather than panicking.
            return Poll::Pending;
        };
        let outcome = match &this.waiting {
            None => match inner.admit(this.weight, Some(cx.waker()), &mut this.waiting) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    this.queued_at = Some(now());
                    return Poll::Pending;
                }
                Err(e) => Err(e),
            },
            Some((key, cell)) => {
                // The common case (woken because granted) takes no lock.
                let mut outcome = cell.get();
                if outcome == Outcome::WAITING {
                    let old_waker = {
                        let mut state = inner.lock();
                        outcome = cell.get(); // only changes under the lock
                        match state.queue.node_mut(*key) {
                            Some(node)
                                if outcome == Outcome::WAITING
                                    && !node.waker.will_wake(cx.waker()) =>
                            {
                                Some(std::mem::replace(&mut node.waker, cx.waker().clone()))
                            }
                            _ => None,
                        }
                    };
                    // Dropped after the lock is released: its drop may
                    // release a permit of this limiter.
                    drop(old_waker);
                    if outcome == Outcome::WAITING {
                        return Poll::Pending;
                    }
                }
                match outcome {
                    Outcome::GRANTED => Ok(()),
                    _ => Err(AcquireError::Closed(Closed::new())),
                }
            }
        };
        this.waiting = None;
        if let (Ok(()), Some(at)) = (&outcome, this.queued_at) {
            let waited = now().saturating_duration_since(at);
            let waited = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
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
                // Left the queue: if it was the head, the next may fit now;
                // if it was the last, the reserve goes back to newcomers.
                // Its waker joins the others, dropped after the unlock.
                Outcome::WAITING => {
                    inner.lockdown(&mut state);
                    let own = state.queue.remove(key, Outcome::CLOSED);
                    inner.settle(&mut state, &mut wakers);
                    drop(state);
                    drop(own);
                }
                // Granted but never collected: hand the permits on.
                Outcome::GRANTED => {
                    state.acquired = state.acquired.saturating_sub(1);
                    inner.lockdown(&mut state);
                    state.give_back(self.weight);
                    inner.settle(&mut state, &mut wakers);
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
