//! The seed's technique 6, "protect critical operations", side by side with
//! asyncio. Run with `cargo run --release --example shield`.
//!
//! ```python
//! import asyncio
//!
//! async def critical_task():
//!     print("critical operation started...")
//!     await asyncio.sleep(2)  # simulated critical operation
//!     print("critical operation done")
//!
//! async def main():
//!     try:
//!         # protect the critical operation with asyncio.shield
//!         await asyncio.shield(critical_task())
//!     except asyncio.CancelledError:
//!         print("task cancelled, but the critical operation was not affected")
//!
//! asyncio.run(main())
//! ```
//!
//! In asyncio, the process would exit right after `main` is cancelled and
//! the shielded task would die half done; here `main` ends with a drain.

use std::time::{Duration, Instant};

use async_guard::shield::{self, shield};
use async_io::Timer;

// async def critical_task():
async fn critical_task(started: Instant) {
    //     print("critical operation started...")
    println!(
        "[{:>4} ms] critical operation started...",
        started.elapsed().as_millis()
    );
    //     await asyncio.sleep(2)  # simulated critical operation
    Timer::after(Duration::from_millis(500)).await;
    //     print("critical operation done")
    println!(
        "[{:>4} ms] critical operation done",
        started.elapsed().as_millis()
    );
}

fn main() {
    let started = Instant::now();
    // asyncio.run(main())
    smol::block_on(async {
        // The caller: a task that awaits the shielded operation.
        let caller = smol::spawn(async move {
            // await asyncio.shield(critical_task())
            shield(critical_task(started)).await;
            println!("caller: got the result (not reached: the caller is cancelled)");
        });

        // Something cancels the caller mid-operation (a client hung up).
        Timer::after(Duration::from_millis(100)).await;
        // except asyncio.CancelledError:
        if caller.cancel().await.is_none() {
            println!(
                "[{:>4} ms] task cancelled, but the critical operation was not affected",
                started.elapsed().as_millis()
            );
        }

        // A bounded critical operation: `shield_within` stops it after its
        // grace period instead of letting it hang shutdown forever.
        let stuck = shield::shield_within(Duration::from_millis(200), std::future::pending::<()>());
        if let Err(e) = stuck.await {
            println!("[{:>4} ms] {e}", started.elapsed().as_millis());
        }

        // End of main: wait for all shielded work, at most 5 s. Without this
        // the process would exit with the critical operation half done.
        let report = shield::drain(Duration::from_secs(5)).await;
        println!(
            "[{:>4} ms] drained: {} completed, {} still running, {} panicked",
            started.elapsed().as_millis(),
            report.completed,
            report.still_running,
            report.panicked
        );
        println!("stats: {:?}", shield::stats());
    });
}
