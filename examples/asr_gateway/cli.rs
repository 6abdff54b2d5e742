//! The command line of the gateway example.

use crate::admission::LimitMode;
use crate::run::{self, Mix, Mode, Options, Runtime};

const HELP: &str = "\
asr_gateway: a speech-recognition gateway under load, with and without async-guard's cures

USAGE: cargo run --release --example asr_gateway -- [OPTIONS]

OPTIONS:
  --naive               run the same load with every cure switched off
  --runtime smol|async-std
                        the server's runtime (default smol: one event-loop thread)
  --clients N           concurrent client loops (default 32)
  --seconds S           how long the load runs (default 8)
  --limit N|auto[:gradient|aimd]
                        sessions the server runs at once (default 16), or an adaptive
                        limit (starts at 16) set from the sessions' measured latency
  --capacity-shift      half-way through the load, the recogniser's CPU cost doubles;
                        the report splits goodput and latency per phase and charts
                        the limit over time
  --max-waiting N       clients that may wait for a session slot (default: the limit
                        for a fixed limit, 8 for an adaptive one)
  --mix hostile|normal  the client mix: mostly well-behaved with slow, stalling,
                        disconnecting and garbage-sending clients (default), or
                        well-behaved clients only
  --deadline S          bound on a whole session, the server's latency objective
                        (default 2)
  --warm-up S           with --capacity-shift or an adaptive limit: leave the first
                        S seconds out of the per-phase figures (default 0)
  --serve ADDR          run the server alone on ADDR (e.g. 127.0.0.1:0); the first line
                        printed is `listening on IP:PORT`; runs for --seconds if given,
                        else until interrupted
  --connect ADDR        run the load generator alone against the server at ADDR
  --out DIR             where transcripts go (default: a new temporary directory;
                        removed at the end unless --out or --serve)
  -h, --help            this text
";

fn parse(args: Vec<String>) -> Result<Option<Options>, String> {
    let mut opts = Options::default();
    let mut seconds_given = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--naive" => opts.naive = true,
            "--runtime" => {
                opts.runtime = match value("--runtime")?.as_str() {
                    "smol" => Runtime::Smol,
                    "async-std" => Runtime::AsyncStd,
                    other => return Err(format!("unknown runtime `{other}` (smol or async-std)")),
                }
            }
            "--clients" => opts.clients = number(&value("--clients")?)?,
            "--seconds" => {
                let v = value("--seconds")?;
                seconds_given = true;
                opts.seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: `{v}` is not a number"))?
            }
            "--limit" => opts.limit = LimitMode::parse(&value("--limit")?)?,
            "--capacity-shift" => opts.capacity_shift = true,
            "--max-waiting" => opts.max_waiting = Some(whole(&value("--max-waiting")?)?),
            "--mix" => {
                opts.mix = match value("--mix")?.as_str() {
                    "hostile" => Mix::Hostile,
                    "normal" => Mix::Normal,
                    other => return Err(format!("unknown mix `{other}` (hostile or normal)")),
                }
            }
            "--warm-up" => opts.warm_up = seconds(&value("--warm-up")?, "--warm-up", 0.0)?,
            "--deadline" => {
                opts.session_deadline = seconds(&value("--deadline")?, "--deadline", 0.001)?
            }
            "--serve" => opts.mode = Mode::Serve(value("--serve")?),
            "--connect" => opts.mode = Mode::Connect(value("--connect")?),
            "--out" => opts.out_dir = Some(value("--out")?.into()),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if opts.clients == 0 || !(opts.seconds > 0.0 && opts.seconds <= 3600.0) {
        return Err(
            "--clients and --limit must be at least 1, --seconds between 0 and 3600".into(),
        );
    }
    opts.forever = matches!(opts.mode, Mode::Serve(_)) && !seconds_given;
    Ok(Some(opts))
}

/// A number of seconds between `min` and an hour.
fn seconds(v: &str, name: &str, min: f64) -> Result<std::time::Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| (min..=3600.0).contains(s))
        .map(std::time::Duration::from_secs_f64)
        .ok_or(format!(
            "{name}: `{v}` is not a number of seconds from {min} to 3600"
        ))
}

/// A whole number, 0 allowed.
fn whole(v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("`{v}` is not a whole number"))
}

fn number(v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("`{v}` is not a whole number"))
}

/// The command line: parses `args` (without the program name), runs, prints
/// the report; returns the process exit code (0 OK, 1 a broken promise of
/// the guarded gateway, 2 a usage or start-up error).
pub fn main(args: Vec<String>) -> i32 {
    let opts = match parse(args) {
        Ok(Some(opts)) => opts,
        Ok(None) => return 0,
        Err(e) => {
            eprintln!("error: {e}\n\n{HELP}");
            return 2;
        }
    };
    match run::run(&opts) {
        Ok(report) => {
            print!("{report}");
            if !opts.naive && !report.violations().is_empty() {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("error: cannot run the gateway: {e}");
            2
        }
    }
}
