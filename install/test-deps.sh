#!/usr/bin/env bash
# Installs what `make test` needs and is missing. Today that is Go and a C compiler for the race detector;
# later issues add Redis, Jupyter's clients and Chromium here.
set -euo pipefail

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v git >/dev/null || need_apt+=(git)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "installing: ${need_apt[*]}"
	apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }
fi
if ! command -v go >/dev/null; then
	echo "Go is required (https://go.dev/doc/install); put it on PATH" >&2
	exit 1
fi
