//! limit: `Limiter` against `async_lock::Semaphore`, uncontended, contended
//! and with n waiters queued.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_executor::Executor;
use async_guard::limit::Limiter;
use async_lock::Semaphore;
use futures_lite::future::block_on;

use crate::Opts;
use crate::measure::{per_call, poll_to_end, race, scaling_rows, sink};
use crate::render::{Table, pair_cells, pair_row, scaling_section};

#[path = "../../benches/support/limit.rs"]
mod workloads;
use workloads::{limiter_round, semaphore_round};

/// `n` waiters queued behind one held permit, then granted one after the
/// other (each takes the permit and drops it, which hands it on), `times`
/// rounds on one limiter. Returns ns per waiter (enqueue + grant + release).
fn limiter_waiters(n: usize, times: usize) -> f64 {
    let lim = Limiter::new(1);
    let total: Duration = (0..times).map(|_| limiter_round(&lim, n)).sum();
    total.as_nanos() as f64 / (n * times) as f64
}

/// The same rounds on an `async_lock::Semaphore`.
fn semaphore_waiters(n: usize, times: usize) -> f64 {
    let sem = Semaphore::new(1);
    let total: Duration = (0..times).map(|_| semaphore_round(&sem, n)).sum();
    total.as_nanos() as f64 / (n * times) as f64
}

/// 1000 tasks on a 2-thread executor share 8 permits; each acquires 10 times
/// and holds the permit across one `yield_now`. Returns ns per acquire.
fn contended(acquire: fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>>) -> f64 {
    const TASKS: usize = 1000;
    const EACH: usize = 10;
    let ex = Arc::new(Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || block_on(ex.run(async move { stopped.recv().await.ok() })))
        })
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS).map(|i| ex.spawn(acquire(i))).collect();
    block_on(async {
        for t in tasks {
            t.await;
        }
    });
    let took = start.elapsed();
    drop(stop);
    for t in threads {
        t.join().unwrap();
    }
    took.as_nanos() as f64 / (TASKS * EACH) as f64
}

fn contended_limiter(_: usize) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    static LIM: OnceLock<Limiter> = OnceLock::new();
    let lim = LIM.get_or_init(|| Limiter::new(8));
    Box::pin(async move {
        for _ in 0..10 {
            let _p = lim.acquire().await.unwrap();
            futures_lite::future::yield_now().await;
        }
    })
}

fn contended_semaphore(_: usize) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    static SEM: OnceLock<Semaphore> = OnceLock::new();
    let sem = SEM.get_or_init(|| Semaphore::new(8));
    Box::pin(async move {
        for _ in 0..10 {
            let _p = sem.acquire().await;
            futures_lite::future::yield_now().await;
        }
    })
}

/// Writes the limit section: uncontended, contended, then n waiters queued.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("limit ...");
    let reps = o.reps();
    let it = if o.quick { 200_000 } else { 500_000 };
    let lim = Limiter::new(8);
    let sem = Semaphore::new(8);
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(poll_to_end(lim.acquire()).unwrap()))),
            Box::new(|| per_call(it, || sink(poll_to_end(sem.acquire())))),
        ],
    );
    let c = race(
        if o.quick { 3 } else { 7 },
        vec![
            Box::new(|| contended(contended_limiter)),
            Box::new(|| contended(contended_semaphore)),
        ],
    );
    let _ = writeln!(md, "## limit: `Limiter` vs `async_lock::Semaphore`\n");
    let mut t = Table::new(&[
        "case",
        "async-guard Limiter",
        "async_lock::Semaphore",
        "ratio (guard/raw)",
    ]);
    t.row(&pair_row(
        "uncontended acquire + release",
        s[0].median,
        s[1].median,
    ));
    t.row(&pair_row(
        "contended: 1000 tasks, 8 permits, 2 threads, per acquire",
        c[0].median,
        c[1].median,
    ));
    md.push_str(&t.done());

    let work = if o.quick { 100_000 } else { 200_000 };
    let rows = scaling_rows(o.quick, reps, work, limiter_waiters, semaphore_waiters);
    let _ = writeln!(
        md,
        "\n### limit: n waiters queued behind a held permit, then granted in turn (cost per waiter: enqueue + grant + release)\n"
    );
    scaling_section(
        md,
        &[
            "waiters",
            "async-guard Limiter",
            "async_lock::Semaphore",
            "ratio (guard/raw)",
        ],
        &rows,
        pair_cells,
        "waiter",
        &[("Limiter", 0), ("Semaphore", 1)],
        None,
    );
}
