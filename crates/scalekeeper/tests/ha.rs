//! High availability: two `scalekeeper serve` processes (identities `a` and `b`) against one
//! in-process kubesim, electing a leader on the `default/scalekeeper` Lease.
//!
//! - exactly one process reports `scalekeeper_leader 1`, and only it corrects drift: every
//!   drift is put back by exactly one scale write (field manager `scalekeeper`);
//! - SIGTERM: the leader releases the Lease on its way out and the other takes it within a
//!   second, far sooner than the lease duration (15 s);
//! - SIGKILL: the Lease is taken once the dead leader's term (3 s) runs out, and the new
//!   leader corrects drift.
//!
//! Each test starts its own kubesim, and processes that bind free ports (port 0; the test
//! reads the addresses from their logs), so the tests run in parallel. Children are
//! SIGKILLed when a test ends (a guard); when one fails, the Lease and the tails of both
//! processes' logs are printed. `HA_LOG` replaces the processes' log filter (keep
//! `scalekeeper=info`; e.g. `info,kube_lease_manager=debug`); `HA_KEEP_LOGS=DIR` copies the
//! logs of a failed test to `DIR`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

#[path = "support/probe.rs"]
mod probe;

use probe::{http_get, tail, wait_until};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kube::CustomResourceExt as _;
use kubesim::WriteRecord;
use serde_json::{Value, json};

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

/// One `scalekeeper serve` process.
struct Replica {
    identity: &'static str,
    child: Child,
    http: SocketAddr,
    log: PathBuf,
}

/// kubesim, the two processes and their temp dir; the processes are SIGKILLed on drop.
struct Cluster {
    sim: kubesim::Sim,
    replicas: Vec<Replica>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts kubesim (CRD, namespace `ha`, Deployment `ha/web` at 3) and processes `a` and
    /// `b` with the given lease duration and renew grace.
    async fn start(lease_duration_seconds: u64, lease_renew_grace_seconds: u64) -> Cluster {
        let sim = kubesim::Sim::start(kubesim::SimConfig {
            deployment_delay: Duration::from_millis(20),
            ..Default::default()
        })
        .await
        .expect("kubesim starts");
        sim.apply(serde_json::to_value(scalekeeper::policy::ReplicaPolicy::crd()).unwrap()).expect("CRD installs");
        sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).unwrap();
        sim.apply(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": NS, "labels": {"app": NAME}},
            "spec": {
                "replicas": DECLARED,
                "selector": {"matchLabels": {"app": NAME}},
                "template": {
                    "metadata": {"labels": {"app": NAME}},
                    "spec": {"containers": [{"name": NAME, "image": "nginx:1.27"}]}
                }
            }
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["t".into()], 1).unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();

        let mut replicas = Vec::new();
        for identity in ["a", "b"] {
            let log = dir.path().join(format!("{identity}.log"));
            // Port 0: the process binds free ports and logs them (no race for a port).
            let child = Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
                .arg("serve")
                .args(["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
                .arg("--tls-cert")
                .arg(&certs.server_cert)
                .arg("--tls-key")
                .arg(&certs.server_key)
                .arg("--client-ca")
                .arg(&certs.ca)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["--log-format", "text", "--drain-timeout-seconds", "5"])
                .args(["--leader-elect", "true", "--lease-name", "scalekeeper", "--lease-namespace", "default"])
                .args(["--identity", identity])
                .args(["--lease-duration-seconds", &lease_duration_seconds.to_string()])
                .args(["--lease-renew-grace-seconds", &lease_renew_grace_seconds.to_string()])
                // Several drifts in a row are the test, not a flapping field manager.
                .args(["--flap-max-corrections", "100"])
                .env(
                    "RUST_LOG",
                    std::env::var("HA_LOG").unwrap_or_else(|_| "info,kube=warn,tower=warn,h2=warn,hyper=warn".into()),
                )
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).unwrap())
                .spawn()
                .expect("scalekeeper serve starts");
            replicas.push(Replica { identity, child, http: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), log });
        }
        let mut cluster = Cluster { sim, replicas, _dir: dir };
        for i in 0..cluster.replicas.len() {
            let http = cluster.http_addr(i).await;
            cluster.replicas[i].http = http;
            let what = format!("{} /readyz 200", cluster.replicas[i].identity);
            wait_until(&what, WAIT, POLL, || async move { (http_get(http, "/readyz").await?.0 == 200).then_some(()) })
                .await;
        }
        cluster
    }

    /// The HTTP address replica `i` bound, from its `serving grpc=… http=…` log line.
    async fn http_addr(&mut self, i: usize) -> SocketAddr {
        let what = format!("{} to log its addresses", self.replicas[i].identity);
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log(i);
            let addr = log
                .lines()
                .filter(|l| l.contains(" serving "))
                .flat_map(str::split_whitespace)
                .find_map(|w| w.strip_prefix("http=")?.parse().ok());
            if let Some(addr) = addr {
                return addr;
            }
            if let Some(status) = self.replicas[i].child.try_wait().unwrap() {
                panic!("{} exited ({status}) before serving", self.replicas[i].identity);
            }
            assert!(Instant::now() < deadline, "timed out after {WAIT:?} waiting for {what}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// `scalekeeper_leader` of replica `i`, if it answers.
    async fn gauge(&self, i: usize) -> Option<i64> {
        leader_gauge(self.replicas[i].http).await
    }

    /// Waits until exactly one replica reports `scalekeeper_leader 1` and the other 0;
    /// returns the leader's index.
    async fn one_leader(&self) -> usize {
        wait_until("exactly one leader", WAIT, POLL, || async {
            match (self.gauge(0).await?, self.gauge(1).await?) {
                (1, 0) => Some(0),
                (0, 1) => Some(1),
                _ => None,
            }
        })
        .await
    }

    fn pid(&self, i: usize) -> String {
        self.replicas[i].child.id().to_string()
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.replicas[i].log).unwrap_or_default()
    }

    /// Waits (polling) until replica `i` has exited.
    async fn wait_exit(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        let what = format!("{} to exit", self.replicas[i].identity);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.replicas[i].child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// `ha/web`'s `spec.replicas`.
    fn spec_replicas(&self) -> i64 {
        self.sim.get("apps/v1", "Deployment", NS, NAME).expect("deployment")["spec"]["replicas"].as_i64().unwrap()
    }

    fn policy(&self) -> Option<Value> {
        self.sim.get("scalekeeper.dev/v1alpha1", "ReplicaPolicy", NS, NAME)
    }

    /// Declares `ha/web` at 3, Enforce, and waits until the leader has reconciled it (InSync).
    async fn declare(&self) {
        self.sim
            .apply(json!({
                "apiVersion": "scalekeeper.dev/v1alpha1",
                "kind": "ReplicaPolicy",
                "metadata": {"name": NAME, "namespace": NS},
                "spec": {"replicas": DECLARED, "mode": "Enforce"}
            }))
            .expect("policy applies");
        wait_until("the policy InSync", WAIT, POLL, || async { self.in_sync().then_some(()) }).await;
    }

    fn in_sync(&self) -> bool {
        self.policy().is_some_and(|p| p["status"]["syncStatus"] == "InSync")
    }

    /// Someone else (field manager `kubesim`) sets `spec.replicas` to [`DRIFTED`].
    fn drift(&self) {
        let mut d = self.sim.get("apps/v1", "Deployment", NS, NAME).expect("deployment");
        d["spec"]["replicas"] = json!(DRIFTED);
        let meta = d["metadata"].as_object_mut().unwrap();
        meta.remove("resourceVersion");
        meta.remove("managedFields");
        // The leader may correct it before it could be read back: check what was written.
        let written = self.sim.apply(d).expect("drift applies");
        assert_eq!(written["spec"]["replicas"], DRIFTED);
    }

    /// scalekeeper's writes to `ha/web`'s scale subresource.
    fn corrections(&self) -> Vec<WriteRecord> {
        self.sim
            .writes()
            .into_iter()
            .filter(|w| {
                w.resource == "deployments"
                    && w.subresource.as_deref() == Some("scale")
                    && w.field_manager == "scalekeeper"
                    && w.namespace == NS
                    && w.name == NAME
            })
            .collect()
    }

    /// Drifts and waits until the count of corrections reaches `n` with spec.replicas back at 3.
    async fn drift_and_wait_for_correction(&self, n: usize) {
        self.drift();
        wait_until(&format!("correction {n}"), WAIT, POLL, || async {
            (self.corrections().len() >= n && self.spec_replicas() == DECLARED).then_some(())
        })
        .await;
    }

    /// Waits until the reconciler has reconciled again after the last correction and found the
    /// policy InSync: any second write for the same drift would have been made by then.
    async fn settled(&self) {
        wait_until("the policy InSync after the last correction", WAIT, POLL, || async {
            let last_correction = self.corrections().iter().map(|w| w.rv).max().unwrap_or(0);
            let last_status = self
                .sim
                .writes()
                .into_iter()
                .filter(|w| {
                    w.resource == "replicapolicies"
                        && w.subresource.as_deref() == Some("status")
                        && w.field_manager == "scalekeeper"
                })
                .map(|w| w.rv)
                .max()
                .unwrap_or(0);
            (last_status > last_correction && self.in_sync()).then_some(())
        })
        .await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Ok(None) = r.child.try_wait() {
                let _ = r.child.kill();
            }
            let _ = r.child.wait();
        }
        if std::thread::panicking() {
            let lease = self.sim.get("coordination.k8s.io/v1", "Lease", "default", "scalekeeper");
            eprintln!("--- the Lease ---\n{}", serde_json::to_string_pretty(&lease).unwrap());
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

/// The value of `scalekeeper_leader` in `/metrics`.
async fn leader_gauge(addr: SocketAddr) -> Option<i64> {
    let (code, body) = http_get(addr, "/metrics").await?;
    if code != 200 {
        return None;
    }
    body.lines().find_map(|l| l.strip_prefix("scalekeeper_leader ")).and_then(|v| v.trim().parse().ok())
}

fn signal(pid: &str, sig: &str) {
    let status = Command::new("kill").args([sig, pid]).status().expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}: {status}");
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
    assert!(c.corrections().is_empty(), "nothing to correct yet: {:?}", c.corrections());

    const DRIFTS: usize = 5;
    for n in 1..=DRIFTS {
        c.drift_and_wait_for_correction(n).await;
    }
    c.settled().await;

    let corrections = c.corrections();
    assert_eq!(corrections.len(), DRIFTS, "exactly one scale write per drift: {corrections:#?}");
    assert!(corrections.iter().all(|w| w.verb == "patch" && w.rv > 0), "{corrections:#?}");
    assert_eq!(c.spec_replicas(), DECLARED);
    let last = &c.policy().unwrap()["status"]["lastCorrection"];
    assert_eq!((last["from"].as_i64(), last["to"].as_i64()), (Some(DRIFTED), Some(DECLARED)), "{last}");
    assert_eq!(last["fieldManager"], "kubesim", "{last}");

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
    signal(&c.pid(leader), "-TERM");
    wait_until("the other process to lead", Duration::from_secs(20), POLL, || async {
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
    c.replicas[leader].child.kill().unwrap();
    wait_until("the other process to lead", Duration::from_secs(15), POLL, || async {
        (c.gauge(other).await == Some(1)).then_some(())
    })
    .await;
    let d = t0.elapsed();
    println!("hand-over after SIGKILL: {d:?}");
    assert!(c.wait_exit(leader, WAIT).await.code().is_none(), "killed by a signal");
    assert!(d < Duration::from_secs(3 + 2), "hand-over after SIGKILL took {d:?} (lease duration 3 s)");

    // The new leader corrects drift.
    let before = c.corrections().len();
    c.drift_and_wait_for_correction(before + 1).await;
    c.settled().await;
    assert_eq!(c.corrections().len(), before + 1, "{:#?}", c.corrections());
    let log = c.log(other);
    assert_eq!(count(&log, "drift corrected"), 1, "new leader's log:\n{}", tail(&log, 40));
}
