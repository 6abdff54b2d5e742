//! The one policy for a thread the OS refuses (`src/rt/thread.rs`, crate
//! docs "Background threads"), checked against a real refusal.
//!
//! A tiny C shim, compiled at test time with the system C compiler and
//! `LD_PRELOAD`ed into a child process, wraps `pthread_create`: it returns
//! `EAGAIN` (what a `ulimit -u` or a container's pid limit gives) while the
//! file named by [`FLAG_ENV`] exists. Each scenario runs in a fresh child
//! (this test binary re-executed with `--exact <child test>`), so the crate
//! has started none of its threads yet and their *first* start happens
//! during the shortage; the child creates the file to start the shortage
//! (after its watchdog thread runs) and deletes it to end it.
//!
//! What each scenario checks: the call that needs a thread returns at once
//! (the caller is not blocked) and the process burns no CPU while threads
//! are refused (nothing spins); the work waits and is not run inline; nothing
//! is created closed or disabled; once threads are available the work runs,
//! either by itself (the timer thread retries every 10 ms) or, when even the
//! timer thread could not start, at the next use; `blocking`'s pool is left
//! alone (issue 13, items 5 and 6).
//!
//! Without a C compiler (or off Linux) each test prints why and passes.

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use async_guard::offload::{self, offload};
use async_guard::reaper::{Reaper, Tracked};
use async_guard::shield::shield;
use async_guard::time::{self, timeout};
use futures_lite::future::{block_on, poll_once};

/// Names the flag file in the child; its presence also marks child mode.
const FLAG_ENV: &str = "ASYNC_GUARD_REFUSE_THREADS_WHILE";

/// A call that needs a thread must return within this while threads are
/// refused (the bug it guards against blocked the caller for seconds).
const NOT_BLOCKED: Duration = Duration::from_millis(100);

/// How long a shortage lasts in the scenarios.
const SHORTAGE: Duration = Duration::from_millis(300);

/// Generous bound for work to finish once threads are available again.
const RECOVERY: Duration = Duration::from_secs(10);

const SHIM_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* Refuses every new thread (EAGAIN, as RLIMIT_NPROC does) while the file
   named by $ASYNC_GUARD_REFUSE_THREADS_WHILE exists. */
int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                   void *(*start)(void *), void *arg) {
    static create_fn real;
    create_fn create = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!create) {
        create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        if (!create) return EAGAIN;
        __atomic_store_n(&real, create, __ATOMIC_RELEASE);
    }
    const char *flag = getenv("ASYNC_GUARD_REFUSE_THREADS_WHILE");
    if (flag && access(flag, F_OK) == 0) return EAGAIN;
    return create(thread, attr, start, arg);
}
"#;

// ---------------------------------------------------------------------------
// Parent side: build the shim, run one child test under it.
// ---------------------------------------------------------------------------

/// The shim, compiled once per test binary; `Err(why)` to skip.
fn shim() -> Result<&'static Path, &'static str> {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SHIM.get_or_init(build_shim)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(String::as_str)
}

fn build_shim() -> Result<PathBuf, String> {
    if !cfg!(target_os = "linux") {
        return Err("the pthread_create shim needs Linux (LD_PRELOAD, /proc)".into());
    }
    if cfg!(target_env = "musl") {
        return Err("musl binaries are static: LD_PRELOAD cannot wrap pthread_create".into());
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let so = dir.join("refuse_pthread_create.so");
    if so.to_string_lossy().contains([' ', ':']) {
        return Err(format!("{} cannot go in LD_PRELOAD", so.display()));
    }
    let pid = std::process::id();
    let src = dir.join(format!("refuse_pthread_create.{pid}.c"));
    let tmp = dir.join(format!("refuse_pthread_create.{pid}.so"));
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::write(&src, SHIM_C).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut last_err = String::new();
    // -ldl: needed before glibc 2.34, an empty stub after; retry without it
    // for C libraries that have no libdl at all.
    for libs in [&["-ldl"][..], &[]] {
        let out = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(libs)
            .output();
        match out {
            Err(e) => return Err(format!("no C compiler (`{cc}`: {e})")),
            Ok(out) if out.status.success() => {
                let _ = fs::remove_file(&src);
                // Atomic: another test binary may be loading the old copy.
                fs::rename(&tmp, &so).map_err(|e| format!("cannot rename the shim: {e}"))?;
                return Ok(so);
            }
            Ok(out) => last_err = String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    let _ = fs::remove_file(&src);
    Err(format!("`{cc}` could not build the shim: {last_err}"))
}

/// Runs the child test `name` in a fresh process with the shim preloaded.
fn run_child(name: &str, env: &[(&str, &str)]) {
    let shim = match shim() {
        Ok(shim) => shim,
        Err(why) => {
            // Straight to stderr: the harness captures `eprintln!` of
            // passing tests, and a skip must be seen.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED {name}: {why}");
            return;
        }
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let pid = std::process::id();
    let flag = dir.join(format!("refuse-{name}-{pid}.flag"));
    let out_path = dir.join(format!("refuse-{name}-{pid}.out"));
    let err_path = dir.join(format!("refuse-{name}-{pid}.err"));
    let _ = fs::remove_file(&flag);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(FLAG_ENV, &flag)
        .env("LD_PRELOAD", shim)
        .env("RUST_BACKTRACE", "1")
        .env_remove("ASYNC_GUARD_CPU_THREADS")
        .stdin(Stdio::null())
        // Files, not pipes: a pipe nobody reads while we wait could fill up.
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("re-executing the test binary");
    // The child has a watchdog of its own; this one catches a child that
    // hangs before it armed it.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = fs::remove_file(&flag);
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let err = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    let report = format!("--- child stdout ---\n{out}\n--- child stderr ---\n{err}");
    let status = status.unwrap_or_else(|| panic!("child `{name}` hung (killed)\n{report}"));
    assert!(
        status.success(),
        "child `{name}` failed: {status}\n{report}"
    );
    assert!(
        out.contains("test result: ok. 1 passed"),
        "child `{name}` did not run exactly one test\n{report}"
    );
    assert!(
        out.contains(&format!("child `{name}` done")),
        "child `{name}` returned without running its scenario\n{report}"
    );
}

// ---------------------------------------------------------------------------
// Child side.
// ---------------------------------------------------------------------------

/// The child's handle on the shortage and its watchdog.
struct Child {
    name: &'static str,
    flag: PathBuf,
    watchdog: mpsc::Sender<()>,
}

impl Child {
    /// `None` unless this process is a child (then the test returns at once).
    fn enter(name: &'static str) -> Option<Child> {
        let flag = PathBuf::from(std::env::var_os(FLAG_ENV)?);
        // Armed before the shortage: it needs a thread of its own.
        let (watchdog, done) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) =
                    done.recv_timeout(Duration::from_secs(60))
                {
                    eprintln!("watchdog: child `{name}` hung for 60 s");
                    std::process::exit(3);
                }
            })
            .expect("the watchdog starts before the shortage");
        eprintln!(
            "child `{name}` runs on thread {:?}",
            thread::current().name()
        );
        // A fresh process: none of the crate's threads exist yet, so their
        // first start happens inside the shortage.
        for prefix in ["guard-timer", "guard-runtime", "offload-", "blocking-"] {
            assert_eq!(threads_named(prefix), 0, "{prefix} already runs");
        }
        Some(Child {
            name,
            flag,
            watchdog,
        })
    }

    /// From now on every `pthread_create` of the process fails with EAGAIN.
    fn refuse_threads(&self) {
        fs::write(&self.flag, b"").unwrap();
        assert!(
            thread::Builder::new().spawn(|| {}).is_err(),
            "the LD_PRELOAD shim is not active: a thread started during the shortage"
        );
    }

    /// Ends the shortage.
    fn allow_threads(&self) {
        fs::remove_file(&self.flag).unwrap();
        thread::Builder::new()
            .spawn(|| {})
            .expect("threads start again after the shortage")
            .join()
            .unwrap();
    }

    fn done(self) {
        let _ = self.watchdog.send(());
        println!("child `{}` done", self.name);
    }
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// CPU time (user + system) of the whole process so far.
fn process_cpu_time() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name start at field 3 (state);
    // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on
    // Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

/// Runs `call` and asserts it returned without blocking its caller.
fn not_blocked<T>(what: &str, call: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = call();
    let took = start.elapsed();
    assert!(
        took < NOT_BLOCKED,
        "{what} blocked its caller for {took:?} while threads were refused"
    );
    out
}

/// Waits out the shortage (the main thread sleeps), asserting the process
/// used little CPU meanwhile: nothing spins on the refused thread.
fn wait_out_shortage() {
    let cpu = process_cpu_time();
    thread::sleep(SHORTAGE);
    let used = process_cpu_time().saturating_sub(cpu);
    eprintln!("CPU used during a {SHORTAGE:?} shortage: {used:?}");
    assert!(
        used < SHORTAGE / 3,
        "the process burnt {used:?} of CPU in a {SHORTAGE:?} shortage: something spins"
    );
}

/// Polls `fut` until it is ready; fails after [`RECOVERY`]. Polling from
/// here adds no "use" of the crate beyond what awaiting would do.
fn ready_within<F: Future + Unpin>(what: &str, fut: &mut F) -> F::Output {
    let start = Instant::now();
    loop {
        if let Some(out) = block_on(poll_once(&mut *fut)) {
            return out;
        }
        assert!(
            start.elapsed() < RECOVERY,
            "{what}: not done {RECOVERY:?} after the shortage"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Starts the timer thread before the shortage (for the scenarios where
/// its retry every 10 ms, not a later use, must bring the work back).
fn warm_up_timer() {
    block_on(time::sleep(Duration::from_millis(1)));
    assert_eq!(threads_named("guard-timer"), 1);
}

/// Item 5: `blocking`'s pool was never borrowed; two `unblock` jobs that
/// must run at the same time (a rendezvous) both finish.
fn unblock_still_works() {
    let met = Arc::new(Rendezvous::default());
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let (met, tx) = (met.clone(), tx.clone());
        thread::spawn(move || {
            let r = block_on(offload::unblock(move || met.arrive(2)));
            let _ = tx.send(r);
        });
    }
    for _ in 0..2 {
        let met = rx
            .recv_timeout(RECOVERY)
            .expect("unblock never ran after the shortage: blocking's pool is held");
        assert!(met, "two unblock jobs could not run at once");
    }
}

/// `arrive(n)`: counts in, waits (bounded) until `n` arrived.
#[derive(Default)]
struct Rendezvous {
    count: Mutex<usize>,
    all_in: Condvar,
}

impl Rendezvous {
    fn arrive(&self, n: usize) -> bool {
        let mut count = self.count.lock().unwrap();
        *count += 1;
        self.all_in.notify_all();
        let (count, _) = self
            .all_in
            .wait_timeout_while(count, Duration::from_secs(5), |c| *c < n)
            .unwrap();
        *count >= n
    }
}

// --- (a) shield -------------------------------------------------------------

/// Shields two pieces of work while threads are refused: one awaited
/// later, one detached. Returns the handle and the channel both report on.
fn shield_during_shortage() -> (
    async_guard::Shielded<String>,
    mpsc::Receiver<(&'static str, String)>,
) {
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let handle = not_blocked("shield()", || {
        shield(async move {
            let name = thread::current().name().unwrap_or("").to_string();
            let _ = tx.send(("awaited", name.clone()));
            name
        })
    });
    not_blocked("shield() (detached)", || {
        drop(shield(async move {
            let name = thread::current().name().unwrap_or("").to_string();
            let _ = tx2.send(("detached", name));
        }))
    });
    (handle, rx)
}

fn assert_shielded_work_ran(
    handle: async_guard::Shielded<String>,
    rx: &mpsc::Receiver<(&'static str, String)>,
) {
    // The detached work moved to the background executor, which runs it
    // once its thread could start.
    let (which, name) = rx
        .recv_timeout(RECOVERY)
        .expect("detached shielded work did not run after the shortage");
    assert_eq!((which, name.as_str()), ("detached", "guard-runtime"));
    // The awaited work is driven by its caller (no thread needed at all):
    // it runs when the handle is polled, on the caller's thread.
    let mut handle = handle;
    let ran_on = ready_within("the shield handle", &mut handle);
    assert_ne!(ran_on, "guard-runtime");
    let (which, name) = rx.recv_timeout(RECOVERY).expect("awaited work reported");
    assert_eq!((which, name), ("awaited", ran_on));
}

#[test]
fn shield_waits_out_a_shortage_then_runs_by_the_timer_retry() {
    run_child("child_shield_timer_retry", &[]);
}

#[test]
fn child_shield_timer_retry() {
    let Some(child) = Child::enter("child_shield_timer_retry") else {
        return;
    };
    warm_up_timer();
    child.refuse_threads();
    let (handle, rx) = shield_during_shortage();
    wait_out_shortage();
    assert!(
        !handle.is_finished(),
        "shielded work ran during the shortage"
    );
    assert!(
        rx.try_recv().is_err(),
        "shielded work ran during the shortage"
    );
    assert_eq!(threads_named("guard-runtime"), 0);
    child.allow_threads();
    // No further call into the crate: the timer thread's retry starts the
    // executor thread.
    assert_shielded_work_ran(handle, &rx);
    assert_eq!(threads_named("guard-runtime"), 1);
    unblock_still_works();
    child.done();
}

#[test]
fn shield_waits_out_a_cold_shortage_then_runs_at_the_next_use() {
    run_child("child_shield_next_use", &[]);
}

#[test]
fn child_shield_next_use() {
    let Some(child) = Child::enter("child_shield_next_use") else {
        return;
    };
    // Not even the timer thread can start: nothing can retry on its own,
    // so the next use of the crate does.
    child.refuse_threads();
    let (handle, rx) = shield_during_shortage();
    wait_out_shortage();
    assert!(
        !handle.is_finished(),
        "shielded work ran during the shortage"
    );
    assert!(
        rx.try_recv().is_err(),
        "shielded work ran during the shortage"
    );
    child.allow_threads();
    // An awaited shield needs no thread (its caller drives it)...
    let mut next = shield(async { 7 });
    assert_eq!(ready_within("shield after the shortage", &mut next), 7);
    // ...the next one that moves work to the background starts the thread.
    let (tx, moved) = mpsc::channel();
    drop(shield(async move {
        let _ = tx.send(());
    }));
    moved
        .recv_timeout(RECOVERY)
        .expect("work moved after the shortage did not run");
    assert_shielded_work_ran(handle, &rx);
    unblock_still_works();
    child.done();
}

// --- (b) reaper -------------------------------------------------------------

/// Builds a reaper while threads are refused and checks it is not closed:
/// a task that finishes by itself gets its output, not `Reaped{closed}`.
fn reaper_during_shortage() -> Reaper {
    let reaper = not_blocked("Reaper::new", || Reaper::new(Duration::from_millis(50)));
    assert!(
        !reaper.is_closed(),
        "a reaper built in a shortage is closed"
    );
    let quick = reaper.track("quick", |activity| async move {
        activity.touch();
        5
    });
    match block_on(quick) {
        Ok(n) => assert_eq!(n, 5),
        Err(e) => panic!("a task of a reaper built in a shortage ended with {e:?}"),
    }
    reaper
}

/// Tracks a task that never touches its activity and waits (bounded) for
/// it to be reaped for idleness.
fn assert_reaps_idle_task(reaper: &Reaper, idle: Tracked<std::future::Pending<()>>) {
    let started = Instant::now();
    let mut idle = Box::pin(idle);
    let reaped = match ready_within("the idle tracked task", &mut idle) {
        Ok(_) => panic!("a never-ending task ended"),
        Err(e) => e,
    };
    assert!(!reaped.is_closed(), "reaped by close, not for idleness");
    assert!(
        reaped.idle_for() >= reaper.ttl(),
        "{reaped:?} before its ttl"
    );
    assert!(started.elapsed() < RECOVERY);
    assert!(!reaper.is_closed());
}

fn idle_task(reaper: &Reaper, name: &str) -> Tracked<std::future::Pending<()>> {
    reaper.track(name, |_activity| std::future::pending::<()>())
}

#[test]
fn reaper_built_in_a_shortage_is_not_closed_and_reaps_after_it() {
    run_child("child_reaper_timer_retry", &[]);
}

#[test]
fn child_reaper_timer_retry() {
    let Some(child) = Child::enter("child_reaper_timer_retry") else {
        return;
    };
    warm_up_timer();
    child.refuse_threads();
    let reaper = reaper_during_shortage();
    let mut idle = Box::pin(idle_task(&reaper, "idle"));
    assert!(block_on(poll_once(idle.as_mut())).is_none());
    wait_out_shortage();
    // The driver could not run: the idle task is not reaped yet, and it
    // must not have been ended as closed either.
    assert!(block_on(poll_once(idle.as_mut())).is_none());
    assert_eq!(threads_named("guard-runtime"), 0);
    child.allow_threads();
    let reaped = match ready_within("the idle task", &mut idle) {
        Ok(()) => unreachable!(),
        Err(e) => e,
    };
    assert!(!reaped.is_closed(), "reaped by close, not for idleness");
    assert!(reaped.idle_for() >= reaper.ttl());
    // Item 6: a reaper built later is not created closed either.
    let later = Reaper::new(Duration::from_millis(30));
    assert!(!later.is_closed());
    assert_reaps_idle_task(&later, idle_task(&later, "later"));
    child.done();
}

#[test]
fn reaper_built_in_a_cold_shortage_reaps_after_the_next_use() {
    run_child("child_reaper_next_use", &[]);
}

#[test]
fn child_reaper_next_use() {
    let Some(child) = Child::enter("child_reaper_next_use") else {
        return;
    };
    child.refuse_threads();
    let reaper = reaper_during_shortage();
    let idle = idle_task(&reaper, "idle");
    wait_out_shortage();
    child.allow_threads();
    // The next use: another reaper (its driver starts the executor thread,
    // which also runs the first reaper's driver).
    let later = Reaper::new(Duration::from_millis(30));
    assert!(
        !later.is_closed(),
        "a reaper built after a shortage is closed"
    );
    assert_reaps_idle_task(&later, idle_task(&later, "later"));
    assert_reaps_idle_task(&reaper, idle);
    child.done();
}

// --- (c) CPU pool -----------------------------------------------------------

/// Where a job ran.
type Ran = Arc<Mutex<Option<(thread::ThreadId, String)>>>;

fn record(ran: &Ran) {
    let me = thread::current();
    *ran.lock().unwrap() = Some((me.id(), me.name().unwrap_or("").to_string()));
}

fn assert_ran_on_pool(ran: &Ran, caller: thread::ThreadId) {
    let (id, name) = ran.lock().unwrap().clone().expect("the job ran");
    assert_ne!(id, caller, "the job ran inline on its caller's thread");
    assert!(name.starts_with("offload-"), "the job ran on `{name}`");
}

#[test]
fn offload_during_a_shortage_waits_for_a_pool_thread() {
    run_child(
        "child_offload_timer_retry",
        &[("ASYNC_GUARD_CPU_THREADS", "2")],
    );
}

#[test]
fn child_offload_timer_retry() {
    let Some(child) = Child::enter("child_offload_timer_retry") else {
        return;
    };
    warm_up_timer();
    child.refuse_threads();
    let caller = thread::current().id();
    // Two jobs that must run at the same time: once the shortage ends the
    // pool grows back to its two threads, not to one.
    let met = Arc::new(Rendezvous::default());
    let mut jobs: Vec<_> = (0..2)
        .map(|_| {
            let (met, ran) = (met.clone(), Ran::default());
            let ran2 = ran.clone();
            let mut job = not_blocked("offload()", || {
                let mut job = Box::pin(offload(move || {
                    record(&ran2);
                    met.arrive(2)
                }));
                // The first poll neither blocks nor runs the job inline.
                assert!(block_on(poll_once(job.as_mut())).is_none());
                job
            });
            assert!(block_on(poll_once(job.as_mut())).is_none());
            (job, ran)
        })
        .collect();
    wait_out_shortage();
    for (job, ran) in &mut jobs {
        assert!(block_on(poll_once(job.as_mut())).is_none());
        assert!(ran.lock().unwrap().is_none(), "the job ran in the shortage");
    }
    assert_eq!(threads_named("offload-"), 0);
    child.allow_threads();
    // No further call into the crate: the timer thread's retry starts the
    // pool's workers.
    for (job, ran) in &mut jobs {
        let met = ready_within("an offloaded job", job);
        assert!(
            met,
            "the two jobs did not run at once: the pool did not grow back"
        );
        assert_ran_on_pool(ran, caller);
    }
    assert_eq!(async_guard::CpuPool::global().stats().threads, 2);
    child.done();
}

#[test]
fn offload_during_a_cold_shortage_runs_after_the_next_use() {
    run_child("child_offload_next_use", &[]);
}

#[test]
fn child_offload_next_use() {
    let Some(child) = Child::enter("child_offload_next_use") else {
        return;
    };
    child.refuse_threads();
    let caller = thread::current().id();
    let ran = Ran::default();
    let ran2 = ran.clone();
    let mut job = not_blocked("offload()", || {
        let mut job = Box::pin(offload(move || {
            record(&ran2);
            6 * 7
        }));
        assert!(block_on(poll_once(job.as_mut())).is_none());
        job
    });
    wait_out_shortage();
    assert!(ran.lock().unwrap().is_none(), "the job ran in the shortage");
    child.allow_threads();
    let mut next = Box::pin(offload(|| 1));
    assert_eq!(ready_within("offload after the shortage", &mut next), 1);
    assert_eq!(ready_within("the job queued in the shortage", &mut job), 42);
    assert_ran_on_pool(&ran, caller);
    child.done();
}

// --- (d) timer --------------------------------------------------------------

#[test]
fn first_timeout_in_a_shortage_does_not_panic_and_fires_after_it() {
    run_child("child_timer", &[]);
}

#[test]
fn child_timer() {
    let Some(child) = Child::enter("child_timer") else {
        return;
    };
    const D: Duration = Duration::from_millis(400);
    // A waiter on a thread of its own, started before the shortage; it
    // arms its timeout during the shortage and is never polled by anyone
    // else: only the timer can wake it.
    let (go, start_waiting) = mpsc::channel::<()>();
    let (report, waited) = mpsc::channel();
    let (armed, is_armed) = mpsc::channel::<()>();
    thread::spawn(move || {
        start_waiting.recv().unwrap();
        let start = Instant::now();
        let mut t = Box::pin(timeout(D, std::future::pending::<()>()));
        assert!(block_on(poll_once(t.as_mut())).is_none());
        armed.send(()).unwrap();
        let r = block_on(t);
        let _ = report.send((r.is_err(), start.elapsed()));
    });
    child.refuse_threads();
    assert_eq!(threads_named("guard-timer"), 0);
    // The first timeout of the process: the timer thread cannot start.
    let start = Instant::now();
    let mut main = not_blocked("the first poll of a timeout", || {
        let mut t = Box::pin(timeout(D, std::future::pending::<()>()));
        assert!(block_on(poll_once(t.as_mut())).is_none());
        t
    });
    let mut short = not_blocked("a time::sleep", || {
        let mut s = Box::pin(time::sleep(Duration::from_millis(20)));
        assert!(block_on(poll_once(s.as_mut())).is_none());
        s
    });
    go.send(()).unwrap();
    is_armed.recv_timeout(RECOVERY).unwrap();
    wait_out_shortage();
    assert_eq!(threads_named("guard-timer"), 0);
    child.allow_threads();
    // A sleep that ran out during the shortage is ready at once (late).
    ready_within("a sleep due during the shortage", &mut short);
    // This poll is the next use: the timer thread starts and serves the
    // registrations made during the shortage.
    let r = ready_within("the first timeout", &mut main);
    let took = start.elapsed();
    assert!(r.is_err(), "the pending future completed");
    assert!(took >= D, "the timeout fired early, after {took:?}");
    let (fired, waited_for) = waited
        .recv_timeout(RECOVERY)
        .expect("a timeout armed during the shortage never fired");
    assert!(fired);
    assert!(waited_for >= D, "fired early, after {waited_for:?}");
    assert_eq!(threads_named("guard-timer"), 1);
    child.done();
}

// --- the timer thread is started once ---------------------------------------

#[test]
fn racing_first_timeouts_start_one_timer_thread() {
    run_child("child_one_timer_thread", &[]);
}

/// No shortage here, only a fresh process: the first timeouts of eight
/// threads race to start the timer thread. It used to be possible to start
/// two: the starter cleared its "starting" flag before the new thread had
/// published itself.
#[test]
fn child_one_timer_thread() {
    let Some(child) = Child::enter("child_one_timer_thread") else {
        return;
    };
    let go = Arc::new(std::sync::Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let go = go.clone();
            thread::spawn(move || {
                go.wait();
                for _ in 0..20 {
                    block_on(time::sleep(Duration::from_micros(100)));
                }
            })
        })
        .collect();
    for racer in racers {
        racer.join().unwrap();
    }
    assert_eq!(
        threads_named("guard-timer"),
        1,
        "more than one timer thread"
    );
    child.done();
}
