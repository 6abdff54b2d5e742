#!/usr/bin/env bash
# The adaptive limit against a sweep of fixed limits on the ASR gateway.
#
# Runs the same load with every fixed limit in FIXED and with each adaptive
# policy in POLICIES, REPEATS times, interleaved: round r runs every
# configuration once, in an order rotated by r, so a slow minute of the
# machine (other processes on its cores) falls on different configurations
# in different rounds instead of on one. Then it prints, per phase (the
# recogniser's CPU cost doubles half-way: `--capacity-shift`):
#
# - goodput: sessions served with their final transcript per second, the
#   median over the rounds and its range (min-max);
# - p99 latency of the served sessions, the median of the rounds' p99s
#   (a burst of other work on the machine during one run inflates that
#   run's tail; the median of the rounds leaves such a run out, a p99 of
#   every round's sessions pooled would take it in);
# - sessions that ran out of time (`--deadline`) per second, median;
# - the limit (median of its samples in the phase's second half) and, for
#   the adaptive policies, when it converged (see below), median over rounds;
# - the oracle: among the fixed limits whose median goodput is within TIE
#   (10 %) of the best, the one with the lowest p99 (where the goodput curve
#   is flat, "the best goodput" alone would pick a limit at random from the
#   plateau, with its p99 anywhere between the knee's and the cliff's); the
#   fixed limit with the very best median goodput is named too;
# - each policy's ratios to the oracle, against the issue's targets
#   (goodput >= 0.9x, p99 <= 1.3x), and ASCII charts of its limit.
#
# Measurement windows: phase 1 is [WARM_UP, T/2), phase 2 [T/2, T), T =
# SECONDS_PER_RUN; a session counts in the phase in which it ended. The
# warm-up (connections, the first probe, the adaptive limit's start from 4)
# is left out of both fixed and adaptive runs; phase 2 includes the
# adaptation after the shift (so an adaptive policy pays for its
# convergence). The drain after T (no session starts, the last ones end) is
# in no phase.
#
# Convergence (printed by the gateway, `report.rs` `convergence`): the time
# after the start (phase 1) or the shift (phase 2) from which the limit,
# smoothed by a running median of 5 samples (1.25 s, so a gradient probe's
# brief drop to `min_limit` is not a change of course), stays within 25 %
# (at least 1 permit) of the phase's settled limit until the phase ends. For
# AIMD, whose limit saw-tooths between about 0.7x and 1x of the level where
# it sees losses, that band holds a regular tooth (0.7 / 0.85 is within 25 %
# of the median): "converged" means "saw-toothing around a stable level".
#
# The workload (defaults below, documented in the gateway's --help):
# well-behaved clients only (MIX=normal: a slow or stalling client pins a
# slot for up to the deadline whatever the limit, which at small limits
# makes the capacity left a matter of luck), 64 closed-loop clients that
# back off 50-200 ms after BUSY (the server is overloaded throughout: the
# limit decides what is admitted), a short admission queue of MAX_WAITING
# for every configuration (the queue's wait is the same for all; the
# gateway's default, a queue as long as the limit, would give each fixed
# limit a different queue), and a session deadline of DEADLINE seconds (the
# latency objective: too high a limit shares the CPU among so many sessions
# that they run past it, are told TIMEOUT, and their work is wasted).
#
#   scripts/adaptive_sweep.sh                        # ~10 minutes
#   SECONDS_PER_RUN=12 REPEATS=1 FIXED="2 4 8" scripts/adaptive_sweep.sh
#
# The figures depend on the machine and on what else runs on it: the
# uptime before and after is printed; read the ranges with it in mind.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${SECONDS_PER_RUN:-16}
REPEATS=${REPEATS:-3}
CLIENTS=${CLIENTS:-64}
WARM_UP=${WARM_UP:-2}
DEADLINE=${DEADLINE:-1}
MAX_WAITING=${MAX_WAITING:-2}
MIX=${MIX:-normal}
TIE=${TIE:-0.1}
FIXED=${FIXED:-"2 3 4 6 8 10 12 16 24 32"}
POLICIES=${POLICIES:-"auto:gradient auto:aimd"}

cargo build --release --example asr_gateway >&2
bin=target/release/examples/asr_gateway
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

label() { case $1 in auto*) echo "$1" ;; *) echo "fixed_$1" ;; esac; }
file() { echo "$out/$1-$(label "$2" | tr ':' '_').txt"; }

uptime_before=$(uptime)
rounds_load=""
configs=($FIXED $POLICIES)
n=${#configs[@]}
for ((r = 0; r < REPEATS; r++)); do
    offset=$((r * n / REPEATS))
    for ((i = 0; i < n; i++)); do
        c=${configs[$(((i + offset) % n))]}
        echo "round $((r + 1))/$REPEATS: --limit $c ($SECONDS_PER_RUN s)..." >&2
        "$bin" --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN" --capacity-shift \
            --limit "$c" --mix "$MIX" --max-waiting "$MAX_WAITING" --deadline "$DEADLINE" \
            --warm-up "$WARM_UP" >"$(file "$r" "$c")" 2>&1 || true
    done
    rounds_load+="round $((r + 1)): $(uptime | sed 's/.*load average: //'); "
done
uptime_after=$(uptime)

# One line per configuration and phase:
# label phase goodput_median goodput_min goodput_max p99_median_ms
# timeouts_median limit_median converge_median_s converged_rounds
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# The upper median, for convergence times where "never" counts as 1e9.
upper_median() { sort -g | awk '{ v[NR] = $1 } END { print (NR == 0 ? 1e9 : v[int(NR / 2) + 1]) }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
for c in "${configs[@]}"; do
    l=$(label "$c")
    for ph in 0 1; do
        phase_lines=$(cat "$out"/*-"$(echo "$l" | tr ':' '_')".txt | grep "^PHASE $ph label=$l " || true)
        g=$(echo "$phase_lines" | field goodput)
        gmed=$(echo "$g" | median)
        gmin=$(echo "$g" | sort -g | head -1)
        gmax=$(echo "$g" | sort -g | tail -1)
        p99=$(echo "$phase_lines" | field p99_ms | median)
        to=$(echo "$phase_lines" | field timeouts | median)
        lim=$(echo "$phase_lines" | field limit | median)
        conv=$(echo "$phase_lines" | field converge_s | awk '{ print ($1 < 0 ? 1e9 : $1) }')
        cmed=$(echo "$conv" | upper_median)
        cok=$(echo "$conv" | awk '$1 < 1e9' | wc -l)
        echo "$l $ph ${gmed:-0} ${gmin:-0} ${gmax:-0} ${p99:-0} ${to:-0} ${lim:-0} ${cmed:-1e9} $cok"
    done
done >"$out/summary"

echo "## Adaptive limit vs fixed limits: ASR gateway, capacity shift at $((SECONDS_PER_RUN / 2)) s"
echo
echo "$CLIENTS closed-loop clients (mix: $MIX), $SECONDS_PER_RUN s per run, $REPEATS interleaved rounds;" \
    "admission queue $MAX_WAITING for every limit, session deadline $DEADLINE s; phase 1 is" \
    "${WARM_UP}-$((SECONDS_PER_RUN / 2)) s (the first $WARM_UP s are warm-up), phase 2 $((SECONDS_PER_RUN / 2))-$SECONDS_PER_RUN s" \
    "(the recogniser's CPU cost doubled). Goodput: median of the rounds (min-max); p99: median of the" \
    "rounds' p99 of the served sessions; timed out: sessions past the deadline per second (median); limit: the median of its" \
    "samples in the phase's second half; converged: seconds after the start / the shift until the limit" \
    "stays within 25 % of that (median of the rounds, and in how many rounds it did)."
echo
echo "uptime before: $uptime_before"
echo
echo "uptime after: $uptime_after"
echo
echo "load averages (1, 5, 15 min) at the end of each round: $rounds_load"
echo
awk -v policies="$POLICIES" -v tie="$TIE" -v rounds="$REPEATS" '
function ms(x) { return sprintf("%.0f ms", x) }
function conv(k) { return cok[k] == 0 ? "never" : (cmed[k] >= 1e9 ? sprintf("never (%d/%d)", cok[k], rounds) : sprintf("%.1f s (%d/%d)", cmed[k], cok[k], rounds)) }
{
    k = $1 SUBSEP $2
    g[k] = $3; gmin[k] = $4; gmax[k] = $5; p99[k] = $6; to[k] = $7; lim[k] = $8; cmed[k] = $9; cok[k] = $10
    if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 }
}
END {
    for (ph = 0; ph <= 1; ph++) {
        best[ph] = -1
        for (i = 0; i < n; i++) {
            l = order[i]; k = l SUBSEP ph
            if (l ~ /^fixed/ && g[k] > best[ph]) { best[ph] = g[k]; top[ph] = l }
        }
        op = -1
        for (i = 0; i < n; i++) {
            l = order[i]; k = l SUBSEP ph
            if (l ~ /^fixed/ && g[k] >= (1 - tie) * best[ph] && (op < 0 || p99[k] < op)) { op = p99[k]; oracle[ph] = l }
        }
    }
    printf "| limit | phase 1 goodput/s | p99 | timed out/s | limit (converged) | phase 2 goodput/s | p99 | timed out/s | limit (converged after the shift) |\n"
    printf "|---|---|---|---|---|---|---|---|---|\n"
    for (i = 0; i < n; i++) {
        l = order[i]; a = l SUBSEP 0; b = l SUBSEP 1
        mark = ""
        if (l == oracle[0]) mark = mark " (oracle 1)"
        if (l == oracle[1]) mark = mark " (oracle 2)"
        if (l == top[0] && l != oracle[0]) mark = mark " (best goodput 1)"
        if (l == top[1] && l != oracle[1]) mark = mark " (best goodput 2)"
        ca = (l ~ /^auto/) ? sprintf("%.1f (%s)", lim[a], conv(a)) : sprintf("%.0f", lim[a])
        cb = (l ~ /^auto/) ? sprintf("%.1f (%s)", lim[b], conv(b)) : sprintf("%.0f", lim[b])
        printf "| %s%s | %.1f (%.1f-%.1f) | %s | %.1f | %s | %.1f (%.1f-%.1f) | %s | %.1f | %s |\n", l, mark, g[a], gmin[a], gmax[a], ms(p99[a]), to[a], ca, g[b], gmin[b], gmax[b], ms(p99[b]), to[b], cb
    }
    printf "\n"
    printf "Oracle: among the fixed limits whose median goodput is within %.0f %% of the best one, the one with the lowest p99.\n\n", tie * 100
    printf "| policy | phase | goodput / oracle (target >= 0.9) | p99 / oracle (target <= 1.3) | goodput / best fixed goodput |\n|---|---|---|---|---|\n"
    np = split(policies, pol, " ")
    for (j = 1; j <= np; j++) {
        for (ph = 0; ph <= 1; ph++) {
            k = pol[j] SUBSEP ph; o = oracle[ph] SUBSEP ph; t = top[ph] SUBSEP ph
            rg = g[k] / (g[o] > 0 ? g[o] : 1); rp = p99[k] / (p99[o] > 0 ? p99[o] : 1)
            printf "| %s | %d (oracle %s) | %.2f%s | %.2f%s | %.2f (%s) |\n", pol[j], ph + 1, oracle[ph], rg, (rg >= 0.9 ? "" : " (missed)"), rp, (rp <= 1.3 ? "" : " (missed)"), g[k] / (g[t] > 0 ? g[t] : 1), top[ph]
        }
    }
}' "$out/summary"
last=$((REPEATS - 1))
for p in $POLICIES; do
    echo
    echo "### $p: the limit over time, round $REPEATS (| marks the shift)"
    echo
    echo '```'
    sed -n '/^limit over time/,/^ *0 s/p' "$(file "$last" "$p")"
    echo '```'
done
