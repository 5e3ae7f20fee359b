//! Writes to Kubernetes: every change a caller makes to a Deployment's ReplicaPolicy
//! (declaring a count, placing or ending a hold, setting the schedule and the bounds, deleting
//! the policy), followed by the Deployment's scale subresource when the effective count moved.
//!
//! A write is applied once, by the writer's own scale write, and recorded as an Event naming
//! the caller ([`REASON_REPLICAS_DECLARED`], `HoldStarted`, `HoldCleared`, `ScheduleChanged`);
//! the reconciler leaves a fresh declaration to that write (see
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

use scalekeeper_core::plan::{REASON_HOLD_CLEARED, REASON_HOLD_STARTED, REASON_SCHEDULE_CHANGED};
use scalekeeper_core::rules::{BoundsError, RuleKind};

use crate::events::publish_on;
use scalekeeper_core::plan::REASON_REPLICAS_DECLARED;

use crate::cache::view::DeploymentView;
use crate::policy::{
    FIELD_MANAGER, LAST_SET_AT, LAST_SET_BY, LAST_SET_DEPLOYMENT_GENERATION, PolicyGuard, PolicyHold, PolicyMode,
    PolicyWindow, ReplicaPolicy, ReplicaPolicySpec,
};

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
    #[error(
        "HorizontalPodAutoscaler {namespace}/{hpa} targets Deployment {namespace}/{deployment}: it owns the \
         replica count; scalekeeper will not fight it (delete the HPA or leave scaling to it)"
    )]
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
    #[error("{}", stale_message(.namespace, .name, *.expected, *.current))]
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
    /// (`--if-current`), or another declaration landed first; the message says which.
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
    /// The Kubernetes API refused or failed a call about `what`.
    #[error("{what}: {source}")]
    Kube {
        /// The object or collection, e.g. `ReplicaPolicy shop/web`, `HorizontalPodAutoscalers in shop`.
        what: String,
        /// The client's error (an API status with its HTTP code, or a transport failure).
        source: kube::Error,
    },
}

fn stale_message(ns: &str, name: &str, expected: i64, current: Option<i64>) -> String {
    match current {
        None => {
            format!("ReplicaPolicy {ns}/{name} does not exist, but version {expected} was expected; get it and retry")
        }
        Some(g) => format!(
            "ReplicaPolicy {ns}/{name} is at version {g}, not the expected {expected}: the declaration changed since \
             you read it; get it again and retry"
        ),
    }
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

/// The change a write makes to a Deployment's ReplicaPolicy.
#[derive(Debug, Clone)]
pub enum PolicyChange {
    /// Declare `replicas` (a count), with the mode (`None` keeps it; Enforce for a new
    /// policy), the guard (`None` keeps it; the writer's default guard for a new policy) and
    /// the bounds.
    Declare {
        /// The count to declare.
        replicas: i32,
        /// The mode to set.
        mode: Option<PolicyMode>,
        /// The admission guard to set.
        guard: Option<PolicyGuard>,
        /// What to do with the bounds.
        bounds: BoundsChange,
    },
    /// Place a hold of `replicas` for `duration`, for `reason`, replacing any hold; the
    /// declared count stays (a new policy declares the Deployment's current spec.replicas).
    Hold {
        /// The count to hold.
        replicas: i32,
        /// How long.
        duration: std::time::Duration,
        /// Why.
        reason: String,
        /// The mode to set.
        mode: Option<PolicyMode>,
        /// The admission guard to set.
        guard: Option<PolicyGuard>,
        /// What to do with the bounds.
        bounds: BoundsChange,
    },
    /// End the hold early (nothing to write when there is none).
    EndHold,
    /// Replace the schedule (empty: clear it); a new policy declares the Deployment's current
    /// spec.replicas.
    Schedule(Vec<PolicyWindow>),
    /// Delete the policy: stop managing the Deployment.
    Delete,
}

/// What a write does to the policy's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoundsChange {
    /// Keep them.
    #[default]
    Keep,
    /// Set the given ones (`None`: keep that one).
    Set {
        /// New minReplicas.
        min: Option<i32>,
        /// New maxReplicas.
        max: Option<i32>,
    },
    /// Remove both.
    Clear,
}

impl BoundsChange {
    fn apply(self, spec: &mut ReplicaPolicySpec) {
        match self {
            BoundsChange::Keep => {}
            BoundsChange::Set { min, max } => {
                if min.is_some() {
                    spec.min_replicas = min;
                }
                if max.is_some() {
                    spec.max_replicas = max;
                }
            }
            BoundsChange::Clear => {
                spec.min_replicas = None;
                spec.max_replicas = None;
            }
        }
    }
}

/// A write through the API.
#[derive(Debug, Clone)]
pub struct WriteRequest<'a> {
    /// Namespace of the Deployment.
    pub namespace: &'a str,
    /// Name of the Deployment (and of its policy).
    pub name: &'a str,
    /// What to change (counts validated by the caller against the server's maximum).
    pub change: PolicyChange,
    /// The policy version the caller last saw, if it wants the write to depend on it.
    pub expected_version: Option<&'a str>,
    /// Write only if the Deployment's spec.replicas is this count (a count), and no other
    /// declaration lands between the check and the write.
    pub if_current: Option<i32>,
    /// Check and report, write nothing.
    pub dry_run: bool,
    /// The caller's identity, recorded on the policy.
    pub identity: &'a str,
}

/// What a write did, or with `dry_run` would do (the API's `WriteOutcome`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Nothing was written.
    pub dry_run: bool,
    /// The effective count before (spec.replicas when unmanaged).
    pub effective_before: i32,
    /// The effective count after (spec.replicas when the write leaves it unmanaged).
    pub effective_after: i32,
    /// The rule that sets it after; `None` when unmanaged after.
    pub rule_after: Option<RuleKind>,
    /// That rule in words.
    pub rule_detail_after: String,
    /// spec.replicas before.
    pub spec_before: i32,
    /// spec.replicas the write sets (or leaves).
    pub spec_after: i32,
    /// What stands in the way of enforcing the result.
    pub conflicts: Vec<String>,
    /// The flap guard has suspended enforcement.
    pub enforcement_suspended: bool,
    /// This write ends that suspension.
    pub resumes_enforcement: bool,
}

/// The result of a write: the Deployment with its policy after it (as it would be, for a dry
/// run), and the outcome.
#[derive(Debug, Clone)]
pub struct Written {
    /// The state after the write.
    pub view: DeploymentView,
    /// What the write did.
    pub outcome: Outcome,
}

/// Writes declarations to the cluster.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    cache: Cache,
    recorder: Recorder,
    default_guard: PolicyGuard,
}

/// The Event `action` of a declaration.
const ACTION_DECLARE: &str = "Declare";

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
        Self { client, cache, recorder, default_guard }
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
    /// count: creates, replaces or deletes the policy (pinned to the Deployment's UID, owned by
    /// it), then, when the effective count differs from spec.replicas, patches the
    /// Deployment's scale subresource as field manager `scalekeeper`. With `dry_run`, checks
    /// everything the same way and writes nothing.
    ///
    /// # Errors
    ///
    /// - [`WriteError::NotFound`]: no such Deployment;
    /// - [`WriteError::HpaOwnsCount`]: an HPA targets it (not for [`PolicyChange::Delete`]);
    /// - [`WriteError::Invalid`]: `expected_version` is not a version this API returns;
    /// - [`WriteError::VersionMismatch`]: the policy is not at `expected_version`;
    /// - [`WriteError::Precondition`]: spec.replicas is not `if_current`, or another
    ///   declaration landed between the check and the write;
    /// - [`WriteError::OutOfBounds`]: a count of the resulting policy is outside its bounds;
    /// - [`WriteError::Contended`]: concurrent writes won every attempt;
    /// - [`WriteError::Kube`]: any other failure of the Kubernetes API, including the scale
    ///   write after the policy was written (the reconciler then applies the declaration).
    pub async fn write(&self, req: &WriteRequest<'_>) -> Result<Written, WriteError> {
        let (ns, name) = (req.namespace, req.name);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let policies: Api<ReplicaPolicy> = Api::namespaced(self.client.clone(), ns);
        let mut deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", ns, name)))?;
        if !matches!(req.change, PolicyChange::Delete) {
            let hpas = self.hpas_targeting(ns, name).await?;
            if let Some(h) = hpas.first() {
                return Err(WriteError::HpaOwnsCount { namespace: ns.into(), hpa: h.clone(), deployment: name.into() });
            }
        }
        let expected = parse_version(req.expected_version)?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        // A 409 means another write landed between our read and our write: a caller's, or
        // the reconciler's status write. Read again; only a changed declaration (a moved
        // generation, when one was expected or a condition was given) fails the write.
        let mut attempt = 0;
        let mut first_generation = None;
        loop {
            attempt += 1;
            let now = jiff::Timestamp::now();
            let current = policies.get_opt(name).await.map_err(WriteError::kube(what("ReplicaPolicy", ns, name)))?;
            check_expected(ns, name, expected, current.as_ref())?;
            let generation = current.as_ref().map(|p| p.metadata.generation.unwrap_or(0));
            if let Some(want) = req.if_current {
                if attempt > 1 && first_generation != Some(generation) {
                    return Err(WriteError::Precondition(format!(
                        "another declaration of Deployment {ns}/{name} landed while this one was being written; \
                         read the state again (--if-current {want} may no longer hold)"
                    )));
                }
                // Read after the policy: a declaration that lands after this read moves the
                // policy's resourceVersion, and our write (conditional on it) then fails.
                deployment = deployments.get(name).await.map_err(WriteError::reading_deployment(what(
                    "Deployment",
                    ns,
                    name,
                )))?;
                check_current(ns, name, want, &deployment, current.as_ref(), now)?;
            }
            first_generation.get_or_insert(generation);
            let planned =
                plan_write(&req.change, current.as_ref(), &deployment, req.identity, now, self.default_guard)?;
            let outcome = planned.outcome(current.as_ref(), &deployment, req.dry_run, now);
            if req.dry_run || planned.policy.is_some() && planned.event_reason.is_none() {
                // Nothing to write: a dry run, or a hold to end that is not there. (Declaring
                // the same count again does write: it records who declared it when, which
                // ends a flap-guard suspension, and scales back over a drift.)
                let view = would_be(&deployment, current.as_ref(), planned.policy.as_ref(), outcome.spec_after);
                return Ok(Written { view, outcome });
            }
            let result = match (&planned.policy, &current) {
                (None, None) => Ok(None),
                (None, Some(cur)) => {
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
                (Some(spec), current) => {
                    let mut policy = ReplicaPolicy::new(name, spec.clone());
                    policy.metadata.namespace = Some(ns.to_string());
                    policy.metadata.owner_references = Some(vec![owner_reference(&deployment)]);
                    let mut annotations = current.as_ref().map(|p| p.annotations().clone()).unwrap_or_default();
                    annotations.insert(LAST_SET_BY.into(), req.identity.to_string());
                    // To the millisecond: a flap-guard suspension that began earlier in the same
                    // second must compare as older than this declaration, which ends it.
                    annotations.insert(LAST_SET_AT.into(), crate::policy::timestamp_millis(now));
                    annotations.insert(
                        LAST_SET_DEPLOYMENT_GENERATION.into(),
                        deployment.metadata.generation.unwrap_or(0).to_string(),
                    );
                    policy.metadata.annotations = Some(annotations);
                    match current {
                        None => policies.create(&pp, &policy).await.map(Some),
                        Some(cur) => {
                            policy.metadata.resource_version = cur.resource_version();
                            policy.metadata.labels = cur.metadata.labels.clone();
                            policies.replace(name, &pp, &policy).await.map(Some)
                        }
                    }
                }
            };
            let written = match result {
                Ok(Some(p)) => {
                    if let Some(spec) = &planned.policy
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
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < WRITE_ATTEMPTS => continue,
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    return Err(WriteError::Contended {
                        namespace: ns.into(),
                        name: name.into(),
                        attempts: WRITE_ATTEMPTS,
                    });
                }
                Err(e) => return Err(WriteError::kube(what("ReplicaPolicy", ns, name))(e)),
            };
            // The cache's newest copy now: the reconciler and the admission guard need not wait
            // for the watch to bring it.
            match (&written, &current) {
                (Some(p), _) => self.cache.observe_written(p),
                (None, Some(_)) => self.cache.observe_deleted(ns, name),
                (None, None) => {}
            }
            return self.finish(req, &deployments, deployment, current, written, planned, outcome).await;
        }
    }

    /// After the policy write: the scale write (when the effective count moved away from
    /// spec.replicas), the Event, and the state read back.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        req: &WriteRequest<'_>,
        deployments: &Api<Deployment>,
        deployment: Deployment,
        previous: Option<ReplicaPolicy>,
        written: Option<ReplicaPolicy>,
        planned: PlannedWrite,
        outcome: Outcome,
    ) -> Result<Written, WriteError> {
        let (ns, name) = (req.namespace, req.name);
        let before = outcome.spec_before;
        let mut regarding = vec![deployment.object_ref(&())];
        if let Some(p) = written.as_ref().or(previous.as_ref()) {
            regarding.push(p.object_ref(&()));
        }
        let scaled = if outcome.spec_after != before {
            let patch = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
            deployments
                .patch_scale(name, &patch, &Patch::Merge(json!({"spec": {"replicas": outcome.spec_after}})))
                .await
                .map(|_| ())
                .map_err(WriteError::kube(what("Deployment", ns, name)))
        } else {
            Ok(())
        };
        let previous_count = previous.as_ref().map(|p| p.spec.replicas);
        let declared_before = match previous_count {
            Some(n) => format!("declared before: {n}"),
            None => "no count declared before".to_string(),
        };
        let applied = match &scaled {
            Ok(()) if outcome.spec_after != before => format!("spec.replicas {before} -> {}", outcome.spec_after),
            Ok(()) => format!("spec.replicas stays {before}"),
            Err(err) => {
                tracing::warn!(namespace = ns, name, error = %err, "declared, but scaling failed; the reconciler will retry");
                format!(
                    "spec.replicas is still {before}: scaling to {} failed, the reconciler will apply it",
                    outcome.spec_after
                )
            }
        };
        let who = req.identity;
        let note = match &req.change {
            PolicyChange::Declare { replicas, .. } => {
                format!("{who} declared {replicas} replicas: {applied} ({declared_before})")
            }
            PolicyChange::Hold { replicas, reason, .. } => format!(
                "{who} placed a hold of {replicas} replicas until {} ({reason}): {applied}",
                planned.hold_until.map(crate::policy::timestamp_millis).unwrap_or_default()
            ),
            PolicyChange::EndHold => {
                format!("{who} ended the hold early; the {} applies: {applied}", outcome.rule_detail_after)
            }
            PolicyChange::Schedule(windows) if windows.is_empty() => format!("{who} cleared the schedule: {applied}"),
            PolicyChange::Schedule(windows) => format!(
                "{who} set the schedule to {}: {applied}",
                windows.iter().map(|w| format!("{:?} -> {}", w.window, w.replicas)).collect::<Vec<_>>().join(", ")
            ),
            PolicyChange::Delete => String::new(),
        };
        if let Some(reason) = planned.event_reason {
            publish_on(&self.recorder, &regarding, EventType::Normal, reason, ACTION_DECLARE, &note).await;
        }
        scaled?;
        let deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", ns, name)))?;
        Ok(Written {
            view: DeploymentView {
                deployment: Arc::new(CachedDeployment::from_deployment(&deployment)),
                policy: written.map(Arc::new),
                hpas: vec![],
            },
            outcome,
        })
    }
}

/// The `if_current` condition: the Deployment's spec.replicas is `want`, and the policy (if
/// any) is in effect on it — a policy whose effective count differs is a declaration another
/// caller made and has not applied yet (or a drift about to be corrected), and a write on
/// top of it would race that caller.
///
/// # Errors
/// [`WriteError::Precondition`] saying which part does not hold.
fn check_current(
    ns: &str,
    name: &str,
    want: i32,
    deployment: &Deployment,
    current: Option<&ReplicaPolicy>,
    now: jiff::Timestamp,
) -> Result<(), WriteError> {
    let spec = spec_replicas(deployment);
    if spec != want {
        return Err(WriteError::Precondition(format!(
            "Deployment {ns}/{name} has spec.replicas {spec}, not the expected {want} (--if-current)"
        )));
    }
    if let Some(p) = current {
        let effective = p.spec.effective(now).replicas;
        if effective != spec {
            return Err(WriteError::Precondition(format!(
                "Deployment {ns}/{name} has spec.replicas {spec} but its policy's effective count is {effective}: a \
                 declaration is being applied (or a drift corrected); --if-current needs a settled state, retry shortly"
            )));
        }
    }
    Ok(())
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

/// The spec.replicas of `d` (1 when unset, as the API server defaults it).
fn spec_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// What a write will make of the policy.
#[derive(Debug, Clone)]
struct PlannedWrite {
    /// The policy's spec after the write; `None`: no policy.
    policy: Option<ReplicaPolicySpec>,
    /// The Event the write publishes.
    event_reason: Option<&'static str>,
    /// A hold's expiry, for the Event.
    hold_until: Option<jiff::Timestamp>,
}

/// The policy spec `change` makes of `current` for `deployment` (pure), checked against the
/// bounds at `now`; a new policy gets `default_guard` unless the change sets one.
fn plan_write(
    change: &PolicyChange,
    current: Option<&ReplicaPolicy>,
    deployment: &Deployment,
    identity: &str,
    now: jiff::Timestamp,
    default_guard: PolicyGuard,
) -> Result<PlannedWrite, WriteError> {
    let mut spec = current.map(|p| p.spec.clone()).unwrap_or_else(|| ReplicaPolicySpec {
        replicas: spec_replicas(deployment),
        guard: default_guard,
        ..Default::default()
    });
    let mut hold_until = None;
    let event_reason = match change {
        PolicyChange::Delete => {
            return Ok(PlannedWrite { policy: None, event_reason: None, hold_until });
        }
        PolicyChange::Declare { replicas, mode, guard, bounds } => {
            spec.replicas = *replicas;
            if let Some(m) = mode {
                spec.mode = *m;
            }
            if let Some(g) = guard {
                spec.guard = *g;
            }
            bounds.apply(&mut spec);
            REASON_REPLICAS_DECLARED
        }
        PolicyChange::Hold { replicas, duration, reason, mode, guard, bounds } => {
            let until =
                jiff::SignedDuration::try_from(*duration).ok().and_then(|d| now.checked_add(d).ok()).ok_or_else(
                    || WriteError::Invalid { field: "hold_for".into(), description: "too long a hold".into() },
                )?;
            hold_until = Some(until);
            spec.hold = Some(PolicyHold {
                replicas: *replicas,
                until: crate::policy::timestamp_millis(until),
                reason: reason.clone(),
                set_by: Some(identity.to_owned()),
                set_at: Some(crate::policy::timestamp(now)),
            });
            if let Some(m) = mode {
                spec.mode = *m;
            }
            if let Some(g) = guard {
                spec.guard = *g;
            }
            bounds.apply(&mut spec);
            REASON_HOLD_STARTED
        }
        PolicyChange::EndHold => {
            let active = spec.rules().active_hold(now).is_some();
            if current.is_none() || !active {
                // Nothing to end: no write, no Event.
                return Ok(PlannedWrite { policy: current.map(|p| p.spec.clone()), event_reason: None, hold_until });
            }
            spec.hold = None;
            REASON_HOLD_CLEARED
        }
        PolicyChange::Schedule(windows) => {
            spec.schedule.clone_from(windows);
            REASON_SCHEDULE_CHANGED
        }
    };
    spec.deployment_uid.clone_from(&deployment.metadata.uid);
    spec.rules().check_bounds(spec.replicas, now).map_err(WriteError::OutOfBounds)?;
    Ok(PlannedWrite { policy: Some(spec), event_reason: Some(event_reason), hold_until })
}

impl PlannedWrite {
    /// The outcome of writing this over `current` for `deployment`, at `now`.
    fn outcome(
        &self,
        current: Option<&ReplicaPolicy>,
        deployment: &Deployment,
        dry_run: bool,
        now: jiff::Timestamp,
    ) -> Outcome {
        let spec_before = spec_replicas(deployment);
        let effective = |spec: &ReplicaPolicySpec| spec.effective(now);
        let effective_before = current.map_or(spec_before, |p| effective(&p.spec).replicas);
        let after = self.policy.as_ref().map(effective);
        let effective_after = after.as_ref().map_or(spec_before, |e| e.replicas);
        let suspended = current.and_then(|p| p.status.as_ref()).is_some_and(|s| s.is_suspended());
        let mut conflicts = vec![];
        if self.policy.as_ref().is_some_and(|p| p.mode == PolicyMode::Observe) {
            conflicts.push(
                "Observe mode: drift, and holds or windows that begin or end by time, are reported and not applied"
                    .to_string(),
            );
        }
        Outcome {
            dry_run,
            effective_before,
            effective_after,
            rule_after: after.as_ref().map(|e| e.source.kind()),
            rule_detail_after: after.as_ref().map(|e| e.describe()).unwrap_or_default(),
            spec_before,
            spec_after: effective_after,
            conflicts,
            enforcement_suspended: suspended,
            resumes_enforcement: suspended && self.policy.is_some() && self.event_reason.is_some(),
        }
    }
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
    DeploymentView { deployment: Arc::new(d), policy, hpas: vec![] }
}

/// How many times a write is tried when concurrent writes keep moving the resourceVersion.
const WRITE_ATTEMPTS: u32 = 5;

/// Parses an `expected_version` (a ReplicaPolicy generation: a positive integer).
fn parse_version(v: Option<&str>) -> Result<Option<i64>, WriteError> {
    match v {
        None => Ok(None),
        Some(s) => s.parse::<i64>().ok().filter(|g| *g > 0).map(Some).ok_or_else(|| WriteError::Invalid {
            field: "expected_version".into(),
            description: format!(
                "\"{}\" is not a version this API returns (a positive integer)",
                scalekeeper_core::text::bounded(s)
            ),
        }),
    }
}

/// [`WriteError::VersionMismatch`] unless the policy is at the expected generation (when one
/// is expected).
fn check_expected(
    ns: &str,
    name: &str,
    expected: Option<i64>,
    current: Option<&ReplicaPolicy>,
) -> Result<(), WriteError> {
    let Some(expected) = expected else { return Ok(()) };
    let current = current.and_then(|p| p.metadata.generation);
    if current == Some(expected) {
        return Ok(());
    }
    Err(WriteError::VersionMismatch { namespace: ns.into(), name: name.into(), expected, current })
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
