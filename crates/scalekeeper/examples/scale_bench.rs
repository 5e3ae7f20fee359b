//! `make bench` (summary): how cost grows with the cluster, every read figure as a ratio to a
//! floor measured in the same run, and the one summary table `docs/benchmarks.md` holds.
//!
//! For each size in `BENCH_SIZES` (default 1,000, 10,000 and 100,000 Deployments, spread over
//! 20 namespaces, seeded as in every bench: a pod template and an 800-byte annotation; every
//! tenth one also has an Observe-mode ReplicaPolicy declaring a count it does not have, so
//! that Diff has out-of-sync Deployments to page through):
//!
//! 1. kubesim runs in this process; its own cost is reported: the time to seed it, this
//!    process's RSS after seeding (kubesim holds every object), and a LIST of every
//!    Deployment in pages of 500, as a client's initial sync makes it.
//! 2. Two `scalekeeper serve` processes (the binary of `SCALEKEEPER_BIN`, default
//!    `target/release/scalekeeper`) with leader election, started one after the other: each
//!    one's time from start to `/readyz` 200 (every cache synced) and RSS, once ready and
//!    again after the load. The leader also reconciles every policy; the follower does not.
//! 3. Once the leader has settled (its CPU use below [`SETTLED_CORES`]: it has looked at
//!    every policy once; the time it took is reported), on the leader, [`CLIENTS`] clients over mTLS (one connection each) call, for
//!    `BENCH_SECONDS` (default 5 s) each after a 1 s warm-up: gRPC health `Check` (the floor:
//!    the same TLS, HTTP/2 and tonic stack doing no work), `GetDeployment` (round-robin over
//!    every Deployment), `ListDeployments` (pages of 500 over every namespace, each client
//!    walking the pages with their tokens) and `Diff` (pages of 500). Each call's rate is
//!    given as a ratio to the Check rate of the same run; p99 latencies are per call (per
//!    page). The server's and this process's CPU use are printed beside each row, so a load
//!    generator that shares the cores with the server is visible, not hidden. Then one
//!    client alone calls GetDeployment and ListDeployments: the p99 of a call with no queue
//!    in front of it.
//!
//! On a machine with two CPUs or more (and `BENCH_PIN` not `0`), once the leader is known it
//! is pinned to CPU 0 and everything else (this process: kubesim and the clients; the
//! follower) to the other CPUs, with `taskset`, so the load generator cannot take the
//! server's core unnoticed; the server's CPU time per call is reported beside each ratio.
//!
//! Drift correction is `drift_bench`'s (run before this one by `make bench`): it leaves its
//! figures in `target/bench/drift.txt`, which the summary quotes.
//!
//! The summary goes to stdout and replaces the part of `docs/benchmarks.md` between
//! `<!-- bench-summary:start -->` and `<!-- bench-summary:end -->` (`BENCH_WRITE_DOC=0`: not).

mod common;
#[path = "../tests/support/probe.rs"]
mod probe;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::{Child, Phase, clock_ticks, cpu_seconds, free_port, percentile, pin, rss_mib};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const CLIENTS: usize = 32;
const NAMESPACES: usize = 20;
const WARMUP: Duration = Duration::from_secs(1);
const PAGE: i32 = 500;
/// The leader counts as settled once it uses less CPU than this (cores, over 1 s).
const SETTLED_CORES: f64 = 0.1;
const BEGIN: &str = "<!-- bench-summary:start -->";
const END: &str = "<!-- bench-summary:end -->";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Call {
    Check,
    Get,
    List,
    Diff,
}

impl Call {
    const ALL: [Call; 4] = [Call::Check, Call::Get, Call::List, Call::Diff];

    fn name(self) -> &'static str {
        match self {
            Call::Check => "health Check",
            Call::Get => "GetDeployment",
            Call::List => "ListDeployments (500)",
            Call::Diff => "Diff (500)",
        }
    }
}

/// CPU seconds over a phase as cores used.
fn cores(cpu: Option<f64>, elapsed: Duration) -> String {
    cpu.map(|s| format!("{:.2}", s / elapsed.as_secs_f64())).unwrap_or_else(|| "n/a".into())
}

/// One client's loop of `call` until `duration` has passed: (latencies, errors, items).
async fn client_loop(
    channel: Channel,
    call: Call,
    size: usize,
    first: usize,
    start: Instant,
    duration: Duration,
) -> (Vec<Duration>, usize, usize) {
    let mut scale = ScaleServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel);
    let (mut lat, mut errors, mut items) = (Vec::with_capacity(20_000), 0usize, 0usize);
    let mut i = first;
    let mut token = String::new();
    while start.elapsed() < duration {
        let t = Instant::now();
        let result: Result<usize, tonic::Status> = match call {
            Call::Check => {
                health.check(HealthCheckRequest { service: scalekeeper::server::SERVICE_NAME.into() }).await.map(|_| 0)
            }
            Call::Get => {
                let n = i % size;
                i += CLIENTS;
                scale
                    .get_deployment(pb::GetDeploymentRequest {
                        namespace: format!("team-{:02}", n % NAMESPACES),
                        name: format!("svc-{n:06}"),
                    })
                    .await
                    .map(|_| 1)
            }
            Call::List => scale
                .list_deployments(pb::ListDeploymentsRequest {
                    page_size: PAGE,
                    page_token: std::mem::take(&mut token),
                    ..Default::default()
                })
                .await
                .map(|r| {
                    let r = r.into_inner();
                    token = r.next_page_token;
                    r.deployments.len()
                }),
            Call::Diff => scale
                .diff(pb::DiffRequest { page_size: PAGE, page_token: std::mem::take(&mut token), ..Default::default() })
                .await
                .map(|r| {
                    let r = r.into_inner();
                    token = r.next_page_token;
                    r.diffs.len()
                }),
        };
        match result {
            Ok(n) => {
                lat.push(t.elapsed());
                items += n;
            }
            Err(_) => errors += 1,
        }
    }
    (lat, errors, items)
}

/// `call` on every channel, back to back, for `duration`.
async fn load(
    channels: &[Channel],
    call: Call,
    size: usize,
    duration: Duration,
    server: &str,
    ticks: f64,
) -> anyhow::Result<Phase> {
    let (server_before, bench_before) = (cpu_seconds(server, ticks), cpu_seconds("self", ticks));
    let start = Instant::now();
    let tasks: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(c, ch)| tokio::spawn(client_loop(ch.clone(), call, size, c, start, duration)))
        .collect();
    let mut phase = Phase::default();
    for t in tasks {
        let (lat, e, n) = t.await?;
        phase.latencies.extend(lat);
        phase.errors += e;
        phase.items += n;
    }
    phase.elapsed = start.elapsed();
    phase.latencies.sort();
    phase.server_cpu = cpu_seconds(server, ticks).zip(server_before).map(|(a, b)| a - b);
    phase.bench_cpu = cpu_seconds("self", ticks).zip(bench_before).map(|(a, b)| a - b);
    Ok(phase)
}

struct Setup {
    /// The workspace root (paths in the summary are shown relative to it).
    root: PathBuf,
    bin: PathBuf,
    dir: tempfile::TempDir,
    certs: scalekeeper::certs::DevCerts,
    tls: ClientTlsConfig,
    ticks: f64,
    duration: Duration,
    /// The CPUs of the leader and of everything else, when pinned.
    pinning: Option<(String, String)>,
}

/// A running `scalekeeper serve` and what it measured on the way up.
struct Replica {
    child: Child,
    grpc_port: u16,
    http: std::net::SocketAddr,
    ready_after: Duration,
    rss_ready: Option<f64>,
}

async fn start_replica(setup: &Setup, kubeconfig: &Path, identity: &str) -> anyhow::Result<Replica> {
    let (grpc_port, http_port) = (free_port()?, free_port()?);
    let t = Instant::now();
    let child = Child(
        Command::new(&setup.bin)
            .args(["serve", "--log-format", "json", "--authorization=allow-any", "--lease-namespace", "default"])
            .arg(format!("--identity={identity}"))
            .arg(format!("--grpc-listen=127.0.0.1:{grpc_port}"))
            .arg(format!("--http-listen=127.0.0.1:{http_port}"))
            .arg("--tls-cert")
            .arg(&setup.certs.server_cert)
            .arg("--tls-key")
            .arg(&setup.certs.server_key)
            .arg("--client-ca")
            .arg(&setup.certs.ca)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .context("starting scalekeeper serve")?,
    );
    let http: std::net::SocketAddr = ([127, 0, 0, 1], http_port).into();
    loop {
        if probe::http_get(http, "/readyz").await.is_some_and(|(code, _)| code == 200) {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(300), "{identity} not ready after 300 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = t.elapsed();
    let rss_ready = rss_mib(&child.pid());
    Ok(Replica { child, grpc_port, http, ready_after, rss_ready })
}

/// What one cluster size measured.
struct SizeRun {
    size: usize,
    seed: Duration,
    sim_rss: Option<f64>,
    sim_list: Duration,
    leader: (Duration, Option<f64>, Option<f64>),
    follower: (Duration, Option<f64>, Option<f64>),
    /// From the leader's readiness until its CPU use fell below [`SETTLED_CORES`]: its first
    /// look at every policy.
    settled: Duration,
    /// RSS of leader and follower once the leader settled, before any call: after sync.
    rss_synced: (Option<f64>, Option<f64>),
    phases: Vec<(Call, Phase)>,
    /// One client alone: the latency of a call with no queue in front of it.
    alone: Vec<(Call, Phase)>,
}

impl SizeRun {
    fn phase(&self, call: Call) -> &Phase {
        self.phases.iter().find(|(c, _)| *c == call).map(|(_, p)| p).unwrap_or_else(|| unreachable!())
    }
    fn alone(&self, call: Call) -> Duration {
        self.alone.iter().find(|(c, _)| *c == call).map(|(_, p)| p.p99()).unwrap_or_default()
    }
    fn ratio(&self, call: Call) -> f64 {
        self.phase(call).rate() / self.phase(Call::Check).rate()
    }
}

async fn run_size(setup: &Setup, size: usize) -> anyhow::Result<SizeRun> {
    let sim = kubesim::Sim::start(kubesim::SimConfig::default()).await?;
    for crd in scalekeeper::crds::all() {
        sim.apply(serde_json::to_value(crd)?)?;
    }
    let t = Instant::now();
    for i in 0..size {
        let ns = format!("team-{:02}", i % NAMESPACES);
        sim.apply(common::deployment(i, &ns))?;
        if i % 10 == 0 {
            sim.apply(json!({"apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy",
                "metadata": {"name": format!("svc-{i:06}"), "namespace": ns},
                "spec": {"replicas": 3, "mode": "Observe"}}))?;
        }
    }
    let seed = t.elapsed();
    let sim_rss = rss_mib("self");
    let client = sim.client().await?;
    let t = Instant::now();
    let listed = kube::runtime::watcher::Config::default().page_size;
    let mut n = 0;
    let mut lp = ListParams::default().limit(listed.unwrap_or(500));
    loop {
        let page = Api::<Deployment>::all(client.clone()).list_metadata(&lp).await?;
        n += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    let sim_list = t.elapsed();
    anyhow::ensure!(n == size, "kubesim listed {n} Deployments, seeded {size}");
    println!(
        "[{size}] kubesim: seeded in {seed:.1?}; bench process (kubesim + clients) RSS {:.0} MiB; list of {size} (metadata, pages of 500) {sim_list:.1?}",
        sim_rss.unwrap_or(0.0)
    );
    let kubeconfig = setup.dir.path().join(format!("kubeconfig-{size}"));
    sim.write_kubeconfig(&kubeconfig)?;

    let first = start_replica(setup, &kubeconfig, "bench-a").await?;
    let second = start_replica(setup, &kubeconfig, "bench-b").await?;
    // The first to start takes the Lease; wait until exactly one says it leads.
    let t = Instant::now();
    let (leader, follower) = loop {
        match (probe::leader_gauge(first.http).await, probe::leader_gauge(second.http).await) {
            (Some(1), Some(0)) => break (first, second),
            (Some(0), Some(1)) => break (second, first),
            _ if t.elapsed() > Duration::from_secs(60) => anyhow::bail!("no single leader after 60 s"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    println!(
        "[{size}] leader ready {:.2?} after start, RSS {:.1} MiB; follower ready {:.2?}, RSS {:.1} MiB",
        leader.ready_after,
        leader.rss_ready.unwrap_or(0.0),
        follower.ready_after,
        follower.rss_ready.unwrap_or(0.0)
    );

    if let Some((server_cpus, other_cpus)) = &setup.pinning {
        pin(&leader.child.pid(), server_cpus)?;
        pin(&follower.child.pid(), other_cpus)?;
    }

    // The leader first looks at every policy (status writes, Events); measuring during that
    // would charge its work to the calls.
    let t = Instant::now();
    let leader_pid = leader.child.pid();
    loop {
        let before = cpu_seconds(&leader_pid, setup.ticks).unwrap_or(0.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let used = cpu_seconds(&leader_pid, setup.ticks).unwrap_or(0.0) - before;
        if used < SETTLED_CORES || t.elapsed() > Duration::from_secs(300) {
            break;
        }
    }
    let settled = t.elapsed();
    let rss_synced = (rss_mib(&leader_pid), rss_mib(&follower.child.pid()));
    println!(
        "[{size}] leader settled (CPU < {SETTLED_CORES} cores) {settled:.1?} after ready; RSS leader {}, follower {}",
        mib(rss_synced.0),
        mib(rss_synced.1)
    );

    let mut channels = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        channels.push(
            Endpoint::from_shared(format!("https://localhost:{}", leader.grpc_port))?
                .tls_config(setup.tls.clone())?
                .connect()
                .await?,
        );
    }
    let server = leader.child.pid();
    let mut phases = vec![];
    for call in Call::ALL {
        load(&channels, call, size, WARMUP, &server, setup.ticks).await?;
        let p = load(&channels, call, size, setup.duration, &server, setup.ticks).await?;
        anyhow::ensure!(!p.latencies.is_empty(), "[{size}] no {} succeeded ({} errors)", call.name(), p.errors);
        println!(
            "[{size}] {:<22} {:>8.0} calls/s  p50 {:>9.2?}  p99 {:>9.2?}  items/call {:>5.0}  errors {}  server cpu {} ({:.0} µs/call)  bench cpu {}",
            call.name(),
            p.rate(),
            percentile(&p.latencies, 0.5),
            p.p99(),
            p.items as f64 / p.latencies.len() as f64,
            p.errors,
            cores(p.server_cpu, p.elapsed),
            p.server_us_per_call().unwrap_or(f64::NAN),
            cores(p.bench_cpu, p.elapsed),
        );
        phases.push((call, p));
    }
    let mut alone = vec![];
    for call in [Call::Get, Call::List] {
        let p = load(&channels[..1], call, size, setup.duration, &server, setup.ticks).await?;
        println!(
            "[{size}] {:<22} one client: p50 {:>9.2?}  p99 {:>9.2?}  ({} calls)",
            call.name(),
            percentile(&p.latencies, 0.5),
            p.p99(),
            p.latencies.len()
        );
        alone.push((call, p));
    }
    let run = SizeRun {
        size,
        seed,
        sim_rss,
        sim_list,
        leader: (leader.ready_after, leader.rss_ready, rss_mib(&leader.child.pid())),
        follower: (follower.ready_after, follower.rss_ready, rss_mib(&follower.child.pid())),
        settled,
        rss_synced,
        phases,
        alone,
    };
    drop((leader, follower, channels));
    sim.shutdown().await;
    Ok(run)
}

fn mib(v: Option<f64>) -> String {
    v.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "n/a".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The summary, as Markdown: the method line, the goals table, the growth curve.
fn summary(setup: &Setup, runs: &[SizeRun], drift: Option<String>, binary_mb: f64) -> String {
    let mut s = String::new();
    let date = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z");
    let _ = writeln!(s, "Last `make bench` run: {date}; {}.", common::machine());
    let cores = match &setup.pinning {
        Some((server, other)) => format!(
            "the leader pinned to CPU {server} once elected; kubesim, the clients and the follower to CPUs {other} (taskset)"
        ),
        None => "kubesim and the clients share this machine's cores with the two servers".into(),
    };
    let _ = writeln!(
        s,
        "Binary `{}` ({binary_mb:.1} MB); {CLIENTS} clients over mTLS on the leader, {:.0?} per call after a {WARMUP:.0?} warm-up; {cores} (CPU use per row in the run's output).",
        setup.bin.strip_prefix(&setup.root).unwrap_or(&setup.bin).display(),
        setup.duration
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "| figure | measured | goal |");
    let _ = writeln!(s, "|---|---|---|");
    let at = |n: usize| runs.iter().find(|r| r.size == n);
    let main = at(10_000).or(runs.last());
    if let Some(r) = main {
        let n = r.size;
        for call in [Call::Get, Call::List, Call::Diff] {
            let goal = if call == Call::Get { "≥ 0.95" } else { "—" };
            let _ = writeln!(
                s,
                "| {} / health Check calls/s, {n} Deployments | {:.0} / {:.0} = **{:.2}** | {goal} |",
                call.name(),
                r.phase(call).rate(),
                r.phase(Call::Check).rate(),
                r.ratio(call)
            );
        }
        let us = |call: Call| r.phase(call).server_us_per_call().unwrap_or(f64::NAN);
        let _ = writeln!(
            s,
            "| leader CPU per call, GetDeployment / health Check, {n} Deployments | {:.0} µs / {:.0} µs = **{:.2}** | — |",
            us(Call::Get),
            us(Call::Check),
            us(Call::Check) / us(Call::Get)
        );
        let _ = writeln!(
            s,
            "| `serve` RSS, {n} Deployments, after sync: leader / follower (after the load on the leader) | {} / {} ({}) | ≤ 48 MiB each |",
            mib(r.rss_synced.0),
            mib(r.rss_synced.1),
            mib(r.leader.2)
        );
    }
    if let Some(r) = at(10_000) {
        let _ = writeln!(
            s,
            "| ready after start, 10,000 (leader, follower) | {:.2?}, {:.2?} | ≤ 1 s |",
            r.leader.0, r.follower.0
        );
    }
    if let Some(r) = at(100_000) {
        let _ = writeln!(
            s,
            "| ready after start, 100,000 (leader, follower); RSS | {:.1?}, {:.1?}; {} / {} | ≤ 10 s, ≤ 300 MiB |",
            r.leader.0,
            r.follower.0,
            mib(r.leader.2),
            mib(r.follower.2)
        );
        let _ = writeln!(
            s,
            "| ListDeployments page of 500 at 100,000, p99: one client / {CLIENTS} clients | {} / {} | ≤ 5 ms |",
            ms(r.alone(Call::List)),
            ms(r.phase(Call::List).p99())
        );
    }
    let _ = writeln!(
        s,
        "| drift correction p99 / floor | {} | ≤ 1.5× |",
        drift.as_deref().unwrap_or("not run (drift_bench)")
    );
    let _ = writeln!(
        s,
        "| binary (`{}`) | {binary_mb:.1} MB | ≤ 15 MB |",
        setup.bin.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Growth curve (leader unless said; p99 per call, a List or Diff call is one page of 500):");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| Deployments | ready: leader / follower | leader settled | RSS after load: leader / follower | Get p99: 1 / {CLIENTS} clients | Get / Check | List p99: 1 / {CLIENTS} clients | List / Check | Diff p99 | kubesim: seed, RSS, list |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let _ = writeln!(
            s,
            "| {} | {:.2?} / {:.2?} | {:.1?} | {} / {} | {} / {} | {:.2} | {} / {} | {:.2} | {} | {:.1?}, {}, {:.2?} |",
            r.size,
            r.leader.0,
            r.follower.0,
            r.settled,
            mib(r.leader.2),
            mib(r.follower.2),
            ms(r.alone(Call::Get)),
            ms(r.phase(Call::Get).p99()),
            r.ratio(Call::Get),
            ms(r.alone(Call::List)),
            ms(r.phase(Call::List).p99()),
            r.ratio(Call::List),
            ms(r.phase(Call::Diff).p99()),
            r.seed,
            mib(r.sim_rss),
            r.sim_list,
        );
    }
    s
}

/// Replaces the summary between the markers in `docs/benchmarks.md`.
fn write_doc(path: &Path, summary: &str) -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(a), Some(b)) = (doc.find(BEGIN), doc.find(END)) else {
        anyhow::bail!("{} has no {BEGIN} … {END} markers", path.display());
    };
    let new = format!("{}{BEGIN}\n{summary}{}", &doc[..a], &doc[b..]);
    std::fs::write(path, new)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = common::workspace_root();
    let bin = common::server_binary(&root)?;
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().context("BENCH_SIZES: comma-separated counts"))
        .collect::<anyhow::Result<_>>()?;
    let seconds: u64 = std::env::var("BENCH_SECONDS").map(|s| s.parse()).unwrap_or(Ok(5)).context("BENCH_SECONDS")?;

    let dir = tempfile::tempdir()?;
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["bench".into()], 1)?;
    let (_, cert, key) = certs.clients[0].clone();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca)?))
        .identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?))
        .domain_name("localhost");
    let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let pinning = (cpus >= 2 && std::env::var("BENCH_PIN").as_deref() != Ok("0"))
        .then(|| ("0".to_string(), format!("1-{}", cpus - 1)));
    if let Some((_, other)) = &pinning {
        pin("self", other)?;
    }
    let setup = Setup {
        pinning,
        root: root.clone(),
        bin,
        dir,
        certs,
        tls,
        ticks: clock_ticks(),
        duration: Duration::from_secs(seconds),
    };

    let mut runs = vec![];
    for size in sizes {
        runs.push(run_size(&setup, size).await?);
    }
    let drift = std::fs::read_to_string(root.join("target/bench/drift.txt")).ok().map(|s| s.trim().to_string());
    let binary_mb = std::fs::metadata(&setup.bin).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
    let summary = summary(&setup, &runs, drift, binary_mb);
    println!("\n{summary}");
    if std::env::var("BENCH_WRITE_DOC").as_deref() != Ok("0") {
        let doc = root.join("docs/benchmarks.md");
        write_doc(&doc, &summary)?;
        println!("(written to {})", doc.display());
    }
    Ok(())
}
