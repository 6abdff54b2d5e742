//! budget: `Budget` against yielding by hand in a hot loop: overhead per
//! iteration and the lag of a heartbeat beside the loop.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_guard::budget::{Budget, LagProbe, LagStats};
use async_io::Timer;
use futures_lite::future::block_on;

use crate::Opts;
use crate::explained;
use crate::measure::{race, stat};
use crate::render::{Table, count, met, ns};

/// One step of real work: FNV-1a over the 8 bytes of `x`.
#[inline(always)]
fn fnv(x: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in black_box(x).to_le_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The ways of yielding (or not) that the hot loop is run with.
#[derive(Clone, Copy)]
enum Loop {
    Bare,
    YieldEvery,
    YieldEvery1024,
    Slice500us,
    Count1024,
}

/// `n` iterations of [`fnv`], yielding as `v` says.
async fn hot_loop(v: Loop, n: u64) -> u64 {
    let mut x = 0u64;
    match v {
        Loop::Bare => {
            for i in 0..n {
                x = fnv(x ^ i);
            }
        }
        Loop::YieldEvery => {
            for i in 0..n {
                x = fnv(x ^ i);
                futures_lite::future::yield_now().await;
            }
        }
        Loop::YieldEvery1024 => {
            for i in 0..n {
                x = fnv(x ^ i);
                if i % 1024 == 1023 {
                    futures_lite::future::yield_now().await;
                }
            }
        }
        Loop::Slice500us => {
            let mut b = Budget::time_slice(Duration::from_micros(500));
            for i in 0..n {
                x = fnv(x ^ i);
                b.tick().await;
            }
        }
        Loop::Count1024 => {
            let mut b = Budget::new(1024);
            for i in 0..n {
                x = fnv(x ^ i);
                b.tick().await;
            }
        }
    }
    x
}

/// A 1 ms heartbeat beside `v`'s loop (repeated for `secs`) on one thread;
/// `None`: the heartbeat alone (the floor set by timers and the OS).
fn lag_beside(v: Option<Loop>, secs: f64) -> LagStats {
    let ex = LocalExecutor::new();
    let (probe, heartbeat) =
        LagProbe::with_threshold(Duration::from_millis(1), Duration::from_millis(1));
    let beat = ex.spawn(heartbeat);
    block_on(ex.run(async {
        Timer::after(Duration::from_millis(20)).await;
        probe.reset();
        let start = Instant::now();
        match v {
            None => drop(Timer::after(Duration::from_secs_f64(secs)).await),
            Some(v) => {
                while start.elapsed().as_secs_f64() < secs {
                    black_box(ex.spawn(hot_loop(v, 1_000_000)).await);
                }
            }
        }
        let s = probe.stats();
        probe.stop();
        beat.await;
        s
    }))
}

/// Writes the budget section: cost per iteration and heartbeat lag per variant.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("budget ...");
    const N: u64 = 100_000;
    let ex = LocalExecutor::new();
    let run = |v: Loop| {
        let ex = &ex;
        move || {
            let start = Instant::now();
            black_box(block_on(ex.run(ex.spawn(hot_loop(v, black_box(N))))));
            start.elapsed().as_nanos() as f64 / N as f64
        }
    };
    let s = race(
        if o.quick { 15 } else { 41 },
        vec![
            Box::new(run(Loop::Bare)),
            Box::new(run(Loop::YieldEvery)),
            Box::new(run(Loop::YieldEvery1024)),
            Box::new(run(Loop::Slice500us)),
            Box::new(run(Loop::Count1024)),
        ],
    );
    let secs = if o.quick { 0.3 } else { 1.0 };
    let lag_reps = if o.quick { 1 } else { 3 };
    let variants = [
        ("bare loop (no yield)", Loop::Bare),
        (
            "raw: `futures_lite::future::yield_now()` every iteration",
            Loop::YieldEvery,
        ),
        (
            "raw: `yield_now()` every 1024 iterations (hand-rolled counter)",
            Loop::YieldEvery1024,
        ),
        ("`Budget::time_slice(500us)`", Loop::Slice500us),
        ("`Budget::new(1024)`", Loop::Count1024),
    ];
    let mut lags: Vec<Vec<LagStats>> = vec![Vec::new(); variants.len()];
    let mut idle = Vec::new();
    for _ in 0..lag_reps {
        idle.push(lag_beside(None, secs));
        for (i, (_, v)) in variants.iter().enumerate() {
            lags[i].push(lag_beside(Some(*v), secs));
        }
    }
    let med = |xs: &[LagStats], f: fn(&LagStats) -> Duration| {
        stat(xs.iter().map(|s| f(s).as_nanos() as f64).collect()).median
    };

    let _ = writeln!(md, "## budget: `Budget` vs yielding by hand\n");
    let _ = writeln!(
        md,
        "Loop body: FNV-1a over 8 bytes (~10 ns); {} iterations per run as a task on a \
         `LocalExecutor` (every yield is a real trip through the scheduler); the median over interleaved runs. \
         Lag: a 1 ms `LagProbe` heartbeat on the same thread beside the loop for {secs} s \
         (median of {lag_reps} runs of each statistic).\n",
        count(N as usize)
    );
    let bare = s[0].median;
    let mut t = Table::new(&[
        "variant",
        "ns/iter",
        "vs bare loop",
        "heartbeat p50",
        "p99",
        "worst",
    ]);
    let order = [0usize, 1, 2, 3, 4];
    for i in order {
        t.row(&[
            variants[i].0.into(),
            format!("{:.2}", s[i].median),
            format!("{:+.1} %", (s[i].median / bare - 1.0) * 100.0),
            ns(med(&lags[i], |s| s.p50)),
            ns(med(&lags[i], |s| s.p99)),
            ns(med(&lags[i], |s| s.worst)),
        ]);
    }
    t.row(&[
        "floor: the heartbeat alone on an idle executor (no loop)".into(),
        "-".into(),
        "-".into(),
        ns(med(&idle, |s| s.p50)),
        ns(med(&idle, |s| s.p99)),
        ns(med(&idle, |s| s.worst)),
    ]);
    md.push_str(&t.done());
    let slice_over = (s[3].median / bare - 1.0) * 100.0;
    let slice_worst = med(&lags[3], |s| s.worst);
    let slice_p99 = med(&lags[3], |s| s.p99);
    let _ = writeln!(
        md,
        "\nHeadline ratios: `time_slice(500us)` costs {:.2}x the raw hand-rolled 1024-counter and \
         {:.3}x yielding every iteration. Targets (budget issue): overhead < 5 % vs bare: {slice_over:+.1} %, {}; \
         worst lag < 1 ms: {}, {} (p99 {}).\n",
        s[3].median / s[2].median,
        s[3].median / s[1].median,
        met(slice_over < 5.0),
        ns(slice_worst),
        met(slice_worst < 1e6),
        ns(slice_p99),
    );
    if slice_over >= 5.0 {
        explained::missed(
            "budget, overhead (target < 5 % vs the bare loop)",
            format!(
                "`time_slice(500us)` cost {:.2} ns/iter against the bare loop's {:.2} \
                 ({slice_over:+.1} %); the hand-rolled 1024-counter {:+.1} %, `Budget::new(1024)` \
                 {:+.1} %, a yield every iteration {:+.1} %, in the same runs.",
                s[3].median,
                bare,
                (s[2].median / bare - 1.0) * 100.0,
                (s[4].median / bare - 1.0) * 100.0,
                (s[1].median / bare - 1.0) * 100.0,
            ),
        );
    }
    if slice_worst >= 1e6 {
        let floor = med(&idle, |s| s.worst);
        let every = med(&lags[1], |s| s.worst);
        explained::missed(
            "budget, worst heartbeat lag (target < 1 ms with a 500 µs slice)",
            format!(
                "The worst lag beside `time_slice(500us)` was {} (p99 {}). The heartbeat alone, \
                 with no loop at all, had a worst lag of {} in the same runs, and beside a loop \
                 that yields on every iteration {}. A beat that falls due mid-slice waits for the \
                 rest of the slice, so its worst case is at least the floor plus the slice: {} here{}.",
                ns(slice_worst),
                ns(slice_p99),
                ns(floor),
                ns(every),
                ns(floor + 500e3),
                if floor + 500e3 >= 1e6 {
                    ", already above the target before any overshoot or preemption"
                } else {
                    "; the rest is the slice's overshoot and preemption of the loop's thread"
                }
            ),
        );
    }
}
