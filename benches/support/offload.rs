//! The offload job, shared by `benches/offload.rs` and
//! `bench-report/`: an xorshift loop calibrated to about 50 µs.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Pure CPU work: `rounds` steps of an xorshift, kept alive by `black_box`.
pub fn cpu_work(rounds: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// The number of rounds that takes about 50 us on one (idle) core, and what
/// they take: the fastest of several timings, as the machine is shared.
pub fn calibrate_50us() -> (u64, Duration) {
    let probe = 100_000;
    let fastest = (0..30)
        .map(|_| {
            let t = Instant::now();
            cpu_work(probe);
            t.elapsed()
        })
        .min()
        .unwrap();
    let rounds = (probe as f64 * 50e-6 / fastest.as_secs_f64()) as u64;
    let cost = (0..200)
        .map(|_| {
            let t = Instant::now();
            cpu_work(rounds);
            t.elapsed()
        })
        .min()
        .unwrap();
    (rounds, cost)
}
