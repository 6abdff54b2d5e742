//! Cancellation torture for every public future of every cure: each is
//! dropped after 0, 1, 2, ... polls until it completes, and the cure's
//! invariants are checked after every drop (see `support/torture.rs`; that
//! harness also fails on a leaked waker, a lost wake-up or a hang).
//!
//! The timing futures (`time`, `limit`, `shield`, the lag probe's
//! heartbeat) are tortured on an auto-advancing virtual clock
//! (`TestClock`), which jumps as soon as every future on it waits, and
//! their instants are checked exactly. Helper threads that hold permits or
//! queue behind run futures entered on the same clock (created before the
//! thread starts, so the clock counts them at once), and shielded work that
//! moves keeps the clock (the background thread keeps it; a user spawner
//! enters it). The others wait in real time beside real threads (the CPU
//! pool, a reaper built outside a clock, a stall detector measuring real
//! blocking), which auto-advance cannot see; see `sleep` below.

mod support;

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use async_guard::prelude::*;
use async_io::Timer;
use futures_lite::{FutureExt as _, StreamExt as _, future, stream};
use support::{DropFlag, Outcome, Torture, counter, eventually};

const MS: Duration = Duration::from_millis(1);
/// Bound for "eventually" checks: generous, a bug fails instead of hanging.
const BOUND: Duration = Duration::from_secs(5);

/// A real wait, for the reaper and stall-detector rounds (the `limit` and
/// `shield` modules use the virtual clock's `sleep`).
async fn sleep(d: Duration) {
    // Real: a reaper built outside a clock, a stall detector measuring real blocking.
    Timer::after(d).await;
}

/// A fresh auto-advancing virtual clock.
fn virtual_clock() -> async_guard::time::TestClock {
    let clock = async_guard::time::TestClock::new();
    clock.set_auto_advance(true);
    clock
}

// --------------------------------------------------------------- limit ----

mod limit {
    use super::*;
    use async_guard::limit::{Limiter, gather, try_gather};
    use async_guard::time::{TestClock, now, sleep};
    use std::thread::JoinHandle;
    use std::time::Instant;

    /// A limiter of 2 whose permits are all held for `hold` by a helper
    /// thread, so the future under test must queue; and a second waiter
    /// (weight 1) that queues 1 ms later, behind it, and must get through
    /// whatever happens to the first (a grant to a dropped waiter is
    /// handed on). Both helpers run on the round's virtual clock and are
    /// joined by [`settle`]; `t0` is the clock's start.
    struct Contended {
        limiter: Limiter,
        clock: TestClock,
        t0: Instant,
        holder: Option<JoinHandle<()>>,
        behind: Option<JoinHandle<bool>>,
    }

    /// Runs `fut`, entered on `clock` now (so the clock counts it before
    /// the thread starts), on a thread of its own.
    fn on_thread<T: Send + 'static>(
        clock: &TestClock,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        let fut = clock.enter(fut);
        std::thread::spawn(move || future::block_on(fut))
    }

    /// A paused clock without auto-advance while the round is set up (the
    /// helpers must not run ahead before the future under test exists);
    /// [`timed`] turns it on.
    fn setup_clock() -> TestClock {
        TestClock::new()
    }

    fn contended(hold: Duration) -> Contended {
        let clock = setup_clock();
        let limiter = Limiter::new(2);
        let held = limiter.try_acquire_many(2).unwrap();
        let holder = on_thread(&clock, async move {
            sleep(hold).await;
            drop(held);
        });
        Contended {
            behind: Some(behind(&clock, &limiter)),
            t0: clock.now(),
            clock,
            limiter,
            holder: Some(holder),
        }
    }

    /// The second waiter: queues 1 ms in; a lost permit makes its bound
    /// (virtual, so at once) run out.
    fn behind(clock: &TestClock, limiter: &Limiter) -> JoinHandle<bool> {
        let l = limiter.clone();
        on_thread(clock, async move {
            sleep(MS).await;
            l.acquire_timeout(BOUND).await.is_ok()
        })
    }

    /// `fut` on the round's clock; its output (a permit is let go at once,
    /// inside the clock's accounting, so the waiter behind gets it there)
    /// with the virtual instant it completed at. Turns auto-advance on,
    /// now that every future of the round is on the clock.
    fn timed<T, F: Future<Output = T>>(
        c: &Contended,
        fut: F,
    ) -> impl Future<Output = (T, Instant)> + use<T, F> {
        let fut = c.clock.enter(async move { (fut.await, now()) });
        c.clock.set_auto_advance(true);
        fut
    }

    /// After a round (the output, with any permit, already dropped): the
    /// waiter behind got through, nothing is held or queued, and all the
    /// permits can be taken at once.
    fn settle(c: &mut Contended) {
        c.holder.take().unwrap().join().unwrap();
        let behind = c.behind.take().unwrap().join().unwrap();
        assert!(behind, "the waiter behind never got a permit: one was lost");
        let s = c.limiter.stats();
        assert_eq!((s.in_use, s.waiting), (0, 0), "{s:?}");
        let all = c.limiter.try_acquire_many(2).expect("permits leaked");
        drop(all);
    }

    #[test]
    fn acquire() {
        let report = Torture::new("limit::Acquire").run(
            || {
                let c = contended(3 * MS);
                let fut = c.limiter.acquire_many(2);
                let fut = timed(&c, async move { fut.await.map(|p| p.weight()) });
                (c, fut)
            },
            |c, outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out.unwrap(), 2);
                    assert_eq!(at, c.t0 + 3 * MS, "granted when the holder let go");
                }
                settle(c);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    /// The same on a closed gate: `Limiter::new(0)`, opened by the helper
    /// with `add_permits(2)` after 3 ms while a second waiter queues
    /// behind. A waiter dropped at any point (queued, or granted but not
    /// collected) leaves the gate's books whole.
    #[test]
    fn acquire_on_a_gate() {
        let report = Torture::new("limit::Acquire (gate)").run(
            || {
                let clock = setup_clock();
                let limiter = Limiter::new(0);
                let l = limiter.clone();
                let holder = on_thread(&clock, async move {
                    sleep(3 * MS).await;
                    l.add_permits(2);
                });
                let c = Contended {
                    behind: Some(behind(&clock, &limiter)),
                    t0: clock.now(),
                    clock,
                    limiter,
                    holder: Some(holder),
                };
                let fut = c.limiter.acquire_many(2);
                let fut = timed(&c, async move { fut.await.map(|p| p.weight()) });
                (c, fut)
            },
            |c, outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out.unwrap(), 2);
                    assert_eq!(at, c.t0 + 3 * MS, "granted when the gate opened");
                }
                settle(c);
                assert_eq!(c.limiter.stats().limit, 2);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    #[test]
    fn acquire_timeout_that_expires() {
        let expired = counter();
        let report = Torture::new("limit::acquire_timeout (expires)").run(
            || {
                let c = contended(15 * MS);
                let fut = c.limiter.acquire_many_timeout(2, 3 * MS);
                let fut = timed(&c, async move { fut.await.map(|p| p.weight()) });
                (c, fut)
            },
            |c, outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    // In virtual time, exactly: the 3 ms run out long
                    // before the holder's 15 ms.
                    assert!(out.unwrap_err().is_elapsed());
                    assert_eq!(at, c.t0 + 3 * MS);
                    assert_eq!(c.limiter.stats().timed_out, 1);
                    expired.fetch_add(1, SeqCst);
                }
                settle(c);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
        assert!(expired.load(SeqCst) >= 1, "never timed out");
    }

    #[test]
    fn acquire_timeout_that_succeeds() {
        Torture::new("limit::acquire_timeout (ok)").run(
            || {
                let c = contended(3 * MS);
                let fut = c.limiter.acquire_timeout(BOUND);
                let fut = timed(&c, async move { fut.await.map(|p| p.weight()) });
                (c, fut)
            },
            |c, outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out.unwrap(), 1);
                    assert_eq!(at, c.t0 + 3 * MS);
                }
                settle(c);
                assert_eq!(c.limiter.stats().timed_out, 0);
            },
        );
    }

    #[test]
    fn run() {
        let report = Torture::new("limit::run").run(
            || {
                let c = contended(3 * MS);
                let (flag, dropped) = DropFlag::new();
                let l = c.limiter.clone();
                let fut = c.limiter.run(async move {
                    let _flag = flag;
                    assert!(l.stats().in_use >= 1, "run holds no permit");
                    sleep(MS).await;
                    3
                });
                let fut = timed(&c, fut);
                ((c, dropped), fut)
            },
            |(c, dropped), outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out.unwrap(), 3);
                    // Admitted at 3 ms, then 1 ms of work.
                    assert_eq!(at, c.t0 + 4 * MS);
                }
                assert!(dropped.load(SeqCst));
                settle(c);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    /// Futures for gather: each flags its drop, counts how many run at
    /// once, and fails on `fail_at`.
    fn jobs(
        n: usize,
        fail_at: Option<usize>,
        live: Arc<AtomicUsize>,
        made: Arc<AtomicUsize>,
        dropped: Arc<AtomicUsize>,
    ) -> impl Iterator<Item = impl Future<Output = Result<usize, usize>>> {
        struct Count(Arc<AtomicUsize>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        (0..n).map(move |i| {
            made.fetch_add(1, SeqCst);
            let (live, dropped) = (live.clone(), Count(dropped.clone()));
            async move {
                let _dropped = dropped;
                assert!(live.fetch_add(1, SeqCst) < 2, "more than 2 at once");
                sleep(MS).await;
                live.fetch_sub(1, SeqCst);
                if Some(i) == fail_at { Err(i) } else { Ok(i) }
            }
        })
    }
    use std::future::Future;

    #[test]
    fn gather_future() {
        let report = Torture::new("limit::Gather").run(
            || {
                let (live, made, dropped) = (counter(), counter(), counter());
                let clock = virtual_clock();
                let t0 = clock.now();
                let fut = gather(
                    2,
                    jobs(5, None, live.clone(), made.clone(), dropped.clone()),
                );
                (
                    (made, dropped, t0),
                    clock.enter(async move { (fut.await, now()) }),
                )
            },
            |(made, dropped, t0), outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out, (0..5).map(Ok).collect::<Vec<_>>());
                    // Three waves of 1 ms (2 + 2 + 1).
                    assert_eq!(at, *t0 + 3 * MS);
                }
                assert_eq!(made.load(SeqCst), dropped.load(SeqCst), "a job was leaked");
            },
        );
        assert!(report.polls_to_complete >= 3, "{report:?}");
    }

    #[test]
    fn try_gather_future() {
        let report = Torture::new("limit::TryGather").run(
            || {
                let (live, made, dropped) = (counter(), counter(), counter());
                let clock = virtual_clock();
                let t0 = clock.now();
                let js = jobs(6, Some(3), live.clone(), made.clone(), dropped.clone());
                let fut = try_gather(2, js);
                (
                    (made, dropped, t0),
                    clock.enter(async move { (fut.await, now()) }),
                )
            },
            |(made, dropped, t0), outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out, Err(3));
                    // Job 3 runs in the second wave and fails at its end.
                    assert_eq!(at, *t0 + 2 * MS);
                    assert!(made.load(SeqCst) < 6, "took jobs after the error");
                }
                assert_eq!(made.load(SeqCst), dropped.load(SeqCst), "a job was leaked");
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    #[test]
    fn map_limited_via_next() {
        let report = Torture::new("limit::MapLimited").run(
            || {
                let (live, made, dropped) = (counter(), counter(), counter());
                let clock = virtual_clock();
                let t0 = clock.now();
                let mut js = jobs(5, None, live.clone(), made.clone(), dropped.clone());
                let mut s = stream::iter(0..5).map_limited(2, move |_| js.next().unwrap());
                let fut = async move {
                    let mut out = Vec::new();
                    while let Some(x) = s.next().await {
                        out.push(x.unwrap());
                    }
                    (out, now())
                };
                ((made, dropped, t0), clock.enter(fut))
            },
            |(made, dropped, t0), outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out, [0, 1, 2, 3, 4]);
                    assert_eq!(at, *t0 + 3 * MS);
                }
                assert_eq!(made.load(SeqCst), dropped.load(SeqCst), "a job was leaked");
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }
}

// ---------------------------------------------------------------- time ----

mod time {
    use super::*;
    use async_guard::time::{TestClock, current_deadline, sleep, timeout, timeout_at};

    /// After any round: no deadline scope left behind on this thread, the
    /// inner future was dropped, no timer is left on the round's clock,
    /// and a fresh timeout still fires, exactly on time.
    fn after_round(inner_dropped: &AtomicBool, clock: &TestClock) {
        assert_eq!(current_deadline(), None, "a deadline scope leaked");
        assert!(inner_dropped.load(SeqCst), "inner future not dropped");
        assert_eq!(clock.next_deadline(), None, "a timer was left behind");
        let start = clock.now();
        let e = clock.block_on(timeout(MS, pending::<()>())).unwrap_err();
        assert_eq!(e.deadline(), start + MS);
        assert_eq!(clock.now(), start + MS, "timer stopped working");
    }

    /// `time::Sleep` (the crate's own sleep): dropped at any poll it leaves
    /// no timer behind; polled to the end it ends exactly on its deadline.
    #[test]
    fn sleep_on_the_crates_timer() {
        let report = Torture::new("time::Sleep").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                let t0 = clock.now();
                let fut = clock.enter(async move {
                    let _flag = flag;
                    sleep(2 * MS).await;
                    sleep(3 * MS).await;
                });
                ((dropped, clock, t0), fut)
            },
            |(dropped, clock, t0), outcome| {
                if let Outcome::Completed(_, ()) = outcome {
                    assert_eq!(clock.now(), *t0 + 5 * MS);
                }
                after_round(dropped, clock);
            },
        );
        assert!(report.polls_to_complete >= 3, "{report:?}");
    }

    #[test]
    fn timeout_that_succeeds() {
        let report = Torture::new("time::Timeout (ok)").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                let t0 = clock.now();
                let fut = clock.enter(timeout(Duration::from_secs(10), async move {
                    let _flag = flag;
                    sleep(2 * MS).await;
                    // A nested timeout sees the enclosing deadline.
                    timeout(Duration::from_secs(60), sleep(2 * MS))
                        .await
                        .unwrap();
                    current_deadline()
                }));
                ((dropped, clock, t0), fut)
            },
            |(dropped, clock, t0), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    let seen = out.unwrap();
                    assert_eq!(
                        seen,
                        Some(*t0 + Duration::from_secs(10)),
                        "the scope inside"
                    );
                    assert_eq!(clock.now(), *t0 + 4 * MS);
                }
                after_round(dropped, clock);
            },
        );
        assert!(report.polls_to_complete >= 3, "{report:?}");
    }

    #[test]
    fn timeout_that_expires() {
        let report = Torture::new("time::Timeout (expires)").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                let t0 = clock.now();
                let fut = clock.enter(timeout(4 * MS, async move {
                    let _flag = flag;
                    pending::<()>().await
                }));
                ((dropped, clock, t0), fut)
            },
            |(dropped, clock, t0), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    let e = out.unwrap_err();
                    assert!(!e.is_enclosing());
                    assert_eq!(e.deadline(), *t0 + 4 * MS);
                    assert_eq!(clock.now(), e.deadline());
                }
                after_round(dropped, clock);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    #[test]
    fn nested_timeouts_where_the_enclosing_fires() {
        let report = Torture::new("time::Timeout (nested)").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                let at = clock.now() + 5 * MS;
                let fut = clock.enter(timeout_at(at, async move {
                    let _flag = flag;
                    timeout(Duration::from_secs(60), pending::<()>()).await
                }));
                ((dropped, clock, at), fut)
            },
            |(dropped, clock, at), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    // Either the inner reports the enclosing deadline, or
                    // the outer fired itself; both say "enclosing/own" right.
                    let e = match out {
                        Ok(inner) => inner.unwrap_err(),
                        Err(outer) => {
                            assert!(!outer.is_enclosing());
                            outer
                        }
                    };
                    assert_eq!(e.deadline(), *at);
                    assert_eq!(clock.now(), *at);
                }
                after_round(dropped, clock);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    /// A source of `n` items, `gap` apart, that flags its drop.
    fn source(n: usize, gap: Duration, flag: DropFlag) -> stream::Boxed<usize> {
        stream::unfold((0, flag), move |(i, flag)| async move {
            if i == n {
                return None;
            }
            sleep(gap).await;
            Some((i, (i + 1, flag)))
        })
        .boxed()
    }

    #[test]
    fn timeout_each_via_next() {
        Torture::new("time::TimeoutEach").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                // Gaps of 2 ms against 1 ms: one `Err` per gap, and it keeps
                // going.
                let mut s = source(4, 2 * MS, flag).timeout_each(MS);
                let fut = async move {
                    let (mut ok, mut err) = (0, 0);
                    while let Some(item) = s.next().await {
                        match item {
                            Ok(_) => ok += 1,
                            Err(_) => err += 1,
                        }
                    }
                    (ok, err)
                };
                ((dropped, clock.clone()), clock.enter(fut))
            },
            |(dropped, clock), outcome| {
                if let Outcome::Completed(_, (ok, err)) = outcome {
                    assert_eq!(ok, 4, "an item was lost to a timeout");
                    assert_eq!(err, 4, "one timeout per 2 ms gap");
                }
                after_round(dropped, clock);
            },
        );
    }

    #[test]
    fn idle_timeout_via_next() {
        Torture::new("time::IdleTimeout").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                let s = source(2, MS, flag).chain(stream::pending()).boxed();
                let mut s = s.idle_timeout(30 * MS);
                let fut = async move {
                    let mut items = Vec::new();
                    while let Some(item) = s.next().await {
                        items.push(item.is_ok());
                    }
                    items
                };
                ((dropped, clock.clone(), clock.now()), clock.enter(fut))
            },
            |(dropped, clock, t0), outcome| {
                if let Outcome::Completed(_, items) = outcome {
                    assert_eq!(items, [true, true, false]);
                    // Items at 1 and 2 ms, then 30 ms of silence.
                    assert_eq!(clock.now(), *t0 + 32 * MS);
                }
                after_round(dropped, clock);
            },
        );
    }

    #[test]
    fn with_deadline_via_next() {
        Torture::new("time::WithDeadline").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let clock = virtual_clock();
                let at = clock.now() + 6 * MS;
                let mut s = source(usize::MAX, MS, flag).deadline(at);
                let fut = async move {
                    let mut n = 0;
                    let mut last = None;
                    while let Some(item) = s.next().await {
                        n += 1;
                        last = Some(item.is_ok());
                    }
                    (n, last)
                };
                ((dropped, clock.clone(), at), clock.enter(fut))
            },
            |(dropped, clock, at), outcome| {
                if let Outcome::Completed(_, (n, last)) = outcome {
                    // Items at 1..=5 ms; the one due at 6 ms meets the deadline.
                    assert_eq!(n, 6);
                    assert_eq!(last, Some(false), "must end with the Elapsed");
                    assert_eq!(clock.now(), *at);
                }
                after_round(dropped, clock);
            },
        );
    }
}

// -------------------------------------------------------------- budget ----

mod budget {
    use super::*;
    use async_guard::budget::{self, Budget, LagProbe, yield_now};

    #[test]
    fn yield_now_future() {
        let report = Torture::new("budget::YieldNow").run(|| ((), yield_now()), |_, _| {});
        assert_eq!(report.polls_to_complete, 2);
    }

    #[test]
    fn tick() {
        let report = Torture::new("budget::Tick").run(
            || {
                let mut b = Budget::new(2);
                drop(b.tick()); // ready
                let t = b.tick(); // the yielding one
                assert!(t.will_yield());
                (b, t)
            },
            |b, _| {
                // Dropped or not, the budget started over: exactly every 2nd
                // tick yields from here on.
                assert_eq!(b.ticks(), 2);
                assert!(!b.tick().will_yield());
                assert!(b.tick().will_yield());
            },
        );
        assert_eq!(report.polls_to_complete, 2);
    }

    #[test]
    fn cooperative_stream() {
        let report = Torture::new("budget::Cooperative").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let src = stream::iter(0..40u32).map(move |i| {
                    let _ = &flag;
                    i
                });
                let s = src.cooperative(8);
                (dropped, async move { s.fold(0u32, |a, x| a + x).await })
            },
            |dropped, outcome| {
                if let Outcome::Completed(_, sum) = outcome {
                    assert_eq!(sum, (0..40).sum::<u32>(), "an item was lost");
                }
                assert!(dropped.load(SeqCst), "inner stream not dropped");
            },
        );
        // 40 items, a yield after every 8th: 5 yields, 6 polls.
        assert!(report.polls_to_complete >= 5, "{report:?}");
    }

    #[test]
    fn budget_iter_stream() {
        let report = Torture::new("budget::iter").run(
            || {
                let mut s = budget::iter_with(Budget::new(3), 0..10u32);
                let fut = async move {
                    let mut got = Vec::new();
                    while let Some(x) = s.next().await {
                        got.push(x);
                    }
                    got
                };
                ((), fut)
            },
            |_, outcome| {
                if let Outcome::Completed(_, got) = outcome {
                    assert_eq!(got, (0..10).collect::<Vec<_>>());
                }
            },
        );
        assert!(report.polls_to_complete >= 3, "{report:?}");
    }

    #[test]
    fn detect_stalls() {
        let report = Torture::new("budget::DetectStalls").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let stalls = counter();
                let seen = stalls.clone();
                let fut = async move {
                    let _flag = flag;
                    sleep(MS).await;
                    // Real: a stall is real blocking (the detector measures real time).
                    std::thread::sleep(3 * MS); // one stalling poll
                    sleep(MS).await;
                }
                .detect_stalls(2 * MS, move |_, took| {
                    assert!(took >= 2 * MS);
                    seen.fetch_add(1, SeqCst);
                });
                ((dropped, stalls), fut)
            },
            |(dropped, stalls), outcome| {
                assert!(dropped.load(SeqCst), "inner future not dropped");
                if !outcome.is_dropped() {
                    assert!(stalls.load(SeqCst) >= 1, "the stall was not reported");
                }
            },
        );
        assert!(report.polls_to_complete >= 3, "{report:?}");
    }

    #[test]
    fn heartbeat() {
        let report = Torture::new("budget::Heartbeat").run(
            || {
                let clock = virtual_clock();
                let (probe, heartbeat) = LagProbe::new(MS);
                let stopper = probe.clone();
                let fut = heartbeat.or(async move {
                    async_guard::time::sleep(6 * MS).await;
                    stopper.stop();
                    // The heartbeat must end now that it is stopped.
                    pending::<()>().await
                });
                (probe, clock.enter(fut))
            },
            |probe, outcome| {
                let s = probe.stats();
                assert!(s.p50 <= s.p99 && s.p99 <= s.worst);
                let _ = outcome;
                // Stopping again, after the heartbeat is gone, is harmless.
                probe.stop();
                probe.reset();
                assert_eq!(probe.stats().beats, 0);
            },
        );
        assert!(report.polls_to_complete >= 3, "{report:?}");
    }
}

// ------------------------------------------------------------- offload ----

mod offload {
    use super::*;
    use async_guard::offload::{CpuPool, PoolStats};

    fn wait_idle(pool: &CpuPool) -> PoolStats {
        let idle = eventually(BOUND, || {
            let s = pool.stats();
            s.running == 0 && s.waiting == 0
        });
        assert!(idle, "pool never went idle: {:?}", pool.stats());
        pool.stats()
    }

    /// One thread kept busy by a 3 ms blocker; the job under test is queued
    /// behind it (or, with `max_waiting(0)`, waits for admission).
    fn torture_pool(name: &str, pool: CpuPool) {
        let report = Torture::new(name).run(
            || {
                let before = wait_idle(&pool);
                let (blocker_ran, job_ran) = (counter(), counter());
                let flag = blocker_ran.clone();
                let blocker = pool.run(move || {
                    // Real: keeps the CPU pool's one real thread busy.
                    std::thread::sleep(3 * MS);
                    flag.fetch_add(1, SeqCst);
                });
                let flag = job_ran.clone();
                let job = pool.run(move || {
                    flag.fetch_add(1, SeqCst);
                    42
                });
                (
                    (pool.clone(), before, blocker_ran, job_ran, Some(blocker)),
                    job,
                )
            },
            |(pool, before, blocker_ran, job_ran, blocker), outcome| {
                // The job is gone; now let go of the blocker too (it may still
                // be queued at k = 0) and let whatever started finish.
                drop(blocker.take());
                let after = wait_idle(pool);
                let completed = after.completed - before.completed;
                let cancelled = after.cancelled - before.cancelled;
                let ran = (blocker_ran.load(SeqCst) + job_ran.load(SeqCst)) as u64;
                if let Outcome::Completed(_, out) = outcome {
                    assert_eq!(out, 42);
                    assert_eq!(job_ran.load(SeqCst), 1);
                }
                // Each job ran exactly once or was cancelled, never both: a
                // job dropped before it started never runs.
                assert!(job_ran.load(SeqCst) <= 1 && blocker_ran.load(SeqCst) <= 1);
                assert_eq!(completed, ran, "{after:?}");
                assert_eq!(completed + cancelled, 2, "{after:?}");
                assert_eq!(after.panicked, before.panicked);
                // The pool still works, and the admission permits came back.
                let again = future::block_on(pool.try_run(|| 7).expect("permit not returned"));
                assert_eq!(again, 7);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    #[test]
    fn offload_queued_behind_a_busy_thread() {
        let pool = CpuPool::builder().threads(1).name("tortured").build();
        torture_pool("offload::Offload (queued)", pool);
        // No leaked thread: with the last handle gone, the pool's exit.
        #[cfg(target_os = "linux")]
        assert!(
            eventually(BOUND, || crate::support::threads_named("tortured") == 0),
            "pool threads leaked"
        );
    }

    #[test]
    fn global_offload() {
        Torture::new("offload::offload").run(
            || {
                let ran = counter();
                let r = ran.clone();
                let job = async_guard::offload::offload(move || {
                    // Real: a job on the CPU pool's real threads.
                    std::thread::sleep(MS);
                    r.fetch_add(1, SeqCst);
                });
                (ran, job)
            },
            |ran, outcome| {
                if !outcome.is_dropped() {
                    assert_eq!(ran.load(SeqCst), 1);
                }
                assert!(ran.load(SeqCst) <= 1, "ran twice");
            },
        );
    }

    #[test]
    fn offload_waiting_for_admission() {
        torture_pool(
            "offload::Offload (admission)",
            CpuPool::builder().threads(1).max_waiting(0).build(),
        );
    }
}

// -------------------------------------------------------------- reaper ----

mod reaper {
    use super::*;
    use async_guard::reaper::Reaper;

    fn assert_gone(reaper: &Reaper, id: u64) {
        assert!(
            !reaper.snapshot().iter().any(|t| t.id == id),
            "entry {id} still in the reaper"
        );
        crate::support::assert_reaper_settled(reaper);
    }

    #[test]
    fn tracked_that_finishes() {
        let reaper = Reaper::new(Duration::from_secs(10));
        let report = Torture::new("reaper::Tracked (finishes)").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let fut = reaper.track("busy", move |activity| async move {
                    let _flag = flag;
                    for _ in 0..3 {
                        sleep(MS).await;
                        activity.touch();
                    }
                    5
                });
                ((fut.id(), dropped), fut)
            },
            |(id, dropped), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    assert_eq!(out.unwrap(), 5);
                }
                assert!(dropped.load(SeqCst));
                assert_gone(&reaper, *id);
            },
        );
        assert!(report.polls_to_complete >= 4, "{report:?}");
        let s = reaper.stats();
        assert_eq!((s.finished, s.reaped), (2, 0), "{s:?}");
    }

    #[test]
    fn tracked_that_is_reaped() {
        let reaper = Reaper::builder(5 * MS).tick(3 * MS).build();
        let report = Torture::new("reaper::Tracked (reaped)").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let fut = reaper.track("idle", move |_activity| async move {
                    let _flag = flag;
                    pending::<()>().await
                });
                ((fut.id(), dropped), fut)
            },
            |(id, dropped), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    let e = out.unwrap_err();
                    assert_eq!(e.name(), "idle");
                    assert!(e.idle_for() >= 5 * MS);
                }
                assert!(dropped.load(SeqCst), "the reaped task was not dropped");
                assert_gone(&reaper, *id);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
        assert_eq!(reaper.stats().reaped, 2);
    }

    #[test]
    fn idle_watch() {
        let reaper = Reaper::builder(5 * MS).tick(3 * MS).build();
        let report = Torture::new("reaper::Idle").run(
            || {
                let (activity, idle) = reaper.watch("watched");
                let id = activity.id();
                ((id, activity), idle)
            },
            |(id, activity), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    assert!(out.unwrap() >= 5 * MS);
                }
                activity.touch(); // after the watch ended: harmless
                assert_gone(&reaper, *id);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }
}

// -------------------------------------------------------------- shield ----

mod shield {
    use super::*;
    use async_guard::shield::{ShieldSet, Shielded, shield};
    use async_guard::time::{TestClock, sleep};

    /// Runs `f` with `clock` entered (what it shields, and drops, is on
    /// the clock).
    fn on<T>(clock: &TestClock, f: impl FnOnce() -> T) -> T {
        let mut f = Some(f);
        clock.block_on(future::poll_fn(|_| {
            std::task::Poll::Ready(f.take().unwrap()())
        }))
    }

    fn settled(set: &ShieldSet) {
        let ok = eventually(BOUND, || set.stats().in_flight == 0);
        assert!(ok, "shielded work never ended: {:?}", set.stats());
        let s = set.stats();
        assert_eq!(
            s.shielded + s.tracked,
            s.completed + s.panicked + s.expired + s.lost,
            "{s:?}"
        );
    }

    /// Work of three steps split by a timer and two yields: whichever poll
    /// the caller is dropped after, each step runs exactly once (in the
    /// caller before the drop, on the set's executor after it) and the
    /// work ends exactly once.
    fn stepped(set: &ShieldSet) -> ((Arc<AtomicUsize>, Arc<AtomicUsize>), Shielded<u32>) {
        let steps = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let (s, d) = (steps.clone(), done.clone());
        let handle = set
            .shield(async move {
                s.fetch_add(1, SeqCst);
                future::yield_now().await;
                s.fetch_add(1, SeqCst);
                sleep(2 * MS).await;
                s.fetch_add(1, SeqCst);
                future::yield_now().await;
                d.fetch_add(1, SeqCst);
                9
            })
            .unwrap();
        ((steps, done), handle)
    }

    fn check_stepped(
        set: &ShieldSet,
        (steps, done): &(Arc<AtomicUsize>, Arc<AtomicUsize>),
        outcome: Outcome<u32>,
    ) {
        if let Outcome::Completed(_, out) = outcome {
            assert_eq!(out, 9);
            // The caller saw the end: it ran in full, in the caller.
            assert_eq!(done.load(SeqCst), 1);
        }
        // Dropping the handle never cancels the work.
        assert!(eventually(BOUND, || done.load(SeqCst) == 1), "work was cut");
        settled(set);
        assert_eq!(steps.load(SeqCst), 3, "a step ran twice or never");
        assert_eq!(done.load(SeqCst), 1, "the work ended twice");
    }

    #[test]
    fn shielded_handle() {
        let clock = virtual_clock();
        let set = ShieldSet::new();
        let report = Torture::new("shield::Shielded").run(
            || {
                let (state, handle) = stepped(&set);
                (state, clock.enter(handle))
            },
            |state, outcome| check_stepped(&set, state, outcome),
        );
        assert!(report.dropped_pending >= 3, "{report:?}");
        let s = set.stats();
        assert_eq!(s.completed, s.shielded);
    }

    /// Same, with the rest of the work moving to smol's threads (entered
    /// on the clock by the spawner).
    #[test]
    fn shielded_handle_with_spawner() {
        let clock = virtual_clock();
        let c = clock.clone();
        let set = ShieldSet::with_spawner(move |w| smol::spawn(c.enter(w)).detach());
        let report = Torture::new("shield::Shielded (with_spawner)").run(
            || {
                let (state, handle) = stepped(&set);
                (state, clock.enter(handle))
            },
            |state, outcome| check_stepped(&set, state, outcome),
        );
        assert!(report.dropped_pending >= 3, "{report:?}");
        let s = set.stats();
        assert_eq!((s.completed, s.lost), (s.shielded, 0));
    }

    /// A tracked future is the user's future: dropping it cancels it, and
    /// it leaves the count exactly once either way.
    #[test]
    fn tracked_future() {
        let clock = virtual_clock();
        let set = ShieldSet::new();
        let report = Torture::new("shield::TrackedFuture").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let fut = set
                    .track(async move {
                        let _flag = flag;
                        sleep(2 * MS).await;
                        future::yield_now().await;
                        5
                    })
                    .unwrap();
                (dropped, clock.enter(fut))
            },
            |dropped, outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    assert_eq!(out, 5);
                }
                assert!(dropped.load(SeqCst));
                let s = set.stats();
                assert_eq!(s.in_flight, 0, "{s:?}");
                assert_eq!(s.tracked, s.completed + s.lost, "{s:?}");
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    #[test]
    fn global_shield_handle() {
        let clock = virtual_clock();
        Torture::new("shield::shield").run(
            || {
                let done = Arc::new(AtomicBool::new(false));
                let flag = done.clone();
                let handle = shield(async move {
                    sleep(2 * MS).await;
                    flag.store(true, SeqCst);
                });
                (done, clock.enter(handle))
            },
            |done, _| assert!(eventually(BOUND, || done.load(SeqCst)), "work was cut"),
        );
    }

    #[test]
    fn shield_within_handle() {
        let clock = virtual_clock();
        let set = ShieldSet::new();
        let report = Torture::new("shield::shield_within").run(
            || {
                let (flag, dropped) = DropFlag::new();
                let t0 = clock.now();
                // The grace period starts at the call: on the clock.
                let handle = on(&clock, || {
                    set.shield_within(3 * MS, async move {
                        let _flag = flag;
                        pending::<()>().await
                    })
                    .unwrap()
                });
                let handle = clock.enter(async move { (handle.await, async_guard::time::now()) });
                ((dropped, t0), handle)
            },
            |(dropped, t0), outcome| {
                if let Outcome::Completed(_, (out, at)) = outcome {
                    assert_eq!(out.unwrap_err().grace(), 3 * MS);
                    assert_eq!(at, *t0 + 3 * MS, "stopped exactly at call + grace");
                }
                // The grace period stops the work whether or not anyone waits.
                assert!(eventually(BOUND, || dropped.load(SeqCst)), "never stopped");
                settled(&set);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
        let s = set.stats();
        assert_eq!(s.expired, s.shielded);
    }

    #[test]
    fn drain_future() {
        let clock = virtual_clock();
        let set = ShieldSet::new();
        let report = Torture::new("shield::drain").run(
            || {
                let done = Arc::new(AtomicUsize::new(0));
                let flag = done.clone();
                let t0 = clock.now();
                // No jump before the drain exists.
                clock.set_auto_advance(false);
                // Moves to the background thread, on the clock.
                on(&clock, || {
                    drop(set.shield(async move {
                        sleep(3 * MS).await;
                        flag.fetch_add(1, SeqCst);
                    }))
                });
                let drain = set.drain(BOUND);
                let drain = clock.enter(async move { (drain.await, async_guard::time::now()) });
                clock.set_auto_advance(true);
                ((done, t0), drain)
            },
            |(done, t0), outcome| {
                if let Outcome::Completed(_, (report, at)) = outcome {
                    assert_eq!(report.still_running, 0, "{report:?}");
                    assert_eq!(done.load(SeqCst), 1);
                    assert_eq!(at, *t0 + 3 * MS, "the drain ends with the work");
                }
                // A dropped drain leaves nothing behind: a new one still
                // returns once the work is done.
                let again = clock.block_on(set.drain(BOUND));
                assert_eq!(again.still_running, 0);
                assert_eq!(done.load(SeqCst), 1);
                assert_eq!(
                    clock.now(),
                    *t0 + 3 * MS,
                    "the work ends at 3 ms, whoever waits"
                );
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
        assert_eq!(set.stats().abandoned, 0);
    }

    #[test]
    fn global_drain_future() {
        Torture::new("shield::drain (global)").run(
            || ((), async_guard::shield::drain(Duration::from_millis(2))),
            |_, _| {},
        );
    }
}

/// Regression (found by the torture above): an `Offload` dropped while it
/// still waited for admission (`max_waiting`) was not counted in
/// `PoolStats::cancelled`, so `completed + panicked + cancelled` fell short
/// of the jobs submitted, against the module docs.
#[test]
fn offload_dropped_before_admission_counts_as_cancelled() {
    use async_guard::offload::CpuPool;
    let pool = CpuPool::builder().threads(1).max_waiting(0).build();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let busy = pool.try_run(move || rx.recv().unwrap_or(())).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let mut waiting = pool.run(move || flag.store(true, SeqCst));
    assert!(future::block_on(future::poll_once(&mut waiting)).is_none());
    drop(waiting);
    tx.send(()).unwrap();
    future::block_on(busy);
    assert!(!ran.load(SeqCst));
    let s = pool.stats();
    assert_eq!((s.completed, s.cancelled), (1, 1), "{s:?}");
}

// ------------------------------------------------- the harness itself ----

/// The harness catches what it claims to catch.
mod harness {
    use super::*;
    use std::sync::Mutex;
    use std::task::{Poll, Waker};

    #[test]
    #[should_panic(expected = "still alive")]
    fn a_leaked_waker_fails() {
        // A "cure" that keeps the waker of a dropped task forever.
        let leak: Arc<Mutex<Vec<Waker>>> = Arc::default();
        Torture::new("leaky")
            .leak_timeout(Duration::from_millis(20))
            .run(
                || {
                    let leak = leak.clone();
                    let mut polled = false;
                    let fut = future::poll_fn(move |cx| {
                        if polled {
                            return Poll::Ready(());
                        }
                        polled = true;
                        leak.lock().unwrap().push(cx.waker().clone());
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    });
                    ((), fut)
                },
                |_, _| {},
            );
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn a_lost_wake_up_fails() {
        Torture::new("never wakes")
            .wake_timeout(Duration::from_millis(20))
            .run(|| ((), future::poll_fn(|_| Poll::<()>::Pending)), |_, _| {});
    }

    #[test]
    #[should_panic(expected = "permits")]
    fn a_failing_check_fails() {
        Torture::new("check").run(
            || ((), async_guard::budget::yield_now()),
            |_, outcome| assert!(!outcome.is_dropped(), "permits lost"),
        );
    }
}
