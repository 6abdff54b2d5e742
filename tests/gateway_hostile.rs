#![allow(dead_code)]
//! The ASR gateway as a real server under attack: the example's own command
//! line runs in `--serve 127.0.0.1:0` mode in a child process, and this test
//! attacks it over loopback with random bytes, huge length headers,
//! truncated frames, floods of silent connections, squatters, one byte per
//! second, connect-and-reset and hostile session names. Every hostile client
//! must get its answer, no file may appear outside the output directory, the
//! server must stay up and legitimate sessions must be served.
//!
//! The child process is this test binary itself, re-run with only the
//! ignored `gateway_server_process` test selected: it calls the example's
//! `cli::main` (compiled in below with `#[path]`, exactly the code of
//! `cargo run --example asr_gateway -- --serve ...`). That needs no prior
//! `cargo build --example` and works under plain `cargo test` on a clean
//! clone. The child stops by itself (`--seconds`) even if this process dies.

#[path = "../examples/asr_gateway/admission.rs"]
mod admission;
#[path = "../examples/asr_gateway/cli.rs"]
mod cli;
#[path = "../examples/asr_gateway/client.rs"]
mod client;
#[path = "../examples/asr_gateway/protocol.rs"]
mod protocol;
#[path = "../examples/asr_gateway/recognizer.rs"]
mod recognizer;
#[path = "../examples/asr_gateway/report.rs"]
mod report;
#[path = "../examples/asr_gateway/run.rs"]
mod run;
#[path = "../examples/asr_gateway/server.rs"]
mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_lite::io::AssertAsync;

use protocol::{Frame, Kind, MAX_PAYLOAD};

/// The arguments of the child server, separated by `\x1f`.
const CHILD_ENV: &str = "ASR_GATEWAY_HOSTILE_CHILD_ARGS";

/// Not a test: the server process the tests start (see the module docs).
#[test]
#[ignore = "helper: the gateway server process that the hostile tests start"]
fn gateway_server_process() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let code = cli::main(args.split('\x1f').map(String::from).collect());
    std::process::exit(code);
}

/// A gateway server in a child process, killed and cleaned up on drop.
struct Gateway {
    child: std::process::Child,
    addr: SocketAddr,
    /// The child's working directory: nothing may appear in it.
    sandbox: PathBuf,
    /// The output directory (inside the sandbox).
    out: PathBuf,
}

impl Gateway {
    fn start() -> Gateway {
        let sandbox = std::env::temp_dir().join(format!(
            "asr-hostile-{}-{:x}",
            std::process::id(),
            recognizer::seed_from_clock() & 0xffff_ffff
        ));
        let out = sandbox.join("out");
        let cwd = sandbox.join("cwd");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        let args = [
            "--serve",
            "127.0.0.1:0",
            // Stops by itself even if nobody kills it.
            "--seconds",
            "90",
            "--out",
            out.to_str().unwrap(),
        ]
        .join("\x1f");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "gateway_server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, args)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the gateway server process");
        // The harness prints its own words first (on the same line, too);
        // the server's first line is `listening on ADDR`. Keep draining stdout so the child never
        // blocks on a full pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some((_, addr)) = line.split_once("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not print `listening on ADDR` within 30 s");
            }
        };
        Gateway {
            child,
            addr,
            sandbox,
            out,
        }
    }

    fn assert_up(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server process exited"
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.sandbox);
    }
}

/// What a client got in the end.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Final(String),
    Busy,
    Timeout(String),
    Error(String),
    /// The server closed without a terminal frame.
    Closed,
    /// Nothing within the client's patience.
    NoAnswer,
}

const PATIENCE: Duration = Duration::from_secs(10);

fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    conn.set_write_timeout(Some(PATIENCE)).unwrap();
    conn
}

fn write(conn: &TcpStream, frame: &Frame) -> std::io::Result<()> {
    futures_lite::future::block_on(protocol::write_frame(&mut AssertAsync::new(conn), frame))
}

/// Reads frames until a terminal one (anything but PARTIAL), the close, or
/// the patience runs out.
fn answer(conn: &TcpStream) -> Got {
    loop {
        let frame =
            futures_lite::future::block_on(protocol::read_frame(&mut AssertAsync::new(conn)));
        match frame {
            Ok(f) => match f.kind {
                Kind::Partial => continue,
                Kind::Final => return Got::Final(f.text()),
                Kind::Busy => return Got::Busy,
                Kind::Timeout => return Got::Timeout(f.text()),
                _ => return Got::Error(f.text()),
            },
            Err(protocol::ReadError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Got::NoAnswer;
            }
            Err(_) => return Got::Closed,
        }
    }
}

/// Sends `bytes` (then half-closes if asked) and returns the answer.
fn answer_to(addr: SocketAddr, bytes: &[u8], half_close: bool) -> Got {
    let conn = connect(addr);
    let _ = (&conn).write_all(bytes);
    if half_close {
        let _ = conn.shutdown(Shutdown::Write);
    }
    answer(&conn)
}

/// A well-behaved session named `name`; returns the answer and its latency.
fn session(addr: SocketAddr, name: &[u8], seed: u64) -> (Got, Duration) {
    let start = Instant::now();
    let conn = connect(addr);
    let got = (|| {
        if write(&conn, &Frame::new(Kind::Open, name)).is_err() {
            return answer(&conn);
        }
        for i in 0..client::CHUNKS {
            let audio = recognizer::audio_chunk(seed, i, client::CHUNK_BYTES);
            if write(&conn, &Frame::new(Kind::Audio, audio)).is_err() {
                return answer(&conn);
            }
            // The PARTIAL, or the terminal answer early.
            let frame =
                futures_lite::future::block_on(protocol::read_frame(&mut AssertAsync::new(&conn)));
            match frame {
                Ok(f) if f.kind == Kind::Partial => {}
                Ok(f) => {
                    return match f.kind {
                        Kind::Final => Got::Final(f.text()),
                        Kind::Busy => Got::Busy,
                        Kind::Timeout => Got::Timeout(f.text()),
                        _ => Got::Error(f.text()),
                    };
                }
                Err(_) => return Got::Closed,
            }
        }
        let _ = write(&conn, &Frame::new(Kind::End, ""));
        answer(&conn)
    })();
    (got, start.elapsed())
}

fn served(addr: SocketAddr, name: &[u8], seed: u64) -> String {
    match session(addr, name, seed).0 {
        Got::Final(t) => t,
        other => panic!(
            "a legitimate session named {:?} got {other:?}",
            String::from_utf8_lossy(&name[..name.len().min(40)])
        ),
    }
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = recognizer::mix(x);
            x as u8
        })
        .collect()
}

/// Runs `f` on a thread and fails (instead of hanging) if it takes longer
/// than `limit`.
fn watchdog<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("watchdog: the test did not finish within {limit:?}"),
    }
}

#[test]
fn hostile_clients_are_answered_and_contained() {
    watchdog(Duration::from_secs(120), hostile_clients);
}

fn hostile_clients() {
    let mut gw = Gateway::start();
    let addr = gw.addr;
    let marker = format!("hx{}", std::process::id());
    // (client name, transcript) of every session that got FINAL: each must
    // be in exactly one file of the output directory.
    let mut finals: Vec<(Vec<u8>, String)> = Vec::new();
    let mut seed = 1u64;
    let mut next_seed = || {
        seed += 1;
        seed
    };

    // Random bytes: the server answers each (ERROR, usually "unknown kind",
    // or TIMEOUT when the bytes happen to start a frame that never ends).
    for i in 0..16u64 {
        let len = 1 + (recognizer::mix(i) % 600) as usize;
        let bytes = random_bytes(i, len);
        for half_close in [true, false] {
            let got = answer_to(addr, &bytes, half_close);
            assert!(
                matches!(got, Got::Error(_) | Got::Timeout(_)),
                "random bytes #{i} (half close {half_close}): {got:?}"
            );
        }
    }

    // Huge length headers, before and inside a session.
    for kind in [Kind::Open, Kind::Audio, Kind::End] {
        for len in [MAX_PAYLOAD + 1, u32::MAX] {
            let mut bytes = vec![kind as u8];
            bytes.extend_from_slice(&len.to_be_bytes());
            let got = answer_to(addr, &bytes, false);
            assert!(
                matches!(&got, Got::Error(t) if t.contains("too large")),
                "{kind:?} with length {len}: {got:?}"
            );
        }
    }
    {
        let conn = connect(addr);
        write(&conn, &Frame::new(Kind::Open, marker.as_bytes())).unwrap();
        let mut huge = vec![Kind::Audio as u8];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        (&conn).write_all(&huge).unwrap();
        let got = answer(&conn);
        assert!(
            matches!(&got, Got::Error(t) if t.contains("too large")),
            "a huge AUDIO header in a session: {got:?}"
        );
    }

    // Truncated frames: cut by EOF they are malformed; left hanging, the
    // handshake deadline answers.
    let open_cut = [Kind::Open as u8, 0, 0, 0, 10, b'x'];
    let got = answer_to(addr, &open_cut, true);
    assert!(
        matches!(&got, Got::Error(t) if t.contains("middle of a frame")),
        "{got:?}"
    );
    let got = answer_to(addr, &[Kind::Open as u8, 0, 0], true);
    assert!(
        matches!(&got, Got::Error(t) if t.contains("middle of a frame")),
        "{got:?}"
    );
    let got = answer_to(addr, &open_cut, false);
    assert!(matches!(got, Got::Timeout(_)), "{got:?}");
    {
        let conn = connect(addr);
        write(&conn, &Frame::new(Kind::Open, marker.as_bytes())).unwrap();
        (&conn)
            .write_all(&[Kind::Audio as u8, 0, 0, 8, 0, 1, 2, 3])
            .unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let got = answer(&conn);
        assert!(
            matches!(&got, Got::Error(t) if t.contains("middle of a frame")),
            "a truncated AUDIO frame: {got:?}"
        );
    }

    // A flood of silent connections below the handshake bound: each is
    // answered (TIMEOUT), and a legitimate session is served meanwhile.
    {
        let flood: Vec<TcpStream> = (0..300).map(|_| connect(addr)).collect();
        let t = served(addr, marker.as_bytes(), next_seed());
        finals.push((marker.clone().into_bytes(), t));
        for (i, conn) in flood.iter().enumerate() {
            let got = answer(conn);
            assert!(matches!(got, Got::Timeout(_)), "silent #{i}: {got:?}");
        }
    }
    // Over the bound (512 connections without an OPEN): the excess is told
    // BUSY at once, the rest TIMEOUT; everyone gets an answer.
    {
        let t0 = Instant::now();
        // (How many get BUSY depends on how fast the connects arrive: a
        // slow accept queue lets the first ones time out meanwhile.)
        let flood: Vec<TcpStream> = (0..700).map(|_| connect(addr)).collect();
        let connecting = t0.elapsed();
        let mut busy = 0;
        for (i, conn) in flood.iter().enumerate() {
            match answer(conn) {
                Got::Busy => busy += 1,
                Got::Timeout(_) => {}
                other => panic!("silent #{i} of the big flood: {other:?}"),
            }
        }
        println!(
            "flood of 700 silent connections (connected in {connecting:.1?}): \
             {busy} BUSY, the rest TIMEOUT"
        );
        let t = served(addr, marker.as_bytes(), next_seed());
        finals.push((marker.clone().into_bytes(), t));
    }

    // One byte per second: in the handshake, and in the middle of a
    // session. Both are cut off by a deadline, not by the byte count.
    let slow: Vec<_> = [false, true]
        .into_iter()
        .map(|in_session| {
            let marker = marker.clone();
            std::thread::spawn(move || {
                let conn = connect(addr);
                conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                if in_session {
                    write(&conn, &Frame::new(Kind::Open, marker.as_bytes())).unwrap();
                }
                let header = [Kind::Audio as u8, 0, 0, 0, 4, 1, 2, 3, 4];
                let header = if in_session {
                    header
                } else {
                    [Kind::Open as u8, 0, 0, 0, 4, b'a', b'b', b'c', b'd']
                };
                let start = Instant::now();
                for b in header {
                    let _ = (&conn).write_all(&[b]);
                    match answer(&conn) {
                        Got::NoAnswer => continue, // one second passed
                        got => return (in_session, got, start.elapsed()),
                    }
                }
                (in_session, Got::NoAnswer, start.elapsed())
            })
        })
        .collect();
    for t in slow {
        let (in_session, got, took) = t.join().unwrap();
        assert!(
            matches!(got, Got::Timeout(_)),
            "1 byte/s (in session {in_session}): {got:?} after {took:?}"
        );
    }

    // Connect and close at once; connect, start a session and reset the
    // connection (closing with unread data makes the kernel send RST).
    for _ in 0..20 {
        drop(connect(addr));
    }
    let resets: Vec<_> = (0..10u64)
        .map(|i| {
            let marker = marker.clone();
            std::thread::spawn(move || {
                let conn = connect(addr);
                let _ = write(&conn, &Frame::new(Kind::Open, marker.as_bytes()));
                let audio = recognizer::audio_chunk(i, 0, client::CHUNK_BYTES);
                let _ = write(&conn, &Frame::new(Kind::Audio, audio));
                if i % 2 == 0 {
                    let _ = write(&conn, &Frame::new(Kind::End, ""));
                }
                // Let the PARTIAL arrive unread, then close: RST.
                std::thread::sleep(Duration::from_millis(200));
                drop(conn);
            })
        })
        .collect();
    for t in resets {
        t.join().unwrap();
    }
    gw.assert_up();
    let t = served(addr, marker.as_bytes(), next_seed());
    finals.push((marker.clone().into_bytes(), t));

    // Hostile names: none becomes a path; each is recorded inside its file.
    let tmp = std::env::temp_dir();
    let abs_target = tmp.join(format!("{marker}-abs"));
    let mut names: Vec<Vec<u8>> = vec![
        abs_target.to_str().unwrap().into(),
        format!("/{marker}-root").into(),
        format!("../{marker}-up").into(),
        format!("../../{marker}-upup").into(),
        format!("../../../../../../../../{marker}-deep").into(),
        b"..".to_vec(),
        b".".to_vec(),
        b"".to_vec(),
        format!("a/b/{marker}").into(),
        format!("..\\..\\{marker}-backslash").into(),
        format!("{marker}\0.txt").into(),
        b"\0".to_vec(),
        format!("{marker}\n{marker}").into(),
        vec![0xff, 0xfe, b'/', b'.', b'.'],
    ];
    let mut long = format!("../{marker}-long-").into_bytes();
    long.resize(MAX_PAYLOAD as usize, b'a');
    names.push(long);
    for name in &names {
        let t = served(addr, name, next_seed());
        finals.push((name.clone(), t));
    }
    // One name shared by 8 concurrent sessions: 8 files.
    let shared = format!("../{marker}-shared");
    let concurrent: Vec<_> = (0..8u64)
        .map(|i| {
            let shared = shared.clone();
            std::thread::spawn(move || served(addr, shared.as_bytes(), 1000 + i))
        })
        .collect();
    for t in concurrent {
        finals.push((shared.clone().into_bytes(), t.join().unwrap()));
    }

    // The server is still up and serves.
    gw.assert_up();
    let t = served(addr, marker.as_bytes(), next_seed());
    finals.push((marker.clone().into_bytes(), t));

    // `--connect` mode: the example's own load generator against this
    // server keeps every promise (exit code 0); against a port where
    // nobody listens it reports the connect failures (exit code 1).
    let connect = |addr: String| {
        let args = ["--connect", &addr, "--seconds", "1", "--clients", "4"];
        cli::main(args.iter().map(|a| a.to_string()).collect())
    };
    assert_eq!(
        connect(addr.to_string()),
        0,
        "--connect against the gateway"
    );
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nobody.local_addr().unwrap();
    drop(nobody);
    assert_eq!(
        connect(closed.to_string()),
        1,
        "--connect where nobody listens"
    );
    gw.assert_up();

    // Give the server a moment to finish the last writes (FINAL is sent
    // after the rename, so they are done; this is only for the aborted ones).
    std::thread::sleep(Duration::from_millis(300));
    assert_contained(&gw, &marker, &tmp, &finals);
}

/// No file outside the output directory; in it, only the server's own
/// names, and every transcript a client got in exactly one file.
fn assert_contained(gw: &Gateway, marker: &str, tmp: &Path, finals: &[(Vec<u8>, String)]) {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, found);
            }
            found.push(p);
        }
    }
    let mut everything = Vec::new();
    walk(&gw.sandbox, &mut everything);
    for p in &everything {
        let ok = p == &gw.out || p == &gw.sandbox.join("cwd") || p.parent() == Some(&gw.out);
        assert!(ok, "a file appeared outside the output directory: {p:?}");
    }
    for dir in [
        tmp,
        Path::new("/"),
        &gw.out.join(".."),
        &gw.sandbox.join(".."),
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                assert!(
                    !name.to_string_lossy().contains(marker),
                    "a hostile name became a path: {:?}",
                    e.path()
                );
            }
        }
    }
    let mut contents = Vec::new();
    for e in std::fs::read_dir(&gw.out).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let (run, rest) = name.split_once('-').unwrap_or(("", ""));
        let id = rest.strip_suffix(".txt").unwrap_or("");
        assert!(
            run.len() == 8
                && run.bytes().all(|b| b.is_ascii_hexdigit())
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit()),
            "a file the server did not name: {name:?}"
        );
        contents.push(std::fs::read_to_string(e.path()).unwrap());
    }
    for (name, transcript) in finals {
        let want = server::transcript_file_contents(name, transcript);
        let at = contents.iter().position(|c| *c == want).unwrap_or_else(|| {
            panic!(
                "no file holds the transcript of the session named {:?}",
                String::from_utf8_lossy(&name[..name.len().min(60)])
            )
        });
        contents.swap_remove(at);
    }
}

/// Legitimate sessions with and without 32 squatting sockets (connect, send
/// nothing, reconnect after each answer). Returns, for (unattacked,
/// attacked): sessions, served, median latency of the served.
fn squat_measure(addr: SocketAddr, per_thread: usize) -> [(usize, usize, Duration); 2] {
    const LEGIT_THREADS: usize = 4;
    let legit = |base: u64| {
        let threads: Vec<_> = (0..LEGIT_THREADS as u64)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..per_thread as u64)
                        .map(|i| session(addr, b"legit", base + t * 1000 + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<(Got, Duration)> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let mut lat: Vec<Duration> = all
            .iter()
            .filter(|(g, _)| matches!(g, Got::Final(_)))
            .map(|(_, l)| *l)
            .collect();
        lat.sort();
        let median = lat.get(lat.len() / 2).copied().unwrap_or(Duration::MAX);
        (all.len(), lat.len(), median)
    };

    let calm = legit(10_000);

    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicUsize::new(0));
    let squatters: Vec<_> = (0..32)
        .map(|_| {
            let (stop, cycles) = (stop.clone(), cycles.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let Ok(conn) = TcpStream::connect(addr) else {
                        continue;
                    };
                    conn.set_read_timeout(Some(Duration::from_millis(100)))
                        .unwrap();
                    // Silent until the server says something (or we stop).
                    let mut buf = [0u8; 64];
                    while !stop.load(Relaxed) {
                        match (&conn).read(&mut buf) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                    }
                    cycles.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    // Let every squatter hold its first connection before the load starts.
    std::thread::sleep(Duration::from_millis(200));
    let attacked = legit(20_000);
    stop.store(true, Relaxed);
    for s in squatters {
        s.join().unwrap();
    }
    println!(
        "squatters: 32 sockets, {} squatting connections in all",
        cycles.load(Relaxed)
    );
    [calm, attacked]
}

fn print_squat(m: &[(usize, usize, Duration); 2]) {
    let [(n0, s0, l0), (n1, s1, l1)] = *m;
    if s0 == 0 || s1 == 0 {
        println!("unattacked: {s0} of {n0} served; 32 squatters: {s1} of {n1} served");
        return;
    }
    println!(
        "unattacked: {s0} of {n0} legitimate sessions served, median {l0:.1?}; \
         32 squatters: {s1} of {n1} served ({:.0}%), median {l1:.1?} ({:.2}x the unattacked)",
        100.0 * s1 as f64 / n1 as f64,
        l1.as_secs_f64() / l0.as_secs_f64()
    );
}

#[test]
fn squatters_do_not_starve_legitimate_sessions() {
    let m = watchdog(Duration::from_secs(120), || {
        let mut gw = Gateway::start();
        let m = squat_measure(gw.addr, 8);
        gw.assert_up();
        m
    });
    print_squat(&m);
    let [(n0, s0, _), (n1, s1, _)] = m;
    assert!(s0 * 10 >= n0 * 9, "unattacked: only {s0} of {n0} served");
    // The target: at least 90% served under attack. (The latency
    // target is measured by the ignored `squat_target` below: timing
    // targets do not belong in tests run on a loaded machine.)
    assert!(s1 * 10 >= n1 * 9, "32 squatters: only {s1} of {n1} served");
}

/// The squatting target as a measurement: 96 legitimate sessions with and
/// without 32 squatters; at least 90% served and median latency at most 2x
/// the unattacked one. Run with
/// `cargo test --release --test gateway_hostile -- --ignored squat_target --nocapture`.
#[test]
#[ignore = "measurement: the squatting target"]
fn squat_target() {
    let m = watchdog(Duration::from_secs(300), || {
        let mut gw = Gateway::start();
        let m = squat_measure(gw.addr, 24);
        gw.assert_up();
        m
    });
    print_squat(&m);
    let [(_, _, l0), (n1, s1, l1)] = m;
    assert!(s1 * 10 >= n1 * 9, "32 squatters: only {s1} of {n1} served");
    assert!(
        l1 <= l0 * 2,
        "median {l1:?} under attack vs {l0:?} unattacked"
    );
}
