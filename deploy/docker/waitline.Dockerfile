# The waitline service. Build from the repository root, after `npm ci` (make images does both):
#   docker build -f deploy/docker/waitline.Dockerfile --build-arg VERSION=0.1.0 \
#     --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t waitline .
#
# Stage 1 (build) compiles the service on bookworm-slim and assembles the runtime filesystem from
# that same stage: the stripped binary, exactly the shared libraries `ldd` says it loads, and a
# passwd entry. Stage 2 is that filesystem alone (FROM scratch): no shell, no package manager,
# nothing from anywhere but bookworm-slim and our build. docs/adr/0002-application-image.md says why.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make cmake ninja-build libboost1.81-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY node_modules/swagger-ui-dist/ node_modules/swagger-ui-dist/
COPY node_modules/qrcode-generator/dist/qrcode.mjs node_modules/qrcode-generator/dist/qrcode.mjs
COPY src/ src/
ARG REVISION=unknown
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWAITLINE_TESTS=OFF \
      -DWAITLINE_REVISION="${REVISION}" >/dev/null \
 && cmake --build /build -j "$(nproc)" \
 && strip --strip-all -o /waitline /build/src/waitline
# The runtime filesystem: binary, its shared libraries (libc, libm, libcrypto, the loader), a
# passwd/group entry for uid 10001 (no login shell: there is none), and name resolution settings.
RUN set -eu; \
    mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp; chmod 1777 /rootfs/tmp; \
    cp /waitline /rootfs/usr/local/bin/waitline; \
    for lib in $(ldd /waitline | awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }'); do \
      cp -L --parents "$lib" /rootfs/; \
    done; \
    echo 'root:x:0:0:root:/nonexistent:/nonexistent' >/rootfs/etc/passwd; \
    echo 'waitline:x:10001:10001:waitline:/nonexistent:/nonexistent' >>/rootfs/etc/passwd; \
    printf 'root:x:0:\nwaitline:x:10001:\n' >/rootfs/etc/group; \
    echo 'hosts: files dns' >/rootfs/etc/nsswitch.conf; \
    find /rootfs -type f | sort; \
    chroot /rootfs /usr/local/bin/waitline --help >/dev/null

FROM scratch
COPY --from=build /rootfs/ /
USER 10001:10001
EXPOSE 8000 8001
# The binary asks its own admin listener for /readyz: no curl, no shell.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/waitline", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/waitline"]
CMD ["serve"]
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/waitline
LABEL org.opencontainers.image.title="waitline" \
      org.opencontainers.image.description="take-a-number queue service (one queue per process)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
