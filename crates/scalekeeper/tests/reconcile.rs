//! The reconciler against kubesim or a real API server: drift made by the real `kubectl scale`
//! is undone and shows up in `kubectl describe`; Observe mode only reports; an HPA is never
//! fought; the flap guard suspends and resumes; and the edge cases — a deleted or re-created
//! Deployment, a paused one, a policy applied with kubectl (GitOps) or edited by hand, and
//! drift that happens while the API server is unreachable.
//!
//! The target: kubesim in-process by default; with `SCALEKEEPER_TEST_KUBECONFIG` set, that
//! cluster (`make test-real`: upstream kube-apiserver v1.20.2), each test in namespaces of its
//! own (`shop-<suffix>`, `payments-<suffix>`) with scalekeeper scoped to them. What differs there:
//!
//! - No kubelet runs, so no Pod becomes ready: a converged policy is `Progressing` ("0 of N
//!   replicas ready") where kubesim says `InSync` ([`converged`]).
//! - kubesim's write log (every write, by field manager, no-ops included) does not exist:
//!   corrections are counted from a watch that records every `spec.replicas` the Deployment had
//!   ([`cluster::ReplicaLog`]) and from scalekeeper's `scalekeeper_drift_corrections_total`. A
//!   write that changed nothing is invisible to the watch; the counter still counts it.
//! - v1.20 does not record who wrote through `/scale` in managedFields (1.22+ does), so the field
//!   manager a correction blames for a `kubectl scale` is not `kubectl` there (see
//!   `kubectl_scale_is_undone_with_an_event_naming_kubectl`).

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Options, TargetEnv, cluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use scalekeeper::policy::ReplicaPolicy;
use scalekeeper::reconciler::ReconcileConfig;
use scalekeeper_api::v1 as pb;
use serde_json::{Value, json};
use testkit::{POLL, wait_for_async};
use tonic::Code;

const T: Duration = Duration::from_secs(10);
/// The field manager of the other actor that drifts Deployments in these tests.
const DRIFTER: &str = "other-controller";

fn set(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: name.into(), replicas, ..Default::default() }
}

async fn start() -> TargetEnv {
    common::start_target(Options::default()).await
}

/// kubectl against the target, with its own discovery cache.
fn kubectl(env: &TargetEnv, args: &[&str]) -> (bool, String) {
    let kubeconfig = env.kubeconfig();
    let cache = env.dir.path().join("kubectl-cache");
    let out = Command::new(testkit::kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl is required by these tests (.ci/run installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Another actor (field manager [`DRIFTER`]) sets `spec.replicas` with a PATCH of the Deployment.
async fn drift(env: &TargetEnv, ns: &str, name: &str, replicas: i64) {
    let written = cluster::patch_replicas(&env.kube, ns, name, replicas, DRIFTER).await;
    assert_eq!(written, replicas);
}

/// kubesim only: scalekeeper's writes to `name`'s scale subresource that changed something.
fn scale_writes_by_scalekeeper(sim: &kubesim::Sim, name: &str) -> usize {
    sim.writes()
        .iter()
        .filter(|w| {
            w.resource == "deployments"
                && w.subresource.as_deref() == Some("scale")
                && w.field_manager == "scalekeeper"
                && w.name == name
                && w.rv > 0
        })
        .count()
}

/// scalekeeper's own count of corrections in `ns` (a counter of its scale writes for drift).
async fn corrections_metric(env: &TargetEnv, ns: &str) -> f64 {
    env.metric(&format!(r#"scalekeeper_drift_corrections_total{{namespace="{ns}"}}"#)).await
}

async fn events(env: &TargetEnv, ns: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(env.kube.clone(), ns);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

/// Asserts the values `log` saw are `want`, once it has seen as many: its watch can trail the
/// read a test waited on.
async fn assert_log(log: &cluster::ReplicaLog, want: &[i64], what: &str) {
    // Timing out is no failure by itself: the assertion below says what the log saw.
    let _ = testkit::try_wait_for_async(what, T, POLL, || async { log.values().len() >= want.len() }).await;
    assert_eq!(log.values(), want, "{what}: {:?}", log.states());
}

/// A Deployment to create again under `original`'s name, with `replicas`: what the server
/// assigns (UID, resourceVersion, times, managedFields, generation, status) removed.
fn recreated_from(original: &Value, replicas: i64) -> Value {
    let mut recreated = original.clone();
    for f in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "annotations"] {
        recreated["metadata"].as_object_mut().unwrap().remove(f);
    }
    recreated.as_object_mut().unwrap().remove("status");
    recreated["spec"]["replicas"] = json!(replicas);
    recreated
}

async fn wait_spec(env: &TargetEnv, ns: &str, name: &str, want: i64) {
    wait_for_async(&format!("{ns}/{name} spec.replicas = {want}"), T, POLL, || async {
        env.spec_replicas(ns, name).await == want
    })
    .await;
}

async fn sync_of(env: &TargetEnv, ns: &str, name: &str) -> (i32, String) {
    try_sync_of(env, ns, name).await.unwrap_or_else(|e| panic!("GetDeployment {ns}/{name}: {e}"))
}

/// [`sync_of`], or the API's error (NOT_FOUND while the server's cache has no such Deployment).
async fn try_sync_of(env: &TargetEnv, ns: &str, name: &str) -> Result<(i32, String), tonic::Status> {
    let mut c = env.client().await;
    let d = c
        .get_deployment(pb::GetDeploymentRequest { namespace: ns.into(), name: name.into() })
        .await?
        .into_inner()
        .deployment
        .unwrap();
    Ok((d.sync_status, d.reason))
}

/// The syncStatus a policy whose Deployment has the declared count ends with: `InSync` on
/// kubesim, `Progressing` on a real cluster without a kubelet (no Pod is ever ready).
fn converged(env: &TargetEnv) -> &'static str {
    if env.is_real() { "Progressing" } else { "InSync" }
}

/// Whether the policy's status says its Deployment has the declared `replicas` and nothing is
/// in the way (see [`converged`]).
fn is_converged(env: &TargetEnv, p: &Value, replicas: i64) -> bool {
    let s = &p["status"];
    s["syncStatus"] == converged(env)
        && s["specReplicas"] == replicas
        && (!env.is_real() || s["readyReplicas"].as_i64().unwrap_or(0) == 0)
}

/// The API's sync status once converged (see [`converged`]).
fn converged_pb(env: &TargetEnv) -> i32 {
    if env.is_real() { pb::SyncStatus::Progressing as i32 } else { pb::SyncStatus::InSync as i32 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_is_undone_with_an_event_naming_kubectl() {
    let env = start().await;
    let shop = env.ns("shop");
    let log = cluster::ReplicaLog::start(&env.kube, &shop, "web").await;
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 3)).await.unwrap();
    let (ok, out) = kubectl(&env, &["scale", "-n", &shop, "deployment/web", "--replicas", "7"]);
    assert!(ok, "{out}");
    wait_spec(&env, &shop, "web", 3).await;
    // SetReplicas to the count web already had changed nothing; the correction did.
    if let Some(sim) = env.sim() {
        assert_eq!(scale_writes_by_scalekeeper(sim, "web"), 1, "exactly one correction");
    }
    // On any target: web went 3 -> 7 -> 3 and nothing else, and scalekeeper counted one
    // correction.
    assert_log(&log, &[3, 7, 3], "the spec.replicas web had").await;
    // Counted right after the PATCH returns, which the spec.replicas read above may precede.
    wait_for_async("the correction counted", T, POLL, || async { corrections_metric(&env, &shop).await >= 1.0 }).await;
    assert_eq!(corrections_metric(&env, &shop).await, 1.0, "exactly one correction");
    // The Event is on the Deployment, where `kubectl describe` shows it.
    let (ok, described) = kubectl(&env, &["describe", "-n", &shop, "deployment", "web"]);
    assert!(ok, "{described}");
    assert!(described.contains("DriftCorrected"), "{described}");
    // Who made the drift comes from managedFields. kube-apiserver before 1.22 does not record a
    // manager for writes through /scale (what `kubectl scale` uses): f:spec.f:replicas stays with
    // the Deployment's creator, written before the declaration, so scalekeeper must not blame
    // it: only kubesim (and 1.22+) can name kubectl; v1.20 gets "an unrecorded writer".
    let (blamed, recorded) = if env.is_real() {
        (scalekeeper::reconciler::UNKNOWN_MANAGER, serde_json::Value::Null)
    } else {
        ("kubectl", serde_json::json!("kubectl"))
    };
    assert!(described.contains(&format!("spec.replicas 7 -> 3 (it had been changed by {blamed})")), "{described}");
    assert!(!described.contains(cluster::HARNESS_MANAGER), "the Deployment's creator is blamed: {described}");
    // The policy's status records the correction and who made the drift (if it is known).
    wait_for_async("lastCorrection", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| {
            let c = &p["status"]["lastCorrection"];
            c.is_object() && c.get("fieldManager").cloned().unwrap_or_default() == recorded
        })
    })
    .await;
    let p = env.policy(&shop, "web").await.unwrap();
    assert_eq!(
        (p["status"]["lastCorrection"]["from"].as_i64(), p["status"]["lastCorrection"]["to"].as_i64()),
        (Some(7), Some(3))
    );
    wait_for_async("converged in status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| is_converged(&env, &p, 3))
    })
    .await;
    let (ok, table) = kubectl(&env, &["get", "replicapolicies", "-n", &shop]);
    assert!(ok && table.contains(converged(&env)) && table.contains("Enforce"), "{table}");
}

/// The notes of the Events with `reason` about Deployment `name`, oldest first.
async fn deployment_notes(env: &TargetEnv, ns: &str, name: &str, reason: &str) -> Vec<String> {
    let mut evs: Vec<Event> = events(env, ns, reason)
        .await
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some("Deployment") && r.name.as_deref() == Some(name))
        })
        .collect();
    evs.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    evs.into_iter().filter_map(|e| e.note).collect()
}

/// kube-runtime's Recorder folds Events with the same reason and action into one series that
/// keeps its first note. Three different hand scalings must each be visible, with their own
/// from, to and actor, the last one included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_correction_is_described_with_its_own_from_to_and_actor() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 4)).await.unwrap();
    wait_spec(&env, &shop, "web", 4).await;
    for n in ["11", "12", "13"] {
        let (ok, out) = kubectl(&env, &["scale", "-n", &shop, "deployment/web", "--replicas", n]);
        assert!(ok, "{out}");
        wait_spec(&env, &shop, "web", 4).await;
    }
    // v1.20 records no field manager for /scale (see kubectl_scale_is_undone_with_an_event_naming_kubectl).
    let blamed = if env.is_real() { scalekeeper::reconciler::UNKNOWN_MANAGER } else { "kubectl" };
    let want: Vec<String> =
        [11, 12, 13].iter().map(|n| format!("spec.replicas {n} -> 4 (it had been changed by {blamed})")).collect();
    let waited = testkit::try_wait_for_async("the DriftCorrected Events", T, Duration::from_millis(50), || async {
        let notes = deployment_notes(&env, &shop, "web", "DriftCorrected").await;
        (notes == want).then_some(notes)
    })
    .await;
    // On a timeout, the assertion shows what there was instead.
    let notes = match waited {
        Ok(notes) => notes,
        Err(_) => deployment_notes(&env, &shop, "web", "DriftCorrected").await,
    };
    assert_eq!(notes, want, "one DriftCorrected Event per correction");
    let (ok, described) = kubectl(&env, &["describe", "-n", &shop, "deployment", "web"]);
    assert!(ok, "{described}");
    for note in &want {
        assert!(described.contains(note.as_str()), "{note:?} is not described:\n{described}");
    }
    assert_eq!(corrections_metric(&env, &shop).await, 3.0, "three corrections");
}

/// The Events with `reason` about `kind`/`name`: (note, how many times it happened: the
/// series' count, 1 without a series).
async fn counted_events(env: &TargetEnv, ns: &str, kind: &str, name: &str, reason: &str) -> Vec<(String, i32)> {
    events(env, ns, reason)
        .await
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .map(|e| (e.note.unwrap_or_default(), e.series.map_or(1, |s| s.count)))
        .collect()
}

/// The same correction made again counts up one Event on the Deployment (events.k8s.io/v1
/// `series.count`, what kube-runtime's Recorder writes), as it does on the ReplicaPolicy: an
/// Event per correction is etcd load and an unreadable `kubectl describe`. (Issue 28, defect 8:
/// the Deployment's reference carried its resourceVersion, which each correction moves, and
/// the Recorder's key compares it, so 2,816 corrections made 2,816 Events.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_correction_again_counts_up_one_event_on_the_deployment() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 3)).await.unwrap();
    wait_spec(&env, &shop, "web", 3).await;
    // The same drift three times, so that the three corrections' notes are the same: a `kubectl
    // scale`, blamed on kubectl (kubesim) or an unrecorded writer (v1.20, which records no
    // manager for /scale) every time. (A PATCH by another manager is not: v1.20 stamps a
    // managedFields entry's time only when the manager takes a field, so its second and third
    // drifts keep the first one's time, and once scalekeeper has set the count in a later
    // second they read as an unrecorded writer's. Seen on v1.20.2: other-controller's entry kept
    // 21:57:48 through drifts at 21:57:58 and 21:58:00.)
    for _ in 0..3 {
        let (ok, out) = kubectl(&env, &["scale", "-n", &shop, "deployment/web", "--replicas", "6"]);
        assert!(ok, "{out}");
        wait_spec(&env, &shop, "web", 3).await;
    }
    wait_for_async("the third correction counted", T, POLL, || async { corrections_metric(&env, &shop).await >= 3.0 })
        .await;
    for kind in ["Deployment", "ReplicaPolicy"] {
        let one = |evs: &[(String, i32)]| evs.len() == 1 && evs[0].1 == 3;
        // On a timeout, the assertion shows what there was instead.
        let _ = testkit::try_wait_for_async(
            &format!("one DriftCorrected Event on {kind} web, counted 3 times"),
            T,
            POLL,
            || async { one(&counted_events(&env, &shop, kind, "web", "DriftCorrected").await) },
        )
        .await;
        let evs = counted_events(&env, &shop, kind, "web", "DriftCorrected").await;
        assert!(one(&evs), "{kind} web: want one DriftCorrected Event with series.count 3, got (note, count) {evs:?}");
    }
}

/// Events with `reason` about `kind`/`name`.
async fn notes_about(env: &TargetEnv, ns: &str, kind: &str, name: &str, reason: &str) -> Vec<String> {
    events(env, ns, reason)
        .await
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .filter_map(|e| e.note)
        .collect()
}

/// No Event in `ns` reports a drift or an application of a declaration by the reconciler.
async fn assert_no_drift_events(env: &TargetEnv, ns: &str) {
    for reason in ["DriftCorrected", "DriftDetected", "ReplicasApplied"] {
        let found = events(env, ns, reason).await;
        assert!(found.is_empty(), "{reason}: {:?}", found.iter().map(|e| e.note.clone()).collect::<Vec<_>>());
    }
}

/// A SetReplicas is a declaration, recorded as `ReplicasDeclared` by the caller's identity, and
/// applied once, by the API's own scale write: never a drift, never a second write by the
/// reconciler, whichever of the two writes it sees first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_is_applied_once_and_never_a_drift() {
    let env = start().await;
    let shop = env.ns("shop");
    let log = cluster::ReplicaLog::start(&env.kube, &shop, "web").await;
    let mut alice = env.client().await;
    alice.set_replicas(set(&shop, "web", 5)).await.unwrap();
    wait_spec(&env, &shop, "web", 5).await;
    let declared = "alice declared 5 replicas: spec.replicas 3 -> 5 (no count declared before)".to_string();
    for kind in ["Deployment", "ReplicaPolicy"] {
        wait_for_async(&format!("ReplicasDeclared on the {kind}"), T, POLL, || async {
            notes_about(&env, &shop, kind, "web", "ReplicasDeclared").await == [declared.clone()]
        })
        .await;
    }
    // The reconciler has seen the declaration in effect.
    wait_for_async("converged in status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| is_converged(&env, &p, 5))
    })
    .await;
    // Another caller, another count: its identity is named.
    let bot = "spiffe://test/ns/ci/sa/bot";
    let mut c = env.client_as(bot).await;
    c.set_replicas(set(&shop, "web", 6)).await.unwrap();
    wait_spec(&env, &shop, "web", 6).await;
    let declared_by_bot = format!("{bot} declared 6 replicas: spec.replicas 5 -> 6 (declared before: 5)");
    wait_for_async("ReplicasDeclared naming the second caller", T, POLL, || async {
        notes_about(&env, &shop, "Deployment", "web", "ReplicasDeclared").await.contains(&declared_by_bot)
    })
    .await;
    wait_for_async("converged in status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| is_converged(&env, &p, 6))
    })
    .await;
    let (ok, described) = kubectl(&env, &["describe", "-n", &shop, "deployment", "web"]);
    assert!(ok && described.contains("ReplicasDeclared") && described.contains(&declared_by_bot), "{described}");
    assert!(!described.contains("DriftCorrected"), "{described}");
    assert_no_drift_events(&env, &shop).await;
    assert_eq!(corrections_metric(&env, &shop).await, 0.0, "a declaration is no drift");
    // One scale write per call, the writer's.
    if let Some(sim) = env.sim() {
        assert_eq!(scale_writes_by_scalekeeper(sim, "web"), 2, "one scale write per SetReplicas");
    }
    assert_log(&log, &[3, 5, 6], "the spec.replicas web had").await;
}

/// Another actor changes the count right after a declaration was applied: that is a drift,
/// corrected at once, not a declaration the reconciler waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_right_after_a_declaration_is_corrected_at_once() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 5)).await.unwrap();
    drift(&env, &shop, "web", 8).await;
    let prompt = scalekeeper::reconciler::DECLARATION_GRACE - Duration::from_secs(1);
    wait_for_async("web corrected at once", prompt, POLL, || async { env.spec_replicas(&shop, "web").await == 5 })
        .await;
    let want = [format!("spec.replicas 8 -> 5 (it had been changed by {DRIFTER})")];
    wait_for_async("DriftCorrected naming the drifter", T, POLL, || async {
        notes_about(&env, &shop, "Deployment", "web", "DriftCorrected").await == want
    })
    .await;
    assert!(events(&env, &shop, "ReplicasApplied").await.is_empty());
    assert_eq!(corrections_metric(&env, &shop).await, 1.0);
}

/// The writer dies between writing the policy and scaling the Deployment: the reconciler leaves
/// the fresh declaration to it for the grace only, then applies it itself, as a declaration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_the_writer_never_applied_is_applied_after_the_grace() {
    use scalekeeper::policy::{FIELD_MANAGER, LAST_SET_AT, LAST_SET_BY, LAST_SET_DEPLOYMENT_GENERATION};
    use scalekeeper::reconciler::DECLARATION_GRACE;
    let env = start().await;
    let shop = env.ns("shop");
    let log = cluster::ReplicaLog::start(&env.kube, &shop, "web").await;
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let generation = log.states()[0].generation.to_string();
    // What the writer writes first, as the writer (field manager scalekeeper).
    let policy: ReplicaPolicy = serde_json::from_value(json!({
        "apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
        "metadata": {"name": "web", "namespace": shop, "annotations": {
            LAST_SET_BY: "alice", LAST_SET_AT: now, LAST_SET_DEPLOYMENT_GENERATION: generation
        }},
        "spec": {"replicas": 5, "mode": "Enforce"}
    }))
    .unwrap();
    let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    Api::<ReplicaPolicy>::namespaced(env.kube.clone(), &shop).create(&pp, &policy).await.unwrap();
    let written = std::time::Instant::now();
    wait_spec(&env, &shop, "web", 5).await;
    let waited = written.elapsed();
    assert!(
        waited + Duration::from_secs(1) >= DECLARATION_GRACE,
        "applied after {waited:?}: the reconciler did not leave the declaration to the writer"
    );
    let applied = format!(
        "spec.replicas 3 -> 5: applied version 1 of the declaration (declared by alice through the API, whose own \
         scale write had not come within {}s)",
        DECLARATION_GRACE.as_secs()
    );
    wait_for_async("ReplicasApplied", T, POLL, || async {
        notes_about(&env, &shop, "Deployment", "web", "ReplicasApplied").await == [applied.clone()]
    })
    .await;
    assert!(events(&env, &shop, "DriftCorrected").await.is_empty(), "applying a declaration is no drift");
    assert_eq!(corrections_metric(&env, &shop).await, 0.0, "applying a declaration is no drift");
    assert_log(&log, &[3, 5], "the spec.replicas web had").await;
    wait_for_async("converged in status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| is_converged(&env, &p, 5))
    })
    .await;
    // From now on, a change is a drift again.
    drift(&env, &shop, "web", 8).await;
    wait_spec(&env, &shop, "web", 5).await;
    // The counter moves after the scale write returns: the test can see the count back first.
    let _ = testkit::try_wait_for_async("the correction counted", T, POLL, || async {
        corrections_metric(&env, &shop).await >= 1.0
    })
    .await;
    assert_eq!(corrections_metric(&env, &shop).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mode_reports_and_never_corrects() {
    let env = start().await;
    let shop = env.ns("shop");
    let log = cluster::ReplicaLog::start(&env.kube, &shop, "cart").await;
    let mut c = env.client().await;
    c.set_replicas(pb::SetReplicasRequest { mode: pb::Mode::Observe as i32, ..set(&shop, "cart", 2) }).await.unwrap();
    drift(&env, &shop, "cart", 5).await;
    wait_for_async("DRIFTED in the API", T, POLL, || async {
        sync_of(&env, &shop, "cart").await.0 == pb::SyncStatus::Drifted as i32
    })
    .await;
    wait_for_async("DriftDetected Event", T, POLL, || async { !events(&env, &shop, "DriftDetected").await.is_empty() })
        .await;
    wait_for_async("Drifted in the policy status", T, POLL, || async {
        env.policy(&shop, "cart").await.is_some_and(|p| p["status"]["syncStatus"] == "Drifted")
    })
    .await;
    assert_eq!(env.spec_replicas(&shop, "cart").await, 5, "Observe never corrects");
    if let Some(sim) = env.sim() {
        assert_eq!(scale_writes_by_scalekeeper(sim, "cart"), 0, "no correction was written");
    }
    assert_log(&log, &[2, 5], "cart only drifted").await;
    assert_eq!(corrections_metric(&env, &shop).await, 0.0, "no correction was written");
    let diffs = c.diff(pb::DiffRequest::default()).await.unwrap().into_inner().diffs;
    assert!(diffs.iter().any(|d| d.name == "cart" && d.spec_replicas == 5 && d.desired_replicas == 2), "{diffs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_is_a_conflict_and_never_fought() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 3)).await.unwrap();
    // autoscaling/v1: the one HPA version every server serves (1.20 has no autoscaling/v2).
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web-hpa", "namespace": shop},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 9}
    }))
    .unwrap();
    Api::<HorizontalPodAutoscaler>::namespaced(env.kube.clone(), &shop)
        .create(&PostParams::default(), &hpa)
        .await
        .unwrap();
    wait_for_async("CONFLICT naming the HPA", T, POLL, || async {
        let (s, reason) = sync_of(&env, &shop, "web").await;
        s == pb::SyncStatus::Conflict as i32 && reason.contains("web-hpa")
    })
    .await;
    let before = env.sim().map(|sim| scale_writes_by_scalekeeper(sim, "web"));
    let corrected_before = corrections_metric(&env, &shop).await;
    let log = cluster::ReplicaLog::start(&env.kube, &shop, "web").await;
    // The HPA scales: scalekeeper must not touch it.
    drift(&env, &shop, "web", 8).await;
    wait_for_async("Conflict in the policy status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| p["status"]["syncStatus"] == "Conflict")
    })
    .await;
    wait_for_async("ConflictDetected Event", T, POLL, || async {
        !events(&env, &shop, "ConflictDetected").await.is_empty()
    })
    .await;
    assert_eq!(env.spec_replicas(&shop, "web").await, 8);
    if let Some(sim) = env.sim() {
        assert_eq!(Some(scale_writes_by_scalekeeper(sim, "web")), before, "no patch was sent");
    }
    assert_log(&log, &[3, 8], "web was only scaled by the HPA's actor").await;
    assert_eq!(corrections_metric(&env, &shop).await, corrected_before, "no correction was made");
    let refused = c.set_replicas(set(&shop, "web", 4)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("web-hpa"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flap_guard_suspends_then_resumes() {
    let env = common::start_target(Options {
        reconcile: ReconcileConfig {
            flap_max: 3,
            flap_window: Duration::from_secs(60),
            cool_down: Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 3)).await.unwrap();
    // Another actor keeps re-scaling: three corrections, then the fourth trips the guard.
    for _ in 0..3 {
        drift(&env, &shop, "web", 6).await;
        wait_spec(&env, &shop, "web", 3).await;
    }
    drift(&env, &shop, "web", 6).await;
    wait_for_async("EnforcementSuspended Event", T, POLL, || async {
        !events(&env, &shop, "EnforcementSuspended").await.is_empty()
    })
    .await;
    let suspended = events(&env, &shop, "EnforcementSuspended").await;
    assert_eq!(suspended[0].type_.as_deref(), Some("Warning"));
    assert_eq!(env.spec_replicas(&shop, "web").await, 6, "suspended: not corrected");
    // The Event and the policy's status are two writes; the API answers from the watch
    // cache, which sees the status when its watch event arrives.
    wait_for_async("CONFLICT in the API", T, POLL, || async {
        sync_of(&env, &shop, "web").await.0 == pb::SyncStatus::Conflict as i32
    })
    .await;
    let (s, reason) = sync_of(&env, &shop, "web").await;
    assert_eq!(s, pb::SyncStatus::Conflict as i32, "{reason}");
    assert!(reason.contains(DRIFTER), "names the other field manager: {reason}");
    let trips = format!(r#"scalekeeper_flap_guard_trips_total{{namespace="{shop}"}}"#);
    assert_eq!(env.metric(&trips).await, 1.0, "{trips}");
    // After the cool-down, enforcement resumes and the drift is corrected.
    wait_for_async("EnforcementResumed Event", T, POLL, || async {
        !events(&env, &shop, "EnforcementResumed").await.is_empty()
    })
    .await;
    wait_spec(&env, &shop, "web", 3).await;
}

/// Waits for the next whole second of the wall clock (at most a second): the condition is the
/// clock itself, so a timer is the wait.
async fn start_of_a_second() {
    let into = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    tokio::time::sleep(Duration::from_nanos(u64::from(1_000_000_000 - into))).await;
}

/// The policy's `EnforcementSuspended` condition: (status, lastTransitionTime).
async fn suspension(env: &TargetEnv, ns: &str, name: &str) -> Option<(String, String)> {
    let p = env.policy(ns, name).await?;
    let c = p["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "EnforcementSuspended")?.clone();
    Some((c["status"].as_str()?.to_string(), c["lastTransitionTime"].as_str().unwrap_or_default().to_string()))
}

/// Declaring the count again ends a flap-guard suspension at once, in the very second the
/// suspension began too. (Issue 28, defect 7: `last-set-at` was recorded to the whole second
/// and the suspension's start to the sub-second, so a declaration in that second compared as
/// older, and the suspension stood for its whole cool-down.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_declaration_ends_a_suspension_even_in_the_second_it_began() {
    use scalekeeper::policy::LAST_SET_AT;
    let env = common::start_target(Options {
        reconcile: ReconcileConfig { flap_max: 1, cool_down: Duration::from_secs(3600), ..Default::default() },
        ..Default::default()
    })
    .await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "cart", 2)).await.unwrap();
    // The trip and the declaration must fall in one wall-clock second: the trip comes at the
    // start of a second, and an attempt where the declaration still landed in the next one
    // proves nothing and is made again.
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        // One correction fills the flap guard (flap_max 1); the next drift trips it.
        drift(&env, &shop, "cart", 4).await;
        wait_spec(&env, &shop, "cart", 2).await;
        start_of_a_second().await;
        drift(&env, &shop, "cart", 4).await;
        let since = wait_for_async("suspended (EnforcementSuspended True)", T, POLL, || async {
            suspension(&env, &shop, "cart").await.filter(|(status, _)| status == "True").map(|(_, since)| since)
        })
        .await;
        assert_eq!(env.spec_replicas(&shop, "cart").await, 4, "suspended: not corrected");
        c.set_replicas(set(&shop, "cart", 2)).await.unwrap();
        let policy = env.policy(&shop, "cart").await.unwrap();
        let set_at = policy["metadata"]["annotations"][LAST_SET_AT].as_str().unwrap().to_string();
        let same_second = set_at.get(..19) == since.get(..19);
        eprintln!("attempt {attempt}: suspended at {since}, declared again at {set_at}");
        wait_for_async("enforcement resumed (EnforcementSuspended False) within seconds", T, POLL, || async {
            suspension(&env, &shop, "cart").await.is_some_and(|(status, _)| status == "False")
        })
        .await;
        if !same_second {
            continue;
        }
        assert!(!events(&env, &shop, "EnforcementResumed").await.is_empty(), "an EnforcementResumed Event");
        // Enforcing again: the next drift is corrected.
        drift(&env, &shop, "cart", 5).await;
        wait_spec(&env, &shop, "cart", 2).await;
        return;
    }
    panic!("in {ATTEMPTS} attempts the declaration never landed in the second the suspension began");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_recreated_deployment_is_never_scaled_by_the_stale_policy() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 4)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(env.kube.clone(), &shop);
    let original = serde_json::to_value(deployments.get("web").await.unwrap()).unwrap();
    // The policy was pinned and owned; a kubectl delete with the default (background)
    // propagation takes it along. kubesim collects at once; kube-controller-manager's garbage
    // collector only watches a custom resource after its next discovery sync (every 30 s), so
    // right after the CRD was installed on a fresh cluster this takes up to 30 s.
    let (ok, out) = kubectl(&env, &["delete", "-n", &shop, "deployment", "web"]);
    assert!(ok, "{out}");
    let gc = if env.is_real() { Duration::from_secs(45) } else { T };
    wait_for_async("the policy garbage-collected with its Deployment", gc, POLL, || async {
        env.policy(&shop, "web").await.is_none()
    })
    .await;

    // A policy applied by GitOps, pinned to the old UID, meets a re-created Deployment.
    let recreated = recreated_from(&original, 1);
    cluster::create_deployment(&env.kube, recreated).await;
    let policy: ReplicaPolicy = serde_json::from_value(json!({
        "apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
        "metadata": {"name": "web", "namespace": shop},
        "spec": {"replicas": 6, "mode": "Enforce", "deploymentUid": original["metadata"]["uid"]}
    }))
    .unwrap();
    Api::<ReplicaPolicy>::namespaced(env.kube.clone(), &shop).create(&PostParams::default(), &policy).await.unwrap();
    wait_for_async("CONFLICT: re-created", T, POLL, || async {
        let (s, reason) = sync_of(&env, &shop, "web").await;
        s == pb::SyncStatus::Conflict as i32 && reason.contains("re-created")
    })
    .await;
    wait_for_async("Conflict in status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| p["status"]["syncStatus"] == "Conflict")
    })
    .await;
    assert_eq!(env.spec_replicas(&shop, "web").await, 1, "the stale policy is not applied");
}

/// kubesim only (it delays watch events on request): the reconciler acts on its cache, and a
/// cache that lags the API server must not make it scale an object it has not seen. Here the
/// cache still shows the old Deployment, drifted, when the name already belongs to a new one:
/// the scale write carries the cached resourceVersion, the API server refuses it (409), and
/// the live read that follows finds the new UID and scales nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_behind_the_api_server_never_scales_the_wrong_deployment() {
    let env = start().await;
    let Some(sim) = env.sim() else { return };
    let shop = env.ns("shop");
    let deployments: Api<Deployment> = Api::namespaced(env.kube.clone(), &shop);
    let original = serde_json::to_value(deployments.get("web").await.unwrap()).unwrap();
    // Applied by GitOps: no ownerReference, so deleting the Deployment leaves it in place.
    let replicas = original["spec"]["replicas"].as_i64().unwrap();
    let policy: ReplicaPolicy = serde_json::from_value(json!({
        "apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
        "metadata": {"name": "web", "namespace": shop},
        "spec": {"replicas": replicas, "mode": "Enforce", "deploymentUid": original["metadata"]["uid"]}
    }))
    .unwrap();
    Api::<ReplicaPolicy>::namespaced(env.kube.clone(), &shop).create(&PostParams::default(), &policy).await.unwrap();
    wait_for_async("the policy converged", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| p["status"]["syncStatus"] == converged(&env))
    })
    .await;

    // Every watch event now arrives 1.5 s after its change; the recreation comes 1 s after
    // the drift, so for a second the cache shows the old Deployment, drifted, while the API
    // server has the new one.
    sim.set_faults(kubesim::FaultSpec { watch_delay_ms: 1500, ..Default::default() });
    drift(&env, &shop, "web", 9).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    deployments.delete("web", &Default::default()).await.unwrap();
    let recreated = recreated_from(&original, 9);
    cluster::create_deployment(&env.kube, recreated).await;

    // Between the deletion's event and the new Deployment's, the server's cache has none.
    wait_for_async("CONFLICT: re-created", T, POLL, || async {
        try_sync_of(&env, &shop, "web")
            .await
            .is_ok_and(|(s, reason)| s == pb::SyncStatus::Conflict as i32 && reason.contains("re-created"))
    })
    .await;
    wait_for_async("Conflict in status", T, POLL, || async {
        env.policy(&shop, "web").await.is_some_and(|p| p["status"]["syncStatus"] == "Conflict")
    })
    .await;
    sim.set_faults(kubesim::FaultSpec::default());
    assert_eq!(env.spec_replicas(&shop, "web").await, 9, "the new Deployment keeps its own count");
    assert_eq!(scale_writes_by_scalekeeper(sim, "web"), 0, "nothing was scaled from the stale copy");
    assert_eq!(corrections_metric(&env, &shop).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_policy_hand_edits_and_paused_deployments() {
    let env = start().await;
    let payments = env.ns("payments");
    // A policy from `kubectl apply` (no ownerReference, no pinned UID) is enforced.
    let file = env.dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: scalekeeper.dev/v1alpha1\nkind: ReplicaPolicy\nmetadata:\n  name: ledger\n  namespace: {payments}\nspec:\n  replicas: 4\n"
        ),
    )
    .unwrap();
    let (ok, out) = kubectl(&env, &["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    // Promptly: no writer will apply it, so there is nothing to wait for.
    let prompt = scalekeeper::reconciler::DECLARATION_GRACE - Duration::from_secs(1);
    wait_for_async("ledger applied at once", prompt, POLL, || async {
        env.spec_replicas(&payments, "ledger").await == 4
    })
    .await;
    // Edited by hand: the new count is applied, promptly too.
    let (ok, out) = kubectl(
        &env,
        &["patch", "-n", &payments, "replicapolicy", "ledger", "--type", "merge", "-p", r#"{"spec":{"replicas":2}}"#],
    );
    assert!(ok, "{out}");
    wait_for_async("ledger edit applied at once", prompt, POLL, || async {
        env.spec_replicas(&payments, "ledger").await == 2
    })
    .await;
    // Both were declarations applied, not drifts.
    wait_for_async("two ReplicasApplied Events", T, POLL, || async {
        notes_about(&env, &payments, "Deployment", "ledger", "ReplicasApplied").await.len() == 2
    })
    .await;
    let notes = notes_about(&env, &payments, "Deployment", "ledger", "ReplicasApplied").await;
    assert!(notes.iter().all(|n| n.ends_with("(declared in the ReplicaPolicy)")), "{notes:?}");
    assert!(events(&env, &payments, "DriftCorrected").await.is_empty(), "a declaration is no drift");
    assert_eq!(corrections_metric(&env, &payments).await, 0.0, "a declaration is no drift");
    // A paused Deployment is still scaled (pausing stops rollouts, not scaling).
    let (ok, out) = kubectl(&env, &["rollout", "pause", "-n", &payments, "deployment/ledger"]);
    assert!(ok, "{out}");
    drift(&env, &payments, "ledger", 9).await;
    wait_spec(&env, &payments, "ledger", 2).await;
    // An invalid policy is refused by the API server's schema validation.
    let (ok, out) = kubectl(
        &env,
        &["patch", "-n", &payments, "replicapolicy", "ledger", "--type", "merge", "-p", r#"{"spec":{"replicas":-1}}"#],
    );
    assert!(!ok && out.contains("Invalid"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_during_an_outage_is_corrected_when_the_api_returns() {
    // kubesim goes down for everyone; a real API server is shared with the other tests, so there
    // scalekeeper alone is cut off from it, by a proxy that closes its connections.
    let env = common::start_target(Options { via_proxy: true, ..Default::default() }).await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "cart", 2)).await.unwrap();
    wait_for_async("converged", T, POLL, || async { sync_of(&env, &shop, "cart").await.0 == converged_pb(&env) }).await;
    match (env.sim(), &env.proxy) {
        (Some(sim), _) => sim.go_down().await,
        (None, Some(proxy)) => proxy.set(common::proxy::Link::Cut),
        (None, None) => unreachable!("a real target with via_proxy has a proxy"),
    }
    // The cluster changes while scalekeeper cannot reach it.
    match env.sim() {
        Some(sim) => {
            let mut d = sim.get("apps/v1", "Deployment", &shop, "cart").unwrap();
            d["spec"]["replicas"] = json!(7);
            d["metadata"].as_object_mut().unwrap().remove("resourceVersion");
            sim.apply(d).unwrap();
        }
        None => drift(&env, &shop, "cart", 7).await,
    }
    wait_for_async("not ready", T, POLL, || async { env.readyz().await == 503 }).await;
    match (env.sim(), &env.proxy) {
        (Some(sim), _) => sim.come_up().await.unwrap(),
        (None, Some(proxy)) => proxy.set(common::proxy::Link::Pass),
        (None, None) => unreachable!(),
    }
    wait_spec(&env, &shop, "cart", 2).await;
    env.wait_ready().await;
}

/// kubesim only (it counts open watches): the reconciler reconciles from the cache's watches,
/// so a process holds one watch per resource (Deployments, ReplicaPolicies, HPAs,
/// ScaleRequests) whether or not it leads, and the leader one more, of the guard's
/// `ScaleRefused` Events (for the history). Before, the leader's Controller opened a second
/// set of three.
#[tokio::test]
async fn the_reconciler_opens_no_watches_of_its_own() {
    let env = start().await;
    let Some(sim) = env.sim() else { return };
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 3)).await.unwrap();
    // The reconciler runs (no election here): it undoes a drift.
    drift(&env, &shop, "web", 6).await;
    wait_spec(&env, &shop, "web", 3).await;
    assert_eq!(
        sim.watcher_count(),
        5,
        "the cache's Deployment, ReplicaPolicy, HPA and ScaleRequest watches, the leader's watch of ScaleRefused \
         Events, and no Controller watches beside them"
    );
    // Still triggered by the cache: a second drift is undone too.
    drift(&env, &shop, "web", 5).await;
    wait_spec(&env, &shop, "web", 3).await;
}
