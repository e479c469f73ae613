{{/* The name of every object: fullnameOverride, else the release name when it says modelgate, else <release>-modelgate. */}}
{{- define "modelgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "modelgate" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-modelgate" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelgate.labels" -}}
app.kubernetes.io/name: modelgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "modelgate.selectorLabels" -}}
app.kubernetes.io/name: modelgate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modelgate.tlsSecret" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "modelgate.fullname" .)) -}}
{{- end -}}

{{- define "modelgate.aiWebhookName" -}}
{{- printf "%s-ai-workloads" (include "modelgate.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The names the API server dials: the Service in the release namespace. */}}
{{- define "modelgate.serviceNames" -}}
{{- $svc := include "modelgate.fullname" . -}}
- {{ printf "%s.%s.svc" $svc .Release.Namespace }}
- {{ printf "%s.%s.svc.cluster.local" $svc .Release.Namespace }}
{{- end -}}

{{- define "modelgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The Config document's spec: the user's, plus what the chart's own values imply. */}}
{{- define "modelgate.configSpec" -}}
{{- $spec := deepCopy .Values.config -}}
{{- $credentials := dict -}}
{{- if hasKey $spec "credentials" }}{{ $credentials = deepCopy (get $spec "credentials") }}{{ end -}}
{{- if or .Values.registryCredentials.dockerConfigJson .Values.registryCredentials.existingSecret -}}
{{- $_ := set $credentials "dockerConfig" "/etc/modelgate/registry/config.json" -}}
{{- end -}}
{{- if .Values.pullSecrets }}{{ $_ := set $credentials "pullSecrets" true }}{{ end -}}
{{- if $credentials }}{{ $_ := set $spec "credentials" $credentials }}{{ end -}}
{{- if .Values.namespacedPolicies }}{{ $_ := set $spec "namespacedPolicies" true }}{{ end -}}
{{- toYaml $spec -}}
{{- end -}}

{{- define "modelgate.registrySecret" -}}
{{- .Values.registryCredentials.existingSecret | default (printf "%s-registry" (include "modelgate.fullname" .)) -}}
{{- end -}}

{{/* cert-manager: the Certificate whose CA the injector copies into caBundle. */}}
{{- define "modelgate.webhookAnnotations" -}}
{{- if eq .Values.tls.mode "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "modelgate.fullname" .) }}
{{- end }}
{{- end -}}

{{/* clientConfig: the Service, or webhook.url; caBundle only in secret mode (the other modes write it at run time). */}}
{{- define "modelgate.clientConfig" -}}
clientConfig:
  {{- if .Values.webhook.url }}
  url: {{ .Values.webhook.url | quote }}
  {{- else }}
  service:
    name: {{ include "modelgate.fullname" . }}
    namespace: {{ .Release.Namespace }}
    path: /validate
    port: 443
  {{- end }}
  {{- if eq .Values.tls.mode "secret" }}
  caBundle: {{ required "tls.secret.caBundle: the base64 PEM of the CA that signed the Secret's certificate" .Values.tls.secret.caBundle }}
  {{- end }}
{{- end -}}

{{- define "modelgate.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: ["kube-system", {{ .Release.Namespace | quote }}]
{{- end -}}
