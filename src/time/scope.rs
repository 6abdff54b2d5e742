//! The deadline in force on this thread while a future is being polled.
//!
//! No executor offers task-local storage that works everywhere, but a poll is
//! synchronous: a parent future can publish its deadline in a thread-local
//! for exactly the duration of its child's `poll` and restore the previous
//! value afterwards. Every nested timeout reads it while it is polled, so the
//! deadline is visible to the code inside and to nobody else, on any executor.
//!
//! A timeout created from a `Duration` has not read the clock yet on its
//! first poll (reading it costs more than a ready future). It publishes the
//! duration instead; the first nested reader turns it into an instant and
//! writes that back, so parent and children agree on one deadline.
//!
//! The thread-local holds three plain `u64`s (nanoseconds since a process
//! epoch) rather than `Option<Instant>`s: this sits on the path of every
//! poll of every timeout, and copying small integers is several times
//! cheaper than copying the padded `Option` structs (measured in
//! `benches/time.rs`, "ready_first_poll").

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Encodes "no deadline".
const NEVER: u64 = u64::MAX;
/// Encodes "no lazy duration" / "not resolved".
const NONE: u64 = u64::MAX - 1;

#[derive(Clone, Copy)]
struct Scope {
    /// Earliest deadline of all enclosing scopes, already resolved.
    at: u64,
    /// The innermost scope's duration whose clock has not started yet.
    lazy: u64,
    /// What that lazy duration resolved to.
    resolved: u64,
}

const OUTSIDE: Scope = Scope {
    at: NEVER,
    lazy: NONE,
    resolved: NONE,
};

thread_local! {
    static CURRENT: Cell<Scope> = const { Cell::new(OUTSIDE) };
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[inline]
fn encode(at: Option<Instant>) -> u64 {
    match at {
        None => NEVER,
        // Before the epoch is long past: 0 decodes to the epoch, also past.
        Some(at) => u64::try_from(at.saturating_duration_since(epoch()).as_nanos())
            .map_or(NEVER, |n| n.min(NONE - 1)),
    }
}

#[inline]
fn decode(at: u64) -> Option<Instant> {
    if at >= NONE {
        None
    } else {
        epoch().checked_add(Duration::from_nanos(at))
    }
}

thread_local! {
    /// How many timeouts are polling on this thread right now, and the
    /// clock reading they share (taken by the first that needed one).
    static FRAME: Cell<(u32, Option<Instant>)> = const { Cell::new((0, None)) };
}

/// Runs one poll of a timeout. All deadline checks inside the outermost
/// such poll use one clock reading ([`now`]), so nested timeouts agree on
/// whether a shared deadline has passed: the innermost, polled first,
/// reports it (`Elapsed::is_enclosing`), and no enclosing timeout can see it
/// expire while the inner one, a moment earlier, did not.
#[inline]
pub(crate) fn frame<R>(f: impl FnOnce() -> R) -> R {
    /// Leaves the frame even if `f` panics; the outermost forgets the clock.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            FRAME.with(|c| {
                let (depth, now) = c.get();
                c.set(if depth <= 1 {
                    (0, None)
                } else {
                    (depth - 1, now)
                });
            });
        }
    }
    FRAME.with(|c| {
        let (depth, now) = c.get();
        c.set((depth + 1, now));
    });
    let _leave = Leave;
    f()
}

/// The clock reading shared by the current poll frame (read on first use).
#[inline]
pub(crate) fn now() -> Instant {
    FRAME.with(|c| match c.get() {
        (_, Some(now)) => now,
        (depth, None) => {
            let now = Instant::now();
            if depth > 0 {
                c.set((depth, Some(now)));
            }
            now
        }
    })
}

/// The effective deadline of the enclosing scopes, if any.
#[inline]
pub(crate) fn current() -> Option<Instant> {
    CURRENT.with(|cell| {
        let scope = cell.get();
        if scope.lazy == NONE {
            return decode(scope.at);
        }
        let own = now().checked_add(Duration::from_nanos(scope.lazy));
        let own = encode(own);
        let at = scope.at.min(own);
        cell.set(Scope {
            at,
            lazy: NONE,
            resolved: own,
        });
        decode(at)
    })
}

/// The earlier of two optional deadlines (`None` means never).
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs `f` with `at` (an effective, resolved deadline) published.
#[inline]
pub(crate) fn enter<R>(at: Option<Instant>, f: impl FnOnce() -> R) -> R {
    let scope = Scope {
        at: encode(at),
        ..OUTSIDE
    };
    enter_scope(scope, f).0
}

/// Runs `f` inside a scope of `d` whose clock has not started, within the
/// resolved enclosing deadline `enclosing`. Returns what the duration was
/// resolved to if code inside asked for the deadline (`Some(None)`: never).
#[inline]
pub(crate) fn enter_lazy<R>(
    enclosing: Option<Instant>,
    d: Duration,
    f: impl FnOnce() -> R,
) -> (R, Option<Option<Instant>>) {
    let lazy = match u64::try_from(d.as_nanos()) {
        Ok(n) if n < NONE - 1 => n,
        // Too long to encode (centuries, `Duration::MAX`): resolve it now
        // rather than clamp it into a finite deadline. `None` if `Instant`
        // cannot represent it: never.
        _ => {
            let own = now().checked_add(d);
            return (enter(earliest(enclosing, own), f), Some(own));
        }
    };
    let scope = Scope {
        at: encode(enclosing),
        lazy,
        resolved: NONE,
    };
    let (out, resolved) = enter_scope(scope, f);
    let resolved = (resolved != NONE).then(|| decode(resolved));
    (out, resolved)
}

#[inline]
fn enter_scope<R>(scope: Scope, f: impl FnOnce() -> R) -> (R, u64) {
    /// Restores the previous scope even if `f` panics.
    struct Restore(Scope);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let restore = Restore(CURRENT.with(|c| c.replace(scope)));
    let out = f();
    let resolved = CURRENT.with(|c| c.get().resolved);
    drop(restore);
    (out, resolved)
}
