//! The public API, name by name, against the checked-in list
//! `tests/public-api.txt`: a name that appears (or disappears) without the
//! list being updated fails the check with a diff.
//!
//! ```text
//! cargo test --test public_api -- --ignored                        # check (CI does)
//! UPDATE_PUBLIC_API=1 cargo test --test public_api -- --ignored    # rewrite the list
//! ```
//!
//! After rewriting, review `git diff tests/public-api.txt`: every added line
//! is a promise to users. The check is `#[ignore]`d so that the plain
//! `cargo test` stays what it was; `.ci/run` runs it.
//!
//! How the names are found, on stable Rust: the test runs
//! `cargo doc --no-deps` (into its own target directory, so it never waits
//! for the lock of the `cargo test` that runs it) and walks the generated
//! HTML from the crate root through every public module: each item of a
//! module's tables (`struct async_guard::limit::Limiter`), each re-export
//! (`use async_guard: pub use limit::Limiter;`), and on each item's page its
//! inherent methods and associated items, public fields, enum variants and
//! trait methods. Walking from the root (instead of listing files) ignores
//! pages that an earlier build left behind for items since removed. Not
//! listed: trait implementations (`impl From<Closed> for Error`),
//! signatures, and `#[doc(hidden)]` items, which rustdoc does not render.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;
use std::process::Command;

const LIST: &str = "tests/public-api.txt";
const CRATE: &str = "async_guard";

#[test]
#[ignore = "runs `cargo doc`; CI runs it with `cargo test --test public_api -- --ignored`"]
fn public_api_matches_the_checked_in_list() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-api");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["doc", "--no-deps", "--lib", "--quiet", "-p", "async-guard"])
        .current_dir(manifest_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTDOCFLAGS")
        .status()
        .expect("run cargo doc");
    assert!(status.success(), "cargo doc failed: {status}");

    let found = public_names(&target.join("doc").join(CRATE));
    assert!(
        found.len() > 20 && found.iter().any(|l| l.starts_with("struct ")),
        "the doc walk found almost nothing ({} names): has rustdoc's HTML changed? {found:#?}",
        found.len()
    );

    let list_path = manifest_dir.join(LIST);
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        let mut text = String::from(
            "# The public API of async-guard, one name a line; checked by tests/public_api.rs.\n\
             # Regenerate: UPDATE_PUBLIC_API=1 cargo test --test public_api -- --ignored\n",
        );
        for line in &found {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&list_path, text).expect("write tests/public-api.txt");
        eprintln!("wrote {} ({} names)", list_path.display(), found.len());
        return;
    }

    let listed: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let added: Vec<_> = found.difference(&listed).collect();
    let removed: Vec<_> = listed.difference(&found).collect();
    if !added.is_empty() || !removed.is_empty() {
        let mut msg = format!(
            "the public API differs from {LIST}:\n\
             (+ public now but not in the list, - in the list but no longer public)\n"
        );
        for l in &added {
            msg.push_str(&format!("+ {l}\n"));
        }
        for l in &removed {
            msg.push_str(&format!("- {l}\n"));
        }
        msg.push_str(
            "If the change is intended (and every new item is documented), regenerate the list:\n    \
             UPDATE_PUBLIC_API=1 cargo test --test public_api -- --ignored\n\
             and review `git diff tests/public-api.txt`.",
        );
        panic!("{msg}");
    }
}

/// Every public name under `root` (`target/doc/async_guard`), one line each:
/// `KIND PATH` for items and members, `use MODULE: pub use ...;` for
/// re-exports.
fn public_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut modules = VecDeque::from([(root.join("index.html"), CRATE.to_owned())]);
    let mut seen = BTreeSet::new();
    while let Some((page, module)) = modules.pop_front() {
        if !seen.insert(page.clone()) {
            continue;
        }
        let html = read(&page);
        names.insert(format!("mod {module}"));
        let dir = page.parent().expect("a module page has a directory");
        // Re-exports: <dt id="reexport.NAME"><code>pub use ...;</code></dt>
        for dt in sections(&html, "<dt id=\"reexport.", "</dt>") {
            names.insert(format!("use {module}: {}", text(dt)));
        }
        // Items: <dt><a class="KIND" href="PAGE" title="KIND PATH">NAME</a></dt>
        for dt in sections(&html, "<dt><a class=\"", "</a>") {
            let kind = dt.split('"').next().unwrap_or_default();
            let href = attr(dt, "href");
            let path = attr(dt, "title")
                .split_once(' ')
                .map(|(_, p)| p.to_owned())
                .unwrap_or_default();
            assert!(
                !kind.is_empty() && !href.is_empty() && !path.is_empty(),
                "unexpected item entry in {}: {dt}",
                page.display()
            );
            if kind == "mod" {
                modules.push_back((dir.join(href), path));
                continue;
            }
            names.insert(format!("{kind} {path}"));
            if matches!(kind, "struct" | "enum" | "union" | "trait") {
                members(&read(&dir.join(href)), kind, &path, &mut names);
            }
        }
    }
    names
}

/// The members an item's page documents: inherent methods and associated
/// items (not those of trait impls), public fields, variants, and for a
/// trait its own methods and associated items (not its implementors').
fn members(html: &str, kind: &str, path: &str, names: &mut BTreeSet<String>) {
    let own = if kind == "trait" {
        let end = [
            "id=\"dyn-compatibility\"",
            "id=\"implementors\"",
            "id=\"foreign-impls\"",
        ]
        .iter()
        .filter_map(|m| html.find(m))
        .min()
        .unwrap_or(html.len());
        &html[..end]
    } else {
        // The inherent impls come first; trait impls start with the next <h2>.
        match html.find("id=\"implementations-list\"") {
            Some(start) => {
                let rest = &html[start..];
                &rest[..rest.find("<h2").unwrap_or(rest.len())]
            }
            None => "",
        }
    };
    let ids = |text: &str, prefix: &str| -> Vec<String> {
        sections(text, &format!("id=\"{prefix}."), "\"")
            .into_iter()
            .map(|id| {
                // Rustdoc suffixes repeated anchors with -1, -2, ...
                let id = id.trim_end_matches(|c: char| c.is_ascii_digit());
                id.strip_suffix('-').unwrap_or(id).to_owned()
            })
            .collect()
    };
    for (prefix, label, text) in [
        ("method", "method", own),
        ("tymethod", "method", own),
        ("associatedconstant", "const", own),
        ("associatedtype", "type", own),
        ("structfield", "field", html),
        ("variant", "variant", html),
    ] {
        for id in ids(text, prefix) {
            // A variant's named fields: `variant.V.field.F` (and a
            // `variant.V.fields` heading).
            match id.split_once(".field") {
                Some((variant, field)) => match field.strip_prefix('.') {
                    Some(field) => names.insert(format!("field {path}::{variant}::{field}")),
                    None => false,
                },
                None => names.insert(format!("{label} {path}::{id}")),
            };
        }
    }
}

/// The pieces of `html` between each `start` and the next `end`.
fn sections<'a>(html: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    html.match_indices(start)
        .map(|(i, _)| {
            let rest = &html[i + start.len()..];
            &rest[..rest.find(end).unwrap_or(rest.len())]
        })
        .collect()
}

/// The value of attribute `name` in a tag fragment, or "".
fn attr<'a>(fragment: &'a str, name: &str) -> &'a str {
    sections(fragment, &format!(" {name}=\""), "\"")
        .first()
        .copied()
        .unwrap_or_default()
}

/// The text of an HTML fragment: tags dropped, entities decoded.
fn text(fragment: &str) -> String {
    // The fragment starts inside the opening tag (`NAME"><code>...`).
    let fragment = fragment.split_once('>').map_or(fragment, |(_, t)| t);
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn read(page: &Path) -> String {
    std::fs::read_to_string(page).unwrap_or_else(|e| panic!("read {}: {e}", page.display()))
}
