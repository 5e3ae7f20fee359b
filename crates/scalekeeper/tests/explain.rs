//! Explain and Plan end to end: the real server over mTLS against kubesim or (with
//! `SCALEKEEPER_TEST_KUBECONFIG`) a real API server, each test in namespaces of its own.
//!
//! - A Deployment that Argo CD applies (server-side apply as field manager `argocd-controller`)
//!   and that kubectl then scales (`kubectl patch`, a write that records its manager on every
//!   version, unlike the scale subresource before 1.22): Explain names both, kubectl as the last
//!   writer, and prints Argo CD's fix, from the Deployment's real managedFields.
//! - A held, scheduled and bounded Deployment: every rule's verdict (hold wins, a covering window
//!   overridden, another inactive, one invalid, the declared count overridden), the bound that
//!   clamps the hold, and the same rules at an instant after the hold; Plan lists the hold's
//!   expiry; bad input is INVALID_ARGUMENT, an unknown Deployment NOT_FOUND.
//! - An HPA owned by a KEDA ScaledObject (the CRD created minimally here) with the
//!   `autoscaling.keda.sh/paused-replicas` annotation: reported with its pause count.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Options, TargetEnv};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt as _;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use scalekeeper::hpa::HorizontalPodAutoscaler;
use scalekeeper::policy::ReplicaPolicy;
use scalekeeper_api::v1 as pb;
use serde_json::json;
use testkit::{POLL, wait_for_async};
use tonic::Code;

const T: Duration = Duration::from_secs(15);

async fn start() -> TargetEnv {
    common::start_target(Options::default()).await
}

/// kubectl against the target, with its own discovery cache; panics when it fails.
fn kubectl(env: &TargetEnv, args: &[&str]) -> String {
    let out = Command::new(testkit::kubectl())
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .arg("--cache-dir")
        .arg(env.dir.path().join("kubectl-cache"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl is required by these tests (.ci/run installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubectl {args:?}: {text}");
    text
}

async fn explain(env: &TargetEnv, ns: &str, name: &str, at: Option<prost_types::Timestamp>) -> pb::ExplainResponse {
    let mut c = env.client().await;
    c.explain(pb::ExplainRequest { namespace: ns.into(), name: name.into(), at }).await.unwrap().into_inner()
}

fn verdicts(r: &pb::ExplainResponse) -> Vec<(String, i32, pb::Verdict)> {
    r.rules.iter().map(|c| (c.name.clone(), c.replicas, pb::Verdict::try_from(c.verdict).unwrap())).collect()
}

fn ts(t: jiff::Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }
}

/// Server-side apply of `body` to Deployment `ns/name` as field manager `manager`, forced (as
/// Argo CD syncs with server-side apply).
async fn apply_as(env: &TargetEnv, manager: &str, ns: &str, name: &str, body: serde_json::Value) {
    let api: Api<Deployment> = Api::namespaced(env.kube.clone(), ns);
    api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("apply as {manager}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_argo_cd_and_kubectl_from_real_managed_fields() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    // Observe mode: scalekeeper reports the other writers and never corrects them, so the
    // managedFields stay theirs.
    c.set_replicas(pb::SetReplicasRequest {
        namespace: shop.clone(),
        name: "web".into(),
        replicas: 3,
        mode: pb::Mode::Observe as i32,
        ..Default::default()
    })
    .await
    .unwrap();

    // Argo CD syncs the Deployment with server-side apply: its tracking label and 4 replicas.
    let manifest = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": shop, "labels": {"app.kubernetes.io/instance": "shop-web"}},
        "spec": {"replicas": 4}
    });
    apply_as(&env, "argocd-controller", &shop, "web", manifest).await;
    let r = explain(&env, &shop, "web", None).await;
    let owners: Vec<(&str, &str)> =
        r.replicas_owners.iter().map(|o| (o.manager.as_str(), o.operation.as_str())).collect();
    assert_eq!(owners, [("argocd-controller", "Apply")], "{r:#?}");
    assert_eq!(r.last_writer, "argocd-controller");
    assert_eq!(r.replicas_owners[0].tool, "Argo CD");
    assert!(r.replicas_owners[0].fix.contains("ignoreDifferences"), "{}", r.replicas_owners[0].fix);
    assert!(r.replicas_owners[0].time.is_some());
    let fight = r.notes.iter().find(|n| n.starts_with("Argo CD (field manager argocd-controller) owns spec.replicas"));
    let fight = fight.unwrap_or_else(|| panic!("the fight in the notes: {:#?}", r.notes));
    assert!(
        fight.contains("will fight")
            && fight.contains("/spec/replicas")
            && fight.contains("RespectIgnoreDifferences=true"),
        "{fight}"
    );
    assert!(r.notes.iter().any(|n| n == "Observe mode: drift is reported, never corrected"), "{:#?}", r.notes);

    // An on-call engineer scales it with kubectl: kubectl takes spec.replicas from Argo CD,
    // whose next sync takes it back.
    kubectl(&env, &["patch", "deployment", "web", "-n", &shop, "--type", "merge", "-p", r#"{"spec":{"replicas":5}}"#]);
    // Explain reads the owners live but the Deployment from the watch cache: wait until the
    // cache has the patch (CI once read 4 here, the count before it).
    wait_for_async("the cache has the patched count", T, POLL, || async {
        explain(&env, &shop, "web", None).await.deployment.is_some_and(|d| d.spec_replicas == 5)
    })
    .await;
    let r = explain(&env, &shop, "web", None).await;
    assert!(r.last_writer.starts_with("kubectl"), "the last writer is kubectl's: {r:#?}");
    assert_eq!(r.replicas_owners.len(), 1, "{:#?}", r.replicas_owners);
    assert_eq!((r.replicas_owners[0].operation.as_str(), r.replicas_owners[0].tool.as_str()), ("Update", ""));
    assert!(!r.replicas_owners[0].scalekeeper);
    let argo =
        r.notes.iter().find(|n| n.starts_with("Argo CD (field manager argocd-controller) applies this Deployment"));
    let argo = argo.unwrap_or_else(|| panic!("Argo CD named in the notes: {:#?}", r.notes));
    assert!(argo.contains(&format!("since {} set it", r.last_writer)), "{argo}");
    assert!(
        argo.contains("ignoreDifferences") && argo.contains("RespectIgnoreDifferences=true"),
        "the fix in full: {argo}"
    );
    let d = r.deployment.unwrap();
    assert_eq!((d.spec_replicas, d.effective_replicas), (5, Some(3)), "reported, not corrected");
    assert_eq!(r.effective_replicas, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_gives_every_rule_its_verdict_and_plan_the_hold_expiry() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    let now = jiff::Timestamp::now();
    // A window on the day after tomorrow (UTC): it does not cover now, whatever now is.
    let later = now.to_zoned(jiff::tz::TimeZone::UTC).date().checked_add(jiff::Span::new().days(2)).unwrap();
    let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][later.weekday().to_monday_zero_offset() as usize];
    let inactive = format!("{day} 00:00-01:00 UTC");
    c.set_replicas(pb::SetReplicasRequest {
        namespace: shop.clone(),
        name: "cart".into(),
        replicas: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    c.set_schedule(pb::SetScheduleRequest {
        namespace: shop.clone(),
        name: "cart".into(),
        windows: vec![
            pb::ScheduleWindow { window: "Mon-Sun 00:00-24:00 UTC".into(), replicas: 3 },
            pb::ScheduleWindow { window: inactive.clone(), replicas: 1 },
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    c.set_replicas(pb::SetReplicasRequest {
        namespace: shop.clone(),
        name: "cart".into(),
        replicas: 7,
        hold_for: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
        reason: "INC-9".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // Written past the API (kubectl, GitOps): a bound below the hold and a window that does not
    // parse, which the API would refuse.
    let policies: Api<ReplicaPolicy> = Api::namespaced(env.kube.clone(), &shop);
    let patch = json!({"spec": {"maxReplicas": 6, "schedule": [
        {"window": "Mon-Sun 00:00-24:00 UTC", "replicas": 3},
        {"window": inactive, "replicas": 1},
        {"window": "Someday 10:00-11:00 UTC", "replicas": 9},
    ]}});
    policies.patch("cart", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for_async("the cache has the patched policy", T, POLL, || async {
        explain(&env, &shop, "cart", None).await.rules.len() == 5
    })
    .await;

    let r = explain(&env, &shop, "cart", None).await;
    use pb::Verdict::*;
    assert_eq!(
        verdicts(&r),
        [
            ("hold".to_string(), 7, Wins),
            ("schedule window \"Mon-Sun 00:00-24:00 UTC\"".to_string(), 3, Overridden),
            (format!("schedule window {inactive:?}"), 1, Inactive),
            ("schedule window \"Someday 10:00-11:00 UTC\"".to_string(), 9, Invalid),
            ("declared count".to_string(), 2, Overridden),
        ]
    );
    assert_eq!((r.effective_replicas, r.rule), (Some(6), pb::Rule::Hold as i32));
    assert_eq!(r.clamped_by, "maxReplicas 6");
    assert!(
        r.rules[0].detail.contains("INC-9") && r.rules[0].detail.ends_with("kept within maxReplicas 6: 6"),
        "{}",
        r.rules[0].detail
    );
    assert!(r.rules[3].detail.starts_with("never applies: \"Someday\""), "{}", r.rules[3].detail);
    assert!(!r.flap_guard.unwrap().suspended);
    assert!(r.notes.iter().any(|n| n.starts_with("guard Off")), "{:#?}", r.notes);
    let until = r.deployment.as_ref().and_then(|d| d.hold.as_ref()).and_then(|h| h.until).unwrap();

    // The same rules two hours on: the hold has expired, the daily window wins.
    let two_hours = now.checked_add(jiff::SignedDuration::from_hours(2)).unwrap();
    let r = explain(&env, &shop, "cart", Some(ts(two_hours))).await;
    assert_eq!(r.at, Some(ts(two_hours)));
    assert_eq!(verdicts(&r)[0].2, Inactive);
    assert_eq!(verdicts(&r)[1].2, Wins);
    assert_eq!((r.effective_replicas, r.rule, r.clamped_by.as_str()), (Some(3), pb::Rule::Schedule as i32, ""));

    // Plan: the hold's expiry is the one change within 3 hours.
    let p = c
        .plan(pb::PlanRequest {
            namespace: shop.clone(),
            name: "cart".into(),
            horizon: Some(prost_types::Duration { seconds: 3 * 3600, nanos: 0 }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.changes.len(), 1, "{p:#?}");
    let change = &p.changes[0];
    assert_eq!(change.at, Some(until));
    assert_eq!((change.from_replicas, change.to_replicas, change.rule), (6, 3, pb::Rule::Schedule as i32));
    assert_eq!(change.cause, "the hold expires; window \"Mon-Sun 00:00-24:00 UTC\" applies");
    assert!(change.local_time.ends_with("+00:00[UTC]"), "{}", change.local_time);
    let (from, to) = (p.from.unwrap(), p.until.unwrap());
    assert_eq!(to.seconds - from.seconds, 3 * 3600);
    // The default horizon is 7 days.
    let p = c
        .plan(pb::PlanRequest { namespace: shop.clone(), name: "cart".into(), horizon: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.until.unwrap().seconds - p.from.unwrap().seconds, 7 * 86_400);

    // Bad input, and a Deployment that does not exist.
    let bad = c
        .plan(pb::PlanRequest {
            namespace: shop.clone(),
            name: "cart".into(),
            horizon: Some(prost_types::Duration { seconds: 32 * 86_400, nanos: 0 }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("horizon"), "{}", bad.message());
    let bad = c
        .explain(pb::ExplainRequest {
            namespace: shop.clone(),
            name: "cart".into(),
            at: Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("at:"), "{}", bad.message());
    let missing = c
        .explain(pb::ExplainRequest { namespace: shop.clone(), name: "nothing-here".into(), at: None })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let missing =
        c.plan(pb::PlanRequest { namespace: shop, name: "nothing-here".into(), horizon: None }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

/// A minimal ScaledObject CRD (KEDA's group, kind and plural; any spec), installed only when the
/// cluster has none, so a real KEDA's CRD is never replaced.
async fn install_scaled_object_crd(env: &TargetEnv) {
    let crds: Api<CustomResourceDefinition> = Api::all(env.kube.clone());
    if crds.get_opt("scaledobjects.keda.sh").await.unwrap().is_some() {
        return;
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "scaledobjects.keda.sh"},
        "spec": {
            "group": "keda.sh",
            "names": {"kind": "ScaledObject", "plural": "scaledobjects", "singular": "scaledobject", "listKind": "ScaledObjectList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    common::cluster::install_crd(&env.kube, crd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reports_a_paused_keda_scaled_object_behind_an_hpa() {
    let env = start().await;
    let shop = env.ns("shop");
    install_scaled_object_crd(&env).await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    );
    let scaled_objects: Api<DynamicObject> = Api::namespaced_with(env.kube.clone(), &shop, &ar);
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "web", "namespace": shop, "annotations": {"autoscaling.keda.sh/paused-replicas": "2"}},
        "spec": {"scaleTargetRef": {"name": "web"}, "minReplicaCount": 1, "maxReplicaCount": 10}
    }))
    .unwrap();
    let so = scaled_objects.create(&PostParams::default(), &so).await.unwrap();
    // The HPA KEDA creates for it: owned by the ScaledObject.
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-hpa-web", "namespace": shop, "ownerReferences": [{
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "web",
            "uid": so.uid().unwrap(), "controller": true, "blockOwnerDeletion": true
        }]},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10}
    }))
    .unwrap();
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(env.kube.clone(), &shop);
    hpas.create(&PostParams::default(), &hpa).await.unwrap();
    wait_for_async("the cache sees the HPA", T, POLL, || async {
        !explain(&env, &shop, "web", None).await.autoscalers.is_empty()
    })
    .await;

    let r = explain(&env, &shop, "web", None).await;
    assert_eq!(r.autoscalers.len(), 1);
    let a = &r.autoscalers[0];
    assert_eq!(
        (a.kind.as_str(), a.name.as_str(), a.managed_by.as_str()),
        ("HorizontalPodAutoscaler", "keda-hpa-web", "ScaledObject/web")
    );
    assert_eq!(a.paused_replicas, Some(2));
    assert_eq!(a.note, "");
    let note = r.notes.iter().find(|n| {
        n.starts_with("HorizontalPodAutoscaler keda-hpa-web, managed by KEDA's ScaledObject/web, owns the count")
    });
    let note = note.unwrap_or_else(|| panic!("the autoscaler in the notes: {:#?}", r.notes));
    assert!(note.contains("holds the Deployment at 2 replicas"), "{note}");

    // A ScaledObject that is gone: a note on the autoscaler, never an error of the call.
    scaled_objects.delete("web", &Default::default()).await.unwrap();
    wait_for_async("the ScaledObject is gone or its HPA collected", T, POLL, || async {
        let r = explain(&env, &shop, "web", None).await;
        r.autoscalers.is_empty() || r.autoscalers[0].note.contains("not found")
    })
    .await;
}
