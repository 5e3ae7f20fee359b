//! The webhook's review of a ReplicaPolicy write (UPDATE or DELETE of `scalekeeper.dev`
//! `replicapolicies`): the two-person rule's door for `kubectl edit`, `apply` and `delete`.
//!
//! ```text
//!  AdmissionReview<ReplicaPolicy> ─► oldObject, object as scalekeeper_core::spec::Spec
//!    decide: scalekeeper_core::admission::policy::review_policy (pure; no cache: oldObject is
//!            what the API server has stored)
//!    report: log · audit line and Event on the policy (deny, break-glass)
//! ```
//!
//! The same fail-open stance as the Deployment guard: a review it cannot read is allowed
//! (decision `error`), and `failurePolicy: Ignore` lets writes through when no replica answers;
//! `docs/security.md` says what that leaves open.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use scalekeeper_core::admission::policy::{PolicyWrite, review_policy};
use scalekeeper_core::admission::{Decision, REASON_GUARD_BYPASSED, Requester, Verdict};
use scalekeeper_core::spec::Spec;

use super::{Admitted, PendingEvent, Webhook, answer, operation};
use crate::audit::{AdmissionAudit, AuditDecision, Record as AuditRecord};
use crate::policy::ReplicaPolicy;

/// The API group of the resources this module reviews.
pub const GROUP: &str = "scalekeeper.dev";
/// The resource (plural) this module reviews.
pub const RESOURCE: &str = "replicapolicies";

/// Event reason: the guard refused a write of a ReplicaPolicy that the two-person rule holds
/// back (a Warning on the policy).
pub const REASON_POLICY_WRITE_REFUSED: &str = "PolicyWriteRefused";

impl Webhook {
    /// Decides a ReplicaPolicy write from the raw review `body`: the response, and what was
    /// decided. Never fails: a body whose objects are not ReplicaPolicies is allowed (decision
    /// `error`, fail open).
    pub(super) fn decide_policy(&self, body: &[u8], peer: Option<SocketAddr>) -> (AdmissionResponse, Admitted) {
        let parsed: Result<AdmissionRequest<ReplicaPolicy>, String> =
            serde_json::from_slice::<AdmissionReview<ReplicaPolicy>>(body)
                .map_err(|e| format!("not a review of a ReplicaPolicy: {e}"))
                .and_then(|r| r.try_into().map_err(|_| "an AdmissionReview without a request".to_string()));
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = ?peer, error = %e, "admission: unreadable policy review; allowed (fail open)");
                let mut response = AdmissionResponse::invalid(&e);
                response.allowed = true;
                response.uid = super::uid_of(body);
                return (response, Admitted { decision: Decision::Error, message: Some(e) });
            }
        };
        let response = AdmissionResponse::from(&req);
        let Some(old) = req.old_object.as_ref() else {
            // A CREATE (no rule before it) or a review without the stored object: nothing the
            // rule holds back.
            return (response, Admitted { decision: Decision::Allowed, message: None });
        };
        let before = Spec::from(&old.spec);
        let after = req.object.as_ref().map(|p| Spec::from(&p.spec));
        let requester = Requester {
            user: req.user_info.username.clone().unwrap_or_default(),
            groups: req.user_info.groups.clone().unwrap_or_default(),
        };
        let namespace = req.namespace.clone().unwrap_or_default();
        let write = PolicyWrite {
            operation: operation(&req.operation),
            namespace: &namespace,
            name: &req.name,
            before: &before,
            after: after.as_ref(),
            requester: &requester,
        };
        let verdict = review_policy(&write, self.exemptions(), jiff::Timestamp::now());
        self.report_policy(&req, &write, &verdict, peer);
        answer(response, &verdict)
    }

    /// Logs the decision; for a refusal or a break-glass write, the audit line and (unless a
    /// dry run) a Warning Event on the policy.
    fn report_policy(
        &self,
        req: &AdmissionRequest<ReplicaPolicy>,
        write: &PolicyWrite<'_>,
        verdict: &Verdict,
        peer: Option<SocketAddr>,
    ) {
        let (ns, name, user) = (write.namespace, write.name, write.requester.user.as_str());
        let op = write.operation.as_str();
        let decision = verdict.decision().as_str();
        if !verdict.is_audited() {
            tracing::debug!(namespace = ns, name, user, op, decision, verdict = ?verdict, "admission review of a policy");
            return;
        }
        tracing::info!(
            namespace = ns, name, user, groups = ?write.requester.groups, op, decision, dry_run = req.dry_run,
            uid = %req.uid, message = verdict.message().unwrap_or_default(), "admission review of a policy"
        );
        let allowed = verdict.allowed();
        let inner = &self.inner;
        if inner.auditor.enabled() {
            inner.auditor.record(&AuditRecord {
                time: crate::audit::now(),
                request_id: req.uid.clone(),
                user: user.to_owned(),
                groups: write.requester.groups.clone(),
                peer: peer.map(|p| p.to_string()).unwrap_or_default(),
                method: "AdmissionReview".into(),
                namespace: ns.to_owned(),
                name: name.to_owned(),
                verb: op.to_ascii_lowercase(),
                decision: Some(AuditDecision { allowed, reason: verdict.message().unwrap_or_default().to_owned() }),
                code: if allowed { "OK" } else { "PERMISSION_DENIED" }.into(),
                before: None,
                after: None,
                generation: req.old_object.as_ref().and_then(|p| p.metadata.generation),
                dry_run: req.dry_run,
                admission: Some(AdmissionAudit {
                    operation: op.into(),
                    resource: RESOURCE.into(),
                    sub_resource: String::new(),
                    guard: write.before.guard.to_string(),
                    outcome: decision.into(),
                    break_glass_group: match verdict {
                        Verdict::BreakGlass { group, .. } => Some(group.clone()),
                        _ => None,
                    },
                }),
                scale_request: None,
            });
        }
        let reason = match verdict {
            Verdict::Deny { .. } => REASON_POLICY_WRITE_REFUSED,
            Verdict::BreakGlass { .. } => REASON_GUARD_BYPASSED,
            _ => return,
        };
        if req.dry_run {
            return;
        }
        let note = format!(
            "{} by {}: {}",
            op.to_ascii_lowercase(),
            scalekeeper_core::admission::quote(user),
            verdict.message().unwrap_or_default()
        );
        let regarding = ObjectReference {
            api_version: Some(format!("{GROUP}/v1alpha1")),
            kind: Some("ReplicaPolicy".into()),
            namespace: Some(ns.to_owned()),
            name: Some(name.to_owned()),
            uid: req.old_object.as_ref().and_then(|p| p.metadata.uid.clone()),
            ..Default::default()
        };
        if inner.events.try_send(PendingEvent { regarding, reason, note }).is_err() {
            tracing::warn!(namespace = ns, name, reason, "admission: the Event queue is full; Event dropped");
        }
    }
}
