{{/* Names, labels and the pieces every pod of the release shares. */}}

{{- define "llmopt.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llmopt.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one process; call with (dict "root" $ "process" "api"). */}}
{{- define "llmopt.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .process }}
{{- end -}}

{{/* The bundled entrypoint of each process in the image (infra/build.ts, infra/deploy/build-image.ts). */}}
{{- define "llmopt.entrypoint" -}}
{{- $entry := dict "api" "dist/api/main.mjs" "stream" "dist/workers/stream.mjs" "orchestration" "dist/workers/orchestration.mjs" "analysis" "dist/workers/analysis.mjs" "integrations" "dist/workers/integrations.mjs" "migrate" "dist/infra/deploy/migrate.mjs" -}}
{{- required (printf "unknown process %q" .) (get $entry .) -}}
{{- end -}}

{{- define "llmopt.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* env and envFrom of a container; call with (dict "root" $ "extra" <map>). */}}
{{- define "llmopt.env" -}}
{{- $env := merge (dict) (.extra | default dict) .root.Values.env -}}
env:
{{- range $k := keys $env | sortAlpha }}
  - name: {{ $k }}
    value: {{ get $env $k | toString | quote }}
{{- end }}
envFrom:
  - secretRef:
      name: {{ required "secret.existingSecret: name an existing Secret holding DATABASE_URL and SECRETS_KEY" .root.Values.secret.existingSecret }}
{{- range .root.Values.secret.extraSecrets }}
  - secretRef:
      name: {{ . }}
{{- end }}
{{- end -}}

{{/* Pod-level fields every pod of the release shares. */}}
{{- define "llmopt.podCommon" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The writable folders of a read-only container: /tmp and DATA_DIR. */}}
{{- define "llmopt.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: data
    mountPath: /var/lib/llmopt
{{- end -}}
{{- define "llmopt.volumes" -}}
volumes:
  - name: tmp
    emptyDir: {}
  - name: data
    emptyDir: {}
{{- end -}}
