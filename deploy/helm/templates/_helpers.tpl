{{/*
Names, labels, the component registry and the environment every component gets from the external services.
Secrets only ever appear as secretKeyRef or mounted Secret volumes.
*/}}

{{- define "pep.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Objects are named <release>-<component> (release `pep`: pep-edge, pep-transformer, ...). */}}
{{- define "pep.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "pep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pep.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "pep.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "component" "edge"). */}}
{{- define "pep.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: payment-event-platform
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "pep.selectorLabels" . }}
{{- end -}}

{{- define "pep.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pep.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Kubernetes object name of a component: <fullname>-<component in kebab case>. */}}
{{- define "pep.componentName" -}}
{{- printf "%s-%s" (include "pep.fullname" .root) (.component | kebabcase) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The component registry: how each process is run (kind, port and the variables that move it, probes, what it uses).
`bound` is the number of partitions its consumer groups can spread over: replicas beyond it would idle.
Raw topics: 12 (contracts/src/topics.ts RAW_TOPICS; deploy/test/chart.test.ts keeps the number in sync).
*/}}
{{- define "pep.components" -}}
{{- $p := .Values.kafka.partitions -}}
{{- $raw := mul $p.raw 12 -}}
edge:
  kind: Deployment
  portName: http
  portEnv: EDGE_PORT
  hostEnv: EDGE_HOST
  liveness: /healthz
  readiness: /readyz
  uses: [kafka, webhooks]
transformer:
  kind: StatefulSet
  portName: metrics
  portEnv: TRANSFORMER_METRICS_PORT
  hostEnv: PIPELINE_METRICS_HOST
  shutdownEnv: PIPELINE_SHUTDOWN_TIMEOUT_MS
  liveness: /healthz
  readiness: /healthz
  uses: [kafka]
  bound: {{ $raw }}
  boundWhy: {{ printf "%d raw topic-partitions (12 raw topics x kafka.partitions.raw)" $raw | quote }}
quarantine:
  kind: Deployment
  portName: metrics
  portEnv: QUARANTINE_METRICS_PORT
  hostEnv: PIPELINE_METRICS_HOST
  shutdownEnv: PIPELINE_SHUTDOWN_TIMEOUT_MS
  liveness: /healthz
  readiness: /healthz
  uses: [kafka, postgres]
  bound: {{ mul $p.dlq 2 }}
  boundWhy: {{ printf "%d DLQ topic-partitions (2 DLQ topics x kafka.partitions.dlq)" (mul $p.dlq 2) | quote }}
bridge:
  kind: Deployment
  portName: metrics
  portEnv: BRIDGE_METRICS_PORT
  hostEnv: BRIDGE_METRICS_HOST
  liveness: /healthz
  readiness: /healthz
  uses: [kafka, temporal]
  bound: {{ $p.normalized }}
  boundWhy: {{ printf "%d partitions of payments.normalized (kafka.partitions.normalized)" (int $p.normalized) | quote }}
lakeSink:
  kind: Deployment
  portName: metrics
  portEnv: LAKE_SINK_METRICS_PORT
  hostEnv: PIPELINE_METRICS_HOST
  liveness: /healthz
  readiness: /healthz
  uses: [kafka, postgres, lake]
  bound: {{ $p.normalized }}
  boundWhy: {{ printf "%d partitions of payments.normalized (kafka.partitions.normalized)" (int $p.normalized) | quote }}
features:
  kind: Deployment
  portName: metrics
  portEnv: FEATURES_METRICS_PORT
  hostEnv: FEATURES_METRICS_HOST
  liveness: /healthz
  readiness: /healthz
  uses: [kafka, redis]
  bound: {{ $p.normalized }}
  boundWhy: {{ printf "%d partitions of payments.normalized (kafka.partitions.normalized)" (int $p.normalized) | quote }}
worker:
  kind: Deployment
  portName: metrics
  portEnv: WORKER_METRICS_PORT
  hostEnv: WORKER_METRICS_HOST
  liveness: /metrics
  readiness: /metrics
  # redis and mlflow: fraud is scored in the worker's process by default (WORKER_FRAUD_SCORING=in-process: online
  # features, the MLflow champion); churn and retry still go to the inference service.
  uses: [kafka, temporal, postgres, inference, redis, mlflow]
inference:
  kind: Deployment
  portName: http
  portEnv: INFERENCE_PORT
  hostEnv: INFERENCE_HOST
  liveness: /health
  readiness: /health
  uses: [redis, mlflow]
{{- end -}}

{{/* Environment shared by every container: NODE_ENV, the pod's name, a bounded V8 heap. Args: root, c (values). */}}
{{- define "pep.env.common" -}}
- name: NODE_ENV
  value: {{ .root.Values.nodeEnv | quote }}
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: PIPELINE_LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if .c.heapMb }}
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d" (int .c.heapMb) | quote }}
{{- end }}
{{- end -}}

{{/* A secretKeyRef env entry: (dict "name" ENV "ref" {name,key}). */}}
{{- define "pep.env.secret" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "a Secret name is required for %s" .name) .ref.name | quote }}
      key: {{ required (printf "a Secret key is required for %s" .name) .ref.key | quote }}
{{- end -}}

{{/* Environment for the external services a component uses. Args: root, uses (list). */}}
{{- define "pep.env.uses" -}}
{{- $v := .root.Values -}}
{{- if has "kafka" .uses }}
{{- $k := $v.kafka }}
- name: KAFKA_BROKERS
  value: {{ required "kafka.brokers is required" $k.brokers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $k.securityProtocol | quote }}
{{- if hasPrefix "SASL_" $k.securityProtocol }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
{{- if ne $k.sasl.mechanism "OAUTHBEARER" }}
- name: KAFKA_SASL_USERNAME
  value: {{ required "kafka.sasl.username is required with a SASL security protocol" $k.sasl.username | quote }}
{{ include "pep.env.secret" (dict "name" "KAFKA_SASL_PASSWORD" "ref" $k.sasl.passwordSecret) }}
{{- end }}
{{- end }}
{{- if and (hasSuffix "SSL" $k.securityProtocol) $k.tls.caSecret.name }}
- name: KAFKA_SSL_CA_FILE
  value: {{ printf "/etc/pep/tls/kafka/%s" $k.tls.caSecret.key | quote }}
{{- end }}
{{- if and (hasSuffix "SSL" $k.securityProtocol) $k.tls.clientCertSecret.name }}
- name: KAFKA_SSL_CERT_FILE
  value: {{ printf "/etc/pep/tls/kafka-client/%s" $k.tls.clientCertSecret.certKey | quote }}
- name: KAFKA_SSL_KEY_FILE
  value: {{ printf "/etc/pep/tls/kafka-client/%s" $k.tls.clientCertSecret.keyKey | quote }}
{{- end }}
{{- end }}
{{- if has "temporal" .uses }}
{{- $t := $v.temporal }}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" $t.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ $t.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ $t.taskQueue | quote }}
{{- if or $t.tls.enabled $t.apiKeySecret.name }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- if $t.tls.caSecret.name }}
- name: TEMPORAL_TLS_CA_FILE
  value: {{ printf "/etc/pep/tls/temporal/%s" $t.tls.caSecret.key | quote }}
{{- end }}
{{- if $t.tls.clientCertSecret.name }}
- name: TEMPORAL_TLS_CERT_FILE
  value: {{ printf "/etc/pep/tls/temporal-client/%s" $t.tls.clientCertSecret.certKey | quote }}
- name: TEMPORAL_TLS_KEY_FILE
  value: {{ printf "/etc/pep/tls/temporal-client/%s" $t.tls.clientCertSecret.keyKey | quote }}
{{- end }}
{{- if $t.apiKeySecret.name }}
{{ include "pep.env.secret" (dict "name" "TEMPORAL_API_KEY" "ref" $t.apiKeySecret) }}
{{- end }}
{{- end }}
{{- if has "postgres" .uses }}
{{ include "pep.env.secret" (dict "name" "DATABASE_URL" "ref" $v.postgres.urlSecret) }}
{{- end }}
{{- if has "redis" .uses }}
{{ include "pep.env.secret" (dict "name" "REDIS_URL" "ref" $v.redis.urlSecret) }}
{{- if $v.redis.caSecret.name }}
- name: REDIS_TLS_CA_FILE
  value: {{ printf "/etc/pep/tls/redis/%s" $v.redis.caSecret.key | quote }}
{{- end }}
{{- end }}
{{- if and (has "trino" .uses) $v.trino.url }}
- name: TRINO_URL
  value: {{ $v.trino.url | quote }}
- name: TRINO_USER
  value: {{ $v.trino.user | quote }}
{{- if $v.trino.passwordSecret.name }}
{{ include "pep.env.secret" (dict "name" "TRINO_PASSWORD" "ref" $v.trino.passwordSecret) }}
{{- end }}
{{- end }}
{{- if and (has "mlflow" .uses) $v.mlflow.trackingUri }}
- name: MLFLOW_TRACKING_URI
  value: {{ $v.mlflow.trackingUri | quote }}
{{- if $v.mlflow.tokenSecret.name }}
{{ include "pep.env.secret" (dict "name" "MLFLOW_TRACKING_TOKEN" "ref" $v.mlflow.tokenSecret) }}
{{- end }}
{{- end }}
{{- if has "inference" .uses }}
{{- if $v.inference.enabled }}
- name: INFERENCE_URL
  value: {{ printf "http://%s:%d" (include "pep.componentName" (dict "root" .root "component" "inference")) (int $v.inference.service.port) | quote }}
{{- end }}
{{- end }}
{{- if has "lake" .uses }}
{{- $l := $v.lake }}
- name: LAKE_CATALOG_NAME
  value: {{ $l.catalog.name | quote }}
- name: LAKE_CATALOG_TYPE
  value: {{ $l.catalog.type | quote }}
{{- if eq $l.catalog.type "jdbc" }}
{{ include "pep.env.secret" (dict "name" "LAKE_CATALOG_URL" "ref" $l.catalog.urlSecret) }}
{{- else }}
- name: LAKE_CATALOG_URI
  value: {{ required "lake.catalog.restUri is required with lake.catalog.type=rest" $l.catalog.restUri | quote }}
{{- if $l.catalog.restWarehouse }}
- name: LAKE_CATALOG_WAREHOUSE
  value: {{ $l.catalog.restWarehouse | quote }}
{{- end }}
{{- if $l.catalog.credentialSecret.name }}
{{ include "pep.env.secret" (dict "name" "LAKE_CATALOG_CREDENTIAL" "ref" $l.catalog.credentialSecret) }}
{{- end }}
{{- end }}
- name: LAKE_WAREHOUSE
  value: {{ required "lake.warehouse is required" $l.warehouse | quote }}
- name: AWS_REGION
  value: {{ $l.objectStorage.region | quote }}
{{- if $l.objectStorage.endpoint }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ $l.objectStorage.endpoint | quote }}
{{- end }}
- name: LAKE_S3_PATH_STYLE
  value: {{ $l.objectStorage.pathStyle | quote }}
{{- with $l.objectStorage.credentialsSecret }}
{{- if .name }}
{{ include "pep.env.secret" (dict "name" "AWS_ACCESS_KEY_ID" "ref" (dict "name" .name "key" .accessKeyIdKey)) }}
{{ include "pep.env.secret" (dict "name" "AWS_SECRET_ACCESS_KEY" "ref" (dict "name" .name "key" .secretAccessKeyKey)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if has "webhooks" .uses }}
{{- range list "STRIPE_WEBHOOK_SECRET" "SQUARE_WEBHOOK_SIGNATURE_KEY" "ADYEN_HMAC_KEY" "BRAINTREE_PUBLIC_KEY" "BRAINTREE_PRIVATE_KEY" }}
{{ include "pep.env.secret" (dict "name" . "ref" (dict "name" $v.webhookSecrets.name "key" .)) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Extra non-secret env of a component (values `env`), sorted by name. */}}
{{- define "pep.env.extra" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The TLS material a component's services need, as (mount folder, Secret, keys) entries. Args: root, uses. */}}
{{- define "pep.tlsMounts" -}}
{{- $v := .root.Values -}}
{{- $m := list -}}
{{- if and (has "kafka" .uses) (hasSuffix "SSL" $v.kafka.securityProtocol) -}}
{{- if $v.kafka.tls.caSecret.name -}}
{{- $m = append $m (dict "dir" "kafka" "secret" $v.kafka.tls.caSecret.name "keys" (list $v.kafka.tls.caSecret.key)) -}}
{{- end -}}
{{- with $v.kafka.tls.clientCertSecret -}}
{{- if .name -}}
{{- $m = append $m (dict "dir" "kafka-client" "secret" .name "keys" (list .certKey .keyKey)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if has "temporal" .uses -}}
{{- if $v.temporal.tls.caSecret.name -}}
{{- $m = append $m (dict "dir" "temporal" "secret" $v.temporal.tls.caSecret.name "keys" (list $v.temporal.tls.caSecret.key)) -}}
{{- end -}}
{{- with $v.temporal.tls.clientCertSecret -}}
{{- if .name -}}
{{- $m = append $m (dict "dir" "temporal-client" "secret" .name "keys" (list .certKey .keyKey)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (has "postgres" .uses) $v.postgres.caSecret.name -}}
{{- $m = append $m (dict "dir" "postgres" "secret" $v.postgres.caSecret.name "keys" (list $v.postgres.caSecret.key)) -}}
{{- end -}}
{{- if and (has "redis" .uses) $v.redis.caSecret.name -}}
{{- $m = append $m (dict "dir" "redis" "secret" $v.redis.caSecret.name "keys" (list $v.redis.caSecret.key)) -}}
{{- end -}}
{{- toYaml (dict "mounts" $m) -}}
{{- end -}}

{{/* volumeMounts for a container. Args: root, uses. */}}
{{- define "pep.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- range (include "pep.tlsMounts" . | fromYaml).mounts }}
- name: {{ printf "tls-%s" .dir }}
  mountPath: {{ printf "/etc/pep/tls/%s" .dir }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* volumes of a pod. Args: root, uses. */}}
{{- define "pep.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- range (include "pep.tlsMounts" . | fromYaml).mounts }}
- name: {{ printf "tls-%s" .dir }}
  secret:
    secretName: {{ .secret | quote }}
    defaultMode: 0440
    items:
{{- range .keys }}
      - key: {{ . | quote }}
        path: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every pod. */}}
{{- define "pep.podCommon" -}}
serviceAccountName: {{ include "pep.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Fails the render when a component's replicas could exceed what its partitions can feed. */}}
{{- define "pep.checkBound" -}}
{{- if .spec.bound -}}
{{- $bound := int .spec.bound -}}
{{- if gt (int .c.replicas) $bound -}}
{{- fail (printf "%s.replicas is %d but its consumer groups have only %s: extra members would idle. Add partitions first (deploy/README.md, Partitions)." .name (int .c.replicas) .spec.boundWhy) -}}
{{- end -}}
{{- if and .c.autoscaling .c.autoscaling.enabled (gt (int .c.autoscaling.maxReplicas) $bound) -}}
{{- fail (printf "%s.autoscaling.maxReplicas is %d but its consumer groups have only %s." .name (int .c.autoscaling.maxReplicas) .spec.boundWhy) -}}
{{- end -}}
{{- end -}}
{{- end -}}
