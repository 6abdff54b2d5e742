//! The seed's technique 1, "run CPU-bound work in a thread pool", side by
//! side with the asyncio original.
//!
//! ```python
//! import asyncio                                   | use async_guard::offload::{offload, CpuPool};
//! from concurrent.futures import ThreadPoolExecutor|
//!                                                  |
//! def create_asr_client():                         | fn create_asr_client() -> String {
//!     # a slow, CPU-bound initialisation           |     // a slow, CPU-bound initialisation
//!     print("创建 ASR 客户端...")                   |     println!("创建 ASR 客户端...");
//!     return "ASR Client Created"                  |     "ASR Client Created".into()
//!                                                  | }
//! async def main():                                | async fn main() {
//!     loop = asyncio.get_running_loop()            |     // (any executor: smol, async-std, block_on)
//!     with ThreadPoolExecutor() as pool:           |     let pool = CpuPool::builder().build(); // one thread per core
//!         result = await loop.run_in_executor(     |     let result = pool.run(create_asr_client).await;
//!             pool, create_asr_client)             |     // or, on the process-wide pool: offload(create_asr_client).await
//!         print(result)                            |     println!("{result}");
//!                                                  | }   // dropping `pool` shuts it down, like leaving the `with`
//! asyncio.run(main())                              |
//! ```
//!
//! Then it shows why: a heartbeat task on the same single-threaded event
//! loop keeps ticking while four clients are created on the pool, and
//! stalls when the same work runs inline on the loop.
//!
//! Run with `cargo run --release --example offload`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_guard::offload::{CpuPool, offload};
use futures_lite::future;

/// Stands in for loading an acoustic model: ~150 ms of pure CPU.
fn create_asr_client() -> String {
    println!(
        "创建 ASR 客户端... (creating ASR client on {:?})",
        std::thread::current().name()
    );
    let start = Instant::now();
    let mut x = 1u64;
    while start.elapsed() < Duration::from_millis(150) {
        for _ in 0..1000 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    "ASR Client Created".into()
}

/// Runs four client creations next to a 5 ms heartbeat on one
/// single-threaded event loop; returns the heartbeat's worst lag.
fn heartbeat_during(make_clients: impl AsyncFnOnce()) -> Duration {
    let ex = LocalExecutor::new();
    future::block_on(ex.run(async {
        let done = std::cell::Cell::new(false);
        let heartbeat = async {
            let mut worst = Duration::ZERO;
            while !done.get() {
                let t = Instant::now();
                async_io::Timer::after(Duration::from_millis(5)).await;
                worst = worst.max(t.elapsed().saturating_sub(Duration::from_millis(5)));
            }
            worst
        };
        let work = async {
            make_clients().await;
            done.set(true);
        };
        future::zip(heartbeat, work).await.0
    }))
}

fn main() {
    // The seed's example, as is.
    future::block_on(async {
        let pool = CpuPool::builder().name("asr").build();
        let result = pool.run(create_asr_client).await;
        println!("{result}");
    });

    // Why it matters: the event loop's heartbeat while clients are created.
    let offloaded = heartbeat_during(async || {
        let clients: Vec<_> = (0..4).map(|_| offload(create_asr_client)).collect();
        for c in clients {
            c.await;
        }
    });
    let inline = heartbeat_during(async || {
        for _ in 0..4 {
            create_asr_client(); // blocks the event loop: the disease
            futures_lite::future::yield_now().await;
        }
    });
    println!();
    println!("worst heartbeat lag, 4 clients on the CPU pool: {offloaded:?}");
    println!("worst heartbeat lag, 4 clients inline on the loop: {inline:?}");
    println!("pool stats: {:?}", CpuPool::global().stats());
}
