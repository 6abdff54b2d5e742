//! [`Reaper`], its [`ReaperBuilder`], and what it reports ([`ReaperStats`], [`TaskInfo`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::activity::Activity;
use super::driver;
use super::pace::Pace;
use super::shared::{OnReap, Shared};
use super::tracked::{Idle, Tracked};

/// Watches tasks for activity and cancels the ones idle longer than its
/// time-to-live; see the [module docs](super).
///
/// Cheap to clone (all clones are the same reaper). It drives itself on a
/// background thread; dropping the last clone, or [`close`](Reaper::close),
/// stops it and ends every task still tracked with `Err(Reaped)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::reaper::Reaper;
/// # futures_lite::future::block_on(async {
/// let reaper = Reaper::new(Duration::from_millis(50));
/// let busy = reaper.track("busy", |activity| async move {
///     for _ in 0..10 {
///         async_io::Timer::after(Duration::from_millis(10)).await;
///         activity.touch();
///     }
///     "kept alive"
/// });
/// let idle = reaper.track("idle", |_activity| std::future::pending::<&str>());
/// let (busy, idle) = futures_lite::future::zip(busy, idle).await;
/// assert_eq!(busy.unwrap(), "kept alive");
/// assert_eq!(idle.unwrap_err().name(), "idle");
/// assert_eq!(reaper.stats().reaped, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct Reaper {
    owner: Arc<Owner>,
}

/// Closes the reaper when the last [`Reaper`] clone goes away (the driver,
/// the tasks and the `Activity` handles only hold `Shared`).
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl Reaper {
    /// A reaper that cancels tasks idle for longer than `ttl`, with the
    /// default tick (`ttl / 16`, at least 3 ms).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// assert_eq!(reaper.ttl(), Duration::from_secs(5));
    /// ```
    pub fn new(ttl: Duration) -> Self {
        ReaperBuilder::new(ttl).build()
    }

    /// A [`ReaperBuilder`] to set the tick, a name or an `on_reap` hook.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::builder(Duration::from_secs(5))
    ///     .tick(Duration::from_millis(100))
    ///     .name("sessions")
    ///     .on_reap(|name, idle| eprintln!("reaped {name} after {idle:?}"))
    ///     .build();
    /// assert_eq!(reaper.tick(), Duration::from_millis(100));
    /// ```
    pub fn builder(ttl: Duration) -> ReaperBuilder {
        ReaperBuilder::new(ttl)
    }

    /// Runs the future made by `task(activity)` under watch: it must call
    /// [`Activity::touch`] at least once per `ttl`, or it is dropped and the
    /// returned future resolves to `Err(Reaped)` within `ttl + tick`.
    ///
    /// The idle clock starts now, not at the first poll. On a closed reaper
    /// the task never runs: the result is `Err(Reaped)` at the first poll.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// # futures_lite::future::block_on(async {
    /// let n = reaper.track("job", |activity| async move { activity.touch(); 7 }).await;
    /// assert_eq!(n.unwrap(), 7);
    /// # });
    /// ```
    pub fn track<T, F>(&self, name: impl AsRef<str>, task: T) -> Tracked<F>
    where
        T: FnOnce(Activity) -> F,
        F: Future,
    {
        Tracked::new(self.owner.shared.register(Arc::from(name.as_ref())), task)
    }

    /// Watches something that is not one future (a session, a connection, a
    /// cache entry): touch the [`Activity`]; the [`Idle`] future resolves
    /// once it went longer than `ttl` without a touch, and the owner decides
    /// what to do. Dropping the `Idle` ends the watch.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_millis(20));
    /// # futures_lite::future::block_on(async {
    /// let (activity, idle) = reaper.watch("conn-9");
    /// activity.touch();
    /// assert!(idle.await.unwrap() >= Duration::from_millis(20));
    /// # });
    /// ```
    pub fn watch(&self, name: impl AsRef<str>) -> (Activity, Idle) {
        let entry = self.owner.shared.register(Arc::from(name.as_ref()));
        (
            Activity {
                entry: entry.clone(),
            },
            Idle::new(entry),
        )
    }

    /// The tracked tasks right now: `(id, name, idle_for, age)`, live.
    /// Times are measured on the reaper's coarse clock
    /// (a third of a tick). Takes the reaper's lock for a walk over them.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// let (_a, _idle) = reaper.watch("a");
    /// let snap = reaper.snapshot();
    /// assert_eq!(snap.len(), 1);
    /// assert_eq!(&*snap[0].name, "a");
    /// assert!(snap[0].idle_for <= snap[0].age);
    /// ```
    pub fn snapshot(&self) -> Vec<TaskInfo> {
        self.owner.shared.snapshot()
    }

    /// Counters since the reaper was created; O(1).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// # futures_lite::future::block_on(async {
    /// reaper.track("a", |_| async {}).await.unwrap();
    /// let stats = reaper.stats();
    /// assert_eq!((stats.total, stats.finished, stats.tracked), (1, 1, 0));
    /// # });
    /// ```
    pub fn stats(&self) -> ReaperStats {
        self.owner.shared.stats()
    }

    /// Stops the reaper: every task still tracked is cancelled
    /// (`Err(Reaped)`, with how long it had been idle), every [`Idle`] gets
    /// `Err(Closed)`, and later `track`/`watch` calls end the same way at
    /// once. A reaper that stopped never leaves tasks silently unwatched.
    /// Idempotent; dropping the last clone does the same.
    ///
    /// The `Reaped` of a task ended by `close` says so
    /// ([`Reaped::is_closed`](crate::Reaped::is_closed)) and reports how long
    /// it had been idle; [`ReaperStats::closed`] counts them.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// # futures_lite::future::block_on(async {
    /// let task = reaper.track("t", |_| std::future::pending::<()>());
    /// assert!(reaper.close()); // this call closed it
    /// assert!(!reaper.close()); // already closed
    /// assert!(task.await.is_err());
    /// assert!(reaper.is_closed());
    /// assert_eq!(reaper.stats().closed, 1);
    /// # });
    /// ```
    pub fn close(&self) -> bool {
        self.owner.shared.close()
    }

    /// `true` once [`close`](Reaper::close) was called (or the driver could
    /// not run).
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(!async_guard::reaper::Reaper::new(Duration::from_secs(1)).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.owner.shared.is_closed()
    }

    /// The time-to-live.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(async_guard::reaper::Reaper::new(Duration::ZERO).ttl(), Duration::ZERO);
    /// ```
    pub fn ttl(&self) -> Duration {
        self.owner.shared.pace.ttl
    }

    /// The tick in force (after clamping): a task idle for `ttl` is reaped
    /// before it has been idle for `ttl + tick` (plus scheduling delay).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = async_guard::reaper::Reaper::new(Duration::from_secs(16));
    /// assert_eq!(r.tick(), Duration::from_secs(1));
    /// ```
    pub fn tick(&self) -> Duration {
        self.owner.shared.pace.tick
    }

    /// Runs one step of the driver at once: advances the reaper's clock by
    /// one period (a third of a [`tick`](Reaper::tick)) and reaps what
    /// expired. For tests and benchmarks (feature `test-util`): it makes the
    /// reaper's clock run faster than real time, so reaping happens early;
    /// a [`TestClock`](crate::time::TestClock) is usually the better tool.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::Reaper::new(Duration::from_secs(3600));
    /// let (_activity, _idle) = reaper.watch("w");
    /// for _ in 0..200 {
    ///     reaper.step(); // 200 periods: far past the hour
    /// }
    /// assert_eq!(reaper.stats().reaped, 1);
    /// ```
    #[cfg(any(feature = "test-util", async_guard_loom))]
    pub fn step(&self) {
        self.owner.shared.tick();
    }
}

impl fmt::Debug for Reaper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.owner.shared.fmt(f)
    }
}

/// Configures a [`Reaper`]; made by [`Reaper::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::reaper::Reaper;
/// let reaper = Reaper::builder(Duration::from_secs(30)).name("sessions").build();
/// assert!(format!("{reaper:?}").contains("sessions"));
/// ```
#[must_use = "a builder does nothing until `build()`"]
pub struct ReaperBuilder {
    ttl: Duration,
    tick: Option<Duration>,
    name: Option<Arc<str>>,
    on_reap: Option<OnReap>,
}

impl ReaperBuilder {
    fn new(ttl: Duration) -> Self {
        ReaperBuilder {
            ttl,
            tick: None,
            name: None,
            on_reap: None,
        }
    }

    /// The precision: an idle task is reaped within `ttl + tick`. The driver
    /// wakes three times per tick while anything is tracked. Clamped to
    /// `[max(3 ms, ttl / 512), max(ttl, 3 ms)]`; default `ttl / 16`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = async_guard::reaper::Reaper::builder(Duration::from_secs(1))
    ///     .tick(Duration::ZERO) // too fine: clamped
    ///     .build();
    /// assert_eq!(r.tick(), Duration::from_millis(3));
    /// ```
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = Some(tick);
        self
    }

    /// A name, shown in `Debug` output.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = async_guard::reaper::Reaper::builder(Duration::from_secs(1)).name("pool").build();
    /// # let _ = r;
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Called once per reaped task with its name and idle time, on the
    /// reaper's driver thread, before the task is woken, for logging or
    /// metrics. Keep it short (it delays the reaping of other tasks); a
    /// panic in it is caught and ignored. Not called for tasks cancelled
    /// by [`close`](Reaper::close).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let count = Arc::new(AtomicUsize::new(0));
    /// let c = count.clone();
    /// let reaper = async_guard::reaper::Reaper::builder(Duration::from_millis(10))
    ///     .on_reap(move |_name, _idle| { c.fetch_add(1, Ordering::Relaxed); })
    ///     .build();
    /// let _ = reaper.track("t", |_| std::future::pending::<()>()).await;
    /// assert_eq!(count.load(Ordering::Relaxed), 1);
    /// # });
    /// ```
    pub fn on_reap(mut self, hook: impl Fn(&str, Duration) + Send + Sync + 'static) -> Self {
        self.on_reap = Some(Arc::new(hook));
        self
    }

    /// Builds the reaper and starts its driver.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = async_guard::reaper::Reaper::builder(Duration::from_secs(1)).build();
    /// # let _ = r;
    /// ```
    pub fn build(self) -> Reaper {
        let pace = Pace::new(self.ttl, self.tick);
        let shared = Arc::new(Shared::new(pace, self.name, self.on_reap));
        // Under `--cfg async_guard_loom` there is no driver thread: the models tick by hand
        // (`Reaper::step`), from loom threads.
        if !cfg!(async_guard_loom) {
            driver::spawn(shared.clone());
        }
        Reaper {
            owner: Arc::new(Owner { shared }),
        }
    }
}

impl fmt::Debug for ReaperBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReaperBuilder")
            .field("ttl", &self.ttl)
            .field("tick", &self.tick)
            .field("name", &self.name)
            .field("on_reap", &self.on_reap.is_some())
            .finish()
    }
}

/// Counters of a [`Reaper`], from [`Reaper::stats`].
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// let stats = async_guard::reaper::Reaper::new(Duration::from_secs(1)).stats();
/// assert_eq!(stats.tracked, 0);
/// assert_eq!(stats.longest_idle, Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaperStats {
    /// Tasks and watches tracked right now.
    pub tracked: usize,
    /// Tasks and watches ever tracked.
    pub total: u64,
    /// Tracked tasks that completed (and watches whose `Idle` was dropped
    /// before firing).
    pub finished: u64,
    /// Tracked tasks dropped by their owner before completing.
    pub dropped: u64,
    /// Tasks and watches reaped for idleness.
    pub reaped: u64,
    /// Tasks and watches ended by [`Reaper::close`].
    pub closed: u64,
    /// The longest idle time seen: of reaped and finished tasks, and of live
    /// ones when the driver re-checked them.
    pub longest_idle: Duration,
}

/// One tracked task in a [`Reaper::snapshot`].
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(1));
/// let (a, _idle) = reaper.watch("a");
/// let info = &reaper.snapshot()[0];
/// assert_eq!((info.id, &*info.name), (a.id(), "a"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Unique per reaper.
    pub id: u64,
    /// The name it was tracked under.
    pub name: Arc<str>,
    /// Time since its last touch (coarse clock).
    pub idle_for: Duration,
    /// Time since it was tracked (coarse clock).
    pub age: Duration,
}
