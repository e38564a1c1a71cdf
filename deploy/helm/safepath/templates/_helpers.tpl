{{/* The release's base name: the release name, or <release>-safepath. */}}
{{- define "safepath.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "safepath.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: safepath
{{- end -}}

{{/* Selector of one component: (dict "root" $ "component" "case") */}}
{{- define "safepath.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "safepath.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* Settings every Safepath process gets: production, the bus, the database. */}}
{{- define "safepath.commonEnv" -}}
- name: SAFEPATH_ENVIRONMENT
  value: production
- name: SAFEPATH_NAMESPACE
  value: {{ .Values.busNamespace | quote }}
- name: SAFEPATH_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: SAFEPATH_LOG_FORMAT
  value: json
- name: SAFEPATH_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.secrets.database.name }}, key: {{ .Values.secrets.database.key }}}
- name: SAFEPATH_NATS_URL
  value: {{ .Values.nats.url | quote }}
- name: SAFEPATH_STREAM_REPLICAS
  value: {{ .Values.nats.streamReplicas | quote }}
{{- if .Values.nats.tls.secretName }}
- name: SAFEPATH_NATS_TLS_CA_FILE
  value: /etc/safepath/nats-tls/ca.crt
{{- if .Values.nats.tls.mutual }}
- name: SAFEPATH_NATS_TLS_CERT_FILE
  value: /etc/safepath/nats-tls/tls.crt
- name: SAFEPATH_NATS_TLS_KEY_FILE
  value: /etc/safepath/nats-tls/tls.key
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Egress every Safepath pod needs: DNS, the NATS pods, the Postgres pods. */}}
{{- define "safepath.baseEgress" -}}
- to: {{- toYaml .Values.networkPolicy.dns | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
- to:
    - podSelector: {{- toYaml .Values.networkPolicy.nats.podSelector | nindent 8 }}
  ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.nats.port }}}
- to:
    - podSelector: {{- toYaml .Values.networkPolicy.postgres.podSelector | nindent 8 }}
  ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.postgres.port }}}
{{- with .Values.networkPolicy.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end -}}
