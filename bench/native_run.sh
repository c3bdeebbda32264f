#!/usr/bin/env bash
# The native tier against go test -bench, the interpreter and Dask, in one run (bench/native.md says what each
# figure is): compute-bound electrons, a chain moving 5,000,000 floats, native builds cold and cached, and the
# 10,000-task fan-out. Usage: bench/native_run.sh   (from anywhere; RUNS, CHAIN_RUNS, CHAIN_N, FAN_RUNS and N
# can be overridden; raw lines go to bench/out/native_results.txt, the table to bench/out/native_summary.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
export GOTOOLCHAIN=local
RUNS=${RUNS:-5} CHAIN_RUNS=${CHAIN_RUNS:-3} CHAIN_N=${CHAIN_N:-5000000} FAN_RUNS=${FAN_RUNS:-3} N=${N:-10000}
DASK_REPEAT_UNDER_S=30 # run Dask FAN_RUNS times only if its first run takes less than this
OUT=bench/out
mkdir -p "$OUT"
RES=$OUT/native_results.txt # measured and gobench append here
: >"$RES"

need_python_modules 'import dask, distributed' python3-distributed

go build -o "$OUT/govalent" ./cmd/govalent
go test -c -o "$OUT/nativebench.test" ./bench/nativebench
cleanup() { stop_dispatcher_and_client; }
bench_begin

serve() { start_dispatcher "$GV" start --foreground --native "$@"; } # serve always|never [FLAGS...]
ticks() { for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done | awk '{s += $14 + $15} END {print s + 0}'; }
cpu_parts() { # CPU ticks so far of the dispatcher alone, of its worker processes, and of theirs (the native workers)
	local workers
	workers=$(pgrep -P "$PID" || true)
	echo "$(ticks "$PID") $(ticks $workers) $(ticks $(for w in $workers; do pgrep -P "$w" || true; done))"
}
split_measured() { # split_measured LABEL CMD...: measured CMD, then "cpu LABEL dispatcher_s=... workers_s=... natives_s=..."
	local label=$1 before after
	shift
	before=$(cpu_parts)
	measured "$@"
	after=$(cpu_parts)
	awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" -v label="$label" 'BEGIN {split(b, x); split(a, y)
		printf "cpu %s dispatcher_s=%.2f workers_s=%.2f natives_s=%.2f\n", label, (y[1] - x[1]) / hz, (y[2] - x[2]) / hz, (y[3] - x[3]) / hz}' |
		tee -a "$RES"
}
gobench() { # gobench ARGS...: runs the nativebench benchmarks; one line "gotest bench=NAME s=SECONDS_PER_OP" each
	"$OUT/nativebench.test" -test.run '^$' "$@" |
		awk '/^Benchmark/ {name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name); printf "gotest bench=%s s=%.9f\n", name, $3 / 1e9}' |
		tee -a "$RES"
}

echo "== 1. compute: fib(30) and a 200x200 matmul; go test -bench and native electrons alternate, $RUNS rounds"
# One worker process: each electron runs alone, as go test -bench's loop does (with the pool's default two, about
# half the timed calls ran 30-50 % slower, whichever worker's native process took them; not yet explained).
serve always --workers 1
for _ in $(seq "$RUNS"); do
	gobench -test.bench '^Benchmark(Fib30|MatMul200)$' -test.benchtime 20x
	for f in fib30 matmul200; do measured env FUNC=$f TIER=native "$GV" run bench/nativebench/compute.go; done
done
stop_dispatcher
serve never --workers 1
for _ in $(seq "$RUNS"); do
	for f in fib30 matmul200; do measured env FUNC=$f TIER=interpreted "$GV" run bench/nativebench/compute.go; done
done
stop_dispatcher

echo "== 2. chain: Make($CHAIN_N floats) -> Sum, $CHAIN_RUNS runs per tier; then its value's steps one by one"
for tier in native interpreted; do
	serve "$([[ $tier == native ]] && echo always || echo never)"
	for i in $(seq "$CHAIN_RUNS"); do
		split_measured "chain tier=$tier" env N="$CHAIN_N" SCALE="$i" TIER=$tier "$GV" run bench/chain.go
	done
	stop_dispatcher
done
gobench -test.bench '^BenchmarkChainValue$' -test.benchtime 1x -test.count 3

echo "== 3. native builds: cold (fresh native cache dir, warm Go build cache) and cached"
gobench -test.bench '^BenchmarkBuildCold$' -test.benchtime 1x -test.count "$RUNS"
gobench -test.bench '^BenchmarkBuildCached$' -test.benchtime 200x -test.count 3

echo "== 4. fan-out, $N tasks: native, interpreted (a warm-up each, then $FAN_RUNS runs), Dask"
for tier in native interpreted; do
	serve "$([[ $tier == native ]] && echo always || echo never)"
	N=10 "$GV" run bench/fanout.go >/dev/null # the native build, the worker processes
	for _ in $(seq "$FAN_RUNS"); do TAG=$tier split_measured "fanout tier=$tier" env N="$N" "$GV" run bench/fanout.go; done
	stop_dispatcher
done
for i in $(seq "$FAN_RUNS"); do
	measured env N="$N" $PY bench/dask_fanout.py
	if [[ $i == 1 ]] && awk -v t="$(grep '^dask ' "$RES" | sed -n 's/.* dispatch_to_completed_s=\([^ ]*\).*/\1/p')" \
		-v m=$DASK_REPEAT_UNDER_S 'BEGIN {exit !(t >= m)}'; then break; fi
done

# field PREFIX KEY [GREP]: KEY's values in the result lines starting with PREFIX (and matching GREP)
field() { grep "^$1 " "$RES" | grep -e "${3:-}" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }
med() { field "$@" | median; }
ms() { awk -v s="$1" 'BEGIN {printf "%.2f ms", s * 1000}'; }
us() { awk -v s="$1" 'BEGIN {printf "%.1f us", s * 1e6}'; }
sec() { awk -v s="$1" 'BEGIN {printf "%.3f s", s}'; }
x() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
row() { printf '%-48s %18s %18s %16s %s\n' "$@"; }
others() { field "$@" | sum; }
{
	echo
	echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ); commit $REV; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(go version | cut -d' ' -f3))"
	echo "1. compute, median (best) of $RUNS: node EndTime-StartTime against go test -bench (ns/op)"
	row "" "native" "go test -bench" "interpreted" "native/go test, median (best) (target <= 1.2x); interpreted/native"
	for f in fib30:Fib30 matmul200:MatMul200; do
		nat=$(med compute node_s "tier=native func=${f%:*} ") gt=$(med gotest s "bench=${f#*:} ")
		natb=$(field compute node_s "tier=native func=${f%:*} " | best) gtb=$(field gotest s "bench=${f#*:} " | best)
		itp=$(med compute node_s "tier=interpreted func=${f%:*} ")
		row "${f%:*}" "$(ms "$nat") ($(ms "$natb"))" "$(ms "$gt") ($(ms "$gtb"))" "$(ms "$itp")" \
			"$(x "$nat" "$gt") ($(x "$natb" "$gtb")); $(x "$itp" "$nat")"
	done
	echo "2. chain, $CHAIN_N floats, medians of $CHAIN_RUNS"
	row "" "native" "interpreted"
	for k in completed_s:"ct.Dispatch -> COMPLETED seen (target 0.3 s)" submit_s:"  submitting" queue_s:"  dispatch start -> Make starts" \
		make_s:"  Make (run, encode output, pipes)" between_s:"  Make ends -> Sum starts" sum_s:"  Sum (pipes, decode argument, run)" \
		finish_s:"  Sum ends -> dispatch ends" result_s:"ct.Dispatch -> ct.GetResult returns (all values)"; do
		row "${k#*:}" "$(sec "$(med chain "${k%%:*}" 'tier=native ')")" "$(sec "$(med chain "${k%%:*}" 'tier=interpreted ')")"
	done
	for k in dispatcher_s:"CPU: the dispatcher" workers_s:"CPU: its worker processes" natives_s:"CPU: their native workers"; do
		row "${k#*:}" "$(sec "$(med cpu "${k%%:*}" 'chain tier=native ')")" "$(sec "$(med cpu "${k%%:*}" 'chain tier=interpreted ')")"
	done
	echo "   the steps of a 5,000,000-float value alone (go test -bench, median of 3):"
	for s in encode native-hop outcome task store decode; do row "     $s" "$(sec "$(med gotest s "bench=ChainValue/$s ")")"; done
	echo "3. native builds"
	row "cold: fresh cache dir, warm Go cache (<= 2 s)" "$(sec "$(med gotest s 'bench=BuildCold ')")" "" "" "median of $RUNS"
	row "cached, same dispatcher (<= 5 ms)" "$(us "$(med gotest s 'bench=BuildCached/dispatcher ')")"
	row "cached, after a dispatcher restart (<= 5 ms)" "$(us "$(med gotest s 'bench=BuildCached/restart ')")"
	echo "4. fan-out, $N tasks + the sum, dispatch -> COMPLETED, medians of $FAN_RUNS (Dask: $(field dask dispatch_to_completed_s | wc -l) runs)"
	nat=$(med native dispatch_to_completed_s) itp=$(med interpreted dispatch_to_completed_s) dk=$(med dask dispatch_to_completed_s)
	rate() { awk -v t="$1" -v n="$N" 'BEGIN {printf "%.0f tasks/s", (n + 1) / t}'; }
	row "" "native" "interpreted" "Dask"
	row "dispatch -> COMPLETED" "$(sec "$nat")" "$(sec "$itp")" "$(sec "$dk")"
	row "tasks/s" "$(rate "$nat")" "$(rate "$itp")" "$(rate "$dk")"
	row "dispatcher StartTime -> EndTime" "$(sec "$(med native server_s)")" "$(sec "$(med interpreted server_s)")"
	per() { awk -v t="$(med cpu "$1" "fanout tier=$2 ")" -v n="$N" 'BEGIN {printf "%.1f us", t / (n + 1) * 1e6}'; }
	for k in dispatcher_s:"CPU per task: the dispatcher" workers_s:"CPU per task: its worker processes" natives_s:"CPU per task: their native workers"; do
		row "${k#*:}" "$(per "${k%%:*}" native)" "$(per "${k%%:*}" interpreted)"
	done
	row "Dask / govalent (target: native >= 50x)" "$(x "$dk" "$nat")" "$(x "$dk" "$itp")"
	echo "CPU-s used by other processes meanwhile: compute $(others compute others_cpu_s), chain $(others chain others_cpu_s)," \
		"fan-out native $(others native others_cpu_s), interpreted $(others interpreted others_cpu_s), dask $(others dask others_cpu_s)"
} | tee "$OUT/native_summary.txt"
