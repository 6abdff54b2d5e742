//! Gateway: `examples/asr_gateway` under load, guarded against `--naive`,
//! read back from its printed report.

use std::fmt::Write as _;
use std::process::Command;

use crate::Opts;
use crate::measure::stat;
use crate::render::{Table, ns};

/// Parses "13.7ms", "3s", "116.8µs", "900ns" into nanoseconds.
fn parse_dur(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches(',');
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e6)
    } else if let Some(v) = s.strip_suffix("µs").or_else(|| s.strip_suffix("us")) {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix("ns") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e9)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// The numbers read from one printed gateway report.
#[derive(Debug, Default, Clone)]
struct GatewayRun {
    load_s: f64,
    sessions: f64,
    served: f64,
    p50: f64,
    p99: f64,
    worst_lag: f64,
    p99_lag: f64,
    lost: f64,
    expected: f64,
    unanswered: f64,
    verdict: String,
}

/// The word after `key` in `line`, parsed as a number or duration.
fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace()
        .next()
        .map(|w| w.trim_end_matches(','))
}

/// Reads the numbers out of one printed gateway report; on failure, the
/// lines that were missing or could not be read.
fn parse_gateway(text: &str) -> Result<GatewayRun, String> {
    let mut r = GatewayRun::default();
    let mut bad: Vec<&str> = Vec::new();
    let mut seen = [false; 5];
    const NAMES: [&str; 5] = [
        "header (load time)",
        "client sessions",
        "served",
        "event loop lag",
        "latency of served sessions",
    ];
    for line in text.lines() {
        let l = line.trim_start();
        let mut check = |ok: Option<()>, k: usize| match ok {
            Some(()) => seen[k] = true,
            None => bad.push(NAMES[k]),
        };
        if l.starts_with("== ASR gateway") {
            check(
                (|| {
                    let load = line.rsplit(", ").next()?.strip_suffix(" of load")?;
                    r.load_s = parse_dur(load)? / 1e9;
                    Some(())
                })(),
                0,
            );
        } else if l.contains("client sessions ran") {
            check(
                (|| {
                    r.sessions = l.split_whitespace().next()?.parse().ok()?;
                    Some(())
                })(),
                1,
            );
        } else if l.starts_with("served ") {
            check(
                (|| {
                    r.served = l.split_whitespace().nth(1)?.parse().ok()?;
                    Some(())
                })(),
                2,
            );
        } else if l.starts_with("transcripts") {
            r.expected = after(l, "produced ")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            r.lost = after(l, "lost ")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        } else if l.starts_with("unanswered") {
            r.unanswered = l
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        } else if l.starts_with("event loop") {
            check(
                (|| {
                    r.worst_lag = parse_dur(after(l, "lag worst ")?)?;
                    r.p99_lag = parse_dur(after(l, "p99 ")?)?;
                    Some(())
                })(),
                3,
            );
        } else if l.starts_with("latency of served sessions") {
            check(
                (|| {
                    r.p50 = parse_dur(after(l, "p50 ")?)?;
                    r.p99 = parse_dur(after(l, "p99 ")?)?;
                    Some(())
                })(),
                4,
            );
        } else if let Some(v) = l.strip_prefix("verdict") {
            r.verdict = v.trim().to_owned();
        }
    }
    for (k, name) in NAMES.iter().enumerate() {
        if !seen[k] && !bad.contains(name) {
            bad.push(name);
        }
    }
    if bad.is_empty() {
        Ok(r)
    } else {
        Err(format!("unreadable or missing: {}", bad.join(", ")))
    }
}

/// Runs the built gateway example once; an error if it could not be run
/// or its report could not be parsed.
fn run_gateway(naive: bool, seconds: f64, clients: usize) -> Result<GatewayRun, String> {
    let dir = crate::root();
    // This tool is `<target>/release/bench-report`; the example sits in
    // `<target>/release/examples/` of the same (workspace) target dir.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .with_file_name("examples")
        .join(format!("asr_gateway{}", std::env::consts::EXE_SUFFIX));
    let mut args = vec![
        "--seconds".to_owned(),
        seconds.to_string(),
        "--clients".to_owned(),
        clients.to_string(),
    ];
    if naive {
        args.push("--naive".into());
    }
    let out = Command::new(&bin)
        .args(&args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_gateway(&text).map_err(|why| {
        // Keep what was printed, for whoever reads the failure.
        let keep = std::env::temp_dir().join(format!(
            "bench-report-gateway-{}.txt",
            if naive { "naive" } else { "guarded" }
        ));
        let _ = std::fs::write(&keep, text.as_bytes());
        format!(
            "could not parse the report of `asr_gateway {}` (exit {:?}; {why}; its output is in {})",
            args.join(" "),
            out.status.code(),
            keep.display()
        )
    })
}

/// Builds `examples/asr_gateway` in release mode.
fn build_gateway() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "async-guard",
            "--example",
            "asr_gateway",
        ])
        .current_dir(crate::root())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build --release --example asr_gateway` failed: {status}"
        ))
    }
}

/// Writes the gateway section: the example under load, guarded and `--naive`.
pub fn section(o: &Opts, md: &mut String) {
    eprintln!("gateway (examples/asr_gateway, guarded and --naive) ...");
    let _ = writeln!(md, "## Gateway under load: guarded vs `--naive`\n");
    let (seconds, runs, clients) = if o.quick { (1.5, 1, 32) } else { (4.0, 3, 32) };
    let mut guarded = Vec::new();
    let mut naive = Vec::new();
    let result = build_gateway().and_then(|()| {
        for i in 0..runs {
            // Alternate which goes first.
            for naive_run in [i % 2 == 1, i % 2 == 0] {
                let r = run_gateway(naive_run, seconds, clients)?;
                if naive_run {
                    naive.push(r)
                } else {
                    guarded.push(r)
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        let _ = writeln!(md, "Not measured in this run: {e}.\n");
        return;
    }
    let _ = writeln!(
        md,
        "`examples/asr_gateway` (TCP server + load generator in one process, {clients} client loops, \
         `--seconds {seconds}`), run {runs} time(s) in each mode, alternating; each cell is the median of the runs. \
         Same offered load in both modes (same client loops and client mix). Sessions/s = client sessions \
         per second of load; served = sessions that got their final transcript.\n"
    );
    let med =
        |rs: &[GatewayRun], f: fn(&GatewayRun) -> f64| stat(rs.iter().map(f).collect()).median;
    let mut t = Table::new(&[
        "measure",
        "guarded (all six cures)",
        "`--naive`",
        "ratio (guarded/naive)",
    ]);
    type Row = (&'static str, fn(&GatewayRun) -> f64, bool);
    let rows: [Row; 8] = [
        ("client sessions/s", |r| r.sessions / r.load_s, false),
        (
            "served sessions/s (final transcript)",
            |r| r.served / r.load_s,
            false,
        ),
        ("session latency p50 (served)", |r| r.p50, true),
        ("session latency p99 (served)", |r| r.p99, true),
        ("event-loop lag, worst", |r| r.worst_lag, true),
        ("event-loop lag, p99", |r| r.p99_lag, true),
        ("transcripts lost", |r| r.lost, false),
        ("clients that got no answer", |r| r.unanswered, false),
    ];
    for (name, f, is_time) in rows {
        let (g, n) = (med(&guarded, f), med(&naive, f));
        let one = |v: f64| {
            if is_time {
                ns(v)
            } else if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        };
        let r = if n > 0.0 {
            format!("{:.2}x", g / n)
        } else {
            "-".into()
        };
        // The median, then every run: the gateway is noisy on a shared machine.
        let cell = |v: f64, rs: &[GatewayRun]| {
            if rs.len() < 2 {
                return one(v);
            }
            let all: Vec<String> = rs.iter().map(|r| one(f(r))).collect();
            format!("{} (runs: {})", one(v), all.join(", "))
        };
        t.row(&[name.into(), cell(g, &guarded), cell(n, &naive), r]);
    }
    md.push_str(&t.done());
    let verdicts = |rs: &[GatewayRun]| {
        rs.iter()
            .map(|r| format!("\"{}\"", r.verdict))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        md,
        "\nVerdicts printed by the gateway: guarded {}; naive {}. The guarded server sheds, times out and \
         reaps the slow, stalled and silent clients that the naive one serves late or never answers, so \
         its served count and latency are for a different (healthier) set of sessions: read the lag and \
         lost/unanswered rows with that in mind.\n",
        verdicts(&guarded),
        verdicts(&naive)
    );
}
