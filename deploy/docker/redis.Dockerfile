# Redis for one waitline platform: Debian's redis-server with our redis.conf, AOF on /data; and
# Debian's redis-sentinel, which production runs beside its servers (`waitline-redis sentinel`).
# Build context: deploy/docker (make images). The Redis password comes from a Docker secret.
FROM debian:bookworm-slim
# A fixed uid/gid (999) before the package would pick one, so volume ownership is the same on
# every node and every rebuild.
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid redis --home-dir /var/lib/redis --shell /usr/sbin/nologin redis \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-sentinel \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data && chmod 0750 /data
# /data 0750: the engine gives an empty volume this directory's owner and mode at its first mount
# (also a GlusterFS directory that deploy/ansible/site.yml made 0750 for uid 999).
COPY redis/redis.conf /etc/redis/waitline.conf
COPY redis/waitline-redis /usr/local/bin/waitline-redis
USER 999:999
VOLUME /data
WORKDIR /data
EXPOSE 6379 26379
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/waitline-redis", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/waitline-redis"]
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/waitline
LABEL org.opencontainers.image.title="waitline-redis" \
      org.opencontainers.image.description="Redis for a waitline platform (Debian's redis-server, AOF)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
