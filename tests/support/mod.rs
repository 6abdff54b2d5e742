//! Shared helpers of the reliability suite (`tests/torture.rs`,
//! `tests/bad_input.rs`, `tests/stress.rs`).
#![allow(dead_code)]

pub mod torture;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

#[allow(unused_imports)]
pub use torture::{Outcome, Torture, eventually};

/// Sets its flag when dropped: tells whether a future (or stream) that
/// owns it was dropped.
#[derive(Debug)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl DropFlag {
    /// A flag and the shared bool it sets.
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let b = Arc::new(AtomicBool::new(false));
        (DropFlag(b.clone()), b)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A shared counter.
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Runs `fut` to completion on a helper thread with `block_on`, failing
/// (instead of hanging the test run) if it takes longer than `limit`.
pub fn within<F>(limit: Duration, what: &str, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures_lite::future::block_on(fut)
        }));
        let _ = tx.send(out);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: did not finish within {limit:?} (hang?)"),
    }
}

/// The message of a panic payload (`&str` or `String`).
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Asserts a reaper's books: nothing still tracked, and every task it ever
/// tracked ended one way (finished, dropped, reaped or closed).
pub fn assert_reaper_settled(reaper: &async_guard::Reaper) {
    let s = reaper.stats();
    assert_eq!(s.tracked, 0, "{s:?}");
    assert_eq!(
        s.total,
        s.finished + s.dropped + s.reaped + s.closed,
        "{s:?}"
    );
}

/// How many threads of this process have a name starting with `prefix`.
#[cfg(target_os = "linux")]
pub fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// A real `Overloaded` (its constructor is crate-private): a CPU pool with
/// its one thread busy and no queue sheds the next job.
pub fn shed_by_a_full_pool() -> async_guard::Overloaded {
    let pool = async_guard::CpuPool::builder()
        .threads(1)
        .max_waiting(0)
        .build();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let busy = pool.try_run(move || rx.recv().ok()).unwrap();
    // Wait until the one thread has taken the job, then the next is shed.
    while pool.stats().running == 0 {
        std::thread::yield_now();
    }
    let shed = pool.try_run(|| ()).unwrap_err();
    tx.send(()).unwrap();
    futures_lite::future::block_on(busy);
    shed
}
