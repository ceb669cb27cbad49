#!/bin/sh
# Install what `gamegate bench` needs beyond the gateway itself: wrk from
# Debian's packages, and matplotlib (the `bench` extra) for the latency plot.
# Run it from the repository's root, after the README's quick start.
set -eu

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        apt-get install -y wrk
    else
        sudo apt-get update
        sudo apt-get install -y wrk
    fi
fi

.venv/bin/pip install -e '.[bench]'
echo "ready: .venv/bin/gamegate bench (or --quick for a run under a minute)"
