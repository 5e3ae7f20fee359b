//! The guard's table, one test per row (`row_NN_…`), plus the pieces the rows rely on.

use super::*;
use crate::approval::ApprovalRule;
use crate::rules::{Bounds, Hold, Scheduled};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// 2026-12-07 is a Monday; 10:00 UTC is 11:00 in Berlin.
const NOW: &str = "2026-12-07T10:00:00Z";

fn request(old: i32, new: i32) -> Request {
    Request {
        operation: Operation::Update,
        target: Target::Scale,
        namespace: "prod".into(),
        name: "checkout".into(),
        uid: Some("uid-1".into()),
        old_replicas: old,
        new_replicas: new,
        requester: Requester { user: "alice".into(), groups: vec!["system:authenticated".into(), "sre".into()] },
    }
}

fn declaration(declared: i32, guard: Guard) -> Declaration {
    Declaration {
        declared,
        mode: Mode::Enforce,
        guard,
        pinned_uid: Some("uid-1".into()),
        set_by: Some("spiffe://corp/oncall".into()),
        rules: Rules::default(),
        approval: None,
    }
}

fn exemptions() -> Exemptions {
    Exemptions::new(
        &[
            "user:system:serviceaccount:kube-system:horizontal-pod-autoscaler".parse().expect("exempt"),
            "group:system:serviceaccounts:keda".parse().expect("exempt"),
        ],
        vec!["breakglass".into()],
        Some("system:serviceaccount:scalekeeper:scalekeeper".into()),
    )
}

fn decide(request: &Request, declaration: Option<&Declaration>, hpas: &[String]) -> Verdict {
    review(&Input { request, declaration, hpas, exemptions: &exemptions(), now: at(NOW) })
}

fn deny() -> Declaration {
    declaration(6, Guard::Deny)
}

#[test]
fn row_01_only_updates_are_guarded() {
    for op in [Operation::Create, Operation::Delete, Operation::Connect] {
        let r = Request { operation: op, ..request(6, 0) };
        assert_eq!(decide(&r, Some(&deny()), &[]), Verdict::Allow(Pass::NotAnUpdate), "{op:?}");
    }
}

#[test]
fn row_02_status_writes_are_not_guarded() {
    let r = Request { target: Target::of(Some("status")), ..request(6, 0) };
    assert_eq!(decide(&r, Some(&deny()), &[]), Verdict::Allow(Pass::OtherSubresource("status".into())));
}

#[test]
fn row_03_a_template_only_update_passes() {
    // `kubectl rollout restart` patches the pod template: spec.replicas stays.
    let r = Request { target: Target::Deployment, ..request(3, 3) };
    assert_eq!(decide(&r, Some(&deny()), &[]), Verdict::Allow(Pass::ReplicasUnchanged));
}

#[test]
fn row_04_a_deployment_without_a_policy_passes() {
    assert_eq!(decide(&request(6, 0), None, &[]), Verdict::Allow(Pass::Unmanaged));
}

#[test]
fn row_05_a_policy_of_another_deployment_uid_does_not_guard() {
    let r = Request { uid: Some("uid-2".into()), ..request(6, 0) };
    assert_eq!(decide(&r, Some(&deny()), &[]), Verdict::Allow(Pass::PinnedElsewhere));
    // Unpinned, or a request without a UID: the policy applies.
    let unpinned = Declaration { pinned_uid: None, ..deny() };
    assert!(matches!(decide(&r, Some(&unpinned), &[]), Verdict::Deny { .. }));
    let no_uid = Request { uid: None, ..request(6, 0) };
    assert!(matches!(decide(&no_uid, Some(&deny()), &[]), Verdict::Deny { .. }));
}

#[test]
fn row_06_an_hpa_owns_the_count() {
    let v = decide(&request(6, 9), Some(&deny()), &["checkout".into()]);
    assert_eq!(v, Verdict::Allow(Pass::Hpa("checkout".into())));
}

#[test]
fn row_07_observe_mode_is_not_guarded() {
    let d = Declaration { mode: Mode::Observe, ..deny() };
    assert_eq!(decide(&request(6, 0), Some(&d), &[]), Verdict::Allow(Pass::Observe));
}

#[test]
fn row_08_guard_off_passes() {
    assert_eq!(decide(&request(6, 0), Some(&declaration(6, Guard::Off)), &[]), Verdict::Allow(Pass::GuardOff));
}

#[test]
fn row_09_a_write_of_the_effective_count_passes() {
    // Drifted to 2; a write back to 6 (a person fixing it, or the reconciler) is allowed.
    assert_eq!(decide(&request(2, 6), Some(&deny()), &[]), Verdict::Allow(Pass::Effective));
    // The effective count, not the declared one: a hold of 10 makes 10 the one allowed.
    let mut held = deny();
    held.rules.hold = Some(Hold {
        replicas: 10,
        until: at("2026-12-07T14:02:00Z"),
        reason: "INC-123".into(),
        set_by: Some("bob".into()),
        set_at: None,
    });
    assert_eq!(decide(&request(6, 10), Some(&held), &[]), Verdict::Allow(Pass::Effective));
    assert!(matches!(decide(&request(10, 6), Some(&held), &[]), Verdict::Deny { .. }), "6 is not in force now");
}

#[test]
fn row_10_scalekeepers_own_writes_are_exempt() {
    // Its writer scales to a count the answering replica's cache may not show yet.
    let mut r = request(6, 8);
    r.requester.user = "system:serviceaccount:scalekeeper:scalekeeper".into();
    assert_eq!(decide(&r, Some(&deny()), &[]), Verdict::Exempt(Exemption::Own));
}

#[test]
fn row_11_exempt_users_and_groups() {
    let mut r = request(6, 9);
    r.requester.user = "system:serviceaccount:kube-system:horizontal-pod-autoscaler".into();
    assert_eq!(
        decide(&r, Some(&deny()), &[]),
        Verdict::Exempt(Exemption::User("system:serviceaccount:kube-system:horizontal-pod-autoscaler".into()))
    );
    let mut keda = request(6, 0);
    keda.requester = Requester {
        user: "system:serviceaccount:keda:keda-operator".into(),
        groups: vec!["system:serviceaccounts:keda".into()],
    };
    assert_eq!(
        decide(&keda, Some(&deny()), &[]),
        Verdict::Exempt(Exemption::Group("system:serviceaccounts:keda".into()))
    );
}

#[test]
fn row_12_break_glass_is_allowed_and_says_the_reconciler_still_enforces() {
    let mut r = request(6, 0);
    r.requester.groups.push("breakglass".into());
    let v = decide(&r, Some(&deny()), &[]);
    let Verdict::BreakGlass { group, message } = &v else { panic!("{v:?}") };
    assert_eq!(group, "breakglass");
    assert_eq!(
        message,
        "prod/checkout: spec.replicas 6 -> 0 allowed by break-glass group breakglass: replicas are declared at 6 by \
         spiffe://corp/oncall; change them with scalekeeper set prod/checkout N; the write is audited, and the \
         reconciler still sets it back to 6 unless the declaration changes"
    );
    assert!(v.allowed() && v.is_audited());
    assert_eq!(v.decision(), Decision::BreakGlass);
    // An exemption wins over break-glass: nothing to announce.
    let mut both = r.clone();
    both.requester.groups.push("system:serviceaccounts:keda".into());
    assert!(matches!(decide(&both, Some(&deny()), &[]), Verdict::Exempt(_)));
}

/// A band of 2..=10 and steps of at most 50%, one approval.
fn banded(guard: Guard) -> Declaration {
    let rule = ApprovalRule { above: Some(10), below: Some(2), max_step_percent: Some(50), approvers: 0 };
    Declaration { approval: Some(rule), ..declaration(6, guard) }
}

#[test]
fn row_13_a_direct_write_the_approval_rule_holds_back_is_refused_whatever_the_guard() {
    for guard in Guard::ALL {
        let v = decide(&request(6, 0), Some(&banded(guard)), &[]);
        assert_eq!(
            v,
            Verdict::Deny {
                message: "prod/checkout: spec.replicas 6 -> 0 refused: this change needs 1 approval by another \
                          identity: 0 is below the approval band's lower edge 2; a step from 6 to 0 is 100%, more \
                          than the approval rule's 50%; ask for it with scalekeeper set prod/checkout 0, which \
                          creates a ScaleRequest another identity approves"
                    .into()
            },
            "{guard}"
        );
    }
    // Inside the band and the step: the guard decides as without a rule.
    assert_eq!(decide(&request(6, 7), Some(&banded(Guard::Off)), &[]), Verdict::Allow(Pass::GuardOff));
    assert!(matches!(decide(&request(6, 7), Some(&banded(Guard::Warn)), &[]), Verdict::Warn { .. }));
    assert!(
        matches!(decide(&request(6, 8), Some(&banded(Guard::Deny)), &[]), Verdict::Deny { message } if !message.contains("approval"))
    );
    // The step is measured from the effective count, not the Deployment's drifted one: 3 -> 7
    // is 3 from a declared 6.
    assert!(matches!(decide(&request(3, 7), Some(&banded(Guard::Off)), &[]), Verdict::Allow(Pass::GuardOff)));
    // Writing the effective count back never needs approval, even from far away.
    assert_eq!(decide(&request(0, 6), Some(&banded(Guard::Off)), &[]), Verdict::Allow(Pass::GuardOff));
    assert_eq!(decide(&request(0, 6), Some(&banded(Guard::Warn)), &[]), Verdict::Allow(Pass::Effective));
    // Rows before it still win: exempt, break-glass, Observe, an HPA.
    let mut own = request(6, 40);
    own.requester.user = "system:serviceaccount:scalekeeper:scalekeeper".into();
    assert_eq!(decide(&own, Some(&banded(Guard::Off)), &[]), Verdict::Exempt(Exemption::Own));
    let mut glass = request(6, 40);
    glass.requester.groups.push("breakglass".into());
    assert!(matches!(decide(&glass, Some(&banded(Guard::Off)), &[]), Verdict::BreakGlass { .. }));
    let observed = Declaration { mode: Mode::Observe, ..banded(Guard::Deny) };
    assert_eq!(decide(&request(6, 40), Some(&observed), &[]), Verdict::Allow(Pass::Observe));
    assert_eq!(
        decide(&request(6, 40), Some(&banded(Guard::Deny)), &["web".into()]),
        Verdict::Allow(Pass::Hpa("web".into()))
    );
}

#[test]
fn row_14_warn_allows_and_says_what_comes_next() {
    let v = decide(&request(6, 7), Some(&declaration(6, Guard::Warn)), &[]);
    assert_eq!(
        v,
        Verdict::Warn {
            message: "prod/checkout: spec.replicas 6 -> 7 will be set back to 6: replicas are declared at 6 by \
                      spiffe://corp/oncall; change them with scalekeeper set prod/checkout N"
                .into()
        }
    );
    assert!(v.allowed() && v.is_audited());
    assert_eq!(v.decision(), Decision::Warned);
}

#[test]
fn row_15_deny_refuses_and_says_what_holds_the_count_and_how_to_change_it() {
    let v = decide(&request(6, 0), Some(&deny()), &[]);
    assert_eq!(
        v,
        Verdict::Deny {
            message: "prod/checkout: replicas are declared at 6 by spiffe://corp/oncall; change them with scalekeeper \
                      set prod/checkout N"
                .into()
        }
    );
    assert!(!v.allowed() && v.is_audited());
    assert_eq!(v.decision(), Decision::Denied);
    assert_eq!(v.message(), v.message().filter(|m| m.starts_with("prod/checkout: ")));
    // Through the Deployment itself (kubectl patch, apply, edit) as through its scale.
    let patch = Request { target: Target::Deployment, ..request(6, 0) };
    assert_eq!(decide(&patch, Some(&deny()), &[]), v);
}

#[test]
fn refusals_name_the_rule_in_force() {
    let mut d = deny();
    d.rules.hold = Some(Hold {
        replicas: 8,
        until: at("2026-12-07T14:02:00Z"),
        reason: "INC-123".into(),
        set_by: Some("bob".into()),
        set_at: None,
    });
    let held = decide(&request(8, 0), Some(&d), &[]);
    assert_eq!(
        held.message(),
        Some(
            "prod/checkout: replicas are held at 8 by bob (hold until 2026-12-07T14:02:00Z: INC-123); end the hold \
             with scalekeeper clear prod/checkout --hold, or hold another count with scalekeeper set prod/checkout N \
             --for DURATION --reason TEXT"
        )
    );
    d.rules.hold = None;
    d.rules.schedule = vec![Scheduled::parse("Mon-Fri 08:00-20:00 Europe/Berlin", 4)];
    d.rules.bounds = Bounds { min: Some(5), max: None };
    let scheduled = decide(&request(5, 0), Some(&d), &[]);
    assert_eq!(
        scheduled.message(),
        Some(
            "prod/checkout: replicas are scheduled at 5 (schedule window \"Mon-Fri 08:00-20:00 Europe/Berlin\" until \
             2026-12-07T19:00:00Z, kept within minReplicas 5); change the schedule with scalekeeper schedule set \
             prod/checkout, or hold another count with scalekeeper set prod/checkout N --for DURATION --reason TEXT"
        )
    );
    d.rules.schedule.clear();
    d.rules.bounds = Bounds { min: None, max: Some(4) };
    d.set_by = None;
    assert_eq!(
        decide(&request(4, 0), Some(&d), &[]).message(),
        Some(
            "prod/checkout: replicas are declared at 4 (kept within maxReplicas 4); change them with scalekeeper set \
             prod/checkout N"
        )
    );
}

#[test]
fn an_absent_count_means_what_the_object_type_says() {
    // A Scale of 0 has no spec.replicas (omitempty); a Deployment is defaulted to 1.
    assert_eq!(replicas_of(&Target::Scale, None), 0);
    assert_eq!(replicas_of(&Target::Deployment, None), 1);
    assert_eq!(replicas_of(&Target::Scale, Some(3)), 3);
    assert_eq!(Target::of(None), Target::Deployment);
    assert_eq!(Target::of(Some("")), Target::Deployment);
    assert_eq!(Target::of(Some("scale")).sub_resource(), "scale");
}

#[test]
fn caller_text_is_bounded_and_escaped_when_quoted() {
    assert_eq!(quote("INC-123"), "INC-123");
    assert_eq!(quote("a\nforged line\u{1b}[31m"), "a\\nforged line\\u{1b}[31m");
    let long = "é".repeat(100);
    let q = quote(&long);
    assert!(q.ends_with("… (200 bytes)") && q.len() <= crate::text::MAX_ECHO_BYTES + 20, "{q}");
    let mut d = deny();
    d.set_by = Some("x".repeat(50_000));
    let m = decide(&request(6, 0), Some(&d), &[]).message().map(str::len).unwrap_or_default();
    assert!(m < 400, "a 50 kB identity makes a {m}-byte message");
}

#[test]
fn guards_and_exemptions_parse() {
    assert_eq!("deny".parse::<Guard>(), Ok(Guard::Deny));
    assert_eq!("Warn".parse::<Guard>(), Ok(Guard::Warn));
    assert!("block".parse::<Guard>().is_err());
    assert_eq!(Guard::default(), Guard::Off);
    assert_eq!("user:system:serviceaccount:a:b".parse(), Ok(Exempt::User("system:serviceaccount:a:b".into())));
    assert_eq!("group:sre".parse(), Ok(Exempt::Group("sre".into())));
    for bad in ["alice", "user:", "role:x", "group: "] {
        assert!(bad.parse::<Exempt>().is_err(), "{bad}");
    }
    let labels: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(labels, ["allowed", "warned", "denied", "exempt", "break_glass", "error"]);
    assert_eq!(Operation::Update.as_str(), "UPDATE");
}

#[test]
fn a_refusal_note_reads_back() {
    let message = "shop/web: replicas are declared at 4 by alice; change them with scalekeeper set shop/web N";
    let note = refusal_note(4, 0, "mallory", message);
    assert_eq!(
        note,
        "refused spec.replicas 4 -> 0 by mallory: shop/web: replicas are declared at 4 by alice; change them with \
         scalekeeper set shop/web N"
    );
    let read = parse_refusal_note(&note, "shop/web").unwrap();
    assert_eq!((read.from, read.to, read.by.as_str(), read.message.as_str()), (4, 0, "mallory", message));
    // A user with ": " in its name: the Deployment's name still ends it.
    let odd = parse_refusal_note(&refusal_note(2, 9, "ci: deploy", message), "shop/web").unwrap();
    assert_eq!((odd.from, odd.to, odd.by.as_str()), (2, 9, "ci: deploy"));
    // A control character is escaped in the note, and read back as written.
    let esc = parse_refusal_note(&refusal_note(1, 2, "a\nb", "other: x"), "shop/web").unwrap();
    assert_eq!((esc.by.as_str(), esc.message.as_str()), ("a\\nb", "other: x"));
    for other in ["", "refused spec.replicas x -> 0 by m: y", "scaled 4 -> 0", "refused spec.replicas 4 -> 0 by m"] {
        assert_eq!(parse_refusal_note(other, "shop/web"), None, "{other:?}");
    }
}
