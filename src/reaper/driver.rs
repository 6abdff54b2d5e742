//! Drives every reaper of the process: one small task per reaper on the
//! crate's background executor ([`crate::rt::executor`]), sleeping on the
//! crate's timer ([`crate::rt::timer`]) until its next tick.
//!
//! The background thread makes the reaper independent of the user's
//! executor (smol, async-std, a bare `block_on`): it keeps reaping even when
//! every application task is busy or blocked. If the OS refuses that
//! thread, the driver waits queued and starts with the thread (the start is
//! retried); the reaper is never created closed.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_lite::FutureExt as _;

use super::shared::Shared;
use crate::rt::{clock, executor, timer::Sleep};

/// Starts the driver of `shared`.
pub(crate) fn spawn(shared: Arc<Shared>) {
    executor::spawn(drive(shared));
}

/// The driver of one reaper.
async fn drive(shared: Arc<Shared>) {
    // Whatever ends the loop (close, or a bug that panics), the reaper
    // closes: its tasks fail loudly instead of never being reaped.
    let _ = AssertUnwindSafe(ticks(&shared)).catch_unwind().await;
    shared.close();
}

async fn ticks(shared: &Shared) {
    let mut wake_at = shared.pace.next_wake(clock::now());
    let mut timer = Sleep::default();
    loop {
        let go =
            futures_lite::future::poll_fn(|cx| shared.poll_wait(&mut timer, wake_at, cx)).await;
        if !go {
            return;
        }
        wake_at = shared.tick();
    }
}
