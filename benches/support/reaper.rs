//! Reaper workloads shared by `benches/reaper.rs` and
//! `bench-report/`: a `Mutex<HashMap>` + full-scan monitor (the baseline) and a
//! population of watched entries on a reaper stepped by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_guard::reaper::{Activity, Idle, Reaper};

/// The plain design: a map of last-activity instants written on every touch
/// (`activity[id] = Instant::now()`) and a monitor loop that
/// scans every entry on every tick.
pub struct MapMonitor {
    activity: Mutex<HashMap<u64, Instant>>,
    ttl: Duration,
}

impl MapMonitor {
    pub fn new(ttl: Duration) -> Self {
        MapMonitor {
            activity: Mutex::new(HashMap::new()),
            ttl,
        }
    }
    pub fn touch(&self, id: u64) {
        self.activity.lock().unwrap().insert(id, Instant::now());
    }
    pub fn remove(&self, id: u64) {
        self.activity.lock().unwrap().remove(&id);
    }
    /// One monitor tick: returns the ids idle for longer than the ttl.
    pub fn scan(&self, expired: &mut Vec<u64>) {
        let now = Instant::now();
        let mut map = self.activity.lock().unwrap();
        for (&id, &last) in map.iter() {
            if now.duration_since(last) > self.ttl {
                expired.push(id);
            }
        }
        for id in expired.iter() {
            map.remove(id);
        }
    }
}

/// So long that the real driver (a period is a third of a tick, at least
/// `ttl / 1536`) never ticks during the benchmark: `step` is the only clock.
pub const LONG_TTL: Duration = Duration::from_secs(1_000_000);

/// How many periods after its last touch an entry of `reaper` is due
/// (mirrors `pace.rs`: ttl rounded up to periods, plus one, plus the
/// period of the touch itself).
fn due_after(reaper: &Reaper) -> u64 {
    let period = (reaper.tick() / 3).as_nanos();
    (reaper.ttl().as_nanos().div_ceil(period) + 2) as u64
}

/// `n` watched entries on a reaper stepped by hand, all due in one period.
pub struct Population {
    reaper: Reaper,
    entries: Vec<(Activity, Idle)>,
    due_after: u64,
    clock: u64,
    next_due: u64,
}

impl Population {
    /// Watches `n` entries on a reaper with ttl `LONG_TTL` and tick `tick`.
    pub fn new(n: usize, tick: Duration) -> Self {
        let reaper = Reaper::builder(LONG_TTL).tick(tick).build();
        let name: Arc<str> = Arc::from("t");
        let entries = (0..n).map(|_| reaper.watch(name.clone())).collect();
        let due_after = due_after(&reaper);
        Population {
            reaper,
            entries,
            due_after,
            clock: 0,
            next_due: due_after,
        }
    }

    /// One tick; if it is the due one, everything was touched just before
    /// (untimed), so it re-buckets all entries and reaps none.
    pub fn tick(&mut self) -> Duration {
        if self.clock + 1 == self.next_due {
            self.entries.iter().for_each(|(a, _)| a.touch());
            self.next_due = self.clock + self.due_after;
        }
        let start = Instant::now();
        self.reaper.step();
        let took = start.elapsed();
        self.clock += 1;
        took
    }

    /// Times `iters` ticks where nothing is due; the re-bucketing tick that
    /// comes once per ttl runs untimed. (Criterion sizes `iters` by wall
    /// time, untimed work included, so this stays within its time budget.)
    pub fn empty_ticks(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.clock + 1 == self.next_due {
                self.tick();
            }
            // A run of empty ticks up to the next due one, timed as a batch.
            let run = left.min(self.next_due - self.clock - 1);
            let start = Instant::now();
            for _ in 0..run {
                self.reaper.step();
            }
            total += start.elapsed();
            self.clock += run;
            left -= run;
        }
        assert_eq!(self.reaper.stats().reaped, 0);
        total
    }

    /// Times `iters` consecutive ticks, re-bucketing ones included.
    #[allow(dead_code, reason = "used by benches/reaper.rs, not by bench-report")]
    pub fn all_ticks(&mut self, iters: u64) -> Duration {
        let total = (0..iters).map(|_| self.tick()).sum();
        assert_eq!(self.reaper.stats().reaped, 0);
        total
    }
}
