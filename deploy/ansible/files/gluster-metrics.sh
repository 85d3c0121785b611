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

metrics() {
  local ok=1 volume
  echo "# HELP waitline_gluster_peer_connected 1 when this node sees the GlusterFS peer connected."
  echo "# TYPE waitline_gluster_peer_connected gauge"
  gluster pool list 2>/dev/null | awk 'NR > 1 && $2 != "localhost" {
      printf "waitline_gluster_peer_connected{peer=\"%s\"} %d\n", $2, ($3 == "Connected") }' || ok=0
  echo "# HELP waitline_gluster_brick_up 1 when the brick's process is online."
  echo "# TYPE waitline_gluster_brick_up gauge"
  echo "# HELP waitline_gluster_heal_entries Entries the brick still has to heal."
  echo "# TYPE waitline_gluster_heal_entries gauge"
  local volumes
  volumes=$(gluster volume list 2>/dev/null) || ok=0
  for volume in $volumes; do
    gluster volume status "$volume" detail 2>/dev/null | awk -v v="$volume" -F' *: *' '
      $1 == "Brick" { sub(/^Brick /, "", $2); brick = $2 }
      $1 == "Online" { printf "waitline_gluster_brick_up{volume=\"%s\",brick=\"%s\"} %d\n", v, brick, ($2 == "Y") }' || ok=0
    gluster volume heal "$volume" info summary 2>/dev/null | awk -v v="$volume" '
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
if [[ ${WAITLINE_GLUSTER_METRICS_FOREGROUND:-0} != 1 ]]; then
  # Detached from the caller (a machine without systemd starts it this way).
  WAITLINE_GLUSTER_METRICS_FOREGROUND=1 setsid "$0" "$@" </dev/null >/dev/null 2>&1 &
  exit 0
fi
while :; do write; sleep "$interval"; done
