#!/usr/bin/env bash
# The platform on four simulated VMs (tests/vm/vm.sh), provisioned by the Ansible playbook exactly
# as on real VMs (deploy/ansible/site.yml, inventory deploy/ansible/inventory/simulated.yml).
#   tests/cluster/cluster.sh up     create the VMs, run the playbook (timed), run it again and
#                                   fail unless the second run reports changed=0
#   tests/cluster/cluster.sh test   the cluster suite (tests/cluster/test_*.py) on those VMs
#   tests/cluster/cluster.sh down   remove the VMs, their disks and their network
# Needs the images built on this host (make images) and Debian's ansible-core.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh" cluster
group=wlcluster
subnet=10.77.200.0/24
inventory=$root/deploy/ansible/inventory/simulated.yml
log_dir=$root/.cache/cluster
mkdir -p "$log_dir" "$root/.cache/cluster-images"


playbook() {  # log-file
  (cd "$root/deploy/ansible" && ANSIBLE_FORCE_COLOR=0 ansible-playbook -i "$inventory" site.yml) >"$1" 2>&1
}
recap() { sed -n '/^PLAY RECAP/,$p' "$1"; }

cmd_up() {
  [[ -s $root/.cache/images.env ]] || die "build the images first (make images)"
  command -v ansible-playbook >/dev/null || die "ansible-playbook is missing (make deps)"
  local start=$SECONDS
  "$here/../vm/vm.sh" up "$group" 4 "$subnet"
  say "playbook, first run (log: $log_dir/playbook-1.log)"
  playbook "$log_dir/playbook-1.log" || { tail -60 "$log_dir/playbook-1.log" >&2; die "the playbook failed"; }
  local first=$((SECONDS - start))
  recap "$log_dir/playbook-1.log"
  say "playbook, second run (must change nothing; log: $log_dir/playbook-2.log)"
  local again=$SECONDS
  playbook "$log_dir/playbook-2.log" || { tail -60 "$log_dir/playbook-2.log" >&2; die "the second run failed"; }
  recap "$log_dir/playbook-2.log"
  if recap "$log_dir/playbook-2.log" | grep -E 'changed=[1-9]'; then
    grep -B3 '^changed:' "$log_dir/playbook-2.log" | head -40 >&2
    die "the second run changed something: not idempotent"
  fi
  say "up: 4 VMs provisioned and every service running $first s from zero; second run changed=0 in $((SECONDS - again)) s"
}

cmd_test() {
  "${PYTHON:-/usr/bin/python3}" -m pytest -v -p no:cacheprovider "$here" "$@"
}

cmd_down() {
  "$here/../vm/vm.sh" down "$group"
  say "VMs removed"
}

case ${1:-} in
  up) cmd_up ;;
  test) shift; cmd_test "$@" ;;
  down) cmd_down ;;
  *) usage_from_header "$0"; exit 2 ;;
esac
