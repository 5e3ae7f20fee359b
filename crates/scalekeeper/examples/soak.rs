//! `make soak` (`--duration 10m` by default; `SOAK_DURATION=2h make soak` for longer): churn
//! against a `scalekeeper serve` process on loopback, and what it costs and loses over time.
//!
//! kubesim runs in this process with 200 Deployments in 10 namespaces, each declared through
//! the API, bounded as `scalekeeper dev` bounds it (10,000 changes of history, Events live an
//! hour); the server is the release binary (`SCALEKEEPER_BIN` or
//! `target/release/scalekeeper`) in a process of its own. For the whole duration:
//!
//! - a scale of a random Deployment behind the server's back every 200 ms (the scale
//!   subresource, as `kubectl scale` writes it), each checked 5 s later: corrected (spec
//!   equals the effective count), suspended by the flap guard (CONFLICT: legitimate),
//!   superseded (the Deployment was touched again meanwhile: not judged), or **missed**;
//! - a declaration, a hold (3 to 8 s) or the early end of a hold every second, each hold
//!   checked 3 s after it expires: back to the declared count, superseded, or **not back**;
//! - 3 WatchDeployments streams open throughout (any that ends is counted), and a
//!   ListDeployments of every page every second.
//!
//! Every minute, and at the end, it prints the server's RSS, open fds and threads, this
//! process's RSS (kubesim's), drift corrections (`scalekeeper_drift_corrections_total`),
//! flap-guard trips, misses, holds not back, watches ended and call errors. It fails when a
//! correction was missed, a hold did not come back, a watch ended or a call failed.

mod common;
#[path = "../tests/support/probe.rs"]
mod probe;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::{SplitMix, open_fds, rss_mib, threads};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const NAMESPACES: usize = 10;
const PER_NAMESPACE: usize = 20;
/// How long after a scale the Deployment must be back (or suspended).
const CORRECTION_DEADLINE: Duration = Duration::from_secs(5);
/// How long after a hold's expiry the Deployment must be back at its declared count.
const HOLD_DEADLINE: Duration = Duration::from_secs(3);

/// What the churn found, shared by its tasks.
#[derive(Default)]
struct Tally {
    scales: u64,
    corrected: u64,
    suspended: u64,
    superseded: u64,
    missed: Vec<String>,
    holds: u64,
    holds_back: u64,
    holds_superseded: u64,
    holds_not_back: Vec<String>,
    declarations: u64,
    lists: u64,
    watch_events: u64,
    watches_ended: u64,
    errors: BTreeMap<String, u64>,
}

#[derive(Clone)]
struct Soak {
    tally: Arc<Mutex<Tally>>,
    /// When each Deployment was last written by the churn (a scale or a declaration).
    touched: Arc<Mutex<HashMap<(String, String), Instant>>>,
    grpc: ScaleServiceClient<Channel>,
    kube: kube::Client,
    end: Instant,
}

impl Soak {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn touch(&self, key: &(String, String)) -> Instant {
        let now = Instant::now();
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), now);
        now
    }

    /// Whether the churn wrote `key` after `at`.
    fn touched_since(&self, key: &(String, String), at: Instant) -> bool {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).get(key).is_some_and(|t| *t > at)
    }

    fn error(&self, what: &str, status: &tonic::Status) {
        *self.tally().errors.entry(format!("{what}: {:?}", status.code())).or_default() += 1;
    }

    async fn get(&self, key: &(String, String)) -> Result<pb::Deployment, tonic::Status> {
        let req = pb::GetDeploymentRequest { namespace: key.0.clone(), name: key.1.clone() };
        let d = self.grpc.clone().get_deployment(req).await?.into_inner().deployment;
        d.ok_or_else(|| tonic::Status::internal("no deployment in the answer"))
    }
}

fn key(i: usize) -> (String, String) {
    (format!("soak-{:02}", i % NAMESPACES), format!("svc-{i:06}"))
}

/// A scale behind the server's back every 200 ms; each judged [`CORRECTION_DEADLINE`] later.
async fn scaler(soak: Soak) {
    let mut rng = SplitMix(7);
    let pp = PatchParams { field_manager: Some("soak-kubectl".into()), ..Default::default() };
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while Instant::now() < soak.end {
        tick.tick().await;
        let k = key(rng.below((NAMESPACES * PER_NAMESPACE) as u64) as usize);
        let replicas = 6 + rng.below(4) as i32;
        let api: Api<Deployment> = Api::namespaced(soak.kube.clone(), &k.0);
        let at = soak.touch(&k);
        match api.patch_scale(&k.1, &pp, &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}))).await {
            Ok(_) => soak.tally().scales += 1,
            Err(e) => {
                *soak.tally().errors.entry(format!("scale: {e}")).or_default() += 1;
                continue;
            }
        }
        let soak = soak.clone();
        tokio::spawn(async move {
            tokio::time::sleep(CORRECTION_DEADLINE).await;
            if soak.touched_since(&k, at) {
                soak.tally().superseded += 1;
                return;
            }
            match soak.get(&k).await {
                Ok(d) if Some(d.spec_replicas) == d.effective_replicas => soak.tally().corrected += 1,
                Ok(d) if d.sync_status == pb::SyncStatus::Conflict as i32 => soak.tally().suspended += 1,
                Ok(_) if soak.touched_since(&k, at) => soak.tally().superseded += 1,
                Ok(d) => soak.tally().missed.push(format!(
                    "{}/{}: spec {} effective {:?} ({})",
                    k.0, k.1, d.spec_replicas, d.effective_replicas, d.reason
                )),
                Err(s) => soak.error("GetDeployment", &s),
            }
        });
    }
}

/// A declaration, a hold or the early end of a hold every second; each hold judged
/// [`HOLD_DEADLINE`] after it expires.
async fn declarer(soak: Soak) {
    let mut rng = SplitMix(11);
    let mut holds: Vec<(String, String)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < soak.end {
        tick.tick().await;
        let k = key(rng.below((NAMESPACES * PER_NAMESPACE) as u64) as usize);
        let mut grpc = soak.grpc.clone();
        match rng.below(10) {
            // Declare: 1 to 4.
            0..=4 => {
                soak.touch(&k);
                let req = pb::SetReplicasRequest {
                    namespace: k.0.clone(),
                    name: k.1.clone(),
                    replicas: 1 + rng.below(4) as i32,
                    ..Default::default()
                };
                match grpc.set_replicas(req).await {
                    Ok(_) => soak.tally().declarations += 1,
                    Err(s) => soak.error("SetReplicas", &s),
                }
            }
            // Hold for 3 to 8 s.
            5..=7 => {
                let secs = 3 + rng.below(6) as i64;
                let at = soak.touch(&k);
                let req = pb::SetReplicasRequest {
                    namespace: k.0.clone(),
                    name: k.1.clone(),
                    replicas: 1 + rng.below(4) as i32,
                    hold_for: Some(prost_types::Duration { seconds: secs, nanos: 0 }),
                    reason: "soak".into(),
                    ..Default::default()
                };
                match grpc.set_replicas(req).await {
                    Ok(_) => soak.tally().holds += 1,
                    Err(s) => {
                        soak.error("SetReplicas (hold)", &s);
                        continue;
                    }
                }
                holds.push(k.clone());
                let soak = soak.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(secs as u64) + HOLD_DEADLINE).await;
                    if soak.touched_since(&k, at) {
                        soak.tally().holds_superseded += 1;
                        return;
                    }
                    match soak.get(&k).await {
                        Ok(d) if d.rule != pb::Rule::Hold as i32 && Some(d.spec_replicas) == d.effective_replicas => {
                            soak.tally().holds_back += 1
                        }
                        Ok(_) if soak.touched_since(&k, at) => soak.tally().holds_superseded += 1,
                        Ok(d) => soak.tally().holds_not_back.push(format!(
                            "{}/{}: rule {:?} spec {} effective {:?} ({})",
                            k.0,
                            k.1,
                            pb::Rule::try_from(d.rule),
                            d.spec_replicas,
                            d.effective_replicas,
                            d.reason
                        )),
                        Err(s) => soak.error("GetDeployment", &s),
                    }
                });
            }
            // End a hold early, if one was placed.
            _ => {
                let Some(k) = holds.pop() else { continue };
                soak.touch(&k);
                let req = pb::ClearDesiredReplicasRequest {
                    namespace: k.0.clone(),
                    name: k.1.clone(),
                    hold_only: true,
                    ..Default::default()
                };
                match grpc.clear_desired_replicas(req).await {
                    Ok(_) => soak.tally().declarations += 1,
                    // The hold may have expired already.
                    Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
                    Err(s) => soak.error("ClearDesiredReplicas (hold)", &s),
                }
            }
        }
    }
}

/// Every page of ListDeployments every second.
async fn lister(soak: Soak) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < soak.end {
        tick.tick().await;
        let mut token = String::new();
        for _ in 0..100 {
            let req = pb::ListDeploymentsRequest { page_token: token.clone(), ..Default::default() };
            match soak.grpc.clone().list_deployments(req).await {
                Ok(r) => {
                    token = r.into_inner().next_page_token;
                    if token.is_empty() {
                        break;
                    }
                }
                Err(s) => {
                    soak.error("ListDeployments", &s);
                    break;
                }
            }
        }
        soak.tally().lists += 1;
    }
}

/// One WatchDeployments stream of every namespace, read until the end of the soak.
async fn watcher(soak: Soak) {
    let req = pb::WatchDeploymentsRequest::default();
    let mut stream = match soak.grpc.clone().watch_deployments(req).await {
        Ok(s) => s.into_inner(),
        Err(s) => {
            soak.error("WatchDeployments", &s);
            return;
        }
    };
    loop {
        let left = soak.end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.message()).await {
            Err(_) => return,
            Ok(Ok(Some(_))) => soak.tally().watch_events += 1,
            Ok(Ok(None)) => {
                soak.tally().watches_ended += 1;
                return;
            }
            Ok(Err(s)) => {
                soak.error("WatchDeployments stream", &s);
                soak.tally().watches_ended += 1;
                return;
            }
        }
    }
}

async fn metric(http: SocketAddr, name: &str) -> f64 {
    let Some((200, body)) = probe::http_get(http, "/metrics").await else { return f64::NAN };
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |sum, v| sum + v)
}

/// One line of figures.
async fn report(soak: &Soak, pid: &str, http: SocketAddr, started: Instant) -> String {
    let corrections = metric(http, "scalekeeper_drift_corrections_total").await;
    let trips = metric(http, "scalekeeper_flap_guard_trips_total").await;
    let t = soak.tally();
    format!(
        "{:>6.0} s: serve RSS {:.1} MiB, fds {}, threads {}; this process (kubesim) RSS {:.1} MiB; scales {}, \
         corrections {corrections}, corrected in time {}, flap-guard trips {trips}, suspended {}, superseded {}, \
         missed {}; holds {}, back {}, superseded {}, not back {}; declarations {}; lists {}; watch events {}, \
         watches ended {}; errors {}",
        started.elapsed().as_secs_f64(),
        rss_mib(pid).unwrap_or(f64::NAN),
        open_fds(pid).unwrap_or(0),
        threads(pid).unwrap_or(0),
        rss_mib("self").unwrap_or(f64::NAN),
        t.scales,
        t.corrected,
        t.suspended,
        t.superseded,
        t.missed.len(),
        t.holds,
        t.holds_back,
        t.holds_superseded,
        t.holds_not_back.len(),
        t.declarations,
        t.lists,
        t.watch_events,
        t.watches_ended,
        t.errors.values().sum::<u64>(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let mut duration = Duration::from_secs(600);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let v = args.next().context("--duration takes a value, e.g. 10m")?;
                duration = scalekeeper::runtime::parse_duration(&v).map_err(anyhow::Error::msg)?;
            }
            other => anyhow::bail!("unknown argument {other:?} (usage: soak [--duration 10m])"),
        }
    }

    // kubesim bounded as `scalekeeper dev` bounds it: 10,000 changes of watch history, Events
    // expiring an hour after their last write.
    let config =
        kubesim::SimConfig { history: 10_000, event_ttl: Some(Duration::from_secs(3600)), ..Default::default() };
    let sim = kubesim::Sim::start(config).await?;
    for crd in scalekeeper::crds::all() {
        sim.apply(serde_json::to_value(crd)?)?;
    }
    for i in 0..NAMESPACES * PER_NAMESPACE {
        let (ns, _) = key(i);
        sim.apply(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))?;
        sim.apply(common::deployment(i, &ns))?;
    }
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["soak".into()], 1)?;

    let common::Served { child, pid, grpc_port, http } = common::start_serve(&kubeconfig, &certs).await?;
    let (_, cert, key_file) = &certs.clients[0];
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca)?))
        .identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key_file)?))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://localhost:{grpc_port}"))?.tls_config(tls)?.connect().await?;
    let grpc = ScaleServiceClient::new(channel);
    // Every Deployment managed, declaring 2.
    for i in 0..NAMESPACES * PER_NAMESPACE {
        let (namespace, name) = key(i);
        grpc.clone()
            .set_replicas(pb::SetReplicasRequest { namespace, name, replicas: 2, ..Default::default() })
            .await
            .context("declaring the seed Deployments")?;
    }
    println!("{}", common::machine());
    println!(
        "soak for {duration:?}: {} Deployments in {NAMESPACES} namespaces, a scale every 200 ms, a declaration, hold \
         or clear every second, 3 watches, a list every second",
        NAMESPACES * PER_NAMESPACE
    );

    let soak = Soak {
        tally: Arc::default(),
        touched: Arc::default(),
        grpc,
        kube: sim.client().await?,
        end: Instant::now() + duration,
    };
    let begun = Instant::now();
    println!("{}", report(&soak, &pid, http, begun).await);
    let mut tasks = vec![
        tokio::spawn(scaler(soak.clone())),
        tokio::spawn(declarer(soak.clone())),
        tokio::spawn(lister(soak.clone())),
    ];
    for _ in 0..3 {
        tasks.push(tokio::spawn(watcher(soak.clone())));
    }
    let mut minute =
        tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), Duration::from_secs(60));
    while Instant::now() < soak.end {
        let left = soak.end.saturating_duration_since(Instant::now());
        tokio::select! {
            _ = minute.tick() => println!("{}", report(&soak, &pid, http, begun).await),
            _ = tokio::time::sleep(left) => {}
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    // The checks still pending: the longest is a hold's, 8 s + its deadline.
    tokio::time::sleep(Duration::from_secs(8) + HOLD_DEADLINE + Duration::from_secs(1)).await;
    println!("{}", report(&soak, &pid, http, begun).await);

    let failed = {
        let t = soak.tally();
        for m in t.missed.iter().take(10) {
            println!("missed: {m}");
        }
        for m in t.holds_not_back.iter().take(10) {
            println!("hold not back: {m}");
        }
        for (what, n) in &t.errors {
            println!("error: {what} x{n}");
        }
        !t.missed.is_empty() || !t.holds_not_back.is_empty() || t.watches_ended > 0 || !t.errors.is_empty()
    };
    drop(child);
    sim.shutdown().await;
    anyhow::ensure!(!failed, "the soak found corrections missed, holds not back, watches ended or call errors");
    Ok(())
}
