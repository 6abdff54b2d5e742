//! [`LagProbe`]: a heartbeat task that measures its own scheduling lag.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::rt::{clock, timer::Sleep};

/// How many recent beats the percentiles are computed over.
const WINDOW: usize = 1024;
/// The shortest interval: a zero interval would make the probe a hot loop.
const MIN_INTERVAL: Duration = Duration::from_micros(100);
/// The default "this beat was late" threshold.
const DEFAULT_THRESHOLD: Duration = Duration::from_millis(10);

/// Measures how late a thread (or executor) runs its tasks: a heartbeat
/// task wakes every `interval` and records how long after its timer's
/// deadline it actually ran. On an idle executor that lag is the timer
/// slack (tens of microseconds); while a task hogs the thread it grows to
/// the length of the hog. It is what users of a blocked service feel.
///
/// [`LagProbe::new`] returns the probe (a cheap, cloneable handle for
/// reading [`stats`](LagProbe::stats)) and the [`Heartbeat`] future, which
/// you spawn on the executor you want to watch, any executor. The heartbeat
/// ends after [`stop`](LagProbe::stop), or once every probe handle is
/// dropped (at its next beat at the latest).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::budget::LagProbe;
/// # futures_lite::future::block_on(async {
/// let (probe, heartbeat) = LagProbe::new(Duration::from_millis(1));
/// let task = smol::spawn(heartbeat);
/// async_io::Timer::after(Duration::from_millis(20)).await;
/// let stats = probe.stats();
/// println!("{} beats, worst lag {:?}, p99 {:?}", stats.beats, stats.worst, stats.p99);
/// probe.stop();
/// task.await;
/// # });
/// ```
#[derive(Clone)]
pub struct LagProbe {
    owner: Arc<Owner>,
}

/// Stops the heartbeat when the last [`LagProbe`] clone goes away (the
/// heartbeat only holds the shared state): the last-handle pattern of the
/// CPU pool and the reaper, exact where counting references could miss.
struct Owner {
    shared: Arc<Mutex<State>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        stop(&self.shared);
    }
}

/// Marks the heartbeat stopped and wakes it (outside the lock).
fn stop(shared: &Mutex<State>) {
    let waker = {
        let mut state = lock(shared);
        state.stopped = true;
        state.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A snapshot of a [`LagProbe`]'s measurements.
///
/// `worst`, `mean` and `over_threshold` cover every beat since the probe
/// was created (or [`reset`](LagProbe::reset)); `p50` and `p99` cover the
/// last 1024 beats, so they follow the current state of the executor. All
/// durations are zero before the first beat.
///
/// # Examples
///
/// ```
/// let (probe, _heartbeat) = async_guard::budget::LagProbe::new(std::time::Duration::from_millis(5));
/// let stats = probe.stats();
/// assert_eq!(stats.beats, 0);
/// assert_eq!(stats.worst, std::time::Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LagStats {
    /// Beats recorded.
    pub beats: u64,
    /// The lag of the latest beat.
    pub last: Duration,
    /// The largest lag seen.
    pub worst: Duration,
    /// The mean lag.
    pub mean: Duration,
    /// The median lag over the recent window.
    pub p50: Duration,
    /// The 99th percentile lag over the recent window.
    pub p99: Duration,
    /// Beats whose lag was at or above the threshold.
    pub over_threshold: u64,
    /// The threshold in force.
    pub threshold: Duration,
}

struct State {
    threshold: Duration,
    beats: u64,
    total: Duration,
    last: Duration,
    worst: Duration,
    over_threshold: u64,
    /// Recent lags in nanoseconds, a ring of up to `WINDOW` entries.
    recent: Vec<u64>,
    next: usize,
    stopped: bool,
    waker: Option<Waker>,
}

impl State {
    fn record(&mut self, lag: Duration) {
        self.beats += 1;
        self.total = self.total.saturating_add(lag);
        self.last = lag;
        self.worst = self.worst.max(lag);
        if lag >= self.threshold {
            self.over_threshold += 1;
        }
        let nanos = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        if self.recent.len() < WINDOW {
            self.recent.push(nanos);
        } else {
            self.recent[self.next] = nanos;
        }
        self.next = (self.next + 1) % WINDOW;
    }

    fn clear(&mut self) {
        let (threshold, stopped, waker) = (self.threshold, self.stopped, self.waker.take());
        *self = State::new(threshold);
        self.stopped = stopped;
        self.waker = waker;
    }

    fn new(threshold: Duration) -> Self {
        State {
            threshold,
            beats: 0,
            total: Duration::ZERO,
            last: Duration::ZERO,
            worst: Duration::ZERO,
            over_threshold: 0,
            recent: Vec::new(),
            next: 0,
            stopped: false,
            waker: None,
        }
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding this lock cannot leave the counters inconsistent
    // in a way that matters, so a poisoned lock is simply used.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LagProbe {
    /// A probe beating every `interval`, counting beats late by 10 ms or
    /// more as over the threshold.
    ///
    /// `interval` is clamped to at least 100 µs (a zero interval would make
    /// the heartbeat itself a hot loop). An interval too large for `Instant`
    /// (such as `Duration::MAX`) means the heartbeat never beats.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (probe, heartbeat) = async_guard::budget::LagProbe::new(Duration::from_millis(10));
    /// smol::spawn(heartbeat).detach();
    /// # probe.stop();
    /// ```
    pub fn new(interval: Duration) -> (LagProbe, Heartbeat) {
        Self::with_threshold(interval, DEFAULT_THRESHOLD)
    }

    /// Like [`new`](LagProbe::new), with a chosen threshold for
    /// [`LagStats::over_threshold`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::budget::LagProbe;
    /// let (probe, _heartbeat) = LagProbe::with_threshold(Duration::from_millis(1), Duration::from_millis(2));
    /// assert_eq!(probe.stats().threshold, Duration::from_millis(2));
    /// ```
    pub fn with_threshold(interval: Duration, threshold: Duration) -> (LagProbe, Heartbeat) {
        let shared = Arc::new(Mutex::new(State::new(threshold)));
        let heartbeat = Heartbeat {
            shared: shared.clone(),
            interval: interval.max(MIN_INTERVAL),
            timer: Sleep::default(),
            scheduled: None,
            started: false,
        };
        (
            LagProbe {
                owner: Arc::new(Owner { shared }),
            },
            heartbeat,
        )
    }

    /// The measurements so far.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::budget::LagProbe;
    /// # futures_lite::future::block_on(async {
    /// let (probe, heartbeat) = LagProbe::new(Duration::from_millis(1));
    /// let task = smol::spawn(heartbeat);
    /// async_io::Timer::after(Duration::from_millis(10)).await;
    /// let s = probe.stats();
    /// assert!(s.p50 <= s.p99 && s.p99 <= s.worst);
    /// probe.stop();
    /// task.await;
    /// # });
    /// ```
    pub fn stats(&self) -> LagStats {
        let state = lock(&self.owner.shared);
        let mut recent = state.recent.clone();
        let threshold = state.threshold;
        let (beats, total, last, worst, over_threshold) = (
            state.beats,
            state.total,
            state.last,
            state.worst,
            state.over_threshold,
        );
        drop(state);
        recent.sort_unstable();
        let percentile = |p: usize| {
            // Nearest rank: the smallest value with at least p% at or below it.
            let rank = (recent.len() * p).div_ceil(100).max(1);
            recent
                .get(rank - 1)
                .map_or(Duration::ZERO, |n| Duration::from_nanos(*n))
        };
        let mean = match u32::try_from(beats) {
            Ok(0) => Duration::ZERO,
            Ok(n) => total / n,
            Err(_) => Duration::from_secs_f64(total.as_secs_f64() / beats as f64),
        };
        LagStats {
            beats,
            last,
            worst,
            mean,
            p50: percentile(50),
            p99: percentile(99),
            over_threshold,
            threshold,
        }
    }

    /// Forgets all measurements (for example after a warm-up phase).
    ///
    /// ```
    /// let (probe, _heartbeat) = async_guard::budget::LagProbe::new(std::time::Duration::from_millis(1));
    /// probe.reset();
    /// assert_eq!(probe.stats().beats, 0);
    /// ```
    pub fn reset(&self) {
        lock(&self.owner.shared).clear();
    }

    /// Ends the heartbeat: it completes promptly (it is woken). Stopping
    /// twice, or after the heartbeat was dropped, does nothing.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let (probe, heartbeat) = async_guard::budget::LagProbe::new(std::time::Duration::from_secs(3600));
    /// let task = smol::spawn(heartbeat);
    /// probe.stop();
    /// task.await; // does not wait for the hour-long beat
    /// # });
    /// ```
    pub fn stop(&self) {
        stop(&self.owner.shared);
    }
}

impl fmt::Debug for LagProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LagProbe")
            .field("stats", &self.stats())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The heartbeat of a [`LagProbe`]: spawn it on the executor to watch.
    ///
    /// It completes after [`LagProbe::stop`] or when every probe handle is
    /// gone. Dropping it (cancelling its task) simply ends the measurements.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # futures_lite::future::block_on(async {
    /// let (probe, heartbeat) = async_guard::budget::LagProbe::new(Duration::from_millis(1));
    /// drop(probe); // nobody reads it any more
    /// heartbeat.await; // so it ends at once
    /// # });
    /// ```
    #[must_use = "the heartbeat measures nothing unless it is spawned or polled"]
    pub struct Heartbeat {
        shared: Arc<Mutex<State>>,
        interval: Duration,
        timer: Sleep,
        scheduled: Option<Instant>,
        started: bool,
    }
}

impl Future for Heartbeat {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        {
            let mut state = lock(this.shared);
            if state.stopped {
                return Poll::Ready(());
            }
            let mut replaced = None;
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                replaced = state.waker.replace(cx.waker().clone());
            }
            // The old waker is dropped after the lock: its drop may re-enter.
            drop(state);
            drop(replaced);
        }
        if !*this.started {
            // The first beat is scheduled from the first poll, not from
            // creation: time before the heartbeat was spawned is no lag.
            *this.started = true;
            *this.scheduled = clock::now().checked_add(*this.interval);
        }
        let Some(scheduled) = *this.scheduled else {
            return Poll::Pending; // an interval too long to schedule: never
        };
        let Poll::Ready(now) = this.timer.poll_until(scheduled, cx) else {
            return Poll::Pending;
        };
        lock(this.shared).record(now.saturating_duration_since(scheduled));
        // Schedule from now, not from the missed deadline: after a long
        // block, one late beat is reported, not a burst of catch-up beats.
        *this.scheduled = now.checked_add(*this.interval);
        if let Some(at) = *this.scheduled {
            // Register the new deadline. At most one beat per poll: a beat
            // that is due again at once makes the task yield, so the
            // heartbeat can never become a hot loop itself.
            if this.timer.poll_until(at, cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

impl fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("interval", &self.interval)
            .field("scheduled", &self.scheduled)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clones dropped at the same moment on two threads: the last one stops
    /// the heartbeat at once (an hour-long interval shows it was not its
    /// next beat). The old reference-count check could miss this.
    #[test]
    fn last_of_clones_dropped_together_stops_the_heartbeat() {
        for _ in 0..50 {
            let (probe, heartbeat) = LagProbe::new(Duration::from_secs(3600));
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                futures_lite::future::block_on(heartbeat);
                let _ = tx.send(());
            });
            let other = probe.clone();
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let b = barrier.clone();
            let t = std::thread::spawn(move || {
                b.wait();
                drop(other);
            });
            barrier.wait();
            drop(probe);
            t.join().unwrap();
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the heartbeat outlived every probe handle");
        }
    }
}
