//! Conversions between the domain and the `scalekeeper.v1` messages: the only place a
//! [`DeploymentView`], a [`SyncStatus`], a [`Mode`] or a [`PolicyGuard`] becomes (or comes
//! from) a proto type.

use scalekeeper_api::v1 as pb;
use scalekeeper_core::rules::{Effective, RuleKind};
use scalekeeper_core::{Mode, SyncStatus};

use kube::ResourceExt as _;
use scalekeeper_core::approval::Phase;

use crate::cache::view::DeploymentView;
use crate::policy::{PolicyGuard, PolicyMode};
use crate::scalerequest::ScaleRequest;
use crate::writer::Outcome;

/// The `scalekeeper.v1.Deployment` message for `view` now: the Deployment's counts, the declared
/// count and mode, the effective count with its rule, hold, schedule, bounds and next change,
/// the sync status with its reason, and the policy's version and last writer (empty without a
/// policy).
pub fn deployment(view: &DeploymentView) -> pb::Deployment {
    deployment_at(view, jiff::Timestamp::now())
}

/// [`deployment`] as of `now`.
pub fn deployment_at(view: &DeploymentView, now: jiff::Timestamp) -> pb::Deployment {
    let observed = view.observed();
    let policy = view.policy.as_deref();
    // The rules and the effective count once per item: List pages call this 500 times.
    let rules = policy.map(|p| p.spec.rules());
    let effective = policy.zip(rules.as_ref()).map(|(p, r)| r.effective(p.spec.replicas, now));
    let sync = view.sync_with(effective.as_ref());
    let next = policy.zip(rules.as_ref()).and_then(|(p, r)| r.next_change(p.spec.replicas, now));
    let hold = policy.and_then(|p| p.spec.hold.as_ref()).zip(rules.as_ref().and_then(|r| r.active_hold(now)));
    pb::Deployment {
        namespace: view.deployment.namespace.to_string(),
        name: view.deployment.name.to_string(),
        desired_replicas: policy.map(|p| p.spec.replicas),
        spec_replicas: observed.spec_replicas,
        status: Some(pb::DeploymentStatus {
            replicas: observed.status.replicas,
            updated_replicas: observed.status.updated,
            ready_replicas: observed.status.ready,
            available_replicas: observed.status.available,
            observed_generation: observed.status.observed_generation,
        }),
        sync_status: sync_status(sync.status) as i32,
        reason: sync.reason,
        mode: policy.map(|p| mode(p.spec.mode)).unwrap_or(pb::Mode::Unspecified) as i32,
        version: view.version().map(|g| g.to_string()).unwrap_or_default(),
        last_set_by: view.last_set_by().unwrap_or_default().to_string(),
        last_set_at: view.last_set_at().map(timestamp),
        generation: observed.generation,
        labels: view.deployment.labels().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        effective_replicas: effective.as_ref().map(|e| e.replicas),
        rule: effective.as_ref().map_or(pb::Rule::Unspecified, |e| rule(e.source.kind())) as i32,
        rule_detail: effective.as_ref().map(Effective::describe).unwrap_or_default(),
        hold: hold.map(|(spec, h)| pb::Hold {
            replicas: h.replicas,
            until: Some(timestamp(h.until)),
            reason: h.reason.clone(),
            set_by: spec.set_by.clone().unwrap_or_default(),
            set_at: h.set_at.map(timestamp),
        }),
        schedule: policy
            .map(|p| {
                p.spec
                    .schedule
                    .iter()
                    .map(|w| pb::ScheduleWindow { window: w.window.clone(), replicas: w.replicas })
                    .collect()
            })
            .unwrap_or_default(),
        min_replicas: policy.and_then(|p| p.spec.min_replicas),
        max_replicas: policy.and_then(|p| p.spec.max_replicas),
        next_change_at: next.map(|(t, _)| timestamp(t)),
        next_replicas: next.map(|(_, n)| n),
        guard: policy.map_or(pb::Guard::Unspecified, |p| guard(p.spec.guard)) as i32,
        approval: policy.and_then(|p| p.spec.approval.as_ref()).map(approval_rule),
        scale_requests: view.requests.iter().map(|sr| scale_request(sr, now)).collect(),
    }
}

/// The API's `ApprovalRule` for a policy's `spec.approval`.
pub fn approval_rule(a: &crate::policy::PolicyApproval) -> pb::ApprovalRule {
    pb::ApprovalRule {
        above: a.above,
        below: a.below,
        max_step_percent: a.max_step_percent.map(|p| i32::try_from(p).unwrap_or(i32::MAX)),
        approvers: i32::try_from(a.approvers).unwrap_or(i32::MAX),
    }
}

/// The API's `WriteOutcome` for a write's [`Outcome`].
pub fn outcome(o: &Outcome) -> pb::WriteOutcome {
    pb::WriteOutcome {
        dry_run: o.dry_run,
        effective_replicas_before: o.effective_before,
        effective_replicas_after: o.effective_after,
        rule_after: o.rule_after.map_or(pb::Rule::Unspecified, rule) as i32,
        rule_detail_after: o.rule_detail_after.clone(),
        spec_replicas_before: o.spec_before,
        spec_replicas_after: o.spec_after,
        conflicts: o.conflicts.clone(),
        enforcement_suspended: o.enforcement_suspended,
        resumes_enforcement: o.resumes_enforcement,
    }
}

/// A protobuf Timestamp for `t`.
pub fn timestamp(t: jiff::Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }
}

/// The API enum for a rule kind.
pub fn rule(r: RuleKind) -> pb::Rule {
    match r {
        RuleKind::Declared => pb::Rule::Declared,
        RuleKind::Hold => pb::Rule::Hold,
        RuleKind::Schedule => pb::Rule::Schedule,
    }
}

/// The API enum for a sync status.
pub fn sync_status(s: SyncStatus) -> pb::SyncStatus {
    match s {
        SyncStatus::Unmanaged => pb::SyncStatus::Unmanaged,
        SyncStatus::InSync => pb::SyncStatus::InSync,
        SyncStatus::Drifted => pb::SyncStatus::Drifted,
        SyncStatus::Progressing => pb::SyncStatus::Progressing,
        SyncStatus::Conflict => pb::SyncStatus::Conflict,
    }
}

/// The API enum for a mode.
pub fn mode(m: Mode) -> pb::Mode {
    match m {
        Mode::Enforce => pb::Mode::Enforce,
        Mode::Observe => pb::Mode::Observe,
    }
}

/// The policy mode for an API mode (the raw `i32` of a request field); `None` for
/// MODE_UNSPECIFIED or a value the proto does not define.
pub fn mode_from_proto(m: i32) -> Option<PolicyMode> {
    match pb::Mode::try_from(m).ok()? {
        pb::Mode::Enforce => Some(PolicyMode::Enforce),
        pb::Mode::Observe => Some(PolicyMode::Observe),
        pb::Mode::Unspecified => None,
    }
}

/// The API enum for a guard.
pub fn guard(g: PolicyGuard) -> pb::Guard {
    match g {
        PolicyGuard::Off => pb::Guard::Off,
        PolicyGuard::Warn => pb::Guard::Warn,
        PolicyGuard::Deny => pb::Guard::Deny,
    }
}

/// The policy guard for an API guard (the raw `i32` of a request field); `None` for
/// GUARD_UNSPECIFIED or a value the proto does not define.
pub fn guard_from_proto(g: i32) -> Option<PolicyGuard> {
    match pb::Guard::try_from(g).ok()? {
        pb::Guard::Off => Some(PolicyGuard::Off),
        pb::Guard::Warn => Some(PolicyGuard::Warn),
        pb::Guard::Deny => Some(PolicyGuard::Deny),
        pb::Guard::Unspecified => None,
    }
}

/// The API's `HistoryEntry` for a history entry.
pub fn history_entry(e: &scalekeeper_core::history::Entry) -> pb::HistoryEntry {
    pb::HistoryEntry {
        time: Some(timestamp(e.time)),
        from_replicas: e.from,
        to_replicas: e.to,
        kind: change_kind(e.kind) as i32,
        who: e.who.clone(),
        reason: e.reason.clone(),
    }
}

/// The API enum for a kind of history entry.
pub fn change_kind(k: scalekeeper_core::history::ChangeKind) -> pb::ChangeKind {
    use scalekeeper_core::history::ChangeKind as K;
    match k {
        K::Declared => pb::ChangeKind::Declared,
        K::HoldPlaced => pb::ChangeKind::HoldPlaced,
        K::HoldExpired => pb::ChangeKind::HoldExpired,
        K::HoldCleared => pb::ChangeKind::HoldCleared,
        K::WindowStarted => pb::ChangeKind::WindowStarted,
        K::WindowEnded => pb::ChangeKind::WindowEnded,
        K::DriftCorrected => pb::ChangeKind::DriftCorrected,
        K::DriftObserved => pb::ChangeKind::DriftObserved,
        K::Applied => pb::ChangeKind::Applied,
        K::GuardRefused => pb::ChangeKind::GuardRefused,
    }
}

/// The API's ScaleRequest for `sr` as of `now`.
pub fn scale_request(sr: &ScaleRequest, now: jiff::Timestamp) -> pb::ScaleRequest {
    let status = sr.status.clone().unwrap_or_default();
    let c = &sr.spec.change;
    let ts = |t: &str| t.parse::<jiff::Timestamp>().ok().map(timestamp);
    pb::ScaleRequest {
        namespace: sr.namespace().unwrap_or_default(),
        name: sr.name_any(),
        deployment: sr.spec.deployment.clone(),
        change: sr.spec.summary.clone(),
        replicas: c.declare.as_ref().map(|d| d.replicas).or_else(|| c.hold.as_ref().map(|h| h.replicas)),
        needs_approval_because: sr.spec.needs_approval_because.clone(),
        requester: sr.spec.requester.user.clone(),
        reason: sr.spec.reason.clone(),
        created_at: Some(timestamp(crate::writer::created(sr))),
        expires_at: ts(&sr.spec.expires_at),
        digest: sr.spec.digest.clone(),
        phase: phase_proto(crate::writer::phase_at(sr, now)) as i32,
        approvals: status
            .approvals
            .iter()
            .map(|a| pb::Approval { identity: a.identity.clone(), time: ts(&a.time), digest: a.digest.clone() })
            .collect(),
        approvals_needed: i32::try_from(sr.spec.approvals_needed).unwrap_or(i32::MAX),
        outcome: status.outcome.clone().unwrap_or_default(),
        based_on_version: sr.spec.based_on_generation.map(|g| g.to_string()).unwrap_or_default(),
        approved_by: crate::writer::counted(sr),
        decided_by: status.decided_by.clone().unwrap_or_default(),
        decided_at: status.decided_at.as_deref().and_then(ts),
        break_glass_group: sr.spec.break_glass_group.clone().unwrap_or_default(),
    }
}

fn phase_proto(p: Phase) -> pb::ScaleRequestPhase {
    match p {
        Phase::Pending => pb::ScaleRequestPhase::Pending,
        Phase::Approved => pb::ScaleRequestPhase::Approved,
        Phase::Applied => pb::ScaleRequestPhase::Applied,
        Phase::Denied => pb::ScaleRequestPhase::Denied,
        Phase::Expired => pb::ScaleRequestPhase::Expired,
        Phase::Superseded => pb::ScaleRequestPhase::Superseded,
        Phase::ReviewRequired => pb::ScaleRequestPhase::ReviewRequired,
        Phase::Reviewed => pb::ScaleRequestPhase::Reviewed,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::view::fixtures::{cached, deployment as dep, policy};

    #[test]
    fn unmanaged_view() {
        let v = DeploymentView { deployment: cached(&dep(3, 3)), policy: None, hpas: vec![], requests: vec![] };
        let p = deployment(&v);
        assert_eq!(p.desired_replicas, None);
        assert_eq!(p.sync_status, pb::SyncStatus::Unmanaged as i32);
        assert_eq!(p.mode, pb::Mode::Unspecified as i32);
        assert_eq!(p.guard, pb::Guard::Unspecified as i32);
        assert_eq!(p.version, "");
        assert_eq!(p.last_set_by, "");
        assert_eq!(p.labels.get("app").map(String::as_str), Some("web"));
    }

    #[test]
    fn drifted_view_carries_policy_fields() {
        let v = DeploymentView {
            deployment: cached(&dep(7, 7)),
            policy: Some(Arc::new(policy(3))),
            hpas: vec![],
            requests: vec![],
        };
        let p = deployment(&v);
        assert_eq!(p.desired_replicas, Some(3));
        assert_eq!(p.spec_replicas, 7);
        assert_eq!(p.sync_status, pb::SyncStatus::Drifted as i32);
        assert_eq!(p.reason, "spec.replicas is 7, declared 3");
        assert_eq!(p.mode, pb::Mode::Observe as i32);
        assert_eq!(p.guard, pb::Guard::Off as i32);
        assert_eq!(p.version, "7", "the version is the generation, not the resourceVersion");
        assert_eq!(p.last_set_by, "alice");
        assert!(p.last_set_at.is_some());
    }

    #[test]
    fn mode_mapping() {
        assert_eq!(mode_from_proto(pb::Mode::Observe as i32), Some(PolicyMode::Observe));
        assert_eq!(mode_from_proto(0), None);
        assert_eq!(mode_from_proto(99), None);
    }

    #[test]
    fn guard_mapping() {
        for g in PolicyGuard::ALL {
            assert_eq!(guard_from_proto(guard(g) as i32), Some(g));
        }
        assert_eq!(guard_from_proto(0), None);
        assert_eq!(guard_from_proto(99), None);
    }
}
