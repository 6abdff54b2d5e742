//! The end-of-run report: counts, transcripts read back from disk, latency
//! percentiles with an ASCII histogram, event-loop lag, cure statistics.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_guard::budget::LagStats;
use async_guard::shield::DrainReport;

use crate::client::{Answer, Behaviour, Session};
use crate::run::{Mode, Options, Runtime, tally};
use crate::server::Server;

/// The server's side of a finished run.
pub struct ServerEnd<'a> {
    pub server: &'a Server,
    /// Sessions still running after the settle period.
    pub stuck: u64,
    pub drain: DrainReport,
    pub lag: LagStats,
}

/// The load generator's side of a finished run.
pub struct ClientEnd {
    pub sessions: Vec<Session>,
    pub load_time: Duration,
}

pub struct Report {
    pub naive: bool,
    pub runtime: Runtime,
    pub mode: Mode,
    pub clients: usize,
    /// Whether each side ran in this process.
    pub has_server: bool,
    pub has_client: bool,
    pub load_time: Duration,
    /// The server's counts (empty without a server).
    pub server: BTreeMap<&'static str, u64>,
    pub answers: BTreeMap<Behaviour, BTreeMap<Answer, u64>>,
    pub sessions: usize,
    /// Final transcripts the server produced.
    pub expected: u64,
    /// Written and read back equal.
    pub persisted: u64,
    pub corrupt: u64,
    /// The storage refused the write; the client was told ERROR.
    pub persist_failed: u64,
    /// Produced and neither stored nor refused (dropped, never finished,
    /// or gone from the disk after it was stored).
    pub lost: u64,
    pub stuck: u64,
    pub latencies: Vec<Duration>,
    pub lag: LagStats,
    /// Stalled polls seen by the stall detector, and the longest.
    pub stalls: (u64, Duration),
    pub cures: Vec<String>,
    pub out_dir: Option<std::path::PathBuf>,
    /// Served sessions: when each ended and its latency (for the phases).
    pub finals: Vec<(Instant, Duration)>,
    /// When each session that ran out of time (told TIMEOUT, or the client's
    /// patience ran out) ended (for the phases).
    pub timeouts: Vec<Instant>,
    /// The admission limit, its label and its samples every 250 ms.
    pub limit_label: String,
    pub timeline: Vec<(Duration, usize)>,
    /// Per phase (one without `--capacity-shift`, two with it).
    pub phases: Vec<Phase>,
}

/// Goodput and latency over one phase of the load.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub from: Duration,
    pub to: Duration,
    /// Where convergence is counted from: the start of the load (first
    /// phase) or the shift (second phase).
    pub since: Duration,
    /// Sessions served with their final transcript, per second.
    pub goodput: f64,
    /// Sessions that ran out of time (server deadline or client patience), per second.
    pub timeouts: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Median of the limit samples in the phase's second half.
    pub settled_limit: f64,
}

impl Report {
    pub fn collect(
        opts: &Options,
        server: Option<ServerEnd<'_>>,
        client: Option<ClientEnd>,
    ) -> Report {
        let mut report = Report {
            naive: opts.naive,
            runtime: opts.runtime,
            mode: opts.mode.clone(),
            clients: opts.clients,
            has_server: server.is_some(),
            has_client: client.is_some(),
            load_time: Duration::ZERO,
            server: BTreeMap::new(),
            answers: BTreeMap::new(),
            sessions: 0,
            expected: 0,
            persisted: 0,
            corrupt: 0,
            persist_failed: 0,
            lost: 0,
            stuck: 0,
            latencies: Vec::new(),
            lag: LagStats::default(),
            stalls: (0, Duration::ZERO),
            cures: Vec::new(),
            out_dir: None,
            finals: Vec::new(),
            timeouts: Vec::new(),
            limit_label: opts.limit.label(),
            timeline: Vec::new(),
            phases: Vec::new(),
        };
        if let Some(end) = server {
            report.add_server(end);
        }
        if let Some(client) = client {
            report.load_time = client.load_time;
            report.answers = tally(&client.sessions);
            report.sessions = client.sessions.len();
            report.finals = client
                .sessions
                .iter()
                .filter(|s| s.answer == Answer::Final)
                .map(|s| (s.ended, s.latency))
                .collect();
            report.timeouts = client
                .sessions
                .iter()
                .filter(|s| matches!(s.answer, Answer::Timeout | Answer::Nothing))
                .map(|s| s.ended)
                .collect();
            let mut latencies: Vec<Duration> = client
                .sessions
                .iter()
                .filter(|s| s.answer == Answer::Final)
                .map(|s| s.latency)
                .collect();
            latencies.sort();
            report.latencies = latencies;
        }
        report
    }

    fn add_server(&mut self, end: ServerEnd<'_>) {
        let server = end.server;
        let c = &server.counters;
        self.server = BTreeMap::from([
            ("a connections", c.connections.load(Relaxed)),
            ("b shed before OPEN (BUSY)", c.handshake_shed.load(Relaxed)),
            ("c no OPEN in time", c.handshake_timed_out.load(Relaxed)),
            ("d started", c.started.load(Relaxed)),
            ("e served", c.served.load(Relaxed)),
            ("f shed (BUSY)", c.shed.load(Relaxed)),
            ("g timed out", c.timed_out.load(Relaxed)),
            ("h reaped (idle)", c.reaped.load(Relaxed)),
            ("i disconnected", c.disconnected.load(Relaxed)),
            ("j malformed", c.malformed.load(Relaxed)),
            ("k persist failed (ERROR)", c.persist_failed.load(Relaxed)),
            ("l most sessions at once", c.max_active.load(Relaxed)),
        ]);

        // Nothing lost: every transcript the server produced was written and
        // read back equal, or refused by the storage (and the client told),
        // and every stored file is still there.
        self.expected = c.produced.load(Relaxed);
        self.persisted = c.persisted.load(Relaxed);
        self.corrupt = c.corrupt.load(Relaxed);
        self.persist_failed = c.persist_failed.load(Relaxed);
        let stored = self.persisted + self.corrupt;
        let missing = stored.saturating_sub(server.transcripts_on_disk());
        self.lost = c.abandoned.load(Relaxed) + c.writes_in_flight() + missing;
        self.stuck = end.stuck;
        self.lag = end.lag;
        self.stalls = (
            c.stalls.load(Relaxed),
            Duration::from_micros(c.longest_stall_us.load(Relaxed)),
        );
        self.out_dir = Some(server.cfg.out_dir.clone());

        let l = server.limiter.summary();
        let p = server.pool.stats();
        let r = server.reaper.stats();
        let s = async_guard::shield::stats();
        let drain = end.drain;
        self.cures = vec![
            format!("limit   : {l}"),
            format!(
                "offload : {} threads, {} recognisers built, busiest queue {}, panicked {}",
                p.threads, p.completed, p.most_waiting, p.panicked
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
    }

    /// Splits the served sessions into phases: `[warm_up, end / 2)` and
    /// `[end / 2, end)` after `started` with a shift, else `[warm_up, end)`;
    /// `end` is when the load stopped starting sessions, so the drain
    /// afterwards (sessions finishing, none starting) is in no phase. A
    /// session counts in the phase in which it ended. Keeps the limit's
    /// samples.
    pub fn add_timeline(
        &mut self,
        started: Instant,
        warm_up: Duration,
        end: Duration,
        shifted: bool,
        timeline: Vec<(Duration, usize)>,
    ) {
        let shift = end / 2;
        let cuts: Vec<(&'static str, Duration, Duration, Duration)> = if shifted {
            vec![
                ("before shift", warm_up.min(shift), shift, Duration::ZERO),
                ("after shift", shift, end, shift),
            ]
        } else {
            vec![("whole run", warm_up.min(end), end, Duration::ZERO)]
        };
        let inside = |at: &Instant, from: Duration, to: Duration| {
            let t = at.saturating_duration_since(started);
            t >= from && t < to
        };
        for (name, from, to, since) in cuts {
            let mut lat: Vec<Duration> = self
                .finals
                .iter()
                .filter(|(at, _)| inside(at, from, to))
                .map(|&(_, l)| l)
                .collect();
            lat.sort();
            let timeouts = self
                .timeouts
                .iter()
                .filter(|at| inside(at, from, to))
                .count();
            let pick = |p: f64| {
                if lat.is_empty() {
                    Duration::ZERO
                } else {
                    lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]
                }
            };
            let mid = since + (to - since) / 2;
            let settled: Vec<usize> = timeline
                .iter()
                .filter(|(t, _)| *t >= mid && *t < to)
                .map(|&(_, l)| l)
                .collect();
            let secs = (to - from).as_secs_f64().max(1e-9);
            self.phases.push(Phase {
                name,
                from,
                to,
                since,
                goodput: lat.len() as f64 / secs,
                timeouts: timeouts as f64 / secs,
                p50: pick(0.50),
                p99: pick(0.99),
                settled_limit: median(settled),
            });
        }
        self.timeline = timeline;
    }

    /// How long after `phase.since` (the start, or the shift) the limit
    /// settled: the first sample from which the limit, smoothed by a running
    /// median over 5 samples (1.25 s: a gradient probe, which drops the limit
    /// to its floor for a few round-trips, is not a change of course), stays
    /// within 25 % (at least 1 permit) of the phase's settled limit (the
    /// median of its second half) until the phase ends; `None` if the last
    /// smoothed sample is outside. For AIMD, whose limit saw-tooths between
    /// about `backoff * capacity` and the capacity, the band holds the whole
    /// tooth when it is regular (0.7 / 0.85 is within 25 % of the median).
    pub fn convergence(&self, phase: &Phase) -> Option<Duration> {
        let target = phase.settled_limit;
        let band = (0.25 * target).max(1.0);
        let samples: Vec<(Duration, usize)> = self
            .timeline
            .iter()
            .filter(|(t, _)| *t >= phase.since && *t < phase.to)
            .copied()
            .collect();
        let smooth: Vec<f64> = (0..samples.len())
            .map(|i| {
                let lo = i.saturating_sub(2);
                let hi = (i + 3).min(samples.len());
                median(samples[lo..hi].iter().map(|&(_, l)| l).collect())
            })
            .collect();
        let last_out = smooth.iter().rposition(|l| (l - target).abs() > band);
        match last_out {
            None => Some(Duration::ZERO),
            Some(i) if i + 1 < samples.len() => Some(samples[i + 1].0.saturating_sub(phase.since)),
            Some(_) => None,
        }
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }

    fn answered(&self, answer: Answer) -> u64 {
        self.answers.values().filter_map(|m| m.get(&answer)).sum()
    }

    /// Clients that never got any answer although they waited for one.
    pub fn unanswered(&self) -> u64 {
        self.answered(Answer::Nothing) + self.answered(Answer::Closed)
    }

    /// Client sessions that could not even connect.
    pub fn connect_failed(&self) -> u64 {
        self.answered(Answer::ConnectFailed)
    }

    /// Normal (well-behaved) client sessions, and how many got a transcript.
    pub fn normal_served(&self) -> (u64, u64) {
        let m = self.answers.get(&Behaviour::Normal);
        let total = m.map(|m| m.values().sum()).unwrap_or(0);
        let served = m.and_then(|m| m.get(&Answer::Final)).copied().unwrap_or(0);
        (total, served)
    }

    /// What a guarded gateway promises; empty when every promise held.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.has_server {
            if self.lost > 0 {
                v.push(format!(
                    "{} of {} transcripts lost",
                    self.lost, self.expected
                ));
            }
            if self.corrupt > 0 {
                v.push(format!("{} transcripts corrupt on disk", self.corrupt));
            }
            if self.persist_failed > 0 {
                v.push(format!(
                    "{} transcripts could not be stored (clients told ERROR)",
                    self.persist_failed
                ));
            }
            if self.stuck > 0 {
                v.push(format!(
                    "{} sessions still stuck after the load ended",
                    self.stuck
                ));
            }
        }
        if self.has_client {
            if self.unanswered() > 0 {
                v.push(format!("{} clients got no answer", self.unanswered()));
            }
            if self.connect_failed() > 0 {
                v.push(format!(
                    "{} client sessions could not connect",
                    self.connect_failed()
                ));
            }
            let (normal, served) = self.normal_served();
            if normal > 0 && served == 0 {
                v.push(format!(
                    "none of {normal} well-behaved (Normal) client sessions was served"
                ));
            }
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
        match &self.mode {
            Mode::Both => writeln!(
                f,
                "== ASR gateway: {mode}, runtime {:?}, {} client loops, {:.1?} of load",
                self.runtime, self.clients, self.load_time
            )?,
            Mode::Serve(_) => writeln!(
                f,
                "== ASR gateway server: {mode}, runtime {:?}",
                self.runtime
            )?,
            Mode::Connect(addr) => writeln!(
                f,
                "== ASR load generator against {addr}: {} client loops, {:.1?} of load",
                self.clients, self.load_time
            )?,
        }
        if self.has_server {
            writeln!(f)?;
            if self.has_client {
                writeln!(f, "{} client sessions ran; the server saw", self.sessions)?;
            } else {
                writeln!(f, "the server saw")?;
            }
            for (k, v) in &self.server {
                writeln!(f, "  {:<26} {v:>6}", &k[2..])?;
            }
        }
        if self.has_client {
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
        }
        writeln!(f)?;
        if self.has_server {
            writeln!(
                f,
                "transcripts   produced {}, persisted and read back equal {}, refused by storage {}, lost {}, corrupt {}",
                self.expected, self.persisted, self.persist_failed, self.lost, self.corrupt
            )?;
            writeln!(
                f,
                "stuck         sessions still running after the load: {}",
                self.stuck
            )?;
        }
        if self.has_client {
            writeln!(
                f,
                "unanswered    clients that waited and got nothing: {}",
                self.unanswered()
            )?;
        }
        if self.has_server {
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
        }
        if self.has_client {
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
        }
        if !self.phases.is_empty() && !self.naive {
            writeln!(f)?;
            writeln!(f, "admission {}: per phase", self.limit_label)?;
            for p in &self.phases {
                let conv = self
                    .convergence(p)
                    .map_or("never".to_string(), |d| format!("{:.2}s", d.as_secs_f64()));
                writeln!(
                    f,
                    "  {:<13} {:>5.1}s..{:>5.1}s  goodput {:>6.1}/s  timed out {:>5.1}/s  p50 {:>6.0?}  p99 {:>6.0?}  limit settled at {:.1} (within 25 % / 1 after {conv} from {:.1}s)",
                    p.name,
                    p.from.as_secs_f64(),
                    p.to.as_secs_f64(),
                    p.goodput,
                    p.timeouts,
                    p.p50,
                    p.p99,
                    p.settled_limit,
                    p.since.as_secs_f64()
                )?;
            }
            // One line per phase that scripts can parse.
            for (i, p) in self.phases.iter().enumerate() {
                let label = self.limit_label.replace(' ', "_");
                writeln!(
                    f,
                    "PHASE {i} label={label} goodput={:.2} timeouts={:.2} p99_ms={:.1} p50_ms={:.1} limit={:.1} converge_s={}",
                    p.goodput,
                    p.timeouts,
                    p.p99.as_secs_f64() * 1e3,
                    p.p50.as_secs_f64() * 1e3,
                    p.settled_limit,
                    self.convergence(p).map_or(-1.0, |d| d.as_secs_f64())
                )?;
            }
            let series: Vec<String> = self.timeline.iter().map(|(_, l)| l.to_string()).collect();
            writeln!(
                f,
                "LIMITS {} {}",
                self.limit_label.replace(' ', "_"),
                series.join(",")
            )?;
            chart(f, &self.timeline, self.phases.get(1).map(|p| p.from))?;
        }
        if self.has_server && !self.naive {
            writeln!(f)?;
            for line in &self.cures {
                writeln!(f, "{line}")?;
            }
        }
        writeln!(f)?;
        let v = self.violations();
        if v.is_empty() {
            let what = match (self.has_server, self.has_client) {
                (true, true) => "nothing lost, nobody stuck, every client answered",
                (true, false) => "nothing lost, nobody stuck",
                _ => "every client connected and was answered, well-behaved clients served",
            };
            writeln!(f, "verdict       OK: {what}")
        } else {
            writeln!(f, "verdict       {}", v.join("; "))
        }
    }
}

/// The median of some limit samples (0 for none).
fn median(mut v: Vec<usize>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

/// The limit over time as an ASCII chart: one column per sample (every
/// 250 ms, squeezed to at most 80 columns), 10 rows, `|` marking the shift.
pub fn chart(
    f: &mut impl fmt::Write,
    timeline: &[(Duration, usize)],
    shift: Option<Duration>,
) -> fmt::Result {
    if timeline.is_empty() {
        return Ok(());
    }
    let step = timeline.len().div_ceil(80);
    let cols: Vec<(Duration, usize)> = timeline
        .chunks(step)
        .map(|c| (c[0].0, c.iter().map(|&(_, l)| l).max().unwrap_or(0)))
        .collect();
    let top = cols.iter().map(|&(_, l)| l).max().unwrap_or(1).max(1);
    const ROWS: usize = 10;
    writeln!(
        f,
        "limit over time (max {top}, one column per {} ms):",
        250 * step
    )?;
    for row in (0..ROWS).rev() {
        let level = (row as f64 + 0.5) * top as f64 / ROWS as f64;
        let label = if row == ROWS - 1 {
            format!("{top:>4} ")
        } else if row == 0 {
            format!("{:>4} ", 0)
        } else {
            "     ".to_string()
        };
        write!(f, "{label}|")?;
        for &(t, l) in &cols {
            let at_shift =
                shift.is_some_and(|s| t <= s && s < t + Duration::from_millis(250 * step as u64));
            let c = if l as f64 >= level {
                '#'
            } else if at_shift {
                '|'
            } else {
                ' '
            };
            write!(f, "{c}")?;
        }
        writeln!(f)?;
    }
    let secs = timeline.last().map_or(0.0, |&(t, _)| t.as_secs_f64());
    writeln!(f, "     +{}", "-".repeat(cols.len()))?;
    writeln!(
        f,
        "      0 s{:>w$.1} s",
        secs,
        w = cols.len().saturating_sub(4)
    )
}
