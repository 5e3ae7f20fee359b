//! scalekeeper's Kubernetes Events: who reports them, and how one is published so that the same
//! thing happening again counts up one Event's series while anything different is an Event of
//! its own. The reconciler, the API's writer and the admission guard all publish through here.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Who reports scalekeeper's Events (`reportingController` `scalekeeper`, `reportingInstance`
/// this replica's identity): the reconciler's, the writer's and the admission guard's alike.
pub fn reporter(instance: &str) -> Reporter {
    Reporter { controller: "scalekeeper".into(), instance: Some(instance.to_owned()) }
}

/// The Event `action` for `note`: `verb`, then a hash of the note.
///
/// kube-runtime's [`Recorder`] folds every Event with the same type, reason, action, reporter
/// and object into one Event whose `series.count` it bumps, keeping the *first* note: with one
/// fixed action, three different corrections would read as the first one, three times. With an
/// action per distinct note, the same thing happening again still counts up its own Event's
/// series, and anything different (another count, another actor) is an Event of its own, so
/// `kubectl describe` shows each with its actual actor, from and to. The action is not shown by
/// `kubectl describe`; the API limits it to 128 characters (this is at most `verb` + 17).
pub fn event_action(verb: &str, note: &str) -> String {
    use std::hash::{Hash as _, Hasher as _};
    // SipHash with fixed keys: the same note gives the same action for the whole process,
    // which is as long as the Recorder's cache lives.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    note.hash(&mut h);
    format!("{verb}-{:016x}", h.finish())
}

/// Publishes one Event per object in `regarding` through `recorder`, with an action per
/// distinct note (see [`event_action`]), about each object as [`about`] names it. Failures are
/// logged, never returned: an Event is a report, and the write it reports has happened.
pub async fn publish_on(
    recorder: &Recorder,
    regarding: &[ObjectReference],
    type_: EventType,
    reason: &str,
    verb: &str,
    note: &str,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.to_owned()),
        action: event_action(verb, note),
        secondary: None,
    };
    for reference in regarding {
        if let Err(e) = recorder.publish(&ev, &about(reference)).await {
            tracing::warn!(reason, error = %e, "publishing an Event failed");
        }
    }
}

/// The reference an Event is about: `reference` without its `resourceVersion`, which every
/// write of the object moves. kube-runtime's [`Recorder`] folds an Event into an earlier one
/// only when the whole reference is equal (its key derives `PartialEq` over every field,
/// resourceVersion included, though its hash leaves it out), so a reference that carries it
/// makes each correction of a Deployment an Event of its own: 2,816 corrections, 2,816 Events
/// (issue 28, defect 8). client-go's recorder aggregates the same way, keyed on the object's
/// kind, namespace, name, UID and API version, not its resourceVersion (`getEventKey` in
/// client-go's `tools/record/events_cache.go`); `kubectl describe` finds Events by those too.
pub fn about(reference: &ObjectReference) -> ObjectReference {
    ObjectReference { resource_version: None, ..reference.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_about_the_object_not_one_version_of_it() {
        let at = |rv: &str| ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            namespace: Some("shop".into()),
            name: Some("web".into()),
            uid: Some("u1".into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        };
        assert_eq!(about(&at("41")), about(&at("42")));
        assert_eq!(about(&at("41")).resource_version, None);
        assert_eq!(about(&at("41")).uid.as_deref(), Some("u1"));
    }

    #[test]
    fn each_distinct_note_gets_an_action_of_its_own() {
        let a = event_action("Reconcile", "spec.replicas 11 -> 4 (it had been changed by kubectl)");
        let b = event_action("Reconcile", "spec.replicas 12 -> 4 (it had been changed by kubectl)");
        assert_ne!(a, b, "another message must not fold into the first one's series");
        assert_eq!(a, event_action("Reconcile", "spec.replicas 11 -> 4 (it had been changed by kubectl)"));
        assert!(a.starts_with("Reconcile-") && a.len() <= 128, "{a}");
    }
}
