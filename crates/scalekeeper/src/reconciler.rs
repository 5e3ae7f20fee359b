//! The reconciler: a kube-runtime `Controller` on ReplicaPolicies, triggered by their
//! Deployments and by HorizontalPodAutoscalers, that puts `spec.replicas` back when someone
//! else changes it — unless something legitimately owns the count.
//!
//! ```text
//!  watch ReplicaPolicies ─┐
//!  watch Deployments ─────┼─► Controller ─► reconcile(policy)
//!  watch HPAs (→ target) ─┘                    │ GET Deployment (live: spec + managedFields)
//!                                              │ evaluate (scalekeeper-core)
//!                                              ├─ Enforce + DRIFTED ─► flap guard ─► PATCH scale
//!                                              │                                    Event DriftCorrected
//!                                              └─ PATCH policy status (only when it changed)
//! ```
//!
//! Only the Lease holder runs it (see [`crate::leader`]). Never a hot loop: corrections are
//! bounded by the flap guard (more than `flap_max` corrections within `flap_window` suspend
//! enforcement for `cool_down`), errors requeue with exponential backoff, and a periodic
//! resync catches anything missed.
//!
//! Event reasons and the field manager are named constants, as in sample-controller.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::hpa::{self, HorizontalPodAutoscaler};
use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource as _, ResourceExt as _};
use scalekeeper_core::{Conflict, SyncStatus, evaluate};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cache::{Cache, Scope};
use crate::culprit::last_set_by_us;
pub use crate::culprit::{UNKNOWN_MANAGER, replicas_manager};
use crate::metrics::Metrics;
use crate::policy::{
    Correction, FIELD_MANAGER, LAST_SET_AT, LAST_SET_BY, LAST_SET_DEPLOYMENT_GENERATION, PolicyCondition, PolicyMode,
    ReplicaPolicy, ReplicaPolicyStatus,
};
use crate::view::{CONDITION_SUSPENDED, CONDITION_SYNCED, DeploymentView};

/// Event reason: scalekeeper set `spec.replicas` back to the declared count.
pub const REASON_DRIFT_CORRECTED: &str = "DriftCorrected";
/// Event reason: drift seen in Observe mode (reported, not corrected).
pub const REASON_DRIFT_DETECTED: &str = "DriftDetected";
/// Event reason: something else owns the replica count (HPA, re-created Deployment).
pub const REASON_CONFLICT: &str = "ConflictDetected";
/// Event reason: the flap guard suspended enforcement.
pub const REASON_SUSPENDED: &str = "EnforcementSuspended";
/// Event reason: enforcement resumed after the cool-down or a new declaration.
pub const REASON_RESUMED: &str = "EnforcementResumed";
/// Event reason: the reconciler applied a declared count itself — one declared in the
/// ReplicaPolicy (GitOps, a hand edit), or one declared through the API that the API's own scale
/// write did not apply within [`DECLARATION_GRACE`]. Applying a declaration is never a drift.
pub const REASON_REPLICAS_APPLIED: &str = "ReplicasApplied";
/// Event reason: a caller declared a count through the API (SetReplicas); published by the
/// writer ([`crate::writer`]), naming the caller's identity.
pub const REASON_REPLICAS_DECLARED: &str = "ReplicasDeclared";

/// How long the reconciler leaves a declaration made through the API to the API's own scale
/// write before applying it itself: the writer writes the policy, then PATCHes the scale
/// subresource, and the reconciler may see the policy in between. Bounded, so a writer that
/// crashed between the two writes delays the count by at most this long.
pub const DECLARATION_GRACE: Duration = Duration::from_secs(5);

/// Settings of the reconciler.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// More corrections than this within `flap_window` trip the flap guard.
    pub flap_max: usize,
    /// The flap guard's window.
    pub flap_window: Duration,
    /// How long enforcement stays suspended after the flap guard trips.
    pub cool_down: Duration,
    /// Periodic resync of every policy.
    pub resync: Duration,
    /// This replica's identity, for Events' `reportingInstance`.
    pub instance: String,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            flap_max: 5,
            flap_window: Duration::from_secs(60),
            cool_down: Duration::from_secs(300),
            resync: Duration::from_secs(300),
            instance: "scalekeeper".into(),
        }
    }
}

/// Errors of one reconciliation; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A Kubernetes call failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| ReconcileError::Kube { what, source }
    }

    /// A low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::Kube { source: kube::Error::Api(s), .. } if s.code == 409 => "conflict",
            ReconcileError::Kube { source: kube::Error::Api(_), .. } => "api_error",
            ReconcileError::Kube { .. } => "unreachable",
        }
    }
}

/// Shared state of the reconcilers.
pub struct Context {
    client: Client,
    cache: Cache,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    config: ReconcileConfig,
    /// Recent correction times per policy (the flap guard's window).
    corrections: Mutex<HashMap<ObjectRef<ReplicaPolicy>, VecDeque<Instant>>>,
    /// Consecutive failures per policy, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<ReplicaPolicy>, u32>>,
    /// Suspensions this leader decided: when each began. The policy status records them
    /// too, but the controller's store may not show that write yet when the next
    /// reconciliation runs.
    suspensions: Mutex<HashMap<ObjectRef<ReplicaPolicy>, jiff::Timestamp>>,
    /// Per policy (UID, generation): the newest generation this leader saw in effect on the
    /// Deployment or applied itself; the store may not show its status write yet.
    applied: Mutex<HashMap<ObjectRef<ReplicaPolicy>, (String, i64)>>,
    /// Per policy: a declaration made through the API (UID, generation, `last-set-at`) that is
    /// left to the writer's scale write, and when this leader first saw it pending.
    pending: Mutex<HashMap<ObjectRef<ReplicaPolicy>, (String, Instant)>>,
}

impl Context {
    /// The Kubernetes client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A context for reconcilers using `client` and reading HPAs from `cache`.
    pub fn new(client: Client, cache: Cache, metrics: Arc<Metrics>, config: ReconcileConfig) -> Arc<Self> {
        let reporter = Reporter { controller: "scalekeeper".into(), instance: Some(config.instance.clone()) };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            cache,
            metrics,
            config,
            corrections: Mutex::default(),
            failures: Mutex::default(),
            suspensions: Mutex::default(),
            applied: Mutex::default(),
            pending: Mutex::default(),
        })
    }
}

/// Sets the Deployment's `spec.replicas` to `replicas` (a count) through its scale
/// subresource, as field manager [`FIELD_MANAGER`]: the one write the reconciler makes to a
/// Deployment, whether it applies a declaration or corrects a drift.
async fn scale(deployments: &Api<Deployment>, ns: &str, name: &str, replicas: i32) -> Result<(), ReconcileError> {
    let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    deployments
        .patch_scale(name, &pp, &Patch::Merge(json!({"spec": {"replicas": replicas}})))
        .await
        .map_err(ReconcileError::kube(format!("scaling Deployment {ns}/{name}")))?;
    Ok(())
}

/// The generation a status records as applied: `appliedGeneration`; for a status written before
/// that field existed, `observedGeneration` (that reconciler had acted on it); 0 for none.
fn applied_in_status(status: &ReplicaPolicyStatus) -> i64 {
    status.applied_generation.or(status.observed_generation).unwrap_or(0)
}

/// Whether `policy`'s count was last declared through the API: the newest managedFields entry
/// owning `f:spec.f:replicas` is the writer's (field manager [`FIELD_MANAGER`]). A policy
/// applied or edited with kubectl or a GitOps tool is owned by that tool's manager. Without
/// managedFields, the `last-set-at` annotation the writer sets decides.
fn declared_through_api(policy: &ReplicaPolicy) -> bool {
    let owner = policy
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.fields_v1.as_ref().and_then(|f| f.0.get("f:spec")).and_then(|s| s.get("f:replicas")).is_some())
        .max_by_key(|e| e.time.as_ref().map(|t| t.0));
    match owner {
        Some(e) => e.manager.as_deref() == Some(FIELD_MANAGER),
        None => policy.annotations().contains_key(LAST_SET_AT),
    }
}

/// Whether the Deployment has changed since the count of `policy` was declared through the API:
/// its generation moved past the one the writer read before its own scale write. That write
/// has landed then (or been overtaken), and a count other than the declared one is a drift.
fn declaration_overtaken(policy: &ReplicaPolicy, d: &Deployment) -> bool {
    let read = policy.annotations().get(LAST_SET_DEPLOYMENT_GENERATION).and_then(|g| g.parse::<i64>().ok());
    declared_through_api(policy) && read.is_some_and(|g| d.metadata.generation.unwrap_or(0) > g)
}

/// How long a count declared through the API, not in effect on `d`, is still left to the
/// writer's own scale write: `Some` while the Deployment is still at the generation the writer
/// read before that write (for a policy written before that was recorded: while generation
/// `generation` has not been applied) and the declaration is less than [`DECLARATION_GRACE`]
/// old, by the writer's `last-set-at` and by when this leader first saw it pending, so a skewed
/// clock cannot stretch the wait. `None`: the reconciler acts now. This covers a SetReplicas
/// that declares the count already declared, over a drift, too: it moves no generation.
fn left_to_writer(
    ctx: &Context,
    policy: &ReplicaPolicy,
    d: &Deployment,
    uid: &str,
    generation: i64,
    applied: i64,
) -> Option<Duration> {
    if !declared_through_api(policy) {
        return None;
    }
    let set_at_s = policy.annotations().get(LAST_SET_AT)?;
    let set_at: jiff::Timestamp = set_at_s.parse().ok()?;
    match policy.annotations().get(LAST_SET_DEPLOYMENT_GENERATION).and_then(|g| g.parse::<i64>().ok()) {
        Some(read) if d.metadata.generation.unwrap_or(0) > read => return None,
        Some(_) => {}
        None if applied >= generation => return None,
        None => {}
    }
    let age = jiff::Timestamp::now().duration_since(set_at);
    let by_clock = DECLARATION_GRACE.saturating_sub(Duration::try_from(age).unwrap_or_default());
    let key = ObjectRef::from_obj(policy);
    let marker = format!("{uid}/{generation}/{set_at_s}");
    let mut pending = ctx.pending.lock().unwrap_or_else(|e| e.into_inner());
    let first_seen = match pending.get(&key) {
        Some((m, t)) if *m == marker => *t,
        _ => {
            let now = Instant::now();
            pending.insert(key, (marker, now));
            now
        }
    };
    let left = by_clock.min(DECLARATION_GRACE.saturating_sub(first_seen.elapsed()));
    (!left.is_zero()).then_some(left)
}

fn now_rfc3339() -> String {
    crate::policy::timestamp(jiff::Timestamp::now())
}

/// Sets condition `type_`, keeping lastTransitionTime when the status did not change.
fn set_condition(conditions: &mut Vec<PolicyCondition>, type_: &str, status: bool, reason: &str, message: String) {
    let status_s = crate::policy::condition_status(status);
    let now = now_rfc3339();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status_s {
                c.last_transition_time = Some(now);
            }
            c.status = status_s.into();
            c.reason = reason.into();
            c.message = message;
        }
        None => conditions.push(PolicyCondition {
            type_: type_.into(),
            status: status_s.into(),
            reason: reason.into(),
            message,
            last_transition_time: Some(now),
        }),
    }
}

/// When a suspension that began at `since` ends, if it is still in force: it ends after
/// the cool-down, or as soon as someone declares the count again (a newer `last-set-at`).
fn suspension_end(policy: &ReplicaPolicy, since: jiff::Timestamp, cool_down: Duration) -> Option<jiff::Timestamp> {
    if let Some(set_at) = policy.annotations().get(LAST_SET_AT).and_then(|t| t.parse::<jiff::Timestamp>().ok())
        && set_at > since
    {
        return None;
    }
    let until = since.checked_add(jiff::SignedDuration::try_from(cool_down).ok()?).ok()?;
    (until > jiff::Timestamp::now()).then_some(until)
}

/// When the suspension recorded in `status` began, if one is.
fn suspended_since(policy: &ReplicaPolicy) -> Option<jiff::Timestamp> {
    let status = policy.status.as_ref()?;
    let c = status.condition(CONDITION_SUSPENDED).filter(|c| c.is_true())?;
    c.last_transition_time.as_deref()?.parse().ok()
}

async fn publish(ctx: &Context, d: &Deployment, policy: &ReplicaPolicy, type_: EventType, reason: &str, note: String) {
    publish_on(&ctx.recorder, &[d.object_ref(&()), policy.object_ref(&())], type_, reason, ACTION_RECONCILE, &note)
        .await;
}

/// The Event `action` of everything the reconciler reports.
const ACTION_RECONCILE: &str = "Reconcile";

/// The Event `action` for `note`: `verb`, then a hash of the note.
///
/// kube-runtime's [`Recorder`] folds every Event with the same type, reason, action, reporter
/// and object into one Event whose `series.count` it bumps, keeping the *first* note: with one
/// fixed action, three different corrections would read as the first one, three times. With an
/// action per distinct note, the same thing happening again still counts up its own Event's
/// series, and anything different (another count, another actor) is an Event of its own, so
/// `kubectl describe` shows each with its actual actor, from and to. The action is not shown by
/// `kubectl describe`; the API limits it to 128 characters (this is at most `verb` + 17).
pub(crate) fn event_action(verb: &str, note: &str) -> String {
    use std::hash::{Hash as _, Hasher as _};
    // SipHash with fixed keys: the same note gives the same action for the whole process,
    // which is as long as the Recorder's cache lives.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    note.hash(&mut h);
    format!("{verb}-{:016x}", h.finish())
}

/// Publishes one Event per object in `regarding` through `recorder`, with an action per
/// distinct note (see [`event_action`]). Failures are logged, never returned: an Event is a
/// report, and the write it reports has happened.
pub(crate) async fn publish_on(
    recorder: &Recorder,
    regarding: &[k8s_openapi::api::core::v1::ObjectReference],
    type_: EventType,
    reason: &str,
    verb: &str,
    note: &str,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.to_owned()),
        action: event_action(verb, note),
        secondary: None,
    };
    for reference in regarding {
        if let Err(e) = recorder.publish(&ev, reference).await {
            tracing::warn!(reason, error = %e, "publishing an Event failed");
        }
    }
}

/// Reconciles one ReplicaPolicy.
pub async fn reconcile(policy: Arc<ReplicaPolicy>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    let result = reconcile_inner(&policy, &ctx).await;
    let label = match &result {
        Ok(_) => "ok",
        Err(e) => e.metric_label(),
    };
    ctx.metrics.observe_reconcile(label, start.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&ObjectRef::from_obj(&*policy));
    }
    result
}

async fn reconcile_inner(policy: &ReplicaPolicy, ctx: &Context) -> Result<Action, ReconcileError> {
    let ns = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let policies: Api<ReplicaPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let old_status = policy.status.clone().unwrap_or_default();
    let mut status = old_status.clone();
    // Before observedGeneration moves: a status without appliedGeneration falls back to it.
    status.applied_generation = Some(applied_in_status(&old_status));
    status.observed_generation = policy.metadata.generation;

    // The Deployment, live: its spec may be newer than any cache, and its managedFields
    // name who changed it.
    let Some(deployment) =
        deployments.get_opt(&name).await.map_err(ReconcileError::kube(format!("reading Deployment {ns}/{name}")))?
    else {
        status.sync_status = Some(SyncStatus::Conflict.as_str().into());
        status.spec_replicas = None;
        status.ready_replicas = None;
        set_condition(
            &mut status.conditions,
            CONDITION_SYNCED,
            false,
            "DeploymentNotFound",
            format!("Deployment {ns}/{name} does not exist"),
        );
        write_status(&policies, &name, &old_status, &status).await?;
        return Ok(Action::requeue(ctx.config.resync));
    };

    let mut view = DeploymentView {
        deployment: Arc::new(deployment.clone()),
        policy: Some(Arc::new(policy.clone())),
        hpas: ctx.cache.hpas_targeting(&ns, &name),
    };
    // Suspension: in force while the condition (or this leader's own record, which the
    // store may not show yet) says so and the cool-down has not passed.
    let key = ObjectRef::from_obj(policy);
    let remembered = ctx.suspensions.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
    let since = remembered.into_iter().chain(suspended_since(policy)).max();
    let until = since.and_then(|s| suspension_end(policy, s, ctx.config.cool_down));
    if since.is_some() && until.is_none() {
        ctx.suspensions.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }
    let was_suspended = old_status.is_suspended();
    if until.is_some() && !was_suspended {
        // Decided by this leader, not yet visible in the store's copy of the status.
        set_condition(&mut status.conditions, CONDITION_SUSPENDED, true, "FlapGuard", "enforcement suspended".into());
    }
    if was_suspended && until.is_none() {
        set_condition(&mut status.conditions, CONDITION_SUSPENDED, false, "CoolDownOver", "enforcement resumed".into());
        ctx.corrections.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        publish(
            ctx,
            &deployment,
            policy,
            EventType::Normal,
            REASON_RESUMED,
            "flap guard cool-down over or count declared again: enforcing again".into(),
        )
        .await;
    }
    let mut p = policy.clone();
    p.status = Some(status.clone());
    view.policy = Some(Arc::new(p));
    let mut sync = evaluate(view.desired().as_ref(), &view.observed(), &view.conflicts());
    let desired = policy.spec.replicas;
    let observed = view.observed();

    // A declaration (a new generation) is not a drift until the Deployment has had its count:
    // seen in effect here, or applied by the reconciler below.
    let generation = policy.metadata.generation.unwrap_or(0);
    let uid = policy.metadata.uid.clone().unwrap_or_default();
    let remembered_applied = match ctx.applied.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        Some((u, g)) if *u == uid => *g,
        _ => 0,
    };
    let mut applied = applied_in_status(&old_status).max(remembered_applied);
    if applied < generation && (observed.spec_replicas == desired || declaration_overtaken(policy, &deployment)) {
        applied = generation;
    }
    // A declaration through the API whose own scale write has not landed yet.
    let wait_for_writer = if observed.spec_replicas != desired {
        left_to_writer(ctx, policy, &deployment, &uid, generation, applied)
    } else {
        None
    };
    let mut wrote_scale = false;

    if sync.status == SyncStatus::Drifted
        && let Some(left) = wait_for_writer
    {
        // Declared through the API moments ago: the API's own scale write applies it, once. Not a
        // drift; if that write never comes, this requeue applies it after the grace.
        tracing::debug!(namespace = %ns, name = %name, generation, left_ms = left.as_millis() as u64, "declaration left to the writer");
        sync = scalekeeper_core::SyncState {
            status: SyncStatus::Progressing,
            reason: format!("declared {desired} (version {generation}); waiting for it to be applied"),
        };
    } else if sync.status == SyncStatus::Drifted {
        let manager = replicas_manager(&deployment, last_set_by_us(policy));
        let by = manager.clone().unwrap_or_else(|| UNKNOWN_MANAGER.into());
        match policy.spec.mode {
            PolicyMode::Observe => {
                if old_status.sync_status.as_deref() != Some(SyncStatus::Drifted.as_str()) {
                    publish(
                        ctx,
                        &deployment,
                        policy,
                        EventType::Normal,
                        REASON_DRIFT_DETECTED,
                        format!(
                            "spec.replicas is {} (set by {by}), declared {desired}; Observe mode: not corrected",
                            observed.spec_replicas
                        ),
                    )
                    .await;
                }
            }
            PolicyMode::Enforce => {
                // Correct only to the live declaration: the controller's store can lag a
                // SetReplicas that wrote the policy and then scaled the Deployment, and
                // "correcting" to the old count would undo the user's new one.
                match policies
                    .get_opt(&name)
                    .await
                    .map_err(ReconcileError::kube(format!("reading ReplicaPolicy {ns}/{name}")))?
                {
                    None => return Ok(Action::await_change()),
                    Some(live)
                        if live.metadata.generation != policy.metadata.generation || live.spec != policy.spec =>
                    {
                        return Box::pin(reconcile_inner(&live, ctx)).await;
                    }
                    Some(_) => {}
                }
                // Never fight an HPA: check live right before writing.
                let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &ns);
                let live_hpas: Vec<String> = hpas
                    .list(&Default::default())
                    .await
                    .map_err(ReconcileError::kube(format!("listing HorizontalPodAutoscalers in {ns}")))?
                    .items
                    .into_iter()
                    .filter(|h| hpa::targets(h, &name))
                    .map(|h| h.name_any())
                    .collect();
                if let Some(h) = live_hpas.first() {
                    sync = evaluate(view.desired().as_ref(), &observed, &[Conflict::Hpa(h.clone())]);
                } else if applied < generation {
                    // A declaration the Deployment never had: GitOps, a hand edit, or one made
                    // through the API whose scale write did not come within the grace. Applying
                    // it is no drift: no drift count, no flap guard, no culprit.
                    scale(&deployments, &ns, &name, desired).await?;
                    wrote_scale = true;
                    applied = generation;
                    status.last_applied_time = Some(now_rfc3339());
                    let source = if declared_through_api(policy) {
                        let who = policy.annotations().get(LAST_SET_BY).cloned().unwrap_or_else(|| "the API".into());
                        format!(
                            "declared by {who} through the API, whose own scale write had not come within {}s",
                            DECLARATION_GRACE.as_secs()
                        )
                    } else {
                        "declared in the ReplicaPolicy".to_string()
                    };
                    let note = format!(
                        "spec.replicas {} -> {desired}: applied version {generation} of the declaration ({source})",
                        observed.spec_replicas
                    );
                    tracing::info!(namespace = %ns, name = %name, from = observed.spec_replicas, to = desired, generation, "declaration applied: {note}");
                    publish(ctx, &deployment, policy, EventType::Normal, REASON_REPLICAS_APPLIED, note).await;
                    sync = scalekeeper_core::SyncState {
                        status: SyncStatus::Progressing,
                        reason: format!(
                            "applied the declared spec.replicas {} -> {desired}; waiting for the rollout",
                            observed.spec_replicas
                        ),
                    };
                } else if flap_guard_trips(ctx, policy) {
                    ctx.suspensions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.clone(), jiff::Timestamp::now());
                    set_condition(
                        &mut status.conditions,
                        CONDITION_SUSPENDED,
                        true,
                        "FlapGuard",
                        format!(
                            "field manager {by:?} keeps changing spec.replicas: more than {} corrections within {}s; enforcement suspended for {}s",
                            ctx.config.flap_max,
                            ctx.config.flap_window.as_secs(),
                            ctx.config.cool_down.as_secs()
                        ),
                    );
                    status.last_correction = Some(Correction {
                        time: now_rfc3339(),
                        from: observed.spec_replicas,
                        to: desired,
                        field_manager: manager.clone(),
                    });
                    sync = scalekeeper_core::SyncState {
                        status: SyncStatus::Conflict,
                        reason: Conflict::Flapping(by.clone()).to_string(),
                    };
                    tracing::warn!(namespace = %ns, name = %name, field_manager = %by, "flap guard tripped: enforcement suspended");
                    publish(
                        ctx,
                        &deployment,
                        policy,
                        EventType::Warning,
                        REASON_SUSPENDED,
                        format!(
                            "field manager {by} keeps changing spec.replicas; scalekeeper stops enforcing for {}s",
                            ctx.config.cool_down.as_secs()
                        ),
                    )
                    .await;
                    ctx.metrics.flap_guard_tripped(&ns);
                } else {
                    scale(&deployments, &ns, &name, desired).await?;
                    wrote_scale = true;
                    ctx.metrics.drift_corrected(&ns);
                    tracing::info!(
                        namespace = %ns, name = %name, from = observed.spec_replicas, to = desired, field_manager = %by,
                        "drift corrected: spec.replicas was changed by {by}"
                    );
                    status.last_correction = Some(Correction {
                        time: now_rfc3339(),
                        from: observed.spec_replicas,
                        to: desired,
                        field_manager: manager.clone(),
                    });
                    publish(
                        ctx,
                        &deployment,
                        policy,
                        EventType::Normal,
                        REASON_DRIFT_CORRECTED,
                        format!("spec.replicas {} -> {desired} (it had been changed by {by})", observed.spec_replicas),
                    )
                    .await;
                    sync = scalekeeper_core::SyncState {
                        status: SyncStatus::Progressing,
                        reason: format!(
                            "corrected spec.replicas {} -> {desired}; waiting for the rollout",
                            observed.spec_replicas
                        ),
                    };
                }
            }
        }
    }
    if sync.status == SyncStatus::Conflict
        && old_status.sync_status.as_deref() != Some(SyncStatus::Conflict.as_str())
        && !view.hpas.is_empty()
    {
        publish(
            ctx,
            &deployment,
            policy,
            EventType::Warning,
            REASON_CONFLICT,
            format!("{}; not enforcing", sync.reason),
        )
        .await;
    }

    let after_spec = if wrote_scale { desired } else { observed.spec_replicas };
    status.applied_generation = Some(applied);
    if wait_for_writer.is_none() {
        ctx.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }
    if applied > remembered_applied {
        ctx.applied.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), (uid.clone(), applied));
    }
    status.spec_replicas = Some(after_spec);
    status.ready_replicas = Some(observed.status.ready);
    status.sync_status = Some(sync.status.as_str().into());
    let in_sync = sync.status == SyncStatus::InSync;
    let reason = match sync.status {
        SyncStatus::InSync => "InSync",
        SyncStatus::Drifted => "Drifted",
        SyncStatus::Progressing => "Progressing",
        SyncStatus::Conflict => "Conflict",
        SyncStatus::Unmanaged => "Unmanaged",
    };
    set_condition(
        &mut status.conditions,
        CONDITION_SYNCED,
        in_sync,
        reason,
        if in_sync { "spec.replicas and status match the declared count".into() } else { sync.reason.clone() },
    );
    write_status(&policies, &name, &old_status, &status).await?;

    let mut requeue = match until {
        Some(t) => {
            let secs = (t.as_second() - jiff::Timestamp::now().as_second()).max(1) as u64;
            Duration::from_secs(secs).min(ctx.config.resync)
        }
        None => ctx.config.resync,
    };
    if let Some(left) = wait_for_writer.filter(|_| !wrote_scale) {
        // Back when the grace is over, to apply the declaration if the writer has not.
        requeue = requeue.min(left + Duration::from_millis(50));
    }
    Ok(Action::requeue(requeue))
}

/// Records a correction now and says whether it makes more than `flap_max` within
/// `flap_window` (then the correction is not made).
fn flap_guard_trips(ctx: &Context, policy: &ReplicaPolicy) -> bool {
    let now = Instant::now();
    let mut map = ctx.corrections.lock().unwrap_or_else(|e| e.into_inner());
    let times = map.entry(ObjectRef::from_obj(policy)).or_default();
    while times.front().is_some_and(|t| now.duration_since(*t) > ctx.config.flap_window) {
        times.pop_front();
    }
    if times.len() >= ctx.config.flap_max {
        return true;
    }
    times.push_back(now);
    false
}

/// Writes the status subresource when it changed (a merge patch of `status` only).
async fn write_status(
    api: &Api<ReplicaPolicy>,
    name: &str,
    old: &ReplicaPolicyStatus,
    new: &ReplicaPolicyStatus,
) -> Result<(), ReconcileError> {
    if old == new {
        return Ok(());
    }
    let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    match api.patch_status(name, &pp, &Patch::Merge(json!({"status": new}))).await {
        Ok(_) => Ok(()),
        // Deleted meanwhile (with its Deployment): nothing left to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(ReconcileError::Kube { what: format!("writing status of ReplicaPolicy {name}"), source: e }),
    }
}

/// Requeues a failed reconciliation with exponential backoff: 0.5 s, 1 s, 2 s … up to 5 min.
pub fn error_policy(policy: Arc<ReplicaPolicy>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let n = failures.entry(ObjectRef::from_obj(&*policy)).or_insert(0);
    *n = n.saturating_add(1);
    let backoff = backoff(*n);
    tracing::warn!(namespace = ?policy.namespace(), name = %policy.name_any(), error = %err, failures = *n, retry_in_ms = backoff.as_millis() as u64, "reconcile failed");
    Action::requeue(backoff)
}

/// The delay after `failures` consecutive failures.
pub fn backoff(failures: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(300_000))
}

/// Runs the controller(s) for `scope` until `stop` is cancelled.
pub async fn run(ctx: Arc<Context>, scope: Scope, stop: CancellationToken) {
    let mut tasks = vec![];
    let apis = scope
        .apis::<ReplicaPolicy>(&ctx.client)
        .into_iter()
        .zip(scope.apis::<Deployment>(&ctx.client))
        .zip(scope.apis::<HorizontalPodAutoscaler>(&ctx.client));
    for (((_, policies), (_, deployments)), (_, hpas)) in apis {
        let ctx = ctx.clone();
        let stop = stop.clone();
        // Futures, not spawned tasks: aborting `run` then drops every controller with it.
        tasks.push(async move {
            let controller = Controller::new(policies, watcher::Config::default());
            let store = controller.store();
            let running = controller
                .watches(deployments, watcher::Config::default(), |d: Deployment| {
                    let ns = d.namespace()?;
                    Some(ObjectRef::new(&d.name_any()).within(&ns))
                })
                .watches(hpas, watcher::Config::default(), |h: HorizontalPodAutoscaler| {
                    let ns = h.namespace()?;
                    Some(ObjectRef::new(hpa::target_deployment(&h)?).within(&ns))
                })
                .trigger_backoff(crate::cache::watch_backoff())
                .graceful_shutdown_on(stop.clone().cancelled_owned())
                .run(reconcile, error_policy, ctx)
                .for_each(|res| async move {
                    if let Err(e) = res {
                        // ObjectNotFound: a Deployment without a policy triggered; not an error.
                        if !matches!(e, kube::runtime::controller::Error::ObjectNotFound(_)) {
                            tracing::debug!(error = %e, "controller");
                        }
                    }
                });
            // kube-runtime's graceful shutdown waits for the policy store to be ready before
            // its runner can finish, and the shutdown itself ends the watch that would make it
            // ready: stopped before its first list completed, a Controller never ends. Nothing
            // has been reconciled then, so there is nothing to wait for.
            let unsynced_stop = async {
                stop.cancelled().await;
                if store.wait_until_ready().now_or_never().is_none() {
                    tracing::debug!("stopping before the policy store synced: not waiting for the controller");
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = running => {}
                _ = unsynced_stop => {}
            }
        });
    }
    futures::future::join_all(tasks).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }

    #[test]
    fn each_distinct_note_gets_an_action_of_its_own() {
        let a = event_action(ACTION_RECONCILE, "spec.replicas 11 -> 4 (it had been changed by kubectl)");
        let b = event_action(ACTION_RECONCILE, "spec.replicas 12 -> 4 (it had been changed by kubectl)");
        assert_ne!(a, b, "another message must not fold into the first one's series");
        assert_eq!(a, event_action(ACTION_RECONCILE, "spec.replicas 11 -> 4 (it had been changed by kubectl)"));
        assert!(a.starts_with("Reconcile-") && a.len() <= 128, "{a}");
    }

    fn policy_with(annotations: &[(&str, &str)], replicas_owner: Option<&str>) -> ReplicaPolicy {
        let mut p = ReplicaPolicy::new(
            "web",
            crate::policy::ReplicaPolicySpec { replicas: 5, mode: PolicyMode::Enforce, deployment_uid: None },
        );
        p.metadata.annotations = Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        if let Some(owner) = replicas_owner {
            p.metadata.managed_fields = Some(vec![
                serde_json::from_value(
                    json!({"manager": "kubectl-edit", "operation": "Update", "time": "2026-01-01T09:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:mode": {}}}}),
                )
                .unwrap(),
                serde_json::from_value(json!({"manager": owner, "operation": "Update", "time": "2026-01-01T10:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}))
                .unwrap(),
            ]);
        }
        p
    }

    #[test]
    fn who_declared_is_the_owner_of_spec_replicas() {
        let set_at = [(LAST_SET_AT, "2026-01-01T10:00:00Z")];
        assert!(declared_through_api(&policy_with(&set_at, Some(FIELD_MANAGER))));
        // Edited with kubectl after an API declaration: the annotation stays, the owner moves.
        assert!(!declared_through_api(&policy_with(&set_at, Some("kubectl-patch"))));
        // No managedFields: the writer's annotation decides.
        assert!(declared_through_api(&policy_with(&set_at, None)));
        assert!(!declared_through_api(&policy_with(&[], None)));
    }

    #[test]
    fn a_declaration_is_overtaken_once_the_deployment_moves_past_what_the_writer_read() {
        let p = policy_with(&[(LAST_SET_AT, "2026-01-01T10:00:00Z"), (LAST_SET_DEPLOYMENT_GENERATION, "4")], None);
        let at = |g: i64| {
            let mut d = Deployment::default();
            d.metadata.generation = Some(g);
            d
        };
        assert!(!declaration_overtaken(&p, &at(4)), "the writer's scale write has not landed");
        assert!(declaration_overtaken(&p, &at(5)));
        // A GitOps declaration is never the writer's to apply.
        let gitops = policy_with(&[(LAST_SET_DEPLOYMENT_GENERATION, "4")], Some("argocd"));
        assert!(!declaration_overtaken(&gitops, &at(5)));
    }

    #[test]
    fn applied_generation_falls_back_to_observed_generation_for_old_statuses() {
        let old = ReplicaPolicyStatus { observed_generation: Some(3), ..Default::default() };
        assert_eq!(applied_in_status(&old), 3);
        let new =
            ReplicaPolicyStatus { observed_generation: Some(3), applied_generation: Some(2), ..Default::default() };
        assert_eq!(applied_in_status(&new), 2);
        assert_eq!(applied_in_status(&ReplicaPolicyStatus::default()), 0);
    }

    #[test]
    fn conditions_keep_transition_time_when_unchanged() {
        let mut c = vec![];
        set_condition(&mut c, "Synced", true, "InSync", "ok".into());
        let t0 = c[0].last_transition_time.clone();
        c[0].last_transition_time = Some("2020-01-01T00:00:00Z".into());
        set_condition(&mut c, "Synced", true, "InSync", "ok".into());
        assert_eq!(c[0].last_transition_time.as_deref(), Some("2020-01-01T00:00:00Z"));
        set_condition(&mut c, "Synced", false, "Drifted", "x".into());
        assert_ne!(c[0].last_transition_time, Some("2020-01-01T00:00:00Z".into()));
        assert!(t0.is_some());
    }

    fn suspended_until(policy: &ReplicaPolicy, cool_down: Duration) -> Option<jiff::Timestamp> {
        suspension_end(policy, suspended_since(policy)?, cool_down)
    }

    #[test]
    fn suspension_ends_after_cool_down_or_new_declaration() {
        let mut p = ReplicaPolicy::new(
            "web",
            crate::policy::ReplicaPolicySpec { replicas: 3, mode: PolicyMode::Enforce, deployment_uid: None },
        );
        let mut status = ReplicaPolicyStatus::default();
        set_condition(&mut status.conditions, CONDITION_SUSPENDED, true, "FlapGuard", "x".into());
        p.status = Some(status.clone());
        assert!(suspended_until(&p, Duration::from_secs(60)).is_some());
        assert!(suspended_until(&p, Duration::ZERO).is_none(), "cool-down over");
        status.conditions[0].last_transition_time = Some("2020-01-01T00:00:00Z".into());
        p.status = Some(status);
        p.metadata.annotations = Some([(LAST_SET_AT.to_string(), "2021-01-01T00:00:00Z".to_string())].into());
        assert!(
            suspended_until(&p, Duration::from_secs(1_000_000_000)).is_none(),
            "declared again after the suspension"
        );
    }
}
