{{/*
The application name, for the app.kubernetes.io/name label and the name prefix: "rsched", not the
chart's name (rsched-operator), so that release "rsched" names its objects rsched-manager, as
config/default does.
*/}}
{{- define "rsched.name" -}}
{{- default "rsched" .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name. Truncated to 40 characters so that the longest name built on it
(<fullname>-schedulerinstance-editor) and the Service name (<fullname>-manager-metrics, a DNS
label of at most 63 characters) stay valid.
*/}}
{{- define "rsched.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := include "rsched.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "rsched.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "rsched.labels" -}}
helm.sh/chart: {{ include "rsched.chart" . }}
{{ include "rsched.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rsched
{{- end }}

{{/*
Selector labels: only values that never change on an upgrade of the same release, because a
Deployment's selector is immutable.
*/}}
{{- define "rsched.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rsched.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of the manager and the objects belonging to it.
*/}}
{{- define "rsched.managerLabels" -}}
{{ include "rsched.labels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "rsched.managerSelectorLabels" -}}
{{ include "rsched.selectorLabels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
The manager's ServiceAccount name.
*/}}
{{- define "rsched.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-manager" (include "rsched.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {repository, tag, digest}: repository@digest when a digest is given,
else repository:tag with the tag defaulting to the chart's appVersion.
Call with (dict "image" .Values.image "root" .).
*/}}
{{- define "rsched.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The Secret holding the metrics endpoint's certificate: metrics.certificate.secretName, the one
cert-manager fills, or "" (a self-signed certificate generated at start).
*/}}
{{- define "rsched.metricsCertSecret" -}}
{{- with .Values.metrics.certificate -}}
{{- if .secretName -}}
{{- .secretName -}}
{{- else if .certManager.enabled -}}
{{- include "rsched.fullname" $ }}-metrics-tls
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The manager's own metrics certificate (the default: metrics on, neither metrics.certificate.secretName
nor certManager): "true" or "". The manager then issues it from a CA of its own kept in the Secret
<fullname>-metrics-certs, publishes the CA certificate in the ConfigMap <fullname>-metrics-ca and
writes the certificate into an emptyDir for the metrics server (internal/metricscert).
*/}}
{{- define "rsched.metricsOwnCert" -}}
{{- if and .Values.metrics.enabled (not (include "rsched.metricsCertSecret" .)) -}}
true
{{- end -}}
{{- end }}

{{- define "rsched.metricsService" -}}
{{- include "rsched.fullname" . }}-manager-metrics
{{- end }}

{{- define "rsched.metricsOwnCertSecret" -}}
{{- include "rsched.fullname" . }}-metrics-certs
{{- end }}

{{- define "rsched.metricsCAConfigMap" -}}
{{- include "rsched.fullname" . }}-metrics-ca
{{- end }}

{{/*
A label map as k=v,k=v in key order, for NOTES.txt.
*/}}
{{- define "rsched.notesLabels" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end }}
