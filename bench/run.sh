#!/usr/bin/env bash
# Fan-out/fan-in benchmark: N trivial electrons and one sum, dispatch to COMPLETED on the embedded default
# executor, against Dask distributed's LocalCluster on the same graph; then a 100,000-task graph on govalent.
# Usage: bench/run.sh   (from anywhere; N, BIG and RUNS can be overridden; logs go to bench/out/)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-10000} BIG=${BIG:-100000} RUNS=${RUNS:-3}
DASK_REPEAT_UNDER_S=30 # run Dask RUNS times only if its first run takes less than this
OUT=bench/out
mkdir -p "$OUT"
RES=$OUT/results.txt # measured appends here
: >"$RES"

need_python_modules 'import distributed' python3-distributed

go build -o "$OUT/govalent" ./cmd/govalent
cleanup() { stop_dispatcher_and_client; }
bench_begin

results() { grep "^$1 tasks=$2 " "$OUT/results.txt" | sed -n "s/.* $3=\([^ ]*\).*/\1/p"; } # a field of some lines

echo "== govalent, $N tasks, $RUNS runs"
start_dispatcher
for _ in $(seq "$RUNS"); do measured env N="$N" "$GV" run bench/fanout.go; done
stop_dispatcher
GV_RSS=$RSS_MIB GV_WORKERS=$WORKERS_MIB

echo "== dask LocalCluster(n_workers=2, threads_per_worker=1, processes=True), $N tasks"
for i in $(seq "$RUNS"); do
	measured env N="$N" $PY bench/dask_fanout.py
	if [[ $i == 1 ]] && awk -v t="$(results dask "$N" dispatch_to_completed_s)" -v m=$DASK_REPEAT_UNDER_S 'BEGIN {exit !(t >= m)}'; then break; fi
done

echo "== govalent, $BIG tasks, once"
start_dispatcher
measured env N="$BIG" "$GV" run bench/fanout.go
stop_dispatcher

gv=$(results govalent "$N" dispatch_to_completed_s) server=$(results govalent "$N" server_s)
dk=$(results dask "$N" dispatch_to_completed_s) big=$(results govalent "$BIG" dispatch_to_completed_s)
us() { awk -v t="$1" -v n="$2" 'BEGIN {printf "%.0f", t / (n + 1) * 1e6}'; } # per electron (N + the sum)
row() { printf '%-46s %10s %10s %s\n' "$@"; }
{
	echo
	echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ); commit $REV; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo) GiB RAM)"
	row "measure" "best" "median" "runs"
	row "govalent $N tasks, dispatch to COMPLETED" "$(best <<<"$gv")s" "$(median <<<"$gv")s" "$(wc -l <<<"$gv")"
	row "  server StartTime->EndTime" "$(best <<<"$server")s" "$(median <<<"$server")s"
	row "  per task" "$(us "$(best <<<"$gv")" "$N")us" "$(us "$(median <<<"$gv")" "$N")us"
	row "dask $N tasks, submit to result" "$(best <<<"$dk")s" "$(median <<<"$dk")s" "$(wc -l <<<"$dk")"
	row "  per task" "$(us "$(best <<<"$dk")" "$N")us" "$(us "$(median <<<"$dk")" "$N")us"
	row "speed ratio dask/govalent (target >= 5x)" "$(ratio "$(best <<<"$dk")" "$(best <<<"$gv")")x" "$(ratio "$(median <<<"$dk")" "$(median <<<"$gv")")x"
	row "dispatcher peak RSS, $N-task runs" "$GV_RSS MiB" "" "(its workers: $GV_WORKERS MiB)"
	row "govalent $BIG tasks, dispatch to COMPLETED" "${big}s" "" "($(us "$big" "$BIG")us per task)"
	row "dispatcher peak RSS, $BIG-task run" "$RSS_MIB MiB" "" "(its workers: $WORKERS_MIB MiB)"
	echo "CPU-s used by other processes meanwhile: govalent $N: $(results govalent "$N" others_cpu_s | sum)," \
		"dask: $(results dask "$N" others_cpu_s | sum), govalent $BIG: $(results govalent "$BIG" others_cpu_s | sum)"
	awk -v t="$(median <<<"$gv")" -v n="$N" 'BEGIN {print "target: under 2 s for " n " tasks (median): " (t < 2 ? "met" : "MISSED")}'
	awk -v r="$(ratio "$(median <<<"$dk")" "$(median <<<"$gv")")" 'BEGIN {print "target: at least 5x faster than Dask (median): " (r >= 5 ? "met" : "MISSED")}'
} | tee "$OUT/summary.txt"
