{{/*
The prefix of every object's name: the release name, followed by the chart's name unless the
release name already holds it. A release named vpp-operator gets the kustomize install's names.
*/}}
{{- define "vpp-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* A name of the form <fullname>-<suffix>, within the 63 characters of a label value. */}}
{{- define "vpp-operator.name" -}}
{{- printf "%s-%s" (include "vpp-operator.fullname" .root) .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vpp-operator.managerName" -}}
{{- include "vpp-operator.name" (dict "root" . "suffix" "controller-manager") }}
{{- end }}

{{/*
Labels of every object. app.kubernetes.io/name is the chart's name in every release: the
ServiceMonitor makes it the job label of the scraped series, which the alerts select on.
*/}}
{{- define "vpp-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select the manager's pods. */}}
{{- define "vpp-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end }}

{{/* The labels that select the metrics Service. */}}
{{- define "vpp-operator.metricsSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics
{{- end }}

{{/* The ServiceAccount the manager runs as, as a subject of role bindings. */}}
{{- define "vpp-operator.subjects" -}}
- kind: ServiceAccount
  name: {{ include "vpp-operator.managerName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{- define "vpp-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The metrics port's name on the Service: https, or http when metrics.secure is false. */}}
{{- define "vpp-operator.metricsScheme" -}}
{{- ternary "https" "http" .Values.metrics.secure }}
{{- end }}

{{/*
Checks between values that the schema cannot express; each failure says which values to change.
*/}}
{{- define "vpp-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail (cat
  (printf "replicas is %d but leaderElection.enabled is false:" (int .Values.replicas))
  "more than one replica needs leader election, or every replica calls Graph for every token;"
  "set leaderElection.enabled=true or replicas=1") }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail (cat
  "serviceMonitor.enabled is true but metrics.enabled is false: the ServiceMonitor would"
  "scrape nothing; enable metrics or disable the ServiceMonitor") }}
{{- end }}
{{- if and .Values.networkPolicy.metricsFrom (not .Values.metrics.enabled) }}
{{- fail (cat
  "networkPolicy.metricsFrom is set but metrics.enabled is false: there is no metrics port"
  "to let anyone in to") }}
{{- end }}
{{- end }}

{{/* The manager's arguments, one per line, as a YAML list. */}}
{{- define "vpp-operator.args" -}}
- --health-probe-bind-address=:8081
{{- if .Values.leaderElection.enabled }}
- --leader-elect
{{- end }}
{{- if .Values.metrics.enabled }}
- --metrics-bind-address=:{{ .Values.metrics.port | int }}
- --metrics-secure={{ .Values.metrics.secure }}
{{- else }}
- --metrics-bind-address=0
{{- end }}
{{- with .Values.watchNamespaces }}
- --namespaces={{ join "," . }}
{{- end }}
{{- with .Values.manager }}
{{- with .graphEndpoint }}
- --graph-endpoint={{ . }}
{{- end }}
{{- with .authorityHost }}
- --authority-host={{ . }}
{{- end }}
{{- with .maxConcurrentReconciles }}
- --max-concurrent-reconciles={{ . | int }}
{{- end }}
{{- with .graphRequestTimeout }}
- --graph-request-timeout={{ . }}
{{- end }}
{{- with .appWriteLimit }}
- --app-write-limit={{ . | int }}
{{- end }}
{{- with .appWriteWindow }}
- --app-write-window={{ . }}
{{- end }}
{{- with .expiryWarning }}
- --expiry-warning={{ . }}
{{- end }}
{{- with .logLevel }}
- --zap-log-level={{ . }}
{{- end }}
{{- range .extraArgs }}
- {{ . }}
{{- end }}
{{- end }}
{{- end }}
