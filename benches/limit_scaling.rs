//! `Limiter` vs `async_lock::Semaphore` as the number of waiters grows:
//! n waiters queue behind one held permit (one poll each), then the permit
//! is released and every waiter in turn takes it and drops it (which hands
//! it to the next). Cost per waiter (enqueue + grant + release), for
//! n = 1, 1k, 100k (and 1M with `BENCH_FULL=1`), both in the same group.
//! Polled by hand with a no-op waker: no executor in the loop.

use std::time::Duration;

use async_guard::limit::Limiter;
use async_lock::Semaphore;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/limit.rs"]
mod workloads;
use workloads::{limiter_round, semaphore_round};

fn waiters(c: &mut Criterion) {
    let mut sizes = vec![1usize, 1_000, 100_000];
    if std::env::var_os("BENCH_FULL").is_some() {
        sizes.push(1_000_000);
    }
    let mut g = c.benchmark_group("limit/waiters");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    for n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        let lim = Limiter::new(1);
        g.bench_with_input(BenchmarkId::new("Limiter", n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| limiter_round(&lim, n)).sum())
        });
        let sem = Semaphore::new(1);
        g.bench_with_input(BenchmarkId::new("async_lock::Semaphore", n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| semaphore_round(&sem, n)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, waiters);
criterion_main!(benches);
