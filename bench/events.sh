#!/usr/bin/env bash
# Event-stream load: the N-task fan-out (bench/fanout.go) alone, and again while K event-stream clients hold
# connections to /api/v1/events without ever reading (bench/idle_sse.go), alternately RUNS times on one
# dispatcher. Target (issue 11): the fan-out with the idle clients within 1.5x of the fan-out alone (medians).
# Usage: bench/events.sh   (from anywhere; N, K, RUNS and LIMIT_S, the time limit of one fan-out, can be
# overridden; logs go to bench/out/)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-10000} K=${K:-1000} RUNS=${RUNS:-3} LIMIT_S=${LIMIT_S:-120}
OUT=bench/out
mkdir -p "$OUT"
RES=$OUT/events_results.txt
: >"$RES"

go build -o "$OUT/govalent" ./cmd/govalent
go build -o "$OUT/idle_sse" bench/idle_sse.go
IDLE_PID="" # the idle clients (PID is the dispatcher)
cleanup() { # each step may fail (already gone); none may stop the others (set -e)
	local p
	for p in $IDLE_PID $PID; do kill "$p" 2>/dev/null || true; done
	for p in $IDLE_PID $PID; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
bench_begin

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; } # CPU the dispatcher (without its workers) used so far
fanout() { # fanout LABEL: one fan-out, recorded as "LABEL govalent tasks=N ... dispatcher_cpu_s=..."
	local line c0
	c0=$(cpu_ticks)
	line=$(timeout "$LIMIT_S" env N="$N" "$GV" run bench/fanout.go 2>>"$OUT/client.log") ||
		{ echo "$1: the fan-out failed or took over $LIMIT_S s; see $OUT/client.log" >&2; exit 1; }
	echo "$1 $line dispatcher_cpu_s=$(awk -v t=$(($(cpu_ticks) - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')" | tee -a "$RES"
}
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }

echo "== $N-task fan-out, alone and with $K idle event-stream clients, $RUNS runs each"
start_dispatcher
fanout warmup >/dev/null # starts the worker processes
for _ in $(seq "$RUNS"); do
	fanout alone
	echo "alone rss_mib=$(rss)" | tee -a "$RES"
	coproc IDLE { K=$K exec "$OUT/idle_sse" 2>>"$OUT/client.log"; }
	read -r -t 60 -u "${IDLE[0]}" ready n || { echo "the idle clients did not connect; see $OUT/client.log" >&2; exit 1; }
	[[ $ready == ready && $n == "$K" ]]
	fanout idle
	echo "idle rss_mib=$(rss)" | tee -a "$RES"
	exec {IDLE[1]}>&- # the clients close their connections and exit
	wait "$IDLE_PID" || true
	IDLE_PID=""
done
stop_dispatcher

field() { grep "^$1 govalent" "$RES" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }
alone=$(field alone dispatch_to_completed_s) idle=$(field idle dispatch_to_completed_s)
row() { printf '%-52s %10s %10s %s\n' "$@"; }
{
	echo
	echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ); commit $REV; $(nproc) CPUs; N=$N K=$K)"
	row "measure" "best" "median" "runs"
	row "fan-out alone, dispatch to COMPLETED" "$(best <<<"$alone")s" "$(median <<<"$alone")s" "$(tr '\n' ' ' <<<"$alone")"
	row "fan-out with $K idle clients" "$(best <<<"$idle")s" "$(median <<<"$idle")s" "$(tr '\n' ' ' <<<"$idle")"
	row "dispatcher CPU per fan-out, alone" "" "$(field alone dispatcher_cpu_s | median)s" "$(field alone dispatcher_cpu_s | tr '\n' ' ')"
	row "dispatcher CPU per fan-out, with the idle clients" "" "$(field idle dispatcher_cpu_s | median)s" "$(field idle dispatcher_cpu_s | tr '\n' ' ')"
	row "dispatcher StartTime->EndTime, alone" "" "$(field alone server_s | median)s" "$(field alone server_s | tr '\n' ' ')"
	row "dispatcher StartTime->EndTime, with the idle clients" "" "$(field idle server_s | median)s" "$(field idle server_s | tr '\n' ' ')"
	# RSS grows with every fan-out also because the dispatcher keeps finished runs in memory (up to 200,000 nodes)
	row "dispatcher RSS after each fan-out alone" "" "" "$(sed -n 's/^alone rss_mib=//p' "$RES" | tr '\n' ' ')MiB"
	row "dispatcher RSS after each fan-out with the clients" "" "" "$(sed -n 's/^idle rss_mib=//p' "$RES" | tr '\n' ' ')MiB"
	row "dispatcher peak RSS (VmHWM)" "$RSS_MIB MiB" "" ""
	r=$(ratio "$(median <<<"$idle")" "$(median <<<"$alone")")
	awk -v r="$r" 'BEGIN {print "target: with the idle clients within 1.5x of alone (medians): " r "x, " (r <= 1.5 ? "met" : "MISSED")}'
} | tee "$OUT/events_summary.txt"
