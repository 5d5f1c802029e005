#!/usr/bin/env bash
# Build the harness image (deploy/harness.Dockerfile) with the Docker engine at $DOCKER_HOST:
#   scripts/build_harness_image.sh               build it, print its tag on stdout (progress on stderr)
#   scripts/build_harness_image.sh --print-tag   print the tag it builds, build nothing
# Tag: $HARNESS_IMAGE, default registry.ai-orchestra.com/ai-orchestra-harness:<version in pyproject.toml>, the
# image deploy/k8s/harness-serve.yaml and harness-load.yaml name (push it to your registry under that name).
# Base: $HARNESS_IMAGE_BASE, default the public python:3.11-slim; the offline stand-in harness-offline/python:3.11
# (scripts/build_offline_images.sh) when HARNESS_CONTAINERS_IMAGES=offline or the public base is neither local
# nor pullable. The build context is build/harness-image/: the harness wheel (built from a clean copy of the
# tree) and every dependency as wheels (pip wheel, from the index or pip's cache), so the image installs with no
# package index. The wheel is built with a fixed SOURCE_DATE_EPOCH: unchanged sources give the same bytes, and
# Docker's layer cache makes a rebuild of an unchanged tree take seconds (a changed harness: its own small layer).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
tag=${HARNESS_IMAGE:-registry.ai-orchestra.com/ai-orchestra-harness:$version}
if [ "${1:-}" = "--print-tag" ]; then echo "$tag"; exit 0; fi
[ $# -eq 0 ] || { echo "build_harness_image: usage: $0 [--print-tag]" >&2; exit 64; }
docker version >/dev/null 2>&1 || {
    echo "build_harness_image: no Docker engine answers at ${DOCKER_HOST:-the default socket}; start one (scripts/docker-up.sh)" >&2
    exit 2
}

offline=harness-offline/python:3.11
base=${HARNESS_IMAGE_BASE:-}
if [ -z "$base" ]; then
    if [ "${HARNESS_CONTAINERS_IMAGES:-}" = offline ]; then
        base=$offline
    elif docker image inspect python:3.11-slim >/dev/null 2>&1 || timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
        base=python:3.11-slim
    else
        echo "build_harness_image: python:3.11-slim cannot be pulled; using the offline stand-in $offline" >&2
        base=$offline
    fi
fi
docker image inspect "$base" >/dev/null 2>&1 || {
    echo "build_harness_image: base image $base is not there; build the offline one with scripts/build_offline_images.sh" >&2
    exit 2
}

ctx=build/harness-image
rm -rf "$ctx/wheels/harness"
mkdir -p "$ctx/wheels/deps" "$ctx/wheels/harness"
echo "build_harness_image: wheels into $ctx/wheels ..." >&2
# from a clean copy of the tree (an in-tree build would leave build/lib behind, and stale files in it)
src=$(mktemp -d "${TMPDIR:-/tmp}/harness-image-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
"$py" -c 'import shutil, sys
shutil.copytree(".", sys.argv[1], dirs_exist_ok=True, ignore=shutil.ignore_patterns(
    ".git", ".venv", ".tox", "build", "dist", "reports", "__pycache__", "*.egg-info", ".ruff_cache", ".hypothesis"))' "$src"
SOURCE_DATE_EPOCH=315532800 "$py" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$ctx/wheels/harness" "$src" >&2
wheel=$(ls "$ctx"/wheels/harness/*.whl)
# Every dependency as a wheel, fetched again only when the wheel's requirements change (the stamp is their hash).
# Debian bookworm's Python (the offline base) is 3.11.2, where redis-py also needs async-timeout.
requires=$("$py" -c 'import hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
lines = [x for x in z.read(meta).decode().splitlines() if x.startswith("Requires-Dist:")]
print(hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest())' "$wheel")
if [ "$(cat "$ctx/wheels/deps/.requires" 2>/dev/null)" != "$requires" ]; then
    rm -rf "$ctx/wheels/deps" && mkdir -p "$ctx/wheels/deps"
    "$py" -m pip wheel --quiet --disable-pip-version-check -w "$ctx/wheels/deps" "$wheel" "async-timeout>=4.0.3" >&2
    rm -f "$ctx"/wheels/deps/ai_orchestra_harness-*.whl
    echo "$requires" >"$ctx/wheels/deps/.requires"
fi
echo "build_harness_image: docker build $tag on $base ..." >&2
before=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
# --network host: the build's apt-get (PostgreSQL, promtool) reaches the mirror on engines started without NAT.
docker build --network host -q --build-arg "BASE_IMAGE=$base" --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.base.name=$base" \
    -t "$tag" -f deploy/harness.Dockerfile "$ctx" >&2
# the image this tag named before, now untagged: removed (the engine refuses while a container uses it)
if [ -n "$before" ] && [ "$before" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker rmi "$before" >/dev/null 2>&1 || true
fi
echo "$tag"
