//! The default home of shielded work: the crate's background executor
//! ([`crate::rt::executor`]), one thread started on first use.

pub(crate) use crate::rt::executor::spawn;
