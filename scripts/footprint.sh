#!/bin/sh
# Footprint of async-guard for small-binary deployments.
#
# Builds, in target/footprint/ (a throwaway cargo workspace), a minimal smol
# program twice: `plain` (smol only) and `guarded` (the same program plus a
# use of every cure, async-guard as a path dependency), with a size-tuned
# release profile (opt-level="z", strip, lto, codegen-units=1, panic=abort),
# and reports the stripped sizes. Then it counts the crates in the library's
# normal dependency tree, lists those that plain smol does not itself pull in,
# and times a clean `cargo build --release` of the library in a fresh target
# dir.
#
# Output: key=value lines on stdout (read by bench-report/src/footprint.rs),
# progress on stderr. Usage: sh scripts/footprint.sh
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WS="$ROOT/target/footprint"
rm -rf "$WS/plain" "$WS/guarded"
mkdir -p "$WS/plain/src" "$WS/guarded/src"

cat > "$WS/Cargo.toml" <<TOML
[workspace]
members = ["plain", "guarded"]
resolver = "2"

[profile.release]
opt-level = "z"
strip = true
lto = true
codegen-units = 1
panic = "abort"
TOML

cat > "$WS/plain/Cargo.toml" <<TOML
[package]
name = "plain"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
smol = "2"
TOML

cat > "$WS/guarded/Cargo.toml" <<TOML
[package]
name = "guarded"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
smol = "2"
async-guard = { path = "$ROOT" }
TOML

# The common program: a TCP echo server and one client on 127.0.0.1, with a
# timer, on smol's global executor.
COMMON='
async fn echo_once() -> std::io::Result<Vec<u8>> {
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = smol::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await?;
        s.write_all(&buf[..n]).await?;
        std::io::Result::Ok(())
    });
    let mut c = smol::net::TcpStream::connect(addr).await?;
    c.write_all(b"hello").await?;
    let mut out = vec![0u8; 5];
    c.read_exact(&mut out).await?;
    server.await?;
    smol::Timer::after(std::time::Duration::from_millis(1)).await;
    Ok(out)
}
'

cat > "$WS/plain/src/main.rs" <<RS
$COMMON
fn main() {
    let out = smol::block_on(echo_once()).unwrap();
    println!("{}", String::from_utf8_lossy(&out));
}
RS

cat > "$WS/guarded/src/main.rs" <<RS
$COMMON
use std::time::Duration;
use async_guard::budget::Budget;
use async_guard::limit::Limiter;
use async_guard::reaper::Reaper;

fn main() {
    smol::block_on(async {
        // time + limit: the echo under a deadline, behind a limiter.
        let limiter = Limiter::new(4);
        let permit = limiter.acquire().await.unwrap();
        let out = async_guard::time::timeout(Duration::from_secs(5), echo_once())
            .await
            .unwrap()
            .unwrap();
        drop(permit);
        // offload: CPU work on the pool.
        let sum = async_guard::offload(|| (0..1000u64).sum::<u64>()).await;
        // budget: a loop that yields.
        let mut budget = Budget::default();
        let mut x = 0u64;
        for i in 0..10_000u64 {
            x = x.wrapping_add(i);
            budget.tick().await;
        }
        // reaper: a tracked task.
        let reaper = Reaper::new(Duration::from_secs(5));
        let tracked = reaper.track("echo", |a| async move { a.touch(); 1u8 }).await.unwrap();
        // shield: work that survives its caller.
        let shielded = async_guard::shield::shield(async { 7u8 }).await;
        println!("{} {sum} {x} {tracked} {shielded}", String::from_utf8_lossy(&out));
    });
}
RS

cp "$ROOT/Cargo.lock" "$WS/Cargo.lock" 2>/dev/null || true
export CARGO_TARGET_DIR="$WS/target"
cd "$WS"
echo "footprint: building plain and guarded (release, size profile) ..." >&2
cargo build --release --offline -q 2>/dev/null || cargo build --release -q
"$WS/target/release/plain" >/dev/null
"$WS/target/release/guarded" >/dev/null
PLAIN=$(stat -c %s "$WS/target/release/plain")
GUARD=$(stat -c %s "$WS/target/release/guarded")
echo "size_plain=$PLAIN"
echo "size_guard=$GUARD"
echo "size_delta=$((GUARD - PLAIN))"

cd "$ROOT"
echo "crates=$(cargo tree -e normal --prefix none | sort -u | wc -l)"
# Crate names (no versions) in the library's normal tree that plain smol's
# own normal tree does not contain.
names() { sed 's/ (\*)$//; s/ (proc-macro)$//' | awk '{print $1}' | sort -u; }
cargo tree -e normal --prefix none | names > "$WS/lib.txt"
echo "crates_distinct=$(wc -l < "$WS/lib.txt" | tr -d ' ')"
(cd "$WS" && { cargo tree -e normal --prefix none -p plain --offline 2>/dev/null ||
    cargo tree -e normal --prefix none -p plain; }) | names > "$WS/smol.txt"
OUTSIDE=$(comm -23 "$WS/lib.txt" "$WS/smol.txt" | grep -v '^async-guard$' | tr '\n' ' ' | sed 's/ $//')
echo "outside_smol=$OUTSIDE"

echo "footprint: clean release build of the library ..." >&2
rm -rf "$WS/libbuild"
START=$(date +%s.%N)
CARGO_TARGET_DIR="$WS/libbuild" cargo build --release --lib -q --offline 2>/dev/null ||
    CARGO_TARGET_DIR="$WS/libbuild" cargo build --release --lib -q
END=$(date +%s.%N)
echo "build_seconds=$(echo "$START $END" | awk '{printf "%.1f", $2 - $1}')"
echo "build_jobs=$(nproc)"
rm -rf "$WS/libbuild"
