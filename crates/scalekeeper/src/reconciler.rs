//! The reconciler: a kube-runtime `Controller` on ReplicaPolicies, triggered by their
//! Deployments and by HorizontalPodAutoscalers, that puts `spec.replicas` back when someone
//! else changes it — unless something legitimately owns the count.
//!
//! ```text
//!  cache (the process' watches) ────── Store<ReplicaPolicy> ─┐
//!         └─ change feed (policy, Deployment, HPA → target) ─┤
//!  leader's watch of ScaleRefused Events (→ their policy) ───┴─► Controller ─► reconcile(policy)
//!   read:    Deployment, HPAs, policy status from the cache; this leader's memory
//!   plan:    scalekeeper_core::plan (pure: the decision table)
//!   confirm: a planned write re-reads the policy and the HPAs live (at once), and plans again
//!   scale:   PATCH scale at the cached resourceVersion (409: read the Deployment live, again)
//!   execute: memory · Events · history · PATCH status (only when changed; its answer → the cache)
//! ```
//!
//! The history of each Deployment's count is recorded here, by the leader only, in the
//! policy's status ([`scalekeeper_core::history`]): what each look changed or saw changed, and
//! the admission guard's refusals its `ScaleRefused` Events report (watched by the leader, see [`run`]).
//!
//! Only the Lease holder runs it (see [`crate::leader`]). Never a hot loop: corrections are
//! bounded by the flap guard (more than `flap_max` corrections within `flap_window` suspend
//! enforcement for `cool_down`), errors requeue with exponential backoff, and a periodic
//! resync catches anything missed.
//!
//! Event reasons and the field manager are named constants, as in sample-controller.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use scalekeeper_core::Desired;
use scalekeeper_core::history;
use scalekeeper_core::plan::{
    ConditionChange, Decision, Declaration, DeploymentFacts, Input, Limits, Plan, Record, plan,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod refusals;
mod status;

use refusals::watch_refusals;
use status::write_status;

use crate::cache::{Cache, CachedDeployment, Change};
pub use crate::culprit::UNKNOWN_MANAGER;
use crate::culprit::last_set_by_us;
use crate::events::publish_on;
use crate::hpa::{self, HorizontalPodAutoscaler};
use crate::metrics::Metrics;
use crate::policy::{
    CONDITION_SUSPENDED, Correction, FIELD_MANAGER, HistoryEntry, LAST_SET_AT, LAST_SET_BY,
    LAST_SET_DEPLOYMENT_GENERATION, PolicyCondition, ReplicaPolicy, ReplicaPolicyStatus,
};

pub use scalekeeper_core::plan::{
    DECLARATION_GRACE, REASON_CONFLICT, REASON_DRIFT_CORRECTED, REASON_DRIFT_DETECTED, REASON_REPLICAS_APPLIED,
    REASON_REPLICAS_DECLARED, REASON_RESUMED, REASON_SUSPENDED,
};

/// Settings of the reconciler.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// More corrections than this (a count) within `flap_window` trip the flap guard.
    pub flap_max: usize,
    /// The flap guard's window.
    pub flap_window: Duration,
    /// How long enforcement stays suspended after the flap guard trips.
    pub cool_down: Duration,
    /// Periodic resync of every policy.
    pub resync: Duration,
    /// How long a count declared through the API is left to the API's own scale write
    /// (default [`DECLARATION_GRACE`]).
    pub declaration_grace: Duration,
    /// How many policies are reconciled at once, at most (a count; default
    /// [`DEFAULT_CONCURRENCY`]). kube-runtime's default is unbounded: a new leader then looks
    /// at every policy at once, and the peak of that burst stays in the allocator's memory.
    pub concurrency: u16,
    /// This replica's identity, for Events' `reportingInstance`.
    pub instance: String,
}

/// The default of [`ReconcileConfig::concurrency`] (and of `--max-concurrent-reconciles`).
pub const DEFAULT_CONCURRENCY: u16 = 16;

impl Default for ReconcileConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            flap_max: limits.flap_max,
            flap_window: limits.flap_window,
            cool_down: limits.cool_down,
            resync: limits.resync,
            declaration_grace: limits.declaration_grace,
            concurrency: DEFAULT_CONCURRENCY,
            instance: "scalekeeper".into(),
        }
    }
}

impl ReconcileConfig {
    /// The settings the decision ([`scalekeeper_core::plan()`]) depends on.
    pub fn limits(&self) -> Limits {
        Limits {
            flap_max: self.flap_max,
            flap_window: self.flap_window,
            cool_down: self.cool_down,
            declaration_grace: self.declaration_grace,
            resync: self.resync,
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

/// What this leader remembers about one policy beyond its status, because the controller's
/// store may not show its own status writes yet when the next look comes.
#[derive(Debug, Default)]
struct Memory {
    /// Recent correction times (the flap guard's window).
    corrections: Vec<jiff::Timestamp>,
    /// When a suspension this leader decided began.
    suspended_since: Option<jiff::Timestamp>,
    /// (policy UID, generation): the newest generation seen in effect or applied.
    applied: Option<(String, i64)>,
    /// A declaration made through the API (`UID/generation/last-set-at`) left to the writer's
    /// scale write, and when this leader first saw it waiting.
    pending: Option<(String, Instant)>,
    /// (policy UID, rule key): the rule last seen in effect or applied.
    applied_rule: Option<(String, String)>,
}

/// Shared state of the reconcilers.
pub struct Context {
    client: Client,
    cache: Cache,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    config: ReconcileConfig,
    /// Per policy: what this leader remembers (see [`Memory`]).
    memory: Mutex<HashMap<ObjectRef<ReplicaPolicy>, Memory>>,
    /// Consecutive failures per policy, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<ReplicaPolicy>, u32>>,
    /// Per Deployment (namespace, name): the admission guard's refusals its `ScaleRefused`
    /// Events report, the newest [`history::MAX_HISTORY`] (see [`watch_refusals`]).
    refusals: Mutex<HashMap<(String, String), Vec<history::Refusal>>>,
    /// Status fields the API server dropped from a status write: the CRD it serves is older
    /// than this server and prunes them. They are then left out of the comparison that decides
    /// whether the status changed, so that a look does not write, again and again, what can
    /// never be kept (each write would trigger the next look).
    pruned: Mutex<BTreeSet<String>>,
}

impl Context {
    /// The Kubernetes client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The watch cache the reconciler reads.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// A context for reconcilers using `client` and reading HPAs from `cache`.
    pub fn new(client: Client, cache: Cache, metrics: Arc<Metrics>, config: ReconcileConfig) -> Arc<Self> {
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), crate::events::reporter(&config.instance)),
            client,
            cache,
            metrics,
            config,
            memory: Mutex::default(),
            failures: Mutex::default(),
            refusals: Mutex::default(),
            pruned: Mutex::default(),
        })
    }

    fn memory<T>(&self, key: &ObjectRef<ReplicaPolicy>, f: impl FnOnce(&mut Memory) -> T) -> T {
        let mut map = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(key.clone()).or_default())
    }
}

/// Sets `d`'s `spec.replicas` to `replicas` (a count) through its scale subresource, as field
/// manager [`FIELD_MANAGER`]: the one write the reconciler makes to a Deployment, whether it
/// applies a declaration or corrects a drift. Made on condition that the Deployment is still
/// the object `d` was cached from: the patch carries `d`'s resourceVersion, which the API
/// server takes as a precondition and answers 409 Conflict when the object has moved on (a
/// newer write, or a Deployment deleted and created again under the name). Returns `false`
/// on that conflict.
///
/// Source: "Resource versions" and "Conflicts" in
/// <https://kubernetes.io/docs/reference/using-api/api-concepts/> (an update, or a patch,
/// carrying `metadata.resourceVersion` succeeds only against that version).
async fn scale(ctx: &Context, d: &CachedDeployment, replicas: i32) -> Result<bool, ReconcileError> {
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.namespace);
    let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    let mut body = json!({"spec": {"replicas": replicas}});
    if !d.resource_version.is_empty() {
        body["metadata"] = json!({"resourceVersion": &*d.resource_version});
    }
    match deployments.patch_scale(&d.name, &pp, &Patch::Merge(body)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => {
            Err(ReconcileError::Kube { what: format!("scaling Deployment {}/{}", d.namespace, d.name), source: e })
        }
    }
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
    match replicas_owner(policy) {
        Some(manager) => manager == FIELD_MANAGER,
        None => policy.annotations().contains_key(LAST_SET_AT),
    }
}

/// The field manager of the newest managedFields entry owning the policy's
/// `f:spec.f:replicas`: who last declared its count (the history names it for an edit made
/// with kubectl or a GitOps tool).
fn replicas_owner(policy: &ReplicaPolicy) -> Option<&str> {
    policy
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| crate::culprit::owns_spec_replicas(e))
        .max_by_key(|e| e.time.as_ref().map(|t| t.0))
        .and_then(|e| e.manager.as_deref())
}

/// What `status` recorded that the history's next look compares with (every field optional:
/// a status from before the history reads as nothing recorded).
fn recorded_for_history(status: &ReplicaPolicyStatus) -> history::Recorded {
    history::Recorded {
        declared: status.history_declared_replicas,
        hold: status.history_hold.clone(),
        effective: status.effective_replicas,
        spec_replicas: status.spec_replicas,
        applied_rule: status.applied_rule.clone(),
        refused_until: status.history_refused_until.as_deref().and_then(|t| t.parse().ok()),
    }
}

/// The declaration as [`plan`] reads it: the policy's spec and generation, and what the API's
/// writer recorded in its annotations.
fn declaration(policy: &ReplicaPolicy) -> Declaration {
    let annotations = policy.annotations();
    Declaration {
        target: format!("{}/{}", policy.namespace().unwrap_or_default(), policy.name_any()),
        desired: Desired {
            replicas: policy.spec.replicas,
            mode: policy.spec.mode,
            deployment_uid: policy.spec.deployment_uid.clone(),
            rule: Default::default(),
        },
        generation: policy.metadata.generation.unwrap_or(0),
        through_api: declared_through_api(policy),
        set_at: annotations.get(LAST_SET_AT).and_then(|t| t.parse().ok()),
        set_by: annotations.get(LAST_SET_BY).cloned(),
        read_generation: annotations.get(LAST_SET_DEPLOYMENT_GENERATION).and_then(|g| g.parse().ok()),
        rules: policy.spec.rules(),
    }
}

/// When the suspension recorded in the policy's status began, if one is.
fn suspended_since(policy: &ReplicaPolicy) -> Option<jiff::Timestamp> {
    let status = policy.status.as_ref()?;
    let c = status.condition(CONDITION_SUSPENDED).filter(|c| c.is_true())?;
    c.last_transition_time.as_deref()?.parse().ok()
}

/// Sets condition `type_`, keeping lastTransitionTime when the status did not change.
fn set_condition(conditions: &mut Vec<PolicyCondition>, change: &ConditionChange, now: &str) {
    let status = crate::policy::condition_status(change.status);
    match conditions.iter_mut().find(|c| c.type_ == change.type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(now.into());
            }
            c.status = status.into();
            c.reason = change.reason.into();
            c.message.clone_from(&change.message);
        }
        None => conditions.push(PolicyCondition {
            type_: change.type_.into(),
            status: status.into(),
            reason: change.reason.into(),
            message: change.message.clone(),
            last_transition_time: Some(now.into()),
        }),
    }
}

/// The Event `action` of everything the reconciler reports.
const ACTION_RECONCILE: &str = "Reconcile";

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

/// How often one look re-reads when the policy changes under it before giving up until the
/// next trigger.
const MAX_READS: usize = 3;

/// Where [`read`] takes the Deployment from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The cache: no request. A scale write made from it carries its resourceVersion, so a
    /// copy the cache has not caught up on yet is never acted on.
    Cache,
    /// A live GET: after the API refused a write made from the cached copy as stale.
    Live,
}

/// Read → [`plan`] → confirm → scale → execute.
///
/// The Deployment comes from the cache, and a scale write is made on condition that the
/// Deployment is still at the cached resourceVersion ([`scale`]); refused, the look starts
/// again from a live read. A plan that writes is first confirmed against the live policy and
/// the live HPAs, read together ([`confirm`]): the controller's policy store can lag a
/// SetReplicas that wrote the policy and then scaled the Deployment ("correcting" to the old
/// count would undo the user's new one), and an HPA created a moment ago must never be
/// fought. Neither lag shows in the Deployment's resourceVersion, so the precondition cannot
/// replace these two reads.
async fn reconcile_inner(policy: &ReplicaPolicy, ctx: &Context) -> Result<Action, ReconcileError> {
    let mut policy = policy.clone();
    let mut source = Source::Cache;
    for _ in 0..MAX_READS {
        let (mut input, deployment) = read(&policy, source, ctx).await?;
        let mut planned = plan(&input);
        if planned.decision.scale_to().is_some() {
            match confirm(&policy, ctx).await? {
                Confirmation::Deleted => return Ok(Action::await_change()),
                Confirmation::Changed(live) => {
                    policy = *live;
                    continue;
                }
                Confirmation::Hpas(hpas) if !hpas.is_empty() => {
                    input.hpas = hpas;
                    planned = plan(&input);
                }
                Confirmation::Hpas(_) => {}
            }
        }
        if let (Some(to), Some(d)) = (planned.decision.scale_to(), deployment.as_deref())
            && !scale(ctx, d, to).await?
        {
            tracing::debug!(namespace = %d.namespace, name = %d.name, resource_version = %d.resource_version,
                "the cached Deployment was stale; reading it live");
            source = Source::Live;
            continue;
        }
        return execute(&policy, deployment.as_deref(), &input, planned, ctx).await;
    }
    tracing::debug!(namespace = ?policy.namespace(), name = %policy.name_any(), "the policy or the Deployment kept changing; looking again shortly");
    Ok(Action::requeue(Duration::from_secs(1)))
}

/// Reads what [`plan`] decides from: the Deployment (from `source`: its counts, its
/// resourceVersion, and who owns `spec.replicas` by managedFields), the HPAs targeting it
/// from the cache, the policy's status and this leader's memory.
async fn read(
    policy: &ReplicaPolicy,
    source: Source,
    ctx: &Context,
) -> Result<(Input, Option<Arc<CachedDeployment>>), ReconcileError> {
    let ns = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let deployment = match source {
        Source::Cache => ctx.cache.deployment(&ns, &name),
        Source::Live => {
            let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            deployments
                .get_opt(&name)
                .await
                .map_err(ReconcileError::kube(format!("reading Deployment {ns}/{name}")))?
                .map(|d| Arc::new(CachedDeployment::from_deployment(&d)))
        }
    };
    let now = jiff::Timestamp::now();
    let declaration = declaration(policy);
    let status = policy.status.clone().unwrap_or_default();
    let key = ObjectRef::from_obj(policy);
    let uid = policy.metadata.uid.clone().unwrap_or_default();
    let since = last_set_by_us(policy);
    let facts = deployment.as_ref().map(|d| DeploymentFacts {
        observed: d.observed.clone(),
        paused: d.paused,
        replicas_manager: d.replicas_owner.as_ref().and_then(|o| o.manager_since(since)).map(str::to_owned),
    });
    let effective = declaration.rules.effective(declaration.desired.replicas, now).replicas;
    let drifted = facts.as_ref().is_some_and(|f| f.observed.spec_replicas != effective);
    let limits = ctx.config.limits();
    let record = ctx.memory(&key, |m| {
        let remembered_applied = match &m.applied {
            Some((u, g)) if *u == uid => *g,
            _ => 0,
        };
        let pending_for = match (&declaration.set_at, drifted && declaration.through_api) {
            (Some(set_at), true) => {
                let marker = format!("{uid}/{}/{}", declaration.generation, crate::policy::timestamp_millis(*set_at));
                match &m.pending {
                    Some((seen, since)) if *seen == marker => since.elapsed(),
                    _ => {
                        m.pending = Some((marker, Instant::now()));
                        Duration::ZERO
                    }
                }
            }
            _ => Duration::ZERO,
        };
        let window = jiff::SignedDuration::try_from(limits.flap_window).unwrap_or(jiff::SignedDuration::MAX);
        m.corrections.retain(|t| now.duration_since(*t) <= window);
        let applied_rule = match &m.applied_rule {
            Some((u, key)) if *u == uid => Some(key.clone()),
            _ => status.applied_rule.clone(),
        };
        Record {
            applied_rule,
            applied_generation: applied_in_status(&status).max(remembered_applied),
            reported: status.sync_status.as_deref().and_then(|s| s.parse().ok()),
            suspended: status.is_suspended(),
            suspended_since: m.suspended_since.into_iter().chain(suspended_since(policy)).max(),
            last_corrected_by: status.last_correction.as_ref().and_then(|c| c.field_manager.clone()),
            corrections: m.corrections.clone(),
            pending_for,
        }
    });
    let input = Input {
        declaration,
        deployment: facts,
        hpas: if deployment.is_some() { ctx.cache.hpas_targeting(&ns, &name) } else { vec![] },
        record,
        limits,
        now,
    };
    Ok((input, deployment))
}

/// What the live read before a write found.
enum Confirmation {
    /// The policy is gone: nothing to enforce.
    Deleted,
    /// The policy changed since the store's copy: plan again from this one.
    Changed(Box<ReplicaPolicy>),
    /// The policy is the same; these HPAs (names) target the Deployment now.
    Hpas(Vec<String>),
}

/// Reads the policy and the namespace's HPAs live, right before a write: both requests at
/// once, so the confirmation costs one round trip.
async fn confirm(policy: &ReplicaPolicy, ctx: &Context) -> Result<Confirmation, ReconcileError> {
    let ns = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let policies: Api<ReplicaPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &ns);
    let all = kube::api::ListParams::default();
    let (live_policy, live_hpas) = tokio::join!(policies.get_opt(&name), hpas.list(&all));
    match live_policy.map_err(ReconcileError::kube(format!("reading ReplicaPolicy {ns}/{name}")))? {
        None => return Ok(Confirmation::Deleted),
        Some(live) if live.metadata.generation != policy.metadata.generation || live.spec != policy.spec => {
            return Ok(Confirmation::Changed(Box::new(live)));
        }
        Some(_) => {}
    }
    let live: Vec<String> = live_hpas
        .map_err(ReconcileError::kube(format!("listing HorizontalPodAutoscalers in {ns}")))?
        .items
        .into_iter()
        .filter(|h| hpa::targets(h, &name))
        .map(|h| h.name_any())
        .collect();
    Ok(Confirmation::Hpas(live))
}

/// Carries out the rest of `planned` once its scale write (if any) is made: this leader's memory, the Events, and the
/// status (written only when it changed).
async fn execute(
    policy: &ReplicaPolicy,
    deployment: Option<&CachedDeployment>,
    input: &Input,
    planned: Plan,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let ns = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let generation = input.declaration.generation;
    match &planned.decision {
        Decision::Correct { from, to, by } => {
            ctx.metrics.drift_corrected(&ns);
            tracing::info!(namespace = %ns, name = %name, from, to, field_manager = %by, "drift corrected: spec.replicas was changed by {by}");
        }
        Decision::Apply { from, to } => {
            tracing::info!(namespace = %ns, name = %name, from, to, generation, "declaration applied");
        }
        Decision::Suspend { by } => {
            ctx.metrics.flap_guard_tripped(&ns);
            tracing::warn!(namespace = %ns, name = %name, field_manager = %by, "flap guard tripped: enforcement suspended");
        }
        Decision::Wait { left } => {
            tracing::debug!(namespace = %ns, name = %name, generation, left_ms = left.as_millis() as u64, "declaration left to the writer");
        }
        Decision::Missing | Decision::Noop | Decision::Report => {}
    }

    let key = ObjectRef::from_obj(policy);
    let uid = policy.metadata.uid.clone().unwrap_or_default();
    let memory = &planned.memory;
    ctx.memory(&key, |m| {
        if memory.forget_suspension {
            m.suspended_since = None;
        }
        if memory.suspend {
            m.suspended_since = Some(input.now);
        }
        if memory.forget_corrections {
            m.corrections.clear();
        }
        if memory.record_correction {
            m.corrections.push(input.now);
        }
        if !memory.waiting {
            m.pending = None;
        }
        if planned.applied_generation > input.record.applied_generation {
            m.applied = Some((uid.clone(), planned.applied_generation));
        }
        m.applied_rule = Some((uid, planned.applied_rule.clone()));
    });

    if let Some(d) = deployment {
        let regarding = [d.object_ref(), policy.object_ref(&())];
        for e in &planned.events {
            let type_ = if e.warning { EventType::Warning } else { EventType::Normal };
            publish_on(&ctx.recorder, &regarding, type_, e.reason, ACTION_RECONCILE, &e.note).await;
        }
    }

    let old = policy.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let now = crate::policy::timestamp(input.now);
    status.observed_generation = policy.metadata.generation;
    status.applied_generation = Some(planned.applied_generation);
    status.sync_status = Some(planned.sync.status.as_str().into());
    status.spec_replicas = planned.spec_replicas;
    status.ready_replicas = planned.ready_replicas;
    for change in &planned.conditions {
        set_condition(&mut status.conditions, change, &now);
    }
    if let Some(c) = &planned.last_correction {
        status.last_correction =
            Some(Correction { time: now.clone(), from: c.from, to: c.to, field_manager: c.field_manager.clone() });
    }
    if matches!(planned.decision, Decision::Apply { .. }) {
        status.last_applied_time = Some(now);
    }
    status.effective_replicas = Some(planned.effective.replicas);
    status.effective_rule = Some(planned.effective.source.kind().as_str().into());
    status.next_transition_time = planned.effective.next_transition.map(crate::policy::timestamp_millis);
    status.applied_rule = Some(planned.applied_rule.clone());
    // The history: what this look changed, against what the status recorded. An entry is
    // recorded once: a status write that adds entries is made on condition that the policy is
    // still the one read. Refused because the status moved on (a new leader whose cache has not
    // seen the old leader's last status yet), the entries are derived again against the live
    // status and written on condition of its version: neither appended twice nor lost. Refused
    // because the declaration moved on, the look is made again from it.
    let policies: Api<ReplicaPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let editor = replicas_owner(policy).map(str::to_owned);
    let refusals = ctx.refusals_of(&ns, &name);
    let (mut base, mut version) = (old, policy.resource_version());
    for attempt in 1..=MAX_READS {
        let mut status = status.clone();
        let look = history::look(input, &planned, &recorded_for_history(&base), editor.as_deref(), &refusals);
        status.history = base.history.clone();
        history::append(&mut status.history, look.entries.iter().map(HistoryEntry::from));
        status.history_declared_replicas = Some(look.declared);
        status.history_hold = look.hold;
        status.history_refused_until = look.refused_until.map(|t| t.to_string());
        let precondition = if look.entries.is_empty() { None } else { version.as_deref() };
        let pruned = ctx.pruned.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match write_status(&policies, &name, &base, &status, precondition, &pruned).await {
            Ok(Some(written)) => {
                ctx.note_pruned(&status, &written);
                // The next look reads this status, not the one before it: the watch event of
                // this write can come after that of the scale write, which triggers the look.
                // Planned from the old status, that look would take a suspension this one ended
                // as still in force and write it back.
                ctx.cache.keep_written(&written);
                break;
            }
            Ok(None) => break,
            Err(ReconcileError::Kube { source: kube::Error::Api(e), .. }) if e.code == 409 && attempt < MAX_READS => {
                let Some(live) = policies
                    .get_opt(&name)
                    .await
                    .map_err(ReconcileError::kube(format!("reading ReplicaPolicy {ns}/{name}")))?
                else {
                    break;
                };
                if live.metadata.generation != policy.metadata.generation {
                    // Declared again since this look read it: what it recorded would be about
                    // the declaration before. Look again at once, from the live policy.
                    tracing::debug!(namespace = %ns, name = %name, "the declaration moved on before the status write; looking again");
                    ctx.cache.keep_written(&live);
                    return Ok(Action::requeue(Duration::from_millis(50)));
                }
                tracing::debug!(namespace = %ns, name = %name, "the status moved on before this look's write; recording the history against the live status");
                base = live.status.clone().unwrap_or_default();
                version = live.resource_version();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Action::requeue(planned.requeue_after))
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

/// Runs the controller(s) until `stop` is cancelled: one per part of the cache's scope.
///
/// The controllers open no watches of their own on policies, Deployments or HPAs. Each
/// reconciles from the cache's policy store, triggered by the cache's change feed: a change of
/// a ReplicaPolicy, of its Deployment (same name) or of an HPA (mapped to its target) triggers
/// the policy of that name; a re-list, or a feed this controller fell behind on, triggers every
/// policy in the store; so does becoming leader. The leader keeps one copy of each object, not
/// two. Its one watch of its own, per part, is of the guard's `ScaleRefused` Events
/// (`watch_refusals`), small and filtered by reason on the server, for the history.
pub async fn run(ctx: Arc<Context>, stop: CancellationToken) {
    let mut tasks = vec![];
    for (namespace, store) in ctx.cache.policy_stores() {
        let ctx = ctx.clone();
        let stop = stop.clone();
        // Subscribe before reading the store, so nothing falls between the two.
        let changes = tokio_stream::wrappers::BroadcastStream::new(ctx.cache.subscribe());
        // The guard's refusals: each new one triggers its policy's look, which records it.
        let (refused_tx, refused_rx) = tokio::sync::mpsc::unbounded_channel();
        let refusal_watch = watch_refusals(ctx.clone(), namespace.clone(), store.clone(), refused_tx, stop.clone());
        // Futures, not spawned tasks: aborting `run` then drops every controller with it.
        tasks.push(async move {
            let triggers = futures::stream::select(
                triggers(namespace, store.clone(), changes),
                tokio_stream::wrappers::UnboundedReceiverStream::new(refused_rx),
            );
            let running = Controller::for_stream(futures::stream::pending(), store.clone())
                .with_config(kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency))
                .reconcile_on(triggers)
                .trigger_backoff(crate::cache::watch_backoff())
                .graceful_shutdown_on(stop.clone().cancelled_owned())
                .run(reconcile, error_policy, ctx)
                .for_each(|res| async move {
                    if let Err(e) = res {
                        // ObjectNotFound: the policy was deleted before its turn; not an error.
                        if !matches!(e, kube::runtime::controller::Error::ObjectNotFound(_)) {
                            tracing::debug!(error = %e, "controller");
                        }
                    }
                });
            // kube-runtime's graceful shutdown waits for the policy store to be ready before
            // its runner can finish: stopped before the cache's first list completed, a
            // Controller never ends. Nothing has been reconciled then, so there is nothing to
            // wait for.
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
                _ = refusal_watch => {}
            }
        });
    }
    futures::future::join_all(tasks).await;
}

/// The policies to reconcile, from the cache's change feed, for the part of the scope serving
/// `namespace` (`None`: all): every policy in `store` first (this leader has not looked at any
/// yet), then the policy named by each change that has one in the store, and every policy
/// again after a re-list or when the feed lagged (changes were lost).
fn triggers(
    namespace: Option<String>,
    store: Store<ReplicaPolicy>,
    changes: tokio_stream::wrappers::BroadcastStream<Change>,
) -> impl futures::Stream<Item = ObjectRef<ReplicaPolicy>> + Send + 'static {
    let all =
        |store: &Store<ReplicaPolicy>| store.state().iter().map(|p| ObjectRef::from_obj(&**p)).collect::<Vec<_>>();
    let initial = futures::stream::iter(all(&store));
    let following = changes.flat_map(move |change| {
        let refs = match change {
            Ok(Change::Object { namespace: ns, name }) => {
                let r = ObjectRef::new(&name).within(&ns);
                let in_part = namespace.as_deref().is_none_or(|n| n == ns);
                if in_part && store.get(&r).is_some() { vec![r] } else { vec![] }
            }
            Ok(Change::Resync) | Err(_) => all(&store),
        };
        futures::stream::iter(refs)
    });
    initial.chain(following)
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

    fn policy_with(annotations: &[(&str, &str)], replicas_owner: Option<&str>) -> ReplicaPolicy {
        let mut p = ReplicaPolicy::new(
            "web",
            crate::policy::ReplicaPolicySpec {
                replicas: 5,
                mode: scalekeeper_core::Mode::Enforce,
                ..Default::default()
            },
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
    fn applied_generation_falls_back_to_observed_generation_for_old_statuses() {
        let old = ReplicaPolicyStatus { observed_generation: Some(3), ..Default::default() };
        assert_eq!(applied_in_status(&old), 3);
        let new =
            ReplicaPolicyStatus { observed_generation: Some(3), applied_generation: Some(2), ..Default::default() };
        assert_eq!(applied_in_status(&new), 2);
        assert_eq!(applied_in_status(&ReplicaPolicyStatus::default()), 0);
    }

    fn change(status: bool, reason: &'static str) -> ConditionChange {
        ConditionChange { type_: CONDITION_SUSPENDED, status, reason, message: reason.into() }
    }

    #[test]
    fn conditions_keep_transition_time_when_unchanged() {
        let mut c = vec![];
        set_condition(&mut c, &change(true, "FlapGuard"), "2026-01-01T00:00:00Z");
        assert_eq!(c[0].last_transition_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        set_condition(&mut c, &change(true, "FlapGuard"), "2026-01-01T00:01:00Z");
        assert_eq!(c[0].last_transition_time.as_deref(), Some("2026-01-01T00:00:00Z"), "status unchanged");
        set_condition(&mut c, &change(false, "CoolDownOver"), "2026-01-01T00:02:00Z");
        assert_eq!(c[0].last_transition_time.as_deref(), Some("2026-01-01T00:02:00Z"));
        assert_eq!((c[0].status.as_str(), c[0].reason.as_str()), ("False", "CoolDownOver"));
    }

    #[test]
    fn a_suspension_begins_at_the_conditions_transition_time() {
        let mut p = policy_with(&[], None);
        assert_eq!(suspended_since(&p), None);
        let mut status = ReplicaPolicyStatus::default();
        set_condition(&mut status.conditions, &change(true, "FlapGuard"), "2026-01-01T00:00:00Z");
        p.status = Some(status.clone());
        assert_eq!(suspended_since(&p), Some("2026-01-01T00:00:00Z".parse().unwrap()));
        set_condition(&mut status.conditions, &change(false, "CoolDownOver"), "2026-01-01T00:05:00Z");
        p.status = Some(status);
        assert_eq!(suspended_since(&p), None);
    }

    #[test]
    fn the_declaration_reads_the_writers_annotations() {
        let p = policy_with(
            &[
                (LAST_SET_AT, "2026-01-01T10:00:00Z"),
                (LAST_SET_BY, "spiffe://x/alice"),
                (LAST_SET_DEPLOYMENT_GENERATION, "4"),
            ],
            Some(FIELD_MANAGER),
        );
        let d = declaration(&p);
        assert!(d.through_api);
        assert_eq!(d.set_at, Some("2026-01-01T10:00:00Z".parse().unwrap()));
        assert_eq!(d.set_by.as_deref(), Some("spiffe://x/alice"));
        assert_eq!(d.read_generation, Some(4));
        assert_eq!(d.desired.replicas, 5);
    }
}
