//! `make bench` (scalekeeper part): GetDeployment latency and throughput over mTLS with 32
//! concurrent clients, against the gRPC health Check on the same channels (the floor: a call
//! through the same TLS, HTTP/2 and tonic stack that does no work), once with
//! `--authorization=allow-any` and once with `--authorization=rbac` in the same run; and the
//! server's resident memory with 10,000 Deployments in scope.
//!
//! kubesim runs in this process; `scalekeeper serve` runs as its own process (the release
//! binary, `SCALEKEEPER_BIN` or `target/release/scalekeeper`) so that its RSS and CPU time are
//! its own. Each mode gets a fresh server process (the mode is a flag), the same Deployments,
//! the same client certificate, the same number of connections and the same durations: a
//! warm-up of [`WARMUP`] (GetDeployment and Check; in rbac mode it also fills the decision
//! cache), then [`DURATION`] of health Check, then [`DURATION`] of GetDeployment. For rbac the
//! harness first creates the `scalekeeper-viewer` ClusterRole (as the chart and `scalekeeper
//! dev` define it) and a ClusterRoleBinding of it to the bench client's identity, so every
//! GetDeployment is allowed by a SubjectAccessReview kubesim evaluates, cached by the server
//! (allow 10 s, deny 5 s; `crates/scalekeeper/src/authz.rs`). The measurement therefore
//! includes the cache's steady state: each (user, verb, namespace) decision expires once per
//! allow TTL and is asked again.
//!
//! CPU: the server's from `/proc/<pid>/stat`; this process's (the clients and kubesim) from
//! `/proc/self/stat`, both over each measured phase, as µs per call.
//!
//! `BENCH_AUTHZ_ROUNDS=N` (default 3) runs the allow-any/rbac pair N times, alternating, and
//! sums each mode's calls over the rounds, to average out a noisy machine.

mod common;
#[path = "../tests/support/probe.rs"]
mod probe;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::{Child, Phase, clock_ticks, cpu_seconds, free_port, percentile, rss_mib};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const DEPLOYMENTS: usize = 10_000;
const CLIENTS: usize = 32;
const DURATION: Duration = Duration::from_secs(10);
const WARMUP: Duration = Duration::from_secs(2);
/// The bench client's certificate identity, which is the user a SubjectAccessReview names.
const BENCH_IDENTITY: &str = "bench";
/// The ClusterRole the chart and `scalekeeper dev` grant readers.
const VIEWER_ROLE: &str = "scalekeeper-viewer";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The authorization modes compared; odd rounds run them in this order, even rounds reversed.
const MODES: [&str; 2] = ["allow-any", "rbac"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `grpc.health.v1.Health/Check`: no authorization, no cache lookup.
    Check,
    /// `ScaleService/GetDeployment`, round-robin over every Deployment.
    Get,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Check => "health Check",
            Call::Get => "GetDeployment",
        }
    }
}

/// `call` on every channel, back to back, for `duration`.
async fn load(
    channels: &[Channel],
    call: Call,
    duration: Duration,
    server_pid: u32,
    ticks: f64,
) -> anyhow::Result<Phase> {
    let server = server_pid.to_string();
    let (server_before, bench_before) = (cpu_seconds(&server, ticks), cpu_seconds("self", ticks));
    let start = Instant::now();
    let mut tasks = vec![];
    for (c, channel) in channels.iter().enumerate() {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            let mut scale = ScaleServiceClient::new(channel.clone());
            let mut health = HealthClient::new(channel);
            let mut lat = Vec::with_capacity(50_000);
            let mut errors = 0usize;
            let mut i = c;
            while start.elapsed() < duration {
                let n = i % DEPLOYMENTS;
                i += CLIENTS;
                let t = Instant::now();
                let ok = match call {
                    Call::Check => health
                        .check(HealthCheckRequest { service: scalekeeper::server::SERVICE_NAME.into() })
                        .await
                        .is_ok(),
                    Call::Get => scale
                        .get_deployment(pb::GetDeploymentRequest {
                            namespace: format!("team-{:02}", n % 20),
                            name: format!("svc-{n:06}"),
                        })
                        .await
                        .is_ok(),
                };
                if ok {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut phase = Phase::default();
    for t in tasks {
        let (lat, e) = t.await?;
        phase.latencies.extend(lat);
        phase.errors += e;
    }
    phase.elapsed = start.elapsed();
    phase.latencies.sort();
    phase.server_cpu = cpu_seconds(&server, ticks).zip(server_before).map(|(a, b)| a - b);
    phase.bench_cpu = cpu_seconds("self", ticks).zip(bench_before).map(|(a, b)| a - b);
    Ok(phase)
}

/// What one server process (one mode) measured.
struct ModeRun {
    mode: &'static str,
    check: Phase,
    get: Phase,
}

struct Setup {
    bin: PathBuf,
    kubeconfig: PathBuf,
    certs: scalekeeper::certs::DevCerts,
    tls: ClientTlsConfig,
    ticks: f64,
}

/// Starts `scalekeeper serve --authorization=<mode>`, waits until it is ready, warms up and
/// measures Check then GetDeployment; stops the server.
async fn run_mode(setup: &Setup, mode: &'static str) -> anyhow::Result<ModeRun> {
    let certs = &setup.certs;
    let (grpc_port, http_port) = (free_port()?, free_port()?);
    let child = Child(
        Command::new(&setup.bin)
            .args(["serve", "--log-format", "json"])
            .arg(format!("--authorization={mode}"))
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
            .arg(&setup.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting scalekeeper serve")?,
    );
    let pid = child.0.id();
    let pid_s = child.pid();
    let t = Instant::now();
    loop {
        if probe::http_get(([127, 0, 0, 1], http_port).into(), "/readyz").await.is_some_and(|(code, _)| code == 200) {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(120), "server not ready after 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("[{mode}] scalekeeper serve ready (caches synced) {:.1?} after start", t.elapsed());
    if let Some(rss) = rss_mib(&pid_s) {
        println!("[{mode}] scalekeeper serve RSS with {DEPLOYMENTS} Deployments in scope: {rss:.1} MiB");
    }

    let mut channels = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        channels.push(
            Endpoint::from_shared(format!("https://localhost:{grpc_port}"))?
                .tls_config(setup.tls.clone())?
                .connect()
                .await?,
        );
    }
    // One call first, so that a missing grant fails loudly instead of measuring refusals.
    ScaleServiceClient::new(channels[0].clone())
        .get_deployment(pb::GetDeploymentRequest { namespace: "team-00".into(), name: "svc-000000".into() })
        .await
        .with_context(|| format!("[{mode}] GetDeployment as {BENCH_IDENTITY:?} before the load"))?;
    load(&channels, Call::Get, WARMUP, pid, setup.ticks).await?;
    load(&channels, Call::Check, WARMUP / 2, pid, setup.ticks).await?;

    let check = load(&channels, Call::Check, DURATION, pid, setup.ticks).await?;
    let get = load(&channels, Call::Get, DURATION, pid, setup.ticks).await?;
    anyhow::ensure!(!get.latencies.is_empty() && !check.latencies.is_empty(), "[{mode}] no call succeeded");
    println!(
        "[{mode}] GetDeployment over mTLS, {CLIENTS} concurrent clients for {:.0?}: {} calls, {:.0} calls/s, p50 {:.2?}, p99 {:.2?}, max {:.2?}, errors {}",
        get.elapsed,
        get.latencies.len(),
        get.rate(),
        percentile(&get.latencies, 0.5),
        percentile(&get.latencies, 0.99),
        get.latencies[get.latencies.len() - 1],
        get.errors,
    );
    if let Some(rss) = rss_mib(&pid_s) {
        println!("[{mode}] scalekeeper serve RSS after the load: {rss:.1} MiB");
    }
    drop(child);
    Ok(ModeRun { mode, check, get })
}

/// The `scalekeeper-viewer` ClusterRole (the rules of the chart's and `scalekeeper dev`'s) and
/// a ClusterRoleBinding of it to the bench client's identity.
async fn grant_viewer(client: kube::Client) -> anyhow::Result<()> {
    let meta = |name: &str| ObjectMeta { name: Some(name.into()), ..Default::default() };
    let role = ClusterRole {
        metadata: meta(VIEWER_ROLE),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![scalekeeper_core::authz::GROUP.into()]),
            resources: Some(vec![scalekeeper_core::authz::RESOURCE.into()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta(&format!("{BENCH_IDENTITY}-{VIEWER_ROLE}")),
        role_ref: RoleRef { api_group: RBAC_GROUP.into(), kind: "ClusterRole".into(), name: VIEWER_ROLE.into() },
        subjects: Some(vec![Subject {
            api_group: Some(RBAC_GROUP.into()),
            kind: "User".into(),
            name: BENCH_IDENTITY.into(),
            namespace: None,
        }]),
    };
    Api::<ClusterRole>::all(client.clone()).create(&PostParams::default(), &role).await?;
    Api::<ClusterRoleBinding>::all(client).create(&PostParams::default(), &binding).await?;
    Ok(())
}

fn per_call_us(cpu: Option<f64>, calls: usize) -> String {
    match cpu {
        Some(s) if calls > 0 => format!("{:.0}", s * 1e6 / calls as f64),
        _ => "n/a".into(),
    }
}

fn cores(cpu: Option<f64>, elapsed: Duration) -> String {
    cpu.map(|s| format!("{:.2}", s / elapsed.as_secs_f64())).unwrap_or_else(|| "n/a".into())
}

/// Sum of calls over summed time, for one mode and call over every round.
fn combined_rate(runs: &[ModeRun], mode: &str, call: Call) -> f64 {
    let (calls, secs) = runs
        .iter()
        .filter(|r| r.mode == mode)
        .map(|r| if call == Call::Get { &r.get } else { &r.check })
        .fold((0usize, 0f64), |(c, s), p| (c + p.latencies.len(), s + p.elapsed.as_secs_f64()));
    calls as f64 / secs
}

fn print_table(runs: &[ModeRun], rounds: usize) {
    println!();
    println!(
        "Read throughput, authorization off (allow-any) vs on (rbac: SubjectAccessReview, cached allow 10 s / deny 5 s)"
    );
    println!(
        "{CLIENTS} clients over mTLS (one connection each), {DURATION:.0?} per call type after a {WARMUP:.0?} warm-up, one server process per mode, {rounds} round(s), {DEPLOYMENTS} Deployments"
    );
    println!(
        "{:<6} {:<10} {:<14} {:>9} {:>9} {:>9} {:>9} {:>7} {:>11} {:>11} {:>10} {:>10}",
        "round",
        "mode",
        "call",
        "calls",
        "calls/s",
        "p50",
        "p99",
        "errors",
        "server µs/c",
        "bench µs/c",
        "server cpu",
        "bench cpu"
    );
    for (i, r) in runs.iter().enumerate() {
        for (call, p) in [(Call::Check, &r.check), (Call::Get, &r.get)] {
            println!(
                "{:<6} {:<10} {:<14} {:>9} {:>9.0} {:>9.2?} {:>9.2?} {:>7} {:>11} {:>11} {:>10} {:>10}",
                i / MODES.len() + 1,
                r.mode,
                call.name(),
                p.latencies.len(),
                p.rate(),
                percentile(&p.latencies, 0.5),
                percentile(&p.latencies, 0.99),
                p.errors,
                per_call_us(p.server_cpu, p.latencies.len()),
                per_call_us(p.bench_cpu, p.latencies.len()),
                cores(p.server_cpu, p.elapsed),
                cores(p.bench_cpu, p.elapsed),
            );
        }
    }
    let get = |m| combined_rate(runs, m, Call::Get);
    let check = |m| combined_rate(runs, m, Call::Check);
    println!("(server/bench µs/c: CPU µs per successful call; cpu: cores used; bench = clients + in-process kubesim)");
    println!(
        "GetDeployment calls/s: allow-any {:.0}, rbac {:.0}; rbac/allow-any {:.3} (goal ≥ 0.90)",
        get("allow-any"),
        get("rbac"),
        get("rbac") / get("allow-any")
    );
    println!(
        "health Check calls/s (no authorization in either mode; the difference is noise): allow-any {:.0}, rbac {:.0}; rbac/allow-any {:.3}",
        check("allow-any"),
        check("rbac"),
        check("rbac") / check("allow-any")
    );
    println!(
        "GetDeployment / health Check (goal ≥ 0.95): allow-any {:.3}, rbac {:.3}",
        get("allow-any") / check("allow-any"),
        get("rbac") / check("rbac")
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = common::workspace_root();
    let bin = common::server_binary(&root)?;
    let rounds: usize = match std::env::var("BENCH_AUTHZ_ROUNDS") {
        Ok(v) => v.parse().context("BENCH_AUTHZ_ROUNDS")?,
        Err(_) => 3,
    };
    anyhow::ensure!(rounds >= 1, "BENCH_AUTHZ_ROUNDS must be at least 1");

    let sim = kubesim::Sim::start(kubesim::SimConfig::default()).await?;
    for crd in scalekeeper::crds::all() {
        sim.apply(serde_json::to_value(crd)?)?;
    }
    let t = Instant::now();
    for i in 0..DEPLOYMENTS {
        let ns = format!("team-{:02}", i % 20);
        sim.apply(common::deployment(i, &ns))?;
    }
    println!(
        "seeded {DEPLOYMENTS} Deployments (with pod templates and a last-applied annotation) in {:.1?}",
        t.elapsed()
    );
    grant_viewer(sim.client().await?).await.context("creating the viewer ClusterRole and binding")?;
    println!("granted ClusterRole {VIEWER_ROLE} to user {BENCH_IDENTITY:?} (ClusterRoleBinding, for rbac mode)");

    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &[BENCH_IDENTITY.into()], 1)?;
    let (_, cert, key) = certs.clients[0].clone();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca)?))
        .identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?))
        .domain_name("localhost");
    let setup = Setup { bin, kubeconfig, certs, tls, ticks: clock_ticks() };

    let mut runs = vec![];
    for round in 0..rounds {
        // Alternate which mode goes first, so that an order effect (a warmer machine, a
        // fuller page cache) does not land on one mode.
        let order = if round % 2 == 0 { MODES } else { [MODES[1], MODES[0]] };
        for mode in order {
            runs.push(run_mode(&setup, mode).await?);
        }
    }
    print_table(&runs, rounds);
    sim.shutdown().await;
    Ok(())
}
