//! End-to-end suite: the `scalekeeper` CLI binary and `kubectl`, used the way the README shows,
//! against a running `scalekeeper serve` and the Kubernetes API it serves from. Everything goes
//! through processes and their exit codes, stdout and stderr; nothing is called in-process.
//!
//! # Three modes
//!
//! **An existing cluster.** When `SCALEKEEPER_E2E_KUBECONFIG` and `SCALEKEEPER_E2E_SERVER` are
//! set (CI: kind in GitHub Actions, with the chart installed and the Deployments of
//! `examples/kubesim-seed.yaml` applied by the workflow), the suite starts nothing and uses:
//!
//! | variable | what |
//! |---|---|
//! | `SCALEKEEPER_E2E_KUBECONFIG` | the kubeconfig `kubectl` uses |
//! | `SCALEKEEPER_E2E_SERVER` | the server's gRPC address, `HOST:PORT`; its certificate must be valid for `HOST` |
//! | `SCALEKEEPER_E2E_CA` | the CA that signed the server's certificate (PEM) |
//! | `SCALEKEEPER_E2E_CERT`, `SCALEKEEPER_E2E_KEY` | a client certificate and key the server accepts (PEM) |
//!
//! All five are required in this mode. The suite first puts the three seed Deployments
//! (`shop/web`, `shop/cart`, `payments/ledger`) back to their seed state (declarations cleared,
//! replicas 3, 2 and 1), so it can run again against the same cluster. Other Deployments in the
//! cluster are tolerated (listings are checked for what they must and must not contain).
//!
//! **Self-started** (the default; `make test`). The suite starts the world as processes in a
//! temporary directory:
//!
//! 1. the `kubesim` binary (next to the `scalekeeper` binary in the target directory; when it is
//!    not there, `$CARGO build --locked -p kubesim` builds it) with `serve --listen 127.0.0.1:0
//!    --kubeconfig <tmp> --seed examples/kubesim-seed.yaml`, and waits for its kubeconfig;
//! 2. the CRD: `scalekeeper crd | kubectl apply -f -`;
//! 3. certificates: `scalekeeper certs --dir <tmp> --client e2e-admin`;
//! 4. `scalekeeper serve` on free localhost ports, waiting until `/readyz` answers 200.
//!
//! At the end both processes get SIGTERM and must exit 0; a guard kills them if the test fails
//! first, so no process outlives the test.
//!
//! **Self-started against a real API server** (`make test-real`). When `SCALEKEEPER_TEST_KUBECONFIG`
//! names the (admin) kubeconfig of a cluster, the suite starts no kubesim and uses that cluster,
//! which other tests use at the same time:
//!
//! 1. the seed's namespaces become `shop-<suffix>` and `payments-<suffix>` (a random suffix); the
//!    suite creates them and the seed Deployments in them (`kubectl create`), and deletes the
//!    namespaces when it ends (`SCALEKEEPER_TEST_KEEP_NAMESPACES` keeps them);
//! 2. the CRD with `kubectl apply --server-side --force-conflicts` (it is cluster-scoped and
//!    shared), then `kubectl wait` until it is established;
//! 3. certificates and `scalekeeper serve` as above, with `--namespace shop-<suffix>,payments-<suffix>`
//!    so it sees none of the other tests' objects, and its Lease in `shop-<suffix>`.
//!
//! The steps are the same; only the namespace names differ. No kubelet runs there, so no Pod
//! is ever ready: no step depends on readiness. `SCALEKEEPER_TEST_KUBECONFIG` and the
//! existing-cluster variables exclude each other.
//!
//! In every mode the CLI reaches the server through `SCALEKEEPER_SERVER`, `SCALEKEEPER_CA`,
//! `SCALEKEEPER_CERT` and `SCALEKEEPER_KEY` (one step passes the same as flags), and every
//! `kubectl` run gets `--kubeconfig` and a per-run `--cache-dir`. kubectl is required: without it
//! the suite fails, it never skips.
//!
//! # Shape
//!
//! One `#[test]` runs named steps in order against one world: processes held by a `static` would
//! never be stopped (statics are not dropped). Steps touch distinct Deployments where they write,
//! and undo what later steps read. A failing step is reported and the remaining steps still run;
//! the test then fails naming every failed step, with the tails of the started processes' logs.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Child, REAL_KUBECONFIG, Stdout, free_port, tail};

/// Longest any single CLI or kubectl run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest any awaited condition may take.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often an awaited condition is checked.
const POLL: Duration = Duration::from_millis(50);
/// The seed Deployments and their replica counts in `examples/kubesim-seed.yaml`.
const SEED: [(&str, &str, i64); 3] = [("shop", "web", 3), ("shop", "cart", 2), ("payments", "ledger", 1)];
/// The client identity of the certificates the self-started mode writes.
const IDENTITY: &str = "e2e-admin";
/// The Kubernetes user the admission guard steps write as (`kubectl --as`): someone with the
/// built-in `edit` role in the seed namespaces, who is not scalekeeper (whose own writes the
/// guard exempts, and which uses the suite's kubeconfig user).
const OPERATOR: &str = "e2e-operator";
/// A user the self-started server exempts (`--admission-exempt user:e2e-autoscaler`), as the
/// chart exempts the HPA controller.
const EXEMPT: &str = "e2e-autoscaler";
/// The webhook entry's name, from `files/admission-webhook.yaml` (kubectl's refusals name it).
const WEBHOOK: &str = "replicas.scalekeeper.dev";

#[test]
fn cli_and_kubectl_against_a_running_server() {
    let start = Instant::now();
    let mut world = World::from_env();
    eprintln!("world ready in {:?} ({})", start.elapsed(), world.describe());
    let mut failures = Vec::new();
    if world.external {
        step(&mut failures, "reset seed state", || reset_seed_state(&world));
    }
    step(&mut failures, "list", || list(&world));
    step(&mut failures, "get shop/web", || get_web(&world));
    step(&mut failures, "errors and exit codes", || errors(&world));
    step(&mut failures, "set shop/cart, expected versions", || set_cart(&world));
    step(&mut failures, "observe mode and diff on payments/ledger", || diff_ledger(&world));
    step(&mut failures, "watch shop/web", || watch_web(&world));
    step(&mut failures, "clear shop/cart", || clear_cart(&world));
    step(&mut failures, "hold, dry run and schedule on shop/web", || hold_and_schedule_web(&world));
    step(&mut failures, "explain, plan, history, undo, freeze and thaw", || incident_tools(&world));
    step(&mut failures, "admission guard: deny, warn, what passes", || admission_guard(&world));
    if !world.external {
        // Its clean-up removes the rule as the exempt user, whom only the self-started server
        // exempts.
        step(&mut failures, "two-person rule: kubectl's doors", || approval_doors(&world));
        step(&mut failures, "admission guard: the webhook process killed fails open", || webhook_killed(&mut world));
    }
    if !failures.is_empty() {
        world.dump_logs();
        drop(world);
        panic!("{} step(s) failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    world.shutdown();
    eprintln!("e2e suite passed in {:?}", start.elapsed());
}

/// Runs one step, catching its panic so the remaining steps still run.
fn step(failures: &mut Vec<String>, name: &str, f: impl FnOnce()) {
    let t = Instant::now();
    eprintln!("=== step: {name}");
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => eprintln!("=== step: {name}: ok ({:?})", t.elapsed()),
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "panicked".to_string());
            eprintln!("=== step: {name}: FAILED ({:?})", t.elapsed());
            failures.push(format!("{name}: {msg}"));
        }
    }
}

// === steps ===

fn reset_seed_state(w: &World) {
    for (ns, name, replicas) in w.seed() {
        w.cli(&["clear", &format!("{ns}/{name}")]).ok();
        w.kubectl(&["scale", "deployment", name, "-n", &ns, "--replicas", &replicas.to_string()]).ok();
    }
    for (ns, name, replicas) in w.seed() {
        w.wait_get(&format!("{ns}/{name}"), &format!("unmanaged with spec {replicas}"), |d| {
            d["specReplicas"] == replicas && d["syncStatus"] == "SYNC_STATUS_UNMANAGED"
        });
    }
}

fn list(w: &World) {
    let t = w.targets();
    // Table: a header and one row per Deployment.
    let out = w.cli(&["list"]).ok();
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "DESIRED", "EFFECTIVE", "SPEC", "READY", "SYNC", "MODE", "RULE", "NEXT"],
        "{out}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    for (ns, name, replicas) in w.seed() {
        let row = rows
            .iter()
            .find(|r| r.first() == Some(&ns.as_str()) && r.get(1) == Some(&name))
            .unwrap_or_else(|| panic!("`list` shows {ns}/{name}:\n{out}"));
        assert_eq!(row.len(), 10, "{row:?}");
        assert_eq!((row[2], row[3], row[4]), ("-", "-", &*replicas.to_string()), "{out}");
        assert_eq!(&row[6..], ["UNMANAGED", "-", "-", "-"], "{out}");
    }

    // JSON: the same Deployments, every one with its fields.
    let all = names(&w.cli(&["list", "-o", "json"]).json()["deployments"]);
    for (ns, name, _) in w.seed() {
        assert!(all.contains(&format!("{ns}/{name}")), "`list -o json` has {ns}/{name}: {all:?}");
    }
    if !w.external {
        assert_eq!(all, [t.ledger.clone(), t.cart.clone(), t.web.clone()]);
    }

    // -n shop: only shop.
    let shop = names(&w.cli(&["list", "-n", &t.shop, "-o", "json"]).json()["deployments"]);
    assert!(shop.iter().all(|n| n.starts_with(&format!("{}/", t.shop))), "{shop:?}");
    assert!(shop.contains(&t.web) && shop.contains(&t.cart), "{shop:?}");
    let table = w.cli(&["list", "-n", &t.shop]).ok();
    assert!(table.lines().skip(1).all(|l| l.starts_with(&format!("{} ", t.shop))), "{table}");

    // -l tier=backend: cart and ledger, not web.
    let doc = w.cli(&["list", "-l", "tier=backend", "-o", "json"]).json();
    let backend = names(&doc["deployments"]);
    assert!(backend.contains(&t.cart) && backend.contains(&t.ledger), "{backend:?}");
    assert!(!backend.contains(&t.web), "{backend:?}");
    for d in doc["deployments"].as_array().unwrap() {
        assert_eq!(d["labels"]["tier"], "backend", "{d}");
    }
    let table = w.cli(&["list", "-l", "tier=backend"]).ok();
    assert!(table.contains("cart") && table.contains("ledger") && !table.contains(" web "), "{table}");
}

fn get_web(w: &World) {
    let t = w.targets();
    // Table, connecting with flags rather than the environment.
    let out = w.cli_with_flags(&["get", &t.web]).ok();
    let block = key_values(&out);
    for (key, want) in [
        ("NAMESPACE", t.shop.as_str()),
        ("NAME", "web"),
        ("DESIRED", "-"),
        ("SPEC", "3"),
        ("SYNC", "UNMANAGED"),
        ("MODE", "-"),
        ("VERSION", "-"),
    ] {
        assert_eq!(block.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()), Some(want), "{key} in:\n{out}");
    }

    let d = w.cli(&["get", &t.web, "-o", "json"]).json();
    assert_eq!((d["namespace"].as_str(), d["name"].as_str()), (Some(t.shop.as_str()), Some("web")), "{d}");
    assert_eq!(d["specReplicas"], 3, "{d}");
    assert_eq!(d["syncStatus"], "SYNC_STATUS_UNMANAGED", "{d}");
    assert_eq!(d["mode"], "MODE_UNSPECIFIED", "{d}");
    assert!(d.get("desiredReplicas").is_none(), "no declaration, no desiredReplicas: {d}");
    assert_eq!(d["labels"]["tier"], "frontend", "{d}");
}

fn errors(w: &World) {
    let t = w.targets();
    let r = w.cli(&["get", &format!("{}/nope", t.shop)]);
    r.exit(1);
    assert!(r.stderr.contains("NOT_FOUND"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");

    let r = w.cli(&["get", "web"]);
    r.exit(2);
    assert!(r.stderr.contains("NAMESPACE/NAME"), "{r}");

    let r = w.cli(&["set", &t.web, "-1"]);
    r.exit(1);
    assert!(r.stderr.contains("INVALID_ARGUMENT"), "{r}");
    // The field is named in the message or, when the message lacks it, on a violation line.
    assert!(r.stderr.contains("replicas: ") || r.stderr.contains("- replicas:"), "the error names the field: {r}");
    assert_eq!(w.kubectl_spec_replicas(&t.shop, "web"), 3, "a rejected set does not scale");

    let missing = w.tmp.path().join("no-such-dir").join("client.pem");
    let r = w.cli(&["get", &t.web, "--cert", missing.to_str().unwrap()]);
    r.exit(3);
    assert!(r.stderr.contains(missing.to_str().unwrap()), "the error names the missing file: {r}");

    let closed = free_port();
    let r = w.cli(&["list", "--server", &format!("localhost:{closed}")]);
    r.exit(3);
    assert!(r.stderr.contains("cannot connect"), "{r}");
}

fn set_cart(w: &World) {
    let t = w.targets();
    let d = w.cli(&["set", &t.cart, "4", "-o", "json"]).json();
    assert_eq!((d["desiredReplicas"].as_i64(), d["specReplicas"].as_i64()), (Some(4), Some(4)), "{d}");
    assert_eq!(d["mode"], "MODE_ENFORCE", "{d}");
    assert!(d["lastSetBy"].as_str().is_some_and(|s| !s.is_empty()), "{d}");
    let v1 = d["version"].as_str().filter(|v| !v.is_empty()).expect("set returns the version").to_string();

    // The cluster, as kubectl sees it: the Deployment scaled, the ReplicaPolicy written.
    assert_eq!(w.kubectl_spec_replicas(&t.shop, "cart"), 4);
    let table = w.kubectl(&["get", "replicapolicies", "-n", &t.shop, "cart"]).ok();
    assert!(table.lines().next().is_some_and(|h| h.starts_with("NAME") && h.contains("DESIRED")), "{table}");
    assert!(table.lines().skip(1).any(|l| l.split_whitespace().take(2).eq(["cart", "4"])), "{table}");
    let spec =
        w.kubectl(&["get", "replicapolicies", "-n", &t.shop, "cart", "-o", "jsonpath={.spec.replicas} {.spec.mode}"]);
    assert_eq!(spec.ok(), "4 Enforce");

    // The version as a precondition: current succeeds, stale is ABORTED and writes nothing.
    let d = w.cli(&["set", &t.cart, "5", "--expected-version", &v1, "-o", "json"]).json();
    assert_eq!(d["desiredReplicas"], 5, "{d}");
    let v2 = d["version"].as_str().unwrap().to_string();
    assert_ne!(v1, v2, "a write changes the version");
    let r = w.cli(&["set", &t.cart, "6", "--expected-version", &v1]);
    r.exit(1);
    assert!(r.stderr.contains("ABORTED"), "{r}");
    assert!(r.stderr.contains("hint:"), "{r}");
    assert_eq!(w.kubectl_spec_replicas(&t.shop, "cart"), 5, "the aborted set does not scale");
    w.wait_get(&t.cart, &format!("desired 5 at version {v2}"), |d| {
        d["desiredReplicas"] == 5 && d["version"] == v2.as_str()
    });
}

fn diff_ledger(w: &World) {
    let t = w.targets();
    let d = w.cli(&["set", &t.ledger, "1", "--mode", "observe", "-o", "json"]).json();
    assert_eq!((d["desiredReplicas"].as_i64(), d["mode"].as_str()), (Some(1), Some("MODE_OBSERVE")), "{d}");

    w.kubectl(&["scale", "deployment", "ledger", "-n", &t.payments, "--replicas", "3"]).ok();
    let mut last = Value::Null;
    let found =
        testkit::wait_for("diff to show payments/ledger DRIFTED (desired 1, spec 3)", WAIT_TIMEOUT, POLL, || {
            // Exit 1 while anything is out of sync (kubectl diff's convention), 0 when nothing is.
            last = w.cli(&["diff", "-o", "json"]).json_exit(&[0, 1]);
            let d = last["diffs"]
                .as_array()?
                .iter()
                .find(|d| d["namespace"] == t.payments.as_str() && d["name"] == "ledger")?;
            (d["syncStatus"] == "SYNC_STATUS_DRIFTED").then(|| d.clone())
        });
    assert_eq!((found["desiredReplicas"].as_i64(), found["specReplicas"].as_i64()), (Some(1), Some(3)), "{last}");
    assert_eq!(found["mode"], "MODE_OBSERVE", "{found}");
    assert!(found["reason"].as_str().is_some_and(|r| r.contains('3') && r.contains('1')), "{found}");

    let run = w.cli(&["diff"]);
    run.exit(1);
    let table = run.stdout.clone();
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "SYNC", "DESIRED", "EFFECTIVE", "SPEC", "READY", "REASON"], "{table}");
    let row = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|r| r.starts_with(&[t.payments.as_str(), "ledger"]))
        .unwrap_or_else(|| panic!("`diff` lists payments/ledger:\n{table}"));
    // row[4], EFFECTIVE, is whatever the server computes (the declared 1: no hold, no schedule).
    assert_eq!((&row[2..4], row[5]), (&["DRIFTED", "1"][..], "3"), "{table}");
    let only_shop = w.cli(&["diff", "-n", &t.shop]);
    assert!(matches!(only_shop.status.code(), Some(0 | 1)), "{only_shop}");
    assert!(!only_shop.stdout.contains("ledger"), "{only_shop}");
    // An error is greater than 1 (kubectl diff): a refused call exits 4, not 1.
    let refused = w.cli(&["diff", "-l", "a in (b"]);
    refused.exit(4);
    assert!(refused.stderr.contains("INVALID_ARGUMENT"), "{refused}");

    // Observe mode reports drift and never corrects it.
    assert_eq!(w.kubectl_spec_replicas(&t.payments, "ledger"), 3);

    // Undo, for the steps after this one and for a later run against the same cluster.
    w.cli(&["clear", &t.ledger]).ok();
    w.kubectl(&["scale", "deployment", "ledger", "-n", &t.payments, "--replicas", "1"]).ok();
    // Nothing managed in payments any more: in sync, exit 0.
    testkit::wait_for("diff -n payments to exit 0 (in sync)", WAIT_TIMEOUT, POLL, || {
        let r = w.cli(&["diff", "-n", &t.payments]);
        (r.success() && r.stdout.contains("no differences")).then_some(())
    });
}

fn watch_web(w: &World) {
    let t = w.targets();
    let mut watch = w.spawn_watch();
    let mut before_synced = Vec::new();
    watch.read_until("the SYNCED marker", |l| {
        before_synced.push(l.to_string());
        l.starts_with("SYNCED")
    });
    assert!(
        before_synced.iter().any(|l| l.starts_with(&format!("ADDED {} ", t.web))),
        "the snapshot before SYNCED has shop/web: {before_synced:?}"
    );

    w.kubectl(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "5"]).ok();
    let line = watch.read_until("a MODIFIED line for shop/web with spec=5", |l| {
        l.starts_with(&format!("MODIFIED {} ", t.web)) && l.contains(" spec=5 ")
    });
    assert!(line.contains("desired=-") && line.contains("sync=UNMANAGED"), "{line}");

    // Ctrl-C ends the watch with exit code 0.
    let status = watch.interrupt();
    assert_eq!(status.code(), Some(0), "watch exits 0 on SIGINT ({status}); stderr: {}", watch.child.log());

    // Undo, and wait until the server's cache has it, for a later run against the same cluster.
    w.kubectl(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "3"]).ok();
    w.wait_get(&t.web, "spec 3", |d| d["specReplicas"] == 3);
}

/// The incident story of the README: a 3 s hold that goes back by itself, a dry run that
/// writes nothing, a schedule window that covers now, and the state restored at the end.
fn hold_and_schedule_web(w: &World) {
    let t = w.targets();
    let spec = |w: &World| w.kubectl_spec_replicas(&t.shop, "web");
    w.cli(&["set", &t.web, "3"]).ok();
    let d = w.cli(&["set", &t.web, "5", "--for", "3s", "--reason", "e2e incident", "-o", "json"]).json();
    assert_eq!((d["desiredReplicas"].as_i64(), d["effectiveReplicas"].as_i64()), (Some(3), Some(5)), "{d}");
    assert_eq!(d["hold"]["reason"], "e2e incident", "{d}");
    let until: jiff::Timestamp = d["hold"]["until"].as_str().and_then(|u| u.parse().ok()).expect("hold.until");
    assert_eq!(spec(w), 5, "the hold is applied");
    testkit::wait_for("back to the declared 3 after the hold", WAIT_TIMEOUT, POLL, || (spec(w) == 3).then_some(()));
    let late = jiff::Timestamp::now().duration_since(until);
    eprintln!("back to the declared count {late:?} after the hold's expiry (as kubectl polled it)");
    // The reconciler acts 20 ms after the expiry (tests/holds.rs bounds it at 1 s in-process);
    // here each poll is a kubectl process, which adds its own start-up.
    assert!(late < jiff::SignedDuration::from_millis(1500), "back {late:?} after the expiry");
    let events = w.kubectl(&["get", "events", "-n", &t.shop, "-o", "jsonpath={.items[*].reason}"]).ok();
    assert!(events.contains("HoldStarted") && events.contains("HoldExpired"), "{events}");

    // A dry run reports and writes nothing. (The policy's resourceVersion also moves with the
    // reconciler's status writes; tests/holds.rs compares it once those settle. Here: the
    // declaration, its version and who set it when.)
    let declaration =
        "jsonpath={.metadata.generation} {.spec.replicas} {.metadata.annotations.scalekeeper\\.dev/last-set-at}";
    let before = w.kubectl(&["get", "replicapolicies", "-n", &t.shop, "web", "-o", declaration]).ok();
    assert_eq!(before.split_whitespace().count(), 3, "generation, replicas and last-set-at: {before:?}");
    let r = w.cli(&["set", &t.web, "9", "--dry-run", "-o", "json"]).json();
    assert_eq!(r["outcome"]["dryRun"], true, "{r}");
    assert_eq!(r["outcome"]["effectiveReplicasAfter"], 9, "{r}");
    let after = w.kubectl(&["get", "replicapolicies", "-n", &t.shop, "web", "-o", declaration]).ok();
    assert_eq!(before, after, "a dry run wrote the policy");
    assert_eq!(spec(w), 3);
    let r = w.cli(&["set", &t.web, "4", "--if-current", "7"]);
    r.exit(1);
    assert!(r.stderr.contains("FAILED_PRECONDITION"), "{r}");

    // A window that always covers now: its count applies; clearing the schedule goes back.
    w.cli(&["schedule", "set", &t.web, "--window", "Mon-Sun 00:00-24:00 UTC", "--replicas", "2"]).ok();
    assert_eq!(spec(w), 2);
    w.wait_get(&t.web, "effective 2 by the schedule", |d| d["effectiveReplicas"] == 2 && d["rule"] == "RULE_SCHEDULE");
    w.cli(&["schedule", "clear", &t.web]).ok();
    assert_eq!(spec(w), 3);
    w.cli(&["clear", &t.web]).ok();
    w.wait_get(&t.web, "unmanaged again", |d| d["syncStatus"] == "SYNC_STATUS_UNMANAGED");
}

/// The tools of issue 24 as the README's walkthrough runs them: explain and plan on a held and
/// scheduled Deployment, its history after a drift, undo, and a freeze of a namespace thawed
/// again (the freeze-created policy goes with the thaw).
fn incident_tools(w: &World) {
    let t = w.targets();
    w.cli(&["set", &t.cart, "2", "--guard", "off"]).ok();
    w.cli(&["schedule", "set", &t.cart, "--window", "Sat-Sun 00:00-24:00 Europe/Berlin", "--replicas", "1"]).ok();
    w.cli(&["set", &t.cart, "4", "--for", "1h", "--reason", "e2e INC-1"]).ok();

    let e = w.cli(&["explain", &t.cart, "-o", "json"]).json();
    assert_eq!((e["effectiveReplicas"].as_i64(), e["rule"].as_str()), (Some(4), Some("RULE_HOLD")), "{e}");
    let rules: Vec<(&str, &str)> = e["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or(""), r["verdict"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(rules.len(), 3, "{e}");
    assert_eq!(rules[0], ("hold", "VERDICT_WINS"), "{e}");
    assert!(rules[1].0.contains("Sat-Sun") && rules[1].1 != "VERDICT_WINS", "{e}");
    assert_eq!(rules[2], ("declared count", "VERDICT_OVERRIDDEN"), "{e}");
    // The owners of spec.replicas, from managedFields: scalekeeper's own scale write where the
    // API server records one (1.22 and later; 1.20 records none for /scale, so the creator
    // still owns it there).
    let owners = e["replicasOwners"].as_array().unwrap();
    assert!(!owners.is_empty() && e["lastWriter"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    assert!(owners.iter().all(|o| (o["manager"] == "scalekeeper") == (o["scalekeeper"] == true)), "{e}");
    assert!(w.has_pods() || owners.iter().any(|o| o["manager"] == "scalekeeper"), "{e}");
    let table = w.cli(&["explain", &t.cart]).ok();
    assert!(table.starts_with("EFFECTIVE: 4 (hold until "), "{table}");

    let p = w.cli(&["plan", &t.cart, "--next", "2d", "-o", "json"]).json();
    let first = &p["changes"][0];
    assert_eq!(first["fromReplicas"], 4, "{p}");
    assert!(matches!(first["toReplicas"].as_i64(), Some(1 | 2)), "the schedule's 1 or the declared 2: {p}");
    assert!(first["cause"].as_str().is_some_and(|c| c.contains("hold expires")), "{p}");

    // A drift, and the history that records it.
    w.kubectl(&["scale", "deployment", "cart", "-n", &t.shop, "--replicas", "7"]).ok();
    let kinds = |w: &World| -> Vec<(String, Option<i64>, Option<i64>)> {
        w.cli(&["history", &t.cart, "-o", "json"]).json()["entries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["kind"].as_str().unwrap_or("").to_owned(),
                            e["fromReplicas"].as_i64(),
                            e["toReplicas"].as_i64(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    testkit::wait_for("history to record the drift 7 -> 4 corrected", WAIT_TIMEOUT, POLL, || {
        kinds(w).iter().any(|k| k == &("CHANGE_KIND_DRIFT_CORRECTED".to_owned(), Some(7), Some(4))).then_some(())
    });
    let h = kinds(w);
    assert!(h.iter().any(|k| k.0 == "CHANGE_KIND_HOLD_PLACED" && k.2 == Some(4)), "{h:?}");
    assert!(w.cli(&["history", &t.cart]).ok().contains("DriftCorrected"));

    // Undo: declare 3, then undo to the 2 declared before it.
    w.cli(&["clear", &t.cart, "--hold"]).ok();
    w.cli(&["set", &t.cart, "3"]).ok();
    testkit::wait_for("history to record declared 2 -> 3", WAIT_TIMEOUT, POLL, || {
        kinds(w).iter().rev().find(|k| k.0 == "CHANGE_KIND_DECLARED").filter(|k| k.2 == Some(3)).map(|_| ())
    });
    let undone = w.cli(&["undo", &t.cart]).ok();
    assert!(undone.contains("undo to 2"), "{undone}");
    w.wait_get(&t.cart, "declared 2 again", |d| d["desiredReplicas"] == 2);

    // A freeze of payments (ledger unmanaged: the freeze creates its policy), then a thaw.
    let f = w.cli(&["freeze", "-n", &t.payments, "--for", "10m", "--reason", "e2e freeze", "-o", "json"]).json();
    let ledger = f["results"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "ledger"))
        .unwrap_or_else(|| panic!("the freeze reports ledger: {f}"));
    assert_eq!((ledger["outcome"].as_str(), ledger["replicas"].as_i64()), (Some("BULK_OUTCOME_DONE"), Some(1)), "{f}");
    w.wait_get(&t.ledger, "held at 1 by the freeze", |d| d["rule"] == "RULE_HOLD" && d["effectiveReplicas"] == 1);
    w.cli(&["thaw", "-n", &t.payments]).ok();
    w.wait_get(&t.ledger, "unmanaged again after the thaw", |d| d["syncStatus"] == "SYNC_STATUS_UNMANAGED");

    w.cli(&["clear", &t.cart]).ok();
    w.wait_get(&t.cart, "unmanaged again", |d| d["syncStatus"] == "SYNC_STATUS_UNMANAGED");
}

/// The admission guard (issue 23) through kubectl, as an operator with the `edit` role writes:
/// Deny refuses `kubectl scale` (a dry run too), `kubectl patch` of spec.replicas and `kubectl
/// apply` of another count, before anything is stored, so no Pod is deleted; a template-only
/// change (`kubectl rollout restart`), a scale to the declared count, an exempt user and a
/// Deployment an HPA targets pass; Warn lets the write through with kubectl's `Warning:` and the
/// reconciler sets the count back. Where a ReplicaSet controller runs (a real cluster), the pods
/// of a refused scale to 0 are counted, and so is today's loss with the guard Off.
fn admission_guard(w: &World) {
    let t = w.targets();
    w.grant_operator();
    let op = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--as", OPERATOR]);
        w.kubectl(&a)
    };
    let refusal = format!(
        "admission webhook \"{WEBHOOK}\" denied the request: {}: replicas are declared at 3 by {}; change them with \
         scalekeeper set {} N",
        t.web,
        w.identity(),
        t.web
    );
    w.cli(&["set", &t.web, "3", "--guard", "deny"]).ok();
    let d = w.wait_get(&t.web, "guard DENY at 3", |d| d["guard"] == "GUARD_DENY" && d["specReplicas"] == 3);
    assert_eq!(d["effectiveReplicas"], 3, "{d}");
    let get = key_values(&w.cli(&["get", &t.web]).ok());
    assert!(get.contains(&("GUARD".to_string(), "DENY".to_string())), "{get:?}");
    let pods = w.has_pods().then(|| w.wait_pods(&t.shop, "web", 3));
    let generation = w.generation(&t.shop, "web");

    let r = op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "0"]);
    assert!(!r.success() && r.stderr.contains(&refusal), "kubectl scale to 0 is refused:\n{r}\nwanted: {refusal}");
    let r = op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "0", "--dry-run=server"]);
    assert!(!r.success() && r.stderr.contains(&refusal), "a server-side dry run previews the refusal: {r}");
    let r = op(&["patch", "deployment", "web", "-n", &t.shop, "-p", r#"{"spec":{"replicas":1}}"#]);
    assert!(!r.success() && r.stderr.contains(&refusal), "kubectl patch of spec.replicas is refused: {r}");
    // The Deployment as its owner's manifest has it (kubectl before 1.25 checks a whole object
    // client-side), with another count.
    let mut manifest = w.kubectl(&["get", "deployment", "web", "-n", &t.shop, "-o", "json"]).json();
    manifest["spec"]["replicas"] = 4.into();
    manifest.as_object_mut().unwrap().remove("status");
    let meta = manifest["metadata"].as_object_mut().unwrap();
    meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels"));
    let apply = ["apply", "--server-side", "--force-conflicts", "--field-manager", "e2e-gitops", "-f", "-"];
    let r = w.kubectl_stdin(&[&apply[..], &["--as", OPERATOR]].concat(), manifest.to_string().as_bytes());
    assert!(!r.success() && r.stderr.contains(&refusal), "kubectl apply of another count is refused: {r}");
    assert_eq!(w.kubectl_spec_replicas(&t.shop, "web"), 3);
    assert_eq!(w.generation(&t.shop, "web"), generation, "a refused write stores nothing");
    if let Some(before) = &pods {
        let after = w.live_pods(&t.shop, "web");
        let deleted = before.iter().filter(|uid| !after.contains(uid)).count();
        eprintln!("guard Deny: a refused scale to 0 deleted {deleted} of {} pods", before.len());
        assert_eq!(deleted, 0, "pods before {before:?}, after {after:?}");
    }
    let events = w.kubectl(&["get", "events", "-n", &t.shop, "-o", "jsonpath={.items[*].reason}"]).ok();
    assert!(events.contains("ScaleRefused"), "an Event says so: {events}");

    // Today's figure, guard Off: a mistaken scale to 0 is undone within milliseconds, and the
    // ReplicaSet controller has deleted the pods by then.
    if let Some(before) = &pods {
        w.cli(&["set", &t.web, "3", "--guard", "off"]).ok();
        w.wait_get(&t.web, "guard OFF", |d| d["guard"] == "GUARD_OFF");
        let t0 = Instant::now();
        op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "0"]).ok();
        testkit::wait_for("the scale to 0 set back to 3", WAIT_TIMEOUT, POLL, || {
            (w.kubectl_spec_replicas(&t.shop, "web") == 3).then_some(())
        });
        let back = t0.elapsed();
        let after = w.wait_pods(&t.shop, "web", 3);
        let deleted = before.iter().filter(|uid| !after.contains(uid)).count();
        eprintln!(
            "guard Off: a scale to 0 was set back to 3 within {back:?} (as kubectl polled it), and {deleted} of {} \
             pods had been deleted",
            before.len()
        );
        w.cli(&["set", &t.web, "3", "--guard", "deny"]).ok();
    }

    // What passes: a template-only change, the declared count itself, an HPA's target.
    op(&["rollout", "restart", "deployment", "web", "-n", &t.shop]).ok();
    op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "3"]).ok();
    if !w.external {
        // An exempt user's write is stored (and, being a drift, corrected).
        let r = w.kubectl(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "5", "--as", EXEMPT]);
        assert!(r.success(), "an exempt user's write passes: {r}");
        testkit::wait_for("the exempt write set back to 3", WAIT_TIMEOUT, POLL, || {
            (w.kubectl_spec_replicas(&t.shop, "web") == 3).then_some(())
        });
    }
    w.cli(&["set", &t.cart, "2", "--guard", "deny"]).ok();
    let hpa = serde_json::json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "cart", "namespace": t.shop},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart"},
                 "minReplicas": 1, "maxReplicas": 6}});
    w.kubectl_stdin(&["apply", "-f", "-"], hpa.to_string().as_bytes()).ok();
    w.wait_get(&t.cart, "CONFLICT: the HPA owns the count", |d| d["syncStatus"] == "SYNC_STATUS_CONFLICT");
    op(&["scale", "deployment", "cart", "-n", &t.shop, "--replicas", "4"]).ok();
    w.kubectl(&["delete", "horizontalpodautoscaler", "cart", "-n", &t.shop]).ok();
    w.cli(&["clear", &t.cart]).ok();

    // Warn: stored, with kubectl's warning, and set back by the reconciler.
    w.cli(&["set", &t.web, "3", "--guard", "warn"]).ok();
    w.wait_get(&t.web, "guard WARN", |d| d["guard"] == "GUARD_WARN");
    let r = op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "6"]);
    let warning = format!("Warning: {}: spec.replicas 3 -> 6 will be set back to 3: replicas are declared at 3", t.web);
    assert!(r.success() && r.stderr.contains(&warning), "kubectl prints the warning:\n{r}\nwanted: {warning}");
    testkit::wait_for("the warned write set back to 3", WAIT_TIMEOUT, POLL, || {
        (w.kubectl_spec_replicas(&t.shop, "web") == 3).then_some(())
    });

    w.cli(&["clear", &t.web]).ok();
    w.wait_get(&t.web, "unmanaged again", |d| d["syncStatus"] == "SYNC_STATUS_UNMANAGED");
}

/// The two-person rule's doors outside scalekeeper's API (issue 27), through kubectl as an
/// operator allowed to write Deployments and ReplicaPolicies: with an approval rule (a band of
/// 2..=5) on shop/web, a `kubectl scale` past the band is refused though the guard only warns,
/// and so are a `kubectl patch` of the policy's count past the band, of the band itself, and a
/// `kubectl delete` of the policy; writes inside the band pass. Nothing refused is stored.
fn approval_doors(w: &World) {
    let t = w.targets();
    w.grant_operator();
    let writer = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "e2e-policy-writer", "namespace": t.shop},
        "rules": [{"apiGroups": ["scalekeeper.dev"], "resources": ["replicapolicies"],
                   "verbs": ["get", "list", "patch", "update", "delete"]}]});
    let binding = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "e2e-policy-writer", "namespace": t.shop},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "e2e-policy-writer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR},
                     {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": EXEMPT}]});
    for o in [writer, binding] {
        w.kubectl_stdin(&["apply", "-f", "-"], o.to_string().as_bytes()).ok();
    }
    let op = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--as", OPERATOR]);
        w.kubectl(&a)
    };
    let policy = ["replicapolicies.scalekeeper.dev", "web", "-n", t.shop.as_str()];
    let patch = |by: &str, body: &str| {
        let mut a = vec!["patch"];
        a.extend(policy);
        a.extend(["--type=merge", "-p", body, "--as", by]);
        w.kubectl(&a)
    };
    w.cli(&["set", &t.web, "3", "--guard", "warn"]).ok();
    w.cli(&["approval", "set", &t.web, "--above", "5", "--below", "2"]).ok();
    w.wait_get(&t.web, "an approval rule of 2..=5 at 3", |d| d["approval"]["above"] == 5 && d["specReplicas"] == 3);
    let generation = w.generation(&t.shop, "web");
    let denied = format!("admission webhook \"{WEBHOOK}\" denied the request: {}: ", t.web);

    let r = op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "0"]);
    let want = format!(
        "{denied}spec.replicas 3 -> 0 refused: this change needs 1 approval by another identity: 0 is below the \
         approval band's lower edge 2; ask for it with scalekeeper set {} 0, which creates a ScaleRequest",
        t.web
    );
    assert!(
        !r.success() && r.stderr.contains(&want),
        "a scale past the band is refused under guard Warn:\n{r}\nwanted: {want}"
    );
    assert_eq!(w.generation(&t.shop, "web"), generation, "a refused write stores nothing");
    // The command the refusal names runs as given, and asks.
    let hint = w.cli(&["set", &t.web, "0"]);
    assert!(
        !hint.success()
            && hint.stderr.contains("FAILED_PRECONDITION")
            && hint.stderr.contains("requested as ScaleRequest"),
        "the hinted command makes a request: {hint}"
    );
    let r = op(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "4"]);
    assert!(r.success() && r.stderr.contains("Warning:"), "inside the band, guard Warn warns: {r}");
    testkit::wait_for("the warned write set back to 3", WAIT_TIMEOUT, POLL, || {
        (w.kubectl_spec_replicas(&t.shop, "web") == 3).then_some(())
    });

    let r = patch(OPERATOR, r#"{"spec":{"replicas":9}}"#);
    let want = format!(
        "{denied}this edit of the ReplicaPolicy needs 1 approval by another identity: 9 is above the approval \
         band's upper edge 5; make the change through scalekeeper"
    );
    assert!(!r.success() && r.stderr.contains(&want), "kubectl patch of the count past the band:\n{r}\nwanted: {want}");
    let r = patch(OPERATOR, r#"{"spec":{"approval":{"above":50}}}"#);
    assert!(
        !r.success() && r.stderr.contains("changing the approval rule needs approval"),
        "kubectl patch of the band is refused: {r}"
    );
    let r = op(&[&["delete"][..], &policy[..]].concat());
    let want = format!("{denied}deleting the ReplicaPolicy needs 1 approval by another identity");
    assert!(!r.success() && r.stderr.contains(&want), "kubectl delete of the policy:\n{r}\nwanted: {want}");
    let d = w.wait_get(&t.web, "the rule and the count unchanged", |d| d["approval"]["above"] == 5);
    assert_eq!(d["specReplicas"], 3, "{d}");
    let events = w.kubectl(&["get", "events", "-n", &t.shop, "-o", "jsonpath={.items[*].reason}"]).ok();
    assert!(events.contains("PolicyWriteRefused"), "an Event on the policy says so: {events}");

    let r = patch(OPERATOR, r#"{"spec":{"replicas":4}}"#);
    assert!(r.success(), "an edit inside the band passes: {r}");
    w.wait_get(&t.web, "declared 4 by kubectl", |d| d["specReplicas"] == 4);
    // Clean-up: the exempt user may remove the rule (the self-started server exempts it).
    let r = patch(EXEMPT, r#"{"spec":{"approval":null}}"#);
    assert!(r.success(), "the exempt user removes the rule: {r}");
    w.wait_get(&t.web, "no approval rule", |d| d.get("approval").is_none_or(|a| a.is_null()));
    w.cli(&["clear", &t.web]).ok();
    w.wait_get(&t.web, "unmanaged again", |d| d["syncStatus"] == "SYNC_STATUS_UNMANAGED");
}

/// The webhook fails open: a second `scalekeeper serve` (a follower: the first holds the Lease)
/// answers the webhook, which the configuration now names; it is SIGKILLed; a scale to 0 of a
/// Deployment guarded Deny is then stored (`failurePolicy: Ignore`) and the leader sets it back.
fn webhook_killed(w: &mut World) {
    let t = w.targets();
    w.grant_operator();
    w.cli(&["set", &t.web, "3", "--guard", "deny"]).ok();
    w.wait_get(&t.web, "guard DENY", |d| d["guard"] == "GUARD_DENY");
    let (grpc, http, admission) = (free_port(), free_port(), free_port());
    let certs = w.tmp.path().join("certs");
    let mut cmd = w.scalekeeper_command();
    cmd.arg("serve")
        .arg("--authorization=allow-any")
        .args(["--grpc-listen", &format!("127.0.0.1:{grpc}"), "--http-listen", &format!("127.0.0.1:{http}")])
        .args(["--admission-listen", &format!("127.0.0.1:{admission}")])
        .arg("--tls-cert")
        .arg(certs.join("server.pem"))
        .arg("--tls-key")
        .arg(certs.join("server-key.pem"))
        .arg("--client-ca")
        .arg(&w.ca)
        .arg("--kubeconfig")
        .arg(&w.kubeconfig)
        .args(["--log-format", "text"]);
    if w.real {
        cmd.args(["--namespace", &format!("{},{}", w.shop, w.payments), "--lease-namespace", &w.shop]);
    }
    let mut follower = spawn("scalekeeper serve (second replica)", cmd, w.tmp.path());
    let http_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, http));
    follower.wait_until("/readyz 200", WAIT_TIMEOUT, POLL, |_| {
        testkit::http_get_blocking(http_addr, "/readyz", Duration::from_secs(2)).is_some_and(|(code, _)| code == 200)
    });
    w.register_webhook(admission);
    // The follower answers from its own cache.
    let r = w.kubectl(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "0", "--as", OPERATOR]);
    assert!(!r.success() && r.stderr.contains("denied the request"), "the follower refuses: {r}");
    follower.kill();
    let t0 = Instant::now();
    let r = w.kubectl(&["scale", "deployment", "web", "-n", &t.shop, "--replicas", "0", "--as", OPERATOR]);
    assert!(r.success(), "with the webhook gone the write passes (failurePolicy Ignore): {r}");
    testkit::wait_for("the scale to 0 set back to 3 by the leader", WAIT_TIMEOUT, POLL, || {
        (w.kubectl_spec_replicas(&t.shop, "web") == 3).then_some(())
    });
    eprintln!("webhook killed: the write passed and was set back within {:?}", t0.elapsed());
    let port = w.admission_port.expect("the self-started server serves the webhook");
    w.register_webhook(port);
    w.cli(&["clear", &t.web]).ok();
}

fn clear_cart(w: &World) {
    let t = w.targets();
    let out = w.cli(&["clear", &t.cart]).ok();
    let block = key_values(&out);
    let field = |k: &str| block.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(field("SYNC").as_deref(), Some("UNMANAGED"), "{out}");
    assert_eq!(field("DESIRED").as_deref(), Some("-"), "{out}");

    w.wait_get(&t.cart, "unmanaged", |d| {
        d["syncStatus"] == "SYNC_STATUS_UNMANAGED"
            && d.get("desiredReplicas").is_none()
            && d["mode"] == "MODE_UNSPECIFIED"
    });
    // The policy is gone; the replica count stays where it was.
    let r = w.kubectl(&["get", "replicapolicies", "-n", &t.shop, "cart"]);
    assert!(!r.success(), "the ReplicaPolicy is deleted: {r}");
    assert!(r.stderr.contains("NotFound") || r.stderr.contains("not found"), "{r}");
    let kept = w.kubectl_spec_replicas(&t.shop, "cart");
    assert!(kept == 5 || kept == 4, "clear leaves spec.replicas alone (set_cart left 5), got {kept}");
    // Clearing what is not declared succeeds.
    w.cli(&["clear", &t.cart]).ok();
}

// === the world ===

/// The cluster and server the suite runs against, and what it started to have them.
struct World {
    external: bool,
    /// The namespaces of the seed's `shop` and `payments`: the same names, except on a real
    /// cluster the suite seeds itself (`shop-<suffix>`, `payments-<suffix>`).
    shop: String,
    payments: String,
    /// Namespaces the suite created, deleted (without waiting) when the world is dropped.
    created_namespaces: Vec<String>,
    /// Whether the suite started `scalekeeper serve` against a real cluster.
    real: bool,
    kubeconfig: PathBuf,
    server: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    kubectl: PathBuf,
    tmp: tempfile::TempDir,
    /// Started processes, in start order; stopped in reverse.
    procs: Vec<Child>,
    /// The self-started server's admission webhook port (`None`: an existing cluster's chart
    /// registered its own).
    admission_port: Option<u16>,
    /// The ValidatingWebhookConfiguration the suite registered (deleted with the world).
    webhook_configuration: Option<String>,
}

impl World {
    fn from_env() -> World {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let tmp = tempfile::Builder::new().prefix("scalekeeper-e2e-").tempdir().unwrap();
        match (var("SCALEKEEPER_E2E_KUBECONFIG"), var("SCALEKEEPER_E2E_SERVER")) {
            (Some(kubeconfig), Some(server)) => {
                let file = |name: &str| {
                    PathBuf::from(var(name).unwrap_or_else(|| {
                        panic!(
                            "SCALEKEEPER_E2E_KUBECONFIG and SCALEKEEPER_E2E_SERVER are set (existing cluster), \
                             so {name} must be set too: the server requires mutual TLS"
                        )
                    }))
                };
                assert!(
                    var(REAL_KUBECONFIG).is_none(),
                    "SCALEKEEPER_E2E_KUBECONFIG/SERVER (an existing cluster with its server) and {REAL_KUBECONFIG} \
                     (a cluster the suite starts its server against) exclude each other"
                );
                World {
                    external: true,
                    shop: "shop".into(),
                    payments: "payments".into(),
                    created_namespaces: Vec::new(),
                    real: false,
                    kubeconfig: kubeconfig.into(),
                    server: server.to_string_lossy().into_owned(),
                    ca: file("SCALEKEEPER_E2E_CA"),
                    cert: file("SCALEKEEPER_E2E_CERT"),
                    key: file("SCALEKEEPER_E2E_KEY"),
                    kubectl: testkit::kubectl().to_path_buf(),
                    tmp,
                    procs: Vec::new(),
                    admission_port: None,
                    webhook_configuration: None,
                }
            }
            (None, None) => World::start(tmp, var(REAL_KUBECONFIG).map(PathBuf::from)),
            _ => panic!(
                "set both SCALEKEEPER_E2E_KUBECONFIG and SCALEKEEPER_E2E_SERVER (an existing cluster) or neither \
                 (the suite starts kubesim and the server itself)"
            ),
        }
    }

    /// Starts kubesim (or, given `real`, uses that cluster) and `scalekeeper serve` as processes,
    /// the way a user would.
    fn start(tmp: tempfile::TempDir, real: Option<PathBuf>) -> World {
        let seed = workspace_root().join("examples/kubesim-seed.yaml");
        assert!(seed.is_file(), "seed file {} exists", seed.display());
        let mut world = match real {
            None => World::start_kubesim(tmp, &seed),
            Some(kubeconfig) => World::seed_real(tmp, kubeconfig, &seed),
        };
        let dir = world.tmp.path().to_path_buf();

        let crd = world.scalekeeper(&["crd"]).ok();
        assert!(crd.contains("replicapolicies.scalekeeper.dev"), "{crd}");
        if world.real {
            // Cluster-scoped and shared with the tests running in parallel: server-side apply is
            // idempotent and takes over whatever another installer set.
            world.kubectl_stdin(&["apply", "--server-side", "--force-conflicts", "-f", "-"], crd.as_bytes()).ok();
            world
                .kubectl(&[
                    "wait",
                    "--for",
                    "condition=established",
                    "--timeout",
                    "30s",
                    "crd/replicapolicies.scalekeeper.dev",
                ])
                .ok();
        } else {
            world.kubectl_stdin(&["apply", "-f", "-"], crd.as_bytes()).ok();
        }

        let certs = dir.join("certs");
        let out = world.scalekeeper(&["certs", "--dir", certs.to_str().unwrap(), "--client", IDENTITY]).ok();
        world.ca = certs.join("ca.pem");
        world.cert = certs.join(format!("client-{IDENTITY}.pem"));
        world.key = certs.join(format!("client-{IDENTITY}-key.pem"));
        for f in [&world.ca, &world.cert, &world.key] {
            assert!(out.contains(f.to_str().unwrap()), "`scalekeeper certs` wrote {}:\n{out}", f.display());
        }

        let (grpc, http, admission) = (free_port(), free_port(), free_port());
        let mut cmd = world.scalekeeper_command();
        cmd.arg("serve")
            // Authorization has its own suite (tests/authz.rs).
            .arg("--authorization=allow-any")
            .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
            .args(["--http-listen", &format!("127.0.0.1:{http}")])
            .arg("--tls-cert")
            .arg(certs.join("server.pem"))
            .arg("--tls-key")
            .arg(certs.join("server-key.pem"))
            .arg("--client-ca")
            .arg(&world.ca)
            .arg("--kubeconfig")
            .arg(&world.kubeconfig)
            .args(["--log-format", "text"])
            .args(["--admission-listen", &format!("127.0.0.1:{admission}")])
            .args(["--admission-exempt", &format!("user:{EXEMPT}")]);
        if world.real {
            // Only the suite's namespaces, and a Lease of its own there: other tests share the
            // cluster.
            cmd.args(["--namespace", &format!("{},{}", world.shop, world.payments)]);
            cmd.args(["--lease-namespace", &world.shop]);
        }
        world.procs.push(spawn("scalekeeper serve", cmd, &dir));
        world.server = format!("localhost:{grpc}");
        let http_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, http));
        world.procs.last_mut().unwrap().wait_until("/readyz 200", WAIT_TIMEOUT, POLL, |_| {
            testkit::http_get_blocking(http_addr, "/readyz", Duration::from_secs(2))
                .is_some_and(|(code, _)| code == 200)
        });
        world.admission_port = Some(admission);
        world.register_webhook(admission);
        world
    }

    /// The API server's minor version (1.x), as `kubectl version` reports it.
    fn kube_minor(&self) -> u32 {
        let v = self.kubectl(&["version", "-o", "json"]).json();
        let minor = v["serverVersion"]["minor"].as_str().unwrap_or_default();
        minor.trim_end_matches('+').parse().unwrap_or_else(|_| panic!("a server minor version: {v}"))
    }

    /// Registers (or re-points) the suite's ValidatingWebhookConfiguration at the webhook on
    /// 127.0.0.1:`port`, as a user would: `scalekeeper admission-config | kubectl apply -f -`,
    /// guarding the seed namespaces only. Before Kubernetes 1.21 the API server sets no
    /// `kubernetes.io/metadata.name` label, which the configuration selects namespaces by: the
    /// suite sets it on its namespaces there.
    fn register_webhook(&mut self, port: u16) {
        let name = self
            .webhook_configuration
            .get_or_insert_with(|| format!("scalekeeper-e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
        let name = name.clone();
        let minor = self.kube_minor();
        if minor < 21 {
            for ns in [self.shop.clone(), self.payments.clone()] {
                let label = format!("kubernetes.io/metadata.name={ns}");
                self.kubectl(&["label", "namespace", &ns, &label, "--overwrite"]).ok();
            }
        }
        let yaml = self
            .scalekeeper(&[
                "admission-config",
                "--url",
                &format!("https://127.0.0.1:{port}"),
                "--ca-file",
                self.ca.to_str().unwrap(),
                "--namespace",
                &self.shop,
                "--namespace",
                &self.payments,
                "--name",
                &name,
                "--kube-version",
                &format!("1.{minor}"),
            ])
            .ok();
        assert!(yaml.contains("kind: ValidatingWebhookConfiguration"), "{yaml}");
        // Server-side: the configuration is replaced whole (kubesim applies strategic merge
        // patches with merge semantics, which would cut the webhook entry down to what changed).
        self.kubectl_stdin(&["apply", "--server-side", "--force-conflicts", "-f", "-"], yaml.as_bytes()).ok();
    }

    /// Starts the `kubesim` binary with the seed and waits for its kubeconfig.
    fn start_kubesim(tmp: tempfile::TempDir, seed: &Path) -> World {
        // Against kubesim, whose version is known, the versioned kubectl behind gcloud's
        // dispatcher; elsewhere the dispatcher chooses.
        let kubectl = testkit::kubectl_for_server(kubesim::api::KUBE_MINOR);
        let dir = tmp.path().to_path_buf();
        let kubeconfig = dir.join("kubeconfig");
        let mut cmd = Command::new(kubesim_binary());
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--seed")
            .arg(seed)
            .env_remove("KUBESIM_LISTEN")
            .env_remove("KUBESIM_KUBECONFIG")
            .env_remove("KUBESIM_TOKEN")
            .env_remove("KUBESIM_ADMIN_LISTEN");
        let kubesim = spawn("kubesim", cmd, &dir);
        let mut world = World {
            external: false,
            shop: "shop".into(),
            payments: "payments".into(),
            created_namespaces: Vec::new(),
            real: false,
            kubeconfig,
            server: String::new(),
            ca: PathBuf::new(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            kubectl,
            tmp,
            procs: vec![kubesim],
            admission_port: None,
            webhook_configuration: None,
        };
        // kubesim prints this line once the seed is loaded and the kubeconfig written.
        world.procs[0].wait_until("its kubeconfig", WAIT_TIMEOUT, POLL, |p| p.stdout().contains("kubesim serving at"));
        world
    }

    /// Uses the real cluster of `kubeconfig`: creates namespaces of the suite's own and the seed's
    /// Deployments in them, with kubectl.
    fn seed_real(tmp: tempfile::TempDir, kubeconfig: PathBuf, seed: &Path) -> World {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let mut world = World {
            external: false,
            shop: format!("shop-{suffix}"),
            payments: format!("payments-{suffix}"),
            created_namespaces: Vec::new(),
            real: true,
            kubeconfig,
            server: String::new(),
            ca: PathBuf::new(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            kubectl: testkit::kubectl().to_path_buf(),
            tmp,
            procs: Vec::new(),
            admission_port: None,
            webhook_configuration: None,
        };
        let rename = |ns: &str| match ns {
            "shop" => world.shop.clone(),
            "payments" => world.payments.clone(),
            other => panic!("the seed file has namespace {other}; the suite knows shop and payments"),
        };
        let mut items = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&std::fs::read_to_string(seed).unwrap_or_default()) {
            use serde::Deserialize as _;
            let mut v = Value::deserialize(doc).expect("the seed file is YAML");
            match v["kind"].as_str() {
                Some("Namespace") => {
                    let name = rename(v["metadata"]["name"].as_str().unwrap());
                    v["metadata"]["name"] = name.into();
                }
                Some(_) => {
                    let ns = rename(v["metadata"]["namespace"].as_str().unwrap());
                    v["metadata"]["namespace"] = ns.into();
                }
                None => continue,
            }
            items.push(v);
        }
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        world.created_namespaces = vec![world.shop.clone(), world.payments.clone()];
        world.kubectl_stdin(&["create", "-f", "-"], list.to_string().as_bytes()).ok();
        world
    }

    fn targets(&self) -> Targets {
        Targets {
            shop: self.shop.clone(),
            payments: self.payments.clone(),
            web: format!("{}/web", self.shop),
            cart: format!("{}/cart", self.shop),
            ledger: format!("{}/ledger", self.payments),
        }
    }

    /// [`SEED`] with this world's namespaces.
    fn seed(&self) -> Vec<(String, &'static str, i64)> {
        SEED.iter()
            .map(|&(ns, name, replicas)| {
                (if ns == "shop" { self.shop.clone() } else { self.payments.clone() }, name, replicas)
            })
            .collect()
    }

    fn describe(&self) -> String {
        let mode = match (self.external, self.real) {
            (true, _) => "existing cluster",
            (false, true) => "real cluster + self-started scalekeeper serve",
            (false, false) => "self-started kubesim + scalekeeper serve",
        };
        format!(
            "{mode}; server {}; kubeconfig {}; kubectl {}",
            self.server,
            self.kubeconfig.display(),
            self.kubectl.display()
        )
    }

    /// The `scalekeeper` binary with no `SCALEKEEPER_*` variables from the caller's environment.
    fn scalekeeper_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SCALEKEEPER_") {
                cmd.env_remove(k);
            }
        }
        // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
        cmd.env("SCALEKEEPER_CONFIG", self.tmp.path().join("no-client-config.yaml"));
        cmd
    }

    /// Runs `scalekeeper ARGS` with nothing pointing it at a server.
    fn scalekeeper(&self, args: &[&str]) -> Run {
        let mut cmd = self.scalekeeper_command();
        cmd.args(args);
        run(cmd, None)
    }

    /// A client command, configured through the environment as the env file of `scalekeeper dev`
    /// does.
    fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.scalekeeper_command();
        cmd.env("SCALEKEEPER_SERVER", &self.server)
            .env("SCALEKEEPER_CA", &self.ca)
            .env("SCALEKEEPER_CERT", &self.cert)
            .env("SCALEKEEPER_KEY", &self.key)
            .args(args);
        cmd
    }

    fn cli(&self, args: &[&str]) -> Run {
        run(self.cli_command(args), None)
    }

    /// A client command, configured with flags.
    fn cli_with_flags(&self, args: &[&str]) -> Run {
        let mut cmd = self.scalekeeper_command();
        cmd.args(args)
            .args(["--server", &self.server])
            .arg("--ca")
            .arg(&self.ca)
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key);
        run(cmd, None)
    }

    fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        // argv[0] names the client in its User-Agent, from which the API server derives the
        // default field manager.
        cmd.arg0("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.tmp.path().join("kube-cache"))
            .args(args)
            .env_remove("KUBECONFIG");
        cmd
    }

    fn kubectl(&self, args: &[&str]) -> Run {
        run(self.kubectl_command(args), None)
    }

    fn kubectl_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        run(self.kubectl_command(args), Some(input))
    }

    /// `spec.replicas` of a Deployment, as kubectl reads it.
    fn kubectl_spec_replicas(&self, ns: &str, name: &str) -> i64 {
        let r = self.kubectl(&["get", "deployment", name, "-n", ns, "-o", "jsonpath={.spec.replicas}"]);
        r.ok().trim().parse().unwrap_or_else(|_| panic!("spec.replicas of {ns}/{name} is a number: {r}"))
    }

    /// The identity of the suite's client certificate (the `last-set-by` of its declarations).
    fn identity(&self) -> String {
        if self.external {
            std::env::var("SCALEKEEPER_E2E_IDENTITY").unwrap_or_else(|_| IDENTITY.to_string())
        } else {
            IDENTITY.to_string()
        }
    }

    /// Lets [`OPERATOR`] edit the seed namespaces (the built-in `edit` ClusterRole), so that a
    /// real API server's RBAC lets its writes through to the webhook.
    fn grant_operator(&self) {
        for ns in [&self.shop, &self.payments] {
            let binding = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": OPERATOR, "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR},
                             {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": EXEMPT}]});
            self.kubectl_stdin(&["apply", "-f", "-"], binding.to_string().as_bytes()).ok();
        }
    }

    /// `metadata.generation` of a Deployment.
    fn generation(&self, ns: &str, name: &str) -> i64 {
        let r = self.kubectl(&["get", "deployment", name, "-n", ns, "-o", "jsonpath={.metadata.generation}"]);
        r.ok().trim().parse().unwrap_or_else(|_| panic!("a generation: {r}"))
    }

    /// Whether pods exist here (a ReplicaSet controller runs): a real cluster, not kubesim.
    fn has_pods(&self) -> bool {
        self.real || self.external
    }

    /// The UIDs of the live pods (no deletionTimestamp) of Deployment `name` (label `app=name`).
    fn live_pods(&self, ns: &str, name: &str) -> Vec<String> {
        let template = "jsonpath={range .items[*]}{.metadata.uid} {.metadata.deletionTimestamp}{\"\\n\"}{end}";
        let out = self.kubectl(&["get", "pods", "-n", ns, "-l", &format!("app={name}"), "-o", template]).ok();
        out.lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let uid = f.next()?;
                f.next().is_none().then(|| uid.to_string())
            })
            .collect()
    }

    /// Waits until Deployment `name` has exactly `count` live pods; their UIDs.
    fn wait_pods(&self, ns: &str, name: &str, count: usize) -> Vec<String> {
        testkit::wait_for(&format!("{count} live pods of {ns}/{name}"), WAIT_TIMEOUT, POLL, || {
            let pods = self.live_pods(ns, name);
            (pods.len() == count).then_some(pods)
        })
    }

    /// Polls `scalekeeper get TARGET -o json` until `cond` holds (reads come from the server's
    /// cache, which follows the cluster a little behind).
    fn wait_get(&self, target: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        testkit::wait_for(&format!("`get {target}` to show {what}"), WAIT_TIMEOUT, POLL, || {
            let d = self.cli(&["get", target, "-o", "json"]).json();
            cond(&d).then_some(d)
        })
    }

    /// Starts `scalekeeper watch` with its stdout read line by line.
    fn spawn_watch(&self) -> Watch {
        let stderr = self.tmp.path().join("watch.stderr");
        let mut cmd = self.cli_command(&["watch"]);
        let mut child = Child::spawn("scalekeeper watch", &mut cmd, &stderr, Stdout::Piped);
        let stdout = child.take_stdout().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines: rx, seen: Vec::new() }
    }

    fn dump_logs(&self) {
        for p in &self.procs {
            eprintln!("----- {} log (last 60 lines) -----\n{}", p.name(), tail(&p.log(), 60));
        }
    }

    /// Stops what the suite started: SIGTERM, newest first; each must exit 0.
    fn shutdown(mut self) {
        while let Some(mut p) = self.procs.pop() {
            let t = Instant::now();
            let status = p.terminate(WAIT_TIMEOUT);
            eprintln!("{} stopped in {:?}: {status:?}", p.name(), t.elapsed());
            match status {
                Some(s) if s.code() == Some(0) => {}
                other => panic!(
                    "{} should exit 0 within {WAIT_TIMEOUT:?} of SIGTERM, got {other:?}; log:\n{}",
                    p.name(),
                    tail(&p.log(), 60)
                ),
            }
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // SIGTERM first, as a user would stop them, then SIGKILL.
        while let Some(mut p) = self.procs.pop() {
            p.terminate(WAIT_TIMEOUT);
        }
        // On kubesim the configuration went with the server.
        if let Some(name) = self.webhook_configuration.take().filter(|_| self.real) {
            let r = self.kubectl(&["delete", "validatingwebhookconfiguration", &name, "--ignore-not-found"]);
            if !r.success() {
                eprintln!("deleting the suite's ValidatingWebhookConfiguration: {r}");
            }
        }
        if !self.created_namespaces.is_empty() && std::env::var_os("SCALEKEEPER_TEST_KEEP_NAMESPACES").is_none() {
            let mut args = vec!["delete", "namespace", "--wait=false"];
            args.extend(self.created_namespaces.iter().map(String::as_str));
            let r = self.kubectl(&args);
            if !r.success() {
                eprintln!("deleting the suite's namespaces: {r}");
            }
        }
    }
}

/// The namespaces and `NAMESPACE/NAME` targets of the seed Deployments in this world.
struct Targets {
    shop: String,
    payments: String,
    web: String,
    cart: String,
    ledger: String,
}

/// Starts `cmd` as `name`, its stdout and stderr in `dir` (`<name>.stdout`, `<name>.log`).
fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Child {
    let slug = name.replace(' ', "-");
    Child::spawn(name, &mut cmd, &dir.join(format!("{slug}.log")), Stdout::File(&dir.join(format!("{slug}.stdout"))))
}

/// A running `scalekeeper watch`; killed when dropped.
struct Watch {
    /// Its stderr is the child's log.
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    /// Reads lines until one satisfies `f` (returned), within [`WAIT_TIMEOUT`].
    fn read_until(&mut self, what: &str, mut f: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if f(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "watch: no {what} within {WAIT_TIMEOUT:?} ({e}); lines so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.child.log()
                ),
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit.
    fn interrupt(&mut self) -> ExitStatus {
        self.child.signal("INT");
        self.child.wait_exit(WAIT_TIMEOUT, POLL)
    }
}

// === processes ===

/// What one run printed, and how it exited.
struct Run {
    cmd: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` exited {}\nstdout:\n{}\nstderr:\n{}", self.cmd, self.status, self.stdout, self.stderr)
    }
}

impl Run {
    fn success(&self) -> bool {
        self.status.success()
    }

    /// Asserts exit code 0; returns stdout.
    #[track_caller]
    fn ok(&self) -> String {
        assert!(self.success(), "expected success: {self}");
        self.stdout.clone()
    }

    /// Asserts exit code 0 and parses stdout as JSON.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.ok()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }

    /// Asserts the exit code is one of `codes`; parses stdout as JSON.
    #[track_caller]
    fn json_exit(&self, codes: &[i32]) -> Value {
        assert!(self.status.code().is_some_and(|c| codes.contains(&c)), "expected exit code in {codes:?}: {self}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }

    /// Asserts the exit code.
    #[track_caller]
    fn exit(&self, code: i32) {
        assert_eq!(self.status.code(), Some(code), "expected exit code {code}: {self}");
    }
}

/// Runs `cmd` to completion (at most [`RUN_TIMEOUT`]), feeding it `input`.
fn run(mut cmd: Command, input: Option<&[u8]>) -> Run {
    let mut shown: Vec<String> = vec![Path::new(cmd.get_program()).file_name().unwrap().to_string_lossy().into_owned()];
    shown.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let shown = shown.join(" ");
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("`{shown}` cannot be started: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        thread::spawn(move || stdin.write_all(&input));
    }
    let collect = |mut r: Box<dyn std::io::Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let status = testkit::try_wait_for(&shown, RUN_TIMEOUT, Duration::from_millis(5), || child.try_wait().unwrap())
        .unwrap_or_else(|_| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{shown}` did not finish within {RUN_TIMEOUT:?}");
        });
    Run { cmd: shown, status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// `NAMESPACE/NAME` of every Deployment in a JSON array.
fn names(deployments: &Value) -> Vec<String> {
    let list = deployments.as_array().unwrap_or_else(|| panic!("a list of deployments: {deployments}"));
    list.iter().map(|d| format!("{}/{}", d["namespace"].as_str().unwrap(), d["name"].as_str().unwrap())).collect()
}

/// The `KEY: value` lines of `get`/`set`/`clear` table output.
fn key_values(out: &str) -> Vec<(String, String)> {
    out.lines().filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// === binaries ===

/// The `kubesim` binary: next to the `scalekeeper` binary when a workspace build made it (as
/// `cargo test --workspace` does), else built now with the cargo running this test.
fn kubesim_binary() -> PathBuf {
    let beside =
        Path::new(env!("CARGO_BIN_EXE_scalekeeper")).with_file_name(format!("kubesim{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        return beside;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--locked", "-p", "kubesim", "--bin", "kubesim", "--message-format=json-render-diagnostics"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} cannot be run to build kubesim: {e}", cargo.to_string_lossy()));
    assert!(
        out.status.success(),
        "`cargo build --locked -p kubesim` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "kubesim")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from));
    built.or_else(|| beside.is_file().then_some(beside)).expect("cargo build reports the kubesim executable")
}
