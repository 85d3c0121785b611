# waitline's monitoring images: Debian's Prometheus, Alertmanager, redis_exporter and node_exporter.
# One target per image (scripts/setup/images.sh builds all four), each on the `monitoring` stage below,
# itself FROM debian:bookworm-slim: the fixed user, the health check and the labels, once.
# Configuration (prometheus.yml, rules, alertmanager.yml) is NOT baked in: Swarm mounts it as
# configs from observability/, so a rule change needs no rebuild (docs/deploy-swarm.md).
#   docker build -f deploy/docker/monitoring.Dockerfile --target prometheus -t waitline-prometheus deploy/docker
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/waitline

FROM debian:bookworm-slim AS monitoring
ARG VERSION
ARG REVISION
ARG SOURCE
COPY monitoring/monitoring-install monitoring/http-healthcheck /usr/local/bin/
RUN /usr/local/bin/monitoring-install
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# Debian's package pulls its web UI's JavaScript as some 40 packages (400 MB, 212 MB of it time-zone
# data the UI never loads): install it here, keep the binary and the files the UI serves.
FROM monitoring AS prometheus-package
RUN /usr/local/bin/monitoring-install prometheus \
 && mkdir -p /rootfs/usr/bin /rootfs/usr/share/prometheus \
 && cp /usr/bin/prometheus /rootfs/usr/bin/ \
 && cp -rL /usr/share/prometheus/web /rootfs/usr/share/prometheus/ \
 && rm -rf /rootfs/usr/share/prometheus/web/static/moment-timezone/data

FROM monitoring AS prometheus
COPY --from=prometheus-package /rootfs/ /
RUN mkdir -p /prometheus /etc/prometheus/rules && chown prometheus:prometheus /prometheus
USER 990:990
VOLUME /prometheus
WORKDIR /prometheus
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/http-healthcheck", "9090", "/-/healthy"]
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
LABEL org.opencontainers.image.title="waitline-prometheus" \
      org.opencontainers.image.description="Prometheus for waitline (Debian's prometheus)"

FROM monitoring AS alertmanager
RUN /usr/local/bin/monitoring-install prometheus-alertmanager \
 && mkdir -p /alertmanager && chown prometheus:prometheus /alertmanager
USER 990:990
VOLUME /alertmanager
WORKDIR /alertmanager
EXPOSE 9093
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/http-healthcheck", "9093", "/-/healthy"]
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
# One replica: no gossip cluster (an empty listen address turns it off).
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager", "--cluster.listen-address="]
LABEL org.opencontainers.image.title="waitline-alertmanager" \
      org.opencontainers.image.description="Alertmanager for waitline (Debian's prometheus-alertmanager)"

FROM monitoring AS redis-exporter
RUN /usr/local/bin/monitoring-install prometheus-redis-exporter
COPY monitoring/redis-exporter /usr/local/bin/redis-exporter
USER 990:990
EXPOSE 9121
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/http-healthcheck", "9121", "/health"]
ENTRYPOINT ["/usr/local/bin/redis-exporter"]
LABEL org.opencontainers.image.title="waitline-redis-exporter" \
      org.opencontainers.image.description="redis_exporter for a waitline platform (Debian's prometheus-redis-exporter)"

FROM monitoring AS node-exporter
RUN /usr/local/bin/monitoring-install prometheus-node-exporter
USER 990:990
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/http-healthcheck", "9100", "/"]
ENTRYPOINT ["/usr/bin/prometheus-node-exporter"]
LABEL org.opencontainers.image.title="waitline-node-exporter" \
      org.opencontainers.image.description="node_exporter for every waitline node (Debian's prometheus-node-exporter)"
