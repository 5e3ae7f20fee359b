//! The per-call limits of the hardened listener, over real mTLS against kubesim: the unary
//! call timeout (DEADLINE_EXCEEDED), the request size (OUT_OF_RANGE, tonic's code), open
//! watches per identity and in total (RESOURCE_EXHAUSTED, given back when a watch closes),
//! each counted in `scalekeeper_limit_refusals_total{limit}`; and the request id every answer
//! carries. The connection limits are in `tests/tls.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Options;
use scalekeeper::limits::ListenerLimits;
use scalekeeper_api::v1 as pb;
use testkit::{POLL, wait_for_async};
use tonic::Code;

async fn metric(env: &common::Env, sample: &str) -> f64 {
    let (code, body) = common::http_get(env.http_addr, "/metrics").await;
    assert_eq!(code, 200, "/metrics: {body}");
    body.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

fn watch(ns: &str) -> pb::WatchDeploymentsRequest {
    pb::WatchDeploymentsRequest { namespace: ns.into(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_limited_per_identity_and_in_total() {
    let limits = ListenerLimits { max_watches: 3, max_watches_per_identity: 2, ..Default::default() };
    let env = common::start_with(Options { limits, ..Default::default() }).await;
    let mut alice = env.client_as("alice").await;
    let mut bot = env.client_as("spiffe://test/ns/ci/sa/bot").await;

    let first = alice.watch_deployments(watch("shop")).await.expect("first watch").into_inner();
    let _second = alice.watch_deployments(watch("")).await.expect("second watch").into_inner();
    let third = alice.watch_deployments(watch("shop")).await.expect_err("a third watch of the same identity");
    assert_eq!(third.code(), Code::ResourceExhausted, "{third:?}");
    assert!(
        third.message().contains("identity alice") && third.message().contains("--max-watches-per-identity"),
        "{third:?}"
    );
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="watches_per_identity"}"#).await, 1.0);

    // Another identity has its own share, up to the total.
    let _bot1 = bot.watch_deployments(watch("shop")).await.expect("another identity's watch").into_inner();
    let total = bot.watch_deployments(watch("shop")).await.expect_err("past the total");
    assert_eq!(total.code(), Code::ResourceExhausted, "{total:?}");
    assert!(total.message().contains("--max-watches"), "{total:?}");
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="watches"}"#).await, 1.0);
    assert_eq!(metric(&env, "scalekeeper_grpc_open_watches").await, 3.0);

    // A closed watch gives its place back.
    drop(first);
    wait_for_async("the closed watch's place given back", Duration::from_secs(5), POLL, || async {
        metric(&env, "scalekeeper_grpc_open_watches").await == 2.0
    })
    .await;
    alice.watch_deployments(watch("shop")).await.expect("a watch in the freed place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_size_limit_is_refused_and_counted() {
    let limits = ListenerLimits { max_request_bytes: 1024, ..Default::default() };
    let env = common::start_with(Options { limits, ..Default::default() }).await;
    let mut c = env.client().await;
    let big = pb::GetDeploymentRequest { namespace: "shop".into(), name: "w".repeat(2000) };
    let err = c.get_deployment(big).await.expect_err("over 1 KiB");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("the limit is: 1024 bytes"), "{err:?}");
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="request_bytes"}"#).await, 1.0);
    // Under the limit, the same call is answered.
    let small = pb::GetDeploymentRequest { namespace: "shop".into(), name: "web".into() };
    c.get_deployment(small).await.expect("under the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_call_timeout_gets_deadline_exceeded_with_its_request_id() {
    let limits = ListenerLimits { call_timeout: Duration::from_millis(300), ..Default::default() };
    let env = common::start_with(Options { limits, ..Default::default() }).await;
    let mut c = env.client().await;

    // Every answer carries its request id.
    let ok = c
        .get_deployment(pb::GetDeploymentRequest { namespace: "shop".into(), name: "web".into() })
        .await
        .expect("a read");
    let id = ok.metadata().get("x-request-id").and_then(|v| v.to_str().ok()).expect("x-request-id").to_string();
    assert_eq!(id.len(), 16, "{id}");

    // A write needs the API server, which now takes 2 s per request.
    env.sim.set_faults(kubesim::FaultSpec { latency_ms: 2000, ..Default::default() });
    let err = c
        .set_replicas(pb::SetReplicasRequest {
            namespace: "shop".into(),
            name: "web".into(),
            replicas: 4,
            ..Default::default()
        })
        .await
        .expect_err("the API server is slower than the call timeout");
    env.sim.set_faults(kubesim::FaultSpec::default());
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("--call-timeout"), "{err:?}");
    let err_id = err.metadata().get("x-request-id").and_then(|v| v.to_str().ok()).expect("x-request-id on errors");
    assert_ne!(err_id, id, "each call has its own id");
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="call_timeout"}"#).await, 1.0);
    assert_eq!(
        metric(
            &env,
            r#"scalekeeper_grpc_server_handled_total{grpc_service="scalekeeper.v1.ScaleService",grpc_method="SetReplicas",grpc_code="DeadlineExceeded"}"#
        )
        .await,
        1.0
    );
}
