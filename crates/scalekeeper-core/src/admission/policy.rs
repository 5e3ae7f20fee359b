//! The guard for the ReplicaPolicy itself: the two-person rule's door for `kubectl edit`,
//! `kubectl apply` and `kubectl delete` of a policy (issue 27). scalekeeper's API checks the
//! rule in its write plan; a write straight to the custom resource would not pass through it,
//! so the admission webhook reviews UPDATE and DELETE of `scalekeeper.dev` ReplicaPolicies too
//! and refuses what [`crate::approval::needs`] says needs approval, unless scalekeeper itself
//! writes (it applies approved ScaleRequests).
//!
//! The rule (first row that applies wins; each row is a test, `row_NN_…`):
//!
//! | # | request | verdict |
//! |---|---|---|
//! | 1 | not an UPDATE or DELETE | allowed |
//! | 2 | the edit needs no approval ([`needs`]: no rule before it, or nothing it introduces is held back) | allowed |
//! | 3 | the requester is scalekeeper itself, or an exempt user or group | exempt |
//! | 4 | a DELETE by Kubernetes' own clean-up (the garbage collector after the Deployment is deleted, the namespace controller) | allowed |
//! | 5 | the requester is in a break-glass group | break-glass: allowed, audited, announced |
//! | 6 | anything else | refused (HTTP 403) with what needs approval and the scalekeeper command that asks for it |
//!
//! Row 4's users are the kube-controller-manager's: `system:serviceaccount:kube-system:
//! generic-garbage-collector` and `…:namespace-controller` with `--use-service-account-credentials`
//! (kubeadm's default), and `system:kube-controller-manager` without it. Source: "Controller
//! roles" in <https://kubernetes.io/docs/reference/access-authn-authz/rbac/#controller-roles>.

use jiff::Timestamp;

use super::{Exemption, Exemptions, Operation, Pass, Requester, Verdict, quote};
use crate::approval::{Need, needs, needs_message};
use crate::spec::Spec;

/// The users that delete objects on Kubernetes' behalf (row 4): the garbage collector and the
/// namespace controller under their ServiceAccounts, and the controller manager's own user.
pub const CLEAN_UP_USERS: [&str; 3] = [
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:kube-controller-manager",
];

/// A write of a ReplicaPolicy the API server is about to store or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWrite<'a> {
    /// The operation.
    pub operation: Operation,
    /// The policy's namespace (that of its Deployment).
    pub namespace: &'a str,
    /// The policy's name (that of its Deployment).
    pub name: &'a str,
    /// The spec as stored (`oldObject`).
    pub before: &'a Spec,
    /// The spec the write stores (`object`); `None` for a DELETE.
    pub after: Option<&'a Spec>,
    /// Who writes.
    pub requester: &'a Requester,
}

/// Decides one write of a policy (the module's table) at `now` (the count in force, the
/// `from` of every step, depends on it). Pure.
pub fn review_policy(write: &PolicyWrite<'_>, exemptions: &Exemptions, now: Timestamp) -> Verdict {
    if !matches!(write.operation, Operation::Update | Operation::Delete) {
        return Verdict::Allow(Pass::NotAnUpdate);
    }
    let in_force = write.before.effective(now).replicas;
    let found = needs(Some(write.before), write.after, in_force);
    if found.is_empty() {
        return Verdict::Allow(Pass::NoApprovalNeeded);
    }
    let user = &write.requester.user;
    if exemptions.own_user.as_deref().is_some_and(|own| own == user) {
        return Verdict::Exempt(Exemption::Own);
    }
    if exemptions.users.contains(user) {
        return Verdict::Exempt(Exemption::User(user.clone()));
    }
    if let Some(g) = write.requester.groups.iter().find(|g| exemptions.groups.contains(g)) {
        return Verdict::Exempt(Exemption::Group(g.clone()));
    }
    if write.operation == Operation::Delete && CLEAN_UP_USERS.contains(&user.as_str()) {
        return Verdict::Allow(Pass::CleanUp(user.clone()));
    }
    let approvals = write.before.approval.map(|r| r.approvals_needed()).unwrap_or(1);
    let what = what_needs_approval(write, &found, approvals);
    if let Some(g) = write.requester.groups.iter().find(|g| exemptions.break_glass_groups.contains(g)) {
        return Verdict::BreakGlass {
            group: g.clone(),
            message: format!("{what}; allowed by break-glass group {}: the write is audited and announced", quote(g)),
        };
    }
    Verdict::Deny { message: format!("{what}; {}", how_to_ask(write)) }
}

/// `NS/NAME: this edit of the ReplicaPolicy needs …` (or `deleting the ReplicaPolicy needs …`).
fn what_needs_approval(write: &PolicyWrite<'_>, found: &[Need], approvals: u32) -> String {
    let what = if write.after.is_some() { "this edit of the ReplicaPolicy" } else { "deleting the ReplicaPolicy" };
    let needs = needs_message(found, approvals);
    let needs = needs.strip_prefix("this change ").unwrap_or(&needs);
    format!("{}/{}: {what} {needs}", write.namespace, write.name)
}

/// The scalekeeper command that asks for the change through the two-person rule.
fn how_to_ask(write: &PolicyWrite<'_>) -> String {
    let target = format!("{}/{}", write.namespace, write.name);
    if write.after.is_none() {
        return format!(
            "remove the approval rule first with scalekeeper approval clear {target} (another identity approves), \
             then delete the policy"
        );
    }
    format!(
        "make the change through scalekeeper (scalekeeper set, schedule set or approval set {target}), which \
         creates a ScaleRequest another identity approves"
    )
}

#[cfg(test)]
mod tests;
