//! The write plan's approval row (the two-person rule, [`crate::approval`]): after the change
//! is applied to the policy read and before anything is written (a dry run included), a write
//! that its policy's approval rule asks approval for is refused, for the writer to record as
//! a ScaleRequest; a write carrying an approval ([`Request::approval`]) passes.

use jiff::Timestamp;

use super::{Change, Policy, Refusal, Request, Spec};
use crate::approval::{self, ApprovalRule};

/// The approval row: [`Refusal::ApprovalRuleInTheWay`] for a delete of a policy with a rule
/// (whatever the approval: the rule goes first, through its own approved change);
/// [`Refusal::NeedsApproval`] when the request carries no approval and [`approval::needs`]
/// finds something in the change from `policy` to `after` (the spec the plan would write;
/// `None`: the policy deleted) at the count in force now.
///
/// # Errors
/// Those two refusals.
pub(super) fn check(
    request: &Request<'_>,
    policy: Option<&Policy>,
    after: Option<&Spec>,
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(p) = policy else { return Ok(()) };
    let Some(rule) = p.spec.approval.as_ref() else { return Ok(()) };
    if matches!(request.change, Change::Delete) || (after.is_none() && matches!(request.change, Change::Thaw)) {
        return Err(Refusal::ApprovalRuleInTheWay { namespace: request.namespace.into(), name: request.name.into() });
    }
    if request.approval.is_some() {
        return Ok(());
    }
    // The count the policy puts in force now (a drift, or a declaration not applied yet, is
    // not the base a step is measured from).
    let in_force = p.spec.effective(now).replicas;
    let needs = approval::needs(Some(&p.spec), after, in_force);
    if needs.is_empty() {
        return Ok(());
    }
    Err(Refusal::NeedsApproval { needs, approvals_needed: rule.approvals_needed(), generation: p.version() })
}

/// A rule in words, e.g. `counts above 20 or below 3, or steps over 50%, need 1 approval`.
pub(super) fn describe_rule(rule: &ApprovalRule) -> String {
    let mut parts = vec![];
    match (rule.above, rule.below) {
        (Some(a), Some(b)) => parts.push(format!("counts above {a} or below {b}")),
        (Some(a), None) => parts.push(format!("counts above {a}")),
        (None, Some(b)) => parts.push(format!("counts below {b}")),
        (None, None) => {}
    }
    if let Some(p) = rule.max_step_percent {
        parts.push(format!("steps over {p}%"));
    }
    let n = rule.approvals_needed();
    format!("{}, need {n} approval{}", parts.join(", or "), if n == 1 { "" } else { "s" })
}
