//! Writes to Kubernetes: every change a caller makes to a Deployment's ReplicaPolicy
//! (declaring a count, placing or ending a hold, setting the schedule and the bounds, deleting
//! the policy), followed by the Deployment's scale subresource when the effective count moved.
//!
//! What a write does is decided by the domain's pure write plan
//! ([`scalekeeper_core::write::plan`], a table test per row); the writer only reads, plans and
//! executes:
//!
//! ```text
//!  lock     the policy's write lock in this process (writes of one policy queue; `locks`)
//!  read     Deployment (404: NotFound) · HPAs targeting it (not for a delete)
//!  loop     GET policy (· GET Deployment again for --if-current or a retry) → plan → Refusal: fail
//!           ├─ nothing to write (dry run, nothing to change): the state as it would be
//!           └─ create / replace / delete the policy, conditional on the resourceVersion read
//!              409: read again and plan again (at most WRITE_ATTEMPTS); fields dropped:
//!              CrdOutdated; the cache gets the written policy at once
//!  execute  PATCH scale (when the plan scales) · unlock · the Event · GET the Deployment back
//! ```
//!
//! A write is applied once, by the writer's own scale write, and recorded as an Event naming
//! the caller (`ReplicasDeclared`, `HoldStarted`, `HoldCleared`, `ScheduleChanged`); the
//! reconciler leaves a fresh declaration to that write (see
//! [`crate::reconciler::DECLARATION_GRACE`]) and never counts it as a drift.
//!
//! Every write is conditional on a resourceVersion, so two callers racing never silently
//! overwrite each other: with `expected_version` the caller's version is the precondition;
//! without it, a conflict is read again and retried. `if_current` adds a condition on the
//! Deployment's spec.replicas, and a retry after a conflict fails when another declaration
//! landed in between (two callers with the same condition: one wins). A dry run makes the same
//! reads and checks and writes nothing.
//!
//! Failures are a [`WriteError`], which names no gRPC type: the gRPC edge maps it to the API's
//! error in one place (`crate::grpc::status`).

use std::sync::Arc;

use crate::cache::{Cache, CachedDeployment};
use crate::hpa::{self, HorizontalPodAutoscaler};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{EventType, Recorder};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use serde_json::json;

use scalekeeper_core::rules::BoundsError;
use scalekeeper_core::write::{
    self, Attempt, DeploymentFacts, PolicyWrite, Refusal, ScaleResult, Stamp, WriteEvent, hpa_owns_count_message,
    version_mismatch_message,
};

use crate::events::publish_on;

mod break_glass;
mod locks;
mod requests;
pub mod sweep;
pub use requests::{Ask, Decided, counted, created, phase_at, scale_request_gauges, state, summary};

use crate::cache::view::DeploymentView;
use crate::policy::{
    CREATED_BY_FREEZE, FIELD_MANAGER, LAST_SET_AT, LAST_SET_BY, LAST_SET_DEPLOYMENT_GENERATION, PolicyGuard,
    ReplicaPolicy, ReplicaPolicySpec,
};

/// What a write did, or with a dry run would do: the domain's (the API's `WriteOutcome`).
pub use scalekeeper_core::write::Outcome;

/// Why a write failed. The gRPC edge maps each variant (and, for [`WriteError::Kube`], the
/// Kubernetes status code) to an API error.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The Deployment does not exist; `what` names it (`Deployment shop/web`).
    #[error("{what} not found")]
    NotFound {
        /// The object, e.g. `Deployment shop/web`.
        what: String,
    },
    /// A HorizontalPodAutoscaler targets the Deployment: it owns the replica count, and
    /// scalekeeper does not fight it.
    #[error("{}", hpa_owns_count_message(.namespace, .hpa, .deployment))]
    HpaOwnsCount {
        /// Namespace of both.
        namespace: String,
        /// The HPA's name.
        hpa: String,
        /// The Deployment's name.
        deployment: String,
    },
    /// The caller expected a version of the policy, and the policy is at another one
    /// (`current`), or does not exist (`current: None`).
    #[error("{}", version_mismatch_message(.namespace, .name, *.expected, *.current))]
    VersionMismatch {
        /// Namespace of the policy.
        namespace: String,
        /// Name of the policy (and of its Deployment).
        name: String,
        /// The generation the caller expected.
        expected: i64,
        /// The generation found; `None`: no policy.
        current: Option<i64>,
    },
    /// Concurrent writes moved the policy's resourceVersion on every one of `attempts` tries.
    #[error("ReplicaPolicy {namespace}/{name} kept changing under {attempts} attempts to write it; retry")]
    Contended {
        /// Namespace of the policy.
        namespace: String,
        /// Name of the policy.
        name: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The write's condition does not hold: spec.replicas is not the count the caller gave
    /// (`--if-current`), the policy is not settled, or another declaration landed first; the
    /// message (the domain's [`Refusal`]) says which.
    #[error("{0}")]
    Precondition(String),
    /// A count of the resulting policy is outside its bounds, or the bounds contradict.
    #[error("{0}")]
    OutOfBounds(BoundsError),
    /// The API server dropped fields of the written policy: the cluster's ReplicaPolicy CRD is
    /// older than this server (Helm never upgrades a CRD), so its schema prunes them.
    #[error(
        "the cluster's ReplicaPolicy CRD is older than this server: it dropped {fields} of ReplicaPolicy \
         {namespace}/{name}, which was written without them; apply this version's CRD (`scalekeeper crd | \
         kubectl apply -f -`) and retry"
    )]
    CrdOutdated {
        /// Namespace of the policy.
        namespace: String,
        /// Name of the policy.
        name: String,
        /// The spec fields dropped, e.g. `spec.hold`.
        fields: String,
    },
    /// A request field is not acceptable (`field` names it, as in the API request).
    #[error("{field}: {description}")]
    Invalid {
        /// The request field, e.g. `expected_version`.
        field: String,
        /// What is wrong with it.
        description: String,
    },
    /// The policy's approval rule holds the write back (the two-person rule): the caller
    /// records it as a ScaleRequest ([`Writer::request_approval`]) unless it was a dry run.
    #[error("{} (dry run: no ScaleRequest made)", scalekeeper_core::approval::needs_message(.needs, *.approvals_needed))]
    NeedsApproval {
        /// What needs approval.
        needs: Vec<scalekeeper_core::approval::Need>,
        /// How many approvals.
        approvals_needed: u32,
        /// The policy's generation the write was planned on.
        generation: i64,
        /// The Deployment's UID.
        deployment_uid: String,
    },
    /// The write was recorded as ScaleRequest `namespace/request`, waiting for approval; the
    /// message says what needs approval and the command that approves it.
    #[error("{message}")]
    ApprovalRequired {
        /// Namespace of the request.
        namespace: String,
        /// Name of the request.
        request: String,
        /// What the caller reads.
        message: String,
    },
    /// An approval, review or denial of ScaleRequest `namespace/request` was refused; the
    /// message says why ([`scalekeeper_core::approval::ApproveRefusal`], or a spec edited
    /// after it was made).
    #[error("{message}")]
    RequestRefused {
        /// Namespace of the request.
        namespace: String,
        /// Name of the request.
        request: String,
        /// What the caller reads.
        message: String,
    },
    /// The Kubernetes API refused or failed a call about `what`.
    #[error("{what}: {source}")]
    Kube {
        /// The object or collection, e.g. `ReplicaPolicy shop/web`, `HorizontalPodAutoscalers in shop`.
        what: String,
        /// The client's error (an API status with its HTTP code, or a transport failure).
        source: kube::Error,
    },
}

impl WriteError {
    /// A closure wrapping a client error about `what`, for `map_err`.
    fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| WriteError::Kube { what, source }
    }

    /// Reading the Deployment `what`: a 404 is [`WriteError::NotFound`].
    fn reading_deployment(what: String) -> impl FnOnce(kube::Error) -> Self {
        move |source| match source {
            kube::Error::Api(s) if s.code == 404 => WriteError::NotFound { what },
            source => WriteError::Kube { what, source },
        }
    }
}

impl From<Refusal> for WriteError {
    /// The writer's error for the write plan's refusal, with the refusal's message.
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::HpaOwnsCount { namespace, hpa, deployment } => {
                WriteError::HpaOwnsCount { namespace, hpa, deployment }
            }
            Refusal::VersionMismatch { namespace, name, expected, current } => {
                WriteError::VersionMismatch { namespace, name, expected, current }
            }
            r @ (Refusal::NotCurrent { .. }
            | Refusal::Unsettled { .. }
            | Refusal::Overtaken { .. }
            | Refusal::ApprovalRuleInTheWay { .. }) => WriteError::Precondition(r.to_string()),
            Refusal::OutOfBounds(e) => WriteError::OutOfBounds(e),
            Refusal::Invalid(v) => WriteError::Invalid { field: v.field, description: v.description },
            Refusal::NeedsApproval { needs, approvals_needed, generation } => {
                WriteError::NeedsApproval { needs, approvals_needed, generation, deployment_uid: String::new() }
            }
        }
    }
}

/// The result of a write: the Deployment with its policy after it (as it would be, for a dry
/// run), and the outcome.
#[derive(Debug, Clone)]
pub struct Written {
    /// The state after the write.
    pub view: DeploymentView,
    /// What the write did.
    pub outcome: Outcome,
    /// For a break-glass write: the ScaleRequest that records it, waiting for review.
    pub review: Option<crate::scalerequest::ScaleRequest>,
}

/// Writes declarations to the cluster.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    cache: Cache,
    recorder: Recorder,
    default_guard: PolicyGuard,
    /// One policy write at a time per policy in this process.
    locks: locks::PolicyLocks,
}

/// The Event `action` of a declaration.
const ACTION_DECLARE: &str = "Declare";

/// How many times a write is tried when concurrent writes keep moving the resourceVersion.
/// Writes within this process queue (see `locks`), so only another replica's writes and the
/// status writes conflict; during a rolling update three replicas may serve the same policy.
const WRITE_ATTEMPTS: u32 = 8;

/// How long to wait after the `attempt`-th write of a policy met a conflict: 20 ms per attempt
/// so far, plus `jitter` (drawn at random, at most [`CONFLICT_JITTER`]), so that writers which
/// collided do not collide again in step (client-go's RetryOnConflict backs off the same way).
fn conflict_backoff(attempt: u32, jitter: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(20 * u64::from(attempt)) + jitter.min(CONFLICT_JITTER)
}

/// The most jitter [`conflict_backoff`] adds.
const CONFLICT_JITTER: std::time::Duration = std::time::Duration::from_millis(20);

fn what(kind: &str, ns: &str, name: &str) -> String {
    format!("{kind} {ns}/{name}")
}

impl Writer {
    /// A writer using `client`; every policy it writes or deletes is `cache`'s copy at once
    /// ([`Cache::observe_written`]); its Events name `instance` (this replica's identity, as in
    /// the Lease and the reconciler's Events) as reporting instance. A policy it creates gets
    /// `default_guard` (`--default-guard`) unless the write sets one.
    pub fn new(client: Client, cache: Cache, instance: &str, default_guard: PolicyGuard) -> Self {
        let recorder = Recorder::new(client.clone(), crate::events::reporter(instance));
        Self { client, cache, recorder, default_guard, locks: locks::PolicyLocks::default() }
    }

    /// The names of the HorizontalPodAutoscalers in `namespace` that target Deployment `name`.
    ///
    /// # Errors
    ///
    /// [`WriteError::Kube`]: listing the HPAs failed.
    pub async fn hpas_targeting(&self, namespace: &str, name: &str) -> Result<Vec<String>, WriteError> {
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(WriteError::kube(format!("HorizontalPodAutoscalers in {namespace}")))?;
        Ok(list.items.into_iter().filter(|h| hpa::targets(h, name)).map(|h| h.name_any()).collect())
    }

    /// Makes `req.change` to the Deployment's ReplicaPolicy and applies the resulting effective
    /// count, as the write plan ([`write::plan`]) decides: creates, replaces or deletes the
    /// policy (pinned to the Deployment's UID, owned by it), then, when the effective count
    /// differs from spec.replicas, patches the Deployment's scale subresource as field manager
    /// `scalekeeper`. With `dry_run`, checks everything the same way and writes nothing.
    ///
    /// # Errors
    ///
    /// - [`WriteError::NotFound`]: no such Deployment;
    /// - the write plan's refusals ([`Refusal`], with its message):
    ///   [`WriteError::HpaOwnsCount`] (an HPA targets it; not for a delete),
    ///   [`WriteError::Invalid`] (`expected_version` is not a version this API returns),
    ///   [`WriteError::VersionMismatch`] (the policy is not at `expected_version`),
    ///   [`WriteError::Precondition`] (spec.replicas is not `if_current`, the policy is not
    ///   settled, or another declaration landed between the check and the write),
    ///   [`WriteError::OutOfBounds`] (a count of the resulting policy is outside its bounds);
    /// - [`WriteError::Contended`]: concurrent writes won every attempt;
    /// - [`WriteError::CrdOutdated`]: the API server dropped fields of the written policy;
    /// - [`WriteError::Kube`]: any other failure of the Kubernetes API, including the scale
    ///   write after the policy was written (the reconciler then applies the declaration).
    pub async fn write(&self, req: &write::Request<'_>) -> Result<Written, WriteError> {
        let (ns, name) = (req.namespace, req.name);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let policies: Api<ReplicaPolicy> = Api::namespaced(self.client.clone(), ns);
        // Other writes of this policy in this process wait until this one has written the
        // policy and the count: they would only conflict with it. Everything the plan reads is
        // read after the wait (a Deployment read before it could be scaled meanwhile).
        let lock = self.locks.lock(ns, name).await;
        let mut deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", ns, name)))?;
        let hpas = if req.change.checks_hpas() { self.hpas_targeting(ns, name).await? } else { vec![] };
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        // A 409 means another write landed between our read and our write: a caller's, or
        // the reconciler's status write. Read again and plan again; only a changed declaration
        // (a moved generation, when one was expected or a condition was given) fails the write.
        let mut attempt = Attempt::First;
        for n in 1..=WRITE_ATTEMPTS {
            let now = jiff::Timestamp::now();
            let current = policies.get_opt(name).await.map_err(WriteError::kube(what("ReplicaPolicy", ns, name)))?;
            if req.if_current.is_some() || n > 1 {
                // Read after the policy: a declaration that lands after this read moves the
                // policy's resourceVersion, and our write (conditional on it) then fails. After
                // a conflict, another replica's write may have scaled the Deployment too.
                deployment = deployments.get(name).await.map_err(WriteError::reading_deployment(what(
                    "Deployment",
                    ns,
                    name,
                )))?;
            }
            let policy = current.as_ref().map(write::Policy::from);
            let next_attempt = attempt.next(policy.as_ref());
            let plan = write::plan(&write::Input {
                request: req,
                policy,
                deployment: deployment_facts(&deployment),
                hpas: &hpas,
                attempt,
                default_guard: self.default_guard,
                now,
            })
            .map_err(|refusal| match WriteError::from(refusal) {
                WriteError::NeedsApproval { needs, approvals_needed, generation, .. } => WriteError::NeedsApproval {
                    needs,
                    approvals_needed,
                    generation,
                    deployment_uid: deployment.metadata.uid.clone().unwrap_or_default(),
                },
                e => e,
            })?;
            attempt = next_attempt;
            let (result, wrote) = match plan.policy {
                PolicyWrite::Nothing => {
                    // A dry run, or nothing to change: the state as it would be. (Declaring
                    // the same count again does write: it records who declared it when, which
                    // ends a flap-guard suspension, and scales back over a drift.)
                    let spec = plan.spec_after.map(ReplicaPolicySpec::from);
                    let view = would_be(&deployment, current.as_ref(), spec.as_ref(), plan.outcome.spec_after);
                    return Ok(Written { view, outcome: plan.outcome, review: None });
                }
                PolicyWrite::Delete => (self.delete(&policies, name, current.as_ref()).await, None),
                PolicyWrite::Create { spec, stamp } | PolicyWrite::Replace { spec, stamp } => {
                    let spec = ReplicaPolicySpec::from(spec);
                    let policy = stamped(ns, name, spec.clone(), &stamp, current.as_ref(), &deployment);
                    let result = match &current {
                        None => policies.create(&pp, &policy).await,
                        Some(_) => policies.replace(name, &pp, &policy).await,
                    };
                    (result.map(Some), Some(spec))
                }
            };
            let written = match result {
                Ok(Some(p)) => {
                    if let Some(spec) = &wrote
                        && p.spec != *spec
                    {
                        return Err(WriteError::CrdOutdated {
                            namespace: ns.into(),
                            name: name.into(),
                            fields: dropped_fields(spec, &p.spec),
                        });
                    }
                    Some(p)
                }
                Ok(None) => None,
                Err(kube::Error::Api(s)) if s.code == 409 && n < WRITE_ATTEMPTS => {
                    tokio::time::sleep(conflict_backoff(n, CONFLICT_JITTER.mul_f64(fastrand::f64()))).await;
                    continue;
                }
                Err(kube::Error::Api(s)) if s.code == 409 => break,
                Err(e) => return Err(WriteError::kube(what("ReplicaPolicy", ns, name))(e)),
            };
            // The cache's newest copy now: the reconciler and the admission guard need not wait
            // for the watch to bring it.
            match (&written, &current) {
                (Some(p), _) => self.cache.observe_written(p),
                (None, Some(_)) => self.cache.observe_deleted(ns, name),
                (None, None) => {}
            }
            let executed = Executed { previous: current, written, scale_to: plan.scale_to, event: plan.event };
            return self.finish(req, &deployments, deployment, executed, plan.outcome, lock).await;
        }
        Err(WriteError::Contended { namespace: ns.into(), name: name.into(), attempts: WRITE_ATTEMPTS })
    }

    /// Deletes the policy `current` (nothing to call when there is none), conditional on its
    /// resourceVersion; one already gone is deleted.
    async fn delete(
        &self,
        policies: &Api<ReplicaPolicy>,
        name: &str,
        current: Option<&ReplicaPolicy>,
    ) -> Result<Option<ReplicaPolicy>, kube::Error> {
        let Some(cur) = current else { return Ok(None) };
        let dp = DeleteParams {
            preconditions: Some(Preconditions { resource_version: cur.resource_version(), uid: None }),
            ..Default::default()
        };
        match policies.delete(name, &dp).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// After the policy write: the scale write (when the plan scales), the Event, and the state
    /// read back.
    async fn finish(
        &self,
        req: &write::Request<'_>,
        deployments: &Api<Deployment>,
        deployment: Deployment,
        executed: Executed,
        outcome: Outcome,
        lock: locks::PolicyLock,
    ) -> Result<Written, WriteError> {
        let (ns, name) = (req.namespace, req.name);
        let Executed { previous, written, scale_to, event } = executed;
        let mut regarding = vec![deployment.object_ref(&())];
        if let Some(p) = written.as_ref().or(previous.as_ref()) {
            regarding.push(p.object_ref(&()));
        }
        let scaled = match scale_to {
            Some(count) => {
                let patch = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
                deployments
                    .patch_scale(name, &patch, &Patch::Merge(json!({"spec": {"replicas": count}})))
                    .await
                    .map(|_| ())
                    .map_err(WriteError::kube(what("Deployment", ns, name)))
            }
            None => Ok(()),
        };
        // The policy and the count are written: the next write of this policy may go.
        drop(lock);
        if let Err(err) = &scaled {
            tracing::warn!(namespace = ns, name, error = %err, "declared, but scaling failed; the reconciler will retry");
        }
        if let Some(event) = event {
            let note = event.note(if scaled.is_ok() { ScaleResult::Done } else { ScaleResult::Failed });
            publish_on(&self.recorder, &regarding, EventType::Normal, event.reason, ACTION_DECLARE, &note).await;
        }
        scaled?;
        let deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", ns, name)))?;
        Ok(Written {
            view: DeploymentView {
                deployment: Arc::new(CachedDeployment::from_deployment(&deployment)),
                policy: written.map(Arc::new),
                hpas: vec![],
                requests: vec![],
            },
            outcome,
            review: None,
        })
    }
}

/// What the policy write did, and what the plan has left to do after it.
struct Executed {
    /// The policy read before the write.
    previous: Option<ReplicaPolicy>,
    /// The policy as the API server stored it; `None`: none (deleted, or there was none).
    written: Option<ReplicaPolicy>,
    /// The count to write to the scale subresource, if any.
    scale_to: Option<i32>,
    /// The Event to publish.
    event: Option<WriteEvent>,
}

/// The Deployment as the write plan reads it: spec.replicas (1 when unset, as the API server
/// defaults it), UID and generation (0 when unset).
fn deployment_facts(d: &Deployment) -> DeploymentFacts {
    DeploymentFacts {
        spec_replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        uid: d.metadata.uid.clone(),
        generation: d.metadata.generation.unwrap_or(0),
    }
}

/// The policy object to create or replace: `spec` with the write's `stamp` in the annotations
/// (the others of `current` kept; [`CREATED_BY_FREEZE`] set or removed as the stamp says), owned by `deployment`; on `current`'s resourceVersion and
/// labels when it replaces one.
fn stamped(
    ns: &str,
    name: &str,
    spec: ReplicaPolicySpec,
    stamp: &Stamp,
    current: Option<&ReplicaPolicy>,
    deployment: &Deployment,
) -> ReplicaPolicy {
    let mut policy = ReplicaPolicy::new(name, spec);
    policy.metadata.namespace = Some(ns.to_string());
    policy.metadata.owner_references = Some(vec![owner_reference(deployment)]);
    let mut annotations = current.map(|p| p.annotations().clone()).unwrap_or_default();
    annotations.insert(LAST_SET_BY.into(), stamp.set_by.clone());
    annotations.insert(LAST_SET_AT.into(), stamp.set_at.clone());
    annotations.insert(LAST_SET_DEPLOYMENT_GENERATION.into(), stamp.deployment_generation.clone());
    match stamp.created_by_freeze {
        Some(generation) => annotations.insert(CREATED_BY_FREEZE.into(), generation.to_string()),
        None => annotations.remove(CREATED_BY_FREEZE),
    };
    policy.metadata.annotations = Some(annotations);
    if let Some(cur) = current {
        policy.metadata.resource_version = cur.resource_version();
        policy.metadata.labels = cur.metadata.labels.clone();
    }
    policy
}

/// The spec fields `wrote` had and `read` lacks, for [`WriteError::CrdOutdated`], e.g.
/// `spec.hold, spec.schedule` (`the spec` when the difference is elsewhere).
fn dropped_fields(wrote: &ReplicaPolicySpec, read: &ReplicaPolicySpec) -> String {
    let mut fields = vec![];
    if wrote.hold.is_some() && read.hold.is_none() {
        fields.push("spec.hold");
    }
    if !wrote.schedule.is_empty() && read.schedule.is_empty() {
        fields.push("spec.schedule");
    }
    if wrote.min_replicas.is_some() && read.min_replicas.is_none() {
        fields.push("spec.minReplicas");
    }
    if wrote.max_replicas.is_some() && read.max_replicas.is_none() {
        fields.push("spec.maxReplicas");
    }
    if wrote.guard != read.guard {
        fields.push("spec.guard");
    }
    if fields.is_empty() { "part of the spec".to_string() } else { fields.join(", ") }
}

/// The state a write leaves (or would leave), without reading it back: `deployment` at
/// `spec_after`, with the policy `spec` (on `current`'s metadata) or none.
fn would_be(
    deployment: &Deployment,
    current: Option<&ReplicaPolicy>,
    spec: Option<&ReplicaPolicySpec>,
    spec_after: i32,
) -> DeploymentView {
    let mut d = CachedDeployment::from_deployment(deployment);
    d.observed.spec_replicas = spec_after;
    let policy = spec.map(|spec| {
        let mut p = current.cloned().unwrap_or_else(|| ReplicaPolicy::new(&deployment.name_any(), spec.clone()));
        if p.spec != *spec {
            p.metadata.generation = Some(p.metadata.generation.unwrap_or(0) + 1);
            p.spec = spec.clone();
        }
        Arc::new(p)
    });
    DeploymentView { deployment: Arc::new(d), policy, hpas: vec![], requests: vec![] }
}

/// An ownerReference to `d`, so the garbage collector deletes the policy with it.
fn owner_reference(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: Deployment::api_version(&()).into_owned(),
        kind: Deployment::kind(&()).into_owned(),
        name: d.name_any(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalekeeper_core::Violation;
    use scalekeeper_core::rules::Bound;

    #[test]
    fn conflict_backoff_grows_and_stays_short() {
        let ms = |d: std::time::Duration| d.as_millis();
        let jitter = std::time::Duration::from_millis(17);
        assert_eq!(ms(conflict_backoff(1, jitter)), 37, "20 ms, plus 17 ms of jitter");
        assert_eq!(ms(conflict_backoff(1, std::time::Duration::from_secs(5))), 40, "the jitter is capped");
        assert!(conflict_backoff(4, jitter) > conflict_backoff(1, jitter));
        let longest = (1..WRITE_ATTEMPTS).map(|n| conflict_backoff(n, CONFLICT_JITTER)).sum::<std::time::Duration>();
        assert!(longest < std::time::Duration::from_secs(1), "{longest:?}");
    }

    #[test]
    fn refusals_become_write_errors_with_their_messages() {
        let (ns, name) = ("shop".to_string(), "web".to_string());
        let refusals = [
            Refusal::HpaOwnsCount { namespace: ns.clone(), hpa: "h".into(), deployment: name.clone() },
            Refusal::VersionMismatch { namespace: ns.clone(), name: name.clone(), expected: 3, current: Some(4) },
            Refusal::VersionMismatch { namespace: ns.clone(), name: name.clone(), expected: 3, current: None },
            Refusal::NotCurrent { namespace: ns.clone(), name: name.clone(), spec: 4, want: 3 },
            Refusal::Unsettled { namespace: ns.clone(), name: name.clone(), spec: 4, effective: 6 },
            Refusal::Overtaken { namespace: ns.clone(), name: name.clone(), want: 4 },
            Refusal::OutOfBounds(BoundsError::Outside {
                what: "the declared count".into(),
                count: 9,
                bound: Bound::Max(8),
            }),
            Refusal::Invalid(Violation { field: "hold_for".into(), description: "too long a hold".into() }),
            Refusal::ApprovalRuleInTheWay { namespace: ns.clone(), name: name.clone() },
        ];
        for r in refusals {
            let message = r.to_string();
            let e = WriteError::from(r.clone());
            assert_eq!(e.to_string(), message, "{r:?}");
            let variant_fits = match r {
                Refusal::HpaOwnsCount { .. } => matches!(e, WriteError::HpaOwnsCount { .. }),
                Refusal::VersionMismatch { .. } => matches!(e, WriteError::VersionMismatch { .. }),
                Refusal::NotCurrent { .. }
                | Refusal::Unsettled { .. }
                | Refusal::Overtaken { .. }
                | Refusal::ApprovalRuleInTheWay { .. } => matches!(e, WriteError::Precondition(_)),
                Refusal::OutOfBounds(_) => matches!(e, WriteError::OutOfBounds(_)),
                Refusal::Invalid(_) => matches!(e, WriteError::Invalid { .. }),
                Refusal::NeedsApproval { .. } => unreachable!("tested below"),
            };
            assert!(variant_fits, "{r:?} became {e:?}");
        }
        // Held back for approval: the writer's error says that a dry run made no request (a
        // write's becomes one, with its own message).
        let needs = vec![scalekeeper_core::approval::Need::Below { count: 0, below: 2 }];
        let r = Refusal::NeedsApproval { needs: needs.clone(), approvals_needed: 1, generation: 3 };
        let e = WriteError::from(r.clone());
        assert!(
            matches!(&e, WriteError::NeedsApproval { needs: n, approvals_needed: 1, generation: 3, .. } if *n == needs),
            "{e:?}"
        );
        assert_eq!(e.to_string(), format!("{r} (dry run: no ScaleRequest made)"));
    }

    #[test]
    fn the_plan_reads_an_unset_spec_replicas_as_one() {
        let mut d = Deployment::default();
        d.metadata.uid = Some("uid-1".into());
        assert_eq!(
            deployment_facts(&d),
            DeploymentFacts { spec_replicas: 1, uid: Some("uid-1".into()), generation: 0 }
        );
    }
}
