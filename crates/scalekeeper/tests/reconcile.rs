//! The reconciler against kubesim: drift made by the real `kubectl scale` is undone and
//! shows up in `kubectl describe`; Observe mode only reports; an HPA is never fought; the
//! flap guard suspends and resumes; and the edge cases — a deleted or re-created
//! Deployment, a paused one, a policy applied with kubectl (GitOps) or edited by hand, and
//! drift that happens while the API server is unreachable.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Env, Options, wait_for};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use scalekeeper::reconciler::ReconcileConfig;
use scalekeeper_api::v1 as pb;
use serde_json::json;
use tonic::Code;

const T: Duration = Duration::from_secs(10);

fn set(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: name.into(), replicas, ..Default::default() }
}

/// kubectl against kubesim, with its own discovery cache.
fn kubectl(env: &Env, args: &[&str]) -> (bool, String) {
    let kubeconfig = env.kubeconfig();
    let cache = env.dir.path().join("kubectl-cache");
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .output()
        .expect("kubectl is required by these tests (.ci/run installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Scales through kubesim directly (field manager "kubesim"), as another actor would.
fn drift(env: &Env, ns: &str, name: &str, replicas: i64) {
    let mut d = env.sim.get("apps/v1", "Deployment", ns, name).unwrap();
    d["spec"]["replicas"] = json!(replicas);
    d["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    env.sim.apply(d).unwrap();
}

fn scale_writes_by_scalekeeper(env: &Env, name: &str) -> usize {
    env.sim
        .writes()
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

async fn events(env: &Env, ns: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(env.sim.client().await.unwrap(), ns);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn wait_spec(env: &Env, ns: &str, name: &str, want: i64) {
    wait_for(&format!("{ns}/{name} spec.replicas = {want}"), T, || async { env.spec_replicas(ns, name) == want }).await;
}

async fn sync_of(env: &Env, ns: &str, name: &str) -> (i32, String) {
    let mut c = env.client().await;
    let d = c
        .get_deployment(pb::GetDeploymentRequest { namespace: ns.into(), name: name.into() })
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    (d.sync_status, d.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_is_undone_with_an_event_naming_kubectl() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "web", 3)).await.unwrap();
    let (ok, out) = kubectl(&env, &["scale", "-n", "shop", "deployment/web", "--replicas", "7"]);
    assert!(ok, "{out}");
    wait_spec(&env, "shop", "web", 3).await;
    // SetReplicas to the count web already had changed nothing; the correction did.
    assert_eq!(scale_writes_by_scalekeeper(&env, "web"), 1, "exactly one correction");
    // The Event is on the Deployment, where `kubectl describe` shows it.
    let (ok, described) = kubectl(&env, &["describe", "-n", "shop", "deployment", "web"]);
    assert!(ok, "{described}");
    assert!(described.contains("DriftCorrected"), "{described}");
    assert!(described.contains("spec.replicas 7 -> 3 (it had been changed by kubectl)"), "{described}");
    // The policy's status records the correction and who made the drift.
    wait_for("lastCorrection", T, || async {
        env.policy("shop", "web").is_some_and(|p| p["status"]["lastCorrection"]["fieldManager"] == "kubectl")
    })
    .await;
    let p = env.policy("shop", "web").unwrap();
    assert_eq!(
        (p["status"]["lastCorrection"]["from"].as_i64(), p["status"]["lastCorrection"]["to"].as_i64()),
        (Some(7), Some(3))
    );
    wait_for("InSync in status", T, || async {
        env.policy("shop", "web").is_some_and(|p| p["status"]["syncStatus"] == "InSync")
    })
    .await;
    let (ok, table) = kubectl(&env, &["get", "replicapolicies", "-A"]);
    assert!(ok && table.contains("InSync") && table.contains("Enforce"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mode_reports_and_never_corrects() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.set_replicas(pb::SetReplicasRequest { mode: pb::Mode::Observe as i32, ..set("shop", "cart", 2) }).await.unwrap();
    drift(&env, "shop", "cart", 5);
    wait_for("DRIFTED in the API", T, || async {
        sync_of(&env, "shop", "cart").await.0 == pb::SyncStatus::Drifted as i32
    })
    .await;
    wait_for("DriftDetected Event", T, || async { !events(&env, "shop", "DriftDetected").await.is_empty() }).await;
    wait_for("Drifted in the policy status", T, || async {
        env.policy("shop", "cart").is_some_and(|p| p["status"]["syncStatus"] == "Drifted")
    })
    .await;
    assert_eq!(env.spec_replicas("shop", "cart"), 5, "Observe never corrects");
    assert_eq!(scale_writes_by_scalekeeper(&env, "cart"), 0, "no correction was written");
    let diffs = c.diff(pb::DiffRequest::default()).await.unwrap().into_inner().diffs;
    assert!(diffs.iter().any(|d| d.name == "cart" && d.spec_replicas == 5 && d.desired_replicas == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_is_a_conflict_and_never_fought() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "web", 3)).await.unwrap();
    env.sim
        .apply(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web-hpa", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 9}}))
        .unwrap();
    wait_for("CONFLICT naming the HPA", T, || async {
        let (s, reason) = sync_of(&env, "shop", "web").await;
        s == pb::SyncStatus::Conflict as i32 && reason.contains("web-hpa")
    })
    .await;
    let before = scale_writes_by_scalekeeper(&env, "web");
    // The HPA scales: scalekeeper must not touch it.
    drift(&env, "shop", "web", 8);
    wait_for("Conflict in the policy status", T, || async {
        env.policy("shop", "web").is_some_and(|p| p["status"]["syncStatus"] == "Conflict")
    })
    .await;
    wait_for("ConflictDetected Event", T, || async { !events(&env, "shop", "ConflictDetected").await.is_empty() })
        .await;
    assert_eq!(env.spec_replicas("shop", "web"), 8);
    assert_eq!(scale_writes_by_scalekeeper(&env, "web"), before, "no patch was sent");
    let refused = c.set_replicas(set("shop", "web", 4)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("web-hpa"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flap_guard_suspends_then_resumes() {
    let env = common::start_with(Options {
        reconcile: ReconcileConfig {
            flap_max: 3,
            flap_window: Duration::from_secs(60),
            cool_down: Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "web", 3)).await.unwrap();
    // Another actor keeps re-scaling: three corrections, then the fourth trips the guard.
    for _ in 0..3 {
        drift(&env, "shop", "web", 6);
        wait_spec(&env, "shop", "web", 3).await;
    }
    drift(&env, "shop", "web", 6);
    wait_for("EnforcementSuspended Event", T, || async {
        !events(&env, "shop", "EnforcementSuspended").await.is_empty()
    })
    .await;
    let suspended = events(&env, "shop", "EnforcementSuspended").await;
    assert_eq!(suspended[0].type_.as_deref(), Some("Warning"));
    assert_eq!(env.spec_replicas("shop", "web"), 6, "suspended: not corrected");
    let (s, reason) = sync_of(&env, "shop", "web").await;
    assert_eq!(s, pb::SyncStatus::Conflict as i32, "{reason}");
    assert!(reason.contains("kubesim"), "names the other field manager: {reason}");
    let (_, metrics) = common::http_get(env.http_addr, "/metrics").await;
    assert!(metrics.contains(r#"scalekeeper_flap_guard_trips_total{namespace="shop"} 1"#), "{metrics}");
    // After the cool-down, enforcement resumes and the drift is corrected.
    wait_for("EnforcementResumed Event", T, || async { !events(&env, "shop", "EnforcementResumed").await.is_empty() })
        .await;
    wait_spec(&env, "shop", "web", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_declaration_ends_a_suspension() {
    let env = common::start_with(Options {
        reconcile: ReconcileConfig { flap_max: 1, cool_down: Duration::from_secs(3600), ..Default::default() },
        ..Default::default()
    })
    .await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "cart", 2)).await.unwrap();
    drift(&env, "shop", "cart", 4);
    wait_spec(&env, "shop", "cart", 2).await;
    drift(&env, "shop", "cart", 4);
    wait_for("suspended", T, || async { !events(&env, "shop", "EnforcementSuspended").await.is_empty() }).await;
    assert_eq!(env.spec_replicas("shop", "cart"), 4);
    // Declaring again (a second later, so last-set-at moves past the suspension) resumes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.set_replicas(set("shop", "cart", 2)).await.unwrap();
    wait_for("resumed", T, || async { !events(&env, "shop", "EnforcementResumed").await.is_empty() }).await;
    drift(&env, "shop", "cart", 5);
    wait_spec(&env, "shop", "cart", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_recreated_deployment_is_never_scaled_by_the_stale_policy() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "web", 4)).await.unwrap();
    let original = env.sim.get("apps/v1", "Deployment", "shop", "web").unwrap();
    // The policy was pinned and owned; a kubectl delete with the default (background)
    // propagation takes it along.
    let (ok, out) = kubectl(&env, &["delete", "-n", "shop", "deployment", "web"]);
    assert!(ok, "{out}");
    assert!(env.policy("shop", "web").is_none(), "garbage-collected with its Deployment");

    // A policy applied by GitOps, pinned to the old UID, meets a re-created Deployment.
    let mut recreated = original.clone();
    for f in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"] {
        recreated["metadata"].as_object_mut().unwrap().remove(f);
    }
    recreated["spec"]["replicas"] = json!(1);
    env.sim.apply(recreated).unwrap();
    env.sim
        .apply(json!({"apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 6, "mode": "Enforce", "deploymentUid": original["metadata"]["uid"]}}))
        .unwrap();
    wait_for("CONFLICT: re-created", T, || async {
        let (s, reason) = sync_of(&env, "shop", "web").await;
        s == pb::SyncStatus::Conflict as i32 && reason.contains("re-created")
    })
    .await;
    wait_for("Conflict in status", T, || async {
        env.policy("shop", "web").is_some_and(|p| p["status"]["syncStatus"] == "Conflict")
    })
    .await;
    assert_eq!(env.spec_replicas("shop", "web"), 1, "the stale policy is not applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_policy_hand_edits_and_paused_deployments() {
    let env = common::start().await;
    // A policy from `kubectl apply` (no ownerReference, no pinned UID) is enforced.
    let file = env.dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "apiVersion: scalekeeper.dev/v1alpha1\nkind: ReplicaPolicy\nmetadata:\n  name: ledger\n  namespace: payments\nspec:\n  replicas: 4\n",
    )
    .unwrap();
    let (ok, out) = kubectl(&env, &["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    wait_spec(&env, "payments", "ledger", 4).await;
    // Edited by hand: the new count is applied.
    let (ok, out) = kubectl(
        &env,
        &["patch", "-n", "payments", "replicapolicy", "ledger", "--type", "merge", "-p", r#"{"spec":{"replicas":2}}"#],
    );
    assert!(ok, "{out}");
    wait_spec(&env, "payments", "ledger", 2).await;
    // A paused Deployment is still scaled (pausing stops rollouts, not scaling).
    let (ok, out) = kubectl(&env, &["rollout", "pause", "-n", "payments", "deployment/ledger"]);
    assert!(ok, "{out}");
    drift(&env, "payments", "ledger", 9);
    wait_spec(&env, "payments", "ledger", 2).await;
    // An invalid policy is refused by the API server's schema validation.
    let (ok, out) = kubectl(
        &env,
        &["patch", "-n", "payments", "replicapolicy", "ledger", "--type", "merge", "-p", r#"{"spec":{"replicas":-1}}"#],
    );
    assert!(!ok && out.contains("Invalid"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_during_an_outage_is_corrected_when_the_api_returns() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "cart", 2)).await.unwrap();
    wait_for("InSync", T, || async { sync_of(&env, "shop", "cart").await.0 == pb::SyncStatus::InSync as i32 }).await;
    env.sim.go_down().await;
    // The cluster changes while scalekeeper cannot reach it.
    drift(&env, "shop", "cart", 7);
    wait_for("not ready", T, || async { env.readyz().await == 503 }).await;
    env.sim.come_up().await.unwrap();
    wait_spec(&env, "shop", "cart", 2).await;
    env.wait_ready().await;
}
