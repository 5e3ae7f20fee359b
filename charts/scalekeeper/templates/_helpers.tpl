{{/*
Names, labels and the values every template derives. Kept here so that each template
says only what it renders.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "scalekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name of every object: fullnameOverride, or <release>-<name>, or <release> when it already contains the name. */}}
{{- define "scalekeeper.fullname" -}}
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

{{/* <chart>-<version> for the helm.sh/chart label. */}}
{{- define "scalekeeper.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image tag: image.tag, or the chart's appVersion. */}}
{{- define "scalekeeper.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* The image reference: repository:tag, with @digest appended when image.digest is set (the digest then decides what runs). */}}
{{- define "scalekeeper.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (include "scalekeeper.imageTag" .) -}}
{{- if .Values.image.digest -}}
{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/*
Selector labels: stable for the life of a release (Deployment selectors are immutable).
Call with (dict "ctx" $ "component" "server").
*/}}
{{- define "scalekeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scalekeeper.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Every object's labels (app.kubernetes.io/*). Call with (dict "ctx" $ "component" "server").
*/}}
{{- define "scalekeeper.labels" -}}
{{ include "scalekeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ include "scalekeeper.imageTag" .ctx | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: scalekeeper
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "scalekeeper.chart" .ctx }}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "scalekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scalekeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The metrics Service's name (also Prometheus' job label when scraped by the ServiceMonitor). */}}
{{- define "scalekeeper.metricsServiceName" -}}
{{- printf "%s-metrics" (include "scalekeeper.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The namespaces whose Deployments are managed, as a JSON list: watchNamespaces, or the release namespace. Empty when clusterWide. */}}
{{- define "scalekeeper.watchNamespaces" -}}
{{- if .Values.clusterWide -}}
{{- list | toJson -}}
{{- else if .Values.watchNamespaces -}}
{{- .Values.watchNamespaces | uniq | toJson -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{/* The Secret with tls.crt, tls.key (and ca.crt): tls.existingSecret, or <fullname>-tls (written by cert-manager, or by you). */}}
{{- define "scalekeeper.tlsSecretName" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "scalekeeper.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
The namespaces the admission guard watches over, as a JSON list: the managed namespaces less
kube-system and the release namespace (never guarded: the guard must not stand between the
cluster, or scalekeeper itself, and their Deployments). Empty when clusterWide (the webhook's
namespaceSelector then excludes those two from every namespace).
*/}}
{{- define "scalekeeper.admissionNamespaces" -}}
{{- $never := list "kube-system" .Release.Namespace -}}
{{- $out := list -}}
{{- range (include "scalekeeper.watchNamespaces" . | fromJsonArray) -}}
{{- if not (has . $never) -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- $out | toJson -}}
{{- end -}}

{{/*
"true" when the admission guard runs: admission.enabled and something to guard (clusterWide,
or a managed namespace other than kube-system and the release namespace). The listener, its
Service, its NetworkPolicy rule, the certificate's names, the alerts and the
ValidatingWebhookConfiguration all follow it; empty otherwise.
*/}}
{{- define "scalekeeper.admissionActive" -}}
{{- if and .Values.admission.enabled (or .Values.clusterWide (include "scalekeeper.admissionNamespaces" . | fromJsonArray)) -}}
true
{{- end -}}
{{- end -}}

{{/* The admission webhook's Service (ClusterIP, never the gRPC Service, which may be a LoadBalancer). */}}
{{- define "scalekeeper.admissionServiceName" -}}
{{- printf "%s-admission" (include "scalekeeper.fullname" . | trunc 53 | trimSuffix "-") -}}
{{- end -}}

{{/* The DNS names of the gRPC Service, and of the admission Service when the guard runs (for the server certificate, which serves both). */}}
{{- define "scalekeeper.serviceDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $services := list (include "scalekeeper.fullname" .) -}}
{{- if include "scalekeeper.admissionActive" . -}}
{{- $services = append $services (include "scalekeeper.admissionServiceName" .) -}}
{{- end -}}
{{- $names := list -}}
{{- range $services -}}
{{- $names = concat $names (list . (printf "%s.%s" . $ns) (printf "%s.%s.svc" . $ns) (printf "%s.%s.svc.%s" . $ns $.Values.clusterDomain)) -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.host -}}
{{- $names = append $names .Values.ingress.host -}}
{{- end -}}
{{- concat $names .Values.tls.certManager.extraDnsNames | uniq | toJson -}}
{{- end -}}

{{/* seconds: preStop sleep + drain timeout + margin, so SIGKILL never cuts a drain short. */}}
{{- define "scalekeeper.terminationGracePeriodSeconds" -}}
{{- add .Values.shutdown.preStopSleepSeconds .Values.config.drainTimeoutSeconds .Values.shutdown.terminationMarginSeconds -}}
{{- end -}}

{{/* The label selector of Prometheus series scraped from this release (alerts). */}}
{{- define "scalekeeper.promSelector" -}}
{{- printf "job=\"%s\",namespace=\"%s\"" (include "scalekeeper.metricsServiceName" .) .Release.Namespace -}}
{{- end -}}

{{/*
Values that the schema cannot express (relations between keys); rendering fails with a
message rather than producing a Deployment the binary would refuse.
*/}}
{{- define "scalekeeper.validate" -}}
{{- if and .Values.tls.existingSecret .Values.tls.certManager.enabled -}}
{{- fail "tls.existingSecret and tls.certManager.enabled are exclusive: either bring a Secret or let cert-manager write one" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name is required when tls.certManager.enabled is true" -}}
{{- end -}}
{{- if and .Values.tls.clientCA.existingSecret .Values.tls.clientCA.shareIssuerCA -}}
{{- fail "tls.clientCA.existingSecret and tls.clientCA.shareIssuerCA are exclusive: the client CA comes either from that Secret or from the server's Secret" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.clientCA.existingSecret) (not .Values.tls.clientCA.shareIssuerCA) -}}
{{- fail "tls.certManager.enabled needs a client CA of its own: set tls.clientCA.existingSecret to a Secret holding the CA bundle your client certificates chain to (key tls.clientCA.key, default ca.crt). ca.crt of the Secret cert-manager writes is the issuer's CA, so every client certificate that issuer signs, for any workload, would be accepted as a scalekeeper client. To accept exactly that on purpose, set tls.clientCA.shareIssuerCA=true instead" -}}
{{- end -}}
{{- if and .Values.clusterWide .Values.watchNamespaces -}}
{{- fail "clusterWide: true manages every namespace; leave watchNamespaces empty" -}}
{{- end -}}
{{- if ge (int .Values.config.leaseRenewGraceSeconds) (int .Values.config.leaseDurationSeconds) -}}
{{- fail "config.leaseRenewGraceSeconds must be less than config.leaseDurationSeconds" -}}
{{- end -}}
{{- range .Values.extraArgs -}}
{{- $flag := regexReplaceAll "=.*" . "" -}}
{{- if has $flag (list "--grpc-listen" "--http-listen" "--tls-cert" "--tls-key" "--client-ca" "--namespace" "--max-replicas" "--drain-timeout" "--drain-timeout-seconds" "--stale-after" "--stale-after-seconds" "--log-format" "--leader-elect" "--lease-name" "--lease-duration" "--lease-duration-seconds" "--lease-renew-grace" "--lease-renew-grace-seconds" "--flap-max-corrections" "--flap-window" "--flap-window-seconds" "--flap-cool-down" "--flap-cool-down-seconds" "--resync-interval" "--resync-seconds" "--admission-listen" "--default-guard" "--admission-exempt" "--admission-break-glass-group" "--authorization" "--allow-system-groups") -}}
{{- fail (printf "extraArgs: %s is set by the chart; use its value under config or admission (or watchNamespaces, listenAddress)" $flag) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.admission.caBundle .Values.tls.certManager.enabled -}}
{{- fail "admission.caBundle and tls.certManager.enabled are exclusive: cert-manager's CA injector writes the webhook's caBundle (from the Certificate's Secret); leave admission.caBundle empty" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host is required when ingress.enabled is true (TLS passthrough routes by SNI)" -}}
{{- end -}}
{{- end -}}

{{/*
Where the webhook's caBundle comes from, as JSON {"source": ..., "caBundle": ...}:
"cert-manager" (its CA injector, from the Certificate's Secret), "value" (admission.caBundle,
base64-encoded here), "secret" (ca.crt of the TLS Secret, found by lookup when Helm renders
against a cluster: right only when that CA issued the server certificate, as with
`scalekeeper certs`), or "" (none: the API server cannot verify the webhook, which fails open).
*/}}
{{- define "scalekeeper.admissionCABundle" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- dict "source" "cert-manager" "caBundle" "" | toJson -}}
{{- else if .Values.admission.caBundle -}}
{{- dict "source" "value" "caBundle" (.Values.admission.caBundle | b64enc) | toJson -}}
{{- else -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "scalekeeper.tlsSecretName" .) | default dict -}}
{{- $ca := dig "data" "ca.crt" "" $secret -}}
{{- dict "source" (ternary "secret" "" (ne $ca "")) "caBundle" $ca | toJson -}}
{{- end -}}
{{- end -}}
