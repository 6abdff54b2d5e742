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

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/shield.rs"]
mod workloads;
use workloads::*;

fn one_in_flight() -> Vec<Case> {
    vec![("raw spawn+await", raw_one), ("shield+await", shield_one)]
}

fn many_in_flight() -> Vec<Case> {
    vec![("raw spawn+await", raw_many), ("shield+await", shield_many)]
}

fn cancelled() -> Vec<Case> {
    vec![
        ("raw spawn+await", raw_yields),
        ("shield dropped (background thread)", cancelled_background),
        (
            "shield dropped (with_spawner, same executor)",
            cancelled_spawner,
        ),
        (
            "shield dropped unpolled (with_spawner, same ex.)",
            cancelled_unpolled_spawner,
        ),
        (
            "raw spawn+await (one-thread executor)",
            raw_yields_one_thread,
        ),
    ]
}

fn cancelled_many() -> Vec<Case> {
    vec![
        ("raw spawn+await", raw_yields_many),
        (
            "shield dropped (background thread)",
            cancelled_many_background,
        ),
        (
            "shield dropped (with_spawner, same executor)",
            cancelled_many_spawner,
        ),
        (
            "raw spawn+await (one-thread executor)",
            raw_yields_many_one_thread,
        ),
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
