//! Benchmarks for the `budget` cure.
//!
//! 1. `budget/hot_loop`: the overhead of each way of yielding in a hot loop
//!    of real (small) work, against the bare loop in the same group. Every
//!    variant runs as a task on a `LocalExecutor`, so a yield is a real trip
//!    through a scheduler.
//! 2. An overhead report robust to a noisy machine (printed): the variants
//!    interleaved, fastest run of each, as a ratio to the bare loop.
//! 3. A separate lag report (printed, not timed by criterion): the worst and
//!    p99 scheduling lag of a 1 ms heartbeat ([`LagProbe`]) sharing one thread
//!    with the hot loop, per variant, plus the idle baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_guard::budget::{self, Budget, LagProbe, LagStats, yield_now};
use criterion::{Criterion, Throughput, criterion_group};
use futures_lite::StreamExt;
use futures_lite::future::block_on;

/// Iterations per measured run.
const N: u64 = 100_000;

/// One step of real work: eight dependent FNV-1a rounds over the bytes of
/// `x` (about 10 to 20 ns), opaque to the optimiser.
#[inline(always)]
fn work(x: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in black_box(x).to_le_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    Bare,
    FuturesLiteYieldEvery,
    YieldNowEvery,
    Count128,
    Count1024,
    Slice500us,
    IterSlice500us,
}

const VARIANTS: [(Variant, &str); 7] = [
    (Variant::Bare, "bare loop"),
    (
        Variant::FuturesLiteYieldEvery,
        "futures_lite::future::yield_now every iteration",
    ),
    (Variant::YieldNowEvery, "yield_now every iteration"),
    (Variant::Count128, "Budget::new(128)"),
    (Variant::Count1024, "Budget::new(1024)"),
    (Variant::Slice500us, "Budget::time_slice(500us)"),
    (Variant::IterSlice500us, "budget::iter (500us slice)"),
];

async fn hot_loop(variant: Variant, n: u64) -> u64 {
    let mut x = 0u64;
    match variant {
        Variant::Bare => {
            for i in 0..n {
                x = work(x ^ i);
            }
        }
        Variant::FuturesLiteYieldEvery => {
            for i in 0..n {
                x = work(x ^ i);
                futures_lite::future::yield_now().await;
            }
        }
        Variant::YieldNowEvery => {
            for i in 0..n {
                x = work(x ^ i);
                yield_now().await;
            }
        }
        Variant::Count128 => {
            let mut budget = Budget::new(128);
            for i in 0..n {
                x = work(x ^ i);
                budget.tick().await;
            }
        }
        Variant::Count1024 => {
            let mut budget = Budget::new(1024);
            for i in 0..n {
                x = work(x ^ i);
                budget.tick().await;
            }
        }
        Variant::Slice500us => {
            let mut budget = Budget::time_slice(Duration::from_micros(500));
            for i in 0..n {
                x = work(x ^ i);
                budget.tick().await;
            }
        }
        Variant::IterSlice500us => {
            x = budget::iter(0..n).fold(0, |x, i| work(x ^ i)).await;
        }
    }
    x
}

fn bench_hot_loop(c: &mut Criterion) {
    let mut group = c.benchmark_group("budget/hot_loop");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .throughput(Throughput::Elements(N));
    let ex = LocalExecutor::new();
    for (variant, name) in VARIANTS {
        group.bench_function(name, |b| {
            b.iter(|| block_on(ex.run(ex.spawn(hot_loop(variant, black_box(N))))));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_hot_loop);

/// How long a thread has been runnable but waiting for a CPU (Linux
/// schedstat `run_delay`): the part of the lag the OS adds on a busy machine.
fn run_delay(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let nanos = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The schedstat path of async-io's reactor thread, which fires the timers.
fn reactor_schedstat() -> Option<String> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim() == "async-io").then(|| task.path().join("schedstat").display().to_string())
        })
}

/// CPU wait of this thread and of the reactor thread, in total so far.
fn cpu_waits() -> (Option<Duration>, Option<Duration>) {
    let reactor = reactor_schedstat().and_then(|p| run_delay(&p));
    (run_delay("/proc/thread-self/schedstat"), reactor)
}

/// Runs a 1 ms heartbeat beside `variant`'s loop (repeated for about a
/// second) on one thread; `None` measures the idle executor. Also returns how
/// long this thread and the reactor thread waited for a CPU meanwhile.
fn lag_beside(variant: Option<Variant>) -> (LagStats, Duration, String) {
    let ex = LocalExecutor::new();
    let (probe, heartbeat) =
        LagProbe::with_threshold(Duration::from_millis(1), Duration::from_millis(1));
    let beat = ex.spawn(heartbeat);
    block_on(ex.run(async {
        async_io::Timer::after(Duration::from_millis(20)).await; // warm up
        probe.reset();
        let waits_before = cpu_waits();
        let start = Instant::now();
        match variant {
            None => {
                async_io::Timer::after(Duration::from_secs(1)).await;
            }
            Some(variant) => {
                while start.elapsed() < Duration::from_secs(1) {
                    black_box(ex.spawn(hot_loop(variant, 1_000_000)).await);
                }
            }
        }
        let took = start.elapsed();
        let waits_after = cpu_waits();
        probe.stop();
        beat.await;
        let delta = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.0?}", b.saturating_sub(a)),
            _ => "?".to_owned(),
        };
        let waits = format!(
            "{} / {}",
            delta(waits_before.0, waits_after.0),
            delta(waits_before.1, waits_after.1)
        );
        (probe.stats(), took, waits)
    }))
}

/// The overhead of each variant against the bare loop, measured the way a
/// shared, noisy machine allows: the variants take turns (so load drifts
/// hit them alike) and each keeps its fastest run of 40 (preemption only
/// ever adds time).
fn overhead_report() {
    println!("\nbudget/overhead: fastest of 40 interleaved runs of {N} iterations each");
    let ex = LocalExecutor::new();
    let mut best = [Duration::MAX; VARIANTS.len()];
    for _ in 0..40 {
        for (slot, (variant, _)) in best.iter_mut().zip(VARIANTS) {
            let start = Instant::now();
            black_box(block_on(ex.run(ex.spawn(hot_loop(variant, black_box(N))))));
            *slot = (*slot).min(start.elapsed());
        }
    }
    let bare = best[0].as_secs_f64();
    for ((_, name), time) in VARIANTS.iter().zip(best) {
        println!(
            "{:<50} {:>9.3?}  {:>6.2} ns/iter  {:>+7.1}% vs bare",
            name,
            time,
            time.as_secs_f64() * 1e9 / N as f64,
            (time.as_secs_f64() / bare - 1.0) * 100.0
        );
    }
}

fn lag_report() {
    println!(
        "\nbudget/lag: a 1 ms heartbeat sharing one thread (LocalExecutor) with the loop, ~1 s each"
    );
    println!(
        "(cpu wait: time this thread / the async-io reactor thread spent runnable but not running)"
    );
    println!(
        "{:<50} {:>7} {:>11} {:>11} {:>11} {:>9}   cpu wait",
        "variant", "beats", "p50", "p99", "worst", ">=1ms"
    );
    let mut runs: Vec<(&str, Option<Variant>)> =
        vec![("idle executor (timer + wake-up floor)", None)];
    runs.extend(VARIANTS.iter().map(|(v, name)| (*name, Some(*v))));
    for (name, variant) in runs {
        let (s, took, waits) = lag_beside(variant);
        println!(
            "{:<50} {:>7} {:>11.3?} {:>11.3?} {:>11.3?} {:>9}   {waits} of {took:.2?}",
            name, s.beats, s.p50, s.p99, s.worst, s.over_threshold
        );
    }
}

fn main() {
    benches();
    // Only under `cargo bench` (criterion's test mode runs each bench once).
    if std::env::args().any(|a| a == "--bench") {
        overhead_report();
        lag_report();
    }
    Criterion::default().configure_from_args().final_summary();
}
