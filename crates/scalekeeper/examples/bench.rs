//! `make bench` (scalekeeper part): GetDeployment latency and throughput over mTLS with 32
//! concurrent clients, and the server's resident memory with 10,000 Deployments in scope.
//!
//! kubesim runs in this process; `scalekeeper serve` runs as its own process (the release
//! binary, `SCALEKEEPER_BIN` or `target/release/scalekeeper`) so that its RSS is its own.

#[path = "../tests/support/probe.rs"]
mod probe;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kube::CustomResourceExt as _;
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use serde_json::json;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const DEPLOYMENTS: usize = 10_000;
const CLIENTS: usize = 32;
const DURATION: Duration = Duration::from_secs(10);

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin =
        std::env::var("SCALEKEEPER_BIN").map(Into::into).unwrap_or_else(|_| root.join("target/release/scalekeeper"));
    anyhow::ensure!(bin.exists(), "{} not found: build it with `cargo build --release -p scalekeeper`", bin.display());

    let sim = kubesim::Sim::start(kubesim::SimConfig::default()).await?;
    sim.apply(serde_json::to_value(scalekeeper::policy::ReplicaPolicy::crd())?)?;
    let t = Instant::now();
    for i in 0..DEPLOYMENTS {
        let ns = format!("team-{:02}", i % 20);
        sim.apply(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("svc-{i:05}"), "namespace": ns,
                         "labels": {"app": format!("svc-{i:05}"), "team": ns},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x".repeat(800)}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("svc-{i:05}")}},
                     "template": {"metadata": {"labels": {"app": format!("svc-{i:05}")}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
                                           "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                           "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
        }))?;
    }
    println!(
        "seeded {DEPLOYMENTS} Deployments (with pod templates and a last-applied annotation) in {:.1?}",
        t.elapsed()
    );

    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["bench".into()], 1)?;
    let (grpc_port, http_port) = (free_port()?, free_port()?);
    let child = Child(
        Command::new(&bin)
            .args(["serve", "--log-format", "json", "--authorization=allow-any"])
            .arg("--grpc-listen")
            .arg(format!("127.0.0.1:{grpc_port}"))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--tls-cert")
            .arg(&certs.server_cert)
            .arg("--tls-key")
            .arg(&certs.server_key)
            .arg("--client-ca")
            .arg(&certs.ca)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting scalekeeper serve")?,
    );
    let t = Instant::now();
    loop {
        if probe::http_get(([127, 0, 0, 1], http_port).into(), "/readyz").await.is_some_and(|(code, _)| code == 200) {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(120), "server not ready after 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("scalekeeper serve ready (caches synced) {:.1?} after start", t.elapsed());
    if let Some(rss) = rss_mib(child.0.id()) {
        println!("scalekeeper serve RSS with {DEPLOYMENTS} Deployments in scope: {rss:.1} MiB");
    }

    let (_, cert, key) = certs.clients[0].clone();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca)?))
        .identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?))
        .domain_name("localhost");
    let mut tasks = vec![];
    let start = Instant::now();
    for c in 0..CLIENTS {
        let channel =
            Endpoint::from_shared(format!("https://localhost:{grpc_port}"))?.tls_config(tls.clone())?.connect().await?;
        tasks.push(tokio::spawn(async move {
            let mut client = ScaleServiceClient::new(channel);
            let mut lat = Vec::with_capacity(50_000);
            let mut errors = 0usize;
            let mut i = c;
            while start.elapsed() < DURATION {
                let n = i % DEPLOYMENTS;
                i += CLIENTS;
                let req =
                    pb::GetDeploymentRequest { namespace: format!("team-{:02}", n % 20), name: format!("svc-{n:05}") };
                let t = Instant::now();
                match client.get_deployment(req).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = vec![];
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "GetDeployment over mTLS, {CLIENTS} concurrent clients for {:.0?}: {} calls, {:.0} calls/s, p50 {:.2?}, p99 {:.2?}, max {:.2?}, errors {errors}",
        elapsed,
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all[all.len() - 1],
    );
    if let Some(rss) = rss_mib(child.0.id()) {
        println!("scalekeeper serve RSS after the load: {rss:.1} MiB");
    }
    drop(child);
    sim.shutdown().await;
    Ok(())
}
