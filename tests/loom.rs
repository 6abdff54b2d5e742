//! Model checking of the hand-synchronised parts with [loom](https://docs.rs/loom).
//!
//! Built only with `RUSTFLAGS="--cfg async_guard_loom"`, which also swaps
//! the library's mutexes, condvars, atomics and threads for loom's
//! (`src/sync.rs`). Each model runs every interleaving of its threads up to
//! a preemption bound (`LOOM_MAX_PREEMPTIONS`, 2 when unset):
//!
//! ```text
//! RUSTFLAGS="--cfg async_guard_loom" LOOM_MAX_PREEMPTIONS=2 \
//!   CARGO_TARGET_DIR=target/loom cargo test --release --test loom
//! ```
//!
//! A lost wake-up shows up as a loom deadlock (`block_on` or `park` with no
//! thread left to wake it), a broken invariant as a failed assertion.
#![cfg(async_guard_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_guard::__loom_wheel::Wheel;
use async_guard::limit::{Limiter, gather};
use async_guard::offload::CpuPool;
use async_guard::reaper::Reaper;
use async_guard::shield::ShieldSet;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;

/// Runs `f` under loom with the default preemption bound of this suite and
/// prints how many executions it explored (`--nocapture` shows it).
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    builder.check({
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            f()
        }
    });
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    let bound = builder.preemption_bound.unwrap_or(0);
    eprintln!("{name}: {runs} executions (preemption bound {bound})");
}

/// Counts its drops: proves a value was dropped exactly once (no leak, no
/// double drop) wherever it ended up.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Polls a future once with a no-op waker (`true` if it completed).
fn poll_once<F: Future + Unpin>(f: &mut F) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(f).poll(&mut cx).is_ready()
}

// ----------------------------------------------------------------- limit --
//
// The limiter keeps its free permits in one atomic word (with a CLOSED and
// a SLOW flag) and the queue and the rest of its books under a mutex; what
// needs checking is the border: a lock-free release or acquire racing the
// lock holder that sets SLOW and moves the free permits into the books,
// permits granted to a queued waiter under the lock (its waker woken after
// the lock is released), collected by the waiter's next poll, and handed
// on when the waiter is dropped in between.

/// A release racing a new acquire: the acquirer gets the permit (at once or
/// woken from the queue, no lost wake-up) and every permit comes back.
#[test]
fn limit_release_vs_acquire() {
    model(|| {
        let limiter = Limiter::new(1);
        let held = limiter.try_acquire().unwrap();
        let waiter = thread::spawn({
            let limiter = limiter.clone();
            move || drop(block_on(limiter.acquire()).unwrap())
        });
        drop(held);
        waiter.join().unwrap();
        let s = limiter.stats();
        assert_eq!((s.in_use, s.waiting, s.acquired), (0, 0, 2));
    });
}

/// The queue head is dropped while a release grants it the permit: the
/// grant is handed on to the next waiter (woken), nothing is lost, and the
/// abandoned grant is not counted as acquired.
#[test]
fn limit_granted_waiter_dropped_hands_permits_on() {
    model(|| {
        let limiter = Limiter::new(1);
        let held = limiter.try_acquire().unwrap();
        let mut head = limiter.acquire();
        assert!(!poll_once(&mut head)); // queued first
        let queued = Arc::new(AtomicBool::new(false));
        let next = thread::spawn({
            let (limiter, queued) = (limiter.clone(), queued.clone());
            move || {
                let mut next = limiter.acquire();
                assert!(!poll_once(&mut next)); // queued behind `head`
                queued.store(true, SeqCst);
                drop(block_on(next).unwrap());
            }
        });
        // Only once `next` queued, so the hand-off has someone to go to.
        while !queued.load(SeqCst) {
            thread::yield_now();
        }
        let releaser = thread::spawn(move || drop(held));
        drop(head); // waiting, or already granted the permit
        releaser.join().unwrap();
        next.join().unwrap();
        let s = limiter.stats();
        assert_eq!((s.in_use, s.waiting, s.acquired), (0, 0, 2));
    });
}

/// Closing while a caller queues: it is woken with `Closed` (or refused at
/// once); the held permit still comes back.
#[test]
fn limit_close_wakes_the_waiter() {
    model(|| {
        let limiter = Limiter::new(1);
        let held = limiter.try_acquire().unwrap();
        let closer = thread::spawn({
            let limiter = limiter.clone();
            move || limiter.close()
        });
        assert!(block_on(limiter.acquire()).unwrap_err().is_closed());
        closer.join().unwrap();
        drop(held);
        let s = limiter.stats();
        assert_eq!((s.in_use, s.waiting), (0, 0));
    });
}

/// Raising the limit while a caller queues: it is served (woken).
#[test]
fn limit_set_limit_serves_the_waiter() {
    model(|| {
        let limiter = Limiter::new(1);
        let held = limiter.try_acquire().unwrap();
        let resizer = thread::spawn({
            let limiter = limiter.clone();
            move || limiter.set_limit(2)
        });
        let permit = block_on(limiter.acquire()).unwrap();
        resizer.join().unwrap();
        assert_eq!(limiter.stats().in_use, 2);
        drop((held, permit));
        assert_eq!(limiter.stats().in_use, 0);
    });
}

/// Two concurrent `add_permits(1)` on a closed gate (`Limiter::new(0)`)
/// while a caller waits for both: no update is lost, the waiter is served.
#[test]
fn limit_concurrent_adds_open_the_gate() {
    model(|| {
        let gate = Limiter::new(0);
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                thread::spawn(move || gate.add_permits(1))
            })
            .collect();
        let both = block_on(gate.acquire_many(2)).unwrap();
        adders.into_iter().for_each(|t| t.join().unwrap());
        let s = gate.stats();
        assert_eq!((s.limit, s.in_use, s.waiting), (2, 2, 0));
        drop(both);
        assert_eq!(gate.available(), 2);
    });
}

/// A lock-free release racing `forget_permits` (which takes the free
/// permits out of the word): the books balance whichever goes first.
#[test]
fn limit_release_vs_forget_permits() {
    model(|| {
        let limiter = Limiter::new(2);
        let held = limiter.try_acquire().unwrap();
        let releaser = thread::spawn(move || drop(held));
        assert_eq!(limiter.forget_permits(2), 2);
        releaser.join().unwrap();
        let s = limiter.stats();
        assert_eq!((s.limit, s.in_use, s.reserved), (0, 0, 0));
        assert_eq!(limiter.available(), 0);
        limiter.add_permits(1);
        assert_eq!(limiter.available(), 1);
    });
}

/// A one-shot signal set from another thread: the child future of the
/// gather model.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: loom::sync::Mutex<Option<Waker>>,
}

impl Signal {
    fn fire(&self) {
        self.set.store(true, SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.set.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// `gather`'s engine gives every child its own waker that marks the child
/// and wakes the parent: children woken from two threads while the parent
/// polls are all seen (no lost wake-up), each output once, in order.
#[test]
fn limit_gather_sees_every_child_wake() {
    model(|| {
        let signals: Vec<Arc<Signal>> = (0..2).map(|_| Arc::default()).collect();
        let firers: Vec<_> = signals
            .iter()
            .map(|s| {
                let s = s.clone();
                thread::spawn(move || s.fire())
            })
            .collect();
        let children = signals.iter().enumerate().map(|(i, s)| async move {
            s.wait().await;
            i
        });
        assert_eq!(block_on(gather(2, children)), [0, 1]);
        for f in firers {
            f.join().unwrap();
        }
    });
}

// ---------------------------------------------------------------- reaper --
//
// With a zero time-to-live an entry last touched in period `L` is due in
// period `L + 2` (`Pace::due`): registered at clock 0, one tick moves the
// clock to 1 (nothing due), the next to 2 (reaped unless touched in 1).

/// A touch that happens before the driver's expiry check is never lost: the
/// check sees it and keeps the entry. (`Activity::touch` is two relaxed
/// loads and a relaxed `fetch_max`; the driver reads `last` under its lock.)
#[test]
fn reaper_touch_before_expiry_check_is_never_lost() {
    model(|| {
        let reaper = Reaper::new(Duration::ZERO);
        let (activity, idle) = reaper.watch("conn");
        reaper.step(); // clock 1
        let touched = Arc::new(AtomicBool::new(false));
        let toucher = thread::spawn({
            let touched = touched.clone();
            move || {
                activity.touch();
                touched.store(true, SeqCst);
            }
        });
        let saw_touch = touched.load(SeqCst);
        reaper.step(); // clock 2: reaps the entry unless touched in period 1
        let stats = reaper.stats();
        if saw_touch {
            assert_eq!(stats.reaped, 0, "a touch before the check was lost");
            assert_eq!(stats.tracked, 1);
        }
        assert_eq!(stats.reaped + stats.tracked as u64, 1);
        toucher.join().unwrap();
        drop(idle);
        let stats = reaper.stats();
        assert_eq!((stats.tracked, stats.reaped + stats.finished), (0, 1));
    });
}

/// A slow touch that read an older period never moves `last` backwards
/// over a newer touch (the `fetch_max` in `Entry::touch`). With a 3 ms
/// time-to-live and 1 ms periods an entry last touched in `L` is due in
/// `L + 5`: touched in period 2 it must survive period 6.
#[test]
fn reaper_slow_touch_never_moves_last_backwards() {
    model(|| {
        let reaper = Reaper::builder(Duration::from_millis(3))
            .tick(Duration::from_millis(3))
            .build();
        let (activity, _idle) = reaper.watch("conn");
        reaper.step(); // clock 1
        let slow = thread::spawn({
            let activity = activity.clone();
            move || activity.touch() // reads period 1 or 2
        });
        reaper.step(); // clock 2
        activity.touch(); // last = 2
        slow.join().unwrap();
        for _ in 3..=6 {
            reaper.step();
        }
        assert_eq!(reaper.stats().reaped, 0, "last moved backwards");
        reaper.step(); // clock 7 = 2 + 5
        assert_eq!(reaper.stats().reaped, 1);
    });
}

/// The reap wakes the task waiting on it (no lost wake-up between `Idle`
/// registering its waker and the driver reaping).
#[test]
fn reaper_reap_wakes_the_waiter() {
    model(|| {
        let reaper = Reaper::new(Duration::ZERO);
        let (_activity, idle) = reaper.watch("conn");
        let driver = thread::spawn({
            let reaper = reaper.clone();
            move || {
                reaper.step();
                reaper.step();
            }
        });
        let idle_for = block_on(idle).expect("reaped, not closed");
        assert!(idle_for > Duration::ZERO);
        driver.join().unwrap();
        let stats = reaper.stats();
        assert_eq!((stats.tracked, stats.reaped), (0, 1));
    });
}

/// An entry leaving (its owner drops it) while the driver reaps it ends
/// exactly once: counted as reaped or as finished, never both, never lost.
#[test]
fn reaper_leave_vs_reap_ends_once() {
    model(|| {
        let reaper = Reaper::new(Duration::ZERO);
        let (_activity, idle) = reaper.watch("conn");
        reaper.step();
        let owner = thread::spawn(move || drop(idle));
        reaper.step(); // due now
        owner.join().unwrap();
        let s = reaper.stats();
        assert_eq!((s.total, s.tracked, s.reaped + s.finished), (1, 0, 1));
        assert_eq!(s.dropped + s.closed, 0);
    });
}

/// Closing the reaper while a task registers: the task ends as closed
/// either way (registered first and drained, or born closed) and is woken.
#[test]
fn reaper_close_vs_register_wakes_the_waiter() {
    model(|| {
        let reaper = Reaper::new(Duration::from_secs(3600));
        let closer = thread::spawn({
            let reaper = reaper.clone();
            move || reaper.close()
        });
        let (_activity, idle) = reaper.watch("conn");
        assert!(block_on(idle).is_err(), "closed, not reaped");
        closer.join().unwrap();
        assert_eq!(reaper.stats().tracked, 0);
    });
}

// ---------------------------------------------------------------- shield --

/// A set whose work runs on loom threads; `joins` lets the model wait for
/// them before checking what happened.
fn loom_set() -> (
    ShieldSet,
    Arc<std::sync::Mutex<Vec<thread::JoinHandle<()>>>>,
) {
    let joins = Arc::new(std::sync::Mutex::new(Vec::new()));
    let set = ShieldSet::with_spawner({
        let joins = joins.clone();
        move |work| {
            let t = thread::spawn(move || block_on(work));
            joins.lock().unwrap().push(t);
        }
    });
    (set, joins)
}

fn join_all(joins: &std::sync::Mutex<Vec<thread::JoinHandle<()>>>) {
    let all = std::mem::take(&mut *joins.lock().unwrap());
    for t in all {
        t.join().unwrap();
    }
}

/// The output reaches the awaiting handle (no lost wake-up), and a caller
/// that got it also sees the work as ended in the stats.
#[test]
fn shield_output_reaches_the_handle() {
    model(|| {
        let (set, joins) = loom_set();
        let handle = set.shield(async { 42 }).unwrap();
        assert_eq!(block_on(handle), 42);
        let s = set.stats();
        assert_eq!((s.in_flight, s.completed), (0, 1));
        join_all(&joins);
    });
}

/// The handle dropped while the work delivers: the output is dropped
/// exactly once, by whichever side comes second, and nothing stays in flight.
#[test]
fn shield_handle_dropped_during_delivery_drops_output_once() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (set, joins) = loom_set();
        let token = Token(drops.clone());
        let mut handle = Box::pin(set.shield(async move { token }).unwrap());
        // A poll registers a waker first (or already takes the output).
        if poll_once(&mut handle) {
            assert_eq!(drops.load(SeqCst), 1); // the returned token was dropped
        }
        drop(handle);
        join_all(&joins);
        assert_eq!(drops.load(SeqCst), 1);
        let s = set.stats();
        assert_eq!((s.in_flight, s.completed), (0, 1));
    });
}

/// A drain waiting while the last work ends is woken (the `drain_waiting`
/// flag and the counters form a Dekker-style pair: one side sees the other).
#[test]
fn shield_drain_is_woken_by_the_last_end() {
    model(|| {
        let (set, joins) = loom_set();
        drop(set.shield(async {}).unwrap());
        let report = block_on(set.drain(Duration::MAX));
        assert_eq!(report.still_running, 0);
        assert!(report.is_complete());
        assert_eq!(set.stats().in_flight, 0);
        join_all(&joins);
    });
}

/// Two drains on two threads, one piece of work: both are woken.
#[test]
fn shield_two_drains_both_woken() {
    model(|| {
        let (set, joins) = loom_set();
        drop(set.shield(async {}).unwrap());
        let other = thread::spawn({
            let set = set.clone();
            move || block_on(set.drain(Duration::MAX)).still_running
        });
        assert_eq!(block_on(set.drain(Duration::MAX)).still_running, 0);
        assert_eq!(other.join().unwrap(), 0);
        join_all(&joins);
    });
}

/// Close racing a new `shield`: refused work is never in flight, accepted
/// work is seen by a drain started after the close.
#[test]
fn shield_close_vs_start() {
    model(|| {
        let (set, joins) = loom_set();
        let closer = thread::spawn({
            let set = set.clone();
            move || set.close()
        });
        let accepted = set.shield(async {}).map(drop).is_ok();
        closer.join().unwrap();
        let report = block_on(set.drain(Duration::MAX));
        assert_eq!(report.still_running, 0);
        join_all(&joins);
        let s = set.stats();
        assert_eq!(s.in_flight, 0);
        assert_eq!(
            (s.completed, s.rejected),
            if accepted { (1, 0) } else { (0, 1) }
        );
    });
}

/// The hand-over from caller to executor: the caller polls the work once
/// (it registers the caller's waker with the signal), then drops the
/// handle, moving the rest to an executor thread, while a third thread
/// fires the signal and a drain waits. The work ends exactly once (its
/// token dropped once, on whichever side), after the move nothing waits on
/// the caller's stale waker (no deadlock), and the drain is woken.
#[test]
fn shield_handover_from_caller_to_executor() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let (set, joins) = loom_set();
        let signal: Arc<Signal> = Arc::default();
        let token = Token(drops.clone());
        let (sig, e) = (signal.clone(), ended.clone());
        let mut handle = Box::pin(
            set.shield(async move {
                let _token = token;
                sig.wait().await; // (the gather model's signal, defined above)
                e.fetch_add(1, SeqCst);
            })
            .unwrap(),
        );
        let firer = thread::spawn({
            let signal = signal.clone();
            move || signal.fire()
        });
        let finished_in_caller = poll_once(&mut handle);
        drop(handle);
        // Moved to an executor thread exactly when it had not ended in the
        // caller.
        let moved = joins.lock().unwrap().len();
        assert_eq!(moved, usize::from(!finished_in_caller));
        let report = block_on(set.drain(Duration::MAX));
        firer.join().unwrap();
        join_all(&joins);
        assert_eq!(report.still_running, 0);
        assert_eq!(ended.load(SeqCst), 1, "the work ended once");
        assert_eq!(drops.load(SeqCst), 1, "its state was dropped once");
        let s = set.stats();
        assert_eq!((s.in_flight, s.completed, s.lost), (0, 1, 0));
    });
}

/// A tracked future ending on one thread while a drain waits on another.
#[test]
fn shield_tracked_future_wakes_the_drain() {
    model(|| {
        let (set, _joins) = loom_set();
        let tracked = set.track(async { 1 }).unwrap();
        let t = thread::spawn(move || block_on(tracked));
        let report = block_on(set.drain(Duration::MAX));
        assert_eq!(report.still_running, 0);
        assert_eq!(t.join().unwrap(), 1);
        assert_eq!(set.stats().completed, 1);
    });
}

// --------------------------------------------------------------- offload --

/// The result reaches the waiting caller (no lost wake-up between the
/// worker publishing it and the future registering its waker).
#[test]
fn offload_result_reaches_the_caller() {
    model(|| {
        let pool = CpuPool::builder().threads(1).build();
        assert_eq!(block_on(pool.run(|| 42)), 42);
        assert_eq!(pool.stats().completed, 1);
    });
}

/// The caller drops its future while the worker picks the job up: the job
/// runs at most once, a job cancelled before it started never runs, and the
/// work (and its result) is dropped exactly once.
#[test]
fn offload_cancel_vs_start_runs_at_most_once() {
    model(|| {
        let pool = CpuPool::builder().threads(1).build();
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let job = {
            let (ran, token) = (ran.clone(), Token(drops.clone()));
            pool.run(move || {
                ran.fetch_add(1, SeqCst);
                token // the result: dropped by the worker, the caller is gone
            })
        };
        drop(job);
        // Skipped: the work (with its token) was dropped right here, so it
        // can never run.
        let skipped_here = drops.load(SeqCst) == 1 && ran.load(SeqCst) == 0;
        // FIFO with one worker: once this one is done, the first was run or
        // skipped. Waiting for it also keeps the pool open until then.
        block_on(pool.run(|| ()));
        let s = pool.stats();
        let ran = ran.load(SeqCst);
        assert!(ran <= 1);
        assert_eq!(ran as u64 + s.cancelled, 1, "run or skipped, exactly once");
        assert_eq!(skipped_here, s.cancelled == 1);
        assert_eq!(drops.load(SeqCst), 1, "work or result dropped exactly once");
        assert_eq!((s.waiting, s.running), (0, 0));
    });
}

// ----------------------------------------------------------------- wheel --
//
// The coarse timer (`src/wheel.rs`): registrations push a waker into the
// bucket of their tick under one mutex and unpark the driver when their tick
// is earlier than the one it sleeps until; the driver takes the due buckets,
// records when it wakes next, wakes them, parks. The models use a wheel of
// their own whose driver is the model's main thread and whose clock is
// frozen at tick 1: a registration for tick 1 is due as soon as the driver
// looks, so a driver that parks with one pending has lost a wake-up (a loom
// deadlock).

/// A waker that counts its wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

/// Runs the driver at tick `now` until `done()`: fire what is due, park
/// when nothing was (the real driver parks until its next tick; time is
/// frozen here, so only an `unpark` from a registration can wake it).
///
/// The driver thread never joins or `block_on`s: loom's `unpark` would
/// wake it from those too (a loom limitation), so the user threads report
/// their end through a flag and an `unpark` instead.
fn drive_until(wheel: &Wheel, now: u64, done: impl Fn() -> bool) {
    let mut due = Vec::new();
    loop {
        wheel.take_due(now, &mut due);
        let fired = !due.is_empty();
        due.drain(..).for_each(Waker::wake);
        if done() {
            return;
        }
        if !fired {
            thread::park();
        }
    }
}

/// Runs `f` on a user thread that tells the driver (the calling thread)
/// when it is done; returns the flag.
fn user(f: impl FnOnce() + Send + 'static) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let driver = thread::current();
    thread::spawn({
        let done = done.clone();
        move || {
            f();
            done.store(true, SeqCst);
            driver.unpark();
        }
    });
    done
}

/// A registration made while the driver goes to sleep unparks it.
#[test]
fn wheel_registration_wakes_the_parked_driver() {
    model(|| {
        let wheel = Arc::new(Wheel::new());
        let (count, waker) = counting();
        thread::spawn({
            let wheel = wheel.clone();
            move || {
                let _key = wheel.insert(1, &waker);
            }
        });
        // Only the registration's own unpark can wake the driver here.
        drive_until(&wheel, 1, || count.0.load(SeqCst) == 1);
        assert!(wheel.is_empty());
    });
}

/// Cancelling while the driver fires: woken at most once, and no bucket
/// is left behind either way.
#[test]
fn wheel_cancel_vs_fire() {
    model(|| {
        let wheel = Arc::new(Wheel::new());
        let (count, waker) = counting();
        let done = user({
            let wheel = wheel.clone();
            move || {
                let key = wheel.insert(1, &waker);
                wheel.remove(key);
            }
        });
        drive_until(&wheel, 1, || done.load(SeqCst));
        let mut due = Vec::new();
        wheel.take_due(1, &mut due);
        due.drain(..).for_each(Waker::wake);
        assert!(count.0.load(SeqCst) <= 1);
        assert!(wheel.is_empty());
    });
}

/// Re-registering with a new waker (`update`, or a fresh `insert` when the
/// registration already fired, as `Sleep::poll_until` does) while the
/// driver fires: the new waker is always woken, once.
#[test]
fn wheel_update_vs_fire_wakes_the_new_waker() {
    model(|| {
        let wheel = Arc::new(Wheel::new());
        let (_old_count, old) = counting();
        let (new_count, new) = counting();
        let key = wheel.insert(1, &old);
        let done = user({
            let wheel = wheel.clone();
            move || {
                if !wheel.update(key, &new) {
                    let _key = wheel.insert(1, &new);
                }
            }
        });
        drive_until(&wheel, 1, || {
            done.load(SeqCst) && new_count.0.load(SeqCst) >= 1
        });
        assert_eq!(new_count.0.load(SeqCst), 1);
        assert!(wheel.is_empty());
    });
}

/// A registration that lands in a tick that already fired (its clock
/// reading was late) while the fired registration cancels with its stale
/// key: the late one is still woken. (Fails without the bucket ids in
/// `Key`: the stale key removed the late registration's slot.)
#[test]
fn wheel_fired_key_does_not_cancel_a_late_registration() {
    model(|| {
        let wheel = Arc::new(Wheel::new());
        let (first_count, first) = counting();
        let (late_count, late) = counting();
        let key = wheel.insert(1, &first);
        let cancelled = user({
            let wheel = wheel.clone();
            move || wheel.remove(key)
        });
        let registered = user({
            let wheel = wheel.clone();
            move || {
                let _key = wheel.insert(1, &late);
            }
        });
        drive_until(&wheel, 1, || {
            cancelled.load(SeqCst) && registered.load(SeqCst) && late_count.0.load(SeqCst) == 1
        });
        assert!(first_count.0.load(SeqCst) <= 1);
        assert!(wheel.is_empty());
    });
}
