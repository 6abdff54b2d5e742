//! time: `timeout` against the raw `or` + `Timer` idiom, single and n pending.

use std::fmt::Write as _;
use std::future::{Future, pending, ready};
use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use async_guard::time::timeout;

use crate::Opts;
use crate::explained;
use crate::measure::{per_call, poll_to_end, race, scaling_rows, sink};
use crate::render::{Table, growth, met, ns, pair_cells, pair_row, scaling_section};

#[path = "../../benches/support/time.rs"]
mod workloads;
use workloads::{YieldOnce, raw_timeout};

const LONG: Duration = Duration::from_secs(60);

/// Arms `n` pending timeouts (one poll each) then drops them; `times` rounds.
/// Returns ns per timeout.
fn arm_cancel<F: Future>(n: usize, times: usize, make: impl Fn() -> F) -> f64 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut total = Duration::ZERO;
    for _ in 0..times {
        let start = Instant::now();
        let mut futs: Vec<_> = (0..n).map(|_| Box::pin(make())).collect();
        for f in &mut futs {
            assert!(f.as_mut().poll(&mut cx).is_pending());
        }
        drop(futs);
        total += start.elapsed();
    }
    total.as_nanos() as f64 / (n * times) as f64
}

/// Writes the time section: the clock read, single timeouts, then n
/// pending at once.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("time ...");
    let reps = o.reps();
    let it = if o.quick { 100_000 } else { 300_000 };
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(poll_to_end(timeout(LONG, ready(black_box(1))))))),
            Box::new(|| {
                per_call(it, || {
                    sink(poll_to_end(raw_timeout(LONG, ready(black_box(1)))))
                })
            }),
            Box::new(|| {
                per_call(it / 4, || {
                    sink(poll_to_end(timeout(LONG, YieldOnce(false))))
                })
            }),
            Box::new(|| {
                per_call(it / 4, || {
                    sink(poll_to_end(raw_timeout(LONG, YieldOnce(false))))
                })
            }),
            Box::new(|| per_call(it, || sink(Instant::now()))),
        ],
    );
    let (ready_g, ready_r, once_g, once_r, clock) = (
        s[0].median,
        s[1].median,
        s[2].median,
        s[3].median,
        s[4].median,
    );
    let _ = writeln!(
        md,
        "## time: `timeout(d, fut)` vs `fut.or(async {{ Timer::after(d).await; .. }})`\n"
    );
    let _ = writeln!(
        md,
        "Baseline: the raw smol idiom, `futures_lite`'s `or` with an `async_io::Timer`. \
         Both sides are single futures polled by hand with a no-op waker (no executor in the loop). \
         A timeout made from a duration reads the clock once, at the start of its first poll \
         (it counts from there), even when the future is ready at once; the raw idiom reads it \
         only when it creates its `Timer`, which `or` does only if the operation is pending. \
         The last row is that clock read alone.\n"
    );
    let mut t = Table::new(&["case", "async-guard", "raw or+Timer", "ratio (guard/raw)"]);
    t.row(&pair_row("ready on first poll", ready_g, ready_r));
    t.row(&pair_row(
        "pending once, then ready (timer armed and cancelled)",
        once_g,
        once_r,
    ));
    t.row(&[
        "the clock read alone: `Instant::now()`".into(),
        ns(clock),
        "-".into(),
        "-".into(),
    ]);
    md.push_str(&t.done());
    let _ = writeln!(
        md,
        "\nOf the {} a ready timeout costs, the clock read is {} ({:.0} %); the other {} is the \
         rest of the wrapper (its deadline bookkeeping, and publishing the deadline in the thread-local deadline scope \
         for the inner poll and restoring the previous one). The raw idiom pays {} on this path.",
        ns(ready_g),
        ns(clock),
        100.0 * (clock / ready_g).min(1.0),
        ns((ready_g - clock).max(0.0)),
        ns(ready_r),
    );

    // Scaling: n timeouts pending at once (arm n, then cancel n).
    let work = if o.quick { 100_000 } else { 200_000 };
    let rows = scaling_rows(
        o.quick,
        reps,
        work,
        |n, times| arm_cancel(n, times, || timeout(LONG, pending::<()>())),
        |n, times| arm_cancel(n, times, || raw_timeout(LONG, pending::<()>())),
    );
    let _ = writeln!(
        md,
        "\n### time: n timeouts pending at once (arm n, one poll each, then cancel all; cost per timeout)\n"
    );
    scaling_section(
        md,
        &[
            "pending",
            "async-guard",
            "raw or+Timer",
            "ratio (guard/raw)",
        ],
        &rows,
        pair_cells,
        "timeout",
        &[("async-guard", 0), ("raw", 1)],
        Some(&|v: &[f64]| {
            let (g, r) = (v[0], v[1]);
            format!(
                "Target (time issue): at 100k pending, at least 2x cheaper than raw: {:.2}x cheaper, {}.",
                r / g,
                met(r / g >= 2.0)
            )
        }),
    );
    if let Some((_, v)) = rows.iter().find(|(n, _)| *n == 100_000) {
        let (g, r) = (v[0], v[1]);
        if r / g < 2.0 {
            let points = |col: usize| -> Vec<(usize, f64)> {
                rows.iter().map(|(n, v)| (*n, v[col])).collect()
            };
            let spread = |col: usize| {
                let c: Vec<f64> = rows
                    .iter()
                    .filter(|(n, _)| *n >= 100)
                    .map(|(_, v)| v[col])
                    .collect();
                let lo = c.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = c.iter().cloned().fold(0.0, f64::max);
                hi / lo
            };
            explained::missed(
                "time, 100k pending (target: 2x cheaper than raw)",
                format!(
                    "At 100k pending a timeout cost {} against the raw idiom's {} ({:.2}x cheaper). \
                     Both sides box the future, read the clock once ({} here) and register and cancel \
                     a timer, so the clock read alone is {:.0} % of async-guard's cost. Growth from \
                     n = 100 on: async-guard {}; raw {}. The raw column varies x{:.2} over those \
                     sizes and async-guard's x{:.2}: {}",
                    ns(g),
                    ns(r),
                    r / g,
                    ns(clock),
                    100.0 * (clock / g).min(1.0),
                    growth(&points(0)),
                    growth(&points(1)),
                    spread(1),
                    spread(0),
                    if r / g >= 1.0 {
                        "async-guard is cheaper, by less than the target asks."
                    } else {
                        "async-guard is the dearer of the two at this size."
                    }
                ),
            );
        }
    }
}
