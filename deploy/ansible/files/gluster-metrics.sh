#!/usr/bin/env bash
# GlusterFS as this storage node sees it, for node_exporter's textfile collector: every INTERVAL
# seconds, in DIR/gluster.prom (written whole, then renamed: never read half-written):
#   waitline_gluster_peer_connected{peer}        1 when the peer is connected, 0 when not
#   waitline_gluster_brick_up{volume,brick}      1 when the brick's process is online, 0 when not
#   waitline_gluster_heal_entries{volume,brick}  entries the brick still has to heal (a brick that
#                                                is down has no count)
#   waitline_gluster_metrics_ok                  0 when the gluster command failed this time
#   gluster-metrics.sh DIR [INTERVAL]            keeps running in the background (default 30 s)
#   gluster-metrics.sh DIR once                  writes the file once, in the foreground
set -uo pipefail
dir=$1 interval=${2:-30}

# A gluster command, again a few times when glusterd is busy with another node's transaction
# (every storage node asks in turn, and glusterd serialises them cluster-wide).
ask() {
  local out _
  for _ in 1 2 3 4 5; do
    out=$(gluster "$@" 2>&1) && { echo "$out"; return 0; }
    [[ $out == *"Another transaction is in progress"* ]] || return 1
    sleep "0.$((RANDOM % 9 + 1))"
  done
  return 1
}

# "key : value" lines of `gluster volume status VOLUME detail` (the brick's path has a colon).
field() {  # key
  awk -v k="$1" '{ key = $0; sub(/ *: .*/, "", key); if (key != k) next
                   value = $0; sub(/^[^:]*: /, "", value); sub(/ +$/, "", value); print value }'
}

metrics() {
  local ok=1 volume volumes bricks status brick online
  echo "# HELP waitline_gluster_peer_connected 1 when this node sees the GlusterFS peer connected."
  echo "# TYPE waitline_gluster_peer_connected gauge"
  ask pool list | awk 'NR > 1 && $2 != "localhost" {
      printf "waitline_gluster_peer_connected{peer=\"%s\"} %d\n", $2, ($3 == "Connected") }' || ok=0
  echo "# HELP waitline_gluster_brick_up 1 when the brick's process is online (0 also when its node is unreachable)."
  echo "# TYPE waitline_gluster_brick_up gauge"
  echo "# HELP waitline_gluster_heal_entries Entries the brick still has to heal."
  echo "# TYPE waitline_gluster_heal_entries gauge"
  volumes=$(ask volume list) || ok=0
  for volume in $volumes; do
    # Every brick of the volume (its definition), online when its status says so.
    bricks=$(ask volume info "$volume" | sed -n 's/^Brick[0-9]*: //p') || ok=0
    if status=$(ask volume status "$volume" detail); then
      online=$(paste -d' ' <(field Brick <<<"$status" | sed 's/^Brick //') <(field Online <<<"$status"))
      for brick in $bricks; do
        printf 'waitline_gluster_brick_up{volume="%s",brick="%s"} %d\n' "$volume" "$brick" \
          "$(grep -qxF "$brick Y" <<<"$online" && echo 1 || echo 0)"
      done
    else
      ok=0
    fi
    ask volume heal "$volume" info summary | awk -v v="$volume" '
      /^Brick / { brick = $2 }
      /^Total Number of entries: [0-9]+/ { printf "waitline_gluster_heal_entries{volume=\"%s\",brick=\"%s\"} %s\n", v, brick, $NF }' || ok=0
  done
  echo "# HELP waitline_gluster_metrics_ok 0 when a gluster command failed during the last collection."
  echo "# TYPE waitline_gluster_metrics_ok gauge"
  echo "waitline_gluster_metrics_ok $ok"
}

write() {
  mkdir -p "$dir"
  metrics >"$dir/gluster.prom.tmp" && mv "$dir/gluster.prom.tmp" "$dir/gluster.prom"
}

if [[ $interval == once ]]; then write; exit; fi
if [[ ${WAITLINE_NODE_CHECK_FOREGROUND:-0} != 1 ]]; then
  # Detached from the caller (a machine without systemd starts it this way).
  WAITLINE_NODE_CHECK_FOREGROUND=1 setsid "$0" "$@" </dev/null >/dev/null 2>&1 &
  exit 0
fi
while :; do write; sleep "$interval"; done
