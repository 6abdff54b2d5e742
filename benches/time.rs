//! `time` cure vs the raw smol idiom `fut.or(async { Timer::after(d).await; .. })`,
//! in the same groups: (a) ready on first poll, (b) pending once then ready
//! (a timer armed and cancelled: the common case in servers), (c) many
//! timeouts pending at once (arm N, then cancel N; cost per timeout), for
//! N = 1, 1k, 10k, 100k (and 1M with `BENCH_FULL=1`).

use std::future::{Future, pending, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_guard::time::timeout;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const LIMIT: Duration = Duration::from_secs(60);

#[path = "support/time.rs"]
mod workloads;
use workloads::{YieldOnce, raw_timeout};

fn poll_to_end<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn single(c: &mut Criterion) {
    let mut g = c.benchmark_group("time/single");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("ready_first_poll/raw_or_timer", |b| {
        b.iter(|| poll_to_end(raw_timeout(LIMIT, ready(black_box(1)))))
    });
    g.bench_function("ready_first_poll/async_guard", |b| {
        b.iter(|| poll_to_end(timeout(LIMIT, ready(black_box(1)))))
    });
    g.bench_function("pending_once/raw_or_timer", |b| {
        b.iter(|| poll_to_end(raw_timeout(LIMIT, YieldOnce(false))))
    });
    g.bench_function("pending_once/async_guard", |b| {
        b.iter(|| poll_to_end(timeout(LIMIT, YieldOnce(false))))
    });
    g.finish();
}

/// Arms `n` pending timeouts (one poll each), then drops them all.
fn arm_and_cancel<F: Future>(n: usize, make: impl Fn() -> F) -> Duration {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    let mut futs: Vec<_> = (0..n).map(|_| Box::pin(make())).collect();
    for f in &mut futs {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    drop(futs);
    start.elapsed()
}

fn many_pending(c: &mut Criterion) {
    eprintln!(
        "size of a pending timeout future: async_guard {} B, raw or+Timer {} B",
        std::mem::size_of_val(&timeout(LIMIT, pending::<()>())),
        std::mem::size_of_val(&raw_timeout(LIMIT, pending::<()>()))
    );
    let mut g = c.benchmark_group("time/many_pending");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    let mut sizes = vec![1usize, 1_000, 10_000, 100_000];
    if full() {
        sizes.push(1_000_000);
    }
    for n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("raw_or_timer", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| arm_and_cancel(n, || raw_timeout(LIMIT, pending::<()>())))
                    .sum()
            })
        });
        g.bench_with_input(BenchmarkId::new("async_guard", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| arm_and_cancel(n, || timeout(LIMIT, pending::<()>())))
                    .sum()
            })
        });
    }
    g.finish();
}

/// `BENCH_FULL=1 cargo bench` adds the slow sizes (1M in flight).
fn full() -> bool {
    std::env::var_os("BENCH_FULL").is_some()
}

criterion_group!(benches, single, many_pending);
criterion_main!(benches);
