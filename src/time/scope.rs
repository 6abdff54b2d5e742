//! The deadline in force on this thread while a future is being polled.
//!
//! No executor offers task-local storage that works everywhere, but a poll is
//! synchronous: a parent future can publish its deadline in a thread-local
//! for exactly the duration of its child's `poll` and restore the previous
//! value afterwards. Every nested timeout reads it while it is polled, so the
//! deadline is visible to the code inside and to nobody else, on any executor.
//!
//! The thread-local holds one plain `u64` (nanoseconds since the clock's
//! epoch) rather than an `Option<Instant>`: this sits on the path of every
//! poll of every timeout, and copying a small integer is cheaper than
//! copying the padded `Option` struct (measured in `benches/time.rs`,
//! "ready_first_poll").
//!
//! Only deadlines travel here, never clock readings: each check reads the
//! clock when it is made, so a nested `block_on` or a long synchronous
//! stretch inside a timeout always sees time move.
//!
//! What travels back up is a verdict: a nested timeout that checked an
//! enclosing deadline and found it still ahead notes it ([`saw_ahead`]).
//! If that deadline passes before the enclosing timeout checks it a moment
//! later (a preemption between the two checks), the enclosing timeout does
//! not contradict its child: it asks for one more poll, in which the child
//! sees the deadline passed and reports it. So when a shared deadline
//! passes, the innermost timeout bounded by it always reports it, however
//! the thread was scheduled.

use std::cell::Cell;
use std::time::Instant;

use crate::rt::clock;

/// Encodes "no deadline".
const NEVER: u64 = u64::MAX;

thread_local! {
    /// The earliest deadline of all enclosing scopes, and the enclosing
    /// deadline a nested check saw still ahead during this scope (`NEVER`:
    /// none).
    static CURRENT: Cell<(u64, u64)> = const { Cell::new((NEVER, NEVER)) };
}

#[inline]
fn encode(at: Option<Instant>) -> u64 {
    // Before the epoch is long past: 0 decodes to the epoch, also past.
    // Past what a u64 can hold (centuries away): `to_nanos` saturates to
    // `NEVER`.
    at.map_or(NEVER, clock::to_nanos)
}

#[inline]
fn decode(at: u64) -> Option<Instant> {
    if at == NEVER {
        None
    } else {
        clock::from_nanos(at)
    }
}

/// The effective deadline of the enclosing scopes, if any.
#[inline]
pub(crate) fn current() -> Option<Instant> {
    decode(CURRENT.with(Cell::get).0)
}

/// Notes, for the enclosing timeout, that its deadline `at` was checked
/// in here and found still ahead.
#[inline]
pub(crate) fn saw_ahead(at: Instant) {
    CURRENT.with(|c| c.set((c.get().0, encode(Some(at)))));
}

/// What [`enter`] saw inside: the enclosing deadline a nested check found
/// still ahead, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen(Option<u64>);

impl Seen {
    /// `true` if a nested check saw `at` still ahead.
    pub(crate) fn ahead(self, at: Instant) -> bool {
        self.0 == Some(encode(Some(at)))
    }
}

/// The earlier of two optional deadlines (`None` means never).
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs `f` with `at` (an effective deadline) published, restoring the
/// previous one afterwards, even if `f` panics.
#[inline]
pub(crate) fn enter<R>(at: Option<Instant>, f: impl FnOnce() -> R) -> (R, Seen) {
    /// Restores the previous scope even if `f` panics.
    struct Restore((u64, u64));
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let restore = Restore(CURRENT.with(|c| c.replace((encode(at), NEVER))));
    let out = f();
    let seen = CURRENT.with(|c| c.get().1);
    drop(restore);
    (out, Seen((seen != NEVER).then_some(seen)))
}
