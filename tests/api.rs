//! The public API's promises that the compiler can check, plus error-report
//! behaviour: every handle and future is `Send + Sync` (so it can cross
//! threads and live in shared state on any executor), every public type is
//! `Debug`, the crate-wide `Error` prints each message once in a chain, and
//! regressions found in the pre-release review.

mod support;

use std::error::Error as StdError;
use std::fmt::Debug;
use std::future::Ready;
use std::time::Duration;

use async_guard::{Closed, Elapsed, Error, Expired, Overloaded, Reaped};
use async_guard::{budget, limit, offload, reaper, shield, time};

fn send_sync_debug<T: Send + Sync + Debug>() {}
fn static_error<T: StdError + Send + Sync + Clone + 'static>() {}

type Fut = Ready<u8>;
type Items = futures_lite::stream::Iter<std::vec::IntoIter<u8>>;
type Hook = fn(&str, Duration);

#[test]
fn handles_futures_and_streams_are_send_sync_debug() {
    // time
    send_sync_debug::<time::Timeout<Fut>>();
    send_sync_debug::<time::TimeoutEach<Items>>();
    send_sync_debug::<time::IdleTimeout<Items>>();
    send_sync_debug::<time::WithDeadline<Items>>();
    // limit
    send_sync_debug::<limit::Limiter>();
    send_sync_debug::<limit::LimiterBuilder>();
    send_sync_debug::<limit::Permit>();
    send_sync_debug::<limit::Acquire>();
    send_sync_debug::<limit::LimiterStats>();
    send_sync_debug::<limit::Gather<std::vec::IntoIter<Fut>>>();
    send_sync_debug::<limit::TryGather<std::vec::IntoIter<Ready<Result<u8, ()>>>, u8>>();
    send_sync_debug::<limit::MapLimited<Items, fn(u8) -> Fut, Fut>>();
    // offload
    send_sync_debug::<offload::CpuPool>();
    send_sync_debug::<offload::CpuPoolBuilder>();
    send_sync_debug::<offload::Offload<String>>();
    send_sync_debug::<offload::PoolStats>();
    // budget
    send_sync_debug::<budget::Budget>();
    send_sync_debug::<budget::Tick>();
    send_sync_debug::<budget::YieldNow>();
    send_sync_debug::<budget::LagProbe>();
    send_sync_debug::<budget::LagStats>();
    send_sync_debug::<budget::Heartbeat>();
    send_sync_debug::<budget::Cooperative<Items>>();
    send_sync_debug::<budget::DetectStalls<Fut, Hook>>();
    // reaper
    send_sync_debug::<reaper::Reaper>();
    send_sync_debug::<reaper::ReaperBuilder>();
    send_sync_debug::<reaper::Activity>();
    send_sync_debug::<reaper::Tracked<Fut>>();
    send_sync_debug::<reaper::Idle>();
    send_sync_debug::<reaper::ReaperStats>();
    send_sync_debug::<reaper::TaskInfo>();
    // shield
    send_sync_debug::<shield::ShieldSet>();
    send_sync_debug::<shield::Shielded<String>>();
    send_sync_debug::<shield::ShieldStats>();
    send_sync_debug::<shield::DrainReport>();
}

#[test]
fn futures_returned_as_impl_future_are_send_and_static() {
    fn send_static<T: Send + 'static>(_: &T) {}
    let limiter = limit::Limiter::new(1);
    send_static(&limiter.acquire_timeout(Duration::from_secs(1)));
    send_static(&limiter.acquire_many_timeout(1, Duration::from_secs(1)));
    send_static(&limiter.run(async { 1 }));
    send_static(&shield::drain(Duration::ZERO));
    send_static(&shield::ShieldSet::new().drain(Duration::ZERO));
}

#[test]
fn errors_are_send_sync_clone_static() {
    static_error::<Elapsed>();
    static_error::<Closed>();
    static_error::<Overloaded>();
    static_error::<Reaped>();
    static_error::<Expired>();
    static_error::<limit::AcquireError>();
    static_error::<Error>();
}

/// Walks the source chain like `anyhow`'s `{:#}` does.
fn report(err: &dyn StdError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        source = inner.source();
    }
    out
}

#[test]
fn the_crate_error_prints_each_message_once_in_a_report() {
    let errors: Vec<Error> = vec![
        closed_error().into(),
        support::shed_by_a_full_pool().into(),
        reaped_error().into(),
        expired_error().into(),
    ];
    for err in errors {
        let message = err.to_string();
        assert_eq!(report(&err), message, "{err:?}");
    }
    let elapsed =
        futures_lite::future::block_on(time::timeout(Duration::ZERO, std::future::pending::<()>()))
            .unwrap_err();
    let err = Error::from(elapsed);
    assert_eq!(report(&err), elapsed.to_string());
}

#[test]
fn acquire_errors_print_each_message_once_in_a_report() {
    let limiter = limit::Limiter::new(1);
    limiter.close();
    let closed = limiter.try_acquire().unwrap_err();
    assert_eq!(report(&closed), closed.to_string());
    assert_eq!(
        report(&closed).matches("closed").count(),
        1,
        "{}",
        report(&closed)
    );
}

/// Review finding: `ShieldSet::drain` subtracts two non-atomic snapshots of
/// the derived `completed` count (src/shield/set.rs, `after.completed -
/// before.completed`); a refusal, panic, expiry or loss that lands between
/// the snapshot's reads makes it underflow (a debug-build panic, a count of
/// about 1.8e19 in release). Reproduced in well under a second on 2 cores.
/// Fixed by counting completions directly and saturating the differences.
#[test]
fn drain_report_never_underflows_while_work_is_refused() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    let set = shield::ShieldSet::new();
    set.close();
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (set, stop) = (set.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                assert!(set.shield(async {}).is_err());
            }
        })
    };
    let start = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while start.elapsed() < Duration::from_secs(2) {
            let report = futures_lite::future::block_on(set.drain(Duration::ZERO));
            // Nothing is ever accepted, so nothing completes; a snapshot
            // taken while counters move may be off by one, an underflow is
            // about 1.8e19 (release) or a panic (debug).
            assert!(report.completed <= 1, "{report:?}");
        }
    }));
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Errors and `Debug` read well in logs: `Elapsed` says what was
/// configured and is the same from one occurrence to the next; `Debug` of
/// a timeout shows its state and the time left, not raw `Instant` fields.
#[test]
fn elapsed_and_timeouts_read_well_in_logs() {
    use async_guard::time::{TestClock, timeout, timeout_at};
    use std::future::pending;
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock.block_on(async {
        let d = Duration::from_secs(2);
        let a = timeout(d, pending::<()>()).await.unwrap_err();
        let b = timeout(d, pending::<()>()).await.unwrap_err();
        assert_eq!(a.to_string(), "timed out after 2s");
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(a.timed_out_after(), Some(d));
        assert!(format!("{a:?}").contains("late_by"));

        let at = async_guard::time::now() + d;
        let c = timeout_at(at, pending::<()>()).await.unwrap_err();
        assert_eq!(c.to_string(), "timed out: deadline passed");
        let e = timeout(d, timeout(Duration::from_secs(9), pending::<()>()))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.to_string(), "timed out: an enclosing deadline passed");
        assert_eq!(e.timed_out_after(), None);

        let t = timeout(Duration::from_secs(5), pending::<()>());
        let shown = format!("{t:?}");
        assert!(shown.contains("Active") && shown.contains("5s"), "{shown}");
        assert!(!shown.contains("tv_sec"), "{shown}");
        let mut t = std::pin::pin!(timeout(Duration::ZERO, pending::<()>()));
        assert!(t.as_mut().await.is_err());
        assert!(t.is_expired());
        assert!(format!("{t:?}").contains("expired"), "{t:?}");
    });
}

/// A real `Closed` (constructors are crate-private): a closed reaper's watch.
fn closed_error() -> Closed {
    let reaper = reaper::Reaper::new(Duration::from_secs(60));
    let (_activity, idle) = reaper.watch("w");
    reaper.close();
    futures_lite::future::block_on(idle).unwrap_err()
}

/// A real `Reaped`, in virtual time.
fn reaped_error() -> Reaped {
    let clock = time::TestClock::new();
    clock.set_auto_advance(true);
    clock.block_on(async {
        let reaper = reaper::Reaper::new(Duration::from_secs(5));
        reaper
            .track("session-1", |_| std::future::pending::<()>())
            .await
            .unwrap_err()
    })
}

/// A real `Expired`: shielded work that ran out of its grace period.
fn expired_error() -> Expired {
    let clock = time::TestClock::new();
    clock.set_auto_advance(true);
    clock
        .block_on(shield::shield_within(
            Duration::from_secs(2),
            std::future::pending::<()>(),
        ))
        .unwrap_err()
}

/// The root re-exports each cure's entry point the same way
/// (`async_guard::offload(f)`, `shield(f)`, `timeout(d, f)`, `sleep(d)`),
/// and names are taken from any string type, `&String` included.
#[test]
fn root_entry_points_and_names_of_any_string_type() {
    let clock = time::TestClock::new();
    clock.set_auto_advance(true);
    clock.block_on(async {
        assert_eq!(async_guard::offload(|| 2).await, 2);
        assert_eq!(async_guard::shield(async { 3 }).await, 3);
        assert_eq!(
            async_guard::timeout(Duration::from_secs(1), async { 4 }).await,
            Ok(4)
        );
        async_guard::sleep(Duration::from_secs(1)).await;
        let reaper = async_guard::Reaper::new(Duration::from_secs(5));
        let name = String::from("session-9");
        assert_eq!(reaper.track(&name, |_| async { 5 }).await.unwrap(), 5);
        let (_activity, _idle) = reaper.watch(&name);
        assert_eq!(reaper.track(name, |_| async { 6 }).await.unwrap(), 6);
    });
}
