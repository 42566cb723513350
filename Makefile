# microservice-operator — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
export PATH := $(ROOT)/.cluster/bin:$(VENV)/bin:$(PATH)
export KUBECONFIG_LOCAL := $(ROOT)/.cluster/kubeconfig
PYTEST_ARGS ?=
# The operator's version: operator/microservice_operator/__init__.py (tests/unit/test_version.py holds this to it).
IMAGE_TAG ?= 0.1.0
# The images' platform, linux/amd64 or linux/arm64; empty: the Docker engine's own. Another platform
# needs a base image of it and an engine that runs its binaries (qemu binfmt handlers): see hack/images.sh.
PLATFORM ?=
# The base the images build FROM. Here no registry is reachable, so the default is made locally
# (make base-image); on kind or minikube machines use BASE_IMAGE=python:3.12-slim.
BASE_IMAGE ?= microservice-operator/base:bookworm
IMAGES := microservice-operator:$(IMAGE_TAG) microservice-operator/user-service:$(IMAGE_TAG) \
	microservice-operator/order-service:$(IMAGE_TAG)
# The samples' databases (user-db, order-db): made here by hack/postgres-image.sh (Debian's postgresql);
# on kind or minikube deploy the samples with POSTGRES_IMAGE=postgres:15 (the official image).
LOCAL_POSTGRES_IMAGE := microservice-operator/postgres:15
POSTGRES_IMAGE ?= $(LOCAL_POSTGRES_IMAGE)
RELEASE ?= microservice-operator
RELEASE_NAMESPACE ?= microservice-operator-system
KIND_CLUSTER ?= kind
# make demo's routing of user: Replicas, or GatewayAPI (an HTTPRoute through the local Gateway)
ROUTING ?= Replicas

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: install
install: ## Install everything: Debian packages, .venv with the project and test tools, cluster binaries
	@hack/install.sh

.PHONY: cluster-binaries
cluster-binaries: ## Build the control plane, kwok, helm, and the real node's kubelet, kube-proxy, CoreDNS into .cluster/bin
	@hack/cluster/build.sh

.PHONY: cluster-up
cluster-up: cluster-binaries ## Start the local cluster: control plane, 2 kwok nodes, 1 real node (idempotent); kubeconfig in .cluster/kubeconfig
	@hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop and delete the local cluster: every process, mount, netns, iptables rule and bridge it made; restores sysctls
	@hack/cluster/down.sh

.PHONY: lint
lint: install ## ruff and mypy (strict on the package)
	$(VENV)/bin/ruff check operator tests samples bench hack
	$(VENV)/bin/mypy

.PHONY: unit
unit: install ## Unit tests (no cluster)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

.PHONY: integration
integration: install ## Integration tests on the real local cluster (started if needed)
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

.PHONY: test
test: install lint ## The whole suite: lint, unit, integration (kwok) and e2e (real node) tests on the local cluster
	$(VENV)/bin/pytest tests $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: install ## The real-node tests: on the cluster of $$KUBECONFIG when set (kind, minikube), else on the local cluster
	MSO_E2E_KUBECONFIG="$${KUBECONFIG:-}" $(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

.PHONY: crds
crds: cluster-up ## Apply the CRDs to the local cluster
	kubectl --kubeconfig $(KUBECONFIG_LOCAL) apply --server-side -f crds/

.PHONY: run
run: crds ## Run the operator locally against .cluster/kubeconfig
	KUBECONFIG=$(KUBECONFIG_LOCAL) $(ROOT)/.venv-operator/bin/microservice-operator run --liveness http://127.0.0.1:8080/healthz --metrics-address 127.0.0.1

.PHONY: base-image
base-image: ## Make the local base image (debootstrap bookworm + python3, docker import)
	@hack/dockerd.sh
	@BASE_IMAGE=$(BASE_IMAGE) hack/base-image.sh

.PHONY: docker-build
docker-build: ## Build the operator and sample images, and here the samples' PostgreSQL (BASE_IMAGE=python:3.12-slim on machines with a registry; PLATFORM=linux/arm64)
	@BASE_IMAGE=$(BASE_IMAGE) IMAGE_TAG=$(IMAGE_TAG) PLATFORM=$(PLATFORM) hack/images.sh

.PHONY: cluster-images
cluster-images: docker-build ## Load the images into the local cluster's real node (containerd), under the tags the chart and samples use
	@hack/cluster/load-images.sh $(IMAGES) $(LOCAL_POSTGRES_IMAGE)

.PHONY: kind-load
kind-load: ## Load the images into a kind cluster (KIND_CLUSTER=kind); minikube users: minikube image load IMAGE
	@for image in $(IMAGES); do kind load docker-image "$$image" --name $(KIND_CLUSTER); done

.PHONY: helm-install
helm-install: ## Apply the CRDs and install or upgrade the chart into the current kubectl context, in a restricted namespace
	kubectl apply --server-side -f charts/microservice-operator/crds/
	kubectl create namespace $(RELEASE_NAMESPACE) --dry-run=client -o yaml | kubectl apply --server-side -f -
	kubectl label namespace $(RELEASE_NAMESPACE) --overwrite pod-security.kubernetes.io/enforce=restricted
	helm upgrade --install $(RELEASE) charts/microservice-operator --namespace $(RELEASE_NAMESPACE) \
	  --set image.tag=$(IMAGE_TAG) --wait

.PHONY: deploy-samples
deploy-samples: ## Apply the samples (namespace shop: Microservices user and order, databases user-db and order-db) to the current kubectl context
	kubectl apply --server-side -f samples/manifests/namespace.yaml
	for f in samples/manifests/*.yaml; do echo ---; sed 's#image: $(LOCAL_POSTGRES_IMAGE)$$#image: $(POSTGRES_IMAGE)#' "$$f"; done | \
	  kubectl apply --server-side -f -

.PHONY: bench
bench: install ## Benchmarks P1–P5 against the raw-apply floor, P6–P7 on real requests; results in bench/results/ and the README
	$(PY) -m bench.run --size full

.PHONY: demo
demo: install cluster-up cluster-images ## The product on the real node: chart, samples, live requests through weight edits, scaling, failover, failback (ROUTING=GatewayAPI: user through the Gateway)
	ROUTING=$(ROUTING) $(PY) hack/demo.py
