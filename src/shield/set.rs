//! [`ShieldSet`]: where shielded work runs, how much is in flight, and how
//! to wait for it at shutdown.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(async_guard_loom))]
use event_listener::Event;
#[cfg(async_guard_loom)]
use loom_event::Event;

use super::handle::{Payload, Shielded, Work};
use super::track::TrackedFuture;
use super::{Expired, background};
use crate::Closed;
use crate::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use crate::sync::{Mutex, lock};

/// A boxed unit future, what a user spawner receives; see
/// [`ShieldSet::with_spawner`].
///
/// ```
/// use async_guard::shield::{BoxedWork, ShieldSet};
/// fn on_smol(work: BoxedWork) {
///     smol::spawn(work).detach();
/// }
/// let set = ShieldSet::with_spawner(on_smol);
/// # let _ = set;
/// ```
pub type BoxedWork = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type SpawnFn = dyn Fn(BoxedWork) + Send + Sync + 'static;
type PanicHook = dyn Fn(Payload) + Send + Sync + 'static;

enum Spawner {
    /// The crate's own background executor thread.
    Background,
    /// The user's executor.
    Custom(Arc<SpawnFn>),
}

/// The `closed` bit of [`SetInner::state`].
const CLOSED: u64 = 1;
/// One piece of work in flight, in [`SetInner::state`].
const ONE: u64 = 2;

/// How a piece of work (or a tracked future) ended.
#[derive(Clone, Copy)]
pub(crate) enum End {
    Completed,
    Panicked,
    Expired,
    Lost,
}

pub(crate) struct SetInner {
    spawner: Spawner,
    /// Work in flight times two, plus the [`CLOSED`] bit: admission checks
    /// the bit and counts in one compare-and-swap, so a refused piece of
    /// work is never in flight, and an accepted one is seen by any drain
    /// that starts after the `close`.
    state: AtomicU64,
    /// Notified when the count of work in flight reaches zero.
    idle: Event,
    // The statistics: plain counters, off the admission protocol.
    shielded: AtomicU64,
    tracked: AtomicU64,
    completed: AtomicU64,
    panicked: AtomicU64,
    unobserved_panics: AtomicU64,
    expired: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
    abandoned: AtomicU64,
    hook: Mutex<Option<Arc<PanicHook>>>,
}

impl SetInner {
    /// Counts one more piece of work in flight, unless the set is closed.
    fn admit(&self) -> Result<(), Closed> {
        let mut cur = self.state.load(SeqCst);
        loop {
            if cur & CLOSED != 0 {
                self.refused.fetch_add(1, Relaxed);
                return Err(Closed::new());
            }
            match self
                .state
                .compare_exchange_weak(cur, cur + ONE, SeqCst, SeqCst)
            {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// One piece of work ended: its outcome is counted, then it leaves the
    /// count in flight (so a drain that saw zero also sees the outcome), and
    /// the drains are woken when it was the last.
    fn end(&self, end: End) {
        let counter = match end {
            End::Completed => &self.completed,
            End::Panicked => &self.panicked,
            End::Expired => &self.expired,
            End::Lost => &self.lost,
        };
        counter.fetch_add(1, Relaxed);
        let before = self.state.fetch_sub(ONE, SeqCst);
        if before >> 1 == 1 {
            // Pairs with the point in `idle`: a drain that registered before
            // this decrement is notified, one that registers after sees zero.
            crate::sync::seqcst_point();
            self.idle.notify(usize::MAX);
        }
    }

    fn in_flight(&self) -> u64 {
        self.state.load(SeqCst) >> 1
    }

    /// Hands unfinished work to the set's executor. A user spawner that
    /// panics drops the work (it counts as lost); the panic goes no
    /// further, since this runs in a handle's `Drop`.
    pub(crate) fn spawn(&self, work: BoxedWork) {
        match &self.spawner {
            Spawner::Background => background::spawn(work),
            Spawner::Custom(spawn) => {
                let _ = catch_unwind(AssertUnwindSafe(|| spawn(work)));
            }
        }
    }

    /// A panic nobody will see through a handle: count it, hand it to the
    /// hook (a panicking hook is contained), or drop it.
    pub(crate) fn unobserved_panic(&self, panic: Payload) {
        self.unobserved_panics.fetch_add(1, Relaxed);
        let hook = lock(&self.hook).clone();
        let _ = catch_unwind(AssertUnwindSafe(move || {
            if let Some(hook) = hook {
                hook(panic);
            }
        }));
    }

    /// Resolves once nothing is in flight.
    async fn idle(&self) {
        loop {
            if self.in_flight() == 0 {
                return;
            }
            // On the stack of this future: no allocation per wait.
            #[cfg(not(async_guard_loom))]
            event_listener::listener!(self.idle => listener);
            #[cfg(async_guard_loom)]
            let listener = self.idle.listen();
            crate::sync::seqcst_point();
            // Registered before this second look: the last `end` either is
            // seen here or notifies the listener.
            if self.in_flight() == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// How a ticket reaches its set: the process-wide set lives in a `static`
/// and needs no reference count (two atomic operations fewer per shield).
#[derive(Clone)]
pub(crate) enum SetRef {
    Static(&'static SetInner),
    Shared(Arc<SetInner>),
}

impl std::ops::Deref for SetRef {
    type Target = SetInner;

    #[inline]
    fn deref(&self) -> &SetInner {
        match self {
            SetRef::Static(set) => set,
            SetRef::Shared(set) => set,
        }
    }
}

/// One piece of work's (or one tracked future's) place in the set's count
/// in flight. The outcome is recorded when the work ends and applied when
/// the ticket is dropped; a ticket dropped with nothing recorded (the work
/// was dropped before its end) counts as lost. So every admitted piece of
/// work leaves the count exactly once, whoever drops it.
pub(crate) struct Ticket {
    set: SetRef,
    end: Option<End>,
}

impl Ticket {
    pub(crate) fn set(&self) -> &SetRef {
        &self.set
    }

    /// The work ended this way (the first record wins).
    pub(crate) fn record(&mut self, end: End) {
        self.end.get_or_insert(end);
    }

    pub(crate) fn is_recorded(&self) -> bool {
        self.end.is_some()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.set.end(self.end.unwrap_or(End::Lost));
    }
}

/// `future` bounded by a grace period that starts now, at the call: it is
/// stopped at `now + grace` at the latest, whoever polls it then.
fn bounded<F: Future>(
    grace: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, Expired>> {
    let deadline = crate::rt::clock::now().checked_add(grace);
    async move {
        match deadline {
            Some(at) => crate::time::timeout_at(at, future)
                .await
                .map_err(|_| Expired::new(grace)),
            None => Ok(future.await),
        }
    }
}

/// A group of shielded work: where it runs, how much is in flight, and a
/// [`drain`](ShieldSet::drain) that waits for it at shutdown.
///
/// Cloning is cheap and every clone is the same set. The free functions
/// [`shield`](super::shield) and [`drain`](super::drain) use a process-wide
/// set that runs work on a background thread and is never closed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::ShieldSet;
/// # futures_lite::future::block_on(async {
/// let set = ShieldSet::new();
/// let handle = set.shield(async { "saved" })?;
/// assert_eq!(handle.await, "saved");
///
/// set.close(); // refuse new work, then wait for what is in flight
/// let report = set.drain(Duration::from_secs(5)).await;
/// assert_eq!(report.still_running, 0);
/// assert!(set.shield(async {}).is_err());
/// # Ok::<(), async_guard::Closed>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct ShieldSet {
    inner: Arc<SetInner>,
}

impl ShieldSet {
    fn with(spawner: Spawner) -> Self {
        ShieldSet {
            inner: Arc::new(SetInner {
                spawner,
                state: AtomicU64::new(0),
                idle: Event::new(),
                shielded: AtomicU64::new(0),
                tracked: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                panicked: AtomicU64::new(0),
                unobserved_panics: AtomicU64::new(0),
                expired: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
                hook: Mutex::new(None),
            }),
        }
    }

    /// A set whose work runs in its callers' tasks while they await it, and
    /// moves to the crate's background executor thread (named
    /// `guard-runtime`, started on first use, shared by all such sets)
    /// when its handle is dropped before its end.
    ///
    /// ```
    /// let set = async_guard::shield::ShieldSet::new();
    /// assert_eq!(set.stats().in_flight, 0);
    /// ```
    pub fn new() -> Self {
        Self::with(Spawner::Background)
    }

    /// A set whose work moves to your executor when its handle is dropped
    /// before the work ended: `spawn` receives the rest of that work as a
    /// boxed `Send` future and must run it to its end (for example
    /// `smol::spawn(work).detach()` or `async_std::task::spawn(work)`). Work
    /// whose handle is awaited to its end runs in the awaiting task and never
    /// reaches `spawn`.
    ///
    /// If the executor drops the work before it ends (it is shut down), or
    /// `spawn` panics, the work counts as [`lost`](ShieldStats::lost); drain
    /// such a set before shutting its executor down.
    ///
    /// ```
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::with_spawner(|work| smol::spawn(work).detach());
    /// assert_eq!(set.shield(async { 1 })?.await, 1);
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    pub fn with_spawner<S>(spawn: S) -> Self
    where
        S: Fn(BoxedWork) + Send + Sync + 'static,
    {
        Self::with(Spawner::Custom(Arc::new(spawn)))
    }

    /// Sets the hook that receives the payload of every panic nobody awaits
    /// (the handle was dropped, the work panicked later on the set's
    /// executor). Without a hook such panics are only counted in
    /// [`unobserved_panics`](ShieldStats::unobserved_panics) (the standard
    /// panic hook has already printed the message when the panic happened).
    /// A panic inside the hook itself is caught and ignored.
    ///
    /// The hook runs on the executor's thread, right after the panic.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let set = ShieldSet::new();
    /// let s = seen.clone();
    /// set.on_panic(move |_payload| {
    ///     s.fetch_add(1, Ordering::SeqCst);
    /// });
    /// drop(set.shield(async { panic!("lost write") })?); // nobody awaits
    /// set.drain(Duration::from_secs(5)).await;
    /// assert_eq!(seen.load(Ordering::SeqCst), 1);
    /// assert_eq!(set.stats().unobserved_panics, 1);
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    pub fn on_panic<H>(&self, hook: H)
    where
        H: Fn(Box<dyn std::any::Any + Send + 'static>) + Send + Sync + 'static,
    {
        *lock(&self.inner.hook) = Some(Arc::new(hook));
    }

    /// Makes `future` shielded work of this set and returns its handle (the
    /// work runs while the handle is awaited, and on the set's executor if
    /// the handle is dropped first), or `Err(Closed)` once the set is
    /// [closed](ShieldSet::close) (the future is then dropped without being
    /// polled).
    ///
    /// ```
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::new();
    /// drop(set.shield(async { /* runs to its end anyway */ })?);
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    pub fn shield<F>(&self, future: F) -> Result<Shielded<F::Output>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.start(future, |_| false, self.shared())
    }

    /// Like [`shield`](ShieldSet::shield), with a grace period: the work is
    /// stopped (dropped) if it has not finished `grace` after this call,
    /// and the handle then gives `Err(Expired)`. See
    /// [`shield_within`](super::shield_within).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::new();
    /// let handle = set.shield_within(Duration::from_millis(10), std::future::pending::<()>())?;
    /// assert!(handle.await.is_err());
    /// assert_eq!(set.stats().expired, 1);
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn shield_within<F>(
        &self,
        grace: Duration,
        future: F,
    ) -> Result<Shielded<Result<F::Output, Expired>>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.start(bounded(grace, future), |r| r.is_err(), self.shared())
    }

    /// [`shield`](ShieldSet::shield) for the process-wide set.
    pub(crate) fn shield_static<F>(&'static self, future: F) -> Result<Shielded<F::Output>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.start(future, |_| false, SetRef::Static(&self.inner))
    }

    /// [`shield_within`](ShieldSet::shield_within) for the process-wide set.
    #[allow(clippy::type_complexity)]
    pub(crate) fn shield_within_static<F>(
        &'static self,
        grace: Duration,
        future: F,
    ) -> Result<Shielded<Result<F::Output, Expired>>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let set = SetRef::Static(&self.inner);
        self.start(bounded(grace, future), |r| r.is_err(), set)
    }

    fn shared(&self) -> SetRef {
        SetRef::Shared(self.inner.clone())
    }

    fn start<F>(
        &self,
        future: F,
        is_expired: fn(&F::Output) -> bool,
        set: SetRef,
    ) -> Result<Shielded<F::Output>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.admit()?;
        self.inner.shielded.fetch_add(1, Relaxed);
        let ticket = Ticket { set, end: None };
        Ok(Shielded::new(Work::new(future, ticket, is_expired)))
    }

    /// Counts `future`, a future you spawn on any executor (or await), in
    /// this set: [`drain`](ShieldSet::drain) waits for it like for shielded
    /// work, and its end shows in the [stats](ShieldSet::stats)
    /// (`completed`; `panicked` if its poll panicked; `lost` if it was
    /// dropped before it completed, for example cancelled with its task).
    /// Returns `Err(Closed)` once the set is [closed](ShieldSet::close) (the
    /// future is then dropped unpolled).
    ///
    /// Unlike [`shield`](ShieldSet::shield), this changes nothing about
    /// where or whether the future runs: it stays the future you give it,
    /// cancelled if you drop it. It suits the tasks a server spawns per
    /// connection, which a graceful shutdown wants to wait for.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::new();
    /// for i in 0..3 {
    ///     let session = async move {
    ///         async_io::Timer::after(Duration::from_millis(5 * i)).await;
    ///     };
    ///     smol::spawn(set.track(session)?).detach();
    /// }
    /// set.close(); // shutting down: no new sessions
    /// let report = set.drain(Duration::from_secs(5)).await;
    /// assert_eq!((report.completed, report.still_running), (3, 0));
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    pub fn track<F: Future>(&self, future: F) -> Result<TrackedFuture<F>, Closed> {
        self.inner.admit()?;
        self.inner.tracked.fetch_add(1, Relaxed);
        let ticket = Ticket {
            set: self.shared(),
            end: None,
        };
        Ok(TrackedFuture::new(future, ticket))
    }

    /// Refuses new work from now on (`shield` returns `Err(Closed)`); work
    /// already in flight is not affected. Idempotent.
    ///
    /// ```
    /// let set = async_guard::shield::ShieldSet::new();
    /// set.close();
    /// set.close();
    /// assert!(set.is_closed());
    /// assert!(set.shield(async {}).is_err());
    /// assert_eq!(set.stats().refused, 1);
    /// ```
    pub fn close(&self) {
        self.inner.state.fetch_or(CLOSED, SeqCst);
    }

    /// `true` after [`close`](ShieldSet::close).
    ///
    /// ```
    /// assert!(!async_guard::shield::ShieldSet::new().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.state.load(SeqCst) & CLOSED != 0
    }

    /// Waits until no work of this set is in flight (shielded work, whether
    /// its caller still drives it or it moved to the executor, and
    /// [tracked](ShieldSet::track) futures), or for at most `timeout`, and
    /// reports what happened meanwhile.
    ///
    /// Drain does not close the set: call [`close`](ShieldSet::close) first
    /// when new work may still arrive, or the drain may keep waiting for it.
    /// `Duration::ZERO` only takes stock; `Duration::MAX` waits as long as it
    /// takes. Work still running when the drain gives up keeps running (it
    /// is counted in [`abandoned`](ShieldStats::abandoned)); it is lost only
    /// if the process exits. Dropping the drain future stops waiting and has
    /// no other effect.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::new();
    /// drop(set.shield(async_io::Timer::after(Duration::from_millis(10)))?);
    /// drop(set.shield(async_io::Timer::after(Duration::from_secs(60)))?);
    /// let report = set.drain(Duration::from_millis(200)).await;
    /// assert_eq!((report.completed, report.still_running), (1, 1));
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    pub fn drain(&self, timeout: Duration) -> impl Future<Output = DrainReport> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            let before = Snapshot::take(&inner);
            if timeout == Duration::MAX {
                inner.idle().await; // no deadline to watch
            } else {
                let _ = crate::time::timeout(timeout, inner.idle()).await;
            }
            let after = Snapshot::take(&inner);
            let still_running = after.in_flight;
            if still_running > 0 {
                inner.abandoned.fetch_add(still_running, Relaxed);
            }
            DrainReport {
                completed: after.completed.saturating_sub(before.completed),
                panicked: after.panicked.saturating_sub(before.panicked),
                expired: after.expired.saturating_sub(before.expired),
                lost: after.lost.saturating_sub(before.lost),
                still_running,
            }
        }
    }

    /// The counters of this set.
    ///
    /// ```
    /// use async_guard::shield::ShieldSet;
    /// # futures_lite::future::block_on(async {
    /// let set = ShieldSet::new();
    /// set.shield(async {})?.await;
    /// let stats = set.stats();
    /// assert_eq!((stats.shielded, stats.completed, stats.in_flight), (1, 1, 0));
    /// # Ok::<(), async_guard::Closed>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> ShieldStats {
        let s = Snapshot::take(&self.inner);
        let inner = &*self.inner;
        ShieldStats {
            in_flight: s.in_flight,
            shielded: inner.shielded.load(Relaxed),
            tracked: inner.tracked.load(Relaxed),
            completed: s.completed,
            panicked: s.panicked,
            unobserved_panics: inner.unobserved_panics.load(Relaxed),
            expired: s.expired,
            lost: s.lost,
            refused: inner.refused.load(Relaxed),
            abandoned: inner.abandoned.load(Relaxed),
        }
    }
}

impl Default for ShieldSet {
    /// Same as [`ShieldSet::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ShieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShieldSet")
            .field("closed", &self.is_closed())
            .field("in_flight", &self.inner.in_flight())
            .finish_non_exhaustive()
    }
}

/// The counters at one moment. While work is moving, a piece that ends
/// during the reading may be off by one between two fields; once nothing
/// moves the snapshot is exact.
struct Snapshot {
    in_flight: u64,
    completed: u64,
    panicked: u64,
    expired: u64,
    lost: u64,
}

impl Snapshot {
    fn take(inner: &SetInner) -> Self {
        // The count first: outcomes are counted before work leaves it, so
        // what it says has ended is in the outcome counters read after.
        let in_flight = inner.in_flight();
        Snapshot {
            in_flight,
            completed: inner.completed.load(Relaxed),
            panicked: inner.panicked.load(Relaxed),
            expired: inner.expired.load(Relaxed),
            lost: inner.lost.load(Relaxed),
        }
    }
}

/// What a [`drain`](ShieldSet::drain) saw while it waited.
///
/// The first three counts are for work that ended while the drain waited;
/// `still_running` is the work in flight when it returned (`0` means the set
/// drained completely).
///
/// ```
/// use std::time::Duration;
/// # futures_lite::future::block_on(async {
/// let report = async_guard::shield::ShieldSet::new().drain(Duration::ZERO).await;
/// assert!(report.is_complete());
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DrainReport {
    /// Work that ran to its end (without panicking or expiring).
    pub completed: u64,
    /// Work still running when the drain gave up.
    pub still_running: u64,
    /// Work that panicked.
    pub panicked: u64,
    /// Work stopped by its grace deadline.
    pub expired: u64,
    /// Work dropped by its executor before it ended.
    pub lost: u64,
}

impl DrainReport {
    /// `true` when nothing was left running.
    ///
    /// ```
    /// assert!(async_guard::shield::DrainReport::default().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.still_running == 0
    }
}

/// Counters of a [`ShieldSet`] (see [`ShieldSet::stats`] and
/// [`shield::stats`](super::stats)).
///
/// ```
/// let stats = async_guard::shield::ShieldSet::new().stats();
/// assert_eq!(stats, Default::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShieldStats {
    /// Work started and not ended yet.
    pub in_flight: u64,
    /// Work accepted so far by `shield` / `shield_within`.
    pub shielded: u64,
    /// Futures accepted so far by [`track`](ShieldSet::track).
    pub tracked: u64,
    /// Work that ran to its end (without panicking or expiring).
    pub completed: u64,
    /// Work that panicked (awaited or not).
    pub panicked: u64,
    /// Panics nobody awaited (the handle was dropped); passed to the hook.
    pub unobserved_panics: u64,
    /// Work stopped by its grace deadline.
    pub expired: u64,
    /// Work dropped by its executor before it ended.
    pub lost: u64,
    /// Work refused because the set was closed.
    pub refused: u64,
    /// Work still running when a drain gave up, summed over drains (work
    /// left behind by two drains counts twice).
    pub abandoned: u64,
}

/// Under loom, a stand-in for `event_listener::Event` built on loom's mutex,
/// with the same protocol (a listener is registered when created, then
/// resolves at the next `notify`): event-listener's own lock is invisible
/// to loom, and it wakes while holding it, which loom cannot schedule
/// around. The models check the counter protocol around it.
#[cfg(async_guard_loom)]
mod loom_event {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use crate::sync::{Mutex, lock};

    pub(crate) struct Event {
        inner: Mutex<(u64, Vec<Waker>)>,
    }

    pub(crate) struct Listener<'a> {
        event: &'a Event,
        generation: u64,
    }

    impl Event {
        pub(crate) fn new() -> Self {
            Event {
                inner: Mutex::new((0, Vec::new())),
            }
        }

        pub(crate) fn listen(&self) -> Listener<'_> {
            Listener {
                event: self,
                generation: lock(&self.inner).0,
            }
        }

        pub(crate) fn notify(&self, _n: usize) {
            let wakers = {
                let mut inner = lock(&self.inner);
                inner.0 += 1;
                std::mem::take(&mut inner.1)
            };
            for w in wakers {
                w.wake();
            }
        }
    }

    impl Future for Listener<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut inner = lock(&self.event.inner);
            if inner.0 != self.generation {
                return Poll::Ready(());
            }
            inner.1.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_work_does_not_stay_in_flight() {
        let set = ShieldSet::new();
        set.close();
        for _ in 0..3 {
            assert!(set.shield(async {}).is_err());
            assert!(set.track(async {}).is_err());
        }
        let st = set.stats();
        assert_eq!(
            (st.in_flight, st.refused, st.shielded, st.tracked),
            (0, 6, 0, 0)
        );
        assert!(set.is_closed());
    }
}
