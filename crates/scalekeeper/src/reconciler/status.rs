//! The reconciler's status write: a merge patch of `status` only when it changed, the history
//! sent only when it changed and then on condition of the resourceVersion, and the fields an
//! older CRD prunes seen once and left out of later comparisons.

use std::collections::BTreeSet;

use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::{Context, ReconcileError};
use crate::policy::{FIELD_MANAGER, ReplicaPolicy, ReplicaPolicyStatus};

/// The status fields of the history (`status.history` and the marks that record each change
/// once), as the CRD names them.
pub(super) const HISTORY_FIELDS: [&str; 4] =
    ["history", "historyDeclaredReplicas", "historyHold", "historyRefusedUntil"];

/// Writes the status subresource when it changed (a merge patch of `status` only); returns
/// the policy the API server answered with, `None` when nothing was written. With
/// `resource_version`, the patch carries it as a precondition: the API server answers 409
/// Conflict when the policy moved on since (an error: the look is retried with backoff).
///
/// Source: "Resource versions" in <https://kubernetes.io/docs/reference/using-api/api-concepts/>.
pub(super) async fn write_status(
    api: &Api<ReplicaPolicy>,
    name: &str,
    old: &ReplicaPolicyStatus,
    new: &ReplicaPolicyStatus,
    resource_version: Option<&str>,
    pruned: &BTreeSet<String>,
) -> Result<Option<ReplicaPolicy>, ReconcileError> {
    if same_except(old, new, pruned) {
        return Ok(None);
    }
    let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    let body = status_patch(old, new, resource_version);
    match api.patch_status(name, &pp, &Patch::Merge(body)).await {
        Ok(written) => Ok(Some(written)),
        // Deleted meanwhile (with its Deployment): nothing left to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(ReconcileError::Kube { what: format!("writing status of ReplicaPolicy {name}"), source: e }),
    }
}

/// Whether `old` and `new` are equal once the top-level status fields in `pruned` are left
/// out of both.
fn same_except(old: &ReplicaPolicyStatus, new: &ReplicaPolicyStatus, pruned: &BTreeSet<String>) -> bool {
    if old == new {
        return true;
    }
    if pruned.is_empty() {
        return false;
    }
    let without = |s: &ReplicaPolicyStatus| {
        let mut v = json!(s);
        if let Value::Object(m) = &mut v {
            m.retain(|k, _| !pruned.contains(k));
        }
        v
    };
    without(old) == without(new)
}

/// The top-level fields of `sent` that the API server did not keep in `written`'s status:
/// what a CRD older than this server prunes.
fn dropped_fields(sent: &ReplicaPolicyStatus, written: &ReplicaPolicy) -> BTreeSet<String> {
    let kept = json!(written.status);
    match json!(sent) {
        Value::Object(m) => m.into_iter().filter(|(k, _)| kept.get(k).is_none()).map(|(k, _)| k).collect(),
        _ => BTreeSet::new(),
    }
}

impl Context {
    /// Records the status fields a write sent that the API server dropped (see
    /// [`Context::pruned`]), with one warning per new set: the served CRD is older than this
    /// server.
    pub(super) fn note_pruned(&self, sent: &ReplicaPolicyStatus, written: &ReplicaPolicy) {
        let dropped = dropped_fields(sent, written);
        if dropped.is_empty() {
            return;
        }
        let mut pruned = self.pruned.lock().unwrap_or_else(|e| e.into_inner());
        if dropped.is_subset(&pruned) {
            return;
        }
        pruned.extend(dropped.iter().cloned());
        tracing::warn!(
            fields = ?dropped,
            "the API server dropped these ReplicaPolicy status fields: the CRD it serves is older than this server. \
             Apply this version's CRD (scalekeeper crd | kubectl apply -f -); until then they are neither kept nor rewritten"
        );
    }
}

/// The merge patch that takes the status from `old` to `new`: `new` whole, except the history
/// fields when unchanged; with `resource_version` as a precondition when given.
fn status_patch(old: &ReplicaPolicyStatus, new: &ReplicaPolicyStatus, resource_version: Option<&str>) -> Value {
    let mut body = json!({"status": new});
    // A field the new status leaves out (an optional field now unset, e.g. `historyHold` once
    // the hold ended) is removed with `null`: a merge patch keeps every field it does not name.
    // Source: RFC 7386, "JSON Merge Patch" <https://www.rfc-editor.org/rfc/rfc7386>.
    //
    // The history and its marks are sent only when they changed, and then on condition of the
    // resourceVersion (see `execute`): a write of other fields from a cached copy that lags
    // (a new leader's) must not put back an older history.
    if let (Value::Object(before), Some(Value::Object(after))) = (json!(old), body.get_mut("status")) {
        for key in before.keys() {
            after.entry(key.clone()).or_insert(Value::Null);
        }
        for key in HISTORY_FIELDS {
            if before.get(key).unwrap_or(&Value::Null) == after.get(key).unwrap_or(&Value::Null) {
                after.remove(key);
            }
        }
    }
    if let Some(rv) = resource_version {
        body["metadata"] = json!({"resourceVersion": rv});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::HistoryEntry;

    #[test]
    fn fields_an_older_crd_prunes_are_seen_and_then_never_rewritten() {
        let old = ReplicaPolicyStatus { effective_replicas: Some(3), ..Default::default() };
        let mut new = old.clone();
        new.history_declared_replicas = Some(3);
        new.history = vec![Default::default()];
        // The API server kept only what its CRD knows.
        let mut written = ReplicaPolicy::new("web", Default::default());
        written.status = Some(old.clone());
        let dropped = dropped_fields(&new, &written);
        assert_eq!(dropped, BTreeSet::from(["history".to_string(), "historyDeclaredReplicas".to_string()]));
        // Once known, a status differing only there is the same: no write.
        assert!(same_except(&old, &new, &dropped));
        assert!(!same_except(&old, &new, &BTreeSet::new()));
        // Any other change still writes.
        new.effective_replicas = Some(4);
        assert!(!same_except(&old, &new, &dropped));
        // A write that kept everything drops nothing.
        written.status = Some(new.clone());
        assert!(dropped_fields(&new, &written).is_empty());
    }

    #[test]
    fn the_status_patch_removes_what_is_gone_and_sends_the_history_only_when_it_changed() {
        let entry = HistoryEntry {
            time: "2026-01-01T00:00:00.000Z".into(),
            to: 3,
            kind: "Declared".into(),
            ..Default::default()
        };
        let old = ReplicaPolicyStatus {
            spec_replicas: Some(3),
            history: vec![entry.clone()],
            history_declared_replicas: Some(3),
            history_hold: Some("Hold/2026-01-01T01:00:00Z".into()),
            history_refused_until: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        // Other fields only: no history in the patch, whatever the cached copy held.
        let new = ReplicaPolicyStatus { spec_replicas: Some(4), ..old.clone() };
        let patch = status_patch(&old, &new, None);
        assert_eq!(patch["status"]["specReplicas"], 4);
        for key in HISTORY_FIELDS {
            assert!(patch["status"].get(key).is_none(), "{key}: {patch}");
        }
        assert!(patch.get("metadata").is_none());
        // An entry added and the hold ended: the history, the hold's mark removed, the precondition.
        let mut new = ReplicaPolicyStatus { history_hold: None, ..old.clone() };
        new.history.push(HistoryEntry { kind: "HoldExpired".into(), ..entry });
        let patch = status_patch(&old, &new, Some("42"));
        assert_eq!(patch["status"]["history"].as_array().map(Vec::len), Some(2));
        assert_eq!(patch["status"]["historyHold"], Value::Null);
        assert!(patch["status"].get("historyDeclaredReplicas").is_none());
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        // The names are the status' own.
        let v = serde_json::to_value(&old).unwrap();
        for key in HISTORY_FIELDS {
            assert!(v.get(key).is_some(), "{key}: {v}");
        }
    }
}
