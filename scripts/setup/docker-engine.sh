#!/usr/bin/env bash
# Makes sure this machine has a running Docker engine in swarm mode. Idempotent: each step is
# skipped when its result is already there.
#   1. installs Debian's docker.io when there is no dockerd (the client alone is not enough);
#   2. starts dockerd in the background when none answers (machines without systemd, such as CI),
#      logging to $WAITLINE_DOCKERD_LOG;
#   3. initialises a single-node swarm when the engine is in none, advertised on
#      $WAITLINE_ADVERTISE_ADDR (default 127.0.0.1: this machine only); WAITLINE_SWARM_INIT=0
#      skips this (a node that will join an existing swarm);
#   4. makes dockerd serve its own metrics (engine_daemon_*, for the running-container count) on
#      its docker0 bridge address, port $WAITLINE_ENGINE_METRICS_PORT (9323): "metrics-addr" in
#      /etc/docker/daemon.json, then one restart of dockerd (the swarm's tasks come back by
#      themselves). docker0's address lives on this host only: containers reach it (Prometheus as
#      host.docker.internal), the LAN has no route to it; docs/deploy-swarm.md has the reasons
#      and the story on several nodes;
#      in the same restart, "no-new-privileges": true makes it the default of every container
#      (CIS Docker Benchmark 2.14): a Swarm stack has no per-service key for it on Engine 20.10
#      (docs/adr/0004); a container that really needs setuid binaries opts out with
#      --security-opt no-new-privileges=false;
#      and "userland-proxy": false: a published port is reached through iptables NAT only, also
#      from this host's loopback (route_localnet), as clients from other machines reach it,
#      instead of through one docker-proxy process per port that copies every byte in user space
#      (a quarter of a core at 2,000 requests a second through the proxy, docs/adr/0006);
#   5. makes /var/lib/waitline/textfile, the node's own metric files for node_exporter;
#   6. on a one-node swarm, labels the node for what the stacks place by label (production, the
#      proxy, each platform's Redis, the monitoring data) so every constraint can be met on one
#      machine.
# The playbook (deploy/ansible/site.yml) installs this script with lib.sh and engine-settings.py,
# in the same layout, on every node.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh" engine

log_file=${WAITLINE_DOCKERD_LOG:-/var/log/waitline-dockerd.log}
daemon_json=/etc/docker/daemon.json
metrics_port=${WAITLINE_ENGINE_METRICS_PORT:-9323}

if ! command -v dockerd >/dev/null; then
  say "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

pid_file=/var/run/docker.pid
# dockerd's pid from its pid file, when that process still runs (a minimal Debian has no pgrep).
dockerd_pid() {
  local pid
  pid=$(cat "$pid_file" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Starts dockerd when none runs and waits for it to answer; returns 1 when it does not.
start_dockerd() {
  if dockerd_pid >/dev/null; then
    say "dockerd runs but does not answer yet; waiting"
  else
    say "starting dockerd (log: $log_file)"
    # The Debian package's unit would do this under systemd; without it we start it ourselves,
    # detached from this shell so it outlives `make up`.
    setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

restart_dockerd() {
  if [[ -d /run/systemd/system ]]; then
    systemctl restart docker
  else
    local pid
    if pid=$(dockerd_pid); then
      kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
  fi
  start_dockerd
}

# docker0's IPv4 address and daemon.json's new content (engine-settings.py says how).
settings=$here/engine-settings.py

docker info >/dev/null 2>&1 || start_dockerd || die "dockerd did not answer within 60 s; see $log_file"

gateway=""
for _ in $(seq 1 30); do
  gateway=$("$settings" address docker0)
  [[ -n $gateway ]] && break
  sleep 1
done
# Never write an address that was not read: an empty one makes dockerd refuse to start.
[[ $gateway =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] \
  || die "docker0 has no IPv4 address after 30 s; the engine's metrics cannot be served (see $log_file)"
new_conf=$("$settings" daemon-json "$daemon_json" "$gateway:$metrics_port")
if [[ -n $new_conf ]]; then
  say "serving the engine's metrics on $gateway:$metrics_port, no-new-privileges by default, no userland proxy ($daemon_json); restarting dockerd"
  mkdir -p "$(dirname "$daemon_json")"
  previous=""
  [[ -f $daemon_json ]] && previous=$(cat "$daemon_json")
  echo "$new_conf" >"$daemon_json"
  if ! restart_dockerd; then
    # Put the previous file back so that the engine runs again, then say what went wrong.
    if [[ -n $previous ]]; then echo "$previous" >"$daemon_json"; else rm -f "$daemon_json"; fi
    start_dockerd || true
    die "dockerd did not come back with metrics-addr $gateway:$metrics_port, no-new-privileges and userland-proxy false; $daemon_json restored (see $log_file)"
  fi
fi

# The directory whose *.prom files node_exporter (deploy/swarm/monitoring.yml) adds to this node's
# metrics: on a cluster, GlusterFS's state on storage nodes and the check of Swarm's names on every
# node (deploy/ansible/files/gluster-metrics.sh, swarm-names.sh).
mkdir -p /var/lib/waitline/textfile

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [[ $state == inactive && ${WAITLINE_SWARM_INIT:-1} == 0 ]]; then
  say "ready: docker $(docker version --format '{{.Server.Version}}'), no swarm (join one: docker swarm join)"
  exit 0
elif [[ $state == inactive ]]; then
  say "initialising a single-node swarm"
  # 127.0.0.1 is enough for one machine; for several, the address the other nodes reach this one
  # at (docs/deploy-swarm.md).
  docker swarm init --advertise-addr "${WAITLINE_ADVERTISE_ADDR:-127.0.0.1}" >/dev/null
elif [[ $state != active ]]; then
  die "this node's swarm state is '$state'; fix it (docker swarm leave --force?) and retry"
fi

# On a one-node swarm this node is where everything runs: production, the proxy, the three
# platforms' Redis volumes and the monitoring data (Prometheus, Alertmanager). On several nodes the operator sets these labels (docs/deploy-swarm.md).
if [[ $(docker info --format '{{.Swarm.ControlAvailable}}') == true && $(docker node ls -q | wc -l) == 1 ]]; then
  self=$(docker info --format '{{.Swarm.NodeID}}')
  for label in waitline.production waitline.edge waitline.monitoring \
               waitline.redis.dev waitline.redis.qualif waitline.redis.prod; do
    if [[ -z $(docker node inspect "$self" --format "{{index .Spec.Labels \"$label\"}}") ]]; then
      say "labelling this node $label=true"
      docker node update --label-add "$label=true" "$self" >/dev/null
    fi
  done
fi
say "ready: docker $(docker version --format '{{.Server.Version}}'), swarm active"
