//! One test per row of the table in the module docs, the bound, and the undo rule.

use super::*;
use crate::plan::{Declaration, DeploymentFacts, Limits, Record, plan};
use crate::rules::{Hold, Rules, Scheduled};
use crate::sync::{Desired, Observed, ReplicaCounts};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// A Sunday.
const NOW: &str = "2026-11-29T10:00:00Z";

fn deployment(spec_replicas: i32, manager: Option<&str>) -> DeploymentFacts {
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
        replicas_manager: manager.map(str::to_owned),
    }
}

/// Declared 4 in Enforce mode (generation 2, applied), the Deployment at `spec_replicas`.
fn input(spec_replicas: i32) -> Input {
    Input {
        declaration: Declaration {
            target: "shop/web".into(),
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
        deployment: Some(deployment(spec_replicas, Some("kubectl"))),
        hpas: vec![],
        record: Record { applied_generation: 2, reported: Some(SyncStatus::InSync), ..Default::default() },
        limits: Limits::default(),
        now: at(NOW),
    }
}

/// What a status recorded after a look that saw declared 4 in effect.
fn settled() -> Recorded {
    Recorded { declared: Some(4), effective: Some(4), spec_replicas: Some(4), ..Default::default() }
}

fn hold(until: &str) -> Hold {
    Hold {
        replicas: 10,
        until: at(until),
        reason: "INC-123".into(),
        set_by: Some("bob".into()),
        set_at: Some(at("2026-11-29T09:00:00Z")),
    }
}

/// The look's entries as (kind, from, to, who).
fn summary(l: &Look) -> Vec<(ChangeKind, Option<i32>, i32, &str)> {
    l.entries.iter().map(|e| (e.kind, e.from, e.to, e.who.as_str())).collect()
}

fn run(i: &Input, r: &Recorded, editor: Option<&str>) -> Look {
    look(i, &plan(i), r, editor, &[])
}

#[test]
fn nothing_changed_records_nothing() {
    let l = run(&input(4), &settled(), None);
    assert!(l.entries.is_empty(), "{l:?}");
    assert_eq!((l.declared, l.hold), (4, None));
}

#[test]
fn declared_through_the_api_names_the_caller() {
    let mut i = input(7);
    i.declaration.desired.replicas = 7;
    i.declaration.generation = 3;
    i.declaration.through_api = true;
    i.declaration.set_by = Some("alice".into());
    i.declaration.set_at = Some(at(NOW));
    let l = run(&i, &settled(), Some("scalekeeper"));
    assert_eq!(summary(&l), [(ChangeKind::Declared, Some(4), 7, "alice")]);
    assert!(l.entries[0].reason.contains("through the API"), "{}", l.entries[0].reason);
    assert_eq!(l.entries[0].time, at(NOW), "the look's time");
    assert_eq!(l.declared, 7);
    // The next look: recorded once.
    let again = run(&i, &Recorded { declared: Some(7), effective: Some(7), spec_replicas: Some(7), ..settled() }, None);
    assert!(again.entries.is_empty(), "{again:?}");
}

#[test]
fn declared_by_editing_the_policy_names_the_editor_and_applies() {
    let mut i = input(4);
    i.declaration.desired.replicas = 6;
    i.declaration.generation = 3;
    let l = run(&i, &settled(), Some("kubectl-edit"));
    assert_eq!(
        summary(&l),
        [(ChangeKind::Declared, Some(4), 6, "kubectl-edit"), (ChangeKind::Applied, Some(4), 6, "kubectl-edit")]
    );
    assert!(l.entries[0].reason.contains("ReplicaPolicy was edited"), "{}", l.entries[0].reason);
    assert!(l.entries[1].reason.contains("version 3"), "{}", l.entries[1].reason);
}

#[test]
fn a_first_declaration_has_no_from() {
    let l = run(&input(4), &Recorded::default(), None);
    assert_eq!(summary(&l), [(ChangeKind::Declared, None, 4, "")]);
}

#[test]
fn a_hold_placed_is_recorded_once_with_who_and_reason() {
    let mut i = input(10);
    i.declaration.rules.hold = Some(hold("2026-11-29T12:00:00Z"));
    let l = run(&i, &settled(), None);
    assert_eq!(summary(&l), [(ChangeKind::HoldPlaced, Some(4), 10, "bob")]);
    assert!(l.entries[0].reason.starts_with("INC-123"), "{}", l.entries[0].reason);
    assert_eq!(l.hold.as_deref(), Some("Hold/2026-11-29T12:00:00Z"));
    let recorded = Recorded {
        hold: l.hold.clone(),
        effective: Some(10),
        spec_replicas: Some(10),
        applied_rule: Some(plan(&i).applied_rule),
        ..settled()
    };
    let mut next = i.clone();
    next.record.applied_rule = recorded.applied_rule.clone();
    assert!(run(&next, &recorded, None).entries.is_empty());
}

#[test]
fn a_hold_past_its_until_expired() {
    let mut i = input(10);
    i.declaration.rules.hold = Some(hold("2026-11-29T09:59:00Z"));
    i.record.applied_rule = Some("Hold/2026-11-29T09:59:00Z".into());
    let recorded = Recorded {
        hold: Some("Hold/2026-11-29T09:59:00Z".into()),
        effective: Some(10),
        applied_rule: i.record.applied_rule.clone(),
        ..settled()
    };
    let l = run(&i, &recorded, None);
    assert_eq!(summary(&l), [(ChangeKind::HoldExpired, Some(10), 4, "")]);
    assert!(l.entries[0].reason.contains("declared count applies"), "{}", l.entries[0].reason);
    assert_eq!(l.hold, None);
}

#[test]
fn a_hold_gone_before_its_until_was_cleared_by_the_writer() {
    let mut i = input(10);
    i.declaration.generation = 3;
    i.declaration.set_by = Some("carol".into());
    i.record.applied_rule = Some("Hold/2026-11-29T12:00:00Z".into());
    let recorded = Recorded {
        hold: Some("Hold/2026-11-29T12:00:00Z".into()),
        effective: Some(10),
        applied_rule: i.record.applied_rule.clone(),
        ..settled()
    };
    let l = run(&i, &recorded, None);
    assert_eq!(summary(&l)[0], (ChangeKind::HoldCleared, Some(10), 4, "carol"));
    assert!(l.entries[0].reason.contains("ended early"), "{}", l.entries[0].reason);
}

/// A Sat-Sun window of 1: it covers NOW.
fn weekend(mut i: Input) -> Input {
    i.declaration.rules.schedule = vec![Scheduled::parse("Sat-Sun 00:00-24:00 UTC", 1)];
    i
}

#[test]
fn a_window_started_and_ended() {
    let started = run(&weekend(input(4)), &settled(), None);
    assert_eq!(summary(&started), [(ChangeKind::WindowStarted, Some(4), 1, "")]);
    assert!(started.entries[0].reason.contains("Sat-Sun"), "{}", started.entries[0].reason);

    // The schedule is gone (or the window over): the declared count applies again.
    let mut i = input(1);
    i.record.applied_rule = Some("Window/0/2026-11-29T00:00:00Z".into());
    let recorded = Recorded {
        effective: Some(1),
        spec_replicas: Some(1),
        applied_rule: i.record.applied_rule.clone(),
        ..settled()
    };
    let ended = run(&i, &recorded, None);
    assert_eq!(summary(&ended), [(ChangeKind::WindowEnded, Some(1), 4, "")]);
}

#[test]
fn the_same_windows_next_occurrence_is_no_news() {
    let mut i = weekend(input(1));
    i.record.applied_rule = Some("Window/0/2026-11-28T00:00:00Z".into());
    let recorded = Recorded {
        effective: Some(1),
        spec_replicas: Some(1),
        applied_rule: i.record.applied_rule.clone(),
        ..settled()
    };
    let l = run(&i, &recorded, None);
    assert!(l.entries.is_empty(), "{l:?}");
}

#[test]
fn a_drift_corrected_names_the_field_manager_or_the_unrecorded_writer() {
    let l = run(&input(9), &settled(), None);
    assert_eq!(summary(&l), [(ChangeKind::DriftCorrected, Some(9), 4, "kubectl")]);
    let mut i = input(9);
    i.deployment = Some(deployment(9, None));
    let l = run(&i, &settled(), None);
    assert_eq!(summary(&l), [(ChangeKind::DriftCorrected, Some(9), 4, UNKNOWN_MANAGER)]);
}

#[test]
fn a_drift_in_observe_mode_is_observed_once() {
    let mut i = input(9);
    i.declaration.desired.mode = Mode::Observe;
    let l = run(&i, &settled(), None);
    assert_eq!(summary(&l), [(ChangeKind::DriftObserved, Some(4), 9, "kubectl")]);
    assert!(l.entries[0].reason.contains("Observe mode"), "{}", l.entries[0].reason);
    // The status now records spec.replicas 9: not again.
    i.record.reported = Some(SyncStatus::Drifted);
    assert!(run(&i, &Recorded { spec_replicas: Some(9), ..settled() }, None).entries.is_empty());
    // Changed again, to 8: a new observation.
    let mut j = i.clone();
    j.deployment = Some(deployment(8, Some("kubectl")));
    assert_eq!(
        summary(&run(&j, &Recorded { spec_replicas: Some(9), ..settled() }, None)),
        [(ChangeKind::DriftObserved, Some(9), 8, "kubectl")]
    );
}

#[test]
fn a_drift_while_the_flap_guard_trips_or_has_suspended_is_observed() {
    let mut i = input(9);
    let now = at(NOW);
    i.record.corrections = (1..=5).map(|s| now - jiff::SignedDuration::from_secs(s)).collect();
    let l = run(&i, &settled(), None);
    assert_eq!(summary(&l), [(ChangeKind::DriftObserved, Some(4), 9, "kubectl")]);
    assert!(l.entries[0].reason.contains("flap guard"), "{}", l.entries[0].reason);

    // Suspended since: a further change is observed, the same count is not.
    let mut s = input(8);
    s.record.suspended = true;
    s.record.suspended_since = Some(now - jiff::SignedDuration::from_secs(10));
    s.record.reported = Some(SyncStatus::Conflict);
    assert_eq!(
        summary(&run(&s, &Recorded { spec_replicas: Some(9), ..settled() }, None)),
        [(ChangeKind::DriftObserved, Some(9), 8, "kubectl")]
    );
    assert!(run(&s, &Recorded { spec_replicas: Some(8), ..settled() }, None).entries.is_empty());
}

#[test]
fn an_hpa_owning_the_count_is_no_drift() {
    let mut i = input(9);
    i.hpas = vec!["web".into()];
    assert!(run(&i, &settled(), None).entries.is_empty());
}

#[test]
fn a_missing_deployment_still_records_declarations() {
    let mut i = input(4);
    i.deployment = None;
    i.declaration.desired.replicas = 5;
    assert_eq!(summary(&run(&i, &settled(), None)), [(ChangeKind::Declared, Some(4), 5, "")]);
}

fn entry(kind: ChangeKind, from: Option<i32>, to: i32) -> Entry {
    Entry { time: at(NOW), from, to, kind, who: "alice".into(), reason: String::new() }
}

#[test]
fn the_history_keeps_the_newest_twenty() {
    let mut h = vec![];
    append(&mut h, (0..15).map(|n| entry(ChangeKind::Declared, Some(n), n + 1)));
    assert_eq!(h.len(), 15);
    append(&mut h, (15..25).map(|n| entry(ChangeKind::Declared, Some(n), n + 1)));
    assert_eq!(h.len(), MAX_HISTORY);
    assert_eq!(h.first().map(|e| e.to), Some(6), "the oldest dropped");
    assert_eq!(h.last().map(|e| e.to), Some(25), "newest last");
    append(&mut h, []);
    assert_eq!(h.len(), MAX_HISTORY);
}

#[test]
fn undo_declares_the_count_before_the_newest_declaration() {
    let h = vec![
        entry(ChangeKind::Declared, None, 3),
        entry(ChangeKind::Declared, Some(3), 5),
        entry(ChangeKind::DriftCorrected, Some(9), 5),
        entry(ChangeKind::Declared, Some(5), 7),
        entry(ChangeKind::HoldPlaced, Some(7), 10),
    ];
    let (undone, to) = undo(&h, 7).unwrap();
    assert_eq!((undone.from, undone.to, to), (Some(5), 7, 5));
    // The history has not seen the declaration of 8 yet.
    let e = undo(&h, 8).unwrap_err();
    assert_eq!(e, UndoRefusal::NotCaughtUp { declared: 8, newest: 7 });
    assert!(e.to_string().contains("retry"), "{e}");
    // A first declaration only, or none at all.
    assert_eq!(undo(&h[..1], 3).unwrap_err(), UndoRefusal::NothingToUndo);
    assert_eq!(undo(&h[2..3], 5).unwrap_err(), UndoRefusal::NothingToUndo);
    assert_eq!(undo(&[], 5).unwrap_err().to_string(), "nothing to undo: the history records no earlier declared count");
}

#[test]
fn kinds_round_trip_their_camel_case_names() {
    for k in ChangeKind::ALL {
        assert_eq!(k.as_str().parse::<ChangeKind>(), Ok(k));
    }
    assert_eq!(ChangeKind::HoldPlaced.to_string(), "HoldPlaced");
    assert!("holdPlaced".parse::<ChangeKind>().is_err());
}

fn refusal(time: &str, to: i32, count: i32) -> Refusal {
    Refusal { time: at(time), from: 4, to, by: "mallory".into(), count }
}

#[test]
fn guard_refusals_are_recorded_once_oldest_first() {
    let i = input(4);
    let p = plan(&i);
    let refusals = [refusal("2026-11-29T09:59:30Z", 0, 1), refusal("2026-11-29T09:59:10Z", 9, 3)];
    let l = look(&i, &p, &settled(), None, &refusals);
    assert_eq!(
        summary(&l),
        [(ChangeKind::GuardRefused, Some(4), 9, "mallory"), (ChangeKind::GuardRefused, Some(4), 0, "mallory")]
    );
    assert!(l.entries[0].reason.contains("seen 3 times"), "{}", l.entries[0].reason);
    assert_eq!(l.refused_until, Some(at("2026-11-29T09:59:30Z")));
    // Recorded up to then: only a newer one is new (a series that counted up has a newer time).
    let recorded = Recorded { refused_until: l.refused_until, ..settled() };
    assert!(look(&i, &p, &recorded, None, &refusals).entries.is_empty());
    let later = [refusals[0].clone(), refusal("2026-11-29T09:59:50Z", 0, 2)];
    let l = look(&i, &p, &recorded, None, &later);
    assert_eq!(summary(&l), [(ChangeKind::GuardRefused, Some(4), 0, "mallory")]);
    assert_eq!(l.refused_until, Some(at("2026-11-29T09:59:50Z")));
    // None at all keeps the mark.
    assert_eq!(look(&i, &p, &recorded, None, &[]).refused_until, recorded.refused_until);
}
