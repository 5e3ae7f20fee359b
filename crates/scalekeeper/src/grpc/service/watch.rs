//! WatchDeployments' streams: the snapshot, the SYNCED marker, then one event per change of
//! what the caller may see, with the caller's access checked again as it goes. A child of
//! [`super`] so that it shares the service's private types (the caller, the permitted
//! namespaces) without making them public.

use std::collections::{BTreeMap, HashMap};

use kube_selectors::LabelSelector;
use scalekeeper_api::v1 as pb;
use scalekeeper_core::authz::Verb;
use tokio::sync::{broadcast, mpsc, oneshot};
use tonic::Status;

use super::{Caller, Permitted, Service};
use crate::cache::Change;
use crate::cache::view::DeploymentView;
use crate::grpc::convert;
use crate::grpc::status::Error;

/// Events a watch client may have unread before it is considered too slow.
pub const WATCH_BUFFER: usize = 256;

pub(super) fn event(t: pb::EventType, d: Option<pb::Deployment>) -> pb::WatchDeploymentsResponse {
    pb::WatchDeploymentsResponse { r#type: t as i32, deployment: d }
}

/// What one WatchDeployments stream shows: a namespace (or all), the namespaces the caller
/// may watch (checked again every allow TTL of the authorizer), and a label selector.
pub(super) struct WatchFilter {
    pub(super) namespace: Option<String>,
    pub(super) permitted: Permitted,
    pub(super) sel: LabelSelector,
    pub(super) caller: Caller,
}

/// The Deployments a watch shows now.
fn visible(
    svc: &Service,
    namespace: Option<&str>,
    permitted: &Permitted,
    sel: &LabelSelector,
) -> BTreeMap<(String, String), pb::Deployment> {
    svc.cache
        .list(namespace, |d| permitted.allows(&d.namespace) && sel.matches_with(|k| d.label(k)))
        .into_iter()
        .map(|v: DeploymentView| {
            let p = convert::deployment(&v);
            ((p.namespace.clone(), p.name.clone()), p)
        })
        .collect()
}

/// Feeds one WatchDeployments stream: the snapshot, SYNCED, then changes. Ends with
/// RESOURCE_EXHAUSTED when the client falls too far behind, UNAVAILABLE on shutdown,
/// PERMISSION_DENIED when the caller's access was revoked. Under RBAC the caller's access is
/// checked again every allow TTL: a namespace granted since appears (ADDED), one revoked
/// disappears (DELETED), as a new call would see it.
pub(super) async fn run_watch(
    svc: Service,
    filter: WatchFilter,
    mut changes: broadcast::Receiver<Change>,
    tx: mpsc::Sender<Result<pb::WatchDeploymentsResponse, Status>>,
    end: oneshot::Sender<Error>,
    identity: String,
) {
    let WatchFilter { namespace, mut permitted, sel, caller } = filter;
    let mut known: HashMap<(String, String), pb::Deployment> = HashMap::new();
    for (key, d) in visible(&svc, namespace.as_deref(), &permitted, &sel) {
        if tx.send(Ok(event(pb::EventType::Added, Some(d.clone())))).await.is_err() {
            return;
        }
        known.insert(key, d);
    }
    if tx.send(Ok(event(pb::EventType::Synced, None))).await.is_err() {
        return;
    }
    let too_slow = |end: oneshot::Sender<Error>| {
        tracing::warn!(identity = %identity, "watch client too slow; ending its stream");
        let _ = end.send(Error::ResourceExhausted(
            "watch client too slow to keep up with changes; re-watch to get a fresh snapshot".into(),
        ));
    };
    let rbac = svc.authorizer.mode() == crate::authz::AuthorizationMode::Rbac;
    let period = svc.authorizer.allow_ttl().max(std::time::Duration::from_millis(100));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let change = tokio::select! {
            _ = svc.stop.cancelled() => {
                let _ = end.send(Error::Unavailable("server shutting down; reconnect to another replica".into()));
                return;
            }
            _ = tx.closed() => return,
            _ = recheck.tick(), if rbac => {
                match svc.authorize_read(&caller, Verb::Watch, namespace.as_deref().unwrap_or("")).await {
                    Ok(now) => permitted = now,
                    Err(e @ Error::PermissionDenied(_)) => {
                        tracing::info!(identity = %identity, error = %e, "watch ended: access revoked");
                        let _ = end.send(Error::PermissionDenied(format!("access revoked: {e}")));
                        return;
                    }
                    // The check could not be made: keep what was allowed until the next one.
                    Err(e) => {
                        tracing::warn!(identity = %identity, error = %e, "watch: authorization re-check failed");
                        continue;
                    }
                }
                Ok(Change::Resync)
            }
            c = changes.recv() => c,
        };
        let mut out = vec![];
        match change {
            Ok(Change::Object { namespace: ns, name }) => {
                if namespace.as_deref().is_some_and(|n| n != ns) || !permitted.allows(&ns) {
                    continue;
                }
                let key = (ns.clone(), name.clone());
                let now = svc
                    .cache
                    .get(&ns, &name)
                    .filter(|v| sel.matches_with(|k| v.deployment.label(k)))
                    .map(|v| convert::deployment(&v));
                diff_one(&mut known, key, now, &mut out);
            }
            Ok(Change::Resync) => {
                let current = visible(&svc, namespace.as_deref(), &permitted, &sel);
                let gone: Vec<(String, String)> = known.keys().filter(|k| !current.contains_key(*k)).cloned().collect();
                for k in gone {
                    diff_one(&mut known, k, None, &mut out);
                }
                for (k, d) in current {
                    diff_one(&mut known, k, Some(d), &mut out);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                too_slow(end);
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        for ev in out {
            match tx.try_send(Ok(ev)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    too_slow(end);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }
}

/// Compares the last state sent for `key` with `now`, pushing the event to send, if any.
fn diff_one(
    known: &mut HashMap<(String, String), pb::Deployment>,
    key: (String, String),
    now: Option<pb::Deployment>,
    out: &mut Vec<pb::WatchDeploymentsResponse>,
) {
    match (known.get(&key), now) {
        (None, Some(d)) => {
            known.insert(key, d.clone());
            out.push(event(pb::EventType::Added, Some(d)));
        }
        (Some(prev), Some(d)) if *prev != d => {
            known.insert(key, d.clone());
            out.push(event(pb::EventType::Modified, Some(d)));
        }
        (Some(_), None) => {
            if let Some(last) = known.remove(&key) {
                out.push(event(pb::EventType::Deleted, Some(last)));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, spec: i32) -> pb::Deployment {
        pb::Deployment { namespace: "ns".into(), name: name.into(), spec_replicas: spec, ..Default::default() }
    }

    #[test]
    fn watch_diff_emits_added_modified_deleted_once() {
        let mut known = HashMap::new();
        let key = ("ns".to_string(), "a".to_string());
        let mut out = vec![];
        diff_one(&mut known, key.clone(), Some(dep("a", 1)), &mut out);
        diff_one(&mut known, key.clone(), Some(dep("a", 1)), &mut out);
        diff_one(&mut known, key.clone(), Some(dep("a", 2)), &mut out);
        diff_one(&mut known, key.clone(), None, &mut out);
        diff_one(&mut known, key, None, &mut out);
        let types: Vec<i32> = out.iter().map(|e| e.r#type).collect();
        assert_eq!(
            types,
            vec![pb::EventType::Added as i32, pb::EventType::Modified as i32, pb::EventType::Deleted as i32]
        );
        assert_eq!(out[2].deployment.as_ref().map(|d| d.spec_replicas), Some(2));
    }
}
