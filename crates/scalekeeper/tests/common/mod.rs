//! Test harness: kubesim + `scalekeeper serve` in-process, over real mTLS and real HTTP.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scalekeeper::cache::Scope;
use scalekeeper::certs;
use scalekeeper::server::{ServeConfig, Server};
use scalekeeper::tls::TlsFiles;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

pub const SEED: &str = include_str!("../../../../examples/kubesim-seed.yaml");

/// A running kubesim + scalekeeper pair.
pub struct Env {
    pub sim: kubesim::Sim,
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub certs: certs::DevCerts,
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
}

pub struct Options {
    pub scope: Scope,
    pub max_replicas: i32,
    pub clients: Vec<String>,
    pub reconcile: scalekeeper::reconciler::ReconcileConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scope: Scope::All,
            max_replicas: 1000,
            clients: vec!["alice".into(), "spiffe://test/ns/ci/sa/bot".into()],
            reconcile: Default::default(),
        }
    }
}

pub async fn start() -> Env {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        kubesim::Sim::start(kubesim::SimConfig { deployment_delay: Duration::from_millis(20), ..Default::default() })
            .await
            .expect("kubesim starts");
    use kube::CustomResourceExt as _;
    sim.apply(serde_json::to_value(scalekeeper::policy::ReplicaPolicy::crd()).unwrap()).expect("CRD installs");
    sim.seed_yaml(SEED).expect("seed loads");
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::write_dev_certs(&dir.path().join("certs"), &[], &opts.clients, 1).expect("certs");
    let server = Server::start(
        sim.client().await.unwrap(),
        ServeConfig {
            grpc_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            tls: TlsFiles {
                cert: certs.server_cert.clone(),
                key: certs.server_key.clone(),
                client_ca: certs.ca.clone(),
            },
            scope: opts.scope,
            max_replicas: opts.max_replicas,
            drain_timeout: Duration::from_secs(5),
            shutdown_delay: Duration::ZERO,
            stale_after: Duration::from_secs(2),
            reconcile: opts.reconcile,
            leader: None,
        },
    )
    .await
    .expect("server starts");
    let env = Env { grpc_addr: server.grpc_addr, http_addr: server.http_addr, sim, server: Some(server), dir, certs };
    env.wait_ready().await;
    env
}

pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Env {
    pub fn client_files(&self, identity: &str) -> (PathBuf, PathBuf) {
        let (_, cert, key) = self.certs.clients.iter().find(|(i, _, _)| i == identity).cloned().expect("client cert");
        (cert, key)
    }

    pub async fn channel_with(
        &self,
        ca: &Path,
        cert_key: Option<(&Path, &Path)>,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
            .domain_name("localhost");
        if let Some((cert, key)) = cert_key {
            tls = tls.identity(Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()));
        }
        Endpoint::from_shared(format!("https://localhost:{}", self.grpc_addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect()
            .await
    }

    pub async fn client_as(&self, identity: &str) -> ScaleServiceClient<Channel> {
        let (cert, key) = self.client_files(identity);
        ScaleServiceClient::new(self.channel_with(&self.certs.ca, Some((&cert, &key))).await.expect("mTLS connect"))
    }

    pub async fn client(&self) -> ScaleServiceClient<Channel> {
        self.client_as("alice").await
    }

    pub async fn readyz(&self) -> u16 {
        http_get(self.http_addr, "/readyz").await.0
    }

    pub async fn wait_ready(&self) {
        wait_for("readyz 200", Duration::from_secs(10), || async { self.readyz().await == 200 }).await;
    }

    pub fn spec_replicas(&self, ns: &str, name: &str) -> i64 {
        self.sim.get("apps/v1", "Deployment", ns, name).expect("deployment")["spec"]["replicas"].as_i64().unwrap()
    }

    pub fn policy(&self, ns: &str, name: &str) -> Option<serde_json::Value> {
        self.sim.get("scalekeeper.dev/v1alpha1", "ReplicaPolicy", ns, name)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        let p = self.dir.path().join("kubeconfig");
        self.sim.write_kubeconfig(&p).unwrap();
        p
    }
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return (0, String::new()) };
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}
