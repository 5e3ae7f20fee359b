#!/usr/bin/env bash
# `make rollback-test`: a release that never becomes ready is caught and rolled back, and the
# API keeps serving throughout.
#
# 1. Note the deployed revision and its image; start the load client through the Service
#    (examples/steady_get.rs, the documented retry policy; see hack/upgrade-test.sh).
# 2. `helm upgrade --wait --timeout BAD_TIMEOUT` to an image tag that does not exist: the new
#    pod never pulls its image, never becomes ready, and the upgrade must FAIL (status failed).
#    With maxUnavailable 0 the old pods keep serving.
# 3. `helm rollback` to the noted revision, --wait: the bad pod goes, the Deployment's image is
#    the noted one again, every pod runs it and is ready.
# 4. The previous revision serves: the client saw no failed call from start to end, and a
#    `scalekeeper get` through the Service answers.
#
# The rollout window is the rollback's: from `helm rollback` until only ready pods of the good
# revision are left. The client judges it as hack/upgrade-test.sh says (rate, latency, gap).
#
# Settings (environment): BAD_TIMEOUT (90s), and those of hack/upgrade-test.sh.
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BAD_TIMEOUT="${BAD_TIMEOUT:-90s}"

need_release
set_helm_args
apply_seed
wait_grpc 60
work="$STATE_DIR/rollback-test"
mkdir -p "$work"

good_revision="$(helm_status_field version)"
[[ "$(helm_status_field status)" == deployed ]] || die "revision $good_revision is not 'deployed': fix the release first (make deploy)"
image_of_deployment() {
  kube --namespace "$NAMESPACE" get "deployment/$RELEASE" -o jsonpath='{.spec.template.spec.containers[0].image}'
}
good_image="$(image_of_deployment)"
log "deployed: revision $good_revision, image $good_image"

start_load "$work"

bad_tag="does-not-exist-$(date -u +%Y%m%d%H%M%S)"
log "helm upgrade to image tag $bad_tag (never pullable): it must fail within $BAD_TIMEOUT"
if "$HELM" upgrade "${HELM_ARGS[@]}" --set "image.tag=$bad_tag" --wait --timeout "$BAD_TIMEOUT"; then
  die "helm upgrade to the unpullable tag $bad_tag succeeded: --wait did not wait for readiness"
fi
bad_revision="$(helm_status_field version)"
bad_status="$(helm_status_field status)"
log "as expected: revision $bad_revision is '$bad_status'"
[[ "$bad_status" == failed ]] || die "revision $bad_revision should be 'failed', is '$bad_status'"
[[ "$bad_revision" -gt "$good_revision" ]] || die "the failed upgrade made no new revision"
kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o wide

open_window
log "helm rollback $RELEASE $good_revision"
"$HELM" rollback "$RELEASE" "$good_revision" --namespace "$NAMESPACE" --wait --timeout "$ROLLOUT_TIMEOUT"
kube --namespace "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout "$ROLLOUT_TIMEOUT"
[[ "$(helm_status_field status)" == deployed ]] || die "the rollback is not 'deployed'"
[[ "$(image_of_deployment)" == "$good_image" ]] || die "after the rollback the Deployment runs $(image_of_deployment), not $good_image"

# No pod of the bad revision is left, and every pod runs the good image and is ready.
log "waiting until only pods with $good_image are left, all ready"
for ((i = 0; i < 90; i++)); do
  pods="$(kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" \
    -o jsonpath='{range .items[*]}{.spec.containers[0].image} {.status.containerStatuses[0].ready}{"\n"}{end}')"
  if [[ -n "$pods" ]] && ! grep -qv "^$good_image true\$" <<<"$pods"; then
    break
  fi
  sleep 2
done
grep -qv "^$good_image true\$" <<<"$pods" && die "pods after the rollback: $pods"
close_window
kube --namespace "$NAMESPACE" get pods -l "$POD_SELECTOR" -o wide
"$HELM" history "$RELEASE" --namespace "$NAMESPACE" --max 5

log "scalekeeper get shop/web through the Service"
cli get shop/web

stop_load
log "rollback-test passed: the bad revision $bad_revision failed, revision $good_revision serves again, no call failed, the rollback's window met its bounds"
