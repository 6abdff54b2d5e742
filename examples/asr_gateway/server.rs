//! The gateway server: one connection handler per client, with each cure
//! where a real service would put it (or none of them with `--naive`).

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_guard::FutureExt as _;
use async_guard::budget::Budget;
use async_guard::limit::Limiter;
use async_guard::offload::CpuPool;
use async_guard::reaper::{Activity, Reaper};
use async_guard::time::timeout;
use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, FutureExt as _};

use crate::protocol::{Frame, Kind, ReadError, read_frame, write_frame};
use crate::recognizer::Recognizer;

/// Server tuning, fixed for the demo except what the command line sets.
#[derive(Clone, Debug)]
pub struct Config {
    pub naive: bool,
    /// Sessions running at once (the limiter).
    pub limit: usize,
    /// Clients allowed to wait for a slot; more are shed at once.
    pub max_waiting: usize,
    /// How long an admitted-to-the-queue client may wait for a slot.
    pub admission_wait: Duration,
    /// Bound on reading one frame.
    pub frame_timeout: Duration,
    /// Bound on a whole session.
    pub session_deadline: Duration,
    /// A session with no frame for this long is reaped.
    pub idle_ttl: Duration,
    /// CPU cost of building a recogniser (table passes).
    pub recognizer_work: u32,
    /// CPU cost of decoding one sample.
    pub decode_rounds: u32,
    pub out_dir: PathBuf,
}

/// What the server saw, for the report.
#[derive(Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub started: AtomicU64,
    pub served: AtomicU64,
    pub shed: AtomicU64,
    pub timed_out: AtomicU64,
    pub reaped: AtomicU64,
    pub disconnected: AtomicU64,
    pub malformed: AtomicU64,
    pub active: AtomicU64,
    pub max_active: AtomicU64,
    /// Polls of a connection handler that held the event loop over 5 ms.
    pub stalls: AtomicU64,
    pub longest_stall_us: AtomicU64,
    /// Transcripts the server produced, by session name: what must be on disk.
    pub expected: Mutex<HashMap<String, String>>,
}

impl Counters {
    fn enter(&self) {
        let now = self.active.fetch_add(1, Relaxed) + 1;
        self.max_active.fetch_max(now, Relaxed);
    }
}

pub struct Server {
    pub cfg: Config,
    pub counters: Counters,
    pub limiter: Limiter,
    pub pool: CpuPool,
    pub reaper: Reaper,
}

impl Server {
    pub fn new(cfg: Config) -> Server {
        Server {
            limiter: Limiter::builder()
                .limit(cfg.limit)
                .max_waiting(cfg.max_waiting)
                .build(),
            pool: CpuPool::builder().name("asr").build(),
            reaper: Reaper::builder(cfg.idle_ttl)
                .tick(Duration::from_millis(50))
                .name("asr-sessions")
                .build(),
            counters: Counters::default(),
            cfg,
        }
    }
}

/// How a session ended, seen from the server.
enum Outcome {
    Served,
    Disconnected,
    Malformed(String),
    FrameTimeout,
}

type Conn = Arc<Async<TcpStream>>;

async fn send(conn: &Conn, kind: Kind, payload: impl Into<Vec<u8>>) {
    // The client may be gone already; there is nobody left to tell.
    let _ = write_frame(&mut &**conn, &Frame::new(kind, payload)).await;
}

/// Serves one connection from accept to close.
pub async fn handle(server: Arc<Server>, conn: Async<TcpStream>) {
    let conn: Conn = Arc::new(conn);
    // Find the culprits: report every poll that holds the event loop for
    // 5 ms or more (the budget cure's stall detector; on in both modes).
    let counters = server.clone();
    let on_stall = move |_: &str, took: Duration| {
        counters.counters.stalls.fetch_add(1, Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        counters.counters.longest_stall_us.fetch_max(us, Relaxed);
    };
    serve(server, &conn)
        .detect_stalls(Duration::from_millis(5), on_stall)
        .await;
    linger(&conn).await;
}

/// Closes politely: stop sending, then read what the client still sends
/// (briefly) so that closing does not reset the connection and destroy the
/// answer we just sent before the client read it. Protocol hygiene, the same
/// in both modes.
async fn linger(conn: &Conn) {
    let _ = conn.get_ref().shutdown(std::net::Shutdown::Write);
    let _ = timeout(Duration::from_millis(500), client_gone(conn)).await;
}

async fn serve(server: Arc<Server>, conn: &Conn) {
    let conn = conn.clone();
    let c = &server.counters;
    c.connections.fetch_add(1, Relaxed);

    // Admission: at most `limit` sessions; a few may wait briefly; the rest
    // are told BUSY at once instead of piling up (limit cure).
    let _permit = if server.cfg.naive {
        None
    } else {
        match server
            .limiter
            .acquire_timeout(server.cfg.admission_wait)
            .await
        {
            Ok(permit) => Some(permit),
            Err(_) => {
                c.shed.fetch_add(1, Relaxed);
                send(
                    &conn,
                    Kind::Busy,
                    "busy: too many sessions, try again later",
                )
                .await;
                return;
            }
        }
    };

    // The OPEN frame, bounded by the frame timeout (time cure).
    let open = read(&server, &conn).await;
    let name = match open {
        Ok(f) if f.kind == Kind::Open => f.text(),
        Ok(f) => {
            return finish(
                &server,
                &conn,
                Outcome::Malformed(format!("expected OPEN, got {:?}", f.kind)),
            )
            .await;
        }
        Err(outcome) => return finish(&server, &conn, outcome).await,
    };
    c.started.fetch_add(1, Relaxed);
    c.enter();

    let outcome = if server.cfg.naive {
        Some(session(&server, &conn, &name, None).await)
    } else {
        // The whole session has a deadline (time cure) and is reaped if the
        // client goes silent (reaper cure); either drops the session future.
        let tracked = server.reaper.track(name.clone(), |activity| {
            let (server, conn, name) = (server.clone(), conn.clone(), name.clone());
            async move { session(&server, &conn, &name, Some(activity)).await }
        });
        match timeout(server.cfg.session_deadline, tracked).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(reaped)) => {
                c.reaped.fetch_add(1, Relaxed);
                send(&conn, Kind::Timeout, format!("idle: {reaped}")).await;
                None
            }
            Err(elapsed) => {
                c.timed_out.fetch_add(1, Relaxed);
                send(&conn, Kind::Timeout, format!("session deadline: {elapsed}")).await;
                None
            }
        }
    };
    c.active.fetch_sub(1, Relaxed);
    if let Some(outcome) = outcome {
        finish(&server, &conn, outcome).await;
    }
}

async fn finish(server: &Server, conn: &Conn, outcome: Outcome) {
    let c = &server.counters;
    match outcome {
        Outcome::Served => {
            c.served.fetch_add(1, Relaxed);
        }
        Outcome::Disconnected => {
            c.disconnected.fetch_add(1, Relaxed);
        }
        Outcome::Malformed(why) => {
            c.malformed.fetch_add(1, Relaxed);
            send(conn, Kind::Error, why).await;
        }
        Outcome::FrameTimeout => {
            c.timed_out.fetch_add(1, Relaxed);
            send(conn, Kind::Timeout, "no complete frame in time").await;
        }
    }
}

/// Reads one frame; in guarded mode bounded by the frame timeout.
async fn read(server: &Server, conn: &Conn) -> Result<Frame, Outcome> {
    let res = if server.cfg.naive {
        read_frame(&mut &**conn).await
    } else {
        match timeout(server.cfg.frame_timeout, read_frame(&mut &**conn)).await {
            Ok(res) => res,
            Err(_) => return Err(Outcome::FrameTimeout),
        }
    };
    res.map_err(|e| match e {
        ReadError::Eof | ReadError::Io(_) => Outcome::Disconnected,
        malformed => Outcome::Malformed(malformed.to_string()),
    })
}

/// One recognition session: build the recogniser, decode chunks, persist.
async fn session(server: &Server, conn: &Conn, name: &str, activity: Option<Activity>) -> Outcome {
    let cfg = &server.cfg;
    let work = cfg.recognizer_work;
    // Building the recogniser is CPU-heavy: off the event loop (offload cure).
    let recognizer = if cfg.naive {
        Recognizer::new(work)
    } else {
        server.pool.run(move || Recognizer::new(work)).await
    };

    let mut budget = Budget::default(); // yields every 500 µs of work
    let mut words = Vec::new();
    loop {
        let frame = match read(server, conn).await {
            Ok(frame) => frame,
            Err(outcome) => return outcome,
        };
        if let Some(a) = &activity {
            a.touch();
        }
        match frame.kind {
            Kind::Audio => {
                // A long decoding loop: it yields every few hundred samples
                // so other sessions keep moving (budget cure).
                let mut state = words.len() as u64;
                for &sample in &frame.payload {
                    state = recognizer.step(state, sample, cfg.decode_rounds);
                    if !cfg.naive {
                        budget.tick().await;
                    }
                }
                let word = Recognizer::word(state);
                words.push(word);
                if write_frame(&mut &**conn, &Frame::new(Kind::Partial, word))
                    .await
                    .is_err()
                {
                    return Outcome::Disconnected;
                }
            }
            Kind::End => break,
            other => return Outcome::Malformed(format!("unexpected {other:?} frame in a session")),
        }
    }

    let transcript = words.join(" ");
    server
        .counters
        .expected
        .lock()
        .unwrap()
        .insert(name.to_string(), transcript.clone());

    // Persist the final transcript. Like most servers, the handler stops
    // when the client hangs up; only a shielded write survives that
    // (shield cure).
    let path = cfg.out_dir.clone();
    let file = name.to_string();
    let text = transcript.clone();
    let write = async move { persist(&path, &file, &text).await };
    let persisted = if cfg.naive {
        write
            .or(async {
                client_gone(conn).await;
                Err(std::io::Error::other("client gone"))
            })
            .await
    } else {
        let shielded = async_guard::shield::shield(write);
        shielded
            .or(async {
                client_gone(conn).await;
                Err(std::io::Error::other("client gone"))
            })
            .await
    };
    if persisted.is_err() {
        return Outcome::Disconnected;
    }
    if write_frame(&mut &**conn, &Frame::new(Kind::Final, transcript))
        .await
        .is_err()
    {
        return Outcome::Disconnected;
    }
    Outcome::Served
}

/// Resolves once the client closed its side of the connection.
async fn client_gone(conn: &Conn) {
    let mut buf = [0u8; 64];
    loop {
        match (&**conn).read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

/// Writes a transcript the way a careful service does: to a temporary file
/// in pieces (storage is slow), flushed, then renamed into place. Cut
/// short, it leaves only a `.tmp` file and the transcript is lost.
async fn persist(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let done = dir.join(format!("{name}.txt"));
    let mut file = {
        let tmp = tmp.clone();
        blocking::unblock(move || std::fs::File::create(tmp)).await?
    };
    for piece in text.as_bytes().chunks(32) {
        let piece = piece.to_vec();
        file = blocking::unblock(move || file.write_all(&piece).map(|()| file)).await?;
        Timer::after(Duration::from_millis(1)).await; // slow storage
    }
    blocking::unblock(move || {
        file.sync_all()?;
        std::fs::rename(tmp, done)
    })
    .await
}

/// Accepts connections until `stop` resolves, handing each to `spawn`.
pub async fn accept_loop(
    server: Arc<Server>,
    listener: Async<std::net::TcpListener>,
    spawn: impl Fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
    stop: async_channel::Receiver<()>,
) {
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                let _ = stop.recv().await;
                None
            })
            .await;
        match accepted {
            Some(Ok((conn, _))) => spawn(Box::pin(handle(server.clone(), conn))),
            // Out of file descriptors, say: back off instead of spinning.
            Some(Err(_)) => {
                Timer::after(Duration::from_millis(5)).await;
            }
            None => return,
        }
    }
}
