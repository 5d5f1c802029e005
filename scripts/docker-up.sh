#!/usr/bin/env bash
# Make sure a Docker engine answers at $DOCKER_HOST (default unix:///run/harness-docker.sock).
# If none does and we are root with Debian's docker.io installed, start one (no iptables) and write its
# pid to /run/harness-docker.pid; scripts/docker-down.sh stops it. Storage: overlay2 (a container starts
# in well under a second), checked by running a container of a tiny probe image; vfs (which copies the
# whole image for every container) only when overlay2 does not start or cannot run a container. Each
# driver keeps its own data root, so images built on one are not lost by a fallback to the other.
# Prints the DOCKER_HOST to use on stdout; which driver it chose, on stderr.
set -euo pipefail
sock=${DOCKER_HOST:-unix:///run/harness-docker.sock}
if DOCKER_HOST=$sock docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "docker-up: an engine already answers at $sock ($(DOCKER_HOST=$sock docker info --format '{{.Driver}}' 2>/dev/null) storage)" >&2
    echo "$sock"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "docker-up: no engine at $sock and not root to start one" >&2; exit 2; }
command -v dockerd >/dev/null || { echo "docker-up: dockerd not installed (apt-get install -y docker.io)" >&2; exit 2; }
log=/var/log/harness-dockerd.log

start() {  # start(driver): dockerd with that storage driver; 0 when it answers within 30 s
    local driver=$1 root=/var/lib/harness-docker
    [ "$driver" = vfs ] || root=/var/lib/harness-docker-$driver
    mkdir -p "$root"
    touch /run/harness-docker.started   # tells scripts/docker-down.sh this engine is ours to stop
    nohup dockerd --storage-driver="$driver" --iptables=false --ip6tables=false --data-root "$root" \
        --host "$sock" --pidfile /run/harness-docker.pid >>"$log" 2>&1 &
    for _ in $(seq 1 60); do
        if DOCKER_HOST=$sock docker version >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    return 1
}

runs_a_container() {  # a probe image of /bin/true and the libraries it needs: imported, run, removed
    local root status=0
    root=$(mktemp -d /var/tmp/harness-probe.XXXXXX)
    for f in /bin/true $(ldd /bin/true | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f"
    done
    export DOCKER_HOST=$sock
    tar -C "$root" -c . | docker import - harness-probe:true >/dev/null 2>&1 \
        && timeout 60 docker run --rm --network none harness-probe:true /bin/true >/dev/null 2>&1 || status=1
    docker rmi -f harness-probe:true >/dev/null 2>&1 || true
    rm -rf "$root"
    return $status
}

if start overlay2 && runs_a_container; then
    echo "docker-up: started an engine with overlay2 storage at $sock" >&2
    echo "$sock"; exit 0
fi
echo "docker-up: overlay2 storage did not start or could not run a container; falling back to vfs (slow: it copies each image per container)" >&2
bash "$(dirname "$0")/docker-down.sh"
if start vfs; then
    echo "docker-up: started an engine with vfs storage at $sock" >&2
    echo "$sock"; exit 0
fi
echo "docker-up: dockerd did not answer within 30 s; see $log" >&2
exit 2
