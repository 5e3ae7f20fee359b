#!/usr/bin/env bash
# `make upgrade-test`: zero downtime while `helm upgrade` replaces every pod.
#
# A client (examples/steady_get.rs) calls GetDeployment (and, every 10th call, SetReplicas)
# through the Service at a steady rate (4 connections, each starting a call every 5 ms) under
# the documented retry policy
# (docs/operations.md, "Client retry policy": UNAVAILABLE retried, at most 5 attempts). It
# reaches the pods through the NodePort of the kind deployment, so every new connection is
# balanced by kube-proxy over the Service's ready endpoints. Meanwhile `helm upgrade` changes a
# pod annotation: the Deployment rolls (maxSurge 1, maxUnavailable 0; each old pod sleeps in
# preStop while endpoints drop it, then drains on SIGTERM).
#
# The rollout window opens just before `helm upgrade` and closes when every new pod is Ready and
# every old pod is gone. The client judges the calls in it (tests/support/window.rs, the drain
# test's verdict): not one failed call, at least WINDOW_MIN_RATE calls started per second, no
# call slower than WINDOW_MAX_LATENCY_MS, never WINDOW_MAX_GAP_MS without a successful call.
# The warm-up's calls do not count towards any of these; a failed call anywhere fails the test.
#
# Settings (environment): LOAD_WORKERS (4), LOAD_INTERVAL_MS (5), LOAD_WARMUP_SECONDS (5), and
# the window's bounds (hack/lib.sh, start_load).
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_release
set_helm_args
apply_seed
wait_grpc 60
work="$STATE_DIR/upgrade-test"
mkdir -p "$work"

# The old pods, one name per line (no mapfile: bash 3.2 runs these scripts on macOS).
old_pods=()
while IFS= read -r pod; do
  [[ -n "$pod" ]] && old_pods+=("$pod")
done < <(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o name)
[[ "${#old_pods[@]}" -gt 0 ]] || die "no scalekeeper pods before the upgrade"
log "pods before the upgrade: ${old_pods[*]}"

start_load "$work"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
open_window
log "helm upgrade $RELEASE: pod annotation scalekeeper.dev/rolled-at=$stamp, under load"
"$HELM" upgrade "${HELM_ARGS[@]}" --set-string "podAnnotations.scalekeeper\.dev/rolled-at=$stamp" \
  --wait --timeout "$ROLLOUT_TIMEOUT"
kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
log "waiting for every old pod to be gone (preStop sleep, then the drain)"
kube --namespace "$NAMESPACE" wait --for=delete "${old_pods[@]}" --timeout=180s
wait_pods_ready 180s
close_window

# Every pod now runs the new template.
mismatched="$(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" \
  -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.scalekeeper\.dev/rolled-at}{"\n"}{end}' |
  grep -v "=$stamp\$" || true)"
[[ -z "$mismatched" ]] || die "pods not rolled by this upgrade: $mismatched"
kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o wide

stop_load
log "upgrade-test passed: every pod replaced, no call failed, the rollout window met its bounds"
