//! The crate's one timer: every deadline of every cure (timeouts and
//! deadline scopes, stream timeouts, `acquire_timeout`, shield grace
//! periods, drains, reaper ticks, the lag probe, [`sleep`](crate::time::sleep))
//! is a [`Sleep`] registered here.
//!
//! Deadlines are rounded *up* to a [`GRANULARITY`] tick and kept in an
//! ordered map of buckets, one per tick, under one mutex: every timeout due
//! in the same millisecond shares a bucket, so arming is a `Vec` push into an
//! existing bucket, cancelling is a slot reset, and one driver thread
//! (`guard-timer`) sleeps until the earliest bucket is due. Rounding up means
//! a sleep never ends early and at most about one tick late.
//!
//! Why not one `async_io::Timer` each? Registering one pushes an operation
//! onto the reactor's queue, inserts into a `BTreeMap` keyed by the exact
//! deadline and notifies the reactor thread; cancelling pushes another. With
//! 100k timeouts in flight that is 100k map entries and a reactor wake-up per
//! timeout, for timers that almost never fire. The reaper and the lag probe
//! moved here too: one clock means a paused test clock can drive them all.
//!
//! The driver thread starts with the first registration. If the OS refuses
//! it, registrations are kept and the start is retried at the next
//! registration or poll of a pending sleep ([`super::thread`]): timers fire
//! late, never early, and nothing stays broken once threads are available.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::clock;
use crate::sync::thread::{self, Thread};
use crate::sync::{Mutex, MutexGuard};

/// Deadlines are rounded up to this granularity.
pub(crate) const GRANULARITY: Duration = Duration::from_millis(1);
const NANOS_PER_TICK: u32 = 1_000_000;
const TICKS_PER_SEC: u64 = 1_000;

struct Wheel {
    epoch: Instant,
    state: Mutex<State>,
    /// The driver thread, once it runs (it publishes itself).
    driver: OnceLock<Thread>,
}

#[derive(Default)]
struct State {
    buckets: BTreeMap<u64, Bucket>,
    /// The tick the driver sleeps until (`None`: parked with nothing to do).
    driver_wakes_at: Option<u64>,
    /// The id of the last bucket created.
    last_bucket: u64,
    /// A thread for the driver is being started, or was started (it may
    /// not have published itself in `Wheel::driver` yet).
    starting: bool,
}

struct Bucket {
    /// Tells this bucket from an earlier one of the same tick that already
    /// fired: a registration whose clock reading was late can recreate a
    /// fired tick, and the fired registrations' keys must not reach into it.
    id: u64,
    wakers: Vec<Option<Waker>>,
    free: Vec<u32>,
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.free.len() == self.wakers.len()
    }
}

/// Where a registration lives: its bucket and its slot in that bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    tick: u64,
    bucket: u64,
    slot: u32,
}

fn wheel() -> &'static Wheel {
    static WHEEL: OnceLock<Wheel> = OnceLock::new();
    WHEEL.get_or_init(|| Wheel::new(clock::now()))
}

/// Makes sure the driver thread runs and looks at its work again (after
/// a retry was queued, see [`super::thread::retry_later`]).
pub(crate) fn kick() {
    let wheel = wheel();
    if wheel.ensure_driver() {
        wheel.unpark();
    }
}

impl Wheel {
    fn new(epoch: Instant) -> Self {
        Wheel {
            epoch,
            state: Mutex::new(State::default()),
            driver: OnceLock::new(),
        }
    }

    /// `true` once the driver runs; tries to start it otherwise.
    fn ensure_driver(&'static self) -> bool {
        if self.driver.get().is_some() {
            return true;
        }
        // Only one caller starts it at a time; the others see `starting`.
        let mut st = self.lock();
        if st.starting || self.driver.get().is_some() {
            return true;
        }
        st.starting = true;
        drop(st);
        let started = super::thread::spawn("guard-timer".into(), move || self.drive());
        if !started {
            // Refused: the next use tries again. (After a start the flag
            // stays set: until the new thread publishes itself, `driver` is
            // empty and a second driver thread would be started.)
            self.lock().starting = false;
        }
        started
    }

    fn unpark(&self) {
        if let Some(driver) = self.driver.get() {
            driver.unpark();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A waker that panicked while we held no lock cannot poison it; still,
        // never let poisoning turn into a panic in every timeout of the process.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first tick whose time is at or after `at` (rounding up, never early).
    fn tick_for(&self, at: Instant) -> u64 {
        // Whole milliseconds, rounded up; plain u64 arithmetic (a u128
        // division here would cost more than the rest of the registration).
        let since = at.saturating_duration_since(self.epoch);
        let millis = u64::from(since.subsec_nanos().div_ceil(NANOS_PER_TICK));
        since
            .as_secs()
            .saturating_mul(TICKS_PER_SEC)
            .saturating_add(millis)
    }

    fn time_of(&self, tick: u64) -> Option<Instant> {
        let nanos = u64::try_from(GRANULARITY.as_nanos())
            .ok()?
            .checked_mul(tick)?;
        self.epoch.checked_add(Duration::from_nanos(nanos))
    }

    fn insert(&self, tick: u64, waker: &Waker) -> Key {
        let mut guard = self.lock();
        let st = &mut *guard;
        let last_bucket = &mut st.last_bucket;
        let bucket = st.buckets.entry(tick).or_insert_with(|| {
            *last_bucket += 1;
            Bucket {
                id: *last_bucket,
                wakers: Vec::new(),
                free: Vec::new(),
            }
        });
        let bucket_id = bucket.id;
        let slot = match bucket.free.pop() {
            Some(slot) => {
                bucket.wakers[slot as usize] = Some(waker.clone());
                slot
            }
            None => {
                bucket.wakers.push(Some(waker.clone()));
                (bucket.wakers.len() - 1) as u32
            }
        };
        let wake_driver = st.driver_wakes_at.is_none_or(|t| tick < t);
        if wake_driver {
            st.driver_wakes_at = Some(tick);
        }
        drop(guard);
        if wake_driver {
            self.unpark();
        }
        Key {
            tick,
            bucket: bucket_id,
            slot,
        }
    }

    /// Replaces the waker of a live registration; `false` if it already
    /// fired. The old waker is dropped after the lock is released: its drop
    /// may re-enter the crate.
    fn update(&self, key: Key, waker: &Waker) -> bool {
        let mut st = self.lock();
        let old = match st
            .buckets
            .get_mut(&key.tick)
            .filter(|b| b.id == key.bucket)
            .and_then(|b| b.wakers.get_mut(key.slot as usize))
        {
            Some(Some(w)) => std::mem::replace(w, waker.clone()),
            _ => return false,
        };
        drop(st);
        drop(old);
        true
    }

    /// Cancels a registration (a no-op once it fired). The waker is
    /// dropped after the lock is released.
    fn remove(&self, key: Key) {
        let mut st = self.lock();
        let Some(bucket) = st.buckets.get_mut(&key.tick) else {
            return;
        };
        if bucket.id != key.bucket {
            return; // that registration fired; this is a later bucket
        }
        let waker = bucket
            .wakers
            .get_mut(key.slot as usize)
            .and_then(Option::take);
        if waker.is_some() {
            bucket.free.push(key.slot);
        }
        if bucket.is_empty() {
            st.buckets.remove(&key.tick);
        }
        drop(st);
        drop(waker);
    }

    /// One pass of the driver: moves the wakers of every bucket due at
    /// `clock()` (read under the lock) into `due`; returns that reading and
    /// the next tick to wake at (`None`: nothing registered).
    fn take_due(
        &self,
        clock: impl FnOnce() -> Instant,
        due: &mut Vec<Waker>,
    ) -> (Instant, Option<u64>) {
        let mut st = self.lock();
        let now = clock();
        while let Some(entry) = st.buckets.first_entry() {
            match self.time_of(*entry.key()) {
                Some(t) if t <= now => due.extend(entry.remove().wakers.into_iter().flatten()),
                _ => break,
            }
        }
        let next = st.buckets.keys().next().copied();
        st.driver_wakes_at = next;
        (now, next)
    }
}

impl Wheel {
    /// The driver thread: sleeps until the earliest bucket is due, wakes it;
    /// runs the thread starts that wait for a retry.
    fn drive(&'static self) {
        let _ = self.driver.set(thread::current());
        let mut due = Vec::new();
        loop {
            super::thread::run_retries();
            let (now, next) = self.take_due(clock::now, &mut due);
            if !due.is_empty() {
                for waker in due.drain(..) {
                    // A waker is some executor's code; one that panics must
                    // not take this thread, and with it every timer of the
                    // process, down.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
                }
                continue;
            }
            let until_next = next
                .and_then(|t| self.time_of(t))
                .map(|t| t.saturating_duration_since(now));
            let retry = super::thread::retries_pending().then_some(super::thread::RETRY_INTERVAL);
            park(match (until_next, retry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            });
        }
    }
}

/// Parks the driver, for at most `timeout` if given.
fn park(timeout: Option<Duration>) {
    match timeout {
        #[cfg(not(async_guard_loom))]
        Some(t) => std::thread::park_timeout(t),
        // Loom has no timed park; its models drive their own wheels.
        #[cfg(async_guard_loom)]
        Some(_) => thread::park(),
        None => thread::park(),
    }
}

/// A reusable sleep on the shared wheel, owned by one timeout.
///
/// Dropping it cancels its registration. Re-arming it for a later deadline
/// keeps the earlier registration (it fires early, the owner re-polls and
/// re-arms), so a deadline pushed back on every item costs no locking.
#[derive(Debug, Default)]
pub(crate) struct Sleep {
    key: Option<Key>,
    waker: Option<Waker>,
    /// A registration on a virtual clock instead (feature `test-util`).
    #[cfg(feature = "test-util")]
    on_virtual: Option<(
        std::sync::Arc<super::virtual_clock::Virtual>,
        Option<super::virtual_clock::Key>,
    )>,
}

impl Sleep {
    /// `Ready(now)` once the clock (read here) says `at` has passed;
    /// otherwise arms (or keeps) a wake-up for it. A registration whose
    /// tick the clock says has passed is never trusted to still wake us:
    /// it is replaced, so no wake-up is lost.
    pub(crate) fn poll_until(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<Instant> {
        #[cfg(feature = "test-util")]
        if let Some(ready) = self.poll_virtual(at, cx) {
            return ready;
        }
        let now = clock::now();
        if now >= at {
            self.cancel();
            return Poll::Ready(now);
        }
        let wheel = wheel();
        let tick = wheel.tick_for(at);
        if let Some(key) = self.key {
            // A tick too far to represent as an `Instant` is still pending.
            let still_pending = wheel.time_of(key.tick).is_none_or(|t| t > now);
            if key.tick <= tick && still_pending {
                let same_waker = self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
                if same_waker || wheel.update(key, cx.waker()) {
                    self.remember(cx.waker());
                    wheel.ensure_driver();
                    return Poll::Pending;
                }
            }
            self.cancel();
        }
        self.key = Some(wheel.insert(tick, cx.waker()));
        self.remember(cx.waker());
        wheel.ensure_driver();
        Poll::Pending
    }

    /// Under a virtual clock entered on this thread, polls on it (moving
    /// off any registration on another clock); `None` under the real one.
    #[cfg(feature = "test-util")]
    fn poll_virtual(&mut self, at: Instant, cx: &mut Context<'_>) -> Option<Poll<Instant>> {
        let Some(current) = super::virtual_clock::current() else {
            self.cancel_virtual();
            return None;
        };
        self.cancel_real();
        let same = matches!(&self.on_virtual, Some((c, _)) if std::sync::Arc::ptr_eq(c, &current));
        if !same {
            self.cancel_virtual();
            self.on_virtual = Some((current, None));
        }
        let (clock, key) = self.on_virtual.as_mut()?;
        Some(clock.poll_until(key, at, cx))
    }

    #[cfg(feature = "test-util")]
    fn cancel_virtual(&mut self) {
        if let Some((clock, Some(key))) = self.on_virtual.take() {
            clock.cancel(key);
        }
    }

    fn remember(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(w) => w.clone_from(waker),
            None => self.waker = Some(waker.clone()),
        }
    }

    /// Drops the registration, if any (no-op once it fired).
    // Only the `key` check is inline (here and in `drop`, also `#[inline]`):
    // a timeout that never armed its timer (ready on its first poll) must
    // not pay a cross-crate call to find out there is nothing to cancel.
    #[inline]
    pub(crate) fn cancel(&mut self) {
        self.cancel_real();
        #[cfg(feature = "test-util")]
        self.cancel_virtual();
    }

    #[inline]
    fn cancel_real(&mut self) {
        if let Some(key) = self.key.take() {
            self.cancel_armed(key);
        }
    }

    fn cancel_armed(&mut self, key: Key) {
        wheel().remove(key);
        self.waker = None;
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The wheel's hand-off logic for the loom models (`tests/loom.rs`): a
/// wheel of its own (not the process-wide one) whose driver is the thread
/// that created it, and whose clock is whatever tick the model says.
#[cfg(async_guard_loom)]
#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations)]
pub mod model {
    use std::task::Waker;
    use std::time::Instant;

    pub struct Wheel(super::Wheel);

    #[derive(Clone, Copy)]
    pub struct Key(super::Key);

    impl Wheel {
        /// The calling thread is the driver: `insert` unparks it.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            let wheel = super::Wheel::new(Instant::now());
            let _ = wheel.driver.set(super::thread::current());
            Wheel(wheel)
        }

        pub fn insert(&self, tick: u64, waker: &Waker) -> Key {
            Key(self.0.insert(tick, waker))
        }

        pub fn update(&self, key: Key, waker: &Waker) -> bool {
            self.0.update(key.0, waker)
        }

        pub fn remove(&self, key: Key) {
            self.0.remove(key.0)
        }

        /// One driver pass at clock tick `now`; returns the next tick.
        pub fn take_due(&self, now: u64, due: &mut Vec<Waker>) -> Option<u64> {
            let at = self.0.time_of(now).expect("a small tick");
            self.0.take_due(|| at, due).1
        }

        /// Nothing registered (no bucket left behind).
        pub fn is_empty(&self) -> bool {
            self.0.lock().buckets.is_empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;

    async fn sleep_until(at: Instant) {
        let mut s = Sleep::default();
        future::poll_fn(|cx| s.poll_until(at, cx).map(drop)).await
    }

    #[test]
    fn never_fires_early() {
        future::block_on(async {
            for ms in [0u64, 1, 2, 3, 7] {
                let at = Instant::now() + Duration::from_millis(ms);
                sleep_until(at).await;
                assert!(Instant::now() >= at);
            }
        });
    }

    #[test]
    fn cancelled_registrations_leave_no_bucket() {
        // A deadline no other test of this process uses (the wheel is
        // process-wide; tests run in parallel).
        let at = Instant::now() + Duration::from_secs(7 * 86_400 + 13);
        let waker =
            futures_lite::future::block_on(future::poll_fn(|cx| Poll::Ready(cx.waker().clone())));
        let mut cx = Context::from_waker(&waker);
        let mut sleeps: Vec<Sleep> = (0..100).map(|_| Sleep::default()).collect();
        for s in &mut sleeps {
            assert!(s.poll_until(at, &mut cx).is_pending());
        }
        let tick = wheel().tick_for(at);
        assert!(wheel().lock().buckets.contains_key(&tick));
        drop(sleeps);
        assert!(!wheel().lock().buckets.contains_key(&tick));
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting() -> (std::sync::Arc<Count>, Waker) {
        let count = std::sync::Arc::new(Count(Default::default()));
        (count.clone(), Waker::from(count))
    }

    /// A registration can land in a tick that already fired: its thread
    /// read the clock, was preempted, and the driver fired that tick before
    /// it took the lock. The fired registration's stale key must then
    /// neither steal that new slot (`update`) nor cancel it (`remove`):
    /// both used to (keys were only tick + slot), and the late timeout was
    /// never woken.
    #[test]
    fn a_fired_key_does_not_reach_a_later_bucket_of_its_tick() {
        let wheel = Wheel::new(Instant::now());
        let at = |tick| wheel.time_of(tick).unwrap();
        let (a_count, a) = counting();
        let (b_count, b) = counting();
        let key_a = wheel.insert(5, &a);
        let mut due = Vec::new();
        assert_eq!(wheel.take_due(|| at(5), &mut due).1, None);
        due.drain(..).for_each(Waker::wake);
        assert_eq!(a_count.0.load(std::sync::atomic::Ordering::SeqCst), 1);

        let key_b = wheel.insert(5, &b); // late: tick 5 already fired
        assert_eq!((key_b.tick, key_b.slot), (key_a.tick, key_a.slot));
        assert!(!wheel.update(key_a, &a), "key_a fired: nothing to update");
        wheel.remove(key_a); // the fired Sleep cancels (a no-op)
        assert_eq!(wheel.take_due(|| at(5), &mut due).1, None);
        due.drain(..).for_each(Waker::wake);
        assert_eq!(
            b_count.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "b was lost"
        );
        assert_eq!(a_count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(wheel.lock().buckets.is_empty());
    }

    #[test]
    fn far_future_does_not_overflow() {
        let w = wheel();
        let far = Instant::now() + Duration::from_secs(u32::MAX as u64 * 1000);
        let tick = w.tick_for(far);
        assert!(tick > 0);
        assert_eq!(w.tick_for(w.epoch), 0);
    }
}
