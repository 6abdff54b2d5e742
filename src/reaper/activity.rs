//! One tracked thing ([`Entry`]) and the handle its code touches ([`Activity`]).

use std::fmt;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use super::shared::Shared;
use crate::Reaped;
use crate::sync::Mutex;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::atomic::{AtomicU8, AtomicU64};

/// Still tracked.
pub(crate) const LIVE: u8 = 0;
/// Left the reaper normally (finished, or its owner dropped it).
pub(crate) const LEFT: u8 = 1;
/// Idle past the time-to-live.
pub(crate) const REAPED: u8 = 2;
/// Its reaper closed (or was dropped) while it was tracked.
pub(crate) const CLOSED: u8 = 3;

/// What the reaper knows about one tracked task or watched thing.
pub(crate) struct Entry {
    pub(crate) shared: Arc<Shared>,
    /// The clock period of the latest touch (only ever grows).
    last: AtomicU64,
    /// How many periods it had been idle when it was reaped or closed.
    idle_at_end: AtomicU64,
    pub(crate) born: u64,
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    /// Its slot in the reaper's queue (meaningful while `LIVE`).
    pub(crate) slot: u32,
    state: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl Entry {
    pub(crate) fn new(shared: Arc<Shared>, id: u64, name: Arc<str>, now: u64, slot: u32) -> Self {
        Entry {
            shared,
            last: AtomicU64::new(now),
            idle_at_end: AtomicU64::new(0),
            born: now,
            id,
            name,
            slot,
            state: AtomicU8::new(LIVE),
            waker: Mutex::new(None),
        }
    }

    pub(crate) fn last(&self) -> u64 {
        self.last.load(Relaxed)
    }

    /// Records activity in the current period. The common case (already
    /// touched this period) is two loads and no store; the first touch of a
    /// period is one `fetch_max`, so a slow toucher that read an older
    /// period can never move `last` backwards over a newer touch.
    #[inline]
    pub(crate) fn touch(&self) {
        let now = self.shared.clock.load(Relaxed);
        if self.last.load(Relaxed) < now {
            self.last.fetch_max(now, Relaxed);
        }
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Acquire)
    }

    /// Moves a `LIVE` entry to `to`; only the first transition succeeds.
    /// Only called with the reaper's lock held, which serializes them.
    pub(crate) fn end(&self, to: u8, idle_periods: u64) -> bool {
        if self.state.load(Relaxed) != LIVE {
            return false;
        }
        self.idle_at_end.store(idle_periods, Relaxed);
        // Release: whoever sees the new state also sees `idle_at_end`.
        self.state.store(to, Release);
        true
    }

    /// `Some(error)` once the entry was reaped or its reaper closed.
    pub(crate) fn verdict(&self) -> Option<Reaped> {
        match self.state() {
            REAPED => Some(Reaped::new(self.name.clone(), self.idle_at_end())),
            CLOSED => Some(Reaped::closed(self.name.clone(), self.idle_at_end())),
            _ => None,
        }
    }

    pub(crate) fn idle_at_end(&self) -> Duration {
        self.shared.pace.duration(self.idle_at_end.load(Relaxed))
    }

    /// Makes sure `waker` is woken when the entry is reaped or closed.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        let replaced = match &mut *slot {
            Some(w) if w.will_wake(waker) => None,
            w => w.replace(waker.clone()),
        };
        // The old waker is dropped after the lock: its drop may re-enter
        // the crate (release a permit, drop a tracked task).
        drop(slot);
        drop(replaced);
    }

    pub(crate) fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Leaves the reaper normally (finished or dropped); no-op if it was
    /// already reaped or closed.
    pub(crate) fn leave(&self, finished: bool) {
        self.shared.leave(self, finished);
    }
}

/// The handle a tracked task (or the owner of a watched thing) uses to say
/// "still active".
///
/// Cheap to clone (one `Arc`), `Send + Sync`, and [`touch`](Activity::touch)
/// is a couple of relaxed atomic operations, cheap enough for every frame of a
/// hot path. Touching after the task finished or was reaped does nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::reaper::Reaper;
/// # futures_lite::future::block_on(async {
/// let reaper = Reaper::new(Duration::from_millis(200));
/// let out = reaper
///     .track("worker", |activity| async move {
///         for _ in 0..3 {
///             async_io::Timer::after(Duration::from_millis(5)).await;
///             activity.touch(); // a sign of life
///         }
///         "done"
///     })
///     .await;
/// assert_eq!(out.unwrap(), "done");
/// # });
/// ```
#[derive(Clone)]
pub struct Activity {
    pub(crate) entry: Arc<Entry>,
}

impl Activity {
    /// Records activity now. Never blocks, never allocates, never calls
    /// `Instant::now()`: it copies the reaper's coarse clock.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// let (activity, _idle) = reaper.watch("conn-1");
    /// activity.touch();
    /// ```
    #[inline]
    pub fn touch(&self) {
        self.entry.touch();
    }

    /// The name the task was tracked under.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// let (activity, _idle) = reaper.watch("conn-1");
    /// assert_eq!(activity.name(), "conn-1");
    /// ```
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The id the reaper gave the task (unique per reaper, as in
    /// [`TaskInfo::id`](super::TaskInfo::id)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(5));
    /// let (a, _ia) = reaper.watch("a");
    /// let (b, _ib) = reaper.watch("b");
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.entry.id
    }
}

impl fmt::Debug for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Activity")
            .field("id", &self.entry.id)
            .field("name", &self.entry.name)
            .finish()
    }
}
