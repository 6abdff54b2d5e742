//! reaper: `Reaper` against a `Mutex<HashMap>` of instants and a monitor loop (scanned
//! every tick): touch, track + finish, and one tick with n tracked.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use async_guard::reaper::Reaper;

use crate::Opts;
use crate::explained;
use crate::measure::{per_call, poll_to_end, race, scaling_sizes, sink};
use crate::render::{Table, growth, met, ns, pair_cells, ratio, scaling_section};

#[path = "../../benches/support/reaper.rs"]
mod workloads;
use workloads::{LONG_TTL, MapMonitor, Population};

/// Writes the reaper section: touch, track + finish, then one tick with n tracked.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("reaper ...");
    let reps = o.reps();
    let reaper = Reaper::new(LONG_TTL);
    let (activity, _idle) = reaper.watch("t");
    let map = MapMonitor::new(LONG_TTL);
    (0..1000).for_each(|id| map.touch(id));
    let it = if o.quick { 1_000_000 } else { 3_000_000 };
    let name: Arc<str> = Arc::from("task");
    let _others: Vec<_> = (0..1000).map(|_| reaper.watch(name.clone())).collect();
    let mut next = 1000u64;
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || black_box(&activity).touch())),
            Box::new(|| per_call(it, || map.touch(black_box(7)))),
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
                    map.touch(next);
                    black_box(next);
                    map.remove(next);
                })
            }),
        ],
    );
    let _ = writeln!(
        md,
        "## reaper: `Reaper` vs a `Mutex<HashMap<id, Instant>>` written on every touch + a monitor loop that scans it all each tick\n"
    );
    let mut t = Table::new(&[
        "case",
        "async-guard",
        "`Mutex<HashMap>` map",
        "ratio (guard/map)",
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
    if s[0].median >= 5.0 {
        explained::missed(
            "reaper, touch (target < 5 ns)",
            format!(
                "`activity.touch()` took {} in this run; writing the map's instant took {} \
                 (a lock, a clock read and a hash insert).",
                ns(s[0].median),
                ns(s[1].median)
            ),
        );
    }

    let sizes = scaling_sizes(o.quick);
    let mut rows = Vec::new();
    for &n in &sizes {
        // A tick of ttl/512: runs of ~1500 ticks have nothing due.
        let mut pop = Population::new(n, LONG_TTL / 512);
        let map = MapMonitor::new(LONG_TTL);
        (0..n as u64).for_each(|id| map.touch(id));
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
                        map.scan(&mut expired);
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
            "full scan of the map",
            "ratio (guard/map)",
        ],
        &rows,
        pair_cells,
        "tick",
        &[("async-guard", 0), ("map scan", 1)],
        Some(&|v: &[f64]| {
            let (g, r) = (v[0], v[1]);
            format!(
                "Target (reaper issue): at 100k tracked, a tick at least 100x cheaper than the scan: {:.0}x, {}.",
                r / g,
                met(r / g >= 100.0)
            )
        }),
    );
    if let Some((_, v)) = rows.iter().find(|(n, _)| *n == 100_000) {
        let (g, r) = (v[0], v[1]);
        if r / g < 100.0 {
            let points: Vec<_> = rows.iter().map(|(n, v)| (*n, v[0])).collect();
            explained::missed(
                "reaper, tick at 100k tracked (target >= 100x cheaper than the scan)",
                format!(
                    "At 100k tracked a tick cost {} against the scan's {} ({:.0}x). Growth of \
                     the tick's cost: {}.",
                    ns(g),
                    ns(r),
                    r / g,
                    growth(&points)
                ),
            );
        }
    }
}
