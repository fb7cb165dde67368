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
The container's variables from values, after the manifests' own: nothing for the defaults
(an env value "" would be dropped by the API server, and every apply would see a change).
*/}}
{{- define "netiso.env" -}}
{{- with .Values.protectedNamespaces }}
- name: NETISO_PROTECTED_NAMESPACES
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}
