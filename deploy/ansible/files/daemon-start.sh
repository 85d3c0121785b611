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
  # -x: also a script of that name (files/gluster-metrics.sh runs as one).
  pidof -x "$1" >/dev/null && exit 0
  "$@"
fi
echo changed
