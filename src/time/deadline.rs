//! A deadline plus its timer registration: the piece every timeout shares.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::scope;
use crate::Elapsed;
use crate::wheel::Sleep;

/// `now + d`, or `None` (never) when that is not representable.
pub(crate) fn after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// An optional own deadline, bounded by the enclosing scope when polled.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    pub(crate) own: Option<Instant>,
    sleep: Sleep,
}

impl Deadline {
    pub(crate) fn new(own: Option<Instant>) -> Self {
        Deadline {
            own,
            sleep: Sleep::default(),
        }
    }

    /// The deadline that applies now: the earlier of our own and the
    /// enclosing scope's.
    pub(crate) fn effective(&self) -> Option<Instant> {
        scope::earliest(self.own, scope::current())
    }

    /// `Ready(elapsed)` once the effective deadline passed; otherwise makes
    /// sure the task is woken when it does.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        let enclosing = scope::current();
        let Some(at) = scope::earliest(self.own, enclosing) else {
            self.sleep.cancel();
            return Poll::Pending;
        };
        match self.sleep.poll_until(at, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                // Equal deadlines are reported as our own.
                let from_enclosing = self.own.is_none_or(|own| own > at);
                Poll::Ready(Elapsed::new(at, from_enclosing, Instant::now()))
            }
        }
    }

    /// Forgets the timer registration (after completion).
    pub(crate) fn disarm(&mut self) {
        self.sleep.cancel();
    }
}
