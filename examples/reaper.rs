//! The seed's technique 5, "task activity monitoring", with async-guard.
//!
//! Run: `cargo run --release --example reaper` (about 2 seconds).
//!
//! The asyncio original (times here are scaled down 10x: 1 s -> 100 ms):
//!
//! ```text
//! task_activity = {}                                 | let reaper = Reaper::new(500 ms);
//!                                                    |
//! async def monitored_task(name):                    | reaper.track(name, |activity| async move {
//!     while True:                                    |     loop {
//!         task_activity[name] = time.time()          |         activity.touch();
//!         print(f"{name} 正在运行...")                |         println!("{name} running...");
//!         await asyncio.sleep(1)                     |         Timer::after(100 ms).await;
//!                                                    |     }
//!                                                    | })
//! async def monitor_tasks():                         | // no monitor loop to write: the reaper has
//!     while True:                                    | // one timer, looks only at what may expire,
//!         now = time.time()                          | // and cancels the idle task itself (the seed
//!         for task, last_active in list(             | // only deleted its dict entry; the task ran on)
//!                 task_activity.items()):            |
//!             if now - last_active > 5:              | match tracked.await {
//!                 print(f"{task} 已空闲超过 5 秒，清理...")|     Err(reaped) => println!("{reaped}"),
//!                 del task_activity[task]            |     Ok(..) => ..,  // done: it left the reaper
//!         await asyncio.sleep(1)                     | }
//!                                                    |
//! async def main():                                  | async main: spawn the tracked tasks, await
//!     tasks = [monitored_task(f"任务 {i}")            | them; reaper.snapshot() is the live dict,
//!              for i in range(3)]                    | reaper.stats() the counters.
//!     tasks.append(monitor_tasks())                  |
//!     await asyncio.gather(*tasks)                   |
//! ```
//!
//! To show the reaping, task 1 stops touching (hangs) after 3 rounds, task 2
//! finishes after 5 rounds and task 0 after 15 (the seed's ran for ever).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_guard::reaper::{Activity, Reaper};
use async_io::Timer;

const ROUND: Duration = Duration::from_millis(100);
const IDLE_LIMIT: Duration = Duration::from_millis(500);

/// The seed's `monitored_task`, with a way to go silent or finish.
async fn monitored_task(
    name: Arc<str>,
    activity: Activity,
    rounds: Option<u32>,
    hang_after: Option<u32>,
) -> u32 {
    let mut n = 0;
    loop {
        if Some(n) == hang_after {
            println!("{name}: stuck (waiting for a peer that never answers)");
            std::future::pending::<()>().await;
        }
        if Some(n) == rounds {
            return n;
        }
        activity.touch(); // task_activity[name] = time.time()
        println!("{name} running...");
        Timer::after(ROUND).await;
        n += 1;
    }
}

fn main() {
    let start = Instant::now();
    let reaper = Reaper::builder(IDLE_LIMIT)
        .on_reap(move |name, idle| {
            println!(
                "[{:>4} ms] {name} idle for {idle:?} (> {IDLE_LIMIT:?}): cancelled",
                start.elapsed().as_millis()
            );
        })
        .build();

    let plans = [(Some(15), None), (None, Some(3)), (Some(5), None)];
    let tasks: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(i, (rounds, hang_after))| {
            let name: Arc<str> = format!("task {i}").into();
            let tracked = reaper.track(name.clone(), move |activity| {
                monitored_task(name, activity, rounds, hang_after)
            });
            smol::spawn(tracked)
        })
        .collect();

    smol::block_on(async {
        Timer::after(ROUND * 3 + ROUND / 2).await;
        println!("--- snapshot (the live `task_activity` dict) ---");
        for info in reaper.snapshot() {
            println!(
                "  #{} {:<7} idle {:>6.0?}  age {:>6.0?}",
                info.id, info.name, info.idle_for, info.age
            );
        }
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await {
                Ok(rounds) => {
                    println!("task {i}: finished after {rounds} rounds (left the reaper at once)")
                }
                Err(reaped) => println!("task {i}: {reaped}"),
            }
        }
    });
    let stats = reaper.stats();
    println!(
        "stats: {} tracked in total, {} finished, {} reaped for idleness, {} still tracked, longest idle seen {:?}",
        stats.total, stats.finished, stats.reaped, stats.tracked, stats.longest_idle
    );
}
