//! Runs the key scenario of every cure against its raw smol-ecosystem
//! baseline, without criterion, and writes `BENCHMARKS.md` at the crate root.
//!
//! ```text
//! cargo run --release --example bench_report            # full run, ~3-4 min
//! cargo run --release --example bench_report -- --quick # ~30 s, fewer/smaller runs
//! ```
//!
//! Options: `--quick`, `--out PATH` (default `BENCHMARKS.md` in the crate
//! root), `--no-footprint` (skip `scripts/footprint.sh`; `--quick` skips it
//! unless `--footprint` is given), `--no-gateway`
//! (skip the gateway runs), `--only NAME` (one section: time, limit,
//! offload, budget, reaper, shield; for quick looks, still writes the file).
//!
//! How noise is fought on a shared machine: every contender of a table runs
//! once untimed (warm-up), then the contenders take turns (interleaved
//! repetitions, so a load burst hits them alike) and each reports the
//! median of its repetitions. Ratios are computed from those medians.
//! Nothing in the written file is typed by hand: every number comes from
//! this run.

use std::fmt::Write as _;
use std::future::{Future, pending, ready};
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_executor::{Executor, LocalExecutor};
use async_guard::budget::{Budget, LagProbe, LagStats};
use async_guard::limit::Limiter;
use async_guard::offload::{CpuPool, offload, unblock};
use async_guard::reaper::{Activity, Idle, Reaper};
use async_guard::shield::{ShieldSet, shield};
use async_guard::time::timeout;
use async_io::Timer;
use async_lock::Semaphore;
use futures_lite::FutureExt as _;
use futures_lite::future::block_on;

// ---------------------------------------------------------------- harness

struct Opts {
    quick: bool,
    footprint: bool,
    gateway: bool,
    only: Option<String>,
    out: std::path::PathBuf,
}

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            quick: false,
            footprint: true,
            gateway: true,
            only: None,
            out: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"),
        };
        let mut force_footprint = false;
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--no-footprint" => o.footprint = false,
                "--footprint" => force_footprint = true,
                "--no-gateway" => o.gateway = false,
                "--only" => o.only = args.next(),
                "--out" => o.out = args.next().expect("--out PATH").into(),
                "-h" | "--help" => {
                    println!(
                        "bench_report [--quick] [--out PATH] [--no-footprint | --footprint] [--no-gateway] [--only SECTION]"
                    );
                    std::process::exit(0);
                }
                other => panic!("unknown argument {other:?} (try --help)"),
            }
        }
        // The footprint builds take about a minute: not part of a quick run
        // unless asked for.
        if o.quick && !force_footprint {
            o.footprint = false;
        }
        o
    }
    fn reps(&self) -> usize {
        if self.quick { 5 } else { 15 }
    }
    fn wants(&self, section: &str) -> bool {
        self.only.as_deref().is_none_or(|s| s == section)
    }
}

/// One measured batch: returns nanoseconds per operation.
type Batch<'a> = Box<dyn FnMut() -> f64 + 'a>;

#[derive(Clone, Copy, Debug)]
struct Stat {
    median: f64,
}

/// Warms every contender up once, then runs `reps` interleaved rounds
/// (each contender once per round) and returns each one's median and best.
fn race(reps: usize, mut contenders: Vec<Batch<'_>>) -> Vec<Stat> {
    for c in contenders.iter_mut() {
        black_box(c());
    }
    let mut samples = vec![Vec::with_capacity(reps); contenders.len()];
    for round in 0..reps {
        // Alternate the order, so no contender always runs right after
        // another one's garbage (freed memory, woken threads).
        let n = contenders.len();
        for k in 0..n {
            let i = if round % 2 == 0 { k } else { n - 1 - k };
            samples[i].push(contenders[i]());
        }
    }
    samples.into_iter().map(stat).collect()
}

fn stat(mut s: Vec<f64>) -> Stat {
    s.sort_by(|a, b| a.total_cmp(b));
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    Stat { median }
}

/// Times `iters` calls of `f`, in ns per call.
fn per_call(iters: u64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn poll_to_end<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn ns(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} µs", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0} ns")
    } else {
        format!("{v:.1} ns")
    }
}

fn dur(d: Duration) -> String {
    ns(d.as_nanos() as f64)
}

fn count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// A markdown table being built.
struct Table {
    out: String,
}

impl Table {
    fn new(head: &[&str]) -> Table {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        Table { out }
    }
    fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.out, "| {} |", cells.join(" | "));
    }
    fn done(self) -> String {
        self.out
    }
}

/// "guard / baseline" as the headline ratio, with a word on which is cheaper.
fn ratio(guard: f64, base: f64) -> String {
    let r = guard / base;
    // Three significant digits, so that 0.00012x does not print as 0.00x.
    let digits = if r >= 1.0 {
        2
    } else {
        (2 - r.log10().floor() as i32).max(2) as usize
    };
    if r < 1.0 {
        let times = 1.0 / r;
        let td = if times >= 10.0 { 0 } else { 1 };
        format!("**{r:.digits$}x** ({times:.td$}x cheaper)")
    } else {
        format!("**{r:.digits$}x**")
    }
}

fn met(ok: bool) -> String {
    if ok {
        "met".into()
    } else {
        "**missed**".into()
    }
}

/// Classifies how cost per operation grows with `n`, from the data: the
/// least-squares slope `b` of ln(cost) over ln(n) (cost ∝ n^b), fitted over
/// the points with n >= 100 (n = 1 is dominated by fixed costs and a hot
/// cache). b < 0.1: flat; b > 0.75: linear; in between, whichever of
/// `a + c·ln n` (logarithmic) and `k·n^b` (power) leaves the smaller squared
/// error is named.
fn growth(points: &[(usize, f64)]) -> String {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, _)| *n >= 100)
        .map(|&(n, c)| (n as f64, c))
        .collect();
    if pts.len() < 3 {
        return "too few points".into();
    }
    let fit = |xs: &[f64], ys: &[f64]| {
        let m = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / m, ys.iter().sum::<f64>() / m);
        let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        let slope = sxy / sxx;
        (slope, my - slope * mx)
    };
    let lx: Vec<f64> = pts.iter().map(|p| p.0.ln()).collect();
    let ly: Vec<f64> = pts.iter().map(|p| p.1.ln()).collect();
    let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let (b, a) = fit(&lx, &ly);
    let first = pts.first().unwrap();
    let last = pts.last().unwrap();
    let span = format!(
        "cost/op x{:.2} from n={} to n={}, slope {b:.2}",
        last.1 / first.1,
        count(first.0 as usize),
        count(last.0 as usize)
    );
    let class = if b < 0.1 {
        "**flat**"
    } else if b > 0.75 {
        "**linear** per op"
    } else {
        let (c, a_log) = fit(&lx, &ys);
        let sse_log: f64 = lx
            .iter()
            .zip(&ys)
            .map(|(x, y)| (a_log + c * x - y).powi(2))
            .sum();
        let sse_pow: f64 = lx
            .iter()
            .zip(&ys)
            .map(|(x, y)| ((a + b * x).exp() - y).powi(2))
            .sum();
        if sse_log <= sse_pow {
            "**logarithmic**"
        } else {
            "**sub-linear power**"
        }
    };
    format!("{class} ({span})")
}

// ---------------------------------------------------------------- time

const LONG: Duration = Duration::from_secs(60);

/// The raw idiom every smol user writes.
fn raw_timeout<F: Future>(d: Duration, f: F) -> impl Future<Output = Option<F::Output>> {
    async move { Some(f.await) }.or(async move {
        Timer::after(d).await;
        None
    })
}

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.0 {
            Poll::Ready(1)
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Arms `n` pending timeouts (one poll each) then drops them; `times` rounds.
/// Returns ns per timeout.
fn arm_cancel<F: Future>(n: usize, times: usize, make: impl Fn() -> F) -> f64 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut total = Duration::ZERO;
    for _ in 0..times {
        let start = Instant::now();
        let mut futs: Vec<_> = (0..n).map(|_| Box::pin(make())).collect();
        for f in &mut futs {
            assert!(f.as_mut().poll(&mut cx).is_pending());
        }
        drop(futs);
        total += start.elapsed();
    }
    total.as_nanos() as f64 / (n * times) as f64
}

/// How many rounds of `n` items make a batch of about `work` items.
fn rounds_for(n: usize, work: usize) -> usize {
    (work / n).max(1)
}

fn section_time(o: &Opts, md: &mut String) {
    eprintln!("time ...");
    let reps = o.reps();
    let it = if o.quick { 100_000 } else { 300_000 };
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(poll_to_end(timeout(LONG, ready(black_box(1))))))),
            Box::new(|| {
                per_call(it, || {
                    sink(poll_to_end(raw_timeout(LONG, ready(black_box(1)))))
                })
            }),
            Box::new(|| {
                per_call(it / 4, || {
                    sink(poll_to_end(timeout(LONG, YieldOnce(false))))
                })
            }),
            Box::new(|| {
                per_call(it / 4, || {
                    sink(poll_to_end(raw_timeout(LONG, YieldOnce(false))))
                })
            }),
        ],
    );
    let _ = writeln!(
        md,
        "## time: `timeout(d, fut)` vs `fut.or(async {{ Timer::after(d).await; .. }})`\n"
    );
    let _ = writeln!(
        md,
        "Baseline: the raw smol idiom, `futures_lite`'s `or` with an `async_io::Timer`. \
         Single futures polled by hand with a no-op waker (no executor in the loop).\n"
    );
    let mut t = Table::new(&["case", "async-guard", "raw or+Timer", "ratio (guard/raw)"]);
    t.row(&[
        "ready on first poll".into(),
        ns(s[0].median),
        ns(s[1].median),
        ratio(s[0].median, s[1].median),
    ]);
    t.row(&[
        "pending once, then ready (timer armed and cancelled)".into(),
        ns(s[2].median),
        ns(s[3].median),
        ratio(s[2].median, s[3].median),
    ]);
    md.push_str(&t.done());

    // Scaling: n timeouts pending at once (arm n, then cancel n).
    let mut sizes = vec![1usize, 100, 1_000, 10_000, 100_000];
    if !o.quick {
        sizes.push(1_000_000);
    }
    let work = if o.quick { 100_000 } else { 200_000 };
    let mut rows = Vec::new();
    for &n in &sizes {
        let times = rounds_for(n, work);
        let reps = if n >= 1_000_000 { 3 } else { reps.min(9) };
        let s = race(
            reps,
            vec![
                Box::new(move || arm_cancel(n, times, || timeout(LONG, pending::<()>()))),
                Box::new(move || arm_cancel(n, times, || raw_timeout(LONG, pending::<()>()))),
            ],
        );
        rows.push((n, s[0].median, s[1].median));
    }
    let _ = writeln!(
        md,
        "\n### time: n timeouts pending at once (arm n, one poll each, then cancel all; cost per timeout)\n"
    );
    let mut t = Table::new(&[
        "pending",
        "async-guard",
        "raw or+Timer",
        "ratio (guard/raw)",
    ]);
    for &(n, g, r) in &rows {
        t.row(&[count(n), ns(g), ns(r), ratio(g, r)]);
    }
    md.push_str(&t.done());
    let g: Vec<_> = rows.iter().map(|&(n, g, _)| (n, g)).collect();
    let r: Vec<_> = rows.iter().map(|&(n, _, r)| (n, r)).collect();
    let _ = writeln!(
        md,
        "\nGrowth of cost per timeout: async-guard {}; raw {}.",
        growth(&g),
        growth(&r)
    );
    if let Some(&(_, g, r)) = rows.iter().find(|(n, _, _)| *n == 100_000) {
        let _ = writeln!(
            md,
            "Target (time issue): at 100k pending, at least 2x cheaper than raw: {:.2}x cheaper, {}.",
            r / g,
            met(r / g >= 2.0)
        );
    }
    md.push('\n');
}

// ---------------------------------------------------------------- limit

/// `n` waiters queued behind one held permit, then granted one after the
/// other (each takes the permit and drops it, which hands it on). Returns
/// ns per waiter (enqueue + grant + release).
fn limiter_waiters(n: usize, times: usize) -> f64 {
    let lim = Limiter::new(1);
    let mut total = Duration::ZERO;
    for _ in 0..times {
        let start = Instant::now();
        let held = poll_to_end(lim.acquire()).unwrap();
        let mut waiters: Vec<_> = (0..n).map(|_| Box::pin(lim.acquire())).collect();
        for w in &mut waiters {
            assert!(poll_once(w.as_mut()).is_pending());
        }
        drop(held);
        for w in &mut waiters {
            match poll_once(w.as_mut()) {
                Poll::Ready(p) => drop(p.unwrap()),
                Poll::Pending => panic!("a waiter was not granted in order"),
            }
        }
        drop(waiters);
        total += start.elapsed();
    }
    total.as_nanos() as f64 / (n * times) as f64
}

fn semaphore_waiters(n: usize, times: usize) -> f64 {
    let sem = Semaphore::new(1);
    let mut total = Duration::ZERO;
    for _ in 0..times {
        let start = Instant::now();
        let held = poll_to_end(sem.acquire());
        let mut waiters: Vec<_> = (0..n).map(|_| Box::pin(sem.acquire())).collect();
        for w in &mut waiters {
            assert!(poll_once(w.as_mut()).is_pending());
        }
        drop(held);
        for w in &mut waiters {
            // async-lock notifies the next listener; a no-op waker means we
            // simply poll again until it is ready (it is, at once, in order).
            let p = poll_to_end(w.as_mut());
            drop(p);
        }
        drop(waiters);
        total += start.elapsed();
    }
    total.as_nanos() as f64 / (n * times) as f64
}

/// 1000 tasks on a 2-thread executor share 8 permits; each acquires 10 times
/// and holds the permit across one `yield_now`. Returns ns per acquire.
fn contended(acquire: fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>>) -> f64 {
    const TASKS: usize = 1000;
    const EACH: usize = 10;
    let ex = Arc::new(Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || block_on(ex.run(async move { stopped.recv().await.ok() })))
        })
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS).map(|i| ex.spawn(acquire(i))).collect();
    block_on(async {
        for t in tasks {
            t.await;
        }
    });
    let took = start.elapsed();
    drop(stop);
    for t in threads {
        t.join().unwrap();
    }
    took.as_nanos() as f64 / (TASKS * EACH) as f64
}

fn contended_limiter(_: usize) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    static LIM: OnceLock<Limiter> = OnceLock::new();
    let lim = LIM.get_or_init(|| Limiter::new(8));
    Box::pin(async move {
        for _ in 0..10 {
            let _p = lim.acquire().await.unwrap();
            futures_lite::future::yield_now().await;
        }
    })
}

fn contended_semaphore(_: usize) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    static SEM: OnceLock<Semaphore> = OnceLock::new();
    let sem = SEM.get_or_init(|| Semaphore::new(8));
    Box::pin(async move {
        for _ in 0..10 {
            let _p = sem.acquire().await;
            futures_lite::future::yield_now().await;
        }
    })
}

fn section_limit(o: &Opts, md: &mut String) {
    eprintln!("limit ...");
    let reps = o.reps();
    let it = if o.quick { 200_000 } else { 500_000 };
    let lim = Limiter::new(8);
    let sem = Semaphore::new(8);
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(poll_to_end(lim.acquire()).unwrap()))),
            Box::new(|| per_call(it, || sink(poll_to_end(sem.acquire())))),
        ],
    );
    let c = race(
        if o.quick { 3 } else { 7 },
        vec![
            Box::new(|| contended(contended_limiter)),
            Box::new(|| contended(contended_semaphore)),
        ],
    );
    let _ = writeln!(md, "## limit: `Limiter` vs `async_lock::Semaphore`\n");
    let mut t = Table::new(&[
        "case",
        "async-guard Limiter",
        "async_lock::Semaphore",
        "ratio (guard/raw)",
    ]);
    t.row(&[
        "uncontended acquire + release".into(),
        ns(s[0].median),
        ns(s[1].median),
        ratio(s[0].median, s[1].median),
    ]);
    t.row(&[
        "contended: 1000 tasks, 8 permits, 2 threads, per acquire".into(),
        ns(c[0].median),
        ns(c[1].median),
        ratio(c[0].median, c[1].median),
    ]);
    md.push_str(&t.done());

    let mut sizes = vec![1usize, 100, 1_000, 10_000, 100_000];
    if !o.quick {
        sizes.push(1_000_000);
    }
    let work = if o.quick { 100_000 } else { 200_000 };
    let mut rows = Vec::new();
    for &n in &sizes {
        let times = rounds_for(n, work);
        let reps = if n >= 1_000_000 { 3 } else { reps.min(9) };
        let s = race(
            reps,
            vec![
                Box::new(move || limiter_waiters(n, times)),
                Box::new(move || semaphore_waiters(n, times)),
            ],
        );
        rows.push((n, s[0].median, s[1].median));
    }
    let _ = writeln!(
        md,
        "\n### limit: n waiters queued behind a held permit, then granted in turn (cost per waiter: enqueue + grant + release)\n"
    );
    let mut t = Table::new(&[
        "waiters",
        "async-guard Limiter",
        "async_lock::Semaphore",
        "ratio (guard/raw)",
    ]);
    for &(n, g, r) in &rows {
        t.row(&[count(n), ns(g), ns(r), ratio(g, r)]);
    }
    md.push_str(&t.done());
    let g: Vec<_> = rows.iter().map(|&(n, g, _)| (n, g)).collect();
    let r: Vec<_> = rows.iter().map(|&(n, _, r)| (n, r)).collect();
    let _ = writeln!(
        md,
        "\nGrowth of cost per waiter: Limiter {}; Semaphore {}.\n",
        growth(&g),
        growth(&r)
    );
}

// ---------------------------------------------------------------- offload

fn cpu_work(rounds: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// Rounds of `cpu_work` taking about 50 µs on an idle core (fastest of many).
fn calibrate_50us() -> (u64, Duration) {
    let probe = 100_000;
    let fastest = (0..30)
        .map(|_| {
            let t = Instant::now();
            cpu_work(probe);
            t.elapsed()
        })
        .min()
        .unwrap();
    let rounds = (probe as f64 * 50e-6 / fastest.as_secs_f64()) as u64;
    let cost = (0..200)
        .map(|_| {
            let t = Instant::now();
            cpu_work(rounds);
            t.elapsed()
        })
        .min()
        .unwrap();
    (rounds, cost)
}

type Submit = fn(u64) -> Pin<Box<dyn Future<Output = u64>>>;

/// `jobs` jobs, one task each, submitted from inside the tasks on a
/// single-threaded executor, with a 1 ms heartbeat beside them. Returns
/// (wall time, heartbeat lags sorted).
fn offload_load(submit: Submit, jobs: usize, rounds: u64) -> (Duration, Vec<Duration>) {
    let ex = LocalExecutor::new();
    let start = Instant::now();
    let tasks: Vec<_> = (0..jobs)
        .map(|_| ex.spawn(async move { submit(rounds).await }))
        .collect();
    let all = ex.spawn(async move {
        for t in tasks {
            black_box(t.await);
        }
    });
    let mut lags = block_on(ex.run(async {
        let mut lags = Vec::new();
        while !all.is_finished() {
            let t = Instant::now();
            Timer::after(Duration::from_millis(1)).await;
            lags.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        all.await;
        lags
    }));
    let took = start.elapsed();
    lags.sort();
    (took, lags)
}

fn section_offload(o: &Opts, md: &mut String) {
    eprintln!("offload ...");
    let reps = o.reps();
    let it = if o.quick { 2_000 } else { 5_000 };
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || sink(block_on(offload(|| black_box(1u64)))))),
            Box::new(|| per_call(it, || sink(block_on(unblock(|| black_box(1u64)))))),
        ],
    );
    let (rounds, cost) = calibrate_50us();
    let cores = CpuPool::global().threads();
    let ideal_per_s = cores as f64 / cost.as_secs_f64();
    let jobs = if o.quick { 2_000 } else { 10_000 };
    let contenders: [(&str, Submit); 2] = [
        ("offload", |r| Box::pin(offload(move || cpu_work(r)))),
        ("unblock", |r| Box::pin(unblock(move || cpu_work(r)))),
    ];
    // What this machine can deliver right now: the same jobs split evenly
    // over `cores` plain threads (no async, no queue), timed in the same
    // interleaved rounds. On a shared machine this, not threads / job, is
    // the ceiling the pool can reach.
    let plain_threads = |jobs: usize| {
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..cores {
                let share = jobs / cores + usize::from(t < jobs % cores);
                s.spawn(move || {
                    for _ in 0..share {
                        black_box(cpu_work(rounds));
                    }
                });
            }
        });
        jobs as f64 / start.elapsed().as_secs_f64()
    };
    let mut achievable = Vec::new();
    let mut thr = vec![Vec::new(); 2];
    let mut p50 = vec![Vec::new(); 2];
    let mut worst = vec![Vec::new(); 2];
    let load_reps = if o.quick { 2 } else { 5 };
    for (i, (_, submit)) in contenders.iter().enumerate() {
        offload_load(*submit, jobs / 10, rounds); // warm-up: threads started
        let _ = i;
    }
    for round in 0..load_reps {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            let (took, lags) = offload_load(contenders[i].1, jobs, rounds);
            thr[i].push(jobs as f64 / took.as_secs_f64());
            p50[i].push(
                lags.get(lags.len() / 2)
                    .copied()
                    .unwrap_or_default()
                    .as_nanos() as f64,
            );
            worst[i].push(lags.last().copied().unwrap_or_default().as_nanos() as f64);
        }
        achievable.push(plain_threads(jobs));
    }
    let achievable = stat(achievable).median;
    let thr: Vec<Stat> = thr.into_iter().map(stat).collect();
    let p50: Vec<Stat> = p50.into_iter().map(stat).collect();
    let worst: Vec<Stat> = worst.into_iter().map(stat).collect();

    let _ = writeln!(md, "## offload: `offload(f)` vs `blocking::unblock(f)`\n");
    let _ = writeln!(
        md,
        "Job: an xorshift loop calibrated to {} on an idle core; pool threads: {cores}; \
         ideal throughput = threads / job = {:.1}k jobs/s. Load: {} jobs, one task each, \
         on a single-threaded executor with a 1 ms heartbeat beside them ({load_reps} interleaved runs each, median).\n",
        dur(cost),
        ideal_per_s / 1e3,
        count(jobs)
    );
    let mut t = Table::new(&[
        "case",
        "offload",
        "unblock",
        "ratio (offload/unblock)",
        "target",
    ]);
    t.row(&[
        "trivial round trip (block_on)".into(),
        ns(s[0].median),
        ns(s[1].median),
        ratio(s[0].median, s[1].median),
        format!("<= 1.2x: {}", met(s[0].median / s[1].median <= 1.2)),
    ]);
    t.row(&[
        "throughput, jobs/s".into(),
        format!(
            "{:.1}k ({:.2}x ideal)",
            thr[0].median / 1e3,
            thr[0].median / ideal_per_s
        ),
        format!(
            "{:.1}k ({:.2}x ideal)",
            thr[1].median / 1e3,
            thr[1].median / ideal_per_s
        ),
        format!("**{:.2}x**", thr[0].median / thr[1].median),
        format!(">= 0.9x ideal: {}", met(thr[0].median / ideal_per_s >= 0.9)),
    ]);
    t.row(&[
        format!("throughput vs {cores} plain threads splitting the same jobs ({:.1}k jobs/s in the same rounds)", achievable / 1e3),
        format!("{:.2}x", thr[0].median / achievable),
        format!("{:.2}x", thr[1].median / achievable),
        String::new(),
        format!(">= 0.9x: {}", met(thr[0].median / achievable >= 0.9)),
    ]);
    t.row(&[
        "heartbeat lag during load, median".into(),
        ns(p50[0].median),
        ns(p50[1].median),
        ratio(p50[0].median.max(1.0), p50[1].median.max(1.0)),
        String::new(),
    ]);
    t.row(&[
        "heartbeat lag during load, worst (median of runs)".into(),
        ns(worst[0].median),
        ns(worst[1].median),
        ratio(worst[0].median.max(1.0), worst[1].median.max(1.0)),
        String::new(),
    ]);
    md.push_str(&t.done());
    md.push('\n');
}

// ---------------------------------------------------------------- budget

#[inline(always)]
fn fnv(x: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in black_box(x).to_le_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[derive(Clone, Copy)]
enum Loop {
    Bare,
    YieldEvery,
    YieldEvery1024,
    Slice500us,
    Count1024,
}

async fn hot_loop(v: Loop, n: u64) -> u64 {
    let mut x = 0u64;
    match v {
        Loop::Bare => {
            for i in 0..n {
                x = fnv(x ^ i);
            }
        }
        Loop::YieldEvery => {
            for i in 0..n {
                x = fnv(x ^ i);
                futures_lite::future::yield_now().await;
            }
        }
        Loop::YieldEvery1024 => {
            for i in 0..n {
                x = fnv(x ^ i);
                if i % 1024 == 1023 {
                    futures_lite::future::yield_now().await;
                }
            }
        }
        Loop::Slice500us => {
            let mut b = Budget::time_slice(Duration::from_micros(500));
            for i in 0..n {
                x = fnv(x ^ i);
                b.tick().await;
            }
        }
        Loop::Count1024 => {
            let mut b = Budget::new(1024);
            for i in 0..n {
                x = fnv(x ^ i);
                b.tick().await;
            }
        }
    }
    x
}

/// A 1 ms heartbeat beside `v`'s loop (repeated for `secs`) on one thread;
/// `None`: the heartbeat alone (the floor set by timers and the OS).
fn lag_beside(v: Option<Loop>, secs: f64) -> LagStats {
    let ex = LocalExecutor::new();
    let (probe, heartbeat) =
        LagProbe::with_threshold(Duration::from_millis(1), Duration::from_millis(1));
    let beat = ex.spawn(heartbeat);
    block_on(ex.run(async {
        Timer::after(Duration::from_millis(20)).await;
        probe.reset();
        let start = Instant::now();
        match v {
            None => drop(Timer::after(Duration::from_secs_f64(secs)).await),
            Some(v) => {
                while start.elapsed().as_secs_f64() < secs {
                    black_box(ex.spawn(hot_loop(v, 1_000_000)).await);
                }
            }
        }
        let s = probe.stats();
        probe.stop();
        beat.await;
        s
    }))
}

fn section_budget(o: &Opts, md: &mut String) {
    eprintln!("budget ...");
    const N: u64 = 100_000;
    let ex = LocalExecutor::new();
    let run = |v: Loop| {
        let ex = &ex;
        move || {
            let start = Instant::now();
            black_box(block_on(ex.run(ex.spawn(hot_loop(v, black_box(N))))));
            start.elapsed().as_nanos() as f64 / N as f64
        }
    };
    let s = race(
        if o.quick { 15 } else { 41 },
        vec![
            Box::new(run(Loop::Bare)),
            Box::new(run(Loop::YieldEvery)),
            Box::new(run(Loop::YieldEvery1024)),
            Box::new(run(Loop::Slice500us)),
            Box::new(run(Loop::Count1024)),
        ],
    );
    let secs = if o.quick { 0.3 } else { 1.0 };
    let lag_reps = if o.quick { 1 } else { 3 };
    let variants = [
        ("bare loop (no yield)", Loop::Bare),
        (
            "raw: `futures_lite::future::yield_now()` every iteration",
            Loop::YieldEvery,
        ),
        (
            "raw: `yield_now()` every 1024 iterations (hand-rolled counter)",
            Loop::YieldEvery1024,
        ),
        ("`Budget::time_slice(500us)`", Loop::Slice500us),
        ("`Budget::new(1024)`", Loop::Count1024),
    ];
    let mut lags: Vec<Vec<LagStats>> = vec![Vec::new(); variants.len()];
    let mut idle = Vec::new();
    for _ in 0..lag_reps {
        idle.push(lag_beside(None, secs));
        for (i, (_, v)) in variants.iter().enumerate() {
            lags[i].push(lag_beside(Some(*v), secs));
        }
    }
    let med = |xs: &[LagStats], f: fn(&LagStats) -> Duration| {
        stat(xs.iter().map(|s| f(s).as_nanos() as f64).collect()).median
    };

    let _ = writeln!(md, "## budget: `Budget` vs yielding by hand\n");
    let _ = writeln!(
        md,
        "Loop body: FNV-1a over 8 bytes (~10 ns); {} iterations per run as a task on a \
         `LocalExecutor` (every yield is a real trip through the scheduler); the median over interleaved runs. \
         Lag: a 1 ms `LagProbe` heartbeat on the same thread beside the loop for {secs} s \
         (median of {lag_reps} runs of each statistic).\n",
        count(N as usize)
    );
    let bare = s[0].median;
    let mut t = Table::new(&[
        "variant",
        "ns/iter",
        "vs bare loop",
        "heartbeat p50",
        "p99",
        "worst",
    ]);
    let order = [0usize, 1, 2, 3, 4];
    for i in order {
        t.row(&[
            variants[i].0.into(),
            format!("{:.2}", s[i].median),
            format!("{:+.1} %", (s[i].median / bare - 1.0) * 100.0),
            ns(med(&lags[i], |s| s.p50)),
            ns(med(&lags[i], |s| s.p99)),
            ns(med(&lags[i], |s| s.worst)),
        ]);
    }
    t.row(&[
        "floor: the heartbeat alone on an idle executor (no loop)".into(),
        "-".into(),
        "-".into(),
        ns(med(&idle, |s| s.p50)),
        ns(med(&idle, |s| s.p99)),
        ns(med(&idle, |s| s.worst)),
    ]);
    md.push_str(&t.done());
    let slice_over = (s[3].median / bare - 1.0) * 100.0;
    let slice_worst = med(&lags[3], |s| s.worst);
    let slice_p99 = med(&lags[3], |s| s.p99);
    let _ = writeln!(
        md,
        "\nHeadline ratios: `time_slice(500us)` costs {:.2}x the raw hand-rolled 1024-counter and \
         {:.3}x yielding every iteration. Targets (budget issue): overhead < 5 % vs bare: {slice_over:+.1} %, {}; \
         worst lag < 1 ms: {}, {} (p99 {}).\n",
        s[3].median / s[2].median,
        s[3].median / s[1].median,
        met(slice_over < 5.0),
        ns(slice_worst),
        met(slice_worst < 1e6),
        ns(slice_p99),
    );
}

// ---------------------------------------------------------------- reaper

/// The seed's design: a map of last-activity instants, scanned every tick.
struct SeedMonitor {
    activity: std::sync::Mutex<std::collections::HashMap<u64, Instant>>,
    ttl: Duration,
}

impl SeedMonitor {
    fn new(ttl: Duration) -> Self {
        SeedMonitor {
            activity: Default::default(),
            ttl,
        }
    }
    fn touch(&self, id: u64) {
        self.activity.lock().unwrap().insert(id, Instant::now());
    }
    fn remove(&self, id: u64) {
        self.activity.lock().unwrap().remove(&id);
    }
    fn scan(&self, expired: &mut Vec<u64>) {
        let now = Instant::now();
        let mut map = self.activity.lock().unwrap();
        for (&id, &last) in map.iter() {
            if now.duration_since(last) > self.ttl {
                expired.push(id);
            }
        }
        for id in expired.iter() {
            map.remove(id);
        }
    }
}

/// The real driver never ticks within the run: `__tick` is the only clock.
const LONG_TTL: Duration = Duration::from_secs(1_000_000);

/// `n` watched entries, stepped by hand with a tick of ttl/512, so runs of
/// ~1500 ticks have nothing due; the due tick (re-bucketing all) runs
/// untimed, after touching everything.
struct Population {
    reaper: Reaper,
    entries: Vec<(Activity, Idle)>,
    due_after: u64,
    clock: u64,
    next_due: u64,
}

impl Population {
    fn new(n: usize) -> Self {
        let reaper = Reaper::builder(LONG_TTL).tick(LONG_TTL / 512).build();
        let name: Arc<str> = Arc::from("t");
        let entries = (0..n).map(|_| reaper.watch(name.clone())).collect();
        let period = (reaper.tick() / 3).as_nanos();
        let due_after = (reaper.ttl().as_nanos().div_ceil(period) + 2) as u64;
        Population {
            reaper,
            entries,
            due_after,
            clock: 0,
            next_due: due_after,
        }
    }
    /// ns per tick over `iters` ticks where nothing is due.
    fn empty_ticks(&mut self, iters: u64) -> f64 {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.clock + 1 == self.next_due {
                self.entries.iter().for_each(|(a, _)| a.touch());
                self.next_due = self.clock + self.due_after;
                self.reaper.__tick();
                self.clock += 1;
            }
            let run = left.min(self.next_due - self.clock - 1);
            let start = Instant::now();
            for _ in 0..run {
                self.reaper.__tick();
            }
            total += start.elapsed();
            self.clock += run;
            left -= run;
        }
        assert_eq!(self.reaper.stats().reaped, 0);
        total.as_nanos() as f64 / iters as f64
    }
}

fn section_reaper(o: &Opts, md: &mut String) {
    eprintln!("reaper ...");
    let reps = o.reps();
    let reaper = Reaper::new(LONG_TTL);
    let (activity, _idle) = reaper.watch("t");
    let seed = SeedMonitor::new(LONG_TTL);
    (0..1000).for_each(|id| seed.touch(id));
    let it = if o.quick { 1_000_000 } else { 3_000_000 };
    let name: Arc<str> = Arc::from("task");
    let _others: Vec<_> = (0..1000).map(|_| reaper.watch(name.clone())).collect();
    let mut next = 1000u64;
    let s = race(
        reps,
        vec![
            Box::new(|| per_call(it, || black_box(&activity).touch())),
            Box::new(|| per_call(it, || seed.touch(black_box(7)))),
            Box::new(|| {
                per_call(it / 10, || {
                    sink(poll_to_end(reaper.track(name.clone(), |a| async move {
                        black_box(&a).touch()
                    })))
                })
            }),
            Box::new(|| {
                per_call(it / 10, || {
                    next += 1;
                    seed.touch(next);
                    black_box(next);
                    seed.remove(next);
                })
            }),
        ],
    );
    let _ = writeln!(
        md,
        "## reaper: `Reaper` vs the seed's monitor (`Mutex<HashMap<id, Instant>>` + full scan each tick)\n"
    );
    let mut t = Table::new(&[
        "case",
        "async-guard",
        "seed map",
        "ratio (guard/seed)",
        "target",
    ]);
    t.row(&[
        "`activity.touch()`".into(),
        ns(s[0].median),
        ns(s[1].median),
        ratio(s[0].median, s[1].median),
        format!("< 5 ns: {}", met(s[0].median < 5.0)),
    ]);
    t.row(&[
        "track + finish (1000 others tracked)".into(),
        ns(s[2].median),
        ns(s[3].median),
        ratio(s[2].median, s[3].median),
        String::new(),
    ]);
    md.push_str(&t.done());
    drop(_others);

    let mut sizes = vec![1usize, 100, 1_000, 10_000, 100_000];
    if !o.quick {
        sizes.push(1_000_000);
    }
    let mut rows = Vec::new();
    for &n in &sizes {
        let mut pop = Population::new(n);
        let seed = SeedMonitor::new(LONG_TTL);
        (0..n as u64).for_each(|id| seed.touch(id));
        let mut expired = Vec::new();
        let scans = (1_000_000 / n).clamp(3, 10_000) as u64;
        let reps = if n >= 1_000_000 { 5 } else { reps.min(9) };
        let s = race(
            reps,
            vec![
                Box::new(|| pop.empty_ticks(10_000)),
                Box::new(|| {
                    let start = Instant::now();
                    for _ in 0..scans {
                        seed.scan(&mut expired);
                        assert!(expired.is_empty());
                    }
                    start.elapsed().as_nanos() as f64 / scans as f64
                }),
            ],
        );
        rows.push((n, s[0].median, s[1].median));
    }
    let _ = writeln!(
        md,
        "\n### reaper: cost of one driver tick with n tracked tasks, none due (`Reaper::__tick`, the driver's own step, called by hand)\n"
    );
    let mut t = Table::new(&[
        "tracked",
        "async-guard tick",
        "seed scan",
        "ratio (guard/seed)",
    ]);
    for &(n, g, r) in &rows {
        t.row(&[count(n), ns(g), ns(r), ratio(g, r)]);
    }
    md.push_str(&t.done());
    let g: Vec<_> = rows.iter().map(|&(n, g, _)| (n, g)).collect();
    let r: Vec<_> = rows.iter().map(|&(n, _, r)| (n, r)).collect();
    let _ = writeln!(
        md,
        "\nGrowth of cost per tick: async-guard {}; seed {}.",
        growth(&g),
        growth(&r)
    );
    if let Some(&(_, g, r)) = rows.iter().find(|(n, _, _)| *n == 100_000) {
        let _ = writeln!(
            md,
            "Target (reaper issue): at 100k tracked, a tick at least 100x cheaper than the scan: {:.0}x, {}.",
            r / g,
            met(r / g >= 100.0)
        );
    }
    md.push('\n');
}

// ---------------------------------------------------------------- shield

fn background_executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        std::thread::Builder::new()
            .name("bench-executor".into())
            .spawn(move || block_on(ex.run(pending::<()>())))
            .unwrap();
        ex
    })
}

fn section_shield(o: &Opts, md: &mut String) {
    eprintln!("shield ...");
    let ex = background_executor();
    let own = ShieldSet::with_spawner(move |w| ex.spawn(w).detach());
    let reps = o.reps();
    let mut sizes = vec![1usize, 100, 1_000, 100_000];
    if !o.quick {
        sizes.insert(3, 10_000);
    }
    let work = if o.quick { 20_000 } else { 100_000 };
    let mut rows = Vec::new();
    for &n in &sizes {
        // One at a time is a cross-thread round trip per future (tens of µs
        // when the other core sits in a deep idle state): fewer of those.
        let times = if n == 1 {
            work / 20
        } else {
            rounds_for(n, work)
        };
        let own = own.clone();
        let s = race(
            if n >= 100_000 {
                reps.min(7)
            } else {
                reps.min(9)
            },
            vec![
                Box::new(move || {
                    let start = Instant::now();
                    for _ in 0..times {
                        let tasks: Vec<_> = (0..n)
                            .map(|i| ex.spawn(async move { black_box(i) }))
                            .collect();
                        block_on(async {
                            for t in tasks {
                                black_box(t.await);
                            }
                        });
                    }
                    start.elapsed().as_nanos() as f64 / (n * times) as f64
                }),
                Box::new(move || {
                    let start = Instant::now();
                    for _ in 0..times {
                        let hs: Vec<_> = (0..n)
                            .map(|i| shield(async move { black_box(i) }))
                            .collect();
                        block_on(async {
                            for h in hs {
                                black_box(h.await);
                            }
                        });
                    }
                    start.elapsed().as_nanos() as f64 / (n * times) as f64
                }),
                Box::new(move || {
                    let start = Instant::now();
                    for _ in 0..times {
                        let hs: Vec<_> = (0..n)
                            .map(|i| own.shield(async move { black_box(i) }).unwrap())
                            .collect();
                        block_on(async {
                            for h in hs {
                                black_box(h.await);
                            }
                        });
                    }
                    start.elapsed().as_nanos() as f64 / (n * times) as f64
                }),
            ],
        );
        rows.push((n, s[0].median, s[1].median, s[2].median));
    }
    let _ = writeln!(
        md,
        "## shield: `shield(fut)` vs `async_executor` spawn + await\n"
    );
    let _ = writeln!(
        md,
        "n futures shielded (or spawned) at once, then awaited in order; cost per future. \
         Baseline: an `async_executor::Executor` on its own thread (what a shield does underneath, \
         minus surviving its caller, panic capture and tracking). `with_spawner` runs the \
         shielded work on that same executor.\n"
    );
    let mut t = Table::new(&[
        "in flight",
        "spawn+await",
        "shield (background thread)",
        "ratio",
        "shield (with_spawner)",
        "ratio",
        "target <= 1.2x",
    ]);
    for &(n, b, s1, s2) in &rows {
        t.row(&[
            count(n),
            ns(b),
            ns(s1),
            ratio(s1, b),
            ns(s2),
            ratio(s2, b),
            met(s1 / b <= 1.2),
        ]);
    }
    md.push_str(&t.done());
    let g: Vec<_> = rows.iter().map(|&(n, _, s, _)| (n, s)).collect();
    let b: Vec<_> = rows.iter().map(|&(n, b, _, _)| (n, b)).collect();
    let _ = writeln!(
        md,
        "\nGrowth of cost per future: shield {}; spawn+await {}.\n",
        growth(&g),
        growth(&b)
    );
}

// ---------------------------------------------------------------- machine, footprint, gateway

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = sh("uname", &["-r"]).unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "?".into());
    let rustc = sh("rustc", &["-V"]).unwrap_or_else(|| "rustc -V unavailable".into());
    format!(
        "- cores: {cores} ({cpu}), {} {}\n- OS: {os}, kernel {kernel}\n- {rustc}, release profile\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn footprint(md: &mut String) {
    eprintln!("footprint (scripts/footprint.sh: builds two small programs and the library) ...");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/footprint.sh");
    let out = Command::new("sh").arg(&script).output();
    let _ = writeln!(md, "## Footprint\n");
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        let _ = writeln!(
            md,
            "`scripts/footprint.sh` failed; no footprint numbers in this run.\n"
        );
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let kv: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| kv.get(k).copied().unwrap_or("?");
    let kib = |k: &str| {
        get(k)
            .parse::<f64>()
            .map_or("?".to_owned(), |b| format!("{:.1} KiB", b / 1024.0))
    };
    let _ = writeln!(
        md,
        "Built by `scripts/footprint.sh` under `target/footprint/`: a minimal smol program \
         (TCP echo-ish server + client, timers) with and without async-guard (path dependency; the \
         guarded one uses every cure), release profile `opt-level=\"z\"`, `strip=true`, `lto=true`, \
         `codegen-units=1`, `panic=\"abort\"`.\n"
    );
    let mut t = Table::new(&["measure", "value", "target"]);
    t.row(&[
        "stripped binary, plain smol".into(),
        kib("size_plain"),
        String::new(),
    ]);
    t.row(&[
        "stripped binary, smol + async-guard (every cure)".into(),
        kib("size_guard"),
        String::new(),
    ]);
    let delta = get("size_delta").parse::<f64>().ok();
    t.row(&[
        "added by async-guard".into(),
        kib("size_delta"),
        format!(
            "<= 150 KiB: {}",
            delta.map_or("?".into(), |d| met(d <= 150.0 * 1024.0))
        ),
    ]);
    t.row(&[
        "crates in the library's normal dependency tree (`cargo tree -e normal --prefix none \\| sort -u \\| wc -l`, the library included)".into(),
        format!(
            "{} lines ({} distinct crates; the command also counts the `(*)` repeats)",
            get("crates"),
            get("crates_distinct")
        ),
        String::new(),
    ]);
    let outside = get("outside_smol");
    t.row(&[
        "crates in that tree that plain `smol` does not itself depend on".into(),
        if outside.is_empty() {
            "none".into()
        } else {
            format!("`{outside}`")
        },
        format!("none: {}", met(outside.is_empty())),
    ]);
    t.row(&[
        "clean `cargo build --release` of the library (fresh target dir)".into(),
        format!("{} s", get("build_seconds")),
        String::new(),
    ]);
    md.push_str(&t.done());
    md.push('\n');
}

// ---------------------------------------------------------------- main

fn main() {
    let o = Opts::parse();
    let started = Instant::now();
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "?".into());
    let load_before = loadavg();
    let mut body = String::new();
    type Section = fn(&Opts, &mut String);
    let sections: [(&str, Section); 6] = [
        ("time", section_time),
        ("limit", section_limit),
        ("offload", section_offload),
        ("budget", section_budget),
        ("reaper", section_reaper),
        ("shield", section_shield),
    ];
    for (name, f) in sections {
        if o.wants(name) {
            f(&o, &mut body);
        }
    }
    let load_after = loadavg();
    let bench_time = started.elapsed();
    if o.gateway && o.only.is_none() {
        gateway_section(&o, &mut body);
    }
    if o.footprint && o.only.is_none() {
        footprint(&mut body);
    }

    let mut md = String::new();
    let _ = writeln!(md, "# async-guard benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo run --release --example bench_report{}` on {date}; do not edit by hand, re-run it. \
         Every cure against the raw smol-ecosystem code it replaces, measured in the same run. \
         **Ratios are the headline** (async-guard / baseline: below 1 means async-guard is cheaper); \
         absolute times move with the machine's load.\n",
        if o.quick { " -- --quick" } else { "" }
    );
    let _ = writeln!(md, "## Machine\n");
    md.push_str(&machine());
    let _ = writeln!(
        md,
        "- load average (1/5/15 min) before: {load_before}, after the micro-benchmarks: {load_after}; \
         micro-benchmarks took {:.0} s\n",
        bench_time.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "Method: no criterion; each contender runs once untimed (warm-up), then the contenders of a \
         table take turns ({} interleaved repetitions unless a table says otherwise) and each cell is \
         the median of its repetitions. Growth is classified from the data by the least-squares slope \
         `b` of ln(cost per op) over ln(n) for n >= 100: `b < 0.1` flat, `b > 0.75` linear, otherwise \
         whichever of `a + c·ln n` and `k·n^b` fits better. Criterion benches with the same baselines: \
         `cargo bench` (see `benches/`).\n",
        o.reps()
    );
    md.push_str(&body);
    md.push_str(EXPLAINED);
    std::fs::write(&o.out, md).expect("write BENCHMARKS.md");
    eprintln!(
        "wrote {} in {:.0} s",
        o.out.display(),
        started.elapsed().as_secs_f64()
    );
}

/// Parses "13.7ms", "3s", "116.8µs", "900ns" into nanoseconds.
fn parse_dur(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches(',');
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e6)
    } else if let Some(v) = s.strip_suffix("µs").or_else(|| s.strip_suffix("us")) {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix("ns") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e9)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// The numbers read from one printed gateway report.
#[derive(Debug, Default, Clone)]
struct GatewayRun {
    load_s: f64,
    sessions: f64,
    served: f64,
    p50: f64,
    p99: f64,
    worst_lag: f64,
    p99_lag: f64,
    lost: f64,
    expected: f64,
    unanswered: f64,
    verdict: String,
}

/// The word after `key` in `line`, parsed as a number or duration.
fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace()
        .next()
        .map(|w| w.trim_end_matches(','))
}

fn parse_gateway(text: &str) -> Option<GatewayRun> {
    let mut r = GatewayRun::default();
    let mut seen = 0;
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("== ASR gateway") {
            let load = line.rsplit(", ").next()?.strip_suffix(" of load")?;
            r.load_s = parse_dur(load)? / 1e9;
            seen += 1;
        } else if l.contains("client sessions ran") {
            r.sessions = l.split_whitespace().next()?.parse().ok()?;
            seen += 1;
        } else if l.starts_with("served ") {
            r.served = l.split_whitespace().nth(1)?.parse().ok()?;
            seen += 1;
        } else if l.starts_with("transcripts") {
            r.expected = after(l, "expected ")?.parse().ok()?;
            r.lost = after(l, "lost ")?.parse().ok()?;
        } else if l.starts_with("unanswered") {
            r.unanswered = l.rsplit(' ').next()?.parse().ok()?;
        } else if l.starts_with("event loop") {
            r.worst_lag = parse_dur(after(l, "lag worst ")?)?;
            r.p99_lag = parse_dur(after(l, "p99 ")?)?;
            seen += 1;
        } else if l.starts_with("latency of served sessions") {
            r.p50 = parse_dur(after(l, "p50 ")?)?;
            r.p99 = parse_dur(after(l, "p99 ")?)?;
            seen += 1;
        } else if let Some(v) = l.strip_prefix("verdict") {
            r.verdict = v.trim().to_owned();
        }
    }
    (seen == 5).then_some(r)
}

/// Builds the gateway example (release) and runs it once; `None` if it
/// could not be built, run or parsed.
fn run_gateway(naive: bool, seconds: f64, clients: usize) -> Result<GatewayRun, String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe.with_file_name(format!("asr_gateway{}", std::env::consts::EXE_SUFFIX));
    let mut args = vec![
        "--seconds".to_owned(),
        seconds.to_string(),
        "--clients".to_owned(),
        clients.to_string(),
    ];
    if naive {
        args.push("--naive".into());
    }
    let out = Command::new(&bin)
        .args(&args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_gateway(&text).ok_or_else(|| {
        format!(
            "could not parse the report of `asr_gateway {}` (exit {:?})",
            args.join(" "),
            out.status.code()
        )
    })
}

fn build_gateway() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--example", "asr_gateway"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build --release --example asr_gateway` failed: {status}"
        ))
    }
}

/// Why the targets that are missed are missed. Prose only: every number in
/// the file comes from the run above; this text says what the numbers mean
/// and what profiling found, and must stay true whatever they are.
const EXPLAINED: &str = r#"## Where a target is missed, and why

These notes come from profiling with `perf record` / `perf report` (release build with debug info)
while this runner was written; the tables above say, for this run, whether each target was met.

- **time, ready on the first poll.** The raw idiom costs next to nothing because `or` polls the
  operation first and never creates its `Timer` when the operation is ready. A `timeout` must
  publish its deadline in a thread-local for the duration of the inner poll (that is what makes
  nested timeouts and `time::remaining()` see it, on any executor) and restore the previous value
  afterwards; its own clock is already started lazily, so no clock is read. In the profile nearly
  all the samples sit on that save/restore of the thread-local (attributed to the scope's
  `Restore::drop`) and on the timer handle's `Sleep::drop`, both out-of-line calls across the crate
  boundary. Both are now `#[inline]`, and cancelling an *armed* timer moved into a separate helper
  so that only the `key` check inlines (`src/time/scope.rs`, `src/wheel.rs`). An interleaved A/B of
  the two builds showed only a small gain (the new build faster in every pair, by roughly a tenth):
  the cost is the thread-local swap itself, not the calls. That is the price of deadline scopes,
  paid only by futures that are ready at once; once a timeout is pending (the case it exists for)
  it is at par with or cheaper than the raw idiom, see the second row and the scaling table.
- **time, 100k pending (target: 2x cheaper than raw).** Per pending timeout both sides allocate the
  boxed future, read the clock once (a visible share of the profile is `clock_gettime`) and
  register/cancel a timer; async-guard's wheel does the registration in constant time, async-io
  batches timer operations into a `BTreeMap`. The raw side's cost per timer moves a lot between
  runs on this shared machine while async-guard's stays put, so the ratio at 100k lands on either
  side of 2x from run to run; the flat growth of both columns is the stable finding.
- **shield, many in flight (target <= 1.2x spawn + await).** A shield is a spawn plus a one-shot
  result slot (`Arc<Mutex<..>>`): one more allocation per piece of work and one lock on each side.
  In the profile of 100k in flight the extra cost is allocator work (the slot and the task are freed
  on a different thread than the one that allocated them, and glibc's arena lock shows up) and the
  slot mutex, occasionally contended when the work delivers while the caller polls. The slot is what
  lets the work outlive its handle, report a panic nobody awaits, and let `drain` know that hooks
  have run (see the shield notes); removing it means building on `async-task`'s raw API, which is not
  a dependency of the library: not a small, safe change, so it stays. With one future at a time
  (first row) every contender is one cross-thread wake-up per future, whose cost depends on whether
  the other thread's core is idle (a deep idle state takes tens of µs to leave, a busy machine
  answers in a few µs): that row measures wake-up latency more than shield, and it is the row the
  shield issue's 1.2x target was set for.
- **offload throughput (target >= 0.9x of threads / job).** "Ideal" assumes the pool's threads have
  free cores. This machine is shared with other builds (load average above), so the same jobs split
  over plain threads with no async at all are measured in the same rounds; offload against *that*
  is the fair overhead figure, and offload against `unblock` is the headline ratio. Even so, the
  pool's two threads share the two cores with the event loop that spawns the 10k tasks and takes
  their wake-ups, the heartbeat and async-io's reactor thread, which the plain threads do not; on
  two cores that is a visible share, and it is why neither offload nor `unblock` reaches the
  plain threads' rate.
- **budget, worst heartbeat lag (target < 1 ms with a 500 µs slice).** The floor row runs the
  heartbeat alone, with no loop at all: its worst lag is what timers and the OS scheduler give on
  this machine, and no slice can beat it; yielding on *every* iteration (the most a loop can do)
  does not reliably beat it either. A beat that falls due mid-slice waits for the rest of the slice
  (plus the slice's overshoot of up to about a quarter, from the budget's adaptive clock sampling)
  and then for the timer wake-up, and any preemption of the loop's thread by other processes adds
  to that: its worst case is at least the slice plus the floor. A worst case under 1 ms with a
  500 µs slice therefore needs a floor well under half a millisecond and no preemption, which
  this shared machine does not give consistently; a smaller slice trades overhead for lag.
  A heartbeat that becomes due mid-slice waits for the slice to end, so with a 500 µs slice its p50
  is of the order of the slice; the 1024-iteration counters yield every ~10 µs of this tiny body,
  which buys a lower p50 with a far higher yield rate (and would starve others with a heavier body).
- **limit.** No numeric speed target for the limiter was available to this report (its notes had
  not been published), so no row says met or missed. `Limiter` does
  more per acquire (strict FIFO with weights, `max_waiting` shedding, `close`, `set_limit`, wait-time
  statistics), which shows in the uncontended and contended rows. In the contended profile a visible
  share of the samples is `clock_gettime`, read for the wait-time statistics of every acquire that
  waits; the limit cure was still being tuned on its own branch while this report was written, so
  this report leaves `src/limit/` alone. With many waiters queued (scaling table) its cost per
  waiter stays flat in the number of waiters, like the semaphore's.
- **gateway.** The two modes see the same offered load, but not the same sessions: the guarded
  server sheds, times out and reaps clients that the naive one keeps (and answers late or never),
  so latency percentiles are over different sets; lost transcripts and unanswered clients are the
  figures the cures exist for.
"#;

fn gateway_section(o: &Opts, md: &mut String) {
    eprintln!("gateway (examples/asr_gateway, guarded and --naive) ...");
    let _ = writeln!(md, "## Gateway under load: guarded vs `--naive`\n");
    let (seconds, runs, clients) = if o.quick { (1.5, 1, 32) } else { (4.0, 3, 32) };
    let mut guarded = Vec::new();
    let mut naive = Vec::new();
    let result = build_gateway().and_then(|()| {
        for i in 0..runs {
            // Alternate which goes first.
            for naive_run in [i % 2 == 1, i % 2 == 0] {
                let r = run_gateway(naive_run, seconds, clients)?;
                if naive_run {
                    naive.push(r)
                } else {
                    guarded.push(r)
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        let _ = writeln!(md, "Not measured in this run: {e}.\n");
        return;
    }
    let _ = writeln!(
        md,
        "`examples/asr_gateway` (TCP server + load generator in one process, {clients} client loops, \
         `--seconds {seconds}`), run {runs} time(s) in each mode, alternating; each cell is the median of the runs. \
         Same offered load in both modes (same client loops and client mix). Sessions/s = client sessions \
         per second of load; served = sessions that got their final transcript.\n"
    );
    let med =
        |rs: &[GatewayRun], f: fn(&GatewayRun) -> f64| stat(rs.iter().map(f).collect()).median;
    let mut t = Table::new(&[
        "measure",
        "guarded (all six cures)",
        "`--naive`",
        "ratio (guarded/naive)",
    ]);
    type Row = (&'static str, fn(&GatewayRun) -> f64, bool);
    let rows: [Row; 8] = [
        ("client sessions/s", |r| r.sessions / r.load_s, false),
        (
            "served sessions/s (final transcript)",
            |r| r.served / r.load_s,
            false,
        ),
        ("session latency p50 (served)", |r| r.p50, true),
        ("session latency p99 (served)", |r| r.p99, true),
        ("event-loop lag, worst", |r| r.worst_lag, true),
        ("event-loop lag, p99", |r| r.p99_lag, true),
        ("transcripts lost", |r| r.lost, false),
        ("clients that got no answer", |r| r.unanswered, false),
    ];
    for (name, f, is_time) in rows {
        let (g, n) = (med(&guarded, f), med(&naive, f));
        let one = |v: f64| {
            if is_time {
                ns(v)
            } else if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        };
        let r = if n > 0.0 {
            format!("{:.2}x", g / n)
        } else {
            "-".into()
        };
        // The median, then every run: the gateway is noisy on a shared machine.
        let cell = |v: f64, rs: &[GatewayRun]| {
            if rs.len() < 2 {
                return one(v);
            }
            let all: Vec<String> = rs.iter().map(|r| one(f(r))).collect();
            format!("{} (runs: {})", one(v), all.join(", "))
        };
        t.row(&[name.into(), cell(g, &guarded), cell(n, &naive), r]);
    }
    md.push_str(&t.done());
    let verdicts = |rs: &[GatewayRun]| {
        rs.iter()
            .map(|r| format!("\"{}\"", r.verdict))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        md,
        "\nVerdicts printed by the gateway: guarded {}; naive {}. The guarded server sheds, times out and \
         reaps the slow, stalled and silent clients that the naive one serves late or never answers, so \
         its served count and latency are for a different (healthier) set of sessions: read the lag and \
         lost/unanswered rows with that in mind.\n",
        verdicts(&guarded),
        verdicts(&naive)
    );
}

/// Keeps a value alive for the optimiser, then drops it.
fn sink<T>(t: T) {
    drop(black_box(t));
}
