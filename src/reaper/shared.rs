//! The state one reaper shares with its driver, its tasks and their
//! [`Activity`](super::Activity) handles.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::rt::timer::Sleep;

use super::activity::{CLOSED, Entry, LEFT, LIVE, REAPED};
use super::pace::Pace;
use super::queue::Queue;
use super::{ReaperStats, TaskInfo};
use crate::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crate::sync::{Mutex, MutexGuard};

/// The `on_reap` hook.
pub(crate) type OnReap = Arc<dyn Fn(&str, Duration) + Send + Sync>;

pub(crate) struct Shared {
    /// The coarse clock: periods since the reaper started. Only the driver
    /// advances it (under the lock); touches only read it.
    pub(crate) clock: AtomicU64,
    pub(crate) pace: Pace,
    pub(crate) name: Option<Arc<str>>,
    on_reap: Option<OnReap>,
    state: Mutex<State>,
}

struct State {
    queue: Queue<Arc<Entry>>,
    closed: bool,
    /// The driver, parked while nothing is tracked.
    driver: Option<Waker>,
    next_id: u64,
    stats: ReaperStats,
    longest_idle: u64,
}

impl Shared {
    pub(crate) fn new(pace: Pace, name: Option<Arc<str>>, on_reap: Option<OnReap>) -> Self {
        Shared {
            clock: AtomicU64::new(0),
            state: Mutex::new(State {
                queue: Queue::new(pace.buckets()),
                closed: false,
                driver: None,
                next_id: 0,
                stats: ReaperStats::default(),
                longest_idle: 0,
            }),
            pace,
            name,
            on_reap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; never turn poisoning into a
        // panic in every task of the process anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> u64 {
        self.clock.load(Relaxed)
    }

    /// Starts tracking `name`. On a closed reaper the entry is born closed.
    pub(crate) fn register(self: &Arc<Self>, name: Arc<str>) -> Arc<Entry> {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        let now = self.now();
        if st.closed {
            let entry = Arc::new(Entry::new(self.clone(), id, name, now, u32::MAX));
            entry.end(CLOSED, 0);
            return entry;
        }
        let slot = st.queue.next_slot();
        let entry = Arc::new(Entry::new(self.clone(), id, name, now, slot));
        st.queue.insert(self.pace.due(now), entry.clone());
        st.stats.total += 1;
        let driver = if st.queue.len() == 1 {
            st.driver.take()
        } else {
            None
        };
        drop(st);
        if let Some(d) = driver {
            d.wake(); // it was parked with nothing to do
        }
        entry
    }

    /// The entry finished (`finished`) or was dropped by its owner.
    pub(crate) fn leave(&self, entry: &Entry, finished: bool) {
        if entry.state() != LIVE {
            return; // reaped, closed or already left: nothing to take out
        }
        let mut st = self.lock();
        let idle = self.now().saturating_sub(entry.last());
        if !entry.end(LEFT, idle) {
            return; // already reaped or closed
        }
        if let Some(removed) = st.queue.remove(entry.slot) {
            debug_assert!(std::ptr::eq(&*removed, entry));
        }
        st.longest_idle = st.longest_idle.max(idle);
        if finished {
            st.stats.finished += 1;
        } else {
            st.stats.dropped += 1;
        }
    }

    /// Advances the clock by one period and reaps what expired; returns
    /// when the driver should wake next (`None`: closed).
    pub(crate) fn tick(&self) -> Option<Instant> {
        let mut reaped = Vec::new();
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        let now = self.now() + 1;
        self.clock.store(now, Relaxed);
        while let Some(slot) = st.queue.pop(now) {
            let Some(last) = st.queue.get(slot).map(|e| e.last()) else {
                continue;
            };
            let due = self.pace.due(last);
            if due > now {
                // Touched since it was queued: lazily move it to its new period.
                st.queue.relink(slot, due);
                st.longest_idle = st.longest_idle.max(now - last);
                continue;
            }
            if let Some(entry) = st.queue.remove(slot) {
                let idle = now - last;
                entry.end(REAPED, idle);
                st.longest_idle = st.longest_idle.max(idle);
                st.stats.reaped += 1;
                reaped.push(entry);
            }
        }
        drop(st);
        let stored_at = crate::rt::clock::now();
        for entry in reaped {
            crate::trace::event!("async_guard::reaper", INFO, "task reaped";
                reaper = ?self.name, task = %entry.name,
                idle_ms = entry.idle_at_end().as_secs_f64() * 1e3);
            // The hook runs first, so it has run when the task sees `Err`.
            if let Some(hook) = &self.on_reap {
                let call = || hook(&entry.name, entry.idle_at_end());
                // A panicking hook must not stop the reaper.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
            }
            // A panicking waker must not stop the driver (it would close
            // the reaper for every task).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry.wake()));
        }
        self.pace.next_wake(stored_at)
    }

    /// For the driver: `Ready(true)` when it is time to tick (at `wake_at`),
    /// `Ready(false)` once closed; parks it (no timer armed) while nothing
    /// is tracked.
    pub(crate) fn poll_wait(
        &self,
        timer: &mut Sleep,
        wake_at: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        let mut st = self.lock();
        if st.closed {
            return Poll::Ready(false);
        }
        // The replaced waker is dropped after the lock is released: its
        // drop may re-enter the crate.
        let old = st.driver.replace(cx.waker().clone());
        let idle = st.queue.len() == 0;
        drop(st);
        drop(old);
        match wake_at {
            Some(at) if !idle => timer.poll_until(at, cx).map(|_| true),
            _ => {
                timer.cancel();
                Poll::Pending
            }
        }
    }

    /// Stops the reaper: every entry still tracked ends as closed and is woken.
    /// `true` if this call closed it (`false`: it already was).
    pub(crate) fn close(&self) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        st.closed = true;
        let now = self.now();
        let entries = st.queue.drain();
        for entry in &entries {
            entry.end(CLOSED, now.saturating_sub(entry.last()));
        }
        st.stats.closed += entries.len() as u64;
        let driver = st.driver.take();
        drop(st);
        entries.iter().for_each(|e| e.wake());
        if let Some(d) = driver {
            d.wake();
        }
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn snapshot(&self) -> Vec<TaskInfo> {
        let st = self.lock();
        let now = self.now();
        st.queue
            .iter()
            .map(|e| TaskInfo {
                id: e.id,
                name: e.name.clone(),
                idle_for: self.pace.duration(now.saturating_sub(e.last())),
                age: self.pace.duration(now.saturating_sub(e.born)),
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> ReaperStats {
        let st = self.lock();
        ReaperStats {
            tracked: st.queue.len(),
            longest_idle: self.pace.duration(st.longest_idle),
            ..st.stats
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reaper")
            .field("name", &self.name)
            .field("ttl", &self.pace.ttl)
            .field("tick", &self.pace.tick)
            .field("clock", &self.now())
            .finish_non_exhaustive()
    }
}
