//! The watch cache: kube-runtime reflectors of the Deployments and ReplicaPolicies in
//! scope, the source of every read.
//!
//! ```text
//!  watcher(Deployments) ──────────────► DeploymentStore (compact, in (namespace, name) order)
//!  watcher(ReplicaPolicies) ─modify─┬──► reflector ─► Store<ReplicaPolicy>
//!                                  └──► ManagedIndex (their names, in order: Diff's pages)
//!  watcher(HPAs) ──────────────────────► reflector ─► Store<HorizontalPodAutoscaler>
//!  watcher(ScaleRequests) ─────────────► reflector ─► Store<ScaleRequest> (not in readiness)
//!          └── every event ──► broadcast<Change> ──► WatchDeployments streams
//!                                                └─► the leader's reconciler (its triggers)
//! ```
//!
//! The ScaleRequests (the two-person rule) are a Deployment's open requests in reads and
//! watches, its requests in GetHistory, and the `scalekeeper_scale_requests` gauges. Their watch
//! does not count for readiness: a cluster whose ScaleRequest CRD is missing (installed before
//! the two-person rule) serves everything else, and logs the failing watch.
//!
//! Deployments are kept as [`CachedDeployment`]s (a few hundred bytes: the fields the API
//! returns), in order, so a page of a listing costs O(log n + page) ([`deployments`]).
//! One set of watchers per namespace in scope (or one across all namespaces).

pub mod deployments;
pub mod managed;
pub mod view;

pub use deployments::{CachedDeployment, DeploymentStore};
pub use managed::ManagedIndex;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::hpa::{self, HorizontalPodAutoscaler};
use futures::{StreamExt as _, TryStreamExt as _};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::ExponentialBackoff;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, ResourceExt as _};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::policy::ReplicaPolicy;
use crate::scalerequest::ScaleRequest;
use view::DeploymentView;

/// Which namespaces the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (needs a ClusterRole).
    All,
    /// Only these namespaces (a Role in each).
    Namespaces(Vec<String>),
}

impl Scope {
    /// The `Api` for kind `K` on each part of the scope: one cluster-wide `Api`, or one per
    /// namespace, each with the namespace it serves (`None`: all). Every watch scalekeeper
    /// opens (cache, reconciler) is laid out by this one function.
    pub fn apis<K>(&self, client: &Client) -> Vec<(Option<String>, Api<K>)>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Scope::All => vec![(None, Api::all(client.clone()))],
            Scope::Namespaces(ns) => ns.iter().map(|n| (Some(n.clone()), Api::namespaced(client.clone(), n))).collect(),
        }
    }

    /// Whether `namespace` is in scope.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(ns) => ns.iter().any(|n| n == namespace),
        }
    }
}

/// What changed in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The Deployment or the ReplicaPolicy `namespace/name` changed (or was deleted).
    Object {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A watcher re-listed: anything may have changed, deletions included.
    Resync,
}

struct Part {
    namespace: Option<String>,
    deployments: DeploymentStore,
    policies: Store<ReplicaPolicy>,
    /// The policy store's writing side, shared by the watch and [`Cache::observe_written`].
    policy_writer: PolicyWriter,
    /// The policies' names, in order (what Diff pages over).
    managed: ManagedIndex,
    hpas: Store<HorizontalPodAutoscaler>,
    requests: Store<ScaleRequest>,
}

/// Reachability of the Kubernetes API and sync state of the caches.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    /// Milliseconds since `started` of the last successful contact with the API server;
    /// 0 = never.
    last_contact_ms: AtomicU64,
    synced: Vec<AtomicBool>,
    stale_after: Duration,
}

impl Health {
    fn new(streams: usize, stale_after: Duration) -> Self {
        Self {
            started: Instant::now(),
            last_contact_ms: AtomicU64::new(0),
            synced: (0..streams).map(|_| AtomicBool::new(false)).collect(),
            stale_after,
        }
    }

    /// Records a successful answer from the API server.
    pub fn contact(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_contact_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Whether every cache has completed its initial list.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Relaxed))
    }

    /// Time since the API server last answered (`None`: never).
    pub fn since_contact(&self) -> Option<Duration> {
        match self.last_contact_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.started.elapsed().saturating_sub(Duration::from_millis(ms))),
        }
    }

    /// Ready to serve: caches synced and the API server answered within `stale_after`.
    pub fn ready(&self) -> bool {
        self.synced() && self.since_contact().is_some_and(|d| d <= self.stale_after)
    }
}

/// The watch cache.
#[derive(Clone)]
pub struct Cache {
    parts: Arc<Vec<Part>>,
    changes: broadcast::Sender<Change>,
    health: Arc<Health>,
    scope: Scope,
}

/// Watch streams per namespace part: Deployments, ReplicaPolicies, HPAs.
const STREAMS: usize = 3;

/// The Deployment a changed object concerns: the one with its name.
fn name_of<K: kube::Resource>(o: &K) -> Option<String> {
    o.meta().name.clone()
}

/// The Deployment an HPA targets.
fn hpa_target(h: &HorizontalPodAutoscaler) -> Option<String> {
    hpa::target_deployment(h).map(str::to_owned)
}

/// The backoff of every watch scalekeeper runs (the cache's, the reconciler's, the Lease's):
/// 100 ms doubling to 1 s, plus a jitter of up to as much again (so at most 2 s between two
/// attempts), back to 100 ms after 30 s without an error.
///
/// kube-runtime's default (client-go's: 800 ms doubling to 30 s, reset after 120 s) leaves a
/// watch up to 30 s behind an API server that has come back from an outage of a minute, and
/// with it readiness, the Lease term a leader sees, and drift correction. scalekeeper promises
/// drift corrected within 5 s of the API answering again (the fault matrix in
/// `tests/faults.rs` holds it to that), so the longest pause between two attempts is 2 s.
/// A handful of watches per replica retrying every 2 s is no load an API server notices.
pub fn watch_backoff() -> ResetTimerBackoff<ExponentialBackoff> {
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    ResetTimerBackoff::new(ExponentialBackoff::from(exponential), Duration::from_secs(30))
}

/// How many changes a slow WatchDeployments subscriber may fall behind before it is ended.
pub const CHANGE_BUFFER: usize = 1024;

/// Keeps only the managedFields entries of a policy that own `f:spec.f:replicas`, without
/// their field sets' other fields: who declared the count last (the API's writer, or kubectl,
/// or a GitOps tool) is all the reconciler reads there (see `reconciler::declared_through_api`).
fn keep_replicas_owners(p: &mut ReplicaPolicy) {
    p.managed_fields_mut().retain_mut(|e| {
        let owns = crate::culprit::owns_spec_replicas(e);
        if owns {
            e.fields_v1 = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
                serde_json::json!({"f:spec": {"f:replicas": {}}}),
            ));
        }
        owns
    });
}

impl Cache {
    /// Starts the watchers for `scope` and a task that checks the API server every second.
    /// Everything stops when `stop` is cancelled. `stale_after` is how long without an
    /// answer from the API server before the server reports not ready.
    pub fn start(client: Client, scope: Scope, stale_after: Duration, stop: CancellationToken) -> Self {
        let deployment_apis = scope.apis::<deployments::WatchedDeployment>(&client);
        let health = Arc::new(Health::new(deployment_apis.len() * STREAMS, stale_after));
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let mut parts: Vec<Part> = vec![];
        let apis = deployment_apis
            .into_iter()
            .zip(scope.apis::<ReplicaPolicy>(&client))
            .zip(scope.apis::<HorizontalPodAutoscaler>(&client))
            .zip(scope.apis::<ScaleRequest>(&client));
        for (i, ((((ns, dep_api), (_, pol_api)), (_, hpa_api)), (_, sr_api))) in apis.enumerate() {
            let deployments = DeploymentStore::new();
            let (policies, pol_writer) = reflector::store();
            let managed = ManagedIndex::default();
            let policy_writer = PolicyWriter {
                writer: Arc::new(Mutex::new(pol_writer)),
                store: policies.clone(),
                index: managed.clone(),
            };
            let from_watch = policy_writer.clone();
            let store = deployments.clone();
            let dep_stream = watcher(dep_api, watcher::Config::default())
                .backoff(watch_backoff())
                .map_ok(deployments::into_deployment_event)
                .inspect_ok(move |event| store.apply(event));
            let pol_stream = watcher(pol_api, watcher::Config::default())
                .backoff(watch_backoff())
                .modify(keep_replicas_owners)
                .inspect_ok(move |event| from_watch.apply(event));
            let (hpas, hpa_writer) = reflector::store();
            let hpa_stream = watcher(hpa_api, watcher::Config::default())
                .backoff(watch_backoff())
                .modify(|h: &mut HorizontalPodAutoscaler| {
                    h.managed_fields_mut().clear();
                    h.annotations_mut().clear();
                    h.status = None;
                })
                .reflect(hpa_writer);
            let (requests, sr_writer) = reflector::store();
            let sr_stream = watcher(sr_api, watcher::Config::default())
                .backoff(watch_backoff())
                .modify(|r: &mut ScaleRequest| r.managed_fields_mut().clear())
                .reflect(sr_writer);
            let base = i * STREAMS;
            let (h, c, st) = (&health, &changes, &stop);
            tokio::spawn(drive(dep_stream, "deployments", Some(base), h.clone(), c.clone(), st.clone(), name_of));
            tokio::spawn(drive(
                pol_stream,
                "replicapolicies",
                Some(base + 1),
                h.clone(),
                c.clone(),
                st.clone(),
                name_of,
            ));
            tokio::spawn(drive(
                hpa_stream,
                "horizontalpodautoscalers",
                Some(base + 2),
                h.clone(),
                c.clone(),
                st.clone(),
                hpa_target,
            ));
            tokio::spawn(drive(sr_stream, "scalerequests", None, h.clone(), c.clone(), st.clone(), request_target));
            parts.push(Part { namespace: ns, deployments, policies, policy_writer, managed, hpas, requests });
        }
        tokio::spawn(ping(client, health.clone(), stop));
        // In namespace order, so that a listing across parts comes out in order.
        parts.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        Self { parts: Arc::new(parts), changes, health, scope }
    }

    /// Readiness and reachability.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The namespaces served.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Makes a policy this process has just written (the API server's answer to the write) the
    /// cache's copy at once, and announces it on the change feed, so the reconciler and the
    /// admission guard act on it without waiting for the watch: after an API server restart a
    /// watch can take seconds to deliver it (until it fails with 410 and re-lists). A copy the
    /// watch delivers later replaces it only if it is as new or newer (see `PolicyWriter`).
    /// A policy outside the scope is ignored.
    pub fn observe_written(&self, policy: &ReplicaPolicy) {
        if self.keep_written(policy) {
            let ns = policy.namespace().unwrap_or_default();
            let _ = self.changes.send(Change::Object { namespace: ns, name: policy.name_any() });
        }
    }

    /// As [`Cache::observe_written`], without announcing the change: for the reconciler's own
    /// status writes, whose next look must read the status it has just written (the watch
    /// brings its own event, which triggers that look). Returns whether the policy is in scope.
    pub fn keep_written(&self, policy: &ReplicaPolicy) -> bool {
        let ns = policy.namespace().unwrap_or_default();
        let Some(part) = self.part(&ns) else { return false };
        let mut p = policy.clone();
        keep_replicas_owners(&mut p);
        part.policy_writer.apply(&watcher::Event::Apply(p));
        true
    }

    /// As [`Cache::observe_written`] for a policy this process has just deleted.
    pub fn observe_deleted(&self, namespace: &str, name: &str) {
        let Some(part) = self.part(namespace) else { return };
        let mut gone = ReplicaPolicy::new(name, Default::default());
        gone.metadata.namespace = Some(namespace.to_owned());
        part.policy_writer.apply(&watcher::Event::Delete(gone));
        let _ = self.changes.send(Change::Object { namespace: namespace.to_owned(), name: name.to_owned() });
    }

    /// Subscribes to changes (bounded: a subscriber that falls [`CHANGE_BUFFER`] behind lags).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn part(&self, namespace: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.namespace.as_deref().is_none_or(|n| n == namespace))
    }

    /// The cached Deployment `namespace/name` with its policy, if the Deployment exists.
    pub fn get(&self, namespace: &str, name: &str) -> Option<DeploymentView> {
        let part = self.part(namespace)?;
        let deployment = part.deployments.get(namespace, name)?;
        let policy = part.policies.get(&ObjectRef::new(name).within(namespace));
        let hpas = self.hpas_targeting(namespace, name);
        let requests = if policy.is_some() { self.open_requests(part, namespace, name) } else { vec![] };
        Some(DeploymentView { deployment, policy, hpas, requests })
    }

    /// The ScaleRequests of the Deployment `namespace/name`, open and done, oldest first
    /// (creation time, then name).
    pub fn scale_requests(&self, namespace: &str, name: &str) -> Vec<Arc<ScaleRequest>> {
        let Some(part) = self.part(namespace) else { return vec![] };
        requests_of(part, namespace, name, |_| true)
    }

    /// Every cached ScaleRequest in scope.
    pub fn all_scale_requests(&self) -> Vec<Arc<ScaleRequest>> {
        self.parts.iter().flat_map(|p| p.requests.state()).collect()
    }

    /// The open ScaleRequests of `namespace/name` now ([`scalekeeper_core::approval::Phase::is_done`]
    /// false: pending and not expired, approved, or waiting for review), oldest first. O(the
    /// part's requests).
    fn open_requests(&self, part: &Part, namespace: &str, name: &str) -> Vec<Arc<ScaleRequest>> {
        let now = jiff::Timestamp::now();
        requests_of(part, namespace, name, |sr| !crate::scalerequest::phase_at(sr, now).is_done())
    }

    /// The cached Deployment `namespace/name`.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Arc<CachedDeployment>> {
        self.part(namespace)?.deployments.get(namespace, name)
    }

    /// The policy store of each part of the scope (`None`: all namespaces), for the
    /// reconciler's `Controller`: it reconciles from these stores and this cache's change feed
    /// ([`Cache::subscribe`]), so leading opens no watch of these kinds of its own (only one of
    /// the guard's `ScaleRefused` Events, for the history).
    pub fn policy_stores(&self) -> Vec<(Option<String>, Store<ReplicaPolicy>)> {
        self.parts.iter().map(|p| (p.namespace.clone(), p.policies.clone())).collect()
    }

    /// The namespaces the cache holds Deployments in, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        self.parts.iter().flat_map(|p| p.deployments.namespaces()).collect()
    }

    /// The cached ReplicaPolicy `namespace/name`.
    pub fn policy(&self, namespace: &str, name: &str) -> Option<Arc<ReplicaPolicy>> {
        self.part(namespace)?.policies.get(&ObjectRef::new(name).within(namespace))
    }

    /// The HorizontalPodAutoscalers (names) in `namespace` whose scaleTargetRef is the
    /// Deployment `name`.
    pub fn hpas_targeting(&self, namespace: &str, name: &str) -> Vec<String> {
        let Some(part) = self.part(namespace) else { return vec![] };
        let mut out: Vec<String> = part
            .hpas
            .state()
            .iter()
            .filter(|h| h.namespace().as_deref() == Some(namespace) && hpa::targets(h, name))
            .map(|h| h.name_any())
            .collect();
        out.sort();
        out
    }

    /// Every cached Deployment in `namespace` (all in scope when `None`) passing `filter`,
    /// ordered by namespace then name.
    pub fn list(&self, namespace: Option<&str>, filter: impl Fn(&CachedDeployment) -> bool) -> Vec<DeploymentView> {
        self.page(namespace, None, usize::MAX, filter)
    }

    /// Up to `limit` cached Deployments passing `filter` in `namespace` (all in scope when
    /// `None`), strictly after `after` in (namespace, name) order, with their policies and
    /// HPAs. Costs O(log n) plus one step per Deployment looked at: no sort.
    pub fn page(
        &self,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        filter: impl Fn(&CachedDeployment) -> bool,
    ) -> Vec<DeploymentView> {
        self.page_parts(namespace, after, limit, |part, remaining| {
            part.deployments.page(namespace, after, remaining, &filter)
        })
    }

    /// As [`Cache::page`], over the managed Deployments only (those with a policy), walked
    /// in order through the policies' names: a page costs O(log n) plus one step per managed
    /// Deployment looked at, however many unmanaged ones lie between them.
    pub fn page_managed(
        &self,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        filter: impl Fn(&CachedDeployment) -> bool,
    ) -> Vec<DeploymentView> {
        self.page_parts(namespace, after, limit, |part, remaining| {
            let mut found = Vec::new();
            part.managed.page(namespace, after, remaining, |ns, name| match part.deployments.get(ns, name) {
                Some(d) if filter(&d) => {
                    found.push(d);
                    true
                }
                _ => false,
            });
            found
        })
    }

    /// Fills a page of up to `limit` views from the parts that can hold Deployments of
    /// `namespace` after `after`, in order, taking from each what `take(part, remaining)`
    /// finds there.
    fn page_parts(
        &self,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        mut take: impl FnMut(&Part, usize) -> Vec<Arc<CachedDeployment>>,
    ) -> Vec<DeploymentView> {
        let mut out = Vec::new();
        for part in self.parts.iter() {
            if let (Some(want), Some(have)) = (namespace, part.namespace.as_deref())
                && want != have
            {
                continue;
            }
            // Parts are in namespace order and disjoint: one before the token's holds nothing
            // after it.
            if let (Some((after_ns, _)), Some(have)) = (after, part.namespace.as_deref())
                && have < after_ns
            {
                continue;
            }
            for d in take(part, limit - out.len()) {
                let policy = part.policies.get(&ObjectRef::new(&d.name).within(&d.namespace));
                let (hpas, requests) = if policy.is_some() {
                    (self.hpas_targeting(&d.namespace, &d.name), self.open_requests(part, &d.namespace, &d.name))
                } else {
                    (vec![], vec![])
                };
                out.push(DeploymentView { deployment: d, policy, hpas, requests });
            }
            if out.len() == limit {
                break;
            }
        }
        out
    }
}

/// The writing side of a part's policy store and [`ManagedIndex`]: what kube-runtime's
/// reflector does with each watch event, shared with the API's writer
/// ([`Cache::observe_written`]). An update (`Apply`) older than the copy held is skipped, so a
/// watch that lags the writer's own write never takes the cache back; every other event (a
/// deletion, a re-list) applies as the reflector would.
///
/// "Older" compares resourceVersions as numbers. Kubernetes calls them opaque; every API server
/// built on etcd (and kubesim) gives them as one increasing revision, and when either is not a
/// number the watch's copy wins.
#[derive(Clone)]
struct PolicyWriter {
    writer: Arc<Mutex<reflector::store::Writer<ReplicaPolicy>>>,
    store: Store<ReplicaPolicy>,
    index: ManagedIndex,
}

impl PolicyWriter {
    fn apply(&self, event: &watcher::Event<ReplicaPolicy>) {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let watcher::Event::Apply(p) = event
            && let Some(held) = self.store.get(&ObjectRef::from_obj(p))
            && older(p.resource_version().as_deref(), held.resource_version().as_deref())
        {
            return;
        }
        self.index.apply(event);
        writer.apply_watcher_event(event);
    }
}

/// Whether resourceVersion `a` is older than `b`, both numbers (see [`PolicyWriter`]).
fn older(a: Option<&str>, b: Option<&str>) -> bool {
    match (a.and_then(|a| a.parse::<u64>().ok()), b.and_then(|b| b.parse::<u64>().ok())) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

/// The ScaleRequests of `namespace/name` in `part` that `keep` keeps, oldest first.
fn requests_of(
    part: &Part,
    namespace: &str,
    name: &str,
    keep: impl Fn(&ScaleRequest) -> bool,
) -> Vec<Arc<ScaleRequest>> {
    let mut out: Vec<Arc<ScaleRequest>> = part
        .requests
        .state()
        .into_iter()
        .filter(|sr| sr.spec.deployment == name && sr.namespace().as_deref() == Some(namespace) && keep(sr))
        .collect();
    out.sort_by(|a, b| {
        crate::scalerequest::created(a)
            .cmp(&crate::scalerequest::created(b))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    out
}

/// The Deployment a ScaleRequest is about: a change of the request is a change of its view.
fn request_target(sr: &ScaleRequest) -> Option<String> {
    Some(sr.spec.deployment.clone())
}

/// Drives one reflector stream: marks its cache synced (`index` in the health's streams;
/// `None` for a stream readiness does not wait for), records contact, publishes changes.
async fn drive<K>(
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    resource: &'static str,
    index: Option<usize>,
    health: Arc<Health>,
    changes: broadcast::Sender<Change>,
    stop: CancellationToken,
    deployment_of: fn(&K) -> Option<String>,
) where
    K: kube::Resource + Clone + Send + 'static,
{
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = stream.next() => next,
        };
        let Some(event) = next else { return };
        match event {
            Ok(ev) => {
                health.contact();
                let change = match &ev {
                    watcher::Event::Apply(o) | watcher::Event::Delete(o) => deployment_of(o)
                        .map(|name| Change::Object { namespace: o.meta().namespace.clone().unwrap_or_default(), name }),
                    watcher::Event::InitDone => {
                        let first = index.is_none_or(|i| !health.synced[i].swap(true, Ordering::Relaxed));
                        if first {
                            tracing::info!(resource, "watch cache synced");
                        }
                        Some(Change::Resync)
                    }
                    watcher::Event::Init | watcher::Event::InitApply(_) => None,
                };
                if let Some(c) = change {
                    // No subscribers is fine.
                    let _ = changes.send(c);
                }
            }
            Err(e) => tracing::warn!(resource, error = %e, "watch failed; retrying with backoff"),
        }
    }
}

/// Asks the API server for its version every second, so readiness notices an outage even
/// when nothing changes.
async fn ping(client: Client, health: Arc<Health>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match tokio::time::timeout(Duration::from_secs(2), client.apiserver_version()).await {
            Ok(Ok(_)) => health.contact(),
            Ok(Err(e)) => tracing::debug!(error = %e, "API server did not answer"),
            Err(_) => tracing::debug!("API server did not answer within 2s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_backoff_never_waits_over_two_seconds() {
        use kube::runtime::utils::Backoff as _;
        let mut b = watch_backoff();
        let delays: Vec<Duration> = (0..50).map(|_| b.next().expect("retries for ever")).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)), "{delays:?}");
        assert!(delays[0] <= Duration::from_millis(200), "{delays:?}");
        b.reset();
        assert!(b.next().unwrap() <= Duration::from_millis(200));
    }

    #[test]
    fn readiness_needs_sync_and_recent_contact() {
        let h = Health::new(2, Duration::from_secs(5));
        assert!(!h.ready());
        h.contact();
        assert!(!h.ready(), "not synced yet");
        h.synced[0].store(true, Ordering::Relaxed);
        h.synced[1].store(true, Ordering::Relaxed);
        assert!(h.ready());
        let stale = Health::new(0, Duration::ZERO);
        stale.contact();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!stale.ready(), "contact older than stale_after");
    }

    #[test]
    fn a_lagging_watch_never_takes_a_written_policy_back() {
        let (store, writer) = reflector::store::<ReplicaPolicy>();
        let w =
            PolicyWriter { writer: Arc::new(Mutex::new(writer)), store: store.clone(), index: ManagedIndex::default() };
        let at = |rv: &str, replicas: i32| {
            let mut p = ReplicaPolicy::new("web", crate::policy::ReplicaPolicySpec { replicas, ..Default::default() });
            p.metadata.namespace = Some("shop".into());
            p.metadata.resource_version = Some(rv.into());
            p
        };
        let get = || store.get(&ObjectRef::new("web").within("shop")).map(|p| p.spec.replicas);
        w.apply(&watcher::Event::Init);
        w.apply(&watcher::Event::InitApply(at("10", 3)));
        w.apply(&watcher::Event::InitDone);
        assert_eq!(get(), Some(3));
        // The writer's own write at 20, then the watch still delivering 15.
        w.apply(&watcher::Event::Apply(at("20", 5)));
        w.apply(&watcher::Event::Apply(at("15", 4)));
        assert_eq!(get(), Some(5), "the older copy is skipped");
        w.apply(&watcher::Event::Apply(at("20", 5)));
        w.apply(&watcher::Event::Apply(at("21", 6)));
        assert_eq!(get(), Some(6));
        w.apply(&watcher::Event::Delete(at("22", 6)));
        assert_eq!(get(), None);
        assert!(!older(Some("x"), Some("20")), "a resourceVersion that is not a number: the watch wins");
    }

    #[test]
    fn scope_membership() {
        assert!(Scope::All.contains("x"));
        let s = Scope::Namespaces(vec!["a".into()]);
        assert!(s.contains("a"));
        assert!(!s.contains("b"));
    }
}
