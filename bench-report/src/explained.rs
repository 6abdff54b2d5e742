//! The closing section of the report: one note per target this run missed.
//!
//! Sections call [`missed`] with a note built from their own measurements
//! (the figures and ratios of this run, and what they imply); nothing here
//! is a fixed claim. A run that meets every target says so.

use std::fmt::Write as _;
use std::sync::Mutex;

static NOTES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Records that a target of `section` was missed, with a note written from
/// this run's data.
pub fn missed(section: &str, note: String) {
    NOTES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((section.to_owned(), note));
}

/// The closing section: every missed target with its note, or a line saying
/// none was missed by the sections that ran.
pub fn render() -> String {
    let notes = NOTES.lock().unwrap_or_else(|e| e.into_inner());
    let mut md = String::from("## Where a target is missed, and why\n\n");
    if notes.is_empty() {
        md.push_str("Every target measured in this run was met.\n");
        return md;
    }
    md.push_str(
        "Written from this run's figures (the tables above); each note says what the numbers \
         show about where the cost goes.\n\n",
    );
    for (section, note) in notes.iter() {
        let _ = writeln!(md, "- **{section}.** {note}");
    }
    md
}
