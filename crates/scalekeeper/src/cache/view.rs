//! One Deployment with its ReplicaPolicy: the Kubernetes objects turned into the domain's
//! [`Observed`]/[`Desired`]/[`Conflict`]s and evaluated into a [`SyncState`].
//!
//! The cache, the writer and the reconciler hand these around; no proto type appears here.
//! The gRPC edge renders one as the `scalekeeper.v1.Deployment` message
//! (`crate::grpc::convert`).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt as _;
use scalekeeper_core::rules::Effective;
use scalekeeper_core::{Conflict, Desired, Observed, ReplicaCounts, SyncState, evaluate};

use crate::cache::CachedDeployment;
use crate::policy::{LAST_SET_AT, LAST_SET_BY, ReplicaPolicy};

pub use crate::policy::{CONDITION_SUSPENDED, CONDITION_SYNCED};

/// A Deployment's state as the domain sees it: `spec.replicas` (defaulted to 1, as the API
/// server does), UID, generation and the status counts (missing counts are 0).
pub fn observed(d: &Deployment) -> Observed {
    let status = d.status.clone().unwrap_or_default();
    Observed {
        uid: d.metadata.uid.clone().unwrap_or_default(),
        generation: d.metadata.generation.unwrap_or(0),
        spec_replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        status: ReplicaCounts {
            replicas: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
        },
    }
}

/// A Deployment and its ReplicaPolicy (if any).
#[derive(Debug, Clone)]
pub struct DeploymentView {
    /// The Deployment, as the cache keeps it.
    pub deployment: Arc<CachedDeployment>,
    /// Its policy.
    pub policy: Option<Arc<ReplicaPolicy>>,
    /// HorizontalPodAutoscalers (names) that target it.
    pub hpas: Vec<String>,
    /// Its open ScaleRequests (the two-person rule), oldest first; empty when unmanaged.
    pub requests: Vec<Arc<crate::scalerequest::ScaleRequest>>,
}

impl DeploymentView {
    /// The Deployment's state as the domain sees it.
    pub fn observed(&self) -> Observed {
        self.deployment.observed.clone()
    }

    /// The effective count at `now` and the rule it comes from (see
    /// [`scalekeeper_core::rules`]), if a policy exists.
    pub fn effective_at(&self, now: jiff::Timestamp) -> Option<Effective> {
        self.policy.as_ref().map(|p| p.spec.effective(now))
    }

    /// The desired state now, if a policy exists: its mode and pinned UID with the effective
    /// count (the hold's, the schedule window's or the declared one).
    pub fn desired(&self) -> Option<Desired> {
        self.desired_at(jiff::Timestamp::now())
    }

    /// [`DeploymentView::desired`] at `now`.
    pub fn desired_at(&self, now: jiff::Timestamp) -> Option<Desired> {
        self.desired_with(self.effective_at(now).as_ref()?)
    }

    /// The desired state with `effective` (computed by the caller from this view's policy),
    /// if a policy exists.
    pub fn desired_with(&self, effective: &Effective) -> Option<Desired> {
        let p = self.policy.as_ref()?;
        Some(Desired {
            replicas: effective.replicas,
            mode: p.spec.mode,
            deployment_uid: p.spec.deployment_uid.clone(),
            rule: effective.source.kind(),
        })
    }

    /// Why scalekeeper must not enforce: HPAs targeting the Deployment, and a flap-guard
    /// suspension the reconciler recorded on the policy's status.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out: Vec<Conflict> = self.hpas.iter().map(|h| Conflict::Hpa(h.clone())).collect();
        let status = self.policy.as_ref().and_then(|p| p.status.as_ref());
        if let Some(status) = status
            && status.is_suspended()
        {
            // The flapping manager is the one whose change was corrected last.
            let manager = status.last_correction.as_ref().and_then(|c| c.field_manager.clone());
            out.push(Conflict::Flapping(manager.unwrap_or_else(|| "unknown".into())));
        }
        out
    }

    /// The sync status now.
    pub fn sync(&self) -> SyncState {
        self.sync_at(jiff::Timestamp::now())
    }

    /// The sync status at `now` (spec.replicas against the effective count then).
    pub fn sync_at(&self, now: jiff::Timestamp) -> SyncState {
        self.sync_with(self.effective_at(now).as_ref())
    }

    /// The sync status against `effective` (computed by the caller from this view's policy;
    /// `None` without a policy), so a caller that needs the effective count too computes it
    /// once.
    pub fn sync_with(&self, effective: Option<&Effective>) -> SyncState {
        evaluate(effective.and_then(|e| self.desired_with(e)).as_ref(), &self.observed(), &self.conflicts())
    }

    /// The policy's version as the API shows it: its `metadata.generation`, which moves only
    /// when the declaration (the spec) changes, not on status writes. `None` without a policy.
    pub fn version(&self) -> Option<i64> {
        self.policy.as_ref().and_then(|p| p.metadata.generation)
    }

    /// The identity that last declared the count (the policy's `last-set-by` annotation).
    pub fn last_set_by(&self) -> Option<&str> {
        self.policy.as_ref().and_then(|p| p.annotations().get(LAST_SET_BY)).map(String::as_str)
    }

    /// When the count was last declared (the policy's `last-set-at` annotation); `None`
    /// without a policy or when the annotation is missing or not an RFC 3339 timestamp.
    pub fn last_set_at(&self) -> Option<jiff::Timestamp> {
        self.policy.as_ref().and_then(|p| p.annotations().get(LAST_SET_AT)).and_then(|t| t.parse().ok())
    }
}

/// Test fixtures: a Deployment and a policy as the cache holds them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::policy::{PolicyMode, ReplicaPolicySpec};

    /// Deployment `shop/web` (uid `u1`, generation 2, label `app=web`) with `spec` replicas
    /// of which `ready` are ready.
    pub(crate) fn deployment(spec: i32, ready: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "generation": 2, "labels": {"app": "web"}},
            "spec": {"replicas": spec, "selector": {}, "template": {}},
            "status": {"replicas": spec, "updatedReplicas": spec, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": 2}
        }))
        .unwrap()
    }

    /// `d` as the cache keeps it.
    pub(crate) fn cached(d: &Deployment) -> Arc<CachedDeployment> {
        Arc::new(CachedDeployment::from_deployment(d))
    }

    /// An Observe-mode policy for `shop/web` declaring `replicas`, at generation 7
    /// (resourceVersion 42), last set by `alice`.
    pub(crate) fn policy(replicas: i32) -> ReplicaPolicy {
        let mut p = ReplicaPolicy::new(
            "web",
            ReplicaPolicySpec {
                replicas,
                mode: PolicyMode::Observe,
                deployment_uid: Some("u1".into()),
                ..Default::default()
            },
        );
        p.metadata.namespace = Some("shop".into());
        p.metadata.resource_version = Some("42".into());
        p.metadata.generation = Some(7);
        p.metadata.annotations = Some(
            [
                (LAST_SET_BY.to_string(), "alice".to_string()),
                (LAST_SET_AT.to_string(), "2026-11-23T05:00:00Z".to_string()),
            ]
            .into_iter()
            .collect(),
        );
        p
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{cached, deployment, policy};
    use super::*;
    use crate::policy::{PolicyCondition, ReplicaPolicyStatus};
    use scalekeeper_core::SyncStatus;

    #[test]
    fn policy_fields_are_read_from_the_policy() {
        let unmanaged =
            DeploymentView { deployment: cached(&deployment(3, 3)), policy: None, hpas: vec![], requests: vec![] };
        assert_eq!((unmanaged.version(), unmanaged.last_set_by(), unmanaged.last_set_at()), (None, None, None));
        assert_eq!(unmanaged.sync().status, SyncStatus::Unmanaged);
        let v = DeploymentView {
            deployment: cached(&deployment(7, 7)),
            policy: Some(Arc::new(policy(3))),
            hpas: vec![],
            requests: vec![],
        };
        assert_eq!(v.version(), Some(7), "the version is the generation, not the resourceVersion");
        assert_eq!(v.last_set_by(), Some("alice"));
        assert!(v.last_set_at().is_some());
        assert_eq!(v.sync().status, SyncStatus::Drifted);
    }

    #[test]
    fn hpa_and_suspension_are_conflicts() {
        let hpa = DeploymentView {
            deployment: cached(&deployment(3, 3)),
            policy: Some(Arc::new(policy(3))),
            hpas: vec!["web-hpa".into()],
            requests: vec![],
        };
        assert_eq!(hpa.sync().status, SyncStatus::Conflict);
        assert!(hpa.sync().reason.contains("web-hpa"));

        let mut pol = policy(3);
        pol.status = Some(ReplicaPolicyStatus {
            conditions: vec![PolicyCondition {
                type_: CONDITION_SUSPENDED.into(),
                status: "True".into(),
                reason: "FlapGuard".into(),
                message: "suspended".into(),
                last_transition_time: None,
            }],
            last_correction: Some(crate::policy::Correction {
                time: "t".into(),
                from: 5,
                to: 3,
                field_manager: Some("argocd-controller".into()),
            }),
            ..Default::default()
        });
        let v = DeploymentView {
            deployment: cached(&deployment(3, 3)),
            policy: Some(Arc::new(pol)),
            hpas: vec![],
            requests: vec![],
        };
        assert_eq!(v.sync().status, SyncStatus::Conflict);
        assert!(v.sync().reason.contains("argocd-controller"), "{}", v.sync().reason);
    }
}
