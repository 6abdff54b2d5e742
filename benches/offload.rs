//! `offload` against the raw baselines, in the same groups:
//! `blocking::unblock`, `unblock` gated by an `async_lock::Semaphore` of
//! `cores` permits (the design alternative), and `std::thread::spawn` per job.
//!
//! - `round_trip`: latency of a trivial job (submit, run, wake the caller).
//! - `throughput_10k_x_50us`: 10k jobs of ~50 us CPU each, one task per job
//!   on a single-threaded executor; the ideal is `cores / job cost`.
//! - `heartbeat_lag`: during that same load, the worst lag of a 1 ms
//!   heartbeat on the event loop (reported as the "time").
//!
//! The machine these run on is shared, so before the criterion groups the
//! bench also prints an *interleaved* comparison (contenders take turns in
//! short batches; best batch kept), which is fairer under noisy load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_guard::offload::{CpuPool, offload, unblock};
use async_lock::Semaphore;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_lite::future::block_on;

const JOBS: usize = 10_000;

#[path = "support/offload.rs"]
mod workloads;
use workloads::{calibrate_50us, cpu_work};

type Submit = fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64>>>;

fn gated() -> &'static Arc<Semaphore> {
    static GATE: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    GATE.get_or_init(|| Arc::new(Semaphore::new(CpuPool::global().threads())))
}

fn contenders() -> Vec<(&'static str, Submit)> {
    vec![
        ("offload", |r| Box::pin(offload(move || cpu_work(r)))),
        ("unblock", |r| Box::pin(unblock(move || cpu_work(r)))),
        ("unblock+semaphore", |r| {
            Box::pin(async move {
                let _permit = gated().acquire_arc().await;
                unblock(move || cpu_work(r)).await
            })
        }),
        ("thread_spawn", |r| {
            Box::pin(async move {
                let (tx, rx) = smol::channel::bounded(1);
                std::thread::spawn(move || tx.try_send(cpu_work(r)));
                rx.recv().await.unwrap()
            })
        }),
    ]
}

/// Runs `JOBS` jobs of `rounds`, one task each, on a single-threaded
/// executor; with `heartbeat`, also a 1 ms heartbeat task, and returns its
/// lags, sorted.
fn load(submit: Submit, rounds: u64, heartbeat: bool) -> Vec<Duration> {
    let ex = LocalExecutor::new();
    // Submit from inside each task, so that submission (eager for every
    // contender) happens on the event loop, inside the measured window.
    let tasks: Vec<_> = (0..JOBS)
        .map(|_| ex.spawn(async move { submit(rounds).await }))
        .collect();
    let all = ex.spawn(async move {
        for t in tasks {
            t.await;
        }
    });
    let mut lags = block_on(ex.run(async {
        let mut lags = Vec::new();
        while heartbeat && !all.is_finished() {
            let t = Instant::now();
            async_io::Timer::after(Duration::from_millis(1)).await;
            lags.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        all.await;
        lags
    }));
    lags.sort();
    lags
}

/// The worst heartbeat lag of one loaded run.
fn worst_lag(submit: Submit, rounds: u64) -> Duration {
    load(submit, rounds, true).pop().unwrap_or_default()
}

/// Contenders take turns, `rounds` times; the best (least disturbed) turn
/// of each is printed, with its ratio to `unblock`.
fn interleaved(label: &str, rounds: usize, unit: &str, mut turn: impl FnMut(Submit) -> f64) {
    let all = contenders();
    let mut best = vec![f64::MAX; all.len()];
    for _ in 0..rounds {
        for (i, (_, submit)) in all.iter().enumerate() {
            best[i] = best[i].min(turn(*submit));
        }
    }
    let unblock = best[1];
    let line: Vec<_> = all
        .iter()
        .zip(&best)
        .map(|((name, _), b)| format!("{name} {b:.2} {unit} ({:.2}x unblock)", b / unblock))
        .collect();
    eprintln!("interleaved {label}: {}", line.join(", "));
}

fn benches(c: &mut Criterion) {
    let cores = CpuPool::global().threads();
    let (rounds, cost) = calibrate_50us();
    let ideal = cores as f64 / cost.as_secs_f64();
    eprintln!(
        "offload bench: {cores} pool threads, job = {rounds} rounds = {cost:?} on an idle core, \
         ideal throughput = {ideal:.0} jobs/s"
    );

    interleaved(
        "round trip, best of 30 batches of 300",
        30,
        "us",
        |submit| {
            let t = Instant::now();
            for _ in 0..300 {
                block_on(submit(1));
            }
            t.elapsed().as_secs_f64() * 1e6 / 300.0
        },
    );
    interleaved(
        "10k x 50us, time per 10k jobs, best of 3",
        3,
        "ms",
        |submit| {
            let t = Instant::now();
            load(submit, rounds, false);
            t.elapsed().as_secs_f64() * 1e3
        },
    );
    interleaved(
        "median heartbeat lag during 10k x 50us, best of 2",
        2,
        "ms",
        |submit| {
            let lags = load(submit, rounds, true);
            lags.get(lags.len() / 2)
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3
        },
    );

    let mut g = c.benchmark_group("offload/round_trip");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for (name, submit) in contenders() {
        g.bench_function(name, |b| b.iter(|| block_on(submit(1))));
    }
    let bounded = CpuPool::builder().max_waiting(1024).build();
    g.bench_function("pool_with_max_waiting", |b| {
        b.iter(|| block_on(bounded.run(|| cpu_work(1))))
    });
    g.finish();

    let mut g = c.benchmark_group("offload/throughput_10k_x_50us");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(JOBS as u64));
    for (name, submit) in contenders() {
        g.bench_function(name, |b| b.iter(|| load(submit, rounds, false)));
    }
    g.finish();

    let mut g = c.benchmark_group("offload/heartbeat_lag");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    for (name, submit) in contenders() {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| worst_lag(submit, rounds)).sum())
        });
    }
    g.finish();
}

criterion_group!(offload_benches, benches);
criterion_main!(offload_benches);
