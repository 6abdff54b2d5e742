//! `Limiter` vs `async_lock::Semaphore` as the number of waiters grows:
//! n waiters queue behind one held permit (one poll each), then the permit
//! is released and every waiter in turn takes it and drops it (which hands
//! it to the next). Cost per waiter (enqueue + grant + release), for
//! n = 1, 1k, 100k (and 1M with `BENCH_FULL=1`), both in the same group.
//! Polled by hand with a no-op waker: no executor in the loop.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_guard::limit::Limiter;
use async_lock::Semaphore;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = poll_once(f.as_mut()) {
            return v;
        }
    }
}

fn limiter_round(lim: &Limiter, n: usize) -> Duration {
    let start = Instant::now();
    let held = ready(lim.acquire()).unwrap();
    let mut waiters: Vec<_> = (0..n).map(|_| Box::pin(lim.acquire())).collect();
    for w in &mut waiters {
        assert!(poll_once(w.as_mut()).is_pending());
    }
    drop(held);
    for w in &mut waiters {
        match poll_once(w.as_mut()) {
            Poll::Ready(p) => drop(p.unwrap()),
            Poll::Pending => panic!("waiters are granted in order"),
        }
    }
    drop(waiters);
    start.elapsed()
}

fn semaphore_round(sem: &Semaphore, n: usize) -> Duration {
    let start = Instant::now();
    let held = ready(sem.acquire());
    let mut waiters: Vec<_> = (0..n).map(|_| Box::pin(sem.acquire())).collect();
    for w in &mut waiters {
        assert!(poll_once(w.as_mut()).is_pending());
    }
    drop(held);
    for w in &mut waiters {
        drop(ready(w.as_mut()));
    }
    drop(waiters);
    start.elapsed()
}

fn waiters(c: &mut Criterion) {
    let mut sizes = vec![1usize, 1_000, 100_000];
    if std::env::var_os("BENCH_FULL").is_some() {
        sizes.push(1_000_000);
    }
    let mut g = c.benchmark_group("limit/waiters");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    for n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        let lim = Limiter::new(1);
        g.bench_with_input(BenchmarkId::new("Limiter", n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| limiter_round(&lim, n)).sum())
        });
        let sem = Semaphore::new(1);
        g.bench_with_input(BenchmarkId::new("async_lock::Semaphore", n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| semaphore_round(&sem, n)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, waiters);
criterion_main!(benches);
