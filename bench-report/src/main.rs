//! Runs the key scenario of every cure against its raw smol-ecosystem
//! baseline, without criterion, and writes `BENCHMARKS.md` at the root of
//! the workspace (the library's crate root). A tool crate of the workspace
//! (the xtask pattern), not part of the published package.
//!
//! ```text
//! cargo run --release -p bench-report            # full run, ~4-5 min
//! cargo run --release -p bench-report -- --quick # ~30-60 s, fewer/smaller runs
//! ```
//!
//! Options: `--quick`, `--out PATH` (default `BENCHMARKS.md` in the
//! workspace root), `--no-footprint` (skip `scripts/footprint.sh`; `--quick` skips it
//! unless `--footprint` is given), `--no-gateway`
//! (skip the gateway runs), `--only NAME` (one section: time, limit,
//! adaptive, offload, budget, reaper, shield; for quick looks, still writes the file),
//! `--include FILE` (repeatable: appends the markdown file verbatim as a
//! section of its own, after the measured sections and before "Where a
//! target is missed", for results produced by other runners, e.g. an
//! adaptive-limit sweep).
//!
//! How noise is fought on a shared machine: every contender of a table runs
//! once untimed (warm-up), then the contenders take turns (interleaved
//! repetitions, so a load burst hits them alike) and each reports the
//! median of its repetitions. Ratios are computed from those medians.
//! Nothing in the written file is typed by hand: every number comes from
//! this run.
//!
//! Layout: this file holds the options and writes the file; `measure` times,
//! `render` formats, and each cure's scenarios live in their own module.

mod adaptive;
mod budget;
mod explained;
mod footprint;
mod gateway;
mod limit;
mod machine;
mod measure;
mod offload;
mod reaper;
mod render;
mod shield;
mod time;

use std::fmt::Write as _;
use std::time::Instant;

use machine::{loadavg, machine, sh};

/// The command-line options.
pub struct Opts {
    pub quick: bool,
    footprint: bool,
    gateway: bool,
    only: Option<String>,
    include: Vec<std::path::PathBuf>,
    out: std::path::PathBuf,
}

impl Opts {
    /// Reads the options from the command line.
    fn parse() -> Opts {
        let mut o = Opts {
            quick: false,
            footprint: true,
            gateway: true,
            only: None,
            include: Vec::new(),
            out: root().join("BENCHMARKS.md"),
        };
        let mut force_footprint = false;
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--no-footprint" => o.footprint = false,
                "--footprint" => force_footprint = true,
                "--no-gateway" => o.gateway = false,
                "--only" => o.only = args.next(),
                "--out" => o.out = args.next().expect("--out PATH").into(),
                "--include" => o.include.push(args.next().expect("--include FILE").into()),
                "-h" | "--help" => {
                    println!(
                        "bench-report [--quick] [--out PATH] [--no-footprint | --footprint] [--no-gateway] [--only SECTION] [--include FILE]..."
                    );
                    std::process::exit(0);
                }
                other => panic!("unknown argument {other:?} (try --help)"),
            }
        }
        // The footprint builds take about a minute: not part of a quick run
        // unless asked for.
        if o.quick && !force_footprint {
            o.footprint = false;
        }
        o
    }
    /// Interleaved repetitions per table, unless a table says otherwise.
    pub fn reps(&self) -> usize {
        if self.quick { 5 } else { 15 }
    }
    /// Whether `--only` lets `section` run.
    fn wants(&self, section: &str) -> bool {
        self.only.as_deref().is_none_or(|s| s == section)
    }
}

/// The workspace root: the library's crate root, where `BENCHMARKS.md`,
/// `scripts/` and `examples/` live (this tool sits in `bench-report/`).
pub fn root() -> &'static std::path::Path {
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    tool.parent()
        .expect("bench-report/ sits in the workspace root")
}

fn main() {
    let o = Opts::parse();
    // Fail before the long run, not after it, on an unreadable include.
    for file in &o.include {
        if let Err(e) = std::fs::metadata(file) {
            panic!("--include {}: {e}", file.display());
        }
    }
    let started = Instant::now();
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "?".into());
    let load_before = loadavg();
    let mut body = String::new();
    type Section = fn(&Opts, &mut String);
    let sections: [(&str, Section); 7] = [
        ("time", time::section),
        ("limit", limit::section),
        ("adaptive", adaptive::section),
        ("offload", offload::section),
        ("budget", budget::section),
        ("reaper", reaper::section),
        ("shield", shield::section),
    ];
    for (name, f) in sections {
        if o.wants(name) {
            let t = Instant::now();
            f(&o, &mut body);
            eprintln!("  {name}: {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    let load_after = loadavg();
    let bench_time = started.elapsed();
    if o.gateway && o.only.is_none() {
        gateway::section(&o, &mut body);
    }
    if o.footprint && o.only.is_none() {
        footprint::section(&mut body);
    }

    let mut md = String::new();
    let _ = writeln!(md, "# async-guard benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo run --release -p bench-report{}` on {date}; do not edit by hand, re-run it. \
         Every cure against the raw smol-ecosystem code it replaces, measured in the same run. \
         **Ratios are the headline** (async-guard / baseline: below 1 means async-guard is cheaper); \
         absolute times move with the machine's load.\n",
        if o.quick { " -- --quick" } else { "" }
    );
    let _ = writeln!(md, "## Machine\n");
    md.push_str(&machine());
    let _ = writeln!(
        md,
        "- load average (1/5/15 min) before: {load_before}, after the micro-benchmarks: {load_after}; \
         micro-benchmarks took {:.0} s\n",
        bench_time.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "Method: no criterion; each contender runs once untimed (warm-up), then the contenders of a \
         table take turns ({} interleaved repetitions unless a table says otherwise) and each cell is \
         the median of its repetitions. Growth is classified from the data by the least-squares slope \
         `b` of ln(cost per op) over ln(n) for n >= 100: `b < 0.1` flat, `b > 0.75` linear, otherwise \
         whichever of `a + c·ln n` and `k·n^b` fits better. Criterion benches with the same baselines: \
         `cargo bench` (see `benches/`). Built with the library's `test-util` feature (for \
         `Reaper::step`); with no virtual clock in use, that adds one relaxed atomic load to each of \
         the library's clock reads.\n",
        o.reps()
    );
    md.push_str(&body);
    for file in &o.include {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("--include {}: {e}", file.display()));
        md.push_str(text.trim_end());
        md.push_str("\n\n");
    }
    md.push_str(&explained::render());
    std::fs::write(&o.out, md).expect("write BENCHMARKS.md");
    eprintln!(
        "wrote {} in {:.0} s",
        o.out.display(),
        started.elapsed().as_secs_f64()
    );
}
