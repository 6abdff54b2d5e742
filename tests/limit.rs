//! Integration tests of the `limit` cure, under every runtime.
//!
//! Waits, holds and timeouts run on the virtual clock
//! (`runtimes::virtual_time`/`virtual_each`, helper tasks entered on the
//! same clock), so they are asserted as exact instants; no test here sleeps
//! in real time. The stress test's short timeouts stay on the real clock
//! (real threads racing are its subject).

mod runtimes;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_guard::limit::{Acquire, AcquireError, Limiter, Permit, gather, try_gather};
use async_guard::time::{now, sleep};
use async_guard::{Error, StreamExt as _};
use futures_lite::{StreamExt, stream};

// ---- helpers ----

const MS: Duration = Duration::from_millis(1);
const US: Duration = Duration::from_micros(1);

/// A waker that remembers it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future polled by hand, with its own flag waker.
struct Manual<F> {
    fut: Pin<Box<F>>,
    flag: Arc<Flag>,
}

impl<F: Future> Manual<F> {
    fn new(fut: F) -> Self {
        Manual {
            fut: Box::pin(fut),
            flag: Arc::default(),
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        self.flag.0.store(false, Ordering::SeqCst);
        let waker = Waker::from(self.flag.clone());
        self.fut.as_mut().poll(&mut Context::from_waker(&waker))
    }

    fn woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }

    fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }
}

fn queued(limiter: &Limiter, weight: usize) -> Manual<Acquire> {
    let mut m = Manual::new(limiter.acquire_many(weight));
    assert!(
        m.poll().is_pending(),
        "expected acquire_many({weight}) to queue"
    );
    m
}

/// Counts how many run at once and the maximum seen.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn exit(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

fn assert_send<T: Send>(_: &T) {}

/// Awaits `fut`, failing the test (instead of hanging) if a permit leak
/// keeps it from finishing.
async fn within<F: Future>(fut: F) -> F::Output {
    async_guard::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("stuck: a permit or a wake-up was lost")
}

// ---- the seed's scenario ----

#[test]
fn seed_scenario_three_at_a_time_all_ten_finish() {
    runtimes::virtual_each(|rt, clock| async move {
        let t0 = now();
        let limiter = Limiter::new(3);
        let gauge = Arc::new(Gauge::default());
        let finished = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = smol::channel::unbounded();
        for i in 0..10 {
            let (limiter, gauge, finished, tx) =
                (limiter.clone(), gauge.clone(), finished.clone(), tx.clone());
            runtimes::spawn(
                rt,
                clock.enter(async move {
                    let _permit = limiter.acquire().await.unwrap();
                    gauge.enter();
                    sleep(5 * MS).await;
                    gauge.exit();
                    finished.fetch_add(1, Ordering::SeqCst);
                    tx.send(i).await.unwrap();
                }),
            );
        }
        drop(tx);
        let mut done: Vec<i32> = within(rx.collect()).await;
        done.sort();
        assert_eq!(done, (0..10).collect::<Vec<_>>());
        assert_eq!(finished.load(Ordering::SeqCst), 10);
        assert_eq!(gauge.max.load(Ordering::SeqCst), 3);
        // Four waves of 5 ms (3 + 3 + 3 + 1).
        assert_eq!(now(), t0 + 20 * MS);
        let stats = limiter.stats();
        assert_eq!((stats.in_use, stats.waiting, stats.acquired), (0, 0, 10));
    });
}

#[test]
fn seed_scenario_with_gather() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let gauge = Arc::new(Gauge::default());
        let jobs = (0..10).map(|i| {
            let gauge = gauge.clone();
            async move {
                gauge.enter();
                sleep(3 * MS).await;
                gauge.exit();
                i
            }
        });
        assert_eq!(gather(3, jobs).await, (0..10).collect::<Vec<_>>());
        assert_eq!(gauge.max.load(Ordering::SeqCst), 3);
        // Four waves of 3 ms.
        assert_eq!(now(), t0 + 12 * MS);
    });
}

#[test]
fn run_holds_a_permit_while_the_future_runs() {
    runtimes::all(|| async {
        let limiter = Limiter::new(1);
        let inner = limiter.clone();
        let seen = limiter
            .run(async move { inner.stats().in_use })
            .await
            .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(limiter.available(), 1);
        limiter.close();
        assert!(limiter.run(async {}).await.unwrap_err().is_closed());
    });
}

// ---- fairness ----

#[test]
fn waiters_are_served_in_fifo_order_weights_included() {
    let limiter = Limiter::new(3);
    let held = limiter.try_acquire_many(3).unwrap();
    let mut a = queued(&limiter, 1);
    let mut b = queued(&limiter, 3);
    let mut c = queued(&limiter, 1);
    assert_eq!(limiter.stats().waiting, 3);

    let mut held = held;
    drop(held.split(1).unwrap()); // 1 free: A (head) fits
    assert!(a.woken());
    let a_permit = a.ready().unwrap();
    assert!(!b.woken() && !c.woken());
    assert!(b.poll().is_pending() && c.poll().is_pending());

    drop(held); // 2 more free: B needs 3, C must not barge past B
    assert!(!b.woken() && !c.woken());
    assert!(c.poll().is_pending());
    assert!(limiter.try_acquire().is_err(), "no barging past the queue");
    // Honest: the 2 free permits are kept for B, a newcomer can take none.
    assert_eq!(limiter.available(), 0);
    assert_eq!(limiter.stats().reserved, 2);

    drop(a_permit); // 3 free: B
    assert!(b.woken());
    let b_permit = b.ready().unwrap();
    assert!(c.poll().is_pending());
    drop(b_permit);
    assert!(c.woken());
    assert_eq!(c.ready().unwrap().weight(), 1);
}

#[test]
fn a_heavy_waiter_is_not_starved_by_light_ones() {
    runtimes::virtual_each(|rt, clock| async move {
        let t0 = now();
        let limiter = Limiter::new(5);
        let stop = Arc::new(AtomicBool::new(false));
        // Four tasks keep taking 1 permit each for 1 ms, always
        // overlapping: each releases and takes again on every whole ms.
        for _ in 0..4 {
            let (limiter, stop) = (limiter.clone(), stop.clone());
            runtimes::spawn(
                rt,
                clock.enter(async move {
                    while !stop.load(Ordering::SeqCst) {
                        match limiter.acquire().await {
                            Ok(_p) => sleep(MS).await,
                            Err(_) => break,
                        }
                    }
                }),
            );
        }
        // Queue between two whole ms, while the four hold a permit each.
        sleep(5 * MS + 500 * US).await;
        let big = async_guard::time::timeout(Duration::from_secs(5), limiter.acquire_many(5))
            .await
            .expect("the heavy waiter starved")
            .unwrap();
        assert_eq!(big.weight(), 5);
        // Served at the next release of all four: nobody barged past it.
        assert_eq!(now(), t0 + 6 * MS);
        stop.store(true, Ordering::SeqCst);
        drop(big);
        limiter.close();
    });
}

#[test]
fn fifo_order_under_runtimes() {
    runtimes::virtual_each(|rt, clock| async move {
        let limiter = Limiter::new(2);
        let held = limiter.acquire_many(2).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = smol::channel::unbounded::<()>();
        for i in 0..8 {
            let (l, order, tx) = (limiter.clone(), order.clone(), tx.clone());
            runtimes::spawn(
                rt,
                clock.enter(async move {
                    let _p = l.acquire_many(1 + i % 2).await.unwrap();
                    order.lock().unwrap().push(i);
                    sleep(200 * US).await;
                    drop(tx);
                }),
            );
            // Wait until it queued, so the queue order is the spawn order.
            while limiter.stats().waiting < i + 1 {
                sleep(MS).await;
            }
        }
        drop(tx);
        let released = now();
        drop(held);
        let _ = within(rx.recv()).await; // all senders gone = all tasks done
        let order = order.lock().unwrap().clone();
        assert_eq!(order, (0..8).collect::<Vec<_>>());
        // Weights 1, 2, 1, 2, .. under a limit of 2: a weight-2 head waits
        // for the weight-1 task before it, so they run one after another.
        assert_eq!(now(), released + 8 * 200 * US);
    });
}

// ---- shedding ----

#[test]
fn max_waiting_sheds_at_once() {
    runtimes::all(|| async {
        let limiter = Limiter::builder().limit(1).max_waiting(2).build();
        let _held = limiter.acquire().await.unwrap();
        let a = queued(&limiter, 1);
        let b = queued(&limiter, 1);
        let err = limiter.acquire().await.unwrap_err();
        assert!(err.is_overloaded());
        assert!(matches!(Error::from(err), Error::Limit(e) if e.is_overloaded()));
        assert_eq!(limiter.stats().rejected, 1);
        drop(a); // room again
        let _c = queued(&limiter, 1);
        drop(b);
        assert_eq!(limiter.stats().waiting, 1);
    });
}

#[test]
fn max_waiting_zero_never_queues_but_grants_free_permits() {
    let limiter = Limiter::builder().limit(2).max_waiting(0).build();
    let mut a = Manual::new(limiter.acquire());
    let _a = a.ready().unwrap();
    let mut b = Manual::new(limiter.acquire_many(2));
    assert!(b.ready().unwrap_err().is_overloaded());
    assert_eq!(limiter.stats().waiting, 0);
}

#[test]
fn too_many_only_above_the_maximum() {
    runtimes::virtual_time(|_| async {
        let limiter = Limiter::new(3);
        let max = Limiter::MAX_PERMITS;
        assert_eq!(
            limiter.acquire_many(max + 1).await.unwrap_err(),
            AcquireError::TooMany {
                requested: max + 1,
                limit: max
            }
        );
        assert!(matches!(
            limiter.try_acquire_many(usize::MAX),
            Err(AcquireError::TooMany { .. })
        ));
        // Above the current limit but not the maximum: it waits (here,
        // bounded by a timeout), and is counted as timed out, not rejected.
        let t0 = now();
        let err = limiter.acquire_many_timeout(max, 5 * MS).await.unwrap_err();
        assert!(err.is_elapsed(), "{err}");
        assert_eq!(now(), t0 + 5 * MS);
        assert!(matches!(
            limiter.try_acquire_many(4),
            Err(AcquireError::NoneFree)
        ));
        let zero = Limiter::new(0);
        assert_eq!(zero.acquire_many(0).await.unwrap().weight(), 0);
        assert!(matches!(zero.try_acquire(), Err(AcquireError::NoneFree)));
    });
}

// ---- close ----

#[test]
fn close_wakes_every_waiter_and_held_permits_still_return() {
    runtimes::virtual_each(|rt, clock| async move {
        let limiter = Limiter::new(2);
        let held = limiter.acquire_many(2).await.unwrap();
        let (tx, rx) = smol::channel::unbounded();
        for w in [1, 2, 1] {
            let (limiter, tx) = (limiter.clone(), tx.clone());
            runtimes::spawn(
                rt,
                clock.enter(async move {
                    tx.send(limiter.acquire_many(w).await.map(|p| p.weight()))
                        .await
                        .unwrap();
                }),
            );
        }
        drop(tx);
        while limiter.stats().waiting < 3 {
            sleep(MS).await;
        }
        assert!(limiter.close());
        let results: Vec<_> = within(rx.collect()).await;
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(|r| r.is_err_and(|e| e.is_closed())));
        assert!(limiter.acquire().await.unwrap_err().is_closed());
        assert!(limiter.try_acquire().unwrap_err().is_closed());
        assert!(
            limiter
                .acquire_timeout(Duration::ZERO)
                .await
                .unwrap_err()
                .is_closed()
        );
        assert_eq!(limiter.stats().in_use, 2);
        drop(held);
        let s = limiter.stats();
        assert_eq!((s.in_use, s.waiting, s.closed), (0, 0, true));
    });
}

// ---- resize ----

#[test]
fn growing_wakes_waiters() {
    runtimes::all(|| async {
        let limiter = Limiter::new(2);
        let _held = limiter.acquire_many(2).await.unwrap();
        let mut a = queued(&limiter, 1);
        let mut b = queued(&limiter, 2);
        limiter.set_limit(5);
        assert!(a.woken() && b.woken());
        assert_eq!(a.ready().unwrap().weight(), 1);
        assert_eq!(b.ready().unwrap().weight(), 2);
    });
}

#[test]
fn shrinking_absorbs_releases_and_keeps_heavier_waiters_queued() {
    let limiter = Limiter::new(4);
    let p1 = limiter.try_acquire_many(2).unwrap();
    let p2 = limiter.try_acquire_many(2).unwrap();
    let mut heavy = queued(&limiter, 3);
    let mut light = queued(&limiter, 1);
    limiter.set_limit(2);
    assert!(!heavy.woken(), "a heavier waiter keeps waiting for growth");
    assert!(heavy.poll().is_pending());
    assert_eq!(limiter.stats().in_use, 4, "held permits are never revoked");
    drop(p1); // absorbed: 2 in use = the new limit
    drop(p2); // 2 free, but the head needs 3: light waits behind it (FIFO)
    assert!(!heavy.woken() && !light.woken());
    let s = limiter.stats();
    assert_eq!((s.in_use, s.waiting, s.reserved), (0, 2, 2));
    assert_eq!(limiter.available(), 0);
    limiter.set_limit(3);
    assert!(heavy.woken() && !light.woken());
    let heavy = heavy.ready().unwrap();
    assert_eq!(heavy.weight(), 3);
    drop(heavy);
    assert!(light.woken());
    let light = light.ready().unwrap();
    assert_eq!(light.weight(), 1);
    assert_eq!(limiter.stats().in_use, 1);
}

#[test]
fn forget_split_merge_keep_the_books() {
    let limiter = Limiter::new(6);
    let mut p = limiter.try_acquire_many(4).unwrap();
    let q = p.split(1).unwrap();
    assert!(p.split(10).is_none());
    q.forget();
    assert_eq!(limiter.stats().limit, 5);
    assert_eq!(limiter.stats().in_use, 3);
    let r = limiter.try_acquire_many(2).unwrap();
    p.merge(r).unwrap();
    assert_eq!(p.weight(), 5);
    let other = Limiter::new(1);
    let stranger = other.try_acquire().unwrap();
    let back = p.merge(stranger).unwrap_err();
    drop(back);
    assert_eq!(other.available(), 1);
    drop(p);
    assert_eq!(limiter.available(), 5);
}

#[test]
fn permits_are_send_and_move_into_tasks() {
    runtimes::virtual_each(|rt, clock| async move {
        let t0 = now();
        let limiter = Limiter::new(1);
        let permit: Permit = limiter.acquire().await.unwrap();
        assert_send(&permit);
        let acquire = limiter.acquire();
        assert_send(&acquire);
        assert_send(&limiter.acquire_timeout(Duration::ZERO));
        assert_send(&gather(2, [std::future::ready(1)]));
        assert_send(&stream::iter([1]).map_limited(2, std::future::ready));
        let (tx, rx) = smol::channel::bounded(1);
        runtimes::spawn(
            rt,
            clock.enter(async move {
                sleep(2 * MS).await;
                drop(permit);
                tx.send(()).await.unwrap();
            }),
        );
        assert_eq!(within(acquire).await.unwrap().weight(), 1);
        assert_eq!(now(), t0 + 2 * MS, "granted when the task let go");
        within(rx.recv()).await.unwrap();
    });
}

// ---- gates: zero limits, pausing, waiting for growth ----

#[test]
fn new_zero_is_a_gate_opened_by_add_permits() {
    runtimes::virtual_time(|_| async {
        let gate = Limiter::new(0);
        assert_eq!(gate.available(), 0);
        let mut a = queued(&gate, 1);
        let mut b = queued(&gate, 2);
        assert!(!a.woken() && !b.woken());
        gate.add_permits(1);
        assert!(a.woken() && !b.woken());
        let pa = a.ready().unwrap();
        gate.add_permits(1); // 1 free, b needs 2
        assert!(!b.woken());
        drop(pa);
        assert!(b.woken());
        assert_eq!(b.ready().unwrap().weight(), 2);
        let s = gate.stats();
        assert_eq!((s.limit, s.in_use, s.waiting), (2, 0, 0));
        // Awaited on the runtime: parked until the gate opens.
        let gate = Limiter::new(0);
        let opener = {
            let gate = gate.clone();
            async move {
                sleep(5 * MS).await;
                gate.add_permits(1);
            }
        };
        let t0 = now();
        let (permit, ()) = within(futures_lite::future::zip(gate.acquire(), opener)).await;
        assert_eq!(permit.unwrap().weight(), 1);
        assert_eq!(now(), t0 + 5 * MS);
    });
}

#[test]
fn set_limit_zero_pauses_admission_and_keeps_waiters() {
    let limiter = Limiter::new(2);
    let held = limiter.try_acquire_many(2).unwrap();
    let mut a = queued(&limiter, 1);
    let mut b = queued(&limiter, 2);
    limiter.set_limit(0);
    assert!(!a.woken() && !b.woken(), "paused, not failed");
    drop(held); // absorbed by the shrink
    assert!(!a.woken() && !b.woken());
    assert!(a.poll().is_pending() && b.poll().is_pending());
    let s = limiter.stats();
    assert_eq!((s.limit, s.in_use, s.waiting, s.reserved), (0, 0, 2, 0));
    assert!(matches!(limiter.try_acquire(), Err(AcquireError::NoneFree)));
    limiter.set_limit(3); // resume: both fit, in order
    assert!(a.woken() && b.woken());
    assert_eq!(a.ready().unwrap().weight(), 1);
    assert_eq!(b.ready().unwrap().weight(), 2);
}

#[test]
fn a_waiter_above_the_limit_is_served_once_it_grows() {
    runtimes::all(|| async {
        let limiter = Limiter::new(2);
        let mut big = queued(&limiter, 5);
        let mut small = queued(&limiter, 1);
        assert_eq!(limiter.stats().waiting, 2);
        assert_eq!(limiter.available(), 0);
        assert_eq!(limiter.stats().reserved, 2);
        limiter.add_permits(2); // 4 < 5
        assert!(!big.woken() && !small.woken());
        limiter.add_permits(1);
        assert!(big.woken());
        let big = big.ready().unwrap();
        assert_eq!(big.weight(), 5);
        drop(big);
        assert_eq!(small.ready().unwrap().weight(), 1);
    });
}

#[test]
fn forget_permits_removes_what_it_can_and_never_revokes() {
    let limiter = Limiter::new(4);
    let held = limiter.try_acquire_many(3).unwrap();
    assert_eq!(limiter.forget_permits(2), 2); // 1 free + 1 held (debt)
    let s = limiter.stats();
    assert_eq!((s.limit, s.in_use), (2, 3));
    assert_eq!(limiter.available(), 0);
    assert_eq!(limiter.forget_permits(usize::MAX), 2);
    assert_eq!(limiter.forget_permits(1), 0);
    drop(held);
    let s = limiter.stats();
    assert_eq!((s.limit, s.in_use), (0, 0));
    limiter.add_permits(usize::MAX);
    assert_eq!(limiter.stats().limit, Limiter::MAX_PERMITS);
    limiter.add_permits(1); // saturates, no overflow
    assert_eq!(limiter.available(), Limiter::MAX_PERMITS);
}

/// Two threads adding and one forgetting, with tasks acquiring and
/// releasing all along: no update is lost, the books balance at the end.
#[test]
fn add_and_forget_are_atomic_under_concurrency() {
    const N: usize = 20_000;
    let limiter = Limiter::new(0);
    let stop = Arc::new(AtomicBool::new(false));
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let (limiter, stop) = (limiter.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut got = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(p) = limiter.try_acquire() {
                        got += 1;
                        drop(p);
                    }
                }
                got
            })
        })
        .collect();
    let adders: Vec<_> = (0..2)
        .map(|_| {
            let limiter = limiter.clone();
            std::thread::spawn(move || (0..N).for_each(|_| limiter.add_permits(1)))
        })
        .collect();
    let forgetter = {
        let limiter = limiter.clone();
        std::thread::spawn(move || (0..N).map(|_| limiter.forget_permits(1)).sum::<usize>())
    };
    adders.into_iter().for_each(|t| t.join().unwrap());
    let forgotten = forgetter.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in churn {
        t.join().unwrap();
    }
    let s = limiter.stats();
    assert_eq!(s.limit, 2 * N - forgotten, "an update was lost");
    assert_eq!((s.in_use, s.waiting, s.reserved), (0, 0, 0));
    assert_eq!(limiter.available(), s.limit);
    limiter.set_limit(7);
    assert_eq!(limiter.available(), 7);
}

// ---- honest `available()` ----

#[test]
fn available_counts_only_what_a_newcomer_can_take() {
    let limiter = Limiter::new(8);
    let held = limiter.try_acquire_many(2).unwrap();
    assert_eq!(limiter.available(), 6);
    let mut big = queued(&limiter, 8);
    assert_eq!(limiter.available(), 0);
    assert!(limiter.try_acquire_many(6).is_err());
    let s = limiter.stats();
    assert_eq!((s.in_use, s.reserved, s.waiting), (2, 6, 1));
    drop(held);
    let big = big.ready().unwrap();
    assert_eq!(limiter.stats().reserved, 0);
    drop(big);
    assert_eq!(limiter.available(), 8);
    limiter.close();
    assert_eq!(limiter.available(), 0, "nothing can be taken once closed");
}

// ---- errors through `?` ----

#[test]
fn errors_keep_their_message_through_question_mark() {
    fn wide(e: AcquireError) -> Result<(), Error> {
        Err(e)?
    }
    let limiter = Limiter::new(1);
    let _held = limiter.try_acquire().unwrap();
    let none_free = limiter.try_acquire().unwrap_err();
    let too_many = limiter.try_acquire_many(usize::MAX).unwrap_err();
    limiter.close();
    let closed = limiter.try_acquire().unwrap_err();
    let shed = futures_lite::future::block_on(
        Limiter::builder().limit(0).max_waiting(0).build().acquire(),
    )
    .unwrap_err();
    let clock = async_guard::time::TestClock::new();
    clock.set_auto_advance(true);
    let elapsed = clock
        .block_on(Limiter::new(0).acquire_timeout(MS))
        .unwrap_err();
    for e in [none_free, too_many, closed, shed, elapsed] {
        let w = wide(e).unwrap_err();
        assert_eq!(w.to_string(), e.to_string());
        assert_eq!(w, Error::Limit(e));
    }
    assert!(too_many.to_string().contains(&usize::MAX.to_string()));
    assert!(closed.to_string().contains("limiter closed"));
}

// ---- self-deadlock: a waker whose drop releases a permit ----

/// A waker owning a permit of the limiter under test: dropping the last
/// reference releases it (a waker of a task that holds a permit).
struct PermitWaker(#[allow(dead_code)] Permit);

impl Wake for PermitWaker {
    fn wake(self: Arc<Self>) {}
}

/// Runs `f` on a thread and fails (instead of hanging) if it deadlocks.
fn watchdog(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => thread.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // `f` panicked: report its panic.
            thread.join().unwrap();
        }
        Err(_) => panic!("{what}: deadlocked (a waker was dropped under the lock)"),
    }
}

#[test]
fn repolling_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    watchdog("re-poll with a new waker", || {
        let limiter = Limiter::new(1);
        let owner = Waker::from(Arc::new(PermitWaker(limiter.try_acquire().unwrap())));
        let mut acquire = Box::pin(limiter.acquire());
        let mut cx = Context::from_waker(&owner);
        assert!(acquire.as_mut().poll(&mut cx).is_pending());
        drop(owner); // the queue now holds the only reference
        let other = Waker::from(Arc::new(Flag::default()));
        let mut cx = Context::from_waker(&other);
        // Replaces the stored waker: its drop releases the permit.
        let first = acquire.as_mut().poll(&mut cx);
        let permit = match first {
            Poll::Ready(p) => p,
            Poll::Pending => match acquire.as_mut().poll(&mut cx) {
                Poll::Ready(p) => p,
                Poll::Pending => panic!("the released permit was not handed over"),
            },
        };
        assert_eq!(permit.unwrap().weight(), 1);
        assert_eq!(limiter.stats().in_use, 0);
    });
}

#[test]
fn dropping_a_queued_acquire_drops_its_waker_outside_the_lock() {
    watchdog("drop a queued acquire", || {
        let limiter = Limiter::new(1);
        let owner = Waker::from(Arc::new(PermitWaker(limiter.try_acquire().unwrap())));
        let mut acquire = Box::pin(limiter.acquire());
        assert!(
            acquire
                .as_mut()
                .poll(&mut Context::from_waker(&owner))
                .is_pending()
        );
        // A second waiter keeps the limiter on its locked path, so the
        // release below must take the lock.
        let mut next = queued(&limiter, 1);
        drop(owner);
        drop(acquire); // leaves the queue; the waker's drop releases the permit
        assert!(next.woken(), "the released permit goes to the next waiter");
        drop(next.ready().unwrap());
        let s = limiter.stats();
        assert_eq!((s.in_use, s.waiting), (0, 0));
        assert_eq!(limiter.available(), 1);
    });
}

#[test]
fn gather_drops_its_old_waker_outside_the_lock() {
    watchdog("gather re-polled with a new waker", || {
        let limiter = Limiter::new(1);
        let owner = Waker::from(Arc::new(PermitWaker(limiter.try_acquire().unwrap())));
        let l2 = limiter.clone();
        let mut all = Box::pin(gather(
            2,
            [async move { l2.acquire().await.map(|p| p.weight()) }],
        ));
        assert!(
            all.as_mut()
                .poll(&mut Context::from_waker(&owner))
                .is_pending()
        );
        drop(owner); // the gather holds the only reference
        let other = Waker::from(Arc::new(Flag::default()));
        let mut cx = Context::from_waker(&other);
        // Replacing the parent waker releases the permit, which wakes the
        // child, which marks its slot (the gather's lock).
        let out = match all.as_mut().poll(&mut cx) {
            Poll::Ready(out) => out,
            Poll::Pending => match all.as_mut().poll(&mut cx) {
                Poll::Ready(out) => out,
                Poll::Pending => panic!("the child was not woken"),
            },
        };
        assert_eq!(out, [Ok(1)]);
    });
}

// ---- timeouts ----

#[test]
fn acquire_timeout_expires_and_counts() {
    runtimes::virtual_time(|_| async {
        let limiter = Limiter::new(1);
        let held = limiter.acquire().await.unwrap();
        let start = now();
        let err = limiter.acquire_timeout(20 * MS).await.unwrap_err();
        assert!(err.is_elapsed());
        assert!(matches!(Error::from(err), Error::Limit(e) if e.is_elapsed()));
        assert_eq!(now(), start + 20 * MS);
        let s = limiter.stats();
        assert_eq!((s.timed_out, s.waiting), (1, 0));
        drop(held);
        assert!(limiter.acquire_timeout(Duration::ZERO).await.is_ok());
        assert!(limiter.acquire_timeout(Duration::MAX).await.is_ok());
        assert_eq!(now(), start + 20 * MS, "free permits are taken at once");
    });
}

#[test]
fn enclosing_deadline_bounds_acquire() {
    runtimes::virtual_time(|_| async {
        let limiter = Limiter::new(1);
        let _held = limiter.acquire().await.unwrap();
        let inner = limiter.clone();
        let t0 = now();
        let r = async_guard::time::timeout(10 * MS, async move {
            inner.acquire_timeout(Duration::from_secs(60)).await
        })
        .await
        .unwrap();
        match r {
            Err(AcquireError::Elapsed(e)) => {
                assert!(e.is_enclosing());
                assert_eq!(e.deadline(), t0 + 10 * MS);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(now(), t0 + 10 * MS);
    });
}

// ---- cancellation ----

#[test]
fn dropped_head_lets_the_next_through() {
    let limiter = Limiter::new(3);
    let held = limiter.try_acquire_many(2).unwrap();
    let head = queued(&limiter, 3); // blocks everyone behind it
    let mut next = queued(&limiter, 1);
    assert!(next.poll().is_pending());
    drop(head);
    assert!(next.woken(), "the next waiter must be woken");
    assert_eq!(next.ready().unwrap().weight(), 1);
    drop(held);
}

#[test]
fn dropped_after_grant_hands_the_permits_on() {
    // CPython 90155/93222: a waiter granted its permits and then cancelled
    // before it ran must pass them on.
    let limiter = Limiter::new(2);
    let held = limiter.try_acquire_many(2).unwrap();
    let granted = queued(&limiter, 2);
    let mut next = queued(&limiter, 2);
    drop(held);
    assert!(granted.woken());
    assert_eq!(limiter.stats().in_use, 2, "granted to the head");
    drop(granted); // cancelled before it collected them
    assert!(next.woken());
    assert_eq!(next.ready().unwrap().weight(), 2);
    drop(next);
    assert_eq!(limiter.stats().in_use, 0);
}

#[test]
fn dropped_in_the_middle_or_after_close_is_harmless() {
    let limiter = Limiter::new(1);
    let held = limiter.try_acquire().unwrap();
    let mut a = queued(&limiter, 1);
    let b = queued(&limiter, 1);
    let mut c = queued(&limiter, 1);
    drop(b);
    assert_eq!(limiter.stats().waiting, 2);
    drop(held);
    assert!(a.woken() && !c.woken());
    drop(a.ready().unwrap());
    assert!(c.woken());
    let pc = c.ready().unwrap();
    let d = queued(&limiter, 1);
    limiter.close();
    drop(d); // closed but not collected
    drop(pc);
    let s = limiter.stats();
    assert_eq!((s.in_use, s.waiting), (0, 0));
}

#[test]
fn dropping_after_k_polls_never_leaks() {
    // A real scenario under each runtime: waiters are dropped after being
    // polled k times, while other tasks hold and release permits.
    for k in 0..6 {
        runtimes::virtual_each(move |rt, clock| async move {
            let limiter = Limiter::new(2);
            let (tx, rx) = smol::channel::unbounded::<()>();
            for _ in 0..4 {
                let (limiter, tx) = (limiter.clone(), tx.clone());
                runtimes::spawn(
                    rt,
                    clock.enter(async move {
                        for _ in 0..5 {
                            let _p = limiter.acquire().await.unwrap();
                            sleep(300 * US).await;
                        }
                        drop(tx);
                    }),
                );
            }
            for w in [1, 2, 1, 2] {
                let mut m = Manual::new(limiter.acquire_many(w));
                for _ in 0..k {
                    if m.poll().is_ready() {
                        break;
                    }
                    sleep(200 * US).await;
                }
                drop(m);
            }
            drop(tx);
            let _ = within(rx.recv()).await;
            let s = limiter.stats();
            assert_eq!((s.in_use, s.waiting), (0, 0), "k = {k}");
            assert_eq!(limiter.available(), 2);
        });
    }
}

#[test]
fn timeout_racing_a_grant_loses_nothing() {
    runtimes::virtual_each(|rt, clock| async move {
        let limiter = Limiter::new(1);
        for i in 0..50u64 {
            let held = limiter.acquire().await.unwrap();
            let hold = Duration::from_micros(500 + (i % 7) * 100);
            let wait = Duration::from_micros(500 + (i % 5) * 100);
            let start = now();
            runtimes::spawn(
                rt,
                clock.enter(async move {
                    sleep(hold).await;
                    drop(held);
                }),
            );
            let raced = limiter.acquire_timeout(wait).await;
            // Whichever comes first wins, exactly then (a tie may go
            // either way).
            assert_eq!(now(), start + hold.min(wait), "iteration {i}");
            if hold != wait {
                assert_eq!(raced.is_ok(), hold < wait, "iteration {i}");
            }
            drop(raced);
            // Whatever won the race, the permit must come back.
            let p = limiter.acquire_timeout(Duration::from_secs(5)).await;
            assert!(p.is_ok(), "permit lost at iteration {i}");
        }
        assert_eq!(limiter.stats().in_use, 0);
    });
}

// ---- gather, try_gather, map_limited ----

#[test]
fn gather_keeps_input_order_and_bound() {
    runtimes::virtual_time(|_| async {
        let gauge = Arc::new(Gauge::default());
        let jobs = (0..40u64).map(|i| {
            let gauge = gauge.clone();
            async move {
                gauge.enter();
                sleep(100 * US * ((i * 7) % 5) as u32).await;
                gauge.exit();
                i
            }
        });
        assert_eq!(gather(4, jobs).await, (0..40).collect::<Vec<_>>());
        assert!(gauge.max.load(Ordering::SeqCst) <= 4);
        assert_eq!(
            gather(0, [std::future::ready(1), std::future::ready(2)]).await,
            [1, 2]
        );
        let none: Vec<std::future::Ready<u8>> = Vec::new();
        assert!(gather(3, none).await.is_empty());
    });
}

#[test]
fn gather_takes_futures_lazily() {
    futures_lite::future::block_on(async {
        let created = Arc::new(AtomicUsize::new(0));
        let counter = created.clone();
        let jobs = (0..100).map(move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { i }
        });
        let mut g = Manual::new(gather(5, jobs));
        // One poll runs everything here, but never more than 5 exist at once.
        let out = g.ready();
        assert_eq!(out.len(), 100);
        assert_eq!(created.load(Ordering::SeqCst), 100);
    });
    // A pending one: only `limit` are created.
    let created = Arc::new(AtomicUsize::new(0));
    let counter = created.clone();
    let jobs = (0..100).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>()
    });
    let mut g = Manual::new(gather(5, jobs));
    assert!(g.poll().is_pending());
    assert_eq!(created.load(Ordering::SeqCst), 5);
}

/// Counts drops, to see that cancelled futures are dropped.
struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn try_gather_stops_at_the_first_error() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let dropped = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let jobs = (0..100u64).map(|i| {
            let guard = DropCount(dropped.clone());
            let started = started.clone();
            async move {
                let _guard = guard;
                started.fetch_add(1, Ordering::SeqCst);
                if i == 5 {
                    return Err(format!("job {i}"));
                }
                sleep(if i < 5 { MS } else { Duration::from_secs(10) }).await;
                Ok(i)
            }
        });
        let err = try_gather(3, jobs).await.unwrap_err();
        assert_eq!(err, "job 5");
        // Jobs 0-2 end at 1 ms; job 5, started then, fails at once.
        assert_eq!(now(), t0 + MS);
        let started = started.load(Ordering::SeqCst);
        assert!(started < 100, "stopped taking new jobs ({started} started)");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            started,
            "running ones dropped"
        );
        let ok = try_gather(2, (0..5).map(|i| async move { Ok::<_, ()>(i) })).await;
        assert_eq!(ok, Ok(vec![0, 1, 2, 3, 4]));
    });
}

#[test]
fn gathers_polled_after_completion_stay_pending() {
    let mut g = Manual::new(try_gather(
        1,
        (0..3).map(|i| async move { if i == 0 { Err(i) } else { Ok(i) } }),
    ));
    assert_eq!(g.ready(), Err(0));
    assert!(g.poll().is_pending());
    let mut g = Manual::new(gather(2, [std::future::ready(1)]));
    assert_eq!(g.ready(), [1]);
    assert!(g.poll().is_pending());
    let limiter = Limiter::new(1);
    let mut a = Manual::new(limiter.acquire());
    let p = a.ready().unwrap();
    assert!(a.poll().is_pending());
    drop(p);
    // `run`: an `async` block polled again would panic; the `Run` does not.
    let mut r = Manual::new(limiter.run(async { 1 }));
    assert_eq!(r.ready().unwrap(), 1);
    assert!(r.poll().is_pending());
    // Nor does it run its future after its acquire failed.
    limiter.close();
    let mut r = Manual::new(limiter.run(async { unreachable!("ran without a permit") }));
    assert!(r.ready().unwrap_err().is_closed());
    assert!(r.poll().is_pending());
}

#[test]
fn dropping_gather_drops_the_running_futures() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..10)
        .map(|_| {
            let guard = DropCount(dropped.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }
        })
        .collect();
    let mut g = Manual::new(gather(3, jobs));
    assert!(g.poll().is_pending());
    drop(g);
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
}

#[test]
fn map_limited_keeps_order_and_bound() {
    runtimes::virtual_time(|_| async {
        let gauge = Arc::new(Gauge::default());
        let g = gauge.clone();
        let out: Vec<u64> = stream::iter(0..30u64)
            .map_limited(3, move |i| {
                let gauge = g.clone();
                async move {
                    gauge.enter();
                    sleep(100 * US * ((i * 3) % 4) as u32).await;
                    gauge.exit();
                    i * 2
                }
            })
            .collect()
            .await;
        assert_eq!(out, (0..30).map(|i| i * 2).collect::<Vec<_>>());
        assert!(gauge.max.load(Ordering::SeqCst) <= 3);
        let empty: Vec<u8> = stream::empty::<u8>()
            .map_limited(0, |x| async move { x })
            .collect()
            .await;
        assert!(empty.is_empty());
    });
}

#[test]
fn map_limited_with_a_slow_source() {
    runtimes::virtual_time(|_| async {
        let t0 = now();
        let source = stream::iter(0..5u32).then(|i| async move {
            sleep(MS).await;
            i
        });
        let out: Vec<u32> = source
            .map_limited(2, |i| async move { i + 1 })
            .collect()
            .await;
        assert_eq!(out, [1, 2, 3, 4, 5]);
        assert_eq!(now(), t0 + 5 * MS, "one item per ms of the source");
    });
}

// ---- stress ----

#[test]
fn stress_many_tasks_on_two_threads() {
    stress(200, 40);
}

/// A longer run of the same: `cargo test --test limit -- --ignored`.
#[test]
#[ignore]
fn soak_many_tasks_on_two_threads() {
    for _ in 0..20 {
        stress(2000, 200);
    }
}

fn stress(tasks: u64, rounds: u64) {
    let ex = Arc::new(async_executor::Executor::new());
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stop_rx) = (ex.clone(), stop_rx.clone());
            std::thread::spawn(move || futures_lite::future::block_on(ex.run(stop_rx.recv())))
        })
        .collect();
    let limiter = Limiter::builder().limit(4).max_waiting(150).build();
    let gauge = Arc::new(Gauge::default());
    let tasks: Vec<_> = (0..tasks)
        .map(|t| {
            let (limiter, gauge) = (limiter.clone(), gauge.clone());
            ex.spawn(async move {
                let mut got = 0;
                for i in 0..rounds {
                    let weight = 1 + ((t + i) % 3) as usize;
                    let r = if i % 4 == 0 {
                        limiter
                            .acquire_many_timeout(weight, Duration::from_micros(200))
                            .await
                    } else {
                        limiter.acquire_many(weight).await
                    };
                    if let Ok(p) = r {
                        for _ in 0..p.weight() {
                            gauge.enter();
                        }
                        futures_lite::future::yield_now().await;
                        for _ in 0..p.weight() {
                            gauge.exit();
                        }
                        got += 1;
                    }
                }
                got
            })
        })
        .collect();
    let total: u64 = futures_lite::future::block_on(async {
        let mut total = 0;
        for t in tasks {
            total += t.await;
        }
        total
    });
    drop(stop_tx);
    for t in threads {
        let _ = t.join().unwrap();
    }
    assert!(gauge.max.load(Ordering::SeqCst) <= 4);
    let s = limiter.stats();
    assert_eq!((s.in_use, s.waiting), (0, 0));
    assert_eq!(s.acquired, total);
    assert!(total > 0);
}

// ---- property: permits are conserved ----

mod conservation {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Acquire(usize),
        Release(usize),
        DropWaiter(usize),
        Close,
        SetLimit(usize),
        Add(usize),
        ForgetPermits(usize),
        Forget(usize),
        Split(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..5).prop_map(Op::Acquire),
            3 => any::<usize>().prop_map(Op::Release),
            2 => any::<usize>().prop_map(Op::DropWaiter),
            1 => Just(Op::Close),
            1 => (0usize..7).prop_map(Op::SetLimit),
            1 => Just(Op::SetLimit(0)),
            2 => (0usize..4).prop_map(Op::Add),
            2 => (0usize..4).prop_map(Op::ForgetPermits),
            1 => any::<usize>().prop_map(Op::Forget),
            1 => (any::<usize>(), 0usize..4).prop_map(|(i, k)| Op::Split(i, k)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn permits_are_conserved(limit in 0usize..6, ops in proptest::collection::vec(op(), 1..60)) {
            let limiter = Limiter::new(limit);
            let mut held: Vec<Permit> = Vec::new();
            let mut pending: Vec<(usize, Manual<Acquire>)> = Vec::new();
            for op in ops {
                let mut granted = false;
                match op {
                    Op::Acquire(w) => {
                        let mut m = Manual::new(limiter.acquire_many(w));
                        match m.poll() {
                            Poll::Ready(Ok(p)) => { granted |= p.weight() > 0; held.push(p); }
                            Poll::Ready(Err(_)) => {}
                            Poll::Pending => pending.push((w, m)),
                        }
                    }
                    Op::Release(i) if !held.is_empty() => drop(held.remove(i % held.len())),
                    Op::DropWaiter(i) if !pending.is_empty() => { pending.remove(i % pending.len()); }
                    Op::Close => { limiter.close(); }
                    Op::SetLimit(n) => limiter.set_limit(n),
                    Op::Add(n) => {
                        let before = limiter.stats().limit;
                        limiter.add_permits(n);
                        prop_assert_eq!(limiter.stats().limit, before + n);
                    }
                    Op::ForgetPermits(n) => {
                        let before = limiter.stats().limit;
                        let removed = limiter.forget_permits(n);
                        prop_assert_eq!(removed, n.min(before));
                        prop_assert_eq!(limiter.stats().limit, before - removed);
                    }
                    Op::Forget(i) if !held.is_empty() => held.remove(i % held.len()).forget(),
                    Op::Split(i, k) if !held.is_empty() => {
                        let n = held.len();
                        if let Some(part) = held[i % n].split(k) { held.push(part); }
                    }
                    _ => {}
                }
                // Only woken waiters are polled: a lost wake-up shows up as
                // a granted-but-uncollected permit or a stuck head below.
                let mut still = Vec::new();
                for (w, mut m) in pending.drain(..) {
                    if !m.woken() { still.push((w, m)); continue; }
                    match m.poll() {
                        Poll::Ready(Ok(p)) => { granted |= p.weight() > 0; held.push(p); }
                        Poll::Ready(Err(_)) => {}
                        Poll::Pending => still.push((w, m)),
                    }
                }
                pending = still;
                let s = limiter.stats();
                let held_sum: usize = held.iter().map(Permit::weight).sum();
                prop_assert_eq!(s.in_use, held_sum, "permits lost or leaked");
                prop_assert_eq!(s.waiting, pending.len());
                if granted {
                    prop_assert!(s.in_use <= s.limit, "more in use than the limit");
                }
                if s.closed {
                    prop_assert!(pending.is_empty());
                }
                // Free permits are either for newcomers or reserved for the
                // queue, never both, and never more than the limit allows.
                let free = s.limit.saturating_sub(s.in_use);
                prop_assert_eq!(limiter.available() + s.reserved, if s.closed { s.reserved } else { free });
                if let Some((w, _)) = pending.first() {
                    prop_assert_eq!(limiter.available(), 0, "a newcomer could barge");
                    prop_assert_eq!(s.reserved, free);
                    prop_assert!(*w > free, "the head fits but waits");
                } else {
                    prop_assert_eq!(s.reserved, 0);
                }
            }
            drop(pending);
            drop(held);
            let s = limiter.stats();
            prop_assert_eq!((s.in_use, s.waiting), (0, 0));
        }
    }
}
