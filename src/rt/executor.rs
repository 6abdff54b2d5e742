//! The background executor: one `async_executor::Executor` on one thread
//! (`guard-runtime`), started on first use. It runs the reapers' drivers
//! and shielded work whose caller went away.
//!
//! A thread of its own makes both independent of the user's executor
//! (smol, async-std, a bare `block_on`): a reaper keeps reaping and
//! detached work keeps running even when every application task is busy
//! or blocked.
//!
//! If the OS refuses the thread, spawned tasks stay queued on the executor
//! and the start is retried ([`super::thread`]); they run once it starts.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use async_executor::Executor;

static EXECUTOR: Executor<'static> = Executor::new();

const IDLE: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(IDLE);

/// A retry is queued (one is enough, however many spawns failed).
static RETRY_QUEUED: AtomicBool = AtomicBool::new(false);

/// Spawns `task` on the background executor and detaches it. Spawned
/// under a virtual clock (feature `test-util`), it stays on that clock.
pub(crate) fn spawn<F>(task: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    #[cfg(feature = "test-util")]
    if let Some(clock) = super::virtual_clock::current() {
        EXECUTOR
            .spawn(super::virtual_clock::Driven::new(task, clock))
            .detach();
        ensure_running();
        return;
    }
    EXECUTOR.spawn(task).detach();
    ensure_running();
}

/// Starts the thread unless it runs; on refusal, schedules one retry.
fn ensure_running() {
    if !try_start() && !RETRY_QUEUED.swap(true, Ordering::AcqRel) {
        super::thread::retry_later(|| {
            // Done only once the thread runs: `try_start` also says `true`
            // while another caller is starting it, and that start may still
            // fail after this retry is gone, with `RETRY_QUEUED` still set
            // so that its caller queues no retry of its own.
            try_start();
            let running = STATE.load(Ordering::Acquire) == RUNNING;
            if running {
                RETRY_QUEUED.store(false, Ordering::Release);
            }
            running
        });
    }
}

/// `true` once the thread runs (or another caller is starting it).
fn try_start() -> bool {
    if STATE.load(Ordering::Acquire) == RUNNING {
        return true;
    }
    if STATE
        .compare_exchange(IDLE, STARTING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return true; // running, or being started by someone else
    }
    let started = super::thread::spawn("guard-runtime".into(), run);
    STATE.store(if started { RUNNING } else { IDLE }, Ordering::Release);
    started
}

/// The thread's body. Tasks never panic into the executor (the crate wraps
/// user work in `catch_unwind`), but if one ever did, keep serving.
fn run() {
    loop {
        let serve = || futures_lite::future::block_on(EXECUTOR.run(std::future::pending::<()>()));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(serve));
    }
}
