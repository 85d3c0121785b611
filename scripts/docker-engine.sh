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
#   5. on a one-node swarm, labels the node for what the stacks place by label (production, the
#      proxy, each platform's Redis, the monitoring data) so every constraint can be met on one
#      machine.
set -euo pipefail

log_file=${WAITLINE_DOCKERD_LOG:-/var/log/waitline-dockerd.log}
daemon_json=/etc/docker/daemon.json
metrics_port=${WAITLINE_ENGINE_METRICS_PORT:-9323}
say() { echo "engine: $*"; }

if ! command -v dockerd >/dev/null; then
  say "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

start_dockerd() {
  if pgrep -x dockerd >/dev/null; then
    say "dockerd runs but does not answer yet; waiting"
  else
    say "starting dockerd (log: $log_file)"
    # The Debian package's unit would do this under systemd; without it we start it ourselves,
    # detached from this shell so it outlives `make up`.
    setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "engine: dockerd did not answer within 60 s; see $log_file" >&2
  exit 1
}

restart_dockerd() {
  if [[ -d /run/systemd/system ]]; then
    systemctl restart docker
  else
    local pid; pid=$(pgrep -xo dockerd)
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  start_dockerd
}

# "metrics-addr" in daemon.json, other settings kept (Debian ships no daemon.json). Prints the
# file's new content, or nothing when it already says so.
with_metrics_addr() {  # address
  python3 - "$daemon_json" "$1" <<'PY'
import json, os, sys
path, addr = sys.argv[1], sys.argv[2]
conf = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
if conf.get("metrics-addr") != addr:
    conf["metrics-addr"] = addr
    print(json.dumps(conf, indent=2))
PY
}

docker info >/dev/null 2>&1 || start_dockerd

gateway=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}')
new_conf=$(with_metrics_addr "$gateway:$metrics_port")
if [[ -n $new_conf ]]; then
  say "serving the engine's metrics on $gateway:$metrics_port (metrics-addr in $daemon_json); restarting dockerd"
  mkdir -p "$(dirname "$daemon_json")"
  echo "$new_conf" >"$daemon_json"
  restart_dockerd
fi

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
  echo "engine: this node's swarm state is '$state'; fix it (docker swarm leave --force?) and retry" >&2
  exit 1
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
