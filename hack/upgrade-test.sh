#!/usr/bin/env bash
# `make upgrade-test`: zero downtime while `helm upgrade` replaces every pod.
#
# A client (examples/steady_get.rs) calls GetDeployment through the Service at a steady rate
# (4 connections, each starting a call every 5 ms) under the documented retry policy
# (docs/operations.md, "Client retry policy": UNAVAILABLE retried, at most 5 attempts). It
# reaches the pods through the NodePort of hack/kind-nodeport.yaml, so every new connection
# is balanced by kube-proxy over the Service's ready endpoints. Meanwhile `helm upgrade`
# changes a pod annotation: the Deployment rolls (maxSurge 1, maxUnavailable 0; each old pod
# sleeps in preStop while endpoints drop it, then drains on SIGTERM). Passes when every old pod
# is gone, every pod runs the new template, and not one call failed.
#
# Settings (environment): LOAD_WORKERS (4), LOAD_INTERVAL_MS (5), LOAD_WARMUP_SECONDS (5),
# SETTLE_SECONDS (5), MIN_CALLS (2000).
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MIN_CALLS="${MIN_CALLS:-2000}"
SETTLE_SECONDS="${SETTLE_SECONDS:-5}"

need_release
set_helm_args
apply_seed
wait_tcp "$NODEPORT_ADDR" 60
work="$KIND_DIR/upgrade-test"
mkdir -p "$work"

mapfile -t old_pods < <(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o name)
[[ "${#old_pods[@]}" -gt 0 ]] || die "no scalekeeper pods before the upgrade"
log "pods before the upgrade: ${old_pods[*]}"

start_load "$work"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
log "helm upgrade $RELEASE: pod annotation scalekeeper.dev/rolled-at=$stamp, under load"
"$HELM" upgrade "${HELM_ARGS[@]}" --set-string "podAnnotations.scalekeeper\.dev/rolled-at=$stamp" \
  --wait --timeout "$ROLLOUT_TIMEOUT"
kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
log "waiting for every old pod to be gone (preStop sleep, then the drain)"
kube --namespace "$NAMESPACE" wait --for=delete "${old_pods[@]}" --timeout=180s

# Every pod now runs the new template.
mismatched="$(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" \
  -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.scalekeeper\.dev/rolled-at}{"\n"}{end}' |
  grep -v "=$stamp\$" || true)"
[[ -z "$mismatched" ]] || die "pods not rolled by this upgrade: $mismatched"
kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o wide

log "the load keeps running ${SETTLE_SECONDS}s on the new pods"
sleep "$SETTLE_SECONDS"
stop_load "$MIN_CALLS"
log "upgrade-test passed: every pod replaced, no call failed"
