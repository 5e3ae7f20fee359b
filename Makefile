# scalekeeper — every target a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO      ?= cargo
CARGO_FLAGS = --locked
VENV       := .venv
CHART_VENV   := .venv-chart
CHECKOV_VENV := .venv-checkov
LINT_VENV    := .venv-lint
# cargo-zigbuild and zig (tools/cross-requirements.txt, the Dockerfile's builder tools).
CROSS_VENV   := .venv-cross
MUSL_TARGET  := x86_64-unknown-linux-musl
# Where build-musl's binary lands: cargo puts it under CARGO_TARGET_DIR when that is set.
MUSL_BIN      = $(or $(CARGO_TARGET_DIR),target)/$(MUSL_TARGET)/release/scalekeeper
# The release profile's single-unit fat LTO takes minutes to link on 2 cores: build-musl keeps
# its last three binaries here, each under a digest of what it is built from (the toolchain
# file, the manifests, Cargo.lock and every tracked file under crates/ and proto/, as they are
# in the work tree), so a second run on the same sources (CI again, test-node after a fix
# elsewhere) copies instead of linking. MUSL_CACHE=0 always builds.
MUSL_CACHE_DIR ?= $(HOME)/.cache/scalekeeper/musl
MUSL_CACHE     ?= 1
MUSL_KEY       = git ls-files -z -- rust-toolchain.toml Cargo.toml Cargo.lock crates proto | \
  xargs -0 sha256sum | sha256sum | cut -c1-24
# The image `make image` builds and the kind targets load and deploy.
IMAGE       ?= ghcr.io/scalekeeper/scalekeeper:dev
# `make image-archive`: the same image without Docker, as a docker-save archive for
# `ctr -n k8s.io images import` (containerd keeps a localhost/ name as it is; a bare name
# would become docker.io/library/NAME). Another tag gives another archive of the same build.
IMAGE_ARCHIVE_REPO ?= localhost/scalekeeper
IMAGE_ARCHIVE_TAG  ?= dev
IMAGE_ARCHIVE       = target/image/scalekeeper-$(IMAGE_ARCHIVE_TAG).tar
# What `make buf-breaking` compares proto/ with (CI: the pull request's base branch).
BUF_AGAINST ?= .git\#branch=main

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-19s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build every crate (debug profile, the one the tests use).
	$(CARGO) build $(CARGO_FLAGS) --workspace --all-targets

.PHONY: run
run: ## scalekeeper dev: kubesim + the API on localhost with dev certificates (.scalekeeper/dev).
	$(CARGO) run $(CARGO_FLAGS) -p scalekeeper --features dev -- dev

.PHONY: kubesim
kubesim: ## kubesim alone with the sample objects; kubeconfig in .scalekeeper/kubesim/.
	$(CARGO) run $(CARGO_FLAGS) -p kubesim -- serve --listen 127.0.0.1:6443 \
	  --kubeconfig .scalekeeper/kubesim/kubeconfig --seed examples/kubesim-seed.yaml --admin-listen 127.0.0.1:6444

.PHONY: generate
generate: ## Regenerate the CRD YAML (deploy/crds, one file per CRD, and the chart's copy), the proto appendix of docs/design.md, the chart's value table.
	for kind in ReplicaPolicy:replicapolicies ScaleRequest:scalerequests; do \
	  file=$${kind#*:}.scalekeeper.dev.yaml; \
	  $(CARGO) run $(CARGO_FLAGS) -q -p scalekeeper -- crd --kind $${kind%%:*} > deploy/crds/$$file && \
	  cp deploy/crds/$$file charts/scalekeeper/crds/$$file || exit 1; \
	done
	python3 tools/sync_design_proto.py
	python3 tools/validate_chart.py --write-readme

.PHONY: build-musl
build-musl: $(CROSS_VENV)/.installed ## The image's static (musl) binary without Docker, as the Dockerfile builds it: target/x86_64-unknown-linux-musl/release/scalekeeper (under CARGO_TARGET_DIR if set); reused from MUSL_CACHE_DIR when Cargo.lock and the sources are the same (MUSL_CACHE=0: always build).
	@set -euo pipefail; key="$$($(MUSL_KEY))"; cached="$(MUSL_CACHE_DIR)/$$key/scalekeeper"; \
	if [ "$(MUSL_CACHE)" != 0 ] && [ -x "$$cached" ]; then \
	  mkdir -p "$$(dirname $(MUSL_BIN))" && cp "$$cached" $(MUSL_BIN); \
	  echo "build-musl: $$cached, built before from the same Cargo.lock and sources (MUSL_CACHE=0 rebuilds)"; \
	else \
	  rustup target add $(MUSL_TARGET); \
	  PATH="$(CURDIR)/$(CROSS_VENV)/bin:$$PATH" $(CARGO) zigbuild $(CARGO_FLAGS) --release --target $(MUSL_TARGET) -p scalekeeper --bin scalekeeper; \
	  mkdir -p "$(MUSL_CACHE_DIR)/$$key" && cp $(MUSL_BIN) "$$cached.tmp" && mv "$$cached.tmp" "$$cached"; \
	  ls -1dt "$(MUSL_CACHE_DIR)"/*/ | tail -n +4 | xargs -r rm -rf; \
	fi
	@if readelf --program-headers --dynamic $(MUSL_BIN) | grep -E 'INTERP|\(NEEDED\)'; then \
	  echo "$(MUSL_BIN) is not a static binary"; exit 1; fi
	@ls -l $(MUSL_BIN)

# cargo-zigbuild runs `python3 -m ziglang`: the venv's bin must come first in PATH (above).
$(CROSS_VENV)/.installed: tools/cross-requirements.txt
	python3 -m venv $(CROSS_VENV) && $(CROSS_VENV)/bin/pip install --disable-pip-version-check -q --require-hashes -r tools/cross-requirements.txt && touch $@

.PHONY: fmt
fmt: ## Format the code.
	$(CARGO) fmt --all

.PHONY: venv
venv: $(VENV)/.installed ## Python tools (grpcio, buf) pinned in tools/requirements.txt, in .venv.

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV) && $(VENV)/bin/pip install --disable-pip-version-check -q -r tools/requirements.txt && touch $@

##@ Checks

.PHONY: lint
lint: $(VENV)/.installed ## rustfmt check, clippy and rustdoc with warnings denied (with and without the dev feature), buf lint of proto/, no import cycle between the server's modules, no other project's copyright or license header in a tracked file (tools/check_provenance.py), no kubesim in the release tree, the chart's lint part, hadolint, actionlint, the krew manifest's schema (krew-check).
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings
	$(CARGO) clippy $(CARGO_FLAGS) -p scalekeeper --all-targets --features dev -- -D warnings
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc $(CARGO_FLAGS) --no-deps --workspace --features scalekeeper/dev
	$(VENV)/bin/buf lint
	python3 tools/check_layers.py
	python3 tools/check_provenance.py
	@if $(CARGO) tree $(CARGO_FLAGS) -i aws-lc-rs >/dev/null 2>&1; then \
	  echo "aws-lc-rs is in the dependency tree: one rustls crypto provider (ring) only"; exit 1; fi
	@tree="$$($(CARGO) tree $(CARGO_FLAGS) -p scalekeeper -e normal,build --target all --prefix none)" || exit 1; \
	  if grep -q '^kubesim ' <<<"$$tree"; then \
	  echo "kubesim is in scalekeeper's production dependency tree: only the dev feature may bring it"; exit 1; fi
	$(MAKE) --no-print-directory chart-lint
	$(MAKE) --no-print-directory hadolint
	$(MAKE) --no-print-directory actionlint
	$(MAKE) --no-print-directory krew-check

# What `make test` builds and runs: the whole workspace, with scalekeeper's dev feature so
# that the same build serves the black-box test's `scalekeeper dev` (dev_feature.rs and
# cli_flags.rs check either way; make lint's clippy covers the build without it).
TEST_SCOPE := --workspace --features scalekeeper/dev

.PHONY: test
test: ## Unit, integration, conformance (kubectl, kube-rs), black-box (grpcio) tests; completions and man pages (check-install); the Helm chart's validation; image-archive-check.
	@command -v kubectl >/dev/null || { echo "kubectl is required by the conformance tests (.ci/run installs it)"; exit 1; }
	$(CARGO) test $(CARGO_FLAGS) $(TEST_SCOPE)
	$(MAKE) --no-print-directory blackbox
	$(MAKE) --no-print-directory check-install
	$(MAKE) --no-print-directory chart-validate
	$(MAKE) --no-print-directory image-archive-check

.PHONY: blackbox
blackbox: $(VENV)/.installed ## Black-box test: Python grpcio client against scalekeeper dev over mTLS
	@# The binary `cargo test $(TEST_SCOPE)` built (a no-op after it): built alone with
	@# `-p scalekeeper --features dev`, cargo would resolve other dependency features and
	@# compile a second copy of tokio, hyper, kube, ... (3-4 minutes on 2 cores).
	$(CARGO) test $(CARGO_FLAGS) $(TEST_SCOPE) --no-run
	@# A hard link taken at once: a later build without the dev feature (cargo test, cargo run)
	@# relinks target/debug/scalekeeper, not target/debug/scalekeeper-dev.
	@ln -f target/debug/scalekeeper target/debug/scalekeeper-dev
	@target/debug/scalekeeper-dev dev --help >/dev/null 2>&1 || { echo "target/debug/scalekeeper has no dev subcommand: a build without --features dev replaced it meanwhile; run make blackbox again"; exit 1; }
	SCALEKEEPER_BIN="$${SCALEKEEPER_BIN:-target/debug/scalekeeper-dev}" $(VENV)/bin/python tests/blackbox/test_grpcio.py

# The binary `cargo test $(TEST_SCOPE)` builds (with the dev feature: the same parser, plus `dev`).
TEST_BIN = $(or $(CARGO_TARGET_DIR),target)/debug/scalekeeper
# Where `make install-files` writes the completions and man pages of a release build.
INSTALL_FILES_DIR ?= $(or $(CARGO_TARGET_DIR),target)/install-files

.PHONY: check-install
check-install: ## Completions parse (bash -n, zsh -n, fish --no-execute; zsh, fish, groff apt-installed when missing) and every subcommand has a man page that renders (hack/check-install.sh).
	@# The build make test and blackbox use (a no-op after them; see blackbox).
	$(CARGO) test $(CARGO_FLAGS) $(TEST_SCOPE) --no-run
	hack/check-install.sh $(TEST_BIN)

.PHONY: install-files
install-files: ## Shell completions and man pages from a build without the dev feature, as the release archives carry them: INSTALL_FILES_DIR (default target/install-files).
	$(CARGO) build $(CARGO_FLAGS) -p scalekeeper --bin scalekeeper
	hack/install-files.sh $(or $(CARGO_TARGET_DIR),target)/debug/scalekeeper $(INSTALL_FILES_DIR)

.PHONY: krew-check
krew-check: $(LINT_VENV)/.installed ## tools/krew_manifest.py's manifest (from dummy archives) validates against tools/krew-plugin.schema.json; broken ones do not.
	$(LINT_VENV)/bin/python tools/test_krew_manifest.py

.PHONY: bench
bench: ## Figures: kubesim; authz on vs off; drift correction vs its floor; admission reviews vs their floor; then the summary (1k/10k/100k Deployments, ratios to floors, leader and follower RSS) into docs/benchmarks.md.
	$(CARGO) build $(CARGO_FLAGS) --release -p scalekeeper --bin scalekeeper
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p kubesim --example kubesim_bench
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example bench
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example drift_bench
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example admission_bench
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example scale_bench
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example freeze_bench

.PHONY: probe
probe: ## The adversarial probe's load cases (slow bodies, handshake lockout, reset floods, idle connections, big and random messages) against the release binary on loopback: a table of what was sent, what came back, RSS, health after each.
	$(CARGO) build $(CARGO_FLAGS) --release -p scalekeeper --bin scalekeeper
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example probe

SOAK_DURATION ?= 10m
.PHONY: soak
soak: ## Churn against the release binary on loopback for SOAK_DURATION (default 10m; e.g. SOAK_DURATION=2h): RSS, fds, threads, corrections made and missed, holds not back.
	$(CARGO) build $(CARGO_FLAGS) --release -p scalekeeper --bin scalekeeper
	$(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example soak -- --duration $(SOAK_DURATION)

.PHONY: bench-musl
bench-musl: build-musl ## The summary's figures at 10,000 Deployments for the image's static musl binary (printed, not written to the docs).
	SCALEKEEPER_BIN=$(MUSL_BIN) BENCH_SIZES=10000 BENCH_WRITE_DOC=0 \
	  $(CARGO) run $(CARGO_FLAGS) --profile bench-harness -p scalekeeper --example scale_bench

.PHONY: hadolint
hadolint: $(LINT_VENV)/.installed ## Lint the Dockerfile (.hadolint.yaml); its rust image must match rust-toolchain.toml.
	$(LINT_VENV)/bin/hadolint Dockerfile
	@channel="$$(sed -n 's/^channel *= *"\(.*\)"$$/\1/p' rust-toolchain.toml)"; \
	  grep -Eq "^FROM .*[ /]rust:$${channel//./\\.}-" Dockerfile || \
	  { echo "Dockerfile: the builder image is not rust:$$channel-* (the channel of rust-toolchain.toml)"; exit 1; }

.PHONY: actionlint
actionlint: $(LINT_VENV)/.installed ## Lint .github/workflows with actionlint, shellcheck on every run: script.
	$(LINT_VENV)/bin/actionlint -shellcheck $(LINT_VENV)/bin/shellcheck

.PHONY: deny
deny: ## cargo-deny (deny.toml): RustSec advisories, licenses, bans, sources. DENY_FLAGS=--offline skips fetching.
	@command -v cargo-deny >/dev/null || { echo "cargo-deny is not installed: cargo install --locked cargo-deny"; exit 1; }
	$(CARGO) deny --locked $(DENY_FLAGS) check

.PHONY: buf-breaking
buf-breaking: $(VENV)/.installed ## buf breaking: proto/ against BUF_AGAINST (default: the local branch main).
	$(VENV)/bin/buf breaking --against '$(BUF_AGAINST)'

$(LINT_VENV)/.installed: tools/lint-requirements.txt
	python3 -m venv $(LINT_VENV) && $(LINT_VENV)/bin/pip install --disable-pip-version-check -q -r tools/lint-requirements.txt && touch $@

##@ Real API server (differential tests)

# hack/realkube.sh: upstream kube-apiserver + kube-controller-manager v1.20.2 built from Debian
# bookworm's source package, with Debian's etcd, on 127.0.0.1:16443. Binaries and state are
# cached in SCALEKEEPER_REALKUBE_DIR (default ~/.cache/scalekeeper/realkube).
REALKUBE := $(CURDIR)/hack/realkube.sh
# The suites test-real runs against it, each reading SCALEKEEPER_TEST_KUBECONFIG (faults also
# reads SCALEKEEPER_REALKUBE, to stop and restart the API server).
REAL_KUBESIM_TESTS     := --test kubectl --test kube_rs --test kubectl_imperative --test rbac
REAL_SCALEKEEPER_TESTS := --test e2e --test reconcile --test holds --test ha --test faults --test authz --test explain --test history --test freeze --test fleet --test approvals

.PHONY: realkube-build
realkube-build: ## Build kube-apiserver and kube-controller-manager v1.20.2 once (~5 min; apt-installs Go 1.19, etcd).
	@$(REALKUBE) build

.PHONY: realkube-up
realkube-up: ## Start etcd, kube-apiserver (127.0.0.1:16443), kube-controller-manager; prints the kubeconfig.
	@$(REALKUBE) up

.PHONY: realkube-down
realkube-down: ## Stop the control plane realkube-up started (WIPE=1 also deletes etcd's data).
	@$(REALKUBE) down

.PHONY: test-real
test-real: realkube-build ## The kubesim conformance suites and scalekeeper's cluster suites against the real API server, stopped and its etcd data deleted after (KEEP_REALKUBE=1 leaves it up).
	@command -v kubectl >/dev/null || { echo "kubectl is required by the conformance tests (.ci/run installs it)"; exit 1; }
	@set -uo pipefail; \
	if [ "$(KEEP_REALKUBE)" = 1 ]; then trap 'echo "test-real: the control plane stays up (KEEP_REALKUBE=1); make realkube-down stops it"' EXIT; \
	else trap 'WIPE=1 $(REALKUBE) down' EXIT; fi; \
	: "etcd's data goes with the control plane: each run leaves hundreds of throw-away namespaces, \
	  and a store grown over a day of runs (300 MB) made the apiserver slow enough to fail timing bounds"; \
	kubeconfig="$$($(REALKUBE) up | tail -n 1)" || exit 1; \
	export SCALEKEEPER_TEST_KUBECONFIG="$$kubeconfig" SCALEKEEPER_REALKUBE="$(REALKUBE)" \
	  SCALEKEEPER_REALKUBE_DIR="$${SCALEKEEPER_REALKUBE_DIR:-$$HOME/.cache/scalekeeper/realkube}"; \
	kubectl --kubeconfig "$$kubeconfig" version 2>/dev/null | sed 's/^/test-real: /'; \
	echo "test-real: SCALEKEEPER_TEST_KUBECONFIG=$$kubeconfig"; \
	summary=""; failed=0; log="$$(mktemp)"; \
	run() { echo; echo "test-real: === $$1 against the real API server ==="; shift; \
	  if "$$@" 2>&1 | tee -a "$$log"; then summary="$$summary\n  PASS  $$*"; \
	  else summary="$$summary\n  FAIL  $$*"; failed=1; fi; }; \
	run "kubesim conformance suites" \
	  $(CARGO) test $(CARGO_FLAGS) --no-fail-fast $(TEST_SCOPE) $(REAL_KUBESIM_TESTS) -- --show-output; \
	run "scalekeeper suites" $(CARGO) test $(CARGO_FLAGS) --no-fail-fast $(TEST_SCOPE) $(REAL_SCALEKEEPER_TESTS); \
	echo; echo "test-real: where the real server differs from kubesim, and what only kubesim can test (docs/kubesim.md):"; \
	grep -h '^\[real API server\]' "$$log" | sort -u | sed 's/^/  /'; \
	echo; echo "test-real: suites run against the real API server ($$kubeconfig):"; \
	awk '/Running tests\/[a-z0-9_]+\.rs/ { match($$0, /tests\/[a-z0-9_]+\.rs/); suite = substr($$0, RSTART, RLENGTH) } \
	  /^test result:/ && suite != "" { printf "  %-30s %s\n", suite, $$0; suite = "" }' "$$log"; \
	rm -f "$$log"; printf "test-real: cargo runs:$$summary\n"; \
	exit $$failed

##@ Real node (the chart and the image under a kubelet)

# hack/node.sh: a single-node cluster that runs pods, v1.20.2 from the same Debian source tree
# as realkube plus kube-scheduler, kubelet and kube-proxy, with Debian's containerd, runc and
# CNI plugins. Needs root, cgroup v1 and iptables (`hack/node.sh check` says what is missing).
NODE_SCRIPT := $(CURDIR)/hack/node.sh

.PHONY: node-up
node-up: ## Start the node (builds it the first time); prints the kubeconfig.
	@$(NODE_SCRIPT) up

.PHONY: node-down
node-down: ## Stop the node; restore sysctls and iptables (WIPE=1 also deletes its state).
	@$(NODE_SCRIPT) down

.PHONY: test-node
test-node: $(CHART_VENV)/.installed ## The chart and image-archive on the node: e2e, upgrade and rollback under load, failover, PDB (KEEP_NODE=1 leaves it up).
	@command -v kubectl >/dev/null || { echo "kubectl is required (.ci/run installs it)"; exit 1; }
	@MAKE='$(MAKE)' CARGO='$(CARGO)' TEST_SCOPE='$(TEST_SCOPE)' hack/test-node.sh

##@ Delivery

.PHONY: chart-validate
chart-validate: $(CHART_VENV)/.installed $(CHECKOV_VENV)/.installed ## Helm chart: lint, schema, render, kubernetes-validate, invariants, PromQL, checkov.
	$(CHART_VENV)/bin/python tools/validate_chart.py --checkov $(CHECKOV_VENV)/bin/checkov

.PHONY: chart-lint
chart-lint: $(CHART_VENV)/.installed ## Helm chart, quick part: metadata, CRD copy, schema, README, bad values, user roles, client CA, helm lint.
	$(CHART_VENV)/bin/python tools/validate_chart.py --lint-only

$(CHART_VENV)/.installed: tools/chart-requirements.txt
	python3 -m venv $(CHART_VENV) && $(CHART_VENV)/bin/pip install --disable-pip-version-check -q -r tools/chart-requirements.txt && touch $@

# checkov pins old dependencies: its own venv.
$(CHECKOV_VENV)/.installed: tools/checkov-requirements.txt
	python3 -m venv $(CHECKOV_VENV) && $(CHECKOV_VENV)/bin/pip install --disable-pip-version-check -q -r tools/checkov-requirements.txt && touch $@

##@ Image

.PHONY: image
image: ## Build the image for this machine's architecture (docker buildx), tagged IMAGE (ghcr.io/scalekeeper/scalekeeper:dev).
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker is not installed"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: docker cannot reach an engine (start the Docker daemon or set DOCKER_HOST/the docker context; no engine runs on the dev machines, CI builds the image)"; exit 1; }
	@docker buildx version >/dev/null 2>&1 || { echo "make image: the docker buildx plugin is missing"; exit 1; }
	docker buildx build --load --tag $(IMAGE) \
	  --build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" .

.PHONY: image-archive
image-archive: build-musl ## The same image without Docker (tools/image_archive.py): target/image/scalekeeper-IMAGE_ARCHIVE_TAG.tar, tagged IMAGE_ARCHIVE_REPO:IMAGE_ARCHIVE_TAG (localhost/scalekeeper:dev), for ctr images import or docker load.
	@[ -d /usr/share/ca-certificates/mozilla ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "image-archive: installing Debian's ca-certificates (the image's CA bundle)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates || exit 1; \
	  else echo "image-archive: /usr/share/ca-certificates/mozilla is missing: install Debian's ca-certificates package"; exit 1; fi; }
	python3 tools/image_archive.py --dockerfile Dockerfile --binary $(MUSL_BIN) \
	  --tag $(IMAGE_ARCHIVE_REPO):$(IMAGE_ARCHIVE_TAG) --output $(IMAGE_ARCHIVE) \
	  --build-arg VERSION="$$(sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\(.*\)"$$/\1/p' Cargo.toml | grep . || echo dev)" \
	  --build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)"

.PHONY: image-archive-check
image-archive-check: ## Test that tools/image_archive.py builds what the Dockerfile's final stage builds (stdlib python3; no musl build).
	python3 tools/test_image_archive.py

##@ Local cluster (kind)

# Pinned tool versions (CI's workflows run `make tools`, so they use these). `make tools`
# installs them into TOOLS_BIN, each download checked against the SHA-256 that hack/tools.sh
# pins for the version and platform (linux/darwin, amd64/arm64) and against the published
# checksum file. A version bumped here needs its digests added there; until then `make tools`
# refuses it (KIND_SHA256 / HELM_SHA256 / KUBECTL_SHA256 supply one for a single run).
KIND_VERSION     ?= v0.32.0
KUBECTL_VERSION  ?= v1.36.1
HELM_VERSION     ?= v4.2.4
# The node image: kind $(KIND_VERSION)'s default, pinned by digest.
KIND_NODE_IMAGE  ?= kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5
KIND_CLUSTER     ?= scalekeeper
TOOLS_BIN        ?= $(CURDIR)/bin
KIND             ?= $(TOOLS_BIN)/kind
HELM             ?= $(TOOLS_BIN)/helm
KUBECTL          ?= $(TOOLS_BIN)/kubectl
# kind-load: auto builds IMAGE with `make image` only when docker lacks it; always; never.
KIND_BUILD_IMAGE ?= auto
KIND_ENV = KIND_CLUSTER='$(KIND_CLUSTER)' KIND='$(KIND)' HELM='$(HELM)' KUBECTL='$(KUBECTL)' \
  TOOLS_BIN='$(TOOLS_BIN)' KIND_NODE_IMAGE='$(KIND_NODE_IMAGE)' IMAGE='$(IMAGE)' \
  KIND_BUILD_IMAGE='$(KIND_BUILD_IMAGE)' CARGO='$(CARGO)' MAKE='$(MAKE)'

.PHONY: tools
tools: ## kind, helm, kubectl (pinned versions) into ./bin from their release sites, checked against SHA-256s pinned in hack/tools.sh.
	@TOOLS_BIN='$(TOOLS_BIN)' KIND_VERSION='$(KIND_VERSION)' HELM_VERSION='$(HELM_VERSION)' \
	  KUBECTL_VERSION='$(KUBECTL_VERSION)' hack/tools.sh

# Every kind target first checks for docker and an engine, before downloading anything.
.PHONY: kind-preflight
kind-preflight:
	@command -v docker >/dev/null 2>&1 || { echo "make: docker is not installed. The kind targets run Kubernetes in Docker containers: install Docker, or run them in GitHub Actions (the kind job of .github/workflows/ci.yml)."; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make: docker cannot reach an engine (docker info failed): start the Docker daemon or point DOCKER_HOST/the docker context at one. No engine runs on the dev machines; CI's kind job runs these targets."; exit 1; }

.PHONY: kind-up
kind-up: kind-preflight tools ## Create the kind cluster KIND_CLUSTER from hack/kind.yaml (node image pinned by digest).
	@$(KIND_ENV) hack/kind.sh up

.PHONY: kind-down
kind-down: kind-preflight tools ## Delete the kind cluster.
	@$(KIND_ENV) hack/kind.sh down

.PHONY: kind-load
kind-load: kind-preflight tools ## Load IMAGE into the cluster, built by `make image` if docker lacks it (KIND_BUILD_IMAGE=always rebuilds).
	@$(KIND_ENV) hack/kind.sh load

.PHONY: deploy
deploy: kind-preflight tools ## Namespaces, dev certs, TLS Secret, CRD, helm upgrade --install (IMAGE), rollout; a NodePort.
	@$(KIND_ENV) hack/kind.sh deploy

.PHONY: upgrade
upgrade: kind-preflight tools ## helm upgrade with a new pod annotation (the time): every pod is replaced.
	@$(KIND_ENV) hack/kind.sh upgrade

.PHONY: rollback
rollback: kind-preflight tools ## helm rollback to the previous revision.
	@$(KIND_ENV) hack/kind.sh rollback

.PHONY: undeploy
undeploy: kind-preflight tools ## helm uninstall; delete the NodePort and the namespace (the CRD and seed namespaces stay).
	@$(KIND_ENV) hack/kind.sh undeploy

.PHONY: e2e
e2e: kind-preflight tools ## Apply the seed Deployments; the e2e suite (tests/e2e.rs) through a port-forward to the Service.
	@$(KIND_ENV) hack/kind.sh e2e

.PHONY: upgrade-test
upgrade-test: kind-preflight tools ## Zero failed calls (retry policy) through the Service while helm upgrade rolls every pod.
	@$(KIND_ENV) hack/upgrade-test.sh

.PHONY: rollback-test
rollback-test: kind-preflight tools ## An unpullable image tag fails helm upgrade --wait; rollback; the old revision serves.
	@$(KIND_ENV) hack/rollback-test.sh

.PHONY: shellcheck
shellcheck: $(LINT_VENV)/.installed ## shellcheck hack/*.sh (the kind targets' and realkube's scripts).
	$(LINT_VENV)/bin/shellcheck -x hack/*.sh
