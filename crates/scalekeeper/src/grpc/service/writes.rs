//! The one path of every write call (SetReplicas, ClearDesiredReplicas, SetSchedule,
//! SetApproval, Undo): scope, authorization, the writer, the two-person rule's outcome, the
//! audit facts and the log line.

use scalekeeper_core::authz::Verb;
use scalekeeper_core::write::{self, Change};

use super::{Ask, Caller, Error, Service, WriteError, Written, authenticated, snapshot};

/// What a call writes ([`Service::write`]): `change` to the policy of `namespace/name`, which
/// needs RBAC `verb`; on condition of `expected_version` (empty: none) and `if_current`; as a
/// dry run; with the reason a ScaleRequest records, and the caller's break-glass group.
pub(super) struct WriteCall<'a> {
    pub(super) verb: Verb,
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) change: Change,
    pub(super) expected_version: &'a str,
    pub(super) if_current: Option<i32>,
    pub(super) dry_run: bool,
    pub(super) reason: &'a str,
    pub(super) break_glass: Option<&'a str>,
}

impl<'a> WriteCall<'a> {
    /// `change` to `namespace/name` under `verb`, on no condition, not a dry run, no reason.
    pub(super) fn new(verb: Verb, namespace: &'a str, name: &'a str, change: Change) -> Self {
        Self {
            verb,
            namespace,
            name,
            change,
            expected_version: "",
            if_current: None,
            dry_run: false,
            reason: "",
            break_glass: None,
        }
    }
}

impl Service {
    /// One write through the [`Writer`](crate::writer::Writer), after the scope and authorization checks (`verb` on
    /// replicapolicies in `namespace`), with its audit facts and its log line. A write the
    /// policy's approval rule holds back becomes a ScaleRequest (`reason` is its reason), and
    /// the caller gets FAILED_PRECONDITION naming it; a dry run creates none. With
    /// `break_glass` (the caller's break-glass group, checked by the caller), such a write is
    /// applied at once and recorded for review instead.
    pub(super) async fn write(&self, who: &Caller, call: WriteCall<'_>) -> Result<Written, Error> {
        let WriteCall { verb, namespace, name, change, expected_version, if_current, dry_run, reason, break_glass } =
            call;
        self.check_scope(namespace)?;
        {
            let mut f = who.facts();
            f.name = name.to_owned();
            f.dry_run = dry_run;
        }
        self.authorize(who, verb, namespace).await?;
        let before = snapshot(self.cache.get(namespace, name).as_ref());
        let kind = match &change {
            Change::Declare { .. } => "replica count declared",
            Change::Hold { .. } => "hold placed",
            Change::EndHold => "hold ended",
            Change::Thaw => "freeze thawed",
            Change::Schedule(_) => "schedule set",
            Change::SetApproval(_) => "approval rule set",
            Change::Delete => "declaration cleared",
        };
        let request = write::Request {
            namespace,
            name,
            change,
            expected_version,
            if_current,
            dry_run,
            identity: &who.identity,
            approval: None,
        };
        let written = match self.writer.write(&request).await {
            Err(WriteError::NeedsApproval { needs, approvals_needed, generation, deployment_uid }) if !dry_run => {
                let ask = Ask {
                    namespace,
                    name,
                    change: &request.change,
                    requester: authenticated(who)?,
                    reason,
                    needs: &needs,
                    approvals_needed,
                    generation,
                    deployment_uid: &deployment_uid,
                };
                if let Some(group) = break_glass {
                    return self.broke_glass(who, &ask, group).await;
                }
                return Err(self.requested(who, &ask).await);
            }
            r => r?,
        };
        let generation = written.view.policy.as_ref().and_then(|p| p.metadata.generation);
        who.facts().write = Some((before, snapshot(Some(&written.view)), generation));
        let o = &written.outcome;
        tracing::info!(
            identity = %who.identity, namespace, name, dry_run, effective_before = o.effective_before,
            effective_after = o.effective_after, spec_before = o.spec_before, spec_after = o.spec_after,
            rule = %o.rule_detail_after, version = generation.unwrap_or_default(),
            "{}{kind}", if dry_run { "dry run: " } else { "" }
        );
        Ok(written)
    }
}
