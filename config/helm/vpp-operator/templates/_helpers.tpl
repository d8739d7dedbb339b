{{/*
The prefix of every object's name: the release name, followed by the chart's name unless the
release name already holds it. A release named vpp-operator gets the kustomize install's names.

Names are <prefix>-<suffix>, and a Service's name may not be longer than 63 characters, so the
prefix leaves room for the longest suffix, "controller-manager-metrics-service": 28
characters. A longer prefix is cut to 19 and ends in 8 characters of its SHA-256, so that no
suffix is ever cut, no two objects of a release share a name, and releases whose names differ
only further on do not share cluster-wide names.
*/}}
{{- define "vpp-operator.fullname" -}}
{{- $prefix := printf "%s-%s" .Release.Name .Chart.Name }}
{{- if contains .Chart.Name .Release.Name }}
{{- $prefix = .Release.Name }}
{{- end }}
{{- if gt (len $prefix) 28 }}
{{- $prefix = printf "%s-%s" ($prefix | trunc 19 | trimSuffix "-") ($prefix | sha256sum | trunc 8) }}
{{- end }}
{{- $prefix }}
{{- end }}

{{/*
A name of the form <fullname>-<suffix>. It is never cut: two cut names could be one, and a
binding would then grant another role's rules.
*/}}
{{- define "vpp-operator.name" -}}
{{- $name := printf "%s-%s" (include "vpp-operator.fullname" .root) .suffix }}
{{- if gt (len $name) 63 }}
{{- fail (printf "the name %s is longer than 63 characters: shorten its suffix, or the prefix the chart allows for it" $name) }}
{{- end }}
{{- $name }}
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

{{/* The image: repository@digest when image.digest is set, else repository:tag. */}}
{{- define "vpp-operator.image" -}}
{{- with .Values.image }}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (.tag | default $.Chart.AppVersion) }}
{{- end }}
{{- end }}
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
{{- if and .Values.prometheusRule.enabled (not .Values.metrics.enabled) }}
{{- fail (cat
  "prometheusRule.enabled is true but metrics.enabled is false: nothing would be scraped, so"
  "VppOperatorDown would fire for ever and the other alerts never; enable metrics or disable"
  "the PrometheusRule") }}
{{- end }}
{{- if and .Values.networkPolicy.metricsFrom (not .Values.metrics.enabled) }}
{{- fail (cat
  "networkPolicy.metricsFrom is set but metrics.enabled is false: there is no metrics port"
  "to let anyone in to") }}
{{- end }}
{{- /*
Keys the chart sets itself, which a value's map would silently replace (the last of two keys
wins): the pods' selector labels and default container, the monitors' chart labels.
*/}}
{{- $labels := include "vpp-operator.labels" . | fromYaml }}
{{- range list
  (list "podLabels" .Values.podLabels (include "vpp-operator.selectorLabels" . | fromYaml))
  (list "podAnnotations" .Values.podAnnotations (dict "kubectl.kubernetes.io/default-container" ""))
  (list "serviceMonitor.labels" .Values.serviceMonitor.labels
    (merge (dict "app.kubernetes.io/component" "") $labels))
  (list "prometheusRule.labels" .Values.prometheusRule.labels $labels) }}
{{- $value := index . 0 }}
{{- $owned := index . 2 }}
{{- range $key := index . 1 | keys | sortAlpha }}
{{- if hasKey $owned $key }}
{{- fail (printf "%s sets %s, which the chart sets itself: choose another key" $value $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* A repository with a tag or digest would get a second one appended. */}}
{{- if not (regexMatch "^[^@:/\\s]+((:[0-9]+)?(/[^@:/\\s]+)+)?$" .Values.image.repository) }}
{{- fail (printf "%s %q %s"
  "image.repository" .Values.image.repository
  "holds a tag or a digest: give the repository alone, set the tag in image.tag or the digest in image.digest") }}
{{- end }}
{{- /*
The OCI distribution grammar, which container runtimes check when they pull: lower-case path
components of letters and digits joined by ".", "_", "__" or dashes, after an optional registry
host, which is one only with a "." or a port in it, or localhost (any other first component is
a path on Docker Hub).
*/}}
{{- $component := "[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*" }}
{{- $label := "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?" }}
{{- $host := printf "(%s([.]%s)+(:[0-9]+)?|%s:[0-9]+|localhost)" $label $label $label }}
{{- if not (regexMatch (printf "^(%s/)?%s(/%s)*$" $host $component $component) .Values.image.repository) }}
{{- fail (printf "%s %q %s"
  "image.repository" .Values.image.repository
  "is not a repository a container runtime can pull: after an optional registry host[:port], give a lower-case path of letters and digits joined by ., _, __ or -, such as registry.example:5000/team/vpp-operator") }}
{{- end }}
{{- /*
Values the manager refuses when it starts, so that the install fails instead of the pod. An
endpoint's port must be a TCP port: the NetworkPolicy opens it.
*/}}
{{- range $value := list "graphEndpoint" "authorityHost" }}
{{- with get $.Values.manager $value }}
{{- $port := include "vpp-operator.urlPort" . }}
{{- if or (lt (atoi $port) 1) (gt (atoi $port) 65535) }}
{{- fail (printf "manager.%s %q names port %s, which is no TCP port: give a port from 1 to 65535, or none for 443"
  $value . $port) }}
{{- end }}
{{- end }}
{{- end }}
{{- /*
The schema has checked the durations' syntax, which has no sign; the manager also refuses a
request timeout or write window of zero, and any duration beyond Go's limit of about 292 years.
*/}}
{{- range $value, $example := dict "graphRequestTimeout" "30s" "appWriteWindow" "20s" "expiryWarning" "720h" }}
{{- with get $.Values.manager $value }}
{{- $nanoseconds := include "vpp-operator.durationNanoseconds" . | float64 }}
{{- if ge $nanoseconds 9.223372036854775807e18 }}
{{- fail (printf "manager.%s is %q, longer than the manager can hold (about 292 years): give a shorter duration, such as %s"
  $value . $example) }}
{{- end }}
{{- if and (lt $nanoseconds 1.0) (ne $value "expiryWarning") }}
{{- fail (printf "manager.%s is %q: the manager needs a positive duration (at least 1ns); give one such as %s, or null for the manager's default"
  $value . $example) }}
{{- end }}
{{- end }}
{{- end }}
{{- /*
Flags the chart sets from values: given again in manager.extraArgs, the manager would take
the last, and the Service, ServiceMonitor, NetworkPolicy, RBAC and notes would describe the
values instead of what runs.
*/}}
{{- $owned := dict
  "health-probe-bind-address" "to :8081, the port of the probes and the NetworkPolicy: leave it out"
  "metrics-bind-address" "from metrics.enabled and metrics.port: set those instead"
  "metrics-secure" "from metrics.secure: set that instead"
  "leader-elect" "from leaderElection.enabled: set that instead"
  "leader-election-namespace" "to the release namespace, where its Role is: leave it out"
  "namespaces" "from watchNamespaces, which also places the RoleBindings: set that instead" }}
{{- range $flag, $value := dict
  "graph-endpoint" "graphEndpoint" "authority-host" "authorityHost"
  "max-concurrent-reconciles" "maxConcurrentReconciles"
  "graph-request-timeout" "graphRequestTimeout" "app-write-limit" "appWriteLimit"
  "app-write-window" "appWriteWindow" "expiry-warning" "expiryWarning" "zap-log-level" "logLevel" }}
{{- $_ := set $owned $flag (printf "from manager.%s: set that instead" $value) }}
{{- end }}
{{- range .Values.manager.extraArgs }}
{{- $flag := regexReplaceAll "^--?([^=]+).*$" . "${1}" }}
{{- if and (hasPrefix "-" .) (hasKey $owned $flag) }}
{{- fail (printf "manager.extraArgs sets --%s, which the chart sets %s, so that its other objects match what the manager does"
  $flag (get $owned $flag)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The port of an HTTPS URL, as the manager dials it: the one it names, in decimal, or 443. The
schema has checked that the URL's host is a name or an address in brackets.
*/}}
{{- define "vpp-operator.urlPort" -}}
{{- $authority := regexReplaceAll "^https://([^/]*).*$" . "${1}" }}
{{- $port := regexFind ":[0-9]*$" $authority | trimPrefix ":" }}
{{- /* Leading zeros would make Helm's int read the port as octal. */}}
{{- regexReplaceAll "^0+([0-9])" $port "${1}" | default "443" }}
{{- end }}

{{/*
How many nanoseconds a Go duration such as 1h30m or 0.5s is, as the manager's flags read it:
each part is cut to whole nanoseconds, then the parts are added. Helm 3 has no duration
functions; the schema has checked the syntax.
*/}}
{{- define "vpp-operator.durationNanoseconds" -}}
{{- $units := dict "ns" 1 "us" 1000 "µs" 1000 "ms" 1000000 "s" 1000000000
  "m" 60000000000 "h" 3600000000000 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9.]+[^0-9.]+" . -1 }}
{{- $number := regexFind "^[0-9.]+" . }}
{{- $total = addf $total (mulf $number (get $units (trimPrefix $number .)) | floor) }}
{{- end }}
{{- $total }}
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
- {{ printf "--namespaces=%s" (join "," .) | quote }}
{{- end }}
{{- with .Values.manager }}
{{- with .graphEndpoint }}
- {{ printf "--graph-endpoint=%s" . | quote }}
{{- end }}
{{- with .authorityHost }}
- {{ printf "--authority-host=%s" . | quote }}
{{- end }}
{{- with .maxConcurrentReconciles }}
- --max-concurrent-reconciles={{ . | int }}
{{- end }}
{{- with .graphRequestTimeout }}
- {{ printf "--graph-request-timeout=%s" . | quote }}
{{- end }}
{{- with .appWriteLimit }}
- --app-write-limit={{ . | int }}
{{- end }}
{{- with .appWriteWindow }}
- {{ printf "--app-write-window=%s" . | quote }}
{{- end }}
{{- with .expiryWarning }}
- {{ printf "--expiry-warning=%s" . | quote }}
{{- end }}
{{- with .logLevel }}
- --zap-log-level={{ ternary . (int .) (kindIs "string" .) }}
{{- end }}
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
