# daskrun developer entry points. `make run` and `make test` are the two README commands.
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: help venv browser run lint test test-unit test-chart test-cluster e2e bench bench-cluster bench-result clean chart-docs package

help: ## this list: every target of Makefile, tools.mk and tests/cluster/cluster.mk
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort | awk -F'\t' '{ printf "%-20s %s\n", $$1, $$2 }'

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --python $(PYTHON) -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv with daskrun and the test tools

# Debian's Chromium, driven by playwright (a test extra) with its executable_path: playwright's
# own browser download is not reachable where only package registries are.
CHROMIUM := /usr/bin/chromium
browser: ## headless Chromium for the report's browser test (tests/unit/test_report_browser.py): apt-get when missing
	@[ -x $(CHROMIUM) ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends -o DPkg::Lock::Timeout=600 chromium >/dev/null; }
	@$(CHROMIUM) --version

run: venv ## run values.example.yaml on a local Dask cluster; writes results/benchmark.csv
	$(VENV)/bin/daskrun run values.example.yaml --local

lint: venv ## ruff, mypy, shellcheck and the import-layering contract (import-linter) on runtime/; README's hostile counts
	$(VENV)/bin/ruff check runtime tests/support tools
	$(VENV)/bin/ruff format --check runtime tests/support tools
	$(VENV)/bin/shellcheck -s sh runtime/daskrun/shell/*.sh
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PYTHON) tests/support/hostile_counts.py --check

test-unit: venv browser lint ## lint, then unit tests: config, bootstrap (real sh/git/pip), output (real S3), local runs, submit/preflight
	$(PYTEST) tests/unit -q --durations=15

test-chart: venv tools chart-tools ## helm lint, render tests, helm-docs drift, ct lint, kubeconform: Helm 3 and 4
	HELM=$(CURDIR)/.tools/bin/helm3 $(PYTEST) tests/chart -q
	HELM=$(CURDIR)/.tools/bin/helm4 $(PYTEST) tests/chart -q

# The one command after a values.yaml change (or a merge touching it): the test compares.
chart-docs: chart-tools ## regenerate chart/README.md from chart/README.md.gotmpl and values.yaml (helm-docs)
	$(HELM_DOCS_CMD)

APP_VERSION = $(shell sh tools/app_version.sh)

# The image is built by the cluster scripts' dockerd, saved, and written as an OCI layout.
package: tools ## dist/: the chart (helm package) and the two images as OCI archives (docker save)
	@mkdir -p dist
	$(HELM4) package chart -d dist
	bash tests/cluster/images.sh project
	bash -c '. tests/cluster/lib.sh && docker save "$$IMAGE" -o dist/.image-docker-save.tar'
	$(PYTHON_BOOTSTRAP) tools/oci_archive.py dist/.image-docker-save.tar dist/daskrun-image-$(APP_VERSION).oci.tar
	bash -c '. tests/cluster/lib.sh && docker save "$$WORKER_IMAGE" -o dist/.image-docker-save.tar'
	$(PYTHON_BOOTSTRAP) tools/oci_archive.py dist/.image-docker-save.tar dist/daskrun-worker-image-$(APP_VERSION).oci.tar
	rm dist/.image-docker-save.tar
	@ls -l dist

test: test-unit test-chart test-cluster ## everything CI runs

LOCAL_KUBECONFIG := $(CURDIR)/.cluster/kubeconfig
# The slowest cases in CI's log: where the next minutes of the 60-minute budget are.
E2E_PYTEST_ARGS ?= --durations=15

# Against $$KUBECONFIG when given; else the local cluster, brought up (idempotent) first.
e2e: venv tools ## end-to-end suite (tests/e2e) against the cluster of KUBECONFIG, or the local one
ifeq ($(strip $(KUBECONFIG)),)
	bash tests/cluster/up.sh
	bash tests/e2e/operator_image.sh
	KUBECONFIG=$(LOCAL_KUBECONFIG) PATH="$(CLUSTER_BIN):$$PATH" $(PYTEST) tests/e2e -p no:cacheprovider $(E2E_PYTEST_ARGS)
else
	$(PYTEST) tests/e2e -p no:cacheprovider $(E2E_PYTEST_ARGS)
endif

# CI: the local cluster from source, its smoke tests, the e2e suite; always torn down.
test-cluster: venv tools ## cluster-up, cluster smoke tests, e2e, cluster-down (CLUSTER_KEEP=1 keeps it)
	bash tests/cluster/up.sh
	@rc=0; \
	$(MAKE) --no-print-directory cluster-smoke CLUSTER_SMOKE_DEPS= || rc=$$?; \
	$(MAKE) --no-print-directory e2e KUBECONFIG= || rc=$$?; \
	if [ "$(CLUSTER_KEEP)" != 1 ]; then bash tests/cluster/down.sh || rc=1; fi; exit $$rc

bench: venv ## wall time of `daskrun run --local` against a bare LocalCluster script
	$(PYTHON) benchmarks/local_overhead.py
	$(PYTHON) benchmarks/hostile_inputs.py

# Not in CI: 10^6 rows through S3 (a local moto server), the log and `daskrun recover`, each
# in its own process; the test helpers (tests/support) start moto.
bench-result: venv ## peak memory of keeping a 10^6 x 10 result: S3 (moto), the log fallback, recover (BENCH_ARGS="--rows N")
	PYTHONPATH=tests/support $(PYTHON) benchmarks/large_result.py $(BENCH_ARGS)

# Where several people share one cluster: a file that they all flock around e2e runs; the
# benchmark then holds it around each group of measurements. Empty: no lock.
E2E_LOCK ?=
BENCH_ARGS ?=

bench-cluster: venv tools ## from `helm install`/`kubectl apply` to N workers and to the result: daskrun, DaskJob, floor, uv/pip, TLS, image pull (BENCH_ARGS=--pull-only) (BENCH_ARGS=--large: N=32,64, adaptive 1->32)
ifeq ($(strip $(KUBECONFIG)),)
	KUBECONFIG=$(LOCAL_KUBECONFIG) PATH="$(CLUSTER_BIN):$$PATH" $(PYTHON) benchmarks/cluster_startup.py \
	  $(if $(E2E_LOCK),--lock $(E2E_LOCK)) --prepare 'bash tests/cluster/up.sh && bash tests/cluster/images.sh image && bash tests/e2e/operator_image.sh' $(BENCH_ARGS)
else
	$(PYTHON) benchmarks/cluster_startup.py $(if $(E2E_LOCK),--lock $(E2E_LOCK)) $(BENCH_ARGS)
endif

clean: ## remove .venv, .tools, build outputs and results/
	rm -rf $(VENV) .tools build dist results *.egg-info runtime/*.egg-info

include tools.mk
include tests/cluster/cluster.mk
