//! Timing: interleaved repetitions of competing batches, medians, and the
//! small loops the sections time.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// One measured batch: returns nanoseconds per operation.
pub type Batch<'a> = Box<dyn FnMut() -> f64 + 'a>;

#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub median: f64,
}

/// Warms every contender up once, then runs `reps` interleaved rounds
/// (each contender once per round) and returns each one's median.
pub fn race(reps: usize, mut contenders: Vec<Batch<'_>>) -> Vec<Stat> {
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

/// The median of a batch of samples.
pub fn stat(mut s: Vec<f64>) -> Stat {
    s.sort_by(|a, b| a.total_cmp(b));
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    Stat { median }
}

/// Times `iters` calls of `f`, in ns per call.
pub fn per_call(iters: u64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Polls `f` with a no-op waker until it is ready.
pub fn poll_to_end<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// How many rounds of `n` items make a batch of about `work` items.
pub fn rounds_for(n: usize, work: usize) -> usize {
    (work / n).max(1)
}

/// The sizes of a scaling table: 1 to 100k, and 1M in a full run.
pub fn scaling_sizes(quick: bool) -> Vec<usize> {
    let mut sizes = vec![1usize, 100, 1_000, 10_000, 100_000];
    if !quick {
        sizes.push(1_000_000);
    }
    sizes
}

/// The rows of a two-contender scaling table: for each size `n`,
/// `a(n, times)` and `b(n, times)` (ns per item) raced over batches of about
/// `work` items, with at most 9 repetitions (3 at 1M).
pub fn scaling_rows(
    quick: bool,
    reps: usize,
    work: usize,
    a: fn(usize, usize) -> f64,
    b: fn(usize, usize) -> f64,
) -> Vec<(usize, Vec<f64>)> {
    let mut rows = Vec::new();
    for n in scaling_sizes(quick) {
        let times = rounds_for(n, work);
        let reps = if n >= 1_000_000 { 3 } else { reps.min(9) };
        let s = race(
            reps,
            vec![Box::new(move || a(n, times)), Box::new(move || b(n, times))],
        );
        rows.push((n, vec![s[0].median, s[1].median]));
    }
    rows
}

/// Keeps a value alive for the optimiser, then drops it.
pub fn sink<T>(t: T) {
    drop(black_box(t));
}
