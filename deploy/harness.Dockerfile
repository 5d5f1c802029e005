# The harness image: one image for `harness serve` (the default command: the gate as an HTTP service for
# Argo Rollouts, Flagger and CI) and `harness gate ...` (docker run IMAGE harness gate --phase pr --target URL).
# scripts/build_harness_image.sh builds it; docs/guides/container-image.md tells how to run it.
#
# Build context: a directory with wheels/deps/ (every dependency as a wheel) and wheels/harness/ (the harness
# wheel, which carries the suites, the reference service and deploy/), made by the script with `pip wheel`, so
# the build needs no package index.
# BASE_IMAGE: a Debian-based image with Python 3.11 and venv: the public python:3.11-slim, or, where no image
# registry answers, the offline stand-in harness-offline/python:3.11 (scripts/build_offline_images.sh).
#
# Runs as user 10001 with a read-only root filesystem: it writes only to /data (its working directory: reports/,
# the serve database reports/serve/serve.db, HOME's caches) and /tmp, both declared volumes (Kubernetes: emptyDir,
# docker run --read-only: anonymous volumes or --tmpfs). `harness serve` on 0.0.0.0 refuses to start without
# HARNESS_SERVE_TOKEN.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
# The dependencies in a virtualenv of their own stage: a cached layer while only the harness changes.
COPY wheels/deps /tmp/wheels/deps
RUN python3 -m venv /opt/harness \
 && /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index /tmp/wheels/deps/*.whl

FROM ${BASE_IMAGE}
# Tools the suites call that are not Python packages, from Debian when the base lacks them: PostgreSQL's server
# binaries (a gate run without --target starts its own stack), and promtool (the contract suite's metrics check)
# with the prometheus server the live phases start: only those two static binaries out of Debian's package (its
# web console's JavaScript would add 200 MB). SYSTEM_TOOLS=0 leaves them out.
ARG SYSTEM_TOOLS=1
RUN set -eu; \
    if [ "$SYSTEM_TOOLS" = 1 ]; then \
      pg=1; ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || pg=0; \
      prom=1; command -v promtool >/dev/null 2>&1 || prom=0; \
      if [ "$pg$prom" != 11 ]; then apt-get update; fi; \
      if [ "$pg" = 0 ]; then apt-get install -y --no-install-recommends postgresql; fi; \
      if [ "$prom" = 0 ]; then \
        mkdir /tmp/prom; cd /tmp/prom; apt-get download prometheus; dpkg-deb -x prometheus_*.deb root; \
        install -m 0755 root/usr/bin/prometheus root/usr/bin/promtool /usr/local/bin/; cd /; rm -rf /tmp/prom; \
      fi; \
      apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/lib/postgresql/*/main /etc/postgresql/*/main; \
    fi; \
    groupadd --system --gid 10001 harness; \
    useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin harness; \
    mkdir -p /data; \
    chown 10001:10001 /data
COPY --from=deps /opt/harness /opt/harness
# The harness wheel last, alone (a change of the harness rebuilds only this small layer).
COPY wheels/harness /tmp/wheels/harness
RUN /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps \
      /tmp/wheels/harness/*.whl \
 && /opt/harness/bin/pip check \
 && rm -rf /tmp/wheels

ENV PATH=/opt/harness/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/data
WORKDIR /data
VOLUME ["/data", "/tmp"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
CMD ["harness", "serve", "--host", "0.0.0.0", "--port", "8080"]
