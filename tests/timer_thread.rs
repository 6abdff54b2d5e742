//! The process-wide timer thread (`guard-timer`, src/rt/timer.rs) must
//! survive a waker that panics when woken: it is the one thread behind every
//! pending timeout, so losing it makes every later timeout of the process
//! hang silently.
//!
//! Review finding, now fixed: `drive()` called `Waker::wake` outside any
//! `catch_unwind`. The test lives in a file of its own because, with the
//! bug, it kills the timer of its whole test binary.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake};
use std::time::{Duration, Instant};

use async_guard::time::timeout;

struct PanicsOnWake;

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics when woken");
    }
}

#[test]
fn a_panicking_waker_does_not_stop_later_timeouts() {
    let waker = Arc::new(PanicsOnWake).into();
    let mut cx = Context::from_waker(&waker);
    let mut bomb = pin!(timeout(
        Duration::from_millis(1),
        std::future::pending::<()>()
    ));
    assert!(bomb.as_mut().poll(&mut cx).is_pending());
    // Real: the subject is the real timer thread, which fires it meanwhile.
    std::thread::sleep(Duration::from_millis(50)); // the timer thread fires it

    // An unrelated timeout afterwards must still fire (generous bound).
    let later = std::thread::spawn(|| {
        let pending = std::future::pending::<()>();
        futures_lite::future::block_on(timeout(Duration::from_millis(5), pending)).is_err()
    });
    let start = Instant::now();
    while !later.is_finished() && start.elapsed() < Duration::from_secs(5) {
        // Real: waits for a timeout on the real timer thread (watchdog loop).
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        later.is_finished(),
        "a later timeout never fired: the timer thread died with the panicking waker"
    );
    assert!(later.join().unwrap());
}
