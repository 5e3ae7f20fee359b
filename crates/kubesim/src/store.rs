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
//!
//! What the store keeps is bounded by its [`Retention`]: the change log by a number of
//! changes (a watch from before it gets 410 Gone), and Events by a time to live after their
//! last write, as kube-apiserver's `--event-ttl` bounds them ([`StoreInner::expire_events`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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

/// How long the store keeps what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How many changes the log keeps for watches to resume from (at least 1); a watch from a
    /// resourceVersion before them gets 410 Gone.
    pub history: usize,
    /// How long an Event lives after its last write (kube-apiserver's `--event-ttl`, 1 h by
    /// default there); `None`: Events stay until deleted.
    pub event_ttl: Option<Duration>,
}

/// When each stored Event was last written, oldest first: what [`StoreInner::expire_events`]
/// reads. kube-apiserver puts every Event write under an etcd lease of `--event-ttl`, so an
/// Event goes that long after its *last* write (a series' update renews it).
#[derive(Debug, Default)]
struct EventWrites {
    /// (last write, its resourceVersion, unique) → the Event.
    by_time: BTreeMap<(tokio::time::Instant, u64), ObjKey>,
    /// The Event → its entry in `by_time`.
    by_key: HashMap<ObjKey, (tokio::time::Instant, u64)>,
}

impl EventWrites {
    fn written(&mut self, key: &ObjKey, at: tokio::time::Instant, rv: u64) {
        if let Some(old) = self.by_key.insert(key.clone(), (at, rv)) {
            self.by_time.remove(&old);
        }
        self.by_time.insert((at, rv), key.clone());
    }

    fn removed(&mut self, key: &ObjKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_time.remove(&old);
        }
    }

    /// The Event written least recently, if that was at or before `before`.
    fn oldest_before(&self, before: tokio::time::Instant) -> Option<ObjKey> {
        let ((at, _), key) = self.by_time.first_key_value()?;
        (*at <= before).then(|| key.clone())
    }
}

/// The state behind the store's mutex.
pub struct StoreInner {
    /// The last committed resourceVersion.
    pub rv: u64,
    /// The served resources (built-ins plus CRD-registered kinds).
    pub resources: Vec<ResourceDef>,
    objects: HashMap<String, Objects>,
    /// Who owns what: each owner UID named in an object's `metadata.ownerReferences`, with
    /// the objects (storage, key) naming it, kept by every commit, so that the garbage
    /// collector finds a deleted owner's dependents without scanning every object.
    owned: HashMap<String, BTreeSet<(String, ObjKey)>>,
    log: VecDeque<Change>,
    history: usize,
    event_ttl: Option<Duration>,
    /// Kept only with an `event_ttl`.
    event_writes: EventWrites,
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

/// The owner UIDs `object`'s `metadata.ownerReferences` name (none for `None`).
fn owner_uids(object: Option<&Value>) -> Vec<String> {
    object
        .and_then(|o| o.pointer("/metadata/ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r["uid"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
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
        let event_key = (storage == crate::resources::EVENTS && self.event_ttl.is_some()).then(|| key.clone());
        let map = self.objects.entry(storage.to_string()).or_default();
        let previous = map.get(&key).cloned();
        let owners_before = owner_uids(previous.as_deref());
        let owners_after = owner_uids(new.as_ref());
        let dependent =
            (!owners_before.is_empty() || !owners_after.is_empty()).then(|| (storage.to_string(), key.clone()));
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
        if let Some(dependent) = dependent {
            for uid in owners_before {
                if let Some(set) = self.owned.get_mut(&uid) {
                    set.remove(&dependent);
                    if set.is_empty() {
                        self.owned.remove(&uid);
                    }
                }
            }
            if kind != ChangeType::Deleted {
                for uid in owners_after {
                    self.owned.entry(uid).or_default().insert(dependent.clone());
                }
            }
        }
        if storage == crate::resources::WEBHOOK_CONFIGS {
            match (&previous, kind) {
                (None, ChangeType::Added) => self.webhook_configs += 1,
                (Some(_), ChangeType::Deleted) => self.webhook_configs = self.webhook_configs.saturating_sub(1),
                _ => {}
            }
            self.webhook_configs_rv = rv;
        }
        let at = tokio::time::Instant::now();
        if let Some(key) = event_key {
            match kind {
                ChangeType::Deleted => self.event_writes.removed(&key),
                ChangeType::Added | ChangeType::Modified => self.event_writes.written(&key, at, rv),
            }
        }
        if self.log.len() >= self.history {
            self.log.pop_front();
        }
        self.log.push_back(Change { rv, storage: Arc::from(storage), kind, object: object.clone(), previous, at });
        Some(object)
    }

    /// How many changes the log holds now (at most the retention's `history`).
    pub fn retained_changes(&self) -> usize {
        self.log.len()
    }

    /// Deletes up to `max` Events whose last write is at least the retention's `event_ttl`
    /// before `now`, oldest first, each a change watchers see as DELETED (as when etcd's lease
    /// of an Event expires; no finalizer or admission is involved there either). Returns how
    /// many it deleted: fewer than `max` means none is due any more. Nothing without an
    /// `event_ttl`.
    pub fn expire_events(&mut self, now: tokio::time::Instant, max: usize) -> usize {
        let Some(ttl) = self.event_ttl else { return 0 };
        let Some(before) = now.checked_sub(ttl) else { return 0 };
        let mut deleted = 0;
        while deleted < max {
            let Some(key) = self.event_writes.oldest_before(before) else { break };
            // Dropped from the index by the commit; an entry whose Event is gone is dropped here.
            if self.commit(crate::resources::EVENTS, key.clone(), None).is_none() {
                self.event_writes.removed(&key);
                continue;
            }
            deleted += 1;
        }
        deleted
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

    /// Every object in every storage whose `metadata.ownerReferences` name `uid`, ordered by
    /// storage then key (from the owner index every commit keeps).
    pub fn dependents_of(&self, uid: &str) -> Vec<(String, ObjKey)> {
        self.owned.get(uid).map(|set| set.iter().cloned().collect()).unwrap_or_default()
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
    /// An empty store serving `resources`, keeping `history` changes for watches, and Events
    /// until deleted.
    pub fn new(resources: Vec<ResourceDef>, history: usize) -> Self {
        Self::with_retention(resources, Retention { history, event_ttl: None })
    }

    /// An empty store serving `resources`, keeping what `retention` says.
    pub fn with_retention(resources: Vec<ResourceDef>, retention: Retention) -> Self {
        let (rv_tx, _) = watch::channel(0);
        Self {
            inner: Mutex::new(StoreInner {
                rv: 0,
                resources,
                objects: HashMap::new(),
                owned: HashMap::new(),
                log: VecDeque::new(),
                history: retention.history.max(1),
                event_ttl: retention.event_ttl,
                event_writes: EventWrites::default(),
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
    use crate::resources::EVENTS;
    use serde_json::json;

    fn store(history: usize) -> Store {
        Store::new(crate::resources::builtins(), history)
    }

    fn key(n: &str) -> ObjKey {
        ("default".into(), n.into())
    }

    #[test]
    fn the_owner_index_follows_every_commit() {
        let s = store(10);
        let mut g = s.lock();
        let owned_by = |uid: &str| json!({"metadata": {"name": "rs", "ownerReferences": [{"uid": uid}]}});
        g.commit("replicasets", key("rs"), Some(owned_by("a")));
        g.commit(
            "pods",
            key("p"),
            Some(json!({"metadata": {"name": "p", "ownerReferences": [{"uid": "a"}, {"uid": "b"}]}})),
        );
        let dep = |st: &str, n: &str| (st.to_string(), key(n));
        assert_eq!(g.dependents_of("a"), [dep("pods", "p"), dep("replicasets", "rs")]);
        // A new owner replaces the old one; a delete removes the dependent.
        g.commit("replicasets", key("rs"), Some(owned_by("b")));
        assert_eq!(g.dependents_of("a"), [dep("pods", "p")]);
        assert_eq!(g.dependents_of("b"), [dep("pods", "p"), dep("replicasets", "rs")]);
        g.commit("pods", key("p"), None);
        assert_eq!(g.dependents_of("b"), [dep("replicasets", "rs")]);
        assert!(g.dependents_of("a").is_empty() && g.dependents_of("nobody").is_empty());
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
    fn the_history_stays_within_its_bound_under_churn() {
        let s = store(1_000);
        let mut g = s.lock();
        for i in 0..20_000 {
            g.commit("x", key(&format!("o{}", i % 50)), Some(json!({"metadata": {}, "n": i})));
            assert!(g.retained_changes() <= 1_000, "after {i} writes");
        }
        assert_eq!(g.retained_changes(), 1_000);
        // The oldest version a watch can still resume from is the one before the retained.
        assert!(g.changes_since(19_000, "x").is_some());
        assert!(g.changes_since(18_999, "x").is_none(), "older: 410 Gone");
    }

    fn event(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}, "reason": "Test"})
    }

    #[tokio::test(start_paused = true)]
    async fn events_expire_a_ttl_after_their_last_write() {
        let ttl = Duration::from_secs(60);
        let s = Store::with_retention(crate::resources::builtins(), Retention { history: 100, event_ttl: Some(ttl) });
        let ev = |n: &str| (String::from("shop"), n.to_string());
        let commit = |k: ObjKey, v: Option<Value>| s.lock().commit(EVENTS, k, v);
        let expire = || s.lock().expire_events(tokio::time::Instant::now(), 10);
        commit(ev("a"), Some(event("shop", "a")));
        commit(ev("b"), Some(event("shop", "b")));
        s.lock().commit("x", key("not-an-event"), Some(json!({"metadata": {}})));
        tokio::time::advance(Duration::from_secs(40)).await;
        // b's series is updated: its lease starts again.
        commit(ev("b"), Some(event("shop", "b")));
        tokio::time::advance(Duration::from_secs(20)).await;
        let rv = s.lock().rv;
        assert_eq!(expire(), 1, "a is 60 s old");
        {
            let g = s.lock();
            assert!(g.get(EVENTS, &ev("a")).is_none() && g.get(EVENTS, &ev("b")).is_some());
            let changes = g.changes_since(rv, EVENTS).expect("retained");
            assert_eq!(changes.len(), 1);
            let deleted = (changes[0].kind, changes[0].object["metadata"]["name"].as_str());
            assert_eq!(deleted, (ChangeType::Deleted, Some("a")));
        }
        assert_eq!(expire(), 0, "b was written 20 s ago");
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(expire(), 1);
        assert!(s.lock().get(EVENTS, &ev("b")).is_none());
        assert!(s.lock().get("x", &key("not-an-event")).is_some(), "only Events expire");
        // Deleted through the API before its time: nothing left to expire.
        commit(ev("c"), Some(event("shop", "c")));
        commit(ev("c"), None);
        tokio::time::advance(ttl).await;
        assert_eq!(expire(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_backlog_is_deleted_in_bounded_batches_and_nothing_expires_without_a_ttl() {
        let ttl = Duration::from_secs(1);
        let s = Store::with_retention(crate::resources::builtins(), Retention { history: 100, event_ttl: Some(ttl) });
        let forever = store(100);
        for n in 0..25 {
            let k = (String::from("shop"), format!("e{n}"));
            s.lock().commit(EVENTS, k.clone(), Some(event("shop", &k.1)));
            forever.lock().commit(EVENTS, k.clone(), Some(event("shop", &k.1)));
        }
        tokio::time::advance(ttl).await;
        let now = tokio::time::Instant::now();
        assert_eq!(s.lock().expire_events(now, 10), 10);
        assert_eq!(s.lock().expire_events(now, 10), 10);
        assert_eq!(s.lock().expire_events(now, 10), 5);
        assert_eq!(forever.lock().expire_events(now, 10), 0);
        assert_eq!(forever.lock().snapshot(EVENTS).len(), 25);
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
