#![allow(dead_code)]
//! The ASR gateway example as a test: a short load under both runtimes must
//! keep every promise of the report (nothing lost, nobody stuck, every
//! client answered), and an `--ignored` soak checks that the live heap and
//! open file descriptors stay flat over minutes.
//!
//! The example's modules are compiled into this test directly, so the test
//! exercises exactly the code `cargo run --example asr_gateway` runs.

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

use std::time::{Duration, Instant};

use run::{Options, Runtime};

fn short_load(runtime: Runtime) -> report::Report {
    let opts = Options {
        runtime,
        clients: 24,
        seconds: 2.5,
        limit: admission::LimitMode::Fixed(8),
        ..Options::default()
    };
    run::run(&opts).expect("the gateway runs")
}

fn check(report: &report::Report) {
    println!("{report}");
    assert!(report.violations().is_empty(), "{:?}", report.violations());
    let served = report.server["e served"];
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
    assert_eq!(report.server["j malformed"], got(B::Garbage, A::Error));
    assert!(report.server["h reaped (idle)"] >= got(B::Stalling, A::Timeout));
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

/// Live heap bytes, counted by this test binary's global allocator.
///
/// This is the only `unsafe` of the crate's tests, and it is in this file
/// only: implementing `GlobalAlloc` requires `unsafe impl`. The library keeps
/// `#![forbid(unsafe_code)]` (which covers `src/` only; this test crate does
/// not forbid it). Every method forwards to the system allocator unchanged
/// and only adds or subtracts the size in an atomic counter.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    pub struct Counting;

    static LIVE: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: forwards every call to `System` with the same arguments, so
    // `System`'s guarantees hold; the counter has no effect on memory.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                LIVE.fetch_add(layout.size(), Relaxed);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                LIVE.fetch_add(layout.size(), Relaxed);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) };
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                LIVE.fetch_sub(layout.size(), Relaxed);
                LIVE.fetch_add(new_size, Relaxed);
            }
            p
        }
    }

    /// Bytes allocated and not yet freed, process-wide.
    pub fn live() -> usize {
        LIVE.load(Relaxed)
    }
}

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

/// Resident set size: reported, not judged (it follows the C allocator's
/// per-thread arenas as threads come and go, not the program's live data).
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

#[test]
fn the_heap_counter_counts() {
    // The soak's leak check is only as good as this counter.
    let before = heap::live();
    let block = vec![1u8; 1 << 20];
    let during = heap::live();
    drop(std::hint::black_box(block));
    // Other tests allocate concurrently; a whole MiB still shows.
    assert!(during >= before + (1 << 19), "{before} -> {during}");
}

/// Minutes of varying load; run with
/// `cargo test --release --test gateway -- --ignored soak --nocapture`
/// (`ASYNC_GUARD_SOAK_SECS` sets the length, default 180). Leaks are judged
/// by the live heap (this binary's counting allocator) and by open file
/// descriptors; RSS is printed for information.
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
    let mut peak_live = 0;
    while Instant::now() < end {
        let opts = Options {
            runtime: if round % 2 == 0 {
                Runtime::Smol
            } else {
                Runtime::AsyncStd
            },
            clients: [16, 48, 96][(round % 3) as usize],
            seconds: 10.0,
            limit: admission::LimitMode::Fixed([4, 12, 32][(round % 3) as usize]),
            ..Options::default()
        };
        let report = run::run(&opts).expect("the gateway runs");
        assert!(
            report.violations().is_empty(),
            "round {round}: {:?}",
            report.violations()
        );
        let (live, rss, fds) = (heap::live(), rss_kib(), open_fds());
        peak_live = peak_live.max(live);
        println!(
            "round {round}: {} sessions, live heap {} KiB, rss {rss} KiB (reported only), fds {fds}",
            report.sessions,
            live / 1024
        );
        // The first rounds start the lazily started threads and pools; a
        // whole cycle of the three load shapes later, everything that stays
        // is in place.
        if round == 2 {
            baseline = Some((live, fds));
        }
        if let Some((live0, fds0)) = baseline {
            assert!(fds <= fds0 + 8, "open fds grew from {fds0} to {fds}");
            // A leak of 100 bytes per session (hundreds of sessions a
            // round) passes this bound within a few minutes.
            assert!(
                live <= live0 + live0 / 2 + 128 * 1024,
                "round {round}: live heap grew from {} KiB to {} KiB",
                live0 / 1024,
                live / 1024
            );
        }
        round += 1;
    }
    println!("peak live heap between rounds: {} KiB", peak_live / 1024);
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
        start_with(|_| {})
    }

    /// Starts a guarded server whose demo configuration `tune` adjusts.
    fn start_with(
        tune: impl FnOnce(&mut server::Config),
    ) -> (std::net::SocketAddr, Arc<Server>, async_channel::Sender<()>) {
        let dir = std::env::temp_dir().join(format!("asr-gateway-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = run::config(&Options::default(), dir);
        tune(&mut cfg);
        let server = Arc::new(Server::new(cfg));
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
        // Silence: the OPEN frame never comes, the handshake deadline answers.
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

    fn normal_session(addr: std::net::SocketAddr, seed: u64) -> super::client::Answer {
        futures_lite::future::block_on(super::client::run(
            addr,
            super::client::Behaviour::Normal,
            seed,
        ))
        .answer
    }

    #[test]
    fn a_failed_persist_answers_error_and_is_counted_not_lost() {
        use std::sync::atomic::Ordering::Relaxed;
        let missing = std::env::temp_dir().join(format!(
            "asr-gateway-test-missing-{}/no/such/dir",
            std::process::id()
        ));
        let (addr, server, _stop) = start_with(|cfg| cfg.out_dir = missing);
        assert_eq!(normal_session(addr, 1), super::client::Answer::Error);
        let c = &server.counters;
        assert_eq!(c.produced.load(Relaxed), 1);
        assert_eq!(c.persist_failed.load(Relaxed), 1);
        // The answer went out after the write ended: nothing in flight.
        assert_eq!(c.writes_in_flight(), 0);
        assert_eq!(c.abandoned.load(Relaxed), 0);
        assert_eq!(c.disconnected.load(Relaxed), 0);
    }

    #[test]
    fn waiting_on_its_own_slow_persist_keeps_a_session_alive() {
        use std::sync::atomic::Ordering::Relaxed;
        // Storage so slow that the write takes over twice the idle TTL
        // (the transcript file is at least three 32-byte pieces).
        let (addr, server, _stop) = start_with(|cfg| {
            cfg.idle_ttl = Duration::from_millis(300);
            cfg.storage_delay = Duration::from_millis(250);
        });
        assert_eq!(normal_session(addr, 2), super::client::Answer::Final);
        let c = &server.counters;
        assert_eq!(c.reaped.load(Relaxed), 0);
        assert_eq!(c.persisted.load(Relaxed), 1);
    }

    #[test]
    fn connect_failures_and_unserved_normal_clients_break_the_verdict() {
        use super::client::{Answer, Behaviour, Session};
        use super::report::{ClientEnd, Report};
        let verdict = |answers: &[(Behaviour, Answer)]| {
            let sessions = answers
                .iter()
                .map(|&(behaviour, answer)| Session {
                    behaviour,
                    answer,
                    latency: Duration::from_millis(10),
                    ended: std::time::Instant::now(),
                })
                .collect();
            let client = ClientEnd {
                sessions,
                load_time: Duration::from_secs(1),
            };
            Report::collect(&Options::default(), None, Some(client)).violations()
        };
        assert!(verdict(&[(Behaviour::Normal, Answer::Final)]).is_empty());
        let v = verdict(&[
            (Behaviour::Normal, Answer::Final),
            (Behaviour::Normal, Answer::ConnectFailed),
        ]);
        assert!(v.iter().any(|v| v.contains("could not connect")), "{v:?}");
        let v = verdict(&[
            (Behaviour::Normal, Answer::Timeout),
            (Behaviour::Normal, Answer::Busy),
            (Behaviour::Slow, Answer::Timeout),
        ]);
        assert!(v.iter().any(|v| v.contains("Normal")), "{v:?}");
    }
}

/// The per-phase figures of `--capacity-shift` runs (the adaptive-limit
/// sweep reads them): windows, warm-up, drain and convergence.
mod phases {
    use std::time::{Duration, Instant};

    use super::client::{Answer, Behaviour, Session};
    use super::report::{ClientEnd, Report};
    use super::run::Options;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    /// A report of sessions that ended at `ends` (after `t0`), served with
    /// 100 ms latency, and of a limit sampled every 250 ms from `limits`.
    fn report(t0: Instant, ends: &[Duration], limits: &[usize]) -> Report {
        let sessions = ends
            .iter()
            .map(|&at| Session {
                behaviour: Behaviour::Normal,
                answer: Answer::Final,
                latency: 100 * MS,
                ended: t0 + at,
            })
            .collect();
        let mut r = Report::collect(
            &Options::default(),
            None,
            Some(ClientEnd {
                sessions,
                load_time: 12 * S, // with the drain after the 10 s of load
            }),
        );
        let timeline = limits
            .iter()
            .enumerate()
            .map(|(i, &l)| (250 * MS * i as u32, l))
            .collect();
        r.add_timeline(t0, 2 * S, 10 * S, true, timeline);
        r
    }

    #[test]
    fn phases_leave_out_the_warm_up_and_the_drain() {
        let t0 = Instant::now();
        // One session every 100 ms from 0 to 12 s: 10/s throughout.
        let ends: Vec<Duration> = (0..120).map(|i| 100 * MS * i).collect();
        let r = report(t0, &ends, &[4; 48]);
        let (p1, p2) = (&r.phases[0], &r.phases[1]);
        assert_eq!(
            (p1.from, p1.to, p2.from, p2.to),
            (2 * S, 5 * S, 5 * S, 10 * S)
        );
        // 30 sessions in [2, 5), 50 in [5, 10): 10/s each, whatever ended
        // during the warm-up or the drain.
        assert!((p1.goodput - 10.0).abs() < 1e-9, "{}", p1.goodput);
        assert!((p2.goodput - 10.0).abs() < 1e-9, "{}", p2.goodput);
        assert_eq!(r.convergence(p1), Some(Duration::ZERO));
    }

    #[test]
    fn convergence_ignores_a_probe_dip_and_finds_the_settling_time() {
        let t0 = Instant::now();
        // 10 s of samples (40): 12 until the shift at 5 s, then 10, 9, 8,
        // then 6 with one probe dip to 2 (one sample) at 8 s.
        let mut limits = vec![12; 20];
        limits.extend([10, 9, 8]);
        limits.extend([6; 17]);
        limits[32] = 2;
        let r = report(t0, &[], &limits);
        let p2 = &r.phases[1];
        assert_eq!(p2.settled_limit, 6.0);
        // Smoothed (a median of 5, cut at the phase's start): 9, 8.5 and 8
        // at 5, 5.25 and 5.5 s are out of 6 +- 1.5, then 6 to the end (the
        // dip is smoothed away): in from 5.75 s.
        assert_eq!(r.convergence(p2), Some(750 * MS));
    }

    #[test]
    fn a_limit_that_leaves_its_band_at_the_end_never_converged() {
        let t0 = Instant::now();
        let mut limits = vec![6; 36];
        limits.extend([12; 4]); // the last second: far out
        let r = report(t0, &[], &limits);
        assert_eq!(r.convergence(&r.phases[1]), None);
        // A sawtooth between 5 and 7 around a median of 6 is converged.
        let limits: Vec<usize> = (0..40).map(|i| [5, 6, 7, 6][i % 4]).collect();
        let r = report(t0, &[], &limits);
        assert_eq!(r.convergence(&r.phases[1]), Some(Duration::ZERO));
    }
}
