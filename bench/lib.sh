# Helpers shared by the benchmark scripts (sourced, not run).
PY=/usr/bin/python3 # Debian's python, where the python3-* packages live

# need_python_modules "import a, b" PACKAGE...: installs the Debian packages when the import fails.
need_python_modules() {
	local imports=$1
	shift
	if ! $PY -c "$imports" 2>/dev/null; then
		local sudo
		sudo=$([[ $(id -u) == 0 ]] || echo sudo)
		$sudo apt-get install -y "$@" || { $sudo apt-get update && $sudo apt-get install -y "$@"; }
	fi
}

# bench_begin sets up what every benchmark script needs once $OUT/govalent is built: REV (the commit measured,
# marked when the code outside bench/ has local changes), GV, TMP (a scratch directory; the script's cleanup,
# run at exit, removes it) and an environment of its own: no user config file, token or worker settings.
bench_begin() {
	REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff-index --quiet HEAD -- . ':(exclude)bench' 2>/dev/null || REV="$REV+local changes"
	GV=$OUT/govalent
	TMP=$(mktemp -d)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	unset GOVALENT_TOKEN GOVALENT_WORKERS GOVALENT_HOST GOVALENT_REDIS GOVALENT_DISPATCHER
	export GOVALENT_CONFIG=$TMP/no-config.toml # ignore any user config file
	export GOVALENT_TOKEN_FILE=$TMP/token # the benchmark dispatchers' token, not the user's own
}

# stop_dispatcher_and_client is the cleanup of scripts with one dispatcher (PID) and one benchmark client
# (RUNPID, the leader of its own process group).
PID="" RUNPID=""
stop_dispatcher_and_client() {
	[[ -n $RUNPID ]] && kill -- "-$RUNPID" 2>/dev/null
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
best() { sort -g | head -1; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

# start_dispatcher and stop_dispatcher run "$GV" (the govalent binary) in $TMP, logging to $OUT; PID is its pid.
# start_dispatcher [CMD...]: a fresh dispatcher on a free loopback port with an empty data dir; CMD, when given,
# replaces `"$GV" start --foreground` (it must take --host, --port and --data-dir).
start_dispatcher() {
	local port cmd=("$@")
	((${#cmd[@]})) || cmd=("$GV" start --foreground)
	port=$(free_port)
	"${cmd[@]}" --host 127.0.0.1 --port "$port" --data-dir "$(mktemp -d "$TMP/data.XXXX")" \
		>>"$OUT/dispatcher.log" 2>&1 &
	PID=$!
	export GOVALENT_DISPATCHER=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -sf "$GOVALENT_DISPATCHER/healthz" >/dev/null && return
		sleep 0.1
	done
	echo "the dispatcher did not start; see $OUT/dispatcher.log" >&2
	exit 1
}
stop_dispatcher() { # sets RSS_MIB (dispatcher VmHWM) and WORKERS_MIB (sum of its workers' VmHWM), then stops it
	RSS_MIB=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status")
	WORKERS_MIB=$(for c in $(pgrep -P "$PID"); do cat "/proc/$c/status" 2>/dev/null || true; done | awk '/^VmHWM/ {s += $2} END {printf "%.1f", s / 1024}')
	kill "$PID"
	wait "$PID" || true
	PID=""
}

# CPU accounting of a benchmark run: measured runs "$@", prints its result line with others_cpu_s (the CPU seconds
# that processes other than it and the dispatcher with all its descendants used meanwhile) appended and "$TAG "
# prepended when TAG is set, and appends that line to $RES. It sets RUNPID while it runs, for the caller's cleanup.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; } # CPU ticks worked by the machine
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
dispatcher_cpu() { # CPU ticks of the dispatcher and its descendants (workers, native workers) so far; 0 when none runs
	[[ -z $PID ]] && { echo 0; return; }
	for p in $PID $(descendants "$PID"); do cat "/proc/$p/stat" 2>/dev/null || true; done | awk '{s += $14 + $15} END {print s + 0}'
}
measured() {
	local b0 d0
	b0=$(busy) d0=$(dispatcher_cpu)
	setsid /usr/bin/time -f '%U %S' -o "$TMP/cpu" "$@" >"$TMP/line" 2>>"$OUT/client.log" &
	RUNPID=$!
	wait "$RUNPID"
	RUNPID=""
	awk -v b=$(($(busy) - b0)) -v d=$(($(dispatcher_cpu) - d0)) -v hz="$(getconf CLK_TCK)" -v line="${TAG:+$TAG }$(cat "$TMP/line")" \
		'{printf "%s others_cpu_s=%.2f\n", line, (b - d) / hz - $1 - $2}' "$TMP/cpu" | tee -a "$RES"
}
sum() { awk '{s += $1} END {printf "%.2f", s}'; }
