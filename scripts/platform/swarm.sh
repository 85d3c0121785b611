#!/usr/bin/env bash
# waitline on Docker Swarm: deploy, inspect, scale and remove the platforms and the proxy.
#
#   scripts/platform/swarm.sh up                 deploy (or update) every stack and wait until
#                                                every service runs; print the URLs
#   scripts/platform/swarm.sh down               remove the stacks; keep the Redis volumes (data)
#   scripts/platform/swarm.sh destroy            down, then remove the Redis volumes too (tests)
#   scripts/platform/swarm.sh status             services, replicas, budget, URLs
#   scripts/platform/swarm.sh scale PLATFORM QUEUE N
#                                                run N replicas of one queue service
#   scripts/platform/swarm.sh budget             check the resource budget on the running services
#   scripts/platform/swarm.sh wait               wait until every service runs all its replicas
#   scripts/platform/swarm.sh backup PLATFORM FILE
#                                                write a consistent snapshot of the platform's Redis
#                                                (RDB) to FILE, while it runs
#   scripts/platform/swarm.sh restore PLATFORM FILE
#                                                stop the platform's Redis, replace its data with
#                                                the snapshot FILE, start it again
#   scripts/platform/swarm.sh render PLATFORM    print the platform's stack file as `up` deploys it
#   scripts/platform/swarm.sh render-monitoring PROFILE DIR
#                                                write the monitoring files as deployed with
#                                                PROFILE (production or test) into DIR
#
# Stacks: <project>-dev, <project>-qualif, <project>-prod from deploy/swarm/platform.yml (one
# definition, written out for each queue of deploy/platforms.conf and deployed per platform with
# that platform's values there), <project>-edge (the proxy) from deploy/swarm/edge.yml, and
# <project>-monitoring (Prometheus, Alertmanager, exporters; Grafana and cAdvisor where their
# images can be pulled) from deploy/swarm/monitoring.yml with the files of observability/. Needs
# the engine in swarm mode (scripts/setup/docker-engine.sh), the images (scripts/setup/images.sh)
# and the secrets (scripts/platform/secrets.sh).
#
# Environment (defaults in brackets):
#   WAITLINE_PROJECT [waitline]   prefix of every stack, network, volume and secret: a second
#                                 project (the end-to-end tests use another) never touches these
#   WAITLINE_SECRETS_DIR [.secrets/<project>]
#   WAITLINE_HTTP_PORT [8080]  WAITLINE_HTTPS_PORT [8443]   the proxy's published ports
#   WAITLINE_DOMAIN [localhost]   production answers at <domain> and prod.<domain>
#                                 the monitoring UIs answer at https://prometheus.<domain>,
#                                 alertmanager.<domain>, grafana.<domain> (user monitoring, password
#                                 in <secrets>/monitoring_password); they publish no port
#   WAITLINE_MONITORING_PROFILE [production]   test: the same rules and routes with short
#                                 intervals and `for:` durations (the end-to-end tests)
#   WAITLINE_SETTINGS_FILE []     KEY=VALUE lines read after deploy/platforms.conf, overriding
#                                 it (several nodes: dev_PLACEMENT=node.labels.waitline.production!=true)
#   WAITLINE_REDIS_DATA_ROOT []   a shared filesystem mounted on every node: each platform's Redis
#                                 keeps its data in <root>/<platform>/redis (deploy/swarm/redis-shared-storage.yml)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" swarm
cd "$root"

project=${WAITLINE_PROJECT:-waitline}
secrets_dir=$(realpath -m "${WAITLINE_SECRETS_DIR:-.secrets/$project}")
http_port=${WAITLINE_HTTP_PORT:-8080}
https_port=${WAITLINE_HTTPS_PORT:-8443}
domain=${WAITLINE_DOMAIN:-localhost}
wait_timeout=${WAITLINE_WAIT_TIMEOUT:-300}
https_suffix=""; [[ $https_port != 443 ]] && https_suffix=":$https_port"
monitoring_profile=${WAITLINE_MONITORING_PROFILE:-production}
monitoring_dir=$PWD/.cache/monitoring/$project
stack_dir=$PWD/.cache/swarm/$project   # the stack files as deployed (render_platform)

# deploy/platforms.conf: the platforms, the queues, the names of the rows (service_settings: the
# service's WAITLINE_*; platform_keys: the others), each <platform>_KEY and each shared KEY.
platforms=() queues=() service_settings=() platform_keys=()
platform_settings=$(scripts/platform/platforms.py shell) || exit 2
eval "$platform_settings"
# shellcheck source=/dev/null
[[ -z ${WAITLINE_SETTINGS_FILE:-} ]] || . "$WAITLINE_SETTINGS_FILE"
redis_data_root=${WAITLINE_REDIS_DATA_ROOT:-}

[[ $project =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "WAITLINE_PROJECT must be lowercase letters, digits and dashes"
# What every stack file reads (${WAITLINE_PROJECT}, ${SECRETS_DIR}); stack_deploy sets ${WAITLINE_STACK}.
export WAITLINE_PROJECT=$project SECRETS_DIR=$secrets_dir

stacks() { for p in "${platforms[@]}"; do echo "$project-$p"; done; echo "$project-edge"; echo "$project-monitoring"; }
digest() { sha256sum "$1" | cut -c1-12; }
setting() { local name="$1_$2"; echo "${!name}"; }   # setting PLATFORM KEY
# Current replicas of a service, or the default when it does not exist yet (a scale survives up).
replicas() {
  local n
  n=$(docker service inspect "$1" --format '{{.Spec.Mode.Replicated.Replicas}}' 2>/dev/null) || n=""
  [[ $n =~ ^[0-9]+$ ]] && echo "$n" || echo "${2:-1}"
}

# --- resources -----------------------------------------------------------------------------------
# Sums from deploy/platforms.conf and the replica counts; `override` is "SERVICE=N" for a planned scale.
planned_sums() {  # prints: nonprod_cpus nonprod_mem_mb prod_res_cpus prod_res_mem_mb
  local override=${1:-} p q n svc
  local nc=0 nm=0 rc=0 rm=0
  for p in "${platforms[@]}"; do
    for q in "${queues[@]}" redis sentinel redis_exporter; do
      svc=$project-${p}_$q
      case $q in
        redis) n=$(redis_servers "$p"); local kind=REDIS ;;
        sentinel) n=$(redis_servers "$p"); n=$((n == 3 ? 3 : 0)); kind=SENTINEL ;;
        redis_exporter) n=1; kind=REDIS_EXPORTER ;;
        *) n=$(replicas "$svc" "$(setting "$p" QUEUE_REPLICAS)"); kind=QUEUE ;;
      esac
      [[ -n $override && ${override%=*} == "$svc" ]] && n=${override#*=}
      if [[ $p == prod ]]; then
        rc=$(awk -v a="$rc" -v b="$(setting "$p" ${kind}_RES_CPUS)" -v n="$n" 'BEGIN{print a+b*n}')
        rm=$((rm + $(setting "$p" ${kind}_RES_MEMORY_MB) * n))
      else
        nc=$(awk -v a="$nc" -v b="$(setting "$p" ${kind}_CPUS)" -v n="$n" 'BEGIN{print a+b*n}')
        nm=$((nm + $(setting "$p" ${kind}_MEMORY_MB) * n))
      fi
    done
  done
  # The proxy and the monitoring stack count with production (node_exporter: once per node).
  local nodes; nodes=$(docker node ls -q | wc -l)
  rc=$(awk -v a="$rc" -v n="$nodes" -v e="$EDGE_RES_CPUS" -v p="$PROMETHEUS_RES_CPUS" -v am="$ALERTMANAGER_RES_CPUS" \
    -v ne="$NODE_EXPORTER_RES_CPUS" 'BEGIN{print a+e+p+am+ne*n}')
  rm=$((rm + EDGE_RES_MEMORY_MB + PROMETHEUS_RES_MEMORY_MB + ALERTMANAGER_RES_MEMORY_MB + NODE_EXPORTER_RES_MEMORY_MB * nodes))
  echo "$nc $nm $rc $rm"
}

# Redis servers of a platform: three (a replicated set, deploy/swarm/redis-sentinel.yml) when its
# REDIS_REPLICATED is true and three nodes carry the labels waitline.redis.<platform>.1 to .3;
# else one. A single-node swarm runs one whatever the row says; a swarm of several nodes without
# the labels is an error, not a silent single Redis.
redis_servers() {  # platform
  [[ $(setting "$1" REDIS_REPLICATED) == true ]] || { echo 1; return; }
  local labelled=0 n
  for n in 1 2 3; do
    docker node ls -q --filter "node.label=waitline.redis.$1.$n=true" | grep -q . && labelled=$((labelled + 1))
  done
  if ((labelled == 3)); then echo 3
  elif (($(docker node ls -q | wc -l) == 1)); then echo 1
  else die "$1: REDIS_REPLICATED is true but $labelled of the labels waitline.redis.$1.1 to .3 are on a node (deploy/ansible/site.yml sets them)"; fi
}

check_budget() {  # [override]; fails when development and qualification would exceed the budget
  local nc nm rc rm
  read -r nc nm rc rm < <(planned_sums "${1:-}")
  say "budget: dev+qualif limits ${nc} CPUs ${nm} MiB of ${NONPROD_BUDGET_CPUS} CPUs ${NONPROD_BUDGET_MEMORY_MB} MiB; production reserves ${rc} CPUs ${rm} MiB"
  awk -v a="$nc" -v b="$NONPROD_BUDGET_CPUS" 'BEGIN{exit !(a <= b + 1e-9)}' \
    || die "development and qualification would need ${nc} CPUs, over the budget of ${NONPROD_BUDGET_CPUS} (deploy/platforms.conf)"
  ((nm <= NONPROD_BUDGET_MEMORY_MB)) \
    || die "development and qualification would need ${nm} MiB, over the budget of ${NONPROD_BUDGET_MEMORY_MB} MiB (deploy/platforms.conf)"
  # On any node that may run production: the budget plus production's reservations must fit.
  local node cpus mem
  for node in $(docker node ls -q --filter role=manager; docker node ls -q --filter role=worker); do
    [[ $(docker node inspect "$node" --format '{{index .Spec.Labels "waitline.production"}}') == true ]] || continue
    read -r cpus mem < <(docker node inspect "$node" --format '{{.Description.Resources.NanoCPUs}} {{.Description.Resources.MemoryBytes}}')
    awk -v b="$NONPROD_BUDGET_CPUS" -v r="$rc" -v c="$cpus" -v bm="$NONPROD_BUDGET_MEMORY_MB" -v rm="$rm" -v m="$mem" \
      'BEGIN{exit !(b + r <= c/1e9 + 1e-9 && (bm + rm) * 1048576 <= m)}' \
      || say "WARNING: on node $node the non-production budget plus production's reservations exceed its $(awk -v c="$cpus" 'BEGIN{print c/1e9}') CPUs / $((mem / 1048576)) MiB: lower NONPROD_BUDGET_* for this machine"
  done
}

# The budget as the running services have it (docker service inspect): what the tests check.
live_budget() {
  local stack fmt nc=0 nm=0 rc=0 rm=0 missing=()
  # A global service (node_exporter) runs one task per node.
  local nodes; nodes=$(docker node ls -q | wc -l)
  fmt='{{.Spec.Name}} {{if .Spec.Mode.Global}}'$nodes'{{else}}{{.Spec.Mode.Replicated.Replicas}}{{end}} {{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.Resources.Reservations.NanoCPUs}} {{.Spec.TaskTemplate.Resources.Reservations.MemoryBytes}}'
  while read -r stack; do
    local ids; ids=$(docker service ls -q --filter "label=com.docker.stack.namespace=$stack")
    [[ -n $ids ]] || continue
    while read -r name n lc lm rsc rsm; do
      [[ $lc == 0 || $lm == 0 ]] && missing+=("$name has no CPU or memory limit")
      case $stack in
        *-dev | *-qualif) nc=$((nc + lc * n)); nm=$((nm + lm * n)) ;;
        *-prod | *-edge | *-monitoring)
          [[ $rsc == 0 || $rsm == 0 ]] && missing+=("$name has no reservation")
          rc=$((rc + rsc * n)); rm=$((rm + rsm * n)) ;;
      esac
    done < <(xargs docker service inspect --format "$fmt" <<<"$ids" | sed 's/<no value>/0/g')
  done < <(stacks)
  printf 'dev+qualif limits: %s CPUs %s MiB (budget %s CPUs %s MiB); production+proxy+monitoring reservations: %s CPUs %s MiB\n' \
    "$(awk -v a=$nc 'BEGIN{print a/1e9}')" $((nm / 1048576)) "$NONPROD_BUDGET_CPUS" "$NONPROD_BUDGET_MEMORY_MB" \
    "$(awk -v a=$rc 'BEGIN{print a/1e9}')" $((rm / 1048576))
  local ok=1
  ((${#missing[@]})) && { printf '  %s\n' "${missing[@]}"; ok=0; }
  awk -v a=$nc -v b="$NONPROD_BUDGET_CPUS" 'BEGIN{exit !(a/1e9 <= b + 1e-9)}' || { echo "  over the CPU budget"; ok=0; }
  ((nm / 1048576 <= NONPROD_BUDGET_MEMORY_MB)) || { echo "  over the memory budget"; ok=0; }
  if ((ok)); then echo "budget: ok"; else echo "budget: FAILED"; return 1; fi
}

# --- deployment ----------------------------------------------------------------------------------
load_images() {
  [[ -f .cache/images.env ]] || die "no .cache/images.env: build the images first (make images)"
  # shellcheck source=/dev/null
  . .cache/images.env
  export WAITLINE_IMAGE WAITLINE_REDIS_IMAGE WAITLINE_PROXY_IMAGE WAITLINE_REDIS_EXPORTER_IMAGE \
    WAITLINE_PROMETHEUS_IMAGE WAITLINE_ALERTMANAGER_IMAGE WAITLINE_NODE_EXPORTER_IMAGE
  [[ -n ${WAITLINE_NODE_EXPORTER_IMAGE:-} ]] || die "the monitoring images are missing: rebuild the images (make images)"
}

# docker stack deploy, without the newer clients' notice about --detach (older ones lack the flag).
stack_deploy() {  # stack compose-file...
  local stack=$1 file files=()
  shift
  for file; do files+=(-c "$file"); done
  WAITLINE_STACK=$stack docker stack deploy --resolve-image never --prune "${files[@]}" "$stack" 2>&1 >/dev/null |
    { grep -v -e 'detach' -e 'future release' -e 'tasks will be created in the background' >&2 || true; }
}

ensure_network() {
  docker network inspect "$1" >/dev/null 2>&1 && return
  say "creating network $1"
  # Internal: no route out of the host from the queues; only the proxy, also on its own outside
  # network, is reachable from clients.
  docker network create --driver overlay --internal --attachable --label "waitline.project=$project" "$1" >/dev/null
}

# The network's subnets, comma-separated. `docker network create` returns before the Swarm
# leader has allocated the overlay's subnet (moby/moby#30426): until then inspect shows none.
network_subnets() {  # network
  local subnets i
  for ((i = 0; i < 60; i++)); do
    subnets=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}},{{end}}' "$1")
    [[ -n $subnets ]] && { echo "${subnets%,}"; return; }
    sleep 0.5
  done
  die "no subnet for network $1 after 30 s: see docker network inspect $1"
}

# The stack file of one platform: deploy/swarm/platform.yml with each block between "--- each queue"
# and "--- end of each queue" written once per queue, its placeholders filled in: the queue's name,
# its label (empty: the service's default), its replicas (as many as run now, so that a scale
# survives make up; 1 for a new queue) and the digests of its secrets.
render_platform() {  # platform
  local p=$1 line q label_of in_block=0 block=()
  while IFS= read -r line; do
    case $line in
      *"# --- each queue") in_block=1; block=() ;;
      *"# --- end of each queue")
        in_block=0
        for q in "${queues[@]}"; do
          for line in "${block[@]}"; do
            line=${line//<queue>/$q}
            label_of=label_$q
            line=${line//<label>/${!label_of:-}}
            [[ $line == *"<replicas>"* ]] &&
              line=${line//<replicas>/$(replicas "$project-${p}_$q" "$(setting "$p" QUEUE_REPLICAS)")}
            [[ $line == *"<keys-digest>"* ]] && line=${line//<keys-digest>/$(digest "$secrets_dir/$p/$q.keys")}
            [[ $line == *"<redis-password-digest>"* ]] &&
              line=${line//<redis-password-digest>/$(digest "$secrets_dir/$p/redis/$q.password")}
            [[ ! $line =~ \<[a-z-]+\> ]] || die "deploy/swarm/platform.yml: unknown placeholder in: $line"
            printf '%s\n' "$line"
          done
        done ;;
      *) if ((in_block)); then block+=("$line"); else printf '%s\n' "$line"; fi ;;
    esac
  done <deploy/swarm/platform.yml
  ((!in_block)) || die "deploy/swarm/platform.yml: a block \"--- each queue\" has no end"
}

# The Swarm secrets of queues no longer in deploy/platforms.conf: their services are gone, their keys
# and Redis users revoked (scripts/platform/secrets.sh); nothing keeps these copies.
prune_removed_queues() {  # platform
  local stack=$project-$1 name
  while read -r name; do
    [[ $name =~ ^${stack}_([a-z][a-z0-9]*)_(api_keys|redis_password)_[0-9a-f]{12}$ ]] || continue
    [[ ${BASH_REMATCH[1]} == exporter || " ${queues[*]} " == *" ${BASH_REMATCH[1]} "* ]] && continue
    docker secret rm "$name" >/dev/null || warn "could not remove secret $name"
    say "removed secret $name (queue ${BASH_REMATCH[1]} is no longer listed)"
  done < <(docker secret ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}}')
}

deploy_platform() {
  local p=$1 q key
  local stack=$project-$p
  [[ -s $secrets_dir/$p/redis/users.acl ]] || die "no secrets in $secrets_dir: run scripts/platform/secrets.sh"
  for q in "${queues[@]}"; do
    [[ -s $secrets_dir/$p/$q.keys ]] || die "no keys of queue $q in $secrets_dir/$p: run scripts/platform/secrets.sh"
  done
  ensure_network "$project-$p-front"
  mkdir -p "$stack_dir"
  render_platform "$p" >"$stack_dir/$p.yml"
  for key in "${service_settings[@]}"; do echo "$key=$(setting "$p" "$key")"; done >"$stack_dir/$p.env"
  (
    export PLATFORM=$p HEALTHCHECK_TIMEOUT SERVICE_ENV_FILE=$stack_dir/$p.env
    for key in "${platform_keys[@]}"; do export "$key=$(setting "$p" "$key")"; done
    # The queues believe X-Forwarded-For only from their front network: the proxy (and Prometheus).
    export QUEUE_TRUSTED_PROXIES
    QUEUE_TRUSTED_PROXIES=$(network_subnets "$project-$p-front")
    export REDIS_ACL_DIGEST REDIS_HEALTHCHECK_PASSWORD_DIGEST REDIS_EXPORTER_PASSWORD_DIGEST TICKET_SECRET_DIGEST
    TICKET_SECRET_DIGEST=$(digest "$secrets_dir/$p/ticket.secret")
    REDIS_ACL_DIGEST=$(digest "$secrets_dir/$p/redis/users.acl")
    REDIS_HEALTHCHECK_PASSWORD_DIGEST=$(digest "$secrets_dir/$p/redis/healthcheck.password")
    REDIS_EXPORTER_PASSWORD_DIGEST=$(digest "$secrets_dir/$p/redis/exporter.password")
    local files=("$stack_dir/$p.yml")
    local servers; servers=$(redis_servers "$p")
    export REDIS_SENTINELS="" REDIS_ACK_REPLICAS=0
    if ((servers == 3)); then
      # Three servers and three Sentinels, each on its node's own volume (no shared filesystem);
      # a change is answered once a replica holds it.
      REDIS_SENTINELS=sentinel-1:26379,sentinel-2:26379,sentinel-3:26379 REDIS_ACK_REPLICAS=1
      export REDIS_REPLICA_PASSWORD_DIGEST REDIS_SENTINEL_PASSWORD_DIGEST SENTINEL_ACL_DIGEST REDIS_SET_ACL_DIGEST
      REDIS_REPLICA_PASSWORD_DIGEST=$(digest "$secrets_dir/$p/redis/replica.password")
      REDIS_SENTINEL_PASSWORD_DIGEST=$(digest "$secrets_dir/$p/redis/sentinel.password")
      SENTINEL_ACL_DIGEST=$(digest "$secrets_dir/$p/redis/sentinel.acl")
      REDIS_SET_ACL_DIGEST=$(digest "$secrets_dir/$p/redis/users-replicated.acl")
      files+=(deploy/swarm/redis-sentinel.yml)
    elif [[ -n $redis_data_root ]]; then
      export REDIS_DATA_DIR=$redis_data_root/$p/redis
      files+=(deploy/swarm/redis-shared-storage.yml)
    fi
    stack_deploy "$stack" "${files[@]}"
  )
  say "deployed $stack"
}

deploy_edge() {
  local stack=$project-edge
  ensure_network "$project-monitoring-front"
  (
    export WAITLINE_HTTP_PORT=$http_port WAITLINE_HTTPS_PORT=$https_port QUEUES="${queues[*]}"
    export EDGE_REPLICAS EDGE_CPUS EDGE_MEMORY_MB EDGE_RES_CPUS EDGE_RES_MEMORY_MB "${!EDGE_LIMIT_@}"
    export TLS_CERT_DIGEST TLS_KEY_DIGEST MONITORING_HTPASSWD_DIGEST
    TLS_CERT_DIGEST=$(digest "$secrets_dir/tls.crt"); TLS_KEY_DIGEST=$(digest "$secrets_dir/tls.key")
    MONITORING_HTPASSWD_DIGEST=$(digest "$secrets_dir/monitoring.htpasswd")
    stack_deploy "$stack" deploy/swarm/edge.yml
  )
  say "deployed $stack (HTTP $http_port, HTTPS $https_port)"
}

# Every service of our stacks runs as many tasks as it wants, each of them running (healthy: a
# task with a health check is "running" only once healthy), and no update is still rolling.
# Three engine calls a round whatever the number of services: one call per service and stack
# (35 of them, 2.9 s of CPU every 2 s) took the CPU the starting containers needed.
wait_converged() {
  local deadline=$((SECONDS + wait_timeout)) pending names name reps state out ours
  ours="^($(stacks | paste -sd '|'))_"   # service names are <stack>_<service>
  while :; do
    pending=() names=()
    # Replicas reads "1/1", or "1/1 (max 1 per node)" with a per-node maximum.
    while read -r name reps _; do
      [[ $name =~ $ours ]] || continue
      names+=("$name")
      [[ ${reps%%/*} == "${reps#*/}" ]] || pending+=("$name $reps")
    done < <(docker service ls --format '{{.Name}} {{.Replicas}}')
    ((${#names[@]})) || die "no service of project $project is deployed (WAITLINE_PROJECT; make up deploys it)"
    # A service removed between two calls fails the call: that round counts as not converged.
    if out=$(docker service inspect "${names[@]}" \
               --format '{{.Spec.Name}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' 2>&1); then
      while read -r name state; do
        [[ $state == updating || $state == rollback_started ]] && pending+=("$name $state")
      done <<<"$out"
    else pending+=("$out"); fi
    if out=$(docker service ps "${names[@]}" --filter desired-state=running \
               --format '{{.Name}} {{.CurrentState}}' 2>&1); then
      while read -r name state; do
        [[ -n $name && $state != Running* ]] && pending+=("$name $state")
      done <<<"$out"
    else pending+=("$out"); fi
    ((${#pending[@]} == 0)) && return 0
    if ((SECONDS > deadline)); then
      printf 'swarm: not converged after %d s:\n' "$wait_timeout" >&2
      printf '  %s\n' "${pending[@]}" >&2
      return 1
    fi
    sleep 2
  done
}

# --- monitoring ----------------------------------------------------------------------------------
# The files the monitoring stack mounts: copies of observability/, shortened by the test profile
# (scripts/platform/monitoring.py says how).
render_monitoring() {  # profile out-dir
  "$root/scripts/platform/monitoring.py" "$1" "$2" --source "${WAITLINE_OBSERVABILITY_DIR:-observability}"
}

# The second compose file of the monitoring stack: one config per rule file and per dashboard,
# named by a digest of its name and content.
monitoring_configs() {  # stack out-dir
  local stack=$1 out=$2 f d
  echo "# generated by scripts/platform/swarm.sh from observability/; do not edit"
  echo 'version: "3.9"'
  echo "services:"
  echo "  prometheus:"
  echo "    configs:"
  for f in "$out"/prometheus/rules/*.yml; do
    [[ -e $f ]] && echo "      - { source: rule_$(digest_of_file "$f"), target: /etc/prometheus/rules/$(basename "$f") }"
  done
  echo "  grafana:"
  echo "    configs:"
  for f in "$out"/dashboards/*.json; do
    [[ -e $f ]] && echo "      - { source: dashboard_$(digest_of_file "$f"), target: /var/lib/grafana/dashboards/waitline/$(basename "$f") }"
  done
  echo "configs:"
  for f in "$out"/prometheus/rules/*.yml "$out"/dashboards/*.json; do
    [[ -e $f ]] || continue
    d=$(digest_of_file "$f")
    local kind=rule; [[ $f == *.json ]] && kind=dashboard
    echo "  ${kind}_$d: { name: ${stack}_${kind}_$d, file: $f }"
  done
}
digest_of_file() { { basename "$1"; cat "$1"; } | sha256sum | cut -c1-12; }

# Upstream images (Grafana, cAdvisor): 1 when present here or pullable within 20 s, else 0.
upstream_available() {
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  timeout 20 docker pull -q "$1" >/dev/null 2>&1
}

deploy_monitoring() {
  local stack=$project-monitoring out=$monitoring_dir
  [[ -e $secrets_dir/alertmanager/chat_webhook_url && -s $secrets_dir/grafana_admin_password ]] || die "no Alertmanager secrets in $secrets_dir: run scripts/platform/secrets.sh"
  render_monitoring "$monitoring_profile" "$out/files"
  monitoring_configs "$stack" "$out/files" >"$out/configs.yml"
  local grafana=0 cadvisor=0
  if upstream_available "$GRAFANA_IMAGE"; then grafana=1; else
    say "Grafana: image $GRAFANA_IMAGE cannot be pulled here; dashboards are in observability/dashboards, Prometheus is at https://prometheus.$domain$https_suffix/"
  fi
  if upstream_available "$CADVISOR_IMAGE"; then cadvisor=$(docker node ls -q | wc -l); else
    say "cAdvisor: image $CADVISOR_IMAGE cannot be pulled here; running containers are counted from the Docker engine's metrics"
  fi
  (
    export MONITORING_DIR=$out/files
    export PROMETHEUS_URL=https://prometheus.$domain$https_suffix/ ALERTMANAGER_URL=https://alertmanager.$domain$https_suffix/
    export GRAFANA_URL=https://grafana.$domain$https_suffix/
    export GRAFANA_REPLICAS=$grafana CADVISOR_REPLICAS=$cadvisor GRAFANA_IMAGE CADVISOR_IMAGE
    export PROMETHEUS_RETENTION_TIME PROMETHEUS_RETENTION_SIZE
    local service key
    for service in PROMETHEUS ALERTMANAGER NODE_EXPORTER GRAFANA CADVISOR; do
      for key in CPUS MEMORY_MB RES_CPUS RES_MEMORY_MB; do export "${service}_$key"; done
    done
    export PROMETHEUS_YML_DIGEST ALERTMANAGER_YML_DIGEST GRAFANA_DATASOURCE_DIGEST GRAFANA_DASHBOARDS_DIGEST ENGINE_RELAY_CONF_DIGEST
    ENGINE_RELAY_CONF_DIGEST=$(digest deploy/swarm/engine-relay.conf)
    PROMETHEUS_YML_DIGEST=$(digest "$out/files/prometheus/prometheus.yml")
    ALERTMANAGER_YML_DIGEST=$(digest "$out/files/alertmanager/alertmanager.yml")
    GRAFANA_DATASOURCE_DIGEST=$(digest "$out/files/grafana/provisioning/datasources/prometheus.yml")
    GRAFANA_DASHBOARDS_DIGEST=$(digest "$out/files/grafana/provisioning/dashboards/waitline.yml")
    export SMTP_PASSWORD_DIGEST CHAT_WEBHOOK_URL_DIGEST GRAFANA_ADMIN_PASSWORD_DIGEST
    GRAFANA_ADMIN_PASSWORD_DIGEST=$(digest "$secrets_dir/grafana_admin_password")
    SMTP_PASSWORD_DIGEST=$(digest "$secrets_dir/alertmanager/smtp_password")
    CHAT_WEBHOOK_URL_DIGEST=$(digest "$secrets_dir/alertmanager/chat_webhook_url")
    stack_deploy "$stack" deploy/swarm/monitoring.yml "$out/configs.yml"
  )
  say "deployed $stack (profile $monitoring_profile)"
}

print_urls() {
  local s="" h=""
  [[ $https_port != 443 ]] && s=":$https_port"
  [[ $http_port != 80 ]] && h=":$http_port"
  cat <<EOF

waitline ($project) is up: three platforms, ${#queues[@]} queues each (${queues[*]}).
  production     https://prod.$domain$s/<queue>/...   (also https://$domain$s/; http://...$h/ redirects to HTTPS)
  qualification  https://qualif.$domain$s/<queue>/...
  development    https://dev.$domain$s/<queue>/...
  API documentation:  https://prod.$domain$s/rubis/docs
  API keys:           $secrets_dir/<platform>/api-keys.txt   (one file per platform, mode 0600; never printed)
  TLS certificate:    $secrets_dir/tls.crt        (self-signed; curl --cacert it, or -k)
  try:  curl --cacert $secrets_dir/tls.crt -X POST -H "Authorization: Bearer <key>" https://prod.$domain$s/rubis/get_ticket
  monitoring:         https://prometheus.$domain$s/  https://alertmanager.$domain$s/  https://grafana.$domain$s/
                      user monitoring, password in $secrets_dir/monitoring_password
EOF
}

cmd_up() {
  load_images
  check_budget
  for p in "${platforms[@]}"; do deploy_platform "$p"; done
  deploy_edge
  deploy_monitoring
  say "waiting for every service (up to $wait_timeout s)"
  wait_converged
  for p in "${platforms[@]}"; do prune_removed_queues "$p"; done
  print_urls
}

remove_stacks() {
  local stack present
  for stack in $project-monitoring $project-edge "${platforms[@]/#/$project-}"; do
    if [[ -n $(docker service ls -q --filter "label=com.docker.stack.namespace=$stack") ]] ||
       [[ -n $(docker network ls -q --filter "label=com.docker.stack.namespace=$stack") ]]; then
      docker stack rm "$stack" >/dev/null
      say "removing $stack"
    fi
  done
  # Stack removal is asynchronous: wait for the containers, then the networks, to be gone.
  local deadline=$((SECONDS + 120))
  while :; do
    present=""
    for stack in $(stacks); do
      present+=$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")
      present+=$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")
    done
    [[ -z $present ]] && break
    ((SECONDS > deadline)) && die "stacks still being removed after 120 s"
    sleep 1
  done
  for p in "${platforms[@]}" monitoring; do
    local net=$project-$p-front
    docker network inspect "$net" >/dev/null 2>&1 || continue
    for _ in $(seq 1 30); do docker network rm "$net" >/dev/null 2>&1 && break; sleep 1; done
  done
}

cmd_down() {
  remove_stacks
  say "stacks removed; data kept in volumes: $(docker volume ls -q --filter "name=^$project-" | tr '\n' ' ')"
}

cmd_destroy() {
  remove_stacks
  local v
  for v in $(docker volume ls -q --filter "name=^$project-(dev|qualif|prod|monitoring)_"); do
    for _ in $(seq 1 30); do docker volume rm "$v" >/dev/null 2>&1 && break; sleep 1; done
    say "removed volume $v"
  done
  rm -rf "$monitoring_dir" "$stack_dir"  # the rendered copies of observability/ and the stack files it deployed
}

cmd_status() {
  local stack
  for stack in $(stacks); do
    echo "== $stack"
    docker stack services "$stack" --format 'table {{.Name}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}' 2>/dev/null || echo "(not deployed)"
  done
  echo
  live_budget || true
  print_urls
}

cmd_scale() {
  local p=${1:-} q=${2:-} n=${3:-}
  check_platform "$p"
  [[ " ${queues[*]} " == *" $q "* ]] || die "QUEUE must be one of: ${queues[*]}"
  [[ $n =~ ^[0-9]+$ && $n -le 20 ]] || die "REPLICAS must be a number from 0 to 20"
  local svc=$project-${p}_$q
  docker service inspect "$svc" >/dev/null 2>&1 || die "$svc is not deployed (make up)"
  check_budget "$svc=$n"
  docker service scale -d "$svc=$n" >/dev/null
  say "scaling $svc to $n"
  wait_converged
  say "$svc: $(docker service ls --filter "name=$svc" --format '{{.Replicas}}') replicas running"
}

check_platform() { [[ " ${platforms[*]} " == *" ${1:-} "* ]] || die "PLATFORM must be one of: ${platforms[*]}"; }

cmd_backup() {
  local p=${1:-} file=${2:-}
  check_platform "$p"
  [[ -n $file ]] || die "usage: swarm.sh backup PLATFORM FILE"
  load_images
  local dir; dir=$(realpath -m "$(dirname "$file")"); mkdir -p "$dir"
  # A one-off container on the platform's back network reads a snapshot over Redis's replication
  # protocol: consistent, and the server keeps serving.
  docker run --rm --network "$project-${p}_back" --user 0:0 \
    -v "$secrets_dir/$p/redis/backup.password:/run/secrets/redis_password:ro" -v "$dir:/backup" \
    "$WAITLINE_REDIS_IMAGE" backup "/backup/$(basename "$file")" >/dev/null
  say "backup of $p's Redis: $dir/$(basename "$file") ($(stat -c %s "$dir/$(basename "$file")") bytes)"
}

cmd_restore() {
  local p=${1:-} file=${2:-}
  check_platform "$p"
  [[ -s $file ]] || die "usage: swarm.sh restore PLATFORM FILE (an RDB snapshot from swarm.sh backup)"
  load_images
  local svc=$project-${p}_redis vol=$project-${p}_redis-data
  docker service inspect "$svc" >/dev/null 2>&1 || die "$svc is not deployed (make up)"
  [[ $(redis_servers "$p") == 1 ]] ||
    die "$p's Redis is replicated: restore it as docs/livrables/guide-orchestrateur.md says (Redis replicated)"
  say "stopping $svc (the $p queues answer 503 meanwhile)"
  docker service scale -d "$svc=0" >/dev/null
  local deadline=$((SECONDS + 120))
  while [[ -n $(docker ps -q --filter "label=com.docker.swarm.service.name=$svc") ]]; do
    ((SECONDS < deadline)) || die "$svc did not stop"; sleep 1
  done
  local dir; dir=$(realpath "$(dirname "$file")")
  docker run --rm --user 0:0 -v "$vol:/data" -v "$dir:/backup:ro" "$WAITLINE_REDIS_IMAGE" \
    restore "/backup/$(basename "$file")"
  docker service scale -d "$svc=1" >/dev/null
  wait_converged
  say "$p's Redis restored from $file"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  destroy) cmd_destroy ;;
  status) cmd_status ;;
  scale) shift; cmd_scale "$@" ;;
  budget) live_budget ;;
  wait) wait_converged ;;
  backup) shift; cmd_backup "$@" ;;
  restore) shift; cmd_restore "$@" ;;
  render) check_platform "${2:-}"; render_platform "$2" ;;
  render-monitoring) render_monitoring "${2:-}" "${3:?usage: swarm.sh render-monitoring PROFILE DIR}" ;;
  *) usage_from_header "$0"; exit 2 ;;
esac
