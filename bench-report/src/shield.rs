//! shield: `shield(fut)` (on its background thread, and `with_spawner` on the
//! baseline's executor) against `async_executor` spawn + await, n in flight.

use std::fmt::Write as _;
use std::future::{Future, pending};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use async_executor::Executor;
use async_guard::shield::{ShieldSet, shield};
use futures_lite::future::block_on;

use crate::Opts;
use crate::measure::{race, rounds_for};
use crate::render::{met, ns, ratio, scaling_section};

/// An executor on its own thread, for the whole run.
fn background_executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        std::thread::Builder::new()
            .name("bench-executor".into())
            .spawn(move || block_on(ex.run(pending::<()>())))
            .unwrap();
        ex
    })
}

/// `times` rounds of: start `n` futures at once with `start`, then await
/// their handles in order. Returns ns per future.
fn in_flight<H: Future>(n: usize, times: usize, start: impl Fn(usize) -> H) -> f64 {
    let begin = Instant::now();
    for _ in 0..times {
        let hs: Vec<_> = (0..n).map(&start).collect();
        block_on(async {
            for h in hs {
                black_box(h.await);
            }
        });
    }
    begin.elapsed().as_nanos() as f64 / (n * times) as f64
}

/// Writes the shield section: one table of n futures in flight.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("shield ...");
    let ex = background_executor();
    let own = ShieldSet::with_spawner(move |w| ex.spawn(w).detach());
    let reps = o.reps();
    let mut sizes = vec![1usize, 100, 1_000, 100_000];
    if !o.quick {
        sizes.insert(3, 10_000);
    }
    let work = if o.quick { 20_000 } else { 100_000 };
    let mut rows = Vec::new();
    for &n in &sizes {
        // One at a time is a cross-thread round trip per future (tens of µs
        // when the other core sits in a deep idle state): fewer of those.
        let times = if n == 1 {
            work / 20
        } else {
            rounds_for(n, work)
        };
        let own = own.clone();
        let s = race(
            if n >= 100_000 {
                reps.min(7)
            } else {
                reps.min(9)
            },
            vec![
                Box::new(move || in_flight(n, times, |i| ex.spawn(async move { black_box(i) }))),
                Box::new(move || in_flight(n, times, |i| shield(async move { black_box(i) }))),
                Box::new(move || {
                    in_flight(n, times, |i| {
                        own.shield(async move { black_box(i) }).unwrap()
                    })
                }),
            ],
        );
        rows.push((n, vec![s[0].median, s[1].median, s[2].median]));
    }
    let _ = writeln!(
        md,
        "## shield: `shield(fut)` vs `async_executor` spawn + await\n"
    );
    let _ = writeln!(
        md,
        "n futures shielded (or spawned) at once, then awaited in order; cost per future. \
         Baseline: an `async_executor::Executor` on its own thread (what a shield does underneath, \
         minus surviving its caller, panic capture and tracking). `with_spawner` runs the \
         shielded work on that same executor.\n"
    );
    // Columns of a row: spawn+await, shield, shield with_spawner.
    scaling_section(
        md,
        &[
            "in flight",
            "spawn+await",
            "shield (background thread)",
            "ratio",
            "shield (with_spawner)",
            "ratio",
            "target <= 1.2x",
        ],
        &rows,
        |v| {
            let (b, s1, s2) = (v[0], v[1], v[2]);
            vec![
                ns(b),
                ns(s1),
                ratio(s1, b),
                ns(s2),
                ratio(s2, b),
                met(s1 / b <= 1.2),
            ]
        },
        "future",
        &[("shield", 1), ("spawn+await", 0)],
        None,
    );
}
