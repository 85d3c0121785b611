#!/usr/bin/env bash
# Creates and starts a replicated GlusterFS volume when it does not exist (run on one storage node,
# once every storage node is a peer).
#   gluster-volume.sh NAME BRICK...    e.g. gluster-volume.sh waitline-prod vm1:/srv/gluster/prod ...
# One brick per storage node: replica = number of bricks. Prints "changed" when it did something.
set -euo pipefail
name=$1; shift
changed=0
if ! gluster volume info "$name" >/dev/null 2>&1; then
  # force: the bricks may sit on the root filesystem's disk (a dedicated disk is better, the guide
  # says so); GlusterFS refuses that without it.
  gluster volume create "$name" replica "$#" transport tcp "$@" force >/dev/null
  changed=1
fi
# A client waits this long for a brick that stopped answering before it goes on with the others;
# the default, 42 s, would stall every Redis write for as long when a storage node dies.
ping_timeout=${WAITLINE_GLUSTER_PING_TIMEOUT:-10}
if [[ $(gluster volume get "$name" network.ping-timeout | awk '$1 == "network.ping-timeout" {print $2}') != "$ping_timeout" ]]; then
  gluster volume set "$name" network.ping-timeout "$ping_timeout" >/dev/null
  changed=1
fi
if [[ $(gluster volume info "$name" | sed -n 's/^Status: //p') != Started ]]; then
  gluster volume start "$name" >/dev/null
  changed=1
fi
((changed)) && echo changed
exit 0
