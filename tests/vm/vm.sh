#!/usr/bin/env bash
# Simulated virtual machines for the tests, on this host's Docker engine: Docker-in-Docker
# containers made from debian:bookworm-slim with sshd (tests/vm/vm.Dockerfile), each with its own
# hostname, a fixed address on a private bridge network that this script creates, its own
# /var/lib/docker on a volume (so that the engine inside runs overlay2 on a real filesystem) and
# a second "disk" at /srv (GlusterFS bricks).
# Test-only: nothing under scripts/ or deploy/ knows about it.
#
#   tests/vm/vm.sh up GROUP N [SUBNET]   create GROUP-1..GROUP-N on network GROUP (SUBNET, default
#                                        10.77.<n>.0/24; VM i gets .1<i>); prints "name address"
#   tests/vm/vm.sh down GROUP            remove the VMs, their volumes and the network
#   tests/vm/vm.sh kill NAME             stop a VM at once, as a power cut (its volume stays)
#   tests/vm/vm.sh start NAME            start a killed VM again
#   tests/vm/vm.sh ssh NAME CMD...       run CMD on the VM over SSH (as root), from the host
#   tests/vm/vm.sh image                 build the VM image when missing; prints its tag
#   tests/vm/vm.sh npm-cache             fill the npm cache for package-lock.json; prints its path
#
# The image is tagged by a digest of its Dockerfile: built once, reused until the file changes.
# The SSH key pair lives in .cache/vm/ (created once). Containers on this host cannot reach the npm
# registry (TLS fails inside them; a real VM has no such problem), so `npm-cache` fills a cache
# from the host, keyed by package-lock.json's digest, that the VMs' npm reads offline.
# Rights: what nested dockerd needs without --privileged (refused here): every capability but
# SYS_RESOURCE, no seccomp or AppArmor profile, the host's cgroup namespace and hierarchy, /dev/fuse
# for GlusterFS's client, and a writable /proc/sys (systempaths=unconfined) as a real machine has:
# dockerd with "userland-proxy": false sets route_localnet on its bridges and refuses to start
# when it cannot. no-new-privileges=false: the engine's default (daemon.json) is for services.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh" vm
cache=$root/.cache/vm
mkdir -p "$cache"

image() {
  local tag
  tag=waitline-vm:$(sha256sum "$here/vm.Dockerfile" | cut -c1-12)
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    warn "building $tag"
    docker build -q -f "$here/vm.Dockerfile" -t "$tag" "$here" >/dev/null 2>&1 || die "building $tag failed"
  fi
  echo "$tag"
}

ssh_key() {
  [[ -f $cache/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C waitline-test-vm -f "$cache/id_ed25519"
  echo "$cache/id_ed25519"
}

npm_cache() {
  local digest dir
  digest=$(sha256sum "$root/package-lock.json" | cut -c1-12)
  dir=$cache/npm-$digest
  if [[ ! -f $dir/.complete ]]; then
    (  # npm ci installs in a scratch directory, removed however the subshell ends
      tmp=$(mktemp -d "${TMPDIR:-/tmp}/waitline-npm-cache.XXXXXX")
      trap 'rm -rf "$tmp"' EXIT
      cp "$root/package.json" "$root/package-lock.json" "$tmp/"
      rm -rf "$dir"
      cd "$tmp" && npm ci --cache "$dir" --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
    )
    touch "$dir/.complete"
  fi
  echo "$dir"
}

default_subnet() {  # a /24 in 10.77.0.0/16 that no network here uses yet
  local used n
  used=$(docker network ls -q | xargs docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null)
  for n in $(seq 1 250); do
    [[ " $used " == *" 10.77.$n.0/24 "* ]] || { echo "10.77.$n.0/24"; return; }
  done
  die "no free /24 in 10.77.0.0/16"
}

up() {
  local group=$1 count=$2 subnet=${3:-} tag key i name addr pids=()
  [[ $group =~ ^[a-z][a-z0-9-]{1,30}$ ]] || die "GROUP must be lowercase letters, digits and dashes"
  [[ $count =~ ^[1-9]$ ]] || die "N must be 1 to 9"
  tag=$(image); key=$(ssh_key)
  if ! docker network inspect "$group" >/dev/null 2>&1; then
    [[ -n $subnet ]] || subnet=$(default_subnet)
    docker network create --driver bridge --subnet "$subnet" --label waitline.test=vm "$group" >/dev/null
  fi
  subnet=$(docker network inspect "$group" --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
  local prefix=${subnet%.*}
  for i in $(seq 1 "$count"); do
    name=$group-$i addr=$prefix.1$i
    if docker container inspect "$name" >/dev/null 2>&1; then
      docker start "$name" >/dev/null
    else
      docker run -d --name "$name" --hostname "$name" --init \
        --network "$group" --ip "$addr" \
        --cap-add=ALL --cap-drop=SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt no-new-privileges=false \
        --security-opt systempaths=unconfined \
        --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup \
        --device /dev/fuse \
        -v "$name-docker:/var/lib/docker" -v "$name-srv:/srv" \
        -v "$key.pub:/root/.ssh/authorized_keys:ro" \
        --label waitline.test=vm --label "waitline.test.group=$group" \
        "$tag" >/dev/null &
      pids+=($!)
    fi
  done
  for i in "${pids[@]}"; do wait "$i"; done
  for i in $(seq 1 "$count"); do
    name=$group-$i
    for _ in $(seq 1 30); do
      ssh_to "$name" true 2>/dev/null && break
      sleep 0.5
    done
    ssh_to "$name" true || die "$name does not answer on SSH"
    echo "$name $(address "$name")"
  done
}

address() {
  docker container inspect "$1" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'
}

ssh_to() {  # name command...: the command is a string the VM's shell runs, as ssh always does
  local name=$1 key
  shift
  key=$(ssh_key)
  ssh -i "$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes \
    -o ConnectTimeout=5 "root@$(address "$name")" "$*"
}

down() {
  local group=$1 c
  for c in $(docker ps -aq --filter "label=waitline.test.group=$group"); do
    local name; name=$(docker container inspect "$c" --format '{{.Name}}'); name=${name#/}
    # A removal already under way (a trap of an earlier run) fails the rm: wait for it instead.
    docker rm -f -v "$c" >/dev/null 2>&1 || true
    for _ in $(seq 1 120); do docker container inspect "$c" >/dev/null 2>&1 || break; sleep 1; done
    ! docker container inspect "$c" >/dev/null 2>&1 || die "$name: not removed after 120 s"
    docker volume rm "$name-docker" "$name-srv" >/dev/null 2>&1 || true
  done
  docker network rm "$group" >/dev/null 2>&1 || true
}

case ${1:-} in
  up) up "${2:?GROUP}" "${3:?N}" "${4:-}" ;;
  down) down "${2:?GROUP}" ;;
  kill) docker kill "${2:?NAME}" >/dev/null ;;
  start) docker start "${2:?NAME}" >/dev/null ;;
  ssh) shift; ssh_to "$@" ;;
  image) image ;;
  npm-cache) npm_cache ;;
  *) usage_from_header "$0"; exit 2 ;;
esac
