#![allow(dead_code)]
//! The ASR gateway example as a test: a short load under both runtimes must
//! keep every promise of the report (nothing lost, nobody stuck, every
//! client answered), and an `--ignored` soak checks that memory and open
//! file descriptors stay flat over minutes.
//!
//! The example's modules are compiled into this test directly, so the test
//! exercises exactly the code `cargo run --example asr_gateway` runs.

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

use std::time::{Duration, Instant};

use run::{Options, Runtime};

fn short_load(runtime: Runtime) -> report::Report {
    let opts = Options {
        runtime,
        clients: 24,
        seconds: 2.5,
        limit: 8,
        naive: false,
    };
    run::run(&opts).expect("the gateway runs")
}

fn check(report: &report::Report) {
    println!("{report}");
    assert!(report.violations().is_empty(), "{:?}", report.violations());
    let served = report.server["3 served"];
    assert!(served > 0, "no session was served");
    // How many sessions of each behaviour got each answer depends on the
    // machine's speed (a loaded machine sheds more); what each behaviour
    // may get does not.
    let got = |b: client::Behaviour, a: client::Answer| {
        report
            .answers
            .get(&b)
            .and_then(|m| m.get(&a))
            .copied()
            .unwrap_or(0)
    };
    let only = |b: client::Behaviour, allowed: &[client::Answer]| {
        if let Some(m) = report.answers.get(&b) {
            for (a, n) in m {
                assert!(allowed.contains(a), "{n} {b:?} clients got {a:?}");
            }
        }
    };
    use client::{Answer as A, Behaviour as B};
    only(B::Garbage, &[A::Error, A::Busy]);
    only(B::Stalling, &[A::Timeout, A::Busy]);
    only(B::Slow, &[A::Timeout, A::Busy]);
    only(B::Disconnecting, &[A::HungUp, A::Busy]);
    // Every garbage client that was not shed was rejected as malformed, and
    // every stalling client that was admitted was reaped.
    assert_eq!(report.server["8 malformed"], got(B::Garbage, A::Error));
    assert!(report.server["6 reaped (idle)"] >= got(B::Stalling, A::Timeout));
    assert_eq!(report.persisted, report.expected);
    assert!(report.expected > 0);
}

#[test]
fn gateway_keeps_its_promises_under_smol() {
    check(&short_load(Runtime::Smol));
}

#[test]
fn gateway_keeps_its_promises_under_async_std() {
    check(&short_load(Runtime::AsyncStd));
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Minutes of varying load; run with
/// `cargo test --release --test gateway -- --ignored soak --nocapture`
/// (`ASYNC_GUARD_SOAK_SECS` sets the length, default 180).
#[test]
#[ignore = "soak: minutes long"]
fn soak_memory_and_fds_stay_flat() {
    let secs: u64 = std::env::var("ASYNC_GUARD_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(180);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut round = 0u64;
    let mut baseline = None;
    while Instant::now() < end {
        let opts = Options {
            runtime: if round % 2 == 0 {
                Runtime::Smol
            } else {
                Runtime::AsyncStd
            },
            clients: [16, 48, 96][(round % 3) as usize],
            seconds: 10.0,
            limit: [4, 12, 32][(round % 3) as usize],
            naive: false,
        };
        let report = run::run(&opts).expect("the gateway runs");
        assert!(
            report.violations().is_empty(),
            "round {round}: {:?}",
            report.violations()
        );
        let (rss, fds) = (rss_kib(), open_fds());
        println!(
            "round {round}: {} sessions, rss {rss} KiB, fds {fds}",
            report.sessions
        );
        // The first rounds warm up allocator pools and lazily started threads.
        if round == 2 {
            baseline = Some((rss, fds));
        }
        if let Some((rss0, fds0)) = baseline {
            assert!(fds <= fds0 + 8, "open fds grew from {fds0} to {fds}");
            assert!(
                rss <= rss0 + rss0 / 2 + 16 * 1024,
                "rss grew from {rss0} KiB to {rss} KiB"
            );
        }
        round += 1;
    }
}

mod bad_input {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::time::Duration;

    use async_io::Async;

    use super::protocol::{Frame, Kind, MAX_PAYLOAD};
    use super::run::{self, BoxFuture, Options};
    use super::server::{self, Server};

    /// Starts a guarded server on its own thread; returns its address.
    fn start() -> (std::net::SocketAddr, Arc<Server>, async_channel::Sender<()>) {
        let dir = std::env::temp_dir().join(format!("asr-gateway-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let server = Arc::new(Server::new(run::config(&Options::default(), dir)));
        let listener = Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let (stop, stopped) = async_channel::bounded(1);
        let s = server.clone();
        std::thread::spawn(move || {
            let ex = Arc::new(async_executor::Executor::new());
            let spawner = ex.clone();
            let spawn = move |f: BoxFuture| spawner.spawn(f).detach();
            futures_lite::future::block_on(
                ex.run(server::accept_loop(s, listener, spawn, stopped)),
            );
        });
        (addr, server, stop)
    }

    /// Sends `bytes`, half-closes, and returns the first frame the server
    /// answers with (and that the server then closes the connection).
    fn answer_to(addr: std::net::SocketAddr, bytes: &[u8], half_close: bool) -> Frame {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(bytes).unwrap();
        if half_close {
            conn.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut all = Vec::new();
        conn.read_to_end(&mut all)
            .expect("the server closes the connection");
        futures_lite::future::block_on(super::protocol::read_frame(&mut all.as_slice()))
            .expect("the server answered with a frame")
    }

    #[test]
    fn malformed_oversized_and_truncated_frames_get_an_error_frame() {
        let (addr, server, _stop) = start();
        // An unknown frame kind (say, an HTTP request).
        let f = answer_to(addr, b"GET / HTTP/1.1\r\n\r\n", false);
        assert_eq!(f.kind, Kind::Error);
        assert!(f.text().contains("unknown kind"), "{}", f.text());
        // A length over the limit.
        let mut big = vec![Kind::Open as u8];
        big.extend_from_slice(&(MAX_PAYLOAD + 1).to_be_bytes());
        let f = answer_to(addr, &big, false);
        assert_eq!(f.kind, Kind::Error);
        assert!(f.text().contains("too large"), "{}", f.text());
        // A frame cut short by EOF.
        let f = answer_to(addr, &[Kind::Open as u8, 0, 0, 0, 10, b'x'], true);
        assert_eq!(f.kind, Kind::Error);
        assert!(f.text().contains("middle of a frame"), "{}", f.text());
        // A session that starts with something other than OPEN.
        let f = answer_to(addr, &[Kind::End as u8, 0, 0, 0, 0], false);
        assert_eq!(f.kind, Kind::Error);
        // Silence: the OPEN frame never comes, the frame timeout answers.
        let f = answer_to(addr, b"", false);
        assert_eq!(f.kind, Kind::Timeout);
        assert_eq!(
            server
                .counters
                .malformed
                .load(std::sync::atomic::Ordering::Relaxed),
            4
        );
    }
}
