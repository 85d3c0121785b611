#!/usr/bin/env bash
# Sets a swarm node's waitline.* labels to exactly the given ones (run on a manager).
#   node-labels.sh NODE LABEL...      e.g. node-labels.sh vm1 waitline.production waitline.storage
# Adds the missing ones (=true), removes other waitline.* labels; prints "changed" when it did.
set -euo pipefail
node=$1; shift
want=" $* "
have=$(docker node inspect "$node" --format '{{range $k, $v := .Spec.Labels}}{{$k}} {{end}}')
args=()
for label in "$@"; do
  [[ " $have " == *" $label "* ]] || args+=(--label-add "$label=true")
done
for label in $have; do
  [[ $label == waitline.* && $want != *" $label "* ]] && args+=(--label-rm "$label")
done
((${#args[@]} == 0)) && exit 0
docker node update "${args[@]}" "$node" >/dev/null
echo changed
