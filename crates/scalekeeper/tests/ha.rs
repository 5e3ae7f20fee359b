//! High availability: two `scalekeeper serve` processes (identities `a` and `b`) against one
//! in-process kubesim, electing a leader on the `default/scalekeeper` Lease — or, with
//! `SCALEKEEPER_TEST_KUBECONFIG` set, against that real cluster (`make test-real`), each test in
//! a namespace of its own (`ha-<suffix>`, deleted at the end) that holds its Deployment and its
//! Lease, with both processes scoped to it (`--namespace`).
//!
//! - exactly one process reports `scalekeeper_leader 1`, and only it corrects drift: every
//!   drift is put back by exactly one scale write (field manager `scalekeeper`; on a real
//!   server, which keeps no write log, exactly one change back to the declared count in a
//!   watch of the Deployment, and the correcting process's log);
//! - SIGTERM: the leader releases the Lease on its way out and the other takes it within a
//!   second, far sooner than the lease duration (15 s);
//! - SIGKILL: the Lease is taken once the dead leader's term (3 s) runs out, and the new
//!   leader corrects drift.
//!
//! On a real cluster without a kubelet no Pod is ever ready, so a reconciled policy is
//! `Progressing` ("0 of 3 replicas ready") where kubesim says `InSync`.
//!
//! Each test starts its own kubesim (or namespace), and processes that bind free ports (port 0; the test
//! reads the addresses from their logs), so the tests run in parallel. Children are
//! SIGKILLed when a test ends (a guard); when one fails, the Lease and the tails of both
//! processes' logs are printed. `HA_LOG` replaces the processes' log filter (keep
//! `scalekeeper=info`; e.g. `info,kube_lease_manager=debug`); `HA_KEEP_LOGS=DIR` copies the
//! logs of a failed test to `DIR`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/probe.rs"]
mod probe;

use probe::http_get;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use testkit::{Child, Stdout, tail, wait_for_async};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubesim::WriteRecord;
use scalekeeper::policy::ReplicaPolicy;
use serde_json::{Value, json};

/// The namespace on kubesim; on a real cluster, the prefix of the test's own.
const NS: &str = "ha";
const NAME: &str = "web";
/// The declared count (and the Deployment's initial one).
const DECLARED: i64 = 3;
/// What drift sets `spec.replicas` to.
const DRIFTED: i64 = 6;
/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(20);
/// Longest any awaited condition may take (unless a test says otherwise).
const WAIT: Duration = Duration::from_secs(15);
/// The field manager of the other actor that drifts the Deployment.
const DRIFTER: &str = "other-controller";

/// One `scalekeeper serve` process.
struct Replica {
    identity: &'static str,
    child: Child,
    http: SocketAddr,
    log: PathBuf,
}

/// kubesim (or a namespace on a real cluster), the two processes and their temp dir; the
/// processes are SIGKILLed on drop.
struct Cluster {
    /// kubesim, when that is the target (its write log is the strongest evidence of writes).
    sim: Option<kubesim::Sim>,
    kube: kube::Client,
    /// The namespace of the Deployment (and, on a real cluster, of the Lease).
    ns: String,
    lease_ns: String,
    replicas: Vec<Replica>,
    /// Every spec.replicas the Deployment had since the start.
    history: cluster::ReplicaLog,
    _namespaces: Option<cluster::Namespaces>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts kubesim (CRD, namespace `ha`, Deployment `ha/web` at 3; on a real cluster: the
    /// CRD, namespace `ha-<suffix>` and its Deployment `web`) and processes `a` and `b` with the
    /// given lease duration and renew grace.
    async fn start(lease_duration_seconds: u64, lease_renew_grace_seconds: u64) -> Cluster {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let crds: Vec<serde_json::Value> =
            scalekeeper::crds::all().into_iter().map(|c| serde_json::to_value(c).unwrap()).collect();
        let (sim, kube, kubeconfig, ns, lease_ns, namespaces) = match cluster::real_kubeconfig() {
            None => {
                let sim = kubesim::Sim::start(kubesim::SimConfig {
                    deployment_delay: Duration::from_millis(20),
                    ..Default::default()
                })
                .await
                .expect("kubesim starts");
                for crd in crds {
                    sim.apply(crd).expect("CRD installs");
                }
                sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).unwrap();
                sim.apply(cluster::deployment(NS, NAME, DECLARED, &[])).unwrap();
                let kubeconfig = dir.path().join("kubeconfig");
                sim.write_kubeconfig(&kubeconfig).unwrap();
                let kube = sim.client().await.unwrap();
                (Some(sim), kube, kubeconfig, NS.to_string(), "default".to_string(), None)
            }
            Some(kubeconfig) => {
                let kube = cluster::client_for(&kubeconfig).await;
                for crd in crds {
                    cluster::install_crd(&kube, crd).await;
                }
                let ns = cluster::unique_name(NS);
                let namespaces = cluster::create_namespaces(&kube, &kubeconfig, std::slice::from_ref(&ns)).await;
                cluster::create_deployment(&kube, cluster::deployment(&ns, NAME, DECLARED, &[])).await;
                (None, kube, kubeconfig, ns.clone(), ns, Some(namespaces))
            }
        };
        let history = cluster::ReplicaLog::start(&kube, &ns, NAME).await;
        let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["t".into()], 1).unwrap();

        let mut replicas = Vec::new();
        for identity in ["a", "b"] {
            let log = dir.path().join(format!("{identity}.log"));
            // Port 0: the process binds free ports and logs them (no race for a port). RBAC has
            // its own suite (tests/authz.rs); a shared cluster: only this test's namespace.
            let scope = sim.is_none().then_some(ns.as_str());
            let bin = std::path::Path::new(env!("CARGO_BIN_EXE_scalekeeper"));
            let mut cmd = probe::replica_command(bin, identity, &certs, &kubeconfig, scope, &lease_ns);
            cmd.args(["--lease-duration", &lease_duration_seconds.to_string()])
                .args(["--lease-renew-grace", &lease_renew_grace_seconds.to_string()])
                // Several drifts in a row are the test, not a flapping field manager.
                .args(["--flap-max-corrections", "100"])
                .env(
                    "RUST_LOG",
                    std::env::var("HA_LOG").unwrap_or_else(|_| "info,kube=warn,tower=warn,h2=warn,hyper=warn".into()),
                );
            let child = Child::spawn(identity, &mut cmd, &log, Stdout::Discard);
            replicas.push(Replica { identity, child, http: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), log });
        }
        let mut cluster = Cluster { sim, kube, ns, lease_ns, replicas, history, _namespaces: namespaces, _dir: dir };
        for i in 0..cluster.replicas.len() {
            let http = cluster.http_addr(i).await;
            cluster.replicas[i].http = http;
            testkit::wait_http_ok(http, "/readyz", WAIT, POLL).await;
        }
        cluster
    }

    /// The HTTP address replica `i` bound, from its `serving grpc=… http=…` log line.
    async fn http_addr(&mut self, i: usize) -> SocketAddr {
        let child = &mut self.replicas[i].child;
        child
            .wait_until_async("it to log its addresses", WAIT, POLL, |c| {
                let addr = probe::logged_http_addr(&c.log());
                async move { addr }
            })
            .await
    }

    /// `scalekeeper_leader` of replica `i`, if it answers.
    async fn gauge(&self, i: usize) -> Option<i64> {
        probe::leader_gauge(self.replicas[i].http).await
    }

    /// Waits until exactly one replica reports `scalekeeper_leader 1` and the other 0;
    /// returns the leader's index.
    async fn one_leader(&self) -> usize {
        wait_for_async("exactly one leader", WAIT, POLL, || async {
            match (self.gauge(0).await?, self.gauge(1).await?) {
                (1, 0) => Some(0),
                (0, 1) => Some(1),
                _ => None,
            }
        })
        .await
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.replicas[i].log).unwrap_or_default()
    }

    /// Waits (polling) until replica `i` has exited.
    async fn wait_exit(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        self.replicas[i].child.wait_exit_async(timeout, POLL).await
    }

    /// `web`'s `spec.replicas`.
    async fn spec_replicas(&self) -> i64 {
        cluster::spec_replicas(&self.kube, &self.ns, NAME).await
    }

    async fn policy(&self) -> Option<Value> {
        cluster::get_json(&self.kube, "scalekeeper.dev/v1alpha1", "ReplicaPolicy", &self.ns, NAME).await
    }

    /// Declares `web` at 3, Enforce, and waits until the leader has reconciled it.
    async fn declare(&self) {
        let policy: ReplicaPolicy = serde_json::from_value(json!({
            "apiVersion": "scalekeeper.dev/v1alpha1",
            "kind": "ReplicaPolicy",
            "metadata": {"name": NAME, "namespace": self.ns},
            "spec": {"replicas": DECLARED, "mode": "Enforce"}
        }))
        .unwrap();
        Api::<ReplicaPolicy>::namespaced(self.kube.clone(), &self.ns)
            .create(&PostParams::default(), &policy)
            .await
            .expect("policy is created");
        wait_for_async("the policy reconciled", WAIT, POLL, || async { self.reconciled().await.then_some(()) }).await;
    }

    /// Whether the policy's status says the Deployment is at the declared count and the last
    /// reconcile corrected nothing: `InSync` on kubesim; on a real cluster (no Pod is ever
    /// ready) `Progressing`, waiting for readiness rather than for a correction's rollout.
    async fn reconciled(&self) -> bool {
        let Some(p) = self.policy().await else { return false };
        let s = &p["status"];
        if self.sim.is_some() {
            return s["syncStatus"] == "InSync";
        }
        let synced = s["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Synced"));
        s["syncStatus"] == "Progressing"
            && s["specReplicas"] == DECLARED
            && synced.is_some_and(|c| c["message"].as_str().is_some_and(|m| m.contains("replicas ready")))
    }

    /// Someone else (field manager [`DRIFTER`]) sets `spec.replicas` to [`DRIFTED`].
    async fn drift(&self) {
        // The leader may correct it before it could be read back: check what was written.
        let written = cluster::patch_replicas(&self.kube, &self.ns, NAME, DRIFTED, DRIFTER).await;
        assert_eq!(written, DRIFTED);
    }

    /// kubesim only: scalekeeper's writes to `web`'s scale subresource.
    fn scale_writes(&self) -> Option<Vec<WriteRecord>> {
        let sim = self.sim.as_ref()?;
        let ns = self.ns.clone();
        Some(
            sim.writes()
                .into_iter()
                .filter(|w| {
                    w.resource == "deployments"
                        && w.subresource.as_deref() == Some("scale")
                        && w.field_manager == "scalekeeper"
                        && w.namespace == ns
                        && w.name == NAME
                })
                .collect(),
        )
    }

    /// The corrections made so far: scale writes by scalekeeper on kubesim; on a real server
    /// (no write log), the changes of spec.replicas back to the declared count.
    fn corrections(&self) -> usize {
        match self.scale_writes() {
            Some(writes) => writes.len(),
            None => self.history.changes_to(DECLARED),
        }
    }

    /// Drifts and waits until the count of corrections reaches `n` with spec.replicas back at 3.
    async fn drift_and_wait_for_correction(&self, n: usize) {
        self.drift().await;
        wait_for_async(&format!("correction {n}"), WAIT, POLL, || async {
            (self.corrections() >= n && self.spec_replicas().await == DECLARED).then_some(())
        })
        .await;
    }

    /// Waits until the policy is reconciled and every reconcile that had started by then has
    /// finished, so any second write for the last drift would have been made.
    ///
    /// The leader's `scalekeeper_reconcile_total` counts finished reconciles, and the controller
    /// never runs two reconciles of one object at once: after reading the count, the test
    /// changes an annotation of the Deployment, which triggers one more reconcile. Once the
    /// count has grown, the reconcile that may have been running when it was read has ended
    /// (or none was, and the triggered one has run), and any later reconcile reads the
    /// Deployment at the declared count and has nothing to correct. (Not "a status write after
    /// the correction": the reconciler skips writing a status equal to the one in its cache,
    /// which a correction within the same second as the previous one can produce.)
    async fn settled(&self) {
        wait_for_async("the policy reconciled", WAIT, POLL, || async { self.reconciled().await.then_some(()) }).await;
        let leader = wait_for_async("a leader", WAIT, POLL, || async {
            for i in 0..self.replicas.len() {
                if self.gauge(i).await == Some(1) {
                    return Some(i);
                }
            }
            None
        })
        .await;
        let http = self.replicas[leader].http;
        let before = wait_for_async("the leader's reconcile count", WAIT, POLL, || reconciles(http)).await;
        let poke = uuid::Uuid::new_v4().to_string();
        Api::<Deployment>::namespaced(self.kube.clone(), &self.ns)
            .patch(
                NAME,
                &PatchParams { field_manager: Some(cluster::HARNESS_MANAGER.into()), ..Default::default() },
                &Patch::Merge(json!({"metadata": {"annotations": {"scalekeeper-test/poke": poke}}})),
            )
            .await
            .expect("the Deployment is annotated");
        wait_for_async("a reconcile after the annotation, and the policy reconciled", WAIT, POLL, || async {
            (reconciles(http).await? > before && self.reconciled().await).then_some(())
        })
        .await;
    }
}

/// The sum of `scalekeeper_reconcile_total` over its results, in `/metrics` at `addr`.
async fn reconciles(addr: SocketAddr) -> Option<u64> {
    let (code, body) = http_get(addr, "/metrics").await?;
    if code != 200 {
        return None;
    }
    Some(
        body.lines()
            .filter(|l| l.starts_with("scalekeeper_reconcile_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum(),
    )
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            r.child.kill();
        }
        if std::thread::panicking() {
            match &self.sim {
                Some(sim) => {
                    let lease = sim.get("coordination.k8s.io/v1", "Lease", &self.lease_ns, "scalekeeper");
                    eprintln!("--- the Lease ---\n{}", serde_json::to_string_pretty(&lease).unwrap());
                }
                None => eprintln!(
                    "--- the Lease is {}/scalekeeper on the real cluster (SCALEKEEPER_TEST_KEEP_NAMESPACES keeps it)",
                    self.lease_ns
                ),
            }
            eprintln!("--- spec.replicas of web over time: {:?}", self.history.states());
            if let Some(sim) = &self.sim {
                let policy = sim.get("scalekeeper.dev/v1alpha1", "ReplicaPolicy", &self.ns, NAME);
                eprintln!("--- the ReplicaPolicy ---\n{}", serde_json::to_string_pretty(&policy).unwrap());
                let writes: Vec<_> = sim.writes().into_iter().filter(|w| w.name == NAME).collect();
                eprintln!("--- kubesim's writes to {NAME} ---\n{writes:#?}");
            }
            if let Ok(keep) = std::env::var("HA_KEEP_LOGS") {
                for r in &self.replicas {
                    let _ = std::fs::copy(&r.log, PathBuf::from(&keep).join(format!("{}.log", r.identity)));
                }
            }
            for (i, r) in self.replicas.iter().enumerate() {
                eprintln!("--- tail of {} ({}) ---\n{}", r.identity, r.log.display(), tail(&self.log(i), 40));
            }
        }
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_leader_reconciles() {
    let c = Cluster::start(15, 10).await;
    let leader = c.one_leader().await;
    let follower = 1 - leader;
    c.declare().await;
    assert_eq!(c.corrections(), 0, "nothing to correct yet: {:?}", c.scale_writes());
    assert_eq!(c.history.values(), [DECLARED], "web was never scaled");

    const DRIFTS: usize = 5;
    for n in 1..=DRIFTS {
        c.drift_and_wait_for_correction(n).await;
    }
    c.settled().await;

    if let Some(writes) = c.scale_writes() {
        assert_eq!(writes.len(), DRIFTS, "exactly one scale write per drift: {writes:#?}");
        assert!(writes.iter().all(|w| w.verb == "patch" && w.rv > 0), "{writes:#?}");
    }
    // On any target: web went 3 -> 6 -> 3 once per drift, nothing else.
    let expected: Vec<i64> = std::iter::once(DECLARED).chain((0..DRIFTS).flat_map(|_| [DRIFTED, DECLARED])).collect();
    assert_eq!(c.history.values(), expected, "spec.replicas over time: {:?}", c.history.states());
    assert_eq!(c.spec_replicas().await, DECLARED);
    let policy = c.policy().await.unwrap();
    let last = &policy["status"]["lastCorrection"];
    assert_eq!((last["from"].as_i64(), last["to"].as_i64()), (Some(DRIFTED), Some(DECLARED)), "{last}");
    assert_eq!(last["fieldManager"], DRIFTER, "{last}");

    // Only the leader corrected, and leadership did not move.
    let (leader_log, follower_log) = (c.log(leader), c.log(follower));
    assert_eq!(count(&leader_log, "drift corrected"), DRIFTS, "leader's log:\n{}", tail(&leader_log, 40));
    assert_eq!(count(&follower_log, "drift corrected"), 0, "follower's log:\n{}", tail(&follower_log, 40));
    assert_eq!(count(&follower_log, "reconciler started"), 0, "follower's log:\n{}", tail(&follower_log, 40));
    assert_eq!((c.gauge(leader).await, c.gauge(follower).await), (Some(1), Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_over_within_a_second() {
    let mut c = Cluster::start(15, 10).await;
    let leader = c.one_leader().await;
    let other = 1 - leader;

    let t0 = Instant::now();
    c.replicas[leader].child.signal("TERM");
    wait_for_async("the other process to lead", Duration::from_secs(20), POLL, || async {
        (c.gauge(other).await == Some(1)).then_some(())
    })
    .await;
    let d = t0.elapsed();
    println!("hand-over after SIGTERM: {d:?}");

    let status = c.wait_exit(leader, Duration::from_secs(10)).await;
    assert!(status.success(), "the terminated process exits 0: {status}");
    let log = c.log(leader);
    assert!(log.contains("Lease released"), "the leader released the Lease:\n{}", tail(&log, 40));
    assert!(d < Duration::from_secs(1), "hand-over after SIGTERM took {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_hands_over_within_the_lease_duration() {
    let mut c = Cluster::start(3, 2).await;
    let leader = c.one_leader().await;
    let other = 1 - leader;
    c.declare().await;

    let t0 = Instant::now();
    c.replicas[leader].child.signal("KILL");
    wait_for_async("the other process to lead", Duration::from_secs(15), POLL, || async {
        (c.gauge(other).await == Some(1)).then_some(())
    })
    .await;
    let d = t0.elapsed();
    println!("hand-over after SIGKILL: {d:?}");
    assert!(c.wait_exit(leader, WAIT).await.code().is_none(), "killed by a signal");
    assert!(d < Duration::from_secs(3 + 2), "hand-over after SIGKILL took {d:?} (lease duration 3 s)");

    // The new leader corrects drift.
    let before = c.corrections();
    c.drift_and_wait_for_correction(before + 1).await;
    c.settled().await;
    assert_eq!(c.corrections(), before + 1, "{:?} {:?}", c.scale_writes(), c.history.states());
    let log = c.log(other);
    assert_eq!(count(&log, "drift corrected"), 1, "new leader's log:\n{}", tail(&log, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_expires_on_time_after_a_leader_change() {
    let mut c = Cluster::start(15, 10).await;
    let leader = c.one_leader().await;
    let other = 1 - leader;
    c.declare().await;
    // A hold written into the policy as GitOps would (the API's writer is covered by
    // tests/holds.rs): 6 replicas for 4 s.
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4);
    let hold = json!({"spec": {"hold": {"replicas": 6, "until": until.to_string(), "reason": "INC-42"}}});
    Api::<ReplicaPolicy>::namespaced(c.kube.clone(), &c.ns)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&hold))
        .await
        .unwrap();
    wait_for_async("the hold applied", WAIT, POLL, || async { (c.spec_replicas().await == 6).then_some(()) }).await;

    // The leader leaves during the hold; the other takes over and ends the hold on time.
    c.replicas[leader].child.signal("TERM");
    wait_for_async("the other process to lead", Duration::from_secs(20), POLL, || async {
        (c.gauge(other).await == Some(1)).then_some(())
    })
    .await;
    assert!(jiff::Timestamp::now() < until, "the hand-over must happen during the hold for this test to mean anything");
    wait_for_async("back to the declared count", WAIT, POLL, || async {
        (c.spec_replicas().await == DECLARED).then_some(())
    })
    .await;
    let late = jiff::Timestamp::now().duration_since(until);
    println!("returned {late:?} after the hold's expiry, after a leader change");
    assert!(late < jiff::SignedDuration::from_secs(1), "returned {late:?} after the expiry");
    assert!(late > jiff::SignedDuration::ZERO, "returned before the expiry: {late:?}");
    // The leader logs the decision after its scale write returns: the test can see the count
    // back before the line is in the log.
    let _ = testkit::try_wait_for_async("the new leader's log line", WAIT, POLL, || async {
        count(&c.log(other), "declaration applied") >= 1
    })
    .await;
    let log = c.log(other);
    assert_eq!(count(&log, "declaration applied"), 1, "the new leader applied the expiry:\n{}", tail(&log, 40));
}
