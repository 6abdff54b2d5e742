//! Cancellation torture: drop a future after every possible number of polls.
//!
//! [`Torture::run`] takes a factory that builds fresh state and a fresh
//! future, and for `k = 0, 1, 2, ...` builds one, polls it `k` times and
//! drops it, until a round completes the future within its `k` polls. After
//! every round it hands the state and the [`Outcome`] to a check closure,
//! which asserts the invariants of the cure under test (permits returned,
//! entry gone, shielded work still completes, ...).
//!
//! The polls are real: the waker unparks the test thread, and between two
//! polls the harness waits for that wake-up (so timers and other threads
//! make progress). A future that stays pending and is not woken within
//! [`wake_timeout`](Torture::wake_timeout) fails the test as a lost wake-up.
//! A second pass does the same with a spurious poll (no wake-up) after
//! every real one, since futures must tolerate those.
//!
//! Built in, after every round whatever the cure:
//!
//! - no waker leak: every clone of the round's waker must be dropped
//!   (within [`leak_timeout`](Torture::leak_timeout)) once the future is
//!   gone, so nothing (a queue, a timer, a slot) still refers to the task;
//! - no hang: a round count and a wall-clock bound; exceeding either fails.
//!
//! ```ignore
//! let report = Torture::new("limit::Acquire").run(
//!     || { let l = Limiter::new(1); let fut = l.acquire(); (l, fut) },
//!     |limiter, _outcome| assert_eq!(limiter.stats().in_use, 0),
//! );
//! assert!(report.polls_to_complete >= 1);
//! ```
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// What happened to the future in one round.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Dropped after this many polls, all `Pending` (`0`: never polled).
    Dropped(usize),
    /// Completed on poll number `.0` with this output.
    Completed(usize, T),
}

impl<T> Outcome<T> {
    /// `true` for [`Outcome::Dropped`].
    pub fn is_dropped(&self) -> bool {
        matches!(self, Outcome::Dropped(_))
    }

    /// The output, if the future completed.
    pub fn output(self) -> Option<T> {
        match self {
            Outcome::Completed(_, out) => Some(out),
            Outcome::Dropped(_) => None,
        }
    }
}

/// What a [`Torture::run`] did.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Rounds run over both passes, each with a fresh future.
    pub rounds: usize,
    /// Rounds in which the future was dropped while pending after at least
    /// one poll (the interesting ones).
    pub dropped_pending: usize,
    /// The most polls any completing round needed (1: ready at once).
    pub polls_to_complete: usize,
}

/// A cancellation-torture run; see the module docs.
#[derive(Debug, Clone)]
pub struct Torture {
    name: String,
    max_polls: usize,
    wake_timeout: Duration,
    leak_timeout: Duration,
    total: Duration,
    spurious: bool,
}

/// The round's waker: unparks the test thread and remembers it was woken.
struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        self.thread.unpark();
    }
}

impl Signal {
    /// Waits until woken, or `timeout`; `true` if woken.
    fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.woken.swap(false, SeqCst) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::park_timeout(until - now);
        }
    }
}

impl Torture {
    /// A run named `name` (used in failure messages) with the defaults:
    /// at most 2000 polls per round, 5 s to be woken, 5 s for the waker to
    /// be released, 20 s in all, spurious-poll pass on.
    pub fn new(name: impl Into<String>) -> Self {
        Torture {
            name: name.into(),
            max_polls: 2000,
            wake_timeout: Duration::from_secs(5),
            leak_timeout: Duration::from_secs(5),
            total: Duration::from_secs(20),
            spurious: true,
        }
    }

    /// How long a pending future may take to wake its task.
    pub fn wake_timeout(mut self, d: Duration) -> Self {
        self.wake_timeout = d;
        self
    }

    /// How long after a round the waker clones may take to be released.
    pub fn leak_timeout(mut self, d: Duration) -> Self {
        self.leak_timeout = d;
        self
    }

    /// Whether to run the second pass with spurious polls.
    pub fn spurious(mut self, on: bool) -> Self {
        self.spurious = on;
        self
    }

    /// Runs the torture: `make` builds `(state, future)` for each round,
    /// `check` asserts the invariants after it, given the state and what
    /// happened. Panics (with the round) on a failed check, a lost
    /// wake-up, a leaked waker or a hang.
    pub fn run<S, Fut, Make, Check>(&self, mut make: Make, mut check: Check) -> Report
    where
        Fut: Future,
        Make: FnMut() -> (S, Fut),
        Check: FnMut(&mut S, Outcome<Fut::Output>),
    {
        let start = Instant::now();
        let mut report = Report {
            rounds: 0,
            dropped_pending: 0,
            polls_to_complete: 0,
        };
        let passes: &[bool] = if self.spurious {
            &[false, true]
        } else {
            &[false]
        };
        for &spurious in passes {
            for k in 0..=self.max_polls {
                assert!(
                    start.elapsed() < self.total,
                    "{}: torture ran longer than {:?} (at k = {k})",
                    self.name,
                    self.total
                );
                let (mut state, fut) = make();
                let signal = Arc::new(Signal {
                    woken: AtomicBool::new(false),
                    thread: std::thread::current(),
                });
                let outcome = self.round(fut, k, spurious, &signal);
                report.rounds += 1;
                let done = match &outcome {
                    Outcome::Completed(polls, _) => {
                        report.polls_to_complete = report.polls_to_complete.max(*polls);
                        true
                    }
                    Outcome::Dropped(0) => false,
                    Outcome::Dropped(_) => {
                        report.dropped_pending += 1;
                        false
                    }
                };
                check(&mut state, outcome);
                drop(state);
                let released = eventually(self.leak_timeout, || Arc::strong_count(&signal) == 1);
                assert!(
                    released,
                    "{}: {} clone(s) of the waker still alive {:?} after the round with k = {k} \
                     (spurious = {spurious}): something still refers to the dropped task",
                    self.name,
                    Arc::strong_count(&signal) - 1,
                    self.leak_timeout
                );
                if done {
                    break;
                }
                assert!(
                    k < self.max_polls,
                    "{}: not complete after {k} polls",
                    self.name
                );
            }
        }
        report
    }

    /// One round: at most `k` polls, then the future is dropped.
    fn round<Fut: Future>(
        &self,
        fut: Fut,
        k: usize,
        spurious: bool,
        signal: &Arc<Signal>,
    ) -> Outcome<Fut::Output> {
        let waker = Waker::from(signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        let mut polls = 0;
        while polls < k {
            polls += 1;
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return Outcome::Completed(polls, out);
            }
            if polls == k {
                break;
            }
            if spurious && polls % 2 == 1 {
                // The next poll comes without a wake-up.
                std::thread::yield_now();
                continue;
            }
            assert!(
                signal.wait(self.wake_timeout),
                "{}: pending after poll {polls} (k = {k}, spurious = {spurious}) and not \
                 woken within {:?}: lost wake-up",
                self.name,
                self.wake_timeout
            );
        }
        Outcome::Dropped(polls)
        // `fut` is dropped here, before the check runs.
    }
}

/// Polls `cond` every millisecond until it holds or `timeout` passes;
/// returns its last value.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return cond();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
