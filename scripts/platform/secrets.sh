#!/usr/bin/env bash
# Creates, once, what a waitline deployment keeps secret, in $WAITLINE_SECRETS_DIR (default
# .secrets/<project>/, ignored by git; directories 0700, files 0600, owner only):
#   <platform>/api-keys.txt      the platform's API keys, to hand to its clients: platform queue
#                                name key (one file per platform: dev's never holds production's)
#   <platform>/<queue>.keys      the queue's API key file: names, scopes, SHA-256 of the keys
#   <platform>/redis/<user>.password   one Redis ACL user each (docs/service.md, "Redis commands and
#                                keys"; docs/livrables/plan-de-remediation.md, S04): one per queue,
#                                named after it (its own keys only), exporter (server information
#                                only), backup (replication stream only), healthcheck (PING)
#   <platform>/redis/users.acl   the Redis server's ACL file: those users with the SHA-256 of their
#                                passwords and their rules (deploy/swarm/redis-users.conf), the
#                                default user off (rewritten from the passwords)
#   <platform>/redis/users-replicated.acl, sentinel.acl   the same for a replicated set's servers
#                                and for its Sentinels (deploy/swarm/redis-sentinel-users.conf), with
#                                the users replica and sentinel
#   <platform>/ticket.secret     signs the visitors' ticket links and the browsers' session cookies
#                                (--ticket-secret-file): every replica of the platform reads it
#   <platform>/redis_password    the Redis password of the Kubernetes chart (requirepass)
#   <platform>/helm-test.key     the read-only key `helm test` lists a queue with, on Kubernetes
#                                (the chart adds its hash to every queue's key file)
#   tls.crt, tls.key             a self-signed certificate for the proxy (<domain>, prod.<domain>,
#                                dev.<domain>, qualif.<domain>, the monitoring host names, 127.0.0.1)
#   monitoring_password          the password of user "monitoring" at https://prometheus.<domain>,
#                                alertmanager.<domain>, grafana.<domain> (the proxy asks for it)
#   monitoring.htpasswd          the proxy's copy: "monitoring:<bcrypt hash>"
#   monitoring-client.yml        for amtool and promtool (--http.config.file): that user, that
#                                password file and the certificate to trust
#   alertmanager/smtp_password   the SMTP password of alert mail: an empty line (a relay without
#                                login; Docker refuses an empty secret); write the real one there
#                                when the relay needs it
#   alertmanager/chat_webhook_url  the chat channel's incoming-webhook URL (Slack format): a
#                                placeholder under .invalid, a domain that never resolves (RFC 6761),
#                                so chat notifications fail harmlessly, and visibly in Alertmanager's
#                                log, until the operator writes the real URL there
#   grafana_admin_password       Grafana's `admin` password (where Grafana runs), random
# Nothing is printed but the directory and how many files were made.
#
#   scripts/platform/secrets.sh device-add PLATFORM QUEUE NAME ROLE  one screen's own key (ROLE kiosk, desk
#                                or screen); prints the key once, to type into that screen
#   scripts/platform/secrets.sh device-remove PLATFORM QUEUE NAME  revokes it: the key and its sessions
# Either takes effect with the next `make up` (the queue's key file is a Swarm secret: the queue
# rolls onto the new one). A key per device lets one lost device be revoked alone.
#
# The queues and platforms are those of deploy/platforms.conf. A queue removed from there has its
# key files, its lines of api-keys.txt and its Redis user deleted (revoked: `make up` then removes
# its service and the Swarm secrets holding them); its data stays in Redis.
#
# Idempotent: an existing file is kept; delete one and run again to rotate it (`make up` then
# rolls the services that use it). Each queue gets three keys: "desk" (take, call, read: a
# counter's page or application), "kiosk" (take, read: the ticket kiosk) and "screen" (read only:
# the waiting-room display). A queue's key file made before the kiosk key existed gains it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" secrets 2
cd "$root"

project=${WAITLINE_PROJECT:-waitline}
dir=${WAITLINE_SECRETS_DIR:-.secrets/$project}
domain=${WAITLINE_DOMAIN:-localhost}
# The platforms and queues of deploy/platforms.conf.
platforms=() queues=()
platform_settings=$(scripts/platform/platforms.py shell) || exit 2
eval "$platform_settings"

umask 077
mkdir -p "$dir"
chmod 700 "$dir"

new_key() { echo "wl_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')"; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The Redis ACL users of a platform and what each may do: deploy/swarm/redis-users.conf, one line
# each (`USER RULES...`), the `<queue>` line for every queue.
declare -A redis_rules=()
redis_users=()
while read -r user rules; do
  [[ -z $user || $user == \#* ]] && continue
  redis_rules[$user]=$rules
  if [[ $user == "<queue>" ]]; then redis_users+=("${queues[@]}")
  elif [[ $user != default ]]; then redis_users+=("$user"); fi
done <deploy/swarm/redis-users.conf
[[ -n ${redis_rules[default]:-} && -n ${redis_rules["<queue>"]:-} ]] \
  || die "deploy/swarm/redis-users.conf needs a line for default and one for <queue>"
redis_acl() {  # user -> its rules
  if [[ -n ${redis_rules[$1]:-} && $1 != "<queue>" ]]; then echo "${redis_rules[$1]}"
  else echo "${redis_rules["<queue>"]//<queue>/$1}"; fi
}
# What a replicated set adds: deploy/swarm/redis-sentinel-users.conf, `server|sentinel USER RULES...`.
declare -A set_rules=()
set_users=()
while read -r where user rules; do
  [[ -z $where || $where == \#* ]] && continue
  [[ $where == server || $where == sentinel ]] || die "deploy/swarm/redis-sentinel-users.conf: $where $user: not server or sentinel"
  set_rules[$where:$user]=$rules
  [[ $user == "<queue>" || -n ${redis_rules[$user]:-} || " ${set_users[*]} " == *" $user "* ]] || set_users+=("$user")
done <deploy/swarm/redis-sentinel-users.conf
set_acl() {  # server|sentinel user -> the rules the set adds (or gives) to user
  local rules=${set_rules[$1:$2]:-}
  [[ -n $rules || " ${queues[*]} " != *" $2 "* ]] || rules=${set_rules[$1:<queue>]:-}
  echo "${rules//<queue>/$2}"
}

# The scopes each kind of screen needs (docs/service.md, "The people's screens").
role_scopes() {  # role
  case $1 in
    desk) echo take,call,read ;;
    kiosk) echo take,read ;;
    screen) echo read ;;
    *) return 1 ;;
  esac
}

device() {  # add|remove platform queue name [role]
  local action=$1 platform=$2 queue=$3 name=$4 role=${5:-} scopes key
  [[ " ${platforms[*]} " == *" $platform "* ]] || die "PLATFORM must be one of ${platforms[*]} (got '$platform')"
  [[ " ${queues[*]} " == *" $queue "* ]] || die "QUEUE must be one of ${queues[*]} (got '$queue')"
  [[ $name =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "NAME must be 1 to 64 of A-Z a-z 0-9 _ . - (got '$name')"
  local file=$dir/$platform/$queue.keys keys_txt=$dir/$platform/api-keys.txt
  [[ -s $file ]] || die "$file is missing: run scripts/platform/secrets.sh (make up) first"
  if [[ $action == add ]]; then
    scopes=$(role_scopes "$role") || die "ROLE must be kiosk, desk or screen (got '$role')"
    grep -q "^$name " "$file" && die "$queue on $platform already has a key named $name"
    key=$(new_key)
    echo "$name $scopes $(sha256 "$key")" >>"$file"
    echo "$platform $queue $name $key" >>"$keys_txt"
    echo "secrets: key of $name ($role: $scopes) for $queue on $platform; type it into the device, then run make up:"
    echo "$key"
  else
    grep -q "^$name " "$file" || die "$queue on $platform has no key named $name"
    sed -i "/^$name /d" "$file"
    sed -i "/^$platform $queue $name /d" "$keys_txt"
    echo "secrets: key $name of $queue on $platform removed; run make up: its sessions end once the queue has rolled"
  fi
}
case ${1:-} in
  device-add) [[ $# -eq 5 ]] || die "usage: $0 device-add PLATFORM QUEUE NAME ROLE"
              device add "$2" "$3" "$4" "$5"; exit 0 ;;
  device-remove) [[ $# -eq 4 ]] || die "usage: $0 device-remove PLATFORM QUEUE NAME"
                 device remove "$2" "$3" "$4"; exit 0 ;;
  "") ;;
  *) die "usage: $0 [device-add PLATFORM QUEUE NAME ROLE | device-remove PLATFORM QUEUE NAME]" ;;
esac

# Before per-platform key files, one api-keys.txt held every platform's keys: split it, keep the keys.
if [[ -f $dir/api-keys.txt ]]; then
  for platform in "${platforms[@]}"; do
    mkdir -p "$dir/$platform"
    out=$dir/$platform/api-keys.txt
    [[ -s $out ]] || printf '# waitline API keys of %s (%s): platform queue name key. Send them as "Authorization: Bearer <key>".\n' "$platform" "$project" >"$out"
    awk -v p="$platform" '$1 == p' "$dir/api-keys.txt" >>"$out"
  done
  rm -f "$dir/api-keys.txt"
fi

created=0
# A queue no longer listed: its keys, its plain keys and its Redis user's password go (the ACL file
# below no longer names it); its data stays in Redis.
revoked=0
for platform in "${platforms[@]}"; do
  for file in "$dir/$platform"/*.keys; do
    [[ -e $file ]] || continue
    queue=$(basename "$file" .keys)
    [[ " ${queues[*]} " == *" $queue "* ]] && continue
    rm -f "$file" "$dir/$platform/redis/$queue.password"
    [[ ! -f $dir/$platform/api-keys.txt ]] || sed -i "/^$platform $queue /d" "$dir/$platform/api-keys.txt"
    say "revoked the keys and Redis user of queue $queue on $platform (not in deploy/platforms.conf; its data stays in Redis)"
    revoked=$((revoked + 1))
  done
done
for platform in "${platforms[@]}"; do
  mkdir -p "$dir/$platform/redis"
  keys_txt=$dir/$platform/api-keys.txt
  [[ -e $keys_txt ]] || printf '# waitline API keys of %s (%s): platform queue name key. Send them as "Authorization: Bearer <key>".\n' "$platform" "$project" >"$keys_txt"
  if [[ ! -s $dir/$platform/redis_password ]]; then
    openssl rand -hex 32 >"$dir/$platform/redis_password"
    created=$((created + 1))
  fi
  # Redis reads the file at start; it allows no comment lines.
  acl="user default $(redis_acl default)"
  for user in "${redis_users[@]}"; do
    pw=$dir/$platform/redis/$user.password
    if [[ ! -s $pw ]]; then
      openssl rand -hex 32 >"$pw"
      created=$((created + 1))
    fi
    acl+=$'\n'"user $user on #$(tr -d '\n' <"$pw" | sha256sum | cut -d' ' -f1) $(redis_acl "$user")"
  done
  [[ -f $dir/$platform/redis/users.acl && $(<"$dir/$platform/redis/users.acl") == "$acl" ]] || {
    echo "$acl" >"$dir/$platform/redis/users.acl"; created=$((created + 1)); }
  # A replicated set: the servers' users (the same, with what the set adds) and the Sentinels'.
  server_acl="user default $(redis_acl default)" sentinel_acl="user default off resetpass"
  for user in "${redis_users[@]}" "${set_users[@]}"; do
    pw=$dir/$platform/redis/$user.password
    if [[ ! -s $pw ]]; then
      openssl rand -hex 32 >"$pw"
      created=$((created + 1))
    fi
    hash=$(tr -d '\n' <"$pw" | sha256sum | cut -d' ' -f1)
    rules=$(set_acl server "$user")
    [[ -n ${redis_rules[$user]:-} || " ${queues[*]} " == *" $user "* ]] && rules="$(redis_acl "$user") $rules"
    [[ -z ${rules// /} ]] || server_acl+=$'\n'"user $user on #$hash $rules"
    rules=$(set_acl sentinel "$user")
    [[ -z $rules ]] || sentinel_acl+=$'\n'"user $user on #$hash $rules"
  done
  for name in users-replicated sentinel; do
    [[ $name == sentinel ]] && acl=$sentinel_acl || acl=$server_acl
    [[ -f $dir/$platform/redis/$name.acl && $(<"$dir/$platform/redis/$name.acl") == "$acl" ]] || {
      echo "$acl" >"$dir/$platform/redis/$name.acl"; created=$((created + 1)); }
  done
  if [[ ! -s $dir/$platform/ticket.secret ]]; then
    openssl rand -hex 32 >"$dir/$platform/ticket.secret"
    created=$((created + 1))
  fi
  if [[ ! -s $dir/$platform/helm-test.key ]]; then
    new_key >"$dir/$platform/helm-test.key"
    created=$((created + 1))
  fi
  for queue in "${queues[@]}"; do
    file=$dir/$platform/$queue.keys
    if [[ ! -s $file ]]; then
      # Drop the old plain keys of this queue, if any: they no longer match the new file.
      sed -i "/^$platform $queue /d" "$keys_txt"
      {
        echo "# API keys of the $queue queue on $platform (make up); the keys are in ./api-keys.txt"
        echo "# name scopes sha256"
      } >"$file"
    fi
    for name in desk kiosk screen; do
      scopes=$(role_scopes "$name")
      grep -q "^$name " "$file" && continue
      key=$(new_key)
      echo "$name $scopes $(sha256 "$key")" >>"$file"
      echo "$platform $queue $name $key" >>"$keys_txt"
      created=$((created + 1))
    done
  done
done

if [[ ! -s $dir/tls.crt || ! -s $dir/tls.key ]]; then
  san="DNS:$domain,DNS:prod.$domain,DNS:dev.$domain,DNS:qualif.$domain,DNS:prometheus.$domain,DNS:alertmanager.$domain,DNS:grafana.$domain,IP:127.0.0.1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=$domain/O=waitline ($project)" -addext "subjectAltName=$san" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  created=$((created + 1))
fi
mkdir -p "$dir/alertmanager"
if [[ ! -e $dir/alertmanager/smtp_password ]]; then
  echo >"$dir/alertmanager/smtp_password"
  created=$((created + 1))
fi
if [[ ! -s $dir/alertmanager/chat_webhook_url ]]; then
  echo "http://chat-webhook.invalid/set-the-real-url-in-alertmanager/chat_webhook_url" >"$dir/alertmanager/chat_webhook_url"
  created=$((created + 1))
fi
if [[ ! -s $dir/grafana_admin_password ]]; then
  openssl rand -hex 16 >"$dir/grafana_admin_password"
  created=$((created + 1))
fi
if [[ ! -s $dir/monitoring_password ]]; then
  openssl rand -hex 16 >"$dir/monitoring_password"
  rm -f "$dir/monitoring.htpasswd"
  created=$((created + 1))
fi
if [[ ! -s $dir/monitoring.htpasswd ]]; then
  scripts/platform/htpasswd.py monitoring <"$dir/monitoring_password" >"$dir/monitoring.htpasswd"
  created=$((created + 1))
fi
abs=$(realpath "$dir")
client="basic_auth: {username: monitoring, password_file: $abs/monitoring_password}
tls_config: {ca_file: $abs/tls.crt}"
[[ -f $dir/monitoring-client.yml && $(<"$dir/monitoring-client.yml") == "$client" ]] || {
  echo "$client" >"$dir/monitoring-client.yml"; created=$((created + 1)); }
# Owner only, whatever umask made them before.
find "$dir" -type d -exec chmod 700 {} + -o -type f -exec chmod 600 {} +
echo "secrets: $dir ($created created; $revoked revoked; API keys in $dir/<platform>/api-keys.txt, never printed)"
