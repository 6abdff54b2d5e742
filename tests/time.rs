//! The `time` cure under every runtime: expiry, success, reset/extend, scopes,
//! streams, edge durations, cancellation at every await.

mod runtimes;

use std::future::{Future, pending, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use async_guard::prelude::*;
use async_guard::time::{current_deadline, inherit, remaining, timeout, timeout_at};
use async_io::Timer;
use futures_lite::{StreamExt as _, stream};

const MS: Duration = Duration::from_millis(1);

async fn sleep(d: Duration) {
    Timer::after(d).await;
}

#[test]
fn expires_and_never_early() {
    runtimes::all(|| async {
        let start = Instant::now();
        let err = timeout(20 * MS, pending::<()>()).await.unwrap_err();
        assert!(start.elapsed() >= 20 * MS);
        assert!(Instant::now() >= err.deadline());
        assert!(!err.is_enclosing());
        assert!(err.late_by() < Duration::from_secs(2));
    });
}

#[test]
fn success_before_expiry() {
    runtimes::all(|| async {
        assert_eq!(
            timeout(Duration::from_secs(5), async {
                sleep(5 * MS).await;
                7
            })
            .await,
            Ok(7)
        );
        assert_eq!(async { 8 }.timeout(Duration::from_secs(5)).await, Ok(8));
    });
}

#[test]
fn zero_duration_still_lets_a_ready_future_win() {
    runtimes::all(|| async {
        assert_eq!(timeout(Duration::ZERO, ready(1)).await, Ok(1));
        assert!(timeout(Duration::ZERO, pending::<()>()).await.is_err());
        let past = Instant::now() - Duration::from_millis(10).min(Instant::now().elapsed());
        assert_eq!(timeout_at(past, ready(2)).await, Ok(2));
    });
}

#[test]
fn duration_max_and_far_future_never_fire_and_do_not_panic() {
    runtimes::all(|| async {
        let t = timeout(Duration::MAX, async {
            sleep(5 * MS).await;
            3
        });
        assert_eq!(t.deadline(), None);
        assert_eq!(t.await, Ok(3));
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(
            timeout_at(far, async {
                sleep(2 * MS).await;
                4
            })
            .await,
            Ok(4)
        );
        // A far-future deadline that stays pending must not fire.
        let quick = timeout(20 * MS, timeout_at(far, pending::<()>())).await;
        // Only the enclosing 20 ms scope fired; the far deadline did not.
        let inner = quick.unwrap().unwrap_err();
        assert!(inner.is_enclosing());
    });
}

#[test]
fn reset_earlier_later_and_into_the_past() {
    runtimes::all(|| async {
        // Earlier: a 10 s timeout moved to 10 ms fires at about 10 ms.
        let start = Instant::now();
        let mut t = pin!(timeout(Duration::from_secs(10), pending::<()>()));
        assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
        t.as_mut().reset(Instant::now() + 10 * MS);
        assert!(t.as_mut().await.is_err());
        assert!(start.elapsed() < Duration::from_secs(5));

        // Later: a 5 ms timeout moved to 5 s lets a 30 ms operation finish.
        let mut t = pin!(timeout(5 * MS, async {
            sleep(30 * MS).await;
            9
        }));
        assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
        t.as_mut().reset(Instant::now() + Duration::from_secs(5));
        assert_eq!(t.as_mut().await, Ok(9));

        // Into the past while pending: expires on the next poll.
        let mut t = pin!(timeout(Duration::from_secs(10), pending::<()>()));
        assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
        t.as_mut()
            .reset(Instant::now() - Duration::from_millis(1).min(Instant::now().elapsed()));
        assert!(
            futures_lite::future::poll_once(t.as_mut())
                .await
                .unwrap()
                .is_err()
        );

        // Extend after expiry: the inner future is intact and can finish.
        let mut t = pin!(timeout(5 * MS, async {
            sleep(40 * MS).await;
            10
        }));
        assert!(t.as_mut().await.is_err());
        t.as_mut().extend(Duration::from_secs(5));
        assert_eq!(t.as_mut().await, Ok(10));
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
    runtimes::all(|| async {
        // Inner shorter: the inner fires, as its own deadline.
        let r = timeout(Duration::from_secs(5), timeout(10 * MS, pending::<()>())).await;
        let e = r.unwrap().unwrap_err();
        assert!(!e.is_enclosing());

        // Outer shorter: the inner operation is bounded by the outer deadline,
        // and says so.
        let outer_at = Instant::now() + 10 * MS;
        let r = timeout_at(outer_at, async {
            timeout(Duration::from_secs(5), pending::<()>()).await
        })
        .await;
        let e = r.unwrap().unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), outer_at);

        // Equal: the deadline belongs to the outermost scope (as in asyncio
        // and Trio), so the inner reports it as an enclosing one.
        let at = Instant::now() + 10 * MS;
        let r = timeout_at(at, timeout_at(at, pending::<()>())).await;
        let e = r.unwrap().unwrap_err();
        assert!(e.is_enclosing());
        assert_eq!(e.deadline(), at);
    });
}

#[test]
fn remaining_inside_and_outside_scopes() {
    runtimes::all(|| async {
        assert_eq!(remaining(), None);
        assert_eq!(current_deadline(), None);
        let outer = Instant::now() + Duration::from_secs(2);
        timeout_at(outer, async {
            assert_eq!(current_deadline(), Some(outer));
            sleep(MS).await; // still visible after a suspension
            assert_eq!(current_deadline(), Some(outer));
            let inner = Instant::now() + Duration::from_secs(1);
            timeout_at(inner, async {
                assert_eq!(current_deadline(), Some(inner));
                assert!(remaining().unwrap() <= Duration::from_secs(1));
            })
            .await
            .unwrap();
            // A longer inner deadline does not widen the scope.
            timeout(Duration::from_secs(60), async {
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
    runtimes::all(|| async {
        let before = Instant::now();
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
        assert!(seen >= before + 20 * MS);
        assert!(seen <= Instant::now());
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
    runtimes::all(|| async {
        // Items at 0, then silence 35 ms, then one item, then end.
        let s = stream::iter([1]).chain(stream::once_future(async {
            sleep(35 * MS).await;
            2
        }));
        let out: Vec<_> = s.timeout_each(10 * MS).collect().await;
        assert_eq!(out.first(), Some(&Ok(1)));
        assert_eq!(out.last(), Some(&Ok(2)));
        let errors = out.iter().filter(|r| r.is_err()).count();
        assert!((2..=3).contains(&errors), "gaps reported: {out:?}");
    });
}

#[test]
fn stream_idle_timeout_ends_after_silence() {
    runtimes::all(|| async {
        let s = stream::iter([1, 2, 3]).chain(stream::pending());
        let out: Vec<_> = s.idle_timeout(10 * MS).collect().await;
        assert_eq!(&out[..3], &[Ok(1), Ok(2), Ok(3)]);
        assert!(out[3].is_err());
        assert_eq!(out.len(), 4);
        // A stream that keeps talking within the gap never times out.
        let ticks = stream::repeat_with(|| sleep(2 * MS)).then(|t| t).take(20);
        let out: Vec<_> = ticks.idle_timeout(Duration::from_secs(2)).collect().await;
        assert!(out.iter().all(Result::is_ok));
        assert_eq!(out.len(), 20);
    });
}

#[test]
fn stream_deadline_bounds_the_whole_stream() {
    runtimes::all(|| async {
        let ticks = stream::repeat_with(|| sleep(3 * MS)).then(|t| t);
        let start = Instant::now();
        let out: Vec<_> = ticks.deadline(Instant::now() + 30 * MS).collect().await;
        assert!(start.elapsed() >= 30 * MS);
        assert!(out.last().unwrap().is_err());
        assert!(out[..out.len() - 1].iter().all(Result::is_ok));
        // An always-ready stream is stopped too.
        let out: Vec<_> = stream::repeat(1)
            .deadline(Instant::now() + 5 * MS)
            .collect()
            .await;
        assert!(out.last().unwrap().is_err());
    });
}

#[test]
fn stream_timeouts_inside_a_scope_end_when_the_scope_fires() {
    runtimes::all(|| async {
        let r = timeout(15 * MS, async {
            stream::pending::<u8>()
                .timeout_each(Duration::from_secs(5))
                .collect::<Vec<_>>()
                .await
        })
        .await;
        let items = r.unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0].as_ref().unwrap_err().is_enclosing());
    });
}

struct CountingWaker(std::sync::atomic::AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Polls `fut` `k` times (or until ready) and drops it.
fn poll_k_then_drop<F: Future>(fut: F, k: usize) -> bool {
    let waker = Waker::from(Arc::new(CountingWaker(0.into())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..k {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
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
    for k in 0..6 {
        let drops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let g = Guard(drops.clone());
        let fut = timeout(3 * MS, async move {
            let _g = g;
            sleep(MS).await;
            sleep(MS).await;
            pending::<()>().await
        });
        poll_k_then_drop(fut, k);
        assert_eq!(
            drops.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "k = {k}"
        );
    }
    // Stream adaptors as well.
    for k in 0..4 {
        let s = stream::pending::<u8>().timeout_each(MS);
        let mut s = pin!(s);
        poll_k_then_drop(
            futures_lite::future::poll_fn(|cx| s.as_mut().poll_next(cx)),
            k,
        );
    }
    // And after all that, timers still work for everyone else.
    futures_lite::future::block_on(async {
        assert!(timeout(2 * MS, pending::<()>()).await.is_err());
    });
}

#[test]
fn many_pending_timeouts_on_a_multithreaded_executor() {
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
            ex.spawn(async move {
                let d = Duration::from_millis(5 + i % 20);
                let start = Instant::now();
                let fired = timeout(d, pending::<()>()).await.is_err();
                let ok = timeout(Duration::from_secs(5), sleep(MS)).await.is_ok();
                fired && ok && start.elapsed() >= d
            })
        })
        .collect();
    let all_ok = futures_lite::future::block_on(async {
        let mut ok = true;
        for t in tasks {
            ok &= t.await;
        }
        ok
    });
    drop(stop);
    threads.into_iter().for_each(|t| {
        let _ = t.join().unwrap();
    });
    assert!(all_ok);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// An `Elapsed` never arrives before its deadline, and an operation
        /// that finishes well before its deadline always wins.
        #[test]
        fn elapsed_never_early_and_success_beats_later_deadline(
            op_ms in 0u64..15, limit_ms in 0u64..15, nest_ms in proptest::option::of(0u64..15)
        ) {
            futures_lite::future::block_on(async {
                let start = Instant::now();
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
                        prop_assert!(Instant::now() >= e.deadline());
                        prop_assert!(start.elapsed() >= MS * effective as u32);
                        prop_assert!(effective < op_ms + 50, "op {op_ms} ms lost to a {effective} ms deadline");
                    }
                    Ok(()) => prop_assert!(op_ms <= effective + 50 || op_ms == 0),
                }
                Ok(())
            })?;
        }
    }
}

/// Polls its inner future, then blocks the thread for `stall` after the
/// first poll that leaves it pending (a preemption between two checks).
struct StallAfterFirstPoll<F> {
    inner: std::pin::Pin<Box<F>>,
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
                std::thread::sleep(d);
            }
        }
        out
    }
}

#[test]
fn nested_timeouts_agree_on_a_shared_deadline_even_if_preempted_between_checks() {
    runtimes::all(|| async {
        // The thread stalls after the inner timeout checked the (shared)
        // deadline and before the outer one does: the outer does not
        // contradict its child, so the inner reports the enclosing deadline
        // (in one more poll) and the outer returns the inner's result.
        let start = Instant::now();
        let r = timeout(20 * MS, async {
            StallAfterFirstPoll {
                inner: Box::pin(timeout(Duration::from_secs(60), pending::<()>())),
                stall: Some(40 * MS),
            }
            .await
        })
        .await;
        let inner = r.expect("the outer timeout returns the inner's result");
        let e = inner.unwrap_err();
        assert!(e.is_enclosing());
        assert!(e.deadline() >= start + 20 * MS && e.deadline() <= Instant::now());
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
/// forever on a timer it believed pending.
#[test]
fn block_on_nested_in_a_timeout_sees_time_move() {
    on_watchdog(Duration::from_secs(20), "nested block_on", || {
        runtimes::all(|| async {
            let inner = timeout(Duration::from_secs(30), async {
                futures_lite::future::block_on(timeout(20 * MS, pending::<()>()))
            })
            .await
            .expect("the outer timeout has 30 s");
            assert!(inner.is_err(), "the nested 20 ms timeout fires");

            // The same through a limiter that has no permit left.
            let limiter = async_guard::Limiter::new(1);
            let _held = limiter.acquire().await.unwrap();
            let got = timeout(Duration::from_secs(30), async {
                futures_lite::future::block_on(limiter.acquire_timeout(20 * MS))
            })
            .await
            .unwrap();
            assert!(got.unwrap_err().is_elapsed());
        });
    });
}

/// Regression (item 1, CPU pool): a job that blocks on a timeout, offloaded
/// from inside a timeout.
#[test]
fn an_offloaded_job_blocking_on_a_timeout_finishes() {
    on_watchdog(Duration::from_secs(20), "offloaded block_on", || {
        runtimes::all(|| async {
            let r = timeout(
                Duration::from_secs(30),
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
/// consumed inside a timeout used to spin forever.
#[test]
fn an_always_ready_stream_stops_at_its_deadline_inside_a_timeout() {
    on_watchdog(Duration::from_secs(20), "always-ready stream", || {
        runtimes::all(|| async {
            let at = Instant::now() + 30 * MS;
            let items = timeout(Duration::from_secs(30), async {
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
    runtimes::all(|| async {
        timeout(Duration::from_secs(30), async {
            let _ = timeout(Duration::from_secs(10), ready(())).await;
            std::thread::sleep(200 * MS); // synchronous work
            let start = Instant::now();
            let e = timeout(100 * MS, pending::<()>()).await.unwrap_err();
            assert!(
                start.elapsed() >= 100 * MS,
                "fired after {:?}",
                start.elapsed()
            );
            assert!(Instant::now() >= e.deadline());
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
    runtimes::all(|| async {
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        let start = Instant::now();
        let r = timeout(50 * MS, async move {
            std::thread::sleep(100 * MS); // synchronous work in the first poll
            async_guard::budget::yield_now().await; // a checkpoint
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .await;
        let e = r.expect_err("cancelled at the checkpoint");
        assert!(!reached.load(std::sync::atomic::Ordering::SeqCst));
        assert!(e.deadline() >= start + 50 * MS);
        assert!(
            e.deadline() <= start + 100 * MS,
            "counted from the end of the poll"
        );
    });
}
