//! Optional `tracing` events (feature `tracing`, off by default): where a
//! service operator wants a log line, the crate emits one. Without the
//! feature the macro expands to nothing and `tracing` is not a dependency.
//!
//! The events and their fields are listed in the crate docs ("Features").

/// `event!(target, Level, message; field = value, ...)`: a `tracing` event
/// under the `tracing` feature, nothing otherwise (the arguments are not
/// evaluated).
macro_rules! event {
    ($target:literal, $level:ident, $message:literal $(; $($field:tt)*)?) => {
        #[cfg(feature = "tracing")]
        {
            tracing::event!(target: $target, tracing::Level::$level, $($($field)*,)? $message);
        }
    };
}

pub(crate) use event;
