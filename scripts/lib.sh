# shellcheck shell=bash
# The helpers every shell script of the repository shares. Source it first, naming the script
# (the prefix of its messages) and, optionally, the exit status of die (default 1):
#
#   # shellcheck source=scripts/lib.sh
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" swarm
#   say "deploying"            # swarm: deploying
#   die "no secrets"           # swarm: no secrets (on stderr), exit 1
#
# It sets `root` (the repository's top directory) and defines nothing else global but the
# functions below and `child_pid` (the child run_child waits for, which a trap may stop).

lib_name=${1:?usage: . scripts/lib.sh NAME [DIE_STATUS]}
lib_die_status=${2:-1}
# shellcheck disable=SC2034 # read by the scripts that source this file
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
child_pid=""

say() { echo "$lib_name: $*"; }
warn() { echo "$lib_name: $*" >&2; }
die() { echo "$lib_name: $*" >&2; exit "$lib_die_status"; }

# The comment block under a script's first line, up to `set -euo`, as its usage text.
usage_from_header() {  # script
  sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'
}

# --- numbers: bash has integers only; awk does the rest ----------------------------------------
calc() { awk "BEGIN {$1}"; }                  # calc 'printf "%.2f", 3 / 7'
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u / 1000}'; }   # microseconds -> "1.23" milliseconds
num() {  # rounded, with thousands separators: 12,345
  awk -v x="$1" 'BEGIN {s = sprintf("%.0f", x); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); print s}'
}
rb_rps() {  # redis-benchmark --csv file, test, field (2 rps, 5 p50 ms, 7 p99 ms) -> that figure
  awk -F'","' -v t="$2" -v f="$3" '{gsub(/^"|"$/, "")} $1 == t {print $f}' "$1"
}
median() {  # of stdin's numbers, one a line
  sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# --- processes and ports ---------------------------------------------------------------------
port_in_use() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A loopback port nobody listens on, away from the usual ones and below the kernel's ephemeral
# range: a port in it may be held by a client's connection, one that no listener shows, and
# bind fails (10,000 event streams closing hold that many ephemeral ports for a while).
free_port() {
  local low p i
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  ((low > 11000)) || die "the ephemeral port range starts at $low: no room below it for a listener"
  for ((i = 0; i < 200; i++)); do
    p=$((10000 + RANDOM % (low - 10000)))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

stop_pid() {  # pid [tenths of a second to wait, default 50]: TERM, wait, then KILL
  local pid=$1 tenths=${2:-50} i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < tenths; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# run_child SECONDS CMD...: runs CMD in the background (a signal then reaches this shell's trap at
# once, which can stop $child_pid) and waits for it; killed when it overstays. CMD's status.
run_child() {
  local limit=$1 rc=0
  shift
  timeout --kill-after=5 "$limit" "$@" &
  child_pid=$!
  wait "$child_pid" || rc=$?
  child_pid=""
  return "$rc"
}

# --- wrk -------------------------------------------------------------------------------------
# The figures scripts/bench/result.lua prints (BENCH_RESULT requests=... rps=... p99_us=...), from
# wrk's output file into the associative array named ARRAY, each key prefixed with PREFIX.
wrk_figures() {  # output-file ARRAY [PREFIX]
  local -n into=$2
  local line kv
  line=$(grep '^BENCH_RESULT ' "$1") || die "no BENCH_RESULT in $1: $(tail -5 "$1")"
  # shellcheck disable=SC2034 # into names the caller's array: that is where this writes
  for kv in ${line#BENCH_RESULT }; do into[${3:-}${kv%%=*}]=${kv#*=}; done
}

# run_wrk OUT ARRAY PREFIX SECONDS CMD...: runs CMD (wrk, or wrk under nsenter) for at most
# SECONDS with its output in OUT, dies when it fails, and reads its figures into ARRAY as
# wrk_figures does. The Lua script named in CMD reads the key from BENCH_API_KEY.
run_wrk() {
  local out=$1 array=$2 prefix=$3 limit=$4
  shift 4
  run_child "$limit" "$@" >"$out" 2>&1 || die "wrk failed ($*): $(tail -5 "$out")"
  wrk_figures "$out" "$array" "$prefix"
}
