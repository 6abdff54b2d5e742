//! time: `timeout` against the raw `or` + `Timer` idiom, single and n pending.

use std::fmt::Write as _;
use std::future::{Future, pending, ready};
use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use async_guard::time::timeout;

use crate::Opts;
use crate::measure::{per_call, poll_to_end, race, scaling_rows, sink};
use crate::render::{Table, met, pair_cells, pair_row, scaling_section};

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

/// Writes the time section: single timeouts, then n pending at once.
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
        ],
    );
    let _ = writeln!(
        md,
        "## time: `timeout(d, fut)` vs `fut.or(async {{ Timer::after(d).await; .. }})`\n"
    );
    let _ = writeln!(
        md,
        "Baseline: the raw smol idiom, `futures_lite`'s `or` with an `async_io::Timer`. \
         Single futures polled by hand with a no-op waker (no executor in the loop).\n"
    );
    let mut t = Table::new(&["case", "async-guard", "raw or+Timer", "ratio (guard/raw)"]);
    t.row(&pair_row("ready on first poll", s[0].median, s[1].median));
    t.row(&pair_row(
        "pending once, then ready (timer armed and cancelled)",
        s[2].median,
        s[3].median,
    ));
    md.push_str(&t.done());

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
}
