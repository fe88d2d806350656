{{/*
The chart's name, cut to 63 characters (a DNS label).
*/}}
{{- define "daskrun.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name, cut to 63 characters. When the release name already contains the
chart name it is used as is.
*/}}
{{- define "daskrun.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "daskrun.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. Selectors use daskrun.selectorLabels only: helm.sh/chart and the
version change on upgrade and must never be part of a selector.
*/}}
{{- define "daskrun.labels" -}}
helm.sh/chart: {{ include "daskrun.chart" . }}
{{ include "daskrun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "daskrun.contract.run_labels.MANAGED_BY_LABEL" . }}: {{ .Release.Service }}
{{- end }}

{{- define "daskrun.selectorLabels" -}}
app.kubernetes.io/name: {{ include "daskrun.name" . }}
{{ include "daskrun.contract.run_labels.INSTANCE_LABEL" . }}: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the run (and the helm test pod) uses.
*/}}
{{- define "daskrun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "daskrun.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false (the `default` ServiceAccount is never used)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of the Dask scheduler and workers: <fullname>-dask unless named
(daskrun.dask_pods.dask_account_name computes the same for `daskrun run --dry-run`).
*/}}
{{- define "daskrun.daskServiceAccountName" -}}
{{- $account := .Values.daskPods.serviceAccount }}
{{- if $account.name }}
{{- $account.name }}
{{- else if $account.create }}
{{- printf "%s-dask" (include "daskrun.fullname" . | trunc 58 | trimSuffix "-") }}
{{- else }}
{{- fail "daskPods.serviceAccount.name is required when daskPods.serviceAccount.create is false: name an existing ServiceAccount for the Dask pods" }}
{{- end }}
{{- end }}

{{/*
A short hash of what the run is: every value (the run's config, image, resources, runId, ...)
and the chart version. `helm template` (Argo CD, plain kubectl) always renders revision 1, so
this, not the revision, is what makes a changed config a new Job there; runId changes it with
the config unchanged. Credentials given as values (output.key/secret_key,
codeCredentials.values) are left out: they are not published even hashed, and rotating them
is not a new run.
*/}}
{{- define "daskrun.runHash" -}}
{{- $values := omit .Values "output" "codeCredentials" }}
{{- $_ := set $values "output" (omit (.Values.output | default dict) "key" "secret_key") }}
{{- $_ := set $values "codeCredentials" (omit (.Values.codeCredentials | default dict) "values") }}
{{- dict "values" $values "chart" .Chart.Version | toJson | sha256sum | trunc 8 }}
{{- end }}

{{/*
The ConfigMap of this revision's config: named like its Job, so a retried launcher of
revision 1 still reads revision 1's config after `helm upgrade` rendered revision 2, and Helm
deletes it when it deletes that Job.
*/}}
{{- define "daskrun.configName" -}}
{{- include "daskrun.jobName" (dict "root" . "revision" .Release.Revision) }}
{{- end }}

{{/*
The Job's name for one revision: <fullname>-r<revision>-<runHash>, the fullname cut so the
whole stays within 53 characters: the run's DaskCluster takes the Job's name
(daskrun.ownership.job_cluster_name, context.MAX_NAME), so the Dask pods' Role can name it.
Called with a dict {root, revision} so the name of any revision can be computed (the render
tests check it for several revisions; the Job itself passes .Release.Revision).
*/}}
{{- define "daskrun.jobName" -}}
{{- $suffix := printf "-r%d-%s" (int .revision) (include "daskrun.runHash" .root) }}
{{- printf "%s%s" (include "daskrun.fullname" .root | trunc (sub 53 (len $suffix) | int) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
An image reference: [global.imageRegistry/]repository, then @digest when set, else :tag
(default: appVersion). Called with dict "root" $ "repository" R "tag" T "digest" D.
*/}}
{{- define "daskrun.imageRef" -}}
{{- $registry := dig "imageRegistry" "" (.root.Values.global | default dict) }}
{{- $repository := ternary (printf "%s/%s" (trimSuffix "/" $registry) .repository) .repository (ne $registry "") }}
{{- if .digest }}
{{- printf "%s@%s" $repository .digest }}
{{- else }}
{{- printf "%s:%s" $repository (.tag | default .root.Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
The chart's image: the launcher's, the scheduler's and the driver's
(daskrun.context.ENV_SCHEDULER_IMAGE).
*/}}
{{- define "daskrun.image" -}}
{{- include "daskrun.imageRef" (dict "root" . "repository" .Values.image.repository "tag" .Values.image.tag "digest" .Values.image.digest) }}
{{- end }}

{{/*
The workers' default image (daskrun.context.ENV_WORKER_IMAGE): workerImage, each part
defaulting to image's (the repository with -worker appended; a digest never carries over).
*/}}
{{- define "daskrun.workerImage" -}}
{{- $w := .Values.workerImage | default dict }}
{{- $repository := $w.repository | default (printf "%s-worker" .Values.image.repository) }}
{{- include "daskrun.imageRef" (dict "root" . "repository" $repository "tag" ($w.tag | default .Values.image.tag) "digest" $w.digest) }}
{{- end }}

{{/*
The Secret holding AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or "" when there is none.
*/}}
{{- define "daskrun.credentialsSecret" -}}
{{- $output := .Values.output | default dict }}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else if $output.key }}
{{- printf "%s-credentials" (include "daskrun.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The Secret with git and package-index credentials, or "" when there is none.
*/}}
{{- define "daskrun.codeCredentialsSecret" -}}
{{- if .Values.codeCredentials.existingSecret }}
{{- .Values.codeCredentials.existingSecret }}
{{- else if .Values.codeCredentials.values }}
{{- printf "%s-code-credentials" (include "daskrun.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Whether the launcher writes into the image's /opt/daskrun (setup pip packages or a git
repository are installed into its interpreter): then the root filesystem can't be read-only.
*/}}
{{- define "daskrun.setupWritesImage" -}}
{{- $setup := dig "worker_config" "setup" dict (.Values.dask_cluster | default dict) }}
{{- if or (dig "pip_packages" list $setup) (dig "git_repository" dict $setup) }}true{{ end }}
{{- end }}

{{/*
The chart's keys the runtime reads to build the Dask pods (daskrun.dask_pods): the pod
settings given at the top level and daskPods, with the ServiceAccount's name resolved.
*/}}
{{- define "daskrun.daskPodValues" -}}
{{- $values := dict }}
{{- range $key := include "daskrun.contract.dask_pods.POD_KEYS" $ | fromJsonArray }}
{{- with get $.Values $key }}
{{- $_ := set $values $key . }}
{{- end }}
{{- end }}
{{- $account := dict "create" $.Values.daskPods.serviceAccount.create "name" (include "daskrun.daskServiceAccountName" $) }}
{{- $_ := set $values "daskPods" (merge (dict "serviceAccount" $account) (omit $.Values.daskPods "serviceAccount")) }}
{{- if $.Values.metrics.enabled }}
{{- $_ := set $values "metrics" (dict "enabled" true) }}
{{- end }}
{{- toJson $values }}
{{- end }}

{{/*
The claim the result is stored on: the user's (outputVolume.existingClaim), the one the
chart makes (outputVolume.create, named after the release: every revision writes to it), or
empty.
*/}}
{{- define "daskrun.outputClaim" -}}
{{- if .Values.outputVolume.existingClaim }}
{{- .Values.outputVolume.existingClaim }}
{{- else if .Values.outputVolume.create }}
{{- printf "%s-output" (include "daskrun.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}
{{- end }}

{{/*
"s3://", the prefix of an S3 output.path: the runtime's daskrun.config.S3_SCHEME, built from
the scheme's name in the contract.
*/}}
{{- define "daskrun.s3Scheme" -}}
{{- printf "%s://" (include "daskrun.contract.config.S3_SCHEME_NAME" .) }}
{{- end }}

{{/*
Whether the result goes to S3, the runtime's Output.is_s3: "true" for an output.bucket (the
path is a key in it) or an output.path starting with s3:// (in lower case, as the runtime
reads it: S3://b/k.csv is a local file), else empty. Every template asks this one.
*/}}
{{- define "daskrun.outputIsS3" -}}
{{- $output := .Values.output | default dict }}
{{- if or $output.bucket (hasPrefix (include "daskrun.s3Scheme" .) (toString ($output.path | default ""))) }}true{{ end }}
{{- end }}

{{/*
The directory of a local output.path inside the launcher container (the working directory
is the image's home, so relative paths land there).
*/}}
{{- define "daskrun.outputDir" -}}
{{- $path := .Values.output.path }}
{{- $dir := dir $path }}
{{- if isAbs $path }}
{{- clean $dir }}
{{- else }}
{{- clean (printf "%s/%s" (include "daskrun.contract.manifest.IMAGE_HOME" .) $dir) }}
{{- end }}
{{- end }}

{{/*
Every number of the config that Helm (which reads numbers as 64-bit floats) may have changed:
an integer from 2^53 on may have lost digits that no template can see, so all are refused, as the
runtime refuses them locally (daskrun.helm_scalars). From 1e21 Go prints a float, left alone.
Called with (dict "path" "run" "value" .Values.run).
*/}}
{{- define "daskrun.exactNumbers" -}}
{{- $path := .path }}
{{- if kindIs "map" .value }}
{{- range $key, $item := .value }}
{{- include "daskrun.exactNumbers" (dict "path" (printf "%s.%s" $path $key) "value" $item) }}
{{- end }}
{{- else if kindIs "slice" .value }}
{{- range $index, $item := .value }}
{{- include "daskrun.exactNumbers" (dict "path" (printf "%s[%d]" $path $index) "value" $item) }}
{{- end }}
{{- else if kindIs "float64" .value }}
{{- if or (and (ge .value 9007199254740992.0) (lt .value 1e21)) (and (le .value -9007199254740992.0) (gt .value -1e21)) }}
{{- fail (printf "%s: %.0f is an integer beyond 2^53 - 1 (9007199254740991): Helm reads every number as a 64-bit float, which would change its digits; quote it to pass the digits as a string" $path .value) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Rules the JSON schema can't express; each failure names the key and the fix.
*/}}
{{- define "daskrun.validate" -}}
{{- range $section := list "run" "dask_cluster" "output" }}
{{- include "daskrun.exactNumbers" (dict "path" $section "value" (index $.Values $section)) }}
{{- end }}
{{- $cluster := .Values.dask_cluster | default dict }}
{{- $output := .Values.output | default dict }}
{{- $workers := $cluster.workers }}
{{- if kindIs "map" $workers }}
{{- if gt (int $workers.minimum) (int $workers.maximum) }}
{{- fail (printf "dask_cluster.workers.minimum (%v) must be <= dask_cluster.workers.maximum (%v)" $workers.minimum $workers.maximum) }}
{{- end }}
{{- end }}
{{- range $name, $_ := dig "worker_config" "env" dict $cluster }}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $name) }}
{{- fail (printf "dask_cluster.worker_config.env.%s: environment variable names are letters, digits and '_', not starting with a digit" $name) }}
{{- end }}
{{- end }}
{{- $apt := dig "worker_config" "setup" "apt_packages" list $cluster }}
{{- if and $apt (not .Values.workerRunAsRoot) }}
{{- fail (printf "dask_cluster.worker_config.setup.apt_packages (%s) needs the workers to run as root: set workerRunAsRoot: true to allow it, or install the packages in the worker image" (join ", " $apt)) }}
{{- end }}
{{- if and .Values.daskPods.readOnlyRootFilesystem $apt }}
{{- fail "daskPods.readOnlyRootFilesystem: the workers' setup.apt_packages installs into the image, which needs a writable root filesystem: set it to false, or install those packages in the worker image" }}
{{- end }}
{{- if and (hasKey $output "key") (not (hasKey $output "secret_key")) }}
{{- fail "output.secret_key is required when output.key is set (or use credentials.existingSecret)" }}
{{- end }}
{{- if and (hasKey $output "secret_key") (not (hasKey $output "key")) }}
{{- fail "output.key is required when output.secret_key is set (or use credentials.existingSecret)" }}
{{- end }}
{{- if and .Values.credentials.existingSecret $output.key }}
{{- fail "output.key/output.secret_key and credentials.existingSecret are both set: keep the credentials in one place (the existing Secret)" }}
{{- end }}
{{- if and .Values.codeCredentials.existingSecret .Values.codeCredentials.values }}
{{- fail "codeCredentials.existingSecret and codeCredentials.values are both set: keep the credentials in one place (the existing Secret)" }}
{{- end }}
{{- /* The runtime refuses the same (daskrun.credentials); checked here so `helm install` fails before anything starts. */}}
{{- $setup := dig "worker_config" "setup" dict $cluster }}
{{- $urls := dict "git_repository.url" (dig "git_repository" "url" "" $setup) "pip_index_url" ($setup.pip_index_url | default "") }}
{{- range $i, $url := $setup.pip_extra_index_urls | default list }}{{ $_ := set $urls (printf "pip_extra_index_urls[%d]" $i) $url }}{{ end }}
{{- range $i, $package := $setup.pip_packages | default list }}{{ $_ := set $urls (printf "pip_packages[%d]" $i) $package }}{{ end }}
{{- range $key, $url := $urls }}
{{- if regexMatch `(?i)(https?://[^/\s@?#]+@|[a-z][a-z0-9+.-]*://[^/\s@:?#]*:[^/\s@?#]*@)` (toString $url) }}
{{- fail (printf "dask_cluster.worker_config.setup.%s contains a credential, which would be stored in the ConfigMap, the pod specs and the logs; remove it and put the token in a Secret (codeCredentials: %s, %s or %s)" $key (include "daskrun.contract.credentials.GIT_TOKEN" $) (include "daskrun.contract.credentials.GIT_SSH_KEY" $) (include "daskrun.contract.credentials.PIP_PASSWORD" $)) }}
{{- end }}
{{- end }}
{{- if and .Values.outputVolume.existingClaim .Values.outputVolume.create }}
{{- fail "outputVolume.existingClaim and outputVolume.create are both set: mount your claim (existingClaim) or let the chart make one (create: true), not both" }}
{{- end }}
{{- $volumeKey := ternary "outputVolume.create" "outputVolume.existingClaim" (eq .Values.outputVolume.create true) }}
{{- if include "daskrun.outputClaim" . }}
{{- if not $output.path }}
{{- fail (printf "%s is set but output.path is not: set output.path to a local file (e.g. results/out.csv) to store the result on the volume" $volumeKey) }}
{{- end }}
{{- if include "daskrun.outputIsS3" . }}
{{- fail (printf "%s is set but output goes to S3 (output.bucket or an s3:// output.path): %s, or use a local output.path" $volumeKey (ternary "set outputVolume.create to false" "remove outputVolume.existingClaim" (eq $volumeKey "outputVolume.create"))) }}
{{- end }}
{{- if eq (include "daskrun.outputDir" .) "/" }}
{{- fail (printf "%s: output.path %q has no directory to mount the volume at; use e.g. /results/out.csv" $volumeKey $output.path) }}
{{- end }}
{{- end }}
{{- end }}
