//! A deadline plus its timer registration: the piece every timeout shares.

use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::scope;
use crate::Elapsed;
use crate::rt::clock;
use crate::rt::timer::Sleep;

/// An optional own deadline, bounded by the enclosing scope when polled.
///
/// A deadline given as a duration counts from the start of the first poll
/// (as asyncio, Trio and tokio count from entry): synchronous work inside
/// that poll uses up the time too, and code nested inside sees the same
/// instant. That costs one clock reading on the first poll, even for a
/// future that turns out to be ready.
#[derive(Default)]
pub(crate) struct Deadline {
    /// The resolved own deadline (`None`: never, or not started).
    own: Option<Instant>,
    /// A duration whose clock has not started yet.
    not_started: Option<Duration>,
    /// The duration configured, for the error message (`None`: an instant).
    configured: Option<Duration>,
    /// What the last [`scoped`](Self::scoped) poll saw inside.
    seen: scope::Seen,
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
            configured: Some(d),
            ..Deadline::default()
        }
    }

    /// The own deadline; a clock not started yet is projected from now.
    pub(crate) fn own(&self) -> Option<Instant> {
        match self.not_started {
            Some(d) => clock::now().checked_add(d),
            None => self.own,
        }
    }

    /// Moves the deadline to an instant (the configured duration, if any,
    /// no longer describes it).
    pub(crate) fn set(&mut self, own: Option<Instant>) {
        self.start_at(own);
        self.configured = None;
    }

    fn start_at(&mut self, own: Option<Instant>) {
        self.own = own;
        self.not_started = None;
    }

    /// Restarts the clock: `d` from the start of the next poll.
    pub(crate) fn restart(&mut self, d: Duration) {
        self.own = None;
        self.not_started = Some(d);
        self.configured = Some(d);
    }

    pub(crate) fn extend(&mut self, by: Duration) {
        match &mut self.not_started {
            Some(d) => match d.checked_add(by) {
                Some(longer) => *d = longer,
                None => self.set(None),
            },
            None => self.own = self.own.and_then(|at| at.checked_add(by)),
        }
        self.configured = self.configured.and_then(|d| d.checked_add(by));
    }

    /// Polls `f` with our deadline published as the current one for the
    /// code inside; starts the clock of a duration on the first poll.
    #[inline]
    pub(crate) fn scoped<T>(&mut self, f: impl FnOnce() -> Poll<T>) -> Poll<T> {
        if let Some(d) = self.not_started {
            self.start_at(clock::now().checked_add(d));
        }
        let (out, seen) = scope::enter(scope::earliest(self.own, scope::current()), f);
        self.seen = seen;
        out
    }

    /// `Ready(elapsed)` once the effective deadline passed; otherwise makes
    /// sure the task is woken when it does. Call after [`scoped`](Self::scoped)
    /// returned `Pending`.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        let own = self.own();
        let enclosing = scope::current();
        let Some(at) = scope::earliest(own, enclosing) else {
            self.sleep.cancel();
            return Poll::Pending;
        };
        // A deadline shared with an enclosing scope belongs to the
        // outermost one (as in asyncio and Trio): its whole block is out of
        // time, not just this operation.
        let from_enclosing = enclosing.is_some_and(|e| own.is_none_or(|own| e <= own));
        let seen = std::mem::take(&mut self.seen);
        match self.sleep.poll_until(at, cx) {
            Poll::Ready(_) if seen.ahead(at) => {
                // A child checked this deadline during the poll that just
                // ended and found it ahead; it passed since. Let the child
                // report it, in one more poll (see `scope`).
                if from_enclosing {
                    scope::saw_ahead(at);
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(now) => Poll::Ready(Elapsed::new(at, from_enclosing, now, self.configured)),
            Poll::Pending => {
                if from_enclosing {
                    scope::saw_ahead(at);
                }
                Poll::Pending
            }
        }
    }

    /// `true` if the effective deadline already passed (reads the clock
    /// only when there is a deadline).
    pub(crate) fn passed(&self) -> bool {
        scope::earliest(self.own(), scope::current()).is_some_and(|at| clock::now() >= at)
    }

    /// Forgets the timer registration (after completion).
    #[inline]
    pub(crate) fn disarm(&mut self) {
        self.sleep.cancel();
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("remaining", &Remaining(self.own()))
            .finish()
    }
}

/// Formats an optional deadline as the time left: `1.2s`, `expired`, or
/// `never`, rather than a raw `Instant { tv_sec, tv_nsec }`.
pub(crate) struct Remaining(pub(crate) Option<Instant>);

impl fmt::Debug for Remaining {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("never"),
            Some(at) => match at.checked_duration_since(clock::now()) {
                Some(left) if !left.is_zero() => write!(f, "{left:?}"),
                _ => f.write_str("expired"),
            },
        }
    }
}
