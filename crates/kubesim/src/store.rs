//! The object store: one global resourceVersion, persistent maps per storage, and the
//! change log that watches read from.
//!
//! ```text
//!   write ──► StoreInner::commit ──► objects[storage]  (imbl::OrdMap, O(1) snapshots)
//!                                 └─► log (bounded)  ──► watch tasks (woken by `rv` channel)
//! ```
//!
//! Every write happens under one mutex, which is what makes resourceVersion preconditions
//! exact: of N concurrent writes carrying the same resourceVersion, one wins.
//! Lists take an O(1) snapshot of the storage's ordered map; a paginated list keeps that
//! snapshot so that every page is served from the same resourceVersion, as etcd does, and
//! each page costs O(page · log n).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use imbl::OrdMap;
use serde_json::Value;
use tokio::sync::watch;

use crate::resources::ResourceDef;

/// An object's key within its storage: `(namespace, name)`; namespace is empty for
/// cluster-scoped objects.
pub type ObjKey = (String, String);

/// The objects of one storage, ordered by key like etcd's.
pub type Objects = OrdMap<ObjKey, Arc<Value>>;

/// The type of a change, as a watch event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Object created.
    Added,
    /// Object updated.
    Modified,
    /// Object deleted.
    Deleted,
}

impl ChangeType {
    /// The watch event type (`ADDED`, `MODIFIED`, `DELETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change was committed at.
    pub rv: u64,
    /// Storage key (e.g. `apps/deployments`).
    pub storage: Arc<str>,
    /// Added, Modified or Deleted.
    pub kind: ChangeType,
    /// The object after the change (for Deleted: its last state, at the deletion's version).
    pub object: Arc<Value>,
    /// The object before the change (None for Added).
    pub previous: Option<Arc<Value>>,
    /// When the change was committed (a watch delay counts from here).
    pub at: tokio::time::Instant,
}

/// A write as kubesim saw it, for tests that count writes ("no patch was sent").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord {
    /// resourceVersion of the write (0 for a dry run or a write that changed nothing).
    pub rv: u64,
    /// `create`, `update`, `patch` or `delete`.
    pub verb: String,
    /// Resource, e.g. `deployments`.
    pub resource: String,
    /// Subresource (`status`, `scale`), if any.
    pub subresource: Option<String>,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Field manager of the write.
    pub field_manager: String,
}

/// The state behind the store's mutex.
pub struct StoreInner {
    /// The last committed resourceVersion.
    pub rv: u64,
    /// The served resources (built-ins plus CRD-registered kinds).
    pub resources: Vec<ResourceDef>,
    objects: HashMap<String, Objects>,
    log: VecDeque<Change>,
    history: usize,
    snapshots: VecDeque<(u64, String, Objects)>,
    writes: VecDeque<WriteRecord>,
    /// Deployments whose spec changed, for the Deployment controller.
    pub(crate) deployment_changes: Vec<ObjKey>,
    /// Set while the ClusterRole aggregation commits, so that its own commits do not rerun it.
    aggregating: bool,
    /// How many ValidatingWebhookConfigurations are stored: a write checks this before
    /// anything else about admission, so that without configurations admission costs nothing.
    pub webhook_configs: usize,
    /// The resourceVersion of the last change to a ValidatingWebhookConfiguration (parsed
    /// webhooks are cached until it moves).
    pub webhook_configs_rv: u64,
}

/// How many list snapshots are kept for continue tokens.
const SNAPSHOTS: usize = 64;
/// How many write records are kept.
const WRITE_RECORDS: usize = 100_000;

impl StoreInner {
    /// Finds the served resource for `group`/`version`/`plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.plural == plural && r.versions.iter().any(|v| v == version))
    }

    /// The object stored under `storage`/`key`.
    pub fn get(&self, storage: &str, key: &ObjKey) -> Option<Arc<Value>> {
        self.objects.get(storage).and_then(|m| m.get(key)).cloned()
    }

    /// An O(1) snapshot of every object in `storage`.
    pub fn snapshot(&self, storage: &str) -> Objects {
        self.objects.get(storage).cloned().unwrap_or_default()
    }

    /// Keeps `objects` as the snapshot of `storage` at the current resourceVersion, for the
    /// continue token of a paginated list.
    pub fn keep_snapshot(&mut self, storage: &str, objects: Objects) {
        let rv = self.rv;
        if !self.snapshots.iter().any(|(r, s, _)| *r == rv && s == storage) {
            if self.snapshots.len() >= SNAPSHOTS {
                self.snapshots.pop_front();
            }
            self.snapshots.push_back((rv, storage.to_string(), objects));
        }
    }

    /// The snapshot of `storage` kept at `rv`, if still retained.
    pub fn kept_snapshot(&self, storage: &str, rv: u64) -> Option<Objects> {
        self.snapshots.iter().find(|(r, s, _)| *r == rv && s == storage).map(|(_, _, o)| o.clone())
    }

    /// Commits `new` (or a deletion when `None`) under `storage`/`key` at the next
    /// resourceVersion, which it writes into `metadata.resourceVersion`. Returns the stored
    /// object (for a deletion: the last state, stamped with the deletion's version).
    ///
    /// A commit to ClusterRoles then runs the ClusterRole aggregation ([`crate::rbac::aggregate`])
    /// at once, which commits the aggregated ClusterRoles it changes at later versions.
    pub fn commit(&mut self, storage: &str, key: ObjKey, new: Option<Value>) -> Option<Arc<Value>> {
        let committed = self.commit_one(storage, key, new);
        if storage == crate::rbac::CLUSTER_ROLES && committed.is_some() && !self.aggregating {
            self.aggregating = true;
            crate::rbac::aggregate(self);
            self.aggregating = false;
        }
        committed
    }

    fn commit_one(&mut self, storage: &str, key: ObjKey, new: Option<Value>) -> Option<Arc<Value>> {
        let map = self.objects.entry(storage.to_string()).or_default();
        let previous = map.get(&key).cloned();
        let rv = self.rv + 1;
        let (kind, object) = match new {
            Some(mut obj) => {
                set_rv(&mut obj, rv);
                let obj = Arc::new(obj);
                map.insert(key, obj.clone());
                (if previous.is_some() { ChangeType::Modified } else { ChangeType::Added }, obj)
            }
            None => {
                let prev = previous.as_ref()?;
                map.remove(&key);
                let mut last = (**prev).clone();
                set_rv(&mut last, rv);
                (ChangeType::Deleted, Arc::new(last))
            }
        };
        self.rv = rv;
        if storage == crate::resources::WEBHOOK_CONFIGS {
            match (&previous, kind) {
                (None, ChangeType::Added) => self.webhook_configs += 1,
                (Some(_), ChangeType::Deleted) => self.webhook_configs = self.webhook_configs.saturating_sub(1),
                _ => {}
            }
            self.webhook_configs_rv = rv;
        }
        if self.log.len() >= self.history {
            self.log.pop_front();
        }
        self.log.push_back(Change {
            rv,
            storage: Arc::from(storage),
            kind,
            object: object.clone(),
            previous,
            at: tokio::time::Instant::now(),
        });
        Some(object)
    }

    /// The oldest resourceVersion a watch can resume from (`None`: any).
    pub fn oldest_watchable(&self) -> u64 {
        match self.log.front() {
            Some(c) if self.log.len() >= self.history => c.rv.saturating_sub(1),
            _ => 0,
        }
    }

    /// Changes after `rv` (for a watch resuming there), or `None` when `rv` is older than
    /// the retained history (the watch must answer 410 Gone).
    pub fn changes_since(&self, rv: u64, storage: &str) -> Option<Vec<Change>> {
        if rv < self.oldest_watchable() {
            return None;
        }
        let start = self.log.partition_point(|c| c.rv <= rv);
        Some(self.log.iter().skip(start).filter(|c| &*c.storage == storage).cloned().collect())
    }

    /// Records a write for [`Store::writes`].
    pub fn record_write(&mut self, rec: WriteRecord) {
        if self.writes.len() >= WRITE_RECORDS {
            self.writes.pop_front();
        }
        self.writes.push_back(rec);
    }

    /// Every object in every storage whose `metadata.ownerReferences` name `uid`.
    pub fn dependents_of(&self, uid: &str) -> Vec<(String, ObjKey)> {
        let mut out = vec![];
        for (storage, map) in &self.objects {
            for (key, obj) in map.iter() {
                let owned = obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid)));
                if owned {
                    out.push((storage.clone(), key.clone()));
                }
            }
        }
        out
    }

    /// Every key in `storage` within `namespace`.
    pub fn keys_in_namespace(&self, storage: &str, namespace: &str) -> Vec<ObjKey> {
        self.objects
            .get(storage)
            .map(|m| m.keys().filter(|(ns, _)| ns == namespace).cloned().collect())
            .unwrap_or_default()
    }

    /// Every storage key that currently holds objects.
    pub fn storages(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    /// Drops a whole storage (a CRD deleted); returns its keys so deletions can be committed.
    pub fn keys(&self, storage: &str) -> Vec<ObjKey> {
        self.objects.get(storage).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// The shared store.
pub struct Store {
    inner: Mutex<StoreInner>,
    rv_tx: watch::Sender<u64>,
    deployments_tx: tokio::sync::Notify,
}

impl Store {
    /// An empty store serving `resources`, keeping `history` changes for watches.
    pub fn new(resources: Vec<ResourceDef>, history: usize) -> Self {
        let (rv_tx, _) = watch::channel(0);
        Self {
            inner: Mutex::new(StoreInner {
                rv: 0,
                resources,
                objects: HashMap::new(),
                log: VecDeque::new(),
                history: history.max(1),
                snapshots: VecDeque::new(),
                writes: VecDeque::new(),
                deployment_changes: vec![],
                aggregating: false,
                webhook_configs: 0,
                webhook_configs_rv: 0,
            }),
            rv_tx,
            deployments_tx: tokio::sync::Notify::new(),
        }
    }

    /// Locks the store. Callers hold the guard only for synchronous work.
    pub fn lock(&self) -> MutexGuard<'_, StoreInner> {
        // A panic while holding the lock leaves consistent data (every mutation is a single
        // insert); keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes watchers and the Deployment controller after a write; call after dropping the
    /// guard.
    pub fn publish(&self, rv: u64, deployments_changed: bool) {
        self.rv_tx.send_if_modified(|cur| {
            if rv > *cur {
                *cur = rv;
                true
            } else {
                false
            }
        });
        if deployments_changed {
            self.deployments_tx.notify_one();
        }
    }

    /// A receiver that changes whenever a write commits.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.rv_tx.subscribe()
    }

    /// Waits until a Deployment spec changed (for the Deployment controller).
    pub async fn deployments_changed(&self) {
        self.deployments_tx.notified().await;
    }

    /// Every write seen so far (bounded to the last 100,000).
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.lock().writes.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(history: usize) -> Store {
        Store::new(crate::resources::builtins(), history)
    }

    fn key(n: &str) -> ObjKey {
        ("default".into(), n.into())
    }

    #[test]
    fn commit_stamps_increasing_resource_versions() {
        let s = store(10);
        let mut g = s.lock();
        let a = g.commit("x", key("a"), Some(json!({"metadata": {"name": "a"}}))).expect("stored");
        let b = g.commit("x", key("a"), Some(json!({"metadata": {"name": "a"}}))).expect("stored");
        assert_eq!(a["metadata"]["resourceVersion"], "1");
        assert_eq!(b["metadata"]["resourceVersion"], "2");
        let d = g.commit("x", key("a"), None).expect("deleted");
        assert_eq!(d["metadata"]["resourceVersion"], "3");
        assert!(g.get("x", &key("a")).is_none());
        assert!(g.commit("x", key("a"), None).is_none(), "deleting a missing object commits nothing");
        assert_eq!(g.rv, 3);
    }

    #[test]
    fn history_window_answers_gone_for_old_versions() {
        let s = store(3);
        let mut g = s.lock();
        for i in 0..5 {
            g.commit("x", key(&format!("o{i}")), Some(json!({"metadata": {}})));
        }
        // Retained: rv 3, 4, 5 → resuming from 2 still sees all of them; from 1 does not.
        assert_eq!(g.changes_since(2, "x").map(|c| c.len()), Some(3));
        assert!(g.changes_since(1, "x").is_none());
        assert_eq!(g.changes_since(5, "x").map(|c| c.len()), Some(0));
    }

    #[test]
    fn snapshots_are_isolated_from_later_writes() {
        let s = store(10);
        let mut g = s.lock();
        g.commit("x", key("a"), Some(json!({"metadata": {}})));
        let snap = g.snapshot("x");
        g.keep_snapshot("x", snap);
        g.commit("x", key("b"), Some(json!({"metadata": {}})));
        assert_eq!(g.kept_snapshot("x", 1).map(|s| s.len()), Some(1));
        assert_eq!(g.snapshot("x").len(), 2);
    }
}
