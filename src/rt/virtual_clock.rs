//! A virtual clock for tests (feature `test-util`): the state behind
//! [`TestClock`](crate::time::TestClock).
//!
//! A virtual clock is *entered* for the futures it drives (as deadline
//! scopes are, through a thread-local set for the duration of a poll), so
//! two tests on two threads of one process each see their own time. While
//! entered, [`super::clock::now`] reads it and every [`super::timer::Sleep`]
//! registers with it instead of the timer thread.
//!
//! Auto-advance: the clock counts the polls of the futures it drives that
//! are running or woken (a wrapped waker marks its future as scheduled).
//! When the last such poll ends and none is scheduled, nothing it drives
//! can make progress without time passing, so, in auto mode, it jumps to
//! the next deadline. That needs no cooperation from the executor.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

thread_local! {
    static CURRENT: RefCell<Option<Arc<Virtual>>> = const { RefCell::new(None) };
}

/// Set once the process creates its first virtual clock: until then (and
/// in every process that never does, such as benchmarks built with the
/// feature on) the real clock costs one relaxed load more, no
/// thread-local access.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// The virtual clock entered on this thread, if any.
#[inline]
pub(crate) fn current() -> Option<Arc<Virtual>> {
    if !IN_USE.load(Ordering::Relaxed) {
        return None;
    }
    CURRENT.with(|c| c.borrow().clone())
}

/// The virtual time now, if a virtual clock is entered on this thread.
#[inline]
pub(crate) fn now() -> Option<Instant> {
    if !IN_USE.load(Ordering::Relaxed) {
        return None;
    }
    CURRENT.with(|c| c.borrow().as_ref().map(|v| v.now()))
}

/// A registration on a virtual clock: its deadline and a tie-breaker.
pub(crate) type Key = (Instant, u64);

/// One virtual clock.
#[derive(Debug)]
pub(crate) struct Virtual {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    now: Instant,
    timers: BTreeMap<Key, Waker>,
    next_seq: u64,
    auto: bool,
    /// Polls of driven futures in progress.
    running: usize,
    /// Driven futures woken and not yet polled.
    scheduled: usize,
    /// Due registrations taken out of `timers` whose wakers are still
    /// running: a driven future they wake is counted in `scheduled` only
    /// once its waker ran, so until then auto-advance must not jump.
    waking: usize,
    /// A jump auto-advance would have made while `waking > 0`: the
    /// `advance_to` that ends the last wake makes it.
    jump_deferred: bool,
}

impl Virtual {
    pub(crate) fn new(now: Instant) -> Arc<Self> {
        IN_USE.store(true, Ordering::Relaxed);
        Arc::new(Virtual {
            state: Mutex::new(State {
                now,
                timers: BTreeMap::new(),
                next_seq: 0,
                auto: false,
                running: 0,
                scheduled: 0,
                waking: 0,
                jump_deferred: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Instant {
        self.lock().now
    }

    pub(crate) fn set_auto(&self, on: bool) {
        self.lock().auto = on;
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lock().timers.keys().next().map(|k| k.0)
    }

    /// `Ready(now)` once `at` has passed on this clock; otherwise registers
    /// (or refreshes) a wake-up in `key`.
    pub(crate) fn poll_until(
        &self,
        key: &mut Option<Key>,
        at: Instant,
        cx: &mut Context<'_>,
    ) -> Poll<Instant> {
        let mut st = self.lock();
        let now = st.now;
        let old = key.take().and_then(|k| st.timers.remove(&k));
        if now >= at {
            drop(st);
            drop(old);
            return Poll::Ready(now);
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.timers.insert((at, seq), cx.waker().clone());
        *key = Some((at, seq));
        drop(st);
        drop(old); // after the lock: a waker's drop may re-enter the crate
        Poll::Pending
    }

    pub(crate) fn cancel(&self, key: Key) {
        let waker = self.lock().timers.remove(&key);
        drop(waker);
    }

    /// Moves the clock to `target` (never back), waking every registration
    /// due on the way in deadline order; the clock reads each deadline as
    /// its registration is woken, then `target`.
    pub(crate) fn advance_to(&self, target: Instant) {
        /// Ends a wake in flight, even if the waker panics.
        struct InFlight<'a>(&'a Virtual);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.lock().waking -= 1;
            }
        }
        let mut target = target;
        let mut st = self.lock();
        loop {
            let due = match st.timers.first_key_value() {
                Some((&(at, seq), _)) if at <= target => (at, seq),
                _ => {
                    st.now = st.now.max(target);
                    // A jump put off while wakers ran: make it now, unless
                    // what they woke is already scheduled.
                    if st.jump_deferred && st.waking == 0 {
                        st.jump_deferred = false;
                        if let Some(&(next, _)) = st.timers.keys().next() {
                            if st.auto && st.running == 0 && st.scheduled == 0 {
                                target = next;
                                continue;
                            }
                        }
                    }
                    return;
                }
            };
            let waker = st.timers.remove(&due);
            st.now = st.now.max(due.0);
            st.waking += 1;
            drop(st);
            {
                let _in_flight = InFlight(self);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            st = self.lock();
        }
    }

    pub(crate) fn advance(&self, by: Duration) {
        let now = self.now();
        // Past what `Instant` can hold: as far as it goes, firing everything.
        let target = now.checked_add(by).unwrap_or_else(|| {
            self.lock()
                .timers
                .keys()
                .next_back()
                .map_or(now, |k| k.0.max(now))
        });
        self.advance_to(target);
    }

    /// Jumps to the next deadline (waking it); `None` if there is none.
    pub(crate) fn jump(&self) -> Option<Instant> {
        let next = self.next_deadline()?;
        self.advance_to(next);
        Some(next)
    }

    fn poll_started(&self, was_scheduled: bool) {
        let mut st = self.lock();
        st.running += 1;
        if was_scheduled {
            st.scheduled = st.scheduled.saturating_sub(1);
        }
    }

    /// A driven poll ended; in auto mode, jumps if nothing can run. While
    /// a wake-up is in flight (`waking`), what it wakes may not be counted
    /// yet: the jump is left to the `advance_to` running that wake-up.
    fn poll_ended(&self) {
        self.lock().running -= 1;
        self.jump_if_idle();
    }

    /// In auto mode, jumps to the next deadline if nothing driven is
    /// running or scheduled.
    fn jump_if_idle(&self) {
        let next = {
            let mut st = self.lock();
            if !(st.auto && st.running == 0 && st.scheduled == 0) {
                return;
            }
            let Some(&(next, _)) = st.timers.keys().next() else {
                return;
            };
            if st.waking > 0 {
                st.jump_deferred = true;
                return;
            }
            next
        };
        self.advance_to(next);
    }

    fn woken(&self) {
        self.lock().scheduled += 1;
    }

    /// A scheduled future left without being polled (dropped after it
    /// completed): in auto mode, jumps if that leaves nothing to run.
    fn unscheduled(&self) {
        {
            let mut st = self.lock();
            st.scheduled = st.scheduled.saturating_sub(1);
        }
        self.jump_if_idle();
    }
}

/// Runs `f` with `clock` entered on this thread (restored after, even on
/// panic).
pub(crate) fn enter<R>(clock: &Arc<Virtual>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Virtual>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(clock.clone()));
    let _restore = Restore(previous);
    f()
}

/// The waker a driven future is polled with: marks it scheduled on its
/// clock, then wakes the executor's waker.
struct Tracked {
    clock: Arc<Virtual>,
    scheduled: AtomicBool,
    /// Set (under the clock's lock) once its future is gone: a wake after
    /// that (a stale registration firing) must not count as scheduled, or
    /// auto-advance would wait for a poll that never comes.
    gone: AtomicBool,
    inner: Mutex<Waker>,
}

impl Wake for Tracked {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        {
            // Decided under the clock's lock, against `gone`.
            let mut st = self.clock.lock();
            if !self.gone.load(Ordering::Acquire) && !self.scheduled.swap(true, Ordering::AcqRel) {
                st.scheduled += 1;
            }
        }
        let waker = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        waker.wake();
    }
}

/// Ends a driven poll's accounting even if the future panics.
struct End<'a>(&'a Virtual);

impl Drop for End<'_> {
    fn drop(&mut self) {
        self.0.poll_ended();
    }
}

pin_project_lite::pin_project! {
    /// A future driven under a virtual clock.
    ///
    /// The future is dropped inside the clock's accounting, with the clock
    /// entered: as soon as it returns `Ready` (in that poll), or when the
    /// `Driven` is dropped while pending. What its drop does (end a shield
    /// ticket and wake a drain, move shielded work to the background
    /// executor) then happens on the clock, and auto-advance cannot jump
    /// between a driven task's last poll and the executor dropping it.
    pub(crate) struct Driven<F> {
        #[pin]
        future: Option<F>,
        clock: Arc<Virtual>,
        waker: Option<Arc<Tracked>>,
        // Not polled yet: counted as scheduled since creation (a task just
        // spawned is runnable), until its first poll or its drop.
        fresh: bool,
    }

    impl<F> PinnedDrop for Driven<F> {
        fn drop(this: Pin<&mut Self>) {
            // A future dropped while woken is no longer scheduled, and a
            // later wake of its waker no longer counts.
            let this = this.project();
            let clock = &**this.clock;
            let tracked = this.waker.take();
            let was_scheduled = {
                let _st = clock.lock();
                let woken = tracked.as_ref().is_some_and(|t| {
                    t.gone.store(true, Ordering::Release);
                    t.scheduled.swap(false, Ordering::AcqRel)
                });
                *this.fresh || woken
            };
            // The waker (and the executor's waker inside it) is dropped
            // after the clock's lock.
            drop(tracked);
            if this.future.as_ref().get_ref().is_none() {
                // Completed: dropped in its last poll already.
                if was_scheduled {
                    clock.unscheduled();
                }
                return;
            }
            // Dropped while pending: the drop counts as a poll of it, on
            // the clock (its `Drop` may start or wake work on the clock).
            clock.poll_started(was_scheduled);
            let mut future = this.future;
            enter(this.clock, || {
                let _end = End(clock);
                future.set(None);
            });
        }
    }
}

impl<F> Driven<F> {
    pub(crate) fn new(future: F, clock: Arc<Virtual>) -> Self {
        clock.woken();
        Driven {
            future: Some(future),
            clock,
            waker: None,
            fresh: true,
        }
    }
}

impl<F: Future> Future for Driven<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let tracked = match this.waker {
            Some(t) => {
                let mut inner = t.inner.lock().unwrap_or_else(PoisonError::into_inner);
                let old = (!inner.will_wake(cx.waker()))
                    .then(|| std::mem::replace(&mut *inner, cx.waker().clone()));
                drop(inner);
                drop(old);
                t.clone()
            }
            None => {
                let t = Arc::new(Tracked {
                    clock: this.clock.clone(),
                    scheduled: AtomicBool::new(false),
                    gone: AtomicBool::new(false),
                    inner: Mutex::new(cx.waker().clone()),
                });
                *this.waker = Some(t.clone());
                t
            }
        };
        let was_scheduled =
            std::mem::take(this.fresh) | tracked.scheduled.swap(false, Ordering::AcqRel);
        this.clock.poll_started(was_scheduled);
        let waker = Waker::from(tracked);
        let mut tcx = Context::from_waker(&waker);
        let mut future = this.future;
        let clock = this.clock;
        enter(clock, || {
            let _end = End(clock);
            let out = future
                .as_mut()
                .as_pin_mut()
                .expect("a future on a TestClock polled after it completed")
                .poll(&mut tcx);
            if out.is_ready() {
                // Dropped here, before the poll ends (see the type's docs).
                future.set(None);
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Duration;

    use crate::time::{TestClock, now, sleep};

    /// Polls its inner future with a waker that takes `delay` of real time
    /// to pass a wake-up on (a slow executor's waker).
    struct SlowWaker<F> {
        inner: Pin<Box<F>>,
        delay: Duration,
    }

    struct Slow(Waker, Duration);
    impl Wake for Slow {
        fn wake(self: Arc<Self>) {
            std::thread::sleep(self.1);
            self.0.wake_by_ref();
        }
    }

    impl<F: Future> Future for SlowWaker<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let waker = Waker::from(Arc::new(Slow(cx.waker().clone(), self.delay)));
            self.inner.as_mut().poll(&mut Context::from_waker(&waker))
        }
    }

    /// Regression: while a due registration was being woken (the lock
    /// released, the waker running), another driven future's poll could
    /// end with nothing counted as running or scheduled, and auto-advance
    /// jumped past the deadline being woken: its task then read a later
    /// time than its own deadline.
    #[test]
    fn auto_advance_never_jumps_past_a_wake_in_flight() {
        let clock = TestClock::new();
        let t0 = clock.now();
        let sec = Duration::from_secs(1);
        // B, on a thread of its own: two 1 s sleeps; registered first.
        let b = {
            let clock = clock.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(clock.enter(async move {
                    sleep(sec).await;
                    sleep(sec).await;
                }))
            })
        };
        while clock.next_deadline().is_none() {
            std::thread::yield_now();
        }
        // A, polled here: a 1 s sleep whose waker is slow.
        let mut a = Box::pin(clock.enter(SlowWaker {
            inner: Box::pin(async move {
                sleep(sec).await;
                now()
            }),
            delay: Duration::from_millis(200),
        }));
        let waker = Waker::noop();
        assert!(
            a.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        clock.set_auto_advance(true);
        // Wakes B (which polls, arms its second sleep and waits) and, slowly, A.
        clock.advance(sec);
        let seen = loop {
            if let Poll::Ready(seen) = a.as_mut().poll(&mut Context::from_waker(waker)) {
                break seen;
            }
            std::thread::yield_now();
        };
        assert_eq!(
            seen,
            t0 + sec,
            "A's wake-up was in flight when the clock jumped on"
        );
        drop(a);
        b.join().unwrap();
        assert_eq!(clock.now(), t0 + 2 * sec);
    }
}
