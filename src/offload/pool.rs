//! [`CpuPool`]: a fixed-size set of threads fed by one FIFO queue.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::Duration;

use async_lock::Semaphore;

use super::task::{Offload, Runnable};
use crate::Overloaded;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// The most threads a pool will start, whatever it is asked for.
pub(crate) const MAX_THREADS: usize = 1024;

/// The environment variable that sets the default thread count.
pub(crate) const THREADS_ENV: &str = "ASYNC_GUARD_CPU_THREADS";

const DEFAULT_NAME: &str = "offload";

/// A bounded pool of threads for CPU-bound work.
///
/// At most [`threads`](CpuPool::threads) jobs run at once, whatever the
/// load; the rest wait in one FIFO queue. Threads are started on demand (up
/// to that number) and then kept until the pool shuts down.
///
/// `CpuPool` is a cheap handle: clones share the pool. When the last handle
/// (and the last [`Offload`] still waiting for admission) is dropped, the
/// pool **shuts down gracefully**: jobs already queued still run and their
/// callers get their results, then the threads exit. Dropping a handle never
/// blocks. To abandon queued work instead, drop its [`Offload`] futures: a
/// job whose future is gone before it started is skipped.
///
/// # Examples
///
/// ```
/// use async_guard::offload::CpuPool;
/// # futures_lite::future::block_on(async {
/// let pool = CpuPool::builder().threads(2).max_waiting(100).name("asr").build();
/// let model = pool.run(|| "ASR Client Created").await;
/// assert_eq!(model, "ASR Client Created");
/// assert_eq!(pool.stats().completed, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct CpuPool {
    handle: Arc<Handle>,
}

/// Closes the pool when the last [`CpuPool`] clone is dropped.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// Configures a [`CpuPool`]; created by [`CpuPool::builder`].
///
/// Every setting has a safe default and every value is accepted (see each
/// method for how odd values are treated); [`build`](CpuPoolBuilder::build) never
/// fails and never panics.
///
/// # Examples
///
/// ```
/// use async_guard::offload::CpuPool;
/// let pool = CpuPool::builder().threads(4).max_waiting(64).name("decode").build();
/// assert_eq!(pool.threads(), 4);
/// assert_eq!(pool.max_waiting(), Some(64));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()`"]
pub struct CpuPoolBuilder {
    threads: Option<usize>,
    max_waiting: Option<usize>,
    name: Option<String>,
}

impl CpuPoolBuilder {
    /// The number of threads, i.e. the most jobs that run at once.
    ///
    /// Default: one per core, or `ASYNC_GUARD_CPU_THREADS` (see the module docs, "Sizing"). `0` is treated as `1` (a pool must be
    /// able to make progress); more than 1024 is clamped to 1024.
    ///
    /// ```
    /// use async_guard::offload::CpuPool;
    /// assert_eq!(CpuPool::builder().threads(0).build().threads(), 1);
    /// ```
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Load shedding: how many jobs may wait for a thread once all threads
    /// are busy. With `m` jobs waiting, [`CpuPool::try_run`] returns
    /// `Err(Overloaded)` at once and [`CpuPool::run`] waits for room
    /// (backpressure) before it queues its job.
    ///
    /// Default: unbounded. `0` means "only when a thread is free".
    /// Values so large that `threads + m` would not fit in a `usize` mean
    /// unbounded.
    ///
    /// ```
    /// use async_guard::offload::CpuPool;
    /// let pool = CpuPool::builder().threads(1).max_waiting(0).build();
    /// assert_eq!(pool.max_waiting(), Some(0));
    /// ```
    pub fn max_waiting(mut self, max_waiting: usize) -> Self {
        self.max_waiting = Some(max_waiting);
        self
    }

    /// The thread name prefix: threads are called `"{name}-{index}"`
    /// (default `"offload"`). Linux shows the first 15 bytes. Interior NUL
    /// characters, which thread names cannot hold, are removed.
    ///
    /// ```
    /// use async_guard::offload::CpuPool;
    /// assert_eq!(CpuPool::builder().name("asr").build().name(), "asr");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Creates the pool. No thread starts until the first job arrives.
    ///
    /// ```
    /// let pool = async_guard::offload::CpuPool::builder().build();
    /// assert_eq!(pool.stats().threads, 0); // started on demand
    /// ```
    pub fn build(self) -> CpuPool {
        let threads = self
            .threads
            .unwrap_or_else(default_threads)
            .clamp(1, MAX_THREADS);
        let max_waiting = self
            .max_waiting
            .filter(|m| threads.checked_add(*m).is_some_and(|c| c < usize::MAX / 2));
        let name: String = self
            .name
            .unwrap_or_else(|| DEFAULT_NAME.into())
            .replace('\0', "");
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            stats: Counters::default(),
            threads,
            max_waiting,
            admission: max_waiting.map(|m| Arc::new(Semaphore::new(threads + m))),
            name,
        });
        CpuPool {
            handle: Arc::new(Handle { shared }),
        }
    }
}

/// The default thread count: the value of the `ASYNC_GUARD_CPU_THREADS`
/// environment variable if it is a positive integer, else
/// [`std::thread::available_parallelism`] (1 if even that is unknown);
/// clamped to [`MAX_THREADS`]. The variable is read on each call; the
/// process-wide pool behind [`offload`](super::offload) calls it once, on
/// first use.
pub(crate) fn default_threads() -> usize {
    parse_threads(std::env::var(THREADS_ENV).ok().as_deref())
}

/// `ASYNC_GUARD_CPU_THREADS` parsing: garbage, empty and `0` fall back to
/// the number of cores.
pub(crate) fn parse_threads(value: Option<&str>) -> usize {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(MAX_THREADS)
}

impl CpuPool {
    /// Starts configuring a pool.
    ///
    /// ```
    /// let pool = async_guard::offload::CpuPool::builder().threads(2).build();
    /// # let _ = pool;
    /// ```
    pub fn builder() -> CpuPoolBuilder {
        CpuPoolBuilder::default()
    }

    /// The process-wide pool used by [`offload`](super::offload): created on
    /// first use with one thread per core (see the module docs, "Sizing"), unbounded queue, threads
    /// named `offload-N`; it lives as long as the process.
    ///
    /// ```
    /// use async_guard::offload::{offload, CpuPool};
    /// # futures_lite::future::block_on(async {
    /// offload(|| ()).await;
    /// assert!(CpuPool::global().stats().completed >= 1);
    /// # });
    /// ```
    pub fn global() -> &'static CpuPool {
        static GLOBAL: OnceLock<CpuPool> = OnceLock::new();
        GLOBAL.get_or_init(|| CpuPool::builder().build())
    }

    /// Runs `work` on the pool and resolves to its result.
    ///
    /// The job is queued at once (it starts even if the future is not yet
    /// polled); only when [`max_waiting`](CpuPoolBuilder::max_waiting) jobs already
    /// wait does the returned future first wait, while polled, for room
    /// (backpressure; admission is not strictly FIFO). See [`Offload`] for
    /// panics and cancellation.
    ///
    /// ```
    /// use async_guard::offload::CpuPool;
    /// # futures_lite::future::block_on(async {
    /// let pool = CpuPool::builder().threads(1).build();
    /// assert_eq!(pool.run(|| 6 * 7).await, 42);
    /// # });
    /// ```
    pub fn run<F, T>(&self, work: F) -> Offload<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Offload::new(self, work)
    }

    /// Queues `work` right now, or returns `Err(Overloaded)` at once when
    /// [`max_waiting`](CpuPoolBuilder::max_waiting) jobs already wait (load
    /// shedding). Without `max_waiting` it always succeeds.
    ///
    /// Dropping the returned future before the job started cancels it.
    ///
    /// ```
    /// use async_guard::offload::CpuPool;
    /// # futures_lite::future::block_on(async {
    /// let pool = CpuPool::builder().threads(1).max_waiting(0).build();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.try_run(move || rx.recv().unwrap()).unwrap(); // takes the only thread
    /// assert!(pool.try_run(|| ()).is_err()); // no thread free, no queue: shed
    /// tx.send(()).unwrap();
    /// busy.await;
    /// assert_eq!(pool.stats().rejected, 1);
    /// # });
    /// ```
    pub fn try_run<F, T>(&self, work: F) -> Result<Offload<T>, Overloaded>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = match self.shared().admission() {
            None => None,
            Some(admission) => match admission.try_acquire_arc() {
                Some(permit) => Some(permit),
                None => {
                    self.shared().stats.rejected.fetch_add(1, Relaxed);
                    // Counted before the event: no lock while a subscriber runs.
                    #[cfg(feature = "tracing")]
                    let waiting = self.shared().lock().jobs.len();
                    crate::trace::event!("async_guard::offload", WARN, "pool queue full";
                        pool = %self.shared().name, waiting);
                    return Err(Overloaded::new());
                }
            },
        };
        Ok(Offload::queued_now(self, work, permit))
    }

    /// The most jobs that run at once (the thread count it was built with).
    ///
    /// ```
    /// # use async_guard::offload::CpuPool;
    /// assert_eq!(CpuPool::builder().threads(3).build().threads(), 3);
    /// ```
    pub fn threads(&self) -> usize {
        self.shared().threads
    }

    /// The waiting-job limit, `None` when unbounded.
    ///
    /// ```
    /// # use async_guard::offload::CpuPool;
    /// assert_eq!(CpuPool::builder().build().max_waiting(), None);
    /// ```
    pub fn max_waiting(&self) -> Option<usize> {
        self.shared().max_waiting
    }

    /// The thread name prefix.
    ///
    /// ```
    /// # use async_guard::offload::CpuPool;
    /// assert_eq!(CpuPool::builder().build().name(), "offload");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// A snapshot of the pool's counters (each read separately, so under
    /// load they need not add up exactly).
    ///
    /// ```
    /// use async_guard::offload::CpuPool;
    /// # futures_lite::future::block_on(async {
    /// let pool = CpuPool::builder().threads(1).build();
    /// pool.run(|| ()).await;
    /// let s = pool.stats();
    /// assert_eq!((s.threads, s.running, s.waiting, s.completed), (1, 0, 0, 1));
    /// # });
    /// ```
    pub fn stats(&self) -> PoolStats {
        let shared = self.shared();
        let c = &shared.stats;
        PoolStats {
            threads: shared.lock().workers,
            max_threads: shared.threads,
            running: c.running.load(Relaxed),
            waiting: c.queued.load(Relaxed),
            completed: c.completed.load(Relaxed),
            panicked: c.panicked.load(Relaxed),
            cancelled: c.cancelled.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            most_waiting: c.most_waiting.load(Relaxed),
            busy_time: Duration::from_nanos(c.busy_nanos.load(Relaxed)),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }
}

impl fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuPool")
            .field("name", &self.name())
            .field("threads", &self.threads())
            .field("max_waiting", &self.max_waiting())
            .finish()
    }
}

/// Counters of a [`CpuPool`]; see [`CpuPool::stats`].
///
/// ```
/// # use async_guard::offload::CpuPool;
/// let s = CpuPool::builder().build().stats();
/// assert_eq!(s.completed + s.panicked + s.cancelled + s.rejected, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Live pool threads right now (started on demand, up to `max_threads`).
    pub threads: usize,
    /// The most threads (and running jobs) the pool allows.
    pub max_threads: usize,
    /// Jobs running right now.
    pub running: usize,
    /// Jobs waiting for a thread right now (cancelled ones are not counted).
    pub waiting: usize,
    /// Jobs that returned normally.
    pub completed: u64,
    /// Jobs whose work panicked (the panic went to the caller).
    pub panicked: u64,
    /// Jobs skipped because their caller dropped the future before they
    /// started (queued, or still waiting for admission).
    pub cancelled: u64,
    /// [`try_run`](CpuPool::try_run) calls shed with `Overloaded`.
    pub rejected: u64,
    /// The longest the queue has been (high-water mark of `waiting`).
    pub most_waiting: usize,
    /// Total time pool threads spent running jobs.
    pub busy_time: Duration,
}

/// The state shared by the handles, the futures and the worker threads.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the pool closes.
    ready: Condvar,
    pub(crate) stats: Counters,
    threads: usize,
    max_waiting: Option<usize>,
    /// `threads + max_waiting` permits: one per admitted job, released
    /// when the job ends.
    admission: Option<Arc<Semaphore>>,
    name: String,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Arc<dyn Runnable>>,
    /// Live worker threads.
    workers: usize,
    /// Workers blocked waiting for a job.
    idle: usize,
    /// Threads ever started (names them).
    started: usize,
    /// A retry of a refused worker start is queued (one is enough).
    retrying: bool,
    closed: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    running: AtomicUsize,
    queued: AtomicUsize,
    most_waiting: AtomicUsize,
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    rejected: AtomicU64,
    busy_nanos: AtomicU64,
}

impl Counters {
    pub(crate) fn started(&self) {
        self.queued.fetch_sub(1, Relaxed);
        self.running.fetch_add(1, Relaxed);
    }

    pub(crate) fn finished(&self, took: Duration, panicked: bool) {
        self.running.fetch_sub(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos.fetch_add(nanos, Relaxed);
        let counter = if panicked {
            &self.panicked
        } else {
            &self.completed
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A queued job was cancelled before it started.
    pub(crate) fn skipped(&self) {
        self.queued.fetch_sub(1, Relaxed);
        self.cancelled.fetch_add(1, Relaxed);
    }

    /// A job still waiting for admission was dropped (it never queued).
    pub(crate) fn skipped_before_admission(&self) {
        self.cancelled.fetch_add(1, Relaxed);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Jobs run outside the lock and the queue is never left
        // half-updated, so a poisoned lock is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn admission(&self) -> Option<&Arc<Semaphore>> {
        self.admission.as_ref()
    }

    /// Queues a job; starts a thread if none is free and the pool may grow.
    pub(crate) fn push(self: &Arc<Self>, job: Arc<dyn Runnable>) {
        // Count before the job is visible, so a worker's decrement never
        // comes first.
        let queued = self.stats.queued.fetch_add(1, Relaxed) + 1;
        self.stats.most_waiting.fetch_max(queued, Relaxed);
        let (wake, spawn) = {
            let mut q = self.lock();
            q.jobs.push_back(job);
            let grow = q.jobs.len() > q.idle && q.workers < self.threads;
            if grow {
                q.workers += 1;
                q.started += 1;
            }
            (q.idle > 0, grow.then_some(q.started - 1))
        };
        // Notify after unlocking, so the woken worker does not at once
        // block on the lock we still hold.
        if wake {
            self.ready.notify_one();
        }
        if let Some(index) = spawn {
            self.spawn_worker(index);
        }
    }

    fn spawn_worker(self: &Arc<Self>, index: usize) {
        let shared = self.clone();
        let name = format!("{}-{index}", self.name);
        if crate::rt::thread::spawn(name, move || shared.work()) {
            return;
        }
        // The OS refused a thread: the job stays queued (never run inline:
        // that would freeze the caller's event loop, the very thing this
        // pool exists to prevent). Other workers will take it, and grow the
        // pool back as they pick jobs up (`work`); if there are none, the
        // start is retried until one runs (`crate::rt::thread`). One retry
        // at a time: one per refused job would try to start a thread per
        // queued job on every retry pass.
        let retry = {
            let mut q = self.lock();
            q.workers -= 1;
            let retry = q.workers == 0 && !q.jobs.is_empty() && !q.retrying;
            q.retrying |= retry;
            retry
        };
        if retry {
            let pool = Arc::downgrade(self);
            crate::rt::thread::retry_later(move || match pool.upgrade() {
                Some(pool) => pool.respawn(),
                None => true, // the pool is gone: nothing to start
            });
        }
    }

    /// For a retry after a refused thread: starts a worker if jobs wait and
    /// none runs. `true` once no retry is needed.
    fn respawn(self: &Arc<Self>) -> bool {
        let index = {
            let mut q = self.lock();
            if q.workers > 0 || q.jobs.is_empty() {
                // A worker runs (it grows the pool as it takes jobs), or
                // there is nothing to run.
                q.retrying = false;
                return true;
            }
            q.workers += 1;
            q.started += 1;
            q.started - 1
        };
        let shared = self.clone();
        let name = format!("{}-{index}", self.name);
        let started = crate::rt::thread::spawn(name, move || shared.work());
        let mut q = self.lock();
        if started {
            q.retrying = false;
        } else {
            q.workers -= 1;
        }
        started
    }

    /// A worker thread's loop: run jobs until the pool is closed and empty.
    fn work(self: &Arc<Self>) {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.jobs.pop_front() {
                // Jobs still wait and no thread is free: grow as `push`
                // does. Only after refused starts (or a retry that started
                // one worker for a backlog) does `push` leave this to do.
                let grow = q.jobs.len() > q.idle && q.workers < self.threads;
                if grow {
                    q.workers += 1;
                    q.started += 1;
                }
                let index = q.started - 1;
                drop(q);
                if grow {
                    self.spawn_worker(index);
                }
                // `run` catches the work's panic; this also guards against
                // a panicking waker, so the thread always survives.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| job.run()));
                drop(job);
                q = self.lock();
            } else if q.closed {
                break;
            } else {
                q.idle += 1;
                q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
                q.idle -= 1;
            }
        }
        q.workers -= 1;
    }

    /// The last handle is gone: let the workers drain the queue and exit.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}
