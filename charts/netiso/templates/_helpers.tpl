{{/*
The operator's API server egress peers: one ipBlock per apiServer.cidrs entry. An empty list
would leave the rule without peers, which NetworkPolicy reads as "any address": refuse it.
*/}}
{{- define "netiso.apiServerPeers" -}}
{{- if not .Values.apiServer.cidrs }}
{{- fail "apiServer.cidrs: name at least one CIDR of the API server (an empty list would allow egress to every address)" }}
{{- end }}
{{- range .Values.apiServer.cidrs }}
- ipBlock:
    cidr: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Helm's standard labels, added to every object's (and the pod template's) own. Never in a
selector: a Deployment's selector cannot change, and kubectl installs carry none of these.
app.kubernetes.io/name comes from the manifests.
*/}}
{{- define "netiso.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/* A mapping value as YAML keys, or nothing when it is empty. */}}
{{- define "netiso.mapping" -}}
{{- with . }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The operator image: repository@digest when a digest is given (the tag is then ignored),
else repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "netiso.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The service account's annotations (e.g. a cloud IAM role), when any are given. */}}
{{- define "netiso.serviceAccountAnnotations" -}}
{{- with .Values.serviceAccount.annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod spec fields the manifests leave out, rendered only when their value is set. */}}
{{- define "netiso.podExtras" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
The container's variables from values, after the manifests' own: nothing for the defaults
(an env value "" would be dropped by the API server, and every apply would see a change).
The variables the chart sets itself are refused in extraEnv: each has its own value, or is
tied to the probes, ports and mounts (a second entry of a name would silently win or lose).
*/}}
{{- define "netiso.env" -}}
{{- $reserved := list "POD_NAMESPACE" "POD_NAME" "NETISO_METRICS_PORT" "NETISO_SIGNING_KEY_FILE" "NETISO_PROTECTED_NAMESPACES" }}
{{- range $index, $variable := .Values.extraEnv }}
{{- if has $variable.name $reserved }}
{{- fail (printf "extraEnv[%d].name: %s is set by the chart; %s" $index $variable.name (ternary "use the value protectedNamespaces" "it cannot be changed" (eq $variable.name "NETISO_PROTECTED_NAMESPACES"))) }}
{{- end }}
{{- end }}
{{- with .Values.protectedNamespaces }}
- name: NETISO_PROTECTED_NAMESPACES
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The pod's volumes from values, after the manifests' own: nothing for the defaults. A name of
the chart's own volumes is refused here, naming the value (the API server would refuse the
duplicate only once Helm is half-way through the release).
*/}}
{{- define "netiso.extraVolumes" -}}
{{- range $index, $volume := .Values.extraVolumes }}
{{- if has $volume.name (list "tmp" "signing-key") }}
{{- fail (printf "extraVolumes[%d].name: %s is a volume of the chart's own; choose another name" $index $volume.name) }}
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The container's mounts from values, after the manifests' own; their paths are refused. */}}
{{- define "netiso.extraVolumeMounts" -}}
{{- range $index, $mount := .Values.extraVolumeMounts }}
{{- if has (trimSuffix "/" $mount.mountPath) (list "/tmp" "/var/run/secrets/netiso/signing") }}
{{- fail (printf "extraVolumeMounts[%d].mountPath: %s is where the chart mounts a volume of its own; choose another path" $index $mount.mountPath) }}
{{- end }}
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}
