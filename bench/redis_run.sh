#!/usr/bin/env bash
# Redis worker pool benchmark: throughput of N trivial electrons (bench/fanout.go) through a dispatcher started
# with --redis and two `govalent worker --redis --concurrency 1` processes, side by side with Celery (Redis
# broker and result backend, prefork pool of 2) on the same tasks; plus low-load latency (bench/latency.go) and
# the time from SIGKILL of the worker running a task to that task running again (bench/rerun.go).
# Usage: bench/redis_run.sh   (from anywhere; N, GV_RUNS (govalent), RUNS (Celery) and LAT_RUNS can be
# overridden; logs go to bench/out/)
# Everything listens on 127.0.0.1 only: its own redis-server on a free port, never the system one.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-10000} RUNS=${RUNS:-3} GV_RUNS=${GV_RUNS:-5} LAT_RUNS=${LAT_RUNS:-50}
CELERY_REPEAT_UNDER_S=60 # run Celery RUNS times only if its first run takes less than this
OUT=bench/out
mkdir -p "$OUT"
RES=$OUT/redis_results.txt
: >"$RES"

need_python_modules 'import celery, redis' python3-celery python3-redis

go build -o "$OUT/govalent" ./cmd/govalent
PIDS=() # every background process started here; each leads its own process group (setsid)
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
bench_begin

spawn() { # spawn LOG CMD...: starts CMD in its own process group, logging to LOG; sets LAST
	setsid "${@:2}" >>"$1" 2>&1 &
	LAST=$!
	PIDS+=("$LAST")
}
stop() { # stop PID...: SIGTERM to each one's process group, then wait
	local p
	for p in "$@"; do kill -- "-$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
now_ns() { date +%s%N; }

# --- Redis of our own -------------------------------------------------------------------------------------
RPORT=$(free_port)
spawn "$OUT/redis.log" /usr/bin/redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP" --save "" --appendonly no
REDIS_PID=$LAST
for i in $(seq 100); do
	redis-cli -h 127.0.0.1 -p "$RPORT" ping >/dev/null 2>&1 && break
	[[ $i == 100 ]] && { echo "redis-server did not start; see $OUT/redis.log" >&2; exit 1; }
	sleep 0.1
done
GV_REDIS=redis://127.0.0.1:$RPORT/0
export CELERY_BROKER=redis://127.0.0.1:$RPORT/1

# --- govalent: dispatcher with --redis and two workers -----------------------------------------------------
DPORT=$(free_port)
DATA=$(mktemp -d "$TMP/data.XXXX")
# The workers share the dispatcher's Redis key (made in its data directory on start), as a copied key file.
export GOVALENT_REDIS_KEY_FILE=$DATA/redis.key
spawn "$OUT/redis_dispatcher.log" "$GV" start --foreground --host 127.0.0.1 --port "$DPORT" \
	--data-dir "$DATA" --redis "$GV_REDIS"
DISP_PID=$LAST
export GOVALENT_DISPATCHER=http://127.0.0.1:$DPORT
for i in $(seq 100); do
	curl -sf "$GOVALENT_DISPATCHER/healthz" >/dev/null && break
	[[ $i == 100 ]] && { echo "the dispatcher did not start; see $OUT/redis_dispatcher.log" >&2; exit 1; }
	sleep 0.1
done
WORKERS=()
for _ in 1 2; do
	spawn "$OUT/redis_workers.log" "$GV" worker --redis "$GV_REDIS" --concurrency 1 # default lease (3 s)
	WORKERS+=("$LAST")
done

echo "== govalent Redis pool (2 workers x concurrency 1), $N tasks, $GV_RUNS runs"
group_ticks() { # CPU ticks used so far by the processes in the given process groups and their children (live ones only)
	local g # (a worker's task processes lead process groups of their own)
	for g in "$@"; do pgrep -g "$g" || true; pgrep -P "$g" || true; done | sort -u | while read -r p; do cat "/proc/$p/stat" 2>/dev/null || true; done |
		sed 's/^.*) //' | awk '{s += $12 + $13} END {print s + 0}' # fields 14 and 15 after the "(comm)"
}
HZ=$(getconf CLK_TCK)
for _ in $(seq "$GV_RUNS"); do
	d0=$(group_ticks "$DISP_PID") w0=$(group_ticks "${WORKERS[@]}") r0=$(group_ticks "$REDIS_PID")
	line=$(N="$N" /usr/bin/time -f '%U %S' -o "$TMP/cpu" "$GV" run bench/fanout.go 2>>"$OUT/client.log")
	awk -v hz="$HZ" -v d=$(($(group_ticks "$DISP_PID") - d0)) -v w=$(($(group_ticks "${WORKERS[@]}") - w0)) \
		-v r=$(($(group_ticks "$REDIS_PID") - r0)) -v line="$line" \
		'{printf "%s cpu_dispatcher_s=%.2f cpu_workers_s=%.2f cpu_redis_s=%.2f cpu_client_s=%.2f\n", line, d / hz, w / hz, r / hz, $1 + $2}' \
		"$TMP/cpu" | tee -a "$RES"
done

echo "== govalent low-load latency: one-electron lattice, $LAT_RUNS sequential DispatchSync"
RUNS=$LAT_RUNS "$GV" run bench/latency.go 2>>"$OUT/client.log" | tee -a "$RES"

echo "== govalent SIGKILL of the worker running a task -> the task running again"
RF=$TMP/rerun.txt
: >"$RF"
RERUN_FILE=$RF spawn "$TMP/rerun.out" "$GV" run bench/rerun.go
RERUN_PID=$LAST
for i in $(seq 600); do # up to 60 s (the first run of a new program builds it)
	[[ $(grep -c '^start ' "$RF") -ge 1 ]] && break
	[[ $i == 600 ]] && { echo "the rerun task never started" >&2; cat "$TMP/rerun.out" >&2; exit 1; }
	sleep 0.1
done
read -r _ T1 VICTIM < <(grep -m1 '^start ' "$RF")
[[ " ${WORKERS[*]} " == *" $VICTIM "* ]] ||
	{ echo "the electron's parent $VICTIM is not one of the workers (${WORKERS[*]}): $(tr '\0' ' ' <"/proc/$VICTIM/cmdline" 2>/dev/null)" >&2; exit 1; }
TK=$(now_ns)
kill -KILL "$VICTIM"
for i in $(seq 600); do # up to 60 s
	[[ $(grep -c '^start ' "$RF") -ge 2 ]] && break
	[[ $i == 600 ]] && { echo "the task did not run again within 60 s" >&2; exit 1; }
	sleep 0.01
done
read -r _ T2 PID2 < <(grep '^start ' "$RF" | sed -n 2p)
wait "$RERUN_PID" || { echo "the rerun dispatch failed:" >&2; cat "$TMP/rerun.out" >&2; exit 1; }
awk -v tk="$TK" -v t1="$T1" -v t2="$T2" -v v="$VICTIM" -v p2="$PID2" -v line="$(cat "$TMP/rerun.out")" \
	'BEGIN {printf "govalent_sigkill kill_to_rerun_s=%.3f first_start_to_rerun_s=%.3f killed_worker=%s rerun_worker=%s %s\n",
		(t2 - tk) / 1e9, (t2 - t1) / 1e9, v, p2, line}' | tee -a "$RES"

stop "${WORKERS[@]}" "$DISP_PID" # free the CPUs for Celery

# --- Celery on the same Redis (db 1) ----------------------------------------------------------------------
echo "== celery prefork --concurrency 2, Redis broker and backend, $N tasks"
PYTHONPATH=bench spawn "$OUT/celery_worker.log" $PY -m celery -A celery_tasks worker --concurrency 2 --pool prefork \
	--without-gossip --without-mingle --without-heartbeat -Q bench --loglevel WARNING
CELERY_PID=$LAST
# warm up: wait until the worker answers a task (this also connects its pool processes)
PYTHONPATH=bench timeout 120 $PY -c 'from celery_tasks import inc; assert inc.delay(1).get(timeout=110) == 2' ||
	{ echo "the Celery worker did not answer; see $OUT/celery_worker.log" >&2; exit 1; }
for i in $(seq "$RUNS"); do
	N="$N" $PY bench/celery_fanout.py 2>>"$OUT/client.log" | tee -a "$RES"
	if [[ $i == 1 ]] && awk -v t="$(sed -n "s/^celery tasks=$N .*dispatch_to_completed_s=\([^ ]*\).*/\1/p" "$RES")" \
		-v m=$CELERY_REPEAT_UNDER_S 'BEGIN {exit !(t >= m)}'; then break; fi
done
stop "$CELERY_PID"
stop "$REDIS_PID"

# --- summary ------------------------------------------------------------------------------------------------
field() { grep "^$1 " "$RES" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; } # a field of the lines starting with $1
rate() { awk -v n="$N" '{printf "%.0f\n", (n + 1) / $1}'; }       # tasks/s: N + the sum, per second
best() { sort -g | tail -1; }                                      # of rates: the highest
gv=$(field govalent dispatch_to_completed_s | rate) ce=$(field celery dispatch_to_completed_s | rate)
gvb=$(best <<<"$gv") gvm=$(median <<<"$gv") ceb=$(best <<<"$ce") cem=$(median <<<"$ce")
rerun=$(field govalent_sigkill kill_to_rerun_s) lmed=$(field govalent_latency median_s) lp95=$(field govalent_latency p95_s)
row() { printf '%-52s %12s %12s %s\n' "$@"; }
{
	echo
	echo "== Redis pool summary ($(date -u +%Y-%m-%dT%H:%MZ); commit $REV; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); redis $(/usr/bin/redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'); celery $($PY -c 'import celery; print(celery.__version__)'))"
	row "measure" "best" "median" "runs / raw"
	row "govalent Redis pool, 2 workers, $N+1 tasks/s" "$gvb" "$gvm" "$(wc -l <<<"$gv"): $(field govalent dispatch_to_completed_s | xargs) s"
	row "  CPU-s per run: dispatcher / 2 workers / redis / client" "" "$(for f in dispatcher workers redis client; do field govalent "cpu_${f}_s" | median; done | xargs | sed 's| | / |g')" "(median of runs)"
	row "Celery prefork 2, Redis broker+backend, tasks/s" "$ceb" "$cem" "$(wc -l <<<"$ce"): $(field celery dispatch_to_completed_s | xargs) s"
	row "ratio govalent / Celery" "$(ratio "$gvb" "$ceb")x" "$(ratio "$gvm" "$cem")x"
	row "SIGKILL of worker -> task running again" "${rerun}s" "" "(lease 3 s; from first start: $(field govalent_sigkill first_start_to_rerun_s)s)"
	row "low-load latency, 1-electron DispatchSync" "" "${lmed}s" "p95 ${lp95}s over $LAT_RUNS runs"
	awk -v t="$gvm" 'BEGIN {print "target: at least 20,000 tasks/s (median): " (t >= 20000 ? "met" : "MISSED")}'
	awk -v r="$(ratio "$gvm" "$cem")" 'BEGIN {print "target: at least 10x Celery (median): " (r >= 10 ? "met" : "MISSED")}'
	awk -v t="$rerun" 'BEGIN {print "target: SIGKILL -> re-run under 5 s: " (t < 5 ? "met" : "MISSED")}'
} | tee "$OUT/redis_summary.txt"
