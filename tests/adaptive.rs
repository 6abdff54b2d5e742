//! The adaptive limit (`limit::adaptive`): each policy converges on a
//! synthetic service whose latency grows with concurrency beyond its
//! capacity, follows a capacity change, stays in its bounds, backs off on
//! losses; and the adaptive limiter keeps everything the fixed one has
//! (FIFO, weights, shedding, close, timeouts, cancellation at every poll,
//! permit conservation). Timing runs on the virtual clock.

mod runtimes;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use async_guard::limit::adaptive::{AdaptiveLimiter, Aimd, Gradient, Policy};
use async_guard::limit::gather;
use async_guard::time::{TestClock, now, sleep};
use futures_lite::future;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const BOUND: Duration = Duration::from_secs(5);

// ------------------------------------------------- the synthetic service --

/// A service with `capacity` parallel slots and a `base` latency: a call
/// that starts while `n` calls are in it takes `base * max(1, n / capacity)`
/// (processor sharing, roughly). `capacity` can change while it runs.
struct Service {
    base: Duration,
    capacity: AtomicUsize,
    busy: AtomicUsize,
}

impl Service {
    fn new(base: Duration, capacity: usize) -> Arc<Service> {
        Arc::new(Service {
            base,
            capacity: AtomicUsize::new(capacity),
            busy: AtomicUsize::new(0),
        })
    }

    async fn call(&self) {
        let n = self.busy.fetch_add(1, SeqCst) + 1;
        let cap = self.capacity.load(SeqCst).max(1);
        let factor = (n as f64 / cap as f64).max(1.0);
        sleep(self.base.mul_f64(factor)).await;
        self.busy.fetch_sub(1, SeqCst);
    }
}

/// What a run saw: the limit sampled every 100 ms of virtual time.
struct Run {
    limits: Vec<(Duration, usize)>,
    served: usize,
}

impl Run {
    /// The median limit over `[from, to)` seconds (Gradient's probes dip
    /// to the floor for a moment every few seconds).
    fn mean(&self, from: f64, to: f64) -> f64 {
        let mut xs: Vec<usize> = self
            .limits
            .iter()
            .filter(|(t, _)| t.as_secs_f64() >= from && t.as_secs_f64() < to)
            .map(|&(_, l)| l)
            .collect();
        assert!(!xs.is_empty());
        xs.sort();
        xs[xs.len() / 2] as f64
    }

    fn range(&self, from: f64, to: f64) -> (usize, usize) {
        let xs = self
            .limits
            .iter()
            .filter(|(t, _)| t.as_secs_f64() >= from && t.as_secs_f64() < to)
            .map(|&(_, l)| l);
        (xs.clone().min().unwrap(), xs.max().unwrap())
    }
}

/// `clients` closed-loop clients call `service` through `limiter` for
/// `secs` virtual seconds; at `shift` (if any) the capacity changes to
/// `shift.1`.
async fn drive(
    limiter: AdaptiveLimiter,
    service: Arc<Service>,
    clients: usize,
    secs: u64,
    shift: Option<(u64, usize)>,
) -> Run {
    let t0 = now();
    let end = t0 + Duration::from_secs(secs);
    let served = Arc::new(AtomicUsize::new(0));
    let limits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks: Vec<future::Boxed<()>> = Vec::new();
    for _ in 0..clients {
        let (limiter, service, served) = (limiter.clone(), service.clone(), served.clone());
        tasks.push(Box::pin(async move {
            while now() < end {
                let permit = limiter.acquire().await.unwrap();
                service.call().await;
                drop(permit);
                served.fetch_add(1, SeqCst);
            }
        }));
    }
    {
        let (limiter, limits) = (limiter.clone(), limits.clone());
        tasks.push(Box::pin(async move {
            while now() < end {
                limits
                    .lock()
                    .unwrap()
                    .push((now() - t0, limiter.stats().limit));
                sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    if let Some((at, capacity)) = shift {
        let service = service.clone();
        tasks.push(Box::pin(async move {
            sleep(Duration::from_secs(at)).await;
            service.capacity.store(capacity, SeqCst);
        }));
    }
    gather(usize::MAX, tasks).await;
    let limits = std::mem::take(&mut *limits.lock().unwrap());
    Run {
        limits,
        served: served.load(SeqCst),
    }
}

/// Runs `body` on a fresh auto-advancing virtual clock, on a thread of its
/// own, failing (not hanging) if it takes more than a minute.
fn on_clock<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let clock = TestClock::new();
        clock.set_auto_advance(true);
        clock.block_on(body());
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the test body panicked or hung");
}

fn adaptive(policy: impl Into<Policy>, initial: usize) -> AdaptiveLimiter {
    AdaptiveLimiter::builder()
        .policy(policy)
        .initial_limit(initial)
        .min_limit(1)
        .max_limit(200)
        .build()
}

#[test]
fn gradient_converges_near_capacity_from_below_and_above() {
    runtimes::virtual_time(|_clock| async {
        for initial in [2, 100] {
            let service = Service::new(100 * MS, 8);
            let limiter = adaptive(Gradient::new(), initial);
            let run = drive(limiter.clone(), service, 64, 60, None).await;
            // Equilibrium about tolerance * capacity + queue = 16; it must
            // use the capacity and must not let the queue grow unbounded.
            let settled = run.mean(30.0, 60.0);
            assert!(
                (8.0..=22.0).contains(&settled),
                "initial {initial}: {settled}"
            );
            // Throughput: at least 90 % of the capacity's 80 calls/s.
            assert!(run.served as f64 >= 0.9 * 80.0 * 50.0, "{}", run.served);
            let s = limiter.stats();
            let recent = s.recent_rtt.unwrap();
            assert!(recent <= 300 * MS, "{s:?}");
            assert!(s.no_load_rtt.unwrap() <= 200 * MS, "{s:?}");
        }
    });
}

#[test]
fn gradient_tracks_a_capacity_change_both_ways() {
    runtimes::virtual_time(|_clock| async {
        let service = Service::new(50 * MS, 16);
        let run = drive(
            adaptive(Gradient::new(), 4),
            service,
            100,
            80,
            Some((40, 4)),
        )
        .await;
        let (before, after) = (run.mean(25.0, 40.0), run.mean(55.0, 80.0));
        assert!(before >= 16.0, "{before}");
        assert!(after <= 0.6 * before, "{before} -> {after}");
        // Within 10 s of the shift the limit is at most 2/3 of before.
        let late = run.mean(45.0, 50.0);
        assert!(late <= 0.67 * before, "{before} -> {late} 5-10 s after");

        let service = Service::new(50 * MS, 4);
        let run = drive(
            adaptive(Gradient::new(), 4),
            service,
            100,
            80,
            Some((40, 16)),
        )
        .await;
        let (before, after) = (run.mean(25.0, 40.0), run.mean(55.0, 80.0));
        assert!(after >= 1.6 * before, "{before} -> {after}");
    });
}

#[test]
fn aimd_converges_below_its_rtt_threshold_and_tracks_a_change() {
    runtimes::virtual_time(|_clock| async {
        // A loss is a call slower than 2x the base: more than 2 * capacity
        // in flight. AIMD saw-tooths below that.
        let service = Service::new(100 * MS, 8);
        let policy = Aimd::new().rtt_threshold(200 * MS);
        let run = drive(adaptive(policy, 2), service, 64, 80, Some((40, 4))).await;
        let (lo, hi) = run.range(20.0, 40.0);
        assert!(lo >= 6 && hi <= 20, "phase 1 limit in {lo}..={hi}");
        let (lo, hi) = run.range(50.0, 80.0);
        assert!(lo >= 2 && hi <= 10, "phase 2 limit in {lo}..={hi}");
    });
}

#[test]
fn bounds_are_respected_whatever_the_samples() {
    runtimes::virtual_time(|_clock| async {
        for policy in [Policy::from(Gradient::new()), Policy::from(Aimd::new())] {
            // A service far beyond the bounds either way.
            for capacity in [1, 1000] {
                let limiter = AdaptiveLimiter::builder()
                    .policy(policy)
                    .initial_limit(10)
                    .min_limit(5)
                    .max_limit(12)
                    .build();
                let service = Service::new(10 * MS, capacity);
                let run = drive(limiter.clone(), service, 50, 20, None).await;
                let (lo, hi) = run.range(0.0, 20.0);
                assert!(
                    lo >= 5 && hi <= 12,
                    "{policy:?} cap {capacity}: {lo}..={hi}"
                );
                assert!(run.limits.len() > 10);
            }
        }
        // Degenerate bounds.
        let l = AdaptiveLimiter::builder()
            .min_limit(0)
            .max_limit(0)
            .initial_limit(0)
            .build();
        let s = l.stats();
        assert_eq!((s.limit, s.min_limit, s.max_limit), (1, 1, 1));
    });
}

// ---------------------------------------------------------------- losses --

#[test]
fn failures_lower_the_aimd_limit_once_per_round() {
    on_clock(|| async {
        let l = adaptive(Aimd::new().backoff(0.5), 20);
        let held: Vec<_> = (0..20).map(|_| l.try_acquire().unwrap()).collect();
        sleep(10 * MS).await;
        for mut p in held {
            p.failed();
        }
        // One congestion event: 20 -> 10, not 20 * 0.5^20.
        let s = l.stats();
        assert_eq!((s.limit, s.failures, s.samples), (10, 20, 20), "{s:?}");
        // A permit granted after that decrease is a new event.
        let mut p = l.try_acquire().unwrap();
        sleep(10 * MS).await;
        p.failed();
        drop(p);
        assert_eq!(l.stats().limit, 5);
        // Successes with the limit in use grow it, about 1 per round.
        let held: Vec<_> = (0..5).map(|_| l.try_acquire().unwrap()).collect();
        sleep(10 * MS).await;
        drop(held);
        assert_eq!(l.stats().limit, 6, "{:?}", l.stats());
        // Successes on an idle limiter say nothing about its size.
        for _ in 0..20 {
            drop(l.try_acquire().unwrap());
        }
        assert_eq!(l.stats().limit, 6);
    });
}

#[test]
fn gradient_probes_then_grows_then_shrinks_on_latency_and_failures() {
    on_clock(|| async {
        let l = adaptive(Gradient::new(), 20);
        // The first sample starts a probe: the limit drops to the floor, the
        // other permits granted before it are not probe samples.
        let held: Vec<_> = (0..20).map(|_| l.try_acquire().unwrap()).collect();
        sleep(50 * MS).await;
        drop(held);
        assert_eq!(l.stats().limit, 1);
        assert_eq!(l.stats().no_load_rtt, None);
        // Five samples at the floor measure the no-load RTT; then back to 20.
        for _ in 0..5 {
            let p = l.try_acquire().unwrap();
            sleep(10 * MS).await;
            drop(p);
        }
        let s = l.stats();
        assert_eq!((s.limit, s.no_load_rtt), (20, Some(10 * MS)), "{s:?}");
        // Rounds at the no-load RTT with the limit in use: it grows.
        for _ in 0..10 {
            let held: Vec<_> = (0..l.stats().limit)
                .map(|_| l.try_acquire().unwrap())
                .collect();
            sleep(10 * MS).await;
            drop(held);
        }
        let grown = l.stats().estimated_limit;
        assert!(grown > 25.0, "{grown}");
        // Latency 5x: shrinks.
        for _ in 0..5 {
            let held: Vec<_> = (0..l.stats().limit)
                .map(|_| l.try_acquire().unwrap())
                .collect();
            sleep(50 * MS).await;
            drop(held);
        }
        let slow = l.stats().estimated_limit;
        // At most 10 % per round (smoothing 0.2 x gradient 0.5) plus the allowance.
        assert!(slow < 0.85 * grown, "{grown} -> {slow}");
        assert_eq!(l.stats().recent_rtt, Some(50 * MS));
        // A failed round shrinks too.
        let held: Vec<_> = (0..l.stats().limit)
            .map(|_| l.try_acquire().unwrap())
            .collect();
        sleep(10 * MS).await;
        for (i, mut p) in held.into_iter().enumerate() {
            if i == 0 {
                p.failed();
            }
            drop(p);
        }
        let after = l.stats();
        assert!(after.estimated_limit < slow, "{slow} -> {after:?}");
        assert_eq!(after.failures, 1);
    });
}

#[test]
fn panics_and_cancelled_runs_are_losses_ignored_permits_are_not_samples() {
    on_clock(|| async {
        let l = adaptive(Aimd::new(), 10);
        let p = l.try_acquire().unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = p;
            panic!("boom");
        }));
        assert!(caught.is_err());
        assert_eq!((l.stats().samples, l.stats().failures), (1, 1));
        assert_eq!(l.stats().limiter.in_use, 0);

        // A `run` dropped before its future finished.
        let mut run = Box::pin(l.run(std::future::pending::<()>()));
        assert!(future::poll_once(&mut run).await.is_none());
        drop(run);
        assert_eq!((l.stats().samples, l.stats().failures), (2, 2));
        // One that finishes is a success.
        l.run(sleep(MS)).await.unwrap();
        assert_eq!((l.stats().samples, l.stats().failures), (3, 2));

        let mut p = l.try_acquire().unwrap();
        p.ignore();
        drop(p);
        drop(l.try_acquire_many(0).unwrap());
        assert_eq!(l.stats().samples, 3);
        assert_eq!(l.stats().limiter.in_use, 0);
    });
}

// ----------------------------------------------------------- composition --

fn pinned(limit: usize) -> AdaptiveLimiter {
    AdaptiveLimiter::builder()
        .initial_limit(limit)
        .min_limit(limit)
        .max_limit(limit)
        .build()
}

#[test]
fn fifo_and_weights_as_the_fixed_limiter() {
    runtimes::all(|| async {
        let l = pinned(4);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = l.acquire_many(4).await.unwrap();
        let mut waiters = Vec::new();
        for (i, w) in [3usize, 1, 2].into_iter().enumerate() {
            let (l, order) = (l.clone(), order.clone());
            let mut fut: future::Boxed<()> = Box::pin(async move {
                let p = l.acquire_many(w).await.unwrap();
                assert_eq!(p.weight(), w);
                order.lock().unwrap().push(i);
                sleep(MS).await;
            });
            // Queue in order.
            assert!(future::poll_once(&mut fut).await.is_none());
            waiters.push(fut);
        }
        assert_eq!(l.stats().limiter.waiting, 3);
        // The 1-permit waiter does not barge past the 3-permit head.
        assert!(l.try_acquire().is_err());
        drop(held);
        gather(usize::MAX, waiters).await;
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(l.stats().limiter.in_use, 0);
        assert!(
            l.acquire_many(5)
                .await
                .unwrap_err()
                .to_string()
                .contains("more than the maximum")
        );
    });
}

#[test]
fn shedding_close_and_timeout_as_the_fixed_limiter() {
    runtimes::virtual_time(|_clock| async {
        let l = AdaptiveLimiter::builder()
            .initial_limit(1)
            .max_limit(1)
            .max_waiting(1)
            .build();
        let held = l.acquire().await.unwrap();
        let mut queued = Box::pin(l.acquire());
        assert!(future::poll_once(&mut queued).await.is_none());
        // The second waiter is shed at once.
        assert!(l.acquire().await.unwrap_err().is_overloaded());
        assert_eq!(l.stats().limiter.rejected, 1);
        // A timeout on the virtual clock.
        drop(queued);
        let t0 = now();
        let err = l.acquire_timeout(250 * MS).await.unwrap_err();
        assert!(err.is_elapsed());
        assert_eq!(now() - t0, 250 * MS);
        assert_eq!(l.stats().limiter.timed_out, 1);
        // Close wakes the queued waiter with Closed; the held permit still
        // returns, and is still sampled.
        let mut queued = Box::pin(l.acquire());
        assert!(future::poll_once(&mut queued).await.is_none());
        assert!(l.close());
        assert!(queued.await.unwrap_err().is_closed());
        assert!(l.try_acquire().unwrap_err().is_closed());
        let samples = l.stats().samples;
        drop(held);
        let s = l.stats();
        assert_eq!((s.limiter.in_use, s.samples), (0, samples + 1));
        assert!(l.is_closed());
    });
}

#[test]
fn a_shrinking_limit_revokes_nothing_and_applies_before_the_hand_off() {
    on_clock(|| async {
        let l = adaptive(Aimd::new().backoff(0.5), 4);
        let mut held: Vec<_> = (0..4).map(|_| l.try_acquire().unwrap()).collect();
        let mut waiter = Box::pin(l.acquire());
        assert!(future::poll_once(&mut waiter).await.is_none());
        sleep(MS).await;
        let mut first = held.pop().unwrap();
        first.failed();
        // 4 -> 2 before the permit is handed on: with 3 still held, the
        // waiter keeps waiting, and nothing held is revoked.
        drop(first);
        let s = l.stats();
        assert_eq!((s.limit, s.limiter.in_use), (2, 3), "{s:?}");
        assert!(future::poll_once(&mut waiter).await.is_none());
        drop(held);
        let p = waiter.await.unwrap();
        assert_eq!(p.weight(), 1);
        drop(p);
        assert_eq!(l.stats().limiter.in_use, 0);
    });
}

// -------------------------------------------------------------- sampling --

/// Takes and releases `n` permits at once, without yielding.
fn churn(l: &AdaptiveLimiter, n: usize) {
    for _ in 0..n {
        drop(l.try_acquire().unwrap());
    }
}

#[test]
fn a_high_rate_is_sampled_sparsely_and_a_low_rate_fully_again() {
    on_clock(|| async {
        let l = pinned(8);
        // 100 permits per 10 us of virtual time: 10 M/s, far above the
        // 20 k/s a 50 us sample interval samples fully.
        for _ in 0..3000 {
            churn(&l, 100);
            sleep(Duration::from_micros(10)).await;
        }
        let s = l.stats();
        assert!(s.sample_one_in > 1, "{s:?}");
        assert_eq!(s.sample_one_in, 256, "10 M/s * 50 us, capped: {s:?}");
        // Every permit of the first 10 ms window, 1 in 256 after it.
        assert!(s.samples < s.limiter.acquired / 2, "{s:?}");
        // 1 permit per ms: every permit again, within a few hundred.
        for _ in 0..600 {
            churn(&l, 1);
            sleep(MS).await;
        }
        let s = l.stats();
        assert_eq!(s.sample_one_in, 1, "{s:?}");
        let before = s.samples;
        churn(&l, 10);
        assert_eq!(l.stats().samples, before + 10);
    });
}

#[test]
fn a_zero_sample_interval_samples_every_permit() {
    let l = AdaptiveLimiter::builder()
        .initial_limit(8)
        .min_limit(8)
        .max_limit(8)
        .sample_interval(Duration::ZERO)
        .build();
    // On the real clock, as fast as this thread goes, for 30 ms at least.
    let t0 = std::time::Instant::now();
    let mut n = 0;
    while t0.elapsed() < 30 * MS {
        churn(&l, 100);
        n += 100;
    }
    let s = l.stats();
    assert_eq!(s.sample_one_in, 1, "{s:?}");
    assert_eq!(s.samples + s.skipped, n, "{s:?}");
}

#[test]
fn real_clock_bursts_are_thinned_out() {
    let l = pinned(8);
    // Any machine takes and releases far more than 20 k permits a second
    // on one thread (a few hundred ns each, unoptimised): the stride rises
    // after the first 10 ms window in which the thread ran.
    let t0 = std::time::Instant::now();
    while l.stats().sample_one_in == 1 && t0.elapsed() < BOUND {
        churn(&l, 100);
    }
    let before = l.stats();
    assert!(before.sample_one_in > 1, "{before:?}");
    churn(&l, 100_000);
    let after = l.stats();
    // Under 1 in 2 even if a preemption slows a window down for a while.
    assert!(after.samples - before.samples < 50_000, "{after:?}");
}

#[test]
fn a_mark_on_an_unsampled_permit_is_kept_but_feeds_nothing() {
    let l = pinned(4);
    // An empty permit is never sampled.
    let mut p = l.try_acquire_many(0).unwrap();
    assert!(!p.is_sampled() && !p.is_failed());
    p.failed();
    assert!(p.is_failed() && !p.is_sampled());
    p.succeeded();
    assert!(!p.is_failed());
    p.failed();
    drop(p);
    assert_eq!((l.stats().samples, l.stats().failures), (0, 0));
    // A sampled one, ignored, then failed: no sample either.
    let mut p = l.try_acquire().unwrap();
    assert!(p.is_sampled() && p.granted_at().is_some());
    p.ignore();
    p.failed();
    assert!(p.is_failed() && !p.is_sampled() && p.granted_at().is_none());
    drop(p);
    assert_eq!(l.stats().samples, 0);
    assert_eq!(l.available(), 4);
}

#[test]
fn weights_above_max_limit_fail_at_once_on_every_path() {
    runtimes::all(|| async {
        let l = AdaptiveLimiter::builder()
            .initial_limit(2)
            .max_limit(3)
            .build();
        let too_many = |e: async_guard::limit::AcquireError| {
            matches!(
                e,
                async_guard::limit::AcquireError::TooMany {
                    requested: 4,
                    limit: 3
                }
            )
        };
        assert!(too_many(l.acquire_many(4).await.unwrap_err()));
        assert!(too_many(l.try_acquire_many(4).unwrap_err()));
        assert!(too_many(
            l.acquire_many_timeout(4, BOUND).await.unwrap_err()
        ));
        // 3 <= max_limit waits for the limit to grow (here: times out).
        let held = l.acquire().await.unwrap();
        let mut wait = Box::pin(l.acquire_many(3));
        assert!(future::poll_once(&mut wait).await.is_none());
        drop(wait);
        drop(held);
        assert_eq!(l.stats().limiter.in_use, 0);
    });
}

#[test]
fn futures_polled_after_completion_stay_pending() {
    runtimes::all(|| async {
        let l = pinned(1);
        let mut run = Box::pin(l.run(async { 7 }));
        assert_eq!((&mut run).await.unwrap(), 7);
        assert!(future::poll_once(&mut run).await.is_none());
        let mut acquire = Box::pin(l.acquire());
        drop((&mut acquire).await.unwrap());
        assert!(future::poll_once(&mut acquire).await.is_none());
        let mut timed = Box::pin(l.acquire_timeout(BOUND));
        drop((&mut timed).await.unwrap());
        assert!(future::poll_once(&mut timed).await.is_none());
        // A run whose acquire failed does not run its future afterwards.
        l.close();
        let mut failed = Box::pin(l.run(async { unreachable!("ran without a permit") }));
        assert!((&mut failed).await.unwrap_err().is_closed());
        assert!(future::poll_once(&mut failed).await.is_none());
        assert_eq!(l.available(), 0);
    });
}

// ---------------------------------------------------------- cancellation --

mod torture {
    use super::*;
    use std::thread::JoinHandle;
    use support::{Outcome, Torture};

    struct Contended {
        limiter: AdaptiveLimiter,
        holder: Option<JoinHandle<()>>,
        behind: Option<JoinHandle<bool>>,
    }

    /// As in `tests/torture.rs`: all permits held for `hold` by a thread,
    /// and a second waiter queued behind the future under test.
    fn contended(policy: Policy, hold: Duration) -> Contended {
        let limiter = AdaptiveLimiter::builder()
            .policy(policy)
            .initial_limit(2)
            .min_limit(2)
            .max_limit(2)
            .build();
        let held = limiter.try_acquire_many(2).unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(hold);
            drop(held);
        });
        let l = limiter.clone();
        let behind = std::thread::spawn(move || {
            std::thread::sleep(MS);
            future::block_on(l.acquire_timeout(BOUND)).is_ok()
        });
        Contended {
            limiter,
            holder: Some(holder),
            behind: Some(behind),
        }
    }

    fn settle(c: &mut Contended) {
        c.holder.take().unwrap().join().unwrap();
        assert!(
            c.behind.take().unwrap().join().unwrap(),
            "a permit was lost"
        );
        let s = c.limiter.stats();
        assert_eq!((s.limiter.in_use, s.limiter.waiting), (0, 0), "{s:?}");
        drop(c.limiter.try_acquire_many(2).expect("permits leaked"));
    }

    #[test]
    fn acquire_many() {
        for policy in [Policy::from(Gradient::new()), Policy::from(Aimd::new())] {
            let report = Torture::new("adaptive::AdaptiveAcquire").run(
                || {
                    let c = contended(policy, 3 * MS);
                    let fut = c.limiter.acquire_many(2);
                    (c, fut)
                },
                |c, outcome| {
                    if let Outcome::Completed(_, out) = outcome {
                        assert_eq!(out.unwrap().weight(), 2);
                    }
                    settle(c);
                },
            );
            assert!(report.dropped_pending >= 1, "{report:?}");
        }
    }

    #[test]
    fn acquire_timeout() {
        let report = Torture::new("adaptive::acquire_timeout").run(
            || {
                let c = contended(Gradient::new().into(), 3 * MS);
                let fut = c.limiter.acquire_timeout(BOUND);
                (c, fut)
            },
            |c, outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    assert_eq!(out.unwrap().weight(), 1);
                }
                settle(c);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    #[test]
    fn run() {
        let report = Torture::new("adaptive::run").run(
            || {
                let c = contended(Aimd::new().into(), 3 * MS);
                let fut = c.limiter.run(async_io::Timer::after(2 * MS));
                (c, fut)
            },
            |c, outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    assert!(out.is_ok());
                }
                settle(c);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }
}

// ----------------------------------------------------------- properties --

#[derive(Debug, Clone)]
enum Op {
    Acquire(usize),
    Release(usize, u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..4).prop_map(Op::Acquire),
        (any::<usize>(), 0u8..3).prop_map(|(i, m)| Op::Release(i, m)),
        (0u16..500).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the samples: permits held by callers are exactly the
    /// limiter's `in_use`, the limit stays in its bounds, and once all are
    /// released everything is free again.
    #[test]
    fn permits_are_conserved(
        aimd in any::<bool>(),
        min in 1usize..4,
        extra in 0usize..20,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let clock = TestClock::new();
        let max = min + extra;
        let policy = if aimd { Policy::from(Aimd::new().rtt_threshold(100 * MS)) } else { Policy::from(Gradient::new()) };
        let l = AdaptiveLimiter::builder().policy(policy).min_limit(min).max_limit(max).initial_limit(min).build();
        let mut held = Vec::new();
        for op in ops {
            match op {
                Op::Acquire(w) => {
                    if let Ok(p) = clock.block_on(async { l.try_acquire_many(w) }) {
                        held.push(p);
                    }
                }
                Op::Release(i, mark) if !held.is_empty() => {
                    let mut p = held.swap_remove(i % held.len());
                    match mark {
                        0 => p.failed(),
                        1 => p.ignore(),
                        _ => {}
                    }
                    clock.block_on(async move { drop(p) });
                }
                Op::Release(..) => {}
                Op::Advance(ms) => clock.advance(u32::from(ms) * MS),
            }
            let s = l.stats();
            let sum: usize = held.iter().map(|p| p.weight()).sum();
            prop_assert_eq!(s.limiter.in_use, sum);
            prop_assert!(s.limit >= min && s.limit <= max, "{:?}", s);
            prop_assert!(s.estimated_limit >= min as f64 && s.estimated_limit <= max as f64);
        }
        held.clear();
        let s = l.stats();
        prop_assert_eq!(s.limiter.in_use, 0);
        prop_assert_eq!(l.available(), s.limit);
    }
}
