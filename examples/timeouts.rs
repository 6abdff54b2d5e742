//! The `time` cure, side by side with the seed's asyncio code.
//!
//! ```python
//! async def slow_task():
//!     await asyncio.sleep(5)            # a slow operation
//!     return "done"
//!
//! async def main():
//!     try:
//!         result = await asyncio.wait_for(slow_task(), timeout=2)
//!         print(result)
//!     except asyncio.TimeoutError:
//!         print("timed out, interrupted")
//!
//! # and for async iterators:
//! async with asyncio.timeout(2):
//!     async for chunk in stream: ...
//! ```
//!
//! Run: `cargo run --release --example timeouts` (about one second).

use std::time::{Duration, Instant};

use async_guard::prelude::*;
use async_guard::time::{remaining, timeout};
use async_io::Timer;
use futures_lite::{StreamExt, stream};

async fn slow_task() -> &'static str {
    Timer::after(Duration::from_secs(5)).await; // await asyncio.sleep(5)
    "done"
}

/// A nested step that adapts to the time it has left.
async fn fetch_with_budget() -> Result<&'static str, async_guard::Elapsed> {
    println!(
        "  fetch sees {:?} left in its caller's deadline",
        remaining().unwrap()
    );
    // Asks for 10 s, but the enclosing 300 ms deadline still bounds it.
    timeout(Duration::from_secs(10), slow_task()).await
}

fn main() {
    // Any executor works; this is smol's.
    smol::block_on(async {
        // 1. asyncio.wait_for(slow_task(), timeout=0.2)
        let started = Instant::now();
        match timeout(Duration::from_millis(200), slow_task()).await {
            Ok(v) => println!("1. {v}"),
            Err(e) => println!("1. timed out after {:?}: {e}", started.elapsed()),
        }

        // 2. Deadline scopes: the enclosing deadline bounds nested timeouts.
        let res = timeout(Duration::from_millis(300), fetch_with_budget()).await;
        match res {
            Ok(Err(e)) if e.is_enclosing() => {
                println!("2. nested call stopped by the enclosing deadline: {e}")
            }
            other => println!("2. unexpected: {other:?}"),
        }

        // 3. Async iterators: a stream of audio chunks that stalls after three.
        let chunks = stream::iter(["chunk-1", "chunk-2", "chunk-3"]).chain(stream::pending());
        let mut chunks = chunks.idle_timeout(Duration::from_millis(100));
        while let Some(item) = chunks.next().await {
            match item {
                Ok(chunk) => println!("3. got {chunk}"),
                Err(e) => println!("3. stream went silent, stopping: {e}"),
            }
        }

        // 4. A whole-stream deadline over a steady producer.
        let ticks = stream::repeat_with(|| Timer::after(Duration::from_millis(40))).then(|t| t);
        let received = ticks
            .deadline(Instant::now() + Duration::from_millis(200))
            .filter(Result::is_ok)
            .count()
            .await;
        println!("4. {received} ticks arrived before the stream's 200 ms deadline");
    });
}
