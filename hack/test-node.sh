#!/usr/bin/env bash
# `make test-node`: the chart and the production image on a real node that runs pods
# (hack/node.sh: Kubernetes v1.20.2 with containerd, runc and the CNI bridge, all from Debian).
#
#  1. The node comes up (built on the first run). Two image archives of the production image
#     (`make image-archive`, tags node-a and node-b, the same contents) are imported into
#     containerd: there is no registry.
#  2. The chart, rendered by real Helm (tools/render_chart.py; there is no Helm CLI here) with
#     hack/node-values.yaml, is applied with kubectl after the CRD, with TLS from a Secret of dev
#     certificates (hack/lib.sh prepare_cluster). Two replicas become Ready through the chart's
#     own probes, as the chart's ServiceAccount under the chart's RBAC (the API server enforces
#     RBAC, the Node authorizer and NodeRestriction), with a read-only root filesystem; the
#     processes' UID (65532) and their root mount (ro) are read from /proc on the host.
#  3. The e2e suite (tests/e2e.rs, existing-cluster mode) through the NodePort, the admission
#     guard's steps included: the API server calls the chart's webhook through its Service (the
#     caBundle is the dev CA, given as a value: render_chart.py cannot `lookup` the Secret), and
#     a refused scale to 0 must not terminate a running pod.
#  4. Rolling upgrade under load: the pod template moves from node-a to node-b while the load
#     client (examples/steady_get.rs: GetDeployment, and SetReplicas every 10th call, under the
#     documented retry policy) runs through the NodePort. The rollout window, from the apply
#     until every new pod is Ready and every old pod is gone, must have no failed call, a
#     minimum rate, a bounded latency and a bounded gap between successes (hack/lib.sh).
#  5. Rollback under load with `kubectl rollout undo`: the same checks.
#  6. Failover: the leader's pod is force-deleted (--grace-period=0 --force) and a drift made at
#     once; the other replica must take the Lease within the lease duration (15 s) and undo the
#     drift. The times are printed.
#  7. Eviction respects the PodDisruptionBudget: the first eviction is accepted, a second one
#     while a replica is down is refused (429).
#
# What this node cannot show stays in the kind job of .github/workflows/ci.yml: NetworkPolicy
# (the bridge plugin does not enforce it), a LoadBalancer Service, an Ingress controller, and
# the chart on Kubernetes >= 1.29 (its kubeVersion; here the PodDisruptionBudget is rendered
# as policy/v1beta1, tools/render_chart.py --kube-version 1.20).
#
# It starts from an empty cluster (a node left up is stopped and wiped first); KEEP_NODE=1 leaves
# the node and the release up at the end (`make node-down` stops it). Figures go to
# .scalekeeper/node/summary.txt.
set -euo pipefail
export STATE_DIR="${STATE_DIR:-.scalekeeper/node}"
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# cleanup (below) stops the load client; start_load must not replace that EXIT trap.
LOAD_NO_TRAP=1

NODE="$ROOT/hack/node.sh"
CHART_PY="$ROOT/.venv-chart/bin/python"
TAG_A=node-a
TAG_B=node-b
REPO=localhost/scalekeeper
# hack/node.sh imports it into containerd.
PAUSE_IMAGE=localhost/pause:3.4
# The chart's defaults this test relies on: the lease duration and the replicas.
LEASE_SECONDS=15
SUMMARY="$STATE_DIR/summary.txt"
# The load client's floor in the rollout windows: on 2 CPUs shared by the node, both replicas
# and the client, about 140 calls start per second through kube-proxy and TLS; 50/s still tells
# a steady client from a stalled one (the gap bound catches a stall of every connection).
export WINDOW_MIN_RATE="${WINDOW_MIN_RATE:-50}"

"$NODE" check
mkdir -p "$STATE_DIR"
: >"$SUMMARY"
note() {
  log "$*"
  printf '%s\n' "$*" >>"$SUMMARY"
}

cleanup() {
  local rc=$?
  [[ -n ${LOAD_PID:-} ]] && kill "$LOAD_PID" 2>/dev/null || true
  if ((rc != 0)) && [[ -n ${KUBECONFIG:-} ]]; then
    log "diagnostics (test-node failed):"
    kube get pods,endpoints,leases -A -o wide >&2 || true
    kube --namespace "$NAMESPACE" describe pods -l "$POD_SELECTOR" 2>&1 | tail -n 60 >&2 || true
    kube --namespace "$NAMESPACE" logs -l "$POD_SELECTOR" --all-containers --prefix --tail=40 >&2 || true
  fi
  if [[ ${KEEP_NODE:-} == 1 ]]; then
    log "the node stays up (KEEP_NODE=1): export KUBECONFIG=${KUBECONFIG:-}; make node-down stops it"
  else
    # The node's state is the test's alone: the next run starts from an empty cluster.
    WIPE=1 "$NODE" down || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# The node is this test's: it starts from an empty cluster, whatever an earlier run or
# `make node-up` left.
WIPE=1 "$NODE" down
KUBECONFIG="$("$NODE" up | tail -n 1)"
export KUBECONFIG
kube version --short 2>/dev/null | sed 's/^/==> /' >&2 || true

# --------------------------------------------------------------- images
for tag in "$TAG_A" "$TAG_B"; do
  "${MAKE:-make}" --no-print-directory image-archive IMAGE_ARCHIVE_REPO="$REPO" IMAGE_ARCHIVE_TAG="$tag" >&2
  "$NODE" import "$ROOT/target/image/scalekeeper-$tag.tar"
done

# --------------------------------------------------------------- deploy
render() { # tag
  "$CHART_PY" "$ROOT/tools/render_chart.py" --release "$RELEASE" --namespace "$NAMESPACE" \
    --values "$ROOT/hack/node-values.yaml" --set "image.repository=$REPO" --set-string "image.tag=$1" \
    --set "tls.existingSecret=$TLS_SECRET" --set-string "admission.caBundle=$(cat "$CERTS_DIR/ca.pem")" \
    --kube-version 1.20
}
[[ -x $CHART_PY ]] || "${MAKE:-make}" --no-print-directory "$ROOT/.venv-chart/.installed" >&2
prepare_cluster
log "the chart (image $REPO:$TAG_A), rendered by Helm, applied with kubectl"
render "$TAG_A" | kube apply -f - >/dev/null
kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
wait_pods_ready 120s

# The running processes, as the host sees them: their UID and their root mount.
check_pods() {
  local pod cid pid uid root sa ready
  ready=0
  for pod in $(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o name); do
    sa=$(kube --namespace "$NAMESPACE" get "$pod" -o jsonpath='{.spec.serviceAccountName}')
    [[ $sa == "$RELEASE" ]] || die "$pod runs as ServiceAccount '$sa', not the chart's '$RELEASE'"
    cid=$(kube --namespace "$NAMESPACE" get "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
    cid=${cid#containerd://}
    pid=$("$NODE" ctr tasks ls 2>/dev/null | awk -v id="$cid" '$1 == id { print $2 }')
    [[ -n $pid && -r /proc/$pid/status ]] || die "$pod: no process for container $cid"
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    root=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | tail -n 1)
    [[ $uid == 65532 ]] || die "$pod: the process runs as UID $uid, not 65532"
    [[ $root == ro* ]] || die "$pod: the root filesystem is mounted '$root', not read-only"
    ready=$((ready + 1))
  done
  ((ready == 2)) || die "$ready scalekeeper pods, not 2"
  note "pods: 2 Ready through the chart's probes, ServiceAccount $RELEASE, UID 65532, root filesystem read-only"
}
check_pods

log "NodePort Service $NAMESPACE/$NODEPORT_SERVICE ($NODEPORT_ADDR through kube-proxy)"
nodeport_service | kube apply -f - >/dev/null
wait_grpc 60
apply_seed
# The seed's pods run the pause image (present, so IfNotPresent never pulls): there is no
# registry to pull theirs from, and a pod that runs is what a Deployment's status counts.
for ns in "${SEED_NAMESPACES[@]}"; do
  kube --namespace "$ns" set image deployment --all "*=$PAUSE_IMAGE" >/dev/null
  # The admission webhook selects namespaces by kubernetes.io/metadata.name, which the API
  # server sets only from 1.21.
  kube label namespace "$ns" "kubernetes.io/metadata.name=$ns" --overwrite >/dev/null
done

# --------------------------------------------------------------- e2e
run_e2e "$NODEPORT_ADDR" 2>&1 | tee "$STATE_DIR/e2e.log"
note "e2e: tests/e2e.rs passed through the NodePort"
grep -q '^guard Deny: a refused scale to 0 deleted 0 of ' "$STATE_DIR/e2e.log" ||
  die "the e2e suite did not count the pods of a refused scale to 0 (the admission guard's step)"
note "admission guard, through the chart's webhook Service: $(grep -h '^guard ' "$STATE_DIR/e2e.log" | paste -sd';' | sed 's/;/; /g')"

# --------------------------------------------------------------- upgrade and rollback
pods_now() {
  kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o name
}
images_now() {
  kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort -u
}
# roll NAME EXPECTED_IMAGE COMMAND...: the command rolls the Deployment under load; the window
# closes when every old pod is gone and every new one is Ready.
roll() {
  local name=$1 image=$2 old=() pod
  shift 2
  while IFS= read -r pod; do [[ -n $pod ]] && old+=("$pod"); done < <(pods_now)
  start_load "$STATE_DIR/$name"
  open_window
  "$@"
  kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
  kube --namespace "$NAMESPACE" wait --for=delete "${old[@]}" --timeout=180s
  wait_pods_ready 180s
  close_window
  [[ $(images_now) == "$image" ]] || die "$name: the pods run $(images_now | paste -sd' '), not $image"
  stop_load
  note "$name: $(python3 - "$STATE_DIR/$name/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
w = s["window"]
print(f"rollout window {w['seconds']:.1f} s: {w['calls']} calls ({w['rate_per_second']:.0f}/s), "
      f"{w['failed']} failed, max latency {w['max_latency_ms']:.0f} ms, longest gap between successes "
      f"{w['longest_gap_ms']:.0f} ms; whole run {s['calls']} calls ({s['writes']} SetReplicas), {s['failed']} failed")
PY
)"
}
upgrade() { render "$TAG_B" | kube apply -f - >/dev/null; }
roll upgrade "$REPO:$TAG_B" upgrade
check_pods
roll rollback "$REPO:$TAG_A" kube --namespace "$NAMESPACE" rollout undo "deployment/$RELEASE"
check_pods

# --------------------------------------------------------------- failover
lease_holder() {
  kube --namespace "$NAMESPACE" get lease "$RELEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}
web_replicas() { kube --namespace shop get deployment web -o jsonpath='{.spec.replicas}'; }
cli set shop/web 3 >/dev/null
leader=$(lease_holder)
[[ -n $leader ]] || die "no Lease holder in $NAMESPACE/$RELEASE"
log "failover: force-deleting the leader $leader, then scaling shop/web to 7 behind scalekeeper's back"
t0=$(date +%s.%N)
kube --namespace "$NAMESPACE" delete pod "$leader" --grace-period=0 --force >/dev/null 2>&1
kube --namespace shop scale deployment web --replicas 7 >/dev/null
took_lease="" took_fix=""
while :; do
  now=$(date +%s.%N)
  elapsed=$(python3 -c "print(f'{$now - $t0:.2f}')")
  holder=$(lease_holder)
  if [[ -z $took_lease && -n $holder && $holder != "$leader" ]]; then took_lease=$elapsed; fi
  if [[ -z $took_fix && $(web_replicas) == 3 ]]; then took_fix=$elapsed; fi
  [[ -n $took_lease && -n $took_fix ]] && break
  python3 -c "import sys; sys.exit(0 if $elapsed < $((LEASE_SECONDS + 15)) else 1)" ||
    die "failover: after ${elapsed}s the Lease holder is '$holder' and shop/web has $(web_replicas) replicas"
  sleep 0.2
done
python3 -c "import sys; sys.exit(0 if $took_lease <= $LEASE_SECONDS + 2 else 1)" ||
  die "failover: the Lease moved after ${took_lease}s, more than the lease duration ${LEASE_SECONDS}s (+2 s of polling)"
note "failover: the leader $leader force-deleted; the Lease moved to $(lease_holder) after ${took_lease} s and the drift (7) was undone (3) after ${took_fix} s (lease duration ${LEASE_SECONDS} s)"
wait_pods_ready 120s

# --------------------------------------------------------------- eviction and the PDB
evict() { # pod name -> HTTP-ish outcome of the Eviction
  printf '{"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{"name":"%s","namespace":"%s"}}' "$1" "$NAMESPACE" |
    kube create --raw "/api/v1/namespaces/$NAMESPACE/pods/$1/eviction" -f - 2>&1
}
for ((i = 0; i < 100; i++)); do
  [[ $(kube --namespace "$NAMESPACE" get pdb "$RELEASE" -o jsonpath='{.status.disruptionsAllowed}') == 1 ]] && break
  sleep 0.3
done
pods=()
while IFS= read -r pod; do [[ -n $pod ]] && pods+=("${pod#pod/}"); done < <(pods_now)
((${#pods[@]} == 2)) || die "eviction: ${#pods[@]} pods, not 2"
out=$(evict "${pods[0]}") || die "eviction of ${pods[0]} refused: $out"
if out=$(evict "${pods[1]}"); then
  die "the second eviction (${pods[1]}) was accepted while ${pods[0]} is going: the PodDisruptionBudget did not hold"
fi
grep -q "disruption budget" <<<"$out" || die "the second eviction failed, but not because of the budget: $out"
note "eviction: ${pods[0]} evicted; ${pods[1]} refused while a replica is down ($(grep -o 'Cannot evict[^"]*budget' <<<"$out" | head -n 1))"
# The evicted pod drains (--shutdown-delay, then the drain) and goes; its replacement is Ready.
kube --namespace "$NAMESPACE" wait --for=delete "pod/${pods[0]}" --timeout=120s
kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
wait_pods_ready 120s

note "not shown on this node (kept in the kind job): NetworkPolicy enforcement (the bridge CNI plugin does not enforce it), LoadBalancer Services, an Ingress controller, the chart's policy/v1 PodDisruptionBudget (1.20 serves policy/v1beta1)"
log "test-node passed:"
sed 's/^/  /' "$SUMMARY" >&2
