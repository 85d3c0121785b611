#!/usr/bin/env bash
# Starts a daemon when it does not run: by systemd where it runs the machine, else by itself
# (machines without systemd, such as the simulated VMs of the tests).
#   daemon-start.sh UNIT COMMAND...     e.g. daemon-start.sh glusterd glusterd -p /run/glusterd.pid
# Prints "changed" when it started it.
set -euo pipefail
unit=$1; shift
if [[ -d /run/systemd/system ]]; then
  systemctl is-active -q "$unit" && exit 0
  systemctl enable -q --now "$unit"
else
  # Running already: a process whose command line holds COMMAND (a script's too: files/
  # gluster-metrics.sh runs as "bash <path> ..."), other than this one and its caller. pgrep runs
  # alone in its command substitution: in a pipeline, the other element is a copy of this script
  # until it execs, and pgrep would find it.
  for pid in $(pgrep -f -- "$*"); do
    [[ $pid == "$$" || $pid == "$PPID" ]] || exit 0
  done
  "$@"
fi
echo changed
