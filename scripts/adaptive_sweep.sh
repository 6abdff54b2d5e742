#!/usr/bin/env bash
# The adaptive limit against a sweep of fixed limits on the ASR gateway.
#
# Runs the same load (`--clients`, `--seconds`, `--capacity-shift`: the
# recogniser's CPU cost doubles half-way) with every fixed limit in FIXED
# and with each adaptive policy, then prints, per phase, goodput (sessions
# served with their final transcript per second) and p99 latency, the
# oracle (the fixed limit with the best goodput in that phase), each
# adaptive policy's ratios to the oracle, and the adaptive limits over time
# as ASCII charts.
#
#   scripts/adaptive_sweep.sh                 # defaults below
#   SECONDS_PER_RUN=12 FIXED="2 4 8" scripts/adaptive_sweep.sh
#
# The figures depend on the machine and on what else runs on it: run it on
# a quiet machine, and read the table with the load in mind.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${SECONDS_PER_RUN:-16}
CLIENTS=${CLIENTS:-64}
FIXED=${FIXED:-"2 3 4 6 8 12 16 24 32"}
POLICIES=${POLICIES:-"auto:gradient auto:aimd"}

cargo build --release --example asr_gateway >&2
bin=target/release/examples/asr_gateway
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() {
    local limit=$1
    echo "running --limit $limit ($SECONDS_PER_RUN s)..." >&2
    "$bin" --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN" --capacity-shift --limit "$limit" \
        >"$out/$limit.txt" 2>&1 || true
}

for l in $FIXED; do run "$l"; done
for p in $POLICIES; do run "$p"; done

echo "## Adaptive limit vs fixed limits: ASR gateway, $CLIENTS clients, $SECONDS_PER_RUN s, capacity shift at $((SECONDS_PER_RUN / 2)) s"
echo
echo "uptime at the end: $(uptime)"
echo
for l in $FIXED $POLICIES; do cat "$out/$l.txt"; done | grep '^PHASE' | awk -v policies="$POLICIES" '
function ms(x) { return sprintf("%.0f ms", x) }
{
    split($0, f, " "); phase = f[2]
    for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    key = v["label"] SUBSEP phase
    good[key] = v["goodput"]; p99[key] = v["p99_ms"]; lim[key] = v["limit"]; conv[key] = v["converge_s"]
    if (!(v["label"] in seen)) { seen[v["label"]] = 1; order[n++] = v["label"] }
    phases[phase] = 1
}
END {
    printf "| limit | phase 1 goodput/s | phase 1 p99 | phase 2 goodput/s | phase 2 p99 | limit settled (1 / 2) | converged after shift |\n"
    printf "|---|---|---|---|---|---|---|\n"
    for (ph = 0; ph <= 1; ph++) { best[ph] = -1 }
    for (i = 0; i < n; i++) {
        l = order[i]
        for (ph = 0; ph <= 1; ph++) {
            k = l SUBSEP ph
            if (l ~ /^fixed/ && good[k] > best[ph]) { best[ph] = good[k]; oracle[ph] = l }
        }
    }
    for (i = 0; i < n; i++) {
        l = order[i]; a = l SUBSEP 0; b = l SUBSEP 1
        c = (l ~ /^auto/) ? (conv[b] < 0 ? "never" : sprintf("%.1f s", conv[b])) : "-"
        mark = ""
        if (l == oracle[0]) mark = mark " (oracle 1)"
        if (l == oracle[1]) mark = mark " (oracle 2)"
        printf "| %s%s | %.1f | %s | %.1f | %s | %.1f / %.1f | %s |\n", l, mark, good[a], ms(p99[a]), good[b], ms(p99[b]), lim[a], lim[b], c
    }
    printf "\n"
    printf "| policy | phase | goodput / oracle (target >= 0.9) | p99 / oracle (target <= 1.3) |\n|---|---|---|---|\n"
    np = split(policies, pol, " ")
    for (j = 1; j <= np; j++) {
        for (ph = 0; ph <= 1; ph++) {
            k = pol[j] SUBSEP ph; o = oracle[ph] SUBSEP ph
            printf "| %s | %d (oracle %s) | %.2f | %.2f |\n", pol[j], ph + 1, oracle[ph], good[k] / (good[o] > 0 ? good[o] : 1), p99[k] / (p99[o] > 0 ? p99[o] : 1)
        }
    }
}'
for p in $POLICIES; do
    echo
    echo "### $p: the limit over time (| marks the shift)"
    echo
    echo '```'
    sed -n '/^limit over time/,/^ *0 s/p' "$out/$p.txt"
    echo '```'
done
