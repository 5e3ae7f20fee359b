//! Desired vs current state: the sync status of one Deployment.
//!
//! Order of precedence (the first that applies wins):
//!
//! | status       | when |
//! |--------------|------|
//! | UNMANAGED    | no ReplicaPolicy declares a count |
//! | CONFLICT     | something else owns the count: an HPA targets the Deployment, the policy is pinned to another Deployment UID (re-created), or the flap guard suspended enforcement |
//! | DRIFTED      | `spec.replicas` ≠ declared |
//! | PROGRESSING  | spec matches, but the Deployment controller has not observed the latest generation or the ready/updated/available counts are not yet the declared count |
//! | IN_SYNC      | otherwise |
//!
//! Source for the rollout rule: the Deployment is complete when `observedGeneration ≥
//! generation` and updated = available = replicas
//! (<https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#complete-deployment>).

use std::fmt;

/// What scalekeeper does about drift. The same type is the ReplicaPolicy's `spec.mode` (with
/// the `crd` feature), spelled `Enforce` / `Observe` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "crd", derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema))]
pub enum Mode {
    /// Correct drift.
    #[default]
    Enforce,
    /// Report drift, never correct it.
    Observe,
}

impl Mode {
    /// The name as the ReplicaPolicy spec spells it (`Enforce`, `Observe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "Enforce",
            Mode::Observe => "Observe",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a Deployment's current state compares with its declared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncStatus {
    /// No declared count.
    Unmanaged,
    /// Declared, applied, and the rollout has converged.
    InSync,
    /// `spec.replicas` differs from the declared count.
    Drifted,
    /// `spec.replicas` matches; status has not caught up.
    Progressing,
    /// Something else owns the replica count; not enforced.
    Conflict,
}

impl SyncStatus {
    /// The name as the ReplicaPolicy status and printer columns spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Unmanaged => "Unmanaged",
            SyncStatus::InSync => "InSync",
            SyncStatus::Drifted => "Drifted",
            SyncStatus::Progressing => "Progressing",
            SyncStatus::Conflict => "Conflict",
        }
    }

    /// Whether a Diff reports it (DRIFTED, PROGRESSING, CONFLICT).
    pub fn is_out_of_sync(self) -> bool {
        matches!(self, SyncStatus::Drifted | SyncStatus::Progressing | SyncStatus::Conflict)
    }
}

impl std::str::FromStr for SyncStatus {
    type Err = UnknownSyncStatus;

    /// Parses the name [`SyncStatus::as_str`] gives (`InSync`, `Drifted`, ...).
    ///
    /// # Errors
    /// [`UnknownSyncStatus`] for any other string.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [SyncStatus::Unmanaged, SyncStatus::InSync, SyncStatus::Drifted, SyncStatus::Progressing, SyncStatus::Conflict]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownSyncStatus(s.to_owned()))
    }
}

/// A string that names no [`SyncStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync status {0:?}")]
pub struct UnknownSyncStatus(pub String);

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The replica counts of a Deployment's status (all counts of Pods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaCounts {
    /// `status.replicas`.
    pub replicas: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
}

/// What the cluster has for one Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `spec.replicas` (a count; the API server defaults it to 1).
    pub spec_replicas: i32,
    /// Status counts.
    pub status: ReplicaCounts,
}

/// What a ReplicaPolicy declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The declared replica count.
    pub replicas: i32,
    /// Enforce or Observe.
    pub mode: Mode,
    /// The Deployment UID the policy was written for; `None` until pinned.
    pub deployment_uid: Option<String>,
    /// Which rule set `replicas` (see [`crate::rules`]): the reasons name it (`declared 3`,
    /// `held at 10`, `scheduled 1`).
    pub rule: crate::rules::RuleKind,
}

/// Why scalekeeper must not enforce, found outside the Deployment itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A HorizontalPodAutoscaler (named) targets the Deployment.
    Hpa(String),
    /// The flap guard suspended enforcement: another field manager (named) keeps re-scaling.
    Flapping(String),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Hpa(name) => write!(f, "HorizontalPodAutoscaler {name} targets this Deployment"),
            Conflict::Flapping(manager) => {
                write!(f, "enforcement suspended: field manager {manager:?} keeps changing spec.replicas")
            }
        }
    }
}

/// The outcome of comparing declared with current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// The status.
    pub status: SyncStatus,
    /// Why, in words; empty for IN_SYNC and UNMANAGED.
    pub reason: String,
}

impl SyncState {
    fn new(status: SyncStatus, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }
}

/// Compares `desired` with `observed`, given the `conflicts` found around it.
pub fn evaluate(desired: Option<&Desired>, observed: &Observed, conflicts: &[Conflict]) -> SyncState {
    let Some(desired) = desired else { return SyncState::new(SyncStatus::Unmanaged, "") };
    if let Some(c) = conflicts.first() {
        return SyncState::new(SyncStatus::Conflict, c.to_string());
    }
    if let Some(pinned) = &desired.deployment_uid
        && !pinned.is_empty()
        && *pinned != observed.uid
    {
        return SyncState::new(
            SyncStatus::Conflict,
            format!(
                "the policy was declared for Deployment UID {pinned}, but the Deployment now has UID {} (deleted and re-created); declare the count again",
                observed.uid
            ),
        );
    }
    if observed.spec_replicas != desired.replicas {
        return SyncState::new(
            SyncStatus::Drifted,
            format!("spec.replicas is {}, {} {}", observed.spec_replicas, desired.rule.verb(), desired.replicas),
        );
    }
    let s = &observed.status;
    if s.observed_generation < observed.generation {
        return SyncState::new(
            SyncStatus::Progressing,
            format!(
                "the Deployment controller has not observed generation {} yet (observed {})",
                observed.generation, s.observed_generation
            ),
        );
    }
    let want = desired.replicas;
    if s.updated != want || s.available != want || s.ready != want || s.replicas != want {
        return SyncState::new(
            SyncStatus::Progressing,
            format!("{} of {want} replicas ready, {} updated, {} available", s.ready, s.updated, s.available),
        );
    }
    SyncState::new(SyncStatus::InSync, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converged(replicas: i32) -> Observed {
        Observed {
            uid: "u1".into(),
            generation: 2,
            spec_replicas: replicas,
            status: ReplicaCounts {
                replicas,
                updated: replicas,
                ready: replicas,
                available: replicas,
                observed_generation: 2,
            },
        }
    }

    fn desired(replicas: i32) -> Desired {
        Desired { replicas, mode: Mode::Enforce, deployment_uid: Some("u1".into()), rule: Default::default() }
    }

    #[test]
    fn unmanaged_without_policy() {
        assert_eq!(evaluate(None, &converged(3), &[]).status, SyncStatus::Unmanaged);
    }

    #[test]
    fn in_sync_when_spec_and_status_match() {
        let s = evaluate(Some(&desired(3)), &converged(3), &[]);
        assert_eq!(s, SyncState { status: SyncStatus::InSync, reason: String::new() });
    }

    #[test]
    fn drifted_names_both_counts() {
        let s = evaluate(Some(&desired(3)), &converged(7), &[]);
        assert_eq!(s.status, SyncStatus::Drifted);
        assert_eq!(s.reason, "spec.replicas is 7, declared 3");
    }

    #[test]
    fn drift_is_reported_in_observe_mode_too() {
        let d = Desired { mode: Mode::Observe, ..desired(3) };
        assert_eq!(evaluate(Some(&d), &converged(5), &[]).status, SyncStatus::Drifted);
    }

    #[test]
    fn progressing_until_generation_observed() {
        let mut o = converged(3);
        o.generation = 3;
        let s = evaluate(Some(&desired(3)), &o, &[]);
        assert_eq!(s.status, SyncStatus::Progressing);
        assert!(s.reason.contains("generation 3"), "{}", s.reason);
    }

    #[test]
    fn progressing_until_ready() {
        let mut o = converged(3);
        o.status.ready = 1;
        let s = evaluate(Some(&desired(3)), &o, &[]);
        assert_eq!(s.status, SyncStatus::Progressing);
        assert_eq!(s.reason, "1 of 3 replicas ready, 3 updated, 3 available");
    }

    #[test]
    fn scaled_to_zero_is_in_sync_with_zero_counts() {
        assert_eq!(evaluate(Some(&desired(0)), &converged(0), &[]).status, SyncStatus::InSync);
    }

    #[test]
    fn hpa_conflict_wins_over_drift() {
        let s = evaluate(Some(&desired(3)), &converged(9), &[Conflict::Hpa("web".into())]);
        assert_eq!(s.status, SyncStatus::Conflict);
        assert_eq!(s.reason, "HorizontalPodAutoscaler web targets this Deployment");
    }

    #[test]
    fn flapping_conflict_names_the_manager() {
        let s = evaluate(Some(&desired(3)), &converged(3), &[Conflict::Flapping("argocd-controller".into())]);
        assert_eq!(s.status, SyncStatus::Conflict);
        assert!(s.reason.contains("argocd-controller"));
    }

    #[test]
    fn recreated_deployment_is_a_conflict() {
        let mut o = converged(3);
        o.uid = "u2".into();
        let s = evaluate(Some(&desired(3)), &o, &[]);
        assert_eq!(s.status, SyncStatus::Conflict);
        assert!(s.reason.contains("re-created"), "{}", s.reason);
    }

    #[test]
    fn unpinned_policy_applies_to_any_uid() {
        let d = Desired { deployment_uid: None, ..desired(3) };
        let mut o = converged(3);
        o.uid = "other".into();
        assert_eq!(evaluate(Some(&d), &o, &[]).status, SyncStatus::InSync);
    }

    #[test]
    fn out_of_sync_set() {
        assert!(SyncStatus::Drifted.is_out_of_sync());
        assert!(SyncStatus::Conflict.is_out_of_sync());
        assert!(SyncStatus::Progressing.is_out_of_sync());
        assert!(!SyncStatus::InSync.is_out_of_sync());
        for s in [
            SyncStatus::Unmanaged,
            SyncStatus::InSync,
            SyncStatus::Drifted,
            SyncStatus::Progressing,
            SyncStatus::Conflict,
        ] {
            assert_eq!(s.as_str().parse::<SyncStatus>(), Ok(s));
        }
        assert!("in sync".parse::<SyncStatus>().is_err());
        assert!(!SyncStatus::Unmanaged.is_out_of_sync());
    }
}
