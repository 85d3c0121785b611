#!/usr/bin/env bash
# The README's `make up`, exactly as written, on a pristine Debian 12 machine: a simulated VM
# (tests/vm/vm.sh) with no engine, no daemon.json, no images, no node/npm; only what a user types
# first (apt-get install git make), a clean clone of this repository's HEAD, then `make up`.
# Passes when every service is up and a ticket is taken through the proxy over HTTPS with a key
# from the secrets file; also checks what scripts/setup/docker-engine.sh must do on a first start
# (metrics-addr on docker0's real address, never an empty one). Prints the time from the VM's
# creation to all services up.
#   WAITLINE_PRISTINE_KEEP=1  leave the VM running afterwards (look inside: tests/vm/vm.sh ssh ...)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh" pristine
group=wlvm-pristine
vm=$group-1
log=$root/.cache/vm/pristine.log
vmsh=$here/vm.sh

fail() { die "FAIL: $*"; }
on_vm() { "$vmsh" ssh "$vm" "$@"; }

rev=$(git -C "$root" rev-parse HEAD)
npm_cache=$("$vmsh" npm-cache)
"$vmsh" image >/dev/null
"$vmsh" down "$group"
[[ ${WAITLINE_PRISTINE_KEEP:-0} == 1 ]] || trap '"$vmsh" down "$group"' EXIT

start=$SECONDS
"$vmsh" up "$group" 1 >/dev/null
say "VM $vm up; cloning ${rev:0:12}"
# Pristine means pristine: nothing of what make up installs may be there already.
# shellcheck disable=SC2016 # expanded on the VM
on_vm 'for c in dockerd docker node npm python3 git make; do command -v $c && exit 1; done; [ ! -e /etc/docker/daemon.json ]' \
  || fail "the VM is not pristine"

# The repository reaches the VM as a git bundle (a clean clone of one commit, nothing else).
(  # the bundle is removed however the subshell ends
  bundle=$(mktemp --suffix=.bundle "${TMPDIR:-/tmp}/waitline-pristine.XXXXXX")
  trap 'rm -f "$bundle"' EXIT
  git -C "$root" bundle create -q "$bundle" HEAD
  docker cp -q "$bundle" "$vm:/root/waitline.bundle"
)
docker cp -q "$npm_cache" "$vm:/root/npm-cache"
on_vm "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends git make >/dev/null" \
  || fail "apt-get install git make"
on_vm "git clone -q /root/waitline.bundle /root/waitline && test \$(git -C /root/waitline rev-parse HEAD) = $rev" \
  || fail "git clone"

say "make up (log: $log)"
# The npm registry is out of reach from containers here (not from a real VM): npm reads the
# cache filled on the host, offline. Nothing else differs from what a user types.
if ! on_vm "cd /root/waitline && npm_config_cache=/root/npm-cache npm_config_offline=true make up" >"$log" 2>&1; then
  tail -40 "$log" >&2
  fail "make up exited non-zero"
fi
up_seconds=$((SECONDS - start))
say "make up done: all services up $up_seconds s after the VM was created"

# The engine's metrics are served on docker0's address, which was read, never empty.
metrics_addr=$(on_vm "sed -n 's/^ *\"metrics-addr\": *\"\\([^\"]*\\)\".*/\\1/p' /etc/docker/daemon.json")
[[ $metrics_addr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:9323$ ]] || fail "daemon.json metrics-addr is '$metrics_addr'"
on_vm "curl -fsS http://$metrics_addr/metrics | grep '^engine_daemon_container_states_containers' >/dev/null" \
  || fail "no engine metrics at $metrics_addr"
say "engine metrics served at $metrics_addr"

# A take through the proxy, over HTTPS, with production's rubis desk key from the secrets file.
# shellcheck disable=SC2016 # expanded on the VM
reply=$(on_vm 'cd /root/waitline && key=$(awk "\$1==\"prod\" && \$2==\"rubis\" && \$3==\"desk\" {print \$4}" .secrets/waitline/prod/api-keys.txt) &&
  curl -fsS --cacert .secrets/waitline/tls.crt --resolve prod.localhost:8443:127.0.0.1 -X POST \
    -H "Authorization: Bearer $key" https://prod.localhost:8443/rubis/get_ticket') || fail "take through the proxy"
say "take through the proxy: $reply"
[[ $reply =~ \"queue\":\"rubis\" && $reply =~ \"ticket\":1[,}] ]] || fail "unexpected answer"
echo "pristine: PASS: make up on a pristine VM in $up_seconds s, then ticket 1 taken through the proxy over HTTPS"
