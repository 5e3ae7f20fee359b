use super::*;
use crate::rules::{Bound, Bounds, Hold, Scheduled};
use crate::spec::{HoldSpec, WindowSpec};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn hold(replicas: i32, until: &str) -> Hold {
    Hold { replicas, until: at(until), reason: "INC-123".into(), set_by: Some("alice".into()), set_at: None }
}

// 2026-11-28 is a Saturday; Berlin is UTC+1 in winter.
const SATURDAY_NOON: &str = "2026-11-28T11:00:00Z";
const MONDAY_NIGHT: &str = "2026-11-30T22:00:00Z";

/// Weekends in Berlin at 1, Saturday 10:00-14:00 at 3 (listed after the weekend, so
/// overridden by it), working hours at 6, and a window whose text does not parse.
fn rules() -> Rules {
    Rules {
        hold: None,
        schedule: vec![
            Scheduled::parse("Sat-Sun 00:00-24:00 Europe/Berlin", 1),
            Scheduled::parse("Sat 10:00-14:00 Europe/Berlin", 3),
            Scheduled::parse("Mon-Fri 08:00-20:00 Europe/Berlin", 6),
            Scheduled::parse("Someday 10:00-14:00 Europe/Berlin", 9),
        ],
        bounds: Bounds::default(),
    }
}

fn verdicts(e: &Explanation) -> Vec<(String, Verdict)> {
    e.rules.iter().map(|c| (c.name.clone(), c.verdict)).collect()
}

/// The precedence rows: (what, rules, declared, instant).
fn rows() -> Vec<(&'static str, Rules, i32, Timestamp)> {
    let with_hold = |h: Hold| Rules { hold: Some(h), ..rules() };
    let bounded = |r: Rules, min, max| Rules { bounds: Bounds { min, max }, ..r };
    vec![
        ("no rules at all", Rules::default(), 4, at(SATURDAY_NOON)),
        ("declared: no window covers, no hold", rules(), 4, at(MONDAY_NIGHT)),
        ("the first covering window wins over a later one", rules(), 4, at(SATURDAY_NOON)),
        (
            "an active hold wins over covering windows",
            with_hold(hold(10, "2026-11-28T13:00:00Z")),
            4,
            at(SATURDAY_NOON),
        ),
        ("an expired hold is inactive", with_hold(hold(10, "2026-11-28T10:00:00Z")), 4, at(SATURDAY_NOON)),
        ("an active hold over the declared count", with_hold(hold(10, "2026-12-01T00:00:00Z")), 4, at(MONDAY_NIGHT)),
        (
            "bounds clamp a hold",
            bounded(with_hold(hold(10, "2026-11-28T13:00:00Z")), Some(2), Some(8)),
            4,
            at(SATURDAY_NOON),
        ),
        ("bounds clamp a window", bounded(rules(), Some(2), None), 4, at(SATURDAY_NOON)),
        ("bounds clamp the declared count", bounded(rules(), None, Some(3)), 4, at(MONDAY_NIGHT)),
        (
            "only invalid windows",
            Rules { schedule: vec![Scheduled::parse("Mon-Fri 08:00 UTC", 5)], ..Rules::default() },
            4,
            at(MONDAY_NIGHT),
        ),
    ]
}

#[test]
fn explain_agrees_with_effective_on_every_precedence_row() {
    for (what, r, declared, instant) in rows() {
        let e = r.explain(declared, instant);
        assert_eq!(e.effective, r.effective(declared, instant), "{what}");
        let winners: Vec<&Considered> = e.rules.iter().filter(|c| c.verdict == Verdict::Wins).collect();
        assert_eq!(winners.len(), 1, "{what}: exactly one rule wins: {:?}", verdicts(&e));
        let w = winners[0];
        assert_eq!(w.kind, e.effective.source.kind(), "{what}");
        if let Source::Window { index, .. } = e.effective.source {
            assert_eq!(w.index, Some(index), "{what}");
        }
        assert_eq!(r.bounds.clamp(w.replicas), (e.effective.replicas, e.effective.clamped), "{what}");
        // One entry per rule, in precedence order: the hold, the windows, the declared count.
        assert_eq!(e.rules.len(), usize::from(r.hold.is_some()) + r.schedule.len() + 1, "{what}");
        assert_eq!(e.rules.last().map(|c| c.kind), Some(RuleKind::Declared), "{what}");
        // Whatever ranks above the winner does not apply; everything below it that applies is
        // overridden.
        let win_at = e.rules.iter().position(|c| c.verdict == Verdict::Wins).unwrap_or_default();
        for c in &e.rules[..win_at] {
            assert!(matches!(c.verdict, Verdict::Inactive | Verdict::Invalid), "{what}: {c:?}");
        }
        for c in &e.rules[win_at + 1..] {
            assert_ne!(c.verdict, Verdict::Wins, "{what}: {c:?}");
        }
        for (c, s) in e.rules.iter().filter(|c| c.kind == RuleKind::Schedule).zip(&r.schedule) {
            if s.window.is_err() {
                assert_eq!(c.verdict, Verdict::Invalid, "{what}: {c:?}");
            }
        }
    }
}

#[test]
fn each_rule_says_why_in_words() {
    let r = Rules { hold: Some(hold(10, "2026-11-28T13:00:00Z")), ..rules() };
    let e = r.explain(4, at(SATURDAY_NOON));
    let d: Vec<(&str, i32, Verdict, &str)> =
        e.rules.iter().map(|c| (c.name.as_str(), c.replicas, c.verdict, c.detail.as_str())).collect();
    assert_eq!(
        d,
        [
            ("hold", 10, Verdict::Wins, "held until 2026-11-28T13:00:00Z by alice: INC-123"),
            (
                "schedule window \"Sat-Sun 00:00-24:00 Europe/Berlin\"",
                1,
                Verdict::Overridden,
                "covers the instant until 2026-11-29T00:00:00+01:00, overridden by the hold"
            ),
            (
                "schedule window \"Sat 10:00-14:00 Europe/Berlin\"",
                3,
                Verdict::Overridden,
                "covers the instant until 2026-11-28T14:00:00+01:00, overridden by the hold"
            ),
            (
                "schedule window \"Mon-Fri 08:00-20:00 Europe/Berlin\"",
                6,
                Verdict::Inactive,
                "next covers 2026-11-30T08:00:00+01:00"
            ),
            (
                "schedule window \"Someday 10:00-14:00 Europe/Berlin\"",
                9,
                Verdict::Invalid,
                "never applies: \"Someday\" is not a day or a range of days (Mon, Tue, Wed, Thu, Fri, Sat, Sun, or two joined by '-'); expected DAYS HH:MM-HH:MM ZONE, e.g. Mon-Fri 08:00-20:00 Europe/Berlin"
            ),
            ("declared count", 4, Verdict::Overridden, "overridden by the hold"),
        ]
    );
    // After the hold: the weekend window wins and overrides the later Saturday one.
    let r = Rules { hold: Some(hold(10, "2026-11-28T12:00:00Z")), ..rules() };
    let e = r.explain(4, at("2026-11-28T12:30:00Z"));
    assert_eq!(e.rules[0].detail, "expired at 2026-11-28T12:00:00Z by alice: INC-123");
    assert_eq!(e.rules[1].verdict, Verdict::Wins);
    assert_eq!(e.rules[1].detail, "covers the instant until 2026-11-29T00:00:00+01:00");
    assert_eq!(
        e.rules[2].detail,
        "covers the instant until 2026-11-28T14:00:00+01:00, overridden by schedule window \"Sat-Sun 00:00-24:00 Europe/Berlin\""
    );
    assert_eq!(e.rules[5].detail, "overridden by schedule window \"Sat-Sun 00:00-24:00 Europe/Berlin\"");
    // Monday night: the declared count.
    let e = rules().explain(4, at(MONDAY_NIGHT));
    assert_eq!(
        e.rules.last().map(|c| c.detail.as_str()),
        Some("no active hold, and no schedule window covers the instant")
    );
    assert_eq!(Rules::default().explain(4, at(MONDAY_NIGHT)).rules[0].detail, "no hold and no schedule");
}

#[test]
fn a_clamped_winner_names_the_bound() {
    let r = Rules {
        hold: Some(hold(10, "2026-11-28T13:00:00Z")),
        bounds: Bounds { min: Some(2), max: Some(8) },
        ..rules()
    };
    let e = r.explain(4, at(SATURDAY_NOON));
    assert_eq!((e.effective.replicas, e.effective.clamped), (8, Some(Bound::Max(8))));
    assert_eq!(e.rules[0].replicas, 10, "the rule's own count, before the bounds");
    assert_eq!(e.rules[0].detail, "held until 2026-11-28T13:00:00Z by alice: INC-123; kept within maxReplicas 8: 8");
}

#[test]
fn an_unreadable_hold_expiry_is_invalid() {
    let spec = Spec {
        replicas: 4,
        hold: Some(HoldSpec { replicas: 9, until: "tomorrow".into(), reason: "INC-1".into(), ..HoldSpec::default() }),
        schedule: vec![WindowSpec { window: "Mon-Sun 00:00-24:00 UTC".into(), replicas: 2 }],
        ..Spec::default()
    };
    let e = spec.explain(at(SATURDAY_NOON));
    assert_eq!(e.rules[0].verdict, Verdict::Invalid);
    assert_eq!(e.rules[0].detail, "never applies: its expiry \"tomorrow\" is not an RFC 3339 time");
    assert_eq!((e.effective.replicas, e.rules[1].verdict), (2, Verdict::Wins));
    // A readable one is left as the rules say.
    let ok = Spec {
        hold: Some(HoldSpec { until: "2026-11-28T13:00:00Z".into(), ..spec.hold.clone().unwrap_or_default() }),
        ..spec
    };
    assert_eq!(ok.explain(at(SATURDAY_NOON)).rules[0].verdict, Verdict::Wins);
}

#[test]
fn notes_name_the_autoscaler_the_suspension_the_fight_the_mode_and_the_guard() {
    let facts = Facts {
        policy: Some((Mode::Enforce, Guard::Deny)),
        suspension: Some(Suspension {
            since: Some(at("2026-11-28T11:00:00Z")),
            until: Some(at("2026-11-28T11:05:00Z")),
            manager: Some("argocd-controller".into()),
        }),
        autoscalers: vec![Autoscaler {
            name: "keda-hpa-web".into(),
            managed_by: Some("ScaledObject/web".into()),
            keda: true,
            paused_replicas: Some(2),
        }],
        owners: vec!["kubectl-patch".into(), "argocd-controller".into(), "scalekeeper".into()],
        others: vec!["kube-controller-manager".into()],
    };
    let n = notes(&facts);
    assert_eq!(n.len(), 4, "{n:#?}");
    assert!(
        n[0].starts_with("HorizontalPodAutoscaler keda-hpa-web, managed by KEDA's ScaledObject/web, owns the count"),
        "{}",
        n[0]
    );
    assert!(
        n[0].contains("holds the Deployment at 2 replicas (annotation autoscaling.keda.sh/paused-replicas)"),
        "{}",
        n[0]
    );
    assert!(n[1].contains("suspended by the flap guard since 2026-11-28T11:00:00Z"), "{}", n[1]);
    assert!(
        n[1].contains("\"argocd-controller\" keeps changing")
            && n[1].contains("resumes by itself at 2026-11-28T11:05:00Z"),
        "{}",
        n[1]
    );
    assert!(
        n[2].starts_with(
            "Argo CD (field manager argocd-controller) owns spec.replicas, so it and scalekeeper will fight"
        ),
        "{}",
        n[2]
    );
    assert!(n[2].contains("RespectIgnoreDifferences=true"), "the fix in full: {}", n[2]);
    assert!(n[3].starts_with("guard Deny: a write of spec.replicas that differs"), "{}", n[3]);

    let observe = Facts { policy: Some((Mode::Observe, Guard::Deny)), ..Facts::default() };
    assert_eq!(
        notes(&observe),
        [
            "Observe mode: drift is reported, never corrected",
            "guard Deny: the admission guard acts only in Enforce mode, so every write of spec.replicas is allowed",
        ]
    );
    for (guard, says) in [(Guard::Off, "is stored"), (Guard::Warn, "with a warning")] {
        let n = notes(&Facts { policy: Some((Mode::Enforce, guard)), ..Facts::default() });
        assert!(n.len() == 1 && n[0].contains(says), "{guard}: {n:?}");
    }
    // A tool that applies the Deployment but lost spec.replicas to another writer.
    let lost = Facts {
        policy: Some((Mode::Enforce, Guard::Off)),
        owners: vec!["kubectl-patch".into()],
        others: vec!["argocd-controller".into(), "kube-controller-manager".into()],
        ..Facts::default()
    };
    let n = notes(&lost);
    assert_eq!(n.len(), 2, "{n:#?}");
    assert!(
        n[0].starts_with("Argo CD (field manager argocd-controller) applies this Deployment but does not own spec.replicas since kubectl-patch set it; if its manifest sets replicas, its next sync sets the count back: each sync"),
        "{}",
        n[0]
    );
    // Unmanaged: said first; a tool owning the count is still worth knowing; no guard note.
    let unmanaged = Facts {
        owners: vec!["helm".into()],
        autoscalers: vec![Autoscaler { name: "web".into(), ..Autoscaler::default() }],
        ..Facts::default()
    };
    let n = notes(&unmanaged);
    assert_eq!(n.len(), 3, "{n:#?}");
    assert!(n[0].starts_with("no ReplicaPolicy declares a count"), "{}", n[0]);
    assert!(n[1].starts_with("HorizontalPodAutoscaler web owns the count"), "{}", n[1]);
    assert!(
        n[2].starts_with(
            "Helm (field manager helm) owns spec.replicas, so a count declared with scalekeeper would be fought over"
        ),
        "{}",
        n[2]
    );
}
