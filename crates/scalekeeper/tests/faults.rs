//! The fault matrix: what `scalekeeper serve` must survive without a restart, run against
//! kubesim (`make test`) and against a real kube-apiserver (`make test-real`, which sets
//! `SCALEKEEPER_TEST_KUBECONFIG`, and `SCALEKEEPER_REALKUBE` = `hack/realkube.sh` for the rows
//! that stop and start the API server process).
//!
//! Every replica is a `scalekeeper serve` process that reaches the API server through a TCP
//! proxy of its own ([`proxy::Proxy`]), so a test can partition one replica, cut its watches
//! or slow its traffic without touching the server or the other replicas. Each row checks:
//!
//! - **no declared state lost**: the ReplicaPolicy still declares [`DECLARED`] at the end;
//! - **drift corrected**: a drift made during or after the fault is undone within
//!   [`RECOVERY`] (5 s) of the API answering again; the time is printed (`recovered in`);
//! - **health**: `/readyz` is 503 while a replica cannot reach the API, 200 again after;
//! - **the Lease invariant**, sampled every 100 ms for the whole test by [`Monitor`]: a replica
//!   that holds the Lease is reconciling (`scalekeeper_leader 1`), a replica that is reconciling
//!   holds the Lease (as the API shows it, or as it was last seen while the API is unreachable:
//!   never past the end of that term), and never two at once.
//!
//! | row | kubesim | real kube-apiserver |
//! |---|---|---|
//! | API server down 30 s, one replica / two; a count declared through scalekeeper the moment it is back, then drifted | `Sim::go_down` / `come_up` | `realkube.sh apiserver-stop` / `apiserver-start` |
//! | watches get 410 Gone and must re-list | cut off, > history of writes (history 100) | cut off, > 100 writes (the watch cache's default size) |
//! | watch connections cut every 3 s for 60 s | proxy reset | proxy reset |
//! | 2 s latency on every request | kubesim latency | proxy delays every chunk 2 s |
//! | 429 and 503 bursts with Retry-After | kubesim faults | not injectable into TLS traffic: kubesim only |
//! | leader SIGKILLed | process kill | process kill |
//! | leader partitioned (black-holed) | its proxy | its proxy |
//! | Deployment re-created while cut off | UID pin | UID pin |
//!
//! Rows that stop the real API server hold [`EXCLUSIVE`] for writing; the others for reading,
//! so they never overlap an outage that is not theirs.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/probe.rs"]
mod probe;
#[path = "support/proxy.rs"]
mod proxy;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use proxy::{Link, Proxy};
use scalekeeper::policy::{PolicyMode, ReplicaPolicy, ReplicaPolicySpec};
use serde_json::json;
use testkit::{Child, Stdout, wait_for_async};

/// The managed Deployment.
const NAME: &str = "web";
/// The declared count.
const DECLARED: i64 = 3;
/// What a drift sets `spec.replicas` to.
const DRIFTED: i64 = 7;
/// The longest a drift may stand once the API answers again.
const RECOVERY: Duration = Duration::from_secs(5);
/// How long the API server is down in the outage rows.
const OUTAGE: Duration = Duration::from_secs(30);
/// The field manager of the drifts the tests make.
const DRIFTER: &str = "fault-test";
/// Polling period of waits.
const POLL: Duration = Duration::from_millis(20);
/// The Deployment declared through scalekeeper right after an outage.
const FRESH: &str = "fresh";
/// The count it is declared at.
const FRESH_DECLARED: i64 = 2;
/// The usual bound on a drift's correction with the API server answering: a drift of a
/// declaration made right after an outage must meet it too (issue 23: its watch could take
/// seconds to bring the new policy).
const USUAL: Duration = Duration::from_secs(2);

/// Serializes the rows that stop the (shared) real API server against every other row. On
/// kubesim every row has a server of its own and nothing is serialized.
static EXCLUSIVE: LazyLock<tokio::sync::RwLock<()>> = LazyLock::new(|| tokio::sync::RwLock::new(()));

/// Holds [`EXCLUSIVE`] for writing on a real API server: for a row that stops it.
async fn exclusive() -> Option<tokio::sync::RwLockWriteGuard<'static, ()>> {
    match cluster::real_kubeconfig() {
        Some(_) => Some(EXCLUSIVE.write().await),
        None => None,
    }
}

/// Holds [`EXCLUSIVE`] for reading on a real API server: for a row that needs it running.
async fn shared() -> Option<tokio::sync::RwLockReadGuard<'static, ()>> {
    match cluster::real_kubeconfig() {
        Some(_) => Some(EXCLUSIVE.read().await),
        None => None,
    }
}

// === the API server ===

/// The API server under test.
enum Target {
    Sim(kubesim::Sim),
    Real,
}

impl Target {
    fn is_real(&self) -> bool {
        matches!(self, Target::Real)
    }

    /// Stops the API server (the whole of it, for every replica).
    async fn go_down(&self) {
        match self {
            Target::Sim(sim) => sim.go_down().await,
            Target::Real => realkube("apiserver-stop"),
        }
    }

    /// Starts it again and waits until it answers.
    async fn come_up(&self) {
        match self {
            Target::Sim(sim) => sim.come_up().await.expect("kubesim comes back up"),
            Target::Real => realkube("apiserver-start"),
        }
    }
}

/// Runs `hack/realkube.sh CMD` (from `SCALEKEEPER_REALKUBE`).
fn realkube(cmd: &str) {
    let script = std::env::var("SCALEKEEPER_REALKUBE")
        .expect("SCALEKEEPER_REALKUBE (the path of hack/realkube.sh) is needed to stop and start the real API server");
    let out = Command::new(&script).arg(cmd).output().unwrap_or_else(|e| panic!("running {script} {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{script} {cmd} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `host:port` of the `server:` URL of a kubeconfig.
fn server_addr(kubeconfig: &str) -> SocketAddr {
    let url = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .expect("a server: line in the kubeconfig")
        .trim()
        .trim_matches('"');
    let hostport = url.split_once("://").map_or(url, |(_, r)| r).trim_end_matches('/');
    hostport.replace("localhost", "127.0.0.1").parse().unwrap_or_else(|e| panic!("server {url}: {e}"))
}

// === one scalekeeper replica ===

struct Replica {
    identity: String,
    child: Option<Child>,
    proxy: Proxy,
    http: SocketAddr,
    grpc: SocketAddr,
    log: PathBuf,
}

impl Replica {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Lease timing of a world's replicas.
#[derive(Clone, Copy)]
struct LeaseTiming {
    duration: u64,
    grace: u64,
}

/// Short terms, so the rows finish quickly: a dead leader is replaced within 4 s.
const SHORT: LeaseTiming = LeaseTiming { duration: 4, grace: 2 };
/// The production defaults (15 s, renew 10 s before the end), for the slow-API row.
const DEFAULTS: LeaseTiming = LeaseTiming { duration: 15, grace: 10 };

/// The API server, a namespace of the test's own with `web` declared at [`DECLARED`], and
/// `scalekeeper serve` replicas each behind its own proxy.
struct World {
    target: Target,
    client: kube::Client,
    ns: String,
    replicas: Vec<Replica>,
    timing: LeaseTiming,
    dir: tempfile::TempDir,
    certs: scalekeeper::certs::DevCerts,
    _namespaces: Option<cluster::Namespaces>,
}

impl World {
    async fn start(replicas: usize, timing: LeaseTiming, sim_history: usize) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let ns = cluster::unique_name("faults");
        let (target, client, kubeconfig_text, namespaces) = match cluster::real_kubeconfig() {
            Some(kubeconfig) => {
                let client = cluster::client_for(&kubeconfig).await;
                for crd in scalekeeper::crds::all() {
                    cluster::install_crd(&client, serde_json::to_value(crd).unwrap()).await;
                }
                let guard = cluster::create_namespaces(&client, &kubeconfig, std::slice::from_ref(&ns)).await;
                let text = std::fs::read_to_string(&kubeconfig).unwrap();
                (Target::Real, client, text, Some(guard))
            }
            None => {
                let sim = kubesim::Sim::start(kubesim::SimConfig {
                    deployment_delay: Duration::from_millis(20),
                    history: sim_history,
                    ..Default::default()
                })
                .await
                .expect("kubesim starts");
                for crd in scalekeeper::crds::all() {
                    sim.apply(serde_json::to_value(crd).unwrap()).unwrap();
                }
                sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).unwrap();
                let client = sim.client().await.unwrap();
                let text = sim.kubeconfig_yaml();
                (Target::Sim(sim), client, text, None)
            }
        };
        let d = cluster::create_deployment(&client, cluster::deployment(&ns, NAME, DECLARED, &[])).await;
        let policy = ReplicaPolicy::new(
            NAME,
            ReplicaPolicySpec {
                replicas: DECLARED as i32,
                mode: PolicyMode::Enforce,
                deployment_uid: d.metadata.uid,
                ..Default::default()
            },
        );
        Api::<ReplicaPolicy>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &policy)
            .await
            .expect("the ReplicaPolicy is created");

        let upstream = server_addr(&kubeconfig_text);
        let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["t".into()], 1).unwrap();
        let mut world =
            World { target, client, ns, replicas: vec![], timing, dir, certs: certs.clone(), _namespaces: namespaces };
        for i in 0..replicas {
            let identity = format!("replica-{i}");
            let proxy = Proxy::start(upstream).await;
            let kubeconfig = world.dir.path().join(format!("{identity}.kubeconfig"));
            std::fs::write(&kubeconfig, kubeconfig_text.replace(&upstream.to_string(), &proxy.addr.to_string()))
                .unwrap();
            let log = world.dir.path().join(format!("{identity}.log"));
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
            cmd.arg("serve")
                // Authorization has its own suite (tests/authz.rs).
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
                .args(["--namespace", &world.ns, "--lease-namespace", &world.ns, "--lease-name", "scalekeeper"])
                .args(["--identity", &identity, "--log-format", "text", "--stale-after", "2s"])
                .args(["--lease-duration", &timing.duration.to_string()])
                .args(["--lease-renew-grace", &timing.grace.to_string()])
                .args(["--flap-max-corrections", "1000", "--drain-timeout", "2s"])
                .env(
                    "RUST_LOG",
                    std::env::var("FAULTS_LOG")
                        .unwrap_or_else(|_| "info,kube=warn,tower=warn,h2=warn,hyper=warn".into()),
                )
                .env("NO_COLOR", "1");
            let child = Child::spawn(&identity, &mut cmd, &log, Stdout::Discard);
            let unbound = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let mut r = Replica { identity, child: Some(child), proxy, http: unbound, grpc: unbound, log };
            (r.http, r.grpc) = addrs(&mut r).await;
            world.replicas.push(r);
        }
        for r in &world.replicas {
            testkit::wait_http_ok(r.http, "/readyz", Duration::from_secs(30), POLL).await;
        }
        world
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// `spec.replicas` of `web`: from kubesim's store (untouched by the faults it injects), or
    /// from the real API server if it answers within a second.
    async fn spec_replicas(&self) -> Option<i64> {
        self.spec_replicas_of(NAME).await
    }

    /// `spec.replicas` of the Deployment `name`, as [`World::spec_replicas`] reads it.
    async fn spec_replicas_of(&self, name: &str) -> Option<i64> {
        match &self.target {
            Target::Sim(sim) => sim.get("apps/v1", "Deployment", &self.ns, name)?["spec"]["replicas"].as_i64(),
            Target::Real => {
                let d = tokio::time::timeout(Duration::from_secs(1), self.deployments().get(name)).await.ok()?.ok()?;
                d.spec?.replicas.map(i64::from)
            }
        }
    }

    /// Scales `web` to `to` behind scalekeeper's back: on kubesim straight into its store (so
    /// an injected fault or an outage cannot stop the test's own write), on a real server a
    /// merge PATCH by [`DRIFTER`].
    async fn drift(&self, to: i64) {
        self.drift_of(NAME, to).await;
    }

    /// Scales the Deployment `name` to `to` as [`World::drift`] does.
    async fn drift_of(&self, name: &str, to: i64) {
        match &self.target {
            Target::Sim(sim) => {
                let mut d = sim.get("apps/v1", "Deployment", &self.ns, name).expect("the Deployment exists");
                d["spec"]["replicas"] = json!(to);
                // Unconditional, as `kubectl scale` is: the Deployment controller or the
                // reconciler may write the Deployment between the read and this write, and a
                // 409 on the resourceVersion read would fail the test, not the server.
                if let Some(meta) = d["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                }
                sim.apply(d).expect("kubesim takes the drift");
            }
            Target::Real => {
                cluster::patch_replicas(&self.client, &self.ns, name, to, DRIFTER).await;
            }
        }
    }

    /// Waits until `web` is back at [`DECLARED`]; returns how long that took from `since`.
    async fn corrected(&self, since: Instant, within: Duration, what: &str) -> Duration {
        self.corrected_to(NAME, DECLARED, since, within, what).await
    }

    /// Waits until the Deployment `name` is at `count`; returns how long that took from
    /// `since`, or fails the test naming `what` when it is not within `within`.
    async fn corrected_to(&self, name: &str, count: i64, since: Instant, within: Duration, what: &str) -> Duration {
        let left = (since + within).saturating_duration_since(Instant::now());
        let back = testkit::try_wait_for_async(what, left, POLL, || async {
            self.spec_replicas_of(name).await == Some(count)
        })
        .await;
        if back.is_err() {
            panic!(
                "{what}: {name} not at {count} within {within:?} (spec.replicas {:?})\n{}",
                self.spec_replicas_of(name).await,
                self.logs()
            );
        }
        since.elapsed()
    }

    /// Declares `count` for the Deployment `name` through replica `i`'s API, with the CLI as a
    /// user would (`scalekeeper set`).
    fn declare_through(&self, i: usize, name: &str, count: i64) {
        let (_, cert, key) = &self.certs.clients[0];
        let out = Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
            // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
            .env("SCALEKEEPER_CONFIG", concat!(env!("CARGO_TARGET_TMPDIR"), "/no-client-config.yaml"))
            .args(["set", &format!("{}/{name}", self.ns), &count.to_string()])
            .arg("--server")
            .arg(format!("localhost:{}", self.replicas[i].grpc.port()))
            .arg("--ca")
            .arg(&self.certs.ca)
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .output()
            .expect("the scalekeeper CLI runs");
        assert!(
            out.status.success(),
            "scalekeeper set {name} {count} through {}: {}{}",
            self.replicas[i].identity,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Makes a drift and waits for its correction; the time it took.
    async fn drift_and_recover(&self, within: Duration, what: &str) -> Duration {
        let t = Instant::now();
        self.drift(DRIFTED).await;
        self.corrected(t, within, what).await
    }

    /// Waits until the API server answers this test's own (direct, unproxied) client.
    async fn api_answers(&self) -> Instant {
        wait_for_async("the API server to answer", Duration::from_secs(60), POLL, || async {
            let v = tokio::time::timeout(Duration::from_secs(1), self.client.apiserver_version()).await;
            matches!(v, Ok(Ok(_))).then(Instant::now)
        })
        .await
    }

    async fn readyz(&self, i: usize) -> Option<u16> {
        Some(probe::http_get(self.replicas[i].http, "/readyz").await?.0)
    }

    async fn wait_readyz(&self, i: usize, code: u16, within: Duration) {
        let what = format!("{} /readyz {code}", self.replicas[i].identity);
        wait_for_async(&what, within, POLL, || async { (self.readyz(i).await? == code).then_some(()) }).await;
    }

    async fn gauge(&self, i: usize) -> Option<i64> {
        probe::leader_gauge(self.replicas[i].http).await
    }

    /// Waits until exactly one live replica reports `scalekeeper_leader 1`; its index.
    async fn one_leader(&self, within: Duration) -> usize {
        wait_for_async("exactly one leader", within, POLL, || async {
            let mut leaders = vec![];
            for i in 0..self.replicas.len() {
                if self.replicas[i].child.is_none() {
                    continue;
                }
                if self.gauge(i).await? == 1 {
                    leaders.push(i);
                }
            }
            (leaders.len() == 1).then(|| leaders[0])
        })
        .await
    }

    /// The declared count in the ReplicaPolicy.
    async fn declared(&self) -> i64 {
        let p = Api::<ReplicaPolicy>::namespaced(self.client.clone(), &self.ns).get(NAME).await.unwrap();
        i64::from(p.spec.replicas)
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.replicas[i].child.take() {
            c.kill();
        }
    }

    fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| format!("--- {} (last 60 lines)\n{}", r.identity, testkit::tail(&r.log_text(), 60)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts sampling the Lease invariant, once the Lease has been read.
    async fn monitor(&self) -> Monitor {
        Monitor::start(self).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for i in 0..self.replicas.len() {
            self.kill(i);
        }
    }
}

/// The HTTP and gRPC addresses a replica bound, from its `serving grpc=… http=…` log line.
async fn addrs(r: &mut Replica) -> (SocketAddr, SocketAddr) {
    let child = r.child.as_mut().expect("running");
    child
        .wait_until_async("it to log its addresses", Duration::from_secs(30), POLL, |c| {
            let log = c.log();
            let addrs = probe::logged_http_addr(&log).zip(probe::logged_grpc_addr(&log));
            async move { addrs }
        })
        .await
}

// === the Lease invariant ===

/// Samples, every 100 ms, each live replica's `scalekeeper_leader` and the Lease (read
/// directly, not through the replicas' proxies), and records every breach of the invariant
/// that lasts longer than its tolerance:
///
/// - two replicas at `scalekeeper_leader 1` at once (no tolerance beyond one sample);
/// - a replica at 1 while the Lease names another holder, or past the end of its term as the
///   Lease shows it (or, while the API is unreachable, as it was last seen) — 300 ms, the
///   sampling skew between the gauge and the Lease;
/// - the Lease names a live replica with more than the safety margin of its term left, but
///   that replica is at 0 — 1.5 s, for the watch event and the reconciler start that follow
///   an acquisition.
struct Monitor {
    violations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Probe {
    identity: String,
    http: SocketAddr,
}

impl Monitor {
    async fn start(world: &World) -> Monitor {
        let probes: Vec<Probe> =
            world.replicas.iter().map(|r| Probe { identity: r.identity.clone(), http: r.http }).collect();
        let leases = LeaseReader {
            sim: match &world.target {
                Target::Sim(sim) => Some(sim.clone()),
                Target::Real => None,
            },
            api: Api::namespaced(world.client.clone(), &world.ns),
            ns: world.ns.clone(),
        };
        let margin = Duration::from_millis(world.timing.grace * 500);
        let violations = Arc::new(Mutex::new(vec![]));
        let v = violations.clone();
        // The first sample needs the Lease: without it, a leader could not be judged.
        let first = wait_for_async("the Lease to be readable", Duration::from_secs(10), POLL, || async {
            leases.read().await.ok().flatten()
        })
        .await;
        let task = tokio::spawn(async move {
            let mut last_lease = term_of(first); // holder, term end
            let mut since: std::collections::HashMap<String, Instant> = Default::default();
            loop {
                let mut gauges = vec![];
                for p in &probes {
                    gauges.push(probe::leader_gauge(p.http).await);
                }
                let read = leases.read().await;
                let now = SystemTime::now();
                if let Ok(lease) = read {
                    last_lease = lease.and_then(term_of);
                }
                let mut breaches: Vec<(String, Duration, String)> = vec![];
                let leaders: Vec<&Probe> =
                    probes.iter().zip(&gauges).filter(|(_, g)| **g == Some(1)).map(|(p, _)| p).collect();
                if leaders.len() > 1 {
                    let names: Vec<&str> = leaders.iter().map(|p| p.identity.as_str()).collect();
                    breaches.push(("two".into(), Duration::ZERO, format!("replicas {names:?} reconcile at once")));
                }
                for (p, g) in probes.iter().zip(&gauges) {
                    match (&last_lease, g) {
                        (Some((holder, end)), Some(1)) if holder != &p.identity || now > *end => breaches.push((
                            format!("{}-without", p.identity),
                            Duration::from_millis(300),
                            format!(
                                "{} reconciles, but the Lease names {holder} with a term ending {end:?}",
                                p.identity
                            ),
                        )),
                        (None, Some(1)) => breaches.push((
                            format!("{}-without", p.identity),
                            Duration::from_millis(300),
                            format!("{} reconciles, but nobody holds the Lease", p.identity),
                        )),
                        (Some((holder, end)), Some(0))
                            if holder == &p.identity && end.checked_sub(margin).is_some_and(|e| now < e) =>
                        {
                            breaches.push((
                                format!("{}-idle", p.identity),
                                Duration::from_millis(1500),
                                format!("{} holds the Lease (term ends {end:?}) but does not reconcile", p.identity),
                            ))
                        }
                        _ => {}
                    }
                }
                let keys: Vec<String> = breaches.iter().map(|(k, _, _)| k.clone()).collect();
                since.retain(|k, _| keys.contains(k));
                for (key, tolerance, what) in breaches {
                    let first = *since.entry(key).or_insert_with(Instant::now);
                    if first.elapsed() >= tolerance {
                        let mut v = v.lock().unwrap();
                        if v.len() < 20 {
                            v.push(format!("after {:?}: {what}", first.elapsed()));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Monitor { violations, task }
    }

    /// Stops sampling and fails the test if the invariant was ever breached.
    fn check(self, world: &World) {
        self.task.abort();
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "the Lease invariant was breached:\n{}\n{}", v.join("\n"), world.logs());
    }
}

/// Reads the Lease `scalekeeper`: from kubesim's store (untouched by the faults it injects,
/// readable while it is down), or from the real API server within 500 ms.
struct LeaseReader {
    sim: Option<kubesim::Sim>,
    api: Api<Lease>,
    ns: String,
}

impl LeaseReader {
    /// The Lease (`None`: it does not exist), or `Err` when the API server did not answer.
    async fn read(&self) -> Result<Option<Lease>, ()> {
        match &self.sim {
            Some(sim) => Ok(sim
                .get("coordination.k8s.io/v1", "Lease", &self.ns, "scalekeeper")
                .map(|v| serde_json::from_value(v).expect("a Lease"))),
            None => match tokio::time::timeout(Duration::from_millis(500), self.api.get_opt("scalekeeper")).await {
                Ok(Ok(lease)) => Ok(lease),
                _ => Err(()),
            },
        }
    }
}

/// The holder of a Lease and the end of its term (`renewTime` + `leaseDurationSeconds`).
fn term_of(l: Lease) -> Option<(String, SystemTime)> {
    let s = l.spec?;
    let renewed = s.renew_time.or(s.acquire_time)?;
    let end =
        SystemTime::from(renewed.0).checked_add(Duration::from_secs(u64::try_from(s.lease_duration_seconds?).ok()?))?;
    Some((s.holder_identity?, end))
}

// === the rows ===

/// The API server is down for [`OUTAGE`]: readiness drops, nothing crashes; when it is back
/// the same replicas (no restart) are ready again, one of them leads, and drift is corrected.
async fn api_down_then_back(replicas: usize) {
    let _exclusive = exclusive().await;
    let w = World::start(replicas, SHORT, 100_000).await;
    cluster::create_deployment(&w.client, cluster::deployment(&w.ns, FRESH, 1, &[])).await;
    w.one_leader(Duration::from_secs(10)).await;
    let monitor = w.monitor().await;
    w.go_down().await;
    for i in 0..replicas {
        w.wait_readyz(i, 503, Duration::from_secs(5)).await;
    }
    // Every replica stops leading before the term it last renewed ends.
    wait_for_async("no replica leads during the outage", Duration::from_secs(SHORT.duration + 1), POLL, || async {
        for i in 0..replicas {
            if w.gauge(i).await? != 0 {
                return None;
            }
        }
        Some(())
    })
    .await;
    tokio::time::sleep(OUTAGE.saturating_sub(Duration::from_secs(SHORT.duration + 1))).await;
    // On kubesim, a drift made while the API is down for everyone else (written to its store
    // directly); on the real server nothing can be written while it is down, so the drift is
    // made the moment it answers again.
    if !w.target.is_real() {
        w.drift(DRIFTED).await;
    }
    w.target.come_up().await;
    let back = w.api_answers().await;
    if w.target.is_real() {
        w.drift(DRIFTED).await;
    }
    let took = w.corrected(back, RECOVERY, "drift across the outage").await;
    eprintln!("api down {OUTAGE:?}, {replicas} replica(s): recovered in {took:?} after the API answered again");
    for i in 0..replicas {
        w.wait_readyz(i, 200, RECOVERY).await;
    }
    let leader = w.one_leader(RECOVERY).await;
    // A count declared through scalekeeper the moment it is ready again, then drifted: the
    // leader must correct it within the usual bound, not once a lagging watch re-lists.
    w.declare_through(leader, FRESH, FRESH_DECLARED);
    let t = Instant::now();
    w.drift_of(FRESH, 9).await;
    let fresh = w.corrected_to(FRESH, FRESH_DECLARED, t, USUAL, "drift of a count declared after the outage").await;
    eprintln!("api down, {replicas} replica(s): a count declared after the outage, drifted, corrected in {fresh:?}");
    let again = w.drift_and_recover(RECOVERY, "drift after the outage").await;
    eprintln!("api down, {replicas} replica(s): a later drift corrected in {again:?}");
    assert_eq!(w.declared().await, DECLARED, "the declared count survived");
    for r in &w.replicas {
        assert!(!r.log_text().contains("panicked"), "{} panicked:\n{}", r.identity, r.log_text());
    }
    monitor.check(&w);
}

impl World {
    async fn go_down(&self) {
        self.target.go_down().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_down_30s_then_back_one_replica() {
    api_down_then_back(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_down_30s_then_back_two_replicas() {
    api_down_then_back(2).await;
}

/// Cut off while more changes happen than the server keeps for watches to resume from:
/// the watches get 410 Gone and must re-list (kubesim keeps 100 here; a real API server's
/// watch cache keeps 100 per resource by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_get_410_gone_and_relist() {
    let _shared = shared().await;
    let w = World::start(1, SHORT, 100).await;
    w.one_leader(Duration::from_secs(10)).await;
    let monitor = w.monitor().await;
    w.replicas[0].proxy.set(Link::Cut);
    w.wait_readyz(0, 503, Duration::from_secs(5)).await;
    // Churn on a Deployment of our own, then the drift.
    cluster::create_deployment(&w.client, cluster::deployment(&w.ns, "churn", 1, &[])).await;
    let churn = w.deployments();
    for i in 0..150 {
        let patch = json!({"metadata": {"annotations": {"churn": i.to_string()}}});
        churn.patch("churn", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }
    w.drift(DRIFTED).await;
    w.replicas[0].proxy.set(Link::Pass);
    let back = Instant::now();
    let took = w.corrected(back, RECOVERY, "drift made while the watches fell out of history").await;
    eprintln!("410 Gone: recovered in {took:?} after reconnecting");
    w.wait_readyz(0, 200, RECOVERY).await;
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}

/// Every watch connection is cut every 3 s for a minute; drifts keep being corrected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_connections_cut_every_3s_for_a_minute() {
    let _shared = shared().await;
    let w = World::start(2, SHORT, 100_000).await;
    w.one_leader(Duration::from_secs(10)).await;
    let monitor = w.monitor().await;
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    let mut drifts = 0;
    while start.elapsed() < Duration::from_secs(60) {
        for r in &w.replicas {
            r.proxy.reset();
        }
        // A drift right after the cut: the watches are re-establishing.
        let took = w.drift_and_recover(RECOVERY, "drift right after a cut").await;
        worst = worst.max(took);
        drifts += 1;
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(took)).await;
    }
    eprintln!("watch cuts every 3 s for 60 s: {drifts} drifts, slowest correction {worst:?}");
    w.one_leader(RECOVERY).await;
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}

/// 2 s of latency on every request (production Lease timing: renewals take 2 s and still land
/// inside the term): drift is still corrected, no replica steps down, and once the latency
/// is gone corrections are fast again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_seconds_latency_on_every_request() {
    let _shared = shared().await;
    let w = World::start(2, DEFAULTS, 100_000).await;
    let leader = w.one_leader(Duration::from_secs(20)).await;
    let monitor = w.monitor().await;
    let slow = Duration::from_secs(2);
    match &w.target {
        Target::Sim(sim) => sim.set_faults(kubesim::FaultSpec { latency_ms: 2000, ..Default::default() }),
        Target::Real => w.replicas.iter().for_each(|r| r.proxy.set(Link::Slow(slow))),
    }
    let took = w.drift_and_recover(Duration::from_secs(30), "drift under 2 s latency").await;
    eprintln!("2 s latency: drift corrected in {took:?}");
    // The same replica still leads: renewals got through within the term.
    tokio::time::sleep(Duration::from_secs(DEFAULTS.duration)).await;
    assert_eq!(w.gauge(leader).await, Some(1), "the leader stepped down under latency\n{}", w.logs());
    match &w.target {
        Target::Sim(sim) => sim.set_faults(kubesim::FaultSpec::default()),
        Target::Real => w.replicas.iter().for_each(|r| r.proxy.set(Link::Pass)),
    }
    let back = w.api_answers().await;
    w.drift(DRIFTED).await;
    let fast = w.corrected(back, RECOVERY, "drift after the latency ended").await;
    eprintln!("2 s latency ended: drift corrected in {fast:?}");
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}

/// Bursts of 429 and 503 with Retry-After (kubesim only: a status cannot be injected into a
/// real server's TLS traffic from outside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_429_and_503_with_retry_after() {
    if cluster::real_kubeconfig().is_some() {
        eprintln!("skipped on a real API server: HTTP statuses cannot be injected into its TLS traffic");
        return;
    }
    let _shared = shared().await;
    let w = World::start(2, SHORT, 100_000).await;
    w.one_leader(Duration::from_secs(10)).await;
    let monitor = w.monitor().await;
    let Target::Sim(sim) = &w.target else { unreachable!() };
    for status in [429, 503, 429, 503] {
        sim.set_faults(kubesim::FaultSpec {
            fail_next: 20,
            fail_status: Some(status),
            retry_after_seconds: Some(1),
            ..Default::default()
        });
        let t = Instant::now();
        w.drift(DRIFTED).await;
        let took = w.corrected(t, Duration::from_secs(15), &format!("drift during a burst of {status}")).await;
        eprintln!("burst of 20 x {status}: drift corrected in {took:?}");
    }
    sim.set_faults(kubesim::FaultSpec::default());
    let took = w.drift_and_recover(RECOVERY, "drift after the bursts").await;
    eprintln!("after the bursts: drift corrected in {took:?}");
    w.one_leader(RECOVERY).await;
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}

/// The leader is SIGKILLed while a drift is pending: the other replica takes the Lease once
/// the dead leader's term ends and corrects the drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_sigkilled() {
    let _shared = shared().await;
    let mut w = World::start(2, SHORT, 100_000).await;
    let leader = w.one_leader(Duration::from_secs(10)).await;
    let monitor = w.monitor().await;
    let t = Instant::now();
    w.kill(leader);
    w.drift(DRIFTED).await;
    let took = w.corrected(t, Duration::from_secs(SHORT.duration) + RECOVERY, "drift after the leader died").await;
    let successor = w.one_leader(RECOVERY).await;
    assert_ne!(successor, leader);
    eprintln!("leader SIGKILLed: the successor corrected the drift {took:?} after the kill (term {}s)", SHORT.duration);
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}

/// The leader is cut off from the API server only (its connections black-holed: requests
/// hang, no error comes back). It must stop reconciling before its term ends; the other
/// replica takes over once the term has ended and corrects drift; never both at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_partitioned_from_the_api_server() {
    let _shared = shared().await;
    let w = World::start(2, SHORT, 100_000).await;
    let leader = w.one_leader(Duration::from_secs(10)).await;
    let other = 1 - leader;
    let monitor = w.monitor().await;
    let t = Instant::now();
    w.replicas[leader].proxy.set(Link::Blackhole);
    wait_for_async("the partitioned leader to step down", Duration::from_secs(SHORT.duration), POLL, || async {
        (w.gauge(leader).await? == 0).then_some(())
    })
    .await;
    let stepped_down = t.elapsed();
    w.drift(DRIFTED).await;
    let took = w.corrected(t, Duration::from_secs(SHORT.duration) + RECOVERY, "drift after the partition").await;
    assert_eq!(w.one_leader(RECOVERY).await, other);
    eprintln!(
        "leader partitioned: it stepped down after {stepped_down:?}, the other corrected a drift {took:?} after the \
         partition began (term {}s)",
        SHORT.duration
    );
    w.wait_readyz(leader, 503, Duration::from_secs(5)).await;
    // Healed: it comes back as a follower.
    w.replicas[leader].proxy.set(Link::Pass);
    w.wait_readyz(leader, 200, RECOVERY).await;
    assert_eq!(w.one_leader(RECOVERY).await, other);
    let again = w.drift_and_recover(RECOVERY, "drift after the partition healed").await;
    eprintln!("partition healed: drift corrected in {again:?}");
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}

/// While scalekeeper is cut off, the Deployment is deleted and re-created under the same
/// name: the policy pins the old UID, so the new Deployment is reported, never scaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_recreated_while_cut_off_is_never_scaled() {
    let _shared = shared().await;
    let w = World::start(1, SHORT, 100_000).await;
    w.one_leader(Duration::from_secs(10)).await;
    let monitor = w.monitor().await;
    w.replicas[0].proxy.set(Link::Cut);
    w.wait_readyz(0, 503, Duration::from_secs(5)).await;
    let old_uid = w.deployments().get(NAME).await.unwrap().metadata.uid;
    w.deployments().delete(NAME, &DeleteParams::background()).await.unwrap();
    wait_for_async("the old Deployment to be gone", Duration::from_secs(30), POLL, || async {
        w.deployments().get_opt(NAME).await.ok()?.is_none().then_some(())
    })
    .await;
    let recreated = cluster::create_deployment(&w.client, cluster::deployment(&w.ns, NAME, DRIFTED, &[])).await;
    assert_ne!(recreated.metadata.uid, old_uid);
    w.replicas[0].proxy.set(Link::Pass);
    w.wait_readyz(0, 200, RECOVERY).await;
    // The reconciler has looked at it (the policy's status says Conflict) and left it alone.
    let policies: Api<ReplicaPolicy> = Api::namespaced(w.client.clone(), &w.ns);
    wait_for_async("the policy to report a Conflict", RECOVERY, POLL, || async {
        let p = policies.get_opt(NAME).await.ok()??;
        (p.status?.sync_status.as_deref() == Some("Conflict")).then_some(())
    })
    .await;
    assert_eq!(w.spec_replicas().await, Some(DRIFTED), "the re-created Deployment was scaled by a stale policy");
    assert_eq!(w.declared().await, DECLARED);
    monitor.check(&w);
}
