//! `make bench` (freeze part): one Freeze over 1,000 Deployments in 10 namespaces on kubesim,
//! then one Thaw, each timed end to end from the client (issue 24: under 10 s on kubesim).
//!
//! Half the Deployments are managed (a ReplicaPolicy declares their count), half are not (the
//! freeze creates their policy, the thaw deletes it again), so both paths of the write plan
//! are in the figure. kubesim and `scalekeeper serve` run in this process; the client calls
//! over mTLS as any client does. Each Deployment's write is the writer's usual path (read the
//! Deployment, list its HPAs, read and write the policy, the Event, read it back), 32 at a time.
//!
//! Prints the wall time of each call, the Deployments written per second, and the outcomes.

mod common;

use std::time::{Duration, Instant};

use scalekeeper::cache::Scope;
use scalekeeper::server::{ServeConfig, Server};
use scalekeeper::tls::TlsFiles;
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use serde_json::json;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const NAMESPACES: usize = 10;
const PER_NAMESPACE: usize = 100;
const IDENTITY: &str = "bench";

/// `(done, skipped, failed)` among `results`.
fn outcomes(results: &[pb::BulkResult]) -> (usize, usize, usize) {
    let count = |o: pb::BulkOutcome| results.iter().filter(|r| r.outcome == o as i32).count();
    (count(pb::BulkOutcome::Done), count(pb::BulkOutcome::Skipped), count(pb::BulkOutcome::Failed))
}

/// Prints one call's figures; fails when any Deployment failed.
fn report(what: &str, took: Duration, results: &[pb::BulkResult]) -> anyhow::Result<f64> {
    let (done, skipped, failed) = outcomes(results);
    let rate = done as f64 / took.as_secs_f64();
    println!(
        "{what} of {} Deployments in {NAMESPACES} namespaces: {:.2} s wall, {rate:.0} Deployments/s (done {done}, \
         skipped {skipped}, failed {failed})",
        results.len(),
        took.as_secs_f64()
    );
    if failed > 0 {
        let first = results.iter().find(|r| r.outcome == pb::BulkOutcome::Failed as i32);
        anyhow::bail!("{what}: {failed} failed, e.g. {first:?}");
    }
    Ok(rate)
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
    for n in 0..NAMESPACES {
        let ns = format!("team-{n:02}");
        for i in 0..PER_NAMESPACE {
            let d = common::deployment(n * PER_NAMESPACE + i, &ns);
            let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
            sim.apply(d)?;
            if i % 2 == 0 {
                sim.apply(json!({"apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
                    "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": 2, "mode": "Enforce"}}))?;
            }
        }
    }
    let dir = tempfile::tempdir()?;
    let certs = scalekeeper::certs::write_dev_certs(dir.path(), &[], &[IDENTITY.into()], 1)?;
    let (_, cert, key) = certs.clients[0].clone();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca)?))
        .identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?))
        .domain_name("localhost");
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
            reconcile: Default::default(),
            leader: None,
            audit_log: None,
            // The server's defaults: the unary call deadline (30 s) included.
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
    let channel = Endpoint::from_shared(format!("https://{}", server.grpc_addr))?.tls_config(tls)?.connect().await?;
    let mut client = ScaleServiceClient::new(channel);
    // Wait until the watch cache holds every Deployment.
    let total = NAMESPACES * PER_NAMESPACE;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen = 0;
        for n in 0..NAMESPACES {
            let req =
                pb::ListDeploymentsRequest { namespace: format!("team-{n:02}"), page_size: 500, ..Default::default() };
            seen += client.list_deployments(req).await.map(|r| r.into_inner().deployments.len()).unwrap_or(0);
        }
        if seen == total {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the cache shows {seen} of {total} Deployments after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let t = Instant::now();
    let frozen = client
        .freeze(pb::FreezeRequest {
            all_namespaces: true,
            hold_for: Some(prost_types::Duration { seconds: 7200, nanos: 0 }),
            reason: "BENCH-1: change freeze".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let freeze_took = t.elapsed();
    let freeze_rate = report("Freeze", freeze_took, &frozen.results)?;
    anyhow::ensure!(outcomes(&frozen.results).0 == total, "every Deployment frozen");

    // `FREEZE_BENCH_SETTLE_MS`: wait this long before the thaw (default 0: the thaw runs while
    // the reconciler still records the freeze in 1,000 statuses, as after a real freeze).
    let settle = std::env::var("FREEZE_BENCH_SETTLE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(settle)).await;
    let t = Instant::now();
    let thawed = client.thaw(pb::ThawRequest { all_namespaces: true, ..Default::default() }).await?.into_inner();
    let thaw_took = t.elapsed();
    let thaw_rate = report("Thaw", thaw_took, &thawed.results)?;
    anyhow::ensure!(outcomes(&thawed.results).0 == total, "every Deployment thawed");

    let line = format!(
        "Freeze {:.2} s ({freeze_rate:.0} Deployments/s), Thaw {:.2} s ({thaw_rate:.0} Deployments/s), {total} \
         Deployments in {NAMESPACES} namespaces, half managed",
        freeze_took.as_secs_f64(),
        thaw_took.as_secs_f64()
    );
    println!("freeze bench: {line}");
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("freeze.txt"), line)?;
    server.shutdown().await?;
    sim.shutdown().await;
    Ok(())
}
