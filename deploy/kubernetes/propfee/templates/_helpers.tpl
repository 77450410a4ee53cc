{{/* Common labels. */}}
{{- define "propfee.labels" -}}
app.kubernetes.io/part-of: propfee
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Selector labels of one service's component: (dict "root" $ "service" "billing" "component" "api"). */}}
{{- define "propfee.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .service }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "propfee.image" -}}
{{- $img := .root.Values.image -}}
{{ printf "%s/%s%s:%s" $img.registry $img.repositoryPrefix .service (default .root.Chart.AppVersion $img.tag) }}
{{- end }}

{{- define "propfee.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default "propfee" .Values.serviceAccount.name }}{{ else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{- define "propfee.secretName" -}}
{{- $svc := index .root.Values.services .service -}}
{{ default (printf "propfee-%s" .service) $svc.existingSecret }}
{{- end }}

{{/* The Secret with the owner role's MIGRATION_DATABASE_URL: read by the migration Job only,
never by the service's pods (docs/security.md "Database roles"). */}}
{{- define "propfee.migrationSecretName" -}}
{{- $svc := index .root.Values.services .service -}}
{{ default (printf "propfee-%s-migration" .service) $svc.existingMigrationSecret }}
{{- end }}

{{- define "propfee.terminationGracePeriodSeconds" -}}
{{ add .Values.common.shutdownTimeoutSeconds .Values.common.preStopSleepSeconds 10 }}
{{- end }}

{{/* envFrom of a service's containers: shared config, the service's config and its Secret, the
latter two with the service's prefix (BILLING_DATABASE_URL from the Secret key DATABASE_URL). */}}
{{- define "propfee.envFrom" -}}
- configMapRef:
    name: propfee-common
- configMapRef:
    name: propfee-{{ .service }}
  prefix: {{ upper .service }}_
- secretRef:
    name: {{ include "propfee.secretName" . }}
  prefix: {{ upper .service }}_
{{- end }}

{{- define "propfee.volumes" -}}
# The root filesystem is read-only: temporary files (PDFs, uploads) go to memory-backed /tmp.
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 256Mi
{{- end }}

{{/* The Kafka user of a service (the KafkaUser and its Secret): (dict "service" "billing"). */}}
{{- define "propfee.kafkaUser" -}}
propfee-kafka-{{ .service }}
{{- end }}

{{/* Kafka credentials of a service's pods: its KafkaUser's password and the brokers' CA. */}}
{{- define "propfee.kafkaVolumes" -}}
{{- $security := .root.Values.kafka.security }}
{{- if $security.enabled }}
- name: kafka-user
  secret:
    secretName: {{ include "propfee.kafkaUser" . }}
    items: [{key: password, path: password}]
{{- if eq $security.protocol "SASL_SSL" }}
- name: kafka-ca
  secret:
    secretName: {{ default (printf "%s-cluster-ca-cert" .root.Values.kafka.clusterName) $security.caSecret.name }}
    items: [{key: {{ $security.caSecret.key }}, path: ca.crt}]
{{- end }}
{{- end }}
{{- end }}

{{- define "propfee.kafkaVolumeMounts" -}}
{{- $security := .root.Values.kafka.security }}
{{- if $security.enabled }}
- name: kafka-user
  mountPath: /etc/propfee/kafka-user
  readOnly: true
{{- if eq $security.protocol "SASL_SSL" }}
- name: kafka-ca
  mountPath: /etc/propfee/kafka-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* Egress to one external destination (networkPolicy.egress.<name>): nothing when it has
neither cidrs nor peers (an empty `to` would allow every destination). */}}
{{- define "propfee.externalEgress" -}}
{{- if or .cidrs .peers }}
- to:
    {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- with .peers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    {{- range .ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end }}

{{- define "propfee.podSecurity" -}}
serviceAccountName: {{ include "propfee.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* An alert's runbook pointers: the section of the chart's README, and runbook_url when
prometheusRule.runbookBaseUrl says where that README is published. (dict "base" ... "anchor" ...) */}}
{{- define "propfee.runbook" -}}
runbook: deploy/kubernetes/README.md#{{ .anchor }}
{{- with .base }}
runbook_url: {{ . }}#{{ $.anchor }}
{{- end }}
{{- end }}
