mod runtimes;
mod support;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use async_guard::offload::{CpuPool, Offload, offload};
use futures_lite::FutureExt as _;
use futures_lite::future::{self, poll_once};
use proptest::prelude::*;

/// A job that holds its pool thread until `release` is sent.
fn blocker(pool: &CpuPool) -> (Offload<()>, mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let job = pool.try_run(move || rx.recv().unwrap_or(())).unwrap();
    (job, tx)
}

/// Waits (up to 5 s) until the pool has `n` jobs running.
fn wait_running(pool: &CpuPool, n: usize) {
    let until = Instant::now() + Duration::from_secs(5);
    while pool.stats().running != n {
        assert!(
            Instant::now() < until,
            "never got {n} running: {:?}",
            pool.stats()
        );
        // Real: polls the CPU pool's real threads until they run the jobs.
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn results_and_fifo_order() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).build();
        let order = Arc::new(Mutex::new(Vec::new()));
        let jobs: Vec<_> = (0..50)
            .map(|i| {
                let order = order.clone();
                pool.try_run(move || {
                    order.lock().unwrap().push(i);
                    i * 2
                })
                .unwrap()
            })
            .collect();
        let mut results = Vec::new();
        for job in jobs {
            results.push(job.await);
        }
        assert_eq!(results, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
        assert_eq!(offload(|| "global").await, "global");
    });
}

#[test]
fn at_most_n_jobs_run_at_once_under_10x_overload() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(3).build();
        let now = Arc::new(AtomicUsize::new(0));
        let high = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..30)
            .map(|_| {
                let (now, high) = (now.clone(), high.clone());
                pool.run(move || {
                    let n = now.fetch_add(1, SeqCst) + 1;
                    high.fetch_max(n, SeqCst);
                    // Real: holds a real pool thread so that jobs overlap.
                    std::thread::sleep(Duration::from_millis(2));
                    now.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        for job in jobs {
            job.await;
        }
        let high = high.load(SeqCst);
        assert!((1..=3).contains(&high), "high-water mark {high}");
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (30, 0, 0));
        assert!(s.threads <= 3 && s.max_threads == 3);
        assert!(s.busy_time >= Duration::from_millis(60));
    });
}

#[test]
fn global_pool_never_exceeds_its_threads() {
    runtimes::all(|| async {
        let n = CpuPool::global().threads();
        let now = Arc::new(AtomicUsize::new(0));
        let high = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..10 * n)
            .map(|_| {
                let (now, high) = (now.clone(), high.clone());
                CpuPool::global()
                    .try_run(move || {
                        high.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        spin(Duration::from_micros(300));
                        now.fetch_sub(1, SeqCst);
                    })
                    .unwrap()
            })
            .collect();
        for job in jobs {
            job.await;
        }
        assert!(high.load(SeqCst) <= n);
    });
}

#[test]
fn panic_resumes_in_the_caller_and_the_thread_survives() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).build();
        let caught = AssertUnwindSafe(pool.run(|| -> u32 { panic!("model file corrupt") }))
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(caught.downcast_ref::<&str>(), Some(&"model file corrupt"));
        // The same (only) thread keeps serving.
        assert_eq!(pool.run(|| 7).await, 7);
        let s = pool.stats();
        assert_eq!((s.panicked, s.completed, s.threads), (1, 1, 1));
        // A panic whose caller left is counted and dropped.
        let (block, release) = blocker(&pool);
        let doomed = pool.try_run(|| panic!("nobody listens")).unwrap();
        wait_running(&pool, 1);
        release.send(()).unwrap();
        block.await;
        drop(doomed); // may already have run or not; either way no panic here
        assert_eq!(pool.run(|| 8).await, 8);
    });
}

#[test]
fn cancel_before_start_never_runs_the_job() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).build();
        let (block, release) = blocker(&pool);
        wait_running(&pool, 1);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let queued = pool.try_run(move || flag.store(true, SeqCst)).unwrap();
        assert_eq!(pool.stats().waiting, 1);
        drop(queued);
        assert_eq!(pool.stats().waiting, 0);
        assert_eq!(pool.stats().cancelled, 1);
        release.send(()).unwrap();
        block.await;
        pool.run(|| ()).await; // everything queued before it is done
        assert!(!ran.load(SeqCst));
    });
}

#[test]
fn dropped_after_k_polls_is_clean() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).max_waiting(1).build();
        for k in 0..4 {
            let (block, release) = blocker(&pool);
            wait_running(&pool, 1);
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let flag2 = ran.clone();
            let mut queued = pool.run(move || flag.store(true, SeqCst));
            // The pool is full now: this one waits for room.
            let mut waiting = pool.run(move || flag2.store(true, SeqCst));
            for _ in 0..k {
                assert!(poll_once(&mut queued).await.is_none());
                assert!(poll_once(&mut waiting).await.is_none());
            }
            assert_eq!(pool.stats().waiting, 1);
            drop(queued);
            drop(waiting);
            release.send(()).unwrap();
            block.await;
            pool.run(|| ()).await;
            assert!(!ran.load(SeqCst), "k = {k}");
            let s = pool.stats();
            assert_eq!((s.waiting, s.running), (0, 0), "k = {k}");
            // Both admission permits came back.
            let a = pool.try_run(|| ()).unwrap();
            let b = pool.try_run(|| ()).unwrap();
            a.await;
            b.await;
        }
    });
}

#[test]
fn cancel_while_running_finishes_and_drops_the_result_on_the_pool() {
    struct Noisy(Arc<Mutex<Option<String>>>);
    impl Drop for Noisy {
        fn drop(&mut self) {
            let name = std::thread::current().name().map(str::to_owned);
            *self.0.lock().unwrap() = name;
        }
    }
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).name("dropper").build();
        let dropped_on = Arc::new(Mutex::new(None));
        let finished = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<()>();
        let (slot, done) = (dropped_on.clone(), finished.clone());
        let job = pool
            .try_run(move || {
                rx.recv().unwrap();
                done.store(true, SeqCst);
                Noisy(slot)
            })
            .unwrap();
        wait_running(&pool, 1);
        drop(job);
        tx.send(()).unwrap();
        pool.run(|| ()).await;
        assert!(finished.load(SeqCst));
        assert_eq!(dropped_on.lock().unwrap().as_deref(), Some("dropper-0"));
        assert_eq!(pool.stats().cancelled, 0);
    });
}

#[test]
fn try_run_sheds_when_the_queue_is_full() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).max_waiting(2).build();
        let (block, release) = blocker(&pool);
        wait_running(&pool, 1);
        let a = pool.try_run(|| 1).unwrap();
        let b = pool.try_run(|| 2).unwrap();
        let err = pool.try_run(|| 3).unwrap_err();
        assert!(err.to_string().contains("overloaded"));
        let s = pool.stats();
        assert_eq!((s.waiting, s.rejected, s.most_waiting), (2, 1, 2));
        release.send(()).unwrap();
        block.await;
        assert_eq!(a.await + b.await, 3);
        assert_eq!(pool.try_run(|| 4).unwrap().await, 4);
    });
}

#[test]
fn run_waits_for_room_instead_of_shedding() {
    runtimes::all(|| async {
        let pool = CpuPool::builder().threads(1).max_waiting(0).build();
        let (block, release) = blocker(&pool);
        wait_running(&pool, 1);
        let mut waiting = pool.run(|| 5);
        assert!(poll_once(&mut waiting).await.is_none());
        assert_eq!(pool.stats().waiting, 0); // not admitted yet
        release.send(()).unwrap();
        block.await;
        assert_eq!(waiting.await, 5);
    });
}

#[test]
fn odd_settings_are_defined() {
    runtimes::all(|| async {
        let pool = CpuPool::builder()
            .threads(0)
            .max_waiting(usize::MAX)
            .name("nul\0name")
            .build();
        assert_eq!(pool.threads(), 1);
        assert_eq!(pool.max_waiting(), None);
        assert_eq!(pool.name(), "nulname");
        assert_eq!(pool.run(|| 1).await, 1);
        let huge = CpuPool::builder().threads(usize::MAX).build();
        assert_eq!(huge.threads(), 1024); // the documented bound
        assert_eq!(huge.run(|| 2).await, 2);
        assert_eq!(huge.stats().threads, 1); // started on demand only
    });
}

#[cfg(target_os = "linux")]
#[test]
fn shutdown_finishes_queued_jobs_and_threads_exit() {
    runtimes::each(|rt| async move {
        let name = format!("shut{}", rt as u8);
        let pool = CpuPool::builder().threads(2).name(name.clone()).build();
        let (block, release) = blocker(&pool);
        wait_running(&pool, 1); // the thread names itself when it starts
        let jobs: Vec<_> = (0..10u64)
            .map(|i| pool.try_run(move || i).unwrap())
            .collect();
        assert!(support::threads_named(&name) >= 1);
        drop(pool); // never blocks, even with jobs queued
        release.send(()).unwrap();
        block.await;
        let mut sum = 0;
        for job in jobs {
            sum += job.await;
        }
        assert_eq!(sum, 45);
        let until = Instant::now() + Duration::from_secs(5);
        while support::threads_named(&name) > 0 {
            assert!(Instant::now() < until, "pool threads leaked");
            // Real: waits for the pool's real threads to exit.
            async_io::Timer::after(Duration::from_millis(2)).await;
        }
    });
}

/// The seed's point: while the pool is saturated with CPU work, the event
/// loop keeps serving. A 1 ms heartbeat on a single-threaded executor
/// measures its scheduling lag while 100 jobs of 20 ms CPU run.
#[test]
fn event_loop_stays_responsive_while_the_pool_is_saturated() {
    let ex = async_executor::LocalExecutor::new();
    let pool = CpuPool::builder().threads(2).build();
    let load = ex.spawn({
        let pool = pool.clone();
        async move {
            let jobs: Vec<_> = (0..100)
                .map(|_| pool.try_run(|| spin(Duration::from_millis(20))).unwrap())
                .collect();
            for job in jobs {
                job.await;
            }
        }
    });
    let lags = ex.spawn(async move {
        let mut lags = Vec::new();
        while !load.is_finished() {
            let start = Instant::now();
            // Real: the subject is the real event loop's lag beside real CPU work.
            async_io::Timer::after(Duration::from_millis(1)).await;
            lags.push(start.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        load.await;
        lags
    });
    let mut lags = future::block_on(ex.run(lags));
    lags.sort();
    let median = lags[lags.len() / 2];
    let worst = *lags.last().unwrap();
    eprintln!(
        "heartbeat lag: median {median:?}, worst {worst:?}, {} beats",
        lags.len()
    );
    // Inline, each job would freeze the loop for 20 ms; generous bounds
    // for a noisy shared CI machine.
    assert!(median < Duration::from_millis(10), "median lag {median:?}");
    assert!(worst < Duration::from_millis(500), "worst lag {worst:?}");
    assert_eq!(pool.stats().completed, 100);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever is submitted and dropped, every job ends exactly once
    /// (completed or cancelled) and every admission permit comes back.
    #[test]
    fn jobs_and_permits_are_conserved(
        threads in 1usize..4,
        max_waiting in 0usize..4,
        drops in proptest::collection::vec(any::<bool>(), 0..16),
    ) {
        let pool = CpuPool::builder().threads(threads).max_waiting(max_waiting).build();
        let ran = Arc::new(AtomicUsize::new(0));
        future::block_on(async {
            let mut kept = Vec::new();
            let mut admitted = 0u64;
            for drop_it in &drops {
                let ran = ran.clone();
                let Ok(job) = pool.try_run(move || {
                    // Real: a job that occupies a real pool thread for a while.
                    std::thread::sleep(Duration::from_micros(200));
                    ran.fetch_add(1, SeqCst);
                }) else { continue };
                admitted += 1;
                if !*drop_it { kept.push(job) }
            }
            for job in kept {
                job.await;
            }
            // Let jobs whose future was dropped mid-run finish.
            let until = Instant::now() + Duration::from_secs(5);
            loop {
                let s = pool.stats();
                if s.running == 0 && s.waiting == 0 { break }
                assert!(Instant::now() < until);
                // Real: waits for the pool's real threads to go idle.
                std::thread::sleep(Duration::from_millis(1));
            }
            let s = pool.stats();
            assert_eq!(s.completed + s.cancelled, admitted);
            assert_eq!(s.completed, ran.load(SeqCst) as u64);
            assert_eq!(s.rejected + admitted, drops.len() as u64);
            // All threads + max_waiting permits are free again.
            let (block, release) = blocker(&pool);
            let mut more = vec![block];
            for _ in 1..threads + max_waiting {
                more.push(pool.try_run(|| ()).unwrap());
            }
            release.send(()).unwrap();
            for job in more {
                job.await;
            }
        });
    }
}
