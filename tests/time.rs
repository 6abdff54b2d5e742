//! The `time` cure under every runtime: expiry, success, reset/extend, scopes,
//! streams, edge durations, cancellation at every await.
//!
//! Timing logic runs on the virtual clock (`runtimes::virtual_time`, or an
//! explicit `TestClock`), so deadlines are asserted as exact instants. The
//! tests that stay on real time say why (the CPU pool's real threads, a
//! nested `block_on` on the real timer, a multi-threaded real timer).

mod runtimes;

use std::future::{Future, pending, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use async_guard::prelude::*;
use async_guard::time::{
    TestClock, current_deadline, inherit, now, remaining, sleep, timeout, timeout_at,
};
use futures_lite::{StreamExt as _, stream};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// `at - d`, or `at` if `Instant` cannot go that far back.
fn before(at: Instant, d: Duration) -> Instant {
    at.checked_sub(d).unwrap_or(at)
}

#[test]
fn expires_exactly_on_its_deadline() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let err = timeout(20 * MS, pending::<()>()).await.unwrap_err();
        assert_eq!(now(), t0 + 20 * MS);
        assert_eq!(err.deadline(), t0 + 20 * MS);
        assert!(!err.is_enclosing());
        assert_eq!(err.late_by(), Duration::ZERO);
    });
}

#[test]
fn success_before_expiry() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        assert_eq!(
            timeout(5 * SEC, async {
                sleep(5 * MS).await;
                7
            })
            .await,
            Ok(7)
        );
        assert_eq!(now(), t0 + 5 * MS, "the operation's own time, no more");
        assert_eq!(async { 8 }.timeout(5 * SEC).await, Ok(8));
        assert_eq!(now(), t0 + 5 * MS);
    });
}

#[test]
fn zero_duration_still_lets_a_ready_future_win() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        assert_eq!(timeout(Duration::ZERO, ready(1)).await, Ok(1));
        let e = timeout(Duration::ZERO, pending::<()>()).await.unwrap_err();
        assert_eq!(e.deadline(), t0);
        assert_eq!(timeout_at(before(t0, 10 * MS), ready(2)).await, Ok(2));
        assert_eq!(now(), t0, "no time passed");
    });
}

#[test]
fn duration_max_and_far_future_never_fire_and_do_not_panic() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let t = timeout(Duration::MAX, async {
            sleep(5 * MS).await;
            3
        });
        assert_eq!(t.deadline(), None);
        assert_eq!(t.await, Ok(3));
        assert_eq!(now(), t0 + 5 * MS);
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(
            timeout_at(far, async {
                sleep(2 * MS).await;
                4
            })
            .await,
            Ok(4)
        );
        assert_eq!(now(), t0 + 7 * MS);
        // A far-future deadline that stays pending must not fire.
        let quick = timeout(20 * MS, timeout_at(far, pending::<()>())).await;
        // Only the enclosing 20 ms scope fired; the far deadline did not.
        let inner = quick.unwrap().unwrap_err();
        assert!(inner.is_enclosing());
        assert_eq!(inner.deadline(), t0 + 27 * MS);
        assert_eq!(now(), t0 + 27 * MS);
    });
}

#[test]
fn reset_earlier_later_and_into_the_past() {
    runtimes::virtual_time(|_| async {
        // Earlier: a 10 s timeout moved to 10 ms fires at exactly 10 ms.
        let t0 = now();
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
        t.as_mut().reset(t0 + 10 * MS);
        assert_eq!(t.deadline(), Some(t0 + 10 * MS));
        assert_eq!(t.as_mut().await.unwrap_err().deadline(), t0 + 10 * MS);
        assert_eq!(now(), t0 + 10 * MS);

        // Later: a 5 ms timeout moved to 5 s lets a 30 ms operation finish.
        let t1 = now();
        let mut t = pin!(timeout(5 * MS, async {
            sleep(30 * MS).await;
            9
        }));
        assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
        t.as_mut().reset(t1 + 5 * SEC);
        assert_eq!(t.as_mut().await, Ok(9));
        assert_eq!(now(), t1 + 30 * MS);

        // Into the past while pending: expires on the next poll.
        let t2 = now();
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
        t.as_mut().reset(before(t2, MS));
        let e = futures_lite::future::poll_once(t.as_mut())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.deadline(), before(t2, MS));
        assert_eq!(now(), t2);

        // Extend after expiry: the inner future is intact and can finish.
        let t3 = now();
        let mut t = pin!(timeout(5 * MS, async {
            sleep(40 * MS).await;
            10
        }));
        assert_eq!(t.as_mut().await.unwrap_err().deadline(), t3 + 5 * MS);
        assert_eq!(now(), t3 + 5 * MS);
        t.as_mut().extend(5 * SEC);
        assert_eq!(t.deadline(), Some(t3 + 5 * MS + 5 * SEC));
        assert_eq!(t.as_mut().await, Ok(10));
        assert_eq!(now(), t3 + 40 * MS);
    });
}

#[test]
fn extend_saturates_and_clear_removes() {
    let at = Instant::now();
    let mut t = pin!(timeout_at(at, pending::<()>()));
    t.as_mut().extend(Duration::MAX);
    assert_eq!(t.deadline(), None);
    t.as_mut().reset(at);
    t.as_mut().clear();
    assert_eq!(t.deadline(), None);
}

#[test]
fn nested_scopes_earliest_wins() {
    runtimes::virtual_time(|_| async {
        // Inner shorter: the inner fires, as its own deadline.
        let t0 = now();
        let r = timeout(5 * SEC, timeout(10 * MS, pending::<()>())).await;
        let e = r.unwrap().unwrap_err();
        assert!(!e.is_enclosing());
        assert_eq!(e.deadline(), t0 + 10 * MS);
        assert_eq!(now(), t0 + 10 * MS);

        // Outer shorter: the inner operation is bounded by the outer deadline,
        // and says so.
        let outer_at = now() + 10 * MS;
        let r = timeout_at(outer_at, async { timeout(5 * SEC, pending::<()>()).await }).await;
        let e = r.unwrap().unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), outer_at);
        assert_eq!(now(), outer_at);

        // Equal: the deadline belongs to the outermost scope (as in asyncio
        // and Trio), so the inner reports it as an enclosing one.
        let at = now() + 10 * MS;
        let r = timeout_at(at, timeout_at(at, pending::<()>())).await;
        let e = r.unwrap().unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), at);
        assert_eq!(now(), at);
    });
}

#[test]
fn remaining_inside_and_outside_scopes() {
    runtimes::virtual_time(|_| async {
        assert_eq!(remaining(), None);
        assert_eq!(current_deadline(), None);
        let outer = now() + 2 * SEC;
        timeout_at(outer, async {
            assert_eq!(current_deadline(), Some(outer));
            assert_eq!(remaining(), Some(2 * SEC));
            sleep(MS).await; // still visible after a suspension
            assert_eq!(current_deadline(), Some(outer));
            assert_eq!(remaining(), Some(2 * SEC - MS));
            let inner = now() + SEC;
            timeout_at(inner, async {
                assert_eq!(current_deadline(), Some(inner));
                assert_eq!(remaining(), Some(SEC));
            })
            .await
            .unwrap();
            // A longer inner deadline does not widen the scope.
            timeout(60 * SEC, async {
                assert_eq!(current_deadline(), Some(outer));
            })
            .await
            .unwrap();
            assert_eq!(current_deadline(), Some(outer));
        })
        .await
        .unwrap();
        assert_eq!(remaining(), None);
    });
}

#[test]
fn a_relative_timeout_is_the_same_deadline_for_parent_and_children() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let (seen_tx, seen_rx) = async_channel::bounded(1);
        let err = timeout(20 * MS, async move {
            seen_tx.send(current_deadline()).await.unwrap();
            pending::<()>().await
        })
        .await
        .unwrap_err();
        let seen = seen_rx.recv().await.unwrap().unwrap();
        assert_eq!(
            err.deadline(),
            seen,
            "the child saw the deadline that fired"
        );
        assert_eq!(seen, t0 + 20 * MS);
        assert_eq!(now(), t0 + 20 * MS);
    });
}

#[test]
fn spawned_tasks_do_not_inherit_unless_asked() {
    runtimes::each(|rt| async move {
        let (tx, rx) = async_channel::bounded(2);
        timeout(Duration::from_secs(1), async move {
            let tx2 = tx.clone();
            runtimes::spawn(rt, async move {
                tx.send(current_deadline()).await.unwrap();
            });
            runtimes::spawn(
                rt,
                inherit(async move {
                    tx2.send(current_deadline()).await.unwrap();
                })
                .map_unit(),
            );
        })
        .await
        .unwrap();
        let mut seen = [rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        seen.sort();
        assert_eq!(seen[0], None);
        assert!(seen[1].is_some());
    });
}

trait MapUnit: Future + Sized {
    fn map_unit(self) -> impl Future<Output = ()> {
        async move {
            let _ = self.await;
        }
    }
}
impl<F: Future> MapUnit for F {}

#[test]
fn stream_timeout_each_reports_every_gap_and_continues() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        // Items at 0, then silence 35 ms, then one item, then end: the gaps
        // of 10 ms end at 10, 20 and 30 ms.
        let s = stream::iter([1]).chain(stream::once_future(async {
            sleep(35 * MS).await;
            2
        }));
        let out: Vec<_> = s
            .timeout_each(10 * MS)
            .map(|r| r.map_err(|e| e.deadline() - t0))
            .collect()
            .await;
        assert_eq!(
            out,
            [Ok(1), Err(10 * MS), Err(20 * MS), Err(30 * MS), Ok(2)],
            "gaps reported"
        );
        assert_eq!(now(), t0 + 35 * MS);
    });
}

#[test]
fn stream_idle_timeout_ends_after_silence() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let s = stream::iter([1, 2, 3]).chain(stream::pending());
        let out: Vec<_> = s.idle_timeout(10 * MS).collect().await;
        assert_eq!(&out[..3], &[Ok(1), Ok(2), Ok(3)]);
        assert_eq!(out[3].as_ref().unwrap_err().deadline(), t0 + 10 * MS);
        assert_eq!(out.len(), 4);
        assert_eq!(now(), t0 + 10 * MS);
        // A stream that keeps talking within the gap never times out.
        let t1 = now();
        let ticks = stream::repeat_with(|| sleep(2 * MS)).then(|t| t).take(20);
        let out: Vec<_> = ticks.idle_timeout(3 * MS).collect().await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        assert_eq!(out.len(), 20);
        assert_eq!(now(), t1 + 40 * MS);
    });
}

#[test]
fn stream_deadline_bounds_the_whole_stream() {
    runtimes::virtual_time(|clock| async move {
        let t0 = now();
        // A tick every 3 ms against a deadline at 30 ms: ticks at 3..=27 ms
        // pass (9), the one due at 30 ms meets the deadline and loses.
        let ticks = stream::repeat_with(|| sleep(3 * MS)).then(|t| t);
        let out: Vec<_> = ticks.deadline(t0 + 30 * MS).collect().await;
        assert_eq!(now(), t0 + 30 * MS);
        assert_eq!(out.len(), 10, "{out:?}");
        assert_eq!(
            out.last().unwrap().as_ref().unwrap_err().deadline(),
            t0 + 30 * MS
        );
        assert!(out[..out.len() - 1].iter().all(Result::is_ok));
        // An always-ready stream is stopped too: each item takes 1 ms of
        // (virtual) work, so 5 items fit before a deadline 5 ms away.
        let t1 = now();
        let work = stream::repeat_with(move || clock.advance(MS));
        let out: Vec<_> = work.deadline(t1 + 5 * MS).collect().await;
        assert_eq!(out.len(), 6, "{out:?}");
        assert!(out[..5].iter().all(Result::is_ok));
        assert!(out[5].is_err());
        assert_eq!(now(), t1 + 5 * MS);
    });
}

#[test]
fn stream_timeouts_inside_a_scope_end_when_the_scope_fires() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let r = timeout(15 * MS, async {
            stream::pending::<u8>()
                .timeout_each(5 * SEC)
                .collect::<Vec<_>>()
                .await
        })
        .await;
        let items = r.unwrap();
        assert_eq!(items.len(), 1);
        let e = items[0].as_ref().unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), t0 + 15 * MS);
        assert_eq!(now(), t0 + 15 * MS);
    });
}

struct CountingWaker(std::sync::atomic::AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Polls `fut` on `clock` `k` times (or until ready), moving the clock on by
/// 1 ms between polls, and drops it.
fn poll_k_then_drop<F: Future>(clock: &TestClock, fut: F, k: usize) -> bool {
    let waker = Waker::from(Arc::new(CountingWaker(0.into())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(clock.enter(fut));
    for _ in 0..k {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
        clock.advance(MS);
    }
    false
}

#[test]
fn dropping_at_every_await_leaves_nothing_behind() {
    // The inner future owns a guard; it must be dropped with the timeout.
    struct Guard(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let clock = TestClock::new();
    for k in 0..6 {
        let drops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let g = Guard(drops.clone());
        let fut = timeout(3 * MS, async move {
            let _g = g;
            sleep(MS).await;
            sleep(MS).await;
            pending::<()>().await
        });
        // k = 4: expired at 3 ms, on the fourth poll.
        assert_eq!(poll_k_then_drop(&clock, fut, k), k >= 4, "k = {k}");
        assert_eq!(
            drops.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "k = {k}"
        );
        assert_eq!(clock.next_deadline(), None, "a timer left behind, k = {k}");
    }
    // Stream adaptors as well.
    for k in 0..4 {
        let s = stream::pending::<u8>().timeout_each(MS);
        let mut s = pin!(s);
        poll_k_then_drop(
            &clock,
            futures_lite::future::poll_fn(|cx| s.as_mut().poll_next(cx)),
            k,
        );
    }
    assert_eq!(clock.next_deadline(), None, "a stream timer left behind");
    // And after all that, timers still work for everyone else.
    clock.set_auto_advance(true);
    let t0 = clock.now();
    let e = clock
        .block_on(timeout(2 * MS, pending::<()>()))
        .unwrap_err();
    assert_eq!(e.deadline(), t0 + 2 * MS);
}

#[test]
fn many_pending_timeouts_on_a_multithreaded_executor() {
    // One auto-advancing clock drives 2000 tasks on two executor threads:
    // every timeout fires exactly on its deadline.
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    let ex = Arc::new(async_executor::Executor::new());
    let (stop, shutdown) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let shutdown = shutdown.clone();
            std::thread::spawn(move || futures_lite::future::block_on(ex.run(shutdown.recv())))
        })
        .collect();
    let tasks: Vec<_> = (0..2000u64)
        .map(|i| {
            ex.spawn(clock.enter(async move {
                let d = Duration::from_millis(5 + i % 20);
                let start = now();
                let e = timeout(d, pending::<()>()).await.unwrap_err();
                let fired = e.deadline() == start + d && now() == start + d;
                let ok = timeout(5 * SEC, sleep(MS)).await.is_ok();
                fired && ok && now() == start + d + MS
            }))
        })
        .collect();
    let all_ok = futures_lite::future::block_on(async {
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await);
        }
        ok
    });
    drop(stop);
    threads.into_iter().for_each(|t| {
        let _ = t.join().unwrap();
    });
    assert_eq!(all_ok, 2000, "tasks that saw their exact instants");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// An `Elapsed` arrives exactly on its deadline, and an operation
        /// that finishes by its deadline always wins.
        #[test]
        fn elapsed_exactly_on_time_and_success_beats_a_later_deadline(
            op_ms in 0u64..15, limit_ms in 0u64..15, nest_ms in proptest::option::of(0u64..15)
        ) {
            let clock = TestClock::new();
            clock.set_auto_advance(true);
            clock.block_on(async {
                let start = now();
                let op = async { if op_ms > 0 { sleep(MS * op_ms as u32).await } };
                let inner = timeout(MS * limit_ms as u32, op);
                let result = match nest_ms {
                    None => inner.await,
                    Some(n) => match timeout(MS * n as u32, inner).await {
                        Ok(r) => r,
                        Err(e) => Err(e),
                    },
                };
                let effective = nest_ms.map_or(limit_ms, |n| n.min(limit_ms));
                match result {
                    Err(e) => {
                        prop_assert_eq!(e.deadline(), start + MS * effective as u32);
                        prop_assert_eq!(now(), e.deadline());
                        prop_assert!(op_ms > effective, "op {} ms lost to a {} ms deadline", op_ms, effective);
                    }
                    Ok(()) => {
                        prop_assert!(op_ms <= effective || op_ms == 0);
                        prop_assert_eq!(now(), start + MS * op_ms as u32);
                    }
                }
                Ok(())
            })?;
        }
    }
}

/// Polls its inner future, then, after the first poll that leaves it
/// pending, moves the clock on by `stall` (a preemption between two checks).
struct StallAfterFirstPoll<F> {
    inner: std::pin::Pin<Box<F>>,
    clock: TestClock,
    stall: Option<Duration>,
}

impl<F: Future> Future for StallAfterFirstPoll<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let out = self.inner.as_mut().poll(cx);
        if out.is_pending() {
            if let Some(d) = self.stall.take() {
                self.clock.advance(d);
            }
        }
        out
    }
}

#[test]
fn nested_timeouts_agree_on_a_shared_deadline_even_if_time_moves_between_checks() {
    runtimes::virtual_time(|clock| async move {
        // Time moves after the inner timeout checked the (shared)
        // deadline and before the outer one does: the outer does not
        // contradict its child, so the inner reports the enclosing deadline
        // (in one more poll) and the outer returns the inner's result.
        let start = now();
        let r = timeout(20 * MS, async {
            StallAfterFirstPoll {
                inner: Box::pin(timeout(60 * SEC, pending::<()>())),
                clock,
                stall: Some(40 * MS),
            }
            .await
        })
        .await;
        let inner = r.expect("the outer timeout returns the inner's result");
        let e = inner.unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), start + 20 * MS);
        assert_eq!(e.late_by(), 20 * MS);
        assert_eq!(now(), start + 40 * MS);
    });
}

/// Runs `body` on a thread of its own and fails (instead of hanging the
/// suite) if it does not finish within `limit`.
fn on_watchdog<T: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: still running after {limit:?} (a hang)"))
}

/// Regression (runtime core, item 1): a `block_on` nested inside the body
/// of a timeout used to reuse the clock reading of the outer poll and park
/// forever on a timer it believed pending. Real time: the subject is the
/// real timer seen from a nested `block_on` (a virtual clock cannot jump
/// while the outer poll blocks).
#[test]
fn block_on_nested_in_a_timeout_sees_time_move() {
    on_watchdog(Duration::from_secs(20), "nested block_on", || {
        runtimes::all(|| async {
            let inner = timeout(30 * SEC, async {
                futures_lite::future::block_on(timeout(20 * MS, pending::<()>()))
            })
            .await
            .expect("the outer timeout has 30 s");
            assert!(inner.is_err(), "the nested 20 ms timeout fires");

            // The same through a limiter that has no permit left.
            let limiter = async_guard::Limiter::new(1);
            let _held = limiter.acquire().await.unwrap();
            let got = timeout(30 * SEC, async {
                futures_lite::future::block_on(limiter.acquire_timeout(20 * MS))
            })
            .await
            .unwrap();
            assert!(got.unwrap_err().is_elapsed());
        });
    });
}

/// Regression (item 1, CPU pool): a job that blocks on a timeout, offloaded
/// from inside a timeout. Real time: the CPU pool's threads are real.
#[test]
fn an_offloaded_job_blocking_on_a_timeout_finishes() {
    on_watchdog(Duration::from_secs(20), "offloaded block_on", || {
        runtimes::all(|| async {
            let r = timeout(
                30 * SEC,
                async_guard::offload(|| {
                    futures_lite::future::block_on(timeout(20 * MS, pending::<()>())).is_err()
                }),
            )
            .await;
            assert_eq!(r, Ok(true));
        });
    });
}

/// Regression (item 2): a whole-stream deadline on an always-ready stream
/// consumed inside a timeout used to spin forever. Real time: the subject
/// is the real clock read by a stream that never suspends (in virtual time
/// no time would pass; `stream_deadline_bounds_the_whole_stream` covers
/// the virtual case).
#[test]
fn an_always_ready_stream_stops_at_its_deadline_inside_a_timeout() {
    on_watchdog(Duration::from_secs(20), "always-ready stream", || {
        runtimes::all(|| async {
            let at = Instant::now() + 30 * MS;
            let items = timeout(30 * SEC, async {
                stream::repeat(1u8).deadline(at).count().await
            })
            .await
            .unwrap();
            assert!(items > 0);
            assert!(Instant::now() >= at);
        });
    });
}

/// Regression (item 3): inside an outer timeout, after a deadline check
/// and 200 ms of synchronous work, a fresh 100 ms timeout fired at once.
#[test]
fn a_fresh_timeout_after_synchronous_work_is_not_early() {
    runtimes::virtual_time(|clock| async move {
        timeout(30 * SEC, async {
            let _ = timeout(10 * SEC, ready(())).await;
            clock.advance(200 * MS); // synchronous work
            let start = now();
            let e = timeout(100 * MS, pending::<()>()).await.unwrap_err();
            assert_eq!(now(), start + 100 * MS, "fired after {:?}", now() - start);
            assert_eq!(e.deadline(), start + 100 * MS);
        })
        .await
        .unwrap();
    });
}

/// Regression (item 4): a relative timeout counts from the start of its
/// first poll, so synchronous work in that poll uses up its time: the
/// operation is cancelled at its first suspension point after it.
#[test]
fn a_timeout_counts_from_its_first_poll() {
    runtimes::virtual_time(|clock| async move {
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        let start = now();
        let r = timeout(50 * MS, async move {
            clock.advance(100 * MS); // synchronous work in the first poll
            async_guard::budget::yield_now().await; // a checkpoint
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .await;
        let e = r.expect_err("cancelled at the checkpoint");
        assert!(!reached.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            e.deadline(),
            start + 50 * MS,
            "counted from the start of the poll"
        );
        assert_eq!(now(), start + 100 * MS);
    });
}
