//! The names of the ReplicaPolicies in the cache, in (namespace, name) order: the managed
//! Deployments, so that Diff pages over them instead of over every Deployment (only a
//! managed Deployment can be out of sync).
//!
//! Kept from the same watch events as the policy store, with the reflector's re-list
//! semantics: a re-list builds a new index and swaps it in when the list is complete.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use kube::ResourceExt as _;
use kube::runtime::watcher;

use crate::policy::ReplicaPolicy;

/// (namespace, name) of each policy.
type Keys = BTreeSet<(Box<str>, Box<str>)>;

#[derive(Default)]
struct Inner {
    keys: Keys,
    /// The index a re-list is building, swapped in at `InitDone`.
    building: Option<Keys>,
}

fn key(p: &ReplicaPolicy) -> (Box<str>, Box<str>) {
    (p.namespace().unwrap_or_default().into(), p.name_any().into())
}

/// The names of the cached policies, in order. Cloning shares the index.
#[derive(Clone, Default)]
pub struct ManagedIndex {
    inner: Arc<RwLock<Inner>>,
}

impl ManagedIndex {
    /// Applies one watch event of the policies, as kube-runtime's reflector does.
    pub fn apply(&self, event: &watcher::Event<ReplicaPolicy>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Init => inner.building = Some(Keys::new()),
            watcher::Event::InitApply(p) => {
                let k = key(p);
                match inner.building.as_mut() {
                    Some(building) => building.insert(k),
                    None => inner.keys.insert(k),
                };
            }
            watcher::Event::InitDone => {
                if let Some(built) = inner.building.take() {
                    inner.keys = built;
                }
            }
            watcher::Event::Apply(p) => {
                inner.keys.insert(key(p));
            }
            watcher::Event::Delete(p) => {
                inner.keys.remove(&key(p));
            }
        }
    }

    /// Up to `limit` (namespace, name) pairs passing `keep`, in order, in `namespace` (all
    /// when `None`), strictly after `after`: O(log n) to find the start, then one step per
    /// name looked at. The read lock is held meanwhile, so keep `keep` cheap.
    pub fn page(
        &self,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        mut keep: impl FnMut(&str, &str) -> bool,
    ) -> Vec<(Box<str>, Box<str>)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let start: (Box<str>, Box<str>) = match (after, namespace) {
            (Some((ns, name)), _) => (ns.into(), name.into()),
            (None, Some(ns)) => (ns.into(), "".into()),
            (None, None) => ("".into(), "".into()),
        };
        let lower = if after.is_some() { Bound::Excluded(&start) } else { Bound::Included(&start) };
        let mut out = Vec::new();
        for (ns, name) in inner.keys.range::<(Box<str>, Box<str>), _>((lower, Bound::Unbounded)) {
            if out.len() == limit || namespace.is_some_and(|want| want != &**ns) {
                break;
            }
            if keep(ns, name) {
                out.push((ns.clone(), name.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(ns: &str, name: &str) -> ReplicaPolicy {
        let mut p = ReplicaPolicy::new(
            name,
            crate::policy::ReplicaPolicySpec {
                replicas: 1,
                mode: scalekeeper_core::Mode::Enforce,
                ..Default::default()
            },
        );
        p.metadata.namespace = Some(ns.into());
        p
    }

    fn names(v: Vec<(Box<str>, Box<str>)>) -> Vec<String> {
        v.into_iter().map(|(ns, n)| format!("{ns}/{n}")).collect()
    }

    #[test]
    fn pages_in_order_after_a_key_within_a_namespace() {
        let i = ManagedIndex::default();
        for (ns, n) in [("shop", "web"), ("payments", "ledger"), ("shop", "cart"), ("zoo", "a")] {
            i.apply(&watcher::Event::Apply(policy(ns, n)));
        }
        assert_eq!(names(i.page(None, None, 10, |_, _| true)), ["payments/ledger", "shop/cart", "shop/web", "zoo/a"]);
        assert_eq!(names(i.page(None, Some(("shop", "cart")), 2, |_, _| true)), ["shop/web", "zoo/a"]);
        assert_eq!(names(i.page(Some("shop"), None, 10, |_, _| true)), ["shop/cart", "shop/web"]);
        assert_eq!(names(i.page(Some("shop"), Some(("shop", "cart")), 10, |_, _| true)), ["shop/web"]);
        assert_eq!(names(i.page(None, None, 10, |_, n| n != "cart")), ["payments/ledger", "shop/web", "zoo/a"]);
        i.apply(&watcher::Event::Delete(policy("shop", "web")));
        assert_eq!(names(i.page(Some("shop"), None, 10, |_, _| true)), ["shop/cart"]);
    }

    #[test]
    fn a_relist_replaces_the_index_when_complete() {
        let i = ManagedIndex::default();
        i.apply(&watcher::Event::Apply(policy("shop", "gone")));
        i.apply(&watcher::Event::Init);
        i.apply(&watcher::Event::InitApply(policy("shop", "web")));
        // Until the list is complete, reads see the old index.
        assert_eq!(names(i.page(None, None, 10, |_, _| true)), ["shop/gone"]);
        i.apply(&watcher::Event::InitDone);
        assert_eq!(names(i.page(None, None, 10, |_, _| true)), ["shop/web"]);
    }
}
