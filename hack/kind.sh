#!/usr/bin/env bash
# The `##@ Local cluster (kind)` make targets: scalekeeper on a kind cluster, deployed with
# its Helm chart. `make help` lists them; run them through make, which passes the pinned tool
# paths and versions (KIND, HELM, KUBECTL, KIND_NODE_IMAGE, IMAGE, ...).
#
#   hack/kind.sh up | down | load | deploy | upgrade | rollback | undeploy | e2e
#
# Each command checks first what it needs (docker and its engine, the tools, the cluster, the
# release) and stops with a message saying what is missing and how to get it.
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"
# auto: build IMAGE with `make image` only when docker does not have it (CI loads the image
# job's build first); always: build it again; never: it must be there.
KIND_BUILD_IMAGE="${KIND_BUILD_IMAGE:-auto}"
MAKE="${MAKE:-make}"

cmd_up() {
  need_docker
  need_tools kind kubectl
  [[ -n "$KIND_NODE_IMAGE" ]] || die "KIND_NODE_IMAGE is not set (the Makefile pins it)"
  if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    log "kind cluster '$KIND_CLUSTER' exists"
  else
    log "creating kind cluster '$KIND_CLUSTER' ($KIND_NODE_IMAGE, hack/kind.yaml)"
    "$KIND" create cluster --name "$KIND_CLUSTER" --config hack/kind.yaml --image "$KIND_NODE_IMAGE" --wait 180s
  fi
  need_cluster
  kube wait nodes --all --for=condition=Ready --timeout=180s
  kube get nodes -o wide
  log "kubeconfig: $KUBECONFIG (kind also set the context kind-$KIND_CLUSTER in your default kubeconfig)"
}

cmd_down() {
  need_docker
  need_tools kind
  if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    "$KIND" delete cluster --name "$KIND_CLUSTER"
  else
    log "no kind cluster '$KIND_CLUSTER'"
  fi
  rm -f "$STATE_DIR/kubeconfig"
}

cmd_load() {
  need_cluster
  case "$KIND_BUILD_IMAGE" in
    always) "$MAKE" --no-print-directory image IMAGE="$IMAGE" ;;
    auto)
      if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        log "using the image $IMAGE docker has ($(docker image inspect --format '{{.Id}} created {{.Created}}' "$IMAGE")); KIND_BUILD_IMAGE=always rebuilds it"
      else
        "$MAKE" --no-print-directory image IMAGE="$IMAGE"
      fi
      ;;
    never) docker image inspect "$IMAGE" >/dev/null 2>&1 || die "docker has no image $IMAGE (KIND_BUILD_IMAGE=never)" ;;
    *) die "KIND_BUILD_IMAGE must be auto, always or never, not '$KIND_BUILD_IMAGE'" ;;
  esac
  log "loading $IMAGE into the nodes of '$KIND_CLUSTER'"
  "$KIND" load docker-image "$IMAGE" --name "$KIND_CLUSTER"
}

cmd_deploy() {
  need_cluster
  need_tools helm
  set_helm_args
  prepare_cluster
  log "helm upgrade --install $RELEASE ($IMAGE)"
  "$HELM" upgrade --install "${HELM_ARGS[@]}" --wait --timeout "$ROLLOUT_TIMEOUT"
  kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
  log "NodePort Service $NAMESPACE/$NODEPORT_SERVICE ($NODEPORT_ADDR on this machine)"
  nodeport_service | kube apply -f - >/dev/null
  # A real gRPC call through the NodePort (hack/lib.sh): a TCP accept proves only that
  # Docker's port proxy listens, not that a ready endpoint is behind it.
  wait_grpc 60
  kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o wide
  cat >&2 <<EOF
==> deployed. To use the API from this machine (the NodePort Service $NAMESPACE/$NODEPORT_SERVICE):
  export SCALEKEEPER_SERVER=$NODEPORT_ADDR SCALEKEEPER_CA=$CERTS_DIR/ca.pem \\
    SCALEKEEPER_CERT=$(client_cert e2e-admin) SCALEKEEPER_KEY=$(client_key e2e-admin)
  export KUBECONFIG=$KUBECONFIG
  ${CARGO_TARGET_DIR:-target}/debug/scalekeeper list
or keep it as a context (then: scalekeeper list --context kind, or --all-contexts beside make run's dev):
  ${CARGO_TARGET_DIR:-target}/debug/scalekeeper config set-context kind --server $NODEPORT_ADDR --ca $CERTS_DIR/ca.pem \\
    --cert $(client_cert e2e-admin) --key $(client_key e2e-admin) --label env=kind
EOF
}

# A pod annotation with the time: the pod template changes, every pod is replaced.
cmd_upgrade() {
  need_release
  set_helm_args
  local stamp
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  log "helm upgrade $RELEASE: pod annotation scalekeeper.dev/rolled-at=$stamp (rolls every pod)"
  "$HELM" upgrade "${HELM_ARGS[@]}" --set-string "podAnnotations.scalekeeper\.dev/rolled-at=$stamp" \
    --wait --timeout "$ROLLOUT_TIMEOUT"
  kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
  "$HELM" history "$RELEASE" --namespace "$NAMESPACE" --max 5
}

# Revision 0 is Helm's "the previous revision".
cmd_rollback() {
  need_release
  log "helm rollback $RELEASE to the previous revision"
  "$HELM" rollback "$RELEASE" 0 --namespace "$NAMESPACE" --wait --timeout "$ROLLOUT_TIMEOUT"
  kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
  "$HELM" history "$RELEASE" --namespace "$NAMESPACE" --max 5
}

cmd_undeploy() {
  need_cluster
  need_tools helm
  if "$HELM" status "$RELEASE" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    "$HELM" uninstall "$RELEASE" --namespace "$NAMESPACE" --wait --timeout "$ROLLOUT_TIMEOUT"
  else
    log "the release '$RELEASE' is not installed"
  fi
  kube --namespace "$NAMESPACE" delete service "$NODEPORT_SERVICE" --ignore-not-found
  kube delete namespace "$NAMESPACE" --ignore-not-found --wait
  log "kept: the ReplicaPolicy CRD (deleting it deletes every ReplicaPolicy) and the namespaces ${SEED_NAMESPACES[*]}"
}

# The e2e suite against the cluster, through a port-forward to the chart's Service.
cmd_e2e() {
  need_release
  apply_seed
  local log_file="$STATE_DIR/port-forward.log" port="" i pf
  log "port-forwarding service/$RELEASE (grpc)"
  # The binary itself, not the kube function: a function would run in a subshell, and killing
  # that would leave kubectl running.
  "$KUBECTL" --namespace "$NAMESPACE" port-forward "service/$RELEASE" ":50051" >"$log_file" 2>&1 &
  pf=$!
  # shellcheck disable=SC2064 # expand now: the pid to kill is this one.
  trap "kill $pf 2>/dev/null || true" EXIT
  for ((i = 0; i < 150; i++)); do
    port="$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) -> .*/\1/p' "$log_file" | head -n 1)"
    [[ -n "$port" ]] && break
    kill -0 "$pf" 2>/dev/null || {
      cat "$log_file" >&2
      die "kubectl port-forward exited"
    }
    sleep 0.2
  done
  [[ -n "$port" ]] || die "kubectl port-forward did not report a local port: $(cat "$log_file")"
  wait_tcp "localhost:$port" 30
  run_e2e "localhost:$port"
}

case "${1:-}" in
  up | down | load | deploy | upgrade | rollback | undeploy | e2e) "cmd_$1" ;;
  *) die "usage: $0 up|down|load|deploy|upgrade|rollback|undeploy|e2e" ;;
esac
