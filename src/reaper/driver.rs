//! Drives every reaper of the process: one background thread running an
//! `async_executor::Executor` under `async_io::block_on`, one small task per
//! reaper on it, each sleeping on one `async_io::Timer`.
//!
//! A thread of its own makes the reaper independent of the user's executor
//! (smol, async-std, a bare `block_on`): it keeps reaping even when every
//! application task is busy or blocked. It starts with the first reaper.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_executor::Executor;
use async_io::Timer;
use futures_lite::FutureExt as _;

use super::shared::Shared;

static EXECUTOR: Executor<'static> = Executor::new();

/// Starts the driver of `shared`; `false` if the driver thread cannot run.
pub(crate) fn spawn(shared: Arc<Shared>) -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    let started = *STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("async-guard-reaper".into())
            .spawn(|| async_io::block_on(EXECUTOR.run(std::future::pending::<()>())))
            .is_ok()
    });
    if started {
        EXECUTOR.spawn(drive(shared)).detach();
    }
    started
}

/// The driver of one reaper.
async fn drive(shared: Arc<Shared>) {
    // Whatever ends the loop (close, or a bug that panics), the reaper
    // closes: its tasks fail loudly instead of never being reaped.
    let _ = AssertUnwindSafe(ticks(&shared)).catch_unwind().await;
    shared.close();
}

async fn ticks(shared: &Shared) {
    let mut wake_at = shared.pace.next_wake(Instant::now());
    loop {
        let mut timer = wake_at.map_or_else(Timer::never, Timer::at);
        let go = futures_lite::future::poll_fn(|cx| shared.poll_wait(&mut timer, cx)).await;
        if !go {
            return;
        }
        wake_at = shared.tick();
    }
}
