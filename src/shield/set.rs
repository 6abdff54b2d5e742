//! [`ShieldSet`]: where shielded work runs, how much is in flight, and how
//! to wait for it at shutdown.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::handle::{Payload, Shielded, pair, run_work};
use super::{Expired, background};
use crate::Closed;
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use crate::sync::{Mutex, MutexGuard};

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

/// Keeps a counter on cache lines of its own.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// The counters, laid out for the hot path: starting work writes only
/// `started`, ending it normally writes only `ended` (and reads `rare`), so
/// the starting and the executing threads never fight over a cache line.
/// Everything else is derived: in flight = started - ended, completed =
/// ended minus the other outcomes.
#[derive(Default)]
struct Counters {
    started: Padded<AtomicU64>,
    ended: Padded<AtomicU64>,
    /// Counted directly, not derived from `ended` minus the other outcomes:
    /// two separate loads of moving counters can be arbitrarily far apart
    /// (a preempted reader), and the derived value then goes backwards.
    completed: Padded<AtomicU64>,
    rare: Padded<Rare>,
}

#[derive(Default)]
struct Rare {
    panicked: AtomicU64,
    unobserved_panics: AtomicU64,
    expired: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
    abandoned: AtomicU64,
    /// Whether some drain is registered in `drainers` (read at every end).
    drain_waiting: AtomicBool,
}

pub(crate) struct SetInner {
    spawner: Spawner,
    closed: AtomicBool,
    counters: Counters,
    /// Drains waiting for nothing to be in flight: (id, waker).
    drainers: Mutex<Vec<(u64, Waker)>>,
    next_drainer: AtomicU64,
    hook: Mutex<Option<Arc<PanicHook>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SetInner {
    fn rare(&self) -> &Rare {
        &self.counters.rare.0
    }

    pub(crate) fn count_completed(&self) {
        self.counters.completed.0.fetch_add(1, SeqCst);
    }

    pub(crate) fn count_panicked(&self) {
        self.rare().panicked.fetch_add(1, SeqCst);
    }

    pub(crate) fn count_expired(&self) {
        self.rare().expired.fetch_add(1, SeqCst);
    }

    pub(crate) fn count_lost(&self) {
        self.rare().lost.fetch_add(1, SeqCst);
    }

    /// A panic nobody will see through a handle: count it, hand it to the
    /// hook (a panicking hook is contained), or drop it.
    pub(crate) fn unobserved_panic(&self, panic: Payload) {
        self.rare().unobserved_panics.fetch_add(1, SeqCst);
        let hook = lock(&self.hook).clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            if let Some(hook) = hook {
                hook(panic);
            }
        }));
    }

    /// Work started and not ended. `ended` is read first: every end is
    /// preceded by its start, so this never underflows.
    fn in_flight(&self) -> u64 {
        let ended = self.counters.ended.0.load(SeqCst);
        let started = self.counters.started.0.load(SeqCst);
        started.saturating_sub(ended)
    }

    /// One piece of work ended (its outcome counter, if any, is already
    /// updated); wakes the drains when nothing is left in flight.
    pub(crate) fn finish_one(&self) {
        self.counters.ended.0.fetch_add(1, SeqCst);
        crate::sync::seqcst_point();
        // Pairs with `Idle::poll`, which sets the flag before its own last
        // look at the counters: one of the two sees the other.
        if self.rare().drain_waiting.load(SeqCst) && self.in_flight() == 0 {
            let waiting = {
                let mut drainers = lock(&self.drainers);
                self.rare().drain_waiting.store(false, SeqCst);
                std::mem::take(&mut *drainers)
            };
            for (_, waker) in waiting {
                waker.wake();
            }
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
                closed: AtomicBool::new(false),
                counters: Counters::default(),
                drainers: Mutex::new(Vec::new()),
                next_drainer: AtomicU64::new(0),
                hook: Mutex::new(None),
            }),
        }
    }

    /// A set whose work runs on the crate's background executor thread
    /// (named `guard-runtime`, started on first use, shared by all such
    /// sets).
    ///
    /// ```
    /// let set = async_guard::shield::ShieldSet::new();
    /// assert_eq!(set.stats().in_flight, 0);
    /// ```
    pub fn new() -> Self {
        Self::with(Spawner::Background)
    }

    /// A set whose work runs on your executor: `spawn` receives each piece
    /// of work as a boxed `Send` future and must run it to its end (for
    /// example `smol::spawn(work).detach()` or `async_std::task::spawn(work)`).
    ///
    /// If the executor drops the work before it ends (it is shut down), the
    /// work counts as [`lost`](ShieldStats::lost) and awaiting its handle
    /// panics; drain such a set before shutting its executor down.
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
    /// (the handle was dropped before or after the work panicked). Without a
    /// hook such panics are only counted in
    /// [`unobserved_panics`](ShieldStats::unobserved_panics) (the standard
    /// panic hook has already printed the message when the panic happened).
    /// A panic inside the hook itself is caught and ignored.
    ///
    /// The hook runs on whichever thread noticed that nobody will await
    /// the panic: the executor's or the one that dropped the handle.
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

    /// Starts `future` as shielded work in this set and returns its handle,
    /// or `Err(Closed)` once the set is [closed](ShieldSet::close) (the
    /// future is then dropped without being polled).
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
        self.start(future, |_| false)
    }

    /// Like [`shield`](ShieldSet::shield), with a grace period: the work is
    /// stopped (dropped) if it has not finished `grace` after it started,
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
        let bounded = async move {
            crate::time::timeout(grace, future)
                .await
                .map_err(|_| Expired::new(grace))
        };
        self.start(bounded, |r| r.is_err())
    }

    fn start<F>(
        &self,
        future: F,
        is_expired: fn(&F::Output) -> bool,
    ) -> Result<Shielded<F::Output>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Count first, then check `closed`: a `close` + `drain` that starts
        // after this check is guaranteed to see this work in flight.
        self.inner.counters.started.0.fetch_add(1, SeqCst);
        crate::sync::seqcst_point();
        if self.inner.closed.load(SeqCst) {
            self.inner.rare().refused.fetch_add(1, SeqCst);
            self.inner.finish_one();
            return Err(Closed::new());
        }
        let (work, handle) = pair(self.inner.clone());
        let job = run_work(work, future, is_expired);
        match &self.inner.spawner {
            Spawner::Background => background::spawn(job),
            Spawner::Custom(spawn) => spawn(Box::pin(job)),
        }
        Ok(handle)
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
        self.inner.closed.store(true, SeqCst);
        crate::sync::seqcst_point();
    }

    /// `true` after [`close`](ShieldSet::close).
    ///
    /// ```
    /// assert!(!async_guard::shield::ShieldSet::new().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(SeqCst)
    }

    /// Waits until no work of this set is in flight, or for at most
    /// `timeout`, and reports what happened meanwhile.
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
            let idle = Idle {
                inner: inner.clone(),
                id: inner.next_drainer.fetch_add(1, SeqCst),
            };
            let _ = crate::time::timeout(timeout, idle).await;
            let after = Snapshot::take(&inner);
            let still_running = after.in_flight;
            if still_running > 0 {
                inner.rare().abandoned.fetch_add(still_running, SeqCst);
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
        let rare = self.inner.rare();
        ShieldStats {
            in_flight: s.in_flight,
            shielded: s.started.saturating_sub(s.refused),
            completed: s.completed,
            panicked: s.panicked,
            unobserved_panics: rare.unobserved_panics.load(SeqCst),
            expired: s.expired,
            lost: s.lost,
            refused: s.refused,
            abandoned: rare.abandoned.load(SeqCst),
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
    started: u64,
    in_flight: u64,
    completed: u64,
    panicked: u64,
    expired: u64,
    lost: u64,
    refused: u64,
}

impl Snapshot {
    fn take(inner: &SetInner) -> Self {
        let rare = inner.rare();
        let (panicked, expired, lost, refused) = (
            rare.panicked.load(SeqCst),
            rare.expired.load(SeqCst),
            rare.lost.load(SeqCst),
            rare.refused.load(SeqCst),
        );
        let ended = inner.counters.ended.0.load(SeqCst);
        let started = inner.counters.started.0.load(SeqCst);
        Snapshot {
            started,
            in_flight: started.saturating_sub(ended),
            completed: inner.counters.completed.0.load(SeqCst),
            panicked,
            expired,
            lost,
            refused,
        }
    }
}

/// Resolves when nothing is in flight; unregisters itself when dropped.
struct Idle {
    inner: Arc<SetInner>,
    id: u64,
}

impl Future for Idle {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.in_flight() == 0 {
            return Poll::Ready(());
        }
        {
            let mut drainers = lock(&self.inner.drainers);
            match drainers.iter_mut().find(|(id, _)| *id == self.id) {
                Some((_, w)) => w.clone_from(cx.waker()),
                None => drainers.push((self.id, cx.waker().clone())),
            }
            self.inner.rare().drain_waiting.store(true, SeqCst);
        }
        crate::sync::seqcst_point();
        // Registered and flagged before this second look, so the last
        // `finish_one` either is seen here or finds the waker above.
        if self.inner.in_flight() == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        let mut drainers = lock(&self.inner.drainers);
        drainers.retain(|(id, _)| *id != self.id);
        if drainers.is_empty() {
            self.inner.rare().drain_waiting.store(false, SeqCst);
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
    /// Work accepted so far.
    pub shielded: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drainers(set: &ShieldSet) -> usize {
        lock(&set.inner.drainers).len()
    }

    #[test]
    fn drains_unregister_when_dropped_or_woken() {
        futures_lite::future::block_on(async {
            let set = ShieldSet::new();
            drop(set.shield(async_io::Timer::after(Duration::from_millis(20))));
            let mut d = Box::pin(set.drain(Duration::from_secs(5)));
            assert!(futures_lite::future::poll_once(d.as_mut()).await.is_none());
            assert!(futures_lite::future::poll_once(d.as_mut()).await.is_none());
            assert_eq!(drainers(&set), 1, "re-polling does not register twice");
            drop(d);
            assert_eq!(drainers(&set), 0);
            assert!(set.drain(Duration::from_secs(5)).await.is_complete());
            assert_eq!(drainers(&set), 0);
        });
    }

    #[test]
    fn refused_work_does_not_stay_in_flight() {
        let set = ShieldSet::new();
        set.close();
        for _ in 0..3 {
            assert!(set.shield(async {}).is_err());
        }
        let st = set.stats();
        assert_eq!((st.in_flight, st.refused, st.shielded), (0, 3, 0));
    }
}
