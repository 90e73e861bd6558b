{{/* Names and labels shared by every object of the chart. */}}

{{- define "ksight.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name alone when it already holds the chart's name. */}}
{{- define "ksight.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ksight.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ksight.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ksight.labels" -}}
{{ include "ksight.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "ksight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ksight.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The configuration file the agent reads (--config): the values' `config`,
with identity.kubernetes: off when the pod watch is turned off.
*/}}
{{- define "ksight.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- if not .Values.identity.kubernetes -}}
{{- $identity := get $config "identity" | default dict -}}
{{- $_ := set $identity "kubernetes" "off" -}}
{{- $_ := set $config "identity" $identity -}}
{{- end -}}
{{- if $config -}}
{{- toYaml $config -}}
{{- end -}}
{{- end -}}

{{/*
Why each capability is added, as the comment beside it in the DaemonSet
(docs/deployment.md has the long form). A capability not listed here is
added without a comment.
*/}}
{{- define "ksight.capabilityReasons" -}}
BPF: load programs, create maps
PERFMON: attach tracepoints and perf events, read kernel stacks
SYS_RESOURCE: RLIMIT_MEMLOCK for maps on kernels before 5.11
SYS_ADMIN: bpf stats (BPF_ENABLE_STATS), cgroup attach, kernels before 5.8, seccomp profiles allowing bpf() only with it
NET_ADMIN: cgroup_skb programs (cgroupnet)
DAC_READ_SEARCH: open_by_handle_at, to resolve cgroup ids to paths
{{- end -}}
