//! The optional `tracing` events (feature `tracing`): each fires where the
//! crate docs say, with its target and fields. Run with
//! `cargo test --features tracing --test tracing_events` (CI does).
#![cfg(feature = "tracing")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_guard::prelude::*;
use async_guard::time::TestClock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records `target: message {field=value ...}` for every event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}{}", self.0);
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        let target = event.metadata().target();
        self.0.lock().unwrap().push(format!("{target}: {}", line.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Runs `body` with a process-wide recorder (events of the crate's own
/// threads, such as the reaper's driver, count too). One test per file.
fn recorded(body: impl FnOnce()) -> Vec<String> {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();
    body();
    recorder.0.lock().unwrap().clone()
}

#[test]
fn reaped_tasks_stalls_and_full_queues_are_reported() {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    let lines = recorded(|| {
        clock.block_on(async {
            let reaper = async_guard::Reaper::new(Duration::from_secs(5));
            let idle = reaper.track("idle-session", |_| std::future::pending::<()>());
            assert!(idle.await.is_err());
            // Dropping the reaper ends its driver (on the background thread).
        });
        futures_lite::future::block_on(async {
            let slow = async { std::thread::sleep(Duration::from_millis(5)) };
            slow.detect_stalls(Duration::from_millis(1), |_, _| {})
                .await;
        });
        support::shed_by_a_full_pool();

        let limiter = async_guard::Limiter::builder()
            .limit(1)
            .max_waiting(0)
            .build();
        let _held = limiter.try_acquire().unwrap();
        let shed = futures_lite::future::block_on(limiter.acquire());
        assert!(shed.is_err());
        let expired = clock.block_on(async {
            async_guard::shield::shield_within(Duration::from_secs(1), std::future::pending::<()>())
                .await
        });
        assert!(expired.is_err());
        let set = async_guard::ShieldSet::new();
        drop(set.shield(async { panic!("boom") }).unwrap()); // moves, panics, nobody awaits
        futures_lite::future::block_on(set.drain(Duration::from_secs(10)));

        // A loss makes an AIMD limiter back off: 10 -> 9.
        let adaptive = async_guard::limit::AdaptiveLimiter::builder()
            .policy(async_guard::limit::adaptive::Aimd::new().backoff(0.9))
            .initial_limit(10)
            .build();
        let mut lost = adaptive.try_acquire().unwrap();
        lost.failed();
        drop(lost);
        assert_eq!(adaptive.stats().limit, 9);

        let gate = async_guard::Limiter::new(0); // nothing free: waits, then times out
        let timed_out = clock.block_on(gate.acquire_timeout(Duration::from_secs(1)));
        assert!(timed_out.is_err());
    });
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("async_guard::reaper: task reaped")
                && l.contains("task=idle-session")),
        "{lines:#?}"
    );
    assert!(has("async_guard::budget: stall detected"), "{lines:#?}");
    assert!(has("async_guard::offload: pool queue full"), "{lines:#?}");
    assert!(has("async_guard::limit: load shed"), "{lines:#?}");
    assert!(
        has("async_guard::shield: shielded work expired"),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("async_guard::shield: shielded work panicked") && l.contains("boom")
        ),
        "{lines:#?}"
    );
    assert!(has("async_guard::limit: acquire timed out"), "{lines:#?}");
    assert!(
        lines.iter().any(
            |l| l.starts_with("async_guard::limit: adaptive limit changed")
                && l.contains("limit=9")
                && l.contains("previous=10")
        ),
        "{lines:#?}"
    );
}
