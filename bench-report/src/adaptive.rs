//! adaptive: what an `AdaptiveLimiter` costs over the fixed `Limiter` it
//! wraps, in the scenarios of the limit section.

use std::fmt::Write as _;

use async_guard::limit::Limiter;
use async_guard::limit::adaptive::{AdaptiveLimiter, Aimd, Gradient, Policy};

use crate::Opts;
use crate::explained;
use crate::limit::contended_ns;
use crate::limit::workloads::{PERMITS, ROUNDS, TASKS, now};
use crate::measure::{per_call, race, sink};
use crate::render::{Table, met, ns};

/// An adaptive limiter held at `PERMITS` (`min_limit == max_limit`): its
/// policy runs on every sample but cannot move the limit, so it runs the
/// same concurrency as the fixed one and only the cost differs.
fn pinned(policy: impl Into<Policy>) -> AdaptiveLimiter {
    AdaptiveLimiter::builder()
        .policy(policy)
        .initial_limit(PERMITS)
        .min_limit(PERMITS)
        .max_limit(PERMITS)
        .build()
}

/// Writes the adaptive-cost table.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("adaptive ...");
    let reps = o.reps();
    let it = if o.quick { 200_000 } else { 500_000 };
    let fixed = Limiter::new(PERMITS);
    let (gradient, aimd) = (pinned(Gradient::new()), pinned(Aimd::new()));
    let u = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(now(fixed.acquire()).unwrap()))),
            Box::new(|| per_call(it, || sink(now(gradient.acquire()).unwrap()))),
            Box::new(|| per_call(it, || sink(now(aimd.acquire()).unwrap()))),
        ],
    );
    let stride_u = gradient.stats().sample_one_in;
    let (fixed_c, gradient_c, aimd_c) = (
        Limiter::new(PERMITS),
        pinned(Gradient::new()),
        pinned(Aimd::new()),
    );
    let creps = if o.quick { 3 } else { 7 };
    let c = race(
        creps,
        vec![
            Box::new(|| {
                let l = fixed_c.clone();
                contended_ns(move || l.acquire())
            }),
            Box::new(|| {
                let l = gradient_c.clone();
                contended_ns(move || l.acquire())
            }),
            Box::new(|| {
                let l = aimd_c.clone();
                contended_ns(move || l.acquire())
            }),
        ],
    );
    let stride_c = gradient_c.stats().sample_one_in;
    let _ = writeln!(
        md,
        "## adaptive: `AdaptiveLimiter` vs the fixed `Limiter` it wraps\n"
    );
    let _ = writeln!(
        md,
        "The scenarios of the limit section, on both sides (uncontended: one acquire + release \
         polled by hand; contended: {TASKS} tasks x {ROUNDS} acquisitions, {PERMITS} permits, 2 \
         threads, {creps} interleaved repetitions). The adaptive limiters are pinned to \
         {PERMITS} permits (`min_limit == max_limit`), so both sides run the same concurrency \
         and only the cost differs; their policy still runs on every sample. At these rates an \
         adaptive limiter samples one permit in `sample_one_in` (default `sample_interval`, 50 \
         µs): {stride_u} at the end of the uncontended runs, {stride_c} of the contended ones; \
         a sample costs two clock readings and the policy.\n"
    );
    let mut t = Table::new(&[
        "case",
        "fixed Limiter",
        "adaptive (gradient)",
        "adaptive (aimd)",
        "ratio gradient / aimd",
        "target",
    ]);
    let mut missed = Vec::new();
    for (label, f, g, a) in [
        (
            "uncontended acquire + release".to_owned(),
            u[0].median,
            u[1].median,
            u[2].median,
        ),
        (
            format!("contended, per acquisition ({TASKS} tasks, {PERMITS} permits)"),
            c[0].median,
            c[1].median,
            c[2].median,
        ),
    ] {
        let (rg, ra) = (g / f, a / f);
        let ok = rg <= 1.2 && ra <= 1.2;
        if !ok {
            missed.push(format!(
                "{label}: fixed {}, gradient {} ({rg:.2}x), aimd {} ({ra:.2}x)",
                ns(f),
                ns(g),
                ns(a)
            ));
        }
        t.row(&[
            label,
            ns(f),
            ns(g),
            ns(a),
            format!("**{rg:.2}x** / **{ra:.2}x**"),
            format!("<= 1.2x: {}", met(ok)),
        ]);
    }
    md.push_str(&t.done());
    if !missed.is_empty() {
        explained::missed(
            "adaptive, cost (target <= 1.2x the fixed limiter)",
            format!(
                "{}. An unsampled adaptive permit adds a Weyl-sequence draw and a branch to \
                 the fixed path; a sampled one (1 in {stride_u} uncontended, 1 in {stride_c} \
                 contended, in this run) adds two clock readings and the policy's update.",
                missed.join("; ")
            ),
        );
    }
}
