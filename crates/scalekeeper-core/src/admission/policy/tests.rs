//! The policy guard's table, one test per row.

use super::*;
use crate::approval::ApprovalRule;
use crate::spec::HoldSpec;

const NOW: &str = "2026-12-07T10:00:00Z";

fn now() -> Timestamp {
    NOW.parse().expect("test timestamp")
}

/// A policy declaring 6 with a band of 2..=10, steps of at most 50%, one approval.
fn banded() -> Spec {
    let rule = ApprovalRule { above: Some(10), below: Some(2), max_step_percent: Some(50), approvers: 0 };
    Spec { replicas: 6, approval: Some(rule), ..Spec::default() }
}

fn alice() -> Requester {
    Requester { user: "alice".into(), groups: vec!["system:authenticated".into(), "sre".into()] }
}

fn exemptions() -> Exemptions {
    Exemptions::new(
        &["group:gitops".parse().expect("exempt")],
        vec!["breakglass".into()],
        Some("system:serviceaccount:scalekeeper:scalekeeper".into()),
    )
}

fn decide(operation: Operation, before: &Spec, after: Option<&Spec>, requester: &Requester) -> Verdict {
    let write = PolicyWrite { operation, namespace: "shop", name: "web", before, after, requester };
    review_policy(&write, &exemptions(), now())
}

#[test]
fn row_01_only_updates_and_deletes_are_reviewed() {
    let after = Spec { replicas: 40, ..banded() };
    for op in [Operation::Create, Operation::Connect] {
        assert_eq!(decide(op, &banded(), Some(&after), &alice()), Verdict::Allow(Pass::NotAnUpdate), "{op:?}");
    }
}

#[test]
fn row_02_an_edit_the_rule_does_not_hold_back_passes() {
    // Inside the band and the step.
    let after = Spec { replicas: 8, ..banded() };
    assert_eq!(decide(Operation::Update, &banded(), Some(&after), &alice()), Verdict::Allow(Pass::NoApprovalNeeded));
    // No rule before: anything goes, a first rule included, and so does deleting the policy.
    let plain = Spec { replicas: 6, ..Spec::default() };
    assert_eq!(decide(Operation::Update, &plain, Some(&banded()), &alice()), Verdict::Allow(Pass::NoApprovalNeeded));
    assert_eq!(decide(Operation::Delete, &plain, None, &alice()), Verdict::Allow(Pass::NoApprovalNeeded));
    // A metadata-only edit (labels, the guard) changes no count and keeps the rule.
    let guarded = Spec { guard: crate::admission::Guard::Deny, ..banded() };
    assert_eq!(decide(Operation::Update, &banded(), Some(&guarded), &alice()), Verdict::Allow(Pass::NoApprovalNeeded));
}

#[test]
fn row_03_scalekeeper_and_exempt_identities_pass() {
    let after = Spec { replicas: 40, ..banded() };
    let own = Requester { user: "system:serviceaccount:scalekeeper:scalekeeper".into(), groups: vec![] };
    assert_eq!(decide(Operation::Update, &banded(), Some(&after), &own), Verdict::Exempt(Exemption::Own));
    let gitops = Requester { user: "argo".into(), groups: vec!["gitops".into()] };
    assert_eq!(
        decide(Operation::Update, &banded(), Some(&after), &gitops),
        Verdict::Exempt(Exemption::Group("gitops".into()))
    );
}

#[test]
fn row_04_kubernetes_clean_up_may_delete_but_not_edit() {
    for user in CLEAN_UP_USERS {
        let gc = Requester { user: user.into(), groups: vec!["system:serviceaccounts".into()] };
        assert_eq!(decide(Operation::Delete, &banded(), None, &gc), Verdict::Allow(Pass::CleanUp(user.into())));
        let after = Spec { replicas: 40, ..banded() };
        assert!(matches!(decide(Operation::Update, &banded(), Some(&after), &gc), Verdict::Deny { .. }), "{user}");
    }
}

#[test]
fn row_05_break_glass_passes_audited() {
    let after = Spec { replicas: 0, ..banded() };
    let mut r = alice();
    r.groups.push("breakglass".into());
    let v = decide(Operation::Update, &banded(), Some(&after), &r);
    assert_eq!(
        v,
        Verdict::BreakGlass {
            group: "breakglass".into(),
            message: "shop/web: this edit of the ReplicaPolicy needs 1 approval by another identity: 0 is below the \
                      approval band's lower edge 2; a step from 6 to 0 is 100%, more than the approval rule's 50%; \
                      allowed by break-glass group breakglass: the write is audited and announced"
                .into()
        }
    );
    assert!(v.allowed() && v.is_audited());
}

#[test]
fn row_06_anything_else_is_refused_with_the_way_to_ask() {
    // kubectl edit of the declared count past the band.
    let after = Spec { replicas: 40, ..banded() };
    assert_eq!(
        decide(Operation::Update, &banded(), Some(&after), &alice()),
        Verdict::Deny {
            message: "shop/web: this edit of the ReplicaPolicy needs 1 approval by another identity: 40 is above the \
                      approval band's upper edge 10; a step from 6 to 40 is 566%, more than the approval rule's 50%; \
                      make the change through scalekeeper (scalekeeper set, schedule set or approval set shop/web), \
                      which creates a ScaleRequest another identity approves"
                .into()
        }
    );
    // Widening or removing the band, with two approvals asked for.
    let two = Spec { approval: banded().approval.map(|r| ApprovalRule { approvers: 2, ..r }), ..banded() };
    let wider = Spec { approval: two.approval.map(|r| ApprovalRule { above: Some(100), ..r }), ..two.clone() };
    let Verdict::Deny { message } = decide(Operation::Update, &two, Some(&wider), &alice()) else { panic!() };
    assert!(
        message.contains("needs 2 approvals by other identities: changing the approval rule needs approval"),
        "{message}"
    );
    let removed = Spec { approval: None, ..banded() };
    assert!(matches!(decide(Operation::Update, &banded(), Some(&removed), &alice()), Verdict::Deny { .. }));
    // A hold past the band, as kubectl apply would write it.
    let hold =
        HoldSpec { replicas: 30, until: "2026-12-07T11:00:00Z".into(), reason: "sale".into(), ..HoldSpec::default() };
    let held = Spec { hold: Some(hold), ..banded() };
    assert!(matches!(decide(Operation::Update, &banded(), Some(&held), &alice()), Verdict::Deny { .. }));
    // Deleting a policy that carries a rule.
    assert_eq!(
        decide(Operation::Delete, &banded(), None, &alice()),
        Verdict::Deny {
            message:
                "shop/web: deleting the ReplicaPolicy needs 1 approval by another identity: changing the approval \
                      rule needs approval; remove the approval rule first with scalekeeper approval clear shop/web \
                      (another identity approves), then delete the policy"
                    .into()
        }
    );
}
