# Tools for the chart: pinned Helm 3 and Helm 4 binaries in .tools/bin, the chart's CRDs
# regenerated from the pinned dask-kubernetes package, and values.schema.json regenerated
# from the runtime's config model. Included by the top Makefile.
#
#   make tools    .tools/bin/helm3 and .tools/bin/helm4 (skipped when present), and
#                 .tools/bin/helm -> helm4 for commands that look for `helm` on PATH
#   make crds     chart/crds/ from dask-kubernetes in .venv
#   make schema   chart/values.schema.json from chart/schema/chart-keys.json + the config model,
#                 and chart/templates/_contract.tpl from the runtime's constants
#   make docs     the exit-code tables in README.md and chart/README.md from daskrun.errors
#
# Both Helm binaries are built from source with `go install` through the Go module proxy:
# no release tarball download, so it works where only package registries are reachable.

TOOLS_DIR ?= .tools
TOOLS_BIN := $(TOOLS_DIR)/bin
HELM3_VERSION ?= v3.22.0
HELM4_VERSION ?= v4.3.1
HELM3 := $(TOOLS_BIN)/helm3
HELM4 := $(TOOLS_BIN)/helm4
TOOLS_PYTHON ?= .venv/bin/python

# What Helm's own Makefile passes: its version, and (Helm 3 only) the Kubernetes version
# `helm template`/`lint` assume, which otherwise stays at 1.20 and fails the chart's
# kubeVersion. 1.37 = the client-go v0.37 that helm v3.22.0 is built with.
HELM3_K8S_MINOR ?= 37
HELM3_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM3_VERSION) \
	-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM3_K8S_MINOR) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM3_K8S_MINOR)
HELM4_LDFLAGS := -s -w -X helm.sh/helm/v4/internal/version.version=$(HELM4_VERSION) \
	-X helm.sh/helm/v4/internal/version.gitTreeState=clean

.PHONY: tools crds schema docs

# The binaries carry their version in the file name, so changing a pin builds the new one;
# helm3/helm4 (what the tests call) and helm (-> helm4) are symlinks to them.
tools: $(TOOLS_BIN)/helm3-$(HELM3_VERSION) $(TOOLS_BIN)/helm4-$(HELM4_VERSION) ## pinned Helm 3 and Helm 4 in .tools/bin (built from the Go module proxy)
	ln -sfn helm3-$(HELM3_VERSION) $(HELM3)
	ln -sfn helm4-$(HELM4_VERSION) $(HELM4)
	ln -sfn helm4 $(TOOLS_BIN)/helm

# One GOBIN per build: both commands are called `helm`.
$(TOOLS_BIN)/helm3-$(HELM3_VERSION):
	@mkdir -p $(TOOLS_BIN) $(TOOLS_DIR)/go-helm3
	GOBIN="$(abspath $(TOOLS_DIR)/go-helm3)" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
		go install -ldflags '$(HELM3_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM3_VERSION)
	mv $(TOOLS_DIR)/go-helm3/helm $@ && rmdir $(TOOLS_DIR)/go-helm3
	$@ version --short

$(TOOLS_BIN)/helm4-$(HELM4_VERSION):
	@mkdir -p $(TOOLS_BIN) $(TOOLS_DIR)/go-helm4
	GOBIN="$(abspath $(TOOLS_DIR)/go-helm4)" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
		go install -ldflags '$(HELM4_LDFLAGS)' helm.sh/helm/v4/cmd/helm@$(HELM4_VERSION)
	mv $(TOOLS_DIR)/go-helm4/helm $@ && rmdir $(TOOLS_DIR)/go-helm4
	$@ version --short

crds: ## regenerate chart/crds from the pinned dask-kubernetes in .venv
	$(TOOLS_PYTHON) tools/gen_chart.py crds

schema: ## regenerate chart/values.schema.json (chart-keys.json + the config model) and chart/templates/_contract.tpl (the runtime's constants)
	$(TOOLS_PYTHON) tools/gen_chart.py schema

# Chart checks (make test-chart): helm-docs (chart/README.md from values.yaml), chart-testing
# `ct lint` and kubeconform, each built from the Go module proxy like Helm. ct calls yamllint
# and yamale, Python tools pinned in pyproject.toml's test extra (in .venv/bin); its lint
# config and chart schema come from the same ct module's etc/ (copied into .tools/etc).
HELM_DOCS_VERSION ?= v1.14.2
CT_VERSION := $(shell sed -n "s|^require github.com/helm/chart-testing/v3 ||p" tools/ct/go.mod)
KUBECONFORM_VERSION ?= v0.7.0
HELM_DOCS := $(TOOLS_BIN)/helm-docs-$(HELM_DOCS_VERSION)
CT := $(TOOLS_BIN)/ct-$(CT_VERSION)
KUBECONFORM := $(TOOLS_BIN)/kubeconform-$(KUBECONFORM_VERSION)
CT_ETC := $(TOOLS_DIR)/etc/ct-$(CT_VERSION)

.PHONY: chart-tools print-helm-docs-cmd

# Also what tests/chart/test_chart_checks.py runs (it reads this line with `make -s print-helm-docs-cmd`).
HELM_DOCS_CMD = $(TOOLS_BIN)/helm-docs --chart-search-root chart --template-files README.md.gotmpl --sort-values-order file
print-helm-docs-cmd: ## the helm-docs command line that test-chart and chart-docs run
	@echo '$(HELM_DOCS_CMD)'

chart-tools: $(HELM_DOCS) $(CT) $(CT_ETC)/lintconf.yaml $(KUBECONFORM) ## helm-docs, ct and kubeconform in .tools/bin (built from the Go module proxy)
	ln -sfn helm-docs-$(HELM_DOCS_VERSION) $(TOOLS_BIN)/helm-docs
	ln -sfn ct-$(CT_VERSION) $(TOOLS_BIN)/ct
	ln -sfn kubeconform-$(KUBECONFORM_VERSION) $(TOOLS_BIN)/kubeconform
	ln -sfn ct-$(CT_VERSION) $(TOOLS_DIR)/etc/ct

# go install NAME@VERSION into a private GOBIN, then rename the binary to NAME-VERSION.
define go-tool
	@mkdir -p $(TOOLS_BIN) $(TOOLS_DIR)/go-$(1)
	GOBIN="$(abspath $(TOOLS_DIR)/go-$(1))" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
		go install -ldflags '-s -w $(3)' $(2)
	mv $(TOOLS_DIR)/go-$(1)/$(1) $@ && rmdir $(TOOLS_DIR)/go-$(1)
endef

$(HELM_DOCS):
	$(call go-tool,helm-docs,github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION),-X main.version=$(HELM_DOCS_VERSION))

# ct's version is the one tools/ct/go.mod requires (see tools/ct/tools.go for why).
$(CT): tools/ct/go.mod
	@mkdir -p $(TOOLS_BIN)
	cd tools/ct && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
		-ldflags '-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$(CT_VERSION)' \
		-o $(abspath $@) github.com/helm/chart-testing/v3/ct

$(KUBECONFORM):
	$(call go-tool,kubeconform,github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION),)

$(CT_ETC)/lintconf.yaml:
	@mkdir -p $(CT_ETC)
	cp "$$(cd tools/ct && go list -m -f '{{.Dir}}' github.com/helm/chart-testing/v3)"/etc/*.yaml $(CT_ETC)/
	chmod u+w $(CT_ETC)/*.yaml
docs: chart-tools ## regenerate the exit-code tables of README.md and chart/README.md from runtime/daskrun/errors.py, and README's hostile-input counts from the suites
	$(TOOLS_PYTHON) tools/gen_chart.py docs
	$(TOOLS_PYTHON) tests/support/hostile_counts.py
	$(HELM_DOCS_CMD)
