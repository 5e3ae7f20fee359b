//! Freeze and Thaw, end to end: the real server over mTLS against kubesim, or (with
//! `SCALEKEEPER_TEST_KUBECONFIG`, `make test-real`) a real API server, each test in namespaces
//! of its own.
//!
//! - A freeze over three namespaces holds every selected Deployment at its effective count
//!   (an unmanaged one gets a policy of the freeze's), skips the one an HPA owns, reports every
//!   Deployment of the namespace RBAC denies as FAILED (PERMISSION_DENIED) while the others are
//!   frozen, and writes one audit line per Deployment; a dry run writes nothing.
//! - A thaw ends only the freeze's holds: a hold SetReplicas placed since stays (SKIPPED), a
//!   policy the freeze created is deleted (unmanaged again), a declared policy loses the hold.
//! - A bad selection is INVALID_ARGUMENT; a namespace outside the server's scope is reported.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Options, TargetEnv, bind, cluster, cluster_role};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use scalekeeper::cache::Scope;
use scalekeeper_api::v1 as pb;
use serde_json::json;
use testkit::{POLL, wait_for_async};
use tonic::Code;

const T: Duration = Duration::from_secs(10);
const SRE: &str = "sre-sam";

fn two_hours() -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds: 7200, nanos: 0 })
}

fn set(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: name.into(), replicas, ..Default::default() }
}

/// The results as `(namespace/name, outcome, replicas, code)`, in the order given.
fn rows(results: &[pb::BulkResult]) -> Vec<(String, pb::BulkOutcome, i32, String)> {
    results
        .iter()
        .map(|r| {
            let outcome = pb::BulkOutcome::try_from(r.outcome).unwrap();
            (format!("{}/{}", r.namespace, r.name), outcome, r.replicas, r.code.clone())
        })
        .collect()
}

fn row(
    ns: &str,
    name: &str,
    outcome: pb::BulkOutcome,
    replicas: i32,
    code: &str,
) -> (String, pb::BulkOutcome, i32, String) {
    (format!("{ns}/{name}"), outcome, replicas, code.into())
}

/// The hold of `ns/name`'s policy, as stored (`Null` when there is none).
async fn stored_hold(env: &TargetEnv, ns: &str, name: &str) -> serde_json::Value {
    env.policy(ns, name).await.map(|p| p["spec"]["hold"].clone()).unwrap_or_default()
}

/// A namespace of the test's own beyond the seed's, with its guard on a real cluster.
async fn extra_namespace(env: &TargetEnv, name: &str) -> Option<cluster::Namespaces> {
    if env.is_real() {
        return Some(cluster::create_namespaces(&env.kube, &env.kubeconfig(), &[name.to_string()]).await);
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(env.kube.clone()).create(&PostParams::default(), &ns).await.unwrap();
    None
}

/// Waits until the server's cache shows `count` Deployments in `ns` (to `client`'s eyes).
async fn cached(
    client: &mut pb::scale_service_client::ScaleServiceClient<tonic::transport::Channel>,
    ns: &str,
    count: usize,
) {
    wait_for_async("the cache shows the namespace's Deployments", T, POLL, || {
        let mut c = client.clone();
        async move {
            let r = c.list_deployments(pb::ListDeploymentsRequest { namespace: ns.into(), ..Default::default() }).await;
            r.is_ok_and(|r| r.into_inner().deployments.len() == count)
        }
    })
    .await;
}

/// Runs the `scalekeeper` CLI as `identity` to the end: (exit code, stdout, stderr).
async fn cli(env: &TargetEnv, identity: &str, args: &[&str]) -> (i32, String, String) {
    let (_, cert, key) = env.certs.clients.iter().find(|(i, _, _)| i == identity).cloned().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        .env("SCALEKEEPER_SERVER", env.grpc_addr.to_string())
        .env("SCALEKEEPER_CA", &env.certs.ca)
        .env("SCALEKEEPER_CERT", cert)
        .env("SCALEKEEPER_KEY", key)
        .env("NO_COLOR", "1")
        // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
        .env("SCALEKEEPER_CONFIG", common::NO_CLIENT_CONFIG)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_holds_the_selection_skips_an_hpas_deployment_and_reports_a_denied_namespace() {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_log = audit_dir.path().join("audit.log");
    let env = common::start_target(Options {
        scope: Scope::Namespaces(vec!["shop".into(), "payments".into(), "ops".into()]),
        audit_log: Some(audit_log.clone()),
        clients: vec![SRE.into()],
        authorization: common::rbac(),
        ..Default::default()
    })
    .await;
    let (shop, payments, ops) = (env.ns("shop"), env.ns("payments"), env.ns("ops"));
    let _ops_guard = extra_namespace(&env, &ops).await;
    cluster::create_deployment(&env.kube, cluster::deployment(&ops, "api", 3, &[])).await;
    cluster::create_deployment(&env.kube, cluster::deployment(&ops, "batch", 2, &[])).await;
    // autoscaling/v1: the one HPA version every server serves (1.20 has no autoscaling/v2).
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api-hpa", "namespace": ops},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, "minReplicas": 2, "maxReplicas": 9}
    }))
    .unwrap();
    Api::<HorizontalPodAutoscaler>::namespaced(env.kube.clone(), &ops)
        .create(&PostParams::default(), &hpa)
        .await
        .unwrap();
    // The SRE may update in shop and ops, not in payments.
    let editor = cluster_role(&env, "freeze", &["get", "list", "watch", "update"]).await;
    bind(&env, &shop, &editor, SRE).await;
    bind(&env, &ops, &editor, SRE).await;
    let mut c = env.client_as(SRE).await;
    cached(&mut c, &ops, 2).await;
    // web is managed (declared 4); cart and batch are not.
    c.set_replicas(set(&shop, "web", 4)).await.unwrap();
    let request = pb::FreezeRequest {
        namespaces: vec![shop.clone(), payments.clone(), ops.clone()],
        hold_for: two_hours(),
        reason: "INC-123: change freeze".into(),
        ..Default::default()
    };
    let want = |ops_api: pb::BulkOutcome| {
        let mut w = vec![
            row(&ops, "api", ops_api, 3, ""),
            row(&ops, "batch", pb::BulkOutcome::Done, 2, ""),
            row(&payments, "ledger", pb::BulkOutcome::Failed, 1, "PERMISSION_DENIED"),
            row(&shop, "cart", pb::BulkOutcome::Done, 2, ""),
            row(&shop, "web", pb::BulkOutcome::Done, 4, ""),
        ];
        w.sort();
        w
    };

    // A dry run reports the same and writes nothing.
    let dry = c.freeze(pb::FreezeRequest { dry_run: true, ..request.clone() }).await.unwrap().into_inner();
    assert!(dry.dry_run);
    assert_eq!(rows(&dry.results), want(pb::BulkOutcome::Skipped));
    // The CLI prints a row per Deployment and the summary, and exits 1: one failed.
    let namespaces = format!("{shop},{payments},{ops}");
    let args = ["freeze", "-n", &namespaces, "--for", "2h", "--reason", "INC-123", "--dry-run"];
    let (code, out, err) = cli(&env, SRE, &args).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("NAMESPACE/NAME"), "{out}");
    let ledger = out.lines().find(|l| l.starts_with(&format!("{payments}/ledger "))).unwrap_or_default();
    assert!(ledger.contains("FAILED") && ledger.contains("PERMISSION_DENIED"), "{out}");
    assert!(out.contains("dry run, nothing written: would be frozen 3, skipped 1, failed 1 until "), "{out}");
    assert!(err.contains("1 of 5 Deployments failed"), "{err}");
    assert!(env.policy(&shop, "cart").await.is_none(), "a dry run creates no policy");
    assert!(stored_hold(&env, &shop, "web").await.is_null(), "a dry run places no hold");

    let before = jiff::Timestamp::now();
    let r = c.freeze(request).await.unwrap().into_inner();
    assert!(!r.dry_run);
    assert_eq!(rows(&r.results), want(pb::BulkOutcome::Skipped), "{:#?}", r.results);
    let detail = |name: &str| r.results.iter().find(|x| x.name == name).map(|x| x.detail.clone()).unwrap();
    assert_eq!(detail("api"), "an HPA owns the count: api-hpa");
    let denied = detail("ledger");
    assert!(
        denied.contains(&format!("may not update replicapolicies.scalekeeper.dev in namespace \"{payments}\"")),
        "{denied}"
    );
    let until = r.until.map(|t| jiff::Timestamp::new(t.seconds, t.nanos).unwrap()).unwrap();
    let lasts = until.duration_since(before).as_secs();
    assert!((7199..=7260).contains(&lasts), "until {until}, {lasts} s after the call began");

    // The holds, marked; the counts did not move; the denied and the HPA's are untouched.
    for (ns, name, count) in [(&shop, "web", 4), (&shop, "cart", 2), (&ops, "batch", 2)] {
        let h = stored_hold(&env, ns, name).await;
        assert_eq!((h["replicas"].as_i64(), h["freeze"].as_bool()), (Some(count), Some(true)), "{ns}/{name}: {h}");
        assert_eq!(h["reason"], "INC-123: change freeze");
        assert_eq!(env.spec_replicas(ns, name).await, count);
    }
    let cart = env.policy(&shop, "cart").await.unwrap();
    assert_eq!(cart["metadata"]["annotations"]["scalekeeper.dev/created-by-freeze"], "1", "{cart}");
    assert_eq!(cart["spec"]["replicas"], 2, "the freeze declares the count the Deployment had");
    let web = env.policy(&shop, "web").await.unwrap();
    assert!(web["metadata"]["annotations"].get("scalekeeper.dev/created-by-freeze").is_none(), "{web}");
    assert!(env.policy(&payments, "ledger").await.is_none());
    assert!(env.policy(&ops, "api").await.is_none());
    // The Deployment shows the hold.
    let got = c.get_deployment(pb::GetDeploymentRequest { namespace: shop.clone(), name: "cart".into() });
    let hold = got.await.unwrap().into_inner().deployment.unwrap().hold.unwrap();
    assert_eq!((hold.replicas, hold.set_by.as_str()), (2, SRE));

    // One audit line per Deployment written or refused (and one for the call).
    let audited = std::fs::read_to_string(&audit_log).unwrap();
    let freeze_lines: Vec<serde_json::Value> = audited
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["method"] == "Freeze" && l["dryRun"].is_null())
        .collect();
    let mut per_deployment: Vec<(String, String, String)> = freeze_lines
        .iter()
        .filter(|l| l["name"] != "")
        .map(|l| {
            (
                format!("{}/{}", l["namespace"].as_str().unwrap(), l["name"].as_str().unwrap()),
                l["code"].as_str().unwrap().to_string(),
                l["verb"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    per_deployment.sort();
    let mut want_audit = vec![
        (format!("{ops}/batch"), "OK".to_string(), "update".to_string()),
        (format!("{payments}/ledger"), "PERMISSION_DENIED".to_string(), "update".to_string()),
        (format!("{shop}/cart"), "OK".to_string(), "update".to_string()),
        (format!("{shop}/web"), "OK".to_string(), "update".to_string()),
    ];
    want_audit.sort();
    assert_eq!(per_deployment, want_audit, "{audited}");
    let cart_line = freeze_lines.iter().find(|l| l["name"] == "cart").unwrap();
    assert_eq!(
        (cart_line["before"]["declared"].clone(), cart_line["after"]["declared"].clone()),
        (json!(null), json!(2))
    );
    assert_eq!(cart_line["after"]["rule"], "Hold");
    assert_eq!(cart_line["user"], SRE);
    assert_eq!(freeze_lines.iter().filter(|l| l["name"] == "").count(), 1, "one line for the call itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thaw_ends_only_the_freezes_holds_and_deletes_the_policies_it_created() {
    let env = common::start_target(Options::default()).await;
    let (shop, payments) = (env.ns("shop"), env.ns("payments"));
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 4)).await.unwrap();
    // A selector alone selects across every namespace in scope.
    let r = c
        .freeze(pb::FreezeRequest {
            label_selector: "app in (web,cart,ledger)".into(),
            hold_for: two_hours(),
            reason: "INC-7".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut want = vec![
        row(&payments, "ledger", pb::BulkOutcome::Done, 1, ""),
        row(&shop, "cart", pb::BulkOutcome::Done, 2, ""),
        row(&shop, "web", pb::BulkOutcome::Done, 4, ""),
    ];
    want.sort();
    assert_eq!(rows(&r.results), want, "{:#?}", r.results);
    // Since the freeze, someone held ledger at 5 through SetReplicas: that hold is not the freeze's.
    let hold = pb::SetReplicasRequest {
        hold_for: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
        reason: "INC-8: ledger backlog".into(),
        ..set(&payments, "ledger", 5)
    };
    c.set_replicas(hold).await.unwrap();
    assert_eq!(stored_hold(&env, &payments, "ledger").await.get("freeze"), None, "SetReplicas places no freeze's hold");

    let thaw = pb::ThawRequest { namespaces: vec![shop.clone(), payments.clone()], ..Default::default() };
    let mut want = vec![
        row(&payments, "ledger", pb::BulkOutcome::Skipped, 5, ""),
        row(&shop, "cart", pb::BulkOutcome::Done, 2, ""),
        row(&shop, "web", pb::BulkOutcome::Done, 4, ""),
    ];
    want.sort();
    // A dry run reports the same and writes nothing.
    let dry = c.thaw(pb::ThawRequest { dry_run: true, ..thaw.clone() }).await.unwrap().into_inner();
    assert!(dry.dry_run);
    assert_eq!(rows(&dry.results), want, "{:#?}", dry.results);
    assert!(env.policy(&shop, "cart").await.is_some(), "a dry run deletes nothing");
    assert_eq!(stored_hold(&env, &shop, "web").await["freeze"], true, "a dry run ends no hold");

    let r = c.thaw(thaw.clone()).await.unwrap().into_inner();
    assert_eq!(rows(&r.results), want, "{:#?}", r.results);
    let detail = |name: &str| r.results.iter().find(|x| x.name == name).map(|x| x.detail.clone()).unwrap();
    assert_eq!(detail("ledger"), "no freeze hold");
    assert!(detail("cart").contains("unmanaged again"), "{}", detail("cart"));
    // cart is unmanaged again, at the count it had; web is back to its declaration; ledger
    // keeps the SetReplicas hold.
    wait_for_async("the freeze's policy is deleted", T, POLL, || async { env.policy(&shop, "cart").await.is_none() })
        .await;
    assert_eq!(env.spec_replicas(&shop, "cart").await, 2);
    let web = env.policy(&shop, "web").await.unwrap();
    assert!(web["spec"]["hold"].is_null(), "{web}");
    assert_eq!(web["spec"]["replicas"], 4);
    let ledger = stored_hold(&env, &payments, "ledger").await;
    assert_eq!((ledger["replicas"].as_i64(), ledger["reason"].as_str()), (Some(5), Some("INC-8: ledger backlog")));
    assert_eq!(env.spec_replicas(&payments, "ledger").await, 5);

    // Thawed already: nothing left to do.
    let again = c.thaw(thaw).await.unwrap().into_inner();
    assert!(again.results.iter().all(|x| x.outcome == pb::BulkOutcome::Skipped as i32), "{:#?}", again.results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_selection_is_invalid_and_a_namespace_out_of_scope_is_reported() {
    let env =
        common::start_target(Options { scope: Scope::Namespaces(vec!["shop".into()]), ..Default::default() }).await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    let ok = pb::FreezeRequest {
        namespaces: vec![shop.clone()],
        hold_for: two_hours(),
        reason: "INC-1".into(),
        ..Default::default()
    };
    for (bad, field) in [
        (pb::FreezeRequest { all_namespaces: true, ..ok.clone() }, "all_namespaces"),
        (pb::FreezeRequest { namespaces: vec![], ..ok.clone() }, "namespaces"),
        (pb::FreezeRequest { hold_for: None, ..ok.clone() }, "hold_for"),
        (pb::FreezeRequest { reason: String::new(), ..ok.clone() }, "reason"),
        (pb::FreezeRequest { label_selector: "app in (web".into(), ..ok.clone() }, "label_selector"),
    ] {
        let e = c.freeze(bad).await.expect_err(field);
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    let e = c.thaw(pb::ThawRequest::default()).await.expect_err("thaw needs a selection");
    assert_eq!(e.code(), Code::InvalidArgument);
    // payments is outside this server's scope: reported, shop is frozen.
    let r = c
        .freeze(pb::FreezeRequest { namespaces: vec![shop.clone(), "payments".into()], dry_run: true, ..ok })
        .await
        .unwrap()
        .into_inner();
    let out = r.results.iter().find(|x| x.namespace == "payments").unwrap();
    assert_eq!((out.outcome, out.code.as_str()), (pb::BulkOutcome::Failed as i32, "PERMISSION_DENIED"));
    assert!(out.detail.contains("not in this server's scope"), "{}", out.detail);
    assert_eq!(
        r.results.iter().filter(|x| x.namespace == shop && x.outcome == pb::BulkOutcome::Done as i32).count(),
        2
    );
}
