//! The history of a Deployment's count and undo, end to end: the real server over mTLS against
//! kubesim, or (with `SCALEKEEPER_TEST_KUBECONFIG`, `make test-real`) a real API server, each
//! test in namespaces of its own.
//!
//! - A `kubectl scale` behind scalekeeper's back is recorded as `DriftCorrected`, naming the
//!   field manager (on Kubernetes 1.20, which records none for /scale, "an unrecorded writer");
//!   `scalekeeper history` prints it.
//! - Undo after two declarations declares the first again; `undo --dry-run` says what it would
//!   declare and writes nothing; with nothing to undo it is FAILED_PRECONDITION.
//! - Undo on a version a concurrent declaration has moved past is ABORTED, naming the current
//!   version.
//! - Two `scalekeeper serve` processes, more than 20 changes, the leader stopped midway: the new
//!   leader continues the same list: exactly 20 entries, newest last, none duplicated.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/probe.rs"]
mod probe;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Options, TargetEnv, cluster};
use kube::CustomResourceExt as _;
use scalekeeper::policy::ReplicaPolicy;
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use serde_json::{Value, json};
use testkit::{Child, POLL, Stdout, tail, wait_for_async};
use tonic::Code;
use tonic::transport::Channel;

const T: Duration = Duration::from_secs(15);

fn set(ns: &str, name: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: name.into(), replicas, ..Default::default() }
}

fn undo(ns: &str, name: &str) -> pb::UndoRequest {
    pb::UndoRequest { namespace: ns.into(), name: name.into(), ..Default::default() }
}

async fn start() -> TargetEnv {
    common::start_target(Options::default()).await
}

/// The history in the policy's status, as (kind, from, to, who).
fn entries(policy: &Value) -> Vec<(String, Option<i64>, i64, String)> {
    policy["status"]["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or_default().to_owned(),
                        e["from"].as_i64(),
                        e["to"].as_i64().unwrap_or(-1),
                        e["who"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the status' history records the declaration of `replicas`, and the server's
/// cache (what GetHistory and Undo read) has it too.
async fn recorded_declared(env: &TargetEnv, ns: &str, name: &str, replicas: i64) {
    wait_for_async(&format!("the history records declared {replicas}"), T, POLL, || async {
        env.policy(ns, name).await.is_some_and(|p| p["status"]["historyDeclaredReplicas"] == replicas)
    })
    .await;
    let c = env.client().await;
    served_declared(&c, ns, name, replicas as i32).await;
}

/// Waits until GetHistory's newest Declared entry declares `replicas`.
async fn served_declared(c: &ScaleServiceClient<Channel>, ns: &str, name: &str, replicas: i32) {
    wait_for_async(&format!("GetHistory shows declared {replicas}"), T, POLL, || {
        let mut c = c.clone();
        async move {
            let h = history(&mut c, ns, name).await;
            h.entries
                .iter()
                .rev()
                .find(|e| e.kind == pb::ChangeKind::Declared as i32)
                .is_some_and(|e| e.to_replicas == replicas)
        }
    })
    .await;
}

async fn history(c: &mut ScaleServiceClient<Channel>, ns: &str, name: &str) -> pb::GetHistoryResponse {
    c.get_history(pb::GetHistoryRequest { namespace: ns.into(), name: name.into() }).await.unwrap().into_inner()
}

/// `scalekeeper ARGS` as the CLI, connected to `env`'s server as alice: (success, stdout, stderr).
fn cli(env: &TargetEnv, args: &[&str]) -> (bool, String, String) {
    let (_, cert, key) = env.certs.clients.iter().find(|(i, _, _)| i == "alice").cloned().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
        .env("SCALEKEEPER_CONFIG", common::NO_CLIENT_CONFIG)
        .args(["--server", &format!("localhost:{}", env.grpc_addr.port())])
        .arg("--ca")
        .arg(&env.certs.ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .env_remove("SCALEKEEPER_OUTPUT")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_is_recorded_with_the_field_manager_that_made_it() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 3)).await.unwrap();
    recorded_declared(&env, &shop, "web", 3).await;
    let kubeconfig = env.kubeconfig();
    let out = Command::new(testkit::kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(env.dir.path().join("kubectl-cache"))
        .args(["scale", "-n", &shop, "deployment/web", "--replicas", "7"])
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl is required by these tests (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Kubernetes before 1.22 records no field manager for /scale (see tests/reconcile.rs).
    let who = if env.is_real() { scalekeeper::reconciler::UNKNOWN_MANAGER } else { "kubectl" };
    let want = ("DriftCorrected".to_string(), Some(7), 3, who.to_string());
    let policy = wait_for_async("the correction in the history", T, POLL, || async {
        env.policy(&shop, "web").await.filter(|p| entries(p).contains(&want))
    })
    .await;
    let h = entries(&policy);
    assert_eq!(
        h.first().map(|e| (e.0.as_str(), e.1, e.2, e.3.as_str())),
        Some(("Declared", None, 3, "alice")),
        "{h:?}"
    );
    assert_eq!(h.iter().filter(|e| **e == want).count(), 1, "recorded once: {h:?}");

    // The API (from the server's cache, which may be a moment behind): oldest first, the
    // Deployment with it.
    let r = wait_for_async("GetHistory shows the correction", T, POLL, || {
        let mut c = c.clone();
        let shop = shop.clone();
        async move {
            let r = history(&mut c, &shop, "web").await;
            r.entries.iter().any(|e| e.kind == pb::ChangeKind::DriftCorrected as i32).then_some(r)
        }
    })
    .await;
    assert_eq!(r.deployment.as_ref().map(|d| d.name.as_str()), Some("web"));
    let last = r.entries.iter().rfind(|e| e.kind == pb::ChangeKind::DriftCorrected as i32).unwrap();
    assert_eq!((last.from_replicas, last.to_replicas, last.who.as_str()), (Some(7), 3, who));
    assert!(last.time.is_some() && last.reason.contains(who), "{last:?}");
    assert_eq!(r.entries[0].kind, pb::ChangeKind::Declared as i32);

    // The CLI's table and JSON.
    let (ok, table, err) = cli(&env, &["history", &format!("{shop}/web")]);
    assert!(ok, "{err}");
    let header = table.lines().next().unwrap_or_default();
    for column in ["TIME", "WHAT", "FROM → TO", "WHO", "REASON"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.lines().any(|l| l.contains("DriftCorrected") && l.contains("7 → 3") && l.contains(who)), "{table}");
    assert!(table.lines().any(|l| l.contains("Declared") && l.contains("→ 3") && l.contains("alice")), "{table}");
    let (ok, json, err) = cli(&env, &["history", &format!("{shop}/web"), "-o", "json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["deployment"]["name"], "web", "{v}");
    assert!(v["entries"].as_array().unwrap().iter().any(|e| e["kind"] == "CHANGE_KIND_DRIFT_CORRECTED"), "{v}");

    // An unmanaged Deployment has an empty history; a missing one is NOT_FOUND.
    let unmanaged = history(&mut c, &env.ns("payments"), "ledger").await;
    assert!(unmanaged.entries.is_empty(), "{unmanaged:?}");
    let missing =
        c.get_history(pb::GetHistoryRequest { namespace: shop.clone(), name: "nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_after_two_declarations_declares_the_first_again() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut c = env.client().await;
    c.set_replicas(set(&shop, "web", 5)).await.unwrap();
    recorded_declared(&env, &shop, "web", 5).await;
    // A first declaration has nothing before it.
    let nothing = c.undo(undo(&shop, "web")).await.unwrap_err();
    assert_eq!(nothing.code(), Code::FailedPrecondition, "{nothing:?}");
    assert!(nothing.message().contains("nothing to undo"), "{}", nothing.message());

    c.set_replicas(set(&shop, "web", 7)).await.unwrap();
    recorded_declared(&env, &shop, "web", 7).await;

    // The CLI's dry run says what it would declare, and declares nothing.
    let (ok, out, err) = cli(&env, &["undo", &format!("{shop}/web"), "--dry-run"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("{shop}/web: declared 7 → undo to 5 (declared by alice at ")), "{out}");
    assert_eq!(env.policy(&shop, "web").await.unwrap()["spec"]["replicas"], 7);

    let r = c.undo(undo(&shop, "web")).await.unwrap().into_inner();
    let undone = r.undone.unwrap();
    assert_eq!((undone.kind, undone.from_replicas, undone.to_replicas), (pb::ChangeKind::Declared as i32, Some(5), 7));
    assert_eq!(undone.who, "alice");
    let o = r.outcome.unwrap();
    assert_eq!((o.effective_replicas_before, o.effective_replicas_after, o.dry_run), (7, 5, false));
    assert_eq!(r.deployment.unwrap().desired_replicas, Some(5));
    assert_eq!(env.spec_replicas(&shop, "web").await, 5);
    // The undo is a declaration like any other: recorded, and undone in turn.
    recorded_declared(&env, &shop, "web", 5).await;
    let p = env.policy(&shop, "web").await.unwrap();
    let declared: Vec<_> = entries(&p).into_iter().filter(|e| e.0 == "Declared").map(|e| (e.1, e.2)).collect();
    assert_eq!(declared, [(None, 5), (Some(5), 7), (Some(7), 5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_is_refused_after_a_concurrent_declaration() {
    let env = start().await;
    let shop = env.ns("shop");
    let mut alice = env.client().await;
    alice.set_replicas(set(&shop, "web", 5)).await.unwrap();
    alice.set_replicas(set(&shop, "web", 7)).await.unwrap();
    recorded_declared(&env, &shop, "web", 7).await;
    let read = history(&mut alice, &shop, "web").await.deployment.unwrap().version;
    // Between alice's read and her undo, the bot declares 9.
    let mut bot = env.client_as("spiffe://test/ns/ci/sa/bot").await;
    let now = bot.set_replicas(set(&shop, "web", 9)).await.unwrap().into_inner().deployment.unwrap().version;
    assert_ne!(now, read);
    let refused =
        alice.undo(pb::UndoRequest { expected_version: read.clone(), ..undo(&shop, "web") }).await.unwrap_err();
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    assert!(
        refused.message().contains(&format!("is at version {now}, not the expected {read}")),
        "{}",
        refused.message()
    );
    assert_eq!(env.policy(&shop, "web").await.unwrap()["spec"]["replicas"], 9, "nothing written");
}

/// An AdmissionReview of a write of Deployment `ns/name`'s scale subresource from `old` to
/// `new` by `user`, as the API server sends it to the guard's webhook.
fn scale_review(ns: &str, name: &str, uid: &str, old: i64, new: i64, user: &str) -> Value {
    let scale = |n: i64| {
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
               "metadata": {"name": name, "namespace": ns, "uid": uid}, "spec": {"replicas": n}, "status": {"replicas": old}})
    };
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("review-{old}-{new}-{}", jiff::Timestamp::now().as_nanosecond()),
            "kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "subResource": "scale",
            "requestKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestSubResource": "scale",
            "name": name, "namespace": ns, "operation": "UPDATE",
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": scale(new), "oldObject": scale(old), "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"},
        }
    })
}

/// The guard refuses on whichever replica the API server calls; the leader learns of it from
/// the `ScaleRefused` Event and records it once per refusal. (kubesim: the review is posted to
/// the webhook as the API server would.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_refusals_are_recorded_from_their_events() {
    let env = common::start_with(Options { admission: Some(vec![]), ..Default::default() }).await;
    let mut c = env.client().await;
    c.set_replicas(pb::SetReplicasRequest { guard: pb::Guard::Deny as i32, ..set("shop", "web", 5) }).await.unwrap();
    wait_for_async("the history records declared 5", T, POLL, || async {
        env.policy("shop", "web").is_some_and(|p| p["status"]["historyDeclaredReplicas"] == 5)
    })
    .await;
    let uid =
        env.sim.get("apps/v1", "Deployment", "shop", "web").unwrap()["metadata"]["uid"].as_str().unwrap().to_owned();
    let refused = || {
        env.policy("shop", "web")
            .map(|p| entries(&p).into_iter().filter(|e| e.0 == "GuardRefused").collect::<Vec<_>>())
            .unwrap_or_default()
    };
    for n in 1..=3 {
        let answer = env.admit(&scale_review("shop", "web", &uid, 5, 0, "mallory")).await;
        assert_eq!(answer["response"]["allowed"], false, "{answer}");
        // One Event whose series counts the repeats; each observation is one refusal.
        wait_for_async(&format!("refusal {n} in the history"), T, POLL, || async { refused().len() >= n }).await;
    }
    let got = refused();
    assert_eq!(got, vec![("GuardRefused".to_string(), Some(5), 0, "mallory".to_string()); 3], "recorded once each");
    let p = env.policy("shop", "web").unwrap();
    let last = p["status"]["history"].as_array().unwrap().last().unwrap().clone();
    assert!(last["reason"].as_str().unwrap().contains("seen 3 times"), "{last}");
    // The API names the kind (from the server's cache, which may be a moment behind).
    wait_for_async("GetHistory shows the 3 refusals", T, POLL, || {
        let mut c = c.clone();
        async move {
            let h = history(&mut c, "shop", "web").await;
            h.entries.iter().filter(|e| e.kind == pb::ChangeKind::GuardRefused as i32).count() == 3
        }
    })
    .await;
}

// === Two processes and a change of leader ===

/// One `scalekeeper serve` process.
struct Replica {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
}

/// kubesim (or a namespace of its own on a real cluster) and two processes `a` and `b` electing
/// a leader, both serving the API; SIGKILLed on drop, their logs printed when a test fails.
struct Pair {
    _sim: Option<kubesim::Sim>,
    kube: kube::Client,
    ns: String,
    certs: scalekeeper::certs::DevCerts,
    replicas: Vec<Replica>,
    _namespaces: Option<cluster::Namespaces>,
    _dir: tempfile::TempDir,
}

impl Pair {
    async fn start() -> Pair {
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
                sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hist"}})).unwrap();
                sim.apply(cluster::deployment("hist", "web", 3, &[])).unwrap();
                let kubeconfig = dir.path().join("kubeconfig");
                sim.write_kubeconfig(&kubeconfig).unwrap();
                let kube = sim.client().await.unwrap();
                (Some(sim), kube, kubeconfig, "hist".to_string(), "default".to_string(), None)
            }
            Some(kubeconfig) => {
                let kube = cluster::client_for(&kubeconfig).await;
                for crd in crds {
                    cluster::install_crd(&kube, crd).await;
                }
                let ns = cluster::unique_name("hist");
                let namespaces = cluster::create_namespaces(&kube, &kubeconfig, std::slice::from_ref(&ns)).await;
                cluster::create_deployment(&kube, cluster::deployment(&ns, "web", 3, &[])).await;
                (None, kube, kubeconfig, ns.clone(), ns, Some(namespaces))
            }
        };
        let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["alice".into()], 1).unwrap();
        let mut replicas = vec![];
        for identity in ["a", "b"] {
            let log = dir.path().join(format!("{identity}.log"));
            let scope = sim.is_none().then_some(ns.as_str());
            let bin = std::path::Path::new(env!("CARGO_BIN_EXE_scalekeeper"));
            let mut cmd = probe::replica_command(bin, identity, &certs, &kubeconfig, scope, &lease_ns);
            cmd.args(["--lease-duration", "15", "--lease-renew-grace", "10"])
                .env("RUST_LOG", "info,kube=warn,tower=warn,h2=warn,hyper=warn");
            let mut child = Child::spawn(identity, &mut cmd, &log, Stdout::Discard);
            let (grpc, http) = child
                .wait_until_async("it to log its addresses", T, POLL, |c| {
                    let log = c.log();
                    let addrs = probe::logged_grpc_addr(&log).zip(probe::logged_http_addr(&log));
                    async move { addrs }
                })
                .await;
            testkit::wait_http_ok(http, "/readyz", T, POLL).await;
            replicas.push(Replica { child, grpc, http });
        }
        Pair { _sim: sim, kube, ns, certs, replicas, _namespaces: namespaces, _dir: dir }
    }

    async fn client(&self, i: usize) -> ScaleServiceClient<Channel> {
        let (_, cert, key) = self.certs.clients[0].clone();
        let channel = common::channel(self.replicas[i].grpc, &self.certs.ca, Some((&cert, &key))).await.unwrap();
        ScaleServiceClient::new(channel)
    }

    /// The index of the process reporting `scalekeeper_leader 1`.
    async fn leader(&self, among: &[usize]) -> usize {
        wait_for_async("a leader", T, POLL, || async {
            for &i in among {
                if probe::leader_gauge(self.replicas[i].http).await == Some(1) {
                    return Some(i);
                }
            }
            None
        })
        .await
    }

    async fn policy(&self) -> Option<Value> {
        cluster::get_json(&self.kube, "scalekeeper.dev/v1alpha1", "ReplicaPolicy", &self.ns, "web").await
    }

    /// Declares `replicas` through process `via` and waits until the leader's history records it.
    async fn declare(&self, via: usize, replicas: i32) {
        let mut c = self.client(via).await;
        c.set_replicas(set(&self.ns, "web", replicas)).await.unwrap();
        wait_for_async(&format!("the history records declared {replicas}"), T, POLL, || async {
            self.policy().await.is_some_and(|p| p["status"]["historyDeclaredReplicas"] == replicas)
        })
        .await;
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            r.child.kill();
        }
        if std::thread::panicking() {
            for r in &self.replicas {
                let log: PathBuf = r.child.log_path().to_path_buf();
                eprintln!("--- tail of {} ---\n{}", log.display(), tail(&r.child.log(), 40));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded_at_20_across_a_leader_change() {
    let mut pair = Pair::start().await;
    let leader = pair.leader(&[0, 1]).await;
    let survivor = 1 - leader;
    // 25 declarations, 4 to 28, through the process that stays: the first 12 recorded by the
    // first leader, the rest by the second.
    for n in 4..16 {
        pair.declare(survivor, n).await;
    }
    pair.replicas[leader].child.signal("TERM");
    assert_eq!(pair.leader(&[survivor]).await, survivor);
    pair.replicas[leader].child.wait_exit_async(T, POLL).await;
    for n in 16..29 {
        pair.declare(survivor, n).await;
    }

    let mut c = pair.client(survivor).await;
    served_declared(&c, &pair.ns, "web", 28).await;
    let h = history(&mut c, &pair.ns, "web").await.entries;
    let got: Vec<_> = h.iter().map(|e| (e.kind, e.from_replicas, e.to_replicas)).collect();
    // The last 20 of None -> 4, 4 -> 5, ..., 27 -> 28: 8 -> 9 to 27 -> 28, each once.
    let want: Vec<_> = (8..28).map(|n| (pb::ChangeKind::Declared as i32, Some(n), n + 1)).collect();
    assert_eq!(got, want, "{h:#?}");
    assert!(h.iter().all(|e| e.who == "alice"), "{h:#?}");
    let at = |e: &pb::HistoryEntry| e.time.map(|t| (t.seconds, t.nanos));
    assert!(h.windows(2).all(|w| at(&w[0]) <= at(&w[1])), "oldest first: {h:#?}");
    let p = pair.policy().await.unwrap();
    assert_eq!(p["status"]["history"].as_array().map(Vec::len), Some(20), "the bound in the status itself");
}

/// A CRD older than the server (one without the history's status fields, as after a
/// `helm upgrade`, which never upgrades a chart's `crds/`) prunes what the reconciler writes
/// there. The reconciler must see that and stop writing it: otherwise every look (each change
/// of the Deployment, each resync) sends a status PATCH that can never be kept. kubesim only:
/// the real server's CRD is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_crd_that_prunes_the_history_is_not_written_again_and_again() {
    let env = common::start().await;
    let mut crd = serde_json::to_value(ReplicaPolicy::crd()).unwrap();
    let status = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    for field in ["history", "historyDeclaredReplicas", "historyHold", "historyRefusedUntil"] {
        assert!(status.as_object_mut().unwrap().remove(field).is_some(), "the CRD has status.{field}");
    }
    env.sim.apply(crd).unwrap();
    let mut c = env.client().await;
    c.set_replicas(set("shop", "web", 4)).await.unwrap();
    wait_for_async("the status to report 4 in sync", T, POLL, || async {
        env.policy("shop", "web").is_some_and(|p| {
            p["status"]["effectiveReplicas"] == 4
                && p["status"]["readyReplicas"] == 4
                && p["status"]["syncStatus"] == "InSync"
                && p["status"]["observedGeneration"] == p["metadata"]["generation"]
        })
    })
    .await;
    let stored = env.policy("shop", "web").unwrap();
    assert!(stored["status"].get("history").is_none(), "the older CRD prunes the history: {stored}");
    // Every status PATCH of the policy, kept or not (kubesim records one that changes nothing
    // with resourceVersion 0).
    let status_patches = || {
        env.sim
            .writes()
            .iter()
            .filter(|w| {
                w.resource == "replicapolicies" && w.subresource.as_deref() == Some("status") && w.name == "web"
            })
            .count()
    };
    let looks = || env.metric("scalekeeper_reconcile_total{result=\"ok\"}");
    let before = status_patches();
    // Three more looks, each triggered by a change of the Deployment that changes nothing the
    // status reports: a label (an annotation would move the Deployment's generation).
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(env.sim.client().await.unwrap(), "shop");
    for n in 0..3 {
        let seen = looks().await;
        let patch = json!({"metadata": {"labels": {"example.com/touched": n.to_string()}}});
        deployments.patch("web", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
        wait_for_async("a look after the Deployment changed", T, POLL, || async { looks().await > seen }).await;
    }
    let after = status_patches();
    assert_eq!(after - before, 0, "status PATCHes in 3 looks that changed nothing but what the CRD prunes");
}
