//! `reaper` cure vs the plain design in Rust (a `Mutex<HashMap<id, Instant>>`
//! written on every touch, plus a monitor that scans the whole map every
//! tick), in the same groups:
//!
//! - `reaper/touch`: one sign of life;
//! - `reaper/track_finish`: start watching a task, the task completes, stop;
//! - `reaper/tick_nothing_due/N`: one monitor tick with `N` tracked and
//!   nothing expiring. async-guard: `Reaper::step` (the driver's step,
//!   called directly on a reaper whose real driver sleeps for days), timed
//!   on ticks where no entry is due (between two due ticks, which re-bucket
//!   everything untimed); baseline: one scan of the map;
//! - `reaper/tick_amortized/N`: all `N` tasks active and touching, every
//!   tick timed: each entry is re-examined once per ttl, so at the default
//!   tick one tick in 50 re-buckets all of them, and the mean is the
//!   amortized cost per tick. Same baseline scan.
//!
//! Bytes per tracked task are measured with a counting allocator and printed
//! before the groups run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_guard::reaper::Reaper;
use criterion::{BenchmarkId, Criterion};

/// Counts live heap bytes, to measure bytes per tracked task.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "support/reaper.rs"]
mod workloads;
use workloads::{LONG_TTL, MapMonitor, Population};

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g
}

fn touch(c: &mut Criterion) {
    let mut g = group(c, "reaper/touch");
    let reaper = Reaper::new(LONG_TTL);
    let (activity, _idle) = reaper.watch("t");
    g.bench_function("async_guard", |b| b.iter(|| black_box(&activity).touch()));
    let map = MapMonitor::new(LONG_TTL);
    (0..1000).for_each(|id| map.touch(id));
    g.bench_function("mutex_hashmap", |b| b.iter(|| map.touch(black_box(7))));
    g.finish();
}

fn poll_ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!(),
    }
}

fn track_finish(c: &mut Criterion) {
    let mut g = group(c, "reaper/track_finish");
    let reaper = Reaper::new(LONG_TTL);
    let name: Arc<str> = Arc::from("task");
    // 1000 other tasks tracked, so neither side works on an empty map.
    let _others: Vec<_> = (0..1000).map(|_| reaper.watch(name.clone())).collect();
    g.bench_function("async_guard", |b| {
        b.iter(|| poll_ready(reaper.track(name.clone(), |a| async move { black_box(&a).touch() })))
    });
    let map = MapMonitor::new(LONG_TTL);
    (0..1000).for_each(|id| map.touch(id));
    let mut next = 1000;
    g.bench_function("mutex_hashmap", |b| {
        b.iter(|| {
            next += 1;
            map.touch(next);
            black_box(next);
            map.remove(next);
        })
    });
    g.finish();
}

fn ticks(c: &mut Criterion) {
    // Nothing due: the finest tick, so the most empty ticks between dues.
    // Amortized: the default tick (ttl / 16: a re-check every 50 ticks).
    let cases = [
        ("reaper/tick_nothing_due", LONG_TTL / 512, false),
        ("reaper/tick_amortized", LONG_TTL / 16, true),
    ];
    for (label, tick, amortized) in cases {
        let mut g = group(c, label);
        for n in [1usize, 1_000, 100_000, 1_000_000] {
            let mut pop = Population::new(n, tick);
            g.bench_with_input(BenchmarkId::new("async_guard", n), &n, |b, _| {
                b.iter_custom(|iters| {
                    if amortized {
                        pop.all_ticks(iters)
                    } else {
                        pop.empty_ticks(iters)
                    }
                })
            });
            drop(pop);
            let map = MapMonitor::new(LONG_TTL);
            (0..n as u64).for_each(|id| map.touch(id));
            let mut expired = Vec::new();
            g.bench_with_input(BenchmarkId::new("map_scan", n), &n, |b, _| {
                b.iter(|| {
                    map.scan(&mut expired);
                    assert!(expired.is_empty());
                })
            });
        }
        g.finish();
    }
}

/// A ready future of the size of a small task, to track.
struct Work([u64; 4]);
impl Future for Work {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u64> {
        Poll::Ready(self.0[0])
    }
}

fn bytes_per_task() {
    const N: usize = 100_000;
    let name: Arc<str> = Arc::from("task");
    let reaper = Reaper::new(LONG_TTL);
    let before = LIVE.load(Ordering::Relaxed);
    let tracked: Vec<_> = (0..N)
        .map(|i| reaper.track(name.clone(), move |_| Work([i as u64; 4])))
        .collect();
    let ours = (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64;
    let inline = std::mem::size_of_val(&tracked[0]) as f64;
    drop(tracked);
    let map = MapMonitor::new(LONG_TTL);
    let before = LIVE.load(Ordering::Relaxed);
    (0..N as u64).for_each(|id| map.touch(id));
    let theirs = (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64;
    println!(
        "bytes per tracked task ({N} tracked): async_guard {ours:.0} \
         (of which {inline:.0} inline in the Tracked future, whose task is 32 bytes; \
         name shared) vs mutex_hashmap {theirs:.0} (map only: a task \
         handle and name are extra)"
    );
}

fn main() {
    bytes_per_task();
    let mut c = Criterion::default().configure_from_args();
    touch(&mut c);
    track_finish(&mut c);
    ticks(&mut c);
    c.final_summary();
}
