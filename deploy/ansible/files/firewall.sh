#!/usr/bin/env bash
# Loads the node's firewall, the nftables table `inet waitline` that the playbook writes
# (templates/nftables.conf.j2), when it is not loaded as written: after the file changed, after a
# reboot. The table replaces itself as a whole and never touches the engine's own tables.
#   firewall.sh FILE      prints "changed" when it loaded it
set -euo pipefail
file=$1 stamp=/run/waitline-firewall.sha256
digest=$(sha256sum "$file" | cut -d' ' -f1)
if nft list table inet waitline >/dev/null 2>&1 && [[ -f $stamp && $(<"$stamp") == "$digest" ]]; then
  exit 0
fi
nft -f "$file"
echo "$digest" >"$stamp"
echo changed
