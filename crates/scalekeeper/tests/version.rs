//! `scalekeeper version` and GetVersion over real mTLS against kubesim: the RPC is open to any
//! authenticated caller (no RBAC binding needed, as Kubernetes' /version), the command prints
//! the client's and the server's versions (table and JSON), a server that does not answer
//! still gets the client's version printed (then the error, exit 3), and a server older than
//! GetVersion (UNIMPLEMENTED) is said to be so with exit 0. Also the kubectl plugin name:
//! run as `kubectl-scalekeeper`, usage says `kubectl scalekeeper`, and kubectl finds it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::Options;
use scalekeeper_api::v1 as pb;
use tonic::Code;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const NOBODY: &str = "nobody-ned";

/// Runs the CLI with `args` as `identity` against `server`: (exit code, stdout, stderr).
async fn cli(env: &common::Env, server: &str, identity: &str, args: &[&str]) -> (i32, String, String) {
    let (cert, key) = env.client_files(identity);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        .env("SCALEKEEPER_CONFIG", common::NO_CLIENT_CONFIG)
        .env("SCALEKEEPER_SERVER", server)
        .env("SCALEKEEPER_CA", &env.certs.ca)
        .env("SCALEKEEPER_CERT", cert)
        .env("SCALEKEEPER_KEY", key)
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    common::outcome(out)
}

async fn start_rbac() -> common::Env {
    common::start_with(Options { clients: vec![NOBODY.into()], authorization: common::rbac(), ..Default::default() })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_authenticated_caller_gets_the_version_without_an_rbac_binding() {
    let env = start_rbac().await;
    let mut c = env.client_as(NOBODY).await;
    let v = c.get_version(pb::GetVersionRequest {}).await.unwrap().into_inner();
    assert_eq!(v.version, VERSION);
    // The same caller is refused what RBAC guards: GetVersion's answer is not a hole in authz.
    let denied =
        c.get_deployment(pb::GetDeploymentRequest { namespace: "shop".into(), name: "web".into() }).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // A connection without a client certificate never reaches it (the handshake refuses).
    let no_cert = env.channel_with(&env.certs.ca, None).await;
    if let Ok(channel) = no_cert {
        let refused = pb::scale_service_client::ScaleServiceClient::new(channel)
            .get_version(pb::GetVersionRequest {})
            .await
            .unwrap_err();
        assert_ne!(refused.code(), Code::Ok);
    }

    let server = format!("localhost:{}", env.grpc_addr.port());
    let (code, out, err) = cli(&env, &server, NOBODY, &["version"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("Client Version: {VERSION}")), "{out}");
    assert!(out.contains(&format!("\nServer Version: {VERSION}")), "{out}");

    let (code, out, err) = cli(&env, &server, NOBODY, &["version", "-o", "json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["clientVersion"]["version"], VERSION, "{doc}");
    assert_eq!(doc["serverVersion"]["version"], VERSION, "{doc}");
    assert!(doc["serverVersion"]["gitCommit"].is_string(), "{doc}");

    // --client never connects: a server address nothing listens on is fine.
    let (code, out, err) = cli(&env, "localhost:1", NOBODY, &["version", "--client"]).await;
    assert_eq!((code, out.lines().count()), (0, 1), "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_answer_gets_the_client_version_then_the_error() {
    let env = common::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (code, out, err) = cli(&env, &format!("localhost:{port}"), "alice", &["version", "--timeout", "2"]).await;
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(out, format!("Client Version: {VERSION}\n"));
    assert!(err.contains("cannot connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_older_than_get_version_is_unknown_and_exit_0() {
    let env = common::start().await;
    // A server over the same mTLS that knows no ScaleService: every ScaleService method is
    // UNIMPLEMENTED there, as GetVersion is on a server that predates it.
    let identity = tonic::transport::Identity::from_pem(
        std::fs::read(&env.certs.server_cert).unwrap(),
        std::fs::read(&env.certs.server_key).unwrap(),
    );
    let tls = tonic::transport::ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(tonic::transport::Certificate::from_pem(std::fs::read(&env.certs.ca).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let old = tokio::spawn(
        tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let (code, out, err) = cli(&env, &format!("localhost:{port}"), "alice", &["version"]).await;
    old.abort();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, format!("Client Version: {VERSION}\nServer Version: unknown (older than GetVersion)\n"));
}

/// `dir/kubectl-scalekeeper`, a symbolic link to the binary under test.
fn plugin_link(dir: &Path) -> std::path::PathBuf {
    let link = dir.join("kubectl-scalekeeper");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scalekeeper"), &link).unwrap();
    link
}

#[test]
fn run_as_kubectl_scalekeeper_usage_says_kubectl_scalekeeper() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(plugin_link(dir.path())).args(["set", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    assert!(help.contains("Usage: kubectl scalekeeper set [OPTIONS] <TARGET> <REPLICAS>"), "{help}");

    // kubectl (when installed) lists the plugin and runs it.
    if std::process::Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        eprintln!("kubectl is not on PATH: the kubectl plugin list check is skipped");
        return;
    }
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let list = std::process::Command::new("kubectl").args(["plugin", "list"]).env("PATH", &path).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("kubectl-scalekeeper"), "{listed}{}", String::from_utf8_lossy(&list.stderr));
    let run =
        std::process::Command::new("kubectl").args(["scalekeeper", "--help"]).env("PATH", &path).output().unwrap();
    let help = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{help}{}", String::from_utf8_lossy(&run.stderr));
    assert!(help.contains("Usage: kubectl scalekeeper <COMMAND>"), "{help}");
}
