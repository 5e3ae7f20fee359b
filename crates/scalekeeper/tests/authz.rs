//! Authorization through Kubernetes RBAC, on kubesim (which evaluates the RBAC objects it
//! stores to answer SubjectAccessReviews) and, with `SCALEKEEPER_TEST_KUBECONFIG`, on a real
//! API server (its RBAC authorizer answers). The same assertions hold on both.
//!
//! The matrix: a viewer reads but cannot set; an editor in `shop` cannot set in `payments`;
//! an identity bound to nothing is refused everything; a listing across namespaces shows only
//! the namespaces the caller may list; refusals name the user, the verb, the resource and the
//! namespace, and never scalekeeper's own account; a running watch follows grants and
//! revocations (checked again every allow TTL).

#![allow(clippy::unwrap_used)]

mod common;

use common::{Options, TargetEnv, bind, cluster_role};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::Api;
use kube::api::DeleteParams;
use scalekeeper_api::v1 as pb;
use std::time::Duration;
use tonic::Code;

const VIEWER: &str = "viewer-vic";
const EDITOR: &str = "editor-eve";
const NOBODY: &str = "nobody-ned";

async fn start(audit_log: &std::path::Path) -> TargetEnv {
    common::start_target(Options {
        audit_log: Some(audit_log.to_path_buf()),
        clients: vec![VIEWER.into(), EDITOR.into(), NOBODY.into()],
        authorization: common::rbac(),
        ..Default::default()
    })
    .await
}

fn get(ns: &str, name: &str) -> pb::GetDeploymentRequest {
    pb::GetDeploymentRequest { namespace: ns.into(), name: name.into() }
}

fn set(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: name.into(), replicas, ..Default::default() }
}

fn list(ns: &str) -> pb::ListDeploymentsRequest {
    pb::ListDeploymentsRequest { namespace: ns.into(), ..Default::default() }
}

/// A certificate's O values are its groups, and a SubjectAccessReview names them to the API
/// server, which trusts them: `O=system:masters` would be RBAC's superuser. Every group with the
/// `system:` prefix is refused from a certificate (unless `--allow-system-groups`), for reads and
/// dry runs alike, with a message that names the group and the flag, and the refusal is audited.
#[tokio::test]
async fn certificates_claiming_kubernetes_system_groups_are_refused() {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_log = audit_dir.path().join("audit.log");
    let env = start(&audit_log).await;
    let shop = env.ns("shop");
    for group in ["system:masters", "system:authenticated", "system:serviceaccounts"] {
        let mut c = common::client_with_group(&env, "mallory", group).await;
        let read = c.get_deployment(get(&shop, "web")).await.expect_err(group);
        let dry = pb::SetReplicasRequest { dry_run: true, ..set(&shop, "web", 0) };
        let write = c.set_replicas(dry).await.expect_err(group);
        for refused in [read, write] {
            assert_eq!(refused.code(), Code::PermissionDenied, "{group}: {refused:?}");
            let m = refused.message();
            assert!(m.contains(&format!("\"{group}\"")) && m.contains("--allow-system-groups"), "{group}: {m}");
        }
    }
    let audited = std::fs::read_to_string(&audit_log).unwrap();
    let refusals =
        audited.lines().filter(|l| l.contains("\"user\":\"mallory\"") && l.contains("\"code\":\"PERMISSION_DENIED\""));
    assert_eq!(refusals.count(), 6, "every refusal, the reads and the dry runs, is audited:\n{audited}");
}

#[tokio::test]
async fn rbac_decides_who_may_read_and_who_may_set() {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_log = audit_dir.path().join("audit.log");
    let env = start(&audit_log).await;
    let (shop, payments) = (env.ns("shop"), env.ns("payments"));
    let viewer_role = cluster_role(&env, "viewer", &["get", "list", "watch"]).await;
    let editor_role = cluster_role(&env, "editor", &["get", "list", "watch", "update", "delete"]).await;
    bind(&env, &shop, &viewer_role, VIEWER).await;
    bind(&env, &payments, &viewer_role, VIEWER).await;
    bind(&env, &shop, &editor_role, EDITOR).await;

    // The viewer reads, in both namespaces...
    let mut viewer = env.client_as(VIEWER).await;
    viewer.get_deployment(get(&shop, "web")).await.expect("the viewer may get");
    let listed = viewer.list_deployments(list(&payments)).await.expect("the viewer may list").into_inner();
    assert!(!listed.deployments.is_empty());
    // ...but may not set: refused, naming user, verb, resource and namespace.
    let refused = viewer.set_replicas(set(&shop, "web", 2)).await.expect_err("the viewer may not set");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let want = format!("user \"{VIEWER}\" may not update replicapolicies.scalekeeper.dev in namespace \"{shop}\"");
    assert!(refused.message().starts_with(&want), "{}", refused.message());
    assert!(!refused.message().contains("system:serviceaccount"), "{}", refused.message());

    // The editor sets in shop, not in payments.
    let mut editor = env.client_as(EDITOR).await;
    editor.set_replicas(set(&shop, "web", 2)).await.expect("the editor may set in shop");
    let refused = editor.set_replicas(set(&payments, "ledger", 2)).await.expect_err("not in payments");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains(&format!("in namespace \"{payments}\"")), "{}", refused.message());
    let refused = editor.clear_desired_replicas(pb::ClearDesiredReplicasRequest {
        namespace: payments.clone(),
        name: "ledger".into(),
        ..Default::default()
    });
    let refused = refused.await.expect_err("no delete in payments");
    assert!(refused.message().contains("may not delete"), "{}", refused.message());

    // Holds, schedules and dry runs need `update` like any declaration; ending a hold keeps the
    // policy, so it needs `update`, not `delete`.
    let hold = pb::SetReplicasRequest {
        hold_for: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
        reason: "INC-1".into(),
        ..set(&shop, "web", 3)
    };
    let refused = viewer.set_replicas(hold.clone()).await.expect_err("the viewer may not hold");
    assert!(refused.message().contains("may not update"), "{}", refused.message());
    let schedule = pb::SetScheduleRequest { namespace: shop.clone(), name: "web".into(), ..Default::default() };
    let refused = viewer.set_schedule(schedule.clone()).await.expect_err("the viewer may not schedule");
    assert!(refused.message().contains("may not update"), "{}", refused.message());
    let dry = pb::SetReplicasRequest { dry_run: true, ..set(&shop, "web", 4) };
    let refused = viewer.set_replicas(dry.clone()).await.expect_err("not even a dry run");
    assert_eq!(refused.code(), Code::PermissionDenied);
    editor.set_replicas(dry).await.expect("the editor's dry run");
    editor.set_replicas(hold).await.expect("the editor may hold");
    editor.set_schedule(schedule).await.expect("the editor may schedule");
    let end_hold = pb::ClearDesiredReplicasRequest {
        namespace: shop.clone(),
        name: "web".into(),
        hold_only: true,
        ..Default::default()
    };
    let refused = viewer.clear_desired_replicas(end_hold.clone()).await.expect_err("the viewer may not end a hold");
    assert!(refused.message().contains("may not update"), "{}", refused.message());
    editor.clear_desired_replicas(end_hold).await.expect("the editor may end a hold");

    // A listing across namespaces shows only the namespaces the caller may list.
    let everywhere = editor.list_deployments(list("")).await.expect("the editor may list shop").into_inner();
    let namespaces: std::collections::BTreeSet<String> =
        everywhere.deployments.iter().map(|d| d.namespace.clone()).collect();
    assert_eq!(namespaces, [shop.clone()].into(), "only shop, where the editor is bound");
    let diff = viewer.diff(pb::DiffRequest::default()).await.expect("the viewer may diff");
    assert!(diff.into_inner().diffs.iter().all(|d| d.namespace == shop || d.namespace == payments));

    // Bound to nothing: refused even a read, and a listing across namespaces.
    let mut nobody = env.client_as(NOBODY).await;
    let refused = nobody.get_deployment(get(&shop, "web")).await.expect_err("unbound");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains(&format!("user \"{NOBODY}\" may not get")), "{}", refused.message());
    let refused = nobody.list_deployments(list("")).await.expect_err("unbound, across namespaces");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains("across all namespaces"), "{}", refused.message());
    let refused = nobody
        .watch_deployments(pb::WatchDeploymentsRequest { namespace: shop.clone(), ..Default::default() })
        .await
        .expect_err("unbound watch");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // A new binding takes effect within the deny TTL.
    bind(&env, &payments, &editor_role, NOBODY).await;
    testkit::wait_for_async("the new binding to count", Duration::from_secs(5), testkit::POLL, || {
        let mut c = nobody.clone();
        let payments = payments.clone();
        async move { c.get_deployment(get(&payments, "ledger")).await.is_ok() }
    })
    .await;

    // The audit trail: one line per refused call and per write, with who, what and why.
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&audit_log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let viewer_set = lines
        .iter()
        .find(|l| l["user"] == VIEWER && l["method"] == "SetReplicas")
        .expect("the viewer's refused SetReplicas is audited");
    assert_eq!(viewer_set["decision"]["allowed"], false, "{viewer_set}");
    assert!(viewer_set["decision"]["reason"].as_str().unwrap().contains("may not update"), "{viewer_set}");
    assert_eq!((viewer_set["verb"].as_str(), viewer_set["code"].as_str()), (Some("update"), Some("PERMISSION_DENIED")));
    assert_eq!(viewer_set["namespace"], shop.as_str());
    assert_eq!(viewer_set["name"], "web");
    let editor_set = lines
        .iter()
        .find(|l| l["user"] == EDITOR && l["method"] == "SetReplicas" && l["code"] == "OK")
        .expect("the editor's SetReplicas is audited");
    assert_eq!(editor_set["decision"]["allowed"], true, "{editor_set}");
    assert_eq!(editor_set["after"]["declared"], 2, "{editor_set}");
    assert_eq!(editor_set["before"]["declared"], serde_json::Value::Null, "{editor_set}");
    assert!(editor_set["before"]["specReplicas"].is_number() && editor_set["generation"].is_number(), "{editor_set}");
    assert!(
        lines
            .iter()
            .any(|l| l["user"] == NOBODY && l["method"] == "GetDeployment" && l["decision"]["allowed"] == false)
    );
    let dry = lines
        .iter()
        .find(|l| l["user"] == EDITOR && l["method"] == "SetReplicas" && l["dryRun"] == true)
        .expect("the editor's dry run is audited, marked as one");
    assert_eq!((dry["before"]["declared"].as_i64(), dry["after"]["declared"].as_i64()), (Some(2), Some(4)), "{dry}");
    assert_eq!(editor_set.get("dryRun"), None, "a real write carries no dryRun: {editor_set}");
    let held = lines
        .iter()
        .find(|l| l["user"] == EDITOR && l["method"] == "SetReplicas" && l["after"]["rule"] == "Hold")
        .expect("the hold is audited with its rule");
    assert_eq!(held["after"]["effective"], 3, "{held}");
    assert!(lines.iter().any(|l| l["user"] == EDITOR && l["method"] == "SetSchedule" && l["code"] == "OK"));
    assert!(lines.iter().any(|l| l["user"] == VIEWER
        && l["method"] == "ClearDesiredReplicas"
        && l["verb"] == "update"
        && l["code"] == "PERMISSION_DENIED"));
    assert!(
        !lines.iter().any(|l| l["method"] == "GetDeployment" && l["code"] == "OK"),
        "allowed reads are not audited"
    );

    for role in [viewer_role, editor_role] {
        let _ = Api::<ClusterRole>::all(env.kube.clone()).delete(&role, &DeleteParams::default()).await;
    }
}

/// Reads watch events until `done` says so, within 15 s; the events read, or the status the
/// stream ended with.
async fn read_until(
    stream: &mut tonic::Streaming<pb::WatchDeploymentsResponse>,
    what: &str,
    mut done: impl FnMut(&pb::WatchDeploymentsResponse) -> bool,
) -> Result<Vec<pb::WatchDeploymentsResponse>, tonic::Status> {
    let mut seen = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.message()).await;
        match next.unwrap_or_else(|_| panic!("{what}: not within 15 s; saw {seen:?}")) {
            Ok(Some(ev)) => {
                let stop = done(&ev);
                seen.push(ev);
                if stop {
                    return Ok(seen);
                }
            }
            Ok(None) => panic!("{what}: the stream ended; saw {seen:?}"),
            Err(status) => return Err(status),
        }
    }
}

fn is(ev: &pb::WatchDeploymentsResponse, t: pb::EventType) -> bool {
    ev.r#type == t as i32
}

#[tokio::test]
async fn a_running_watch_follows_grants_and_revocations() {
    let audit_dir = tempfile::tempdir().unwrap();
    let env = start(&audit_dir.path().join("audit.log")).await;
    let (shop, payments) = (env.ns("shop"), env.ns("payments"));
    let role = cluster_role(&env, "watcher", &["get", "list", "watch"]).await;
    bind(&env, &shop, &role, NOBODY).await;
    let mut watcher = env.client_as(NOBODY).await;

    // Across namespaces: only shop, where the watcher is bound. A real API server's RBAC
    // authorizer sees a new RoleBinding a moment after it is written, and scalekeeper keeps
    // a refusal for the deny TTL (5 s): open the watch once the grant counts.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut all = loop {
        match watcher.watch_deployments(pb::WatchDeploymentsRequest::default()).await {
            Ok(r) => break r.into_inner(),
            Err(s) if s.code() == Code::PermissionDenied && std::time::Instant::now() < deadline => {
                tokio::time::sleep(testkit::POLL).await;
            }
            Err(s) => panic!("the watch across namespaces: {s}"),
        }
    };
    let snapshot = read_until(&mut all, "the snapshot", |ev| is(ev, pb::EventType::Synced)).await.unwrap();
    let shown: std::collections::BTreeSet<String> =
        snapshot.iter().filter_map(|ev| ev.deployment.as_ref()).map(|d| d.namespace.clone()).collect();
    assert_eq!(shown, [shop.clone()].into(), "{snapshot:?}");

    // A grant in payments reaches the running watch: its Deployments are ADDED.
    bind(&env, &payments, &role, NOBODY).await;
    let added = read_until(&mut all, "payments appears", |ev| {
        is(ev, pb::EventType::Added) && ev.deployment.as_ref().is_some_and(|d| d.namespace == payments)
    })
    .await
    .unwrap();
    // Meanwhile shop's Deployments may change too (a real cluster's controllers update their
    // status); nothing outside the two granted namespaces may show.
    assert!(
        added.iter().all(|ev| ev.deployment.as_ref().is_none_or(|d| d.namespace == payments || d.namespace == shop)),
        "{added:?}"
    );

    // A revocation in shop: its Deployments are DELETED from the watch.
    let mut in_payments = watcher
        .watch_deployments(pb::WatchDeploymentsRequest { namespace: payments.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    read_until(&mut in_payments, "the payments snapshot", |ev| is(ev, pb::EventType::Synced)).await.unwrap();
    let bindings = |ns: &str| Api::<RoleBinding>::namespaced(env.kube.clone(), ns);
    bindings(&shop).delete(&format!("{NOBODY}-{role}"), &DeleteParams::default()).await.unwrap();
    read_until(&mut all, "shop disappears", |ev| {
        is(ev, pb::EventType::Deleted) && ev.deployment.as_ref().is_some_and(|d| d.namespace == shop)
    })
    .await
    .unwrap();

    // A watch of one namespace whose grant is revoked ends with PERMISSION_DENIED.
    bindings(&payments).delete(&format!("{NOBODY}-{role}"), &DeleteParams::default()).await.unwrap();
    let ended = read_until(&mut in_payments, "the payments watch ends", |_| false).await.expect_err("ends");
    assert_eq!(ended.code(), Code::PermissionDenied, "{ended:?}");
    assert_eq!(ended.metadata().get("x-request-id").map(|v| v.len()), Some(16), "the request id: {ended:?}");
    assert!(ended.message().contains(&format!("user \"{NOBODY}\" may not watch")), "{ended:?}");

    let _ = Api::<ClusterRole>::all(env.kube.clone()).delete(&role, &DeleteParams::default()).await;
}
