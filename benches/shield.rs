//! `shield` vs its baselines, in one group: awaiting the future directly,
//! spawning it on an `async_executor::Executor` running on another thread and
//! awaiting the `Task` (what `shield` does underneath, minus surviving the
//! caller, output delivery after drop, panic capture and set tracking), and
//! `shield` itself (default background thread, and a `ShieldSet` whose
//! spawner is the same executor as the baseline).
//!
//! Target: shield+await at most 1.2x spawn+await.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use async_executor::Executor;
use async_guard::shield::{ShieldSet, shield};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::future::block_on;

/// An executor on a thread of its own, like the shield's background thread.
fn executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        std::thread::spawn(move || block_on(ex.run(std::future::pending::<()>())));
        ex
    })
}

fn bench(c: &mut Criterion) {
    let ex = executor();
    let own_set = ShieldSet::with_spawner(move |work| ex.spawn(work).detach());
    let mut g = c.benchmark_group("shield");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);

    g.bench_function("await directly", |b| {
        b.iter(|| block_on(async { black_box(1u64) }))
    });
    g.bench_function("async_executor spawn+await", |b| {
        b.iter(|| block_on(ex.spawn(async { black_box(1u64) })))
    });
    g.bench_function("shield+await (background thread)", |b| {
        b.iter(|| block_on(shield(async { black_box(1u64) })))
    });
    g.bench_function("shield+await (with_spawner, same executor)", |b| {
        b.iter(|| block_on(own_set.shield(async { black_box(1u64) }).unwrap()))
    });
    g.finish();

    // Many in flight at once: the per-item cost without the cross-thread
    // wake-up of every single await dominating. 1k and 100k (and 1M with
    // `BENCH_FULL=1`); one in flight is the group above.
    let mut sizes = vec![1_000u64, 100_000];
    if std::env::var_os("BENCH_FULL").is_some() {
        sizes.push(1_000_000);
    }
    let mut g = c.benchmark_group("shield/in_flight");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    for n in sizes {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(
            BenchmarkId::new("async_executor spawn+await", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    let tasks: Vec<_> = (0..n)
                        .map(|i| ex.spawn(async move { black_box(i) }))
                        .collect();
                    block_on(async {
                        for t in tasks {
                            black_box(t.await);
                        }
                    })
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("shield+await (background thread)", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    let handles: Vec<_> = (0..n)
                        .map(|i| shield(async move { black_box(i) }))
                        .collect();
                    block_on(async {
                        for h in handles {
                            black_box(h.await);
                        }
                    })
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("shield+await (with_spawner, same executor)", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    let handles: Vec<_> = (0..n)
                        .map(|i| own_set.shield(async move { black_box(i) }).unwrap())
                        .collect();
                    block_on(async {
                        for h in handles {
                            black_box(h.await);
                        }
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
