# Offline stand-in for postgres:16-alpine (PostgreSQL 15 from Debian bookworm); same environment contract.
ARG BASE_IMAGE=harness-offline/base:bookworm
FROM ${BASE_IMAGE}
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
