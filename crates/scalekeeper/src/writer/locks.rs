//! One write at a time per ReplicaPolicy within this process.
//!
//! Every policy write is conditional on the resourceVersion it read, so writes of the same
//! policy that overlap all but one fail with 409 Conflict and read, plan and write again. Within
//! one replica there is no reason to let them race: they queue here instead, as a controller's
//! work queue never hands one key to two workers, and only writes from other replicas (and
//! status writes) can still conflict. The writes queue in the order they asked (tokio's mutex is
//! fair), so of two declarations the one that asked last is the one that stays; and the scale
//! write that follows a policy write is made under the same lock, so the Deployment's count
//! cannot be left at the older of two declarations.
//!
//! The map holds a lock only while a write holds or waits for it: it stays as small as the
//! number of policies being written at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// A policy's namespace and name.
type Key = (String, String);

/// The per-policy write locks of one writer (cloning shares them).
#[derive(Clone, Default)]
pub(super) struct PolicyLocks {
    locks: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

/// The write lock of one policy, held until dropped.
pub(super) struct PolicyLock {
    guard: Option<OwnedMutexGuard<()>>,
    locks: PolicyLocks,
    key: Key,
}

impl PolicyLocks {
    /// Waits until no other write of policy `namespace/name` in this process holds its lock,
    /// and takes it.
    pub(super) async fn lock(&self, namespace: &str, name: &str) -> PolicyLock {
        let key = (namespace.to_owned(), name.to_owned());
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(key.clone()).or_default())
        };
        let guard = lock.lock_owned().await;
        PolicyLock { guard: Some(guard), locks: self.clone(), key }
    }

    /// How many policies have a lock held or waited for.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for PolicyLock {
    /// Releases the lock, and forgets it when no other write holds or waits for it. (Every
    /// clone of a lock is taken under the map's mutex, so the count read under it is exact.)
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.key).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn writes_of_one_policy_queue_in_order_and_others_pass() {
        let locks = PolicyLocks::default();
        let first = locks.lock("shop", "web").await;
        // Another policy is not held up.
        let other = tokio::time::timeout(Duration::from_secs(5), locks.lock("shop", "api")).await;
        assert!(other.is_ok(), "another policy's lock waited");
        drop(other);
        // Two more writes of shop/web wait, and get the lock in the order they asked.
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..2 {
            let (mine, order) = (locks.clone(), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _held = mine.lock("shop", "web").await;
                order.lock().unwrap().push(n);
            }));
            // The next one asks only once this one waits.
            let key = ("shop".to_owned(), "web".to_owned());
            while Arc::strong_count(&locks.locks.lock().unwrap()[&key]) < n + 3 {
                tokio::task::yield_now().await;
            }
        }
        assert!(order.lock().unwrap().is_empty(), "a write got the lock while the first held it");
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1]);
        assert_eq!(locks.len(), 0, "a lock nobody holds or waits for is forgotten");
    }
}
