# microservice-operator — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
export PATH := $(ROOT)/.cluster/bin:$(VENV)/bin:$(PATH)
export KUBECONFIG_LOCAL := $(ROOT)/.cluster/kubeconfig
PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: install
install: ## Install everything: Debian packages, .venv with the project and test tools, cluster binaries
	@hack/install.sh

.PHONY: cluster-binaries
cluster-binaries: ## Build kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, kwokctl, helm into .cluster/bin
	@hack/cluster/build.sh

.PHONY: cluster-up
cluster-up: cluster-binaries ## Start the local cluster on 127.0.0.1 (idempotent); kubeconfig in .cluster/kubeconfig
	@hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop and delete the local cluster
	@hack/cluster/down.sh

.PHONY: lint
lint: install ## ruff and mypy (strict on the package)
	$(VENV)/bin/ruff check operator tests samples
	$(VENV)/bin/mypy

.PHONY: unit
unit: install ## Unit tests (no cluster)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

.PHONY: integration
integration: install ## Integration tests on the real local cluster (started if needed)
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

.PHONY: test
test: install lint ## The whole suite: lint, unit and integration tests
	$(VENV)/bin/pytest tests $(PYTEST_ARGS)

.PHONY: crds
crds: cluster-up ## Apply the CRDs to the local cluster
	kubectl --kubeconfig $(KUBECONFIG_LOCAL) apply --server-side -f crds/

.PHONY: run
run: crds ## Run the operator locally against .cluster/kubeconfig
	KUBECONFIG=$(KUBECONFIG_LOCAL) $(VENV)/bin/microservice-operator run --liveness http://127.0.0.1:8080/healthz --metrics-address 127.0.0.1
