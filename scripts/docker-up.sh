#!/usr/bin/env bash
# Make sure a Docker engine answers at $DOCKER_HOST (default unix:///run/harness-docker.sock).
# If none does and we are root with Debian's docker.io installed, start one the way these sandboxes
# allow (vfs storage, no iptables) and write its pid to /run/harness-docker.pid; scripts/docker-down.sh
# stops it. Prints the DOCKER_HOST to use.
set -euo pipefail
sock=${DOCKER_HOST:-unix:///run/harness-docker.sock}
if DOCKER_HOST=$sock docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "$sock"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "docker-up: no engine at $sock and not root to start one" >&2; exit 2; }
command -v dockerd >/dev/null || { echo "docker-up: dockerd not installed (apt-get install -y docker.io)" >&2; exit 2; }
mkdir -p /var/lib/harness-docker
touch /run/harness-docker.started   # tells scripts/docker-down.sh this engine is ours to stop
nohup dockerd --storage-driver=vfs --iptables=false --ip6tables=false --data-root /var/lib/harness-docker \
    --host "$sock" --pidfile /run/harness-docker.pid >/var/log/harness-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
    if DOCKER_HOST=$sock docker version >/dev/null 2>&1; then echo "$sock"; exit 0; fi
    sleep 0.5
done
echo "docker-up: dockerd did not answer within 30 s; see /var/log/harness-dockerd.log" >&2
exit 2
