//! Cure 6: critical work that survives cancellation, and is waited for at
//! shutdown.
//!
//! asyncio's `await asyncio.shield(critical())` runs `critical()` as a task
//! of its own, so cancelling the caller does not cut a message send or a
//! file write in half. In Rust, dropping a future cancels it, and in smol
//! dropping a `Task` cancels the task too, so the caller's cancellation
//! always reaches the work. [`shield`] gives the work a life of its own:
//!
//! | asyncio | async-guard |
//! |---|---|
//! | `await asyncio.shield(critical())` | [`shield`]`(critical()).await` or `critical().shield().await` |
//! | `asyncio.wait_for(asyncio.shield(op), t)` | `shield(op).timeout(t)`: the caller stops waiting, the work goes on |
//! | (no equivalent) a bound on the work itself | [`shield_within`]`(grace, op)` → `Err(`[`Expired`]`)` |
//! | keep a set of background tasks, `gather` them at exit | [`drain`]`(timeout).await` or a [`ShieldSet`] |
//!
//! ```
//! use std::time::Duration;
//! use async_guard::shield::{self, shield};
//! use async_guard::FutureExt as _;
//! # futures_lite::future::block_on(async {
//! async fn critical_task() -> &'static str {
//!     async_io::Timer::after(Duration::from_millis(20)).await; // a write, a send
//!     "done"
//! }
//! // The caller gives up after 5 ms; the critical work does not.
//! let caller = shield(critical_task()).timeout(Duration::from_millis(5));
//! assert!(caller.await.is_err());
//!
//! // At the end of `main`: wait for all shielded work, a bounded time.
//! let report = shield::drain(Duration::from_secs(5)).await;
//! assert_eq!(report.still_running, 0);
//! # });
//! ```
//!
//! # Where the work runs
//!
//! A [`Shielded`] handle owns its work. **While the handle is awaited, the
//! work runs right there**: each poll of the handle polls the work, in the
//! caller's task, on the caller's thread, with no spawn and no other thread
//! involved. Nothing runs before the handle is first polled (like any
//! future). **Only if the handle is dropped before the work ended** (the
//! caller was cancelled, a timeout gave up on it, or it was never awaited)
//! does the handle's `Drop` move the rest of the work, as it stands, to the
//! set's executor, which runs it to its end and drops the output. The work
//! is never polled by both: the executor gets it only once the handle is
//! gone. After the move it is polled (with a waker of its new task) as soon
//! as the executor schedules it, so wake-ups it registered in the caller's
//! task are renewed.
//!
//! The set's executor is the crate's background executor thread
//! (`guard-runtime`, started on first use) for [`shield`],
//! [`shield_within`] and [`ShieldSet::new`], or yours for
//! [`ShieldSet::with_spawner`]: its spawn function receives the *remaining*
//! part of each piece of work whose handle was dropped before its end, and
//! nothing else (work awaited to its end never reaches it). The work, and its
//! output's `Drop`, can therefore run on another thread than the caller's,
//! after the caller is gone: hence the `Send + 'static` bounds.
//!
//! Every piece of work is counted in its set from the moment it is created
//! until it ends, wherever it runs: [`drain`] waits for work still driven by
//! its callers as well as for work that moved to the executor.
//! [`shield`] and [`shield_within`] use a process-wide set ([`drain`],
//! [`stats`]) that is never closed, so they cannot fail; a [`ShieldSet`] of
//! your own can be closed. [`ShieldSet::track`] also counts ordinary futures
//! you spawn yourself, so that one drain waits for your tasks too.
//!
//! The background thread is one thread: work that moves there should be
//! I/O-bound. Offload CPU work or blocking calls inside it
//! (`blocking::unblock`), as anywhere else. Shielding from shielded work,
//! and awaiting the inner handle, is fine (no deadlock); blocking the thread
//! is not (a `block_on` inside work that moved there stalls every other
//! piece of work on it).
//!
//! Although the caller polls it, shielded work does **not** inherit the
//! caller's deadline scope ([`crate::time`]): each poll of the work runs
//! outside every enclosing timeout, as if it were a task of its own; that is
//! the point of a shield. Bound it with [`shield_within`] instead.
//!
//! # Shutdown
//!
//! The real pitfall of shielding is that the process exits with the work
//! half done: background threads die with `main`. End `main` with
//! [`drain`] (or [`ShieldSet::close`] then [`ShieldSet::drain`]); the
//! [`DrainReport`] says what finished and what was still running when the
//! timeout ran out.
//!
//! # Panics
//!
//! A panic inside shielded work is caught at every poll, wherever the work
//! runs. Awaiting the handle re-raises it in the caller (original payload).
//! When nobody awaits (the handle was dropped and the work panicked on the
//! executor), the panic is counted in [`ShieldStats::unobserved_panics`] and
//! passed to the hook set with [`ShieldSet::on_panic`] or
//! [`on_panic`], so it is never silently lost (asyncio's "Task
//! exception was never retrieved", CPython issue 86802); it never takes down
//! the executor.
//!
//! # Cancellation safety
//!
//! Dropping a [`Shielded`] handle, or the task awaiting it, at any point
//! never cancels the work: it moves to the set's executor and ends there
//! (exactly once); its output is dropped when it ends. Dropping a [`drain`]
//! future only stops waiting. Work is stopped early in exactly two cases:
//! its grace period from [`shield_within`] runs out (the future is dropped
//! at an `.await`, so the work should tolerate that, like any timeout), or a
//! user executor drops it after it moved there (counted as
//! [`lost`](ShieldStats::lost)). A [`TrackedFuture`] is the future you gave:
//! dropping it cancels it (counted as lost).
//!
//! # Edge cases
//!
//! - `shield_within(grace, fut)`: the grace period starts when
//!   `shield_within` is called, not when the handle is first polled nor
//!   when the work moves: the work is stopped at `call + grace` at the
//!   latest, wherever it runs. `Duration::ZERO`: `fut` gets one poll; ready
//!   then, it wins, otherwise `Err(Expired)`. `Duration::MAX` (or any grace
//!   past what `Instant` can represent) never expires.
//! - A handle that is neither awaited nor dropped holds its work, unstarted
//!   or paused, and a drain waits for it until its timeout.
//! - `drain(Duration::ZERO)` takes stock without waiting; `Duration::MAX`
//!   waits as long as it takes. A drain does not close the set. A drain
//!   awaited by work of the same set waits for itself until its timeout.
//! - A closed set refuses with `Err(`[`Closed`](crate::Closed)`)` and drops
//!   the future unpolled.
//! - A user spawner that drops the work (or panics) loses it: counted in
//!   [`lost`](ShieldStats::lost); nobody waits on it any more, so nothing
//!   hangs.
//! - A handle polled again after it returned its output panics, like most
//!   futures.
//!
//! # Cost
//!
//! Creating a shield boxes the work once (so the handle's type does not
//! depend on it and the hand-over never moves it) and updates a few atomic
//! counters of its set. Awaiting it to its end costs one dynamic poll per
//! poll of the handle; no task, no thread hop. Only a dropped handle spawns
//! a task on the set's executor. `benches/shield.rs` compares both paths
//! with `async_executor` spawn+await.
//!
//! # Comparison with other crates
//!
//! `smol::spawn(..).detach()` survives the caller but loses the output and
//! the panic, and nothing waits for it at exit. tokio's `JoinHandle` does not
//! cancel on drop and tokio-util's `TaskTracker` waits at shutdown, but both
//! need tokio. asyncio's `shield` has no bound on the work and no drain.
//! This module gives the output, the panic, a grace bound and a drain, on
//! any executor.

mod background;
mod handle;
mod set;
mod track;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

pub use crate::error::Expired;
pub use handle::Shielded;
pub use set::{BoxedWork, Drain, DrainReport, ShieldSet, ShieldStats};
pub use track::TrackedFuture;

/// The process-wide set behind [`shield`], [`drain`] and [`stats`].
fn default_set() -> &'static ShieldSet {
    static SET: OnceLock<ShieldSet> = OnceLock::new();
    SET.get_or_init(ShieldSet::new)
}

/// Runs `future` to its end whatever happens to the caller; the handle
/// gives its output.
///
/// Awaiting the handle runs the work in the awaiting task; dropping it
/// before the work ended moves the rest of the work to the background
/// executor thread (see [Where the work runs](self#where-the-work-runs)).
/// The work is tracked in the process-wide set ([`drain`], [`stats`]),
/// which is never closed, so this cannot fail. Awaiting the handle
/// re-raises a panic of the work.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::shield;
/// # futures_lite::future::block_on(async {
/// let (tx, rx) = smol::channel::bounded(1);
/// let mut caller = Box::pin(async move {
///     shield(async move {
///         async_io::Timer::after(Duration::from_millis(10)).await;
///         tx.send("delivered").await.unwrap();
///     })
///     .await
/// });
/// // Poll the caller once (the send starts), then cancel it mid-operation.
/// assert!(futures_lite::future::poll_once(caller.as_mut()).await.is_none());
/// drop(caller);
/// assert_eq!(rx.recv().await.unwrap(), "delivered"); // not cut in half
/// # });
/// ```
pub fn shield<F>(future: F) -> Shielded<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match default_set().shield_static(future) {
        Ok(handle) => handle,
        Err(_) => unreachable!("the process-wide shield set is never closed"),
    }
}

/// Like [`shield`], but the work may take at most `grace`: when that runs
/// out the work is stopped (dropped at its current `.await`) and the handle
/// gives `Err(Expired)`.
///
/// The grace period starts now, when `shield_within` is called, and is
/// independent of the caller: neither the first poll of the handle nor
/// cancelling the caller (which moves the work to the background executor)
/// changes the deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::shield_within;
/// # futures_lite::future::block_on(async {
/// let quick = shield_within(Duration::from_secs(5), async { "flushed" });
/// assert_eq!(quick.await, Ok("flushed"));
/// let stuck = shield_within(Duration::from_millis(10), std::future::pending::<()>());
/// let err = stuck.await.unwrap_err();
/// assert_eq!(err.grace(), Duration::from_millis(10));
/// # });
/// ```
pub fn shield_within<F>(grace: Duration, future: F) -> Shielded<Result<F::Output, Expired>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match default_set().shield_within_static(grace, future) {
        Ok(handle) => handle,
        Err(_) => unreachable!("the process-wide shield set is never closed"),
    }
}

/// Waits until no work started with [`shield`] / [`shield_within`] is in
/// flight, or for at most `timeout`; call it at the end of `main`. See
/// [`ShieldSet::drain`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::{self, shield};
/// # futures_lite::future::block_on(async {
/// drop(shield(async_io::Timer::after(Duration::from_millis(10))));
/// let report = shield::drain(Duration::from_secs(5)).await;
/// assert!(report.is_complete());
/// # });
/// ```
pub fn drain(timeout: Duration) -> Drain {
    default_set().drain(timeout)
}

/// The counters of the process-wide set (see [`ShieldStats`]).
///
/// # Examples
///
/// ```
/// use async_guard::shield::{self, shield};
/// # futures_lite::future::block_on(async {
/// shield(async {}).await;
/// assert!(shield::stats().completed >= 1);
/// # });
/// ```
pub fn stats() -> ShieldStats {
    default_set().stats()
}

/// Sets the hook for panics of work started with [`shield`] that nobody
/// awaits; see [`ShieldSet::on_panic`] (this is that method, for the
/// process-wide set, as [`drain`] and [`stats`] are).
///
/// # Examples
///
/// ```
/// async_guard::shield::on_panic(|payload| {
///     let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
///     eprintln!("shielded work panicked, nobody awaited it: {msg}");
/// });
/// ```
pub fn on_panic<H>(hook: H)
where
    H: Fn(Box<dyn std::any::Any + Send + 'static>) + Send + Sync + 'static,
{
    default_set().on_panic(hook)
}
