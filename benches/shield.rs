//! `shield` against raw `async_executor` spawn+await, in the same groups,
//! always from a task running on a 2-thread `async_executor::Executor` (a
//! busy service's shape, not a `block_on` on an idle main thread):
//!
//! - `shield/1_in_flight`: one shielded future at a time, awaited to its
//!   end (the caller-driven path: no spawn, no thread hop).
//! - `shield/10k_in_flight`: 10k created, then awaited in order.
//! - `shield/cancelled`: the handle is polled once, then dropped; the rest
//!   of the work moves to the set's executor (the background thread, or the
//!   same 2-thread executor with `with_spawner`) and the caller waits for
//!   its end with the set's `drain`. Raw: spawn the same work, await it.
//!   A variant drops the handle before its first poll (the work's first
//!   poll, which here wakes the caller's task spuriously, then also runs on
//!   the executor).
//! - `shield/cancelled_10k`: the same with 10k handles dropped, then one
//!   drain; raw: 10k spawned, then awaited.
//!
//! Targets: `1_in_flight` at most 0.5x raw, `10k_in_flight` at most 1.0x,
//! `cancelled` at most 1.2x (measured for both `cancelled` groups).
//!
//! The machine these run on is shared, so before the criterion groups the
//! bench prints an *interleaved* comparison (contenders take turns in short
//! batches; the best batch of each is kept) with the ratios.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_executor::Executor;
use async_guard::shield::{ShieldSet, shield};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::future::{self, block_on};

const MANY: u64 = 10_000;

/// An executor run by two threads of its own.
fn executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        for _ in 0..2 {
            std::thread::spawn(move || block_on(ex.run(future::pending::<()>())));
        }
        ex
    })
}

/// Runs `body(iters)` as a task on the executor and returns the time it
/// measured there.
fn in_task<F, Fut>(iters: u64, body: F) -> Duration
where
    F: FnOnce(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    block_on(executor().spawn(async move {
        let start = Instant::now();
        body(iters).await;
        start.elapsed()
    }))
}

async fn work_ready(i: u64) -> u64 {
    black_box(i)
}

/// Work that is not done on its first poll, so a dropped handle leaves
/// something to move.
async fn work_yields(i: u64) -> u64 {
    future::yield_now().await;
    black_box(i)
}

fn sets() -> (&'static ShieldSet, &'static ShieldSet) {
    static SETS: OnceLock<(ShieldSet, ShieldSet)> = OnceLock::new();
    let (a, b) = SETS.get_or_init(|| {
        let ex = executor();
        (
            ShieldSet::new(),
            ShieldSet::with_spawner(move |w| ex.spawn(w).detach()),
        )
    });
    (a, b)
}

type Case = (&'static str, fn(u64) -> Duration);

fn one_in_flight() -> Vec<Case> {
    vec![
        ("raw spawn+await", |n| {
            in_task(n, |n| async move {
                let ex = executor();
                for i in 0..n {
                    black_box(ex.spawn(work_ready(i)).await);
                }
            })
        }),
        ("shield+await", |n| {
            in_task(n, |n| async move {
                for i in 0..n {
                    black_box(shield(work_ready(i)).await);
                }
            })
        }),
    ]
}

fn many_in_flight() -> Vec<Case> {
    vec![
        ("raw spawn+await", |n| {
            in_task(n, |n| async move {
                let ex = executor();
                for _ in 0..n {
                    let tasks: Vec<_> = (0..MANY).map(|i| ex.spawn(work_ready(i))).collect();
                    for t in tasks {
                        black_box(t.await);
                    }
                }
            })
        }),
        ("shield+await", |n| {
            in_task(n, |n| async move {
                for _ in 0..n {
                    let handles: Vec<_> = (0..MANY).map(|i| shield(work_ready(i))).collect();
                    for h in handles {
                        black_box(h.await);
                    }
                }
            })
        }),
    ]
}

async fn cancelled_unpolled_in(set: &ShieldSet, n: u64) {
    for i in 0..n {
        drop(set.shield(work_yields(i)).unwrap());
        set.drain(Duration::MAX).await;
    }
}

async fn cancelled_in(set: &ShieldSet, n: u64) {
    for i in 0..n {
        let mut handle = set.shield(work_yields(i)).unwrap();
        assert!(future::poll_once(&mut handle).await.is_none());
        drop(handle);
        set.drain(Duration::MAX).await;
    }
}

fn cancelled() -> Vec<Case> {
    vec![
        ("raw spawn+await", |n| {
            in_task(n, |n| async move {
                let ex = executor();
                for i in 0..n {
                    black_box(ex.spawn(work_yields(i)).await);
                }
            })
        }),
        ("shield dropped (background thread)", |n| {
            in_task(n, |n| async move { cancelled_in(sets().0, n).await })
        }),
        ("shield dropped (with_spawner, same executor)", |n| {
            in_task(n, |n| async move { cancelled_in(sets().1, n).await })
        }),
        ("shield dropped unpolled (with_spawner, same ex.)", |n| {
            in_task(
                n,
                |n| async move { cancelled_unpolled_in(sets().1, n).await },
            )
        }),
    ]
}

async fn cancelled_many_in(set: &ShieldSet, n: u64) {
    for _ in 0..n {
        for i in 0..MANY {
            let mut handle = set.shield(work_yields(i)).unwrap();
            assert!(future::poll_once(&mut handle).await.is_none());
            drop(handle);
        }
        set.drain(Duration::MAX).await;
    }
}

fn cancelled_many() -> Vec<Case> {
    vec![
        ("raw spawn+await", |n| {
            in_task(n, |n| async move {
                let ex = executor();
                for _ in 0..n {
                    let tasks: Vec<_> = (0..MANY).map(|i| ex.spawn(work_yields(i))).collect();
                    for t in tasks {
                        black_box(t.await);
                    }
                }
            })
        }),
        ("shield dropped (background thread)", |n| {
            in_task(n, |n| async move { cancelled_many_in(sets().0, n).await })
        }),
        ("shield dropped (with_spawner, same executor)", |n| {
            in_task(n, |n| async move { cancelled_many_in(sets().1, n).await })
        }),
    ]
}

/// Contenders take turns in batches of `batch` iterations, `rounds` times;
/// the best batch of each is kept. Prints ns per item and the ratio to the
/// first contender (the raw baseline).
fn interleaved(name: &str, cases: &[Case], batch: u64, rounds: usize, per_iter: u64) {
    let mut best = vec![Duration::MAX; cases.len()];
    for (_, f) in cases {
        f(batch); // warm up
    }
    for _ in 0..rounds {
        for (k, (_, f)) in cases.iter().enumerate() {
            best[k] = best[k].min(f(batch));
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / (batch * per_iter) as f64;
    let base = per(best[0]);
    for (k, (label, _)) in cases.iter().enumerate() {
        let ns = per(best[k]);
        println!(
            "interleaved {name:<14} {label:<46} {ns:>9.1} ns/item  {:.2}x raw",
            ns / base
        );
    }
}

fn bench(c: &mut Criterion) {
    interleaved("1_in_flight", &one_in_flight(), 2_000, 15, 1);
    interleaved("10k_in_flight", &many_in_flight(), 2, 15, MANY);
    interleaved("cancelled", &cancelled(), 2_000, 15, 1);
    interleaved("cancelled_10k", &cancelled_many(), 2, 15, MANY);

    let groups: [(&str, Vec<Case>, u64); 4] = [
        ("shield/1_in_flight", one_in_flight(), 1),
        ("shield/10k_in_flight", many_in_flight(), MANY),
        ("shield/cancelled", cancelled(), 1),
        ("shield/cancelled_10k", cancelled_many(), MANY),
    ];
    for (name, cases, per_iter) in groups {
        let mut g = c.benchmark_group(name);
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20)
            .throughput(Throughput::Elements(per_iter));
        for (label, f) in cases {
            g.bench_function(label, |b| b.iter_custom(f));
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
