//! The [`Shielded`] handle and the one-shot slot the work delivers into.
//!
//! The handle and the running work share one `Slot`. Whoever comes second
//! decides what happens to the outcome: the work stores it for a handle
//! that still exists, or, when the handle is gone, drops it (reporting a
//! panic as unobserved); the handle's `Drop` does the same for an outcome
//! that arrived but was never read. One mutex keeps this race-free.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_lite::FutureExt as _;

use super::set::SetInner;
use crate::sync::{Mutex, MutexGuard};

/// What a panic carries (`std::panic::catch_unwind`'s error).
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

enum State<T> {
    /// The work is still running; the waker of the last poll of the handle.
    Running(Option<Waker>),
    /// The work finished: its output or its panic, not yet read.
    Done(Result<T, Payload>),
    /// The executor dropped the work before it finished.
    Lost,
    /// The handle read the outcome (or was dropped).
    Closed,
}

pub(crate) struct Slot<T> {
    state: Mutex<State<T>>,
    /// The set the work counts in; shared by both ends through the slot, so
    /// one piece of work costs one reference count on the set, not two.
    set: Arc<SetInner>,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while the lock is held, but never turn poisoning
        // into a second panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `future` to its end, catching a panic, and delivers the outcome.
///
/// `is_expired` tells a grace-deadline expiry apart from a normal end, for
/// the counters.
pub(crate) async fn run_work<F>(
    work: Work<F::Output>,
    future: F,
    is_expired: fn(&F::Output) -> bool,
) where
    F: Future,
{
    let outcome = AssertUnwindSafe(future).catch_unwind().await;
    work.deliver(outcome, is_expired);
}

/// The work's side of the slot. Dropped without delivering (the executor
/// dropped the task), it marks the work as lost so the handle never hangs.
pub(crate) struct Work<T> {
    slot: Arc<Slot<T>>,
    delivered: bool,
}

impl<T> Work<T> {
    fn deliver(mut self, outcome: Result<T, Payload>, is_expired: fn(&T) -> bool) {
        self.delivered = true;
        let set = &*self.slot.set;
        match &outcome {
            Ok(v) if is_expired(v) => set.count_expired(),
            Ok(_) => set.count_completed(),
            Err(_) => set.count_panicked(),
        }
        let mut state = self.slot.lock();
        match std::mem::replace(&mut *state, State::Closed) {
            State::Running(waker) => {
                // Counted as ended before the handle can see the output, so
                // a caller that got the output also sees it in the stats.
                set.finish_one();
                *state = State::Done(outcome);
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            _ => {
                // The handle is gone: nobody will read the outcome.
                drop(state);
                match outcome {
                    Err(panic) => set.unobserved_panic(panic),
                    Ok(output) => {
                        // A panicking `Drop` of the output must not escape
                        // into the executor.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| drop(output)));
                    }
                }
                // Only now: a drain that sees nothing in flight knows the
                // hook has run.
                set.finish_one();
            }
        }
    }
}

impl<T> Drop for Work<T> {
    fn drop(&mut self) {
        if self.delivered {
            return;
        }
        let set = &*self.slot.set;
        set.count_lost();
        let mut state = self.slot.lock();
        set.finish_one();
        let waker = match std::mem::replace(&mut *state, State::Lost) {
            State::Running(waker) => waker,
            _ => None,
        };
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Creates the two ends for one piece of work.
pub(crate) fn pair<T>(set: Arc<SetInner>) -> (Work<T>, Shielded<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State::Running(None)),
        set,
    });
    let handle = Shielded {
        slot: slot.clone(),
        taken: false,
    };
    let work = Work {
        slot,
        delivered: false,
    };
    (work, handle)
}

/// A handle to shielded work; created by [`shield`](super::shield),
/// [`shield_within`](super::shield_within) and [`ShieldSet`](super::ShieldSet).
///
/// Awaiting it gives the work's output. Dropping it does **not** cancel the
/// work: the work runs to its end anyway and its output is dropped (a panic
/// is then counted as unobserved and passed to the panic hook, see
/// [`ShieldSet::on_panic`](super::ShieldSet::on_panic)).
///
/// # Panics
///
/// Awaiting the handle re-raises a panic of the work (with the original
/// payload), like joining a thread would. It also panics if the executor the
/// work was given to dropped it before it finished (only possible with
/// [`ShieldSet::with_spawner`](super::ShieldSet::with_spawner), for example
/// when that executor is shut down), and when polled again after it
/// returned its output.
///
/// # Examples
///
/// ```
/// use async_guard::shield::shield;
/// # futures_lite::future::block_on(async {
/// let handle = shield(async { 6 * 7 });
/// assert_eq!(handle.await, 42);
/// # });
/// ```
#[must_use = "the work runs anyway; drop the handle explicitly if you do not need its output"]
pub struct Shielded<T> {
    slot: Arc<Slot<T>>,
    /// The output was returned: `Drop` has nothing to look at.
    taken: bool,
}

impl<T> Shielded<T> {
    /// `true` once the work has ended (with an output, a panic, or lost by
    /// its executor): awaiting the handle then returns at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::shield::shield;
    /// # futures_lite::future::block_on(async {
    /// let handle = shield(async_io::Timer::after(Duration::from_millis(5)));
    /// assert!(!handle.is_finished());
    /// async_io::Timer::after(Duration::from_millis(200)).await;
    /// assert!(handle.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.lock(), State::Running(_))
    }
}

impl<T> Future for Shielded<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let mut state = this.slot.lock();
        match &mut *state {
            State::Running(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Done(_) => {
                let State::Done(outcome) = std::mem::replace(&mut *state, State::Closed) else {
                    unreachable!("matched Done above")
                };
                drop(state);
                this.taken = true;
                match outcome {
                    Ok(v) => Poll::Ready(v),
                    Err(panic) => resume_unwind(panic),
                }
            }
            State::Lost => {
                drop(state);
                panic!(
                    "shielded work was dropped by its executor before it finished (was the executor shut down?)"
                )
            }
            State::Closed => {
                drop(state);
                panic!("`Shielded` polled after it returned its output")
            }
        }
    }
}

impl<T> Drop for Shielded<T> {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let old = std::mem::replace(&mut *self.slot.lock(), State::Closed);
        match old {
            // An outcome nobody read: a panic counts as unobserved.
            State::Done(Err(panic)) => self.slot.set.unobserved_panic(panic),
            // A `Drop` of the output that panics while we are already
            // unwinding would abort; keep it contained.
            State::Done(Ok(output)) if std::thread::panicking() => {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| drop(output)));
            }
            _ => {}
        }
    }
}

impl<T> fmt::Debug for Shielded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
