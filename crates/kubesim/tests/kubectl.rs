//! kubectl conformance: the real `kubectl` binary, driven against an in-process kubesim,
//! sees what it would see from a real API server — tables with Deployment READY columns,
//! JSON identical to kubesim's stored view, `scale`/`annotate`/`label`/`patch` landing in
//! kubesim's state with the field managers kubectl uses, `create -f`, client- and
//! server-side `apply` (including CRDs and their objects, generation bumps and apply
//! conflicts), `delete` with garbage collection, `get --watch`, `describe` listing
//! events.k8s.io/v1 Events, the error texts kubectl prints for 404/409/422, and what
//! kubectl does when a request fails with 503.
//!
//! Every test starts its own kubesim on port 0 and gives kubectl its own kubeconfig and
//! discovery cache directory, so the tests run in parallel. Each test checks kubesim's
//! state (`sim.get`, `sim.writes`), not only kubectl's exit code and output.
//!
//! kubectl (v1.32 or newer: the error texts asserted are kubectl's own wording, which older
//! releases differ in) is required: when it is not on PATH these tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use kubesim::{FaultSpec, Sim, SimConfig, WriteRecord};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// The objects every test starts with: namespaces `shop` and `payments`, Deployments
/// `shop/web` (3 replicas), `shop/cart` (2) and `payments/ledger` (1).
const SEED: &str = include_str!("../../../examples/kubesim-seed.yaml");

/// How long any single kubectl invocation or awaited condition may take.
const TIMEOUT: Duration = Duration::from_secs(20);

// === kubectl ===

/// The kubectl binary to run.
///
/// gcloud's `kubectl` is a dispatcher: it first GETs `/version` on its own (which would
/// consume an injected fault meant for kubectl) and then execs `kubectl.<major>.<minor>`
/// matching the server. When that is what PATH holds, the tests run the versioned binary
/// the dispatcher would pick for kubesim directly, so every request kubesim sees is
/// kubectl's own.
fn kubectl_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let found = std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.is_file());
        let Some(kubectl) = found else {
            panic!(
                "kubectl is not on PATH. These conformance tests drive the real kubectl binary (v1.32 or \
                 newer) against kubesim and cannot run without it: install kubectl \
                 (https://kubernetes.io/docs/tasks/tools/) and make sure `kubectl version --client` works."
            )
        };
        let out = std::process::Command::new(&kubectl)
            .args(["version", "--client", "-o", "json"])
            .output()
            .unwrap_or_else(|e| panic!("kubectl at {} cannot be run: {e}", kubectl.display()));
        assert!(
            out.status.success(),
            "`{} version --client` failed: {}",
            kubectl.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let version: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let git_version = version.pointer("/clientVersion/gitVersion").and_then(Value::as_str).unwrap_or("");
        if git_version.contains("dispatcher")
            && let Some(dir) = kubectl.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let versioned = dir.join(format!("kubectl.1.{}", kubesim::api::KUBE_MINOR));
            if versioned.is_file() {
                return versioned;
            }
        }
        kubectl
    })
}

/// What one kubectl run printed.
#[derive(Debug)]
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts the run succeeded; returns stdout.
    #[track_caller]
    fn ok(&self) -> &str {
        assert!(self.success, "kubectl failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Asserts the run failed; returns stderr.
    #[track_caller]
    fn failed(&self) -> &str {
        assert!(!self.success, "kubectl succeeded but should have failed:\nstdout: {}", self.stdout);
        &self.stderr
    }
}

/// One test's kubesim plus the kubeconfig and discovery cache its kubectl runs use.
struct Cluster {
    sim: Sim,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Cluster {
    /// Starts a kubesim on port 0, loads [`SEED`] and waits until the Deployment
    /// controller has made every seeded Deployment ready.
    async fn start() -> Cluster {
        let sim = Sim::start(SimConfig::default()).await.expect("kubesim starts");
        sim.seed_yaml(SEED).expect("seed loads");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
        let cache = dir.path().join("cache");
        let c = Cluster { sim, dir, kubeconfig, cache };
        for (ns, name) in [("shop", "web"), ("shop", "cart"), ("payments", "ledger")] {
            c.wait_ready(ns, name).await;
        }
        c
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(kubectl_binary());
        // argv[0] names the client in its User-Agent ("kubectl/v1.x ..."), from which the
        // API server derives the default field manager.
        cmd.arg0("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl with `args` to completion (at most [`TIMEOUT`]).
    async fn kubectl(&self, args: &[&str]) -> Run {
        let out = tokio::time::timeout(TIMEOUT, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within {TIMEOUT:?}"))
            .expect("kubectl runs");
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Writes `contents` to a file in the test's temp dir; returns its path as a string.
    fn file(&self, name: &str, contents: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("file written");
        p.to_string_lossy().into_owned()
    }

    fn deployment(&self, ns: &str, name: &str) -> Option<Value> {
        self.sim.get("apps/v1", "Deployment", ns, name)
    }

    /// Waits until the Deployment's status reports as many ready replicas as its spec asks.
    async fn wait_ready(&self, ns: &str, name: &str) {
        wait_for(&format!("deployment {ns}/{name} ready"), || {
            self.deployment(ns, name).is_some_and(|d| {
                d.pointer("/status/readyReplicas").and_then(Value::as_i64)
                    == d.pointer("/spec/replicas").and_then(Value::as_i64)
            })
        })
        .await;
    }

    /// The writes kubesim recorded from `manager`.
    fn writes_by(&self, manager: &str) -> Vec<WriteRecord> {
        self.sim.writes().into_iter().filter(|w| w.field_manager == manager).collect()
    }

    /// Writes kubectl made with its default field manager (the User-Agent's "kubectl").
    fn kubectl_writes(&self) -> Vec<WriteRecord> {
        self.sim.writes().into_iter().filter(|w| w.field_manager.starts_with("kubectl")).collect()
    }
}

/// Polls `cond` every 20 ms until it holds; panics after [`TIMEOUT`].
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {TIMEOUT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The managedFields entry of `obj` written by `manager` with `operation` (and subresource).
fn managed_entry<'a>(obj: &'a Value, manager: &str, operation: &str, subresource: Option<&str>) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?.as_array()?.iter().find(|e| {
        e["manager"] == json!(manager)
            && e["operation"] == json!(operation)
            && e.get("subresource").and_then(Value::as_str) == subresource
    })
}

fn deployment_yaml(ns: &str, name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: {name}
        image: example/{name}:1
"
    )
}

/// An events.k8s.io/v1 Event about the Deployment `shop/web` (whose uid is `uid`), as a
/// controller reporting a scale would create it.
fn event_yaml(name: &str, uid: &str) -> String {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.000000Z");
    format!(
        "apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: {name}
  namespace: shop
eventTime: \"{now}\"
reportingController: scalekeeper.io/controller
reportingInstance: scalekeeper-0
action: Scale
reason: ScaledUp
note: Scaled web from 3 to 5 replicas
type: Normal
regarding:
  apiVersion: apps/v1
  kind: Deployment
  name: web
  namespace: shop
  uid: {uid}
"
    )
}

fn uid(obj: &Value) -> String {
    obj.pointer("/metadata/uid").and_then(Value::as_str).expect("object has a uid").to_string()
}

// === reads ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_deployments_all_namespaces_shows_ready_columns() {
    let c = Cluster::start().await;
    let out = c.kubectl(&["get", "deployments", "-A"]).await;
    let table = out.ok();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{table}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "one row per seeded Deployment:\n{table}");
    for (ns, name) in [("payments", "ledger"), ("shop", "cart"), ("shop", "web")] {
        let d = c.deployment(ns, name).expect("seeded Deployment is stored");
        let replicas = d["spec"]["replicas"].as_i64().expect("replicas");
        let row =
            rows.iter().find(|r| r[0] == ns && r[1] == name).unwrap_or_else(|| panic!("{ns}/{name} row:\n{table}"));
        assert_eq!(row[2], format!("{}/{replicas}", d["status"]["readyReplicas"]), "READY is ready/desired");
        assert_eq!(row[3], d["status"]["updatedReplicas"].to_string(), "UP-TO-DATE");
        assert_eq!(row[4], d["status"]["availableReplicas"].to_string(), "AVAILABLE");
    }
    // Rows come sorted by namespace, then name, as the server lists them.
    let order: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(order, [("payments", "ledger"), ("shop", "cart"), ("shop", "web")]);
    assert!(c.kubectl_writes().is_empty(), "a get writes nothing: {:?}", c.kubectl_writes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_json_is_the_stored_object() {
    let c = Cluster::start().await;
    let out = c.kubectl(&["get", "deployment", "web", "-n", "shop", "-o", "json"]).await;
    let got: Value = serde_json::from_str(out.ok()).expect("kubectl -o json prints JSON");
    let mut stored = c.deployment("shop", "web").expect("web is stored");
    // kubectl hides managedFields unless --show-managed-fields; everything else is verbatim.
    stored["metadata"].as_object_mut().expect("metadata").remove("managedFields");
    assert_eq!(got, stored);

    let out = c.kubectl(&["get", "deployment", "web", "-n", "shop", "-o", "json", "--show-managed-fields"]).await;
    let got: Value = serde_json::from_str(out.ok()).expect("JSON");
    assert_eq!(got, c.deployment("shop", "web").expect("web is stored"));

    let out = c.kubectl(&["get", "deployments", "-n", "shop", "-o", "json"]).await;
    let list: Value = serde_json::from_str(out.ok()).expect("JSON");
    let names: Vec<&str> =
        list["items"].as_array().expect("items").iter().filter_map(|i| i["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["cart", "web"]);
    assert!(c.kubectl_writes().is_empty(), "a get writes nothing");
}

// === writes ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_deployment_writes_the_scale_subresource() {
    let c = Cluster::start().await;
    let before = c.deployment("shop", "web").expect("web");
    let out = c.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web scaled");

    let d = c.deployment("shop", "web").expect("web");
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], before["metadata"]["generation"].as_i64().expect("generation") + 1);
    assert_eq!(d["metadata"]["uid"], before["metadata"]["uid"]);
    // kubectl scale sends no fieldManager: the server names it after the User-Agent.
    let entry = managed_entry(&d, "kubectl", "Update", Some("scale"))
        .unwrap_or_else(|| panic!("no kubectl/Update/scale managedFields entry: {:#}", d["metadata"]["managedFields"]));
    assert_eq!(entry["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(entry["apiVersion"], "apps/v1");
    let writes = c.writes_by("kubectl");
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].verb.as_str(), writes[0].subresource.as_deref(), writes[0].name.as_str()),
        ("patch", Some("scale"), "web")
    );
    // The Deployment controller catches up, and kubectl shows it.
    c.wait_ready("shop", "web").await;
    let out = c.kubectl(&["get", "deployment", "web", "-n", "shop", "--no-headers"]).await;
    assert_eq!(out.ok().split_whitespace().nth(1), Some("5/5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotate_and_label_change_metadata_only() {
    let c = Cluster::start().await;
    let generation = c.deployment("shop", "web").expect("web")["metadata"]["generation"].clone();

    let out = c.kubectl(&["annotate", "deployment", "web", "-n", "shop", "scalekeeper.io/owner=team-a"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web annotated");
    let d = c.deployment("shop", "web").expect("web");
    assert_eq!(d["metadata"]["annotations"]["scalekeeper.io/owner"], "team-a");
    let e = managed_entry(&d, "kubectl-annotate", "Update", None).expect("kubectl-annotate managedFields entry");
    assert_eq!(e["fieldsV1"], json!({"f:metadata": {"f:annotations": {"f:scalekeeper.io/owner": {}}}}));

    let out = c.kubectl(&["label", "deployment", "web", "-n", "shop", "env=prod"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web labeled");
    let out = c.kubectl(&["label", "deployment", "web", "-n", "shop", "tier-"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web unlabeled");
    let d = c.deployment("shop", "web").expect("web");
    assert_eq!(d["metadata"]["labels"], json!({"app": "web", "env": "prod"}), "env added, tier removed");
    assert!(managed_entry(&d, "kubectl-label", "Update", None).is_some(), "kubectl-label entry");
    // Metadata changes do not move the generation.
    assert_eq!(d["metadata"]["generation"], generation);

    // Overwriting needs --overwrite: without it kubectl refuses and nothing is written.
    let writes = c.kubectl_writes().len();
    let out = c.kubectl(&["label", "deployment", "web", "-n", "shop", "env=dev"]).await;
    assert!(out.failed().contains("already has a value (prod)"), "{}", out.stderr);
    assert_eq!(c.kubectl_writes().len(), writes);
    assert_eq!(c.deployment("shop", "web").expect("web")["metadata"]["labels"]["env"], "prod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_merge_and_json() {
    let c = Cluster::start().await;
    let out = c
        .kubectl(&["patch", "deployment", "web", "-n", "shop", "--type", "merge", "-p", r#"{"spec":{"replicas":4}}"#])
        .await;
    assert_eq!(out.ok().trim(), "deployment.apps/web patched");
    let d = c.deployment("shop", "web").expect("web");
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], 2);
    let e = managed_entry(&d, "kubectl-patch", "Update", None).expect("kubectl-patch entry");
    assert_eq!(e["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));

    let patch = r#"[{"op":"test","path":"/spec/replicas","value":4},
                    {"op":"replace","path":"/spec/replicas","value":6},
                    {"op":"add","path":"/metadata/labels/patched","value":"json"}]"#;
    let out = c.kubectl(&["patch", "deployment", "web", "-n", "shop", "--type", "json", "-p", patch]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web patched");
    let d = c.deployment("shop", "web").expect("web");
    assert_eq!(d["spec"]["replicas"], 6);
    assert_eq!(d["metadata"]["labels"]["patched"], "json");
    assert_eq!(d["metadata"]["generation"], 3);

    // A failing `test` operation rejects the whole patch (422).
    let bad =
        r#"[{"op":"test","path":"/spec/replicas","value":99},{"op":"replace","path":"/spec/replicas","value":1}]"#;
    let out = c.kubectl(&["patch", "deployment", "web", "-n", "shop", "--type", "json", "-p", bad]).await;
    assert_eq!(
        out.failed().trim(),
        "The request is invalid: the server rejected our request due to an error in our request"
    );
    let d = c.deployment("shop", "web").expect("web");
    assert_eq!(d["spec"]["replicas"], 6);
    assert_eq!(d["metadata"]["generation"], 3);
    let committed: Vec<u64> = c.writes_by("kubectl-patch").iter().map(|w| w.rv).filter(|rv| *rv > 0).collect();
    assert_eq!(committed.len(), 2, "only the two good patches were committed: {committed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_from_files_deployment_and_events_v1_event() {
    let c = Cluster::start().await;
    let f = c.file("api.yaml", &deployment_yaml("shop", "api", 2));
    let out = c.kubectl(&["create", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/api created");
    let d = c.deployment("shop", "api").expect("api created in kubesim");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate", "defaulted by the server");
    assert!(managed_entry(&d, "kubectl-create", "Update", None).is_some(), "{:#}", d["metadata"]);
    let creates = c.writes_by("kubectl-create");
    assert_eq!((creates.len(), creates[0].verb.as_str(), creates[0].name.as_str()), (1, "create", "api"));

    let web = c.deployment("shop", "web").expect("web");
    let f = c.file("event.yaml", &event_yaml("web.scaled", &uid(&web)));
    let out = c.kubectl(&["create", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "event.events.k8s.io/web.scaled created");
    let ev = c.sim.get("events.k8s.io/v1", "Event", "shop", "web.scaled").expect("event stored");
    assert_eq!(ev["reason"], "ScaledUp");
    assert_eq!(ev["note"], "Scaled web from 3 to 5 replicas");
    assert_eq!(ev["regarding"]["uid"], web["metadata"]["uid"]);
    // The same Event through the core/v1 API: note is message, regarding is involvedObject.
    let core = c.sim.get("v1", "Event", "shop", "web.scaled").expect("core view");
    assert_eq!(core["message"], "Scaled web from 3 to 5 replicas");
    assert_eq!(core["involvedObject"]["name"], "web");
    // Both Event APIs print the API server's event table: no NAME column, the object
    // regarded and the note as MESSAGE.
    for resource in ["events", "events.v1.events.k8s.io"] {
        let out = c.kubectl(&["get", resource, "-n", "shop"]).await;
        let lines: Vec<&str> = out.ok().lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "{}", out.stdout);
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(row[1..4], ["Normal", "ScaledUp", "deployment/web"], "{}", out.stdout);
        assert!(lines[1].ends_with("Scaled web from 3 to 5 replicas"), "{}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_crd_then_its_objects() {
    let c = Cluster::start().await;
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
";
    let f = c.file("crd.yaml", crd);
    let out = c.kubectl(&["apply", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created");
    let stored = c
        .sim
        .get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com")
        .expect("CRD stored");
    let established = stored["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
    assert!(established, "{:#}", stored["status"]);

    let widget = |size: u32| {
        format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gizmo\n  namespace: shop\nspec:\n  size: {size}\n  color: red\n"
        )
    };
    let f = c.file("widget.yaml", &widget(1));
    let out = c.kubectl(&["apply", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "widget.example.com/gizmo created");
    let w = c.sim.get("example.com/v1", "Widget", "shop", "gizmo").expect("widget stored");
    assert_eq!(w["spec"], json!({"size": 1, "color": "red"}));
    assert_eq!(w["metadata"]["generation"], 1);
    let last_applied = w["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("client-side apply records the last applied configuration");
    assert_eq!(serde_json::from_str::<Value>(last_applied).expect("JSON")["spec"]["size"], 1);

    let f = c.file("widget.yaml", &widget(2));
    let out = c.kubectl(&["apply", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "widget.example.com/gizmo configured");
    let w2 = c.sim.get("example.com/v1", "Widget", "shop", "gizmo").expect("widget stored");
    assert_eq!(w2["spec"]["size"], 2);
    assert_eq!(w2["metadata"]["generation"], 2, "a spec change bumps the generation");
    assert_eq!(w2["metadata"]["uid"], w["metadata"]["uid"]);

    // Re-applying the same file changes nothing.
    let out = c.kubectl(&["apply", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "widget.example.com/gizmo unchanged");
    let w3 = c.sim.get("example.com/v1", "Widget", "shop", "gizmo").expect("widget stored");
    assert_eq!(w3["metadata"]["resourceVersion"], w2["metadata"]["resourceVersion"]);

    // The short name and the printer column work.
    let out = c.kubectl(&["get", "wd", "-n", "shop"]).await;
    let lines: Vec<Vec<&str>> = out.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "SIZE"], "{}", out.stdout);
    assert_eq!(lines[1], ["gizmo", "2"], "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_owns_fields_and_reports_conflicts() {
    let c = Cluster::start().await;
    let f = c.file("ssa.yaml", &deployment_yaml("shop", "ssa", 2));
    let out = c.kubectl(&["apply", "--server-side", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/ssa serverside-applied");
    let d = c.deployment("shop", "ssa").expect("ssa created");
    assert_eq!(d["spec"]["replicas"], 2);
    let e = managed_entry(&d, "kubectl", "Apply", None).expect("kubectl Apply entry");
    assert_eq!(e["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    assert!(
        d["metadata"]["annotations"].get("kubectl.kubernetes.io/last-applied-configuration").is_none(),
        "server-side apply keeps no last-applied annotation"
    );

    // `kubectl scale` (manager "kubectl", Update, subresource scale) takes .spec.replicas.
    c.kubectl(&["scale", "deployment", "ssa", "-n", "shop", "--replicas=7"]).await.ok();
    let d = c.deployment("shop", "ssa").expect("ssa");
    assert!(managed_entry(&d, "kubectl", "Update", Some("scale")).is_some());
    assert!(
        managed_entry(&d, "kubectl", "Apply", None).expect("apply")["fieldsV1"]["f:spec"].get("f:replicas").is_none()
    );

    // Applying another value conflicts with that manager — even though it is also named
    // "kubectl", a manager is its name, operation and subresource.
    let f = c.file("ssa.yaml", &deployment_yaml("shop", "ssa", 3));
    let out = c.kubectl(&["apply", "--server-side", "-f", &f]).await;
    let err = out.failed();
    assert!(err.contains("Apply failed with 1 conflict"), "{err}");
    assert!(err.contains(r#"conflict with "kubectl" with subresource "scale""#), "{err}");
    assert!(err.contains(".spec.replicas"), "{err}");
    assert_eq!(c.deployment("shop", "ssa").expect("ssa")["spec"]["replicas"], 7, "a conflict writes nothing");

    let out = c.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", &f]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/ssa serverside-applied");
    let d = c.deployment("shop", "ssa").expect("ssa");
    assert_eq!(d["spec"]["replicas"], 3);
    let e = managed_entry(&d, "kubectl", "Apply", None).expect("kubectl Apply entry");
    assert_eq!(e["fieldsV1"]["f:spec"]["f:replicas"], json!({}), "forcing takes the field back");
    assert!(managed_entry(&d, "kubectl", "Update", Some("scale")).is_none(), "the scale entry owned nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_object_and_collects_dependents() {
    let c = Cluster::start().await;
    let web = c.deployment("shop", "web").expect("web");
    c.sim
        .apply(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "web-lock", "namespace": "shop", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid(&web)}]},
            "spec": {"holderIdentity": "web-0"},
        }))
        .expect("lease stored");
    c.sim
        .apply(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "unowned", "namespace": "shop"}, "spec": {"holderIdentity": "x"},
        }))
        .expect("lease stored");

    let out = c.kubectl(&["delete", "deployment", "web", "-n", "shop"]).await;
    assert_eq!(out.ok().trim(), r#"deployment.apps "web" deleted"#);
    assert!(c.deployment("shop", "web").is_none(), "web is gone from kubesim");
    wait_for("the owned Lease to be garbage-collected", || {
        c.sim.get("coordination.k8s.io/v1", "Lease", "shop", "web-lock").is_none()
    })
    .await;
    assert!(c.sim.get("coordination.k8s.io/v1", "Lease", "shop", "unowned").is_some(), "unowned Lease stays");
    assert!(c.deployment("shop", "cart").is_some(), "other Deployments stay");
    let deletes: Vec<_> = c.kubectl_writes().into_iter().filter(|w| w.verb == "delete").collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!((deletes[0].resource.as_str(), deletes[0].name.as_str()), ("deployments", "web"));

    let out = c.kubectl(&["get", "deployment", "web", "-n", "shop"]).await;
    assert!(out.failed().contains(r#"deployments.apps "web" not found"#), "{}", out.stderr);
}

// === watch ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_a_later_change() {
    let c = Cluster::start().await;
    let mut child = c
        .command(&["get", "deployments", "-n", "shop", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl get --watch starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = vec![];
    // The initial list: header, then cart and web.
    while !next_line(&mut lines, &mut seen).await.starts_with("web ") {}
    assert!(seen[0].starts_with("NAME"), "{seen:#?}");
    wait_for("kubectl's watch to be open", || c.sim.watcher_count() == 1).await;

    // Change web through kubesim directly, after the watch started.
    let mut web = c.deployment("shop", "web").expect("web");
    web["spec"]["replicas"] = json!(8);
    c.sim.apply(web).expect("web updated");
    loop {
        let line = next_line(&mut lines, &mut seen).await;
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.first() == Some(&"web") && cells.get(1).is_some_and(|r| r.ends_with("/8")) {
            break;
        }
    }
    child.kill().await.expect("kubectl stopped");
    wait_for("the watch to close", || c.sim.watcher_count() == 0).await;
    assert_eq!(c.deployment("shop", "web").expect("web")["spec"]["replicas"], 8);
    assert!(c.kubectl_writes().is_empty(), "watching writes nothing");
}

/// The next line kubectl printed, within [`TIMEOUT`]; `seen` collects them for messages.
async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
) -> String {
    let line = tokio::time::timeout(TIMEOUT, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("no watch output within {TIMEOUT:?}; so far: {seen:#?}"))
        .expect("reading kubectl's stdout")
        .unwrap_or_else(|| panic!("kubectl exited; output so far: {seen:#?}"));
    seen.push(line.clone());
    line
}

// === describe ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_deployment_lists_events_v1_events() {
    let c = Cluster::start().await;
    let web = c.deployment("shop", "web").expect("web");
    let f = c.file("event.yaml", &event_yaml("web.scaled", &uid(&web)));
    c.kubectl(&["create", "-f", &f]).await.ok();
    let core = c.sim.get("v1", "Event", "shop", "web.scaled").expect("event stored");
    assert_eq!(core["involvedObject"]["uid"], web["metadata"]["uid"], "describe selects on involvedObject.uid");

    let out = c.kubectl(&["describe", "deployment", "web", "-n", "shop"]).await;
    let text = out.ok();
    assert!(text.contains("Replicas:               3 desired | 3 updated | 3 total | 3 available"), "{text}");
    let events = text.split("\nEvents:").nth(1).unwrap_or_else(|| panic!("no Events section:\n{text}"));
    let row = events
        .lines()
        .find(|l| l.contains("ScaledUp"))
        .unwrap_or_else(|| panic!("the event is not listed under Events:\n{events}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..2], ["Normal", "ScaledUp"], "{row}");
    assert!(row.contains("scalekeeper.io/controller"), "From is the reporting controller: {row}");
    assert!(row.ends_with("Scaled web from 3 to 5 replicas"), "{row}");
}

// === errors ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_reported_as_kubectl_words_it() {
    let c = Cluster::start().await;
    let out = c.kubectl(&["get", "deployment", "nope", "-n", "shop"]).await;
    assert_eq!(out.failed().trim(), r#"Error from server (NotFound): deployments.apps "nope" not found"#);
    let out = c.kubectl(&["delete", "deployment", "nope", "-n", "shop"]).await;
    assert_eq!(out.failed().trim(), r#"Error from server (NotFound): deployments.apps "nope" not found"#);
    // kubectl scale wraps the lookup error in its own words.
    let out = c.kubectl(&["scale", "deployment", "nope", "-n", "shop", "--replicas=2"]).await;
    assert_eq!(out.failed().trim(), r#"error: no objects passed to scale deployments.apps "nope" not found"#);
    assert!(c.deployment("shop", "nope").is_none());
    assert!(c.kubectl_writes().iter().all(|w| w.rv == 0), "nothing committed: {:?}", c.kubectl_writes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_of_an_existing_object_is_409_already_exists() {
    let c = Cluster::start().await;
    let before = c.deployment("shop", "web").expect("web");
    let f = c.file("web.yaml", &deployment_yaml("shop", "web", 9));
    let out = c.kubectl(&["create", "-f", &f]).await;
    let err = out.failed().trim().to_string();
    assert_eq!(
        err,
        format!(
            r#"Error from server (AlreadyExists): error when creating "{f}": deployments.apps "web" already exists"#
        )
    );
    let after = c.deployment("shop", "web").expect("web");
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"], "the same object");
    assert_eq!(after["spec"], before["spec"], "untouched");
    assert!(c.writes_by("kubectl-create").iter().all(|w| w.rv == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_objects_are_422_and_not_stored() {
    let c = Cluster::start().await;
    let before = c.deployment("shop", "web").expect("web");

    // kubectl refuses negative replicas itself, before sending anything.
    let out = c.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=-1"]).await;
    assert!(out.failed().contains("COUNT must be greater than or equal to 0"), "{}", out.stderr);
    assert!(c.writes_by("kubectl").is_empty(), "nothing reached kubesim");

    // ...but a patch goes to the server, which answers 422 Invalid.
    let out = c
        .kubectl(&["patch", "deployment", "web", "-n", "shop", "--type", "merge", "-p", r#"{"spec":{"replicas":-1}}"#])
        .await;
    assert_eq!(
        out.failed().trim(),
        r#"The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#
    );
    let after = c.deployment("shop", "web").expect("web");
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(after["metadata"]["generation"], before["metadata"]["generation"]);

    // An invalid name on create.
    let f = c.file("bad.yaml", &deployment_yaml("shop", "Bad_Name", 1));
    let out = c.kubectl(&["create", "-f", &f]).await;
    let err = out.failed();
    assert!(
        err.starts_with(r#"The Deployment "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#),
        "{err}"
    );
    assert!(c.deployment("shop", "Bad_Name").is_none());
    assert!(c.kubectl_writes().iter().all(|w| w.rv == 0), "nothing committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_while_kubesim_answers_503_once() {
    let c = Cluster::start().await;
    // Fill the discovery cache first, so the scale's own GET is kubectl's first request.
    c.kubectl(&["get", "deployment", "web", "-n", "shop"]).await.ok();

    // A 503 without Retry-After is not retried by client-go: kubectl fails, nothing changes.
    c.sim.set_faults(FaultSpec { fail_next: 1, fail_status: Some(503), ..Default::default() });
    let out = c.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=4"]).await;
    assert!(out.failed().contains("the server is currently unable to handle the request"), "{}", out.stderr);
    assert_eq!(c.deployment("shop", "web").expect("web")["spec"]["replicas"], 3);
    assert!(c.writes_by("kubectl").is_empty(), "{:?}", c.writes_by("kubectl"));

    // With Retry-After, client-go waits and retries: the scale goes through, exactly once.
    c.sim.set_faults(FaultSpec {
        fail_next: 1,
        fail_status: Some(503),
        retry_after_seconds: Some(1),
        ..Default::default()
    });
    let out = c.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=4"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web scaled");
    assert_eq!(c.deployment("shop", "web").expect("web")["spec"]["replicas"], 4);
    let writes = c.writes_by("kubectl");
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].subresource.as_deref(), Some("scale"));
}
