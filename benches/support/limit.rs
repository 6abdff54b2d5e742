//! The limit scaling workload, shared by `benches/limit_scaling.rs` and
//! `bench-report/`: n waiters queue behind one held permit (one poll
//! each), then every waiter in turn takes the permit and drops it. Polled by
//! hand with a no-op waker: no executor in the loop.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_guard::limit::Limiter;
use async_lock::Semaphore;

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

/// One round on `lim` (enqueue + grant + release of `n` waiters); its wall time.
pub fn limiter_round(lim: &Limiter, n: usize) -> Duration {
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

/// The same round on an `async_lock::Semaphore`.
pub fn semaphore_round(sem: &Semaphore, n: usize) -> Duration {
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
