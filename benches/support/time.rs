//! Workloads shared by `benches/time.rs` and `bench-report/`: the raw
//! smol timeout idiom (the baseline) and a future that is pending once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt as _;

/// The raw idiom every smol user writes.
pub fn raw_timeout<F: Future>(d: Duration, f: F) -> impl Future<Output = Option<F::Output>> {
    async move { Some(f.await) }.or(async move {
        Timer::after(d).await;
        None
    })
}

/// A future that is pending once (waking itself) and then ready.
pub struct YieldOnce(pub bool);
impl Future for YieldOnce {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0 {
            Poll::Ready(1)
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
