//! Rows 27–29 of the write plan's table: the approval rule (the two-person rule).

use super::*;
use crate::approval::{ApprovalRule, Need};

/// Counts above 10 or below 2 need one approval.
fn band() -> ApprovalRule {
    ApprovalRule { above: Some(10), below: Some(2), max_step_percent: None, approvers: 1 }
}

/// alice's `change` to shop/api, whose policy (declaring 4, generation 2) has [`band`].
fn case(change: Change) -> Case {
    let mut c = Case::new(change);
    c.spec().approval = Some(band());
    c
}

#[test]
fn row_27_deleting_a_policy_with_an_approval_rule_is_refused_approved_or_not() {
    for approval in [None, Some("approved by bob")] {
        let mut c = case(Change::Delete);
        c.request.approval = approval;
        assert_eq!(c.refused(), Refusal::ApprovalRuleInTheWay { namespace: "shop".into(), name: "api".into() });
        assert!(c.refused().to_string().contains("scalekeeper approval clear shop/api"), "{}", c.refused());
    }
    // Without a rule, a delete goes ahead.
    assert_eq!(Case::new(Change::Delete).ok().policy, PolicyWrite::Delete);
}

#[test]
fn row_28_a_change_the_rule_asks_approval_for_is_refused_unless_it_carries_one() {
    let needs = |c: Case| match c.refused() {
        Refusal::NeedsApproval { needs, approvals_needed, generation } => {
            assert_eq!((approvals_needed, generation), (1, 2));
            needs
        }
        r => panic!("{r:?}"),
    };
    assert_eq!(needs(case(declare(0))), [Need::Below { count: 0, below: 2 }]);
    assert_eq!(needs(case(hold(40, Duration::from_secs(60)))), [Need::Above { count: 40, above: 10 }]);
    assert_eq!(
        needs(case(Change::Schedule(vec![window("Sat-Sun 00:00-24:00 UTC", 1)]))),
        [Need::Below { count: 1, below: 2 }]
    );
    assert_eq!(needs(case(Change::SetApproval(None))), [Need::RuleChange]);
    // A dry run is refused the same way (and the writer then records no request).
    let mut dry = case(declare(0));
    dry.request.dry_run = true;
    assert!(matches!(dry.refused(), Refusal::NeedsApproval { .. }));
    assert_eq!(
        case(declare(0)).refused().to_string(),
        "this change needs 1 approval by another identity: 0 is below the approval band's lower edge 2"
    );
    // Inside the band: no approval; ending a hold introduces no count.
    assert!(case(declare(9)).plan().is_ok());
    assert!(case(Change::EndHold).plan().is_ok());
    // Carrying an approval: planned like any write, and the Event names it.
    let mut approved = case(declare(0));
    approved.request.approval = Some("approved by bob in ScaleRequest shop/api-x7k2p");
    let p = approved.ok();
    assert_eq!(p.scale_to, Some(0));
    assert_eq!(
        note(&p),
        "alice declared 0 replicas: spec.replicas 4 -> 0 (declared before: 4) (approved by bob in ScaleRequest \
         shop/api-x7k2p)"
    );
}

#[test]
fn row_29_setting_or_removing_the_rule_replaces_it_without_scaling() {
    let p = Case::new(Change::SetApproval(Some(band()))).ok();
    assert_eq!(p.policy, replaced(&p));
    assert_eq!(p.spec_after.as_ref().and_then(|s| s.approval), Some(band()));
    assert_eq!(p.scale_to, None);
    let event = p.event.as_ref().expect("an Event");
    assert_eq!(event.reason, REASON_APPROVAL_RULE_CHANGED);
    assert_eq!(
        event.note(ScaleResult::Done),
        "alice set the approval rule: counts above 10 or below 2, need 1 approval: spec.replicas stays 4"
    );
    // A new policy declares the current count.
    let p = Case::new(Change::SetApproval(Some(band()))).unmanaged().at_spec(3).ok();
    assert_eq!(p.policy, created(&p));
    assert_eq!(p.spec_after.as_ref().map(|s| s.replicas), Some(3));
    // Removing it is a change of the rule: approved, it goes.
    let mut remove = case(Change::SetApproval(None));
    remove.request.approval = Some("approved by bob");
    let p = remove.ok();
    assert_eq!(p.spec_after.as_ref().and_then(|s| s.approval), None);
    assert!(note(&p).starts_with("alice removed the approval rule"), "{}", note(&p));
}
