#!/usr/bin/env bash
# The proxy section of `make bench`: waitline as users meet it, through the
# HTTPS proxy of the Swarm stack, side by side with the same service measured directly.
#
#   scripts/bench/proxy.sh FRAGMENT     write the section (Markdown) to FRAGMENT; print a summary
#
# Deploys its own project (default wlperf: stacks wlperf-*, its own ports, secrets in
# .secrets/wlperf) with scripts/platform/swarm.sh up, exactly as `make up` would, then measures with wrk,
# alternating the three paths so that all see the same machine:
#   direct  wrk inside the network namespace of the production rubis container, to
#           http://127.0.0.1:8000 (the service as deployed: its image, CPU limit, log pipe);
#   network wrk inside the proxy's network namespace to http://<the queue's address>:8000, the
#           address nginx resolves for it on the front network: the network hop, without TLS
#           and nginx;
#   proxy   wrk on the host to https://127.0.0.1:<https port>/rubis/... with Host prod.localhost
#           (published port, TLS, nginx, the front network, then the same container);
#   ceiling wrk on the host to https://127.0.0.1:<https port>/ceiling/... : the same published
#           port, TLS, nginx configuration and front network, in front of an upstream that does
#           no work (an nginx answering, from memory, bodies of the size rubis answers): the most
#           the proxy path can carry here; production's path is reported as a share of it.
# Each round runs take (POST /get_ticket) then list (GET /list_tickets, default limit 100) the
# three ways at BENCH_CONNECTIONS connections, then both ways with one connection (the stall shows in
# the one-connection p99), and with one connection from inside the proxy's network namespace
# (https://127.0.0.1:8443: the proxy without the published port's NAT; the two should agree).
# During each run it reads the CPU time and CFS throttling (cpu.stat) of the proxy and queue
# containers, and wrk's own CPU time; before the rounds, the machine's busy share at rest. The
# client and the resting deployment share the 2 cores here, so it also estimates the ratio with
# both elsewhere (the system's CPU per request, direct over proxy). At the end it removes the
# project, its data and its secrets (unless it was already deployed and BENCH_PROXY_REUSE=1), and
# the ceiling's service and route in every case.
# All traffic stays on 127.0.0.1.
#
# Environment (defaults in brackets):
#   BENCH_PROXY_PROJECT [wlperf]  BENCH_PROXY_HTTP_PORT [28080]  BENCH_PROXY_HTTPS_PORT [28443]
#   BENCH_PROXY_PROMETHEUS_PORT [29090] BENCH_PROXY_ALERTMANAGER_PORT [29093] BENCH_PROXY_GRAFANA_PORT [23000]
#   BENCH_PROXY_DURATION [8]     seconds per wrk run at BENCH_CONNECTIONS
#   BENCH_PROXY_ROUNDS [3]        rounds (the spread between rounds is reported; the median of 3
#                                 is robust to one outlier run, the "median" of 2 is their mean)
#   BENCH_CONNECTIONS [64]  BENCH_THREADS [2]
#   BENCH_PROXY_REUSE=1           measure the project's running deployment and leave it running
# Exit status: 0 measured without errors, 1 errors (non-2xx, socket) during a run, 2 setup problem.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh" bench-proxy 2
[[ $# -eq 1 ]] || die "usage: $0 FRAGMENT"
fragment=$(realpath -m "$1")
project=${BENCH_PROXY_PROJECT:-wlperf}
[[ $project != waitline ]] || die "never the default project waitline: it may be someone's deployment"
https_port=${BENCH_PROXY_HTTPS_PORT:-28443}
duration=${BENCH_PROXY_DURATION:-8}
rounds=${BENCH_PROXY_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_THREADS:-2}
reuse=${BENCH_PROXY_REUSE:-0}
for v in duration rounds connections wrk_threads https_port; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
for tool in wrk nsenter docker curl awk; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup/install-deps.sh installs it)"
done

export WAITLINE_PROJECT=$project WAITLINE_SECRETS_DIR=$root/.secrets/$project \
  WAITLINE_HTTP_PORT=${BENCH_PROXY_HTTP_PORT:-28080} WAITLINE_HTTPS_PORT=$https_port \
  WAITLINE_PROMETHEUS_PORT=${BENCH_PROXY_PROMETHEUS_PORT:-29090} \
  WAITLINE_ALERTMANAGER_PORT=${BENCH_PROXY_ALERTMANAGER_PORT:-29093} \
  WAITLINE_GRAFANA_PORT=${BENCH_PROXY_GRAFANA_PORT:-23000}

work=$(mktemp -d "${TMPDIR:-/tmp}/waitline-bench-proxy.XXXXXX")
deployed=0
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [[ -n $child_pid ]] && kill "$child_pid" 2>/dev/null
  remove_ceiling || status=2
  if ((deployed)); then
    say "removing project $project (stacks, volumes, secrets)"
    "$root/scripts/platform/swarm.sh" destroy >"$work/destroy.log" 2>&1 || { tail -5 "$work/destroy.log" >&2; status=2; }
    rm -rf "$WAITLINE_SECRETS_DIR"
  fi
  rm -rf "$work"
  exit "$status"
}
ceiling_service=$project-bench-ceiling
proxy_queues="" # the proxy's WAITLINE_QUEUES before the ceiling was added to it
remove_ceiling() {
  [[ -n $(docker service ls -q --filter "name=$ceiling_service") ]] || return 0
  say "removing the ceiling ($ceiling_service and its route)"
  docker service rm "$ceiling_service" >/dev/null || return 1
  [[ -z $proxy_queues || $deployed == 1 ]] ||
    docker service update -q --env-add "WAITLINE_QUEUES=$proxy_queues" "$project-edge_proxy" >/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the deployment ---------------------------------------------------------------------------
stack_present() { [[ -n $(docker service ls -q --filter "label=com.docker.stack.namespace=$project-edge") ]]; }
if stack_present; then
  [[ $reuse == 1 ]] || die "project $project is already deployed: remove it (WAITLINE_PROJECT=$project scripts/platform/swarm.sh destroy) or set BENCH_PROXY_REUSE=1"
  say "measuring the running deployment of $project"
else
  [[ -f $root/.cache/images.env ]] || die "no images: run make images"
  started=$SECONDS
  deployed=1
  "$root/scripts/platform/secrets.sh" >"$work/secrets.log" 2>&1 || { cat "$work/secrets.log" >&2; die "secrets.sh failed"; }
  say "deploying project $project (HTTPS on 127.0.0.1:$https_port)"
  "$root/scripts/platform/swarm.sh" up >"$work/up.log" 2>&1 || { tail -20 "$work/up.log" >&2; die "swarm.sh up failed"; }
  say "deployed in $((SECONDS - started)) s"
  # Production's per-client limits (EDGE_LIMIT_PROD_* in deploy/platforms.conf) would cap wrk,
  # one client address, at a few thousand requests a second: this project's proxy gets limits far
  # above what the machine serves, so that the bench measures the proxy and not its limit.
  docker service update -q --env-add WAITLINE_LIMIT_PROD_RATE=1000000 \
    --env-add WAITLINE_LIMIT_PROD_BURST=1000000 "$project-edge_proxy" >/dev/null ||
    die "could not lift the rate limit of $project-edge_proxy"
  # The queue's own limits per key and per client (WAITLINE_RATE_LIMIT_* there) likewise: wrk is one key;
  # and its length cap (a million tickets), which the rounds' takes would reach on a fast machine.
  docker service update -q --env-add WAITLINE_RATE_LIMIT_KEY=0 --env-add WAITLINE_RATE_LIMIT_CLIENT=0 \
    --env-add WAITLINE_MAX_QUEUE_LENGTH=0 \
    "$project-prod_rubis" >/dev/null || die "could not lift the limits of $project-prod_rubis"
  "$root/scripts/platform/swarm.sh" wait >"$work/wait.log" 2>&1 || { cat "$work/wait.log" >&2; die "the proxy did not come back"; }
fi
api_key=$(awk '$1 == "prod" && $2 == "rubis" && $3 == "desk" {print $4}' "$WAITLINE_SECRETS_DIR/prod/api-keys.txt")
[[ -n $api_key ]] || die "no prod rubis desk key in $WAITLINE_SECRETS_DIR/prod/api-keys.txt"

# --- the ceiling ------------------------------------------------------------------------------
# The bodies rubis answers now: a take's, and a list's once 100 tickets wait (the default limit;
# the first round's takes keep it full). The ceiling answers the same number of bytes, as JSON.
rubis=https://127.0.0.1:$https_port/rubis
curl_prod() { curl -sk --fail-with-body -H "Host: prod.localhost" -H "Authorization: Bearer $api_key" "$@"; }
for _ in $(seq 100); do curl_prod -o /dev/null -X POST "$rubis/get_ticket" || die "a take through the proxy failed"; done
take_bytes=$(curl_prod -X POST "$rubis/get_ticket" | wc -c)
list_bytes=$(curl_prod "$rubis/list_tickets" | wc -c)
body_of() { # bytes -> a JSON object of exactly that many bytes (at least 10: {"pad":""})
  local pad=$(($1 - 10))
  printf '{"pad":"%s"}' "$(head -c "$pad" /dev/zero | tr '\0' x)"
}
[[ $take_bytes -ge 10 && $list_bytes -ge 10 ]] || die "rubis answered $take_bytes and $list_bytes bytes"
# One nginx worker without limits, keeping connections as long as the queue does (60 s, no cap
# on requests), on production's front network under the name the proxy's route resolves, found by
# DNS as the queues are (dnsrr: no virtual IP between nginx and its upstream).
ceiling_conf="pid /tmp/nginx.pid; worker_processes 1; error_log stderr;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path /tmp/body; proxy_temp_path /tmp/proxy; fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi; scgi_temp_path /tmp/scgi;
  keepalive_timeout 60s; keepalive_requests 1000000;
  server {
    listen 8000; default_type application/json;
    location = /get_ticket { return 200 '$(body_of "$take_bytes")'; }
    location = /list_tickets { return 200 '$(body_of "$list_bytes")'; }
  }
}"
proxy_image=$(docker service inspect "$project-edge_proxy" --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}')
proxy_queues=$(docker service inspect "$project-edge_proxy" \
  --format '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' | sed -n 's/^WAITLINE_QUEUES=//p')
[[ -n $proxy_queues ]] || die "$project-edge_proxy has no WAITLINE_QUEUES"
[[ " $proxy_queues " != *" ceiling "* ]] || die "a queue named ceiling is deployed: the ceiling needs that route"
say "starting the ceiling ($ceiling_service: take $take_bytes bytes, list $list_bytes bytes)"
docker service create -q --detach=false --name "$ceiling_service" --endpoint-mode dnsrr --network "name=$project-prod-front,alias=prod-ceiling" \
  --mount type=tmpfs,destination=/tmp --env "CEILING_CONF=$ceiling_conf" --no-healthcheck --entrypoint sh \
  "$proxy_image" -c 'printf "%s\n" "$CEILING_CONF" >/tmp/ceiling.conf && exec nginx -c /tmp/ceiling.conf -g "daemon off;"' \
  >"$work/ceiling.log" 2>&1 || die "the ceiling did not start: $(tail -5 "$work/ceiling.log")"
docker service update -q --env-add "WAITLINE_QUEUES=$proxy_queues ceiling" "$project-edge_proxy" >/dev/null ||
  die "could not route /ceiling/ at $project-edge_proxy"
"$root/scripts/platform/swarm.sh" wait >"$work/wait.log" 2>&1 || { cat "$work/wait.log" >&2; die "the proxy did not come back"; }

one_container() { # service -> the id of its one running container
  local ids
  ids=$(docker ps -q --filter "label=com.docker.swarm.service.name=$1" --filter status=running)
  [[ $(wc -w <<<"$ids") == 1 ]] || die "$1 should run one container, runs: ${ids:-none}"
  echo "$ids"
}
queue_id=$(one_container "$project-prod_rubis")
proxy_id=$(one_container "$project-edge_proxy")
queue_pid=$(docker inspect --format '{{.State.Pid}}' "$queue_id")
proxy_pid=$(docker inspect --format '{{.State.Pid}}' "$proxy_id")
# The queue as nginx reaches it: its address on the front network, from Swarm's DNS in the proxy.
queue_addr=$(docker exec "$proxy_id" getent hosts prod-rubis | awk '{print $1; exit}')
[[ -n $queue_addr ]] || die "prod-rubis does not resolve in the proxy container"

# --- CPU time and throttling of a container (cgroup v1 or v2) ---------------------------------
cpu_dir() { # container -> its cpu cgroup directory
  local pid rel
  pid=$(docker inspect --format '{{.State.Pid}}' "$1")
  rel=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3; exit} $1 == "0" && $2 == "" {v2 = $3} END {if (v2 != "") print v2}' "/proc/$pid/cgroup" | head -1)
  for d in "/sys/fs/cgroup/cpu,cpuacct$rel" "/sys/fs/cgroup/cpu$rel" "/sys/fs/cgroup$rel"; do
    [[ -r $d/cpu.stat ]] && { echo "$d"; return; }
  done
  die "no cpu.stat for container $1"
}
cpu_of() { # cgroup dir -> "usage_us periods throttled_periods throttled_us"
  local d=$1 acct=$1/cpuacct.usage
  # cgroup v1 mounts cpu and cpuacct together (cpu,cpuacct) or apart (cpu and cpuacct).
  [[ -r $acct ]] || acct=/sys/fs/cgroup/cpuacct${d#/sys/fs/cgroup/cpu}/cpuacct.usage
  if [[ -r $acct ]]; then
    awk -v u="$(cat "$acct")" '/^nr_periods/ {p = $2} /^nr_throttled/ {t = $2} /^throttled_time/ {tt = $2}
      END {printf "%d %d %d %d\n", u / 1000, p, t, tt / 1000}' "$d/cpu.stat"
  else
    awk '/^usage_usec/ {u = $2} /^nr_periods/ {p = $2} /^nr_throttled/ {t = $2} /^throttled_usec/ {tt = $2}
      END {printf "%d %d %d %d\n", u, p, t, tt}' "$d/cpu.stat"
  fi
}
queue_cg=$(cpu_dir "$queue_id")
proxy_cg=$(cpu_dir "$proxy_id")
# The log pipe: each container's stdout goes through its containerd shim to dockerd, which writes
# the JSON log file. Their CPU time is what a log line costs outside the container.
shim_of() { awk '{print $4}' "/proc/$(docker inspect --format '{{.State.Pid}}' "$1")/stat"; }
log_pids=("$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd)" "$(shim_of "$queue_id")" "$(shim_of "$proxy_id")")
log_pipe_us() { # user + system time of dockerd and the two shims, in µs
  local pid total=0 t
  for pid in "${log_pids[@]}"; do
    t=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat" 2>/dev/null) || t=0
    total=$((total + t))
  done
  echo $((total * 1000000 / $(getconf CLK_TCK)))
}

# The whole machine's busy CPU time in microseconds (every core; /proc/stat counts in 1/100 s):
# over a run, divided by the requests served, what one request costs along its whole path (wrk,
# TLS, nginx, the kernel's networking, the service, Redis, the log pipe).
cores=$(nproc)
machine_busy_us() { awk '$1 == "cpu" {printf "%.0f\n", ($2 + $3 + $4 + $7 + $8) * 10000; exit}' /proc/stat; }
# wrk's own CPU time: user + system of this shell's finished children (bash's `times`, second
# line), in µs, into the variable named $1. It is the client's cost, which a real client pays on
# its own machine. `times` must run in this shell: in a $(...) subshell it counts nothing.
children_us() {
  times >"$work/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 {for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); t += a[1] * 60 + a[2]}
    printf "%.0f\n", t * 1000000}' "$work/times")"
}

# --- one wrk run ------------------------------------------------------------------------------
declare -A res # <run>.<key>: wrk's figures, plus cpu and throttling of both containers
runs=()
measure() { # run-name path(direct|network|proxy|inside) endpoint connections
  local name=$1 way=$2 endpoint=$3 conns=$4 threads=$wrk_threads url script
  ((conns < threads)) && threads=$conns
  case $endpoint in take) script=take.lua; url=/get_ticket ;; list) script=list.lua; url=/list_tickets ;; esac
  local -a cmd=(wrk -t "$threads" -c "$conns" -d "${duration}s" --latency -s "$here/$script")
  if [[ $way == direct ]]; then
    cmd=(nsenter -t "$queue_pid" -n "${cmd[@]}" "http://127.0.0.1:8000$url")
  elif [[ $way == network ]]; then
    cmd=(nsenter -t "$proxy_pid" -n "${cmd[@]}" "http://$queue_addr:8000$url")
  elif [[ $way == ceiling ]]; then
    cmd+=(-H "Host: prod.localhost" "https://127.0.0.1:$https_port/ceiling$url")
  elif [[ $way == inside ]]; then
    # The proxy without the published port (iptables NAT; with dockerd's default userland-proxy,
    # a docker-proxy process that copies every byte, which scripts/setup/docker-engine.sh turns off).
    cmd=(nsenter -t "$proxy_pid" -n "${cmd[@]}" -H "Host: prod.localhost" "https://127.0.0.1:8443/rubis$url")
  else
    cmd+=(-H "Host: prod.localhost" "https://127.0.0.1:$https_port/rubis$url")
  fi
  local -a q0 q1 p0 p1
  local l0 l1 m0 m1 c0 c1
  read -r -a q0 < <(cpu_of "$queue_cg"); read -r -a p0 < <(cpu_of "$proxy_cg"); l0=$(log_pipe_us); m0=$(machine_busy_us); children_us c0
  BENCH_API_KEY=$api_key run_child $((duration + 30)) "${cmd[@]}" >"$work/$name.out" 2>&1 ||
    die "wrk $name failed: $(tail -5 "$work/$name.out")"
  read -r -a q1 < <(cpu_of "$queue_cg"); read -r -a p1 < <(cpu_of "$proxy_cg"); l1=$(log_pipe_us); m1=$(machine_busy_us); children_us c1
  # Connections the proxy closed and the kernel still holds (TIME_WAIT): one per proxied request
  # when nginx opens a new upstream connection each time; each holds a local port for 60 s.
  res[$name.time_wait]=$(nsenter -t "$proxy_pid" -n ss -Htan state time-wait | wc -l)
  wrk_figures "$work/$name.out" res "$name."
  res[$name.errors]=$((res[$name.non2xx] + res[$name.connect_errors] + res[$name.read_errors] + res[$name.write_errors] + res[$name.timeouts]))
  # CPU in % of one core over the run; throttled periods out of the CFS periods.
  res[$name.queue_cpu]=$(((q1[0] - q0[0]) * 100 / (duration * 1000000)))
  res[$name.proxy_cpu]=$(((p1[0] - p0[0]) * 100 / (duration * 1000000)))
  res[$name.log_cpu]=$(((l1 - l0) * 100 / (duration * 1000000)))
  res[$name.machine_cpu]=$(((m1 - m0) * 100 / (duration * 1000000 * cores)))
  res[$name.us_per_req]=$(awk -v b=$((m1 - m0)) -v r="${res[$name.rps]}" -v d="$duration" 'BEGIN {printf "%.0f", b / (r * d)}')
  res[$name.client_us_per_req]=$(awk -v c=$((c1 - c0)) -v r="${res[$name.rps]}" -v d="$duration" 'BEGIN {printf "%.0f", c / (r * d)}')
  # What the system itself spent: the machine's busy time less wrk's and less what the idle
  # deployment burns anyway (measured before the rounds), per request.
  res[$name.server_us_per_req]=$(awk -v b=$((m1 - m0 - c1 + c0)) -v i="$idle_busy_us" -v r="${res[$name.rps]}" -v d="$duration" \
    'BEGIN {printf "%.0f", (b - i) / (r * d)}')
  res[$name.queue_thr]="$((q1[2] - q0[2]))/$((q1[1] - q0[1]))"
  res[$name.proxy_thr]="$((p1[2] - p0[2]))/$((p1[1] - p0[1]))"
  runs+=("$name")
  printf 'bench-proxy: %-18s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %d  cpu queue %d%% proxy %d%% log pipe %d%%  throttled queue %s proxy %s  proxy TIME_WAIT %d  machine %d%% %d µs/req (wrk %d, system %d)\n' \
    "$name" "${res[$name.rps]}" "$(ms "${res[$name.p50_us]}")" "$(ms "${res[$name.p99_us]}")" "${res[$name.errors]}" \
    "${res[$name.queue_cpu]}" "${res[$name.proxy_cpu]}" "${res[$name.log_cpu]}" "${res[$name.queue_thr]}" "${res[$name.proxy_thr]}" "${res[$name.time_wait]}" \
    "${res[$name.machine_cpu]}" "${res[$name.us_per_req]}" "${res[$name.client_us_per_req]}" "${res[$name.server_us_per_req]}"
}

# Both paths answer before anything is measured.
probe=$(nsenter -t "$queue_pid" -n curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $api_key" http://127.0.0.1:8000/get_ticket)
[[ $probe == 200 ]] || die "direct take answered $probe"
probe=$(curl -sk -o /dev/null -w '%{http_code}' -X POST -H "Host: prod.localhost" -H "Authorization: Bearer $api_key" "https://127.0.0.1:$https_port/rubis/get_ticket")
[[ $probe == 200 ]] || die "take through the proxy answered $probe"
probe=$(curl -sk -o "$work/probe" -w '%{http_code}' -X POST -H "Host: prod.localhost" "https://127.0.0.1:$https_port/ceiling/get_ticket")
[[ $probe == 200 && $(wc -c <"$work/probe") == "$take_bytes" ]] || die "the ceiling answered $probe, $(wc -c <"$work/probe") bytes"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# The deployment at rest (three platforms, monitoring scraping every few seconds) for one run's
# length: its busy time is taken out of each run's "system" cost.
idle0=$(machine_busy_us); sleep "$duration"; idle_busy_us=$(($(machine_busy_us) - idle0))
idle_pct=$((idle_busy_us * 100 / (duration * 1000000 * cores)))
say "at rest: machine $idle_pct % busy"
for ((r = 1; r <= rounds; r++)); do
  # Alternate which path goes first, so that a drift of the machine's load favours neither.
  ways=(direct network proxy ceiling); ((r % 2 == 0)) && ways=(ceiling proxy network direct)
  for endpoint in take list; do
    for way in "${ways[@]}"; do measure "$endpoint-$way-$r" "$way" "$endpoint" "$connections"; done
  done
  for way in "${ways[@]}"; do [[ $way == network || $way == ceiling ]] || measure "one-$way-$r" "$way" list 1; done
  measure "one-inside-$r" inside list 1
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the section ------------------------------------------------------------------------------
stat_of() { # kind(min|max|median) key run-prefix: over the rounds
  local kind=$1 key=$2 prefix=$3 r
  for ((r = 1; r <= rounds; r++)); do echo "${res[$prefix-$r.$key]}"; done | sort -g |
    awk -v k="$kind" '{v[NR] = $1} END {if (k == "min") print v[1]; else if (k == "max") print v[NR]; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
range() { # key prefix formatter: "median (min–max)"
  local f=$3
  if ((rounds == 1)); then $f "$(stat_of median "$1" "$2")"; else
    echo "$($f "$(stat_of median "$1" "$2")") ($($f "$(stat_of min "$1" "$2")")–$($f "$(stat_of max "$1" "$2")"))"
  fi
}
any_errors=0
for n in "${runs[@]}"; do ((res[$n.errors] == 0)) || any_errors=1; done
# The ratios per round (proxy, and network, over direct of the same round), then their medians.
quotient() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN {printf f, a / b}'; } # a b printf-format
for endpoint in take list; do
  for ((r = 1; r <= rounds; r++)); do
    res[$endpoint-ratio-$r.value]=$(quotient "${res[$endpoint-proxy-$r.rps]}" "${res[$endpoint-direct-$r.rps]}" %.3f)
    res[$endpoint-ratio-$r.network]=$(quotient "${res[$endpoint-network-$r.rps]}" "${res[$endpoint-direct-$r.rps]}" %.3f)
    res[$endpoint-ratio-$r.ceiling]=$(quotient "${res[$endpoint-proxy-$r.rps]}" "${res[$endpoint-ceiling-$r.rps]}" %.3f)
    # As it would be with wrk and the idle deployment elsewhere: the inverse ratio of the system's
    # CPU per request (an estimate: it assumes the machine saturated, which the *machine busy* column tells).
    res[$endpoint-ratio-$r.system]=$(quotient "${res[$endpoint-direct-$r.server_us_per_req]}" "${res[$endpoint-proxy-$r.server_us_per_req]}" %.2f)
  done
done
goals=()
verdict() { if awk "BEGIN {exit !($1)}"; then echo met; else echo "**missed**"; fi; }
for endpoint in take list; do
  ratio=$(stat_of median value "$endpoint-ratio")
  ceiling=$(stat_of median ceiling "$endpoint-ratio")
  p99=$(stat_of median p99_us "$endpoint-proxy")
  goals+=("$endpoint through the proxy ≥ 0.5 × direct|$ratio ×|$(verdict "$ratio >= 0.5")")
  goals+=("$endpoint through the proxy ≥ 0.7 × the ceiling|$ceiling ×|$(verdict "$ceiling >= 0.7")")
  goals+=("$endpoint p99 through the proxy ≤ 20 ms|$(ms "$p99") ms|$(verdict "$p99 <= 20000")")
done
edge_cpus=$(docker service inspect "$project-edge_proxy" --format '{{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}}' | awk '{print $1 / 1e9}')
queue_cpus=$(docker service inspect "$project-prod_rubis" --format '{{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}}' | awk '{print $1 / 1e9}')
publish=$(docker service inspect "$project-edge_proxy" --format '{{range .Endpoint.Ports}}{{.PublishMode}} {{end}}' | awk '{print $1}')
endpoint_mode=$(docker service inspect "$project-prod_rubis" --format '{{.Spec.EndpointSpec.Mode}}')
{
  echo "## Through the proxy (Swarm stack)"
  echo
  echo "What a user of \`make up\` meets: \`scripts/bench/proxy.sh\` deploys its own project ($project)"
  echo "with \`scripts/platform/swarm.sh up\` and measures the production rubis queue three ways, alternated in one run:"
  echo "**direct**, wrk inside the queue container's network namespace to \`http://127.0.0.1:8000\` (the"
  echo "service as deployed: its image, its CPU limit of $queue_cpus, its log pipe); **network**, wrk inside the"
  echo "proxy container's network namespace to the queue's address on the front network, plain HTTP (the"
  echo "hop nginx makes, without TLS and nginx); and **proxy**, wrk on the"
  echo "host to \`https://127.0.0.1:$https_port/rubis/...\` (published port in $publish mode, TLS, nginx, the"
  echo "front network in $endpoint_mode mode, then the same container; proxy CPU limit $edge_cpus; the"
  echo "rate limits per client and key lifted for this project, at the proxy and the queue: wrk is one client and one key;"
  echo "the queue's length cap too, which the rounds' takes would reach). Rounds: $rounds,"
  echo "${duration} s per run, $connections connections, then 1 connection (list), also **inside**: wrk in the proxy"
  echo "container's network namespace to its HTTPS port, without the published port (its NAT)."
  echo "Figures: median of the rounds (min–max)."
  echo
  if ((any_errors)); then
    echo "> **This run saw errors** (non-2xx answers or socket errors): not a valid measurement."
    echo
  fi
  echo "| endpoint | connections | direct req/s | direct p99 | network req/s | network p99 | proxy req/s | proxy p99 | network ÷ direct | proxy ÷ direct |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for endpoint in take list; do
    echo "| $endpoint | $connections | $(range rps "$endpoint-direct" num) | $(range p99_us "$endpoint-direct" ms) ms | $(range rps "$endpoint-network" num) | $(range p99_us "$endpoint-network" ms) ms | $(range rps "$endpoint-proxy" num) | $(range p99_us "$endpoint-proxy" ms) ms | $(range network "$endpoint-ratio" echo) | $(range value "$endpoint-ratio" echo) |"
  done
  echo
  echo "The **ceiling**: the same published port, TLS, nginx configuration and front network in front"
  echo "of an upstream that does no work (one nginx worker answering $take_bytes bytes for a take and"
  echo "$list_bytes for a list, the sizes rubis answered before the rounds), at \`/ceiling/\`: what this"
  echo "proxy path carries at most on this machine, measured in the same rounds. Machine CPU per"
  echo "request: the busy time of all $cores cores over the run divided by the requests served, wrk included."
  echo
  echo "| endpoint | proxy req/s | proxy p99 | ceiling req/s | ceiling p99 | proxy ÷ ceiling | machine CPU µs per proxied request | per ceiling request |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for endpoint in take list; do
    echo "| $endpoint | $(range rps "$endpoint-proxy" num) | $(range p99_us "$endpoint-proxy" ms) ms | $(range rps "$endpoint-ceiling" num) | $(range p99_us "$endpoint-ceiling" ms) ms | $(range ceiling "$endpoint-ratio" echo) | $(range us_per_req "$endpoint-proxy" num) | $(range us_per_req "$endpoint-ceiling" num) |"
  done
  echo
  echo "| list, one connection | p50 | p99 | max |"
  echo "|---|---:|---:|---:|"
  for way in direct proxy inside; do
    echo "| $way | $(range p50_us "one-$way" ms) ms | $(range p99_us "one-$way" ms) ms | $(range max_us "one-$way" ms) ms |"
  done
  echo
  echo "CPU of the two containers during each run (% of one core), CFS throttling (\`cpu.stat\`:"
  echo "throttled periods / periods of 100 ms), and the CPU of the log pipe (dockerd and the two"
  echo "containers' shims, which carry their stdout to the JSON log files); TIME_WAIT: sockets the"
  echo "proxy had closed and the kernel still held at the end of the run (one per upstream connection);"
  echo "machine: the busy share of all $cores cores (/proc/stat), and that busy time divided by the requests"
  echo "served: what one request costs along its whole path, wrk included:"
  echo
  echo "| run | req/s | queue CPU | queue throttled | proxy CPU | proxy throttled | log pipe CPU | proxy TIME_WAIT | machine busy | CPU µs per request | of which wrk | system |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${runs[@]}"; do
    echo "| $n | $(num "${res[$n.rps]}") | ${res[$n.queue_cpu]} % | ${res[$n.queue_thr]} | ${res[$n.proxy_cpu]} % | ${res[$n.proxy_thr]} | ${res[$n.log_cpu]} % | $(num "${res[$n.time_wait]}") | ${res[$n.machine_cpu]} % | $(num "${res[$n.us_per_req]}") | $(num "${res[$n.client_us_per_req]}") | $(num "${res[$n.server_us_per_req]}") |"
  done
  echo
  echo "*of which wrk*: the client's own CPU time; *system*: the rest, less what the deployment burns at"
  echo "rest ($idle_pct % of the machine, measured for ${duration} s before the rounds). With the"
  echo "client and the resting deployment elsewhere, proxy ÷ direct would be about direct's *system* ÷"
  echo "proxy's: take $(range system take-ratio echo), list $(range system list-ratio echo) (an estimate; the goal above is measured as users meet it)."
  echo
  echo "| goal | measured | |"
  echo "|---|---:|---|"
  for g in "${goals[@]}"; do echo "| ${g//|/ | } |"; done
  echo
  echo "Load average before $load_before, after $load_after."
  echo
  echo "Where a proxied request's time goes, and why the stack is configured as it is: [the proxy's"
  echo "cost: findings](proxy-findings.md) (measured by hand, each with its date and method)."
} >"$fragment"

echo
printf 'bench-proxy: load %s -> %s\n' "$load_before" "$load_after"
for g in "${goals[@]}"; do IFS='|' read -r goal measured met <<<"$g"; printf '  %-40s %-10s %s\n' "$goal" "$measured" "${met//\*/}"; done
for endpoint in take list; do
  printf '  %-40s %s µs (ceiling %s µs)\n' "machine CPU per proxied $endpoint" "$(stat_of median us_per_req "$endpoint-proxy")" "$(stat_of median us_per_req "$endpoint-ceiling")"
done
for key in "network:network ÷ direct (the hop alone)" "system:estimate without wrk and the idle stack"; do
  printf '  %-40s take %s ×, list %s ×\n' "${key#*:}" "$(stat_of median "${key%%:*}" take-ratio)" "$(stat_of median "${key%%:*}" list-ratio)"
done
say "wrote $fragment"
((any_errors == 0)) || { echo "bench-proxy: errors during the run" >&2; exit 1; }
