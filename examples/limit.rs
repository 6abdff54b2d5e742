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
//! wait. Run with `cargo run --release --example limit` (about 1 s).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
        println!("served {}, shed {}", stats.acquired, stats.rejected);
        Ok(())
    })
}
