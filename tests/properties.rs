//! Cross-cure property tests (proptest, small case counts), for what the
//! per-cure files do not already check:
//!
//! - random deadline nesting vs which deadline fires: the innermost
//!   `Timeout` reports the earliest deadline of all the scopes, never
//!   early, and `is_enclosing` says whether it was its own;
//! - limit x time: random acquires with timeouts, closes, resizes (absolute,
//!   `add_permits`, `forget_permits`, zero limits) on a real executor with
//!   virtual timers; every permit comes back, no waiter is stuck, and
//!   `stats()` agrees with what the callers saw.
//!
//! Deadlines run on a virtual clock (`TestClock`, auto-advancing): a
//! deadline fires exactly on its instant.
//!
//! Already covered (not repeated): single-threaded interleavings of
//! acquire/release/drop/close/set_limit/forget/split with permit
//! conservation (`tests/limit.rs`, `permits_are_conserved`), random touch
//! schedules vs reaping (`tests/reaper.rs`), jobs and admission permits
//! conserved under random drops (`tests/offload.rs`), elapsed-never-early
//! with one level of nesting (`tests/time.rs`).

mod support;

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use async_guard::Elapsed;
use async_guard::limit::{AcquireError, Limiter};
use async_guard::prelude::*;
use async_guard::time::{TestClock, current_deadline, sleep, timeout, timeout_at};
use futures_lite::future;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

/// A fresh auto-advancing virtual clock.
fn clock() -> TestClock {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock
}

type Nested = Pin<Box<dyn Future<Output = Result<Option<Instant>, Elapsed>> + Send>>;

/// Wraps `inner` in one scope per entry of `levels`, outermost first:
/// `Some(ms)` is `timeout_at(start + ms)`, `None` is a timeout with no
/// deadline of its own (`Duration::MAX`). The innermost future records the
/// deadline it sees and then waits forever.
fn nest(levels: &[Option<u64>], start: Instant) -> Nested {
    let Some((first, rest)) = levels.split_first() else {
        return Box::pin(async {
            let seen = current_deadline();
            pending::<()>().await;
            Ok(seen)
        });
    };
    let inner = nest(rest, start);
    match *first {
        Some(ms) => Box::pin(async move {
            timeout_at(start + MS * ms as u32, inner)
                .await
                .and_then(|r| r)
        }),
        None => Box::pin(async move { timeout(Duration::MAX, inner).await.and_then(|r| r) }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The earliest deadline fires, reported by the innermost timeout
    /// (it sees every enclosing scope): `deadline()` is the earliest one,
    /// it fires exactly then, and `is_enclosing()` is true exactly when an enclosing
    /// scope has that deadline (a deadline shared with an enclosing scope
    /// belongs to the outermost, as in asyncio and Trio).
    #[test]
    fn the_earliest_deadline_fires_and_says_whose_it_is(
        levels in prop::collection::vec(prop::option::weighted(0.8, 1u64..15), 1..5),
    ) {
        prop_assume!(levels.iter().any(Option::is_some));
        let clock = clock();
        let start = clock.now();
        let at = |ms: u64| start + MS * ms as u32;
        let earliest = at(levels.iter().flatten().copied().min().unwrap());
        let (_, enclosing) = levels.split_last().unwrap();
        let enclosing_has_earliest = enclosing.iter().flatten().any(|&ms| at(ms) == earliest);
        let fut = nest(&levels, start);
        let err = support::within(Duration::from_secs(10), "nested deadlines", clock.enter(fut))
            .expect_err("an inner future that never ends cannot succeed");
        prop_assert_eq!(clock.now(), earliest, "fired off time");
        prop_assert_eq!(err.deadline(), earliest);
        prop_assert_eq!(err.is_enclosing(), enclosing_has_earliest);
        prop_assert_eq!(current_deadline(), None);
    }

    /// What the innermost code sees as its deadline is the earliest one.
    #[test]
    fn nested_code_sees_the_earliest_deadline(
        levels in prop::collection::vec(prop::option::of(1u64..10_000), 1..5),
    ) {
        let start = Instant::now();
        let expected = levels.iter().flatten().copied().min().map(|ms| start + MS * ms as u32);
        // Each level wraps the next; the innermost returns what it sees.
        let probe = levels.iter().rev().fold(
            Box::pin(async { current_deadline() }) as Pin<Box<dyn Future<Output = Option<Instant>> + Send>>,
            |inner, level| match level {
                Some(ms) => Box::pin(async move {
                    timeout_at(start + MS * *ms as u32, inner).await.unwrap_or(None)
                }),
                None => Box::pin(async move { timeout(Duration::MAX, inner).await.unwrap_or(None) }),
            },
        );
        prop_assert_eq!(future::block_on(probe), expected);
    }
}

// ---- limit x time ----

#[derive(Debug, Clone)]
enum Op {
    /// weight 1..=3; a timeout in ms (or none); how long to hold.
    Acquire {
        weight: usize,
        timeout_ms: Option<u64>,
        hold_ms: u64,
    },
    Close,
    SetLimit(usize),
    Add(usize),
    ForgetPermits(usize),
    Sleep(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..=3, prop::option::of(0u64..4), 0u64..3)
            .prop_map(|(weight, timeout_ms, hold_ms)| Op::Acquire { weight, timeout_ms, hold_ms }),
        1 => Just(Op::Close),
        1 => (0usize..6).prop_map(Op::SetLimit),
        1 => (0usize..3).prop_map(Op::Add),
        1 => (0usize..3).prop_map(Op::ForgetPermits),
        2 => (0u64..3).prop_map(Op::Sleep),
    ]
}

#[derive(Default)]
struct Seen {
    granted: AtomicU64,
    timed_out: AtomicU64,
    closed: AtomicU64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Acquires with and without timeouts, closes and resizes, with virtual
    /// timers on a real executor, zero limits and relative resizes
    /// included: every acquire ends (granted, timed out, closed; none
    /// stuck once the gate opens), all permits come back, and the
    /// limiter's counters match what the callers saw.
    #[test]
    fn permits_are_conserved_under_timeouts_closes_and_resizes(
        limit in 0usize..5,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let limiter = Limiter::new(limit);
        let seen = Arc::new(Seen::default());
        let l = limiter.clone();
        let s = seen.clone();
        let clock = clock();
        support::within(Duration::from_secs(20), "limit x time", clock.enter(async move {
            let ex = async_executor::Executor::new();
            ex.run(async {
                let mut tasks = Vec::new();
                for op in ops {
                    match op {
                        Op::Acquire { weight, timeout_ms, hold_ms } => {
                            let (l, s) = (l.clone(), s.clone());
                            tasks.push(ex.spawn(async move {
                                let r = match timeout_ms {
                                    Some(t) => l.acquire_many_timeout(weight, MS * t as u32).await,
                                    // No timeout: a bound that only a stuck waiter hits.
                                    None => l.acquire_many(weight).timeout(Duration::from_secs(5)).await
                                        .expect("a waiter without a timeout was stuck"),
                                };
                                match r {
                                    Ok(p) => {
                                        assert_eq!(p.weight(), weight);
                                        s.granted.fetch_add(1, SeqCst);
                                        sleep(MS * hold_ms as u32).await;
                                    }
                                    Err(AcquireError::Elapsed(_)) => { s.timed_out.fetch_add(1, SeqCst); }
                                    Err(AcquireError::Closed(_)) => { s.closed.fetch_add(1, SeqCst); }
                                    Err(e) => panic!("unexpected {e}"),
                                }
                            }));
                        }
                        Op::Close => { l.close(); }
                        Op::SetLimit(n) => l.set_limit(n),
                        Op::Add(n) => l.add_permits(n),
                        Op::ForgetPermits(n) => { l.forget_permits(n); }
                        Op::Sleep(ms) => { sleep(MS * ms as u32).await; }
                    }
                }
                // A zero or small limit is a closed gate, not an error:
                // open it wide enough for every weight, so that the
                // waiters without a timeout end.
                l.add_permits(3);
                for t in tasks {
                    t.await;
                }
            })
            .await;
        }));
        let st = limiter.stats();
        prop_assert_eq!((st.in_use, st.waiting), (0, 0), "{:?}", st);
        prop_assert_eq!(st.acquired, seen.granted.load(SeqCst), "{:?}", st);
        prop_assert_eq!(st.timed_out, seen.timed_out.load(SeqCst), "{:?}", st);
        if !st.closed {
            // Every permit is free again.
            prop_assert!(st.limit == 0 || limiter.try_acquire_many(st.limit).is_ok());
        }
    }
}
