//! A deadline plus its timer registration: the piece every timeout shares.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::scope;
use crate::Elapsed;
use crate::wheel::Sleep;

/// An optional own deadline, bounded by the enclosing scope when polled.
///
/// A deadline given as a duration starts its clock lazily: at the end of the
/// first poll that leaves the operation pending (or earlier, the moment
/// nested code asks for it). A future that is ready on its first poll thus
/// never reads the clock, exactly like the raw `or(Timer::after(d))` idiom,
/// whose timer is only created once the operation is pending.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    /// The resolved own deadline (`None`: never, or not started).
    own: Option<Instant>,
    /// A duration whose clock has not started yet.
    not_started: Option<Duration>,
    sleep: Sleep,
}

impl Deadline {
    pub(crate) fn at(own: Option<Instant>) -> Self {
        Deadline {
            own,
            ..Deadline::default()
        }
    }

    pub(crate) fn after(d: Duration) -> Self {
        Deadline {
            not_started: Some(d),
            ..Deadline::default()
        }
    }

    /// The own deadline; a clock not started yet is projected from now.
    pub(crate) fn own(&self) -> Option<Instant> {
        match self.not_started {
            Some(d) => Instant::now().checked_add(d),
            None => self.own,
        }
    }

    pub(crate) fn set(&mut self, own: Option<Instant>) {
        self.own = own;
        self.not_started = None;
    }

    /// Restarts the clock: `d` from the next poll that leaves us pending.
    pub(crate) fn restart(&mut self, d: Duration) {
        self.own = None;
        self.not_started = Some(d);
    }

    pub(crate) fn extend(&mut self, by: Duration) {
        match &mut self.not_started {
            Some(d) => match d.checked_add(by) {
                Some(longer) => *d = longer,
                None => self.set(None),
            },
            None => self.own = self.own.and_then(|at| at.checked_add(by)),
        }
    }

    /// Polls `f` with our deadline published as the current one for the
    /// code inside, and starts a lazy clock if `f` left us pending.
    #[inline]
    pub(crate) fn scoped<T>(&mut self, f: impl FnOnce() -> Poll<T>) -> Poll<T> {
        let enclosing = scope::current();
        let Some(d) = self.not_started else {
            return scope::enter(scope::earliest(self.own, enclosing), f);
        };
        let (out, resolved) = scope::enter_lazy(enclosing, d, f);
        if out.is_pending() {
            match resolved {
                Some(own) => self.set(own),
                // The frame's clock reading: the timer check right after
                // reuses it instead of reading the clock again.
                None => self.set(scope::now().checked_add(d)),
            }
        }
        out
    }

    /// `Ready(elapsed)` once the effective deadline passed; otherwise makes
    /// sure the task is woken when it does. Call after [`scoped`](Self::scoped)
    /// returned `Pending`.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        let own = self.own();
        let Some(at) = scope::earliest(own, scope::current()) else {
            self.sleep.cancel();
            return Poll::Pending;
        };
        let now = scope::now();
        match self.sleep.poll_until(at, now, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                // Equal deadlines are reported as our own.
                let from_enclosing = own.is_none_or(|own| own > at);
                Poll::Ready(Elapsed::new(at, from_enclosing, now))
            }
        }
    }

    /// `true` if the effective deadline already passed (reads the clock
    /// only when there is a deadline).
    pub(crate) fn passed(&self) -> bool {
        scope::earliest(self.own(), scope::current()).is_some_and(|at| scope::now() >= at)
    }

    /// Forgets the timer registration (after completion).
    #[inline]
    pub(crate) fn disarm(&mut self) {
        self.sleep.cancel();
    }
}
