# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Shared by the hack/*.sh scripts of the `##@ Local cluster (kind)` make targets: settings
# (from the Makefile's environment, with the same defaults) and checks that fail fast with a
# clear message. Sourced, never run.

set -euo pipefail

# The repository root, whatever the caller's directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KIND_CLUSTER="${KIND_CLUSTER:-scalekeeper}"
KIND="${KIND:-kind}"
HELM="${HELM:-helm}"
KUBECTL="${KUBECTL:-kubectl}"
CARGO="${CARGO:-cargo}"
IMAGE="${IMAGE:-ghcr.io/scalekeeper/scalekeeper:dev}"
# Where the scripts keep their state: the cluster's kubeconfig, certificates, logs
# (.scalekeeper/kind for the kind targets; hack/test-node.sh sets .scalekeeper/node).
STATE_DIR="${STATE_DIR:-.scalekeeper/kind}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$ROOT/$STATE_DIR"
# The release, its namespace and the seed namespaces it manages (hack/kind-values.yaml).
RELEASE=scalekeeper
NAMESPACE="${KIND_NAMESPACE:-scalekeeper}"
SEED_NAMESPACES=(shop payments)
TLS_SECRET=scalekeeper-tls
# hack/kind.yaml maps this node port (the NodePort Service hack/kind.sh deploy writes) to the
# host's loopback.
NODEPORT_ADDR=localhost:30051
# How long helm and kubectl wait for a rollout.
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-5m}"
# The tools the tools target installed come first (the e2e suite runs `kubectl` from PATH).
if [[ -n "${TOOLS_BIN:-}" ]]; then
  PATH="$TOOLS_BIN:$PATH"
fi
export PATH

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# docker and a reachable engine: kind runs every node as a Docker container.
need_docker() {
  command -v docker >/dev/null 2>&1 ||
    die "docker is not installed. The kind targets run Kubernetes in Docker containers: install Docker, or run them where Docker is (GitHub Actions: the kind job of .github/workflows/ci.yml)."
  docker info >/dev/null 2>&1 ||
    die "docker cannot reach an engine (docker info failed). Start the Docker daemon or point DOCKER_HOST/the docker context at one; kind needs it."
}

# Each named tool (kind, helm, kubectl) must run; `make tools` installs the pinned versions.
need_tools() {
  local name bin var
  for name in "$@"; do
    # The variable's name spelled out: ${name^^} needs bash 4, and macOS has 3.2.
    case "$name" in
      kind) bin="$KIND" var=KIND ;;
      helm) bin="$HELM" var=HELM ;;
      kubectl) bin="$KUBECTL" var=KUBECTL ;;
      *) die "need_tools: unknown tool $name" ;;
    esac
    command -v "$bin" >/dev/null 2>&1 ||
      die "$name not found ($bin). Run \`make tools\` (pinned versions into ./bin) or set $var=/path/to/$name."
  done
}

# The kind cluster must exist; exports KUBECONFIG (its own file, so no other context is used).
need_cluster() {
  need_docker
  need_tools kind kubectl
  "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER" ||
    die "there is no kind cluster '$KIND_CLUSTER': run \`make kind-up\` first."
  mkdir -p "$STATE_DIR"
  "$KIND" get kubeconfig --name "$KIND_CLUSTER" >"$STATE_DIR/kubeconfig"
  chmod 600 "$STATE_DIR/kubeconfig"
  KUBECONFIG="$STATE_DIR/kubeconfig"
  export KUBECONFIG
}

# The release must be installed (by `make deploy`).
need_release() {
  need_cluster
  need_tools helm
  "$HELM" status "$RELEASE" --namespace "$NAMESPACE" >/dev/null 2>&1 ||
    die "the release '$RELEASE' is not installed in namespace '$NAMESPACE': run \`make deploy\` first."
}

# HELM_ARGS: the release, the chart and the values every install and upgrade uses (more
# --set flags may follow). The image is IMAGE split into repository and tag (a registry
# port's colon is not a tag).
set_helm_args() {
  local repository="${IMAGE%:*}" tag="${IMAGE##*:}"
  [[ "$IMAGE" == *:* && "$tag" != */* ]] || die "IMAGE must be REPOSITORY:TAG, got '$IMAGE'"
  HELM_ARGS=(
    "$RELEASE" charts/scalekeeper
    --namespace "$NAMESPACE"
    --values hack/kind-values.yaml
    --set "image.repository=$repository"
    --set "image.tag=$tag"
    --set "tls.existingSecret=$TLS_SECRET"
  )
}

# The chart's selector labels for the release's pods.
POD_SELECTOR="app.kubernetes.io/name=scalekeeper,app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=server"

kube() { "$KUBECTL" "$@"; }

# Waits until HOST:PORT accepts a TCP connection, up to $2 seconds: for a local listener such as
# `kubectl port-forward`'s. Through the NodePort use wait_grpc, which proves a ready endpoint.
wait_tcp() {
  local addr="$1" timeout="${2:-60}" host port i
  host="${addr%:*}"
  port="${addr##*:}"
  for ((i = 0; i < timeout * 5; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  die "nothing accepts connections on $addr after ${timeout}s"
}

# The certificates `make deploy` wrote.
CERTS_DIR="$STATE_DIR/certs"
client_cert() { printf '%s' "$CERTS_DIR/client-$1.pem"; }
client_key() { printf '%s' "$CERTS_DIR/client-$1-key.pem"; }

# The scalekeeper CLI (built once per script) for probes through the NodePort.
cli() {
  if [[ -z "${CLI_BUILT:-}" ]]; then
    "$CARGO" build --locked --quiet -p scalekeeper --bin scalekeeper
    CLI_BUILT=1
  fi
  "${CARGO_TARGET_DIR:-target}/debug/scalekeeper" "$@" --server "$NODEPORT_ADDR" \
    --ca "$CERTS_DIR/ca.pem" --cert "$(client_cert e2e-admin)" --key "$(client_key e2e-admin)"
}

# run_e2e ADDR: the e2e suite (tests/e2e.rs, existing-cluster mode) against the release's gRPC
# endpoint ADDR (HOST:PORT), the cluster of KUBECONFIG, with the dev CA and the client
# e2e-admin of prepare_cluster. hack/kind.sh e2e passes its port-forward to the Service,
# hack/test-node.sh the NodePort.
# The Makefile's TEST_SCOPE (what `make test` builds): the same packages and features, so
# cargo reuses make test's build instead of resolving other features and compiling again.
read -r -a TEST_SCOPE_ARGS <<<"${TEST_SCOPE:---workspace --features scalekeeper/dev}"
run_e2e() {
  local addr="$1"
  [[ -n $addr ]] || die "run_e2e: no address (HOST:PORT)"
  [[ -n ${KUBECONFIG:-} ]] || die "run_e2e: KUBECONFIG is not set"
  log "cargo test --test e2e against $addr"
  SCALEKEEPER_E2E_KUBECONFIG="$KUBECONFIG" \
    SCALEKEEPER_E2E_SERVER="$addr" \
    SCALEKEEPER_E2E_CA="$CERTS_DIR/ca.pem" \
    SCALEKEEPER_E2E_CERT="$(client_cert e2e-admin)" \
    SCALEKEEPER_E2E_KEY="$(client_key e2e-admin)" \
    "$CARGO" test --locked "${TEST_SCOPE_ARGS[@]}" --test e2e -- --nocapture
}

# Waits up to $1 seconds (60) until a real gRPC call (ListDeployments, mTLS) through the
# NodePort succeeds: a TCP accept proves nothing, since Docker's port proxy and kube-proxy
# accept with or without a ready endpoint behind them.
wait_grpc() {
  local timeout="${1:-60}" start=$SECONDS out=""
  cli list -n "${SEED_NAMESPACES[0]}" --timeout 2 >/dev/null 2>&1 || true # builds the CLI outside the clock
  start=$SECONDS
  while ((SECONDS - start < timeout)); do
    if out="$(cli list -n "${SEED_NAMESPACES[0]}" --timeout 2 2>&1)"; then
      log "gRPC through $NODEPORT_ADDR answers (ListDeployments)"
      return 0
    fi
    sleep 1
  done
  die "no gRPC answer through $NODEPORT_ADDR after ${timeout}s; the last try said: $out"
}

# The NodePort Service in front of the release's pods, generated for NAMESPACE (KIND_NAMESPACE)
# and RELEASE: on kind, hack/kind.yaml maps its node port (NODEPORT_ADDR's port, 30051) to the
# host's loopback; on the node of hack/node.sh, kube-proxy serves it on localhost. The upgrade
# and rollback tests run their client through it. Its selector is POD_SELECTOR, the chart's selector labels for the release's
# server pods. The chart's own Service (ClusterIP) is what `make e2e` port-forwards to.
NODEPORT_SERVICE="$RELEASE-nodeport"
nodeport_service() {
  local pair pairs
  IFS=, read -r -a pairs <<<"$POD_SELECTOR"
  cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $NODEPORT_SERVICE
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: scalekeeper
    app.kubernetes.io/part-of: scalekeeper
spec:
  type: NodePort
  selector:
EOF
  for pair in "${pairs[@]}"; do
    printf '    %s: %s\n' "${pair%%=*}" "${pair#*=}"
  done
  cat <<EOF
  ports:
    - name: grpc
      port: 50051
      targetPort: grpc
      nodePort: ${NODEPORT_ADDR##*:}
      protocol: TCP
EOF
}

# What the release needs before it is installed, and what the tests need: the namespaces, a dev
# CA (reused when it exists) with a server certificate for the Service's in-cluster names (and
# localhost: the port-forward and the NodePort) and client certificates for the e2e suite
# (e2e-admin) and the load client (upgrade-test), the TLS Secret, the CRD, and the bindings
# that let both clients call: with `config.authorization: rbac` (the chart's default) a client
# needs the chart's editor ClusterRole where it calls.
prepare_cluster() {
  local bin="${CARGO_TARGET_DIR:-target}/debug/scalekeeper" ns client
  log "building the scalekeeper CLI (certificates)"
  "$CARGO" build --locked --quiet -p scalekeeper --bin scalekeeper
  for ns in "$NAMESPACE" "${SEED_NAMESPACES[@]}"; do
    kube create namespace "$ns" --dry-run=client -o yaml | kube apply -f - >/dev/null
  done
  log "certificates in $CERTS_DIR"
  "$bin" certs --dir "$CERTS_DIR" --days 30 \
    --server-name "$RELEASE" \
    --server-name "$RELEASE.$NAMESPACE" \
    --server-name "$RELEASE.$NAMESPACE.svc" \
    --server-name "$RELEASE.$NAMESPACE.svc.cluster.local" \
    --server-name "$RELEASE-admission.$NAMESPACE.svc" \
    --client e2e-admin --client upgrade-test >/dev/null
  kube --namespace "$NAMESPACE" create secret generic "$TLS_SECRET" --type=kubernetes.io/tls \
    --from-file=tls.crt="$CERTS_DIR/server.pem" \
    --from-file=tls.key="$CERTS_DIR/server-key.pem" \
    --from-file=ca.crt="$CERTS_DIR/ca.pem" \
    --dry-run=client -o yaml | kube apply -f - >/dev/null
  log "the CRDs (ReplicaPolicy, ScaleRequest)"
  kube apply --server-side -f deploy/crds/ >/dev/null
  kube wait --for condition=established --timeout=60s \
    crd/replicapolicies.scalekeeper.dev crd/scalerequests.scalekeeper.dev >/dev/null
  # The e2e suite also lists across namespaces, which takes a ClusterRoleBinding; the load
  # client reads and writes in the seed namespaces only.
  log "RBAC for the test clients: e2e-admin everywhere, upgrade-test in ${SEED_NAMESPACES[*]} ($RELEASE-editor)"
  kube create clusterrolebinding "$RELEASE-test-e2e-admin" --clusterrole "$RELEASE-editor" --user e2e-admin \
    --dry-run=client -o yaml | kube apply -f - >/dev/null
  for ns in "${SEED_NAMESPACES[@]}"; do
    kube --namespace "$ns" create rolebinding "$RELEASE-test-upgrade-test" --clusterrole "$RELEASE-editor" \
      --user upgrade-test --dry-run=client -o yaml | kube apply -f - >/dev/null
  done
}

# Applies the seed Deployments (the ones kubesim serves in tests) to the cluster.
apply_seed() {
  log "applying examples/kubesim-seed.yaml (namespaces shop and payments, Deployments web, cart, ledger)"
  kube apply -f examples/kubesim-seed.yaml >/dev/null
}

# A field of `helm status -o json` (python3: no jq needed), e.g. helm_status_field version.
helm_status_field() {
  "$HELM" status "$RELEASE" --namespace "$NAMESPACE" -o json |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["info"]["status"] if sys.argv[1] == "status" else d[sys.argv[1]])' "$1"
}

# Starts the load client (examples/steady_get.rs) through the NodePort in the background:
# sets LOAD_PID and LOAD_SUMMARY. open_window and close_window mark the rollout window (the
# client judges the calls in it: tests/support/window.rs); stop_load stops it and checks its
# verdict. Every LOAD_WRITE_EVERY-th call (10) of each connection is a SetReplicas declaring
# shop/web's seed count, 3 (0: reads only). Bounds (environment): WINDOW_MIN_RATE (calls started per second, 100),
# WINDOW_MAX_LATENCY_MS (2000), WINDOW_MAX_GAP_MS (longest time without a successful call, 1000).
start_load() {
  local dir="$1" bin
  log "building the load client (examples/steady_get.rs)"
  "$CARGO" build --locked --quiet -p scalekeeper --example steady_get
  bin="${CARGO_TARGET_DIR:-target}/debug/examples/steady_get"
  LOAD_SUMMARY="$dir/summary.json"
  mkdir -p "$dir"
  rm -f "$LOAD_SUMMARY"
  "$bin" --server "$NODEPORT_ADDR" --ca "$CERTS_DIR/ca.pem" \
    --cert "$(client_cert upgrade-test)" --key "$(client_key upgrade-test)" \
    --target shop/web --target shop/cart --target payments/ledger \
    --workers "${LOAD_WORKERS:-4}" --interval-ms "${LOAD_INTERVAL_MS:-5}" \
    --write-every "${LOAD_WRITE_EVERY:-10}" --write-target shop/web --write-replicas 3 \
    --require-window --window-min-rate "${WINDOW_MIN_RATE:-100}" \
    --window-max-latency-ms "${WINDOW_MAX_LATENCY_MS:-2000}" --window-max-gap-ms "${WINDOW_MAX_GAP_MS:-1000}" \
    --summary "$LOAD_SUMMARY" >"$dir/client.log" 2>&1 &
  LOAD_PID=$!
  LOAD_LOG="$dir/client.log"
  # A script with an EXIT trap of its own (LOAD_NO_TRAP=1) stops the client there.
  if [[ -z ${LOAD_NO_TRAP:-} ]]; then
    # shellcheck disable=SC2064 # expand now: the pid to kill is this one.
    trap "kill $LOAD_PID 2>/dev/null || true" EXIT
  fi
  sleep "${LOAD_WARMUP_SECONDS:-5}"
  kill -0 "$LOAD_PID" 2>/dev/null || {
    cat "$LOAD_LOG" >&2
    die "the load client exited during its warm-up"
  }
  log "load client running (pid $LOAD_PID, log $LOAD_LOG)"
}

# The rollout starts now: calls from here on are judged (SIGUSR1 to the load client). Returns
# once the client says so in its log.
open_window() {
  signal_load USR1 opened
}

# Every new pod is ready and every old pod is gone: the window closes (SIGUSR2).
close_window() {
  signal_load USR2 closed
}

# signal_load SIGNAL WORD: sends SIGNAL to the load client and waits (up to 5 s) until its log
# has one more "rollout window WORD" line.
signal_load() {
  local before i
  before=$(grep -c "rollout window $2" "$LOAD_LOG" || true)
  kill "-$1" "$LOAD_PID"
  for ((i = 0; i < 50; i++)); do
    (($(grep -c "rollout window $2" "$LOAD_LOG" || true) > before)) && {
      log "rollout window $2"
      return 0
    }
    sleep 0.1
  done
  die "the load client did not mark the rollout window $2 (SIG$1): see $LOAD_LOG"
}

# Waits (up to $1 seconds, 180) until the release runs exactly its Deployment's replicas, every
# pod Ready and none terminating: the end of a rollout, when the old pods are gone too.
wait_pods_ready() {
  local timeout="${1:-180}" start=$SECONDS want pods
  timeout="${timeout%s}"
  while :; do
    want=$(kube --namespace "$NAMESPACE" get "deployment/$RELEASE" -o jsonpath='{.spec.replicas}')
    pods=$(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o \
      jsonpath='{range .items[*]}{.metadata.deletionTimestamp}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
    if [[ -n $want && $(grep -c . <<<"$pods") == "$want" ]] && ! grep -qv '^|True$' <<<"$pods"; then
      return 0
    fi
    ((SECONDS - start < timeout)) || die "after ${timeout}s the release's pods are not $want Ready and none terminating: $(tr '\n' ' ' <<<"$pods")"
    sleep 0.5
  done
}

# Stops the load client (SIGINT: it prints and writes its summary) and fails unless every call
# succeeded and the rollout window met its bounds.
stop_load() {
  local rc=0
  kill -INT "$LOAD_PID"
  wait "$LOAD_PID" || rc=$?
  [[ -n ${LOAD_NO_TRAP:-} ]] || trap - EXIT
  LOAD_PID=""
  cat "$LOAD_LOG" >&2
  [[ -f "$LOAD_SUMMARY" ]] || die "the load client wrote no summary (exit $rc)"
  python3 - "$LOAD_SUMMARY" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"load: {s['calls']} calls, {s['failed']} failed, {s['retries']} retries, "
      f"max latency {s['max_latency_ms']:.1f} ms, p99 {s['p99_latency_ms']:.1f} ms", file=sys.stderr)
w = s.get("window")
if not w:
    sys.exit("error: the load client judged no rollout window (open_window/close_window were not both called)")
print(f"rollout window: {w['seconds']:.1f}s, {w['calls']} calls ({w['rate_per_second']:.0f}/s), "
      f"{w['failed']} failed, max latency {w['max_latency_ms']:.1f} ms, "
      f"longest gap between successes {w['longest_gap_ms']:.1f} ms", file=sys.stderr)
errors = []
if s["failed"]:
    errors.append(f"{s['failed']} of {s['calls']} calls failed (zero allowed); the first are listed above")
errors += w["violations"]
if errors:
    sys.exit("error: " + "; ".join(errors))
PY
  [[ "$rc" -eq 0 ]] || die "the load client exited $rc"
}
