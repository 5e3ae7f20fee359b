# scalekeeper — every target a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO      ?= cargo
CARGO_FLAGS = --locked
VENV       := .venv

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
run: ## scalekeeper dev: kubesim + the API on localhost with dev certificates (.scalekeeper/dev).
	$(CARGO) run $(CARGO_FLAGS) -p scalekeeper -- dev

.PHONY: kubesim
kubesim: ## kubesim alone with the sample objects; kubeconfig in .scalekeeper/kubesim/.
	$(CARGO) run $(CARGO_FLAGS) -p kubesim -- serve --listen 127.0.0.1:6443 \
	  --kubeconfig .scalekeeper/kubesim/kubeconfig --seed examples/kubesim-seed.yaml --admin-listen 127.0.0.1:6444

.PHONY: generate
generate: ## Regenerate the CRD YAML (deploy/crds) and the proto appendix of docs/design.md.
	$(CARGO) run $(CARGO_FLAGS) -q -p scalekeeper -- crd > deploy/crds/replicapolicies.scalekeeper.dev.yaml
	python3 tools/sync_design_proto.py

.PHONY: fmt
fmt: ## Format the code.
	$(CARGO) fmt --all

.PHONY: venv
venv: $(VENV)/.installed ## Python tools (grpcio, buf) pinned in tools/requirements.txt, in .venv.

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV) && $(VENV)/bin/pip install --disable-pip-version-check -q -r tools/requirements.txt && touch $@

##@ Checks

.PHONY: lint
lint: $(VENV)/.installed ## rustfmt check, clippy with warnings denied, buf lint of proto/.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings
	$(VENV)/bin/buf lint
	@if $(CARGO) tree $(CARGO_FLAGS) -i aws-lc-rs >/dev/null 2>&1; then \
	  echo "aws-lc-rs is in the dependency tree: one rustls crypto provider (ring) only"; exit 1; fi

.PHONY: test
test: ## Unit, integration, conformance (kubectl, kube-rs) and black-box (grpcio) tests.
	@command -v kubectl >/dev/null || { echo "kubectl is required by the conformance tests (.ci/run installs it)"; exit 1; }
	$(CARGO) test $(CARGO_FLAGS) --workspace
	$(MAKE) --no-print-directory blackbox

.PHONY: blackbox
blackbox: $(VENV)/.installed ## Black-box test: Python grpcio client against scalekeeper dev over mTLS
	$(CARGO) build $(CARGO_FLAGS) -p scalekeeper
	$(VENV)/bin/python tests/blackbox/test_grpcio.py

.PHONY: bench
bench: ## Figures: kubesim (list of 10,000, watch latency, 200 watchers); API latency over mTLS, RSS; drift correction.
	$(CARGO) build $(CARGO_FLAGS) --release -p scalekeeper --bin scalekeeper
	$(CARGO) run $(CARGO_FLAGS) --release -p kubesim --example bench
	$(CARGO) run $(CARGO_FLAGS) --release -p scalekeeper --example bench
	$(CARGO) run $(CARGO_FLAGS) --release -p scalekeeper --example drift_bench
