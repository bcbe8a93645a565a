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
{{- if lt (int $h.maxWorkers) (int $h.processWorkers) -}}
{{- fail (printf "http.maxWorkers (%v) must be at least http.processWorkers (%v)" $h.maxWorkers $h.processWorkers) -}}
{{- end -}}
{{- if not (has $h.admin.tokenFrom (list "file" "env")) -}}
{{- fail "http.admin.tokenFrom must be file or env" -}}
{{- end -}}
{{- $tls := .Values.metricsAdapter.tls -}}
{{- if and $tls.certManagerCertificate (not $tls.existingSecret) -}}
{{- fail "metricsAdapter.tls.certManagerCertificate needs metricsAdapter.tls.existingSecret (the Certificate's secretName)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not (has .Values.autoscaling.metric (list "requests" "cpu"))) -}}
{{- fail "autoscaling.metric must be requests or cpu" -}}
{{- end -}}
{{- end -}}

{{/* The admin token's Secret: the user's, or the one the chart creates (admin-secret.yaml). */}}
{{- define "icon-plugin.adminSecretName" -}}
{{- .Values.http.admin.existingSecret | default (printf "%s-admin" (include "icon-plugin.fullname" .) | trunc 63 | trimSuffix "-") -}}
{{- end -}}

{{- define "icon-plugin.adminSecretKey" -}}
{{- if .Values.http.admin.existingSecret -}}{{ .Values.http.admin.existingSecretKey }}{{- else -}}token{{- end -}}
{{- end -}}

{{/* Environment of the http container for the admin endpoints: off, or on behind a bearer token. */}}
{{- define "icon-plugin.adminEnv" -}}
{{- $a := .Values.http.admin -}}
- name: ICON_RUNTIME_MAX_WORKERS
  value: {{ .Values.http.maxWorkers | quote }}
{{- if not $a.enabled }}
- name: ICON_RUNTIME_ADMIN
  value: "off"
{{- else }}
- name: ICON_RUNTIME_ADMIN
  value: "on"
{{- if eq $a.tokenFrom "env" }}
- name: ICON_RUNTIME_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "icon-plugin.adminSecretName" . }}
      key: {{ include "icon-plugin.adminSecretKey" . }}
{{- else }}
- name: ICON_RUNTIME_ADMIN_TOKEN_FILE
  value: /etc/icon-plugin/admin/token
{{- end }}
{{- end }}
{{- end -}}

{{/* A per-release random salt for pod-template checksums of Secret content, kept in the Secret
     <fullname>-checksum-salt and read back on upgrade, so a checksum annotation stays stable while the
     content is unchanged and reveals nothing of it (no dictionary attack on a guessable credential). */}}
{{- define "icon-plugin.saltSecretName" -}}
{{- printf "%s-checksum-salt" (include "icon-plugin.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The salt kept in that Secret, or a new random one (first install; `helm template`). Call it once per render. */}}
{{- define "icon-plugin.checksumSalt" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "icon-plugin.saltSecretName" .) -}}
{{- if and $existing $existing.data (hasKey $existing.data "salt") -}}
{{- index $existing.data "salt" | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
