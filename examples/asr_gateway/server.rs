//! The gateway server: one connection handler per client, with each cure
//! where a real service would put it (or none of them with `--naive`).

use std::future::Future;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use async_guard::FutureExt as _;
use async_guard::budget::Budget;
use async_guard::offload::CpuPool;
use async_guard::reaper::{Activity, Reaper};
use async_guard::shield::ShieldSet;
use async_guard::time::timeout;
use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, FutureExt as _};

use crate::admission::{Admission, LimitMode};
use crate::protocol::{Frame, Kind, ReadError, read_frame, write_frame};
use crate::recognizer::Recognizer;

/// Server tuning, fixed for the demo except what the command line sets.
#[derive(Clone, Debug)]
pub struct Config {
    pub naive: bool,
    /// Sessions running at once: a fixed limit or an adaptive policy.
    pub limit: LimitMode,
    /// Clients allowed to wait for a slot; more are shed at once.
    pub max_waiting: usize,
    /// How long an admitted-to-the-queue client may wait for a slot.
    pub admission_wait: Duration,
    /// Connections that have not yet sent a complete OPEN frame; beyond
    /// this, a new connection is told BUSY at once. An atomic counter: a
    /// silent socket costs a task and a timer, never a session slot.
    pub max_handshaking: usize,
    /// Bound on receiving the whole OPEN frame after the connect.
    pub handshake_timeout: Duration,
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
    /// How slow the storage is: the pause after each 32-byte piece written.
    pub storage_delay: Duration,
    pub out_dir: PathBuf,
}

/// What the server saw, for the report. Every field is a counter: nothing
/// here grows with the server's lifetime.
#[derive(Default)]
pub struct Counters {
    pub connections: AtomicU64,
    /// Connections told BUSY before their OPEN frame (too many handshaking).
    pub handshake_shed: AtomicU64,
    /// Connections with no complete OPEN frame within the handshake deadline.
    pub handshake_timed_out: AtomicU64,
    /// Connections waiting for their OPEN frame right now.
    pub handshaking: AtomicU64,
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
    /// Final transcripts the server produced: each must end up persisted
    /// (written and read back equal), failed (the client was told ERROR),
    /// or it is lost.
    pub produced: AtomicU64,
    pub persisted: AtomicU64,
    /// Written, but read back different.
    pub corrupt: AtomicU64,
    /// The storage refused the write (the client, if still there, got ERROR).
    pub persist_failed: AtomicU64,
    /// The write was dropped before it finished (only possible without the
    /// shield cure, or at process exit): lost.
    pub abandoned: AtomicU64,
}

impl Counters {
    fn enter(&self) {
        let now = self.active.fetch_add(1, Relaxed) + 1;
        self.max_active.fetch_max(now, Relaxed);
    }

    /// Transcripts produced whose write has not ended yet.
    pub fn writes_in_flight(&self) -> u64 {
        let ended = self.persisted.load(Relaxed)
            + self.corrupt.load(Relaxed)
            + self.persist_failed.load(Relaxed)
            + self.abandoned.load(Relaxed);
        self.produced.load(Relaxed).saturating_sub(ended)
    }
}

pub struct Server {
    pub cfg: Config,
    pub counters: Counters,
    pub limiter: Admission,
    pub pool: CpuPool,
    /// Multiplies the recogniser's CPU cost (build and decode); `--capacity-shift`
    /// doubles it half-way through the run.
    pub cost: AtomicU32,
    pub reaper: Reaper,
    /// Every connection's task, tracked so that shutdown can wait for them
    /// (`close` + `drain`) instead of polling a counter.
    pub sessions: ShieldSet,
    /// Prefix of every file this server instance writes (unique per run,
    /// so two runs sharing an output directory never collide).
    pub run_id: String,
    next_session: AtomicU64,
}

impl Server {
    pub fn new(cfg: Config) -> Server {
        Server {
            limiter: Admission::new(cfg.limit, cfg.max_waiting, cfg.session_deadline),
            cost: AtomicU32::new(1),
            pool: CpuPool::builder().name("asr").build(),
            reaper: Reaper::builder(cfg.idle_ttl)
                .tick(Duration::from_millis(50))
                .name("asr-sessions")
                .build(),
            sessions: ShieldSet::new(),
            counters: Counters::default(),
            run_id: format!("{:08x}", crate::recognizer::seed_from_clock() & 0xffff_ffff),
            next_session: AtomicU64::new(1),
            cfg,
        }
    }

    /// The file a session's transcript goes to. Derived from the server's
    /// own session id only: the client's name never becomes a path.
    pub fn transcript_file(&self, session: u64) -> String {
        format!("{}-{session:08}.txt", self.run_id)
    }

    /// Transcript files of this run found in the output directory.
    pub fn transcripts_on_disk(&self) -> u64 {
        let prefix = format!("{}-", self.run_id);
        std::fs::read_dir(&self.cfg.out_dir)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with(&prefix) && name.ends_with(".txt")
                    })
                    .count() as u64
            })
            .unwrap_or(0)
    }
}

/// What a transcript file holds: the client's name (escaped, cut to a
/// bounded length: it is a label, never a path) on the first line, then the
/// transcript.
pub fn transcript_file_contents(client_name: &[u8], transcript: &str) -> String {
    const SHOWN: usize = 200;
    let name = String::from_utf8_lossy(client_name);
    let mut escaped: String = name
        .chars()
        .take(SHOWN)
        .flat_map(char::escape_debug)
        .collect();
    if name.chars().count() > SHOWN {
        escaped.push_str(&format!("... ({} bytes in all)", client_name.len()));
    }
    format!("client-name: \"{escaped}\"\n{transcript}\n")
}

/// How a session ended, seen from the server.
enum Outcome {
    Served,
    Disconnected,
    Malformed(String),
    FrameTimeout,
    /// The transcript could not be stored (already counted by the write).
    PersistFailed(String),
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

/// A place among the connections that have not sent their OPEN frame yet.
struct HandshakeSlot<'a>(&'a AtomicU64);

impl<'a> HandshakeSlot<'a> {
    fn take(counter: &'a AtomicU64, max: usize) -> Option<Self> {
        let before = counter.fetch_add(1, Relaxed);
        if before >= max as u64 {
            counter.fetch_sub(1, Relaxed);
            return None;
        }
        Some(HandshakeSlot(counter))
    }
}

impl Drop for HandshakeSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn serve(server: Arc<Server>, conn: &Conn) {
    let conn = conn.clone();
    let c = &server.counters;
    c.connections.fetch_add(1, Relaxed);

    // The handshake: a complete OPEN frame within a short deadline, before
    // the connection may ask for anything expensive. A socket that connects
    // and says nothing holds a handshake slot (a counter) for at most
    // `handshake_timeout`, never a session slot (time cure).
    let open = if server.cfg.naive {
        read_frame(&mut &*conn).await.map_err(read_outcome)
    } else {
        let Some(_slot) = HandshakeSlot::take(&c.handshaking, server.cfg.max_handshaking) else {
            c.handshake_shed.fetch_add(1, Relaxed);
            send(
                &conn,
                Kind::Busy,
                "busy: too many connections, try again later",
            )
            .await;
            return;
        };
        match timeout(server.cfg.handshake_timeout, read_frame(&mut &*conn)).await {
            Ok(res) => res.map_err(read_outcome),
            Err(_) => {
                c.handshake_timed_out.fetch_add(1, Relaxed);
                send(&conn, Kind::Timeout, "no complete OPEN frame in time").await;
                return;
            }
        }
    };
    let name = match open {
        Ok(f) if f.kind == Kind::Open => f.payload,
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

    // Admission: at most `limit` sessions; a few may wait briefly; the rest
    // are told BUSY at once instead of piling up (limit cure). Only a client
    // that completed its handshake gets this far.
    let mut permit = if server.cfg.naive {
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

    c.started.fetch_add(1, Relaxed);
    c.enter();
    let id = server.next_session.fetch_add(1, Relaxed);
    let name: Arc<[u8]> = name.into();
    // The longest the session waited for one frame of its client (µs): a
    // client that pauses makes the session long for reasons that have
    // nothing to do with the server's load.
    let slowest_read = Arc::new(AtomicU64::new(0));

    let outcome = if server.cfg.naive {
        Some(session(&server, &conn, id, &name, None, &slowest_read).await)
    } else {
        // The whole session has a deadline (time cure) and is reaped if the
        // client goes silent (reaper cure); either drops the session future.
        // The reaper's label is the server's id, not the client's string.
        let tracked = server.reaper.track(format!("session-{id}"), |activity| {
            let (server, conn, name) = (server.clone(), conn.clone(), name.clone());
            let slowest_read = slowest_read.clone();
            async move { session(&server, &conn, id, &name, Some(activity), &slowest_read).await }
        });
        match timeout(server.cfg.session_deadline, tracked).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(reaped)) => {
                c.reaped.fetch_add(1, Relaxed);
                if let Some(p) = permit.as_mut() {
                    p.ignore(); // the client went silent
                }
                send(&conn, Kind::Timeout, format!("idle: {reaped}")).await;
                None
            }
            Err(elapsed) => {
                c.timed_out.fetch_add(1, Relaxed);
                if let Some(p) = permit.as_mut() {
                    p.failed();
                }
                send(&conn, Kind::Timeout, format!("session deadline: {elapsed}")).await;
                None
            }
        }
    };
    // What the adaptive limit learns from this session: served or out of
    // time counts; a session shaped by its client (a pause of 200 ms or
    // more between frames, a hang-up, garbage, silence) is no sample.
    if let Some(p) = permit.as_mut() {
        let client_paused = slowest_read.load(Relaxed) >= 200_000;
        if client_paused || !matches!(outcome, Some(Outcome::Served) | None) {
            p.ignore();
        }
    }
    drop(permit);
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
        Outcome::PersistFailed(why) => {
            send(conn, Kind::Error, why).await;
        }
    }
}

fn read_outcome(e: ReadError) -> Outcome {
    match e {
        ReadError::Eof | ReadError::Io(_) => Outcome::Disconnected,
        malformed => Outcome::Malformed(malformed.to_string()),
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
    res.map_err(read_outcome)
}

/// Awaits `work` that the session itself is waiting on (its recogniser, its
/// own persist). The client is not idle while the server works for it, so
/// the wait touches the session's activity: a slow pool or slow storage
/// (say, a thread shortage) must not get a healthy session reaped. The
/// session deadline still bounds the whole session.
async fn working<T>(
    activity: Option<&Activity>,
    every: Duration,
    work: impl Future<Output = T>,
) -> T {
    match activity {
        None => work.await,
        Some(a) => {
            work.or(async {
                loop {
                    a.touch();
                    Timer::after(every).await;
                }
            })
            .await
        }
    }
}

/// One recognition session: build the recogniser, decode chunks, persist.
async fn session(
    server: &Arc<Server>,
    conn: &Conn,
    id: u64,
    name: &[u8],
    activity: Option<Activity>,
    slowest_read: &AtomicU64,
) -> Outcome {
    let cfg = &server.cfg;
    let cost = server.cost.load(Relaxed).max(1);
    let work = cfg.recognizer_work * cost;
    let decode_rounds = cfg.decode_rounds * cost;
    let pulse = cfg.idle_ttl / 4;
    // Building the recogniser is CPU-heavy: off the event loop (offload cure).
    let recognizer = if cfg.naive {
        Recognizer::new(work)
    } else {
        working(
            activity.as_ref(),
            pulse,
            server.pool.run(move || Recognizer::new(work)),
        )
        .await
    };

    let mut budget = Budget::default(); // yields every 500 µs of work
    let mut words = Vec::new();
    loop {
        let asked = std::time::Instant::now();
        let frame = read(server, conn).await;
        let waited = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
        slowest_read.fetch_max(waited, Relaxed);
        let frame = match frame {
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
                    state = recognizer.step(state, sample, decode_rounds);
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
    server.counters.produced.fetch_add(1, Relaxed);

    // Persist the final transcript. Like most servers, the handler stops
    // when the client hangs up; only a shielded write survives that
    // (shield cure). The write keeps its own books, so a write that ends
    // after the client left is still counted.
    let write = TranscriptWrite {
        server: server.clone(),
        ended: false,
    }
    .run(
        server.transcript_file(id),
        transcript_file_contents(name, &transcript),
    );
    let gone = async {
        client_gone(conn).await;
        Err(PersistError::ClientGone)
    };
    let persisted = if cfg.naive {
        write.or(gone).await
    } else {
        let shielded = async_guard::shield::shield(write);
        working(activity.as_ref(), pulse, shielded.or(gone)).await
    };
    match persisted {
        Ok(()) => {}
        Err(PersistError::ClientGone) => return Outcome::Disconnected,
        Err(PersistError::Failed(why)) => return Outcome::PersistFailed(why),
    }
    if write_frame(&mut &**conn, &Frame::new(Kind::Final, transcript))
        .await
        .is_err()
    {
        return Outcome::Disconnected;
    }
    Outcome::Served
}

enum PersistError {
    ClientGone,
    /// The storage failed; the reason for the client.
    Failed(String),
}

/// One transcript write and its bookkeeping: exactly one of the counters
/// `persisted`, `corrupt`, `persist_failed` or `abandoned` counts it.
struct TranscriptWrite {
    server: Arc<Server>,
    ended: bool,
}

impl TranscriptWrite {
    async fn run(mut self, file: String, contents: String) -> Result<(), PersistError> {
        let c = &self.server.counters;
        let cfg = &self.server.cfg;
        let res = persist(&cfg.out_dir, &file, &contents, cfg.storage_delay).await;
        self.ended = true;
        match res {
            Ok(true) => {
                c.persisted.fetch_add(1, Relaxed);
                Ok(())
            }
            Ok(false) => {
                c.corrupt.fetch_add(1, Relaxed);
                Err(PersistError::Failed(
                    "could not store the transcript: read back different".into(),
                ))
            }
            Err(e) => {
                c.persist_failed.fetch_add(1, Relaxed);
                Err(PersistError::Failed(format!(
                    "could not store the transcript: {e}"
                )))
            }
        }
    }
}

impl Drop for TranscriptWrite {
    fn drop(&mut self) {
        if !self.ended {
            self.server.counters.abandoned.fetch_add(1, Relaxed);
        }
    }
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

/// Writes a transcript the way a careful service does: to a new temporary
/// file in pieces (storage is slow), flushed, then renamed into place, then
/// read back. Cut short, it leaves only a `.tmp` file and the transcript is
/// lost. `file` is a server-made name (never the client's). Returns whether
/// the file read back equal.
async fn persist(dir: &Path, file: &str, contents: &str, delay: Duration) -> std::io::Result<bool> {
    use std::io::Write;
    let tmp = dir.join(format!("{file}.tmp"));
    let done = dir.join(file);
    let mut f = {
        let tmp = tmp.clone();
        // `create_new`: never clobber a file that is already there.
        blocking::unblock(move || std::fs::File::create_new(tmp)).await?
    };
    for piece in contents.as_bytes().chunks(32) {
        let piece = piece.to_vec();
        f = blocking::unblock(move || f.write_all(&piece).map(|()| f)).await?;
        Timer::after(delay).await; // slow storage
    }
    let expected = contents.to_string();
    blocking::unblock(move || {
        f.sync_all()?;
        drop(f);
        if done.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "transcript file exists",
            ));
        }
        std::fs::rename(&tmp, &done)?;
        Ok(std::fs::read_to_string(&done)? == expected)
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
            Some(Ok((conn, _))) => match server.sessions.track(handle(server.clone(), conn)) {
                Ok(session) => spawn(Box::pin(session)),
                Err(_closed) => {} // shutting down: the connection is dropped
            },
            // Out of file descriptors, say: back off instead of spinning.
            Some(Err(_)) => {
                Timer::after(Duration::from_millis(5)).await;
            }
            None => return,
        }
    }
}
