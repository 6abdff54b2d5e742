//! # The ASR gateway: all six cures in one service
//!
//! `cargo run --release --example asr_gateway` starts a speech-recognition
//! gateway on 127.0.0.1 (an ephemeral port) and a load generator in the
//! same process, runs them for about ten seconds and prints a report.
//! `--naive` runs the same load against the same server with every cure
//! switched off, so the two reports show what each cure buys.
//!
//! | seed technique | where the gateway uses it |
//! |---|---|
//! | thread pool (`run_in_executor`) | building a recogniser, `CpuPool::run` |
//! | semaphore | at most `--limit` sessions, a short queue, BUSY beyond it |
//! | timeouts | every frame read, every whole session |
//! | `sleep(0)` in long loops | the decoding loop ticks a `Budget` |
//! | activity monitoring | sessions are tracked by a `Reaper`; silent ones are reaped |
//! | `shield` | persisting the final transcript survives the client hanging up |

mod client;
mod protocol;
mod recognizer;
mod report;
mod run;
mod server;

use run::{Options, Runtime};

const HELP: &str = "\
asr_gateway: a speech-recognition gateway under load, with and without async-guard's cures

USAGE: cargo run --release --example asr_gateway -- [OPTIONS]

OPTIONS:
  --naive               run the same load with every cure switched off
  --runtime smol|async-std
                        the server's runtime (default smol: one event-loop thread)
  --clients N           concurrent client loops (default 32)
  --seconds S           how long the load runs (default 8)
  --limit N             sessions the server runs at once (default 16)
  -h, --help            this text
";

fn parse() -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
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
                opts.seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: `{v}` is not a number"))?
            }
            "--limit" => opts.limit = number(&value("--limit")?)?,
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if opts.clients == 0 || opts.limit == 0 || !(opts.seconds > 0.0 && opts.seconds <= 3600.0) {
        return Err(
            "--clients and --limit must be at least 1, --seconds between 0 and 3600".into(),
        );
    }
    Ok(opts)
}

fn number(v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("`{v}` is not a whole number"))
}

fn main() {
    let opts = match parse() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("error: {e}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    match run::run(&opts) {
        Ok(report) => {
            print!("{report}");
            if !opts.naive && !report.violations().is_empty() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: cannot run the gateway: {e}");
            std::process::exit(2);
        }
    }
}
