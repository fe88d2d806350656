# Tools for the chart: pinned Helm 3 and Helm 4 binaries in .tools/bin, the chart's CRDs
# regenerated from the pinned dask-kubernetes package, and values.schema.json regenerated
# from the runtime's config model. Included by the top Makefile.
#
#   make tools    .tools/bin/helm3 and .tools/bin/helm4 (skipped when present), and
#                 .tools/bin/helm -> helm4 for commands that look for `helm` on PATH
#   make crds     chart/crds/ from dask-kubernetes in .venv
#   make schema   chart/values.schema.json from chart/schema/chart-keys.json + the config model
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
	$(TOOLS_PYTHON) tests/chart/gen.py crds

schema: ## regenerate chart/values.schema.json from chart/schema/chart-keys.json and the config model
	$(TOOLS_PYTHON) tests/chart/gen.py schema

docs: ## regenerate the exit-code tables of README.md and chart/README.md from runtime/daskrun/errors.py
	$(TOOLS_PYTHON) tests/chart/gen.py docs
