//! One test per row of the decision table in the module docs, plus the edges of each rule.

use super::*;
use crate::sync::ReplicaCounts;

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

const NOW: &str = "2026-11-29T10:00:00Z";

/// A Deployment at `spec_replicas`, fully rolled out at that count, generation 7.
fn deployment(spec_replicas: i32) -> DeploymentFacts {
    DeploymentFacts {
        observed: Observed {
            uid: "uid-1".into(),
            generation: 7,
            spec_replicas,
            status: ReplicaCounts {
                replicas: spec_replicas,
                updated: spec_replicas,
                ready: spec_replicas,
                available: spec_replicas,
                observed_generation: 7,
            },
        },
        paused: false,
        replicas_manager: Some("kubectl".into()),
    }
}

/// Declared 4 in Enforce mode (generation 2, applied), the Deployment at `spec_replicas`.
fn input(spec_replicas: i32) -> Input {
    Input {
        declaration: Declaration {
            target: "shop/api".into(),
            desired: Desired {
                replicas: 4,
                mode: Mode::Enforce,
                deployment_uid: Some("uid-1".into()),
                rule: Default::default(),
            },
            generation: 2,
            through_api: false,
            set_at: None,
            set_by: None,
            read_generation: None,
            rules: Rules::default(),
        },
        deployment: Some(deployment(spec_replicas)),
        hpas: vec![],
        record: Record { applied_generation: 2, reported: Some(SyncStatus::InSync), ..Default::default() },
        limits: Limits::default(),
        now: at(NOW),
    }
}

/// The same input with a declaration made through the API at `set_at` by `alice`, generation
/// 3, after the writer read Deployment generation 7.
fn declared_through_api(spec_replicas: i32, set_at: &str) -> Input {
    let mut i = input(spec_replicas);
    i.declaration.generation = 3;
    i.declaration.through_api = true;
    i.declaration.set_at = Some(at(set_at));
    i.declaration.set_by = Some("alice".into());
    i.declaration.read_generation = Some(7);
    i
}

fn reasons(p: &Plan) -> Vec<&'static str> {
    p.events.iter().map(|e| e.reason).collect()
}

fn synced(p: &Plan) -> &ConditionChange {
    p.conditions.iter().rev().find(|c| c.type_ == CONDITION_SYNCED).expect("Synced is always set")
}

fn suspended_condition(p: &Plan) -> Option<&ConditionChange> {
    p.conditions.iter().find(|c| c.type_ == CONDITION_SUSPENDED)
}

// === row 1: Deployment missing ===

#[test]
fn row_01_missing_deployment_is_recorded_and_nothing_is_written() {
    let mut i = input(4);
    i.deployment = None;
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Missing);
    assert_eq!(p.sync.status, SyncStatus::Conflict);
    assert_eq!(p.sync.reason, "Deployment shop/api does not exist");
    assert_eq!((p.spec_replicas, p.ready_replicas), (None, None));
    assert_eq!(synced(&p).reason, "DeploymentNotFound");
    assert!(!synced(&p).status);
    assert!(p.events.is_empty());
    assert_eq!(p.requeue_after, i.limits.resync);
}

// === row 2: an HPA owns the count ===

#[test]
fn row_02_hpa_is_never_fought_and_reported_once_on_entering() {
    let mut i = input(9);
    i.hpas = vec!["api-hpa".into()];
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(p.decision.scale_to(), None);
    assert_eq!(p.sync.status, SyncStatus::Conflict);
    assert_eq!(p.sync.reason, "HorizontalPodAutoscaler api-hpa targets this Deployment");
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].reason, REASON_CONFLICT);
    assert!(p.events[0].warning);
    assert_eq!(p.events[0].note, "HorizontalPodAutoscaler api-hpa targets this Deployment; not enforcing");
    assert_eq!(p.spec_replicas, Some(9), "reports the count the HPA set");

    i.record.reported = Some(SyncStatus::Conflict);
    assert!(plan(&i).events.is_empty(), "already reported: no second Event");
}

// === row 3: re-created Deployment (UID mismatch) ===

#[test]
fn row_03_policy_pinned_to_another_uid_is_a_conflict() {
    let mut i = input(1);
    i.declaration.desired.deployment_uid = Some("uid-old".into());
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(p.sync.status, SyncStatus::Conflict);
    assert!(p.sync.reason.contains("UID uid-old") && p.sync.reason.contains("uid-1"), "{}", p.sync.reason);
    assert_eq!(reasons(&p), [REASON_CONFLICT]);
}

// === row 4: suspended, cool-down running ===

#[test]
fn row_04_suspension_in_force_writes_nothing_and_wakes_at_its_end() {
    let mut i = input(9);
    i.record.suspended = true;
    i.record.suspended_since = Some(at("2026-11-29T09:58:00Z"));
    i.record.last_corrected_by = Some("hpa-like-bot".into());
    i.record.reported = Some(SyncStatus::Conflict);
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(p.sync.status, SyncStatus::Conflict);
    assert_eq!(p.sync.reason, "enforcement suspended: field manager \"hpa-like-bot\" keeps changing spec.replicas");
    assert!(p.events.is_empty());
    assert_eq!(suspended_condition(&p), None, "already recorded: unchanged");
    // 300 s cool-down from 09:58:00 ends at 10:03:00, 180 s from now.
    assert_eq!(p.requeue_after, Duration::from_secs(180));
    assert!(!p.memory.forget_suspension);
}

#[test]
fn row_04b_a_suspension_this_leader_decided_is_recorded_even_if_the_status_lags() {
    let mut i = input(4);
    i.record.suspended = false;
    i.record.suspended_since = Some(at("2026-11-29T09:59:00Z"));
    let p = plan(&i);
    let c = suspended_condition(&p).expect("Suspended set");
    assert!(c.status);
    assert_eq!(c.reason, "FlapGuard");
    assert_eq!(p.sync.status, SyncStatus::Conflict);
}

// === row 5: suspension over ===

#[test]
fn row_05_cool_down_over_resumes_and_then_corrects() {
    let mut i = input(9);
    i.record.suspended = true;
    i.record.suspended_since = Some(at("2026-11-29T09:50:00Z"));
    i.record.corrections = vec![at("2026-11-29T09:49:59Z"); 5];
    let p = plan(&i);
    assert_eq!(reasons(&p), [REASON_RESUMED, REASON_DRIFT_CORRECTED]);
    let c = suspended_condition(&p).expect("Suspended cleared");
    assert!(!c.status);
    assert_eq!(c.reason, "CoolDownOver");
    assert!(p.memory.forget_suspension && p.memory.forget_corrections);
    assert_eq!(p.decision, Decision::Correct { from: 9, to: 4, by: "kubectl".into() });
}

#[test]
fn row_05b_declaring_again_ends_a_suspension_before_its_cool_down() {
    let mut i = input(4);
    i.record.suspended = true;
    i.record.suspended_since = Some(at("2026-11-29T09:59:00Z"));
    i.declaration.set_at = Some(at("2026-11-29T09:59:30Z"));
    let p = plan(&i);
    assert_eq!(reasons(&p), [REASON_RESUMED]);
    assert_eq!(p.sync.status, SyncStatus::InSync);
    // Declared before the suspension began: the suspension stands.
    i.declaration.set_at = Some(at("2026-11-29T09:58:00Z"));
    assert_eq!(plan(&i).sync.status, SyncStatus::Conflict);
}

#[test]
fn row_05c_declaring_again_in_the_second_the_suspension_began_ends_it() {
    let mut i = input(4);
    i.record.suspended = true;
    // This leader's own record of the trip: finer than a millisecond.
    i.record.suspended_since = Some(at("2026-11-29T09:59:59.400300Z"));
    for (set_at, ends) in [
        ("2026-11-29T09:59:59.700Z", true),
        // The same millisecond: the order cannot be told; the declaration wins.
        ("2026-11-29T09:59:59.400Z", true),
        ("2026-11-29T09:59:59.399Z", false),
        // Whole seconds (as written before issue 28): the second began before the trip.
        ("2026-11-29T09:59:59Z", false),
    ] {
        i.declaration.set_at = Some(at(set_at));
        let p = plan(&i);
        assert_eq!(p.sync.status == SyncStatus::InSync, ends, "declared at {set_at}: {:?}", p.sync);
        assert_eq!(reasons(&p) == [REASON_RESUMED], ends, "declared at {set_at}");
    }
}

// === row 6: in sync, or converging ===

#[test]
fn row_06_in_sync_is_a_noop() {
    let p = plan(&input(4));
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(p.sync, SyncState { status: SyncStatus::InSync, reason: String::new() });
    assert!(p.events.is_empty());
    let c = synced(&p);
    assert!(c.status);
    assert_eq!((c.reason, c.message.as_str()), ("InSync", "spec.replicas and status match the declared count"));
    assert_eq!((p.spec_replicas, p.ready_replicas), (Some(4), Some(4)));
    assert_eq!(p.requeue_after, Duration::from_secs(300));
}

#[test]
fn row_06b_rollout_in_progress_is_progressing_not_drift() {
    let mut i = input(4);
    if let Some(d) = i.deployment.as_mut() {
        d.observed.status.ready = 2;
    }
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(p.sync.status, SyncStatus::Progressing);
    assert_eq!(synced(&p).reason, "Progressing");
    assert_eq!(p.ready_replicas, Some(2));
}

#[test]
fn row_06c_a_new_declaration_already_in_effect_counts_as_applied() {
    let mut i = input(4);
    i.declaration.generation = 5;
    let p = plan(&i);
    assert_eq!(p.applied_generation, 5);
    assert_eq!(p.decision, Decision::Noop);
}

// === row 7: a declaration through the API, left to the writer ===

#[test]
fn row_07_api_declaration_is_left_to_the_writer_within_the_grace() {
    let i = declared_through_api(3, "2026-11-29T09:59:58Z");
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Wait { left: Duration::from_secs(3) });
    assert_eq!(p.sync.status, SyncStatus::Progressing);
    assert_eq!(p.sync.reason, "declared 4 (version 3); waiting for it to be applied");
    assert!(p.events.is_empty(), "a declaration is not a drift");
    assert!(p.last_correction.is_none() && !p.memory.record_correction);
    assert!(p.memory.waiting);
    assert_eq!(p.applied_generation, 2);
    assert_eq!(p.requeue_after, Duration::from_millis(3050));
}

#[test]
fn row_07b_a_skewed_clock_cannot_stretch_the_wait() {
    // The writer's clock runs a minute ahead; this leader has seen the declaration for 5 s.
    let mut i = declared_through_api(3, "2026-11-29T10:01:00Z");
    i.record.pending_for = Duration::from_secs(5);
    assert_eq!(plan(&i).decision.scale_to(), Some(4));
}

#[test]
fn row_07c_the_same_count_declared_again_over_a_drift_waits_too() {
    // Generation 2 is already applied; the writer read generation 7 and has not scaled yet.
    let mut i = declared_through_api(3, "2026-11-29T09:59:59Z");
    i.declaration.generation = 2;
    assert!(matches!(plan(&i).decision, Decision::Wait { .. }));
}

// === row 8: drift in Observe mode ===

#[test]
fn row_08_observe_mode_reports_drift_once_and_never_writes() {
    let mut i = input(7);
    i.declaration.desired.mode = Mode::Observe;
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Report);
    assert_eq!(p.decision.scale_to(), None);
    assert_eq!(p.sync.status, SyncStatus::Drifted);
    assert_eq!(reasons(&p), [REASON_DRIFT_DETECTED]);
    assert_eq!(p.events[0].note, "spec.replicas is 7 (set by kubectl), declared 4; Observe mode: not corrected");
    assert_eq!(p.spec_replicas, Some(7));
    i.record.reported = Some(SyncStatus::Drifted);
    assert!(plan(&i).events.is_empty());
}

// === row 9: applying a declaration ===

#[test]
fn row_09_a_gitops_declaration_is_applied_not_corrected() {
    let mut i = input(3);
    i.declaration.generation = 3;
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Apply { from: 3, to: 4 });
    assert_eq!(reasons(&p), [REASON_REPLICAS_APPLIED]);
    assert_eq!(
        p.events[0].note,
        "spec.replicas 3 -> 4: applied version 3 of the declaration (declared in the ReplicaPolicy)"
    );
    assert_eq!(p.applied_generation, 3);
    assert!(p.last_correction.is_none() && !p.memory.record_correction, "no drift, no flap guard");
    assert_eq!(p.sync.status, SyncStatus::Progressing);
    assert_eq!(p.spec_replicas, Some(4));
}

#[test]
fn row_09b_an_api_declaration_whose_write_never_came_is_applied_after_the_grace() {
    let p = plan(&declared_through_api(3, "2026-11-29T09:59:50Z"));
    assert_eq!(p.decision, Decision::Apply { from: 3, to: 4 });
    assert_eq!(
        p.events[0].note,
        "spec.replicas 3 -> 4: applied version 3 of the declaration (declared by alice through the API, whose own scale write had not come within 5s)"
    );
    assert!(!p.memory.waiting);
}

#[test]
fn row_09c_a_declaration_in_observe_mode_is_reported_not_applied() {
    let mut i = input(3);
    i.declaration.generation = 3;
    i.declaration.desired.mode = Mode::Observe;
    assert_eq!(plan(&i).decision, Decision::Report);
}

// === row 11: the flap guard ===

#[test]
fn row_11_flap_guard_trips_after_flap_max_corrections_in_the_window() {
    let mut i = input(9);
    i.record.corrections = vec![at("2026-11-29T09:59:10Z"); 5];
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Suspend { by: "kubectl".into() });
    assert_eq!(p.decision.scale_to(), None);
    assert!(p.memory.suspend && !p.memory.record_correction);
    assert_eq!(p.sync.status, SyncStatus::Conflict);
    assert_eq!(reasons(&p), [REASON_SUSPENDED], "no ConflictDetected besides its own Event");
    assert!(p.events[0].warning);
    assert_eq!(
        p.events[0].note,
        "field manager kubectl keeps changing spec.replicas; scalekeeper stops enforcing for 300s"
    );
    let c = suspended_condition(&p).expect("Suspended set");
    assert!(c.status);
    assert_eq!(
        c.message,
        "field manager \"kubectl\" keeps changing spec.replicas: more than 5 corrections within 60s; enforcement suspended for 300s"
    );
    assert_eq!(p.last_correction, Some(CorrectionRecord { from: 9, to: 4, field_manager: Some("kubectl".into()) }));
}

#[test]
fn row_11b_corrections_outside_the_window_do_not_count() {
    let mut i = input(9);
    i.record.corrections = vec![at("2026-11-29T09:58:59Z"); 5];
    i.record.corrections.extend([at("2026-11-29T09:59:30Z"); 4]);
    assert!(matches!(plan(&i).decision, Decision::Correct { .. }));
}

// === row 12: drift in Enforce mode ===

#[test]
fn row_12_drift_is_corrected_naming_who_changed_it() {
    let i = input(11);
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Correct { from: 11, to: 4, by: "kubectl".into() });
    assert_eq!(p.decision.scale_to(), Some(4));
    assert_eq!(reasons(&p), [REASON_DRIFT_CORRECTED]);
    assert_eq!(p.events[0].note, "spec.replicas 11 -> 4 (it had been changed by kubectl)");
    assert!(p.memory.record_correction);
    assert_eq!(p.last_correction, Some(CorrectionRecord { from: 11, to: 4, field_manager: Some("kubectl".into()) }));
    assert_eq!(p.sync.reason, "corrected spec.replicas 11 -> 4; waiting for the rollout");
    assert_eq!(p.spec_replicas, Some(4));
    assert_eq!(synced(&p).reason, "Progressing");
}

#[test]
fn row_12b_each_correction_names_its_own_from_count() {
    let notes: Vec<String> = [11, 12, 13].iter().map(|n| plan(&input(*n)).events[0].note.clone()).collect();
    assert_eq!(notes[2], "spec.replicas 13 -> 4 (it had been changed by kubectl)");
    assert!(notes[0] != notes[1] && notes[1] != notes[2]);
}

#[test]
fn row_12c_an_unrecorded_writer_is_named_as_such() {
    let mut i = input(11);
    if let Some(d) = i.deployment.as_mut() {
        d.replicas_manager = None;
    }
    let p = plan(&i);
    assert_eq!(p.events[0].note, format!("spec.replicas 11 -> 4 (it had been changed by {UNKNOWN_MANAGER})"));
    assert_eq!(p.last_correction.and_then(|c| c.field_manager), None);
}

#[test]
fn row_12d_an_api_declaration_overtaken_by_another_change_is_a_drift() {
    // The writer read generation 7; the Deployment is at 8 now, and not at the declared count.
    let mut i = declared_through_api(9, "2026-11-29T09:59:59Z");
    if let Some(d) = i.deployment.as_mut() {
        d.observed.generation = 8;
        d.observed.status.observed_generation = 8;
    }
    let p = plan(&i);
    assert_eq!(p.applied_generation, 3);
    assert_eq!(reasons(&p), [REASON_DRIFT_CORRECTED]);
}

#[test]
fn row_12e_a_paused_deployment_is_corrected_like_any_other() {
    let mut i = input(11);
    if let Some(d) = i.deployment.as_mut() {
        d.paused = true;
    }
    let mut unpaused = i.clone();
    if let Some(d) = unpaused.deployment.as_mut() {
        d.paused = false;
    }
    assert_eq!(plan(&i), plan(&unpaused));
}

#[test]
fn plan_is_a_function_of_its_input() {
    let i = declared_through_api(3, "2026-11-29T09:59:58Z");
    assert_eq!(plan(&i), plan(&i.clone()));
}

// === row 10 (and the effective count): holds and schedules, transitions by time ===

/// `i` with a hold of 10 until `until` (placed by alice for INC-123), recorded as applied.
fn held(mut i: Input, until: &str) -> Input {
    i.declaration.rules.hold = Some(crate::rules::Hold {
        replicas: 10,
        until: at(until),
        reason: "INC-123".into(),
        set_by: Some("alice".into()),
        set_at: Some(at("2026-11-29T09:00:00Z")),
    });
    i.record.applied_rule = Some(format!("Hold/{}", at(until)));
    i
}

#[test]
fn a_hold_in_effect_is_in_sync_and_looks_again_at_its_expiry() {
    let p = plan(&held(input(10), "2026-11-29T10:00:02Z"));
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(p.sync.status, SyncStatus::InSync);
    assert_eq!(p.effective.replicas, 10);
    assert!(p.events.is_empty(), "{:?}", p.events);
    assert_eq!(p.requeue_after, Duration::from_millis(2000 + TRANSITION_SLACK_MS));
    assert_eq!(p.applied_rule, "Hold/2026-11-29T10:00:02Z");
}

#[test]
fn drift_during_a_hold_is_corrected_to_the_held_count() {
    let p = plan(&held(input(7), "2026-11-29T12:00:00Z"));
    assert_eq!(p.decision, Decision::Correct { from: 7, to: 10, by: "kubectl".into() });
    assert_eq!(reasons(&p), [REASON_DRIFT_CORRECTED]);
}

#[test]
fn row_10_an_expired_hold_is_applied_back_as_a_transition_not_a_drift() {
    // The hold ended 1 ms ago; the Deployment still has the held 10.
    let mut i = held(input(10), "2026-11-29T09:59:59.999Z");
    i.record.corrections = vec![at(NOW); 5]; // a full flap guard does not matter: no drift
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Apply { from: 10, to: 4 });
    assert_eq!(reasons(&p), [REASON_HOLD_EXPIRED]);
    assert_eq!(
        p.events[0].note,
        "the hold of 10 (INC-123, placed by alice) expired; the declared count applies: 4 replicas; spec.replicas 10 -> 4"
    );
    assert_eq!(p.applied_rule, "Declared");
    assert!(!p.memory.record_correction, "a transition is not counted by the flap guard");
    assert_eq!(p.sync.status, SyncStatus::Progressing);
    assert_eq!(p.requeue_after, Limits::default().resync);
}

#[test]
fn row_05d_a_rule_taking_over_by_time_ends_a_suspension_and_is_applied_at_once() {
    // Held at 10 until 1 ms ago. Someone kept scaling to 12 and the flap guard suspended
    // enforcement a minute ago; its cool-down has 4 minutes to run.
    let suspended = |i: Input| {
        let mut i = i;
        i.record.suspended = true;
        i.record.suspended_since = Some(at("2026-11-29T09:59:00Z"));
        i.record.last_corrected_by = Some("kubectl".into());
        i.record.reported = Some(SyncStatus::Conflict);
        i.record.corrections = vec![at("2026-11-29T09:58:59Z"); 5];
        i
    };
    let p = plan(&suspended(held(input(12), "2026-11-29T09:59:59.999Z")));
    // The expiry is a declaration made in advance: like one made now, it ends the suspension,
    // and it is applied at once, not at the end of the cool-down.
    assert_eq!(reasons(&p), [REASON_RESUMED, REASON_HOLD_EXPIRED]);
    assert_eq!(p.events[0].note, "the declared count took over by time: enforcing again");
    assert_eq!(p.decision, Decision::Apply { from: 12, to: 4 });
    let c = suspended_condition(&p).expect("Suspended cleared");
    assert_eq!((c.status, c.reason), (false, "RuleTookOver"));
    assert!(p.memory.forget_suspension && p.memory.forget_corrections);
    assert!(!p.memory.record_correction, "a transition is not counted by the flap guard");
    assert_eq!((p.sync.status, p.applied_rule.as_str()), (SyncStatus::Progressing, "Declared"));
    // A window that began ends it too.
    let p = plan(&suspended(weekend(input(12))));
    assert_eq!(reasons(&p), [REASON_RESUMED, REASON_WINDOW_STARTED]);
    assert_eq!(p.decision, Decision::Apply { from: 12, to: 1 });
    // The same window's next occurrence is no new rule: the suspension stands.
    let mut next_day = suspended(weekend(input(12)));
    next_day.record.applied_rule = Some("Window/0/2026-11-27T23:00:00Z".into());
    let p = plan(&next_day);
    assert_eq!((p.decision.clone(), p.sync.status), (Decision::Noop, SyncStatus::Conflict));
    assert!(p.events.is_empty(), "{:?}", p.events);
    // Nor does a rule already recorded as applied.
    let mut applied = suspended(held(input(12), "2026-11-29T09:59:59.999Z"));
    applied.record.applied_rule = Some(DECLARED_KEY.into());
    let p = plan(&applied);
    assert_eq!((p.decision.clone(), p.sync.status), (Decision::Noop, SyncStatus::Conflict));
}

#[test]
fn an_expired_hold_in_observe_mode_is_reported_not_applied() {
    let mut i = held(input(10), "2026-11-29T09:00:00Z");
    i.declaration.desired.mode = Mode::Observe;
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Report);
    assert_eq!(p.sync.reason, "spec.replicas is 10, declared 4");
}

#[test]
fn a_hold_written_with_kubectl_is_applied_as_a_hold_started() {
    let mut i = held(input(4), "2026-11-29T12:00:00Z");
    i.declaration.generation = 3; // the hold is a new generation
    i.record.applied_rule = None;
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Apply { from: 4, to: 10 });
    assert_eq!(reasons(&p), [REASON_HOLD_STARTED]);
    assert!(p.events[0].note.contains("hold until 2026-11-29T12:00:00Z by alice: INC-123"), "{}", p.events[0].note);
    assert_eq!((p.applied_generation, p.applied_rule.as_str()), (3, "Hold/2026-11-29T12:00:00Z"));
}

#[test]
fn a_hold_expiry_already_in_effect_is_announced_once_without_a_write() {
    // Declared 4, held at 10 until an hour ago; someone already scaled back to 4.
    let p = plan(&held(input(4), "2026-11-29T09:00:00Z"));
    assert_eq!(p.decision, Decision::Noop);
    assert_eq!(reasons(&p), [REASON_HOLD_EXPIRED]);
    assert_eq!(p.applied_rule, "Declared");
    let mut again = held(input(4), "2026-11-29T09:00:00Z");
    again.record.applied_rule = Some(p.applied_rule);
    assert!(plan(&again).events.is_empty());
}

#[test]
fn the_effective_count_is_kept_within_the_bounds() {
    let mut i = input(6);
    i.declaration.rules.bounds = crate::rules::Bounds { min: None, max: Some(3) };
    let p = plan(&i);
    assert_eq!(p.effective.replicas, 3);
    assert_eq!(p.decision, Decision::Correct { from: 6, to: 3, by: "kubectl".into() });
}

/// `i` with a weekend window at 1 replica in Berlin (2026-11-29 is a Sunday).
fn weekend(mut i: Input) -> Input {
    i.declaration.rules.schedule = vec![crate::rules::Scheduled::parse("Sat-Sun 00:00-24:00 Europe/Berlin", 1)];
    i
}

#[test]
fn row_10b_a_window_that_began_is_applied_as_a_transition_and_looks_again_at_its_end() {
    let p = plan(&weekend(input(4)));
    assert_eq!(p.decision, Decision::Apply { from: 4, to: 1 });
    assert_eq!(reasons(&p), [REASON_WINDOW_STARTED]);
    assert!(
        p.events[0].note.starts_with(
            "schedule window \"Sat-Sun 00:00-24:00 Europe/Berlin\" until 2026-11-29T23:00:00Z began: 1 replicas"
        ),
        "{}",
        p.events[0].note
    );
    // Sunday 00:00 Berlin is 2026-11-28T23:00Z; the occurrence ends at Monday 00:00 Berlin.
    assert_eq!(p.applied_rule, "Window/0/2026-11-28T23:00:00Z");
    // The end is 13 h away: the periodic resync comes first.
    assert_eq!(p.requeue_after, Limits::default().resync);
    // The next day's occurrence of the same window is no news.
    let mut next_day = weekend(input(1));
    next_day.record.applied_rule = Some("Window/0/2026-11-27T23:00:00Z".into());
    let p = plan(&next_day);
    assert_eq!((p.decision.clone(), p.events.len()), (Decision::Noop, 0));
    assert_eq!(p.applied_rule, "Window/0/2026-11-28T23:00:00Z");
}

#[test]
fn row_10c_a_window_that_ended_returns_to_the_declared_count() {
    let mut i = weekend(input(1));
    i.now = at("2026-11-30T08:00:00Z"); // Monday
    i.record.applied_rule = Some("Window/0/2026-11-28T23:00:00Z".into());
    let p = plan(&i);
    assert_eq!(p.decision, Decision::Apply { from: 1, to: 4 });
    assert_eq!(reasons(&p), [REASON_WINDOW_ENDED]);
    assert_eq!(p.applied_rule, "Declared");
}
