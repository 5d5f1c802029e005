#!/usr/bin/env bash
# The offline route to the containers stack, for machines that reach Debian's package mirror but no
# image registry. Builds, with the Docker engine at $DOCKER_HOST:
#   harness-offline/base:bookworm   debootstrap (minbase) + postgresql-15, redis-server, python3
#   harness-offline/postgres:16     stand-in for postgres:16-alpine (POSTGRES_USER/PASSWORD/DB honoured)
#   harness-offline/redis:7         stand-in for redis:7-alpine
#   harness-offline/python:3.11     the base the app image (deploy/Dockerfile) builds on
#   harness-offline/prometheus:2    stand-in for prom/prometheus: the server of Debian's `prometheus` package
#                                   (apt-get download; the machine's own /usr/bin/prometheus if that fails)
# Images that already exist are kept (run with --rebuild to start over). Needs root and debootstrap.
# Then point the harness at them: HARNESS_CONTAINERS_IMAGES=offline (see docs/reference/stacks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rebuild=${1:-}

mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "build_offline_images: no Debian mirror in /etc/apt/sources.list(.d)" >&2; exit 2; }
    echo "$uri"
}

have() { [ "$rebuild" != "--rebuild" ] && docker image inspect "$1" >/dev/null 2>&1; }

if ! have harness-offline/base:bookworm; then
    root=$(mktemp -d /var/tmp/harness-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "debootstrap bookworm into $root ..."
    debootstrap --variant=minbase --include=postgresql-15,redis-server,python3,python3-venv,ca-certificates \
        bookworm "$root" "$(mirror)" >/dev/null
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    # the packages' own clusters and services are not wanted in the images
    rm -rf "$root"/var/lib/postgresql/15/main "$root"/etc/postgresql/15/main
    chmod 755 "$root"   # mktemp made it 0700: it becomes the image's /
    tar -C "$root" -c . | docker import - harness-offline/base:bookworm >/dev/null
fi
have harness-offline/postgres:16 || docker build -q -t harness-offline/postgres:16 -f scripts/offline/postgres.Dockerfile scripts/offline >/dev/null
have harness-offline/redis:7 || docker build -q -t harness-offline/redis:7 -f scripts/offline/redis.Dockerfile scripts/offline >/dev/null
have harness-offline/python:3.11 || docker tag harness-offline/base:bookworm harness-offline/python:3.11
if ! have harness-offline/prometheus:2; then (  # the containers stack's Prometheus (the live phases)
    ctx=$(mktemp -d /var/tmp/harness-prometheus.XXXXXX)
    trap 'rm -rf "$ctx"' EXIT
    if (cd "$ctx" && apt-get download -q prometheus >/dev/null 2>&1) && dpkg-deb -x "$ctx"/prometheus_*.deb "$ctx/deb"; then
        cp "$ctx/deb/usr/bin/prometheus" "$ctx/prometheus"
    elif command -v prometheus >/dev/null; then
        echo "build_offline_images: apt-get download prometheus failed; using $(command -v prometheus)" >&2
        cp -L "$(command -v prometheus)" "$ctx/prometheus"
    else
        echo "build_offline_images: no prometheus package (apt-get download prometheus) nor binary on PATH" >&2; exit 2
    fi
    docker build -q -t harness-offline/prometheus:2 -f scripts/offline/prometheus.Dockerfile "$ctx" >/dev/null
    docker run --rm --network none harness-offline/prometheus:2 --version >/dev/null  # the binary runs in the image
) fi
# The app image's Python packages, as wheels in the build context (the image then needs no index).
# Bookworm's Python is 3.11.2, where redis-py also needs async-timeout (the host's newer 3.11 does not).
python3 -m pip wheel --quiet --disable-pip-version-check -r app/requirements.txt "async-timeout>=4.0.3" \
    -w deploy/wheels
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^harness-offline/'
