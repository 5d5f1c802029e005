# Offline stand-in for prom/prometheus (the Prometheus server of Debian bookworm's `prometheus` package, put in
# the build context by scripts/build_offline_images.sh): the official image's entrypoint, user, working and
# storage directory, so the containers stack runs either with the same command.
ARG BASE_IMAGE=harness-offline/base:bookworm
FROM ${BASE_IMAGE}
COPY prometheus /bin/prometheus
RUN mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
