#!/usr/bin/env bash
# Builds waitline's images from deploy/docker/ and records their tags in .cache/images.env,
# which scripts/platform/swarm.sh deploys:
#   ${WAITLINE_REGISTRY}waitline         the service          (context: the repository root)
#   ${WAITLINE_REGISTRY}waitline-redis   Redis with our conf  (context: deploy/docker)
#   ${WAITLINE_REGISTRY}waitline-proxy   nginx with our conf  (context: deploy/docker)
#   ${WAITLINE_REGISTRY}waitline-prometheus, -alertmanager, -redis-exporter, -node-exporter
#                                        Debian's packages, one stage each of monitoring.Dockerfile
# Each is tagged <version>-<12 digits of its image id> (and latest): the same sources give the same
# tag, so deploying again changes nothing, and any change gives a new tag, so Swarm rolls it out.
# Needs the engine, debian:bookworm-slim (scripts/setup/base-image.sh) and node_modules (make assets).
#   WAITLINE_REGISTRY   e.g. registry.example:5000/ (with the slash); set it on several nodes
#   WAITLINE_PUSH=1     push the tags there after building
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" images
cd "$root"

registry=${WAITLINE_REGISTRY:-}
version=$(sed -n 's/^project(waitline VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
# An image's revision is the last commit that changed its own inputs (plus -dirty when they have
# uncommitted changes): a commit elsewhere leaves the image, its id and its tag as they were, so
# `make up` does not restart Redis or the proxy for a change to the service, or anything for docs.
revision_of() {
  local rev
  rev=$(git log -1 --format=%h --abbrev=12 -- "$@" 2>/dev/null) || rev=""
  if [[ -z $rev ]]; then
    git rev-parse --git-dir >/dev/null 2>&1 && echo uncommitted || echo unknown
    return
  fi
  git diff --quiet HEAD -- "$@" 2>/dev/null || rev+=-dirty
  echo "$rev"
}
source_url=${WAITLINE_SOURCE_URL:-$(git config --get remote.origin.url 2>/dev/null || echo "https://example.invalid/waitline")}

[[ -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ]] || die "node_modules is missing: run make assets"

# Each build's log, shown when it fails; removed however this script ends.
logs=$(mktemp -d "${TMPDIR:-/tmp}/waitline-images.XXXXXX")
trap 'rm -rf "$logs"' EXIT
build() {  # name dockerfile[:target] context input-paths...
  local name=$1 dockerfile=${2%%:*} context=$3 started=$SECONDS log revision target=()
  [[ $2 == *:* ]] && target=(--target "${2#*:}")
  shift 3
  revision=$(revision_of "$@")
  log=$logs/$name.log
  say "building $registry$name"
  if ! docker build -f "$dockerfile" "${target[@]}" -t "$registry$name:latest" \
      --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg SOURCE="$source_url" \
      "$context" >"$log" 2>&1; then
    tail -40 "$log" >&2; warn "building $name failed"; return 1
  fi
  local id tag
  id=$(docker image inspect "$registry$name:latest" --format '{{.Id}}')
  id=${id#sha256:}
  tag=$registry$name:$version-${id:0:12}
  docker tag "$registry$name:latest" "$tag"
  if [[ ${WAITLINE_PUSH:-0} == 1 ]]; then docker push -q "$tag" >/dev/null; fi
  printf 'images: %-40s %5d MB  (%d s)\n' "$tag" \
    "$(docker image inspect "$tag" --format '{{.Size}}' | awk '{printf "%d", $1/1e6}')" $((SECONDS - started))
  built+=("$tag")
}

built=()
build waitline deploy/docker/waitline.Dockerfile . \
  deploy/docker/waitline.Dockerfile .dockerignore CMakeLists.txt cmake src package-lock.json
build waitline-redis deploy/docker/redis.Dockerfile deploy/docker deploy/docker/redis.Dockerfile deploy/docker/redis
build waitline-proxy deploy/docker/proxy.Dockerfile deploy/docker deploy/docker/proxy.Dockerfile deploy/docker/proxy
monitoring_inputs=(deploy/docker/monitoring.Dockerfile deploy/docker/monitoring)
for target in prometheus alertmanager redis-exporter node-exporter; do
  build "waitline-$target" "deploy/docker/monitoring.Dockerfile:$target" deploy/docker "${monitoring_inputs[@]}"
done

mkdir -p .cache
cat >.cache/images.env <<EOF
# written by scripts/setup/images.sh; read by scripts/platform/swarm.sh
WAITLINE_IMAGE=${built[0]}
WAITLINE_REDIS_IMAGE=${built[1]}
WAITLINE_PROXY_IMAGE=${built[2]}
WAITLINE_PROMETHEUS_IMAGE=${built[3]}
WAITLINE_ALERTMANAGER_IMAGE=${built[4]}
WAITLINE_REDIS_EXPORTER_IMAGE=${built[5]}
WAITLINE_NODE_EXPORTER_IMAGE=${built[6]}
EOF
