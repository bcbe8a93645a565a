{{/* Names */}}
{{- define "icon-plugin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "icon-plugin.fullname" -}}
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

{{- define "icon-plugin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "icon-plugin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "icon-plugin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "icon-plugin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "icon-plugin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "icon-plugin.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "icon-plugin.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* API versions by cluster version: one chart for 1.20 and for current releases. */}}
{{- define "icon-plugin.hpaApiVersion" -}}
{{- if semverCompare ">=1.23-0" .Capabilities.KubeVersion.Version -}}autoscaling/v2{{- else -}}autoscaling/v2beta2{{- end -}}
{{- end -}}

{{- define "icon-plugin.pdbApiVersion" -}}
{{- if semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version -}}policy/v1{{- else -}}policy/v1beta1{{- end -}}
{{- end -}}

{{/* The preStop hook: the kubelet's own sleep action from 1.30 (no `sleep` binary needed), exec before. */}}
{{- define "icon-plugin.preStop" -}}
{{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version -}}
sleep:
  seconds: {{ .Values.http.preStopSleepSeconds }}
{{- else -}}
exec:
  command: ["sleep", "{{ .Values.http.preStopSleepSeconds }}"]
{{- end -}}
{{- end -}}

{{/* Environment common to every plugin container. */}}
{{- define "icon-plugin.env" -}}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Writable volumes under a read-only root filesystem. */}}
{{- define "icon-plugin.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: workspace-tmp
  mountPath: /workspace/tmp
- name: var-cache
  mountPath: /var/cache
{{- end -}}

{{- define "icon-plugin.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: workspace-tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: var-cache
  emptyDir:
    sizeLimit: {{ .Values.cacheSizeLimit }}
{{- end -}}

{{- define "icon-plugin.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Checks that fail the render instead of the rollout. */}}
{{- define "icon-plugin.validate" -}}
{{- $h := .Values.http -}}
{{- if le (int $h.terminationGracePeriodSeconds) (add $h.preStopSleepSeconds $h.gracefulTimeout | int) -}}
{{- fail (printf "http.terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds (%v) + gracefulTimeout (%v)" $h.terminationGracePeriodSeconds $h.preStopSleepSeconds $h.gracefulTimeout) -}}
{{- end -}}
{{- if eq $h.readinessProbe.path $h.livenessProbe.path -}}
{{- fail "http.readinessProbe.path and http.livenessProbe.path must differ: a draining pod is unready but alive" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not (has .Values.autoscaling.metric (list "requests" "cpu"))) -}}
{{- fail "autoscaling.metric must be requests or cpu" -}}
{{- end -}}
{{- end -}}
