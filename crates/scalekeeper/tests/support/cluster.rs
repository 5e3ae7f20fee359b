//! The Kubernetes API a test runs against, and test-owned objects in it.
//!
//! By default tests start kubesim in-process. When [`testkit::REAL_KUBECONFIG`]
//! (`SCALEKEEPER_TEST_KUBECONFIG`) names a kubeconfig (admin rights; `make test-real` points it at
//! an upstream kube-apiserver v1.20.2), tests use that cluster instead. It is shared with every
//! other test running in parallel, so a test there:
//!
//! - installs cluster-scoped objects (the CRD) idempotently ([`install_crd`]);
//! - works only in namespaces of its own, named with [`unique_name`], created with
//!   [`create_namespaces`] and deleted (without waiting) when the returned guard drops;
//! - creates its Deployments through the API, with a pod template ([`seed_yaml`],
//!   [`deployment`]). No kubelet runs there: Pods stay Pending and `status.readyReplicas`
//!   stays 0.
//!
//! What kubesim tells a test directly (its write log, its store) is, against a real server, only
//! visible through the API: [`ReplicaLog`] records every `spec.replicas` a Deployment had, from
//! a watch.
//!
//! Included with `#[path]`; independent of scalekeeper's own types, so any suite can use it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};
pub use testkit::real_kubeconfig;

/// The field manager of what the test harness itself writes (CRD, namespaces, seed objects).
pub const HARNESS_MANAGER: &str = "scalekeeper-tests";

/// A client for the cluster of `kubeconfig` (its current context).
pub async fn client_for(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("reading kubeconfig {}: {e}", kubeconfig.display()));
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", kubeconfig.display()));
    kube::Client::try_from(config).expect("a Kubernetes client")
}

/// The address of the API server of a kubeconfig's current context (`localhost` taken as
/// 127.0.0.1).
pub fn server_addr(kubeconfig: &Path) -> std::net::SocketAddr {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("a kubeconfig");
    let server = current_cluster(&kc).and_then(|c| c.server.clone()).expect("the current cluster has a server");
    let hostport = server.split("://").nth(1).unwrap_or(&server).trim_end_matches('/');
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport.parse().unwrap_or_else(|e| panic!("server {server}: {e}"))
}

/// Writes to `dst` a copy of the kubeconfig `src` whose current cluster is reached at `addr`
/// (say, a proxy in front of it). TLS still verifies the server's certificate, which must be
/// valid for that IP.
pub fn kubeconfig_via(src: &Path, dst: &Path, addr: std::net::SocketAddr) {
    let mut kc = kube::config::Kubeconfig::read_from(src).expect("a kubeconfig");
    let context = kc.current_context.clone().expect("a current context");
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .expect("the current context names a cluster");
    let cluster = kc.clusters.iter_mut().find(|c| c.name == cluster_name).and_then(|c| c.cluster.as_mut()).unwrap();
    let scheme = cluster.server.as_deref().and_then(|s| s.split_once("://")).map_or("https", |(s, _)| s).to_string();
    cluster.server = Some(format!("{scheme}://{addr}"));
    std::fs::write(dst, serde_yaml::to_string(&kc).unwrap()).unwrap();
}

fn current_cluster(kc: &kube::config::Kubeconfig) -> Option<&kube::config::Cluster> {
    let context = kc.current_context.as_ref()?;
    let cluster = &kc.contexts.iter().find(|c| &c.name == context)?.context.as_ref()?.cluster;
    kc.clusters.iter().find(|c| &c.name == cluster)?.cluster.as_ref()
}

pub use testkit::unique_name;

/// Installs (or updates) a CRD with server-side apply and waits until it is Established.
/// Idempotent and safe when parallel tests install the same CRD.
pub async fn install_crd(client: &kube::Client, crd: Value) {
    let name = crd["metadata"]["name"].as_str().expect("the CRD has a name").to_string();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply(HARNESS_MANAGER).force();
    api.patch(&name, &pp, &Patch::Apply(&crd)).await.unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    testkit::wait_for_async(&format!("CRD {name} Established"), Duration::from_secs(30), testkit::POLL, || async {
        let crd = api.get_opt(&name).await.ok()??;
        let established = crd.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;
}

/// Namespaces a test created; deleted (the request sent, not waited for) when dropped.
pub struct Namespaces {
    kubeconfig: PathBuf,
    pub names: Vec<String>,
}

/// Creates `names` (which must not exist) and returns their guard.
pub async fn create_namespaces(client: &kube::Client, kubeconfig: &Path, names: &[String]) -> Namespaces {
    let guard = Namespaces { kubeconfig: kubeconfig.to_path_buf(), names: names.to_vec() };
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"scalekeeper-test": "true"}}}))
                .unwrap();
        api.create(&pp(), &ns).await.unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    }
    guard
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if std::env::var_os("SCALEKEEPER_TEST_KEEP_NAMESPACES").is_some() {
            eprintln!("keeping namespaces {:?} (SCALEKEEPER_TEST_KEEP_NAMESPACES)", self.names);
            return;
        }
        // Drop cannot await, and may run on a runtime that is shutting down: delete from a
        // thread of our own with its own runtime and client.
        let (kubeconfig, names) = (self.kubeconfig.clone(), std::mem::take(&mut self.names));
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let api: Api<Namespace> = Api::all(client_for(&kubeconfig).await);
                for name in &names {
                    if let Err(e) = api.delete(name, &DeleteParams::background()).await {
                        eprintln!("deleting namespace {name}: {e}");
                    }
                }
            })
        });
        let _ = deleted.join();
    }
}

fn pp() -> PostParams {
    PostParams { field_manager: Some(HARNESS_MANAGER.into()), ..Default::default() }
}

/// A Deployment `ns/name` with `replicas`, labels `app: name` plus `labels`, and a pod template.
pub fn deployment(ns: &str, name: &str, replicas: i64, labels: &[(&str, &str)]) -> Value {
    let mut all = serde_json::Map::new();
    all.insert("app".into(), json!(name));
    for (k, v) in labels {
        all.insert((*k).into(), json!(v));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": all},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]}
            }
        }
    })
}

/// Creates a Deployment from its JSON.
pub async fn create_deployment(client: &kube::Client, d: Value) -> Deployment {
    let ns = d["metadata"]["namespace"].as_str().expect("a namespaced Deployment").to_string();
    let d: Deployment = serde_json::from_value(d).expect("a Deployment");
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    api.create(&pp(), &d).await.unwrap_or_else(|e| panic!("creating Deployment {ns}/{:?}: {e}", d.metadata.name))
}

/// Creates the Deployments of a seed file (multi-document YAML) with each namespace renamed by
/// `ns`; its Namespace documents are skipped (create them with [`create_namespaces`]).
pub async fn seed_yaml(client: &kube::Client, yaml: &str, ns: impl Fn(&str) -> String) {
    use serde::Deserialize as _;
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let mut v = Value::deserialize(doc).expect("seed YAML");
        match v["kind"].as_str() {
            None | Some("Namespace") => {}
            Some("Deployment") => {
                let mapped = ns(v["metadata"]["namespace"].as_str().expect("a namespace"));
                v["metadata"]["namespace"] = json!(mapped);
                create_deployment(client, v).await;
            }
            Some(other) => panic!("seed_yaml: kind {other} is not supported"),
        }
    }
}

/// The namespaces the Namespace documents of a seed file declare.
pub fn seed_namespaces(yaml: &str) -> Vec<String> {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|doc| {
            let v = Value::deserialize(doc).ok()?;
            (v["kind"] == "Namespace").then(|| v["metadata"]["name"].as_str().map(str::to_string))?
        })
        .collect()
}

/// One object as JSON, or `None` when it does not exist.
pub async fn get_json(client: &kube::Client, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let plural = format!("{}s", kind.to_ascii_lowercase()).replace("policys", "policies");
    let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let obj = api.get_opt(name).await.unwrap_or_else(|e| panic!("GET {kind} {ns}/{name}: {e}"))?;
    Some(serde_json::to_value(obj).unwrap())
}

/// `spec.replicas` of a Deployment, read from the API.
pub async fn spec_replicas(client: &kube::Client, ns: &str, name: &str) -> i64 {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = api.get(name).await.unwrap_or_else(|e| panic!("GET Deployment {ns}/{name}: {e}"));
    d.spec.and_then(|s| s.replicas).map_or(1, i64::from)
}

/// Sets a Deployment's `spec.replicas` with a merge PATCH of the Deployment itself (not its
/// scale subresource) as field manager `manager`, the way another controller or a script
/// would, so `manager` owns `f:spec.f:replicas` in managedFields on any server version.
/// Returns the count the API server stored.
pub async fn patch_replicas(client: &kube::Client, ns: &str, name: &str, replicas: i64, manager: &str) -> i64 {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pp = PatchParams { field_manager: Some(manager.into()), ..Default::default() };
    let d = api
        .patch(name, &pp, &Patch::Merge(json!({"spec": {"replicas": replicas}})))
        .await
        .unwrap_or_else(|e| panic!("PATCH Deployment {ns}/{name} spec.replicas={replicas}: {e}"));
    d.spec.and_then(|s| s.replicas).map_or(1, i64::from)
}

/// One state of a Deployment seen by a [`ReplicaLog`].
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub resource_version: String,
    pub generation: i64,
    pub replicas: i64,
}

/// Every `spec.replicas` a Deployment had since the log started, from a watch that starts at
/// the resourceVersion of a GET: the API server sends every change after it, so no value is
/// missed, however briefly it lasted (a drift corrected within a millisecond included).
///
/// It is evidence a real API server gives where kubesim's write log is not available. It sees
/// changes, not writes: a write that set the count it already had is invisible to it.
pub struct ReplicaLog {
    seen: Arc<Mutex<Vec<Seen>>>,
    error: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
    what: String,
}

impl ReplicaLog {
    pub async fn start(client: &kube::Client, ns: &str, name: &str) -> ReplicaLog {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let d = api.get(name).await.unwrap_or_else(|e| panic!("GET Deployment {ns}/{name}: {e}"));
        let first = seen(&d);
        let seen_log = Arc::new(Mutex::new(vec![first.clone()]));
        let error = Arc::new(Mutex::new(None));
        let (log, err, name_owned) = (seen_log.clone(), error.clone(), name.to_string());
        let task = tokio::spawn(async move {
            let mut rv = first.resource_version;
            loop {
                let wp = WatchParams::default().fields(&format!("metadata.name={name_owned}")).timeout(240);
                let stream = match api.watch(&wp, &rv).await {
                    Ok(s) => s,
                    Err(e) => {
                        *err.lock().unwrap() = Some(format!("starting the watch at {rv}: {e}"));
                        return;
                    }
                };
                let mut stream = stream.boxed();
                loop {
                    match stream.try_next().await {
                        Ok(Some(WatchEvent::Added(d) | WatchEvent::Modified(d) | WatchEvent::Deleted(d))) => {
                            let s = seen(&d);
                            rv = s.resource_version.clone();
                            log.lock().unwrap().push(s);
                        }
                        Ok(Some(WatchEvent::Bookmark(b))) => rv = b.metadata.resource_version,
                        Ok(Some(WatchEvent::Error(e))) => {
                            *err.lock().unwrap() = Some(format!("watch error at {rv}: {e:?}"));
                            return;
                        }
                        // The server ended the watch (its timeout): resume where it stopped.
                        Ok(None) => break,
                        Err(e) => {
                            *err.lock().unwrap() = Some(format!("watch failed at {rv}: {e}"));
                            return;
                        }
                    }
                }
            }
        });
        ReplicaLog { seen: seen_log, error, task, what: format!("{ns}/{name}") }
    }

    /// Every state seen, the one at the start first. Panics when the watch failed (the log
    /// might be missing changes).
    pub fn states(&self) -> Vec<Seen> {
        if let Some(e) = self.error.lock().unwrap().as_ref() {
            panic!("the ReplicaLog of {} is incomplete: {e}", self.what);
        }
        self.seen.lock().unwrap().clone()
    }

    /// The successive values of `spec.replicas` (a value is listed again only after another).
    pub fn values(&self) -> Vec<i64> {
        let mut values: Vec<i64> = Vec::new();
        for s in self.states() {
            if values.last() != Some(&s.replicas) {
                values.push(s.replicas);
            }
        }
        values
    }

    /// How many times `spec.replicas` changed from another value to `to`.
    pub fn changes_to(&self, to: i64) -> usize {
        self.values().windows(2).filter(|w| w[1] == to).count()
    }

    /// The resourceVersion of the last state seen with `spec.replicas == to` that was a change
    /// to it, if any.
    pub fn last_change_to(&self, to: i64) -> Option<Seen> {
        let states = self.states();
        states.windows(2).rev().find(|w| w[1].replicas == to && w[0].replicas != to).map(|w| w[1].clone())
    }
}

impl Drop for ReplicaLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn seen(d: &Deployment) -> Seen {
    Seen {
        resource_version: d.metadata.resource_version.clone().unwrap_or_default(),
        generation: d.metadata.generation.unwrap_or(0),
        replicas: d.spec.as_ref().and_then(|s| s.replicas).map_or(1, i64::from),
    }
}

/// A resourceVersion as a number. Kubernetes says they are opaque; on one etcd (the test
/// clusters) and on kubesim they are the store's global revision, so later writes have larger
/// ones. Used only to order a test's own observations.
pub fn rv_number(rv: &str) -> u64 {
    rv.parse().unwrap_or_else(|_| panic!("resourceVersion {rv:?} is not a number"))
}
