# Offline stand-in for redis:7-alpine (Redis from Debian bookworm).
ARG BASE_IMAGE=harness-offline/base:bookworm
FROM ${BASE_IMAGE}
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
