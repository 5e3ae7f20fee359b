//! The Deployments of the watch cache, compact and in order.
//!
//! ```text
//!  watcher::Event<Deployment> ─► DeploymentStore::apply ─► namespace ─► name ─► Arc<CachedDeployment>
//!  (Init / InitApply / InitDone: a re-list builds a new index, swapped in whole at InitDone)
//! ```
//!
//! kube-runtime's reflector keeps whole k8s-openapi objects in a hash map; a read path that
//! serves pages in (namespace, name) order from 100,000 Deployments needs an index kept in
//! that order as events arrive, and a Deployment costs kilobytes as an `Option`-laden
//! struct even with its pod template stripped. So the watch events (kube-runtime's watcher,
//! with its re-list and backoff) feed this store instead: one [`CachedDeployment`] of a few
//! hundred bytes per Deployment — the fields the API returns and the reconciler reads —
//! under a two-level `BTreeMap` whose namespace keys are shared by every entry of their
//! namespace, and label keys interned across the cluster. The event semantics are the
//! reflector's: a re-list (`Init` … `InitApply` … `InitDone`) builds a new index that
//! replaces the old one whole, so objects deleted during a watch outage disappear.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher;
use scalekeeper_core::Observed;

use crate::culprit::ReplicasOwner;

/// A Deployment as the cache's watch decodes it: metadata, `spec.replicas`, `spec.paused`
/// and status. The rest of the spec (the pod template above all, most of a Deployment's
/// bytes) is skipped by the JSON parser instead of being decoded into k8s-openapi structs
/// and dropped a moment later: at 10,000 Deployments that decoding was most of the time a
/// process took to get ready. [`Deployment::from`] gives the k8s-openapi form (with an
/// empty template) that the rest of the code reads.
#[derive(Clone, Debug, serde::Deserialize, kube::Resource)]
#[resource(inherit = Deployment)]
pub struct WatchedDeployment {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec.replicas` and `spec.paused`.
    #[serde(default)]
    pub spec: Option<WatchedSpec>,
    /// `status`.
    #[serde(default)]
    pub status: Option<DeploymentStatus>,
}

/// The fields of a Deployment's spec the cache keeps.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct WatchedSpec {
    /// `spec.replicas` (the API server defaults it to 1; absent only on objects that never
    /// passed through one).
    #[serde(default)]
    pub replicas: Option<i32>,
    /// `spec.paused`.
    #[serde(default)]
    pub paused: Option<bool>,
}

impl From<WatchedDeployment> for Deployment {
    fn from(w: WatchedDeployment) -> Self {
        Deployment {
            metadata: w.metadata,
            spec: w.spec.map(|s| DeploymentSpec { replicas: s.replicas, paused: s.paused, ..Default::default() }),
            status: w.status,
        }
    }
}

/// A watch event of [`WatchedDeployment`]s as one of k8s-openapi Deployments.
pub fn into_deployment_event(e: watcher::Event<WatchedDeployment>) -> watcher::Event<Deployment> {
    match e {
        watcher::Event::Apply(d) => watcher::Event::Apply(d.into()),
        watcher::Event::Delete(d) => watcher::Event::Delete(d.into()),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(d) => watcher::Event::InitApply(d.into()),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// A Deployment as the cache keeps it: what reads need, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDeployment {
    /// Namespace (shared with every cached Deployment of the namespace).
    pub namespace: Arc<str>,
    /// Name.
    pub name: Box<str>,
    /// UID, generation, `spec.replicas` (defaulted to 1) and the status counts.
    pub observed: Observed,
    /// `spec.paused`.
    pub paused: bool,
    /// `metadata.resourceVersion`: the precondition of a write made from this copy.
    pub resource_version: Box<str>,
    /// Who owns `spec.replicas` by managedFields (manager names interned).
    pub replicas_owner: Option<ReplicasOwner>,
    /// `metadata.labels`, sorted by key; keys interned.
    labels: Box<[(Arc<str>, Box<str>)]>,
}

impl CachedDeployment {
    /// The cached form of `d`, with label keys, field managers and the namespace taken from
    /// `intern`.
    fn build(d: &Deployment, intern: &mut impl FnMut(&str) -> Arc<str>, namespace: Arc<str>) -> Self {
        let labels: Vec<(Arc<str>, Box<str>)> =
            d.metadata.labels.iter().flatten().map(|(k, v)| (intern(k), v.as_str().into())).collect();
        // A BTreeMap's iteration is already in key order.
        Self {
            namespace,
            name: d.metadata.name.as_deref().unwrap_or_default().into(),
            observed: crate::cache::view::observed(d),
            paused: d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false),
            resource_version: d.metadata.resource_version.as_deref().unwrap_or_default().into(),
            replicas_owner: ReplicasOwner::of(d, intern),
            labels: labels.into_boxed_slice(),
        }
    }

    /// The cached form of `d`, outside any store (a Deployment just read or written).
    pub fn from_deployment(d: &Deployment) -> Self {
        let namespace: Arc<str> = d.metadata.namespace.as_deref().unwrap_or_default().into();
        Self::build(d, &mut |k| Arc::from(k), namespace)
    }

    /// A reference to this Deployment at this copy's resourceVersion (Events are about it
    /// without the resourceVersion: [`crate::events::about`]).
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            namespace: Some(self.namespace.to_string()),
            name: Some(self.name.to_string()),
            uid: Some(self.observed.uid.clone()).filter(|u| !u.is_empty()),
            resource_version: Some(self.resource_version.to_string()).filter(|v| !v.is_empty()),
            ..Default::default()
        }
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.binary_search_by(|(k, _)| (**k).cmp(key)).ok().map(|i| &*self.labels[i].1)
    }

    /// The labels, in key order.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (&**k, &**v))
    }
}

/// One namespace's Deployments, by name.
type Names = BTreeMap<Box<str>, Arc<CachedDeployment>>;

/// Every cached Deployment, by namespace then name.
type Index = BTreeMap<Arc<str>, Names>;

#[derive(Default)]
struct Inner {
    index: Index,
    /// The index a re-list is building, swapped in at `InitDone`.
    building: Option<Index>,
    /// Label keys and field managers seen, shared by every Deployment carrying them.
    label_keys: HashSet<Arc<str>>,
}

impl Inner {
    fn intern_key(keys: &mut HashSet<Arc<str>>, k: &str) -> Arc<str> {
        if let Some(have) = keys.get(k) {
            return have.clone();
        }
        let new: Arc<str> = Arc::from(k);
        keys.insert(new.clone());
        new
    }

    /// The namespace's shared key: from the index being built, else the live one, else new.
    fn namespace_key(&self, ns: &str) -> Arc<str> {
        let from = |i: &Index| i.get_key_value(ns).map(|(k, _)| k.clone());
        self.building.as_ref().and_then(from).or_else(|| from(&self.index)).unwrap_or_else(|| Arc::from(ns))
    }

    fn cached(&mut self, d: &Deployment) -> Arc<CachedDeployment> {
        let ns = self.namespace_key(d.metadata.namespace.as_deref().unwrap_or_default());
        let keys = &mut self.label_keys;
        Arc::new(CachedDeployment::build(d, &mut |k| Self::intern_key(keys, k), ns))
    }
}

fn insert(index: &mut Index, d: Arc<CachedDeployment>) {
    index.entry(d.namespace.clone()).or_default().insert(d.name.clone(), d);
}

fn remove(index: &mut Index, namespace: &str, name: &str) {
    if let Some(names) = index.get_mut(namespace) {
        names.remove(name);
        if names.is_empty() {
            index.remove(namespace);
        }
    }
}

/// The cached Deployments, by namespace then name. Cloning shares the store.
#[derive(Clone, Default)]
pub struct DeploymentStore {
    inner: Arc<RwLock<Inner>>,
}

impl DeploymentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one watch event, as kube-runtime's reflector does.
    pub fn apply(&self, event: &watcher::Event<Deployment>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Init => inner.building = Some(Index::new()),
            watcher::Event::InitApply(d) => {
                let c = inner.cached(d);
                match inner.building.as_mut() {
                    Some(building) => insert(building, c),
                    None => insert(&mut inner.index, c),
                }
            }
            watcher::Event::InitDone => {
                if let Some(built) = inner.building.take() {
                    inner.index = built;
                    // Forget label keys no Deployment carries any more.
                    inner.label_keys.retain(|k| Arc::strong_count(k) > 1);
                }
            }
            watcher::Event::Apply(d) => {
                let c = inner.cached(d);
                insert(&mut inner.index, c);
            }
            watcher::Event::Delete(d) => {
                let (ns, name) = (d.metadata.namespace.as_deref().unwrap_or_default(), d.metadata.name.as_deref());
                remove(&mut inner.index, ns, name.unwrap_or_default());
            }
        }
    }

    /// The Deployment `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<CachedDeployment>> {
        self.read().index.get(namespace)?.get(name).cloned()
    }

    /// How many Deployments are cached.
    pub fn len(&self) -> usize {
        self.read().index.values().map(BTreeMap::len).sum()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.read().index.is_empty()
    }

    /// The namespaces holding at least one Deployment, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        self.read().index.keys().map(|k| k.to_string()).collect()
    }

    /// Up to `limit` Deployments passing `filter`, in (namespace, name) order, in `namespace`
    /// (all when `None`), strictly after `after`. Costs O(log n) to find the start plus one
    /// step per Deployment looked at; the read lock is held meanwhile, so keep `filter` cheap.
    pub fn page(
        &self,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        mut filter: impl FnMut(&CachedDeployment) -> bool,
    ) -> Vec<Arc<CachedDeployment>> {
        let inner = self.read();
        let mut out = Vec::new();
        if limit == 0 {
            return out;
        }
        let namespaces: Box<dyn Iterator<Item = (&Arc<str>, &Names)>> = match (namespace, after) {
            (Some(ns), _) => Box::new(inner.index.get_key_value(ns).into_iter()),
            (None, Some((ns, _))) => Box::new(inner.index.range::<str, _>((Bound::Included(ns), Bound::Unbounded))),
            (None, None) => Box::new(inner.index.iter()),
        };
        for (ns, names) in namespaces {
            let names: Box<dyn Iterator<Item = &Arc<CachedDeployment>>> = match after {
                Some((after_ns, after_name)) if **ns == *after_ns => {
                    Box::new(names.range::<str, _>((Bound::Excluded(after_name), Bound::Unbounded)).map(|(_, d)| d))
                }
                Some((after_ns, _)) if **ns < *after_ns => continue,
                _ => Box::new(names.values()),
            };
            for d in names {
                if filter(d) {
                    out.push(d.clone());
                    if out.len() == limit {
                        return out;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(ns: &str, name: &str, replicas: i32, labels: &[(&str, &str)]) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns, "uid": format!("{ns}-{name}"), "generation": 1,
                         "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
        }))
        .unwrap()
    }

    fn names(v: &[Arc<CachedDeployment>]) -> Vec<String> {
        v.iter().map(|d| format!("{}/{}", d.namespace, d.name)).collect()
    }

    fn filled() -> DeploymentStore {
        let s = DeploymentStore::new();
        s.apply(&watcher::Event::Init);
        for (ns, name) in [("shop", "web"), ("payments", "ledger"), ("shop", "cart"), ("a", "z")] {
            s.apply(&watcher::Event::InitApply(dep(ns, name, 1, &[("app", name)])));
        }
        assert!(s.is_empty(), "a re-list is not visible before InitDone");
        s.apply(&watcher::Event::InitDone);
        s
    }

    /// The watch decodes only part of a Deployment; what the cache keeps from it is what it
    /// keeps from the whole object.
    #[test]
    fn the_watched_part_of_a_deployment_caches_as_the_whole_one() {
        let json = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "generation": 4, "resourceVersion": "812",
                         "labels": {"app": "web", "tier": "front"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                         "managedFields": [
                             {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                              "time": "2026-11-29T08:00:00Z", "fieldsType": "FieldsV1",
                              "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"},
                             {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                              "time": "2026-11-29T08:00:01Z", "fieldsType": "FieldsV1",
                              "fieldsV1": {"f:status": {"f:replicas": {}}}, "subresource": "status"}]},
            "spec": {"replicas": 5, "paused": true, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}},
            "status": {"observedGeneration": 3, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3},
        });
        let whole: Deployment = serde_json::from_value(json.clone()).unwrap();
        let watched: WatchedDeployment = serde_json::from_value(json).unwrap();
        let from_watch = CachedDeployment::from_deployment(&Deployment::from(watched));
        assert_eq!(from_watch, CachedDeployment::from_deployment(&whole));
        assert_eq!(from_watch.observed.spec_replicas, 5);
        assert!(from_watch.paused);
        assert_eq!(from_watch.replicas_owner.as_ref().map(|o| &*o.manager), Some("kubectl"));
        assert_eq!(from_watch.label("tier"), Some("front"));
    }

    #[test]
    fn pages_come_in_namespace_then_name_order() {
        let s = filled();
        assert_eq!(names(&s.page(None, None, 10, |_| true)), ["a/z", "payments/ledger", "shop/cart", "shop/web"]);
        assert_eq!(names(&s.page(None, None, 2, |_| true)), ["a/z", "payments/ledger"]);
        assert_eq!(names(&s.page(None, Some(("payments", "ledger")), 10, |_| true)), ["shop/cart", "shop/web"]);
        assert_eq!(
            names(&s.page(None, Some(("b", "")), 1, |_| true)),
            ["payments/ledger"],
            "a token between namespaces"
        );
        assert_eq!(names(&s.page(Some("shop"), Some(("shop", "cart")), 10, |_| true)), ["shop/web"]);
        assert_eq!(names(&s.page(Some("shop"), None, 10, |d| d.label("app") == Some("web"))), ["shop/web"]);
        assert!(s.page(Some("nowhere"), None, 10, |_| true).is_empty());
        assert_eq!(s.namespaces(), ["a", "payments", "shop"]);
    }

    #[test]
    fn events_apply_as_the_reflector_applies_them() {
        let s = filled();
        s.apply(&watcher::Event::Apply(dep("shop", "web", 5, &[])));
        assert_eq!(s.get("shop", "web").unwrap().observed.spec_replicas, 5);
        s.apply(&watcher::Event::Delete(dep("a", "z", 1, &[])));
        assert_eq!(s.get("a", "z"), None);
        assert_eq!(s.namespaces(), ["payments", "shop"], "an emptied namespace goes");
        // A re-list replaces everything: what it does not list is gone.
        s.apply(&watcher::Event::Init);
        s.apply(&watcher::Event::InitApply(dep("shop", "web", 2, &[])));
        assert_eq!(s.len(), 3, "the old index serves until InitDone");
        s.apply(&watcher::Event::InitDone);
        assert_eq!(names(&s.page(None, None, 10, |_| true)), ["shop/web"]);
    }

    #[test]
    fn namespaces_and_label_keys_are_shared() {
        let s = filled();
        let (web, cart) = (s.get("shop", "web").unwrap(), s.get("shop", "cart").unwrap());
        assert!(Arc::ptr_eq(&web.namespace, &cart.namespace));
        let key = |d: &CachedDeployment| d.labels.first().map(|(k, _)| k.clone()).unwrap();
        assert!(Arc::ptr_eq(&key(&web), &key(&cart)));
        assert_eq!(web.labels().collect::<Vec<_>>(), [("app", "web")]);
        assert_eq!(web.label("missing"), None);
    }

    #[test]
    fn a_cached_deployment_is_small() {
        // The struct itself; its strings (name, uid, resourceVersion, label values) come on
        // top. 176 bytes with the resourceVersion and the owner of spec.replicas, which let
        // the reconciler correct a drift without reading the Deployment.
        assert!(std::mem::size_of::<CachedDeployment>() <= 176, "{}", std::mem::size_of::<CachedDeployment>());
    }
}
