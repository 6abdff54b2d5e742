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
fn a_lower_limit_lowers_the_stride_at_once() {
    on_clock(|| async {
        let l = adaptive(Aimd::new().backoff(0.5), 200);
        for _ in 0..3000 {
            churn(&l, 100);
            sleep(Duration::from_micros(10)).await;
        }
        assert_eq!(l.stats().sample_one_in, 256, "{:?}", l.stats());
        // A loss halves the limit (200 -> 100): the permit rate drops with
        // it, and so does the stride, before any new window.
        let mut lost = loop {
            let p = l.try_acquire().unwrap();
            if p.is_sampled() {
                break p;
            }
        };
        lost.failed();
        drop(lost);
        let s = l.stats();
        assert_eq!((s.limit, s.sample_one_in), (100, 128), "{s:?}");
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

// ------------------------------------------------ adversarial review --
//
// Tests written by a review of the sampling and lock plumbing: each bit a
// bug (named in its doc) or pins down a promise that is easy to break.

mod review {
    use super::*;
    use async_guard::limit::adaptive::AdaptivePermit;
    use async_guard::limit::{AcquireError, Limiter};
    use std::sync::Mutex;
    use std::task::{Context, Poll, Wake, Waker};

    /// Runs `f` on a thread of its own and fails (instead of hanging) if it
    /// does not finish within a minute: a deadlock is a failure.
    fn watchdog(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the test body panicked or deadlocked");
    }

    /// A limiter whose every permit is sampled and whose limit moves on
    /// every loss (AIMD), so that releases apply new limits.
    fn moving(initial: usize, max: usize) -> AdaptiveLimiter {
        AdaptiveLimiter::builder()
            .policy(Aimd::new())
            .initial_limit(initial)
            .min_limit(1)
            .max_limit(max)
            .sample_interval(Duration::ZERO)
            .build()
    }

    /// The applied limit is the policy's, rounded, and every permit is home.
    fn assert_quiet(l: &AdaptiveLimiter) {
        let s = l.stats();
        assert_eq!((s.limiter.in_use, s.limiter.waiting), (0, 0), "{s:?}");
        assert_eq!(s.limit, s.estimated_limit.round() as usize, "{s:?}");
        if !s.limiter.closed {
            assert_eq!(l.available(), s.limit, "{s:?}");
        }
    }

    /// Bug: every thread's sampling draws started from the same point of
    /// the same sequence (0, then multiples of the golden ratio), so a
    /// thread's first draw was always 0.618: once the stride was above 1, a
    /// permit taken by a thread that takes few permits (a thread per
    /// request, a short-lived blocking thread) was never sampled, the
    /// stride (revised only by samples) stayed up, and the policy went
    /// blind for good. Before the fix: 0 samples out of 3000 permits.
    #[test]
    fn threads_taking_one_permit_each_are_still_sampled_after_a_burst() {
        watchdog(|| {
            let l = pinned(8);
            let t0 = std::time::Instant::now();
            while l.stats().sample_one_in == 1 {
                assert!(t0.elapsed() < 30 * BOUND, "the stride never rose");
                churn(&l, 100);
            }
            let before = l.stats();
            for _ in 0..3000 {
                let l = l.clone();
                std::thread::spawn(move || drop(l.try_acquire().unwrap()))
                    .join()
                    .unwrap();
            }
            let after = l.stats();
            assert!(
                after.samples + after.skipped > before.samples + before.skipped,
                "3000 permits from fresh threads, none sampled: {before:?} -> {after:?}"
            );
        });
    }

    /// Bug: a queued request heavier than the *current* limit (but within
    /// `max_limit`) blocked the queue (FIFO) until the limit grew; the limit
    /// only moves on samples, and once the permits in use drained none came:
    /// the limiter stalled for good. With the default Gradient, the first
    /// sample starts a probe at `min_limit` (1), so any `acquire_many(2)`
    /// queued then froze every caller. Before the fix: the heavy acquire
    /// timed out after 60 s of (virtual) idle time.
    #[test]
    fn a_head_heavier_than_a_shrunk_limit_does_not_stall_the_limiter() {
        on_clock(|| async {
            let l = AdaptiveLimiter::builder()
                .policy(Gradient::new())
                .initial_limit(4)
                .min_limit(1)
                .max_limit(100)
                .build();
            let a = l.try_acquire().unwrap();
            let b = l.try_acquire().unwrap();
            sleep(MS).await;
            drop(a); // the first sample starts a probe at min_limit
            assert_eq!(l.stats().limit, 1);
            let mut heavy = Box::pin(l.acquire_many_timeout(2, 60 * BOUND));
            assert!(future::poll_once(&mut heavy).await.is_none());
            let mut light = Box::pin(l.acquire_timeout(60 * BOUND));
            assert!(future::poll_once(&mut light).await.is_none());
            sleep(MS).await;
            drop(b); // granted before the probe: no change; nothing in use now
            let heavy = heavy.await.expect("the heavy head stalled the limiter");
            assert_eq!(heavy.weight(), 2);
            assert!(future::poll_once(&mut light).await.is_none(), "runs alone");
            sleep(MS).await;
            drop(heavy);
            drop(
                light
                    .await
                    .expect("the waiter behind the heavy head stalled"),
            );
            let s = l.stats();
            assert_eq!((s.limiter.in_use, s.limiter.waiting), (0, 0), "{s:?}");
            assert_eq!(l.available(), s.limit, "{s:?}");
        });
    }

    /// The same with AIMD: losses shrink the limit under a queued heavy
    /// head; it is served once nothing else is in use, then the rest.
    #[test]
    fn a_head_heavier_than_the_limit_runs_alone_once_the_limiter_is_idle() {
        watchdog(|| {
            runtimes::all(heavy_head_runs_alone);
        });
    }

    async fn heavy_head_runs_alone() {
        {
            let l = moving(4, 8);
            let mut held: Vec<_> = (0..4).map(|_| l.try_acquire().unwrap()).collect();
            let mut heavy = Box::pin(l.acquire_many(4));
            assert!(future::poll_once(&mut heavy).await.is_none());
            let mut light = Box::pin(l.acquire());
            assert!(future::poll_once(&mut light).await.is_none());
            for p in &mut held {
                p.failed();
            }
            held.clear();
            assert!(l.stats().limit < 4, "{:?}", l.stats());
            let heavy = heavy.await.unwrap();
            assert_eq!(l.stats().limiter.in_use, 4);
            assert!(future::poll_once(&mut light).await.is_none());
            drop(heavy);
            drop(light.await.unwrap());
            assert_quiet(&l);
        }
    }

    /// Bug: `max_limit` above `Limiter::MAX_PERMITS` was kept as is, so a
    /// weight between the two passed the "can never be granted" check and
    /// waited forever (`try_acquire_many` said `NoneFree`), and the policy's
    /// target (`usize::MAX`) differed for good from the applied limit.
    #[test]
    fn bounds_above_max_permits_are_clamped_to_it() {
        runtimes::all(|| async {
            let l = AdaptiveLimiter::builder()
                .initial_limit(usize::MAX)
                .max_limit(usize::MAX)
                .build();
            let s = l.stats();
            assert_eq!(s.max_limit, Limiter::MAX_PERMITS, "{s:?}");
            assert_eq!(s.limit, Limiter::MAX_PERMITS, "{s:?}");
            assert_eq!(s.estimated_limit, Limiter::MAX_PERMITS as f64, "{s:?}");
            let w = Limiter::MAX_PERMITS + 1;
            let too_many = |e: AcquireError| matches!(e, AcquireError::TooMany { requested, .. } if requested == w);
            assert!(too_many(l.try_acquire_many(w).unwrap_err()));
            let first = future::poll_once(l.acquire_many(w)).await;
            assert!(too_many(first.expect("waits for ever").unwrap_err()));
            drop(l.acquire_many(3).await.unwrap());
        });
    }

    /// A waker whose wake or drop releases a (sampled, failed) permit of
    /// the same limiter: the release feeds the policy and applies a new
    /// limit, re-entering both locks. Nothing may hold a lock then: every
    /// path that wakes or drops a waiter's waker is taken (a grant, a
    /// replaced waker, a dropped waiter, close). A deadlock fails the
    /// watchdog; `std`'s mutex would panic or hang on re-entry.
    #[test]
    fn wakers_that_release_permits_of_the_same_limiter_reenter_no_lock() {
        struct Dropper(Mutex<Option<AdaptivePermit>>);
        impl Wake for Dropper {
            fn wake(self: Arc<Self>) {
                let p = self.0.lock().unwrap().take();
                drop(p);
            }
        }
        fn holding(p: AdaptivePermit) -> Waker {
            Waker::from(Arc::new(Dropper(Mutex::new(Some(p)))))
        }
        fn poll(
            f: &mut AdaptiveAcquireFut,
            w: &Waker,
        ) -> Poll<Result<AdaptivePermit, AcquireError>> {
            Pin::new(f).poll(&mut Context::from_waker(w))
        }
        type AdaptiveAcquireFut = async_guard::limit::adaptive::AdaptiveAcquire;
        use std::future::Future;
        use std::pin::Pin;

        watchdog(|| {
            let l = moving(6, 6);
            let mut held: Vec<_> = (0..6).map(|_| l.try_acquire().unwrap()).collect();
            for p in &mut held[1..] {
                p.failed();
            }
            let mut spare = held.split_off(1);
            let first = held.pop().unwrap();
            // A queued waiter whose waker holds a failed permit.
            let mut w1 = l.acquire();
            assert!(poll(&mut w1, &holding(spare.pop().unwrap())).is_pending());
            // Replaced waker: the old one is dropped (its permit released,
            // a loss, a new limit applied) after the poll unlocked.
            assert!(poll(&mut w1, &holding(spare.pop().unwrap())).is_pending());
            // A dropped waiter: its waker is dropped after the unlock.
            let mut w2 = l.acquire_many(2);
            if poll(&mut w2, &holding(spare.pop().unwrap())).is_pending() {
                drop(w2);
            }
            // A grant: the success frees a permit, the waker is woken.
            drop(first);
            if let Poll::Ready(Ok(p)) = poll(&mut w1, &holding(spare.pop().unwrap())) {
                drop(p);
            }
            // Close: a queued waiter's waker is woken.
            let blockers: Vec<_> = std::iter::from_fn(|| l.try_acquire().ok()).collect();
            let mut w3 = l.acquire();
            assert!(poll(&mut w3, &holding(spare.pop().unwrap())).is_pending());
            assert!(l.close());
            drop(blockers);
            drop((w1, w3));
            assert!(spare.is_empty());
            let s = l.stats();
            assert!(s.failures >= 4, "{s:?}");
            assert_quiet(&l);
        });
    }

    /// Two releases applying limits race (`apply` after the policy's lock
    /// is gone): once all is quiet, the applied limit is the policy's last
    /// one, whatever the interleaving. 4 threads, losses every few permits.
    #[test]
    fn racing_releases_leave_the_policys_limit_applied() {
        watchdog(|| {
            for round in 0..20 {
                let l = moving(8, 64);
                let threads: Vec<_> = (0..4)
                    .map(|t| {
                        let l = l.clone();
                        std::thread::spawn(move || {
                            for i in 0..2000usize {
                                let mut p = future::block_on(l.acquire()).unwrap();
                                if (i + t) % 5 == 0 {
                                    p.failed();
                                }
                                if i % 64 == 0 {
                                    std::thread::yield_now();
                                }
                            }
                        })
                    })
                    .collect();
                threads.into_iter().for_each(|t| t.join().unwrap());
                let s = l.stats();
                assert!(s.failures > 0, "round {round}: {s:?}");
                assert_quiet(&l);
            }
        });
    }

    /// After `close`, held sampled permits still come back and feed the
    /// policy; the counters add up.
    #[test]
    fn sampled_permits_released_after_close_are_counted() {
        runtimes::all(|| async {
            let l = moving(3, 8);
            let mut held: Vec<_> = (0..3).map(|_| l.try_acquire().unwrap()).collect();
            let mut waiter = Box::pin(l.acquire());
            assert!(future::poll_once(&mut waiter).await.is_none());
            assert!(l.close());
            assert!(waiter.await.unwrap_err().is_closed());
            held[0].failed();
            held[1].ignore();
            held.clear();
            let s = l.stats();
            assert_eq!((s.samples, s.failures), (2, 1), "{s:?}");
            assert!(s.limiter.closed && l.available() == 0, "{s:?}");
            assert_quiet(&l);
        });
    }

    /// A sample interval of `Duration::MAX` samples one permit in 256 once
    /// a window is over (the sparsest), and the limiter still works.
    #[test]
    fn a_huge_sample_interval_samples_one_in_256() {
        on_clock(|| async {
            let l = AdaptiveLimiter::builder()
                .initial_limit(8)
                .sample_interval(Duration::MAX)
                .build();
            for _ in 0..100 {
                churn(&l, 1);
                sleep(MS).await;
            }
            let s = l.stats();
            assert_eq!(s.sample_one_in, 256, "{s:?}");
            let before = s.samples;
            churn(&l, 2560);
            let got = l.stats().samples - before;
            assert!(
                (5..=20).contains(&got),
                "{got} samples of 2560: {:?}",
                l.stats()
            );
            assert_eq!(l.stats().limiter.in_use, 0);
        });
    }

    /// Cancellation at every poll of a heavy head that a loss leaves above
    /// the limit (2 permits, limit 2 -> 1): granted alone once the held
    /// permits are back, or dropped at any point (queued, or granted and
    /// not collected: its permits pay the debt and go to the next waiter).
    /// Before the run-alone fix the head was never granted (a lost wake-up).
    #[test]
    fn torture_a_head_granted_alone_above_the_limit() {
        use support::{Outcome, Torture};
        type State = (
            AdaptiveLimiter,
            Option<std::thread::JoinHandle<()>>,
            Option<std::thread::JoinHandle<bool>>,
        );
        let report = Torture::new("adaptive::acquire_many above the limit").run(
            || {
                let l = moving(2, 4);
                let mut held = l.try_acquire_many(2).unwrap();
                held.failed(); // its release shrinks the limit to 1
                let holder = std::thread::spawn(move || {
                    std::thread::sleep(3 * MS);
                    drop(held);
                });
                let l2 = l.clone();
                let behind = std::thread::spawn(move || {
                    std::thread::sleep(MS);
                    future::block_on(l2.acquire_timeout(BOUND)).is_ok()
                });
                let fut = l.acquire_many(2);
                let state: State = (l, Some(holder), Some(behind));
                (state, fut)
            },
            |(l, holder, behind), outcome| {
                if let Outcome::Completed(_, out) = outcome {
                    assert_eq!(out.unwrap().weight(), 2);
                }
                holder.take().unwrap().join().unwrap();
                assert!(behind.take().unwrap().join().unwrap(), "a permit was lost");
                assert_quiet(l);
            },
        );
        assert!(report.dropped_pending >= 1, "{report:?}");
    }

    /// Polls every queued waiter once, in queue order, collecting grants.
    async fn collect(
        waiting: &mut Vec<async_guard::limit::adaptive::AdaptiveAcquire>,
        held: &mut Vec<AdaptivePermit>,
    ) {
        let mut still = Vec::new();
        for mut f in waiting.drain(..) {
            match future::poll_once(&mut f).await {
                Some(Ok(p)) => held.push(p),
                Some(Err(e)) => panic!("a waiter failed: {e:?}"),
                None => still.push(f),
            }
        }
        *waiting = still;
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Weighted waiters (up to 4 of a limit that losses move between
        /// 1 and 6), releases marked lost or not: permits are conserved, and
        /// once nothing is held nobody is left waiting (the liveness the
        /// run-alone rule gives; before it a heavy head could stall).
        #[test]
        fn weighted_waiters_under_a_moving_limit_never_stall_or_leak(
            ops in proptest::collection::vec((0usize..5, any::<u8>()), 1..150),
        ) {
            future::block_on(async {
                let l = moving(3, 6);
                let mut held: Vec<AdaptivePermit> = Vec::new();
                let mut waiting = Vec::new();
                for (w, r) in ops {
                    match r % 3 {
                        0 => waiting.push(l.acquire_many(w)),
                        1 if !held.is_empty() => {
                            let mut p = held.swap_remove(usize::from(r) % held.len());
                            if r & 8 != 0 {
                                p.failed();
                            }
                            drop(p);
                        }
                        _ => {}
                    }
                    collect(&mut waiting, &mut held).await;
                    let s = l.stats();
                    let sum: usize = held.iter().map(|p| p.weight()).sum();
                    assert_eq!(s.limiter.in_use, sum, "{s:?}");
                    assert!(!held.is_empty() || waiting.is_empty(), "stalled: {s:?}");
                }
                drop(waiting);
                held.clear();
                assert_quiet(&l);
            });
        }
    }
}
