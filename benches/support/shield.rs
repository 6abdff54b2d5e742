//! Shield workloads, shared by `benches/shield.rs` and `bench-report/`.
//! Every case runs in a task on a 2-thread `async_executor::Executor` (a
//! busy service's shape, not a `block_on` on an idle main thread) and
//! returns the time measured inside that task for `n` iterations:
//!
//! - 1 in flight: one shielded future at a time, awaited to its end (the
//!   caller-driven path: no spawn, no thread hop). Raw: spawn + await on
//!   the same executor.
//! - 10k in flight: 10k created, then awaited in order.
//! - cancelled: the handle is polled once, then dropped; the rest of the
//!   work moves to the set's executor (the background thread, or the same
//!   2-thread executor with `with_spawner`) and the caller waits for its end
//!   with the set's `drain`. Raw: spawn the same work on the same placement
//!   (the caller's executor, or an executor on one thread of its own, the
//!   shape of the crate's background thread) and await it.
//! - cancelled 10k: the same with 10k handles dropped, then one drain.

#![allow(dead_code, reason = "each includer uses a part")]

use std::future::Future;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_executor::Executor;
use async_guard::shield::{ShieldSet, shield};
use futures_lite::future::{self, block_on};

/// Futures in flight at once in the "many" cases.
pub const MANY: u64 = 10_000;

/// An executor run by two threads of its own: where every case's caller runs.
pub fn executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        for _ in 0..2 {
            std::thread::spawn(move || block_on(ex.run(future::pending::<()>())));
        }
        ex
    })
}

/// An executor run by one thread of its own: the placement of the crate's
/// background thread, for the raw baseline of the background-thread rows.
pub fn one_thread_executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        std::thread::spawn(move || block_on(ex.run(future::pending::<()>())));
        ex
    })
}

/// Runs `body(iters)` as a task on [`executor`] and returns the time it
/// measured there.
pub fn in_task<F, Fut>(iters: u64, body: F) -> Duration
where
    F: FnOnce(u64) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    block_on(executor().spawn(async move {
        let start = Instant::now();
        body(iters).await;
        start.elapsed()
    }))
}

/// Work that is done on its first poll.
pub async fn work_ready(i: u64) -> u64 {
    black_box(i)
}

/// Work that is not done on its first poll, so a dropped handle leaves
/// something to move.
pub async fn work_yields(i: u64) -> u64 {
    future::yield_now().await;
    black_box(i)
}

/// The sets of the cancelled cases: the default (background thread), and
/// `with_spawner` on [`executor`].
pub fn sets() -> (&'static ShieldSet, &'static ShieldSet) {
    static SETS: OnceLock<(ShieldSet, ShieldSet)> = OnceLock::new();
    let (a, b) = SETS.get_or_init(|| {
        let ex = executor();
        (
            ShieldSet::new(),
            ShieldSet::with_spawner(move |w| ex.spawn(w).detach()),
        )
    });
    (a, b)
}

/// A labelled case: `n` iterations, their time.
pub type Case = (&'static str, fn(u64) -> Duration);

/// Raw: `n` times, spawn `work_ready` on [`executor`] and await it.
pub fn raw_one(n: u64) -> Duration {
    in_task(n, |n| async move {
        let ex = executor();
        for i in 0..n {
            black_box(ex.spawn(work_ready(i)).await);
        }
    })
}

/// `n` times, shield `work_ready` and await it.
pub fn shield_one(n: u64) -> Duration {
    in_task(n, |n| async move {
        for i in 0..n {
            black_box(shield(work_ready(i)).await);
        }
    })
}

/// Raw: `n` times, spawn `MANY` on [`executor`], then await them in order.
pub fn raw_many(n: u64) -> Duration {
    in_task(n, |n| async move {
        let ex = executor();
        for _ in 0..n {
            let tasks: Vec<_> = (0..MANY).map(|i| ex.spawn(work_ready(i))).collect();
            for t in tasks {
                black_box(t.await);
            }
        }
    })
}

/// `n` times, shield `MANY`, then await them in order.
pub fn shield_many(n: u64) -> Duration {
    in_task(n, |n| async move {
        for _ in 0..n {
            let handles: Vec<_> = (0..MANY).map(|i| shield(work_ready(i))).collect();
            for h in handles {
                black_box(h.await);
            }
        }
    })
}

async fn cancelled_in(set: &ShieldSet, n: u64) {
    for i in 0..n {
        let mut handle = set.shield(work_yields(i)).unwrap();
        assert!(future::poll_once(&mut handle).await.is_none());
        drop(handle);
        set.drain(Duration::MAX).await;
    }
}

async fn cancelled_unpolled_in(set: &ShieldSet, n: u64) {
    for i in 0..n {
        drop(set.shield(work_yields(i)).unwrap());
        set.drain(Duration::MAX).await;
    }
}

async fn cancelled_many_in(set: &ShieldSet, n: u64) {
    for _ in 0..n {
        for i in 0..MANY {
            let mut handle = set.shield(work_yields(i)).unwrap();
            assert!(future::poll_once(&mut handle).await.is_none());
            drop(handle);
        }
        set.drain(Duration::MAX).await;
    }
}

async fn raw_yields_on(ex: &Executor<'static>, n: u64) {
    for i in 0..n {
        black_box(ex.spawn(work_yields(i)).await);
    }
}

async fn raw_yields_many_on(ex: &Executor<'static>, n: u64) {
    for _ in 0..n {
        let tasks: Vec<_> = (0..MANY).map(|i| ex.spawn(work_yields(i))).collect();
        for t in tasks {
            black_box(t.await);
        }
    }
}

/// Raw: `n` times, spawn `work_yields` on [`executor`] and await it.
pub fn raw_yields(n: u64) -> Duration {
    in_task(n, |n| raw_yields_on(executor(), n))
}

/// Raw: the same on [`one_thread_executor`].
pub fn raw_yields_one_thread(n: u64) -> Duration {
    in_task(n, |n| raw_yields_on(one_thread_executor(), n))
}

/// Cancelled after one poll, finished on the background thread.
pub fn cancelled_background(n: u64) -> Duration {
    in_task(n, |n| cancelled_in(sets().0, n))
}

/// Cancelled after one poll, finished on [`executor`] (`with_spawner`).
pub fn cancelled_spawner(n: u64) -> Duration {
    in_task(n, |n| cancelled_in(sets().1, n))
}

/// Cancelled before its first poll, finished on [`executor`].
pub fn cancelled_unpolled_spawner(n: u64) -> Duration {
    in_task(n, |n| cancelled_unpolled_in(sets().1, n))
}

/// Raw: `n` times, spawn `MANY` `work_yields` on [`executor`], await them.
pub fn raw_yields_many(n: u64) -> Duration {
    in_task(n, |n| raw_yields_many_on(executor(), n))
}

/// Raw: the same on [`one_thread_executor`].
pub fn raw_yields_many_one_thread(n: u64) -> Duration {
    in_task(n, |n| raw_yields_many_on(one_thread_executor(), n))
}

/// `MANY` cancelled after one poll, then one drain; background thread.
pub fn cancelled_many_background(n: u64) -> Duration {
    in_task(n, |n| cancelled_many_in(sets().0, n))
}

/// The same with `with_spawner` on [`executor`].
pub fn cancelled_many_spawner(n: u64) -> Duration {
    in_task(n, |n| cancelled_many_in(sets().1, n))
}
