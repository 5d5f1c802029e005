#!/usr/bin/env bash
# Stop the Docker engine scripts/docker-up.sh started (if it did); leaves other engines alone.
set -u
pidfile=/run/harness-docker.pid
[ -f /run/harness-docker.started ] && [ -f "$pidfile" ] || exit 0
rm -f /run/harness-docker.started
pid=$(cat "$pidfile")
kill "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.5; done
kill -9 "$pid" 2>/dev/null
