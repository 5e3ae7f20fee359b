//! One Deployment with its ReplicaPolicy, as the API shows it: the Kubernetes objects are
//! turned into the domain's [`Observed`]/[`Desired`], evaluated, and rendered as the
//! `scalekeeper.v1.Deployment` message.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt as _;
use scalekeeper_api::v1 as pb;
use scalekeeper_core::{Conflict, Desired, Mode, Observed, ReplicaCounts, SyncState, SyncStatus, evaluate};

use crate::policy::{LAST_SET_AT, LAST_SET_BY, PolicyMode, ReplicaPolicy};

pub use crate::policy::{CONDITION_SUSPENDED, CONDITION_SYNCED};

/// A Deployment and its ReplicaPolicy (if any).
#[derive(Debug, Clone)]
pub struct DeploymentView {
    /// The Deployment (from the cache: no pod template, no managedFields).
    pub deployment: Arc<Deployment>,
    /// Its policy.
    pub policy: Option<Arc<ReplicaPolicy>>,
    /// HorizontalPodAutoscalers (names) that target it.
    pub hpas: Vec<String>,
}

impl DeploymentView {
    /// The Deployment's state as the domain sees it.
    pub fn observed(&self) -> Observed {
        let d = &self.deployment;
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

    /// The declared state, if a policy exists.
    pub fn desired(&self) -> Option<Desired> {
        self.policy.as_ref().map(|p| Desired {
            replicas: p.spec.replicas,
            mode: p.spec.mode,
            deployment_uid: p.spec.deployment_uid.clone(),
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

    /// The sync status.
    pub fn sync(&self) -> SyncState {
        evaluate(self.desired().as_ref(), &self.observed(), &self.conflicts())
    }

    /// The API message.
    pub fn to_proto(&self) -> pb::Deployment {
        let observed = self.observed();
        let sync = self.sync();
        let policy = self.policy.as_deref();
        let annotation = |key: &str| policy.and_then(|p| p.annotations().get(key).cloned()).unwrap_or_default();
        let last_set_at = annotation(LAST_SET_AT)
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() });
        pb::Deployment {
            namespace: self.deployment.namespace().unwrap_or_default(),
            name: self.deployment.name_any(),
            desired_replicas: policy.map(|p| p.spec.replicas),
            spec_replicas: observed.spec_replicas,
            status: Some(pb::DeploymentStatus {
                replicas: observed.status.replicas,
                updated_replicas: observed.status.updated,
                ready_replicas: observed.status.ready,
                available_replicas: observed.status.available,
                observed_generation: observed.status.observed_generation,
            }),
            sync_status: sync_to_proto(sync.status) as i32,
            reason: sync.reason,
            mode: policy.map(|p| mode_to_proto(p.spec.mode)).unwrap_or(pb::Mode::Unspecified) as i32,
            version: policy.and_then(|p| p.metadata.generation).map(|g| g.to_string()).unwrap_or_default(),
            last_set_by: annotation(LAST_SET_BY),
            last_set_at,
            generation: observed.generation,
            labels: self.deployment.labels().clone().into_iter().collect(),
        }
    }
}

/// The API enum for a sync status.
pub fn sync_to_proto(s: SyncStatus) -> pb::SyncStatus {
    match s {
        SyncStatus::Unmanaged => pb::SyncStatus::Unmanaged,
        SyncStatus::InSync => pb::SyncStatus::InSync,
        SyncStatus::Drifted => pb::SyncStatus::Drifted,
        SyncStatus::Progressing => pb::SyncStatus::Progressing,
        SyncStatus::Conflict => pb::SyncStatus::Conflict,
    }
}

/// The API enum for a mode.
pub fn mode_to_proto(m: Mode) -> pb::Mode {
    match m {
        Mode::Enforce => pb::Mode::Enforce,
        Mode::Observe => pb::Mode::Observe,
    }
}

/// The policy mode for an API mode; `None` for MODE_UNSPECIFIED (or an unknown value).
pub fn mode_from_proto(m: i32) -> Option<PolicyMode> {
    match pb::Mode::try_from(m).ok()? {
        pb::Mode::Enforce => Some(PolicyMode::Enforce),
        pb::Mode::Observe => Some(PolicyMode::Observe),
        pb::Mode::Unspecified => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicyCondition, ReplicaPolicySpec, ReplicaPolicyStatus};

    fn deployment(spec: i32, ready: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "generation": 2, "labels": {"app": "web"}},
            "spec": {"replicas": spec, "selector": {}, "template": {}},
            "status": {"replicas": spec, "updatedReplicas": spec, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": 2}
        }))
        .unwrap()
    }

    fn policy(replicas: i32) -> ReplicaPolicy {
        let mut p = ReplicaPolicy::new(
            "web",
            ReplicaPolicySpec { replicas, mode: PolicyMode::Observe, deployment_uid: Some("u1".into()) },
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

    #[test]
    fn unmanaged_view() {
        let v = DeploymentView { deployment: Arc::new(deployment(3, 3)), policy: None, hpas: vec![] };
        let p = v.to_proto();
        assert_eq!(p.desired_replicas, None);
        assert_eq!(p.sync_status, pb::SyncStatus::Unmanaged as i32);
        assert_eq!(p.mode, pb::Mode::Unspecified as i32);
        assert_eq!(p.version, "");
        assert_eq!(p.labels.get("app").map(String::as_str), Some("web"));
    }

    #[test]
    fn drifted_view_carries_policy_fields() {
        let v =
            DeploymentView { deployment: Arc::new(deployment(7, 7)), policy: Some(Arc::new(policy(3))), hpas: vec![] };
        let p = v.to_proto();
        assert_eq!(p.desired_replicas, Some(3));
        assert_eq!(p.spec_replicas, 7);
        assert_eq!(p.sync_status, pb::SyncStatus::Drifted as i32);
        assert_eq!(p.reason, "spec.replicas is 7, declared 3");
        assert_eq!(p.mode, pb::Mode::Observe as i32);
        assert_eq!(p.version, "7", "the version is the generation, not the resourceVersion");
        assert_eq!(p.last_set_by, "alice");
        assert!(p.last_set_at.is_some());
    }

    #[test]
    fn hpa_and_suspension_are_conflicts() {
        let hpa = DeploymentView {
            deployment: Arc::new(deployment(3, 3)),
            policy: Some(Arc::new(policy(3))),
            hpas: vec!["web-hpa".into()],
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
        let v = DeploymentView { deployment: Arc::new(deployment(3, 3)), policy: Some(Arc::new(pol)), hpas: vec![] };
        assert_eq!(v.sync().status, SyncStatus::Conflict);
        assert!(v.sync().reason.contains("argocd-controller"), "{}", v.sync().reason);
    }

    #[test]
    fn mode_mapping() {
        assert_eq!(mode_from_proto(pb::Mode::Observe as i32), Some(PolicyMode::Observe));
        assert_eq!(mode_from_proto(0), None);
        assert_eq!(mode_from_proto(99), None);
    }
}
