//! Testing your own timeout-and-reaper logic in virtual time.
//!
//! Run: `cargo run --example testing --features test-util` (it ends at once:
//! over an hour of virtual time passes, almost no real time).
//!
//! The code under test is ordinary application code: a session that reads
//! frames with a per-frame timeout, under a reaper that drops sessions that
//! stop making progress. In a test, run it on a `TestClock` (feature
//! `test-util`, a dev-dependency feature: never needed in production) with
//! auto-advance on: whenever everything it drives waits, the clock jumps to
//! the next deadline, so every timeout and TTL fires on its exact instant.
//! Wait with `async_guard::time::sleep` in code you test this way (an
//! `async_io::Timer` stays on real time).

use std::time::{Duration, Instant};

use async_guard::Reaper;
use async_guard::reaper::Activity;
use async_guard::time::{TestClock, now, sleep, timeout};
use futures_lite::future;

// ---- the application's code ----

const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
const IDLE_TTL: Duration = Duration::from_secs(30);

/// Sums frames until the client hangs up; a client silent for longer than
/// `FRAME_TIMEOUT` ends the session with an error.
async fn serve(frames: async_channel::Receiver<u32>, activity: Activity) -> Result<u32, String> {
    let mut total = 0;
    loop {
        match timeout(FRAME_TIMEOUT, frames.recv()).await {
            Ok(Ok(frame)) => {
                activity.touch();
                total += frame;
            }
            Ok(Err(_hung_up)) => return Ok(total),
            Err(elapsed) => return Err(elapsed.to_string()),
        }
    }
}

/// A client that sends `n` frames, `gap` apart, then waits `linger` before
/// hanging up.
async fn client(tx: async_channel::Sender<u32>, n: u32, gap: Duration, linger: Duration) {
    for frame in 1..=n {
        sleep(gap).await;
        let _ = tx.send(frame).await;
    }
    sleep(linger).await;
}

// ---- its tests, in virtual time ----

fn virtual_clock() -> TestClock {
    let clock = TestClock::new();
    clock.set_auto_advance(true);
    clock
}

fn main() {
    let real = Instant::now();
    let secs = Duration::from_secs;

    // A steady client: 10 frames, 2 s apart, all served.
    virtual_clock().block_on(async {
        let (reaper, t0) = (Reaper::new(IDLE_TTL), now());
        let (tx, rx) = async_channel::bounded(1);
        let session = reaper.track("steady", |activity| serve(rx, activity));
        let (served, ()) = future::zip(session, client(tx, 10, secs(2), secs(0))).await;
        assert_eq!(served.unwrap(), Ok(55));
        assert_eq!(now() - t0, secs(20));
        println!("steady client: served 55 in {:?} (virtual)", now() - t0);
    });

    // A client that goes silent after 3 frames: the frame timeout fires
    // exactly 5 s after the last frame.
    virtual_clock().block_on(async {
        let (reaper, t0) = (Reaper::new(IDLE_TTL), now());
        let (tx, rx) = async_channel::bounded(1);
        let session = reaper.track("silent", |activity| serve(rx, activity));
        let (served, ()) = future::or(async { (session.await, ()) }, async {
            (Ok(Ok(0)), client(tx, 3, secs(2), secs(3600)).await)
        })
        .await;
        let err = served.unwrap().unwrap_err();
        assert_eq!(now() - t0, secs(6) + FRAME_TIMEOUT);
        println!("silent client: {err} at {:?} (virtual)", now() - t0);
    });

    // A handler stuck on a backend that never answers (and never touches):
    // the reaper drops it once it has been idle for its TTL.
    virtual_clock().block_on(async {
        let reaper = Reaper::new(IDLE_TTL);
        let t0 = now();
        let stuck = reaper.track("stuck", |_activity| sleep(secs(3600)));
        let reaped = stuck.await.unwrap_err();
        let took = now() - t0;
        assert!(took >= IDLE_TTL && took < IDLE_TTL + reaper.tick());
        println!("stuck handler: {reaped} after {took:?} (virtual)");
    });

    println!("real time taken: {:?}", real.elapsed());
}
