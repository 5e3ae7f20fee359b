//! kubectl's imperative commands — `create deployment`, `create namespace`, `autoscale`,
//! `scale`, `annotate`, `label`, `delete` — driven through the real `kubectl` binary.
//!
//! kubectl (client-go's typed clients) sends the built-in kinds of `create` and `autoscale`
//! as `application/vnd.kubernetes.protobuf`; each of those tests asserts, from `kubectl
//! -v=8`, that the request really was protobuf, then checks the stored object. `scale`,
//! `annotate` and `label` send JSON merge patches and `delete` a JSON `DeleteOptions`
//! (also asserted), so they show that the protobuf-created objects read and patch as
//! JSON-created ones do. Two more tests check kubesim's protobuf answers: kubectl decoding
//! them (with `protobuf_first`, kubesim answers protobuf as the real server does), and a
//! client that accepts only protobuf (get, list, create, delete with `DeleteOptions`,
//! `Status` errors, watch frames).
//!
//! Against kubesim (the default) every test starts its own; with `SCALEKEEPER_TEST_KUBECONFIG`
//! set (see `target/mod.rs`) the tests run against that server in namespaces of their own and
//! read state through the API. kubectl (v1.32 or newer) is required: without it the tests
//! fail, never skip.

mod target;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use http_body_util::BodyExt as _;
use kubesim::protobuf;
use kubesim::{Sim, SimConfig};
use serde_json::{Value, json};

/// How long any single kubectl invocation or awaited condition may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How often an awaited condition is checked.
const POLL: Duration = Duration::from_millis(50);

/// What kubectl -v=8 prints for a protobuf body or response.
const PROTOBUF_HEADER: &str = "Content-Type: application/vnd.kubernetes.protobuf";

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

    /// The `-v=8` log of the request with `verb` whose URL contains `path`, up to the next
    /// request: its request headers, response status and headers.
    #[track_caller]
    fn exchange(&self, verb: &str, path: &str) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let start = lines
            .iter()
            .position(|l| request_verb(l) == Some(verb) && l.contains(path))
            .unwrap_or_else(|| panic!("no {verb} {path} in kubectl's -v=8 log:\n{}", self.stderr));
        let end =
            lines[start + 1..].iter().position(|l| request_verb(l).is_some()).map_or(lines.len(), |e| start + 1 + e);
        lines[start..end].join("\n")
    }
}

/// The verb of a `-v=8` line that starts a request: kubectl 1.33 logs
/// `"Request" verb="POST" url=...`, 1.32 `] POST http://...`.
fn request_verb(line: &str) -> Option<&str> {
    if let Some((_, rest)) = line.split_once("\"Request\" verb=\"") {
        return rest.split('"').next();
    }
    let (_, rest) = line.split_once("] ")?;
    let (verb, url) = rest.split_once(' ')?;
    (verb.chars().all(|c| c.is_ascii_uppercase()) && url.starts_with("http")).then_some(verb)
}

/// One test's API server (a kubesim, or the real one) and the kubectl setup to reach it.
struct Cluster {
    sim: Option<Sim>,
    client: kube::Client,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
    cleanup: Option<target::Cleanup>,
}

impl Cluster {
    async fn start() -> Cluster {
        Self::start_with(SimConfig::default()).await
    }

    /// A kubesim started with `config`, or the real server when `SCALEKEEPER_TEST_KUBECONFIG`
    /// is set (`config` then does not apply).
    async fn start_with(config: SimConfig) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        match target::real_kubeconfig() {
            None => {
                let sim = Sim::start(config).await.expect("kubesim starts");
                let kubeconfig = dir.path().join("kubeconfig");
                sim.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
                let client = sim.client().await.expect("client");
                Cluster { sim: Some(sim), client, dir, kubeconfig, cache, cleanup: None }
            }
            Some(kubeconfig) => {
                let client = target::client_for(&kubeconfig).await;
                let cleanup = Some(target::Cleanup::new(&kubeconfig));
                Cluster { sim: None, client, dir, kubeconfig, cache, cleanup }
            }
        }
    }

    /// A namespace name unique to this test (so reruns and parallel tests never collide),
    /// deleted at the end on a real server. Not created.
    fn namespace(&self, prefix: &str) -> String {
        let ns = target::unique(prefix);
        if let Some(c) = &self.cleanup {
            c.namespace(&ns);
        }
        ns
    }

    /// Runs kubectl with `args` (at most [`TIMEOUT`]).
    async fn kubectl(&self, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::new(testkit::kubectl_for_server(kubesim::api::KUBE_MINOR));
        // argv[0] "kubectl" makes the User-Agent, and so the default field manager, kubectl's.
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
        let out = tokio::time::timeout(TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within {TIMEOUT:?}"))
            .expect("kubectl runs");
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Creates namespace `ns` with kubectl and asserts it went as protobuf.
    async fn create_namespace(&self, ns: &str) -> Run {
        let run = self.kubectl(&["create", "namespace", ns, "-v=8"]).await;
        run.ok();
        assert!(run.exchange("POST", "/api/v1/namespaces").contains(PROTOBUF_HEADER), "{}", run.stderr);
        run
    }

    /// The stored object: kubesim's store, or `kubectl get -o json` on a real server
    /// (`resource` is kubectl's name for it there).
    async fn get(&self, api_version: &str, kind: &str, resource: &str, ns: &str, name: &str) -> Option<Value> {
        if let Some(sim) = &self.sim {
            return sim.get(api_version, kind, ns, name);
        }
        let mut args = vec!["get", resource, name, "-o", "json", "--show-managed-fields", "--ignore-not-found"];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        let run = self.kubectl(&args).await;
        let out = run.ok();
        (!out.trim().is_empty()).then(|| serde_json::from_str(out).expect("kubectl get -o json"))
    }

    async fn deployment(&self, ns: &str, name: &str) -> Option<Value> {
        self.get("apps/v1", "Deployment", "deployments.v1.apps", ns, name).await
    }
}

/// The paths where `a` and `b` differ, with both values.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    differences_but(a, b, path, false, out);
}

fn is_zero_scalar(v: &Value) -> bool {
    matches!(v, Value::Bool(false)) || v == &json!(0) || v == &json!("")
}

/// [`differences`]; with `stored_zeros`, a zero scalar only `b` has is no difference
/// (kubesim keeps what a JSON client sent, where Go would have dropped an `omitempty` zero).
fn differences_but(a: &Value, b: &Value, path: &str, stored_zeros: bool, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                if stored_zeros && !x.contains_key(k) && is_zero_scalar(vb) {
                    continue;
                }
                if x.contains_key(k) != y.contains_key(k) {
                    out.push(format!("{path}.{k}: {va} vs {vb} (present only on one side)"));
                } else {
                    differences_but(va, vb, &format!("{path}.{k}"), stored_zeros, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences_but(va, vb, &format!("{path}[{i}]"), stored_zeros, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

#[track_caller]
fn assert_same(a: &Value, b: &Value) {
    let mut out = Vec::new();
    differences(a, b, "", &mut out);
    assert!(out.is_empty(), "objects differ:\n{}", out.join("\n"));
}

/// An object without what differs between two creations of the same spec: identity,
/// timestamps, namespace, status and the controller's status entry in managedFields, and
/// managedFields' times. On a real server the Deployment controller also annotates each
/// Deployment with `deployment.kubernetes.io/revision` whenever it gets to it (which bumps the
/// generation): that annotation and the generation are left out too.
fn normalized(mut obj: Value) -> Value {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion", "creationTimestamp", "namespace", "selfLink", "generation"] {
            m.remove(k);
        }
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
        if let Some(fields) = m.get_mut("managedFields").and_then(Value::as_array_mut) {
            fields.retain(|f| f["subresource"] != json!("status") && f["manager"] != json!("kube-controller-manager"));
            for f in fields {
                f.as_object_mut().map(|f| f.remove("time"));
            }
        }
    }
    obj.as_object_mut().map(|o| o.remove("status"));
    obj
}

#[tokio::test]
async fn create_deployment_sends_protobuf_and_stores_what_json_would() {
    let c = Cluster::start().await;
    let (pb_ns, json_ns) = (c.namespace("imp-pb"), c.namespace("imp-json"));
    c.create_namespace(&pb_ns).await;
    c.create_namespace(&json_ns).await;
    let spec = ["deployment", "web", "--image=nginx:1.27", "--replicas=0", "--port=80"];

    let run = c.kubectl(&[&["create"][..], &spec[..], &["-n", pb_ns.as_str(), "-v=8"][..]].concat()).await;
    assert_eq!(run.ok().trim(), "deployment.apps/web created");
    let post = run.exchange("POST", &format!("/namespaces/{pb_ns}/deployments"));
    assert!(post.contains(PROTOBUF_HEADER), "kubectl did not send protobuf:\n{post}");

    // The same object as JSON: what kubectl would send with a JSON client, via `create -f`.
    let dry_args = [&["create"][..], &spec[..], &["-n", json_ns.as_str(), "--dry-run=client", "-o", "json"][..]];
    let dry = c.kubectl(&dry_args.concat()).await;
    let file = c.dir.path().join("web.json");
    std::fs::write(&file, dry.ok()).expect("file");
    let run = c.kubectl(&["create", "-f", &file.to_string_lossy(), "-v=8"]).await;
    run.ok();
    let post = run.exchange("POST", &format!("/namespaces/{json_ns}/deployments"));
    assert!(post.contains("Content-Type: application/json"), "{post}");

    let from_pb = c.deployment(&pb_ns, "web").await.expect("protobuf-created deployment stored");
    let from_json = c.deployment(&json_ns, "web").await.expect("JSON-created deployment stored");
    assert_eq!(from_pb["spec"]["replicas"], json!(0), "an explicit 0 replicas (a Go *int32) survives");
    assert_eq!(from_pb["spec"]["template"]["spec"]["containers"][0]["image"], json!("nginx:1.27"));
    assert_eq!(from_pb["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], json!(80));
    assert_eq!(from_pb["spec"]["selector"], json!({"matchLabels": {"app": "web"}}));
    let managers = from_pb["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    assert!(managers.iter().any(|m| m["manager"] == json!("kubectl-create")), "{managers:?}");
    assert_same(&normalized(from_pb), &normalized(from_json));
}

#[tokio::test]
async fn create_namespace_sends_protobuf() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-ns");
    let run = c.create_namespace(&ns).await;
    assert_eq!(run.stdout.trim(), format!("namespace/{ns} created"));
    let stored = c.get("v1", "Namespace", "namespaces", "", &ns).await.expect("namespace stored");
    assert_eq!(stored["metadata"]["name"], json!(ns));
    assert_eq!(stored["status"]["phase"], json!("Active"));
    assert!(stored["metadata"].get("labels").is_none_or(|l| l.get("app").is_none()));
    // Creating it again: the AlreadyExists Status reaches kubectl.
    let again = c.kubectl(&["create", "namespace", &ns]).await;
    assert!(!again.success);
    assert!(again.stderr.contains(&format!("namespaces \"{ns}\" already exists")), "{}", again.stderr);
}

#[tokio::test]
async fn autoscale_sends_the_hpa_as_protobuf() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-hpa");
    c.create_namespace(&ns).await;
    c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", &ns]).await.ok();
    let run = c
        .kubectl(&["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=70", "-n", &ns, "-v=8"])
        .await;
    assert_eq!(run.ok().trim(), "horizontalpodautoscaler.autoscaling/web autoscaled");
    let post = run.exchange("POST", &format!("/namespaces/{ns}/horizontalpodautoscalers"));
    assert!(post.contains(PROTOBUF_HEADER), "{post}");

    // autoscaling/v1 is served by every server: the v1 view of the one stored HPA.
    let hpa = c
        .get("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers.v1.autoscaling", &ns, "web")
        .await
        .expect("HPA stored");
    assert_eq!(hpa["spec"]["scaleTargetRef"], json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}));
    assert_eq!(hpa["spec"]["minReplicas"], json!(2));
    assert_eq!(hpa["spec"]["maxReplicas"], json!(5));
    assert_eq!(hpa["spec"]["targetCPUUtilizationPercentage"], json!(70));
    if c.sim.is_some() {
        let v2 = c.get("autoscaling/v2", "HorizontalPodAutoscaler", "", &ns, "web").await.expect("v2 view");
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}])
        );
    }
}

#[tokio::test]
async fn scale_patches_a_protobuf_created_deployment() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-scale");
    c.create_namespace(&ns).await;
    c.kubectl(&["create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", &ns]).await.ok();
    for replicas in ["5", "0"] {
        let run = c.kubectl(&["scale", "deployment", "web", "--replicas", replicas, "-n", &ns, "-v=8"]).await;
        assert_eq!(run.ok().trim(), "deployment.apps/web scaled");
        let patch = run.exchange("PATCH", &format!("/namespaces/{ns}/deployments/web/scale"));
        assert!(patch.contains("Content-Type: application/merge-patch+json"), "{patch}");
        let d = c.deployment(&ns, "web").await.expect("deployment");
        assert_eq!(d["spec"]["replicas"].to_string(), replicas);
    }
}

#[tokio::test]
async fn annotate_patches_a_protobuf_created_deployment() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-ann");
    c.create_namespace(&ns).await;
    c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", &ns]).await.ok();
    let run = c.kubectl(&["annotate", "deployment", "web", "owner=team-a", "-n", &ns]).await;
    assert_eq!(run.ok().trim(), "deployment.apps/web annotated");
    let d = c.deployment(&ns, "web").await.expect("deployment");
    assert_eq!(d["metadata"]["annotations"]["owner"], json!("team-a"));
    c.kubectl(&["annotate", "deployment", "web", "owner-", "-n", &ns]).await.ok();
    let d = c.deployment(&ns, "web").await.expect("deployment");
    assert!(d["metadata"]["annotations"].get("owner").is_none(), "{}", d["metadata"]);
}

#[tokio::test]
async fn label_patches_a_protobuf_created_namespace_and_deployment() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-lbl");
    c.create_namespace(&ns).await;
    c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", &ns]).await.ok();
    assert_eq!(
        c.kubectl(&["label", "deployment", "web", "tier=front", "-n", &ns]).await.ok().trim(),
        "deployment.apps/web labeled"
    );
    c.kubectl(&["label", "namespace", &ns, "env=test"]).await.ok();
    let d = c.deployment(&ns, "web").await.expect("deployment");
    assert_eq!(d["metadata"]["labels"], json!({"app": "web", "tier": "front"}));
    let n = c.get("v1", "Namespace", "namespaces", "", &ns).await.expect("namespace");
    assert_eq!(n["metadata"]["labels"]["env"], json!("test"));
    // Selecting by the new label finds it.
    let out = c.kubectl(&["get", "deployments", "-l", "tier=front", "-n", &ns, "-o", "name"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web");
}

#[tokio::test]
async fn delete_removes_protobuf_created_objects() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-del");
    c.create_namespace(&ns).await;
    c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", &ns]).await.ok();
    c.kubectl(&["autoscale", "deployment", "web", "--max=3", "-n", &ns]).await.ok();
    let run = c.kubectl(&["delete", "deployment", "web", "-n", &ns, "-v=8"]).await;
    assert_eq!(run.ok().trim(), "deployment.apps \"web\" deleted");
    assert!(
        run.exchange("DELETE", &format!("/namespaces/{ns}/deployments/web")).contains("Content-Type: application/json")
    );
    assert!(c.deployment(&ns, "web").await.is_none(), "deployment still stored");
    let run = c.kubectl(&["delete", "hpa", "web", "-n", &ns]).await;
    assert!(run.ok().contains("\"web\" deleted"));
    let hpa = c.get("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers.v1.autoscaling", &ns, "web");
    assert!(hpa.await.is_none(), "HPA still stored");
    // A namespace goes at once on kubesim; a real server finalizes it first (kubectl waits).
    assert_eq!(c.kubectl(&["delete", "namespace", &ns]).await.ok().trim(), format!("namespace \"{ns}\" deleted"));
    let (cr, nsr) = (&c, ns.as_str());
    testkit::wait_for_async("the namespace to go", TIMEOUT, POLL, move || async move {
        cr.get("v1", "Namespace", "namespaces", "", nsr).await.is_none()
    })
    .await;
    let again = c.kubectl(&["delete", "namespace", &ns]).await;
    assert!(again.stderr.contains("not found"), "{}", again.stderr);
}

/// kubesim's protobuf answers decode in client-go: with `protobuf_first` it answers kubectl's
/// `Accept: application/vnd.kubernetes.protobuf,application/json` in protobuf, as the real
/// server does, and kubectl prints what it decoded.
#[tokio::test]
async fn kubectl_decodes_protobuf_answers() {
    // No controller status write between kubectl's create and the read below.
    let config = SimConfig { protobuf_first: true, deployment_delay: Duration::from_secs(3600), ..Default::default() };
    let c = Cluster::start_with(config).await;
    let ns = c.namespace("imp-resp");
    c.create_namespace(&ns).await;
    let run = c
        .kubectl(&["create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", &ns, "-o", "json", "-v=8"])
        .await;
    let printed: Value = serde_json::from_str(run.ok()).expect("kubectl printed JSON");
    let exchange = run.exchange("POST", &format!("/namespaces/{ns}/deployments"));
    assert_eq!(exchange.matches(PROTOBUF_HEADER).count(), 2, "protobuf request and response:\n{exchange}");
    let stored = c.deployment(&ns, "web").await.expect("stored");
    // What kubectl decoded from protobuf is the stored object, but for managedFields
    // (kubectl hides them when printing) and what a controller may have changed since.
    let strip = |mut o: Value| {
        o.as_object_mut().map(|o| o.remove("status"));
        if let Some(m) = o["metadata"].as_object_mut() {
            // A real server's deployment controller annotates the revision meanwhile.
            for k in ["managedFields", "resourceVersion", "annotations"] {
                m.remove(k);
            }
        }
        o
    };
    assert_same(&strip(printed), &strip(stored));

    let run =
        c.kubectl(&["autoscale", "deployment", "web", "--max=4", "--cpu-percent=50", "-n", &ns, "-o", "json"]).await;
    let printed: Value = serde_json::from_str(run.ok()).expect("kubectl printed JSON");
    assert_eq!(printed["spec"]["maxReplicas"], json!(4));
    assert_eq!(printed["metadata"]["uid"].as_str().map(str::len), Some(36));

    // An error Status in protobuf: kubectl prints its message.
    let again = c.kubectl(&["create", "deployment", "web", "--image=nginx", "-n", &ns, "-v=8"]).await;
    assert!(!again.success);
    assert!(again.stderr.contains("deployments.apps \"web\" already exists"), "{}", again.stderr);
    let exchange = again.exchange("POST", &format!("/namespaces/{ns}/deployments"));
    assert!(exchange.contains("409 Conflict") && exchange.matches(PROTOBUF_HEADER).count() == 2, "{exchange}");
}

/// A raw request through the test's client; returns status, Content-Type and body.
async fn send(c: &Cluster, req: http::Request<Vec<u8>>) -> (u16, String, Vec<u8>) {
    let (parts, body) = req.into_parts();
    let req = http::Request::from_parts(parts, kube::client::Body::from(body));
    let resp = c.client.send(req).await.expect("request sent");
    let status = resp.status().as_u16();
    let ct = resp.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, ct, body)
}

fn protobuf_request(method: http::Method, path: &str, body: Option<&Value>) -> http::Request<Vec<u8>> {
    let mut req = http::Request::builder().method(method).uri(path).header(http::header::ACCEPT, protobuf::MEDIA_TYPE);
    let mut bytes = Vec::new();
    if let Some(obj) = body {
        req = req.header(http::header::CONTENT_TYPE, protobuf::MEDIA_TYPE);
        bytes = protobuf::encode(obj).expect("encodable");
    }
    req.body(bytes).expect("request")
}

/// A client that speaks only protobuf: bodies, answers, errors and watch events.
#[tokio::test]
async fn a_protobuf_only_client_is_answered_in_protobuf() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-raw");
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"a": "b"}}});
    let (code, ct, body) = send(&c, protobuf_request(http::Method::POST, "/api/v1/namespaces", Some(&namespace))).await;
    assert_eq!((code, ct.as_str()), (201, protobuf::MEDIA_TYPE));
    let created = protobuf::decode(&body).expect("a protobuf Namespace");
    // From 1.21 the API server also labels a Namespace with its own name (1.20 does not).
    let mut labels = created["metadata"]["labels"].clone();
    if let Some(own) = labels.as_object_mut().and_then(|l| l.remove("kubernetes.io/metadata.name")) {
        assert_eq!(own, json!(ns), "the name label names the namespace");
    }
    assert_eq!((created["kind"].clone(), labels), (json!("Namespace"), json!({"a": "b"})));

    // A watch from now on, in protobuf frames.
    let rv = created["metadata"]["resourceVersion"].as_str().expect("rv").to_string();
    let path = format!("/apis/apps/v1/namespaces/{ns}/deployments?watch=true&resourceVersion={rv}&timeoutSeconds=10");
    let watch = http::Request::get(&path)
        .header(http::header::ACCEPT, protobuf::WATCH_MEDIA_TYPE)
        .body(kube::client::Body::empty())
        .expect("request");
    let resp = c.client.send(watch).await.expect("watch");
    assert_eq!(resp.headers()[http::header::CONTENT_TYPE], protobuf::WATCH_MEDIA_TYPE);
    let mut events = resp.into_body();

    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
    let dep_path = format!("/apis/apps/v1/namespaces/{ns}/deployments");
    let (code, _, body) = send(&c, protobuf_request(http::Method::POST, &dep_path, Some(&dep))).await;
    assert_eq!(code, 201, "{:?}", protobuf::decode(&body));
    let created = protobuf::decode(&body).expect("a protobuf Deployment");
    assert_eq!(created["spec"]["replicas"], json!(0));

    let mut buf = Vec::new();
    let (event_type, object) = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Some((_, t, o)) = protobuf::decode_watch_frame(&buf).expect("a watch frame") {
                return (t, o);
            }
            let frame = events.frame().await.expect("stream open").expect("chunk");
            buf.extend_from_slice(frame.data_ref().expect("data"));
        }
    })
    .await
    .expect("a watch event");
    assert_eq!((event_type.as_str(), &object["metadata"]["name"]), ("ADDED", &json!("web")));

    let (code, ct, body) = send(&c, protobuf_request(http::Method::GET, &dep_path, None)).await;
    assert_eq!((code, ct.as_str()), (200, protobuf::MEDIA_TYPE));
    let list = protobuf::decode(&body).expect("a DeploymentList");
    assert_eq!(list["kind"], json!("DeploymentList"));
    assert_eq!(list["items"][0]["metadata"]["name"], json!("web"));

    // The Scale subresource in protobuf: a Scale to 3, then to 0 (which Go's marshaller
    // writes as a zero kubesim reads as unset, and the real server as 0 too).
    let scale_path = format!("{dep_path}/web/scale");
    for replicas in [3, 0] {
        // Retried on 409: a real server's controller may write the Deployment meanwhile.
        let mut conflicts = 0;
        loop {
            let (code, _, body) = send(&c, protobuf_request(http::Method::GET, &scale_path, None)).await;
            let mut scale = protobuf::decode(&body).unwrap_or_else(|e| panic!("GET scale {code}: {}", e.message));
            assert_eq!((scale["apiVersion"].clone(), scale["kind"].clone()), (json!("autoscaling/v1"), json!("Scale")));
            scale["spec"]["replicas"] = json!(replicas);
            let (code, ct, body) = send(&c, protobuf_request(http::Method::PUT, &scale_path, Some(&scale))).await;
            if code == 409 && conflicts < 10 {
                conflicts += 1;
                continue;
            }
            assert_eq!((code, ct.as_str()), (200, protobuf::MEDIA_TYPE), "{:?}", protobuf::decode(&body));
            break;
        }
        let d = c.deployment(&ns, "web").await.expect("deployment");
        assert_eq!(d["spec"]["replicas"], json!(replicas));
    }

    // The other served kinds as protobuf bodies: stored as their JSON would be.
    let bodies = [
        (
            format!("/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers"),
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                            "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60}}),
            ("horizontalpodautoscalers.v1.autoscaling", "/spec/targetCPUUtilizationPercentage", json!(60)),
        ),
        (
            format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"),
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
                   "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                            "renewTime": "2026-01-02T03:04:05.250000Z"}}),
            ("leases.v1.coordination.k8s.io", "/spec/renewTime", json!("2026-01-02T03:04:05.250000Z")),
        ),
        (
            format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "web.1"},
                   "eventTime": "2026-01-02T03:04:05.000001Z", "reportingController": "test/c", "reportingInstance": "i",
                   "action": "Scale", "reason": "Scaled", "type": "Normal", "note": "scaled",
                   "regarding": {"kind": "Deployment", "namespace": ns, "name": "web"}}),
            ("events.v1.events.k8s.io", "/eventTime", json!("2026-01-02T03:04:05.000001Z")),
        ),
    ];
    for (path, obj, (resource, pointer, want)) in bodies {
        let (code, _, body) = send(&c, protobuf_request(http::Method::POST, &path, Some(&obj))).await;
        assert_eq!(code, 201, "POST {path}: {:?}", protobuf::decode(&body));
        let (api_version, kind) = (obj["apiVersion"].as_str().expect("v"), obj["kind"].as_str().expect("k"));
        let name = obj["metadata"]["name"].as_str().expect("name");
        let stored = c.get(api_version, kind, resource, &ns, name).await.expect("stored");
        assert_eq!(stored.pointer(pointer), Some(&want), "{kind}: {stored}");
    }

    // Errors are protobuf Status objects.
    let (code, ct, body) = send(&c, protobuf_request(http::Method::GET, &format!("{dep_path}/nope"), None)).await;
    assert_eq!((code, ct.as_str()), (404, protobuf::MEDIA_TYPE));
    let status = protobuf::decode(&body).expect("a Status");
    assert_eq!(
        (status["kind"].clone(), status["reason"].clone(), status["code"].clone()),
        (json!("Status"), json!("NotFound"), json!(404))
    );

    // DeleteOptions in protobuf: a wrong UID precondition conflicts, the right one deletes.
    let delete = |uid: &str| {
        let opts = json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}, "gracePeriodSeconds": 0});
        protobuf_request(http::Method::DELETE, &format!("{dep_path}/web"), Some(&opts))
    };
    let (code, _, body) = send(&c, delete("00000000-0000-0000-0000-000000000000")).await;
    assert_eq!(code, 409, "{:?}", protobuf::decode(&body));
    let uid = created["metadata"]["uid"].as_str().expect("uid");
    let (code, _, body) = send(&c, delete(uid)).await;
    assert_eq!(code, 200, "{:?}", protobuf::decode(&body));
    let (cr, nsr) = (&c, ns.as_str());
    testkit::wait_for_async("the deployment to go", TIMEOUT, POLL, move || async move {
        cr.deployment(nsr, "web").await.is_none()
    })
    .await;

    // A body that is not protobuf at all is a 400, not a crash.
    let bad = http::Request::post(&dep_path)
        .header(http::header::CONTENT_TYPE, protobuf::MEDIA_TYPE)
        .header(http::header::ACCEPT, "application/json")
        .body(b"k8s\0\xff\xff\xff".to_vec())
        .expect("request");
    let (code, _, body) = send(&c, bad).await;
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
}

/// GETs `path` twice, as protobuf and as JSON, until both show the same resourceVersion;
/// returns (the protobuf answer decoded, the JSON answer).
async fn both_forms(c: &Cluster, path: &str) -> (Value, Value) {
    testkit::wait_for_async(&format!("GET {path} to show one resourceVersion in both forms"), TIMEOUT, POLL, || async {
        let (code, ct, body) = send(c, protobuf_request(http::Method::GET, path, None)).await;
        assert_eq!(ct, protobuf::MEDIA_TYPE, "GET {path}: {code}");
        let pb = protobuf::decode(&body).unwrap_or_else(|e| panic!("GET {path}: {}", e.message));
        let req = http::Request::get(path).header(http::header::ACCEPT, "application/json").body(Vec::new());
        let (_, _, body) = send(c, req.expect("request")).await;
        let js: Value = serde_json::from_slice(&body).expect("JSON");
        (pb.pointer("/metadata/resourceVersion") == js.pointer("/metadata/resourceVersion")).then_some((pb, js))
    })
    .await
}

/// The protobuf form of each served kind, decoded, is its JSON form. On a real server this
/// checks kubesim's decoder against Go's own encoders; on kubesim, that what it stores
/// survives its protobuf encoding.
#[tokio::test]
async fn protobuf_answers_decode_to_the_json_answers() {
    let c = Cluster::start().await;
    let ns = c.namespace("imp-forms");
    c.create_namespace(&ns).await;
    let post = |path: String, obj: Value| {
        let c = &c;
        async move {
            let req = http::Request::post(&path)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::ACCEPT, "application/json")
                .body(serde_json::to_vec(&obj).expect("JSON"))
                .expect("request");
            let (code, _, body) = send(c, req).await;
            assert_eq!(code, 201, "POST {path}: {}", String::from_utf8_lossy(&body));
        }
    };
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": ""}},
        "spec": {"replicas": 0, "revisionHistoryLimit": 0, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": false, "enableServiceLinks": false,
                "securityContext": {"runAsUser": 0, "runAsNonRoot": false, "fsGroup": 0},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}],
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1,
                    "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}}]}},
                "volumes": [{"name": "conf", "configMap": {"name": "web", "defaultMode": 0, "optional": false, "items": [{"key": "a", "path": "a", "mode": 0}]}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                "containers": [{"name": "c", "image": "nginx", "args": ["-g", ""], "ports": [{"containerPort": 80, "name": "http"}],
                    "env": [{"name": "E", "value": ""}, {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": false}}}],
                    "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "0"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "initialDelaySeconds": 0, "periodSeconds": 5},
                    "livenessProbe": {"tcpSocket": {"port": 80}, "failureThreshold": 3},
                    "securityContext": {"privileged": false, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsUser": 0},
                    "volumeMounts": [{"name": "conf", "mountPath": "/etc/web", "readOnly": true}]}]}}}});
    post(format!("/apis/apps/v1/namespaces/{ns}/deployments"), deployment).await;
    post(
        format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l"}, "spec": {"holderIdentity": "", "leaseDurationSeconds": 15, "leaseTransitions": 0,
        "acquireTime": "2026-01-02T03:04:05.123456Z", "renewTime": "2026-01-02T03:04:06.000000Z"}}),
    )
    .await;
    post(format!("/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers"), json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}})).await;
    post(format!("/api/v1/namespaces/{ns}/events"), json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.1"}, "involvedObject": {"kind": "Deployment", "namespace": ns, "name": "web", "apiVersion": "apps/v1"},
        "reason": "Scaled", "message": "scaled", "type": "Normal", "count": 1, "source": {"component": "test"},
        "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:05Z"})).await;
    post(
        format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"),
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.2"}, "eventTime": "2026-01-02T03:04:05.000001Z", "reportingController": "test/c",
        "reportingInstance": "i", "action": "Scale", "reason": "Scaled", "type": "Normal", "note": "n",
        "regarding": {"kind": "Deployment", "namespace": ns, "name": "web"}}),
    )
    .await;

    let paths = [
        format!("/api/v1/namespaces/{ns}"),
        format!("/apis/apps/v1/namespaces/{ns}/deployments/web"),
        format!("/apis/apps/v1/namespaces/{ns}/deployments/web/scale"),
        format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/l"),
        format!("/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers/web"),
        format!("/api/v1/namespaces/{ns}/events/web.1"),
        format!("/apis/events.k8s.io/v1/namespaces/{ns}/events/web.2"),
    ];
    for path in &paths {
        let (pb, mut js) = both_forms(&c, path).await;
        if c.sim.is_some() {
            // kubesim's JSON list items name their type; protobuf list items cannot (nor do
            // the real server's JSON items).
            for item in js.get_mut("items").and_then(Value::as_array_mut).into_iter().flatten() {
                item.as_object_mut().map(|o| (o.remove("apiVersion"), o.remove("kind")));
            }
        }
        let mut out = Vec::new();
        differences_but(&pb, &js, path, c.sim.is_some(), &mut out);
        assert!(out.is_empty(), "protobuf and JSON answers differ:\n{}", out.join("\n"));
    }
    if c.sim.is_some() {
        // autoscaling/v2 (the real 1.20 server has v2beta2 instead).
        let (pb, js) =
            both_forms(&c, &format!("/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web")).await;
        assert_same(&pb, &js);
    }
    // A Status error in both forms.
    let missing = format!("/apis/apps/v1/namespaces/{ns}/deployments/missing");
    let (_, _, pb) = send(&c, protobuf_request(http::Method::GET, &missing, None)).await;
    let req = http::Request::get(&missing).header(http::header::ACCEPT, "application/json").body(Vec::new());
    let (_, _, js) = send(&c, req.expect("request")).await;
    assert_same(&protobuf::decode(&pb).expect("Status"), &serde_json::from_slice(&js).expect("JSON"));
}
