//! The two-person rule's calls (issue 27): SetApproval, ListScaleRequests,
//! ApproveScaleRequest, DenyScaleRequest, and the ScaleRequest a held-back write becomes.
//!
//! | call | RBAC verb | does |
//! |---|---|---|
//! | SetApproval | `update` replicapolicies | sets or removes the rule, itself held back once a rule is set |
//! | ListScaleRequests | `list` replicapolicies | the requests in the namespaces the caller may list, newest first |
//! | ApproveScaleRequest | `approve` scalerequests | records the approval; at the count needed, applies the change |
//! | DenyScaleRequest | `approve` scalerequests | ends a pending request |

use kube::ResourceExt as _;
use scalekeeper_api::v1 as pb;
use scalekeeper_core::Violation;
use scalekeeper_core::approval::{self, ApprovalRule};
use scalekeeper_core::authz::Verb;
use scalekeeper_core::validate_target;
use scalekeeper_core::write::Change;

use super::{Caller, Service, WriteCall, authenticated, convert, invalid, non_empty};
use crate::audit::ScaleRequestAudit;
use crate::grpc::status::Error;
use crate::scalerequest::ScaleRequest;
use crate::writer::{self, Ask, created};

/// The longest reason a ScaleRequest or a denial records, in bytes (as a hold's).
const MAX_REASON_BYTES: usize = 256;

impl Service {
    pub(super) async fn set_approval_call(
        &self,
        r: pb::SetApprovalRequest,
        who: Caller,
    ) -> Result<pb::SetApprovalResponse, Error> {
        let mut v = validate_target(&r.namespace, &r.name);
        let rule = match &r.approval {
            Some(a) => match rule_from_proto(a, self.config.max_replicas) {
                Ok(rule) => Some(rule),
                Err(violations) => {
                    v.extend(violations);
                    None
                }
            },
            None => None,
        };
        v.extend(reason_violation(&r.reason, "reason"));
        invalid(v)?;
        let change = Change::SetApproval(rule);
        let call = WriteCall {
            expected_version: &r.expected_version,
            dry_run: r.dry_run,
            reason: &r.reason,
            ..WriteCall::new(Verb::Update, &r.namespace, &r.name, change)
        };
        let w = self.write(&who, call).await?;
        Ok(pb::SetApprovalResponse {
            deployment: Some(convert::deployment(&w.view)),
            outcome: Some(convert::outcome(&w.outcome)),
        })
    }

    pub(super) async fn list_scale_requests_call(
        &self,
        r: pb::ListScaleRequestsRequest,
        who: Caller,
    ) -> Result<pb::ListScaleRequestsResponse, Error> {
        invalid(scalekeeper_core::validate_namespace_filter(&r.namespace))?;
        self.check_scope(&r.namespace)?;
        let permitted = self.authorize_read(&who, Verb::List, &r.namespace).await?;
        let items = self.writer.scale_requests(non_empty(&r.namespace)).await?;
        let now = jiff::Timestamp::now();
        let mut requests: Vec<(jiff::Timestamp, pb::ScaleRequest)> = items
            .iter()
            .filter(|sr| {
                let ns = sr.namespace().unwrap_or_default();
                self.cache.scope().contains(&ns) && permitted.allows(&ns)
            })
            .map(|sr| (created(sr), convert::scale_request(sr, now)))
            .filter(|(_, p)| r.all || !phase_is_done(p.phase))
            .collect();
        requests.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
        Ok(pb::ListScaleRequestsResponse { requests: requests.into_iter().map(|(_, p)| p).collect() })
    }

    pub(super) async fn approve_scale_request_call(
        &self,
        r: pb::ApproveScaleRequestRequest,
        who: Caller,
    ) -> Result<pb::ApproveScaleRequestResponse, Error> {
        let mut v = validate_target(&r.namespace, &r.name);
        if r.digest.is_empty() {
            v.push(Violation {
                field: "digest".into(),
                description: "required: the digest of the request as you read it (ListScaleRequests)".into(),
            });
        }
        invalid(v)?;
        self.check_scope(&r.namespace)?;
        who.facts().name.clone_from(&r.name);
        self.authorize(&who, Verb::Approve, &r.namespace).await?;
        let approver = &authenticated(&who)?.user;
        let decided = self.writer.approve(&r.namespace, &r.name, approver, &r.digest).await?;
        let now = jiff::Timestamp::now();
        record(&who, &decided.request, now);
        if let Some(w) = &decided.written {
            let generation = w.view.policy.as_ref().and_then(|p| p.metadata.generation);
            who.facts().write = Some((crate::audit::Snapshot::default(), snapshot_of(w), generation));
        }
        tracing::info!(
            identity = %who.identity, namespace = %r.namespace, request = %r.name,
            phase = %writer::phase_at(&decided.request, now).as_str(), "scale request approved"
        );
        Ok(pb::ApproveScaleRequestResponse {
            request: Some(convert::scale_request(&decided.request, now)),
            outcome: decided.written.as_ref().map(|w| convert::outcome(&w.outcome)),
        })
    }

    pub(super) async fn deny_scale_request_call(
        &self,
        r: pb::DenyScaleRequestRequest,
        who: Caller,
    ) -> Result<pb::DenyScaleRequestResponse, Error> {
        let mut v = validate_target(&r.namespace, &r.name);
        if r.reason.trim().is_empty() {
            v.push(Violation { field: "reason".into(), description: "required: why the request is denied".into() });
        }
        v.extend(reason_violation(&r.reason, "reason"));
        invalid(v)?;
        self.check_scope(&r.namespace)?;
        who.facts().name.clone_from(&r.name);
        self.authorize(&who, Verb::Approve, &r.namespace).await?;
        let denier = &authenticated(&who)?.user;
        let sr = self.writer.deny(&r.namespace, &r.name, denier, &r.reason).await?;
        let now = jiff::Timestamp::now();
        record(&who, &sr, now);
        tracing::info!(identity = %who.identity, namespace = %r.namespace, request = %r.name, "scale request denied");
        Ok(pb::DenyScaleRequestResponse { request: Some(convert::scale_request(&sr, now)) })
    }

    /// The caller's break-glass group: the first of its certificate's groups that the server
    /// lists (`--break-glass-group`).
    ///
    /// # Errors
    /// PERMISSION_DENIED for a caller in none of them.
    pub(super) fn break_glass_group(&self, who: &Caller) -> Result<String, Error> {
        let groups = &authenticated(who)?.groups;
        groups.iter().find(|g| self.config.break_glass_groups.contains(g)).cloned().ok_or_else(|| {
            let allowed = if self.config.break_glass_groups.is_empty() {
                "this server has none (--break-glass-group)".to_owned()
            } else {
                self.config.break_glass_groups.join(", ")
            };
            Error::PermissionDenied(format!(
                "break-glass is for members of the break-glass groups ({allowed}); without --break-glass the \
                 change is requested for approval"
            ))
        })
    }

    /// Applies `ask` at once as break-glass group `group`'s member, recorded for review; the
    /// audit facts name the request and the group.
    pub(super) async fn broke_glass(
        &self,
        who: &Caller,
        ask: &Ask<'_>,
        group: &str,
    ) -> Result<crate::writer::Written, Error> {
        let written = self.writer.break_glass(ask, group).await?;
        if let Some(sr) = &written.review {
            record(who, sr, jiff::Timestamp::now());
            tracing::warn!(
                identity = %who.identity, namespace = ask.namespace, name = ask.name, request = %sr.name_any(),
                group, change = %sr.spec.summary, reason = ask.reason, "break-glass: applied past the two-person rule"
            );
            self.metrics.break_glass_used(group);
        }
        Ok(written)
    }

    /// Records `ask` (a write the approval rule held back) as a ScaleRequest, and returns what
    /// the caller gets: FAILED_PRECONDITION saying what needs approval and the command that
    /// approves it, or the error that kept the request from being made.
    pub(super) async fn requested(&self, who: &Caller, ask: &Ask<'_>) -> Error {
        match self.writer.request_approval(ask).await {
            Ok(sr) => {
                let name = sr.name_any();
                record(who, &sr, jiff::Timestamp::now());
                tracing::info!(
                    identity = %who.identity, namespace = ask.namespace, name = ask.name, request = %name,
                    change = %sr.spec.summary, "change held for approval"
                );
                Error::from(crate::writer::WriteError::ApprovalRequired {
                    namespace: ask.namespace.to_owned(),
                    message: approval::approval_required_message(ask.namespace, &name, ask.needs, ask.approvals_needed),
                    request: name,
                })
            }
            Err(e) => Error::from(e),
        }
    }
}

/// Puts the ScaleRequest in the call's audit facts.
fn record(who: &Caller, sr: &ScaleRequest, now: jiff::Timestamp) {
    who.facts().scale_request = Some(ScaleRequestAudit {
        name: sr.name_any(),
        digest: sr.spec.digest.clone(),
        phase: writer::phase_at(sr, now).as_str().into(),
        break_glass_group: sr.spec.break_glass_group.clone(),
    });
}

/// The state after an approved write, for the audit record.
fn snapshot_of(w: &crate::writer::Written) -> crate::audit::Snapshot {
    let o = &w.outcome;
    crate::audit::Snapshot {
        declared: w.view.policy.as_ref().map(|p| p.spec.replicas),
        spec_replicas: Some(o.spec_after),
        effective: Some(o.effective_after),
        rule: Some(o.rule_detail_after.clone()),
        ..Default::default()
    }
}

fn phase_is_done(phase: i32) -> bool {
    !matches!(
        pb::ScaleRequestPhase::try_from(phase),
        Ok(pb::ScaleRequestPhase::Pending | pb::ScaleRequestPhase::Approved | pb::ScaleRequestPhase::ReviewRequired)
    )
}

/// The request's rule as the domain's, checked ([`approval::validate_rule`]).
fn rule_from_proto(a: &pb::ApprovalRule, max_replicas: i32) -> Result<ApprovalRule, Vec<Violation>> {
    let mut v = vec![];
    let max_step_percent = match a.max_step_percent.map(u32::try_from) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            v.push(Violation {
                field: "approval.max_step_percent".into(),
                description: format!("must be 1 to {}", approval::MAX_STEP_PERCENT),
            });
            None
        }
    };
    let approvers = u32::try_from(a.approvers).unwrap_or_else(|_| {
        v.push(Violation {
            field: "approval.approvers".into(),
            description: format!("must be 0 (meaning 1) to {}", approval::MAX_APPROVERS),
        });
        0
    });
    let rule = ApprovalRule { above: a.above, below: a.below, max_step_percent, approvers };
    v.extend(approval::validate_rule(&rule, max_replicas));
    if v.is_empty() { Ok(ApprovalRule { approvers: rule.approvals_needed(), ..rule }) } else { Err(v) }
}

fn reason_violation(reason: &str, field: &str) -> Option<Violation> {
    (reason.len() > MAX_REASON_BYTES).then(|| Violation {
        field: field.into(),
        description: format!("at most {MAX_REASON_BYTES} bytes, got {}", reason.len()),
    })
}
