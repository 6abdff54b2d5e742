//! The virtual clock (`time::TestClock`, feature `test-util`): it drives
//! every timer of the crate, exactly, under every runtime, and two clocks
//! in parallel never see each other's time.

mod runtimes;

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_guard::prelude::*;
use async_guard::time::{TestClock, now, sleep, sleep_until, timeout};
use async_guard::{Limiter, Reaper};
use futures_lite::{StreamExt as _, future, stream};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn two_paused_clocks_in_parallel_keep_their_own_time() {
    let run = |secs: u64| {
        std::thread::spawn(move || {
            let clock = TestClock::new();
            let t0 = clock.now();
            let mut seen = Vec::new();
            for _ in 0..50 {
                clock.advance(Duration::from_secs(secs));
                seen.push(clock.block_on(async { now() }) - t0);
                std::thread::yield_now();
            }
            seen
        })
    };
    let (a, b) = (run(1), run(1000));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        let k = i as u32 + 1;
        assert_eq!(*a, k * SEC);
        assert_eq!(*b, k * 1000 * SEC);
    }
    // And outside any clock, the real one.
    let before = Instant::now();
    assert!(now() >= before);
}

#[test]
fn advance_wakes_in_deadline_order_and_reads_each_deadline() {
    let clock = TestClock::new();
    let t0 = clock.now();
    let order = Arc::new(Mutex::new(Vec::new()));
    let ex = async_executor::Executor::new();
    let mut tasks = Vec::new();
    for secs in [3u64, 1, 2] {
        let order = order.clone();
        tasks.push(ex.spawn(clock.enter(async move {
            sleep(Duration::from_secs(secs)).await;
            order.lock().unwrap().push((secs, now()));
        })));
    }
    while ex.try_tick() {}
    assert_eq!(clock.next_deadline(), Some(t0 + SEC));
    clock.advance(Duration::from_secs(10));
    while ex.try_tick() {}
    let order = order.lock().unwrap().clone();
    assert_eq!(order.iter().map(|o| o.0).collect::<Vec<_>>(), [1, 2, 3]);
    // Woken in order; run after the advance ended, they all read its end.
    assert!(order.iter().all(|o| o.1 == t0 + 10 * SEC));
    assert!(tasks.iter().all(|t| t.is_finished()));
}

#[test]
fn timeouts_fire_exactly_on_their_virtual_deadline() {
    runtimes::virtual_time(|clock| async move {
        let t0 = clock.now();
        let e = timeout(90 * SEC, pending::<()>()).await.unwrap_err();
        assert_eq!(e.deadline(), t0 + 90 * SEC);
        assert_eq!(e.late_by(), Duration::ZERO);
        assert_eq!(now(), t0 + 90 * SEC);

        // Nested: the enclosing deadline wins and is reported as such.
        let r = timeout(10 * SEC, timeout(60 * SEC, pending::<()>())).await;
        let e = r.unwrap().unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), t0 + 100 * SEC);

        // A sleep shorter than the timeout wins.
        assert_eq!(timeout(2 * SEC, sleep(SEC)).await, Ok(()));
        assert_eq!(now(), t0 + 101 * SEC);
        sleep_until(t0 + 200 * SEC).await;
        assert_eq!(now(), t0 + 200 * SEC);
    });
}

#[test]
fn stream_gaps_are_measured_in_virtual_time() {
    runtimes::virtual_time(|clock| async move {
        let t0 = clock.now();
        // Items every 3 s, gaps of 2 s allowed: every gap times out once.
        let items: Vec<_> = stream::iter(0..3)
            .then(|i| async move {
                sleep(3 * SEC).await;
                i
            })
            .timeout_each(2 * SEC)
            .collect()
            .await;
        let oks = items.iter().filter(|r| r.is_ok()).count();
        assert_eq!((oks, items.len()), (3, 6));
        assert_eq!(now(), t0 + 9 * SEC);
    });
}

#[test]
fn acquire_timeout_waits_exactly_its_duration() {
    runtimes::virtual_time(|clock| async move {
        let limiter = Limiter::new(1);
        let _held = limiter.acquire().await.unwrap();
        let t0 = clock.now();
        let e = limiter.acquire_timeout(30 * SEC).await.unwrap_err();
        assert!(e.is_elapsed());
        assert_eq!(now(), t0 + 30 * SEC);
        assert_eq!(limiter.stats().timed_out, 1);
    });
}

#[test]
fn a_reaper_reaps_after_its_ttl_in_virtual_time() {
    runtimes::virtual_time(|clock| async move {
        let t0 = clock.now();
        let reaper = Reaper::new(60 * SEC);
        let idle = reaper.track("idle", |_| sleep(3600 * SEC));
        let busy = reaper.track("busy", |activity| async move {
            for _ in 0..10 {
                sleep(30 * SEC).await;
                activity.touch();
            }
            "done"
        });
        let (idle, busy) = future::zip(idle, busy).await;
        assert!(idle.is_err());
        assert_eq!(busy.unwrap(), "done");
        // The busy task ran its 300 s; the idle one went within ttl + a tick.
        assert!(now() >= t0 + 300 * SEC);
        assert_eq!(reaper.stats().reaped, 1);
    });
}

#[test]
fn a_time_sliced_budget_yields_when_virtual_time_passes() {
    runtimes::virtual_time(|clock| async move {
        let mut budget = async_guard::Budget::time_slice(SEC);
        // No virtual time passes: the slice never ends.
        for _ in 0..10_000 {
            budget.tick().await;
        }
        assert_eq!(budget.yields(), 0);
        clock.advance(SEC); // a long stretch of work, as far as the clock knows
        let mut ticks = 0;
        while budget.yields() == 0 {
            budget.tick().await;
            ticks += 1;
            assert!(ticks < 1_000_000, "the slice never ended");
        }
    });
}

/// Regression: a driven task's future was dropped by its executor after its
/// last poll had ended, outside the clock's accounting, so auto-advance
/// could jump before that drop's effects (a shield ticket waking a drain)
/// were seen. Work moved to the background executor ended at 5 ms, and the
/// drain returned at its 5 s timeout.
#[test]
fn a_driven_task_is_dropped_inside_its_last_poll() {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock.block_on(async {
        let t0 = now();
        let set = async_guard::ShieldSet::new();
        // Dropped unpolled: the work moves to the background executor; it
        // counts as ended when the executor drops it.
        drop(set.shield(sleep(5 * Duration::from_millis(1))));
        let report = set.drain(5 * SEC).await;
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(now(), t0 + Duration::from_millis(5));
    });
}

/// Regression: a future on a clock dropped while pending outside any poll
/// (a cancelled task, a dropped handle) was dropped off the clock, so what
/// its `Drop` started (shielded work moving to the background executor)
/// ran on the real clock: an hour-long virtual wait never ended.
#[test]
fn a_pending_future_on_a_clock_is_dropped_on_it() {
    let clock = TestClock::new();
    let t0 = clock.now();
    let set = async_guard::ShieldSet::new();
    let s = set.clone();
    let mut caller = Box::pin(clock.enter(async move {
        s.shield(sleep(3600 * SEC)).unwrap().await;
    }));
    assert!(future::block_on(future::poll_once(caller.as_mut())).is_none());
    drop(caller); // here, on no clock
    clock.set_auto_advance(true);
    let report = clock.block_on(set.drain(7200 * SEC));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(clock.now(), t0 + 3600 * SEC);
}

/// Regression: a grace period read the real clock at `shield_within`, so
/// under a test clock it ended at a real instant, not `call + grace`.
#[test]
fn a_shield_grace_period_starts_at_the_virtual_call() {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock.advance(3600 * SEC); // virtual time far from real time
    clock.block_on(async {
        let t0 = now();
        let r = async_guard::shield::shield_within(20 * SEC, pending::<()>()).await;
        assert_eq!(r.unwrap_err().grace(), 20 * SEC);
        assert_eq!(now(), t0 + 20 * SEC);
    });
}
