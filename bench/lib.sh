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

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }
