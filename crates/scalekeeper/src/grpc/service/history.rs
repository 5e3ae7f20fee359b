//! GetHistory and Undo: the history of a Deployment's count, as the reconciler's leader keeps
//! it in the ReplicaPolicy's status (read here from the cache, never written here), and the
//! undo of the last declaration through the writer.

use scalekeeper_api::v1 as pb;
use scalekeeper_core::authz::Verb;
use scalekeeper_core::history::{self, Entry};
use scalekeeper_core::write::{self, BoundsChange, Change};
use scalekeeper_core::{Violation, validate_replicas, validate_target};

use super::{Caller, Service, WriteCall, convert, invalid};
use crate::cache::view::DeploymentView;
use crate::grpc::status::Error;
use crate::writer::WriteError;

/// The history a view's policy records, oldest first (empty for an unmanaged Deployment);
/// entries a hand-edited status made unreadable are left out.
fn entries(view: &DeploymentView) -> Vec<Entry> {
    view.policy
        .as_ref()
        .and_then(|p| p.status.as_ref())
        .map(|s| s.history.iter().filter_map(|e| e.to_domain()).collect())
        .unwrap_or_default()
}

impl Service {
    /// The cached view of `namespace/name`, after the checks every history call makes: the
    /// target is valid and in scope, the caller may `verb` replicapolicies there, the cache is
    /// ready.
    ///
    /// # Errors
    /// INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE; NOT_FOUND when the Deployment is not
    /// in the cache.
    async fn history_view(
        &self,
        who: &Caller,
        verb: Verb,
        namespace: &str,
        name: &str,
    ) -> Result<DeploymentView, Error> {
        invalid(validate_target(namespace, name))?;
        self.check_scope(namespace)?;
        who.facts().name = name.to_owned();
        self.authorize(who, verb, namespace).await?;
        self.require_ready()?;
        self.cache
            .get(namespace, name)
            .ok_or_else(|| Error::NotFound(format!("Deployment {namespace}/{name} not found")))
    }

    /// GetHistory: the Deployment now and its history, oldest first, from the cached policy's
    /// status, and its ScaleRequests from the cache, oldest first (RBAC verb get).
    ///
    /// # Errors
    /// See [`Service::history_view`].
    pub(super) async fn get_history_call(
        &self,
        r: pb::GetHistoryRequest,
        who: Caller,
    ) -> Result<pb::GetHistoryResponse, Error> {
        let view = self.history_view(&who, Verb::Get, &r.namespace, &r.name).await?;
        let now = jiff::Timestamp::now();
        Ok(pb::GetHistoryResponse {
            deployment: Some(convert::deployment(&view)),
            entries: entries(&view).iter().map(convert::history_entry).collect(),
            scale_requests: self
                .cache
                .scale_requests(&r.namespace, &r.name)
                .iter()
                .map(|sr| convert::scale_request(sr, now))
                .collect(),
        })
    }

    /// Undo: declares again the count declared before the last declaration
    /// ([`history::undo`]), through the writer, on condition that the policy is still at the
    /// request's `expected_version` or else at the version read with the history (RBAC verb
    /// update).
    ///
    /// # Errors
    /// Those of [`Service::history_view`]; FAILED_PRECONDITION when there is no policy, nothing
    /// to undo, the history has not caught up with the current declaration, or the count to
    /// declare again is above the server's maximum; the writer's errors (ABORTED naming the
    /// current version when the declaration moved since).
    pub(super) async fn undo_call(&self, r: pb::UndoRequest, who: Caller) -> Result<pb::UndoResponse, Error> {
        let view = self.history_view(&who, Verb::Update, &r.namespace, &r.name).await?;
        let Some(policy) = view.policy.as_deref() else {
            return Err(Error::FailedPrecondition(format!(
                "Deployment {}/{} has no declared count (no ReplicaPolicy): nothing to undo",
                r.namespace, r.name
            )));
        };
        // The caller's version first, as every write checks it (the write plan's rows 2 and 3):
        // a declaration made since the caller read the history is ABORTED naming the current
        // version, whether or not the history has recorded it yet.
        let check = write::Request {
            namespace: &r.namespace,
            name: &r.name,
            change: Change::EndHold,
            expected_version: &r.expected_version,
            if_current: None,
            dry_run: r.dry_run,
            identity: &who.identity,
            approval: None,
        };
        write::check_version(&check, Some(&write::Policy::from(policy)))
            .map_err(|refusal| Error::from(WriteError::from(refusal)))?;
        let history = entries(&view);
        let (undone, replicas) = history::undo(&history, policy.spec.replicas)
            .map_err(|e| Error::FailedPrecondition(format!("Deployment {}/{}: {e}", r.namespace, r.name)))?;
        let undone = convert::history_entry(undone);
        if let Some(Violation { description, .. }) =
            validate_replicas(replicas, self.config.max_replicas).into_iter().next()
        {
            return Err(Error::FailedPrecondition(format!(
                "the count declared before, {replicas}, cannot be declared again: {description}"
            )));
        }
        let read = view.version().map(|g| g.to_string()).unwrap_or_default();
        let expected = if r.expected_version.is_empty() { read } else { r.expected_version.clone() };
        let change = Change::Declare { replicas, mode: None, guard: None, bounds: BoundsChange::Keep };
        let call = WriteCall {
            expected_version: &expected,
            dry_run: r.dry_run,
            reason: "undo",
            ..WriteCall::new(Verb::Update, &r.namespace, &r.name, change)
        };
        let w = self.write(&who, call).await?;
        Ok(pb::UndoResponse {
            deployment: Some(convert::deployment(&w.view)),
            outcome: Some(convert::outcome(&w.outcome)),
            undone: Some(undone),
        })
    }
}
