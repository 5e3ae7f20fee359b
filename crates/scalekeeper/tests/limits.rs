//! The per-call limits of the hardened listener, over real mTLS against kubesim: the unary
//! call timeout (DEADLINE_EXCEEDED), the request size on every service (OUT_OF_RANGE,
//! tonic's code), the receive deadline (DEADLINE_EXCEEDED) and the requests arriving at once
//! (RESOURCE_EXHAUSTED), open watches per identity and in total (RESOURCE_EXHAUSTED, given
//! back when a watch closes), each counted in `scalekeeper_limit_refusals_total{limit}`;
//! malformed requests (INVALID_ARGUMENT, counted with their method); and the request id every
//! answer carries. Requests no generated client would send go over a raw HTTP/2 connection.
//! The connection limits are in `tests/tls.rs`.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/rawgrpc.rs"]
mod rawgrpc;

use std::time::{Duration, Instant};

use common::Options;
use hyper::body::Bytes;
use rawgrpc::{message, start_call, status_of};
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
            r#"scalekeeper_grpc_server_handled_total{grpc_service="scalekeeper.v1.ScaleService",grpc_method="SetReplicas",grpc_code="DEADLINE_EXCEEDED"}"#
        )
        .await,
        1.0
    );
}

// === requests no generated client sends ===

/// A raw HTTP/2 connection over mTLS to `env`'s gRPC port as alice, from the loopback address
/// `from`.
async fn h2_connect(env: &common::Env, from: &str) -> h2::client::SendRequest<Bytes> {
    let (cert, key) = env.client_files("alice");
    rawgrpc::connect(env.grpc_addr, &env.certs.ca, &cert, &key, from).await
}

const GET: &str = "/scalekeeper.v1.ScaleService/GetDeployment";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const REFLECTION: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_invalid_argument_and_counted_with_their_method() {
    let env = common::start().await;
    let send = h2_connect(&env, "127.0.0.1").await;
    // (what, path, body): field 1 says 5 bytes follow and 1 does; no message at all; a
    // compression flag that is neither 0 nor 1; a health check that is not protobuf.
    let cases: [(&str, &str, Vec<u8>); 4] = [
        ("truncated protobuf", GET, message(&[0x0a, 0x05, b's'])),
        ("no message", GET, vec![]),
        ("compression flag 2", GET, vec![2, 0, 0, 0, 0]),
        ("a health check that is not protobuf", HEALTH_CHECK, message(&[0xff, 0xff])),
    ];
    for (what, path, body) in &cases {
        let (resp, _body) = start_call(&send, path, body, true).await;
        let (status, id) = status_of(resp).await;
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
        assert!(status.message().starts_with("invalid request: message: malformed ("), "{what}: {status:?}");
        assert_eq!(id.map(|i| i.len()), Some(16), "{what}: the answer carries a request id");
    }
    let handled = |service: &str, method: &str| {
        format!(
            r#"scalekeeper_grpc_server_handled_total{{grpc_service="{service}",grpc_method="{method}",grpc_code="INVALID_ARGUMENT"}}"#
        )
    };
    assert_eq!(metric(&env, &handled("scalekeeper.v1.ScaleService", "GetDeployment")).await, 3.0);
    assert_eq!(metric(&env, &handled("grpc.health.v1.Health", "Check")).await, 1.0);
    // The connection still serves a well-formed call.
    let (resp, _body) = start_call(&send, HEALTH_CHECK, &message(&[]), true).await;
    assert_eq!(status_of(resp).await.0.code(), tonic::Code::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_have_the_request_size_limit_too() {
    let env = common::start().await;
    let send = h2_connect(&env, "127.0.0.1").await;
    // A HealthCheckRequest whose service name is 70,000 bytes: field 1, varint length.
    let mut check = vec![0x0a, 0xf0, 0xa2, 0x04];
    check.resize(check.len() + 70_000, b's');
    let (resp, _body) = start_call(&send, HEALTH_CHECK, &message(&check), true).await;
    let (status, _) = status_of(resp).await;
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    // A reflection request of 70,000 bytes (file_by_filename, field 3): refused as its
    // length arrives. tonic-reflection ends its stream OK without an answer on a request it
    // cannot read.
    let mut by_name = vec![0x1a, 0xf0, 0xa2, 0x04];
    by_name.resize(by_name.len() + 70_000, b'f');
    let (resp, _body) = start_call(&send, REFLECTION, &message(&by_name), false).await;
    let (status, _) = status_of(resp).await;
    assert!(matches!(status.code(), tonic::Code::Ok | tonic::Code::OutOfRange), "{status:?}");
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="request_bytes"}"#).await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_arrive_within_the_deadline_is_deadline_exceeded() {
    let timeout = Duration::from_millis(500);
    let limits = ListenerLimits { request_receive_timeout: timeout, ..Default::default() };
    let env = common::start_with(Options { limits, ..Default::default() }).await;
    let send = h2_connect(&env, "127.0.0.1").await;
    let get = message(&[0x0a, 0x04, b's', b'h', b'o', b'p', 0x12, 0x03, b'w', b'e', b'b']);

    // Half a message, then nothing; a whole message, but the request stream never ends.
    for (what, data) in [("half a message", &get[..8]), ("a message without the end of the stream", &get[..])] {
        let started = Instant::now();
        let (resp, _body) = start_call(&send, GET, data, false).await;
        let (status, id) = tokio::time::timeout(timeout * 6, status_of(resp))
            .await
            .unwrap_or_else(|_| panic!("{what}: still waiting for the request after {:?}", timeout * 6));
        let took = started.elapsed();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{what}: {status:?}");
        assert!(status.message().contains("--request-receive-timeout"), "{what}: {status:?}");
        assert!(id.is_some(), "{what}: a request id");
        assert!(took >= timeout && took < timeout * 6, "{what}: ended after {took:?}");
    }
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="request_receive_timeout"}"#).await, 2.0);
    assert_eq!(
        metric(
            &env,
            r#"scalekeeper_grpc_server_handled_total{grpc_service="scalekeeper.v1.ScaleService",grpc_method="GetDeployment",grpc_code="DEADLINE_EXCEEDED"}"#
        )
        .await,
        2.0
    );
    assert_eq!(metric(&env, "scalekeeper_grpc_receiving_requests").await, 0.0);

    // A reflection stream may wait between its messages as long as it likes; a message it
    // starts must arrive within the deadline.
    let list_services = message(&[0x3a, 0x00]);
    let (resp, mut body) = start_call(&send, REFLECTION, &list_services, false).await;
    let resp = resp.await.expect("the reflection stream's headers");
    let mut answers = resp.into_body();
    let first = answers.data().await.expect("an answer").expect("its bytes");
    let _ = answers.flow_control().release_capacity(first.len());
    // Idle between messages for twice the deadline: not a partial request.
    tokio::time::sleep(timeout * 2).await;
    body.send_data(Bytes::from(list_services.clone()), false).expect("a second request on the stream");
    let second = answers.data().await.expect("a second answer").expect("its bytes");
    let _ = answers.flow_control().release_capacity(second.len());
    assert_eq!(metric(&env, "scalekeeper_grpc_receiving_requests").await, 0.0, "an idle stream holds no place");
    // Half a message: the stream ends (tonic-reflection ends it OK on a request it cannot
    // read) after the deadline, and the refusal is counted.
    let started = Instant::now();
    body.send_data(Bytes::copy_from_slice(&list_services[..3]), false).expect("half a message");
    let rest = tokio::time::timeout(timeout * 6, async {
        while let Some(chunk) = answers.data().await {
            let _ = answers.flow_control().release_capacity(chunk.expect("data").len());
        }
    })
    .await;
    assert!(rest.is_ok() && started.elapsed() >= timeout, "the stream ended after {:?}", started.elapsed());
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="request_receive_timeout"}"#).await, 3.0);
    assert_eq!(metric(&env, "scalekeeper_grpc_receiving_requests").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_arriving_at_once_are_limited_per_peer_and_in_total() {
    let limits = ListenerLimits { max_receiving_requests: 4, max_receiving_requests_per_ip: 2, ..Default::default() };
    let env = common::start_with(Options { limits, ..Default::default() }).await;
    let get = message(&[0x0a, 0x04, b's', b'h', b'o', b'p', 0x12, 0x03, b'w', b'e', b'b']);
    let (a, b, c) =
        (h2_connect(&env, "127.0.0.1").await, h2_connect(&env, "127.0.0.2").await, h2_connect(&env, "127.0.0.3").await);

    // Two calls from each of two peers, each with half its request sent.
    let mut partial = Vec::new();
    for peer in [&a, &a, &b, &b] {
        partial.push(start_call(peer, GET, &get[..6], false).await);
    }
    testkit::wait_for_async("four requests arriving", Duration::from_secs(5), POLL, || async {
        metric(&env, "scalekeeper_grpc_receiving_requests").await == 4.0
    })
    .await;
    // A third from the first peer: its share is taken.
    let (resp, _body) = start_call(&a, GET, &get[..6], false).await;
    let (status, _) = status_of(resp).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("--max-receiving-requests-per-ip"), "{status:?}");
    // A third peer: the total is taken.
    let (resp, _body) = start_call(&c, GET, &get, true).await;
    let (status, _) = status_of(resp).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("--max-receiving-requests)"), "{status:?}");
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="receiving_requests_per_ip"}"#).await, 1.0);
    assert_eq!(metric(&env, r#"scalekeeper_limit_refusals_total{limit="receiving_requests"}"#).await, 1.0);

    // One request finishes arriving and is answered; its place is the third peer's.
    let (resp, mut body) = partial.remove(0);
    body.send_data(Bytes::copy_from_slice(&get[6..]), true).expect("the rest of the request");
    let (status, _) = status_of(resp).await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
    let (resp, _body) = start_call(&c, GET, &get, true).await;
    assert_eq!(status_of(resp).await.0.code(), tonic::Code::Ok);
    drop(partial);
}
