{{- define "rbgs.labels" -}}
app.kubernetes.io/name: rbgs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rbgs.selector" -}}
app.kubernetes.io/name: rbgs
control-plane: rbgs-manager
{{- end -}}
