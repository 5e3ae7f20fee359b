//! The API writer's decision, as a pure function: [`plan`] takes a write through the API
//! (declare a count, place or end a hold, set the schedule and the bounds, delete the policy),
//! the ReplicaPolicy and the Deployment as read, and the clock, and returns a [`WritePlan`] —
//! the policy write, the scale write, the Event and the [`Outcome`] the caller gets — or the
//! [`Refusal`]. The writer (`scalekeeper::writer`) only reads, calls [`plan`], and executes:
//! the writes conditional on the resourceVersion it read, the retries after a conflict, the
//! Event, the state read back.
//!
//! ```text
//!  Request (change, expected_version, if_current, dry_run, identity) ┐
//!  Policy (spec, generation, suspended) · HPAs ──────────────────────┼─► plan ─► WritePlan { policy, spec_after,
//!  Deployment (spec.replicas, UID, generation) · Attempt ────────────┤             scale_to, event, outcome }
//!  default guard · now ──────────────────────────────────────────────┘           or Refusal
//! ```
//!
//! The table (first row that applies wins; `docs/architecture.md` shows it too, and each row is
//! a test in `write/tests.rs` named `row_NN_…`):
//!
//! | # | situation | result |
//! |---|---|---|
//! | 1 | an HPA targets the Deployment (any change but a delete) | [`Refusal::HpaOwnsCount`] |
//! | 2 | `expected_version` is not a positive integer | [`Refusal::Invalid`] (`expected_version`) |
//! | 3 | `expected_version` given, the policy at another version or missing | [`Refusal::VersionMismatch`] |
//! | 4 | `--if-current`, a retry after a conflict, and the policy's generation moved since the first try | [`Refusal::Overtaken`] |
//! | 5 | `--if-current`, `spec.replicas` is another count | [`Refusal::NotCurrent`] |
//! | 6 | `--if-current`, the policy's effective count is not `spec.replicas` (not settled) | [`Refusal::Unsettled`] |
//! | 7 | a hold whose expiry is past the clock's range | [`Refusal::Invalid`] (`hold_for`) |
//! | 8 | the resulting bounds contradict | [`Refusal::OutOfBounds`] ([`BoundsError::Inverted`]) |
//! | 9 | a count of the resulting policy outside its bounds | [`Refusal::OutOfBounds`] ([`BoundsError::Outside`]) |
//! | 10 | a dry run | nothing written, no Event; the outcome the write would have |
//! | 11 | end a hold, and none is active (or there is no policy) | nothing written, no Event |
//! | 12 | delete | the policy deleted (nothing, when there is none); no scale, no Event |
//! | 13 | declare, no policy | created: mode Enforce, the default guard, pinned to the UID; scale; `ReplicasDeclared` |
//! | 14 | declare the count already declared | replaced (who and when renewed); no scale unless drifted; `ReplicasDeclared` |
//! | 15 | declare with bounds, or clearing them | replaced with the bounds |
//! | 16 | declare with a mode or a guard, or without (kept) | replaced with them |
//! | 17 | place a hold | replaced with the hold (expiry in ms, who, when); scale; `HoldStarted` |
//! | 18 | end the active hold | replaced without it; scale to the rule that applies; `HoldCleared` |
//! | 19 | set a schedule | replaced with it; scale to a window covering now; `ScheduleChanged` |
//! | 20 | clear the schedule | replaced without it; `ScheduleChanged` |
//! | 21 | the resulting policy is in Observe mode | as above, the outcome names the conflict |
//! | 22 | the flap guard suspended enforcement, and the write declares | as above, resumes enforcement |
//! | 23 | place a freeze's hold (row 17 with the `freeze` marker) | as 17, the hold marked `freeze`; a policy it creates, or one a freeze created and nothing declared since, records the generation written ([`Stamp::created_by_freeze`]) |
//! | 24 | thaw a policy a freeze created, still at the generation the freeze wrote | the policy deleted (unmanaged again); no scale; `HoldCleared` |
//! | 25 | thaw, and no freeze's hold is active (none, a hold placed otherwise, no policy) | nothing written, no Event; [`Outcome::nothing_to_do`] |
//! | 26 | thaw the freeze's active hold | replaced without it; scale to the rule that applies; `HoldCleared` |
//! | 27 | (checked after row 9) the policy has an approval rule and the change would delete the policy | [`Refusal::ApprovalRuleInTheWay`] |
//! | 28 | (checked after row 27) the write carries no approval, and the policy's approval rule asks approval for the change ([`crate::approval::needs`]) | [`Refusal::NeedsApproval`] |
//! | 29 | set or remove the approval rule | replaced with it; no scale; `ApprovalRuleChanged` |
//!
//! Rows 27–29 are tested in `write/two_person.rs`.
//!
//! A freeze places holds through row 17 (and 23), and a thaw ends only the holds a freeze
//! marked (rows 24–26): a hold placed by SetReplicas stays.
//!
//! Every write that keeps a policy records who made it, when (to the millisecond) and the
//! Deployment generation read ([`Stamp`]), and pins the Deployment's UID. The scale write
//! comes after the policy write, when the effective count differs from `spec.replicas`,
//! whatever the mode: a declaration through the API is applied once, by its own writer.

use std::time::Duration;

use jiff::Timestamp;

use crate::Violation;
use crate::admission::Guard;
use crate::approval::{self, ApprovalRule};
use crate::plan::{
    REASON_APPROVAL_RULE_CHANGED, REASON_HOLD_CLEARED, REASON_HOLD_STARTED, REASON_REPLICAS_DECLARED,
    REASON_SCHEDULE_CHANGED,
};
use crate::rules::{BoundsError, RuleKind};
use crate::spec::{timestamp, timestamp_millis};
use crate::sync::Mode;

/// The policy's spec, as the plan reads and writes it ([`crate::spec`]).
pub use crate::spec::{HoldSpec, Spec, WindowSpec};

/// The change a write makes to a Deployment's ReplicaPolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Declare `replicas` (a count), with the mode (`None` keeps it; Enforce for a new
    /// policy), the guard (`None` keeps it; the default guard for a new policy) and the
    /// bounds.
    Declare {
        /// The count to declare.
        replicas: i32,
        /// The mode to set.
        mode: Option<Mode>,
        /// The admission guard to set.
        guard: Option<Guard>,
        /// What to do with the bounds.
        bounds: BoundsChange,
    },
    /// Place a hold of `replicas` for `duration`, for `reason`, replacing any hold; the
    /// declared count stays (a new policy declares the Deployment's current `spec.replicas`).
    Hold {
        /// The count to hold.
        replicas: i32,
        /// How long (the request's `hold_for`, checked by [`crate::validate_hold`]).
        duration: Duration,
        /// Why.
        reason: String,
        /// The mode to set.
        mode: Option<Mode>,
        /// The admission guard to set.
        guard: Option<Guard>,
        /// What to do with the bounds.
        bounds: BoundsChange,
        /// A freeze places it (`HoldSpec::freeze`): a thaw ends it.
        freeze: bool,
    },
    /// End the hold early (nothing to write when none is active).
    EndHold,
    /// End a freeze: the hold a freeze placed, when active (a hold placed otherwise stays);
    /// delete the policy when the freeze created it and nothing was declared since.
    Thaw,
    /// Replace the schedule (empty: clear it); a new policy declares the Deployment's current
    /// `spec.replicas`.
    Schedule(Vec<WindowSpec>),
    /// Set the approval rule (`None`: remove it); a new policy declares the Deployment's
    /// current `spec.replicas`.
    SetApproval(Option<ApprovalRule>),
    /// Delete the policy: stop managing the Deployment.
    Delete,
}

impl Change {
    /// Whether a HorizontalPodAutoscaler targeting the Deployment refuses this change: every
    /// change but [`Change::Delete`] (no longer managing a Deployment never fights its HPA).
    /// The writer lists the HPAs only when this is true.
    pub fn checks_hpas(&self) -> bool {
        !matches!(self, Change::Delete)
    }
}

/// What a write does to the policy's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoundsChange {
    /// Keep them.
    #[default]
    Keep,
    /// Set the given ones (`None`: keep that one).
    Set {
        /// New `minReplicas` (a count).
        min: Option<i32>,
        /// New `maxReplicas` (a count).
        max: Option<i32>,
    },
    /// Remove both.
    Clear,
}

impl BoundsChange {
    /// The change a request's `min_replicas`, `max_replicas` and `clear_bounds` ask for:
    /// `clear` removes both; either count sets that one; neither keeps them.
    /// [`crate::validate_bounds`] refuses `clear` with a count before this is asked.
    pub fn from_request(min: Option<i32>, max: Option<i32>, clear: bool) -> Self {
        if clear {
            BoundsChange::Clear
        } else if min.is_some() || max.is_some() {
            BoundsChange::Set { min, max }
        } else {
            BoundsChange::Keep
        }
    }

    /// Applies the change to `spec`'s `min_replicas` and `max_replicas`.
    pub fn apply(self, spec: &mut Spec) {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Namespace of the Deployment (and of its policy).
    pub namespace: &'a str,
    /// Name of the Deployment (and of its policy).
    pub name: &'a str,
    /// What to change (counts already checked against the server's maximum).
    pub change: Change,
    /// The policy version the caller last saw, as the request carries it; empty: the write
    /// depends on no version ([`parse_expected_version`](crate::request::parse_expected_version)).
    pub expected_version: &'a str,
    /// Write only if the Deployment's `spec.replicas` is this count (`--if-current`), and no
    /// other declaration lands between the check and the write ([`check_current`]).
    pub if_current: Option<i32>,
    /// Check and report, write nothing.
    pub dry_run: bool,
    /// The caller's identity, recorded on the policy and named in the Event.
    pub identity: &'a str,
    /// The approval this write carries: `None` for a write made by its caller, which the
    /// policy's approval rule may refuse ([`Refusal::NeedsApproval`]); `Some(words)` for the
    /// change of an approved ScaleRequest (e.g. `approved by bob in ScaleRequest shop/web-x7k2p`),
    /// which the rule let through and the Event names.
    pub approval: Option<&'a str>,
}

/// The ReplicaPolicy as read before the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its spec.
    pub spec: Spec,
    /// Its `metadata.generation`: the version of the declaration (`None` when the API server
    /// recorded none).
    pub generation: Option<i64>,
    /// The generation a freeze that created the policy wrote (the writer's
    /// `created-by-freeze` annotation); `None`: no freeze created it, or a later write dropped
    /// the mark.
    pub created_by_freeze: Option<i64>,
    /// Its status records a flap-guard suspension in force.
    pub suspended: bool,
}

impl Policy {
    /// The generation as the retry check compares it: 0 when none is recorded.
    fn version(&self) -> i64 {
        self.generation.unwrap_or(0)
    }
}

/// The Deployment as read before the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// `spec.replicas` (a count; 1 when unset, as the API server defaults it).
    pub spec_replicas: i32,
    /// `metadata.uid`, which a written policy is pinned to.
    pub uid: Option<String>,
    /// `metadata.generation` (0 when unset), recorded on the policy for the reconciler.
    pub generation: i64,
}

/// Which try of a write this is: the writer tries again after a conflict (another write moved
/// the policy's resourceVersion between its read and its write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attempt {
    /// The first try.
    #[default]
    First,
    /// A try after a conflict.
    Retry {
        /// The policy's generation the first try read (0 when it recorded none); `None`: there
        /// was no policy.
        first_generation: Option<i64>,
    },
}

impl Attempt {
    /// The attempt after this one, which read `policy`: a retry that remembers the generation
    /// the first try read.
    pub fn next(self, policy: Option<&Policy>) -> Attempt {
        match self {
            Attempt::First => Attempt::Retry { first_generation: policy.map(Policy::version) },
            retry => retry,
        }
    }
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input<'a> {
    /// The write.
    pub request: &'a Request<'a>,
    /// The policy; `None` when there is none.
    pub policy: Option<Policy>,
    /// The Deployment (the writer reads it again after the policy for `--if-current`).
    pub deployment: DeploymentFacts,
    /// The HorizontalPodAutoscalers (names) that target the Deployment; the writer lists them
    /// only when [`Change::checks_hpas`].
    pub hpas: &'a [String],
    /// Which try this is.
    pub attempt: Attempt,
    /// The guard a new policy gets unless the write sets one (`--default-guard`).
    pub default_guard: Guard,
    /// The time of the write.
    pub now: Timestamp,
}

/// What to write to the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyWrite {
    /// Nothing: a dry run, or nothing to change (no hold to end, no policy to delete).
    Nothing,
    /// Create the policy (none was read).
    Create {
        /// Its spec (the same as [`WritePlan::spec_after`]).
        spec: Spec,
        /// What the write records about itself.
        stamp: Stamp,
    },
    /// Replace the policy read (conditional on the resourceVersion read).
    Replace {
        /// Its new spec (the same as [`WritePlan::spec_after`]).
        spec: Spec,
        /// What the write records about itself.
        stamp: Stamp,
    },
    /// Delete the policy read (conditional on the resourceVersion read).
    Delete,
}

/// What a write through the API records on the policy it writes, as annotation values (the
/// writer's `last-set-by`, `last-set-at` and `last-set-deployment-generation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Who wrote: the caller's identity.
    pub set_by: String,
    /// When: the time of the write, [`timestamp_millis`] (a declaration must compare as newer
    /// than a flap-guard suspension that began earlier in the same second).
    pub set_at: String,
    /// The Deployment's `metadata.generation` read before the scale write, in decimal.
    pub deployment_generation: String,
    /// The generation this write gives the policy when a freeze creates it, or renews the hold
    /// of a policy a freeze created and nothing declared since (the writer's
    /// `created-by-freeze` annotation; a thaw deletes the policy while it is still at it);
    /// `None`: the write drops the mark.
    pub created_by_freeze: Option<i64>,
}

/// The Event a write publishes (on the Deployment and the policy), once its writes are done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteEvent {
    /// The reason: [`REASON_REPLICAS_DECLARED`], [`REASON_HOLD_STARTED`],
    /// [`REASON_HOLD_CLEARED`] or [`REASON_SCHEDULE_CHANGED`].
    pub reason: &'static str,
    /// What the caller did, the note's beginning (e.g. `alice declared 4 replicas`).
    pub what: String,
    /// What the note says after what became of `spec.replicas` (e.g. ` (declared before: 3)`;
    /// often empty).
    pub tail: String,
    /// `spec.replicas` before the write (a count).
    pub from: i32,
    /// `spec.replicas` the write sets (a count; `from` when there is no scale write).
    pub to: i32,
}

/// What became of the scale write, for the Event's note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleResult {
    /// It landed, or none was needed.
    Done,
    /// It failed after the policy was written (the reconciler applies the declaration).
    Failed,
}

impl WriteEvent {
    /// The Event's note: `WHAT: RESULT TAIL`, where RESULT is `spec.replicas A -> B`,
    /// `spec.replicas stays A`, or, when the scale write failed, `spec.replicas is still A:
    /// scaling to B failed, the reconciler will apply it`.
    pub fn note(&self, scale: ScaleResult) -> String {
        let (from, to) = (self.from, self.to);
        let applied = match scale {
            ScaleResult::Done if to != from => format!("spec.replicas {from} -> {to}"),
            ScaleResult::Done => format!("spec.replicas stays {from}"),
            ScaleResult::Failed => {
                format!("spec.replicas is still {from}: scaling to {to} failed, the reconciler will apply it")
            }
        };
        format!("{}: {applied}{}", self.what, self.tail)
    }
}

/// What a write did, or with a dry run would do (the API's `WriteOutcome`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Nothing was written.
    pub dry_run: bool,
    /// The effective count before (`spec.replicas` when unmanaged).
    pub effective_before: i32,
    /// The effective count after (`spec.replicas` when the write leaves it unmanaged).
    pub effective_after: i32,
    /// The rule that sets it after; `None` when unmanaged after.
    pub rule_after: Option<RuleKind>,
    /// That rule in words ([`crate::rules::Effective::describe`]).
    pub rule_detail_after: String,
    /// `spec.replicas` before (a count).
    pub spec_before: i32,
    /// `spec.replicas` the write sets (or leaves).
    pub spec_after: i32,
    /// What stands in the way of enforcing the result.
    pub conflicts: Vec<String>,
    /// The flap guard has suspended enforcement.
    pub enforcement_suspended: bool,
    /// This write ends that suspension.
    pub resumes_enforcement: bool,
    /// The change found nothing to change (no hold to end, no freeze's hold to thaw, no policy
    /// to delete), whether or not it is a dry run.
    pub nothing_to_do: bool,
}

/// What a write does: the outcome of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    /// The policy write.
    pub policy: PolicyWrite,
    /// The policy's spec after the write (as it would be, for a dry run); `None`: no policy.
    pub spec_after: Option<Spec>,
    /// The count to write to the Deployment's scale subresource after the policy; `None`: no
    /// scale write.
    pub scale_to: Option<i32>,
    /// The Event to publish after the writes; `None`: none.
    pub event: Option<WriteEvent>,
    /// What the caller is told.
    pub outcome: Outcome,
}

/// The conflict an Observe-mode policy reports in [`Outcome::conflicts`].
pub const OBSERVE_CONFLICT: &str =
    "Observe mode: drift, and holds or windows that begin or end by time, are reported and not applied";

/// Why a write is refused. The writer maps each to its own error with this message; the API
/// answers FAILED_PRECONDITION ([`Refusal::HpaOwnsCount`], [`Refusal::NotCurrent`],
/// [`Refusal::Unsettled`], [`Refusal::Overtaken`], [`Refusal::OutOfBounds`]), ABORTED
/// ([`Refusal::VersionMismatch`]) or INVALID_ARGUMENT ([`Refusal::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A HorizontalPodAutoscaler targets the Deployment: it owns the replica count, and
    /// scalekeeper does not fight it.
    #[error("{}", hpa_owns_count_message(.namespace, .hpa, .deployment))]
    HpaOwnsCount {
        /// Namespace of both.
        namespace: String,
        /// The HPA's name (the first that targets the Deployment).
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
    /// `--if-current`: the Deployment's `spec.replicas` is not the count the caller gave.
    #[error("Deployment {namespace}/{name} has spec.replicas {spec}, not the expected {want} (--if-current)")]
    NotCurrent {
        /// Namespace of the Deployment.
        namespace: String,
        /// Name of the Deployment.
        name: String,
        /// Its `spec.replicas`.
        spec: i32,
        /// The count the caller gave.
        want: i32,
    },
    /// `--if-current`: the policy's effective count is not `spec.replicas` — a declaration
    /// another caller made and has not applied yet (or a drift about to be corrected), which
    /// a write on top of it would race.
    #[error(
        "Deployment {namespace}/{name} has spec.replicas {spec} but its policy's effective count is {effective}: a \
         declaration is being applied (or a drift corrected); --if-current needs a settled state, retry shortly"
    )]
    Unsettled {
        /// Namespace of the Deployment.
        namespace: String,
        /// Name of the Deployment.
        name: String,
        /// Its `spec.replicas`.
        spec: i32,
        /// The policy's effective count.
        effective: i32,
    },
    /// `--if-current`: on a retry after a conflict, the policy's generation is not the one the
    /// first try read — another declaration landed in between (two callers with the same
    /// condition: one wins).
    #[error(
        "another declaration of Deployment {namespace}/{name} landed while this one was being written; read the \
         state again (--if-current {want} may no longer hold)"
    )]
    Overtaken {
        /// Namespace of the Deployment.
        namespace: String,
        /// Name of the Deployment.
        name: String,
        /// The count the caller gave.
        want: i32,
    },
    /// A count of the resulting policy is outside its bounds, or the bounds contradict.
    #[error("{0}")]
    OutOfBounds(BoundsError),
    /// A request field is not acceptable (the violation names it, as in the API request).
    #[error("{}: {}", .0.field, .0.description)]
    Invalid(Violation),
    /// The policy's approval rule asks other identities' approval for this change (the
    /// two-person rule, [`crate::approval`]): the writer records it as a ScaleRequest instead.
    #[error("{}", approval::needs_message(.needs, *.approvals_needed))]
    NeedsApproval {
        /// What needs approval, in the order [`approval::needs`] found it.
        needs: Vec<approval::Need>,
        /// How many approvals (the rule's [`ApprovalRule::approvals_needed`]).
        approvals_needed: u32,
        /// The policy's generation the change was planned on (the state an approved change
        /// must still find).
        generation: i64,
    },
    /// The policy has an approval rule, and the write would delete it with the policy: the
    /// rule must be removed first, through the approval flow.
    #[error(
        "ReplicaPolicy {namespace}/{name} has an approval rule: remove it first (`scalekeeper approval clear {namespace}/{name}`, which needs approval), then clear the declaration"
    )]
    ApprovalRuleInTheWay {
        /// Namespace of the policy.
        namespace: String,
        /// Name of the policy.
        name: String,
    },
}

/// When a hold placed at `now` for `duration` expires.
///
/// # Errors
/// A [`Violation`] on `hold_for` (`too long a hold`) when that instant is past what a
/// timestamp holds (never for a duration [`crate::validate_hold`] accepts).
pub fn hold_until(now: Timestamp, duration: Duration) -> Result<Timestamp, Violation> {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .ok_or_else(|| Violation { field: "hold_for".into(), description: "too long a hold".into() })
}

/// What a change makes of the policy, before the dry run is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Applied {
    /// Nothing to change: the spec as read (`None`: no policy).
    Unchanged(Option<Spec>),
    /// Write this spec, announced with the Event reason.
    Put(Spec, &'static str),
    /// Delete the policy read.
    Delete,
}

impl Applied {
    /// The policy's spec after the change (`None`: no policy).
    fn spec(&self) -> Option<&Spec> {
        match self {
            Applied::Unchanged(spec) => spec.as_ref(),
            Applied::Put(spec, _) => Some(spec),
            Applied::Delete => None,
        }
    }
}

/// Decides a write: checks it (the rows 1–9 of the module's table, in that order), then says
/// what to write, what to scale to, which Event to publish and what to tell the caller.
///
/// # Errors
/// The first [`Refusal`] that applies.
pub fn plan(input: &Input<'_>) -> Result<WritePlan, Refusal> {
    let Input { request, policy, deployment, hpas, attempt, default_guard, now } = input;
    let (policy, now) = (policy.as_ref(), *now);
    if request.change.checks_hpas()
        && let Some(hpa) = hpas.first()
    {
        return Err(Refusal::HpaOwnsCount {
            namespace: request.namespace.into(),
            hpa: hpa.clone(),
            deployment: request.name.into(),
        });
    }
    check_version(request, policy)?;
    check_current(request, policy, deployment, *attempt, now)?;
    let applied = apply(request, policy, deployment, *default_guard, now)?;
    two_person::check(request, policy, applied.spec(), now)?;
    let outcome = outcome(&applied, policy, deployment, request.dry_run, now);
    let spec_after = applied.spec().cloned();
    if request.dry_run {
        return Ok(WritePlan { policy: PolicyWrite::Nothing, spec_after, scale_to: None, event: None, outcome });
    }
    let scale_to = (outcome.spec_after != outcome.spec_before).then_some(outcome.spec_after);
    let (policy_write, event) = match applied {
        Applied::Unchanged(_) => {
            return Ok(WritePlan { policy: PolicyWrite::Nothing, spec_after, scale_to: None, event: None, outcome });
        }
        // A thaw that deletes the policy a freeze created says so; a plain delete is silent.
        Applied::Delete => (PolicyWrite::Delete, thaw_event(request, &outcome)),
        Applied::Put(spec, reason) => {
            let event = event(request, reason, policy, &spec, &outcome);
            let stamp = Stamp {
                set_by: request.identity.to_owned(),
                set_at: timestamp_millis(now),
                deployment_generation: deployment.generation.to_string(),
                created_by_freeze: created_by_freeze(&request.change, policy),
            };
            let write = match policy {
                Some(_) => PolicyWrite::Replace { spec, stamp },
                None => PolicyWrite::Create { spec, stamp },
            };
            (write, Some(event))
        }
    };
    Ok(WritePlan { policy: policy_write, spec_after, scale_to, event, outcome })
}

/// What the change makes of `policy` for `deployment` at `now`, checked against the bounds. A
/// new policy declares the Deployment's current `spec.replicas` unless the change declares a
/// count, in Enforce mode, with `default_guard` unless the change sets one; every policy
/// written is pinned to the Deployment's UID.
fn apply(
    request: &Request<'_>,
    policy: Option<&Policy>,
    deployment: &DeploymentFacts,
    default_guard: Guard,
    now: Timestamp,
) -> Result<Applied, Refusal> {
    let mut spec = policy.map(|p| p.spec.clone()).unwrap_or_else(|| Spec {
        replicas: deployment.spec_replicas,
        guard: default_guard,
        ..Spec::default()
    });
    let set_mode_and_guard = |spec: &mut Spec, mode: &Option<Mode>, guard: &Option<Guard>| {
        if let Some(m) = mode {
            spec.mode = *m;
        }
        if let Some(g) = guard {
            spec.guard = *g;
        }
    };
    let reason = match &request.change {
        Change::Delete if policy.is_some() => return Ok(Applied::Delete),
        Change::Delete => return Ok(Applied::Unchanged(None)),
        Change::Declare { replicas, mode, guard, bounds } => {
            spec.replicas = *replicas;
            set_mode_and_guard(&mut spec, mode, guard);
            bounds.apply(&mut spec);
            REASON_REPLICAS_DECLARED
        }
        Change::Hold { replicas, duration, reason, mode, guard, bounds, freeze } => {
            let until = hold_until(now, *duration).map_err(Refusal::Invalid)?;
            spec.hold = Some(HoldSpec {
                replicas: *replicas,
                until: timestamp_millis(until),
                reason: reason.clone(),
                set_by: Some(request.identity.to_owned()),
                set_at: Some(timestamp(now)),
                freeze: *freeze,
            });
            set_mode_and_guard(&mut spec, mode, guard);
            bounds.apply(&mut spec);
            REASON_HOLD_STARTED
        }
        Change::EndHold => {
            if policy.is_none() || spec.rules().active_hold(now).is_none() {
                return Ok(Applied::Unchanged(policy.map(|p| p.spec.clone())));
            }
            spec.hold = None;
            REASON_HOLD_CLEARED
        }
        Change::Thaw => {
            let Some(p) = policy else { return Ok(Applied::Unchanged(None)) };
            if created_by_this_freeze(p) {
                return Ok(Applied::Delete);
            }
            if !has_active_freeze(&spec, now) {
                return Ok(Applied::Unchanged(Some(p.spec.clone())));
            }
            spec.hold = None;
            REASON_HOLD_CLEARED
        }
        Change::Schedule(windows) => {
            spec.schedule.clone_from(windows);
            REASON_SCHEDULE_CHANGED
        }
        Change::SetApproval(rule) => {
            spec.approval = *rule;
            REASON_APPROVAL_RULE_CHANGED
        }
    };
    spec.deployment_uid.clone_from(&deployment.uid);
    spec.rules().check_bounds(spec.replicas, now).map_err(Refusal::OutOfBounds)?;
    Ok(Applied::Put(spec, reason))
}

/// What the caller is told about `applied` over `policy`, at `now` (the same for a dry run but
/// for the flag).
fn outcome(
    applied: &Applied,
    policy: Option<&Policy>,
    deployment: &DeploymentFacts,
    dry_run: bool,
    now: Timestamp,
) -> Outcome {
    let spec_before = deployment.spec_replicas;
    let effective_before = policy.map_or(spec_before, |p| p.spec.effective(now).replicas);
    let spec_after = applied.spec();
    let after = spec_after.map(|s| s.effective(now));
    let effective_after = after.as_ref().map_or(spec_before, |e| e.replicas);
    let suspended = policy.is_some_and(|p| p.suspended);
    let mut conflicts = vec![];
    if spec_after.is_some_and(|s| s.mode == Mode::Observe) {
        conflicts.push(OBSERVE_CONFLICT.to_string());
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
        // A write that puts the policy declares, and a declaration ends a suspension.
        resumes_enforcement: suspended && matches!(applied, Applied::Put(..)),
        nothing_to_do: matches!(applied, Applied::Unchanged(_)),
    }
}

/// The Event of a write that puts the policy: who did what, what became of `spec.replicas`.
/// Caller input (the identity, a hold's reason, a window's text) is named as the request gave
/// it; a window's text is quoted with its control characters escaped.
fn event(
    request: &Request<'_>,
    reason: &'static str,
    before: Option<&Policy>,
    spec_after: &Spec,
    outcome: &Outcome,
) -> WriteEvent {
    let who = request.identity;
    let mut tail = String::new();
    let what = match &request.change {
        Change::Declare { replicas, .. } => {
            tail = match before {
                Some(p) => format!(" (declared before: {})", p.spec.replicas),
                None => " (no count declared before)".to_string(),
            };
            format!("{who} declared {replicas} replicas")
        }
        Change::Hold { replicas, reason, freeze, .. } => {
            let until = spec_after.hold.as_ref().map(|h| h.until.as_str()).unwrap_or_default();
            let what = if *freeze { "a freeze's hold" } else { "a hold" };
            format!("{who} placed {what} of {replicas} replicas until {until} ({reason})")
        }
        Change::EndHold => format!("{who} ended the hold early; the {} applies", outcome.rule_detail_after),
        Change::Thaw => format!("{who} thawed the freeze: its hold ended; the {} applies", outcome.rule_detail_after),
        Change::Schedule(windows) if windows.is_empty() => format!("{who} cleared the schedule"),
        Change::Schedule(windows) => format!(
            "{who} set the schedule to {}",
            windows.iter().map(|w| format!("{:?} -> {}", w.window, w.replicas)).collect::<Vec<_>>().join(", ")
        ),
        Change::SetApproval(Some(rule)) => format!("{who} set the approval rule: {}", two_person::describe_rule(rule)),
        Change::SetApproval(None) => format!("{who} removed the approval rule"),
        Change::Delete => String::new(),
    };
    if let Some(approved) = request.approval {
        tail.push_str(&format!(" ({approved})"));
    }
    WriteEvent { reason, what, tail, from: outcome.spec_before, to: outcome.spec_after }
}

mod checks;
mod freeze;
mod two_person;

pub use checks::{check_current, check_version, hpa_owns_count_message, version_mismatch_message};
use freeze::{created_by_freeze, thaw_event};
pub use freeze::{created_by_this_freeze, has_active_freeze};

#[cfg(test)]
mod tests;
