//! Who changed a Deployment's `spec.replicas`: the culprit a drift correction names in its
//! Event, its log line and the policy's `status.lastCorrection`.
//!
//! The answer comes from `metadata.managedFields`, with one correction for what Kubernetes does
//! not record: before 1.22 a write through the scale subresource (`kubectl scale`, and
//! scalekeeper's own corrections) leaves no entry, so the entry owning `f:spec.f:replicas` may
//! be older than the change being looked at.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::ResourceExt as _;

use crate::policy::{LAST_SET_AT, ReplicaPolicy};

/// What Events and logs name when managedFields do not record who changed `spec.replicas`.
pub use scalekeeper_core::plan::UNKNOWN_MANAGER;

/// Whether a managedFields entry owns `f:spec.f:replicas` (the entry of whoever last set the
/// count), on a Deployment or a ReplicaPolicy alike.
pub fn owns_spec_replicas(entry: &ManagedFieldsEntry) -> bool {
    entry.fields_v1.as_ref().and_then(|f| f.0.get("f:spec")).and_then(|s| s.get("f:replicas")).is_some()
}

/// The managedFields entry owning a Deployment's `spec.replicas`, in the compact form the
/// cache keeps (so a drift correction needs no live read to name who made the change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicasOwner {
    /// The entry's field manager.
    pub manager: Arc<str>,
    /// When the entry was last written, in whole Unix seconds (managedFields' resolution).
    pub written: Option<i64>,
    /// Whether the entry was written in the second the Deployment was created and also owns
    /// the immutable `spec.selector`: the creator's entry, from the creation.
    pub creation: bool,
}

impl ReplicasOwner {
    /// The owner of `d`'s `spec.replicas`: the last managedFields entry owning
    /// `f:spec.f:replicas`; `None` when no entry does. `intern` gives the manager's name
    /// (the cache shares one allocation per distinct manager).
    pub fn of(d: &Deployment, intern: &mut impl FnMut(&str) -> Arc<str>) -> Option<Self> {
        let entry = d.metadata.managed_fields.as_ref()?.iter().rev().find(|e| owns_spec_replicas(e))?;
        let written = entry.time.as_ref().map(|t| t.0.as_second());
        let created = d.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second());
        let owns_selector =
            entry.fields_v1.as_ref().and_then(|f| f.0.get("f:spec")).and_then(|s| s.get("f:selector")).is_some();
        Some(Self {
            manager: intern(entry.manager.as_deref().unwrap_or_default()),
            written,
            creation: written.is_some() && written == created && owns_selector,
        })
    }

    /// The field manager that last set `spec.replicas`: this owner, unless its entry was last
    /// written before `since` (the last time scalekeeper itself set the count), in which case
    /// the change being looked at was not recorded and `None` (unknown) is the truth.
    ///
    /// Kubernetes before 1.22 records no field manager for writes through the scale
    /// subresource (`kubectl scale`, scalekeeper's own corrections): there the owner stays
    /// whoever created the Deployment, and naming it would blame the wrong party. Times
    /// compare at whole seconds; the creator's entry last written in the second the
    /// Deployment was created, when scalekeeper has written since (in that second or later),
    /// is not taken as the change either: within that one second the order cannot be told
    /// from the times, and the creation came before any declaration for the Deployment.
    ///
    /// Source: "Field management" in <https://kubernetes.io/docs/reference/using-api/server-side-apply/>
    /// (managedFields entries and their `time`; `subresource` since 1.22).
    pub fn manager_since(&self, since: Option<jiff::Timestamp>) -> Option<&str> {
        let stale = match (self.written, since) {
            (Some(written), Some(since)) => {
                let since = since.as_second();
                written < since || (self.creation && since >= written)
            }
            _ => false,
        };
        if stale || self.manager.is_empty() { None } else { Some(&self.manager) }
    }
}

/// The field manager that last set `d`'s `spec.replicas`, or `None` when that change was not
/// recorded: [`ReplicasOwner::of`] then [`ReplicasOwner::manager_since`].
pub fn replicas_manager(d: &Deployment, since: Option<jiff::Timestamp>) -> Option<String> {
    ReplicasOwner::of(d, &mut |m| Arc::from(m))?.manager_since(since).map(str::to_owned)
}

/// The last time scalekeeper set (or declared) `spec.replicas` of `policy`'s Deployment: its
/// last correction, its last declaration through the API, or the policy's creation, whichever
/// is latest.
pub fn last_set_by_us(policy: &ReplicaPolicy) -> Option<jiff::Timestamp> {
    let corrected = policy.status.as_ref().and_then(|s| s.last_correction.as_ref()).and_then(|c| c.time.parse().ok());
    let applied = policy.status.as_ref().and_then(|s| s.last_applied_time.as_ref()).and_then(|t| t.parse().ok());
    let corrected = corrected.max(applied);
    let declared = policy.annotations().get(LAST_SET_AT).and_then(|t| t.parse().ok());
    // A policy applied by GitOps has neither: a change made before it existed is no drift
    // by anyone, only a count it declares differently.
    let created = policy.metadata.creation_timestamp.as_ref().map(|t| t.0);
    corrected.max(declared).max(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Correction, PolicyMode, ReplicaPolicyStatus};
    use serde_json::json;

    #[test]
    fn replicas_manager_reads_managed_fields() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "managedFields": [
                {"manager": "helm", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {}}}},
                {"manager": "kubectl", "operation": "Update", "subresource": "scale", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]}
        }))
        .unwrap();
        assert_eq!(replicas_manager(&d, None).as_deref(), Some("kubectl"));
    }

    #[test]
    fn an_owner_older_than_our_last_write_did_not_make_the_change() {
        // Kubernetes 1.20: `kubectl scale` goes through /scale and records nothing, so the
        // creator still owns spec.replicas, with the time it created the Deployment.
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "managedFields": [
                {"manager": "kubectl-create", "operation": "Update", "time": "2026-01-01T10:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]}
        }))
        .unwrap();
        let t = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
        assert_eq!(replicas_manager(&d, t("2026-01-01T10:05:00Z")), None);
        // Written after (or in the same second as) our last write: it made the change.
        assert_eq!(replicas_manager(&d, t("2026-01-01T10:00:00.700Z")).as_deref(), Some("kubectl-create"));
        assert_eq!(replicas_manager(&d, t("2026-01-01T09:00:00Z")).as_deref(), Some("kubectl-create"));
        // Not when that second is the Deployment's creation, which came before our write.
        let mut created = d.clone();
        let entry = &mut created.metadata.managed_fields.as_mut().unwrap()[0];
        entry.fields_v1.as_mut().unwrap().0["f:spec"]["f:selector"] = json!({});
        assert_eq!(replicas_manager(&created, t("2026-01-01T10:00:00.700Z")).as_deref(), Some("kubectl-create"));
        created.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-01T10:00:00Z".parse().unwrap()));
        assert_eq!(replicas_manager(&created, t("2026-01-01T10:00:00.700Z")), None);
        assert_eq!(replicas_manager(&created, t("2026-01-01T09:00:00Z")).as_deref(), Some("kubectl-create"));
    }

    #[test]
    fn our_last_write_is_the_later_of_correction_and_declaration() {
        let mut p = ReplicaPolicy::new(
            "web",
            crate::policy::ReplicaPolicySpec { replicas: 3, mode: PolicyMode::Enforce, ..Default::default() },
        );
        assert_eq!(last_set_by_us(&p), None);
        p.metadata.annotations = Some([(LAST_SET_AT.to_string(), "2026-01-01T10:00:00Z".to_string())].into());
        p.status = Some(ReplicaPolicyStatus {
            last_correction: Some(Correction {
                time: "2026-01-01T11:00:00Z".into(),
                from: 5,
                to: 3,
                field_manager: None,
            }),
            ..Default::default()
        });
        assert_eq!(last_set_by_us(&p), Some("2026-01-01T11:00:00Z".parse().unwrap()));
    }
}
