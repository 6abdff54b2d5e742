//! Bad input, panics, reentrancy and use after close, for what the per-cure
//! test files (`tests/<cure>.rs`) do not already cover. Each test states the
//! documented behaviour it checks. Nothing here may panic inside the library
//! or hang: every body that could hang runs under `support::within`, so a
//! bug fails the test instead of stalling CI.
//!
//! Already covered elsewhere (not repeated here): `Duration::ZERO`/`MAX` and
//! far-future deadlines for `timeout` (tests/time.rs), zero/huge budgets and
//! stall thresholds (tests/budget.rs), `threads(0)`/`threads(usize::MAX)`,
//! `max_waiting(usize::MAX)` and panics in offloaded work with an awaiting
//! caller (tests/offload.rs), zero/huge reaper ttl and a closed reaper
//! (tests/reaper.rs), `shield_within`/`drain` with `ZERO`/`MAX`, panics in
//! shielded work and shielding from shielded work (tests/shield.rs).
//!
//! Waits run on a virtual clock (`TestClock`, auto-advancing): a `sleep`
//! here is only a point where the future is pending, and no real time
//! passes. The CPU pool's threads are real.

mod support;

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_guard::prelude::*;
use async_guard::time::{TestClock, current_deadline, now, sleep, timeout, timeout_at};
use futures_lite::{StreamExt as _, future, stream};
use support::{DropFlag, panic_message, within};

const MS: Duration = Duration::from_millis(1);
const LIMIT: Duration = Duration::from_secs(10);

/// A fresh auto-advancing virtual clock.
fn clock() -> TestClock {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock
}

/// [`within`], with `body` on a fresh auto-advancing virtual clock.
fn within_virtual<F, Fut>(what: &str, body: F) -> Fut::Output
where
    F: FnOnce(TestClock) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let clock = clock();
    within(LIMIT, what, clock.enter(body(clock.clone())))
}

// ---------------------------------------------------------------- time ----

/// `Duration::ZERO` gaps on stream adaptors: a ready item still wins, a
/// silent stream gets `Err(Elapsed)` at once (documented: "the inner future
/// still gets one poll"). `Duration::MAX` gaps and a far-future stream
/// deadline never fire and never overflow.
#[test]
fn stream_adaptors_with_zero_and_max_durations() {
    within_virtual("stream zero/max", |_| async {
        let ready: Vec<_> = stream::iter(0..3)
            .timeout_each(Duration::ZERO)
            .collect()
            .await;
        assert!(ready.iter().all(Result::is_ok), "{ready:?}");
        let mut silent = stream::pending::<u8>().timeout_each(Duration::ZERO);
        assert!(silent.next().await.unwrap().is_err());
        assert!(
            silent.next().await.unwrap().is_err(),
            "timeout_each keeps going"
        );
        let mut idle = stream::pending::<u8>().idle_timeout(Duration::ZERO);
        assert!(idle.next().await.unwrap().is_err());
        assert!(idle.next().await.is_none(), "idle_timeout ends");

        let slow = stream::iter(0..3).then(|i| async move {
            sleep(MS).await;
            i
        });
        let all: Vec<_> = slow.timeout_each(Duration::MAX).collect().await;
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(Result::is_ok));
        let far = far_future();
        let all: Vec<_> = stream::iter(0..3).deadline(far).collect().await;
        assert_eq!(all, [Ok(0), Ok(1), Ok(2)]);
        let slow = stream::iter(0..2).then(|i| async move {
            sleep(MS).await;
            i
        });
        assert_eq!(slow.idle_timeout(Duration::MAX).count().await, 2);
    });
}

/// The latest `Instant` this platform can represent (roughly).
fn far_future() -> Instant {
    let now = Instant::now();
    let mut step = Duration::from_secs(u64::MAX / 2);
    let mut at = now;
    while step > Duration::ZERO {
        if let Some(later) = at.checked_add(step) {
            at = later;
        }
        step /= 2;
    }
    at
}

/// The most extreme instants are accepted anywhere an `Instant` goes:
/// `timeout_at`, `reset`, and a deadline in the past fires at once.
#[test]
fn extreme_instants_never_panic() {
    within_virtual("extreme instants", |_| async {
        let far = far_future();
        let mut t = Box::pin(timeout_at(far, sleep(2 * MS)));
        assert_eq!(t.deadline(), Some(far));
        t.as_mut().extend(Duration::from_secs(1)); // past the representable end
        assert_eq!(t.deadline(), None, "extending past the end means never");
        assert!(t.await.is_ok());
        // Deep in the past (as far back as this clock goes).
        let past = now()
            .checked_sub(Duration::from_secs(3600))
            .unwrap_or_else(now);
        let err = timeout_at(past, pending::<()>()).await.unwrap_err();
        assert_eq!(err.deadline(), past);
        assert!(err.to_string().contains("timed out"), "{err}");
        let mut t = Box::pin(timeout(Duration::from_secs(60), pending::<()>()));
        t.as_mut().reset(far);
        assert!(future::poll_once(t.as_mut()).await.is_none());
        t.as_mut().reset(past);
        assert!(t.await.is_err());
    });
}

/// A panic inside a timed-out future propagates to the caller with its
/// payload, and leaves no deadline scope behind on the thread; later
/// timeouts still work.
#[test]
fn a_panic_inside_a_timeout_restores_the_scope() {
    for pending_first in [false, true] {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            clock().block_on(timeout(Duration::from_secs(1), async move {
                if pending_first {
                    sleep(MS).await; // registered a timer first
                }
                panic!("inside the timeout");
            }))
        }));
        assert_eq!(panic_message(&*caught.unwrap_err()), "inside the timeout");
        assert_eq!(current_deadline(), None, "the scope leaked");
    }
    let r = within_virtual("timeout after a panic", |_| timeout(MS, pending::<()>()));
    assert!(r.is_err());
}

// -------------------------------------------------------------- budget ----

/// `LagProbe::new(Duration::MAX)` never beats and does not overflow;
/// `stop` still ends its heartbeat at once.
#[test]
fn lag_probe_with_a_max_interval() {
    within_virtual("lag probe MAX", |clock| async move {
        let (probe, heartbeat) = async_guard::budget::LagProbe::new(Duration::MAX);
        let task = smol::spawn(clock.enter(heartbeat));
        sleep(5 * MS).await;
        assert_eq!(probe.stats().beats, 0);
        probe.stop();
        task.await;
    });
}

/// A panic of the inner future goes through `DetectStalls` and
/// `Cooperative` to the caller (they hold no lock, so nothing is poisoned).
#[test]
fn panics_pass_through_budget_adaptors() {
    let caught = catch_unwind(|| {
        future::block_on(
            async { panic!("stalled and panicked") }.detect_stalls(Duration::ZERO, |_, _| {}),
        )
    });
    assert_eq!(panic_message(&*caught.unwrap_err()), "stalled and panicked");
    let caught = catch_unwind(|| {
        future::block_on(
            stream::iter(0..10)
                .map(|i| if i == 5 { panic!("item 5") } else { i })
                .cooperative(2)
                .count(),
        )
    });
    assert_eq!(panic_message(&*caught.unwrap_err()), "item 5");
}

// ------------------------------------------------------------- offload ----

const CHILD: &str = "offload_env_child";

/// The documented environment variable and bound of the CPU pool (see the
/// `offload` module docs, "Sizing").
const THREADS_ENV: &str = "ASYNC_GUARD_CPU_THREADS";
const MAX_THREADS: usize = 1024;

/// `ASYNC_GUARD_CPU_THREADS` set to garbage, zero, negative or huge: the
/// process-wide pool (which reads it once, at first use, in a fresh
/// process) falls back to the core count or clamps to `MAX_THREADS`, and
/// works. Each value runs this test binary again as a child process.
#[test]
fn garbage_cpu_threads_env_falls_back_in_a_fresh_process() {
    let exe = std::env::current_exe().unwrap();
    for value in [
        "garbage",
        "",
        "0",
        "-4",
        "3.5",
        " 2 ",
        "99999999999999999999",
    ] {
        let out = std::process::Command::new(&exe)
            .args([CHILD, "--exact", "--ignored", "--test-threads=1"])
            .env(THREADS_ENV, value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "value {value:?}: child failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The child of the test above (run only by it, hence ignored): whatever
/// the variable holds, the global pool has the documented size and runs jobs.
#[test]
#[ignore = "run as a child process by garbage_cpu_threads_env_falls_back_in_a_fresh_process"]
fn offload_env_child() {
    use async_guard::offload::{CpuPool, offload};
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = match std::env::var(THREADS_ENV)
        .ok()
        .map(|v| v.trim().parse::<usize>())
    {
        Some(Ok(n)) if n > 0 => n.min(MAX_THREADS),
        _ => cores.min(MAX_THREADS),
    };
    assert_eq!(CpuPool::global().threads(), expected);
    let sum = within(LIMIT, "global pool", async {
        let jobs: Vec<_> = (0..8u64).map(|i| offload(move || i * 2)).collect();
        let mut sum = 0;
        for j in jobs {
            sum += j.await;
        }
        sum
    });
    assert_eq!(sum, 56);
}

/// A panic in a job whose future was dropped while it ran is counted in
/// `panicked` and discarded (documented); the thread survives.
#[test]
fn a_panic_nobody_awaits_is_counted_and_the_pool_survives() {
    use async_guard::offload::CpuPool;
    let pool = CpuPool::builder().threads(1).build();
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let mut job = pool.run(move || {
        flag.store(true, SeqCst);
        // Real: the job must still run on the pool's (real) thread when its
        // future is dropped.
        std::thread::sleep(5 * MS);
        panic!("nobody listens");
    });
    assert!(future::block_on(future::poll_once(&mut job)).is_none());
    assert!(support::eventually(LIMIT, || started.load(SeqCst)));
    drop(job); // while it runs
    assert!(support::eventually(LIMIT, || pool.stats().panicked == 1));
    assert_eq!(within(LIMIT, "pool after panic", pool.run(|| 5)), 5);
}

/// Offload from inside offloaded work: to another pool with `block_on`
/// (fine), or to the same pool by handing the inner future back to the
/// async caller (fine). Only a `block_on` on the *same* pool can deadlock
/// it (documented, like `ThreadPoolExecutor`), so that is not done here.
#[test]
fn nested_offload() {
    use async_guard::offload::{CpuPool, offload};
    let outer = CpuPool::builder().threads(1).build();
    let inner = CpuPool::builder().threads(1).build();
    let total = within(LIMIT, "nested offload", async move {
        let i = inner.clone();
        let a = outer.run(move || future::block_on(i.run(|| 20)) + 1).await;
        let o = outer.clone();
        let handed_back = outer.run(move || o.run(|| 300)).await;
        let b = handed_back.await;
        // The global pool from inside a private one, and the reverse.
        let c = outer.run(|| future::block_on(offload(|| 4000))).await;
        let d = offload(move || future::block_on(inner.run(|| 50_000))).await;
        a + b + c + d
    });
    assert_eq!(total, 54_321);
}

// -------------------------------------------------------------- reaper ----

/// A tracked task whose future panics: the panic reaches the caller with
/// its payload and the entry leaves the reaper (counted as dropped); the
/// reaper keeps working.
#[test]
fn a_panicking_tracked_task_leaves_nothing() {
    use async_guard::reaper::Reaper;
    let reaper = Reaper::new(Duration::from_secs(5));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        clock().block_on(reaper.track("boom", |activity| async move {
            activity.touch();
            sleep(MS).await;
            panic!("tracked task panicked");
        }))
    }));
    assert_eq!(
        panic_message(&*caught.unwrap_err()),
        "tracked task panicked"
    );
    support::assert_reaper_settled(&reaper);
    assert!(reaper.snapshot().is_empty());
    let again = within(LIMIT, "reaper after panic", {
        let r = reaper.clone();
        async move { r.track("ok", |_| async { 1 }).await }
    });
    assert_eq!(again, Ok(1));
}

/// Reentrancy: a tracked task that tracks with the same reaper (from its
/// closure and from its future), and an `on_reap` hook that calls back into
/// the reaper (stats, snapshot, track, watch). No deadlock; the inner idle
/// task is reaped while the outer, which keeps touching, survives.
#[test]
fn a_tracked_task_that_tracks_with_the_same_reaper() {
    use async_guard::reaper::Reaper;
    let slot: Arc<Mutex<Option<Reaper>>> = Arc::default();
    let hook_calls = Arc::new(AtomicUsize::new(0));
    // The reaper is built on the clock, so its ttl is virtual.
    let clock = clock();
    let reaper = clock.block_on(async {
        let slot = slot.clone();
        let calls = hook_calls.clone();
        Reaper::builder(20 * MS)
            .on_reap(move |_name, _idle| {
                if let Some(r) = slot.lock().unwrap().as_ref() {
                    let _ = r.stats();
                    let _ = r.snapshot();
                    drop(r.track("from-hook", |_| async {}));
                    drop(r.watch("from-hook"));
                }
                calls.fetch_add(1, SeqCst);
            })
            .build()
    });
    *slot.lock().unwrap() = Some(reaper.clone());
    let r = reaper.clone();
    let outcome = within(
        LIMIT,
        "nested tracking",
        clock.enter(async move {
            let r2 = r.clone();
            r.track("outer", move |activity| {
                // Tracking from inside the closure (the reaper is mid-`track`).
                let quick = r2.track("from-closure", |_| async { 2 });
                async move {
                    let quick = quick.await;
                    let idle = r2.track("inner", |_| pending::<()>());
                    let keep_alive = async {
                        loop {
                            sleep(3 * MS).await;
                            activity.touch();
                        }
                    };
                    let inner = future::or(idle, keep_alive).await;
                    (quick, inner.map_err(|e| e.name().to_owned()))
                }
            })
            .await
        }),
    );
    let (quick, inner) = outcome.expect("the outer task, which touched, was reaped");
    assert_eq!(quick, Ok(2));
    assert_eq!(inner, Err("inner".to_owned()));
    assert!(hook_calls.load(SeqCst) >= 1);
    slot.lock().unwrap().take(); // break the hook -> reaper cycle
    support::assert_reaper_settled(&reaper);
}

/// Use after close: `Activity::touch` on a closed reaper does nothing;
/// `track`/`watch` fail at their first poll (documented), with an error that
/// names the task.
#[test]
fn reaper_use_after_close() {
    use async_guard::reaper::Reaper;
    let reaper = Reaper::new(Duration::from_secs(5));
    let (activity, idle) = reaper.watch("w");
    reaper.close();
    reaper.close();
    activity.touch();
    within(LIMIT, "closed reaper", async move {
        assert!(idle.await.is_err());
        let err = reaper.track("late", |_| async { 1 }).await.unwrap_err();
        assert_eq!(err.name(), "late");
        assert!(err.to_string().contains("late"), "{err}");
        let (_a, idle) = reaper.watch("late-watch");
        assert!(idle.await.is_err());
    });
}

// -------------------------------------------------------------- shield ----

/// Reentrancy: shielded work that drains its own set waits for itself until
/// its timeout (documented), then reports itself still running; it does not
/// deadlock. Shielded work shielding more work in the same set is fine.
#[test]
fn shielded_work_that_drains_or_shields_its_own_set() {
    use async_guard::shield::ShieldSet;
    let set = ShieldSet::new();
    let s = set.clone();
    let report = within(LIMIT, "self-drain", async move {
        let s2 = s.clone();
        let handle = s
            .shield(async move {
                let nested = s2.shield(async { 7 }).unwrap().await;
                let report = s2.drain(20 * MS).await;
                (nested, report)
            })
            .unwrap();
        handle.await
    });
    assert_eq!(report.0, 7);
    assert!(report.1.still_running >= 1, "{:?}", report.1);
    let s = set.stats();
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.completed, s.shielded);
}

/// Panics in shielded work through `shield_within` (with a grace period)
/// reach the awaiting caller as the original panic, not as `Expired`.
#[test]
fn a_panic_inside_shield_within() {
    use async_guard::shield::ShieldSet;
    let set = ShieldSet::new();
    // Shielded from code on the clock: the work runs on it too.
    let clock = clock();
    let handle = clock
        .block_on(async {
            set.shield_within(Duration::from_secs(5), async {
                sleep(MS).await;
                panic!("panicked within grace");
            })
        })
        .unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| clock.block_on(handle)));
    assert_eq!(
        panic_message(&*caught.unwrap_err()),
        "panicked within grace"
    );
    let s = set.stats();
    assert_eq!((s.panicked, s.expired, s.in_flight), (1, 0, 0), "{s:?}");
}

/// Use after close: a closed set refuses with `Closed` (a message that says
/// so) and drops the future unpolled; `drain` after close still works.
#[test]
fn shield_set_use_after_close() {
    use async_guard::shield::ShieldSet;
    let set = ShieldSet::new();
    set.close();
    let (flag, dropped) = DropFlag::new();
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let err = set
        .shield(async move {
            let _flag = flag;
            p.store(true, SeqCst);
        })
        .unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(dropped.load(SeqCst) && !polled.load(SeqCst));
    let report = within(LIMIT, "drain after close", set.drain(Duration::ZERO));
    assert!(report.is_complete());
}

// --------------------------------------------------------------- limit ----

/// `usize::MAX` limits are clamped to `Limiter::MAX_PERMITS` and weights up
/// to it work and never overflow; asking for more than the maximum fails at
/// once with an error that names both numbers; a zero limit is a gate.
#[test]
fn limiter_with_huge_limits_and_weights() {
    use async_guard::limit::{AcquireError, Limiter};
    within(LIMIT, "huge limits", async {
        let max = Limiter::MAX_PERMITS;
        let huge = Limiter::new(usize::MAX);
        assert_eq!(huge.stats().limit, max);
        let all = huge.acquire_many(max).await.unwrap();
        let s = huge.stats();
        assert_eq!((s.in_use, huge.available()), (max, 0));
        let mut one = Box::pin(huge.acquire());
        assert!(
            future::poll_once(one.as_mut()).await.is_none(),
            "must queue"
        );
        drop(all);
        assert_eq!(one.await.unwrap().weight(), 1);
        assert_eq!(huge.stats().in_use, 0);
        huge.set_limit(usize::MAX); // clamped, no overflow
        huge.add_permits(usize::MAX); // saturates
        assert_eq!(huge.stats().limit, max);
        assert_eq!(huge.forget_permits(usize::MAX), max);
        assert_eq!(huge.stats().limit, 0);
        let small = Limiter::new(3);
        let err = small.acquire_many(usize::MAX).await.unwrap_err();
        assert_eq!(
            err,
            AcquireError::TooMany {
                requested: usize::MAX,
                limit: max
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&usize::MAX.to_string()) && msg.contains(&max.to_string()),
            "{msg}"
        );
        let err = small
            .acquire_many_timeout(usize::MAX, Duration::MAX)
            .await
            .unwrap_err();
        assert!(matches!(err, AcquireError::TooMany { .. }), "{err}");
        // Above the current limit, below the maximum: it waits (bounded).
        let err = small
            .acquire_many_timeout(7, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(err.is_elapsed(), "{err}");
        let zero = Limiter::new(0);
        let err = zero
            .acquire_timeout(Duration::from_millis(1))
            .await
            .unwrap_err();
        assert!(err.is_elapsed(), "{err}");
        assert_eq!(zero.stats().waiting, 0);
    });
}

/// A panic inside `Limiter::run` reaches the caller and the permit comes
/// back; a panic in one future of a `gather` or in a `map_limited` closure
/// reaches the caller and drops the other futures.
#[test]
fn panics_inside_limited_work_return_permits() {
    use async_guard::limit::{Limiter, gather};
    let limiter = Limiter::new(1);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        clock().block_on(limiter.run(async {
            sleep(MS).await;
            panic!("inside run");
        }))
    }));
    assert_eq!(panic_message(&*caught.unwrap_err()), "inside run");
    let s = limiter.stats();
    assert_eq!((s.in_use, s.waiting), (0, 0), "{s:?}");
    assert!(limiter.try_acquire().is_ok());

    let dropped = Arc::new(AtomicUsize::new(0));
    let jobs = (0..4).map(|i| {
        let dropped = dropped.clone();
        async move {
            struct Count(Arc<AtomicUsize>);
            impl Drop for Count {
                fn drop(&mut self) {
                    self.0.fetch_add(1, SeqCst);
                }
            }
            let _c = Count(dropped);
            sleep(MS * (i + 1)).await;
            if i == 0 {
                panic!("gathered future panicked");
            }
            i
        }
    });
    let caught = catch_unwind(AssertUnwindSafe(|| clock().block_on(gather(2, jobs))));
    assert_eq!(
        panic_message(&*caught.unwrap_err()),
        "gathered future panicked"
    );
    // Two were started (limit 2), both dropped; the rest never made.
    assert_eq!(dropped.load(SeqCst), 2);

    let caught = catch_unwind(|| {
        future::block_on(
            stream::iter(0..5)
                .map_limited(2, |x| async move {
                    assert!(x != 3, "map_limited closure panicked");
                    x
                })
                .count(),
        )
    });
    assert_eq!(
        panic_message(&*caught.unwrap_err()),
        "map_limited closure panicked"
    );
}

/// Reentrancy: `run` inside `run` on the same limiter works while permits
/// remain; with none left an inner wait is bounded by `acquire_timeout`
/// (a nested acquire on a full limiter waits like any semaphore's), and
/// closing the limiter from inside a `run` lets the outer permit return.
#[test]
fn nested_use_of_one_limiter() {
    use async_guard::limit::Limiter;
    let limiter = Limiter::new(2);
    let l = limiter.clone();
    within_virtual("nested run", |_| async move {
        let l2 = l.clone();
        let v = l
            .run(async move {
                let inner = l2.run(async { 1 }).await.unwrap();
                let none_left = {
                    let _second = l2.acquire().await.unwrap();
                    let t0 = now();
                    let r = l2.acquire_timeout(5 * MS).await;
                    assert_eq!(now(), t0 + 5 * MS, "waited exactly its 5 ms");
                    r
                };
                assert!(none_left.unwrap_err().is_elapsed());
                l2.close();
                let after = l2.acquire().await.unwrap_err();
                assert!(after.is_closed() && after.to_string().contains("closed"));
                inner + 1
            })
            .await
            .unwrap();
        assert_eq!(v, 2);
    });
    let s = limiter.stats();
    assert_eq!((s.in_use, s.waiting, s.closed), (0, 0, true), "{s:?}");
}

/// Regression (found by tests/properties.rs): inside `timeout(Duration::MAX,
/// ..)` (documented: never expires, `deadline()` is `None`), nested code
/// asking `current_deadline()`/`remaining()` got a deadline ~584 years out
/// instead of `None`, because the lazy duration was clamped to `u64`
/// nanoseconds; and the timeout's own `deadline()` then turned into that.
#[test]
fn duration_max_means_no_deadline_for_nested_code_too() {
    use async_guard::time::remaining;
    for d in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let clock = clock();
        let mut t = Box::pin(timeout(d, async {
            let seen = (current_deadline(), remaining());
            sleep(MS).await;
            seen
        }));
        let first = clock.block_on(future::poll_once(t.as_mut()));
        assert!(first.is_none());
        assert_eq!(t.deadline(), None, "{d:?}: the own deadline appeared");
        let seen = clock.block_on(t).unwrap();
        assert_eq!(seen, (None, None), "{d:?}");
    }
    // A long but representable duration is still a real deadline, all of
    // it left at the start.
    let day = Duration::from_secs(86_400);
    let seen = clock()
        .block_on(timeout(day, async { remaining() }))
        .unwrap();
    assert_eq!(seen, Some(day));
}
