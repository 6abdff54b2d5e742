//! Cure 5: watch tasks for activity and cancel the ones that went idle.
//!
//! The asyncio technique: every task writes `time.time()` into a shared
//! `task_activity` dict; a monitor loop wakes every second, scans the whole
//! dict and deletes the entries idle for more than 5 s (and, the note says,
//! should also look at `task.done()`). That version scans everything on
//! every tick, only forgets the dict entry and never stops the idle task.
//! Here the idle task itself is cancelled, finished tasks leave at once, and
//! a tick costs nothing for the tasks that are not about to expire:
//!
//! | asyncio (the seed) | async-guard |
//! |---|---|
//! | `task_activity[name] = time.time()` | [`activity.touch()`](Activity::touch): two relaxed loads, no clock read |
//! | `monitor_tasks()` scanning the dict every second | one timer per [`Reaper`]; a tick only looks at entries that may expire in it |
//! | `del task_activity[task]` (the task keeps running) | the task's future is dropped; its caller gets `Err(`[`Reaped`](crate::Reaped)`)` |
//! | `task.done()` | entries leave the reaper the moment their task finishes or is dropped |
//! | `list(task_activity.items())` | [`Reaper::snapshot`], [`Reaper::stats`] |
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
//! what to do.
//!
//! # How it works, and what it guarantees
//!
//! The reaper keeps a coarse clock: a counter of *periods* (a third of a
//! tick) that its driver advances; [`Activity::touch`] copies it into the
//! entry, so a touch never calls `Instant::now()` and costs about a
//! nanosecond. A touch is never lost: an entry is reaped only once the
//! clock is `ttl / period + 2` periods past its last touch, and the driver
//! never advances the clock faster than the grid of periods, so the entry
//! has really been idle for at least `ttl`, even if the driver runs late.
//! With a punctual driver it is reaped before `ttl + tick` of idleness
//! (plus timer and scheduling slack).
//!
//! Entries sit in a ring of buckets, one per period, keyed by the period in
//! which they could first expire. A tick pops one bucket: an entry touched
//! since it was queued is moved to the bucket of its new possible expiry
//! (lazy re-bucketing), the others are reaped. So a tick costs O(1 + entries
//! due in it), the same at 10 and at 1,000,000 tracked tasks, and a busy
//! task is re-examined about once per `ttl` however often it touches.
//! Measured (`benches/reaper.rs`): a tick with nothing due takes about 60-90
//! ns at 1k, 100k and 1M tracked, where scanning a `Mutex<HashMap>` like the
//! seed takes 9 us, 0.7 ms and 19 ms; with every task active, the re-checks
//! average out to about 12 ns per task per ttl.
//!
//! One driver task per reaper runs on a background thread (an
//! `async_executor::Executor` under `async_io::block_on`, shared by all
//! reapers of the process), sleeping on one `async_io::Timer`. It wakes every
//! period while anything is tracked (to advance the clock) and sleeps with no
//! timer while nothing is. It works the same under smol, async-std, a bare
//! `block_on` or any other executor, and keeps reaping while the
//! application's executor threads are busy.
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
//!   longer runs fails loudly instead of silently never reaping. If the
//!   driver thread could not be started, the reaper is created closed.
//!   Such a `Reaped` says so ([`Reaped::is_closed`](crate::Reaped::is_closed))
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
//! the number of tracked tasks (about 140 heap bytes each, plus 40 bytes in
//! the `Tracked` future and the name; see `benches/reaper.rs`), and its slab
//! is released when it empties.
//!
//! # Comparison with other crates
//!
//! tokio-util's `DelayQueue` expires *data*, needs `&mut` access for every
//! reset and runs only on tokio. Connection pools (bb8, r2d2, hyper's) scan
//! all idle items on every reaper tick, like the seed; deadpool leaves the
//! loop to the user. moka's expiry had a lost-touch bug when a touch landed
//! just before the deadline (its issue 359); here the touch's period is
//! compared, never an instant that may be stale. `async_io::Timer` or a
//! timeout per task would cost a timer registration per touch.

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
