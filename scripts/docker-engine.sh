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

# The IPv4 address of docker0, read from the interface itself (no iproute2 on a minimal Debian);
# nothing when the bridge has none yet. dockerd creates the bridge at its first start, and
# `docker network inspect bridge` may still report an empty gateway right after it answers.
docker0_address() {
  python3 - <<'PY'
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", b"docker0"))  # SIOCGIFADDR
    print(socket.inet_ntoa(raw[20:24]))
except OSError:
    pass
PY
}

# daemon.json with our two settings, the operator's others kept (Debian ships no daemon.json).
# Prints the file's new content, or nothing when it already says so.
with_our_settings() {  # metrics address -> the new daemon.json when a setting of ours is missing
  python3 - "$daemon_json" "$1" <<'PY'
import json, os, sys
path, addr = sys.argv[1], sys.argv[2]
conf = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
wanted = {"metrics-addr": addr, "no-new-privileges": True, "userland-proxy": False}
if any(conf.get(k) != v for k, v in wanted.items()):
    conf.update(wanted)
    print(json.dumps(conf, indent=2))
PY
}

fail() { echo "engine: $*" >&2; exit 1; }
docker info >/dev/null 2>&1 || start_dockerd || fail "dockerd did not answer within 60 s; see $log_file"

gateway=""
for _ in $(seq 1 30); do
  gateway=$(docker0_address)
  [[ -n $gateway ]] && break
  sleep 1
done
# Never write an address that was not read: an empty one makes dockerd refuse to start.
[[ $gateway =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] \
  || fail "docker0 has no IPv4 address after 30 s; the engine's metrics cannot be served (see $log_file)"
new_conf=$(with_our_settings "$gateway:$metrics_port")
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
    fail "dockerd did not come back with metrics-addr $gateway:$metrics_port, no-new-privileges and userland-proxy false; $daemon_json restored (see $log_file)"
  fi
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
