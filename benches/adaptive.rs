//! The adaptive limiter's cost against the fixed `Limiter` it wraps, in
//! the same groups (target: at most 1.2x).
//!
//! - uncontended: one acquire + release, nobody else around (the adaptive
//!   one reads the clock twice and runs its policy once per release);
//! - contended: 1000 tasks, 8 permits, a 2-thread executor, each task
//!   acquires 10 times and holds the permit across one `yield_now`, as in
//!   `benches/limit.rs`. The adaptive limiter is pinned to 8 permits
//!   (`min_limit == max_limit == 8`: the policy runs on every release but
//!   the limit cannot move) so that both run the same concurrency and only
//!   the cost differs; a free-running one (bounds 1..=1000, from 8) is
//!   shown too, for information: its limit moves, so its throughput
//!   measures the policy's choice as well as its cost.

use std::time::Duration;

use async_guard::limit::Limiter;
use async_guard::limit::adaptive::{AdaptiveLimiter, Aimd, Gradient, Policy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// The contended workload and its executor are `benches/limit.rs`'s.
#[path = "support/limit.rs"]
mod workloads;
use workloads::{PERMITS, TASKS, contended_rounds, now};

fn pinned(policy: impl Into<Policy>, limit: usize) -> AdaptiveLimiter {
    AdaptiveLimiter::builder()
        .policy(policy)
        .initial_limit(limit)
        .min_limit(limit)
        .max_limit(limit)
        .build()
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("adaptive/uncontended");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let limiter = Limiter::new(8);
    g.bench_function("Limiter::acquire (fixed)", |b| {
        b.iter(|| drop(now(limiter.acquire()).unwrap()))
    });
    // What the adaptive limiter adds at the least: two clock readings.
    g.bench_function("2x async_guard::time::now() (the clock alone)", |b| {
        b.iter(|| {
            let t0 = std::hint::black_box(async_guard::time::now());
            std::hint::black_box(async_guard::time::now().saturating_duration_since(t0))
        })
    });
    let gradient = pinned(Gradient::new(), 8);
    g.bench_function("AdaptiveLimiter::acquire (gradient)", |b| {
        b.iter(|| drop(now(gradient.acquire()).unwrap()))
    });
    let aimd = pinned(Aimd::new(), 8);
    g.bench_function("AdaptiveLimiter::acquire (aimd)", |b| {
        b.iter(|| drop(now(aimd.acquire()).unwrap()))
    });
    g.finish();
    println!(
        "uncontended gradient limiter after the runs: {:?}",
        gradient.stats()
    );
}

/// Acquisitions per task in one criterion iteration (fewer than
/// `benches/limit.rs`'s 500, to keep an iteration short).
const ROUNDS: usize = 10;

fn contended_run<A, Fut, P>(acquire: A)
where
    A: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = P> + Send,
    P: Send,
{
    contended_rounds(acquire, ROUNDS, 0, false);
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("adaptive/contended_1000_tasks_8_permits");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Elements((TASKS * ROUNDS) as u64));
    let limiter = Limiter::new(PERMITS);
    g.bench_function("Limiter (fixed)", |b| {
        b.iter(|| {
            let limiter = limiter.clone();
            contended_run(move || limiter.acquire())
        })
    });
    let gradient = pinned(Gradient::new(), PERMITS);
    g.bench_function("AdaptiveLimiter (gradient, pinned to 8)", |b| {
        b.iter(|| {
            let l = gradient.clone();
            contended_run(move || l.acquire())
        })
    });
    let aimd = pinned(Aimd::new(), PERMITS);
    g.bench_function("AdaptiveLimiter (aimd, pinned to 8)", |b| {
        b.iter(|| {
            let l = aimd.clone();
            contended_run(move || l.acquire())
        })
    });
    let free = AdaptiveLimiter::builder().initial_limit(PERMITS).build();
    g.bench_function("AdaptiveLimiter (gradient, free from 8)", |b| {
        b.iter(|| {
            let l = free.clone();
            contended_run(move || l.acquire())
        })
    });
    g.finish();
    println!(
        "free-running gradient limiter after the runs: {:?}",
        free.stats()
    );
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
