//! ScaleRequests (the two-person rule, issue 27): a write its policy's approval rule holds back
//! becomes a [`ScaleRequest`]; approvals are recorded on its status; at the number the rule asks
//! for, the writer applies the change, conditional on the declaration it was requested on.
//!
//! ```text
//!  write ─► plan: NeedsApproval ─► request_approval: POST ScaleRequest (generateName, spec once,
//!                                   its digest) · Event ScaleRequested ─► FAILED_PRECONDITION + hint
//!  approve ─► GET · digest of the stored spec == spec.digest == the approver's · core approve()
//!            ─► PUT status (resourceVersion precondition; 409: again) · Event ScaleRequestApproved
//!            └─ complete ─► write(change, expected_version = basedOnGeneration, approval note)
//!                            ├─ written ─► Applied            (the write's own Event names the approvers)
//!                            ├─ refused (the declaration moved, an HPA, bounds) ─► Superseded
//!                            └─ Kubernetes failed ─► stays Approved: approving again retries
//!  deny ─► GET · core deny() ─► PUT status Denied · Event ScaleRequestDenied
//!  break-glass write (a member of a break-glass group; a hold of at most 1 h)
//!        ─► POST ScaleRequest (breakGlassGroup) ─► write(change, basedOnGeneration, break-glass note)
//!        ─► PUT status ReviewRequired (or Superseded) · Warning Event BreakGlassUsed
//!  approve of a ReviewRequired request ─► core acknowledge() ─► PUT status Reviewed · Event ScaleRequestReviewed
//! ```
//!
//! The decisions (what counts, in which phase) are the domain's ([`scalekeeper_core::approval`]);
//! this module reads, asks the domain and writes.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ListParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource as _, ResourceExt as _};
use scalekeeper_core::approval::{self, ApprovalRecord, Need, Phase};
use scalekeeper_core::authz::Subject;
use scalekeeper_core::spec::timestamp;
use scalekeeper_core::write::{self, BoundsChange, Change, WindowSpec};

use super::{FIELD_MANAGER, WRITE_ATTEMPTS, WriteError, Writer, Written, what};
use crate::events::publish_on;
use crate::policy::{PolicyApproval, PolicyWindow};
use crate::scalerequest::{
    ApprovalChange, DeclareChange, HoldChange, RecordedApproval, RequestedChange, Requester, ScaleRequest,
    ScaleRequestSpec, ScaleRequestStatus, ScheduleChange, spec_digest,
};
pub use crate::scalerequest::{created, phase_at, state};

/// Event reason: a write needed approval and was recorded as a ScaleRequest.
pub const REASON_SCALE_REQUESTED: &str = "ScaleRequested";
/// Event reason: an identity approved a ScaleRequest.
pub const REASON_SCALE_REQUEST_APPROVED: &str = "ScaleRequestApproved";
/// Event reason: an identity denied a ScaleRequest.
pub const REASON_SCALE_REQUEST_DENIED: &str = "ScaleRequestDenied";
/// Event reason (Warning): an approved ScaleRequest was not applied, because the state it was
/// requested on changed (the declaration moved, an HPA took the count, a bound).
pub const REASON_SCALE_REQUEST_SUPERSEDED: &str = "ScaleRequestSuperseded";
/// Event reason (Warning): a member of a break-glass group applied a change the approval rule
/// holds back, at once; it waits for review.
pub const REASON_BREAK_GLASS_USED: &str = "BreakGlassUsed";
/// Event reason: a second identity acknowledged a break-glass change.
pub const REASON_SCALE_REQUEST_REVIEWED: &str = "ScaleRequestReviewed";
/// The Event action of the approval flow.
const ACTION_APPROVAL: &str = "Approval";

/// A write that needs approval, to record as a ScaleRequest.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    /// Namespace of the Deployment.
    pub namespace: &'a str,
    /// Name of the Deployment.
    pub name: &'a str,
    /// The change the caller asked for.
    pub change: &'a Change,
    /// Who asked (from the client certificate).
    pub requester: &'a Subject,
    /// Why, as the caller said (may be empty).
    pub reason: &'a str,
    /// What needs approval ([`approval::needs`]).
    pub needs: &'a [Need],
    /// How many approvals.
    pub approvals_needed: u32,
    /// The policy's generation the change was planned on.
    pub generation: i64,
    /// The Deployment's UID.
    pub deployment_uid: &'a str,
}

/// What an approval did: the request after it, and the write when it applied the change.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The request as stored after the approval.
    pub request: ScaleRequest,
    /// The write, when this approval completed the request and the change was applied.
    pub written: Option<Written>,
}

impl Writer {
    /// Records `ask` as a ScaleRequest (named `{deployment}-` and five characters the API
    /// server chooses, owned by the Deployment so it goes with it), pending until
    /// [`approval::DEFAULT_REQUEST_TTL`] from now, and publishes `ScaleRequested` on the
    /// Deployment and the request.
    ///
    /// # Errors
    /// [`WriteError::Invalid`] for a change that is never held back (ending a hold, a thaw, a
    /// delete); [`WriteError::Kube`] when the create fails.
    pub async fn request_approval(&self, ask: &Ask<'_>) -> Result<ScaleRequest, WriteError> {
        let created = self.create_request(ask, None).await?;
        // The phase and the count from the start, for `kubectl get scalerequests` (a request
        // without a status reads as Pending all the same, so a failure here changes nothing).
        let api: Api<ScaleRequest> = Api::namespaced(self.client.clone(), ask.namespace);
        let status = ScaleRequestStatus {
            phase: Some(Phase::Pending.as_str().into()),
            approval_count: Some(0),
            ..Default::default()
        };
        let created = match self.put_status(&api, &created, status).await {
            Ok(Some(stored)) => stored,
            Ok(None) => created,
            Err(e) => {
                tracing::warn!(request = %created.name_any(), error = %e, "recording the new request's phase failed");
                created
            }
        };
        let note = format!(
            "{} asked to {}: {}",
            ask.requester.user,
            created.spec.summary,
            approval::needs_message(ask.needs, ask.approvals_needed)
        );
        self.announce(&created, EventType::Normal, REASON_SCALE_REQUESTED, &note).await;
        Ok(created)
    }

    /// Creates the ScaleRequest of `ask` (with `break_glass_group` when a break-glass member
    /// applies it at once).
    pub(super) async fn create_request(
        &self,
        ask: &Ask<'_>,
        break_glass_group: Option<&str>,
    ) -> Result<ScaleRequest, WriteError> {
        let change = requested(ask.change)
            .map_err(|description| WriteError::Invalid { field: "change".into(), description: description.into() })?;
        let now = Timestamp::now();
        let ttl = jiff::SignedDuration::try_from(approval::DEFAULT_REQUEST_TTL).unwrap_or(jiff::SignedDuration::ZERO);
        let expires = now.checked_add(ttl).unwrap_or(now);
        let mut spec = ScaleRequestSpec {
            deployment: ask.name.to_owned(),
            deployment_uid: ask.deployment_uid.to_owned(),
            based_on_generation: Some(ask.generation),
            summary: summary(ask.change),
            change,
            requester: Requester { user: ask.requester.user.clone(), groups: ask.requester.groups.clone() },
            reason: ask.reason.to_owned(),
            expires_at: timestamp(expires),
            needs_approval_because: ask.needs.iter().map(ToString::to_string).collect(),
            approvals_needed: ask.approvals_needed,
            break_glass_group: break_glass_group.map(str::to_owned),
            digest: String::new(),
        };
        spec.digest = spec_digest(&spec).map_err(|e| WriteError::Invalid {
            field: "change".into(),
            description: format!("the request does not serialize: {e}"),
        })?;
        let mut sr = ScaleRequest::new("", spec);
        sr.metadata.name = None;
        sr.metadata.generate_name = Some(format!("{}-", ask.name));
        sr.metadata.namespace = Some(ask.namespace.to_owned());
        sr.metadata.owner_references = Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: ask.name.to_owned(),
            uid: ask.deployment_uid.to_owned(),
            controller: Some(false),
            block_owner_deletion: Some(false),
        }]);
        let api: Api<ScaleRequest> = Api::namespaced(self.client.clone(), ask.namespace);
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        api.create(&pp, &sr).await.map_err(WriteError::kube(format!("ScaleRequests in {}", ask.namespace)))
    }

    /// The ScaleRequests in `namespace` (every namespace when `None`).
    ///
    /// # Errors
    /// [`WriteError::Kube`] when the list fails.
    pub async fn scale_requests(&self, namespace: Option<&str>) -> Result<Vec<ScaleRequest>, WriteError> {
        let api: Api<ScaleRequest> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(WriteError::kube(format!("ScaleRequests in {}", namespace.unwrap_or("every namespace"))))?;
        Ok(list.items)
    }

    /// Records `approver`'s approval of ScaleRequest `namespace/name`, bound to `digest_seen`;
    /// when it is the last one needed (or the request is Approved and not applied yet), applies
    /// the change ([`Writer::write`], conditional on the generation it was requested on, in the
    /// requester's name with the approvers in the Event) and records Applied, or Superseded
    /// when the write is refused.
    ///
    /// # Errors
    /// [`WriteError::NotFound`] (no such request); [`WriteError::RequestRefused`] with the
    /// domain's refusal ([`approval::ApproveRefusal`]: not pending, expired, self-approval, a
    /// second approval by one identity, a changed digest) or a spec that no longer matches its
    /// digest; [`WriteError::Contended`]; [`WriteError::Kube`] (the request stays as it was, or
    /// Approved when applying failed: approving again retries).
    pub async fn approve(
        &self,
        namespace: &str,
        name: &str,
        approver: &str,
        digest_seen: &str,
    ) -> Result<Decided, WriteError> {
        let api: Api<ScaleRequest> = Api::namespaced(self.client.clone(), namespace);
        for _ in 0..WRITE_ATTEMPTS {
            let now = Timestamp::now();
            let sr = self.read_request(&api, namespace, name).await?;
            let records = records(&sr);
            let state = state(&sr, &records);
            if state.phase == Phase::ReviewRequired {
                if let Err(refusal) = approval::acknowledge(&state, approver, digest_seen) {
                    return Err(self.refused(&api, sr, refusal).await);
                }
                let mut status = sr.status.clone().unwrap_or_default();
                status.approvals.push(RecordedApproval {
                    identity: approver.to_owned(),
                    time: timestamp(now),
                    digest: digest_seen.to_owned(),
                });
                status.phase = Some(Phase::Reviewed.as_str().into());
                // The review is the one approval a break-glass change needs.
                status.approval_count = Some(1);
                status.outcome = Some(match status.outcome.take() {
                    Some(applied) => format!("{applied}; reviewed by {approver}"),
                    None => format!("reviewed by {approver}"),
                });
                status.decided_by = Some(approver.to_owned());
                status.decided_at = Some(timestamp(now));
                let Some(stored) = self.put_status(&api, &sr, status).await? else { continue };
                let note = format!(
                    "{approver} reviewed the break-glass change by {}: {}",
                    stored.spec.requester.user, stored.spec.summary
                );
                self.announce(&stored, EventType::Normal, REASON_SCALE_REQUEST_REVIEWED, &note).await;
                return Ok(Decided { request: stored, written: None });
            }
            let approved = match approval::approve(&state, approver, digest_seen, now) {
                Ok(a) => a,
                Err(refusal) => return Err(self.refused(&api, sr, refusal).await),
            };
            let sr = if state.phase == Phase::Pending {
                let mut status = sr.status.clone().unwrap_or_default();
                status.approvals.push(RecordedApproval {
                    identity: approver.to_owned(),
                    time: timestamp(now),
                    digest: digest_seen.to_owned(),
                });
                status.approval_count = Some(approved.counted);
                if approved.complete {
                    status.phase = Some(Phase::Approved.as_str().into());
                }
                let Some(stored) = self.put_status(&api, &sr, status).await? else { continue };
                let note = format!(
                    "{approver} approved {} ({} of {} approvals)",
                    stored.spec.summary, approved.counted, stored.spec.approvals_needed
                );
                self.announce(&stored, EventType::Normal, REASON_SCALE_REQUEST_APPROVED, &note).await;
                stored
            } else {
                sr
            };
            if !approved.complete {
                return Ok(Decided { request: sr, written: None });
            }
            return self.apply_approved(&api, sr).await;
        }
        Err(WriteError::Contended { namespace: namespace.into(), name: name.into(), attempts: WRITE_ATTEMPTS })
    }

    /// Denies ScaleRequest `namespace/name` as `denier`, for `reason`.
    ///
    /// # Errors
    /// [`WriteError::NotFound`]; [`WriteError::RequestRefused`] (not pending, expired, no
    /// reason); [`WriteError::Contended`]; [`WriteError::Kube`].
    pub async fn deny(
        &self,
        namespace: &str,
        name: &str,
        denier: &str,
        reason: &str,
    ) -> Result<ScaleRequest, WriteError> {
        let api: Api<ScaleRequest> = Api::namespaced(self.client.clone(), namespace);
        for _ in 0..WRITE_ATTEMPTS {
            let now = Timestamp::now();
            let sr = self.read_request(&api, namespace, name).await?;
            let records = records(&sr);
            if let Err(refusal) = approval::deny(&state(&sr, &records), reason, now) {
                return Err(self.refused(&api, sr, refusal).await);
            }
            let mut status = sr.status.clone().unwrap_or_default();
            status.phase = Some(Phase::Denied.as_str().into());
            status.decided_by = Some(denier.to_owned());
            status.decided_at = Some(timestamp(now));
            status.outcome = Some(format!("denied by {denier}: {reason}"));
            let Some(stored) = self.put_status(&api, &sr, status).await? else { continue };
            let note = format!("{denier} denied {}: {reason}", stored.spec.summary);
            self.announce(&stored, EventType::Normal, REASON_SCALE_REQUEST_DENIED, &note).await;
            return Ok(stored);
        }
        Err(WriteError::Contended { namespace: namespace.into(), name: name.into(), attempts: WRITE_ATTEMPTS })
    }

    /// Applies an Approved request's change and records what became of it.
    async fn apply_approved(&self, api: &Api<ScaleRequest>, sr: ScaleRequest) -> Result<Decided, WriteError> {
        let namespace = sr.namespace().unwrap_or_default();
        let name = sr.name_any();
        let change = change_of(&sr.spec.change).ok_or_else(|| {
            WriteError::Precondition(format!(
                "ScaleRequest {namespace}/{name} names no change (or several): it cannot be applied"
            ))
        })?;
        let records = records(&sr);
        let approvers = approval::counted(&state(&sr, &records)).join(", ");
        let note = format!("approved by {approvers} in ScaleRequest {namespace}/{name}");
        let version = sr.spec.based_on_generation.map(|g| g.to_string()).unwrap_or_default();
        let result = self
            .write(&write::Request {
                namespace: &namespace,
                name: &sr.spec.deployment,
                change,
                expected_version: &version,
                if_current: None,
                dry_run: false,
                identity: &sr.spec.requester.user,
                approval: Some(&note),
            })
            .await;
        let (phase, outcome, written) = match result {
            Ok(w) => {
                let o = &w.outcome;
                let outcome = format!(
                    "applied ({note}): effective count {} -> {}, spec.replicas {} -> {}",
                    o.effective_before, o.effective_after, o.spec_before, o.spec_after
                );
                (Phase::Applied, outcome, Some(w))
            }
            Err(WriteError::VersionMismatch { expected, current, .. }) => {
                let now = current.map_or_else(|| "it was deleted".to_owned(), |g| format!("it is at version {g}"));
                let outcome = format!(
                    "not applied: the declaration moved since the request (made on version {expected}; {now}); ask again"
                );
                (Phase::Superseded, outcome, None)
            }
            Err(
                e @ (WriteError::HpaOwnsCount { .. }
                | WriteError::OutOfBounds(_)
                | WriteError::Precondition(_)
                | WriteError::NotFound { .. }
                | WriteError::NeedsApproval { .. }),
            ) => (Phase::Superseded, format!("not applied: {e}"), None),
            Err(e) => return Err(e),
        };
        let mut current = sr;
        for _ in 0..WRITE_ATTEMPTS {
            let mut status = current.status.clone().unwrap_or_default();
            status.phase = Some(phase.as_str().into());
            status.outcome = Some(outcome.clone());
            status.decided_at = Some(timestamp(Timestamp::now()));
            if let Some(stored) = self.put_status(api, &current, status).await? {
                if phase == Phase::Superseded {
                    self.announce(&stored, EventType::Warning, REASON_SCALE_REQUEST_SUPERSEDED, &outcome).await;
                }
                return Ok(Decided { request: stored, written });
            }
            current = self.read_request(api, &namespace, &name).await?;
        }
        Err(WriteError::Contended { namespace, name, attempts: WRITE_ATTEMPTS })
    }

    /// Reads a request, and refuses one whose stored spec no longer matches its digest (it was
    /// edited after the server wrote it).
    pub(super) async fn read_request(
        &self,
        api: &Api<ScaleRequest>,
        namespace: &str,
        name: &str,
    ) -> Result<ScaleRequest, WriteError> {
        let sr = api.get_opt(name).await.map_err(WriteError::kube(what("ScaleRequest", namespace, name)))?;
        let sr = sr.ok_or_else(|| WriteError::NotFound { what: what("ScaleRequest", namespace, name) })?;
        match spec_digest(&sr.spec) {
            Ok(d) if d == sr.spec.digest => Ok(sr),
            _ => Err(WriteError::RequestRefused {
                namespace: namespace.into(),
                request: name.into(),
                message: format!(
                    "ScaleRequest {namespace}/{name} was edited after it was made (its spec no longer matches its \
                     digest): it cannot be approved or denied; ask again"
                ),
            }),
        }
    }

    /// Replaces the status of `sr`, conditional on its resourceVersion: `None` on a conflict
    /// (read again and decide again).
    pub(super) async fn put_status(
        &self,
        api: &Api<ScaleRequest>,
        sr: &ScaleRequest,
        status: ScaleRequestStatus,
    ) -> Result<Option<ScaleRequest>, WriteError> {
        let mut next = sr.clone();
        next.status = Some(status);
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        match api.replace_status(&sr.name_any(), &pp, &next).await {
            Ok(stored) => Ok(Some(stored)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
            Err(e) => {
                Err(WriteError::kube(what("ScaleRequest", &sr.namespace().unwrap_or_default(), &sr.name_any()))(e))
            }
        }
    }

    /// The error of an approval or a denial the domain refused on `sr`, with `sr` recorded as
    /// Expired first when that is why.
    async fn refused(
        &self,
        api: &Api<ScaleRequest>,
        sr: ScaleRequest,
        refusal: approval::ApproveRefusal,
    ) -> WriteError {
        let (namespace, request) = (sr.namespace().unwrap_or_default(), sr.name_any());
        let message = format!("{}: {refusal}", what("ScaleRequest", &namespace, &request));
        if matches!(refusal, approval::ApproveRefusal::Expired { .. }) {
            self.expired(api, sr).await;
        }
        WriteError::RequestRefused { namespace, request, message }
    }

    /// Records a pending request past its expiry as Expired (best effort: the phase reads as
    /// Expired whether or not this lands). Returns the request as stored when this call
    /// recorded it.
    pub(super) async fn mark_expired(&self, api: &Api<ScaleRequest>, sr: ScaleRequest) -> Option<ScaleRequest> {
        let mut status = sr.status.clone().unwrap_or_default();
        if status.phase.as_deref().is_some_and(|p| p != Phase::Pending.as_str()) {
            return None;
        }
        status.phase = Some(Phase::Expired.as_str().into());
        status.outcome = Some(format!("not approved before {}", sr.spec.expires_at));
        match self.put_status(api, &sr, status).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(request = %sr.name_any(), error = %e, "recording an expired ScaleRequest failed");
                None
            }
        }
    }

    /// Publishes an Event about `sr` on it and on its Deployment.
    pub(super) async fn announce(&self, sr: &ScaleRequest, type_: EventType, reason: &str, note: &str) {
        let deployment = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            namespace: sr.namespace(),
            name: Some(sr.spec.deployment.clone()),
            uid: Some(sr.spec.deployment_uid.clone()).filter(|u| !u.is_empty()),
            ..Default::default()
        };
        publish_on(&self.recorder, &[deployment, sr.object_ref(&())], type_, reason, ACTION_APPROVAL, note).await;
    }
}

/// The approvals recorded on `sr`'s status, as the domain reads them.
fn records(sr: &ScaleRequest) -> Vec<ApprovalRecord> {
    sr.status
        .iter()
        .flat_map(|s| &s.approvals)
        .map(|a| ApprovalRecord { identity: a.identity.clone(), time: a.time.clone(), digest: a.digest.clone() })
        .collect()
}

/// The ScaleRequest gauges as of `now`: how many `requests` are in each phase (every
/// [`Phase::ALL`], zeros included; a pending one past its expiry counts as Expired,
/// [`approval::phase_at`]) and how long the oldest pending one has waited, in seconds (0 when
/// none is pending).
pub fn scale_request_gauges(requests: &[std::sync::Arc<ScaleRequest>], now: Timestamp) -> (Vec<(Phase, i64)>, f64) {
    let mut counts: Vec<(Phase, i64)> = Phase::ALL.iter().map(|p| (*p, 0)).collect();
    let mut oldest = 0.0_f64;
    for sr in requests {
        let phase = approval::phase_at(&state(sr, &[]), now);
        if let Some(c) = counts.iter_mut().find(|(p, _)| *p == phase) {
            c.1 += 1;
        }
        if phase == Phase::Pending {
            oldest = oldest.max(now.duration_since(created(sr)).as_secs_f64().max(0.0));
        }
    }
    (counts, oldest)
}

/// The approvals that count on `sr` (distinct identities, not the requester, of its digest).
pub fn counted(sr: &ScaleRequest) -> Vec<String> {
    let records = records(sr);
    approval::counted(&state(sr, &records)).into_iter().map(str::to_owned).collect()
}

/// The change as a ScaleRequest records it.
///
/// # Errors
/// What the caller reads for a change a request cannot record: a hold that also sets the mode,
/// the guard or the bounds (they go in a call of their own), and the changes never held for
/// approval (ending a hold, a thaw, a delete).
fn requested(change: &Change) -> Result<RequestedChange, &'static str> {
    let mut r = RequestedChange::default();
    match change {
        Change::Declare { replicas, mode, guard, bounds } => {
            let (min_replicas, max_replicas, clear_bounds) = bounds_fields(*bounds);
            r.declare = Some(DeclareChange {
                replicas: *replicas,
                mode: *mode,
                guard: *guard,
                min_replicas,
                max_replicas,
                clear_bounds,
            });
        }
        Change::Hold {
            replicas,
            duration,
            reason,
            freeze: false,
            mode: None,
            guard: None,
            bounds: BoundsChange::Keep,
        } => {
            r.hold = Some(HoldChange {
                replicas: *replicas,
                duration_seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
                reason: reason.clone(),
            });
        }
        Change::Schedule(windows) => {
            r.schedule = Some(ScheduleChange {
                windows: windows
                    .iter()
                    .map(|w| PolicyWindow { window: w.window.clone(), replicas: w.replicas })
                    .collect(),
            });
        }
        Change::SetApproval(rule) => {
            r.approval = Some(ApprovalChange { rule: rule.map(PolicyApproval::from) });
        }
        Change::Hold { .. } => {
            return Err(
                "a hold that needs approval cannot also set the mode, the guard or the bounds: set those in a \
                        call of their own",
            );
        }
        Change::EndHold | Change::Thaw | Change::Delete => return Err("this change is never held for approval"),
    }
    Ok(r)
}

/// The change a ScaleRequest records; `None` unless exactly one is set.
fn change_of(r: &RequestedChange) -> Option<Change> {
    match (&r.declare, &r.hold, &r.schedule, &r.approval) {
        (Some(d), None, None, None) => Some(Change::Declare {
            replicas: d.replicas,
            mode: d.mode,
            guard: d.guard,
            bounds: BoundsChange::from_request(d.min_replicas, d.max_replicas, d.clear_bounds),
        }),
        (None, Some(h), None, None) => Some(Change::Hold {
            replicas: h.replicas,
            duration: Duration::from_secs(u64::try_from(h.duration_seconds).ok()?),
            reason: h.reason.clone(),
            mode: None,
            guard: None,
            bounds: BoundsChange::Keep,
            freeze: false,
        }),
        (None, None, Some(s), None) => Some(Change::Schedule(
            s.windows.iter().map(|w| WindowSpec { window: w.window.clone(), replicas: w.replicas }).collect(),
        )),
        (None, None, None, Some(a)) => Some(Change::SetApproval(a.rule.as_ref().map(Into::into))),
        _ => None,
    }
}

/// A bounds change as the request's `minReplicas`, `maxReplicas` and `clearBounds`.
fn bounds_fields(b: BoundsChange) -> (Option<i32>, Option<i32>, bool) {
    match b {
        BoundsChange::Keep => (None, None, false),
        BoundsChange::Set { min, max } => (min, max, false),
        BoundsChange::Clear => (None, None, true),
    }
}

/// A duration in words, e.g. `1h`, `1h30m`, `45s` (whole seconds).
fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(s / 86_400, "d"), (h % 24, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// The change in words (`spec.summary`, the CLI's CHANGE column), e.g. `declare 0 replicas`.
pub fn summary(change: &Change) -> String {
    match change {
        Change::Declare { replicas, .. } => format!("declare {replicas} replicas"),
        Change::Hold { replicas, duration, .. } => {
            format!("hold {replicas} replicas for {}", span(*duration))
        }
        Change::Schedule(w) if w.is_empty() => "clear the schedule".into(),
        Change::Schedule(w) => format!(
            "set the schedule to {}",
            w.iter().map(|w| format!("{:?} -> {}", w.window, w.replicas)).collect::<Vec<_>>().join(", ")
        ),
        Change::SetApproval(Some(_)) => "change the approval rule".into(),
        Change::SetApproval(None) => "remove the approval rule".into(),
        Change::EndHold => "end the hold".into(),
        Change::Thaw => "thaw".into(),
        Change::Delete => "stop managing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalekeeper_core::approval::ApprovalRule;
    use scalekeeper_core::sync::Mode;

    #[test]
    fn every_change_held_for_approval_round_trips_through_the_request() {
        let changes = [
            Change::Declare { replicas: 0, mode: None, guard: None, bounds: BoundsChange::Keep },
            Change::Declare {
                replicas: 40,
                mode: Some(Mode::Observe),
                guard: None,
                bounds: BoundsChange::Set { min: Some(2), max: None },
            },
            Change::Declare { replicas: 3, mode: None, guard: None, bounds: BoundsChange::Clear },
            Change::Hold {
                replicas: 40,
                duration: Duration::from_secs(3600),
                reason: "INC-1".into(),
                mode: None,
                guard: None,
                bounds: BoundsChange::Keep,
                freeze: false,
            },
            Change::Schedule(vec![WindowSpec { window: "Sat-Sun 00:00-24:00 UTC".into(), replicas: 0 }]),
            Change::Schedule(vec![]),
            Change::SetApproval(Some(ApprovalRule {
                above: Some(20),
                below: None,
                max_step_percent: None,
                approvers: 2,
            })),
            Change::SetApproval(None),
        ];
        for c in changes {
            let r = requested(&c).unwrap_or_else(|e| panic!("{c:?} is held for approval: {e}"));
            assert_eq!(change_of(&r), Some(c.clone()), "{c:?}");
        }
    }

    #[test]
    fn changes_never_held_are_not_requested_and_a_request_with_two_changes_is_none() {
        for c in [Change::EndHold, Change::Thaw, Change::Delete] {
            assert!(requested(&c).is_err(), "{c:?}");
        }
        let mut both = requested(&Change::Schedule(vec![])).unwrap();
        both.approval = Some(ApprovalChange { rule: None });
        assert_eq!(change_of(&both), None);
        assert_eq!(change_of(&RequestedChange::default()), None);
    }

    #[test]
    fn the_gauges_count_each_phase_and_read_a_lapsed_pending_request_as_expired() {
        let now: Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let request = |created: &str, expires: &str, phase: Option<&str>| {
            let mut sr = ScaleRequest::new(
                "web-x",
                ScaleRequestSpec { expires_at: expires.into(), approvals_needed: 1, ..Default::default() },
            );
            sr.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(created.parse().unwrap()));
            sr.status = phase.map(|p| ScaleRequestStatus { phase: Some(p.into()), ..Default::default() });
            std::sync::Arc::new(sr)
        };
        let all = [
            request("2026-12-07T11:20:00Z", "2026-12-07T12:20:00Z", None),
            request("2026-12-07T11:50:00Z", "2026-12-07T12:50:00Z", Some("Pending")),
            request("2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z", Some("Pending")),
            request("2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z", Some("Applied")),
        ];
        let (counts, oldest) = scale_request_gauges(&all, now);
        let n = |p: Phase| counts.iter().find(|(q, _)| *q == p).map(|(_, n)| *n);
        assert_eq!(counts.len(), Phase::ALL.len(), "every phase, zeros included");
        assert_eq!(
            (n(Phase::Pending), n(Phase::Expired), n(Phase::Applied), n(Phase::Denied)),
            (Some(2), Some(1), Some(1), Some(0))
        );
        assert!((oldest - 2400.0).abs() < 1e-6, "the oldest pending one waited 40 minutes: {oldest}");
        assert_eq!(scale_request_gauges(&[], now).1, 0.0);
    }

    #[test]
    fn summaries_say_the_change() {
        let hold = Change::Hold {
            replicas: 40,
            duration: Duration::from_secs(3600),
            reason: "x".into(),
            mode: None,
            guard: None,
            bounds: BoundsChange::Keep,
            freeze: false,
        };
        assert_eq!(summary(&hold), "hold 40 replicas for 1h");
        assert_eq!(
            summary(&Change::Declare { replicas: 0, mode: None, guard: None, bounds: BoundsChange::Keep }),
            "declare 0 replicas"
        );
        assert_eq!(summary(&Change::SetApproval(None)), "remove the approval rule");
        assert_eq!(span(Duration::from_secs(5400)), "1h30m");
        assert_eq!(span(Duration::from_secs(86_400 + 45)), "1d45s");
    }
}
