//! reaper: `Reaper` against the seed's monitor (a map of instants, scanned
//! every tick): touch, track + finish, and one tick with n tracked.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use async_guard::reaper::Reaper;

use crate::Opts;
use crate::measure::{per_call, poll_to_end, race, scaling_sizes, sink};
use crate::render::{Table, met, ns, pair_cells, ratio, scaling_section};

#[path = "../../benches/support/reaper.rs"]
mod workloads;
use workloads::{LONG_TTL, Population, SeedMonitor};

/// Writes the reaper section: touch, track + finish, then one tick with n tracked.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("reaper ...");
    let reps = o.reps();
    let reaper = Reaper::new(LONG_TTL);
    let (activity, _idle) = reaper.watch("t");
    let seed = SeedMonitor::new(LONG_TTL);
    (0..1000).for_each(|id| seed.touch(id));
    let it = if o.quick { 1_000_000 } else { 3_000_000 };
    let name: Arc<str> = Arc::from("task");
    let _others: Vec<_> = (0..1000).map(|_| reaper.watch(name.clone())).collect();
    let mut next = 1000u64;
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || black_box(&activity).touch())),
            Box::new(|| per_call(it, || seed.touch(black_box(7)))),
            Box::new(|| {
                per_call(it / 10, || {
                    sink(poll_to_end(reaper.track(name.clone(), |a| async move {
                        black_box(&a).touch()
                    })))
                })
            }),
            Box::new(|| {
                per_call(it / 10, || {
                    next += 1;
                    seed.touch(next);
                    black_box(next);
                    seed.remove(next);
                })
            }),
        ],
    );
    let _ = writeln!(
        md,
        "## reaper: `Reaper` vs the seed's monitor (`Mutex<HashMap<id, Instant>>` + full scan each tick)\n"
    );
    let mut t = Table::new(&[
        "case",
        "async-guard",
        "seed map",
        "ratio (guard/seed)",
        "target",
    ]);
    t.row(&[
        "`activity.touch()`".into(),
        ns(s[0].median),
        ns(s[1].median),
        ratio(s[0].median, s[1].median),
        format!("< 5 ns: {}", met(s[0].median < 5.0)),
    ]);
    t.row(&[
        "track + finish (1000 others tracked)".into(),
        ns(s[2].median),
        ns(s[3].median),
        ratio(s[2].median, s[3].median),
        String::new(),
    ]);
    md.push_str(&t.done());
    drop(_others);

    let sizes = scaling_sizes(o.quick);
    let mut rows = Vec::new();
    for &n in &sizes {
        // A tick of ttl/512: runs of ~1500 ticks have nothing due.
        let mut pop = Population::new(n, LONG_TTL / 512);
        let seed = SeedMonitor::new(LONG_TTL);
        (0..n as u64).for_each(|id| seed.touch(id));
        let mut expired = Vec::new();
        let scans = (1_000_000 / n).clamp(3, 10_000) as u64;
        let reps = if n >= 1_000_000 { 5 } else { reps.min(9) };
        let s = race(
            reps,
            vec![
                Box::new(|| pop.empty_ticks(10_000).as_nanos() as f64 / 10_000.0),
                Box::new(|| {
                    let start = Instant::now();
                    for _ in 0..scans {
                        seed.scan(&mut expired);
                        assert!(expired.is_empty());
                    }
                    start.elapsed().as_nanos() as f64 / scans as f64
                }),
            ],
        );
        rows.push((n, vec![s[0].median, s[1].median]));
    }
    let _ = writeln!(
        md,
        "\n### reaper: cost of one driver tick with n tracked tasks, none due (`Reaper::step`, the driver's own step, called by hand)\n"
    );
    scaling_section(
        md,
        &[
            "tracked",
            "async-guard tick",
            "seed scan",
            "ratio (guard/seed)",
        ],
        &rows,
        pair_cells,
        "tick",
        &[("async-guard", 0), ("seed", 1)],
        Some(&|v: &[f64]| {
            let (g, r) = (v[0], v[1]);
            format!(
                "Target (reaper issue): at 100k tracked, a tick at least 100x cheaper than the scan: {:.0}x, {}.",
                r / g,
                met(r / g >= 100.0)
            )
        }),
    );
}
