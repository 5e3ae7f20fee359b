//! The CLI follows the client retry policy (`scalekeeper::retry`, `docs/operations.md`):
//! the `scalekeeper` binary against the real server over mTLS, through a TCP proxy that closes
//! connections the way a pod going away does, and against a Kubernetes API that fails.
//!
//! - Reads (`get`, `list`) retry a connection closed in the TLS handshake, and give up after 5
//!   attempts saying so.
//! - A write without an expected version retries only what never reached the server; with one,
//!   it retries UNAVAILABLE too, since a second attempt can never apply twice.
//! - `watch` reopens a stream the server or the network cut and resumes it: no Deployment is
//!   printed again unchanged, and what changed meanwhile is printed once.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::proxy::Proxy;
use testkit::{POLL, wait_for_async};
use tokio::io::AsyncBufReadExt as _;

const T: Duration = Duration::from_secs(20);

/// The `scalekeeper` CLI as alice, against `server`.
fn cli(env: &common::Env, server: &str, args: &[&str]) -> tokio::process::Command {
    let (_, cert, key) = env.certs.clients.iter().find(|(i, _, _)| i == "alice").cloned().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
    cmd.args(args)
        .env("SCALEKEEPER_SERVER", server)
        .env("SCALEKEEPER_CA", &env.certs.ca)
        .env("SCALEKEEPER_CERT", cert)
        .env("SCALEKEEPER_KEY", key)
        .env("NO_COLOR", "1")
        // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
        .env("SCALEKEEPER_CONFIG", common::NO_CLIENT_CONFIG)
        .kill_on_drop(true);
    cmd
}

/// Runs the CLI to the end: (exit code, stdout, stderr).
async fn run(env: &common::Env, server: &str, args: &[&str]) -> (i32, String, String) {
    let out = cli(env, server, args).output().await.unwrap();
    common::outcome(out)
}

fn via(proxy: &Proxy) -> String {
    format!("localhost:{}", proxy.addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_retry_connections_closed_in_the_handshake_and_give_up_after_five_attempts() {
    let env = common::start().await;
    let proxy = Proxy::start(env.grpc_addr).await;

    proxy.refuse_next(2);
    let (code, out, err) = run(&env, &via(&proxy), &["get", "shop/web"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shop/web") || out.contains("web"), "{out}");
    assert_eq!(proxy.accepted(), 3, "two connections closed, the third served");

    let before = proxy.accepted();
    proxy.refuse_next(2);
    let (code, out, err) = run(&env, &via(&proxy), &["list", "-o", "json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"deployments\""), "{out}");
    assert_eq!(proxy.accepted() - before, 3);

    // Nothing but closed connections: five attempts, then exit 3 naming them.
    let before = proxy.accepted();
    proxy.refuse_next(1000);
    let (code, _, err) = run(&env, &via(&proxy), &["get", "shop/web"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.starts_with(&format!("error: cannot connect to {}: ", via(&proxy))), "{err}");
    assert!(err.contains("(5 attempts)"), "{err}");
    assert_eq!(proxy.accepted() - before, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_retry_only_when_a_second_attempt_cannot_apply_twice() {
    let env = common::start().await;
    let proxy = Proxy::start(env.grpc_addr).await;
    let server = via(&proxy);
    let handled = |code: &str| {
        let sample = format!(
            r#"scalekeeper_grpc_server_handled_total{{grpc_service="scalekeeper.v1.ScaleService",grpc_method="SetReplicas",grpc_code="{code}"}}"#
        );
        let http = env.http_addr;
        async move {
            let (_, body) = common::http_get(http, "/metrics").await;
            body.lines().find_map(|l| l.strip_prefix(&sample)?.trim().parse::<f64>().ok()).unwrap_or(0.0)
        }
    };

    // A connection closed before the request was sent: retried, even without a version.
    proxy.refuse_next(2);
    let (code, out, err) = run(&env, &server, &["set", "shop/web", "3"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(proxy.accepted(), 3);
    assert_eq!(handled("OK").await, 1.0, "one write reached the server");

    // The Kubernetes API is down: the server answers UNAVAILABLE (it cannot tell whether the
    // write would land). Without a version: one attempt.
    let (code, out, err) = run(&env, &server, &["get", "shop/web", "-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let version = serde_json::from_str::<serde_json::Value>(&out).unwrap()["version"].as_str().unwrap().to_string();
    env.sim.go_down().await;
    wait_for_async("not ready", T, POLL, || async { (env.readyz().await == 503).then_some(()) }).await;
    let (code, _, err) = run(&env, &server, &["set", "shop/web", "4"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error: UNAVAILABLE: "), "{err}");
    assert_eq!(handled("UNAVAILABLE").await, 1.0, "a write without a version is not retried on UNAVAILABLE");

    // With the version read before: the policy's five attempts. A read too.
    let (code, _, err) = run(&env, &server, &["set", "shop/web", "4", "--expected-version", &version]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error: UNAVAILABLE: "), "{err}");
    assert_eq!(handled("UNAVAILABLE").await, 6.0, "a versioned write is retried: 1 + 5 attempts");
    let gets = r#"scalekeeper_grpc_server_handled_total{grpc_service="scalekeeper.v1.ScaleService",grpc_method="GetDeployment",grpc_code="UNAVAILABLE"}"#;
    let (code, _, err) = run(&env, &server, &["get", "shop/web"]).await;
    assert_eq!(code, 1, "{err}");
    let (_, body) = common::http_get(env.http_addr, "/metrics").await;
    assert!(body.contains(&format!("{gets} 5")), "a read is retried: 5 attempts");

    env.sim.come_up().await.unwrap();
    wait_for_async("ready again", T, POLL, || async { (env.readyz().await == 200).then_some(()) }).await;
    // The API is back: the same versioned write succeeds on its first attempt.
    let (code, out, err) = run(&env, &server, &["set", "shop/web", "4", "--expected-version", &version]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(handled("OK").await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reconnects_after_a_cut_and_resumes_without_repeating_itself() {
    let env = common::start().await;
    let proxy = Proxy::start(env.grpc_addr).await;
    let mut child = cli(&env, &via(&proxy), &["watch", "-n", "shop", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(T, lines.next_line()).await.expect("a watch event in time").unwrap();
        serde_json::from_str(&line.expect("the watch is still running")).unwrap()
    };
    let event = |v: &serde_json::Value| {
        (
            v["type"].as_str().unwrap_or_default().to_string(),
            v["deployment"]["name"].as_str().unwrap_or_default().to_string(),
        )
    };

    // The snapshot: shop's Deployments, then SYNCED.
    let mut snapshot = Vec::new();
    loop {
        let e = event(&next().await);
        if e.0 == "EVENT_TYPE_SYNCED" {
            break;
        }
        assert_eq!(e.0, "EVENT_TYPE_ADDED");
        snapshot.push(e.1);
    }
    assert!(snapshot.contains(&"web".to_string()), "{snapshot:?}");

    // Cut every connection, twice over, and change web while the watch is down: closed
    // connections for the next attempts too.
    proxy.refuse_next(2);
    proxy.reset();
    let note = tokio::time::timeout(T, stderr.next_line()).await.expect("a note in time").unwrap().unwrap();
    assert!(note.starts_with("watch: the stream ended (") && note.ends_with("); reconnecting"), "{note}");
    let mut client = env.client().await;
    client
        .set_replicas(scalekeeper_api::v1::SetReplicasRequest {
            namespace: "shop".into(),
            name: "web".into(),
            replicas: 5,
            ..Default::default()
        })
        .await
        .unwrap();

    // After the reconnect: web once, as MODIFIED, with the new count; no other Deployment
    // again, and no second SYNCED. Later events follow as usual.
    wait_for_async("the watch to reconnect", T, POLL, || async { (proxy.accepted() >= 4).then_some(()) }).await;
    let mut seen = Vec::new();
    let last = loop {
        let v = next().await;
        let e = event(&v);
        seen.push(e.clone());
        if e.1 == "web" && v["deployment"]["specReplicas"] == 5 {
            break v;
        }
    };
    assert!(seen.iter().all(|(t, name)| t == "EVENT_TYPE_MODIFIED" && name == "web"), "{seen:?}");
    assert_eq!(event(&last).0, "EVENT_TYPE_MODIFIED");
    assert!(child.try_wait().unwrap().is_none(), "the watch still runs");
    child.kill().await.unwrap();
}
