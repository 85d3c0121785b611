{{/* Names, labels and the pieces every pod shares. */}}

{{- define "waitline.labels" -}}
app.kubernetes.io/name: waitline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: waitline
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
waitline/platform: {{ .Values.platform }}
{{- end }}

{{/* Selector of one component: (dict "root" $ "component" "queue-rubis") */}}
{{- define "waitline.selectorLabels" -}}
app.kubernetes.io/name: waitline
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of an object of one component. */}}
{{- define "waitline.componentLabels" -}}
{{ include "waitline.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* repository@digest or repository:tag; refuses an empty or `latest` tag. (dict "image" ... "what" ...) */}}
{{- define "waitline.image" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{- if or (not .image.tag) (eq (toString .image.tag) "latest") -}}
{{- fail (printf "%s: set a pinned tag or a digest (not empty, not latest)" .what) -}}
{{- end -}}
{{ .image.repository }}:{{ .image.tag }}
{{- end -}}
{{- end }}

{{/* Host names of the platform, as the Swarm proxy (deploy/docker/proxy/nginx.conf). */}}
{{- define "waitline.hostnames" -}}
{{- if eq .Values.platform "prod" -}}
- {{ .Values.domain | quote }}
- {{ printf "prod.%s" .Values.domain | quote }}
{{- else -}}
- {{ printf "%s.%s" .Values.platform .Values.domain | quote }}
{{- end }}
{{- end }}

{{/* The Gateway's HTTPS listeners of the platform, one per host name above, as a JSON list. */}}
{{- define "waitline.listeners" -}}
{{- if eq .Values.platform "prod" -}}
["https-prod-apex", "https-prod"]
{{- else -}}
{{ list (printf "https-%s" .Values.platform) | toJson }}
{{- end }}
{{- end }}

{{- define "waitline.redisSecretName" -}}
{{ .Values.redis.auth.existingSecret | default (printf "%s-redis" .Release.Name) }}
{{- end }}

{{- define "waitline.apiKeysSecretName" -}}
{{ .Values.apiKeys.existingSecret | default (printf "%s-api-keys" .Release.Name) }}
{{- end }}

{{/* Pod-level settings of every pod: Pod Security "restricted", no API token, priority. (dict "root" $ "uid" N) */}}
{{- define "waitline.podSecurity" -}}
automountServiceAccountToken: false
enableServiceLinks: false
priorityClassName: {{ .root.Values.priorityClassName }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .uid }}
  fsGroup: {{ .uid }}
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{/* Container-level settings of every container: restricted, read-only root filesystem. */}}
{{- define "waitline.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end }}

{{/* Spread a component's replicas over nodes. (dict "root" $ "component" ...) */}}
{{- define "waitline.topologySpread" -}}
topologySpreadConstraints:
  - maxSkew: {{ .root.Values.topologySpread.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ .root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "waitline.selectorLabels" . | nindent 8 }}
    matchLabelKeys: ["pod-template-hash"]
{{- end }}

{{/* The helm-test key's line, added to each queue's key file the chart creates. */}}
{{- define "waitline.testKeyLine" -}}
{{- if and .Values.tests.enabled .Values.tests.apiKey -}}
helm-test read {{ .Values.tests.apiKey | trim | sha256sum }}
{{- end -}}
{{- end }}

{{/* A NetworkPolicy peer: every pod of the namespace named so. */}}
{{- define "waitline.namespaceSelector" -}}
namespaceSelector:
  matchLabels: { kubernetes.io/metadata.name: {{ . }} }
{{- end }}

{{/* The Sentinels of a replicated Redis, host:port,... (the pods of the Redis StatefulSet). */}}
{{- define "waitline.sentinels" -}}
{{- $name := printf "%s-redis" .Release.Name }}
{{- $list := list }}
{{- range $i := until 3 }}{{ $list = append $list (printf "%s-%d.%s:26379" $name $i $name) }}{{ end }}
{{- join "," $list }}
{{- end }}
