#!/usr/bin/env bash
# Installs what `make test` needs and is missing: a C compiler for the race detector, and Jupyter's own
# clients from Debian (the kernel conformance suite, nbclient/nbconvert, jupyter_client) run with
# /usr/bin/python3, redis-server for the Redis queue tests, Chromium for the web UI's browser tests,
# systemd's systemd-analyze for the generated units (no running systemd needed), and
# zsh and fish for the completion scripts.
set -euo pipefail

missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v git >/dev/null || missing+=(git)
[ -x /usr/bin/redis-server ] || missing+=(redis-server) # the Redis tests start their own servers
[ -x /usr/bin/jupyter ] || missing+=(jupyter-client)
/usr/bin/jupyter nbconvert --version >/dev/null 2>&1 || missing+=(jupyter-nbconvert)
/usr/bin/python3 -c 'import jupyter_kernel_test' 2>/dev/null || missing+=(python3-jupyter-kernel-test)
/usr/bin/python3 -c 'import nbclient' 2>/dev/null || missing+=(python3-nbclient)
[ -x /usr/bin/chromium ] || missing+=(chromium) # driven headless by gui/e2e_test.go
command -v systemd-analyze >/dev/null || missing+=(systemd) # install/service checks its units with verify
command -v zsh >/dev/null || missing+=(zsh)     # the completion scripts are tried in their shells
command -v fish >/dev/null || missing+=(fish)
[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] || missing+=(slurm-wlm) # the slurm tests start a one-node cluster
[ -x /usr/sbin/slurmrestd ] || missing+=(slurmrestd) # the slurm executor's REST tests start slurmrestd
[ -x /usr/sbin/munged ] || missing+=(munge)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server) # the ssh executor's tests start their own sshd
command -v ss >/dev/null || missing+=(iproute2) # the slurm test kit checks its daemons listen on loopback only
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }
fi
if ! command -v go >/dev/null; then
	echo "Go is required (https://go.dev/doc/install); put it on PATH" >&2
	exit 1
fi
