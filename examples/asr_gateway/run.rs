//! Wires the server, the load generator and the measurements together.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_guard::budget::{LagProbe, LagStats};
use async_io::{Async, Timer};

use crate::admission::LimitMode;
use crate::client::{self, Answer, Behaviour};
use crate::recognizer;
use crate::report::{ClientEnd, Report, ServerEnd};
use crate::server::{self, Config, Server};

/// Which clients the load generator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Mostly well-behaved clients, with slow, stalling, disconnecting and
    /// garbage-sending ones (the demo's default).
    Hostile,
    /// Well-behaved clients only: every session's time is the server's
    /// doing (the adaptive-limit sweep: a slow or stalling client pins a
    /// session slot for up to the session deadline whatever the limit, which
    /// at small limits makes the capacity left a matter of luck).
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Smol,
    AsyncStd,
}

/// What the process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The server and the load generator in one process (the default).
    Both,
    /// The server alone, listening on this address.
    Serve(String),
    /// The load generator alone, against a server at this address.
    Connect(String),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub naive: bool,
    pub runtime: Runtime,
    pub clients: usize,
    pub seconds: f64,
    /// `--serve` without `--seconds`: run until the process is interrupted.
    pub forever: bool,
    pub limit: LimitMode,
    /// Double the recogniser's CPU cost half-way through the load.
    pub capacity_shift: bool,
    /// Clients that may wait for a session slot (`--max-waiting`); unset:
    /// the limit for a fixed limit, 8 for an adaptive one.
    pub max_waiting: Option<usize>,
    /// The client mix (`--mix`): the hostile mix, or well-behaved clients only.
    pub mix: Mix,
    /// Bound on a whole session (`--deadline`; default 2 s): the server's
    /// latency objective; a session past it is told TIMEOUT.
    pub session_deadline: Duration,
    /// The first part of the load left out of the per-phase figures
    /// (`--warm-up`): connections, caches and an adaptive limit starting up.
    pub warm_up: Duration,
    pub mode: Mode,
    /// Where transcripts go (`--out`); a fresh temporary directory if unset.
    pub out_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            naive: false,
            runtime: Runtime::Smol,
            clients: 32,
            seconds: 8.0,
            forever: false,
            limit: LimitMode::Fixed(16),
            capacity_shift: false,
            max_waiting: None,
            mix: Mix::Hostile,
            warm_up: Duration::ZERO,
            session_deadline: Duration::from_secs(2),
            mode: Mode::Both,
            out_dir: None,
        }
    }
}

/// The server settings the demo runs with.
pub fn config(opts: &Options, out_dir: PathBuf) -> Config {
    Config {
        naive: opts.naive,
        limit: opts.limit,
        max_waiting: opts.max_waiting.unwrap_or(match opts.limit {
            LimitMode::Fixed(n) => n.max(1),
            _ => 8,
        }),
        admission_wait: Duration::from_millis(300),
        max_handshaking: 512,
        handshake_timeout: Duration::from_millis(500),
        frame_timeout: Duration::from_secs(1),
        session_deadline: opts.session_deadline,
        idle_ttl: Duration::from_millis(600),
        recognizer_work: 6,
        decode_rounds: 144,
        storage_delay: Duration::from_millis(1),
        out_dir,
    }
}

pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs what `opts.mode` says; returns what was measured.
pub fn run(opts: &Options) -> std::io::Result<Report> {
    match &opts.mode {
        Mode::Both => both(opts),
        Mode::Serve(addr) => serve(opts, addr),
        Mode::Connect(addr) => connect(opts, addr),
    }
}

fn temp_out_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "asr-gateway-{}-{:x}",
        std::process::id(),
        recognizer::seed_from_clock()
    ))
}

/// Runs the gateway and the load against it in one process.
fn both(opts: &Options) -> std::io::Result<Report> {
    let (out_dir, remove) = match &opts.out_dir {
        Some(dir) => (dir.clone(), false),
        None => (temp_out_dir(), true),
    };
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let running = Running::start(opts, listener, out_dir.clone())?;

    let started = Instant::now();
    let duration = Duration::from_secs_f64(opts.seconds.max(0.1));
    let watch = Watch::start(
        running.server.clone(),
        started,
        duration,
        opts.capacity_shift,
    );
    let sessions = load(running.addr, opts.clients, duration, opts.mix);
    let load_time = started.elapsed();
    let timeline = watch.stop();

    let mut report = running.stop(
        opts,
        Some(ClientEnd {
            sessions,
            load_time,
        }),
    );
    // The per-phase section and the chart of the limit: only where the
    // limit or the capacity moves.
    if opts.capacity_shift || !matches!(opts.limit, LimitMode::Fixed(_)) {
        report.add_timeline(
            started,
            opts.warm_up.min(duration / 2),
            duration,
            opts.capacity_shift,
            timeline,
        );
    }
    if remove {
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    Ok(report)
}

/// `--serve ADDR`: the server alone. The first line printed is
/// `listening on ADDR` with the port actually bound.
fn serve(opts: &Options, addr: &str) -> std::io::Result<Report> {
    let out_dir = opts.out_dir.clone().unwrap_or_else(temp_out_dir);
    let listener = TcpListener::bind(addr)?;
    let running = Running::start(opts, listener, out_dir.clone())?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", running.addr)?;
        writeln!(out, "transcripts go to {}", out_dir.display())?;
        out.flush()?;
    }
    if opts.forever {
        // Until the process is interrupted.
        loop {
            std::thread::park();
        }
    }
    std::thread::sleep(Duration::from_secs_f64(opts.seconds.max(0.1)));
    Ok(running.stop(opts, None))
}

/// `--connect ADDR`: the load generator alone, against an outside server.
fn connect(opts: &Options, addr: &str) -> std::io::Result<Report> {
    let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "address resolves to nothing",
        )
    })?;
    let started = Instant::now();
    let sessions = load(
        addr,
        opts.clients,
        Duration::from_secs_f64(opts.seconds.max(0.1)),
        opts.mix,
    );
    let load_time = started.elapsed();
    Ok(Report::collect(
        opts,
        None,
        Some(ClientEnd {
            sessions,
            load_time,
        }),
    ))
}

/// Samples the server's limit every 250 ms and, with `--capacity-shift`,
/// doubles the recogniser's cost half-way through the load.
struct Watch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Duration, usize)>>,
}

impl Watch {
    fn start(server: Arc<Server>, started: Instant, duration: Duration, shift: bool) -> Watch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut shifted = false;
            let mut next = started;
            while !flag.load(Relaxed) {
                let now = Instant::now();
                if shift && !shifted && now >= started + duration / 2 {
                    server.cost.store(2, Relaxed);
                    shifted = true;
                }
                if now >= next {
                    samples.push((now - started, server.limiter.limit()));
                    next += Duration::from_millis(250);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        });
        Watch { stop, thread }
    }

    fn stop(self) -> Vec<(Duration, usize)> {
        self.stop.store(true, Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// A server running on its own thread.
struct Running {
    server: Arc<Server>,
    addr: SocketAddr,
    probe: LagProbe,
    stop_tx: async_channel::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    fn start(opts: &Options, listener: TcpListener, out_dir: PathBuf) -> std::io::Result<Running> {
        std::fs::create_dir_all(&out_dir)?;
        let cfg = config(opts, out_dir);
        let server = Arc::new(Server::new(cfg));
        let listener = Async::new(listener)?;
        let addr = listener.get_ref().local_addr()?;

        // The event loop's own health: a heartbeat on the server's executor.
        let (probe, heartbeat) =
            LagProbe::with_threshold(Duration::from_millis(5), Duration::from_millis(10));
        let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
        let thread = {
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
        Ok(Running {
            server,
            addr,
            probe,
            stop_tx,
            thread,
        })
    }

    fn stop(self, opts: &Options, client: Option<ClientEnd>) -> Report {
        let Running {
            server,
            probe,
            stop_tx,
            thread: server_thread,
            ..
        } = self;
        let lag: LagStats = probe.stats();

        // Shutdown: stop accepting, let running sessions end (the set
        // tracks every connection's task), then wait for every shielded
        // write (the step asyncio programs forget).
        drop(stop_tx);
        let _ = server_thread.join();
        server.sessions.close();
        let sessions =
            futures_lite::future::block_on(server.sessions.drain(Duration::from_secs(5)));
        let stuck = sessions.still_running;
        let drain =
            futures_lite::future::block_on(async_guard::shield::drain(Duration::from_secs(5)));
        probe.stop();

        Report::collect(
            opts,
            Some(ServerEnd {
                server: &server,
                stuck,
                drain,
                lag,
            }),
            client,
        )
    }
}

/// Runs `clients` client loops for `duration`; returns every session.
fn load(addr: SocketAddr, clients: usize, duration: Duration, mix: Mix) -> Vec<client::Session> {
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
                    let behaviour = match mix {
                        Mix::Hostile => Behaviour::pick(recognizer::mix(seed)),
                        Mix::Normal => Behaviour::Normal,
                    };
                    let session = client::run(addr, behaviour, seed).await;
                    // Real clients back off after BUSY (or a failed
                    // connect) instead of hammering.
                    if matches!(session.answer, Answer::Busy | Answer::ConnectFailed) {
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
