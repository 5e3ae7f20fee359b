//! Validating admission webhooks, judged by kubectl: a `ValidatingWebhookConfiguration`
//! pointing at a small HTTPS webhook server run by the test (its answers set by the test,
//! every review it gets recorded) refuses `kubectl scale` and replica patches, warns, sees
//! who asks (`--as`, `--as-group`) and dry runs, stays out of namespaces its selector
//! excludes, and fails open or closed when it is down. Plus the SelfSubjectReview.
//!
//! Differential like the rest of the suite: against a real API server (v1.20.2 on this
//! host), the webhook is reached through a URL clientConfig on 127.0.0.1; every
//! configuration has a unique name, selects only the test's own namespaces through a label
//! of the test's (v1.20 sets no `kubernetes.io/metadata.name`), and is deleted at the end. A
//! real API server applies a new configuration asynchronously, so each test first waits
//! until a dry-run probe shows the configuration in force.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::TlsAcceptor;

use super::*;

/// The namespace label that selects a test's namespaces (its value is the test's own).
const SELECT_LABEL: &str = "kubesim.test/webhooks";

/// What the test webhook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Allow everything.
    Allow,
    /// Refuse a change of `spec.replicas` (403 Forbidden, as controller-runtime denies).
    Refuse,
    /// Allow a change of `spec.replicas`, with a warning.
    Warn,
}

/// One request the webhook got.
#[derive(Debug, Clone)]
struct Seen {
    review: Value,
    version: http::Version,
    path_and_query: String,
    host: String,
}

/// Something the webhook does once, on its next call, before it answers.
type OnCall = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// A test webhook server: HTTPS on 127.0.0.1 (ALPN h2 and http/1.1 offered), certificate
/// for `names`.
struct Hook {
    addr: SocketAddr,
    ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    policy: Arc<Mutex<Policy>>,
    on_call: OnCall,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)
}

fn answer(policy: Policy, review: &Value) -> Value {
    let req = &review["request"];
    let mut response = json!({"uid": req["uid"], "allowed": true});
    let changed = !req["object"].is_null()
        && !req["oldObject"].is_null()
        && replicas(&req["object"]) != replicas(&req["oldObject"]);
    let what = format!(
        "spec.replicas of {}/{} is managed by scalekeeper",
        req["namespace"].as_str().unwrap_or(""),
        req["name"].as_str().unwrap_or("")
    );
    match policy {
        Policy::Refuse if changed => {
            response["allowed"] = json!(false);
            response["status"] = json!({"code": 403, "reason": "Forbidden", "message": what});
        }
        Policy::Warn if changed => response["warnings"] = json!([format!("{what}; this change will be undone")]),
        _ => {}
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

impl Hook {
    async fn start(names: &[&str], policy: Policy) -> Hook {
        let certs = kubesim::tls::ServingCerts::generate_for(names).expect("webhook certificate");
        let acceptor = TlsAcceptor::from(certs.server_config().expect("TLS config"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("webhook listens");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let policy = Arc::new(Mutex::new(policy));
        let on_call: OnCall = Arc::new(Mutex::new(None));
        let (s, p, o) = (seen.clone(), policy.clone(), on_call.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, s, p, o) = (acceptor.clone(), s.clone(), p.clone(), o.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (s, p, o) = (s.clone(), p.clone(), o.clone());
                        async move {
                            let side_effect = o.lock().expect("on_call").take();
                            if let Some(f) = side_effect {
                                f();
                            }
                            let version = req.version();
                            let path_and_query = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                            let host = req
                                .headers()
                                .get(http::header::HOST)
                                .and_then(|h| h.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let policy = *p.lock().expect("policy");
                            let out = answer(policy, &review);
                            s.lock().expect("seen").push(Seen { review, version, path_and_query, host });
                            let resp = http::Response::builder()
                                .header(http::header::CONTENT_TYPE, "application/json")
                                .body(Full::new(bytes::Bytes::from(serde_json::to_vec(&out).expect("JSON"))))
                                .expect("response");
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        Hook { addr, ca_pem: certs.ca_pem.clone(), seen, policy, on_call, task }
    }

    fn on_next_call(&self, f: impl FnOnce() + Send + 'static) {
        *self.on_call.lock().expect("on_call") = Some(Box::new(f));
    }

    fn set(&self, policy: Policy) {
        *self.policy.lock().expect("policy") = policy;
    }

    /// The reviews so far of requests by people (not by the real server's controllers:
    /// the Deployment controller's own updates pass the rules too), and forgets them all.
    fn take(&self) -> Vec<Seen> {
        let all = std::mem::take(&mut *self.seen.lock().expect("seen"));
        all.into_iter()
            .filter(|s| !s.review["request"]["userInfo"]["username"].as_str().is_some_and(|u| u.starts_with("system:")))
            .collect()
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn ca_bundle(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

/// A webhook of a configuration: `client_config` and `failure_policy` as given, selecting
/// UPDATEs of apps/v1 Deployments and their scale subresource in namespaces labelled
/// `SELECT_LABEL=<select>`.
fn webhook(name: &str, client_config: Value, failure_policy: &str, select: &str) -> Value {
    json!({
        "name": name,
        "clientConfig": client_config,
        "rules": [{"operations": ["UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                   "resources": ["deployments", "deployments/scale"], "scope": "Namespaced"}],
        "namespaceSelector": {"matchLabels": {SELECT_LABEL: select}},
        "failurePolicy": failure_policy,
        "sideEffects": "None",
        "timeoutSeconds": 5,
        "admissionReviewVersions": ["v1"],
    })
}

/// A test's webhook setup on a cluster: its unique label value and configuration names.
struct Webhooks<'a> {
    c: &'a Cluster,
    select: String,
}

impl<'a> Webhooks<'a> {
    /// Labels the namespaces `namespaces` so that this test's configurations select them.
    async fn new(c: &'a Cluster, namespaces: &[&str]) -> Webhooks<'a> {
        let select = target::unique("t");
        for ns in namespaces {
            c.kubectl(&["label", "namespace", ns, &format!("{SELECT_LABEL}={select}")]).await.ok();
        }
        Webhooks { c, select }
    }

    /// Stores a configuration named uniquely after `prefix` with `webhooks`, deleted when the
    /// test ends; returns its name.
    async fn configure(&self, prefix: &str, webhooks: Vec<Value>) -> String {
        let name = target::unique(prefix);
        if let Some(cleanup) = &self.c.cleanup {
            cleanup.path(format!("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{name}"));
        }
        self.c
            .create_direct(json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": name}, "webhooks": webhooks,
            }))
            .await;
        name
    }
}

/// A dry-run annotation patch of `ns/web`, which the test configurations' rules select.
async fn probe(c: &Cluster, ns: &str) -> Result<Value, kube::Error> {
    let path = format!("/apis/apps/v1/namespaces/{ns}/deployments/web?dryRun=All");
    let req = http::Request::patch(&path)
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(serde_json::to_vec(&json!({"metadata": {"annotations": {"kubesim.test/probe": "1"}}})).expect("JSON"))
        .expect("request");
    c.client.request::<Value>(req).await
}

/// Waits until `hook` sees the probe of `ns` (its configuration is in force), then forgets
/// what it saw.
async fn wait_called(c: &Cluster, hook: &Hook, ns: &str) {
    testkit::wait_for_async("the webhook configuration to be in force", TIMEOUT, POLL, || async {
        let _ = probe(c, ns).await;
        !hook.take().is_empty()
    })
    .await;
}

/// The review of the one request `seen` holds. A real API server may send a refused update
/// twice: its `GuaranteedUpdate` tries first on the watch cache's copy and, when that fails,
/// once more on the live object (etcd3 `store.go`); both reviews show the same request.
#[track_caller]
fn only(seen: &[Seen]) -> &Value {
    assert!(!seen.is_empty() && seen.len() <= 2, "{seen:#?}");
    if let [a, b] = seen {
        let strip = |s: &Seen| {
            let mut r = s.review["request"].clone();
            r["uid"] = Value::Null;
            r
        };
        assert_eq!(strip(a), strip(b), "two reviews of different requests");
        target::real_differs("a refused update was sent to the webhook twice (GuaranteedUpdate retries on live data)");
    }
    &seen[seen.len() - 1].review["request"]
}

// === tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_refuses_kubectl_scale_and_replica_patches() {
    let c = Cluster::start().await;
    let shop = c.shop.as_str();
    let hook = Hook::start(&["127.0.0.1"], Policy::Refuse).await;
    let w = Webhooks::new(&c, &[shop]).await;
    let hook_name = "replicas.guard.kubesim.test";
    w.configure(
        "guard",
        vec![webhook(hook_name, json!({"url": hook.url("/guard"), "caBundle": hook.ca_bundle()}), "Fail", &w.select)],
    )
    .await;
    wait_called(&c, &hook, shop).await;
    let before = c.deployment(shop, "web").await.expect("web");

    // kubectl scale: PATCH .../scale, refused with the webhook's status.
    let out = c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=5"]).await;
    let denied = format!(
        r#"Error from server (Forbidden): admission webhook "{hook_name}" denied the request: spec.replicas of {shop}/web is managed by scalekeeper"#
    );
    assert_eq!(out.failed().trim(), denied);
    let review = only(&hook.take()).clone();
    assert_eq!(review["kind"], json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}));
    assert_eq!(review["resource"], json!({"group": "apps", "version": "v1", "resource": "deployments"}));
    assert_eq!(review["subResource"], "scale");
    assert_eq!(review["requestKind"], review["kind"]);
    assert_eq!(review["requestResource"], review["resource"]);
    assert_eq!(review["requestSubResource"], "scale");
    assert_eq!((review["name"].as_str(), review["namespace"].as_str()), (Some("web"), Some(shop)));
    assert_eq!(review["operation"], "UPDATE");
    assert_eq!(review["dryRun"], false);
    assert_eq!(review["options"]["kind"], "UpdateOptions");
    for (field, want) in [("object", 5), ("oldObject", 3)] {
        let scale = &review[field];
        assert_eq!(
            (scale["apiVersion"].as_str(), scale["kind"].as_str()),
            (Some("autoscaling/v1"), Some("Scale")),
            "{scale:#}"
        );
        assert_eq!(scale["spec"]["replicas"], want, "{field}: {scale:#}");
        assert_eq!(scale["metadata"]["uid"], before["metadata"]["uid"]);
        assert_eq!(scale["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
        assert_eq!(scale["status"]["selector"], "app=web");
        assert!(scale["metadata"].get("labels").is_none(), "a Scale has no labels: {scale:#}");
    }

    // A merge patch of spec.replicas: an UPDATE of the Deployment itself.
    let out = c
        .kubectl(&["patch", "deployment", "web", "-n", shop, "--type", "merge", "-p", r#"{"spec":{"replicas":6}}"#])
        .await;
    assert_eq!(out.failed().trim(), denied);
    let review = only(&hook.take()).clone();
    assert_eq!(review["kind"], json!({"group": "apps", "version": "v1", "kind": "Deployment"}));
    assert!(review.get("subResource").is_none(), "{review:#}");
    assert_eq!((replicas(&review["object"]), replicas(&review["oldObject"])), (6, 3));
    assert_eq!(review["object"]["metadata"]["labels"], before["metadata"]["labels"]);
    assert_eq!(review["options"]["fieldManager"], "kubectl-patch");
    let after = c.deployment(shop, "web").await.expect("web");
    assert_eq!(after["spec"], before["spec"], "nothing was written");
    assert_eq!(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);

    // A template-only patch is allowed and stored.
    let out = c
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "-n",
            shop,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"template":{"metadata":{"annotations":{"kubesim.test/restart":"1"}}}}}"#,
        ])
        .await;
    assert_eq!(out.ok().trim(), "deployment.apps/web patched");
    let review = only(&hook.take()).clone();
    assert_eq!((replicas(&review["object"]), replicas(&review["oldObject"])), (3, 3));
    let after = c.deployment(shop, "web").await.expect("web");
    assert_eq!(after["spec"]["template"]["metadata"]["annotations"]["kubesim.test/restart"], "1");
    assert_eq!(after["spec"]["replicas"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_warning_is_printed_by_kubectl_and_the_write_stored() {
    let c = Cluster::start().await;
    let shop = c.shop.as_str();
    let hook = Hook::start(&["127.0.0.1"], Policy::Allow).await;
    let w = Webhooks::new(&c, &[shop]).await;
    w.configure(
        "warn",
        vec![webhook(
            "replicas.warn.kubesim.test",
            json!({"url": hook.url("/warn"), "caBundle": hook.ca_bundle()}),
            "Fail",
            &w.select,
        )],
    )
    .await;
    wait_called(&c, &hook, shop).await;
    hook.set(Policy::Warn);
    let out = c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=4"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web scaled");
    let warning = format!("Warning: spec.replicas of {shop}/web is managed by scalekeeper; this change will be undone");
    assert!(out.stderr.lines().any(|l| l == warning), "{warning:?} in stderr:\n{}", out.stderr);
    assert_eq!(c.deployment(shop, "web").await.expect("web")["spec"]["replicas"], 4, "the write is stored");
    let review = only(&hook.take()).clone();
    assert_eq!((replicas(&review["object"]), replicas(&review["oldObject"])), (4, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_review_names_the_impersonated_user_and_the_dry_run() {
    let c = Cluster::start().await;
    let shop = c.shop.as_str();
    let hook = Hook::start(&["127.0.0.1"], Policy::Allow).await;
    let w = Webhooks::new(&c, &[shop]).await;
    w.configure(
        "who",
        vec![webhook(
            "who.kubesim.test",
            json!({"url": hook.url("/who"), "caBundle": hook.ca_bundle()}),
            "Fail",
            &w.select,
        )],
    )
    .await;
    wait_called(&c, &hook, shop).await;
    let before = c.deployment(shop, "web").await.expect("web");
    // jane may scale in this namespace (a real API server authorizes her; kubesim does not).
    c.create_direct(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "scaler", "namespace": shop},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "patch", "update"]}],
    }))
    .await;
    c.create_direct(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "scaler-jane", "namespace": shop},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "scaler"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}],
    }))
    .await;
    let jane_may_scale = || async {
        let out = c.kubectl(&["auth", "can-i", "patch", "deployments/scale", "-n", shop, "--as", "jane"]).await;
        !c.real() || out.stdout.trim() == "yes"
    };
    testkit::wait_for_async("jane's RoleBinding to be in force", TIMEOUT, POLL, jane_may_scale).await;

    let out = c
        .kubectl(&[
            "scale",
            "deployment",
            "web",
            "-n",
            shop,
            "--replicas=7",
            "--as",
            "jane",
            "--as-group",
            "sre",
            "--dry-run=server",
        ])
        .await;
    assert_eq!(out.ok().trim(), "deployment.apps/web scaled (server dry run)");
    let seen = hook.take();
    let review = only(&seen).clone();
    // Upstream adds system:authenticated to an impersonated user's groups.
    assert_eq!(review["userInfo"], json!({"username": "jane", "groups": ["sre", "system:authenticated"]}));
    assert_eq!(review["dryRun"], true);
    assert_eq!(review["options"]["dryRun"], json!(["All"]));
    assert_eq!((replicas(&review["object"]), replicas(&review["oldObject"])), (7, 3));
    let after = c.deployment(shop, "web").await.expect("web");
    assert_eq!(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"], "a dry run writes nothing");
    // How the call looked on the wire: HTTP/1.1 only (kube-apiserver offers no h2 to
    // webhooks), the timeout in the query, the URL's host.
    assert_eq!(seen[0].version, http::Version::HTTP_11);
    assert_eq!(seen[0].path_and_query, "/who?timeout=5s");
    assert_eq!(seen[0].host, hook.addr.to_string());

    // Without --as, the webhook sees the caller: kubesim's admin, or the real server's user.
    c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=7", "--dry-run=server"]).await.ok();
    let review = only(&hook.take()).clone();
    let groups = review["userInfo"]["groups"].as_array().cloned().unwrap_or_default();
    assert!(groups.contains(&json!("system:authenticated")), "{:#}", review["userInfo"]);
    if !c.real() {
        assert_eq!(
            review["userInfo"],
            json!({"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_namespace_selector_excludes_other_namespaces() {
    let c = Cluster::start().await;
    let (shop, payments) = (c.shop.as_str(), c.payments.as_str());
    let hook = Hook::start(&["127.0.0.1"], Policy::Refuse).await;
    let w = Webhooks::new(&c, &[shop]).await;
    w.configure(
        "ns",
        vec![webhook(
            "ns.kubesim.test",
            json!({"url": hook.url("/ns"), "caBundle": hook.ca_bundle()}),
            "Fail",
            &w.select,
        )],
    )
    .await;
    wait_called(&c, &hook, shop).await;
    let out = c.kubectl(&["scale", "deployment", "ledger", "-n", payments, "--replicas=2"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/ledger scaled");
    assert_eq!(c.deployment(payments, "ledger").await.expect("ledger")["spec"]["replicas"], 2);
    assert!(hook.take().is_empty(), "the webhook is not called for an unselected namespace");
    let out = c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=2"]).await;
    assert!(out.failed().contains("denied the request"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_failure_policy_ignore_lets_writes_through_and_fail_refuses_them() {
    let c = Cluster::start().await;
    let shop = c.shop.as_str();
    let live = Hook::start(&["127.0.0.1"], Policy::Allow).await;
    let dead_port = testkit::free_port();
    let dead = format!("https://127.0.0.1:{dead_port}/down");
    let w = Webhooks::new(&c, &[shop]).await;
    // A live webhook shows when the configuration is in force; the dead one is ignored.
    w.configure(
        "ignore",
        vec![
            webhook(
                "live.kubesim.test",
                json!({"url": live.url("/live"), "caBundle": live.ca_bundle()}),
                "Ignore",
                &w.select,
            ),
            webhook(
                "down.ignore.kubesim.test",
                json!({"url": dead, "caBundle": live.ca_bundle()}),
                "Ignore",
                &w.select,
            ),
        ],
    )
    .await;
    wait_called(&c, &live, shop).await;
    let out = c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=2"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web scaled");
    assert_eq!(c.deployment(shop, "web").await.expect("web")["spec"]["replicas"], 2);

    let failing = "down.fail.kubesim.test";
    w.configure("fail", vec![webhook(failing, json!({"url": dead, "caBundle": live.ca_bundle()}), "Fail", &w.select)])
        .await;
    testkit::wait_for_async("the failing webhook to be in force", TIMEOUT, POLL, || async {
        matches!(probe(&c, shop).await, Err(kube::Error::Api(s)) if s.code == 500)
    })
    .await;
    let out = c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=5"]).await;
    let cause = format!(r#"Post "{dead}?timeout=5s": dial tcp 127.0.0.1:{dead_port}: connect: connection refused"#);
    let reason = if c.real() {
        target::real_differs("a failed webhook call's reason lacks the `failed to call webhook: ` of 1.23+");
        cause
    } else {
        format!("failed to call webhook: {cause}")
    };
    assert_eq!(
        out.failed().trim(),
        format!(
            r#"Error from server (InternalError): Internal error occurred: failed calling webhook "{failing}": {reason}"#
        )
    );
    assert_eq!(c.deployment(shop, "web").await.expect("web")["spec"]["replicas"], 2, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_service_reference_is_routed_and_verified_for_its_dns_name() {
    let c = Cluster::start().await;
    if c.real() {
        target::skip_on_real(
            "a Service clientConfig needs a Service and Endpoints; kubesim routes it through its route table",
        );
        return;
    }
    let sim = c.sim();
    // Valid for the Service's DNS name only: the IP it is dialled at does not verify.
    let hook = Hook::start(&["guard.ops.svc"], Policy::Refuse).await;
    sim.route_service("ops", "guard", 8443, hook.addr);
    let w = Webhooks::new(&c, &["shop"]).await;
    let svc = json!({"service": {"namespace": "ops", "name": "guard", "port": 8443, "path": "/validate"}, "caBundle": hook.ca_bundle()});
    w.configure("svc", vec![webhook("svc.kubesim.test", svc, "Fail", &w.select)]).await;
    let out = c.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"]).await;
    assert!(out.failed().contains(r#"admission webhook "svc.kubesim.test" denied the request"#), "{}", out.stderr);
    let seen = hook.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].host.as_str(), seen[0].path_and_query.as_str()),
        ("guard.ops.svc:8443", "/validate?timeout=5s")
    );

    // Another CA's bundle: the server does not verify, and Fail refuses the write.
    let other = Hook::start(&["guard.ops.svc"], Policy::Allow).await;
    let svc = json!({"service": {"namespace": "ops", "name": "guard", "port": 8443}, "caBundle": other.ca_bundle()});
    let badca = w.configure("badca", vec![webhook("badca.kubesim.test", svc, "Fail", &w.select)]).await;
    let out = c.kubectl(&["annotate", "deployment", "web", "-n", "shop", "a=b"]).await;
    let err = out.failed();
    assert!(err.contains(r#"failed calling webhook "badca.kubesim.test": failed to call webhook: Post "https://guard.ops.svc:8443/?timeout=5s": tls: failed to verify certificate: x509: certificate signed by unknown authority"#), "{err}");

    // No route: the Service is not found.
    c.kubectl(&["delete", "validatingwebhookconfiguration", &badca]).await.ok();
    let svc = json!({"service": {"namespace": "ops", "name": "nowhere"}, "caBundle": hook.ca_bundle()});
    w.configure("noroute", vec![webhook("noroute.kubesim.test", svc, "Fail", &w.select)]).await;
    let out = c.kubectl(&["annotate", "deployment", "web", "-n", "shop", "c=d"]).await;
    assert!(
        out.failed().contains(r#"Post "https://nowhere.ops.svc:443/?timeout=5s": services "nowhere" not found"#),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_sees_the_write_again_when_the_object_changed_meanwhile() {
    let c = Cluster::start().await;
    if c.real() {
        target::skip_on_real(
            "needs a write made while the webhook is answering, which only kubesim's Sim::apply can time",
        );
        return;
    }
    let sim = c.sim().clone();
    let hook = Hook::start(&["127.0.0.1"], Policy::Allow).await;
    let w = Webhooks::new(&c, &["shop"]).await;
    w.configure(
        "again",
        vec![webhook(
            "again.kubesim.test",
            json!({"url": hook.url("/again"), "caBundle": hook.ca_bundle()}),
            "Fail",
            &w.select,
        )],
    )
    .await;
    let before = c.deployment("shop", "web").await.expect("web");
    // While the webhook answers the first call, someone else annotates the Deployment.
    hook.on_next_call(move || {
        let mut d = sim.get("apps/v1", "Deployment", "shop", "web").expect("web");
        d["metadata"]["annotations"] = json!({"meanwhile": "1"});
        sim.apply(d).expect("annotated");
    });
    let out = c.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=4"]).await;
    assert_eq!(out.ok().trim(), "deployment.apps/web scaled");
    let seen = hook.take();
    // Shown again after the object changed (more than twice when the Deployment controller's
    // status write, caused by the annotation, also lands in between).
    assert!(seen.len() >= 2, "the write is shown again after the object changed: {seen:#?}");
    let rv = |s: &Seen| s.review["request"]["oldObject"]["metadata"]["resourceVersion"].clone();
    assert_eq!(rv(&seen[0]), before["metadata"]["resourceVersion"]);
    let last = &seen[seen.len() - 1];
    assert_ne!(rv(last), rv(&seen[0]), "the last review shows the new state");
    let after = c.deployment("shop", "web").await.expect("web");
    assert_eq!(
        (after["spec"]["replicas"].clone(), after["metadata"]["annotations"]["meanwhile"].clone()),
        (json!(4), json!("1"))
    );
    let num = |v: &Value| v.as_str().and_then(|r| r.parse::<u64>().ok()).unwrap_or(0);
    assert!(num(&after["metadata"]["resourceVersion"]) > num(&rv(last)), "committed after the state the webhook saw");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_of_zero_replicas_has_an_empty_spec() {
    let c = Cluster::start().await;
    let shop = c.shop.as_str();
    c.kubectl(&["scale", "deployment", "web", "-n", shop, "--replicas=0"]).await.ok();
    let req = http::Request::get(format!("/apis/apps/v1/namespaces/{shop}/deployments/web/scale"))
        .body(Vec::new())
        .expect("request");
    let scale: Value = c.client.request(req).await.expect("GET scale");
    // autoscaling/v1 ScaleSpec.Replicas is omitempty.
    assert_eq!(scale["spec"], json!({}), "{scale:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_subject_review_names_the_caller() {
    let review = |headers: &[(&str, &str)]| {
        let mut req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
            .header(http::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(
            serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}))
                .expect("JSON"),
        )
        .expect("request")
    };
    if let Some(kubeconfig) = target::real_kubeconfig() {
        let client = target::client_for(&kubeconfig).await;
        match client.request::<Value>(review(&[])).await {
            Err(kube::Error::Api(s)) if s.code == 404 => {
                target::real_differs("authentication.k8s.io/v1 SelfSubjectReview is not served (404; GA in 1.28)")
            }
            other => panic!("expected 404 from a v1.20 API server, got {other:?}"),
        }
        return;
    }
    // TLS: kubectl sends a bearer token only over HTTPS.
    let sim = Sim::start(SimConfig {
        tls: true,
        users: vec!["alice:alice-token:sre,oncall".parse().expect("user")],
        ..Default::default()
    })
    .await
    .expect("kubesim starts");
    let admin: Value = sim.client().await.expect("client").request(review(&[])).await.expect("review");
    assert_eq!(admin["kind"], "SelfSubjectReview");
    assert_eq!(
        admin["status"]["userInfo"],
        json!({"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]})
    );
    let alice: Value = sim.client_as("alice").await.expect("client").request(review(&[])).await.expect("review");
    assert_eq!(
        alice["status"]["userInfo"],
        json!({"username": "alice", "groups": ["sre", "oncall", "system:authenticated"]})
    );
    let jane: Value = sim
        .client()
        .await
        .expect("client")
        .request(review(&[("Impersonate-User", "jane"), ("Impersonate-Group", "dev"), ("Impersonate-Uid", "u-1")]))
        .await
        .expect("review");
    assert_eq!(
        jane["status"]["userInfo"],
        json!({"username": "jane", "uid": "u-1", "groups": ["dev", "system:authenticated"]})
    );
    // kubectl auth whoami reads it too.
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("alice");
    sim.write_kubeconfig_for("alice", &kubeconfig).expect("kubeconfig");
    let out = tokio::process::Command::new(testkit::kubectl_for_server(kubesim::api::KUBE_MINOR))
        .args(["--kubeconfig"])
        .arg(&kubeconfig)
        .args(["auth", "whoami", "-o", "json"])
        .env("HOME", dir.path())
        .output()
        .await
        .expect("kubectl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let whoami: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(whoami["status"]["userInfo"]["username"], "alice");
    // A wrong token is 401.
    let yaml = sim.kubeconfig_yaml_for("alice").expect("kubeconfig").replace("alice-token", "wrong");
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    let wrong = kube::Client::try_from(config).expect("client");
    assert!(matches!(wrong.request::<Value>(review(&[])).await, Err(kube::Error::Api(s)) if s.code == 401));
}
