//! The end-of-run report: counts, transcripts read back from disk, latency
//! percentiles with an ASCII histogram, event-loop lag, cure statistics.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_guard::budget::LagStats;
use async_guard::shield::DrainReport;

use crate::client::{Answer, Behaviour, Session};
use crate::run::{Options, Runtime, tally};
use crate::server::Server;

pub struct Report {
    pub naive: bool,
    pub runtime: Runtime,
    pub clients: usize,
    pub load_time: Duration,
    pub server: BTreeMap<&'static str, u64>,
    pub answers: BTreeMap<Behaviour, BTreeMap<Answer, u64>>,
    pub sessions: usize,
    pub expected: usize,
    pub persisted: usize,
    pub corrupt: usize,
    pub stuck: u64,
    pub latencies: Vec<Duration>,
    pub lag: LagStats,
    /// Stalled polls seen by the stall detector, and the longest.
    pub stalls: (u64, Duration),
    pub cures: Vec<String>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn collect(
        opts: &Options,
        server: &Server,
        sessions: Vec<Session>,
        load_time: Duration,
        lag: LagStats,
        stuck: u64,
        drain: DrainReport,
        out_dir: &Path,
    ) -> Report {
        let c = &server.counters;
        let server_counts = BTreeMap::from([
            ("1 connections", c.connections.load(Relaxed)),
            ("2 started", c.started.load(Relaxed)),
            ("3 served", c.served.load(Relaxed)),
            ("4 shed (BUSY)", c.shed.load(Relaxed)),
            ("5 timed out", c.timed_out.load(Relaxed)),
            ("6 reaped (idle)", c.reaped.load(Relaxed)),
            ("7 disconnected", c.disconnected.load(Relaxed)),
            ("8 malformed", c.malformed.load(Relaxed)),
            ("9 most sessions at once", c.max_active.load(Relaxed)),
        ]);

        // Nothing lost: every transcript the server produced must be on disk,
        // byte for byte.
        let expected = c.expected.lock().unwrap().clone();
        let mut persisted = 0;
        let mut corrupt = 0;
        for (name, text) in &expected {
            match std::fs::read_to_string(out_dir.join(format!("{name}.txt"))) {
                Ok(on_disk) if &on_disk == text => persisted += 1,
                Ok(_) => corrupt += 1,
                Err(_) => {}
            }
        }

        let mut latencies: Vec<Duration> = sessions
            .iter()
            .filter(|s| s.answer == Answer::Final)
            .map(|s| s.latency)
            .collect();
        latencies.sort();

        let l = server.limiter.stats();
        let p = server.pool.stats();
        let r = server.reaper.stats();
        let s = async_guard::shield::stats();
        let cures = vec![
            format!(
                "limit   : limit {}, acquired {}, shed {}, timed out waiting {}, longest wait {:.1?}",
                l.limit, l.acquired, l.shed, l.timed_out, l.longest_wait
            ),
            format!(
                "offload : {} threads, {} recognisers built, busiest queue {}, panicked {}",
                p.threads, p.completed, p.busiest_queue, p.panicked
            ),
            format!(
                "reaper  : {} sessions tracked, {} finished, {} reaped, longest idle {:.1?}",
                r.total, r.finished, r.reaped, r.longest_idle
            ),
            format!(
                "shield  : {} writes shielded, {} completed; drain: {} completed, {} still running",
                s.shielded, s.completed, drain.completed, drain.still_running
            ),
        ];

        Report {
            naive: opts.naive,
            runtime: opts.runtime,
            clients: opts.clients,
            load_time,
            server: server_counts,
            answers: tally(&sessions),
            sessions: sessions.len(),
            expected: expected.len(),
            persisted,
            corrupt,
            stuck,
            latencies,
            lag,
            stalls: (
                c.stalls.load(Relaxed),
                Duration::from_micros(c.longest_stall_us.load(Relaxed)),
            ),
            cures,
        }
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }

    /// Clients that never got any answer although they waited for one.
    pub fn unanswered(&self) -> u64 {
        self.answers
            .values()
            .flat_map(|m| m.iter())
            .filter(|(a, _)| matches!(a, Answer::Nothing | Answer::Closed))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn lost(&self) -> usize {
        self.expected - self.persisted
    }

    /// What a guarded gateway promises; empty when every promise held.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.lost() > 0 {
            v.push(format!(
                "{} of {} transcripts lost",
                self.lost(),
                self.expected
            ));
        }
        if self.corrupt > 0 {
            v.push(format!("{} transcripts corrupt on disk", self.corrupt));
        }
        if self.unanswered() > 0 {
            v.push(format!("{} clients got no answer", self.unanswered()));
        }
        if self.stuck > 0 {
            v.push(format!(
                "{} sessions still stuck after the load ended",
                self.stuck
            ));
        }
        v
    }
}

fn histogram(f: &mut fmt::Formatter<'_>, latencies: &[Duration]) -> fmt::Result {
    const BOUNDS_MS: [u64; 9] = [25, 50, 100, 200, 400, 800, 1600, 3200, u64::MAX];
    let mut counts = [0usize; BOUNDS_MS.len()];
    for l in latencies {
        let ms = l.as_millis() as u64;
        let i = BOUNDS_MS
            .iter()
            .position(|&b| ms < b)
            .unwrap_or(BOUNDS_MS.len() - 1);
        counts[i] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut lower = 0;
    for (i, &n) in counts.iter().enumerate() {
        let label = if BOUNDS_MS[i] == u64::MAX {
            format!("   >= {lower:>4} ms")
        } else {
            format!("{lower:>4} - {:>4} ms", BOUNDS_MS[i])
        };
        let bar = "#".repeat((n * 40).div_ceil(max));
        writeln!(f, "  {label} | {bar:<40} {n}")?;
        lower = BOUNDS_MS[i];
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.naive {
            "NAIVE (no cures)"
        } else {
            "guarded (all six cures)"
        };
        writeln!(
            f,
            "== ASR gateway: {mode}, runtime {:?}, {} client loops, {:.1?} of load",
            self.runtime, self.clients, self.load_time
        )?;
        writeln!(f)?;
        writeln!(f, "{} client sessions ran; the server saw", self.sessions)?;
        for (k, v) in &self.server {
            writeln!(f, "  {:<26} {v:>6}", &k[2..])?;
        }
        writeln!(f)?;
        let answers = [
            Answer::Final,
            Answer::Busy,
            Answer::Timeout,
            Answer::Error,
            Answer::HungUp,
            Answer::Closed,
            Answer::Nothing,
            Answer::ConnectFailed,
        ];
        write!(f, "clients got   {:>9}", "sessions")?;
        for a in &answers {
            write!(f, " {:>8}", format!("{a:?}"))?;
        }
        writeln!(f)?;
        for (b, m) in &self.answers {
            let total: u64 = m.values().sum();
            write!(f, "  {:<13} {total:>7}", format!("{b:?}"))?;
            for a in &answers {
                write!(f, " {:>8}", m.get(a).copied().unwrap_or(0))?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "transcripts   expected {}, persisted and read back equal {}, lost {}, corrupt {}",
            self.expected,
            self.persisted,
            self.lost(),
            self.corrupt
        )?;
        writeln!(
            f,
            "stuck         sessions still running after the load: {}",
            self.stuck
        )?;
        writeln!(
            f,
            "unanswered    clients that waited and got nothing: {}",
            self.unanswered()
        )?;
        writeln!(
            f,
            "event loop    heartbeat lag worst {:.1?}, p99 {:.1?}, p50 {:.1?}, {} of {} beats late by >= {:?}",
            self.lag.worst,
            self.lag.p99,
            self.lag.p50,
            self.lag.over_threshold,
            self.lag.beats,
            self.lag.threshold
        )?;
        writeln!(
            f,
            "stalls        handler polls that held the loop >= 5 ms: {}, longest {:.1?}",
            self.stalls.0, self.stalls.1
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "latency of served sessions (n = {}): p50 {:.0?}, p95 {:.0?}, p99 {:.0?}",
            self.latencies.len(),
            self.percentile(0.50),
            self.percentile(0.95),
            self.percentile(0.99)
        )?;
        histogram(f, &self.latencies)?;
        if !self.naive {
            writeln!(f)?;
            for line in &self.cures {
                writeln!(f, "{line}")?;
            }
        }
        writeln!(f)?;
        let v = self.violations();
        if v.is_empty() {
            writeln!(
                f,
                "verdict       OK: nothing lost, nobody stuck, every client answered"
            )
        } else {
            writeln!(f, "verdict       {}", v.join("; "))
        }
    }
}
