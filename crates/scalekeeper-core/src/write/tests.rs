//! One test per row of the write plan's table in the module docs, plus the request rules the
//! plan applies.

use super::*;
use crate::rules::{Bound, RuleKind};

mod two_person;

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// A Sunday (2026-11-29), with milliseconds, so the stamp and a hold's expiry show them.
const NOW: &str = "2026-11-29T10:00:00.250Z";

/// The policy of shop/api: declares `replicas`, Enforce, guard Off, pinned to `uid-1`,
/// generation 2, not suspended.
fn policy(replicas: i32) -> Policy {
    Policy {
        spec: Spec { replicas, deployment_uid: Some("uid-1".into()), ..Spec::default() },
        generation: Some(2),
        created_by_freeze: None,
        suspended: false,
    }
}

fn declare(replicas: i32) -> Change {
    Change::Declare { replicas, mode: None, guard: None, bounds: BoundsChange::Keep }
}

fn hold(replicas: i32, duration: Duration) -> Change {
    Change::Hold {
        replicas,
        duration,
        reason: "INC-1".into(),
        mode: None,
        guard: None,
        bounds: BoundsChange::Keep,
        freeze: false,
    }
}

/// A freeze's hold of `replicas` for two hours, for `INC-9`.
fn freeze(replicas: i32) -> Change {
    Change::Hold {
        replicas,
        duration: Duration::from_secs(7200),
        reason: "INC-9".into(),
        mode: None,
        guard: None,
        bounds: BoundsChange::Keep,
        freeze: true,
    }
}

/// [`active_hold`], placed by a freeze.
fn active_freeze() -> HoldSpec {
    HoldSpec { freeze: true, reason: "INC-9".into(), ..active_hold() }
}

fn window(text: &str, replicas: i32) -> WindowSpec {
    WindowSpec { window: text.into(), replicas }
}

/// A hold of 10 placed by alice, until noon (active at [`NOW`]).
fn active_hold() -> HoldSpec {
    HoldSpec {
        replicas: 10,
        until: "2026-11-29T12:00:00.000Z".into(),
        reason: "INC-1".into(),
        set_by: Some("alice".into()),
        set_at: Some("2026-11-29T09:00:00Z".into()),
        freeze: false,
    }
}

/// One write, with everything the plan reads: by default alice's `change` to shop/api, whose
/// policy declares 4 and whose Deployment is at 4 (UID `uid-1`, generation 7), no HPA, the
/// first attempt, default guard Off.
struct Case {
    request: Request<'static>,
    policy: Option<Policy>,
    deployment: DeploymentFacts,
    hpas: Vec<String>,
    attempt: Attempt,
    default_guard: Guard,
    now: Timestamp,
}

impl Case {
    fn new(change: Change) -> Self {
        Case {
            request: Request {
                namespace: "shop",
                name: "api",
                change,
                expected_version: "",
                if_current: None,
                dry_run: false,
                identity: "alice",
                approval: None,
            },
            policy: Some(policy(4)),
            deployment: DeploymentFacts { spec_replicas: 4, uid: Some("uid-1".into()), generation: 7 },
            hpas: vec![],
            attempt: Attempt::First,
            default_guard: Guard::Off,
            now: at(NOW),
        }
    }

    /// With the Deployment at `spec_replicas`.
    fn at_spec(mut self, spec_replicas: i32) -> Self {
        self.deployment.spec_replicas = spec_replicas;
        self
    }

    /// With no policy.
    fn unmanaged(mut self) -> Self {
        self.policy = None;
        self
    }

    /// The policy's spec, to change.
    fn spec(&mut self) -> &mut Spec {
        &mut self.policy.as_mut().expect("the case has a policy").spec
    }

    fn plan(&self) -> Result<WritePlan, Refusal> {
        plan(&Input {
            request: &self.request,
            policy: self.policy.clone(),
            deployment: self.deployment.clone(),
            hpas: &self.hpas,
            attempt: self.attempt,
            default_guard: self.default_guard,
            now: self.now,
        })
    }

    fn ok(&self) -> WritePlan {
        self.plan().expect("the write goes ahead")
    }

    fn refused(&self) -> Refusal {
        self.plan().expect_err("the write is refused")
    }
}

/// The stamp of alice's write at [`NOW`], Deployment generation 7.
fn stamp() -> Stamp {
    Stamp {
        set_by: "alice".into(),
        set_at: "2026-11-29T10:00:00.250Z".into(),
        deployment_generation: "7".into(),
        created_by_freeze: None,
    }
}

/// The policy write that creates `p`'s policy, stamped by [`stamp`].
fn created(p: &WritePlan) -> PolicyWrite {
    PolicyWrite::Create { spec: p.spec_after.clone().expect("a policy after"), stamp: stamp() }
}

/// The policy write that replaces the policy with `p`'s, stamped by [`stamp`].
fn replaced(p: &WritePlan) -> PolicyWrite {
    PolicyWrite::Replace { spec: p.spec_after.clone().expect("a policy after"), stamp: stamp() }
}

fn note(p: &WritePlan) -> String {
    p.event.as_ref().expect("an Event").note(ScaleResult::Done)
}

/// Asserts that `p` writes nothing: no policy write, no scale, no Event.
fn writes_nothing(p: &WritePlan) {
    assert_eq!(p.policy, PolicyWrite::Nothing);
    assert_eq!(p.scale_to, None);
    assert_eq!(p.event, None);
}

// === row 1: an HPA owns the count ===

#[test]
fn row_01_an_hpa_owns_the_count_and_only_a_delete_goes_ahead() {
    let changes = [declare(5), hold(5, Duration::from_secs(60)), Change::EndHold, Change::Schedule(vec![])];
    for change in changes {
        let mut c = Case::new(change);
        c.hpas = vec!["api-hpa".into(), "other".into()];
        let r = c.refused();
        assert_eq!(
            r,
            Refusal::HpaOwnsCount { namespace: "shop".into(), hpa: "api-hpa".into(), deployment: "api".into() }
        );
        assert_eq!(
            r.to_string(),
            "HorizontalPodAutoscaler shop/api-hpa targets Deployment shop/api: it owns the replica count; scalekeeper \
             will not fight it (delete the HPA or leave scaling to it)"
        );
        // Before every other check, and for a dry run too.
        c.request.expected_version = "x";
        c.request.dry_run = true;
        assert!(matches!(c.refused(), Refusal::HpaOwnsCount { .. }));
    }
    let mut c = Case::new(Change::Delete);
    c.hpas = vec!["api-hpa".into()];
    assert!(!c.request.change.checks_hpas(), "the writer does not even list them");
    assert_eq!(c.ok().policy, PolicyWrite::Delete);
}

// === row 2: expected_version is not a version ===

#[test]
fn row_02_an_expected_version_that_is_no_version_is_invalid() {
    let mut c = Case::new(declare(5)).unmanaged();
    c.request.expected_version = "v3";
    let r = c.refused();
    assert_eq!(
        r,
        Refusal::Invalid(Violation {
            field: "expected_version".into(),
            description: "\"v3\" is not a version this API returns (a positive integer)".into(),
        })
    );
    assert_eq!(r.to_string(), "expected_version: \"v3\" is not a version this API returns (a positive integer)");
    c.request.expected_version = "0";
    assert!(matches!(c.refused(), Refusal::Invalid(v) if v.field == "expected_version"));
}

// === row 3: a stale or missing version ===

#[test]
fn row_03_a_stale_or_missing_version_is_refused() {
    let mut c = Case::new(declare(5));
    c.request.expected_version = "3";
    let r = c.refused();
    assert_eq!(
        r,
        Refusal::VersionMismatch { namespace: "shop".into(), name: "api".into(), expected: 3, current: Some(2) }
    );
    assert_eq!(
        r.to_string(),
        "ReplicaPolicy shop/api is at version 2, not the expected 3: the declaration changed since you read it; get \
         it again and retry"
    );
    c.request.expected_version = "2";
    let p = c.ok();
    assert_eq!(p.policy, replaced(&p), "at the expected version: written");

    let mut c = c.unmanaged();
    c.request.expected_version = "1";
    let r = c.refused();
    assert_eq!(
        r,
        Refusal::VersionMismatch { namespace: "shop".into(), name: "api".into(), expected: 1, current: None }
    );
    assert_eq!(r.to_string(), "ReplicaPolicy shop/api does not exist, but version 1 was expected; get it and retry");
    // A policy without a recorded generation is at no version.
    let mut c = Case::new(Change::Delete);
    c.request.expected_version = "2";
    if let Some(p) = c.policy.as_mut() {
        p.generation = None;
    }
    assert!(matches!(c.refused(), Refusal::VersionMismatch { current: None, .. }));
}

// === row 4: --if-current, overtaken on a retry ===

#[test]
fn row_04_if_current_after_a_conflict_with_a_moved_generation_is_refused() {
    let mut c = Case::new(declare(5));
    c.request.if_current = Some(4);
    c.attempt = Attempt::Retry { first_generation: Some(1) };
    let r = c.refused();
    assert_eq!(r, Refusal::Overtaken { namespace: "shop".into(), name: "api".into(), want: 4 });
    assert_eq!(
        r.to_string(),
        "another declaration of Deployment shop/api landed while this one was being written; read the state again \
         (--if-current 4 may no longer hold)"
    );
    // The policy appeared since the first try.
    c.attempt = Attempt::Retry { first_generation: None };
    assert!(matches!(c.refused(), Refusal::Overtaken { .. }));
    // Only a status write moved the resourceVersion: the generation stands, and so does the write.
    c.attempt = Attempt::Retry { first_generation: Some(2) };
    let p = c.ok();
    assert_eq!(p.policy, replaced(&p));
    // Without --if-current a retry writes over whatever landed.
    c.request.if_current = None;
    c.attempt = Attempt::Retry { first_generation: Some(1) };
    assert!(c.plan().is_ok());
}

#[test]
fn attempts_remember_the_generation_the_first_try_read() {
    let p = policy(4);
    assert_eq!(Attempt::First.next(Some(&p)), Attempt::Retry { first_generation: Some(2) });
    assert_eq!(Attempt::First.next(None), Attempt::Retry { first_generation: None });
    let no_generation = Policy { generation: None, ..policy(4) };
    assert_eq!(Attempt::First.next(Some(&no_generation)), Attempt::Retry { first_generation: Some(0) });
    let retry = Attempt::Retry { first_generation: Some(2) };
    assert_eq!(retry.next(None), retry, "a retry keeps the first try's");
}

// === row 5: --if-current, another spec.replicas ===

#[test]
fn row_05_if_current_that_is_not_spec_replicas_is_refused() {
    let mut c = Case::new(declare(5));
    c.request.if_current = Some(3);
    let r = c.refused();
    assert_eq!(r, Refusal::NotCurrent { namespace: "shop".into(), name: "api".into(), spec: 4, want: 3 });
    assert_eq!(r.to_string(), "Deployment shop/api has spec.replicas 4, not the expected 3 (--if-current)");
    c.request.if_current = Some(4);
    assert_eq!(c.ok().scale_to, Some(5));
    // A dry run checks the same.
    c.request.if_current = Some(3);
    c.request.dry_run = true;
    assert!(matches!(c.refused(), Refusal::NotCurrent { .. }));
}

// === row 6: --if-current, not settled ===

#[test]
fn row_06_if_current_on_an_unsettled_policy_is_refused() {
    let mut c = Case::new(declare(5));
    c.spec().replicas = 6;
    c.request.if_current = Some(4);
    let r = c.refused();
    assert_eq!(r, Refusal::Unsettled { namespace: "shop".into(), name: "api".into(), spec: 4, effective: 6 });
    assert_eq!(
        r.to_string(),
        "Deployment shop/api has spec.replicas 4 but its policy's effective count is 6: a declaration is being \
         applied (or a drift corrected); --if-current needs a settled state, retry shortly"
    );
    // The effective count is what settles: a hold of 4 over a declared 6 is settled.
    c.spec().hold = Some(HoldSpec { replicas: 4, ..active_hold() });
    assert!(c.plan().is_ok());
    // No policy: nothing to settle.
    let mut c = Case::new(declare(5)).unmanaged();
    c.request.if_current = Some(4);
    let p = c.ok();
    assert_eq!(p.policy, created(&p));
}

// === row 7: a hold past the clock's range ===

#[test]
fn row_07_a_hold_past_the_clocks_range_is_refused() {
    let c = Case::new(hold(10, Duration::MAX));
    let r = c.refused();
    assert_eq!(r, Refusal::Invalid(Violation { field: "hold_for".into(), description: "too long a hold".into() }));
    assert_eq!(r.to_string(), "hold_for: too long a hold");
    assert_eq!(
        hold_until(at(NOW), crate::rules::MAX_HOLD),
        Ok(at("2026-12-29T10:00:00.250Z")),
        "the longest hold the API places is fine"
    );
}

// === rows 8 and 9: bounds ===

#[test]
fn row_08_bounds_that_contradict_are_refused() {
    let c = Case::new(Change::Declare {
        replicas: 4,
        mode: None,
        guard: None,
        bounds: BoundsChange::Set { min: Some(5), max: Some(3) },
    });
    let r = c.refused();
    assert_eq!(r, Refusal::OutOfBounds(BoundsError::Inverted { min: 5, max: 3 }));
    assert_eq!(r.to_string(), "minReplicas 5 is greater than maxReplicas 3");
    // One bound set against the other one kept.
    let mut c = Case::new(Change::Declare {
        replicas: 4,
        mode: None,
        guard: None,
        bounds: BoundsChange::Set { min: Some(9), max: None },
    });
    c.spec().max_replicas = Some(8);
    assert_eq!(c.refused(), Refusal::OutOfBounds(BoundsError::Inverted { min: 9, max: 8 }));
}

#[test]
fn row_09_a_count_outside_the_bounds_is_refused() {
    let mut c = Case::new(declare(9));
    c.spec().max_replicas = Some(8);
    let r = c.refused();
    assert_eq!(
        r,
        Refusal::OutOfBounds(BoundsError::Outside {
            what: "the declared count".into(),
            count: 9,
            bound: Bound::Max(8)
        })
    );
    assert_eq!(r.to_string(), "the declared count 9 is above the policy's maxReplicas 8");
    c.request.change = hold(10, Duration::from_secs(60));
    assert_eq!(c.refused().to_string(), "the hold's count 10 is above the policy's maxReplicas 8");
    c.request.change = Change::Schedule(vec![window("Sat-Sun 00:00-24:00 UTC", 0)]);
    c.spec().min_replicas = Some(1);
    assert_eq!(
        c.refused().to_string(),
        "the count of schedule window \"Sat-Sun 00:00-24:00 UTC\" 0 is below the policy's minReplicas 1"
    );
    // Bounds that the write sets are checked against the counts it keeps.
    let c = Case::new(Change::Declare {
        replicas: 4,
        mode: None,
        guard: None,
        bounds: BoundsChange::Set { min: Some(5), max: None },
    });
    assert_eq!(c.refused().to_string(), "the declared count 4 is below the policy's minReplicas 5");
}

// === row 10: dry run ===

#[test]
fn row_10_a_dry_run_writes_nothing_and_reports_the_same_outcome() {
    let changes = [
        declare(6),
        hold(10, Duration::from_secs(600)),
        Change::Schedule(vec![window("Sat-Sun 00:00-24:00 UTC", 1)]),
        Change::Delete,
    ];
    for change in changes {
        let mut c = Case::new(change);
        c.policy.as_mut().expect("policy").suspended = true;
        let real = c.ok();
        c.request.dry_run = true;
        let dry = c.ok();
        writes_nothing(&dry);
        assert_eq!(dry.spec_after, real.spec_after, "the policy as it would be");
        assert!(dry.outcome.dry_run && !real.outcome.dry_run);
        assert_eq!(Outcome { dry_run: false, ..dry.outcome }, real.outcome);
    }
}

// === row 11: no hold to end ===

#[test]
fn row_11_ending_a_hold_when_none_is_active_writes_nothing() {
    let mut c = Case::new(Change::EndHold);
    c.policy.as_mut().expect("policy").suspended = true;
    let p = c.ok();
    writes_nothing(&p);
    assert_eq!(p.spec_after, c.policy.as_ref().map(|p| p.spec.clone()), "the policy as it is");
    assert_eq!((p.outcome.effective_before, p.outcome.effective_after, p.outcome.spec_after), (4, 4, 4));
    assert!(p.outcome.enforcement_suspended && !p.outcome.resumes_enforcement);
    // An expired hold is not active either, and stays in the spec.
    c.spec().hold = Some(HoldSpec { until: "2026-11-29T09:00:00Z".into(), ..active_hold() });
    let p = c.ok();
    writes_nothing(&p);
    assert!(p.spec_after.is_some_and(|s| s.hold.is_some()));
    // No policy: nothing to end.
    let p = Case::new(Change::EndHold).unmanaged().ok();
    writes_nothing(&p);
    assert_eq!(p.spec_after, None);
    assert_eq!(p.outcome.rule_after, None);
}

// === row 12: delete ===

#[test]
fn row_12_delete_removes_the_policy_without_scaling_or_an_event() {
    let mut c = Case::new(Change::Delete).at_spec(6);
    c.spec().replicas = 6;
    let p = c.ok();
    assert_eq!(p.policy, PolicyWrite::Delete);
    assert_eq!((p.spec_after, p.scale_to, p.event), (None, None, None));
    let o = &p.outcome;
    assert_eq!((o.effective_before, o.effective_after, o.spec_before, o.spec_after), (6, 6, 6, 6));
    assert_eq!((o.rule_after, o.rule_detail_after.as_str()), (None, ""));
    // The Deployment keeps the count it has, even one a hold set.
    c.spec().hold = Some(active_hold());
    let c = c.at_spec(10);
    let p = c.ok();
    assert_eq!((p.outcome.effective_before, p.outcome.effective_after, p.scale_to), (10, 10, None));
    // Nothing to delete.
    writes_nothing(&Case::new(Change::Delete).unmanaged().ok());
}

// === row 13: declare, no policy ===

#[test]
fn row_13_declaring_on_no_policy_creates_it_and_scales() {
    let mut c = Case::new(declare(5)).unmanaged().at_spec(2);
    c.default_guard = Guard::Warn;
    let p = c.ok();
    assert_eq!(p.policy, created(&p));
    assert_eq!(
        p.spec_after,
        Some(Spec {
            replicas: 5,
            mode: Mode::Enforce,
            guard: Guard::Warn,
            deployment_uid: Some("uid-1".into()),
            ..Spec::default()
        }),
        "Enforce, the default guard, pinned to the Deployment's UID"
    );
    assert_eq!(p.scale_to, Some(5));
    let event = p.event.as_ref().expect("an Event");
    assert_eq!(event.reason, REASON_REPLICAS_DECLARED);
    assert_eq!(
        event.note(ScaleResult::Done),
        "alice declared 5 replicas: spec.replicas 2 -> 5 (no count declared before)"
    );
    assert_eq!(
        event.note(ScaleResult::Failed),
        "alice declared 5 replicas: spec.replicas is still 2: scaling to 5 failed, the reconciler will apply it (no \
         count declared before)"
    );
    let o = &p.outcome;
    assert_eq!((o.effective_before, o.effective_after, o.spec_before, o.spec_after), (2, 5, 2, 5));
    assert_eq!((o.rule_after, o.rule_detail_after.as_str()), (Some(RuleKind::Declared), "declared count"));
    assert!(o.conflicts.is_empty() && !o.enforcement_suspended && !o.resumes_enforcement);
    // A guard the write sets wins over the default.
    c.request.change =
        Change::Declare { replicas: 5, mode: None, guard: Some(Guard::Deny), bounds: BoundsChange::Keep };
    assert_eq!(c.ok().spec_after.map(|s| s.guard), Some(Guard::Deny));
}

// === row 14: declare the count already declared ===

#[test]
fn row_14_declaring_the_count_already_declared_writes_and_records_who_and_when() {
    let c = Case::new(declare(4));
    let p = c.ok();
    assert_eq!(p.policy, replaced(&p), "who and when are recorded again");
    assert_eq!(p.spec_after, c.policy.as_ref().map(|p| p.spec.clone()), "the spec is unchanged");
    assert_eq!(p.scale_to, None);
    assert_eq!(note(&p), "alice declared 4 replicas: spec.replicas stays 4 (declared before: 4)");
    // Over a drift, the same declaration scales back.
    let p = Case::new(declare(4)).at_spec(9).ok();
    assert_eq!(p.scale_to, Some(4));
    assert_eq!(note(&p), "alice declared 4 replicas: spec.replicas 9 -> 4 (declared before: 4)");
    // A policy written for a Deployment since re-created is pinned to the new one.
    let mut c = Case::new(declare(4));
    c.spec().deployment_uid = Some("uid-old".into());
    assert_eq!(c.ok().spec_after.and_then(|s| s.deployment_uid).as_deref(), Some("uid-1"));
}

// === row 15: bounds ===

#[test]
fn row_15_declaring_with_bounds_sets_or_clears_them() {
    let with = |bounds| Change::Declare { replicas: 4, mode: None, guard: None, bounds };
    let mut c = Case::new(with(BoundsChange::Set { min: Some(2), max: None }));
    c.spec().max_replicas = Some(8);
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!((s.min_replicas, s.max_replicas), (Some(2), Some(8)), "the bound not given is kept");
    c.request.change = with(BoundsChange::Clear);
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!((s.min_replicas, s.max_replicas), (None, None));
    c.request.change = with(BoundsChange::Keep);
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!((s.min_replicas, s.max_replicas), (None, Some(8)));
}

#[test]
fn bounds_changes_come_from_the_request_fields() {
    assert_eq!(BoundsChange::from_request(None, None, false), BoundsChange::Keep);
    assert_eq!(BoundsChange::from_request(Some(1), None, false), BoundsChange::Set { min: Some(1), max: None });
    assert_eq!(BoundsChange::from_request(None, Some(9), false), BoundsChange::Set { min: None, max: Some(9) });
    assert_eq!(BoundsChange::from_request(None, None, true), BoundsChange::Clear);
}

// === row 16: mode and guard ===

#[test]
fn row_16_mode_and_guard_are_set_when_given_and_kept_otherwise() {
    let mut c = Case::new(declare(5));
    c.spec().mode = Mode::Observe;
    c.spec().guard = Guard::Deny;
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!((s.mode, s.guard), (Mode::Observe, Guard::Deny), "kept");
    c.default_guard = Guard::Warn;
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!(s.guard, Guard::Deny, "the default guard is only a new policy's");
    c.request.change =
        Change::Declare { replicas: 5, mode: Some(Mode::Enforce), guard: Some(Guard::Off), bounds: BoundsChange::Keep };
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!((s.mode, s.guard), (Mode::Enforce, Guard::Off), "set");
    c.request.change = Change::Hold {
        replicas: 5,
        duration: Duration::from_secs(60),
        reason: "INC-1".into(),
        mode: None,
        guard: Some(Guard::Warn),
        bounds: BoundsChange::Keep,
        freeze: false,
    };
    let s = c.ok().spec_after.expect("a policy");
    assert_eq!((s.mode, s.guard), (Mode::Observe, Guard::Warn), "a hold sets them too");
}

// === row 17: place a hold ===

#[test]
fn row_17_placing_a_hold_records_its_expiry_who_and_when() {
    let p = Case::new(hold(10, Duration::from_secs(7200))).ok();
    assert_eq!(p.policy, replaced(&p));
    let s = p.spec_after.as_ref().expect("a policy");
    assert_eq!(s.replicas, 4, "the declared count stays");
    assert_eq!(
        s.hold,
        Some(HoldSpec {
            replicas: 10,
            until: "2026-11-29T12:00:00.250Z".into(),
            reason: "INC-1".into(),
            set_by: Some("alice".into()),
            set_at: Some("2026-11-29T10:00:00Z".into()),
            freeze: false,
        }),
        "expiry to the millisecond, placed in whole seconds"
    );
    assert_eq!(p.scale_to, Some(10));
    let event = p.event.as_ref().expect("an Event");
    assert_eq!(event.reason, REASON_HOLD_STARTED);
    assert_eq!(
        event.note(ScaleResult::Done),
        "alice placed a hold of 10 replicas until 2026-11-29T12:00:00.250Z (INC-1): spec.replicas 4 -> 10"
    );
    let o = &p.outcome;
    assert_eq!((o.effective_before, o.effective_after, o.rule_after), (4, 10, Some(RuleKind::Hold)));
    assert_eq!(o.rule_detail_after, "hold until 2026-11-29T12:00:00Z by alice: INC-1");
    // On no policy, the hold comes with a declaration of the current spec.replicas.
    let p = Case::new(hold(10, Duration::from_secs(60))).unmanaged().at_spec(3).ok();
    assert_eq!(p.policy, created(&p));
    assert_eq!(p.spec_after.map(|s| s.replicas), Some(3));
}

// === row 18: end the active hold ===

#[test]
fn row_18_ending_the_active_hold_returns_to_the_rule_that_applies() {
    let mut c = Case::new(Change::EndHold).at_spec(10);
    c.spec().hold = Some(active_hold());
    let p = c.ok();
    assert_eq!(p.policy, replaced(&p));
    assert_eq!(p.spec_after.as_ref().map(|s| s.hold.is_none()), Some(true));
    assert_eq!(p.scale_to, Some(4));
    let event = p.event.as_ref().expect("an Event");
    assert_eq!(event.reason, REASON_HOLD_CLEARED);
    assert_eq!(
        event.note(ScaleResult::Done),
        "alice ended the hold early; the declared count applies: spec.replicas 10 -> 4"
    );
    assert_eq!((p.outcome.effective_before, p.outcome.effective_after), (10, 4));
}

// === rows 19 and 20: the schedule ===

#[test]
fn row_19_setting_a_schedule_scales_to_a_window_covering_now() {
    let windows = vec![window("Sat-Sun 00:00-24:00 UTC", 1), window("Mon-Fri 08:00-20:00 Europe/Berlin", 6)];
    let p = Case::new(Change::Schedule(windows.clone())).ok();
    assert_eq!(p.policy, replaced(&p));
    assert_eq!(p.spec_after.as_ref().map(|s| &s.schedule), Some(&windows));
    assert_eq!(p.scale_to, Some(1), "Sunday: the weekend window");
    let event = p.event.as_ref().expect("an Event");
    assert_eq!(event.reason, REASON_SCHEDULE_CHANGED);
    assert_eq!(
        event.note(ScaleResult::Done),
        "alice set the schedule to \"Sat-Sun 00:00-24:00 UTC\" -> 1, \"Mon-Fri 08:00-20:00 Europe/Berlin\" -> 6: \
         spec.replicas 4 -> 1"
    );
    assert_eq!(p.outcome.rule_after, Some(RuleKind::Schedule));
    // A window's text is quoted with its controls escaped.
    let p = Case::new(Change::Schedule(vec![window("Mon 08:00-09:00 UTC\n", 2)])).ok();
    assert!(note(&p).contains("\"Mon 08:00-09:00 UTC\\n\" -> 2"), "{}", note(&p));
}

#[test]
fn row_20_clearing_the_schedule_returns_to_the_declared_count() {
    let mut c = Case::new(Change::Schedule(vec![])).at_spec(1);
    c.spec().schedule = vec![window("Sat-Sun 00:00-24:00 UTC", 1)];
    let p = c.ok();
    assert_eq!(p.spec_after.as_ref().map(|s| s.schedule.is_empty()), Some(true));
    assert_eq!(p.scale_to, Some(4));
    assert_eq!(note(&p), "alice cleared the schedule: spec.replicas 1 -> 4");
}

// === row 21: Observe mode ===

#[test]
fn row_21_an_observe_mode_policy_names_the_conflict_and_is_still_applied() {
    let c =
        Case::new(Change::Declare { replicas: 6, mode: Some(Mode::Observe), guard: None, bounds: BoundsChange::Keep });
    let p = c.ok();
    assert_eq!(
        p.outcome.conflicts,
        ["Observe mode: drift, and holds or windows that begin or end by time, are reported and not applied"]
    );
    assert_eq!(p.scale_to, Some(6), "a declaration through the API is applied once, in any mode");
    let p = Case::new(declare(6)).ok();
    assert!(p.outcome.conflicts.is_empty());
}

// === row 22: a suspended policy ===

#[test]
fn row_22_a_declaration_resumes_a_suspended_policy() {
    let mut c = Case::new(declare(4)).at_spec(9);
    c.policy.as_mut().expect("policy").suspended = true;
    let p = c.ok();
    assert!(p.outcome.enforcement_suspended && p.outcome.resumes_enforcement);
    assert_eq!(p.scale_to, Some(4));
    // So does every write that puts the policy; deleting it ends managing instead.
    c.request.change = Change::Schedule(vec![]);
    assert!(c.ok().outcome.resumes_enforcement);
    c.request.change = Change::Delete;
    let o = c.ok().outcome;
    assert!(o.enforcement_suspended && !o.resumes_enforcement);
}

// === the Event's note ===

#[test]
fn notes_say_what_became_of_spec_replicas() {
    let e =
        WriteEvent { reason: REASON_REPLICAS_DECLARED, what: "bob did it".into(), tail: String::new(), from: 3, to: 3 };
    assert_eq!(e.note(ScaleResult::Done), "bob did it: spec.replicas stays 3");
    let e = WriteEvent { to: 5, tail: " (why)".into(), ..e };
    assert_eq!(e.note(ScaleResult::Done), "bob did it: spec.replicas 3 -> 5 (why)");
    assert_eq!(
        e.note(ScaleResult::Failed),
        "bob did it: spec.replicas is still 3: scaling to 5 failed, the reconciler will apply it (why)"
    );
}

// === row 23: a freeze's hold ===

#[test]
fn row_23_a_freezes_hold_is_marked_and_a_policy_it_creates_records_the_generation() {
    // On a managed Deployment: the hold marked, the declaration kept, no mark of creation.
    let p = Case::new(freeze(4)).ok();
    let s = p.spec_after.as_ref().expect("a policy");
    let h = s.hold.as_ref().expect("a hold");
    assert!(h.freeze && h.replicas == 4 && h.reason == "INC-9", "{h:?}");
    assert_eq!(s.replicas, 4);
    assert_eq!(p.policy, replaced(&p), "no created-by-freeze mark on a policy someone declared");
    assert_eq!(p.scale_to, None, "held at the effective count: nothing moves");
    assert_eq!(
        note(&p),
        "alice placed a freeze's hold of 4 replicas until 2026-11-29T12:00:00.250Z (INC-9): spec.replicas stays 4"
    );
    // On an unmanaged Deployment: created, declaring spec.replicas, marked as generation 1.
    let p = Case::new(freeze(3)).unmanaged().at_spec(3).ok();
    let spec = p.spec_after.clone().expect("a policy");
    assert_eq!(spec.replicas, 3);
    assert_eq!(p.policy, PolicyWrite::Create { spec, stamp: Stamp { created_by_freeze: Some(1), ..stamp() } });
    // Frozen again while nothing else was declared: the mark follows to the next generation.
    let mut c = Case::new(freeze(3)).at_spec(3);
    c.spec().replicas = 3;
    c.spec().hold = Some(active_freeze());
    c.policy.as_mut().expect("policy").created_by_freeze = Some(2);
    let p = c.ok();
    let PolicyWrite::Replace { stamp: st, .. } = &p.policy else { panic!("replaced: {:?}", p.policy) };
    assert_eq!(st.created_by_freeze, Some(3));
    // A declaration since (the generation moved): the mark is dropped, by a freeze or any write.
    c.policy.as_mut().expect("policy").created_by_freeze = Some(1);
    let PolicyWrite::Replace { stamp: st, .. } = c.ok().policy else { panic!("replaced") };
    assert_eq!(st.created_by_freeze, None);
    c.policy.as_mut().expect("policy").created_by_freeze = Some(2);
    c.request.change = declare(3);
    let PolicyWrite::Replace { stamp: st, .. } = c.ok().policy else { panic!("replaced") };
    assert_eq!(st.created_by_freeze, None, "a declaration is not the freeze's");
    // A hold placed by SetReplicas is never a freeze's.
    let p = Case::new(hold(4, Duration::from_secs(60))).unmanaged().ok();
    assert!(p.spec_after.and_then(|s| s.hold).is_some_and(|h| !h.freeze));
}

// === row 24: thaw deletes the policy a freeze created ===

#[test]
fn row_24_thawing_a_policy_the_freeze_created_deletes_it() {
    let mut c = Case::new(Change::Thaw).at_spec(3);
    c.spec().replicas = 3;
    c.spec().hold = Some(HoldSpec { replicas: 3, ..active_freeze() });
    c.policy.as_mut().expect("policy").created_by_freeze = Some(2);
    let p = c.ok();
    assert_eq!(p.policy, PolicyWrite::Delete);
    assert_eq!((p.spec_after.as_ref(), p.scale_to), (None, None), "unmanaged again, at the count it has");
    let event = p.event.as_ref().expect("an Event");
    assert_eq!(event.reason, REASON_HOLD_CLEARED);
    assert_eq!(
        note(&p),
        "alice thawed the freeze: its ReplicaPolicy, which the freeze created, is deleted and the Deployment is \
         unmanaged again: spec.replicas stays 3"
    );
    assert!(!p.outcome.nothing_to_do);
    assert_eq!(p.outcome.rule_after, None);
    // Even once the freeze's hold expired: the policy is still only the freeze's.
    c.spec().hold = Some(HoldSpec { until: "2026-11-29T09:00:00Z".into(), ..active_freeze() });
    assert_eq!(c.ok().policy, PolicyWrite::Delete);
    // A dry run says so and deletes nothing.
    c.request.dry_run = true;
    let p = c.ok();
    writes_nothing(&p);
    assert!(!p.outcome.nothing_to_do && p.spec_after.is_none());
}

// === row 25: thaw, no freeze's hold ===

#[test]
fn row_25_thawing_without_an_active_freeze_hold_writes_nothing() {
    // A hold SetReplicas placed stays.
    let mut c = Case::new(Change::Thaw).at_spec(10);
    c.spec().hold = Some(active_hold());
    let p = c.ok();
    writes_nothing(&p);
    assert!(p.outcome.nothing_to_do);
    assert_eq!(p.spec_after.and_then(|s| s.hold), Some(active_hold()));
    // A freeze's hold that expired: nothing to end.
    c.spec().hold = Some(HoldSpec { until: "2026-11-29T09:00:00Z".into(), ..active_freeze() });
    assert!(c.ok().outcome.nothing_to_do);
    // A policy a freeze created, declared since (the generation moved): not deleted.
    c.policy.as_mut().expect("policy").created_by_freeze = Some(1);
    let p = c.ok();
    writes_nothing(&p);
    assert!(p.outcome.nothing_to_do);
    // No hold, no policy.
    assert!(Case::new(Change::Thaw).ok().outcome.nothing_to_do);
    let p = Case::new(Change::Thaw).unmanaged().ok();
    writes_nothing(&p);
    assert!(p.outcome.nothing_to_do && p.spec_after.is_none());
}

// === row 26: thaw the freeze's hold ===

#[test]
fn row_26_thawing_ends_the_freezes_hold_and_returns_to_the_rule_that_applies() {
    let mut c = Case::new(Change::Thaw).at_spec(10);
    c.spec().hold = Some(active_freeze());
    // Created by a freeze, but declared since: the hold ends, the policy stays.
    c.policy.as_mut().expect("policy").created_by_freeze = Some(1);
    let p = c.ok();
    assert_eq!(p.policy, replaced(&p), "the creation mark dropped");
    assert_eq!(p.spec_after.as_ref().map(|s| (s.replicas, s.hold.is_none())), Some((4, true)));
    assert_eq!(p.scale_to, Some(4));
    assert_eq!(p.event.as_ref().map(|e| e.reason), Some(REASON_HOLD_CLEARED));
    assert_eq!(note(&p), "alice thawed the freeze: its hold ended; the declared count applies: spec.replicas 10 -> 4");
    let o = &p.outcome;
    assert_eq!((o.effective_before, o.effective_after, o.rule_after), (10, 4, Some(RuleKind::Declared)));
    assert!(!o.nothing_to_do);
}
