#!/usr/bin/env bash
# Mounts a GlusterFS volume with the FUSE client when it is not mounted, and records it in
# /etc/fstab so that it comes back at boot.
#   gluster-mount.sh SERVER1,SERVER2,SERVER3 VOLUME DIR
# The first server gives the volume's layout; the others are fallbacks (backup-volfile-servers),
# after which the client talks to every brick itself. Prints "changed" when it did something.
set -euo pipefail
IFS=, read -r first others <<<"$1"
volume=$2 dir=$3 changed=0
opts="defaults,_netdev,backup-volfile-servers=${others//,/:}"
line="$first:/$volume $dir glusterfs $opts 0 0"
mkdir -p "$dir"
if ! grep -qxF "$line" /etc/fstab; then
  sed -i "\\# $dir glusterfs #d" /etc/fstab
  echo "$line" >>/etc/fstab
  changed=1
fi
if ! mountpoint -q "$dir"; then
  mount -t glusterfs -o "backup-volfile-servers=${others//,/:}" "$first:/$volume" "$dir"
  changed=1
fi
((changed)) && echo changed
exit 0
