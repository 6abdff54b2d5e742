//! # The ASR gateway: all six cures in one service
//!
//! `cargo run --release --example asr_gateway` starts a speech-recognition
//! gateway on 127.0.0.1 (an ephemeral port) and a load generator in the
//! same process, runs them for about ten seconds and prints a report.
//! `--naive` runs the same load against the same server with every cure
//! switched off, so the two reports show what each cure buys.
//! `--serve ADDR` runs the server alone and `--connect ADDR` the load
//! generator alone, for attacking or loading either from outside.
//!
//! | seed technique | where the gateway uses it |
//! |---|---|
//! | thread pool (`run_in_executor`) | building a recogniser, `CpuPool::run` |
//! | semaphore | at most `--limit` sessions, a short queue, BUSY beyond it |
//! | timeouts | every frame read, every whole session |
//! | `sleep(0)` in long loops | the decoding loop ticks a `Budget` |
//! | activity monitoring | sessions are tracked by a `Reaper`; silent ones are reaped |
//! | `shield` | persisting the final transcript survives the client hanging up |

mod admission;
mod cli;
mod client;
mod protocol;
mod recognizer;
mod report;
mod run;
mod server;

fn main() {
    std::process::exit(cli::main(std::env::args().skip(1).collect()));
}
