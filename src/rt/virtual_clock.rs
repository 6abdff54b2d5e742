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
        loop {
            let mut st = self.lock();
            let due = match st.timers.first_key_value() {
                Some((&(at, seq), _)) if at <= target => (at, seq),
                _ => {
                    st.now = st.now.max(target);
                    return;
                }
            };
            let waker = st.timers.remove(&due);
            st.now = st.now.max(due.0);
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
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

    /// A driven poll ended; in auto mode, jumps if nothing can run.
    fn poll_ended(&self) {
        let jump = {
            let mut st = self.lock();
            st.running -= 1;
            st.auto && st.running == 0 && st.scheduled == 0 && !st.timers.is_empty()
        };
        if jump {
            self.jump();
        }
    }

    fn woken(&self) {
        self.lock().scheduled += 1;
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
    inner: Mutex<Waker>,
}

impl Wake for Tracked {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.clock.woken();
        }
        let waker = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        waker.wake();
    }
}

pin_project_lite::pin_project! {
    /// A future driven under a virtual clock.
    pub(crate) struct Driven<F> {
        #[pin]
        future: F,
        clock: Arc<Virtual>,
        waker: Option<Arc<Tracked>>,
        // Not polled yet: counted as scheduled since creation (a task just
        // spawned is runnable), until its first poll or its drop.
        fresh: bool,
    }

    impl<F> PinnedDrop for Driven<F> {
        fn drop(this: Pin<&mut Self>) {
            // A future dropped while woken is no longer scheduled.
            let this = this.project();
            let was_scheduled = *this.fresh
                || this
                    .waker
                    .take()
                    .is_some_and(|t| t.scheduled.swap(false, Ordering::AcqRel));
            if was_scheduled {
                let mut st = this.clock.lock();
                st.scheduled = st.scheduled.saturating_sub(1);
            }
        }
    }
}

impl<F> Driven<F> {
    pub(crate) fn new(future: F, clock: Arc<Virtual>) -> Self {
        clock.woken();
        Driven {
            future,
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
                    inner: Mutex::new(cx.waker().clone()),
                });
                *this.waker = Some(t.clone());
                t
            }
        };
        let was_scheduled =
            std::mem::take(this.fresh) | tracked.scheduled.swap(false, Ordering::AcqRel);
        this.clock.poll_started(was_scheduled);
        /// Ends the poll's accounting even if the future panics.
        struct End<'a>(&'a Virtual);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.poll_ended();
            }
        }
        let waker = Waker::from(tracked);
        let mut tcx = Context::from_waker(&waker);
        let future = this.future;
        let clock = this.clock;
        enter(clock, || {
            let _end = End(clock);
            future.poll(&mut tcx)
        })
    }
}
