{{/*
Helpers shared by every template. tests/integration/test_chart.py renders the chart
without Helm, with a renderer for a small subset of the template language: keep to
.Values/.Release/.Chart fields, include, if/else/end, define, printf "%s", and the
functions quote, default, trunc, trimSuffix, contains, not, eq, ne, toYaml, nindent, indent.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "lintel.name" -}}
{{- if .Values.nameOverride }}
{{- .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else the release name when it already
contains the chart's name (`helm install lintel ...` gives "lintel"), else RELEASE-lintel.
*/}}
{{- define "lintel.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label: NAME-VERSION */}}
{{- define "lintel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the controller's Pods (Deployment, Services, PDB, anti-affinity). */}}
{{- define "lintel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lintel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The standard labels of every object. */}}
{{- define "lintel.labels" -}}
helm.sh/chart: {{ include "lintel.chart" . }}
{{ include "lintel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: lintel
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the Pods run as. */}}
{{- define "lintel.serviceAccountName" -}}
{{- if .Values.serviceAccount.name }}
{{- .Values.serviceAccount.name }}
{{- else }}
{{- include "lintel.fullname" . }}
{{- end }}
{{- end }}
