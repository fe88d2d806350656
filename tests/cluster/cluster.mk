# Local single-node Kubernetes for tests (issue 4). Included by the top-level Makefile;
# also usable alone: make -f tests/cluster/cluster.mk cluster-up
# Paths are relative to the repository root (run make from there).
CLUSTER_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= .venv/bin/python
# Prerequisites of cluster-smoke: the top Makefile's venv target (set empty to skip).
CLUSTER_SMOKE_DEPS ?= venv
CLUSTER_PYTEST_ARGS ?=
# Where build.sh puts the cluster's binaries (lib.sh's $BIN). First on PATH for the test suites:
# their kubectl is a kubectl on PATH (tests/support/cluster_tools.py), the one built for this
# cluster rather than another the host has.
CLUSTER_BIN = $(shell bash -c '. $(CLUSTER_DIR)/lib.sh >/dev/null 2>&1; echo $$BIN')

.PHONY: cluster-up cluster-down cluster-smoke cluster-build image image-load kind-up kind-down

cluster-up: ## build (cached) and start the cluster, load the daskrun image; writes .cluster/kubeconfig
	bash $(CLUSTER_DIR)/up.sh

cluster-down: ## stop everything cluster-up started and clean the host
	bash $(CLUSTER_DIR)/down.sh

cluster-smoke: $(CLUSTER_SMOKE_DEPS) ## smoke tests against the running cluster
	KUBECONFIG=$${KUBECONFIG:-$(CURDIR)/.cluster/kubeconfig} PATH="$(CLUSTER_BIN):$$PATH" \
	  $(PYTHON) -m pytest -p no:cacheprovider $(CLUSTER_DIR) $(CLUSTER_PYTEST_ARGS)

cluster-build: ## only build the binaries into the cache
	bash $(CLUSTER_DIR)/build.sh all

image: ## (re)build the daskrun and daskrun-worker images from the Dockerfile; reload them into the cluster when it runs
	bash $(CLUSTER_DIR)/images.sh image

image-load: ## load the already built images into the running cluster
	bash $(CLUSTER_DIR)/images.sh load-project

kind-up: ## kind instead (needs Docker and registry access): cluster + image + .cluster/kubeconfig
	bash $(CLUSTER_DIR)/kind.sh up

kind-down: ## delete the kind cluster that kind-up made
	bash $(CLUSTER_DIR)/kind.sh down
