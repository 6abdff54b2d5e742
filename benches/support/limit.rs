//! Limit workloads, shared by `benches/limit.rs`, `benches/limit_scaling.rs`
//! and `bench-report/`:
//!
//! - uncontended: one acquire + release polled by hand (no executor);
//! - contended: 1000 tasks on a 2-thread executor share 8 permits, each
//!   acquires 500 times and holds the permit across one `yield_now` (plus
//!   optional busy work);
//! - scaling: n waiters queue behind one held permit (one poll each), then
//!   every waiter in turn takes the permit and drops it. Polled by hand with
//!   a no-op waker: no executor in the loop.

#![allow(dead_code, reason = "each includer uses a part")]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future::{self, yield_now};

/// Tasks of the contended scenario.
pub const TASKS: usize = 1000;
/// Acquisitions per task in the contended scenario.
pub const ROUNDS: usize = 500;
/// Permits in the contended scenario.
pub const PERMITS: usize = 8;

/// Polls a future that must be ready at once (no executor in the loop).
///
/// Always inlined, so that the future is built in place as it is in an
/// `async` block: before, whether the compiler happened to inline this
/// helper decided whether the future was copied into it (a copy of freshly
/// written fields stalls on store forwarding; `perf annotate` showed it as
/// the hottest instruction), so a contender's time depended on the
/// harness's inlining rather than on its own code.
#[inline(always)]
pub fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("expected an uncontended acquire"),
    }
}

/// A 2-thread executor that lives for the whole process.
pub fn executor() -> &'static async_executor::Executor<'static> {
    static EX: OnceLock<&'static async_executor::Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static async_executor::Executor<'static> =
            Box::leak(Box::new(async_executor::Executor::new()));
        for _ in 0..2 {
            std::thread::spawn(move || future::block_on(ex.run(future::pending::<()>())));
        }
        ex
    })
}

/// Busy work done while holding a permit (`spins` iterations, roughly
/// 1 ns each), so the critical section is not just a scheduling point.
pub fn work(spins: u32) {
    for i in 0..spins {
        std::hint::black_box(i);
    }
}

/// Runs the contended scenario on [`executor`]; `acquire` takes one permit,
/// which is held across one `yield_now` plus `spins` of busy work. Returns
/// every wait (time from asking to holding) when `timed`.
pub fn contended_run<A, Fut, P>(acquire: A, spins: u32, timed: bool) -> Vec<Duration>
where
    A: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = P> + Send,
    P: Send,
{
    contended_rounds(acquire, ROUNDS, spins, timed)
}

/// [`contended_run`] with `rounds` acquisitions per task instead of
/// [`ROUNDS`] (a shorter iteration, for criterion groups).
pub fn contended_rounds<A, Fut, P>(
    acquire: A,
    rounds: usize,
    spins: u32,
    timed: bool,
) -> Vec<Duration>
where
    A: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = P> + Send,
    P: Send,
{
    let ex = executor();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let acquire = acquire.clone();
            ex.spawn(async move {
                let mut waits = Vec::new();
                for _ in 0..rounds {
                    let start = timed.then(Instant::now);
                    let permit = acquire().await;
                    if let Some(start) = start {
                        waits.push(start.elapsed());
                    }
                    yield_now().await;
                    work(spins);
                    drop(permit);
                }
                waits
            })
        })
        .collect();
    future::block_on(async {
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await);
        }
        all
    })
}

use async_guard::limit::Limiter;
use async_lock::Semaphore;

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = poll_once(f.as_mut()) {
            return v;
        }
    }
}

/// One round on `lim` (enqueue + grant + release of `n` waiters); its wall time.
pub fn limiter_round(lim: &Limiter, n: usize) -> Duration {
    let start = Instant::now();
    let held = ready(lim.acquire()).unwrap();
    let mut waiters: Vec<_> = (0..n).map(|_| Box::pin(lim.acquire())).collect();
    for w in &mut waiters {
        assert!(poll_once(w.as_mut()).is_pending());
    }
    drop(held);
    for w in &mut waiters {
        match poll_once(w.as_mut()) {
            Poll::Ready(p) => drop(p.unwrap()),
            Poll::Pending => panic!("waiters are granted in order"),
        }
    }
    drop(waiters);
    start.elapsed()
}

/// The same round on an `async_lock::Semaphore`.
pub fn semaphore_round(sem: &Semaphore, n: usize) -> Duration {
    let start = Instant::now();
    let held = ready(sem.acquire());
    let mut waiters: Vec<_> = (0..n).map(|_| Box::pin(sem.acquire())).collect();
    for w in &mut waiters {
        assert!(poll_once(w.as_mut()).is_pending());
    }
    drop(held);
    for w in &mut waiters {
        drop(ready(w.as_mut()));
    }
    drop(waiters);
    start.elapsed()
}
