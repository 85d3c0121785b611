#!/usr/bin/env bash
# Swarm's names for this node's tasks, checked and mended.
#   swarm-names.sh DIR [INTERVAL]   keeps running in the background (default 30 s)
#   swarm-names.sh DIR once         checks once, prints the metrics, restarts nothing
#
# Why: Docker Engine 20.10 can lose a node's service records for good when the node was cut off
# from the others for a few seconds. Once the network heals, its tasks keep running and stay
# healthy, but their names (the service's, its aliases, tasks.<service>) no longer lead to them,
# on any node: a Redis server or a Sentinel no client can reach, a Prometheus the proxy cannot
# find. Only a new task gets new records.
#
# Every INTERVAL seconds, for each Swarm network of this node, the network's own resolver is asked
# (from the network namespace of one task on it) for the name of each address this node's tasks
# have there: the records of a task's names (its own, its service's, tasks.<service>, aliases) come
# and go together.
# A task that is healthy (or has no health check) and whose address has no name at two checks in
# a row is stopped; Swarm starts a new one (every service restarts on any exit). In
# DIR/swarm-names.prom, for node_exporter's textfile collector:
#   waitline_swarm_names_missing          tasks of this node with an address without a name
#   waitline_swarm_names_restarts_total   tasks stopped for that since the script started
#   waitline_swarm_names_ok               0 when the last check could not run (the engine did not answer)
set -uo pipefail
dir=$1 interval=${2:-30}

missing_before=() restarts=0

# Those of its arguments (IPv4 addresses) that have a name at the resolver of the network
# namespace where it runs: Docker's, at 127.0.0.11, which answers from the node's records of the
# networks of that namespace's container. One reverse (PTR) query each, over UDP.
NAMED='
import random, socket, struct, sys
resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
resolver.settimeout(2)
for address in sys.argv[1:]:
    name = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
    query = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0" + struct.pack(">HH", 12, 1)
    for _ in range(3):
        try:
            resolver.sendto(query, ("127.0.0.11", 53))
            answer = resolver.recv(4096)
        except socket.timeout:
            continue
        if answer[:2] == query[:2]:
            if struct.unpack(">H", answer[6:8])[0]:
                print(address)
            break
'

# "container pid health network=address ..." for every running task of this node.
tasks() {
  local ids
  ids=$(docker ps -q --filter label=com.docker.swarm.task.id) || return 1
  [[ -z $ids ]] && return 0
  # shellcheck disable=SC2086  # one argument per container
  docker inspect -f '{{.ID}} {{.State.Pid}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}{{range $n, $s := .NetworkSettings.Networks}} {{$n}}={{$s.IPAddress}}{{end}}' $ids
}

# One check: prints the containers with an address that has no name on its network.
check() {
  local listing swarm_networks network id pid health pairs pair member address named
  listing=$(tasks) || return 1
  swarm_networks=$(docker network ls --filter scope=swarm --format '{{.Name}}') || return 1
  for network in $swarm_networks; do
    [[ $network == ingress ]] && continue
    # This node's tasks on the network: "container address health", and one of their namespaces.
    local members=() addresses=() namespace=""
    while read -r id pid health pairs; do
      for pair in $pairs; do
        [[ ${pair%%=*} == "$network" ]] || continue
        members+=("$id ${pair#*=} $health")
        addresses+=("${pair#*=}")
        namespace=$pid
      done
    done <<<"$listing"
    [[ -n $namespace ]] || continue
    # Asked from a task's namespace on this network: the network's own records. A container that
    # has just gone away leaves nothing to ask: nothing is known this time.
    named=$(nsenter -t "$namespace" -n python3 -c "$NAMED" "${addresses[@]}") || continue
    for member in "${members[@]}"; do
      read -r id address health <<<"$member"
      # A task not yet healthy may not be named yet; an unhealthy one is Swarm's to replace.
      [[ $health == healthy || $health == none ]] || continue
      grep -qxF "$address" <<<"$named" || echo "$id"
    done
  done | sort -u
}

metrics() {  # missing ok
  echo "# HELP waitline_swarm_names_missing Tasks of this node whose address had no name on one of their Swarm networks at the last check."
  echo "# TYPE waitline_swarm_names_missing gauge"
  echo "waitline_swarm_names_missing $1"
  echo "# HELP waitline_swarm_names_restarts_total Tasks stopped because their names had lost them, since the check started."
  echo "# TYPE waitline_swarm_names_restarts_total counter"
  echo "waitline_swarm_names_restarts_total $restarts"
  echo "# HELP waitline_swarm_names_ok 0 when the last check could not run."
  echo "# TYPE waitline_swarm_names_ok gauge"
  echo "waitline_swarm_names_ok $2"
}

round() {  # once: 1 to print the metrics and restart nothing
  local found id missing=() ok=1
  if found=$(check); then
    for id in $found; do missing+=("$id"); done
  else
    ok=0
  fi
  if (($1)); then metrics "${#missing[@]}" "$ok"; return; fi
  mkdir -p "$dir"
  metrics "${#missing[@]}" "$ok" >"$dir/swarm-names.prom.tmp" && mv "$dir/swarm-names.prom.tmp" "$dir/swarm-names.prom"
  for id in "${missing[@]}"; do
    if [[ " ${missing_before[*]} " != *" $id "* ]]; then
      echo "swarm-names: $id has no name on one of its networks" >&2
      continue
    fi
    echo "swarm-names: stopping $id, without a name at two checks in a row; Swarm starts a new task" >&2
    docker stop --time 10 "$id" >/dev/null && restarts=$((restarts + 1))
  done
  missing_before=("${missing[@]}")
}

if [[ $interval == once ]]; then round 1; exit; fi
if [[ ${WAITLINE_NODE_CHECK_FOREGROUND:-0} != 1 ]]; then
  # Detached from the caller (a machine without systemd starts it this way).
  WAITLINE_NODE_CHECK_FOREGROUND=1 setsid "$0" "$@" </dev/null >/dev/null 2>&1 &
  exit 0
fi
while :; do round 0; sleep "$interval"; done
