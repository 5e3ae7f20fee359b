//! The adversarial probe's cheap cases against a `scalekeeper serve` process (the real
//! binary, text logs) over real mTLS, on kubesim: what its log shows of hostile input. Caller
//! input with newlines and terminal controls is escaped in every line; a malformed request is
//! a "call refused" line with its method, as the call log writes any refusal; refused TLS
//! handshakes are logged at most once a second and counted in full. The load cases (slow
//! bodies, handshake lockout, reset floods, idle connections) are `make probe`'s
//! (`examples/probe.rs`); the limits one by one are in `tests/limits.rs` and `tests/tls.rs`.
#![allow(clippy::unwrap_used)]

#[path = "support/probe.rs"]
mod probe;
#[path = "support/rawgrpc.rs"]
mod rawgrpc;

use std::process::Command;
use std::time::Duration;

use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use testkit::POLL;
use testkit::{Child, Stdout};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A hold reason that would forge a second log line and clear the reader's terminal.
const FORGING_REASON: &str = "INC-1\n2026-12-07T00:00:00.000000Z  INFO scalekeeper: forged line\u{1b}[2J\u{7}";

struct Served {
    child: Child,
    http: std::net::SocketAddr,
    grpc: std::net::SocketAddr,
    certs: scalekeeper::certs::DevCerts,
    _sim: kubesim::Sim,
    _dir: tempfile::TempDir,
}

/// kubesim with the CRD and a Deployment `shop/web`, and `scalekeeper serve` on it with text
/// logs.
async fn serve() -> Served {
    let sim =
        kubesim::Sim::start(kubesim::SimConfig { deployment_delay: Duration::from_millis(20), ..Default::default() })
            .await
            .expect("kubesim starts");
    for crd in scalekeeper::crds::all() {
        sim.apply(serde_json::to_value(crd).unwrap()).unwrap();
    }
    sim.seed_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: apps/v1\nkind: Deployment\n\
         metadata: {name: web, namespace: shop}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  \
         template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["alice".into()], 1).unwrap();
    let log = dir.path().join("serve.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
    cmd.arg("serve")
        .arg("--authorization=allow-any")
        .args(["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&certs.server_cert)
        .arg("--tls-key")
        .arg(&certs.server_key)
        .arg("--client-ca")
        .arg(&certs.ca)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--namespace", "shop", "--lease-namespace", "shop", "--log-format", "text", "--drain-timeout", "2s"])
        .env("RUST_LOG", "info,kube=warn,tower=warn,h2=warn,hyper=warn")
        .env("NO_COLOR", "1");
    let mut child = Child::spawn("serve", &mut cmd, &log, Stdout::Discard);
    let (http, grpc) = child
        .wait_until_async("it to log its addresses", Duration::from_secs(30), POLL, |c| {
            let log = c.log();
            let addrs = probe::logged_http_addr(&log).zip(probe::logged_grpc_addr(&log));
            async move { addrs }
        })
        .await;
    testkit::wait_http_ok(http, "/readyz", Duration::from_secs(30), POLL).await;
    Served { child, http, grpc, certs, _sim: sim, _dir: dir }
}

impl Served {
    async fn client(&self) -> ScaleServiceClient<tonic::transport::Channel> {
        let (_, cert, key) = &self.certs.clients[0];
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(&self.certs.ca).unwrap()))
            .identity(Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()))
            .domain_name("localhost");
        let channel = Endpoint::from_shared(format!("https://localhost:{}", self.grpc.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("mTLS connect");
        ScaleServiceClient::new(channel)
    }

    async fn metric(&self, sample: &str) -> f64 {
        let (code, body) = probe::http_get(self.http, "/metrics").await.expect("/metrics answers");
        assert_eq!(code, 200);
        body.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }

    /// Waits until the log has a line with every one of `words`, and returns that line.
    async fn logged(&mut self, what: &str, words: &[&str]) -> String {
        self.child
            .wait_until_async(what, Duration::from_secs(10), POLL, |c| {
                let line = c.log().lines().find(|l| words.iter().all(|w| l.contains(w))).map(str::to_owned);
                async move { line }
            })
            .await
    }
}

/// Every control character in `log` but the line ends.
fn controls(log: &str) -> Vec<char> {
    log.chars().filter(|c| c.is_control() && *c != '\n').collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_log_escapes_caller_input_and_logs_malformed_calls() {
    let mut served = serve().await;
    let mut c = served.client().await;

    // A hold whose reason carries a newline and terminal controls: placed (a reason may say
    // anything), and logged on one line, escaped.
    c.set_replicas(pb::SetReplicasRequest {
        namespace: "shop".into(),
        name: "web".into(),
        replicas: 3,
        hold_for: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
        reason: FORGING_REASON.into(),
        ..Default::default()
    })
    .await
    .expect("the hold is placed");
    let line = served.logged("the hold's line", &["identity=alice", "INC-1"]).await;
    assert!(
        line.contains(r"INC-1\n2026-12-07T00:00:00.000000Z  INFO scalekeeper: forged line\u{1b}[2J\u{7}"),
        "{line}"
    );

    // A selector with ESC, BEL and NUL: refused, and logged escaped.
    let err = c
        .list_deployments(pb::ListDeploymentsRequest {
            namespace: "shop".into(),
            label_selector: "app=\u{1b}[31mred\u{7}\0".into(),
            ..Default::default()
        })
        .await
        .expect_err("not a selector");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    served.logged("the refused selector's line", &["call refused", "ListDeployments"]).await;

    // A request that is not protobuf: INVALID_ARGUMENT, logged as a refused call with its
    // method and request id, like every refusal.
    let (_, cert, key) = served.certs.clients[0].clone();
    let send = rawgrpc::connect(served.grpc, &served.certs.ca, &cert, &key, "127.0.0.1").await;
    let (resp, _body) = rawgrpc::start_call(
        &send,
        "/scalekeeper.v1.ScaleService/GetDeployment",
        &rawgrpc::message(&[0x0a, 0x05, b's']),
        true,
    )
    .await;
    let (status, id) = rawgrpc::status_of(resp).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let id = id.expect("a request id");
    let line = served.logged("the malformed call's line", &["call refused", &format!("request_id={id}")]).await;
    assert!(
        line.contains(" INFO ")
            && line.contains("method=\"GetDeployment\"")
            && line.contains("code=\"INVALID_ARGUMENT\""),
        "{line}"
    );
    assert_eq!(
        served
            .metric(r#"scalekeeper_grpc_server_handled_total{grpc_service="scalekeeper.v1.ScaleService",grpc_method="GetDeployment",grpc_code="INVALID_ARGUMENT"}"#)
            .await,
        1.0
    );

    let log = served.child.log();
    assert!(!log.lines().any(|l| l.contains("forged line") && !l.contains("INC-1")), "a forged line:\n{log}");
    assert_eq!(controls(&log), Vec::<char>::new(), "raw control characters in the log:\n{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_handshakes_are_counted_in_full_and_logged_at_most_once_a_second() {
    use tokio::io::AsyncWriteExt as _;
    let served = serve().await;
    const REFUSED: usize = 200;
    // 200 handshakes that fail at once: a record that is not TLS.
    let started = std::time::Instant::now();
    for _ in 0..REFUSED {
        let mut s = tokio::net::TcpStream::connect(served.grpc).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    }
    testkit::wait_for_async("every refusal counted", Duration::from_secs(10), POLL, || async {
        served.metric(r#"scalekeeper_tls_handshakes_refused_total{reason="protocol"}"#).await == REFUSED as f64
    })
    .await;
    let took = started.elapsed();
    let lines = served.child.log().lines().filter(|l| l.contains("TLS handshake refused")).count();
    let most = took.as_secs() as usize + 2;
    assert!((1..=most).contains(&lines), "{lines} lines for {REFUSED} refusals in {took:?}");
}
