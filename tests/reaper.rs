//! Integration tests of the `reaper` cure, under every runtime.
//!
//! TTLs, ticks and idleness are asserted on the virtual clock
//! (`runtimes::virtual_time` or an explicit `TestClock`): no margins for a
//! loaded machine, the bounds of the reaper's contract are checked as they
//! stand (`ttl <= reaped after < ttl + tick`) or as exact instants.

mod runtimes;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_guard::reaper::Reaper;
use async_guard::time::{TestClock, now, sleep};
use futures_lite::future;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

/// Sets a flag when dropped: tells whether a task's future was dropped.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn idle_task_is_reaped_within_ttl_plus_tick() {
    runtimes::virtual_time(|_| async {
        let ttl = 40 * MS;
        let reaper = Reaper::builder(ttl).tick(9 * MS).build();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let start = now();
        let err = reaper
            .track("idle", move |_activity| async move {
                let _flag = flag;
                std::future::pending::<()>().await
            })
            .await
            .unwrap_err();
        let took = now() - start;
        assert!(dropped.load(Ordering::SeqCst), "the task was dropped");
        assert!(took >= ttl, "reaped early: {took:?}");
        assert!(took < ttl + reaper.tick(), "reaped late: {took:?}");
        // Periods of tick / 3 = 3 ms; ttl = ceil(40 / 3) + 1 = 15 periods;
        // an entry touched in period 0 goes when the clock reaches 16.
        assert_eq!(took, 48 * MS);
        assert_eq!(err.name(), "idle");
        assert!(err.idle_for() >= ttl);
        let stats = reaper.stats();
        assert_eq!((stats.reaped, stats.tracked), (1, 0));
        assert!(stats.longest_idle >= ttl);
    });
}

#[test]
fn a_task_that_touches_is_never_reaped() {
    runtimes::virtual_time(|_| async {
        let ttl = 100 * MS;
        let reaper = Reaper::builder(ttl).tick(3 * MS).build();
        let t0 = now();
        // Touch every 10 ms for 5 ttls, then finish.
        let out = reaper
            .track("busy", |activity| async move {
                for _ in 0..50 {
                    sleep(10 * MS).await;
                    activity.touch();
                }
                "alive"
            })
            .await;
        assert_eq!(out, Ok("alive"));
        assert_eq!(now(), t0 + 500 * MS);
        assert_eq!(reaper.stats().reaped, 0);
    });
}

#[test]
fn a_touch_from_another_thread_keeps_it_alive() {
    // The toucher is a task of its own (another thread under `BlockOn` and
    // `Executor`), entered on the same virtual clock.
    for rt in runtimes::ALL {
        let clock = TestClock::new();
        clock.set_auto_advance(true);
        let on_clock = clock.clone();
        let body = clock.enter(async move {
            let t0 = now();
            let reaper = Reaper::new(200 * MS);
            let (tx, rx) = smol::channel::bounded::<()>(1);
            let out = reaper.track("remote", |activity| {
                let keeper = activity.clone();
                runtimes::spawn(
                    rt,
                    on_clock.enter(async move {
                        for _ in 0..10 {
                            sleep(150 * MS).await;
                            keeper.touch();
                        }
                        let _ = tx.send(()).await;
                    }),
                );
                async move { rx.recv().await.is_ok() }
            });
            assert!(out.await.unwrap());
            assert_eq!(now(), t0 + 1500 * MS);
            assert_eq!(reaper.stats().reaped, 0);
        });
        runtimes::run(rt, body);
    }
}

#[test]
fn finished_tasks_leave_at_once() {
    runtimes::all(|| async {
        let reaper = Reaper::new(Duration::from_secs(5));
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                reaper.track(format!("t{i}"), move |a| async move {
                    a.touch();
                    i
                })
            })
            .collect();
        assert_eq!(reaper.stats().tracked, 100);
        assert_eq!(reaper.snapshot().len(), 100);
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        assert_eq!(sum, 4950);
        let stats = reaper.stats();
        assert_eq!((stats.tracked, stats.total, stats.finished), (0, 100, 100));
        assert!(reaper.snapshot().is_empty());
    });
}

#[test]
fn watch_detects_idleness() {
    runtimes::virtual_time(|_| async {
        let ttl = 100 * MS;
        let reaper = Reaper::builder(ttl).tick(3 * MS).build();
        let (activity, idle) = reaper.watch("session");
        let mut idle = Box::pin(idle);
        // Active for 3 ttls: the watch must not fire.
        let mut last = now();
        for i in 0..30 {
            sleep(10 * MS).await;
            assert!(
                future::poll_once(idle.as_mut()).await.is_none(),
                "fired at touch {i}, after {:?} of silence",
                now() - last
            );
            activity.touch();
            last = now();
        }
        let idle_for = idle.as_mut().await.unwrap();
        let took = now() - last;
        assert!(took >= ttl, "fired early: {took:?}");
        assert!(took < ttl + reaper.tick(), "fired late: {took:?}");
        assert!(idle_for >= ttl);
        // It stays resolved; touching afterwards does nothing.
        activity.touch();
        assert_eq!(idle.await, Ok(idle_for));
        assert_eq!(reaper.stats().tracked, 0);
    });
}

#[test]
fn staggered_tasks_are_reaped_in_order() {
    runtimes::virtual_time(|_| async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let log = order.clone();
        // A 120 ms ttl against 5 ms touches, 80 ms between the tasks'
        // silences.
        let reaper = Reaper::builder(120 * MS)
            .tick(3 * MS)
            .on_reap(move |name, _| log.lock().unwrap().push(name.to_string()))
            .build();
        // Task i stays active for i * 80 ms, then goes silent.
        let tasks: Vec<_> = (0..5u64)
            .map(|i| {
                reaper.track(format!("t{i}"), move |activity| {
                    Box::pin(async move {
                        let stop = now() + 80 * MS * i as u32;
                        while now() < stop {
                            sleep(5 * MS).await;
                            activity.touch();
                        }
                        std::future::pending::<()>().await
                    })
                })
            })
            .collect();
        let results = join_all(tasks).await;
        assert!(results.iter().all(Result::is_err));
        let names: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
        assert_eq!(*order.lock().unwrap(), names);
        assert_eq!(reaper.stats().reaped, 5);
    });
}

/// Polls all futures concurrently; their outputs in order.
async fn join_all<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<(F, Option<F::Output>)> = futures.into_iter().map(|f| (f, None)).collect();
    future::poll_fn(|cx| {
        let mut all = true;
        for (f, out) in slots.iter_mut() {
            if out.is_none() {
                match Pin::new(&mut *f).poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => all = false,
                }
            }
        }
        if all { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    slots.into_iter().map(|(_, out)| out.unwrap()).collect()
}

/// A future that is pending `k` times (waking itself), then ready.
struct PendingTimes(usize);
impl Future for PendingTimes {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn dropping_a_tracked_future_mid_way_cleans_up() {
    runtimes::all(|| async {
        let reaper = Reaper::new(Duration::from_secs(5));
        for k in 0..5 {
            let dropped = Arc::new(AtomicBool::new(false));
            let flag = DropFlag(dropped.clone());
            let mut task = Box::pin(reaper.track("t", move |a| async move {
                let _flag = flag;
                a.touch();
                PendingTimes(10).await;
                a.touch();
            }));
            for _ in 0..k {
                assert!(future::poll_once(task.as_mut()).await.is_none());
            }
            assert_eq!(reaper.stats().tracked, 1);
            drop(task);
            assert!(dropped.load(Ordering::SeqCst));
            assert_eq!(reaper.stats().tracked, 0);
        }
        let stats = reaper.stats();
        assert_eq!((stats.dropped, stats.finished, stats.reaped), (5, 0, 0));
    });
}

#[test]
fn dropping_the_reaper_cancels_what_it_tracked() {
    runtimes::virtual_time(|_| async {
        let reaper = Reaper::new(Duration::from_secs(60));
        let task = reaper.track("t", |_| std::future::pending::<()>());
        let (activity, idle) = reaper.watch("w");
        let other = reaper.clone();
        drop(reaper);
        assert!(!other.is_closed(), "a clone keeps it alive");
        drop(other);
        let start = now();
        let err = task.await.unwrap_err();
        assert_eq!(err.name(), "t");
        assert!(
            err.is_closed(),
            "stopped by the drop, not for idleness: {err}"
        );
        assert!(idle.await.is_err());
        assert_eq!(now(), start, "stopped at once, not after a ttl");
        activity.touch(); // harmless
    });
}

#[test]
fn a_closed_reaper_fails_loudly() {
    runtimes::all(|| async {
        let reaper = Reaper::new(Duration::from_secs(60));
        reaper.close();
        reaper.close(); // idempotent
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let out = reaper
            .track(
                "late",
                move |_| async move { r.store(true, Ordering::SeqCst) },
            )
            .await;
        assert!(out.unwrap_err().to_string().contains("reaper was closed"));
        assert!(!ran.load(Ordering::SeqCst), "never runs on a closed reaper");
        let (_a, idle) = reaper.watch("late");
        assert!(idle.await.is_err());
        let stats = reaper.stats();
        assert_eq!((stats.tracked, stats.total), (0, 0));
    });
}

#[test]
fn bad_inputs_have_defined_behaviour() {
    runtimes::virtual_time(|_| async {
        // ttl zero: reaped within a few periods of not touching.
        let zero = Reaper::new(Duration::ZERO);
        assert_eq!(zero.tick(), 3 * MS);
        assert!(
            zero.track("z", |_| std::future::pending::<()>())
                .await
                .is_err()
        );
        assert_eq!(zero.track("z", |_| async { 1 }).await, Ok(1));
        // Huge ttl and ticks: never reaped, never overflows.
        for (ttl, tick) in [
            (Duration::MAX, Duration::MAX),
            (Duration::MAX, Duration::ZERO),
            (Duration::from_secs(u64::MAX / 4), 3 * MS),
        ] {
            let reaper = Reaper::builder(ttl).tick(tick).build();
            let mut t = Box::pin(reaper.track("t", |_| std::future::pending::<()>()));
            sleep(10 * MS).await;
            assert!(future::poll_once(t.as_mut()).await.is_none());
            let _ = reaper.snapshot();
            drop(t);
            assert_eq!(reaper.stats().tracked, 0);
        }
        // A reaped future can be polled again.
        let reaper = Reaper::new(5 * MS);
        let mut t = Box::pin(reaper.track("t", |_| std::future::pending::<()>()));
        assert!(t.as_mut().await.is_err());
        assert!(t.as_mut().await.is_err());
    });
}

#[test]
fn snapshot_and_stats_are_live() {
    runtimes::virtual_time(|_| async {
        let reaper = Reaper::builder(Duration::from_secs(5))
            .tick(Duration::from_millis(30))
            .build();
        let (a, _ia) = reaper.watch("a");
        let (b, _ib) = reaper.watch("b");
        sleep(80 * MS).await;
        a.touch();
        let snap = reaper.snapshot();
        let info = |id| snap.iter().find(|i| i.id == id).unwrap();
        // Idleness is counted in whole periods of tick / 3 = 10 ms; the
        // reaper's clock may be one period behind at a period boundary.
        assert_eq!(info(a.id()).idle_for, Duration::ZERO);
        let b_idle = info(b.id()).idle_for;
        assert!((70 * MS..=80 * MS).contains(&b_idle), "{:?}", info(b.id()));
        assert!(info(b.id()).age >= info(b.id()).idle_for);
        assert_eq!(reaper.stats().tracked, 2);
    });
}

#[test]
fn many_tasks_leave_no_trace() {
    runtimes::all(|| async {
        let reaper = Reaper::new(Duration::from_secs(5));
        let started = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10_000)
            .map(|_| {
                let s = started.clone();
                reaper.track("t", move |a| async move {
                    a.touch();
                    s.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        // Drop half, finish the other half.
        let mut kept = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if i % 2 == 0 {
                kept.push(t);
            }
        }
        for t in kept {
            t.await.unwrap();
        }
        let stats = reaper.stats();
        assert_eq!(
            (stats.tracked, stats.finished, stats.dropped),
            (0, 5_000, 5_000)
        );
        assert_eq!(started.load(Ordering::Relaxed), 5_000);
    });
}

/// Runs one touch schedule: sleeps `gaps[i]` then touches; returns the
/// instants of the touches and `Some(drop instant)` if it was reaped.
fn run_schedule(
    ttl: Duration,
    tick: Duration,
    gaps: Vec<Duration>,
) -> (Vec<Instant>, Option<Instant>) {
    // Everything happens inside one `block_on` on the clock: outside it,
    // the reaper's driver would be the only future the clock drives, and
    // auto-advance would run the whole schedule before the task starts.
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    let touches = Arc::new(Mutex::new(vec![clock.now()]));
    let dropped_at = Arc::new(Mutex::new(None));
    struct At(Arc<Mutex<Option<Instant>>>, TestClock);
    impl Drop for At {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(self.1.now());
        }
    }
    let (log, at) = (touches.clone(), At(dropped_at.clone(), clock.clone()));
    let out = clock.block_on(async move {
        let reaper = Reaper::builder(ttl).tick(tick).build();
        reaper
            .track("p", move |activity| async move {
                let at = at;
                for gap in gaps {
                    sleep(gap).await;
                    activity.touch();
                    log.lock().unwrap().push(now());
                }
                std::mem::forget(at); // finished: not a reap
            })
            .await
    });
    let dropped = *dropped_at.lock().unwrap();
    assert_eq!(out.is_err(), dropped.is_some());
    let touches = touches.lock().unwrap().clone();
    (touches, dropped)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Nothing is reaped before it was idle for `ttl`; nothing survives a
    /// silence of `ttl + tick`, and a reap comes before `ttl + tick`.
    #[test]
    fn never_early_never_late(gaps in prop::collection::vec(0u64..120, 1..5)) {
        let (ttl, tick) = (10 * MS, 3 * MS);
        let gaps: Vec<Duration> = gaps.into_iter().map(Duration::from_millis).collect();
        let (touches, reaped) = run_schedule(ttl, tick, gaps.clone());
        let last = *touches.last().unwrap();
        match reaped {
            Some(dropped) => {
                let silence = dropped - last;
                prop_assert!(silence >= ttl, "reaped {:?} after the last touch", silence);
                prop_assert!(silence < ttl + tick, "reaped {:?} after the last touch", silence);
                // The gap it was reaped in was long enough to be reaped in
                // (a reap and a touch due at the same instant may come in
                // either order).
                prop_assert!(gaps[touches.len() - 1] >= silence, "{:?}", gaps);
            }
            None => {
                for pair in touches.windows(2) {
                    let gap = pair[1] - pair[0];
                    prop_assert!(gap < ttl + tick, "survived a silence of {gap:?}");
                }
            }
        }
    }
}

/// Steps the clock by hand (the real driver of a 1-hour reaper sleeps for
/// minutes): a touch in the last period before expiry is never lost, and an
/// untouched task goes exactly when its last period ends.
#[test]
fn a_touch_just_before_expiry_is_never_lost() {
    runtimes::all(|| async {
        let reaper = Reaper::new(Duration::from_secs(3600));
        // tick = ttl / 16, a period is a third of it: ttl = 48 periods, and
        // an entry is reaped once the clock is 48 + 2 periods past its touch.
        let due = 50;
        let mut touched = None;
        let mut untouched = Box::pin(reaper.track("untouched", |_| std::future::pending::<()>()));
        let mut busy = Box::pin(reaper.track("busy", |a| {
            touched = Some(a);
            std::future::pending::<()>()
        }));
        let activity = touched.unwrap();
        for now in 1..=3 * due {
            reaper.step();
            let gone = future::poll_once(untouched.as_mut()).await.is_some();
            assert_eq!(gone, now >= due, "untouched at period {now}");
            if now % (due - 1) == 0 {
                activity.touch(); // the last period before it would expire
            }
            assert!(
                future::poll_once(busy.as_mut()).await.is_none(),
                "busy reaped at {now}"
            );
        }
        assert_eq!(reaper.stats().reaped, 1);
    });
}

#[test]
fn handles_are_send_sync_and_a_panicking_closure_leaves_nothing() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Reaper>();
    send_sync::<async_guard::reaper::Activity>();
    send_sync::<async_guard::reaper::Idle>();
    send_sync::<async_guard::reaper::Tracked<std::future::Ready<u8>>>();
    let reaper = Reaper::new(Duration::from_secs(5));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(reaper.track("boom", |_| -> std::future::Ready<()> { panic!("closure") }));
    }));
    assert!(caught.is_err());
    assert_eq!(reaper.stats().tracked, 0);
}
