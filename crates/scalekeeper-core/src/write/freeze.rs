//! What a freeze marks on the policies it writes, and what a thaw reads of those marks (the
//! write plan's rows 23 to 26).

use jiff::Timestamp;

use super::{Change, Outcome, Policy, Request, WriteEvent};
use crate::plan::REASON_HOLD_CLEARED;
use crate::spec::Spec;

/// Whether `spec` holds a freeze's hold that is active at `now` (what a thaw ends).
pub fn has_active_freeze(spec: &Spec, now: Timestamp) -> bool {
    spec.hold.as_ref().is_some_and(|h| h.freeze) && spec.rules().active_hold(now).is_some()
}

/// Whether a freeze created `policy` and nothing was declared since: it is still at the
/// generation the freeze wrote (what a thaw deletes).
pub fn created_by_this_freeze(policy: &Policy) -> bool {
    policy.created_by_freeze.is_some() && policy.created_by_freeze == policy.generation
}

/// The generation a write of `change` over `policy` records as a freeze's creation (row 23):
/// 1 when a freeze creates the policy (the generation the API server gives a new object), the
/// next generation when a freeze renews a policy a freeze created and nothing declared since
/// (a spec change moves the generation by one); `None` for every other write, which drops the
/// mark.
pub(super) fn created_by_freeze(change: &Change, policy: Option<&Policy>) -> Option<i64> {
    match (change, policy) {
        (Change::Hold { freeze: true, .. }, None) => Some(1),
        (Change::Hold { freeze: true, .. }, Some(p)) if created_by_this_freeze(p) => Some(p.version() + 1),
        _ => None,
    }
}

/// The Event of a thaw that deletes the policy a freeze created (row 24); `None` for any
/// other delete.
pub(super) fn thaw_event(request: &Request<'_>, outcome: &Outcome) -> Option<WriteEvent> {
    matches!(request.change, Change::Thaw).then(|| WriteEvent {
        reason: REASON_HOLD_CLEARED,
        what: format!(
            "{} thawed the freeze: its ReplicaPolicy, which the freeze created, is deleted and the Deployment is \
             unmanaged again",
            request.identity
        ),
        tail: String::new(),
        from: outcome.spec_before,
        to: outcome.spec_after,
    })
}
