# waitline's reverse proxy: Debian's nginx with our nginx.conf (docs/adr/0001-reverse-proxy.md).
# Build context: deploy/docker (make images). The TLS certificate and key come from Docker secrets
# tls_cert and tls_key (make up generates a self-signed pair), the monitoring password file from
# monitoring_htpasswd.
#
# Debian forky, not bookworm: the proxy keeps connections open to queues whose addresses it learns
# from Swarm's DNS, which needs `resolve` in upstream groups, in nginx since 1.27.3; bookworm has
# 1.22 (docs/adr/0008-proxy-on-forky.md). The build fails if the nginx installed lacks it.
FROM debian:forky-slim
# Testing's Release files are valid for a week: a mirror frozen longer ago (as here, offline) serves
# expired ones. Then, and only then, the lists are read without that date check, with a warning;
# their signatures are still checked.
RUN apt-get update \
 || { echo "proxy: WARNING: the mirror's Release files have expired; reading them anyway (signatures checked)" >&2; \
      apt-get -o Acquire::Check-Valid-Until=false update; } \
 && apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d /var/www/html \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \
 && nginx -V 2>&1 | awk '/^nginx version/ {split($3, v, "/"); split(v[2], n, "."); \
      if (n[1] * 1e6 + n[2] * 1e3 + n[3] < 1027003) {print "proxy: " $3 " lacks resolve in upstream groups (1.27.3)"; exit 1}}'
COPY proxy/nginx.conf /etc/nginx/nginx.conf
COPY proxy/healthcheck /usr/local/bin/proxy-healthcheck
COPY proxy/entrypoint /usr/local/bin/proxy-entrypoint
# www-data (uid 33): ports above 1024, pid, generated settings and temporary files in /tmp (a tmpfs
# where the root filesystem is read-only).
USER 33:33
EXPOSE 8080 8443
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/proxy-healthcheck"]
# The settings from the environment (proxy/entrypoint), then nginx.
ENTRYPOINT ["/usr/local/bin/proxy-entrypoint"]
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/waitline
LABEL org.opencontainers.image.title="waitline-proxy" \
      org.opencontainers.image.description="reverse proxy in front of the waitline platforms (Debian's nginx)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="debian:forky-slim"
