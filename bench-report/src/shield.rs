//! shield: `shield(fut)` against `async_executor` spawn + await on the same
//! placement, always from a task on a busy 2-thread executor: awaited to the
//! end (1 and 10k in flight: the caller-driven path), and cancelled (the
//! handle is dropped and the work finishes on the background thread, or on
//! the caller's executor with `ShieldSet::with_spawner`).

use std::fmt::Write as _;
use std::time::Duration;

use crate::Opts;
use crate::explained;
use crate::measure::{Batch, race};
use crate::render::{Table, met, ns, ratio};

#[path = "../../benches/support/shield.rs"]
mod workloads;
use workloads::*;

/// A contender: `f(iters)` timed, as ns per future (`per` futures an iteration).
fn batch(f: fn(u64) -> Duration, iters: u64, per: u64) -> Batch<'static> {
    Box::new(move || f(iters).as_nanos() as f64 / (iters * per) as f64)
}

/// One row of the table: what it measures, the two medians, the target.
struct Row {
    case: &'static str,
    baseline: &'static str,
    shield: f64,
    raw: f64,
    target: f64,
}

/// Writes the shield section.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("shield ...");
    let reps = o.reps();
    // Batches of a few ms at least, so one preemption does not make a sample.
    let one = if o.quick { 20_000 } else { 50_000 };
    let dropped = if o.quick { 5_000 } else { 20_000 };
    let many = if o.quick { 2 } else { 5 };
    let a = race(
        reps,
        vec![batch(raw_one, one, 1), batch(shield_one, one, 1)],
    );
    let b = race(
        reps,
        vec![batch(raw_many, many, MANY), batch(shield_many, many, MANY)],
    );
    let c = race(
        reps,
        vec![
            batch(raw_yields, dropped, 1),
            batch(cancelled_spawner, dropped, 1),
            batch(raw_yields_one_thread, dropped, 1),
            batch(cancelled_background, dropped, 1),
        ],
    );
    let d = race(
        reps,
        vec![
            batch(raw_yields_many, many, MANY),
            batch(cancelled_many_spawner, many, MANY),
            batch(raw_yields_many_one_thread, many, MANY),
            batch(cancelled_many_background, many, MANY),
        ],
    );
    let same = "spawn + await on the caller's 2-thread executor";
    let own = "spawn + await on an executor with one thread of its own";
    let rows = [
        Row {
            case: "1 in flight, awaited to the end (caller-driven)",
            baseline: same,
            shield: a[1].median,
            raw: a[0].median,
            target: 0.5,
        },
        Row {
            case: "10k in flight, awaited in order (caller-driven)",
            baseline: same,
            shield: b[1].median,
            raw: b[0].median,
            target: 1.0,
        },
        Row {
            case: "cancelled after one poll, 1 in flight: `with_spawner` on the caller's executor",
            baseline: same,
            shield: c[1].median,
            raw: c[0].median,
            target: 1.2,
        },
        Row {
            case: "cancelled after one poll, 1 in flight: default background thread",
            baseline: own,
            shield: c[3].median,
            raw: c[2].median,
            target: 1.2,
        },
        Row {
            case: "cancelled after one poll, 10k at once: `with_spawner` on the caller's executor",
            baseline: same,
            shield: d[1].median,
            raw: d[0].median,
            target: 1.2,
        },
        Row {
            case: "cancelled after one poll, 10k at once: default background thread",
            baseline: own,
            shield: d[3].median,
            raw: d[2].median,
            target: 1.2,
        },
    ];
    let _ = writeln!(
        md,
        "## shield: `shield(fut)` vs `async_executor` spawn + await\n"
    );
    let _ = writeln!(
        md,
        "Every case runs in a task on a 2-thread `async_executor::Executor` (a busy service's \
         shape) and costs are per future, both sides measured the same way (the workloads of \
         `benches/shield.rs`, {reps} interleaved repetitions). A shielded future that is awaited \
         is polled by its caller (no spawn); a cancelled one is polled once, its handle dropped, \
         and the rest of the work finishes on the background thread (`guard-runtime`) or, with \
         `ShieldSet::with_spawner`, on the caller's executor; the caller then waits with the \
         set's `drain`. The raw baseline spawns the same work on the same placement and awaits it: \
         the caller's executor, or, for the background thread, an executor with one thread of its \
         own. The work is `async {{ i }}` when awaited, one `yield_now` then `i` when cancelled.\n"
    );
    let mut t = Table::new(&[
        "case",
        "shield",
        "baseline",
        "raw",
        "ratio (shield/raw)",
        "target",
    ]);
    for r in &rows {
        t.row(&[
            r.case.into(),
            ns(r.shield),
            r.baseline.into(),
            ns(r.raw),
            ratio(r.shield, r.raw),
            format!("<= {:.1}x: {}", r.target, met(r.shield / r.raw <= r.target)),
        ]);
    }
    md.push_str(&t.done());
    md.push('\n');

    let [r1, r10k, c_sp, c_bg, cm_sp, cm_bg] = &rows;
    let miss = |r: &Row, why: String| {
        if r.shield / r.raw > r.target {
            explained::missed(
                &format!("shield, {} (target <= {:.1}x)", r.case, r.target),
                format!(
                    "{} per future against {} for {} ({:.2}x, {} more). {why}",
                    ns(r.shield),
                    ns(r.raw),
                    r.baseline,
                    r.shield / r.raw,
                    ns(r.shield - r.raw)
                ),
            );
        }
    };
    miss(
        r1,
        format!(
            "No spawn and no other thread are involved on this path, so the extra is the shield's \
             own bookkeeping per future (the set's count, the result slot, panic capture); raw \
             spawn + await here is one task on the caller's executor, {} per future.",
            ns(r1.raw)
        ),
    );
    miss(
        r10k,
        format!(
            "One at a time, in the same run, a shield cost {} per future; at 10k in flight {}: \
             {}.",
            ns(r1.shield),
            ns(r10k.shield),
            if r10k.shield > 1.5 * r1.shield {
                "holding 10k at once (memory and cache) accounts for the rise"
            } else {
                "about the same, so the gap is the per-future bookkeeping, not the number in flight"
            }
        ),
    );
    for (sp, bg) in [(c_sp, c_bg), (cm_sp, cm_bg)] {
        miss(
            sp,
            format!(
                "The handover to the spawner costs a spawn like the baseline's, plus the shield's \
                 first poll in the caller, the result slot and the drain; with the default \
                 background thread the same case cost {} per future.",
                ns(bg.shield)
            ),
        );
        miss(
            bg,
            format!(
                "Raw spawn + await on an executor with a thread of its own cost {} per future \
                 here, against {} on the caller's executor{}; the shield adds {} on top of it. \
                 With `with_spawner` on the caller's executor the same shielded work cost {} \
                 ({:.2}x that executor's baseline).",
                ns(bg.raw),
                ns(sp.raw),
                if bg.raw > 2.0 * sp.raw {
                    ": waking another thread and being woken back is most of both figures"
                } else {
                    ""
                },
                ns(bg.shield - bg.raw),
                ns(sp.shield),
                sp.shield / sp.raw,
            ),
        );
    }
}
