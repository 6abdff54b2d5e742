//! `Limiter` and `gather` against `async_lock::Semaphore`, the smol
//! ecosystem's primitive, in the same groups.
//!
//! - uncontended: one acquire + release, nobody else around;
//! - contended: 1000 tasks, 8 permits, a 2-thread executor, each task
//!   acquires 500 times and holds the permit across one `yield_now`
//!   (throughput in ops/s; p50/p99 wait printed after the groups);
//! - gather: 10k futures, at most 64 at once, outputs in input order;
//! - then, outside criterion, the two target ratios (uncontended time,
//!   contended throughput) measured interleaved in one process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Executor;
use async_guard::limit::{Limiter, gather};
use async_lock::Semaphore;
use criterion::{Criterion, Throughput, criterion_group};
use futures_lite::future::{self, yield_now};

#[path = "support/limit.rs"]
mod workloads;
use workloads::{PERMITS, ROUNDS, TASKS, contended_run, now};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("limit/uncontended");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let sem = Arc::new(Semaphore::new(8));
    g.bench_function("async_lock::Semaphore::acquire_arc", |b| {
        b.iter(|| drop(now(sem.acquire_arc())))
    });
    g.bench_function("async_lock::Semaphore::acquire", |b| {
        b.iter(|| drop(now(sem.acquire())))
    });
    let limiter = Limiter::new(8);
    g.bench_function("Limiter::acquire", |b| {
        b.iter(|| drop(now(limiter.acquire()).unwrap()))
    });
    g.bench_function("Limiter::try_acquire", |b| {
        b.iter(|| drop(limiter.try_acquire().unwrap()))
    });
    g.finish();
}

fn contended(c: &mut Criterion) {
    // Hold = one yield only (the worst case for a FIFO hand-off: nothing but
    // scheduling), then hold = one yield + ~2 us of work.
    for (name, spins) in [("", 0), ("_hold_2us_work", 2000)] {
        let mut g = c.benchmark_group(format!("limit/contended_1000_tasks_8_permits{name}"));
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(10)
            .throughput(Throughput::Elements((TASKS * ROUNDS) as u64));
        let sem = Arc::new(Semaphore::new(PERMITS));
        g.bench_function("async_lock::Semaphore", |b| {
            b.iter(|| {
                let sem = sem.clone();
                contended_run(move || sem.clone().acquire_arc(), spins, false)
            })
        });
        let limiter = Limiter::new(PERMITS);
        g.bench_function("Limiter (FIFO)", |b| {
            b.iter(|| {
                let limiter = limiter.clone();
                contended_run(move || limiter.acquire(), spins, false)
            })
        });
        g.finish();
    }
}

const JOBS: usize = 10_000;
const GATHER_LIMIT: usize = 64;

async fn job(i: usize) -> usize {
    yield_now().await;
    i
}

fn gather_10k(c: &mut Criterion) {
    let mut g = c.benchmark_group("limit/gather_10k_limit_64");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .throughput(Throughput::Elements(JOBS as u64));
    g.bench_function("spawn + async_lock::Semaphore", |b| {
        b.iter(|| {
            let ex = Executor::new();
            let sem = Arc::new(Semaphore::new(GATHER_LIMIT));
            future::block_on(ex.run(async {
                let tasks: Vec<_> = (0..JOBS)
                    .map(|i| {
                        let sem = sem.clone();
                        ex.spawn(async move {
                            let _permit = sem.acquire_arc().await;
                            job(i).await
                        })
                    })
                    .collect();
                let mut out = Vec::with_capacity(JOBS);
                for t in tasks {
                    out.push(t.await);
                }
                out
            }))
        })
    });
    g.bench_function("spawn + Limiter", |b| {
        b.iter(|| {
            let ex = Executor::new();
            let limiter = Limiter::new(GATHER_LIMIT);
            future::block_on(ex.run(async {
                let tasks: Vec<_> = (0..JOBS).map(|i| ex.spawn(limiter.run(job(i)))).collect();
                let mut out = Vec::with_capacity(JOBS);
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                out
            }))
        })
    });
    g.bench_function("limit::gather", |b| {
        b.iter(|| future::block_on(gather(GATHER_LIMIT, (0..JOBS).map(job))))
    });
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// p50/p99 wait in the contended scenario (criterion only reports means).
fn wait_percentiles() {
    let runs = 1;
    let report = |name: &str, mut waits: Vec<Duration>| {
        waits.sort();
        println!(
            "limit/contended wait {name:<24} p50 {:>10.1?}  p99 {:>10.1?}  max {:>10.1?}",
            percentile(&waits, 0.50),
            percentile(&waits, 0.99),
            waits.last().copied().unwrap_or_default()
        );
    };
    let sem = Arc::new(Semaphore::new(PERMITS));
    let mut waits = Vec::new();
    for _ in 0..runs {
        let sem = sem.clone();
        waits.extend(contended_run(move || sem.clone().acquire_arc(), 0, true));
    }
    report("async_lock::Semaphore", waits);
    let limiter = Limiter::new(PERMITS);
    let mut waits = Vec::new();
    for _ in 0..runs {
        let limiter = limiter.clone();
        waits.extend(contended_run(move || limiter.acquire(), 0, true));
    }
    report("Limiter (FIFO)", waits);
}

/// The targets' ratios, measured interleaved (baseline, limiter, baseline,
/// ...) in this process so that both see the same machine load: uncontended
/// time per acquire + release against `async_lock::Semaphore::acquire_arc`
/// (owned, like `Permit`), contended throughput against
/// `async_lock::Semaphore` (1000 tasks x 500 rounds, 8 permits, 2 threads).
fn ratios() {
    const N: u32 = 2_000_000;
    const ROUNDS_EACH: usize = 3;
    let sem = Arc::new(Semaphore::new(8));
    let limiter = Limiter::new(8);
    let (mut t_sem, mut t_lim) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS_EACH {
        let start = Instant::now();
        for _ in 0..N {
            drop(std::hint::black_box(now(sem.acquire_arc())));
        }
        t_sem += start.elapsed();
        let start = Instant::now();
        for _ in 0..N {
            drop(std::hint::black_box(now(limiter.acquire()).unwrap()));
        }
        t_lim += start.elapsed();
    }
    println!(
        "limit/ratio uncontended Limiter / async_lock::Semaphore::acquire_arc (time): {:.2}x",
        t_lim.as_secs_f64() / t_sem.as_secs_f64()
    );
    let (mut t_sem, mut t_lim) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS_EACH {
        let sem = sem.clone();
        let start = Instant::now();
        contended_run(move || sem.clone().acquire_arc(), 0, false);
        t_sem += start.elapsed();
        let limiter = limiter.clone();
        let start = Instant::now();
        contended_run(move || limiter.acquire(), 0, false);
        t_lim += start.elapsed();
    }
    println!(
        "limit/ratio contended Limiter (FIFO) / async_lock::Semaphore (throughput): {:.2}x",
        t_sem.as_secs_f64() / t_lim.as_secs_f64()
    );
}

criterion_group!(benches, uncontended, contended, gather_10k);

fn main() {
    benches();
    wait_percentiles();
    ratios();
    Criterion::default().configure_from_args().final_summary();
}
