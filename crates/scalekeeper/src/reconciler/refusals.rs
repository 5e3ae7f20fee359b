//! The admission guard's refusals, for the history: the leader watches the `ScaleRefused`
//! Events (the webhook refuses on whichever replica the API server calls, and only the leader
//! writes status) and remembers each refusal per Deployment until a look records it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use scalekeeper_core::admission::{REASON_SCALE_REFUSED, parse_refusal_note};
use scalekeeper_core::history;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::policy::ReplicaPolicy;

impl Context {
    /// The guard's refusals of writes to Deployment `namespace/name` known to this leader.
    pub(super) fn refusals_of(&self, namespace: &str, name: &str) -> Vec<history::Refusal> {
        let map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(namespace.to_owned(), name.to_owned())).cloned().unwrap_or_default()
    }

    /// Remembers `refusal` of a write to `namespace/name`, and forgets the Deployments for
    /// which `has_policy` says there is no policy any more; whether the refusal is new.
    fn add_refusal(
        &self,
        namespace: &str,
        name: &str,
        refusal: history::Refusal,
        has_policy: impl Fn(&str, &str) -> bool,
    ) -> bool {
        let mut map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        remember(&mut map, namespace, name, refusal, has_policy)
    }
}

/// The refusals the leader remembers, per Deployment `(namespace, name)`.
type Remembered = HashMap<(String, String), Vec<history::Refusal>>;

/// Adds `refusal` of a write to `namespace/name` to `map` (at most [`history::MAX_HISTORY`]
/// per Deployment, the newest kept), and drops the Deployments for which `has_policy` says
/// there is no policy any more, so the map holds at most that many refusals per live policy
/// however many policies come and go. Whether the refusal is new.
fn remember(
    map: &mut Remembered,
    namespace: &str,
    name: &str,
    refusal: history::Refusal,
    has_policy: impl Fn(&str, &str) -> bool,
) -> bool {
    map.retain(|(ns, n), _| has_policy(ns, n));
    let list = map.entry((namespace.to_owned(), name.to_owned())).or_default();
    if list.contains(&refusal) {
        return false;
    }
    list.push(refusal);
    list.sort_by_key(|r| r.time);
    let excess = list.len().saturating_sub(history::MAX_HISTORY);
    list.drain(..excess);
    true
}

/// Watches the core/v1 Events with reason [`REASON_SCALE_REFUSED`] in the part of the scope
/// serving `namespace` (`None`: all), while this process leads: each refusal of a write to a
/// Deployment whose policy is in `store` is remembered ([`Context::add_refusal`]) and that
/// policy sent to `trigger`, so its next look records it in the history. The admission
/// webhook refuses on whichever replica the API server calls; only the leader writes the
/// status, so it learns of refusals from their Events. The first list brings the Events of
/// refusals made before it led (the history's `historyRefusedUntil` keeps them from being
/// recorded twice). Never returns: it stops watching when `stop` is cancelled and then waits
/// (the controller's shutdown ends the task).
///
/// Source: field selectors on Events (`reason`), "Field Selectors",
/// <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/>.
pub(super) async fn watch_refusals(
    ctx: Arc<Context>,
    namespace: Option<String>,
    store: Store<ReplicaPolicy>,
    trigger: tokio::sync::mpsc::UnboundedSender<ObjectRef<ReplicaPolicy>>,
    stop: CancellationToken,
) {
    let api: Api<CoreEvent> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let config = watcher::Config::default().fields(&format!("reason={REASON_SCALE_REFUSED}"));
    let events = watcher(api, config).default_backoff().applied_objects().take_until(stop.cancelled_owned());
    futures::pin_mut!(events);
    // A failure is a warning once (e.g. RBAC from before this version, without list and watch
    // on Events: refusals then go unrecorded), then debug until the watch works again.
    let mut failing = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => {
                failing = false;
                e
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(namespace = ?namespace, error = %e, "cannot watch ScaleRefused Events: the history will not record the guard's refusals until it can (needs list and watch on events)");
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "watching ScaleRefused Events");
                continue;
            }
        };
        let Some((ns, name, refusal)) = refusal_of(&event) else { continue };
        let r = ObjectRef::new(&name).within(&ns);
        let has_policy = |ns: &str, name: &str| store.get(&ObjectRef::new(name).within(ns)).is_some();
        if has_policy(&ns, &name) && ctx.add_refusal(&ns, &name, refusal, has_policy) {
            let _ = trigger.send(r);
        }
    }
    std::future::pending::<()>().await;
}

/// The refusal a `ScaleRefused` Event reports about a Deployment: its namespace, name, and
/// what its note says ([`scalekeeper_core::admission::parse_refusal_note`], the reader of what
/// the webhook writes), at the Event's last observation. `None` for an Event about anything
/// else, or with a note no version of scalekeeper writes.
fn refusal_of(event: &CoreEvent) -> Option<(String, String, history::Refusal)> {
    let about = &event.involved_object;
    if about.kind.as_deref() != Some("Deployment") {
        return None;
    }
    let (ns, name) = (about.namespace.clone()?, about.name.clone()?);
    let note = parse_refusal_note(event.message.as_deref()?, &format!("{ns}/{name}"))?;
    let time = event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.last_timestamp.as_ref().map(|t| t.0))
        .or(event.first_timestamp.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    let count = event.series.as_ref().and_then(|s| s.count).or(event.count).unwrap_or(1).max(1);
    Some((ns, name, history::Refusal { time, from: note.from, to: note.to, by: note.by, count }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(secs: i64) -> history::Refusal {
        history::Refusal {
            time: jiff::Timestamp::from_second(secs).unwrap(),
            from: 3,
            to: 0,
            by: "kubectl".into(),
            count: 1,
        }
    }

    #[test]
    fn remembers_each_refusal_once_keeps_the_newest_and_forgets_deleted_policies() {
        let mut map = Remembered::new();
        let live = |_: &str, n: &str| n != "gone";
        assert!(remember(&mut map, "shop", "gone", refusal(1), |_, _| true));
        assert!(remember(&mut map, "shop", "web", refusal(2), live), "new");
        assert!(!remember(&mut map, "shop", "web", refusal(2), live), "the same Event seen again");
        assert!(!map.contains_key(&("shop".to_owned(), "gone".to_owned())), "its policy was deleted: forgotten");
        for t in 3..(3 + history::MAX_HISTORY as i64) {
            remember(&mut map, "shop", "web", refusal(t), live);
        }
        let kept = &map[&("shop".to_owned(), "web".to_owned())];
        assert_eq!(kept.len(), history::MAX_HISTORY);
        assert_eq!(kept.first(), Some(&refusal(3)), "the oldest dropped first");
    }
}
