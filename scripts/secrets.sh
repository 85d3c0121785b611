#!/usr/bin/env bash
# Creates, once, what a waitline deployment keeps secret, in $WAITLINE_SECRETS_DIR (default
# .secrets/<project>/, ignored by git, readable by its owner only):
#   <platform>/redis_password    random, one per platform (dev, qualif, prod)
#   <platform>/<queue>.keys      the queue's API key file: names, scopes, SHA-256 of the keys
#   api-keys.txt                 the keys themselves, to hand to clients: platform queue name key
#   tls.crt, tls.key             a self-signed certificate for the proxy (<domain>, prod.<domain>,
#                                dev.<domain>, qualif.<domain>, 127.0.0.1)
#   alertmanager/smtp_password   the SMTP password of alert mail: an empty line (a relay without
#                                login; Docker refuses an empty secret); write the real one there
#                                when the relay needs it
#   alertmanager/chat_webhook_url  the chat channel's incoming-webhook URL (Slack format): a
#                                placeholder under .invalid, a domain that never resolves (RFC 6761),
#                                so chat notifications fail harmlessly, and visibly in Alertmanager's
#                                log, until the operator writes the real URL there
#   grafana_admin_password       Grafana's `admin` password (where Grafana runs), random
#   <platform>/helm-test.key     the key `helm test` takes and calls a ticket with, on Kubernetes
#                                (the chart adds its hash to every queue's key file)
# After editing one of these, `make up` rolls the services that use it (docs/deploy-swarm.md).
# Idempotent: an existing file is kept; delete one and run again to rotate it (`make up` then
# rolls the services that use it). Each queue gets two keys: "desk" (take, call, read: the
# counter's application) and "screen" (read only: the waiting-room display).
set -euo pipefail
cd "$(dirname "$0")/.."

project=${WAITLINE_PROJECT:-waitline}
dir=${WAITLINE_SECRETS_DIR:-.secrets/$project}
domain=${WAITLINE_DOMAIN:-localhost}
platforms=(dev qualif prod)
queues=(rubis saphir emeraude diamant)

umask 077
mkdir -p "$dir"
keys_txt=$dir/api-keys.txt
[[ -e $keys_txt ]] || printf '# waitline API keys (%s): platform queue name key. Send them as "Authorization: Bearer <key>".\n' "$project" >"$keys_txt"

new_key() { echo "wl_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')"; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

created=0
for platform in "${platforms[@]}"; do
  mkdir -p "$dir/$platform"
  if [[ ! -s $dir/$platform/redis_password ]]; then
    openssl rand -hex 32 >"$dir/$platform/redis_password"
    created=$((created + 1))
  fi
  if [[ ! -s $dir/$platform/helm-test.key ]]; then
    new_key >"$dir/$platform/helm-test.key"
    created=$((created + 1))
  fi
  for queue in "${queues[@]}"; do
    file=$dir/$platform/$queue.keys
    [[ -s $file ]] && continue
    # Drop the old plain keys of this queue, if any: they no longer match the new file.
    sed -i "/^$platform $queue /d" "$keys_txt"
    {
      echo "# API keys of the $queue queue on $platform (make up); the keys are in ../api-keys.txt"
      echo "# name scopes sha256"
    } >"$file"
    for role in desk:take,call,read screen:read; do
      name=${role%%:*} scopes=${role#*:}
      key=$(new_key)
      echo "$name $scopes $(sha256 "$key")" >>"$file"
      echo "$platform $queue $name $key" >>"$keys_txt"
    done
    created=$((created + 1))
  done
done

if [[ ! -s $dir/tls.crt || ! -s $dir/tls.key ]]; then
  san="DNS:$domain,DNS:prod.$domain,DNS:dev.$domain,DNS:qualif.$domain,IP:127.0.0.1"
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
echo "secrets: $dir ($created created)"
