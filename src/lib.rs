//! # async-guard
//!
//! Six cures for the diseases that kill async services, for the smol
//! ecosystem and any executor (smol, async-std, `futures_lite::future::block_on`,
//! a bare `async_executor::Executor`). No tokio, no proc macros, no `unsafe`.
//!
//! | disease | cure | module |
//! |---|---|---|
//! | CPU work freezes the event loop | run it on a bounded CPU pool | [`offload`](mod@offload) |
//! | unbounded concurrency exhausts memory and CPU | a fair, weighted, closable limiter with load shedding | [`limit`] |
//! | operations and streams that hang forever | timeouts, deadline scopes, stream timeouts | [`time`] |
//! | hot loops starve other tasks | cooperative yielding, stall detection, lag probe | [`budget`] |
//! | idle tasks leak | activity tracking that reaps idle tasks | [`reaper`] |
//! | critical writes lost on cancellation | shielded work that survives its caller, drained at exit | [`shield`] |
//!
//! Every fallible operation returns a small typed error ([`Elapsed`],
//! [`Closed`], [`Overloaded`], [`Reaped`]), each convertible into the
//! crate-wide [`Error`]. [`FutureExt`] and [`StreamExt`] put the cures on any
//! future or stream; [`prelude`] imports them without name clashes.
//!
//! ```
//! use std::time::Duration;
//! use async_guard::prelude::*;
//! # futures_lite::future::block_on(async {
//! let answer = async { 42 }.timeout(Duration::from_secs(1)).await?;
//! assert_eq!(answer, 42);
//! # Ok::<(), async_guard::Error>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod budget;
mod error;
mod ext;
pub mod limit;
pub mod offload;
pub mod reaper;
pub mod shield;
pub mod time;
mod wheel;

pub use budget::{Budget, LagProbe};
pub use error::{Closed, Elapsed, Error, Overloaded, Reaped};
pub use ext::{FutureExt, StreamExt};
pub use limit::{Limiter, Permit};
pub use offload::{CpuPool, offload};
pub use reaper::Reaper;
pub use shield::{Expired, ShieldSet, Shielded};

/// The extension traits, imported anonymously so they never clash with
/// `futures_lite`'s traits of the same name.
///
/// ```
/// use async_guard::prelude::*;
/// use futures_lite::prelude::*; // both at once is fine
/// ```
pub mod prelude {
    pub use crate::ext::{FutureExt as _, StreamExt as _};
}
