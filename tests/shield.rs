//! Integration tests for `async_guard::shield`.
//!
//! Work, grace periods and drains wait on the virtual clock
//! (`runtimes::virtual_time`/`virtual_each`), so they are asserted as exact
//! instants. Work that moves off the caller stays on the clock: a user
//! spawner enters it (`set_on`), and the background thread keeps the clock
//! of work spawned from a clocked context. Real waits remain where real
//! threads do the work (file I/O on `blocking`'s threads, the process-wide
//! set shared with the other tests); each says why.
mod runtimes;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use async_guard::shield::{self, Expired, ShieldSet, shield, shield_within};
use async_guard::time::{TestClock, now, sleep};
use async_guard::{Error, FutureExt as _};
use async_io::Timer;
use futures_lite::future::{self, FutureExt as _};
use runtimes::Runtime;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A set whose work runs on the runtime the test body runs under, on
/// `clock` (the spawner enters the moved work on it).
fn set_on(rt: Runtime, clock: &TestClock) -> ShieldSet {
    let clock = clock.clone();
    match rt {
        Runtime::Smol => ShieldSet::with_spawner(move |w| smol::spawn(clock.enter(w)).detach()),
        Runtime::AsyncStd => ShieldSet::with_spawner(move |w| {
            async_std::task::spawn(clock.enter(w));
        }),
        // No executor of its own: use the background thread, which keeps
        // the clock of work spawned from a clocked context.
        Runtime::BlockOn | Runtime::Executor => ShieldSet::new(),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn output_reaches_a_caller_that_is_not_cancelled() {
    runtimes::virtual_each(|rt, clock| async move {
        assert_eq!(shield(async { 7 }).await, 7);
        let t0 = now();
        let slow = shield(async {
            sleep(ms(10)).await;
            "late"
        });
        assert_eq!(slow.await, "late");
        assert_eq!(now(), t0 + ms(10));
        let set = set_on(rt, &clock);
        assert_eq!(set.shield(async { vec![1, 2] }).unwrap().await, vec![1, 2]);
        assert_eq!(async { 3 }.shield().await, 3);
    });
}

#[test]
fn message_is_delivered_when_the_caller_is_dropped_mid_operation() {
    runtimes::virtual_each(|rt, clock| async move {
        for k in 0..4 {
            let set = set_on(rt, &clock);
            let t0 = now();
            let (tx, rx) = smol::channel::bounded(1);
            let s = set.clone();
            let mut caller = Box::pin(async move {
                let handle = s
                    .shield(async move {
                        sleep(ms(5)).await;
                        tx.send(k).await.unwrap();
                        sleep(ms(5)).await;
                    })
                    .unwrap();
                handle.await;
                unreachable!("the caller is cancelled before the work ends");
            });
            for _ in 0..k {
                assert!(future::poll_once(caller.as_mut()).await.is_none());
            }
            if k == 0 {
                // Never polled: nothing was shielded, nothing to deliver.
                drop(caller);
                assert_eq!(set.stats().shielded, 0);
                continue;
            }
            drop(caller);
            assert_eq!(rx.recv().await.unwrap(), k);
            assert_eq!(now(), t0 + ms(5), "sent on time after the move");
            let report = set.drain(Duration::from_secs(5)).await;
            assert!(report.is_complete());
            assert_eq!(now(), t0 + ms(10), "the drain ends with the work");
            assert_eq!(set.stats().completed, 1);
        }
    });
}

#[test]
fn file_is_written_in_full_and_flushed_when_the_caller_is_dropped() {
    // Real time: the file I/O runs on `blocking`'s real threads, which
    // auto-advance cannot see (the drain's timeout would jump ahead of it).
    runtimes::each(|rt| async move {
        let path = std::env::temp_dir().join(format!(
            "async-guard-shield-{}-{rt:?}.txt",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let set = match rt {
            Runtime::Smol => ShieldSet::with_spawner(|w| smol::spawn(w).detach()),
            Runtime::AsyncStd => ShieldSet::with_spawner(|w| {
                async_std::task::spawn(w);
            }),
            Runtime::BlockOn | Runtime::Executor => ShieldSet::new(),
        };
        let s = set.clone();
        let p = path.clone();
        let caller = async move {
            s.shield(async move {
                use futures_lite::AsyncWriteExt;
                let mut file = smol::fs::File::create(&p).await.unwrap();
                for i in 0..100 {
                    file.write_all(format!("line {i}\n").as_bytes())
                        .await
                        .unwrap();
                    if i % 25 == 0 {
                        // Real: a slow disk, beside the real I/O threads.
                        Timer::after(ms(1)).await;
                    }
                }
                file.flush().await.unwrap();
                file.sync_all().await.unwrap();
            })
            .unwrap()
            .await
        };
        // The caller times out long before the write is done.
        assert!(caller.timeout(Duration::ZERO).await.is_err());
        let report = set.drain(Duration::from_secs(10)).await;
        assert!(report.is_complete(), "{report:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(text.ends_with("line 99\n"));
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn seed_scenario_outer_task_cancelled_critical_task_completes() {
    // asyncio: `await asyncio.shield(critical_task())` in a task that is
    // cancelled; the critical task still prints "done". Real time: the
    // process-wide set's drain also waits for the other tests' shielded
    // work, which a virtual clock of this test cannot see.
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let check = done.clone();
    smol::block_on(async move {
        let outer = smol::spawn(async move {
            shield(async move {
                // Real: see above (the global drain).
                Timer::after(ms(30)).await;
                d.store(true, SeqCst);
            })
            .await;
        });
        // Real: see above (the global drain).
        Timer::after(ms(5)).await;
        assert!(outer.cancel().await.is_none()); // the outer task is cancelled
        assert!(!check.load(SeqCst));
        let report = shield::drain(Duration::from_secs(5)).await;
        assert!(report.is_complete());
    });
    assert!(done.load(SeqCst));
}

#[test]
fn awaited_panic_is_reraised_in_the_caller() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        let t0 = now();
        let handle = set.shield(async {
            sleep(ms(2)).await;
            panic!("disk on fire");
        });
        let err = AssertUnwindSafe(handle.unwrap())
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(panic_message(&*err), "disk on fire");
        assert_eq!(now(), t0 + ms(2));
        // The executor survived: more work runs.
        assert_eq!(set.shield(async { 1 }).unwrap().await, 1);
        let st = set.stats();
        assert_eq!((st.panicked, st.unobserved_panics, st.completed), (1, 0, 1));
        // Same on the default background thread.
        let err = AssertUnwindSafe(shield(async { panic!("boom") }))
            .catch_unwind()
            .await;
        assert!(err.is_err());
        assert_eq!(shield(async { 2 }).await, 2);
    });
}

#[test]
fn unawaited_panic_is_counted_and_given_to_the_hook() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        let t0 = now();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        set.on_panic(move |p| s.lock().unwrap().push(panic_message(&*p)));
        // Handle dropped before the panic.
        drop(set.shield(async {
            sleep(ms(2)).await;
            panic!("early drop");
        }));
        // Handle dropped unpolled: the whole work moves, and panics there.
        let late = set.shield(async { panic!("late drop") }).unwrap();
        drop(late);
        let report = set.drain(Duration::from_secs(5)).await;
        assert!(report.is_complete());
        assert_eq!(now(), t0 + ms(2), "the drain ends with the last panic");
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, ["early drop", "late drop"]);
        let st = set.stats();
        assert_eq!((st.panicked, st.unobserved_panics), (2, 2));
    });
}

#[test]
fn a_panicking_hook_is_contained() {
    future::block_on(async {
        let set = ShieldSet::new();
        set.on_panic(|_| panic!("the hook itself panics"));
        drop(set.shield(async { panic!("work panics") }));
        set.drain(Duration::from_secs(5)).await;
        assert_eq!(set.shield(async { 5 }).unwrap().await, 5);
        assert_eq!(set.stats().unobserved_panics, 1);
    });
}

#[test]
fn grace_deadline_stops_work_with_a_typed_error() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        let start = now();
        let stuck = set.shield_within(ms(20), future::pending::<()>()).unwrap();
        let err: Expired = stuck.await.unwrap_err();
        assert_eq!(now(), start + ms(20));
        assert_eq!(err.grace(), ms(20));
        assert!(err.to_string().contains("grace period"));
        let as_crate_error: Error = err.into();
        assert!(matches!(as_crate_error, Error::Expired(_)));
        // Zero grace: a future ready on its first poll still wins.
        assert_eq!(
            set.shield_within(Duration::ZERO, async { 1 })
                .unwrap()
                .await,
            Ok(1)
        );
        assert!(
            set.shield_within(Duration::ZERO, sleep(ms(50)))
                .unwrap()
                .await
                .is_err()
        );
        assert_eq!(now(), start + ms(20), "zero grace: one poll, no wait");
        // Duration::MAX never expires.
        let r = set.shield_within(Duration::MAX, async {
            sleep(ms(2)).await;
            2
        });
        assert_eq!(r.unwrap().await, Ok(2));
        // The caller being cancelled does not change the grace period.
        let t1 = now();
        drop(set.shield_within(ms(5), future::pending::<()>()).unwrap());
        set.drain(Duration::from_secs(5)).await;
        assert_eq!(
            now(),
            t1 + ms(5),
            "stopped by its grace period, moved or not"
        );
        let st = set.stats();
        assert_eq!((st.expired, st.completed, st.in_flight), (3, 2, 0));
        // The free function.
        let t2 = now();
        assert!(shield_within(ms(1), future::pending::<()>()).await.is_err());
        assert!(future::pending::<()>().shield_within(ms(1)).await.is_err());
        assert_eq!(now(), t2 + ms(2));
    });
}

#[test]
fn drain_waits_for_work_in_flight() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        let t0 = now();
        let done = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let d = done.clone();
            drop(set.shield(async move {
                sleep(ms(5 + i)).await;
                d.fetch_add(1, SeqCst);
            }));
        }
        let report = set.drain(Duration::from_secs(5)).await;
        assert_eq!(now(), t0 + ms(14), "the drain ends with the last work");
        assert_eq!(done.load(SeqCst), 10);
        assert_eq!(report.completed, 10);
        assert_eq!(report.still_running, 0);
        // Nothing in flight: returns at once, even with a huge timeout.
        let report = set.drain(Duration::MAX).await;
        assert_eq!(report, Default::default());
        assert_eq!(now(), t0 + ms(14));
    });
}

#[test]
fn drain_gives_up_on_work_that_outlives_its_timeout() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        drop(set.shield(sleep(ms(2))));
        drop(set.shield(sleep(Duration::from_secs(30))));
        let start = now();
        let report = set.drain(ms(100)).await;
        assert_eq!(now(), start + ms(100));
        assert_eq!((report.completed, report.still_running), (1, 1));
        assert!(!report.is_complete());
        assert_eq!(set.stats().abandoned, 1);
        assert_eq!(set.stats().in_flight, 1);
        // Zero timeout only takes stock.
        let report = set.drain(Duration::ZERO).await;
        assert_eq!(report.still_running, 1);
        assert_eq!(now(), start + ms(100));
    });
}

#[test]
fn close_refuses_new_work_and_drain_still_waits_for_old() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        let t0 = now();
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let old = set
            .shield(async move {
                sleep(ms(10)).await;
                f.store(true, SeqCst);
                "old"
            })
            .unwrap();
        set.close();
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let refused = set.shield(async move { p.store(true, SeqCst) });
        assert!(refused.unwrap_err().to_string().starts_with("closed"));
        assert!(set.shield_within(ms(1), async {}).is_err());
        // The old work is driven by its caller (this task) while the drain
        // waits for it: the drain returns only once it ended.
        let (out, report) = future::zip(
            async {
                sleep(ms(2)).await;
                old.await
            },
            set.drain(Duration::from_secs(5)),
        )
        .await;
        assert_eq!(out, "old");
        // Started at its first poll (2 ms), the work ends at 12 ms.
        assert_eq!(now(), t0 + ms(12));
        assert!(report.is_complete());
        assert_eq!(report.completed, 1);
        assert!(finished.load(SeqCst));
        assert!(!polled.load(SeqCst), "refused work is never polled");
        let st = set.stats();
        assert_eq!((st.rejected, st.shielded, st.in_flight), (2, 1, 0));
        // Use after close stays defined.
        set.close();
        assert!(set.drain(Duration::ZERO).await.is_complete());
    });
}

#[test]
fn dropped_drain_leaves_nothing_behind() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let set = ShieldSet::new();
        drop(set.shield(sleep(ms(30))));
        for k in 0..3 {
            let mut d = Box::pin(set.drain(Duration::from_secs(5)));
            for _ in 0..k {
                assert!(future::poll_once(d.as_mut()).await.is_none());
            }
            drop(d);
        }
        // A later drain still sees the end of the work.
        assert!(set.drain(Duration::from_secs(5)).await.is_complete());
        assert_eq!(now(), t0 + ms(30));
    });
}

#[test]
fn several_drains_at_once_all_return() {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock.block_on(async {
        let t0 = now();
        let set = ShieldSet::new();
        drop(set.shield(sleep(ms(10))));
        let (a, b) = future::zip(
            set.drain(Duration::from_secs(5)),
            set.drain(Duration::from_secs(5)),
        )
        .await;
        assert!(a.is_complete() && b.is_complete());
        assert_eq!(now(), t0 + ms(10));
    });
}

#[test]
fn shielding_from_shielded_work_does_not_deadlock() {
    runtimes::all(|| async {
        let out = shield(async {
            let inner = shield(async { shield(async { 3 }).await * 2 });
            inner.await + 1
        })
        .timeout(Duration::from_secs(5))
        .await;
        assert_eq!(out, Ok(7));
    });
}

#[test]
fn work_lost_by_its_executor_does_not_hang_the_drain() {
    future::block_on(async {
        // A spawner that drops the work, like a shut-down executor. Work
        // awaited to its end never reaches it.
        let set = ShieldSet::with_spawner(drop);
        assert_eq!(set.shield(async { 1 }).unwrap().await, 1);
        let (flag, dropped) = drop_flag();
        drop(set.shield(async move {
            let _flag = flag;
        }));
        assert!(dropped.load(SeqCst), "the spawner dropped the work");
        assert!(set.drain(ms(1)).await.is_complete());
        let st = set.stats();
        assert_eq!((st.completed, st.lost, st.in_flight), (1, 1, 0));

        // An executor shut down (dropped) with the moved work pending.
        let ex = Arc::new(async_executor::Executor::new());
        let weak = Arc::downgrade(&ex);
        let set = ShieldSet::with_spawner(move |w| {
            if let Some(ex) = weak.upgrade() {
                ex.spawn(w).detach();
            }
        });
        let mut handle = Box::pin(set.shield(future::pending::<()>()).unwrap());
        assert!(future::poll_once(handle.as_mut()).await.is_none());
        drop(handle); // moves to `ex`
        assert!(ex.try_tick()); // it runs there
        assert_eq!(set.stats().in_flight, 1);
        drop(ex); // drops its tasks
        assert!(set.drain(ms(1)).await.is_complete());
        assert_eq!(set.stats().lost, 1);

        // A spawner that panics loses the work too; the handle's drop does
        // not panic.
        let set = ShieldSet::with_spawner(|_| panic!("spawner down"));
        drop(set.shield(async {}).unwrap());
        assert_eq!((set.stats().lost, set.stats().in_flight), (1, 0));
    });
}

/// A flag set when the value holding it is dropped.
fn drop_flag() -> (impl Send + 'static, Arc<AtomicBool>) {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    (Flag(dropped.clone()), dropped)
}

/// Counts the calls of a spawner that runs the work on smol.
fn counting_set() -> (ShieldSet, Arc<AtomicUsize>) {
    let spawned = Arc::new(AtomicUsize::new(0));
    let s = spawned.clone();
    let set = ShieldSet::with_spawner(move |w| {
        s.fetch_add(1, SeqCst);
        smol::spawn(w).detach();
    });
    (set, spawned)
}

#[test]
fn awaited_work_runs_in_the_caller_and_is_never_spawned() {
    runtimes::virtual_time(|_| async {
        let (set, spawned) = counting_set();
        let caller = std::thread::current().id();
        let on = set
            .shield(async move {
                let first = std::thread::current().id();
                sleep(ms(2)).await;
                future::yield_now().await;
                (first, std::thread::current().id())
            })
            .unwrap()
            .await;
        // `runtimes::all` polls the body on one thread (or a pool whose
        // thread may change between polls of the caller): the work runs
        // wherever the caller's poll runs, and at least its first poll is
        // on the caller's thread.
        assert_eq!(on.0, caller);
        assert_eq!(spawned.load(SeqCst), 0, "awaited work is never spawned");
        // The default set: same, no background thread involved.
        let name = shield(async { std::thread::current().name().map(String::from) }).await;
        assert_ne!(name.as_deref(), Some("guard-runtime"));
        let st = set.stats();
        assert_eq!((st.completed, st.in_flight), (1, 0));
    });
}

#[test]
fn dropped_handle_moves_the_rest_of_the_work_once() {
    runtimes::all(|| async {
        let (set, spawned) = counting_set();
        let steps = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = smol::channel::bounded(1);
        let s = steps.clone();
        let mut handle = Box::pin(
            set.shield(async move {
                s.fetch_add(1, SeqCst); // first poll: in the caller
                future::yield_now().await;
                s.fetch_add(1, SeqCst); // after the move: on smol
                tx.send(std::thread::current().id()).await.unwrap();
            })
            .unwrap(),
        );
        assert!(future::poll_once(handle.as_mut()).await.is_none());
        assert_eq!(steps.load(SeqCst), 1);
        assert_eq!(spawned.load(SeqCst), 0);
        drop(handle);
        assert_eq!(spawned.load(SeqCst), 1);
        let _ran_on = rx.recv().await.unwrap();
        assert!(set.drain(Duration::from_secs(5)).await.is_complete());
        assert_eq!(steps.load(SeqCst), 2, "each step ran exactly once");
        // The default set moves it to the background thread.
        let (tx, rx) = smol::channel::bounded(1);
        let mut handle = Box::pin(shield(async move {
            future::yield_now().await;
            tx.send(std::thread::current().name().map(String::from))
                .await
                .unwrap();
        }));
        assert!(future::poll_once(handle.as_mut()).await.is_none());
        drop(handle);
        let name = rx.recv().await.unwrap();
        assert_eq!(name.as_deref(), Some("guard-runtime"));
    });
}

#[test]
fn shielded_work_does_not_inherit_the_callers_deadline() {
    runtimes::virtual_time(|_| async {
        let inside = shield(async { async_guard::time::remaining() })
            .timeout(Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(inside, None, "the caller's deadline leaked into the work");
        // A timeout inside the work is its own, not the caller's.
        let t0 = now();
        let r = async {
            shield(async { async_guard::time::timeout(ms(30), sleep(ms(10))).await }).await
        }
        .timeout(ms(5))
        .await;
        assert!(r.is_err(), "the caller stops waiting at its deadline");
        assert_eq!(now(), t0 + ms(5));
        let r = async {
            shield(async {
                let inner = async_guard::time::timeout(ms(30), sleep(ms(10)));
                (async_guard::time::current_deadline(), inner.await)
            })
            .await
        }
        .timeout(ms(200))
        .await;
        let (seen, inner) = r.unwrap();
        assert_eq!(seen, None, "the caller's deadline leaked into the work");
        assert!(inner.is_ok());
        assert_eq!(now(), t0 + ms(15));
    });
}

#[test]
fn grace_period_starts_at_the_call() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let set = ShieldSet::new();
        let handle = set
            .shield_within(ms(20), async {
                sleep(ms(15)).await;
                "in time"
            })
            .unwrap();
        // Not polled for 30 ms: the grace period ran out meanwhile, so the
        // work gets its first poll and is then stopped.
        sleep(ms(30)).await;
        assert_eq!(handle.await.unwrap_err().grace(), ms(20));
        assert_eq!(now(), t0 + ms(30), "stopped at its first poll");
        assert_eq!(set.stats().expired, 1);
    });
}

#[test]
fn panics_on_both_paths() {
    runtimes::all(|| async {
        let (set, spawned) = counting_set();
        let hooked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let h = hooked.clone();
        set.on_panic(move |p| h.lock().unwrap().push(panic_message(&*p)));
        // Caller path: re-raised in the caller, not hooked.
        let err = AssertUnwindSafe(
            set.shield(async {
                future::yield_now().await;
                panic!("in the caller")
            })
            .unwrap(),
        )
        .catch_unwind()
        .await
        .unwrap_err();
        assert_eq!(panic_message(&*err), "in the caller");
        // Moved path: hooked.
        let mut handle = Box::pin(
            set.shield(async {
                future::yield_now().await;
                panic!("after the move")
            })
            .unwrap(),
        );
        assert!(future::poll_once(handle.as_mut()).await.is_none());
        drop(handle);
        assert!(set.drain(Duration::from_secs(5)).await.is_complete());
        assert_eq!(*hooked.lock().unwrap(), ["after the move"]);
        assert_eq!(spawned.load(SeqCst), 1);
        let st = set.stats();
        assert_eq!((st.panicked, st.unobserved_panics), (2, 1));
    });
}

#[test]
fn drain_waits_for_work_on_both_paths_and_tracked_tasks() {
    runtimes::virtual_each(|rt, clock| async move {
        let set = set_on(rt, &clock);
        let t0 = now();
        let ended = Arc::new(AtomicUsize::new(0));
        let work = |d: u64| {
            let e = ended.clone();
            async move {
                sleep(ms(d)).await;
                e.fetch_add(1, SeqCst);
            }
        };
        // Moved to the executor.
        drop(set.shield(work(10)).unwrap());
        // Driven by its caller, a task spawned on smol.
        let driven = smol::spawn(clock.enter(set.shield(work(15)).unwrap()));
        // An ordinary task, tracked.
        let tracked = smol::spawn(clock.enter(set.track(work(20)).unwrap()));
        set.close();
        assert!(set.track(async {}).is_err());
        let report = set.drain(Duration::from_secs(5)).await;
        assert_eq!(ended.load(SeqCst), 3);
        assert_eq!((report.completed, report.still_running), (3, 0));
        assert_eq!(
            now(),
            t0 + ms(20),
            "the drain ends with the last of the three"
        );
        driven.await;
        tracked.await;
        let st = set.stats();
        assert_eq!((st.shielded, st.tracked, st.rejected), (2, 1, 1));
    });
}

#[test]
fn tracked_futures_count_their_ends() {
    future::block_on(async {
        let set = ShieldSet::new();
        assert_eq!(set.track(async { 5 }).unwrap().await, 5);
        // Dropped before completing (its task cancelled): lost.
        drop(set.track(future::pending::<()>()).unwrap());
        // A panicking poll: counted, and the panic goes on.
        let r = AssertUnwindSafe(set.track(async { panic!("tracked") }).unwrap())
            .catch_unwind()
            .await;
        assert!(r.is_err());
        let st = set.stats();
        assert_eq!(
            (st.tracked, st.completed, st.lost, st.panicked, st.in_flight),
            (3, 1, 1, 1, 0)
        );
        assert!(set.drain(Duration::ZERO).await.is_complete());
    });
}

#[test]
fn many_concurrent_shields_under_a_multithreaded_executor() {
    let ex = Arc::new(async_executor::Executor::new());
    let (stop, shutdown) = smol::channel::unbounded::<()>();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let ex = ex.clone();
            let shutdown = shutdown.clone();
            std::thread::spawn(move || future::block_on(ex.run(shutdown.recv())))
        })
        .collect();
    let e = ex.clone();
    let own = ShieldSet::with_spawner(move |w| e.spawn(w).detach());
    let delivered = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..200)
        .map(|i| {
            let own = own.clone();
            let delivered = delivered.clone();
            ex.spawn(async move {
                let d = delivered.clone();
                let a = shield(async move {
                    future::yield_now().await;
                    d.fetch_add(1, SeqCst);
                    i
                });
                let d = delivered.clone();
                let b = own
                    .shield(async move {
                        future::yield_now().await;
                        d.fetch_add(1, SeqCst);
                        i
                    })
                    .unwrap();
                if i % 2 == 0 {
                    assert_eq!(a.await + b.await, 2 * i);
                } // odd callers drop their handles
            })
        })
        .collect();
    future::block_on(async {
        for c in callers {
            c.await;
        }
        assert!(own.drain(Duration::from_secs(10)).await.is_complete());
        assert!(shield::drain(Duration::from_secs(10)).await.is_complete());
    });
    assert_eq!(delivered.load(SeqCst), 400);
    let st = own.stats();
    assert_eq!((st.shielded, st.completed, st.in_flight), (200, 200, 0));
    drop(stop);
    for t in threads {
        let _ = t.join().unwrap();
    }
}

/// Long soak: many shields with mixed outcomes and callers that give up at
/// random points; every piece of work is accounted for and nothing hangs.
#[test]
#[ignore]
fn soak_many_shields_with_random_cancellation() {
    future::block_on(async {
        let set = ShieldSet::with_spawner(|w| smol::spawn(w).detach());
        set.on_panic(|_| {});
        let delivered = Arc::new(AtomicUsize::new(0));
        let n = 200_000u64;
        for i in 0..n {
            let d = delivered.clone();
            let handle = set
                .shield(async move {
                    if i % 3 == 0 {
                        future::yield_now().await;
                    }
                    if i % 1000 == 7 {
                        panic!("soak");
                    }
                    d.fetch_add(1, SeqCst);
                })
                .unwrap();
            match i % 4 {
                0 => drop(handle),
                1 => {
                    let _ = AssertUnwindSafe(handle).catch_unwind().await;
                }
                _ => {
                    // The caller drives the work during its one poll, so a
                    // panic then is re-raised here, through the timeout.
                    let _ = AssertUnwindSafe(handle.timeout(Duration::ZERO))
                        .catch_unwind()
                        .await;
                }
            }
        }
        assert!(set.drain(Duration::from_secs(60)).await.is_complete());
        let st = set.stats();
        assert_eq!(st.shielded, n);
        assert_eq!(st.completed + st.panicked, n);
        assert_eq!(st.panicked, n / 1000);
        assert_eq!(delivered.load(SeqCst) as u64, st.completed);
    });
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every piece of work ends in exactly one counter, whatever its
        /// outcome and whatever the caller does with the handle.
        #[test]
        fn every_piece_of_work_is_accounted_for(plan in proptest::collection::vec((0u8..4, any::<bool>()), 1..12)) {
            let clock = TestClock::new();
            clock.set_auto_advance(true);
            clock.block_on(async {
                let set = ShieldSet::new();
                set.on_panic(|_| {});
                let mut handles = Vec::new();
                for (kind, await_it) in &plan {
                    let h = match kind {
                        0 => set.shield_within(ms(50), async { Ok::<_, ()>(()) }.boxed()).unwrap(),
                        1 => set.shield_within(ms(50), async { panic!("p") }.boxed()).unwrap(),
                        2 => set.shield_within(ms(1), future::pending().boxed()).unwrap(),
                        _ => set.shield_within(ms(50), async { sleep(ms(1)).await; Err(()) }.boxed()).unwrap(),
                    };
                    if *await_it { handles.push(h) } else { drop(h) }
                }
                for h in handles {
                    let _ = AssertUnwindSafe(h).catch_unwind().await;
                }
                assert!(set.drain(Duration::from_secs(5)).await.is_complete());
                let st = set.stats();
                let count = |k: u8| plan.iter().filter(|(kind, _)| *kind == k).count() as u64;
                assert_eq!(st.shielded, plan.len() as u64);
                assert_eq!(st.completed, count(0) + count(3));
                assert_eq!(st.panicked, count(1));
                assert_eq!(st.expired, count(2));
                let unawaited_panics = plan.iter().filter(|(k, a)| *k == 1 && !*a).count() as u64;
                assert_eq!(st.unobserved_panics, unawaited_panics);
                assert_eq!(st.in_flight, 0);
            });
        }
    }
}

fn send_sync_debug<T: Send + Sync + std::fmt::Debug>() {}

#[test]
fn handles_are_send_sync_debug() {
    send_sync_debug::<shield::Shielded<String>>();
    send_sync_debug::<shield::TrackedFuture<std::future::Ready<u8>>>();
    send_sync_debug::<ShieldSet>();
    // The handle is `Sync` even when the work is not.
    let not_sync = async {
        let cell = std::cell::Cell::new(1);
        future::yield_now().await;
        cell.get()
    };
    fn is_sync<T: Sync>(_: &T) {}
    let handle = shield(not_sync);
    is_sync(&handle);
    assert_eq!(future::block_on(handle), 1);
}
