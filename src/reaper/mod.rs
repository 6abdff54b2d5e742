//! Cure 5: watch tasks for activity and cancel the ones that went idle.
//!
//! A [`Reaper`] runs futures under [`track`](Reaper::track) and drops
//! (cancels) those that do not [`touch`](Activity::touch) their [`Activity`]
//! within a time-to-live: a client that went silent, a stream nobody reads,
//! a job stuck on a dead peer. The task's caller gets
//! `Err(`[`Reaped`](crate::Reaped)`)`. Use it where a per-operation
//! timeout does not fit because the operation may legitimately run for
//! long, as long as it keeps making progress (a session, a long download).
//!
//! ```
//! use std::time::Duration;
//! use async_guard::reaper::Reaper;
//! # futures_lite::future::block_on(async {
//! let reaper = Reaper::new(Duration::from_millis(50));
//! let session = reaper.track("session-1", |activity| async move {
//!     loop {
//!         // read a frame... (this client went silent: no more frames)
//!         std::future::pending::<()>().await;
//!         activity.touch();
//!     }
//! });
//! match session.await {
//!     Ok(()) => unreachable!(),
//!     Err(reaped) => println!("{reaped}"), // task `session-1` was reaped: idle for ...
//! }
//! # });
//! ```
//!
//! For things that are not one future (a session spread over tasks, a pooled
//! connection, a cache entry), [`Reaper::watch`] gives an [`Activity`] and an
//! [`Idle`] future that resolves when the thing went idle; the owner decides
//! what to do. [`Reaper::snapshot`] lists what is tracked (name, idle time,
//! age) and [`Reaper::stats`] counts tracked, finished and reaped tasks.
//!
//! # How it works, and what it guarantees
//!
//! The reaper keeps a coarse clock: a counter of *periods* (a third of a
//! tick) that its driver advances; [`Activity::touch`] copies it into the
//! entry, so a touch is two relaxed atomic operations and never reads the
//! clock. A touch is never lost: an entry is reaped only once the clock is
//! `ttl / period + 2` periods past its last touch, and the driver never
//! advances the clock faster than the grid of periods, so the entry has
//! really been idle for at least `ttl`, even if the driver runs late. With
//! a punctual driver it is reaped before `ttl + tick` of idleness (plus
//! timer and scheduling slack).
//!
//! Entries sit in a ring of buckets, one per period, keyed by the period in
//! which they could first expire. A tick pops one bucket: an entry touched
//! since it was queued is moved to the bucket of its new possible expiry
//! (lazy re-bucketing), the others are reaped. So a tick costs O(1 + entries
//! due in it), the same at 10 and at 1,000,000 tracked tasks, and a busy
//! task is re-examined about once per `ttl` however often it touches
//! (`BENCHMARKS.md` has the figures).
//!
//! One driver task per reaper runs on the crate's background executor
//! thread (`guard-runtime`), sleeping on the crate's timer until its next
//! tick; it wakes every period while anything is tracked and sleeps with no
//! timer while nothing is. So it works the same under smol, async-std, a
//! bare `block_on` or any other executor, and keeps reaping while the
//! application's executor threads are busy. Under a
//! [`TestClock`](crate::time) (feature `test-util`) a reaper built inside
//! the clock runs on virtual time.
//!
//! A reaped task is woken by the driver at once; its inner future is
//! dropped in that poll (the `Tracked` future drops it before returning
//! `Err(Reaped)`). Code the task runs on another task (`spawn`) is not part
//! of its future and is not cancelled with it.
//!
//! # Edge cases
//!
//! - `ttl` of `Duration::ZERO`: a task must touch in every period; it is
//!   reaped after at most two periods without a touch.
//! - Huge `ttl` (up to `Duration::MAX`): never overflows; a `ttl` beyond what
//!   `Instant` can represent means nothing is ever reaped.
//! - `tick` is clamped to `[max(3 ms, ttl / 512), max(ttl, 3 ms)]`, so the
//!   ring has at most about 2k buckets and the driver wakes at most every
//!   millisecond. [`Reaper::tick`] tells the value in force.
//! - Closed reaper (or every `Reaper` clone dropped): every task still
//!   tracked resolves to `Err(Reaped)`, every `Idle` to `Err(Closed)`, and so
//!   do later `track`/`watch` calls at their first poll: a reaper that no
//!   longer runs fails loudly instead of silently never reaping. (A reaper
//!   built while the OS refuses threads is not closed: its driver waits
//!   for the background thread, which is retried; see the crate docs,
//!   "Background threads".) Such a `Reaped` says so ([`Reaped::is_closed`](crate::Reaped::is_closed))
//!   and carries the task's actual idle time; [`ReaperStats::closed`] counts these.
//! - A task finishing in the same instant it is reaped returns its output.
//! - Touching after the task finished, was reaped or its reaper closed is
//!   allowed and does nothing.
//!
//! # Cancellation safety
//!
//! Dropping a [`Tracked`] at any point drops the task and removes its entry
//! at once (O(1)); dropping an [`Idle`] ends its watch the same way. A
//! reaped or closed `Tracked` may be polled again: it keeps answering
//! `Err(Reaped)`. Nothing is left behind in the reaper: its memory follows
//! the number of tracked tasks, and its slab is released when it empties.
//!
//! # Comparison with other crates
//!
//! tokio-util's `DelayQueue` expires *data*, needs `&mut` access for every
//! reset and runs only on tokio. Connection pools (bb8, r2d2, hyper's) scan
//! all idle items on every reaper tick; deadpool leaves the
//! loop to the user. moka's expiry had a lost-touch bug when a touch landed
//! just before the deadline (its issue 359); here the touch's period is
//! compared, never an instant that may be stale. A timeout per task
//! (`async_io::Timer`, tokio's `timeout`) would cost a timer registration
//! per touch. The asyncio idiom (a last-activity dict scanned by a monitor
//! loop) maps onto this module in the README's migration table.

mod activity;
mod driver;
mod handle;
mod pace;
mod queue;
mod shared;
mod tracked;

pub use activity::Activity;
pub use handle::{Reaper, ReaperBuilder, ReaperStats, TaskInfo};
pub use tracked::{Idle, Tracked};
