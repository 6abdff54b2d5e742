//! The seed's technique 2: `asyncio.Semaphore(3)` around `asyncio.gather`
//! of ten tasks, side by side with async-guard.
//!
//! ```python
//! import asyncio                                # use async_guard::limit::{gather, Limiter};
//!
//! semaphore = asyncio.Semaphore(3)              # let limiter = Limiter::new(3);
//!
//! async def task(name):                         # async fn task(limiter, name) {
//!     async with semaphore:                     #     let _permit = limiter.acquire().await?;
//!         print(f"{name} 开始执行")              #     println!("{name} started");
//!         await asyncio.sleep(2)                #     Timer::after(..).await;
//!         print(f"{name} 执行完成")              #     println!("{name} finished");
//!                                               # }
//! async def main():
//!     tasks = [task(f"任务 {i}") for i in range(10)]
//!     await asyncio.gather(*tasks)              # gather(10, tasks).await
//!
//! asyncio.run(main())                           # smol::block_on(main())
//! ```
//!
//! Part 2 does the same in one call, `gather(3, tasks)`, without a limiter.
//! Part 3 shows what asyncio's semaphore cannot do: shed load when too many
//! wait. Part 4 answers the seed's "set the value according to the system's
//! capacity": an `AdaptiveLimiter` sets the limit from the latency it
//! measures, and follows the capacity when it doubles. Run with
//! `cargo run --release --example limit` (about 4 s).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_guard::limit::adaptive::{AdaptiveLimiter, Gradient};
use async_guard::limit::{Limiter, gather};
use async_io::Timer;

const WORK: Duration = Duration::from_millis(200); // asyncio.sleep(2), scaled down

static RUNNING: AtomicUsize = AtomicUsize::new(0);

async fn task(limiter: Limiter, name: String, start: Instant) -> Result<(), async_guard::Error> {
    let _permit = limiter.acquire().await?; // async with semaphore:
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    println!("{:>6.0?} {name} started ({now} running)", start.elapsed());
    Timer::after(WORK).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    println!("{:>6.0?} {name} finished", start.elapsed());
    Ok(())
}

fn main() -> Result<(), async_guard::Error> {
    smol::block_on(async {
        println!("== 1. Semaphore(3) + gather of ten tasks ==");
        let limiter = Limiter::new(3);
        let start = Instant::now();
        let tasks = (0..10).map(|i| task(limiter.clone(), format!("task {i}"), start));
        for result in gather(10, tasks).await {
            result?;
        }
        println!(
            "all ten done in {:?} (4 waves of at most 3)",
            start.elapsed()
        );
        println!("{:?}\n", limiter.stats());

        println!("== 2. the same bound in one call: gather(3, ..) ==");
        let start = Instant::now();
        let jobs = (0..10).map(|i| async move {
            Timer::after(WORK).await;
            i * i
        });
        let squares = gather(3, jobs).await; // in input order
        println!("{squares:?} in {:?}\n", start.elapsed());

        println!("== 3. load shedding: 3 running, at most 2 waiting ==");
        let limiter = Limiter::builder().limit(3).max_waiting(2).build();
        let jobs = (0..10).map(|i| {
            let limiter = limiter.clone();
            async move {
                match limiter.run(Timer::after(WORK)).await {
                    Ok(_) => format!("request {i}: served"),
                    Err(e) => format!("request {i}: {e}"),
                }
            }
        });
        for line in gather(10, jobs).await {
            println!("{line}");
        }
        let stats = limiter.stats();
        println!("served {}, shed {}\n", stats.acquired, stats.rejected);

        adaptive_demo().await;
        Ok(())
    })
}

/// A service with `CAPACITY` slots: a call made while `n` calls are inside
/// takes `SLOT * max(1, n / capacity)`, so beyond its capacity concurrency
/// only adds latency. 32 callers share an adaptive limiter; the capacity
/// doubles half-way.
async fn adaptive_demo() {
    const SLOT: Duration = Duration::from_millis(20);
    static CAPACITY: AtomicUsize = AtomicUsize::new(4);
    static INSIDE: AtomicUsize = AtomicUsize::new(0);
    println!("== 4. an adaptive limit follows the capacity (4, then 8) ==");
    let limiter = AdaptiveLimiter::builder()
        // Re-measure the no-load latency every second (default 10 s), to
        // follow a change within this short demo.
        .policy(Gradient::new().probe_interval(Duration::from_secs(1)))
        .initial_limit(8)
        .max_limit(64)
        .build();
    let start = Instant::now();
    let run_for = Duration::from_secs(3);
    let callers = (0..32).map(|_| {
        let limiter = limiter.clone();
        async move {
            while start.elapsed() < run_for {
                let _ = limiter
                    .run(async {
                        let n = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
                        let capacity = CAPACITY.load(Ordering::SeqCst);
                        Timer::after(SLOT.mul_f64((n as f64 / capacity as f64).max(1.0))).await;
                        INSIDE.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await;
            }
        }
    });
    let report = async {
        while start.elapsed() < run_for {
            Timer::after(Duration::from_millis(250)).await;
            if start.elapsed() >= run_for / 2 && CAPACITY.swap(8, Ordering::SeqCst) == 4 {
                println!("{:>6.1?} capacity doubles to 8", start.elapsed());
            }
            let s = limiter.stats();
            println!(
                "{:>6.1?} limit {:>2}  recent RTT {:>6.1?}  no-load RTT {:>6.1?}",
                start.elapsed(),
                s.limit,
                s.recent_rtt.unwrap_or_default(),
                s.no_load_rtt.unwrap_or_default()
            );
        }
    };
    futures_lite::future::zip(gather(32, callers), report).await;
    println!("{:?}", limiter.stats());
}
