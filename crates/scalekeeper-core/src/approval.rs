//! The two-person rule (issue 27): which changes of a Deployment's counts need approval by
//! other identities, how approvals are counted, and where a ScaleRequest stands.
//!
//! A policy may carry an [`ApprovalRule`]: a band (`above`, `below`) and a step limit
//! (`max_step_percent`). A change that introduces a count outside the band, or a step from
//! the count in force larger than the limit, needs `approvers` approvals, each from an
//! identity other than the requester's; so does changing the rule itself once one is set.

/// The most approvals a rule may ask for.
pub const MAX_APPROVERS: u32 = 5;
/// The largest step limit a rule may set, in percent of the count in force.
pub const MAX_STEP_PERCENT: u32 = 1000;

/// A policy's approval rule (`spec.approval`): counts above `above` or below `below`, or a
/// step from the count in force larger than `max_step_percent` percent of it (any step from
/// 0), need `approvers` approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApprovalRule {
    /// Counts above this (a number of Pods) need approval; `None`: no upper edge.
    pub above: Option<i32>,
    /// Counts below this (a number of Pods) need approval; `None`: no lower edge.
    pub below: Option<i32>,
    /// Steps larger than this percentage of the count in force need approval; `None`: no limit.
    pub max_step_percent: Option<u32>,
    /// How many approvals a change needs, 1..=[`MAX_APPROVERS`].
    pub approvers: u32,
}
