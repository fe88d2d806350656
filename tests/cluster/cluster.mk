# Local single-node Kubernetes for tests (issue 4). Included by the top-level Makefile;
# also usable alone: make -f tests/cluster/cluster.mk cluster-up
# Paths are relative to the repository root (run make from there).
CLUSTER_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= .venv/bin/python
# Prerequisites of cluster-smoke: the top Makefile's venv target (set empty to skip).
CLUSTER_SMOKE_DEPS ?= venv
CLUSTER_PYTEST_ARGS ?=

.PHONY: cluster-up cluster-down cluster-smoke cluster-build image image-load kind-up kind-down

## Build (cached) and start the cluster, load daskrun:0.1.0; writes .cluster/kubeconfig.
cluster-up:
	bash $(CLUSTER_DIR)/up.sh

## Stop everything cluster-up started and clean the host.
cluster-down:
	bash $(CLUSTER_DIR)/down.sh

## Smoke tests against the running cluster.
cluster-smoke: $(CLUSTER_SMOKE_DEPS)
	KUBECONFIG=$${KUBECONFIG:-$(CURDIR)/.cluster/kubeconfig} \
	  $(PYTHON) -m pytest -p no:cacheprovider $(CLUSTER_DIR) $(CLUSTER_PYTEST_ARGS)

## Only build the binaries into the cache.
cluster-build:
	bash $(CLUSTER_DIR)/build.sh all

## (Re)build daskrun:0.1.0 from the Dockerfile; reload it into the cluster when it runs.
image:
	bash $(CLUSTER_DIR)/images.sh image

## Load the already built image into the running cluster.
image-load:
	bash $(CLUSTER_DIR)/images.sh load-project

## kind instead (needs Docker and registry access): cluster + image + .cluster/kubeconfig.
kind-up:
	bash $(CLUSTER_DIR)/kind.sh up

kind-down:
	bash $(CLUSTER_DIR)/kind.sh down
