//! Wires the server, the load generator and the measurements together.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_guard::budget::{LagProbe, LagStats};
use async_io::{Async, Timer};

use crate::client::{self, Answer, Behaviour};
use crate::recognizer;
use crate::report::Report;
use crate::server::{self, Config, Server};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Smol,
    AsyncStd,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub naive: bool,
    pub runtime: Runtime,
    pub clients: usize,
    pub seconds: f64,
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            naive: false,
            runtime: Runtime::Smol,
            clients: 32,
            seconds: 8.0,
            limit: 16,
        }
    }
}

/// The server settings the demo runs with.
pub fn config(opts: &Options, out_dir: std::path::PathBuf) -> Config {
    Config {
        naive: opts.naive,
        limit: opts.limit.max(1),
        max_waiting: opts.limit.max(1),
        admission_wait: Duration::from_millis(300),
        frame_timeout: Duration::from_secs(1),
        session_deadline: Duration::from_secs(2),
        idle_ttl: Duration::from_millis(600),
        recognizer_work: 6,
        decode_rounds: 48,
        out_dir,
    }
}

pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs the gateway and the load against it; returns what was measured.
pub fn run(opts: &Options) -> std::io::Result<Report> {
    let out_dir = std::env::temp_dir().join(format!(
        "asr-gateway-{}-{:x}",
        std::process::id(),
        recognizer::seed_from_clock()
    ));
    std::fs::create_dir_all(&out_dir)?;
    let cfg = config(opts, out_dir.clone());
    let server = Arc::new(Server::new(cfg));
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    let addr = listener.get_ref().local_addr()?;

    // The event loop's own health: a heartbeat on the server's executor.
    let (probe, heartbeat) =
        LagProbe::with_threshold(Duration::from_millis(5), Duration::from_millis(10));
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let server_thread = {
        let server = server.clone();
        let runtime = opts.runtime;
        std::thread::Builder::new()
            .name("gateway-server".into())
            .spawn(move || match runtime {
                Runtime::Smol => {
                    // One thread, like an asyncio event loop.
                    let ex = Arc::new(async_executor::Executor::new());
                    ex.spawn(heartbeat).detach();
                    let spawner = ex.clone();
                    let spawn = move |f: BoxFuture| spawner.spawn(f).detach();
                    futures_lite::future::block_on(
                        ex.run(server::accept_loop(server, listener, spawn, stop_rx)),
                    );
                }
                Runtime::AsyncStd => {
                    async_std::task::spawn(heartbeat);
                    let spawn = |f: BoxFuture| {
                        async_std::task::spawn(f);
                    };
                    async_std::task::block_on(server::accept_loop(
                        server, listener, spawn, stop_rx,
                    ));
                }
            })?
    };

    let started = Instant::now();
    let sessions = load(
        addr,
        opts.clients,
        Duration::from_secs_f64(opts.seconds.max(0.1)),
    );
    let load_time = started.elapsed();
    let lag: LagStats = probe.stats();

    // Shutdown: stop accepting, let running sessions end, then wait for
    // every shielded write (the step asyncio programs forget).
    drop(stop_tx);
    let _ = server_thread.join();
    let settle = Instant::now();
    while server.counters.active.load(Relaxed) > 0 && settle.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stuck = server.counters.active.load(Relaxed);
    let drain = futures_lite::future::block_on(async_guard::shield::drain(Duration::from_secs(5)));
    probe.stop();

    let report = Report::collect(
        opts, &server, sessions, load_time, lag, stuck, drain, &out_dir,
    );
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(report)
}

/// Runs `clients` client loops for `duration`; returns every session.
fn load(addr: SocketAddr, clients: usize, duration: Duration) -> Vec<client::Session> {
    let ex = async_executor::Executor::new();
    let end = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients.max(1) as u64)
        .map(|slot| {
            ex.spawn(async move {
                let mut done = Vec::new();
                // Stagger the start so the load ramps up.
                Timer::after(Duration::from_millis(slot * 7 % 200)).await;
                let mut n = 0u64;
                while Instant::now() < end {
                    let seed = slot * 1_000_000 + n;
                    let behaviour = Behaviour::pick(recognizer::mix(seed));
                    let session = client::run(addr, behaviour, seed).await;
                    // Real clients back off after BUSY instead of hammering.
                    if session.answer == Answer::Busy {
                        Timer::after(Duration::from_millis(50 + recognizer::mix(seed) % 150)).await;
                    }
                    done.push(session);
                    n += 1;
                }
                done
            })
        })
        .collect();
    futures_lite::future::block_on(ex.run(async {
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await);
        }
        all
    }))
}

/// Counts answers per behaviour, for the report.
pub fn tally(sessions: &[client::Session]) -> BTreeMap<Behaviour, BTreeMap<Answer, u64>> {
    let mut t: BTreeMap<Behaviour, BTreeMap<Answer, u64>> = BTreeMap::new();
    for s in sessions {
        *t.entry(s.behaviour)
            .or_default()
            .entry(s.answer)
            .or_default() += 1;
    }
    t
}
