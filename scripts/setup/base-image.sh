#!/usr/bin/env bash
# Makes the images our Dockerfiles start from, when the engine lacks them: debian:bookworm-slim
# (every image but the proxy) and debian:forky-slim (the proxy: the nginx it needs, ADR 0008).
# Where a registry can be reached `docker pull` does the same; here nothing can be pulled, so each
# image is bootstrapped from Debian's mirror (minbase: essential packages and apt only) and
# imported. Idempotent: does nothing for an image that exists.
#
#   scripts/setup/base-image.sh [IMAGE...]  default: debian:bookworm-slim debian:forky-slim
#   WAITLINE_DEBIAN_MIRROR   mirror to bootstrap from (default http://deb.debian.org/debian)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" base

mirror=${WAITLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
(($#)) || set -- debian:bookworm-slim debian:forky-slim

make_image() { # debian:<suite>-slim
  local image=$1 suite rootfs script
  [[ $image =~ ^debian:([a-z]+)-slim$ ]] || { warn "$image is not debian:<suite>-slim"; return 1; }
  suite=${BASH_REMATCH[1]}
  if docker image inspect "$image" >/dev/null 2>&1; then
    say "$image is present"
    return
  fi
  if docker pull -q "$image" >/dev/null 2>&1; then
    say "pulled $image"
    return
  fi
  command -v debootstrap >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  rootfs=$(mktemp -d /tmp/waitline-rootfs.XXXXXX)
  roots+=("$rootfs" "$rootfs.log")
  say "bootstrapping $image from $mirror (a minute or two)"
  # bookworm's debootstrap has no script for releases after trixie; they bootstrap as sid does.
  script=/usr/share/debootstrap/scripts/$suite
  [[ -e $script ]] || script=/usr/share/debootstrap/scripts/sid
  debootstrap --variant=minbase --merged-usr "$suite" "$rootfs" "$mirror" "$script" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; return 1; }
  rm -f "$rootfs.log"

  # What the official slim image does: the same apt sources (with security updates), no manuals,
  # docs or translations installed by later apt-get calls, and no package lists left in the layer.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror}
Suites: ${suite} ${suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: ${suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  find "$rootfs/usr/share/doc" -mindepth 2 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,info,locale}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* "$rootfs"/tmp/*

  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'CMD ["bash"]' \
    --change "LABEL org.opencontainers.image.description=\"debian $suite minbase, bootstrapped locally by scripts/setup/base-image.sh\"" \
    - "$image" >/dev/null
  say "created $image ($(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
}

roots=()
trap 'rm -rf "${roots[@]}"' EXIT
for image; do make_image "$image"; done
