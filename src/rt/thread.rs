//! The one policy for a thread the OS refuses.
//!
//! Every thread of the crate (the timer, the background executor, the CPU
//! pools' workers) is started through [`spawn`]. When the OS refuses one
//! (`EAGAIN` from `pthread_create`, a `prlimit --nproc`, a container's pid
//! limit):
//!
//! - the caller is never blocked or spun: the work that needed the thread
//!   stays queued, and the call returns;
//! - nothing is disabled for the rest of the process: the start is retried
//!   at the next use, and every [`RETRY_INTERVAL`] by the timer thread while
//!   it runs ([`retry_later`]);
//! - `blocking`'s pool is never borrowed for a never-ending task.
//!
//! So a shortage of threads delays work (it runs once a thread can be
//! started) but never loses it and never wedges a caller.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How often the timer thread retries starts that failed.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// A start to retry: `true` once it no longer needs retrying.
type Retry = Box<dyn FnMut() -> bool + Send>;

static RETRIES: Mutex<Vec<Retry>> = Mutex::new(Vec::new());

/// Starts a named thread; `false` if the OS refused it.
pub(crate) fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> bool {
    crate::sync::thread::Builder::new()
        .name(name)
        .spawn(body)
        .is_ok()
}

/// Calls `retry` again later, until it returns `true`: from the timer
/// thread every [`RETRY_INTERVAL`], or, if that thread cannot run either,
/// at the next use of the timer.
pub(crate) fn retry_later(retry: impl FnMut() -> bool + Send + 'static) {
    RETRIES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Box::new(retry));
    super::timer::kick();
}

/// `true` when retries are waiting (the timer thread then wakes at least
/// every [`RETRY_INTERVAL`]).
pub(crate) fn retries_pending() -> bool {
    !RETRIES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
}

/// Runs the waiting retries once (outside the lock: a retry may start a
/// thread, or queue another retry), keeping those that still fail.
pub(crate) fn run_retries() {
    let mut pending = std::mem::take(&mut *RETRIES.lock().unwrap_or_else(PoisonError::into_inner));
    if pending.is_empty() {
        return;
    }
    pending.retain_mut(|retry| {
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut *retry));
        !done.unwrap_or(true)
    });
    if !pending.is_empty() {
        RETRIES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut pending);
    }
}
