//! Footprint: binary size, dependency tree and build time, as measured by
//! `scripts/footprint.sh`.

use std::fmt::Write as _;
use std::process::Command;

use crate::render::{Table, met};

/// Writes the footprint section from `scripts/footprint.sh`'s output.
pub fn section(md: &mut String) {
    eprintln!("footprint (scripts/footprint.sh: builds two small programs and the library) ...");
    let script = crate::root().join("scripts/footprint.sh");
    let out = Command::new("sh").arg(&script).output();
    let _ = writeln!(md, "## Footprint\n");
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        let _ = writeln!(
            md,
            "`scripts/footprint.sh` failed; no footprint numbers in this run.\n"
        );
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let kv: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| kv.get(k).copied().unwrap_or("?");
    let kib = |k: &str| {
        get(k)
            .parse::<f64>()
            .map_or("?".to_owned(), |b| format!("{:.1} KiB", b / 1024.0))
    };
    let _ = writeln!(
        md,
        "Built by `scripts/footprint.sh` under `target/footprint/`: a minimal smol program \
         (TCP echo-ish server + client, timers) with and without async-guard (path dependency; the \
         guarded one uses every cure), release profile `opt-level=\"z\"`, `strip=true`, `lto=true`, \
         `codegen-units=1`, `panic=\"abort\"`.\n"
    );
    let mut t = Table::new(&["measure", "value", "target"]);
    t.row(&[
        "stripped binary, plain smol".into(),
        kib("size_plain"),
        String::new(),
    ]);
    t.row(&[
        "stripped binary, smol + async-guard (every cure)".into(),
        kib("size_guard"),
        String::new(),
    ]);
    let delta = get("size_delta").parse::<f64>().ok();
    t.row(&[
        "added by async-guard".into(),
        kib("size_delta"),
        format!(
            "<= 150 KiB: {}",
            delta.map_or("?".into(), |d| met(d <= 150.0 * 1024.0))
        ),
    ]);
    t.row(&[
        "crates in the library's normal dependency tree (`cargo tree -e normal --prefix none \\| sort -u \\| wc -l`, the library included)".into(),
        format!(
            "{} lines ({} distinct crates; the command also counts the `(*)` repeats)",
            get("crates"),
            get("crates_distinct")
        ),
        String::new(),
    ]);
    let outside = get("outside_smol");
    t.row(&[
        "crates in that tree that plain `smol` does not itself depend on".into(),
        if outside.is_empty() {
            "none".into()
        } else {
            format!("`{outside}`")
        },
        format!("none: {}", met(outside.is_empty())),
    ]);
    t.row(&[
        "clean `cargo build --release` of the library (fresh target dir)".into(),
        format!("{} s", get("build_seconds")),
        String::new(),
    ]);
    md.push_str(&t.done());
    md.push('\n');
}
