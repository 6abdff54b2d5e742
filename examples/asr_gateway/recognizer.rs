//! A stand-in speech recogniser that does real CPU work, deterministically.
//!
//! Building one fills a large table (a few milliseconds of CPU: the kind of
//! work the seed's `create_asr_client` does); decoding a chunk runs a long
//! loop over its samples. The transcript is a pure function of the audio, so
//! the load generator and the report can check every persisted transcript.

/// Words the "recogniser" knows.
const VOCABULARY: [&str; 16] = [
    "hello", "gateway", "audio", "stream", "model", "token", "speech", "event", "loop", "guard",
    "frame", "final", "partial", "signal", "noise", "voice",
];

/// The table entries decoding reads (a mask): 4 Ki entries, 32 KiB.
const DECODE_WINDOW: usize = 0x0fff;

pub struct Recognizer {
    table: Vec<u64>,
}

pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl Recognizer {
    /// Builds the tables: `work` rounds over a 64 Ki-entry table.
    pub fn new(work: u32) -> Recognizer {
        let mut table: Vec<u64> = (0..1u64 << 16).map(mix).collect();
        for round in 0..work {
            let mut acc = u64::from(round);
            for slot in table.iter_mut() {
                acc = mix(acc ^ *slot);
                *slot = acc;
            }
        }
        Recognizer { table }
    }

    /// One decoding step over one sample; `rounds` sets the CPU cost.
    ///
    /// Decoding reads a 32 KiB window of the table (it fits a core's L1/L2
    /// cache), so a session's CPU cost does not depend on how many sessions
    /// run at once. Reading all 512 KiB at random made the cost grow with
    /// the sessions interleaved on the event loop (each slice started with
    /// a cold cache): on the 2-core VM the benchmarks run on, 12 ms of CPU
    /// per session at 3 sessions at once, 19 ms at 4, 45 ms at 8. The
    /// gateway's best limit was then a cliff whose place depended on the
    /// cache other processes left, not on the work.
    #[inline]
    pub fn step(&self, state: u64, sample: u8, rounds: u32) -> u64 {
        let mut s = state ^ u64::from(sample);
        for _ in 0..rounds {
            s = mix(s ^ self.table[(s as usize) & DECODE_WINDOW]);
        }
        s
    }

    /// The word a decoding state stands for.
    pub fn word(state: u64) -> &'static str {
        VOCABULARY[(state % VOCABULARY.len() as u64) as usize]
    }
}

/// The audio a client sends for chunk `i` of session `seed`.
pub fn audio_chunk(seed: u64, i: u32, len: usize) -> Vec<u8> {
    let mut x = mix(seed ^ (u64::from(i) << 32));
    (0..len)
        .map(|_| {
            x = mix(x);
            x as u8
        })
        .collect()
}

/// A seed that differs between runs (for unique temp dir names).
pub fn seed_from_clock() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    mix(t.as_nanos() as u64)
}
