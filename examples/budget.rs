//! The seed's technique 4, "yield control in long loops", in Rust.
//!
//! Run with `cargo run --release --example budget`. It runs the seed's two
//! tasks on ONE thread (like asyncio's event loop) twice: first with a loop
//! that never yields (the disease), then with a `Budget` (the cure). A
//! `LagProbe` shows how late `other_task`'s neighbours get to run, and
//! `detect_stalls` names the loop that blocks the thread.
//!
//! ```text
//! asyncio (the seed)                              async-guard
//! ----------------------------------------------  ------------------------------------------------
//! async def long_running_task():                  async fn long_running_task(cure: bool) {
//!                                                     let mut budget = Budget::default(); // 500 us
//!     for i in range(10):                             for i in 0..10 {
//!         print(f"正在处理第 {i} 步")                     println!("step {i}");
//!                                                         for _ in 0..WORK { hash(..);
//!         await asyncio.sleep(0)  # 主动让出控制权            budget.tick().await; }  // cheap, yields every 500 us
//!                                                     }
//!                                                 }
//! async def other_task():                         async fn other_task() {
//!     while True:                                     loop {
//!         print("其他任务正在运行...")                    println!("other task is running...");
//!         await asyncio.sleep(1)                          Timer::after(100 ms).await;
//!                                                     }
//!                                                 }
//! async def main():                               // one thread, like asyncio's loop
//!     await asyncio.gather(long_running_task(),   ex.spawn(other_task()).detach();
//!                          other_task())          ex.run(long_running_task(true)).await;
//! asyncio.run(main())
//! ```
//!
//! The seed's loop does one `sleep(0)` per step; a real step is long (here
//! ~40 ms of hashing), so the yields must go *inside* the step. A `Budget`
//! makes that free: `tick().await` is a counter decrement and yields only
//! once 500 us of work has passed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_guard::FutureExt as _;
use async_guard::budget::{Budget, LagProbe};
use async_io::Timer;
use futures_lite::future::block_on;

/// Hashes per step: about 40 ms of CPU work in a release build.
const WORK: u64 = 4_000_000;

/// A small piece of real work: FNV-1a over the 8 bytes of `x` (~10 ns).
fn hash(x: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for byte in black_box(x).to_le_bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

async fn long_running_task(cure: bool) {
    let mut budget = Budget::default();
    let mut x = 0;
    for i in 0..10 {
        println!("  long_running_task: step {i}");
        for _ in 0..WORK {
            x = hash(x);
            if cure {
                budget.tick().await;
            }
        }
    }
    black_box(x);
    println!("  long_running_task: done, {} yields", budget.yields());
}

async fn other_task() {
    loop {
        println!("  other_task is running...");
        Timer::after(Duration::from_millis(100)).await;
    }
}

fn run(cure: bool) {
    println!(
        "\n== {} ==",
        if cure {
            "with a Budget (cured)"
        } else {
            "without yielding (the disease)"
        }
    );
    let ex = LocalExecutor::new();
    let (probe, heartbeat) = LagProbe::new(Duration::from_millis(1));
    ex.spawn(heartbeat).detach();
    ex.spawn(other_task()).detach();
    let start = Instant::now();
    let mut stalls = 0;
    let mut longest = Duration::ZERO;
    block_on(ex.run(async {
        Timer::after(Duration::from_millis(5)).await; // let the others start
        long_running_task(cure)
            .detect_stalls(Duration::from_millis(10), |name, took| {
                stalls += 1;
                longest = longest.max(took);
                if stalls <= 3 {
                    println!("  STALL: `{name}` held the thread for {took:.1?}");
                }
            })
            .named("long_running_task")
            .await;
        Timer::after(Duration::from_millis(5)).await; // let a late heartbeat report in
    }));
    let lag = probe.stats();
    println!(
        "  took {:.2?}; stalls over 10 ms: {stalls} (longest {longest:.1?}); \
         1 ms heartbeat lag: p50 {:.2?}, p99 {:.2?}, worst {:.2?}",
        start.elapsed(),
        lag.p50,
        lag.p99,
        lag.worst
    );
}

fn main() {
    run(false);
    run(true);
}
