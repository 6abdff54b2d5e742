//! Cure 1: CPU-bound work off the event loop, on a bounded pool.
//!
//! An async task that computes for milliseconds (decoding, parsing, model
//! set-up, hashing) holds its executor thread, and every other task on it
//! waits. [`offload`]`(f).await` runs `f` on a process-wide pool of one
//! thread per core and resolves to its result, keeping the event loop free;
//! [`CpuPool`] is a pool of your own, with a bounded queue
//! ([`try_run`](CpuPool::try_run) sheds load with `Err(Overloaded)`), a
//! name and [`stats`](CpuPool::stats). Unlike `blocking::unblock` (sized
//! for blocking I/O: hundreds of threads) it never runs more CPU jobs than
//! there are cores; unlike `rayon`, the result is a future and a job
//! dropped before it started never runs.
//!
//! ```
//! use async_guard::offload::offload;
//! # futures_lite::future::block_on(async {
//! fn create_asr_client() -> String {
//!     // expensive, CPU-bound initialisation
//!     "ASR Client Created".to_string()
//! }
//! let client = offload(create_asr_client).await;
//! assert_eq!(client, "ASR Client Created");
//! # });
//! ```
//!
//! # Which pool?
//!
//! | the work | use | why |
//! |---|---|---|
//! | CPU-bound (parsing, decoding, model set-up, hashing) | [`offload`] / [`CpuPool`] | a few threads, one per core: more would only fight over the cores and raise every latency |
//! | blocking I/O (files, `std::net`, a sync database driver) | [`unblock`] (re-exported from `blocking`) | threads mostly sleep, so the `blocking` pool grows to hundreds of them |
//! | async I/O (sockets via `async-io`/smol) | neither: `.await` it on the event loop | it never blocks |
//!
//! Do not put I/O on the CPU pool: a job that sleeps or blocks holds one of
//! the few threads and delays every CPU job behind it.
//!
//! # Sizing: `ASYNC_GUARD_CPU_THREADS`
//!
//! The process-wide pool (and a [`CpuPoolBuilder`] without `.threads(n)`) has
//! as many threads as the `ASYNC_GUARD_CPU_THREADS` environment variable
//! says if it holds a positive integer, else
//! `std::thread::available_parallelism()`. `0`, an empty value or garbage
//! fall back to the core count; anything above 1024 is clamped.
//! [`CpuPool::threads`] tells the size in force.
//! The global pool reads the variable once, on first use.
//!
//! Never more than `threads` jobs run at once, whatever the load: the rest
//! wait in one FIFO queue. Threads start on demand and then stay until the
//! pool shuts down (the global pool's live as long as the process).
//!
//! # Panics
//!
//! A panic inside the work is caught on the pool thread (which survives and
//! takes the next job) and resumed in the task awaiting the [`Offload`]
//! future, like `std::thread::scope` does: the caller sees the original
//! panic payload. It is counted in [`PoolStats::panicked`]. If the caller
//! dropped its future, the panic is counted and discarded.
//!
//! # Cancellation safety
//!
//! Dropping an [`Offload`] future is always safe:
//!
//! - **before the job started** (still in the queue, or not yet admitted):
//!   the work never runs; the closure is dropped on the dropping thread at
//!   once, the queue slot and the admission permit are released, and the
//!   job counts as [`cancelled`](PoolStats::cancelled);
//! - **while it runs**: a thread cannot be interrupted, so the job finishes
//!   on its pool thread and its result is dropped there (its admission
//!   permit is released only then, as it still occupies a thread).
//!
//! A job is either run or skipped, never both: a worker starting it and a
//! caller dropping it race on one small lock.
//!
//! # Shutdown
//!
//! When the last [`CpuPool`] handle is dropped (futures still waiting for
//! admission hold the pool open), the pool closes gracefully: every job
//! already queued still runs and its awaiting caller gets the result; then
//! the threads exit. Dropping the handle never blocks, so it is safe inside
//! async code. To abandon queued work, drop its futures.
//!
//! # Edge cases
//!
//! - `threads(0)` is treated as 1, `threads(huge)` as 1024.
//! - `max_waiting(0)`: admitted only while a thread is free; `try_run` sheds
//!   otherwise and `run` waits. A `max_waiting` so large that
//!   `threads + max_waiting` overflows means unbounded.
//! - Names with NUL characters are cleaned; long names are cut by the OS.
//! - If the OS refuses to start a thread and the pool has none, the queued
//!   jobs wait (never run inline on the caller's event loop) and the start
//!   is retried every 10 ms; they run once a thread starts (the crate docs,
//!   "Background threads").
//! - A job that blocks on another job of the *same* pool (`block_on` inside
//!   the work) can deadlock it, exactly like a `ThreadPoolExecutor`: keep
//!   jobs self-contained, or give the inner work a pool of its own.
//! - Polling an [`Offload`] again after it returned its value panics, as
//!   for any completed future.
//!
//! # Design, by measurement
//!
//! The pool is its own set of threads fed by a `Mutex<VecDeque>` +
//! `Condvar` queue; each job shares one small mutex-guarded slot with its
//! future (the work, then the result or panic, and the caller's waker). The
//! alternative, [`blocking::unblock`] gated by an `async_lock::Semaphore` of
//! `threads` permits, loses throughput in `benches/offload.rs`: every job's
//! permit hand-off goes through the event loop (release, wake the next
//! waiting task, which only then submits its job), so the CPU threads idle
//! between jobs. Own threads keep the cores busy, and unlike unbounded
//! `unblock` keep the event loop's lag low, since at most `threads` jobs
//! compete with it for the cores; they also make cancel-before-start,
//! `max_waiting` shedding and [`stats`](CpuPool::stats) direct.
//! `BENCHMARKS.md` has the figures.
//!
//! # Comparison with other crates
//!
//! - `blocking::unblock` (re-exported here as [`unblock`]): a pool for
//!   *blocking I/O* that grows to 500 threads; right for files, wrong for
//!   CPU work (no bound on how many run at once, no queue limit, no stats).
//! - `rayon::spawn` + a oneshot channel: a work-stealing CPU pool, but no
//!   async result, no cancellation before start, no load shedding.
//! - tokio's `spawn_blocking` is, like `blocking`, for blocking I/O, and is
//!   tied to tokio's runtime.

mod pool;
mod task;

pub use blocking::unblock;
pub use pool::{CpuPool, CpuPoolBuilder, PoolStats};
pub use task::Offload;

/// Runs CPU-bound `work` on the process-wide pool ([`CpuPool::global`]) and
/// resolves to its result, keeping the event loop free meanwhile.
///
/// The pool has one thread per core (unless
/// `ASYNC_GUARD_CPU_THREADS` says otherwise) and an unbounded queue. A panic
/// in `work` resumes in the awaiting task; dropping the future before the
/// job started means `work` never runs (see [`Offload`]).
///
/// # Examples
///
/// ```
/// use async_guard::offload::offload;
/// # futures_lite::future::block_on(async {
/// let primes = offload(|| (2..10_000u32).filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0)).count()).await;
/// assert_eq!(primes, 1229);
/// # });
/// ```
pub fn offload<F, T>(work: F) -> Offload<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    CpuPool::global().run(work)
}

#[cfg(test)]
mod tests {
    use super::pool::{MAX_THREADS, parse_threads};
    use super::*;

    #[test]
    fn handles_and_futures_are_send_and_sync() {
        fn check<T: Send + Sync + Unpin + 'static>() {}
        check::<CpuPool>();
        check::<Offload<String>>();
        check::<PoolStats>();
    }

    #[test]
    fn env_parsing_falls_back_on_garbage_and_zero() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(parse_threads(None), cores);
        assert_eq!(parse_threads(Some("")), cores);
        assert_eq!(parse_threads(Some("0")), cores);
        assert_eq!(parse_threads(Some("-3")), cores);
        assert_eq!(parse_threads(Some("lots")), cores);
        assert_eq!(parse_threads(Some(" 3 ")), 3);
        assert_eq!(parse_threads(Some("99999999999")), MAX_THREADS);
    }
}
