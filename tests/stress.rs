//! Multi-threaded stress: every cure under a 2-thread and a 4-thread
//! `async_executor::Executor`, thousands of tasks with random timing and
//! random cancellation, for a fixed time per run; then the books must
//! balance in each cure's `stats()`.
//!
//! Each run lasts `ASYNC_GUARD_STRESS_MS` milliseconds of waves (default
//! 800, so the whole file stays at a few seconds in debug); a watchdog
//! fails a run that does not end within a minute after that, instead of
//! hanging. For a longer run, in release:
//! `ASYNC_GUARD_STRESS_MS=5000 cargo test --release --test stress`.

mod support;

use std::future::{Future, pending};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_executor::{Executor, Task};
use async_guard::prelude::*;
use async_io::Timer;
use futures_lite::{FutureExt as _, StreamExt as _, future, stream};

const US: Duration = Duration::from_micros(1);
const MS: Duration = Duration::from_millis(1);
/// Tasks per wave; waves run until the time budget is spent.
const WAVE: usize = 1000;

/// How long each run keeps starting waves.
fn budget() -> Duration {
    let ms = std::env::var("ASYNC_GUARD_STRESS_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800);
    Duration::from_millis(ms)
}

/// A small deterministic PRNG (splitmix64), one per task.
#[derive(Clone)]
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A random duration below `max` microseconds.
    fn us(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max))
    }
    /// `true` with probability `1/n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Runs `body` on an executor driven by `threads` threads (the caller's
/// plus `threads - 1` helpers), under a watchdog.
fn stress<F, Fut>(name: &str, threads: usize, body: F)
where
    F: FnOnce(Arc<Executor<'static>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = budget() + Duration::from_secs(60);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ex = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                let ex = ex.clone();
                let stopped = stopped.clone();
                std::thread::spawn(move || future::block_on(ex.run(stopped.recv())))
            })
            .collect();
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| {
            future::block_on(ex.run(body(ex.clone())))
        }));
        drop(stop);
        for h in helpers {
            let _ = h.join();
        }
        let _ = tx.send(out);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{name} on {threads} threads: not done within {limit:?} (hang?)"),
    }
}

/// Spawns one wave of `WAVE` tasks made by `task(i, rng)` and awaits them.
async fn wave<Fut>(ex: &Executor<'static>, seed: u64, mut task: impl FnMut(usize, Rng) -> Fut)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<Task<()>> = (0..WAVE)
        .map(|i| ex.spawn(task(i, Rng(seed ^ (i as u64) << 20))))
        .collect();
    for t in tasks {
        t.await;
    }
}

/// Runs waves until the time budget is spent; returns how many ran.
async fn waves<Fut>(
    ex: &Executor<'static>,
    label: &str,
    mut task: impl FnMut(usize, Rng) -> Fut,
) -> u64
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let mut n = 0;
    while n == 0 || start.elapsed() < budget() {
        wave(ex, n, &mut task).await;
        n += 1;
    }
    let took = start.elapsed();
    eprintln!(
        "stress {label}: {} tasks in {took:.2?} ({:.0} tasks/s)",
        n * WAVE as u64,
        (n * WAVE as u64) as f64 / took.as_secs_f64()
    );
    n
}

fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

// --------------------------------------------------------------- limit ----

fn limit_stress(threads: usize) {
    use async_guard::limit::Limiter;
    const LIMIT: usize = 8;
    stress("limit", threads, move |ex| async move {
        let label = format!("limit on {threads} threads");
        let limiter = Limiter::builder().limit(LIMIT).max_waiting(400).build();
        let in_section = Arc::new(AtomicUsize::new(0));
        let (acquired, shed, timed_out, ran) = (counter(), counter(), counter(), counter());
        let l = limiter.clone();
        let (sec, ac, sh, to, ra) = (
            in_section.clone(),
            acquired.clone(),
            shed.clone(),
            timed_out.clone(),
            ran.clone(),
        );
        waves(&ex, &label, move |_, mut rng| {
            let limiter = l.clone();
            let (in_section, acquired, shed, timed_out, ran) =
                (sec.clone(), ac.clone(), sh.clone(), to.clone(), ra.clone());
            async move {
                let weight = 1 + rng.below(3) as usize;
                let hold = rng.us(200);
                let section = |w: usize| {
                    let now = in_section.fetch_add(w, SeqCst) + w;
                    assert!(now <= LIMIT, "{now} permits in use, limit {LIMIT}");
                };
                let permit = match rng.below(5) {
                    0 => limiter.acquire_many(weight).await,
                    1 => {
                        let r = limiter.acquire_many_timeout(weight, rng.us(300)).await;
                        if matches!(&r, Err(e) if e.is_elapsed()) {
                            timed_out.fetch_add(1, SeqCst);
                        }
                        r
                    }
                    2 => match limiter.acquire_many(weight).timeout(rng.us(300)).await {
                        Ok(r) => r,
                        Err(_) => return, // the caller gave up while queued
                    },
                    3 => limiter.try_acquire_many(weight),
                    _ => {
                        let (s, r) = (in_section.clone(), ran.clone());
                        let out = limiter
                            .run(async move {
                                let now = s.fetch_add(1, SeqCst) + 1;
                                assert!(now <= LIMIT);
                                Timer::after(hold).await;
                                s.fetch_sub(1, SeqCst);
                                r.fetch_add(1, SeqCst);
                            })
                            .await;
                        match out {
                            Ok(()) => acquired.fetch_add(1, SeqCst),
                            Err(e) if e.is_overloaded() => shed.fetch_add(1, SeqCst),
                            Err(e) => panic!("run failed: {e}"),
                        };
                        return;
                    }
                };
                match permit {
                    Ok(p) => {
                        acquired.fetch_add(1, SeqCst);
                        assert_eq!(p.weight(), weight);
                        section(weight);
                        Timer::after(hold).await;
                        in_section.fetch_sub(weight, SeqCst);
                        drop(p);
                    }
                    Err(e) if e.is_overloaded() => {
                        shed.fetch_add(1, SeqCst);
                    }
                    Err(_) => {} // elapsed (counted above) or none free
                }
            }
        })
        .await;
        let s = limiter.stats();
        assert_eq!((s.in_use, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.acquired, acquired.load(SeqCst), "{s:?}");
        assert_eq!(s.rejected, shed.load(SeqCst), "{s:?}");
        assert_eq!(s.timed_out, timed_out.load(SeqCst), "{s:?}");
        assert!(ran.load(SeqCst) > 0 && s.acquired > 0);
        assert!(limiter.try_acquire_many(LIMIT).is_ok(), "permits leaked");
        eprintln!("stress {label}: {s:?}");
    });
}

#[test]
fn limit_on_2_threads() {
    limit_stress(2);
}

#[test]
fn limit_on_4_threads() {
    limit_stress(4);
}

// ---------------------------------------------------------------- time ----

fn time_stress(threads: usize) {
    use async_guard::time::{current_deadline, timeout};
    stress("time", threads, move |ex| async move {
        let label = format!("time on {threads} threads");
        let (ok, elapsed, enclosing) = (counter(), counter(), counter());
        let (o, e, n) = (ok.clone(), elapsed.clone(), enclosing.clone());
        let rounds = waves(&ex, &label, move |_, mut rng| {
            let (ok, elapsed, enclosing) = (o.clone(), e.clone(), n.clone());
            async move {
                let op = Timer::after(rng.us(1500));
                let inner = timeout(rng.us(1500), op);
                let outer_d = rng.us(3000);
                let r = timeout(outer_d, inner).await;
                assert_eq!(current_deadline(), None, "a scope leaked");
                match r {
                    Ok(Ok(_)) => ok.fetch_add(1, SeqCst),
                    Ok(Err(err)) | Err(err) => {
                        assert!(Instant::now() >= err.deadline(), "fired early");
                        if err.is_enclosing() {
                            enclosing.fetch_add(1, SeqCst);
                        }
                        elapsed.fetch_add(1, SeqCst)
                    }
                };
                // A stream with per-item timeouts, dropped half way at times.
                let s = stream::iter(0..4u8)
                    .then(|x| async move {
                        future::yield_now().await;
                        x
                    })
                    .timeout_each(2 * MS);
                let items = s.take(1 + rng.below(4) as usize).count();
                assert!(items.await >= 1);
            }
        })
        .await;
        let total = ok.load(SeqCst) + elapsed.load(SeqCst);
        assert_eq!(
            total,
            rounds * WAVE as u64,
            "a timeout neither succeeded nor elapsed"
        );
        assert!(ok.load(SeqCst) > 0 && elapsed.load(SeqCst) > 0);
    });
}

#[test]
fn time_on_2_threads() {
    time_stress(2);
}

#[test]
fn time_on_4_threads() {
    time_stress(4);
}

// -------------------------------------------------------------- budget ----

fn budget_stress(threads: usize) {
    use async_guard::budget::{Budget, LagProbe};
    stress("budget", threads, move |ex| async move {
        let label = format!("budget on {threads} threads");
        let (probe, heartbeat) = LagProbe::new(MS);
        let beat = ex.spawn(heartbeat);
        let (items, stalls) = (counter(), counter());
        let (it, st) = (items.clone(), stalls.clone());
        let rounds = waves(&ex, &label, move |_, mut rng| {
            let (items, stalls) = (it.clone(), st.clone());
            async move {
                // A counted budget yields exactly every n ticks.
                let n = 1 + rng.below(16) as usize;
                let ticks = rng.below(200);
                let mut b = Budget::new(n);
                for _ in 0..ticks {
                    b.tick().await;
                }
                assert_eq!(b.yields(), ticks / n as u64);
                // A cooperative stream loses no item.
                let len = rng.below(100);
                let sum = stream::iter(0..len)
                    .cooperative(1 + rng.below(8) as usize)
                    .fold(0, |a, x| a + x)
                    .await;
                assert_eq!(sum, len * len.saturating_sub(1) / 2);
                items.fetch_add(len, SeqCst);
                // A stall detector reports a blocking poll (rarely, 300 us).
                let block = rng.one_in(50);
                let s = stalls.clone();
                async move {
                    if block {
                        std::thread::sleep(300 * US);
                    }
                    future::yield_now().await;
                }
                .detect_stalls(200 * US, move |_, _| {
                    s.fetch_add(1, SeqCst);
                })
                .await;
            }
        })
        .await;
        assert!(items.load(SeqCst) > 0 && rounds > 0);
        assert!(stalls.load(SeqCst) > 0, "no stall detected");
        let s = probe.stats();
        assert!(s.beats > 0 && s.p50 <= s.p99 && s.p99 <= s.worst, "{s:?}");
        probe.stop();
        beat.await;
    });
}

#[test]
fn budget_on_2_threads() {
    budget_stress(2);
}

#[test]
fn budget_on_4_threads() {
    budget_stress(4);
}

// ------------------------------------------------------------- offload ----

fn offload_stress(threads: usize) {
    use async_guard::offload::CpuPool;
    stress("offload", threads, move |ex| async move {
        let label = format!("offload on {threads} threads");
        let pool = CpuPool::builder().threads(2).max_waiting(64).build();
        let (submitted, shed, ran, panics_seen, results) =
            (counter(), counter(), counter(), counter(), counter());
        let p = pool.clone();
        let (su, sh, ra, pa, re) = (
            submitted.clone(),
            shed.clone(),
            ran.clone(),
            panics_seen.clone(),
            results.clone(),
        );
        waves(&ex, &label, move |i, mut rng| {
            let pool = p.clone();
            let (submitted, shed, ran, panics, results) =
                (su.clone(), sh.clone(), ra.clone(), pa.clone(), re.clone());
            async move {
                let ran2 = ran.clone();
                let panic = rng.one_in(100);
                let spin = rng.us(20);
                let work = move || {
                    let start = Instant::now();
                    while start.elapsed() < spin {
                        std::hint::spin_loop();
                    }
                    ran2.fetch_add(1, SeqCst);
                    assert!(!panic, "job panicked on purpose");
                    i
                };
                let job = if rng.one_in(2) {
                    match pool.try_run(work) {
                        Ok(job) => job,
                        Err(_) => {
                            shed.fetch_add(1, SeqCst);
                            return;
                        }
                    }
                } else {
                    pool.run(work)
                };
                submitted.fetch_add(1, SeqCst);
                if rng.one_in(4) {
                    // The caller gives up at a random point.
                    let gave_up = AssertUnwindSafe(job.timeout(rng.us(100)));
                    if gave_up.catch_unwind().await.is_err() {
                        panics.fetch_add(1, SeqCst);
                    }
                    return;
                }
                match AssertUnwindSafe(job).catch_unwind().await {
                    Ok(v) => {
                        assert_eq!(v, i);
                        results.fetch_add(1, SeqCst);
                    }
                    Err(_) => {
                        panics.fetch_add(1, SeqCst);
                    }
                }
            }
        })
        .await;
        let idle = support::eventually(Duration::from_secs(30), || {
            let s = pool.stats();
            s.running == 0 && s.waiting == 0
        });
        assert!(idle, "{:?}", pool.stats());
        let s = pool.stats();
        let submitted = submitted.load(SeqCst);
        assert_eq!(s.completed + s.panicked + s.cancelled, submitted, "{s:?}");
        assert_eq!(s.completed + s.panicked, ran.load(SeqCst), "{s:?}");
        assert_eq!(s.rejected, shed.load(SeqCst), "{s:?}");
        assert!(s.panicked >= panics_seen.load(SeqCst));
        assert!(results.load(SeqCst) <= s.completed);
        // At most threads + max_waiting jobs are admitted at once (the queue
        // may briefly hold more than 64 while a free thread has not yet
        // picked its job up).
        assert!(s.most_waiting <= 2 + 64, "{s:?}");
        // Every admission permit came back: 2 threads + 64 queued.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let held: Vec<_> = (0..66)
            .map(|_| {
                let rx = rx.clone();
                pool.try_run(move || {
                    let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
                })
                .expect("an admission permit leaked")
            })
            .collect();
        drop(tx);
        for h in held {
            h.await;
        }
    });
}

#[test]
fn offload_on_2_threads() {
    offload_stress(2);
}

#[test]
fn offload_on_4_threads() {
    offload_stress(4);
}

// -------------------------------------------------------------- reaper ----

fn reaper_stress(threads: usize) {
    use async_guard::reaper::Reaper;
    stress("reaper", threads, move |ex| async move {
        let label = format!("reaper on {threads} threads");
        let reaper = Reaper::builder(4 * MS).tick(3 * MS).build();
        let (spawned, finished, reaped) = (counter(), counter(), counter());
        let r = reaper.clone();
        let (sp, fi, re) = (spawned.clone(), finished.clone(), reaped.clone());
        waves(&ex, &label, move |_, mut rng| {
            let reaper = r.clone();
            let (spawned, finished, reaped) = (sp.clone(), fi.clone(), re.clone());
            async move {
                let kind = rng.below(4);
                let steps = rng.below(4);
                spawned.fetch_add(1, SeqCst);
                let task = reaper.track("t", move |activity| async move {
                    match kind {
                        // Idle forever: reaped.
                        0 => pending::<()>().await,
                        // Busy: touches and finishes.
                        _ => {
                            for _ in 0..steps {
                                Timer::after(200 * US).await;
                                activity.touch();
                            }
                        }
                    }
                });
                if rng.one_in(4) {
                    // Dropped by its caller at a random point.
                    let _ = task.timeout(rng.us(2000)).await;
                    return;
                }
                match task.await {
                    Ok(()) => finished.fetch_add(1, SeqCst),
                    Err(_) => reaped.fetch_add(1, SeqCst),
                };
            }
        })
        .await;
        let s = reaper.stats();
        assert_eq!(s.tracked, 0, "{s:?}");
        assert!(reaper.snapshot().is_empty());
        assert_eq!(s.total, spawned.load(SeqCst), "{s:?}");
        assert_eq!(
            s.total,
            s.finished + s.reaped + s.dropped + s.closed,
            "{s:?}"
        );
        assert_eq!(s.closed, 0);
        // Tasks dropped by a caller's timeout were counted as dropped or
        // finished or reaped; the ones awaited to the end match exactly
        // what their callers saw, or fewer than the totals.
        assert!(finished.load(SeqCst) <= s.finished, "{s:?}");
        assert!(reaped.load(SeqCst) <= s.reaped, "{s:?}");
        assert!(reaped.load(SeqCst) > 0 && finished.load(SeqCst) > 0);
    });
}

#[test]
fn reaper_on_2_threads() {
    reaper_stress(2);
}

#[test]
fn reaper_on_4_threads() {
    reaper_stress(4);
}

// -------------------------------------------------------------- shield ----

fn shield_stress(threads: usize) {
    use async_guard::shield::ShieldSet;
    stress("shield", threads, move |ex| async move {
        let label = format!("shield on {threads} threads");
        let e = ex.clone();
        let on_ex = ShieldSet::with_spawner(move |w| e.spawn(w).detach());
        let background = ShieldSet::new();
        let hook_saw = Arc::new(AtomicUsize::new(0));
        for set in [&on_ex, &background] {
            let h = hook_saw.clone();
            set.on_panic(move |_| {
                h.fetch_add(1, SeqCst);
            });
        }
        let (done, panicked_awaited) = (counter(), counter());
        let (sets, d, pa) = (
            [on_ex.clone(), background.clone()],
            done.clone(),
            panicked_awaited.clone(),
        );
        waves(&ex, &label, move |i, mut rng| {
            let set = sets[i % 2].clone();
            let (done, panicked_awaited) = (d.clone(), pa.clone());
            async move {
                let panic = rng.one_in(200);
                let wait = rng.us(500);
                let d = done.clone();
                let handle = set
                    .shield(async move {
                        Timer::after(wait).await;
                        assert!(!panic, "shielded work panicked on purpose");
                        d.fetch_add(1, SeqCst);
                        i
                    })
                    .unwrap();
                match rng.below(3) {
                    0 => drop(handle),
                    1 => {
                        // The caller gives up; the work does not.
                        let gave_up = AssertUnwindSafe(handle.timeout(rng.us(300)));
                        if gave_up.catch_unwind().await.is_err() {
                            panicked_awaited.fetch_add(1, SeqCst);
                        }
                    }
                    _ => match AssertUnwindSafe(handle).catch_unwind().await {
                        Ok(v) => assert_eq!(v, i),
                        Err(_) => {
                            panicked_awaited.fetch_add(1, SeqCst);
                        }
                    },
                }
            }
        })
        .await;
        for set in [&on_ex, &background] {
            let report = set.drain(Duration::from_secs(30)).await;
            assert!(report.is_complete(), "{report:?}");
        }
        let (a, b) = (on_ex.stats(), background.stats());
        let completed = a.completed + b.completed;
        let panicked = a.panicked + b.panicked;
        assert_eq!(completed, done.load(SeqCst), "{a:?} {b:?}");
        for s in [a, b] {
            assert_eq!(s.in_flight, 0, "{s:?}");
            assert_eq!(
                s.shielded,
                s.completed + s.panicked + s.expired + s.lost,
                "{s:?}"
            );
            assert_eq!((s.lost, s.expired, s.rejected), (0, 0, 0), "{s:?}");
        }
        let unobserved = a.unobserved_panics + b.unobserved_panics;
        assert_eq!(panicked, unobserved + panicked_awaited.load(SeqCst));
        assert_eq!(hook_saw.load(SeqCst) as u64, unobserved);
    });
}

#[test]
fn shield_on_2_threads() {
    shield_stress(2);
}

#[test]
fn shield_on_4_threads() {
    shield_stress(4);
}
