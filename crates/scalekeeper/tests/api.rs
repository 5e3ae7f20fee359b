//! The real server, over real mTLS, against kubesim over real HTTP: every RPC's happy path,
//! every error code the design's table lists, handshake refusals, optimistic concurrency
//! under 50 concurrent writers, and recovery from a Kubernetes outage.

mod common;

use std::time::Duration;

use common::Options;
use scalekeeper::cache::Scope;
use scalekeeper_api::v1 as pb;
use serde_json::json;
use testkit::{POLL, wait_for_async};
use tonic::Code;
use tonic_types::StatusExt as _;

fn get(ns: &str, name: &str) -> pb::GetDeploymentRequest {
    pb::GetDeploymentRequest { namespace: ns.into(), name: name.into() }
}

fn set(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: name.into(), replicas, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_list_read_the_cache() {
    let env = common::start().await;
    let mut c = env.client().await;
    let d = c.get_deployment(get("shop", "web")).await.unwrap().into_inner().deployment.unwrap();
    assert_eq!((d.namespace.as_str(), d.name.as_str(), d.spec_replicas), ("shop", "web", 3));
    assert_eq!(d.sync_status, pb::SyncStatus::Unmanaged as i32);
    assert_eq!(d.desired_replicas, None);
    assert_eq!(d.labels.get("tier").map(String::as_str), Some("frontend"));

    let all = c.list_deployments(pb::ListDeploymentsRequest::default()).await.unwrap().into_inner();
    let names: Vec<String> = all.deployments.iter().map(|d| format!("{}/{}", d.namespace, d.name)).collect();
    assert_eq!(names, ["payments/ledger", "shop/cart", "shop/web"]);
    assert!(all.next_page_token.is_empty());

    let shop = c
        .list_deployments(pb::ListDeploymentsRequest { namespace: "shop".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shop.deployments.len(), 2);
    let backend = c
        .list_deployments(pb::ListDeploymentsRequest {
            label_selector: "tier in (backend),app!=cart".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(backend.deployments.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["ledger"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_visit_each_deployment_once() {
    let env = common::start().await;
    for i in 0..23 {
        env.sim
            .apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("p{i:02}"), "namespace": "paging", "labels": {"app": "p"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "p"}}, "template": {"metadata": {"labels": {"app": "p"}}}}}))
            .unwrap();
    }
    let mut c = env.client().await;
    wait_for_async("cache has 23", Duration::from_secs(5), POLL, || {
        let mut c = c.clone();
        async move {
            c.list_deployments(pb::ListDeploymentsRequest {
                namespace: "paging".into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .is_ok_and(|r| r.into_inner().deployments.len() == 23)
        }
    })
    .await;
    let mut seen = vec![];
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_deployments(pb::ListDeploymentsRequest {
                namespace: "paging".into(),
                page_size: 5,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.deployments.len() <= 5);
        seen.extend(page.deployments.into_iter().map(|d| d.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = (0..23).map(|i| format!("p{i:02}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_replicas_declares_and_applies() {
    let env = common::start().await;
    let mut c = env.client_as("spiffe://test/ns/ci/sa/bot").await;
    let d = c.set_replicas(set("shop", "web", 5)).await.unwrap().into_inner().deployment.unwrap();
    assert_eq!(d.desired_replicas, Some(5));
    assert_eq!(d.spec_replicas, 5);
    assert_eq!(d.mode, pb::Mode::Enforce as i32);
    assert_eq!(d.last_set_by, "spiffe://test/ns/ci/sa/bot");
    assert!(!d.version.is_empty());
    // The cluster: the Deployment scaled through the scale subresource as `scalekeeper`...
    assert_eq!(env.spec_replicas("shop", "web"), 5);
    let dep = env.sim.get("apps/v1", "Deployment", "shop", "web").unwrap();
    let owner = dep["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fieldsV1"]["f:spec"]["f:replicas"].is_object())
        .unwrap()
        .clone();
    assert_eq!((owner["manager"].as_str(), owner["subresource"].as_str()), (Some("scalekeeper"), Some("scale")));
    // ...and the policy, pinned to the Deployment's UID and owned by it.
    let policy = env.policy("shop", "web").expect("policy written");
    assert_eq!(policy["spec"]["replicas"], 5);
    assert_eq!(policy["spec"]["deploymentUid"], dep["metadata"]["uid"]);
    assert_eq!(policy["metadata"]["ownerReferences"][0]["uid"], dep["metadata"]["uid"]);
    assert_eq!(policy["metadata"]["generation"].to_string(), d.version, "the version is the policy generation");

    // Observe mode is kept on a later set that does not name a mode.
    let d = c
        .set_replicas(pb::SetReplicasRequest { mode: pb::Mode::Observe as i32, ..set("shop", "web", 4) })
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    assert_eq!(d.mode, pb::Mode::Observe as i32);
    let d = c.set_replicas(set("shop", "web", 2)).await.unwrap().into_inner().deployment.unwrap();
    assert_eq!((d.mode, d.desired_replicas), (pb::Mode::Observe as i32, Some(2)));

    // GetDeployment catches up with the write through the watch cache and converges.
    wait_for_async("IN_SYNC", Duration::from_secs(5), POLL, || {
        let mut c = c.clone();
        async move {
            c.get_deployment(get("shop", "web")).await.is_ok_and(|r| {
                r.into_inner().deployment.is_some_and(|d| d.sync_status == pb::SyncStatus::InSync as i32)
            })
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_stops_managing() {
    let env = common::start().await;
    let mut c = env.client().await;
    let v1 = c.set_replicas(set("shop", "cart", 4)).await.unwrap().into_inner().deployment.unwrap().version;
    let v = c.set_replicas(set("shop", "cart", 5)).await.unwrap().into_inner().deployment.unwrap().version;
    assert_ne!(v1, v);
    // A stale version is refused and the policy stays.
    let stale = c
        .clear_desired_replicas(pb::ClearDesiredReplicasRequest {
            namespace: "shop".into(),
            name: "cart".into(),
            expected_version: v1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert!(env.policy("shop", "cart").is_some());
    let d = c
        .clear_desired_replicas(pb::ClearDesiredReplicasRequest {
            namespace: "shop".into(),
            name: "cart".into(),
            expected_version: v,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    assert_eq!(d.sync_status, pb::SyncStatus::Unmanaged as i32);
    assert_eq!(d.spec_replicas, 5, "the Deployment keeps its count");
    assert!(env.policy("shop", "cart").is_none());
    // Clearing again is a no-op, not an error.
    c.clear_desired_replicas(pb::ClearDesiredReplicasRequest {
        namespace: "shop".into(),
        name: "cart".into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_drift_with_both_counts() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.set_replicas(set("shop", "web", 3)).await.unwrap();
    c.set_replicas(pb::SetReplicasRequest { mode: pb::Mode::Observe as i32, ..set("payments", "ledger", 1) })
        .await
        .unwrap();
    // Someone scales behind scalekeeper's back (observe mode: nothing puts it back).
    let mut dep = env.sim.get("apps/v1", "Deployment", "payments", "ledger").unwrap();
    dep["spec"]["replicas"] = json!(6);
    env.sim.apply(dep).unwrap();
    wait_for_async("ledger DRIFTED in Diff", Duration::from_secs(5), POLL, || {
        let mut c = c.clone();
        async move {
            c.diff(pb::DiffRequest::default()).await.is_ok_and(|r| {
                r.into_inner()
                    .diffs
                    .iter()
                    .any(|d| d.name == "ledger" && d.sync_status == pb::SyncStatus::Drifted as i32)
            })
        }
    })
    .await;
    // Wait for web to converge so that only the drift is left.
    wait_for_async("only ledger out of sync", Duration::from_secs(5), POLL, || {
        let mut c = c.clone();
        async move { c.diff(pb::DiffRequest::default()).await.is_ok_and(|r| r.into_inner().diffs.len() == 1) }
    })
    .await;
    let diffs = c.diff(pb::DiffRequest::default()).await.unwrap().into_inner().diffs;
    let d = &diffs[0];
    assert_eq!((d.namespace.as_str(), d.name.as_str()), ("payments", "ledger"));
    assert_eq!((d.desired_replicas, d.spec_replicas), (1, 6));
    assert_eq!(d.mode, pb::Mode::Observe as i32);
    assert_eq!(d.reason, "spec.replicas is 6, declared 1");
    let none = c.diff(pb::DiffRequest { namespace: "shop".into(), ..Default::default() }).await.unwrap().into_inner();
    assert!(none.diffs.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_arguments_carry_field_violations() {
    let env = common::start_with(Options { max_replicas: 10, ..Default::default() }).await;
    let mut c = env.client().await;
    let cases: Vec<(pb::SetReplicasRequest, &str)> = vec![
        (set("shop", "web", -1), "replicas"),
        (set("shop", "web", 11), "replicas"),
        (set("shop", "Not_A_Name", 1), "name"),
        (set("", "web", 1), "namespace"),
        (pb::SetReplicasRequest { mode: 9, ..set("shop", "web", 1) }, "mode"),
        (pb::SetReplicasRequest { expected_version: "v7".into(), ..set("shop", "web", 1) }, "expected_version"),
    ];
    for (req, field) in cases {
        let err = c.set_replicas(req.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{req:?}");
        let br = err.get_error_details().bad_request().cloned().expect("BadRequest details");
        assert_eq!(br.field_violations[0].field, field, "{req:?}: {}", err.message());
    }
    let err = c
        .list_deployments(pb::ListDeploymentsRequest { label_selector: "a in (".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.get_error_details().bad_request().unwrap().field_violations[0].field, "label_selector");
    let err =
        c.list_deployments(pb::ListDeploymentsRequest { page_size: 501, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .list_deployments(pb::ListDeploymentsRequest { page_token: "garbage!".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // Nothing was written to the cluster by any of them.
    assert_eq!(env.spec_replicas("shop", "web"), 3);
    assert!(env.policy("shop", "web").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_aborted_failed_precondition_permission_denied() {
    let env = common::start_with(Options { scope: Scope::Namespaces(vec!["shop".into()]), ..Default::default() }).await;
    let mut c = env.client().await;
    assert_eq!(c.get_deployment(get("shop", "nope")).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(c.set_replicas(set("shop", "nope", 1)).await.unwrap_err().code(), Code::NotFound);
    // Out of scope.
    let denied = c.get_deployment(get("payments", "ledger")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(c.set_replicas(set("payments", "ledger", 2)).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(env.spec_replicas("payments", "ledger"), 1);
    // Stale expected version.
    let v1 = c.set_replicas(set("shop", "web", 4)).await.unwrap().into_inner().deployment.unwrap().version;
    c.set_replicas(pb::SetReplicasRequest { expected_version: v1.clone(), ..set("shop", "web", 5) }).await.unwrap();
    let stale =
        c.set_replicas(pb::SetReplicasRequest { expected_version: v1, ..set("shop", "web", 6) }).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(env.spec_replicas("shop", "web"), 5, "the stale write changed nothing");
    // An expected version for a policy that does not exist.
    let missing = c
        .set_replicas(pb::SetReplicasRequest { expected_version: "12".into(), ..set("shop", "cart", 3) })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Aborted);
    // An HPA owns the count: refused, and no write reaches the Deployment.
    env.sim
        .apply(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "cart-hpa", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart"}, "minReplicas": 1, "maxReplicas": 5}}))
        .unwrap();
    let before = env.sim.writes().len();
    let hpa = c.set_replicas(set("shop", "cart", 3)).await.unwrap_err();
    assert_eq!(hpa.code(), Code::FailedPrecondition);
    assert!(hpa.message().contains("cart-hpa"), "{}", hpa.message());
    let scaled: Vec<_> = env.sim.writes()[before..]
        .iter()
        .filter(|w| w.resource == "deployments" && w.subresource.as_deref() != Some("status"))
        .cloned()
        .collect();
    assert!(scaled.is_empty(), "no write to the Deployment after the refusal: {scaled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_writers_with_one_version_one_wins() {
    let env = common::start().await;
    let mut c = env.client().await;
    let v = c.set_replicas(set("shop", "web", 1)).await.unwrap().into_inner().deployment.unwrap().version;
    let mut tasks = vec![];
    for i in 0..50 {
        let mut c = c.clone();
        let v = v.clone();
        tasks.push(tokio::spawn(async move {
            (i, c.set_replicas(pb::SetReplicasRequest { expected_version: v, ..set("shop", "web", 10 + i) }).await)
        }));
    }
    let mut winners = vec![];
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(_) => winners.push(10 + i),
            Err(e) => assert_eq!(e.code(), Code::Aborted, "{e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one write wins: {winners:?}");
    let policy = env.policy("shop", "web").unwrap();
    assert_eq!(policy["spec"]["replicas"], winners[0], "the winner's count is the declared one, nothing lost");
    assert_eq!(env.spec_replicas("shop", "web"), i64::from(winners[0]));
}

/// Writes without a version are the server's to order: twenty at once on one policy all land
/// (none runs out of conflict retries: a replica queues its own writes of a policy), and the
/// count the Deployment is left at is the policy's (each scale write is made in the order of
/// the policy writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_writers_without_a_version_all_land_and_the_count_is_the_last_declared() {
    let env = common::start().await;
    let c = env.client().await;
    // 20 ms before every request is served: the time between a write's read and its write is
    // long enough for the others to land in it, as on a busy API server.
    env.sim.set_faults(kubesim::FaultSpec { latency_ms: 20, ..Default::default() });
    let mut tasks = vec![];
    for i in 0..20 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move { c.set_replicas(set("shop", "web", 2 + i % 5)).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.is_ok(), "every write lands: {:?}", r.err());
    }
    env.sim.set_faults(kubesim::FaultSpec::default());
    let policy = env.policy("shop", "web").unwrap();
    let declared = policy["spec"]["replicas"].as_i64().unwrap();
    let tail: Vec<_> = env
        .sim
        .writes()
        .iter()
        .rev()
        .take(14)
        .map(|w| format!("{} {} {:?} {} {}", w.rv, w.resource, w.subresource, w.verb, w.field_manager))
        .collect();
    assert_eq!(env.spec_replicas("shop", "web"), declared, "the Deployment is at the last declared count {tail:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_refuses_missing_or_foreign_client_certificates() {
    let env = common::start().await;
    // No client certificate.
    let no_cert = match env.channel_with(&env.certs.ca, None).await {
        Ok(ch) => scalekeeper_api::v1::scale_service_client::ScaleServiceClient::new(ch)
            .get_deployment(get("shop", "web"))
            .await
            .map(|_| ()),
        Err(e) => Err(tonic::Status::unavailable(e.to_string())),
    };
    assert!(no_cert.is_err(), "a client without a certificate must be refused");
    // A certificate from another CA.
    let other =
        scalekeeper::certs::write_dev_certs(&env.dir.path().join("other"), &[], &["mallory".into()], 1).unwrap();
    let (_, cert, key) = other.clients[0].clone();
    let foreign = match env.channel_with(&env.certs.ca, Some((&cert, &key))).await {
        Ok(ch) => scalekeeper_api::v1::scale_service_client::ScaleServiceClient::new(ch)
            .get_deployment(get("shop", "web"))
            .await
            .map(|_| ()),
        Err(e) => Err(tonic::Status::unavailable(e.to_string())),
    };
    assert!(foreign.is_err(), "a certificate from another CA must be refused");
    // No plaintext on the API port either: an HTTP/1.1 request gets no answer.
    let (code, _) = common::http_get(env.grpc_addr, "/").await;
    assert_eq!(code, 0);
    // The right certificate works.
    env.client().await.get_deployment(get("shop", "web")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_outage_gives_unavailable_then_recovers() {
    let env = common::start().await;
    let channel = {
        let (cert, key) = env.client_files("alice");
        env.channel_with(&env.certs.ca, Some((&cert, &key))).await.unwrap()
    };
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut c = scalekeeper_api::v1::scale_service_client::ScaleServiceClient::new(channel);
    let serving = |h: &tonic_health::pb::health_client::HealthClient<tonic::transport::Channel>| {
        let mut h = h.clone();
        async move {
            h.check(tonic_health::pb::HealthCheckRequest { service: "scalekeeper.v1.ScaleService".into() })
                .await
                .map(|r| r.into_inner().status)
                .unwrap_or(-1)
        }
    };
    wait_for_async("SERVING", Duration::from_secs(5), POLL, || {
        let h = health.clone();
        async move { serving(&h).await == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 }
    })
    .await;

    env.sim.go_down().await;
    wait_for_async("NOT_SERVING", Duration::from_secs(10), POLL, || {
        let h = health.clone();
        async move { serving(&h).await == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32 }
    })
    .await;
    assert_eq!(env.readyz().await, 503);
    assert_eq!(c.get_deployment(get("shop", "web")).await.unwrap_err().code(), Code::Unavailable);
    let write = c.set_replicas(set("shop", "web", 2)).await.unwrap_err();
    assert_eq!(write.code(), Code::Unavailable, "{write:?}");
    assert!(write.get_error_details().retry_info().is_some());

    env.sim.come_up().await.unwrap();
    wait_for_async("SERVING again", Duration::from_secs(15), POLL, || {
        let h = health.clone();
        async move { serving(&h).await == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 }
    })
    .await;
    assert_eq!(env.readyz().await, 200);
    c.set_replicas(set("shop", "web", 2)).await.unwrap();
    assert_eq!(env.spec_replicas("shop", "web"), 2);
    let _ = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_by_method_and_code() {
    let env = common::start().await;
    let mut c = env.client().await;
    c.get_deployment(get("shop", "web")).await.unwrap();
    let _ = c.get_deployment(get("shop", "missing")).await;
    let (code, body) = common::http_get(env.http_addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(body.contains(r#"grpc_method="GetDeployment",grpc_code="OK"} 1"#), "{body}");
    assert!(body.contains(r#"grpc_method="GetDeployment",grpc_code="NOT_FOUND"} 1"#), "{body}");
    assert!(body.contains("scalekeeper_ready 1"), "{body}");
    assert!(body.contains("scalekeeper_leader 1"), "a single replica without election leads: {body}");
    // The per-sync-status gauges are refreshed every 5 s.
    wait_for_async("deployments gauge", Duration::from_secs(8), POLL, || async {
        common::http_get(env.http_addr, "/metrics")
            .await
            .1
            .contains(r#"scalekeeper_deployments{sync_status="Unmanaged"} 3"#)
    })
    .await;
    assert_eq!(common::http_get(env.http_addr, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_turns_not_ready_and_refuses_new_connections() {
    let mut env = common::start().await;
    let server = env.server.take().unwrap();
    let mut c = env.client().await;
    c.get_deployment(get("shop", "web")).await.unwrap();
    let mut watch = c.watch_deployments(pb::WatchDeploymentsRequest::default()).await.unwrap().into_inner();
    while watch.message().await.unwrap().expect("the snapshot").r#type != pb::EventType::Synced as i32 {}
    let stop = server.stop_token();
    let done = tokio::spawn(server.wait());
    stop.cancel();
    // The watch ends through the error table, as every status does: UNAVAILABLE with its
    // retry hint and the call's request id (issue 25: the stream's own statuses had neither).
    let ended = loop {
        match watch.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the watch ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("server shutting down"), "{ended:?}");
    assert_eq!(ended.get_details_retry_info().and_then(|r| r.retry_delay), Some(Duration::from_secs(1)), "{ended:?}");
    assert_eq!(ended.metadata().get("x-request-id").map(|v| v.len()), Some(16), "{ended:?}");
    tokio::time::timeout(Duration::from_secs(10), done).await.expect("drains in time").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(env.grpc_addr).await.is_err(), "the API port is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_label_selector_is_invalid_argument_naming_the_limit() {
    let env = common::start().await;
    let mut c = env.client().await;
    // 5,000 bytes of an otherwise valid selector (`a in (b,b,...,b)`): only its length is wrong.
    let selector = format!("a in ({}b)", "b,".repeat(2496));
    assert_eq!(selector.len(), 5000);
    let err = c
        .list_deployments(pb::ListDeploymentsRequest { label_selector: selector, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(err.message().contains("4096"), "names the limit: {}", err.message());
    assert!(err.message().contains("5000"), "names the length: {}", err.message());
    assert!(err.message().len() < 200, "does not echo the selector back: {} bytes", err.message().len());
    assert_eq!(err.get_error_details().bad_request().unwrap().field_violations[0].field, "label_selector");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_pages_in_order_like_list() {
    let env = common::start().await;
    let mut c = env.client().await;
    // Declared in Observe mode, then scaled behind scalekeeper's back: all three Drifted,
    // and nothing puts them back.
    for (ns, name) in [("shop", "web"), ("shop", "cart"), ("payments", "ledger")] {
        let req = pb::SetReplicasRequest { mode: pb::Mode::Observe as i32, ..set(ns, name, 2) };
        c.set_replicas(req).await.unwrap();
        let mut dep = env.sim.get("apps/v1", "Deployment", ns, name).unwrap();
        dep["spec"]["replicas"] = json!(6);
        env.sim.apply(dep).unwrap();
    }
    wait_for_async("the three Drifted", Duration::from_secs(5), POLL, || {
        let mut c = c.clone();
        async move { c.diff(pb::DiffRequest::default()).await.is_ok_and(|r| r.into_inner().diffs.len() == 3) }
    })
    .await;
    let mut seen = vec![];
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let req = pb::DiffRequest { page_size: 2, page_token: token.clone(), ..Default::default() };
        let page = c.diff(req).await.unwrap().into_inner();
        pages += 1;
        assert!(page.diffs.len() <= 2, "{page:?}");
        seen.extend(page.diffs.iter().map(|d| format!("{}/{}", d.namespace, d.name)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["payments/ledger", "shop/cart", "shop/web"]);
    assert_eq!(pages, 2);
    let all = c.diff(pb::DiffRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.diffs.len(), 3, "page_size 0 means 100");
    assert!(all.next_page_token.is_empty());
    let too_big = c.diff(pb::DiffRequest { page_size: 501, ..Default::default() }).await.expect_err("over 500");
    assert_eq!(too_big.code(), Code::InvalidArgument, "{too_big:?}");
}

// === the admission guard's webhook ===

/// An AdmissionReview of `user` (in `groups`) scaling `ns/name` from `old` to `new` through the
/// scale subresource, as kube-apiserver sends it: autoscaling/v1 Scales, whose `spec.replicas`
/// is left out when it is 0 (omitempty).
#[allow(clippy::too_many_arguments)]
fn scale_review(
    ns: &str,
    name: &str,
    uid: &str,
    old: i64,
    new: i64,
    user: &str,
    groups: &[&str],
    dry_run: bool,
) -> serde_json::Value {
    let scale = |n: i64| {
        let spec = if n == 0 { json!({}) } else { json!({"replicas": n}) };
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
               "metadata": {"name": name, "namespace": ns, "uid": uid}, "spec": spec, "status": {"replicas": old}})
    };
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uuid::Uuid::new_v4().to_string(),
            "kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "subResource": "scale",
            "requestKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestSubResource": "scale",
            "name": name, "namespace": ns, "operation": "UPDATE",
            "userInfo": {"username": user, "groups": groups},
            "object": scale(new), "oldObject": scale(old), "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"},
        }
    })
}

fn deny(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { guard: pb::Guard::Deny as i32, ..set(ns, name, replicas) }
}

/// The Deployment's UID, from kubesim's store.
fn uid(env: &common::Env, ns: &str, name: &str) -> String {
    let d = env.sim.get("apps/v1", "Deployment", ns, name).expect("the Deployment exists");
    d["metadata"]["uid"].as_str().expect("it has a UID").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_guard_refuses_warns_and_lets_through_from_the_cache() {
    let audit = tempfile::NamedTempFile::new().unwrap();
    let env = common::start_with(Options {
        admission: Some(vec!["breakglass".into()]),
        audit_log: Some(audit.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let mut c = env.client().await;
    c.set_replicas(deny("shop", "web", 5)).await.unwrap();
    c.set_replicas(pb::SetReplicasRequest { guard: pb::Guard::Warn as i32, ..set("shop", "cart", 2) }).await.unwrap();
    let web = uid(&env, "shop", "web");
    let cart = uid(&env, "shop", "cart");
    let answer = |r: &serde_json::Value| r["response"].clone();

    // Deny: 403, with what holds the count and how to change it; the uid echoed.
    let review = scale_review("shop", "web", &web, 5, 0, "mallory", &["system:authenticated"], false);
    let refused = answer(&env.admit(&review).await);
    assert_eq!(refused["uid"], review["request"]["uid"]);
    assert_eq!(refused["allowed"], false);
    assert_eq!(refused["status"]["code"], 403);
    assert_eq!(
        refused["status"]["message"],
        "shop/web: replicas are declared at 5 by alice; change them with scalekeeper set shop/web N"
    );
    // A dry run gets the same answer.
    let dry = scale_review("shop", "web", &web, 5, 0, "mallory", &[], true);
    assert_eq!(answer(&env.admit(&dry).await)["allowed"], false);
    // Not guarded: the effective count, an unchanged count, an unmanaged Deployment.
    for (name, u, old, new) in [("web", &web, 0, 5), ("web", &web, 5, 5)] {
        let r = answer(&env.admit(&scale_review("shop", name, u, old, new, "mallory", &[], false)).await);
        assert_eq!(r["allowed"], true, "{name} {old} -> {new}: {r}");
        assert!(r.get("warnings").is_none(), "{r}");
    }
    let ledger = uid(&env, "payments", "ledger");
    let r = answer(&env.admit(&scale_review("payments", "ledger", &ledger, 1, 0, "mallory", &[], false)).await);
    assert_eq!(r["allowed"], true, "unmanaged: {r}");
    // Warn: allowed, with the warning kubectl prints.
    let warned = answer(&env.admit(&scale_review("shop", "cart", &cart, 2, 9, "mallory", &[], false)).await);
    assert_eq!(warned["allowed"], true);
    assert_eq!(
        warned["warnings"][0],
        "shop/cart: spec.replicas 2 -> 9 will be set back to 2: replicas are declared at 2 by alice; change them \
         with scalekeeper set shop/cart N"
    );
    // Break-glass: allowed, warned, announced.
    let glass = answer(&env.admit(&scale_review("shop", "web", &web, 5, 1, "oncall", &["breakglass"], false)).await);
    assert_eq!(glass["allowed"], true);
    assert!(glass["warnings"][0].as_str().unwrap().contains("allowed by break-glass group breakglass"), "{glass}");
    // scalekeeper's own writes: exempt (kubesim answers the SelfSubjectReview).
    let own = env.server.as_ref().unwrap().own_user.clone().expect("scalekeeper knows its own user on kubesim");
    let r = answer(&env.admit(&scale_review("shop", "web", &web, 5, 7, &own, &[], false)).await);
    assert_eq!(r["allowed"], true, "{r}");

    // Every decision counted, the warn, the denials and the break-glass audited.
    let count =
        |decision: &str| format!("scalekeeper_admission_reviews_total{{operation=\"UPDATE\",decision=\"{decision}\"}}");
    for (decision, n) in [("denied", 2.0), ("allowed", 3.0), ("warned", 1.0), ("break_glass", 1.0), ("exempt", 1.0)] {
        assert_eq!(env.metric(&count(decision)).await, n, "{decision}");
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(audit.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["method"] == "AdmissionReview")
        .collect();
    let outcomes: Vec<&str> = lines.iter().map(|l| l["admission"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["denied", "denied", "warned", "break_glass"]);
    assert_eq!(lines[0]["user"], "mallory");
    assert_eq!(
        (lines[0]["before"]["specReplicas"].as_i64(), lines[0]["after"]["specReplicas"].as_i64()),
        (Some(5), Some(0))
    );
    assert_eq!(lines[0]["before"]["effective"], 5);
    assert_eq!(lines[1]["dryRun"], true);
    assert_eq!(lines[3]["admission"]["breakGlassGroup"], "breakglass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_refusals_are_one_event_series_and_dry_runs_none() {
    let env = common::start_with(Options { admission: Some(vec![]), ..Default::default() }).await;
    env.client().await.set_replicas(deny("shop", "web", 4)).await.unwrap();
    let web = uid(&env, "shop", "web");
    // A dry run first (by another user, so its Event would be one of its own), then three
    // refusals of the same write: Events are published in order, so once the third is counted
    // the dry run's would have been published too.
    let r = env.admit(&scale_review("shop", "web", &web, 4, 0, "dry-runner", &[], true)).await;
    assert_eq!(r["response"]["allowed"], false);
    for _ in 0..3 {
        let r = env.admit(&scale_review("shop", "web", &web, 4, 0, "mallory", &[], false)).await;
        assert_eq!(r["response"]["allowed"], false);
    }
    let events: kube::Api<k8s_openapi::api::core::v1::Event> =
        kube::Api::namespaced(env.sim.client().await.unwrap(), "shop");
    let refused = || async {
        let list = events.list(&Default::default()).await.unwrap().items;
        list.into_iter()
            .filter(|e| e.reason.as_deref() == Some("ScaleRefused") && e.involved_object.name.as_deref() == Some("web"))
            .collect::<Vec<_>>()
    };
    // Published in the background: one Event whose series the repeats count up, and none for
    // the dry run.
    wait_for_async("one ScaleRefused Event counting 3", Duration::from_secs(10), POLL, || async {
        let events = refused().await;
        (events.len() == 1 && events[0].series.as_ref().and_then(|s| s.count) == Some(3)).then_some(())
    })
    .await;
    let e = &refused().await[0];
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(
        e.message.as_deref().unwrap_or_default(),
        "refused spec.replicas 4 -> 0 by mallory: shop/web: replicas are declared at 4 by alice; change them with \
         scalekeeper set shop/web N"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_confirmed_against_the_live_policy_and_fails_open_when_it_cannot_be() {
    let env = common::start_with(Options { admission: Some(vec![]), ..Default::default() }).await;
    env.client().await.set_replicas(deny("shop", "web", 5)).await.unwrap();
    let web = uid(&env, "shop", "web");
    let mallory = |old, new| scale_review("shop", "web", &web, old, new, "mallory", &[], false);
    // The cache lags (its watch events arrive 3 s late) while the declaration changes to 2,
    // written another way (kubectl apply): the cache still says 5, the live policy says 2.
    env.sim.set_faults(kubesim::FaultSpec { watch_delay_ms: 3000, ..Default::default() });
    // Read-modify-write retried on 409, as client-go's RetryOnConflict does: the server's
    // status writes may bump the resourceVersion between the read and the write.
    let declared_two = (0..20).any(|_| {
        let mut p = env.policy("shop", "web").unwrap();
        p["spec"]["replicas"] = json!(2);
        env.sim.apply(p).is_ok()
    });
    assert!(declared_two, "the declaration could not be changed to 2 in 20 tries");
    let r = env.admit(&mallory(5, 2)).await;
    assert_eq!(r["response"]["allowed"], true, "2 is declared now: {r}");
    env.sim.set_faults(kubesim::FaultSpec::default());
    // The live read cannot be made in time: allowed, with a warning, counted as error.
    env.sim.set_faults(kubesim::FaultSpec { latency_ms: 2000, ..Default::default() });
    let r = env.admit(&mallory(2, 0)).await;
    env.sim.set_faults(kubesim::FaultSpec::default());
    assert_eq!(r["response"]["allowed"], true, "fail open: {r}");
    assert!(r["response"]["warnings"][0].as_str().unwrap().contains("could not confirm the declaration"), "{r}");
    assert_eq!(env.metric("scalekeeper_admission_reviews_total{operation=\"UPDATE\",decision=\"error\"}").await, 1.0);
    // A body that is no AdmissionReview: allowed, its uid kept.
    let r = env.admit(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u-1", "kind": 7}})).await;
    assert_eq!((r["response"]["uid"].as_str(), r["response"]["allowed"].as_bool()), (Some("u-1"), Some(true)));
}

/// A caller's input is quoted bounded in an error: a 48 KB name (under the 64 KiB request limit)
/// is INVALID_ARGUMENT through a client left at its defaults, whose header list limit a
/// message echoing the whole name (in grpc-message and in the BadRequest details) would
/// break, turning the answer into a transport error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_48_kb_name_is_invalid_argument_through_a_default_client() {
    let env = common::start().await;
    let mut c = env.client().await;
    let name = "Web".repeat(16 * 1024);
    for (what, status) in [
        ("get", c.get_deployment(get("shop", &name)).await.expect_err("an invalid name")),
        ("set", c.set_replicas(set("shop", &name, 1)).await.expect_err("an invalid name")),
        ("get namespace", c.get_deployment(get(&name, "web")).await.expect_err("an invalid namespace")),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(status.message().len() < 1024, "{what}: a {}-byte message", status.message().len());
        assert!(status.message().contains("… (49152 bytes)"), "{what}: {}", status.message());
        let details = status.get_details_bad_request().expect("field violations");
        assert!(details.field_violations.iter().all(|v| v.description.len() < 512), "{what}: {details:?}");
    }
    let version = "9".repeat(48 * 1024);
    let err = c
        .set_replicas(pb::SetReplicasRequest { expected_version: version, ..set("shop", "web", 2) })
        .await
        .expect_err("a version this API never returns");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().len() < 1024, "a {}-byte message", err.message().len());
}
