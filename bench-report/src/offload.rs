//! offload: `offload(f)` against `blocking::unblock(f)`: a trivial round trip,
//! then throughput and event-loop lag under a load of calibrated jobs.

use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_guard::offload::{CpuPool, offload, unblock};
use async_io::Timer;
use futures_lite::future::block_on;

use crate::Opts;
use crate::explained;
use crate::measure::{Stat, per_call, race, sink, stat};
use crate::render::{Table, count, dur, met, ns, ratio};

#[path = "../../benches/support/offload.rs"]
mod workloads;
use workloads::{calibrate_50us, cpu_work};

type Submit = fn(u64) -> Pin<Box<dyn Future<Output = u64>>>;

/// `jobs` jobs, one task each, submitted from inside the tasks on a
/// single-threaded executor, with a 1 ms heartbeat beside them. Returns
/// (wall time, heartbeat lags sorted).
fn offload_load(submit: Submit, jobs: usize, rounds: u64) -> (Duration, Vec<Duration>) {
    let ex = LocalExecutor::new();
    let start = Instant::now();
    let tasks: Vec<_> = (0..jobs)
        .map(|_| ex.spawn(async move { submit(rounds).await }))
        .collect();
    let all = ex.spawn(async move {
        for t in tasks {
            black_box(t.await);
        }
    });
    let mut lags = block_on(ex.run(async {
        let mut lags = Vec::new();
        while !all.is_finished() {
            let t = Instant::now();
            Timer::after(Duration::from_millis(1)).await;
            lags.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        all.await;
        lags
    }));
    let took = start.elapsed();
    lags.sort();
    (took, lags)
}

/// Writes the offload section: round trip, throughput and heartbeat lag.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("offload ...");
    let reps = o.reps();
    let it = if o.quick { 2_000 } else { 5_000 };
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(block_on(offload(|| black_box(1u64)))))),
            Box::new(|| per_call(it, || sink(block_on(unblock(|| black_box(1u64)))))),
        ],
    );
    let (rounds, cost) = calibrate_50us();
    let cores = CpuPool::global().threads();
    let ideal_per_s = cores as f64 / cost.as_secs_f64();
    let jobs = if o.quick { 2_000 } else { 10_000 };
    let contenders: [(&str, Submit); 2] = [
        ("offload", |r| Box::pin(offload(move || cpu_work(r)))),
        ("unblock", |r| Box::pin(unblock(move || cpu_work(r)))),
    ];
    // What this machine can deliver right now: the same jobs split evenly
    // over `cores` plain threads (no async, no queue), timed in the same
    // interleaved rounds. On a shared machine this, not threads / job, is
    // the ceiling the pool can reach.
    let plain_threads = |jobs: usize| {
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..cores {
                let share = jobs / cores + usize::from(t < jobs % cores);
                s.spawn(move || {
                    for _ in 0..share {
                        black_box(cpu_work(rounds));
                    }
                });
            }
        });
        jobs as f64 / start.elapsed().as_secs_f64()
    };
    let mut achievable = Vec::new();
    let mut thr = vec![Vec::new(); 2];
    let mut p50 = vec![Vec::new(); 2];
    let mut worst = vec![Vec::new(); 2];
    let load_reps = if o.quick { 2 } else { 5 };
    for (i, (_, submit)) in contenders.iter().enumerate() {
        offload_load(*submit, jobs / 10, rounds); // warm-up: threads started
        let _ = i;
    }
    for round in 0..load_reps {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            let (took, lags) = offload_load(contenders[i].1, jobs, rounds);
            thr[i].push(jobs as f64 / took.as_secs_f64());
            p50[i].push(
                lags.get(lags.len() / 2)
                    .copied()
                    .unwrap_or_default()
                    .as_nanos() as f64,
            );
            worst[i].push(lags.last().copied().unwrap_or_default().as_nanos() as f64);
        }
        achievable.push(plain_threads(jobs));
    }
    let achievable = stat(achievable).median;
    let thr: Vec<Stat> = thr.into_iter().map(stat).collect();
    let p50: Vec<Stat> = p50.into_iter().map(stat).collect();
    let worst: Vec<Stat> = worst.into_iter().map(stat).collect();

    let _ = writeln!(md, "## offload: `offload(f)` vs `blocking::unblock(f)`\n");
    let _ = writeln!(
        md,
        "Job: an xorshift loop calibrated to {} on an idle core; pool threads: {cores}; \
         ideal throughput = threads / job = {:.1}k jobs/s. Load: {} jobs, one task each, \
         on a single-threaded executor with a 1 ms heartbeat beside them ({load_reps} interleaved runs each, median).\n",
        dur(cost),
        ideal_per_s / 1e3,
        count(jobs)
    );
    let mut t = Table::new(&[
        "case",
        "offload",
        "unblock",
        "ratio (offload/unblock)",
        "target",
    ]);
    t.row(&[
        "trivial round trip (block_on)".into(),
        ns(s[0].median),
        ns(s[1].median),
        ratio(s[0].median, s[1].median),
        format!("<= 1.2x: {}", met(s[0].median / s[1].median <= 1.2)),
    ]);
    t.row(&[
        "throughput, jobs/s".into(),
        format!(
            "{:.1}k ({:.2}x ideal)",
            thr[0].median / 1e3,
            thr[0].median / ideal_per_s
        ),
        format!(
            "{:.1}k ({:.2}x ideal)",
            thr[1].median / 1e3,
            thr[1].median / ideal_per_s
        ),
        format!("**{:.2}x**", thr[0].median / thr[1].median),
        format!(">= 0.9x ideal: {}", met(thr[0].median / ideal_per_s >= 0.9)),
    ]);
    t.row(&[
        format!("throughput vs {cores} plain threads splitting the same jobs ({:.1}k jobs/s in the same rounds)", achievable / 1e3),
        format!("{:.2}x", thr[0].median / achievable),
        format!("{:.2}x", thr[1].median / achievable),
        String::new(),
        format!(">= 0.9x: {}", met(thr[0].median / achievable >= 0.9)),
    ]);
    t.row(&[
        "heartbeat lag during load, median".into(),
        ns(p50[0].median),
        ns(p50[1].median),
        ratio(p50[0].median.max(1.0), p50[1].median.max(1.0)),
        String::new(),
    ]);
    t.row(&[
        "heartbeat lag during load, worst (median of runs)".into(),
        ns(worst[0].median),
        ns(worst[1].median),
        ratio(worst[0].median.max(1.0), worst[1].median.max(1.0)),
        String::new(),
    ]);
    md.push_str(&t.done());
    md.push('\n');
    let (rt_g, rt_u) = (s[0].median, s[1].median);
    if rt_g / rt_u > 1.2 {
        explained::missed(
            "offload, trivial round trip (target <= 1.2x unblock)",
            format!(
                "A trivial job's round trip through the pool took {} against {} through \
                 `unblock` ({:.2}x, {} more), both awaited with `block_on` on the same thread.",
                ns(rt_g),
                ns(rt_u),
                rt_g / rt_u,
                ns(rt_g - rt_u)
            ),
        );
    }
    let (g, u) = (thr[0].median, thr[1].median);
    if g / ideal_per_s < 0.9 || g / achievable < 0.9 {
        explained::missed(
            "offload throughput (target >= 0.9x of threads / job, and of plain threads)",
            format!(
                "offload ran {:.1}k jobs/s, {:.2}x the ideal of {cores} threads / job; `unblock` \
                 {:.2}x; {cores} plain threads splitting the same jobs with no async at all, in the \
                 same rounds, {:.2}x ideal, which bounds what this machine gave any contender. \
                 Against those plain threads offload reached {:.2}x and `unblock` {:.2}x. {}",
                g / 1e3,
                g / ideal_per_s,
                u / ideal_per_s,
                achievable / ideal_per_s,
                g / achievable,
                u / achievable,
                if achievable / ideal_per_s < 0.9 {
                    "Even the plain threads fell short of the ideal: the cores were not free \
                     (see the load average above)."
                } else {
                    "The plain threads had the cores; beside the pool, the async contenders also \
                     run the executor that spawns the tasks and takes their wake-ups, the \
                     heartbeat and async-io's reactor thread."
                }
            ),
        );
    }
}
