# scalekeeper — every target a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO      ?= cargo
CARGO_FLAGS = --locked
KUBECONFIG_DEV ?= .scalekeeper/kubesim/kubeconfig

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build every crate (debug profile, the one the tests use).
	$(CARGO) build $(CARGO_FLAGS) --workspace --all-targets

.PHONY: run
run: ## Run kubesim with the sample objects; kubeconfig in .scalekeeper/kubesim/.
	$(CARGO) run $(CARGO_FLAGS) -p kubesim -- serve --listen 127.0.0.1:6443 \
	  --kubeconfig $(KUBECONFIG_DEV) --seed examples/kubesim-seed.yaml --admin-listen 127.0.0.1:6444

.PHONY: fmt
fmt: ## Format the code.
	$(CARGO) fmt --all

##@ Checks

.PHONY: lint
lint: ## rustfmt check and clippy with warnings denied.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings
	@if $(CARGO) tree $(CARGO_FLAGS) -i aws-lc-rs >/dev/null 2>&1; then \
	  echo "aws-lc-rs is in the dependency tree: one rustls crypto provider (ring) only"; exit 1; fi

.PHONY: test
test: ## Unit, integration and conformance tests (kubectl and kube-rs against kubesim).
	@command -v kubectl >/dev/null || { echo "kubectl is required by the conformance tests (.ci/run installs it)"; exit 1; }
	$(CARGO) test $(CARGO_FLAGS) --workspace

.PHONY: bench
bench: ## Measure kubesim: paginated list of 10,000 Deployments, watch latency, 200 watchers.
	$(CARGO) run $(CARGO_FLAGS) --release -p kubesim --example bench
