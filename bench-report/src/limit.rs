//! limit: `Limiter` against `async_lock::Semaphore`, uncontended, contended
//! and with n waiters queued.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_guard::limit::Limiter;
use async_lock::Semaphore;

use crate::Opts;
use crate::explained;
use crate::measure::{per_call, race, scaling_rows, sink};
use crate::render::{Table, met, ns, pair_cells, pair_row, scaling_section};

#[path = "../../benches/support/limit.rs"]
pub mod workloads;
use workloads::{PERMITS, ROUNDS, TASKS, contended_run, limiter_round, now, semaphore_round};

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

/// One run of the shared contended workload (`TASKS` tasks x `ROUNDS`
/// acquire / yield / release on a 2-thread executor, `PERMITS` permits).
/// Returns ns per acquire.
pub fn contended_ns<A, Fut, P>(acquire: A) -> f64
where
    A: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = P> + Send,
    P: Send,
{
    let start = Instant::now();
    contended_run(acquire, 0, false);
    start.elapsed().as_nanos() as f64 / (TASKS * ROUNDS) as f64
}

/// Writes the limit section: uncontended, contended, then n waiters queued.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("limit ...");
    let reps = o.reps();
    let it = if o.quick { 200_000 } else { 500_000 };
    let lim = Limiter::new(PERMITS);
    let sem = Arc::new(Semaphore::new(PERMITS));
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(now(lim.acquire()).unwrap()))),
            Box::new(|| per_call(it, || sink(now(sem.acquire_arc())))),
            Box::new(|| per_call(it, || sink(now(sem.acquire())))),
        ],
    );
    let (lim_c, sem_c) = (Limiter::new(PERMITS), Arc::new(Semaphore::new(PERMITS)));
    let c = race(
        if o.quick { 3 } else { 7 },
        vec![
            Box::new(|| {
                let l = lim_c.clone();
                contended_ns(move || l.acquire())
            }),
            Box::new(|| {
                let s = sem_c.clone();
                contended_ns(move || s.clone().acquire_arc())
            }),
        ],
    );
    let (un_g, un_arc, un_ref) = (s[0].median, s[1].median, s[2].median);
    let (co_g, co_s) = (c[0].median, c[1].median);
    // Throughput ratio: guard ops/s over semaphore ops/s.
    let thr = co_s / co_g;
    let _ = writeln!(md, "## limit: `Limiter` vs `async_lock::Semaphore`\n");
    let _ = writeln!(
        md,
        "Uncontended: one acquire + release polled by hand with a no-op waker, nobody else \
         around, on both sides. Contended: the workload of `benches/limit.rs`, on both sides: \
         {TASKS} tasks on a 2-thread `async_executor::Executor` share {PERMITS} permits, each \
         acquires {ROUNDS} times and holds the permit across one `yield_now` ({} interleaved \
         repetitions). `Limiter` is strictly FIFO; `async_lock::Semaphore` lets a newcomer \
         barge past waiters. `acquire_arc` returns an owned guard, as `Limiter::acquire` does; \
         `acquire` a borrowing one.\n",
        if o.quick { 3 } else { 7 }
    );
    let mut t = Table::new(&[
        "case",
        "async-guard Limiter",
        "async_lock::Semaphore",
        "ratio (guard/raw)",
        "target",
    ]);
    let mut row = pair_row(
        "uncontended acquire + release (vs `acquire_arc`)",
        un_g,
        un_arc,
    );
    row.push(format!("<= 1.3x: {}", met(un_g / un_arc <= 1.3)));
    t.row(&row);
    let mut row = pair_row("uncontended acquire + release (vs `acquire`)", un_g, un_ref);
    row.push(format!("<= 1.3x: {}", met(un_g / un_ref <= 1.3)));
    t.row(&row);
    t.row(&[
        format!("contended: {TASKS} tasks x {ROUNDS}, {PERMITS} permits, 2 threads (throughput)"),
        format!("{:.2} M acquires/s", 1e3 / co_g),
        format!("{:.2} M acquires/s", 1e3 / co_s),
        format!("**{thr:.2}x** throughput"),
        format!(">= 0.7x: {}", met(thr >= 0.7)),
    ]);
    md.push_str(&t.done());
    for (what, base, name) in [
        ("`acquire_arc`", un_arc, "acquire_arc"),
        ("`acquire`", un_ref, "acquire"),
    ] {
        if un_g / base > 1.3 {
            explained::missed(
                &format!("limit, uncontended vs {name} (target <= 1.3x)"),
                format!(
                    "An uncontended `Limiter` acquire + release took {} against {} for \
                     `Semaphore::{what}` ({:.2}x): {} more per acquisition, on a path with no \
                     waiter, no executor and no clock read on either side.",
                    ns(un_g),
                    ns(base),
                    un_g / base,
                    ns(un_g - base),
                ),
            );
        }
    }
    if thr < 0.7 {
        explained::missed(
            "limit, contended (target >= 0.7x the semaphore's throughput)",
            format!(
                "Contended, `Limiter` ran {:.2} M acquires/s against the semaphore's {:.2} M \
                 ({thr:.2}x), {} per acquisition against {}. {} With {TASKS} tasks and \
                 {PERMITS} permits a FIFO acquire that finds no free permit queues, is woken and \
                 rescheduled, whereas the semaphore lets a running task barge in without being \
                 rescheduled.",
                1e3 / co_g,
                1e3 / co_s,
                ns(co_g),
                ns(co_s),
                if un_g <= un_arc {
                    format!(
                        "Uncontended, in the same run, `Limiter` was not the dearer one ({} \
                         against {}), so the gap comes from contention.",
                        ns(un_g),
                        ns(un_arc)
                    )
                } else if co_g - co_s > 2.0 * (un_g - un_arc) {
                    format!(
                        "The uncontended gap in the same run is {} per acquisition, so most of \
                         the difference comes from contention.",
                        ns(un_g - un_arc)
                    )
                } else {
                    format!(
                        "The uncontended gap in the same run is {} per acquisition, a large \
                         share of the contended one.",
                        ns(un_g - un_arc)
                    )
                },
            ),
        );
    }

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
