//! `make bench` (reconciler part): drift-correction latency on kubesim, and its floor.
//!
//! - **Correction**: another actor scales a managed Deployment (PATCH of the scale
//!   subresource); time until a watcher sees `spec.replicas` back at the declared count,
//!   over 100 drifts. The path: kubesim watch event → scalekeeper's cache and Controller →
//!   live GET of the policy and list of HPAs, at once → PATCH scale (at the cached
//!   resourceVersion) → watch event.
//! - **Floor**: the same drift on an unmanaged Deployment, corrected by this program itself
//!   the moment its watch shows the drift: one watch event plus one PATCH round trip (and
//!   the final watch event, which both measurements include).

use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use scalekeeper::cache::Scope;
use scalekeeper::reconciler::ReconcileConfig;
use scalekeeper::server::{ServeConfig, Server};
use scalekeeper::tls::TlsFiles;
use serde_json::json;

const DRIFTS: usize = 100;
const DECLARED: i32 = 3;

fn deployment(name: &str) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": name}},
        "spec": {"replicas": DECLARED, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// Waits on `events` until the Deployment's spec.replicas is `want`.
async fn until_replicas(
    events: &mut (impl futures::Stream<Item = Result<WatchEvent<Deployment>, kube::Error>> + Unpin),
    want: i32,
) -> anyhow::Result<()> {
    loop {
        match events.try_next().await? {
            Some(WatchEvent::Modified(d)) | Some(WatchEvent::Added(d))
                if d.spec.as_ref().and_then(|s| s.replicas) == Some(want) =>
            {
                return Ok(());
            }
            Some(_) => {}
            None => anyhow::bail!("watch ended"),
        }
    }
}

/// Prints the figures of one measurement; returns its p99.
fn report(what: &str, mut lat: Vec<Duration>) -> Duration {
    lat.sort();
    println!(
        "{what} over {} drifts: p50 {:.2?}, p99 {:.2?}, min {:.2?}, max {:.2?}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[0],
        lat[lat.len() - 1]
    );
    percentile(&lat, 0.99)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        kubesim::Sim::start(kubesim::SimConfig { deployment_delay: Duration::from_millis(5), ..Default::default() })
            .await?;
    for crd in scalekeeper::crds::all() {
        sim.apply(serde_json::to_value(crd)?)?;
    }
    sim.apply(deployment("managed"))?;
    sim.apply(deployment("floor"))?;
    sim.apply(json!({"apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
        "metadata": {"name": "managed", "namespace": "bench"}, "spec": {"replicas": DECLARED, "mode": "Enforce"}}))?;
    let dir = tempfile::tempdir()?;
    let certs = scalekeeper::certs::write_dev_certs(dir.path(), &[], &[], 1)?;
    let server = Server::start(
        sim.client().await?,
        ServeConfig {
            grpc_listen: "127.0.0.1:0".parse()?,
            http_listen: "127.0.0.1:0".parse()?,
            tls: TlsFiles { cert: certs.server_cert, key: certs.server_key, client_ca: certs.ca, client_crl: None },
            client_policy: Default::default(),
            max_connection_age: Duration::from_secs(3600),
            max_connection_age_grace: Duration::from_secs(30),
            scope: Scope::All,
            max_replicas: 1000,
            drain_timeout: Duration::from_secs(5),
            shutdown_delay: Duration::ZERO,
            stale_after: Duration::from_secs(5),
            // The bench drifts on purpose, 100 times a second: no flap guard here.
            reconcile: ReconcileConfig { flap_max: 1_000_000, ..Default::default() },
            leader: None,
            audit_log: None,
            limits: Default::default(),
            admission: None,
            default_guard: Default::default(),
            scale_request_retention: scalekeeper_core::approval::DEFAULT_REQUEST_RETENTION,
            authorization: scalekeeper::server::AuthorizationConfig {
                mode: scalekeeper::authz::AuthorizationMode::AllowAny,
                ..Default::default()
            },
        },
    )
    .await?;
    let client = sim.client().await?;
    let api: Api<Deployment> = Api::namespaced(client, "bench");
    let pp = PatchParams { field_manager: Some("bench-actor".into()), ..Default::default() };
    // Let the reconciler settle on the policy first.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut p99 = vec![];
    for (name, corrector) in [("managed", "scalekeeper"), ("floor", "this program")] {
        let rv = api.get(name).await?.metadata.resource_version.unwrap_or_default();
        let mut events =
            api.watch(&WatchParams::default().fields(&format!("metadata.name={name}")), &rv).await?.boxed();
        let mut lat = Vec::with_capacity(DRIFTS);
        for i in 0..DRIFTS {
            let drifted = 10 + i as i32;
            let t = Instant::now();
            api.patch_scale(name, &pp, &Patch::Merge(json!({"spec": {"replicas": drifted}}))).await?;
            if name == "floor" {
                until_replicas(&mut events, drifted).await?;
                api.patch_scale(name, &pp, &Patch::Merge(json!({"spec": {"replicas": DECLARED}}))).await?;
            }
            until_replicas(&mut events, DECLARED).await?;
            lat.push(t.elapsed());
        }
        p99.push(report(&format!("drift → restored, corrected by {corrector}"), lat));
    }
    // For the summary `scale_bench` prints and writes to docs/benchmarks.md.
    let line = format!(
        "{:.2} ms / {:.2} ms = **{:.2}×** ({DRIFTS} drifts)",
        p99[0].as_secs_f64() * 1e3,
        p99[1].as_secs_f64() * 1e3,
        p99[0].as_secs_f64() / p99[1].as_secs_f64()
    );
    println!("drift correction p99 / floor p99: {line}");
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("drift.txt"), line)?;
    server.shutdown().await?;
    sim.shutdown().await;
    Ok(())
}
