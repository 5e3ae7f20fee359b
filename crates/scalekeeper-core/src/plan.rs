//! The reconciler's decision for one ReplicaPolicy, as a pure function: [`plan`] takes what
//! was declared, what the cluster has, what was recorded before and the clock, and returns a
//! [`Plan`] — the one write to make (if any), the Events to publish, the status to record and
//! when to look again. The controller only reads, calls [`plan`], and executes.
//!
//! ```text
//!  Declaration (policy spec + writer's annotations) ┐
//!  Deployment (Observed, paused, culprit) ──────────┼─► plan ─► Plan { decision, sync, events,
//!  HPAs · Record (status + this leader's memory) ───┤            conditions, status, memory,
//!  Limits · now ────────────────────────────────────┘            requeue_after }
//! ```
//!
//! The decision table (first row that applies wins; `docs/architecture.md` shows it with the
//! data flow, and each row is a test below):
//!
//! | # | state | decision | Events | sync status |
//! |---|---|---|---|---|
//! | 1 | Deployment missing | [`Decision::Missing`] | — | CONFLICT (`DeploymentNotFound`) |
//! | 2 | an HPA targets it | [`Decision::Noop`] | `ConflictDetected` (Warning) on entering | CONFLICT |
//! | 3 | the policy is pinned to another Deployment UID | [`Decision::Noop`] | `ConflictDetected` (Warning) on entering | CONFLICT |
//! | 4 | suspended by the flap guard, cool-down running (and nothing of row 5) | [`Decision::Noop`] | — | CONFLICT |
//! | 5 | suspended, and the cool-down is over, the count was declared again, or a rule took over by time (row 10's transitions) | resumes, then the rows below (a rule that took over: row 10, at once) | `EnforcementResumed` | (below) |
//! | 6 | `spec.replicas` = declared | [`Decision::Noop`] | — | IN_SYNC or PROGRESSING |
//! | 7 | declared through the API moments ago, the writer's scale write not landed | [`Decision::Wait`] | — | PROGRESSING |
//! | 8 | drift, Observe mode | [`Decision::Report`] | `DriftDetected` on entering | DRIFTED |
//! | 9 | a declaration the Deployment never had (GitOps, or the writer's write missed) | [`Decision::Apply`] | `ReplicasApplied` | PROGRESSING |
//! | 10 | Enforce, a rule took over by time (a hold expired, a window began or ended) | [`Decision::Apply`] | `HoldExpired`, `ScheduleWindowStarted`, `ScheduleWindowEnded` | PROGRESSING |
//! | 11 | drift, Enforce, flap guard full | [`Decision::Suspend`] | `EnforcementSuspended` (Warning) | CONFLICT |
//! | 12 | drift, Enforce | [`Decision::Correct`] | `DriftCorrected` | PROGRESSING |
//!
//! "Declared" means the *effective* count throughout: the active hold's, else the first
//! schedule window covering `now`, else `spec.replicas`, within the bounds
//! ([`crate::rules`]). [`Record::applied_rule`] is the rule last seen in effect; a different
//! one now is a transition (row 10), announced even when already in effect, and never a drift.
//! [`Plan::requeue_after`] comes just after the next transition.
//!
//! A transition ends a flap-guard suspension (row 5) rather than wait behind it (row 4): a hold
//! that expires or a window that begins or ends is a declaration made in advance, so it ends
//! the suspension as one made now does, and is applied at its instant, not at the end of the
//! cool-down (issue 28, defect 9). The flap guard then counts afresh: a writer that keeps
//! fighting the new count trips it again.
//!
//! A paused Deployment (`spec.paused`) is planned like any other: the Deployment controller
//! scales paused Deployments too (it only holds back template rollouts), so a correction takes
//! effect. Source: "Pausing and Resuming a rollout of a Deployment",
//! <https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#pausing-and-resuming-a-rollout-of-a-deployment>.

use std::time::Duration;

use jiff::Timestamp;

use crate::rules::{DECLARED_KEY, Effective, RuleKind, Rules, Source, kind_of_key};
use crate::sync::{Conflict, Desired, Mode, Observed, SyncState, SyncStatus, evaluate};

/// Event reason: scalekeeper set `spec.replicas` back to the declared count.
pub const REASON_DRIFT_CORRECTED: &str = "DriftCorrected";
/// Event reason: drift seen in Observe mode (reported, not corrected).
pub const REASON_DRIFT_DETECTED: &str = "DriftDetected";
/// Event reason: something else owns the replica count (an HPA, a re-created Deployment).
pub const REASON_CONFLICT: &str = "ConflictDetected";
/// Event reason: the flap guard suspended enforcement.
pub const REASON_SUSPENDED: &str = "EnforcementSuspended";
/// Event reason: enforcement resumed after the cool-down, a new declaration, or a rule taking
/// over by time.
pub const REASON_RESUMED: &str = "EnforcementResumed";
/// Event reason: the reconciler applied a declared count itself — one declared in the
/// ReplicaPolicy (GitOps, a hand edit), or one declared through the API whose own scale write
/// did not land within [`Limits::declaration_grace`]. Applying a declaration is never a drift.
pub const REASON_REPLICAS_APPLIED: &str = "ReplicasApplied";
/// Event reason: a caller declared a count through the API (SetReplicas), naming the caller.
/// Published by the API's writer, not by [`plan`].
pub const REASON_REPLICAS_DECLARED: &str = "ReplicasDeclared";

/// Event reason: a hold began: placed through the API (published by the API's writer), or
/// found in a ReplicaPolicy written another way and applied by the reconciler.
pub const REASON_HOLD_STARTED: &str = "HoldStarted";
/// Event reason: a hold expired and the reconciler returned the Deployment to the schedule's or
/// the declared count.
pub const REASON_HOLD_EXPIRED: &str = "HoldExpired";
/// Event reason: a caller ended a hold early through the API (published by the API's writer).
pub const REASON_HOLD_CLEARED: &str = "HoldCleared";
/// Event reason: a schedule window began and the reconciler applied its count.
pub const REASON_WINDOW_STARTED: &str = "ScheduleWindowStarted";
/// Event reason: a schedule window ended and the reconciler applied the declared count.
pub const REASON_WINDOW_ENDED: &str = "ScheduleWindowEnded";
/// Event reason: a caller replaced a policy's schedule through the API (published by the
/// API's writer).
pub const REASON_SCHEDULE_CHANGED: &str = "ScheduleChanged";
/// Event reason: a caller set or removed a policy's approval rule through the API (published
/// by the API's writer).
pub const REASON_APPROVAL_RULE_CHANGED: &str = "ApprovalRuleChanged";

/// Condition type: whether the flap guard suspended enforcement.
pub const CONDITION_SUSPENDED: &str = "EnforcementSuspended";
/// Condition type kept on every policy: whether the Deployment matches the declaration.
pub const CONDITION_SYNCED: &str = "Synced";

/// What Events and logs name when nothing records who changed `spec.replicas`.
/// (Kubernetes before 1.22 records no field manager for writes through the scale subresource.)
pub const UNKNOWN_MANAGER: &str = "an unrecorded writer";

/// How long, by default, a count declared through the API is left to the API's own scale
/// write before the reconciler applies it itself: the writer writes the policy, then PATCHes
/// the scale subresource, and the reconciler may see the policy in between. Bounded, so a
/// writer that crashed between the two writes delays the count by at most this long.
pub const DECLARATION_GRACE: Duration = Duration::from_secs(5);

/// The reconciler's settings that the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// More corrections than this (a count) within `flap_window` trip the flap guard.
    pub flap_max: usize,
    /// The flap guard's window.
    pub flap_window: Duration,
    /// How long enforcement stays suspended after the flap guard trips.
    pub cool_down: Duration,
    /// How long a count declared through the API is left to the API's own scale write before
    /// the reconciler applies it itself.
    pub declaration_grace: Duration,
    /// The longest time between two looks at a policy (the periodic resync).
    pub resync: Duration,
}

impl Default for Limits {
    /// 5 corrections per 60 s, 300 s cool-down, 5 s declaration grace, 300 s resync.
    fn default() -> Self {
        Self {
            flap_max: 5,
            flap_window: Duration::from_secs(60),
            cool_down: Duration::from_secs(300),
            declaration_grace: DECLARATION_GRACE,
            resync: Duration::from_secs(300),
        }
    }
}

/// What the ReplicaPolicy declares, with what the API's writer recorded about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// `namespace/name` of the policy and its Deployment, for messages.
    pub target: String,
    /// The declared count, mode and pinned Deployment UID.
    pub desired: Desired,
    /// The policy's `metadata.generation`: the version of the declaration.
    pub generation: i64,
    /// Whether the count was last declared through the API (the API's field manager owns
    /// `spec.replicas`), so the API's own scale write applies it.
    pub through_api: bool,
    /// When the count was last declared through the API (the writer's `last-set-at`, to the
    /// millisecond), even if the policy was edited by other means since.
    pub set_at: Option<Timestamp>,
    /// Who declared it through the API (the writer's `last-set-by`).
    pub set_by: Option<String>,
    /// The Deployment's `metadata.generation` the writer read before its scale write.
    pub read_generation: Option<i64>,
    /// The hold, schedule and bounds around the declared count ([`crate::rules`]).
    pub rules: Rules,
}

/// The Deployment, as the reconciler read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// Its replica counts, UID and generation.
    pub observed: Observed,
    /// `spec.paused` (see the module docs: it does not change the decision).
    pub paused: bool,
    /// The field manager that last changed `spec.replicas`, when that is recorded.
    pub replicas_manager: Option<String>,
}

/// What was recorded before this look: the policy's status, and this leader's own memory of
/// what it did (the status write may not be visible yet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The newest declaration generation known to be in effect on the Deployment or applied.
    pub applied_generation: i64,
    /// The sync status the status reports now (for "on entering" Events).
    pub reported: Option<SyncStatus>,
    /// Whether the status reports enforcement as suspended.
    pub suspended: bool,
    /// When the suspension in force began, if one is (the condition's transition time, or
    /// this leader's own record, whichever is newer).
    pub suspended_since: Option<Timestamp>,
    /// The field manager named by the last correction in the status.
    pub last_corrected_by: Option<String>,
    /// When this leader corrected the Deployment recently (the flap guard's history).
    pub corrections: Vec<Timestamp>,
    /// How long this leader has already seen this exact declaration waiting for the writer
    /// (zero the first time), so a skewed wall clock cannot stretch the wait.
    pub pending_for: Duration,
    /// The [`Source::key`] of the rule last seen in effect or applied (`status.appliedRule`);
    /// `None` (a status from before holds and schedules) reads as the declared count's.
    pub applied_rule: Option<String>,
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The declaration.
    pub declaration: Declaration,
    /// The Deployment; `None` when it does not exist.
    pub deployment: Option<DeploymentFacts>,
    /// HorizontalPodAutoscalers (names) that target the Deployment.
    pub hpas: Vec<String>,
    /// What was recorded before.
    pub record: Record,
    /// The settings.
    pub limits: Limits,
    /// The time of this look.
    pub now: Timestamp,
}

/// The one thing the reconciler does to the Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The Deployment does not exist: record that, write nothing.
    Missing,
    /// Nothing to write: in sync, converging, or something else owns the count.
    Noop,
    /// A declaration made through the API is left to the API's own scale write for `left`
    /// more; look again then.
    Wait {
        /// How much of the grace is left.
        left: Duration,
    },
    /// Drift in Observe mode: report it, do not correct.
    Report,
    /// Apply a declaration the Deployment never had (not a drift): scale `from` → `to`.
    Apply {
        /// `spec.replicas` now (a count).
        from: i32,
        /// The declared count.
        to: i32,
    },
    /// Correct a drift: scale `from` → `to`, caused by field manager `by`.
    Correct {
        /// `spec.replicas` now (a count).
        from: i32,
        /// The declared count.
        to: i32,
        /// Who changed it, or [`UNKNOWN_MANAGER`].
        by: String,
    },
    /// The flap guard trips: suspend enforcement instead of correcting.
    Suspend {
        /// Who keeps changing the count, or [`UNKNOWN_MANAGER`].
        by: String,
    },
}

impl Decision {
    /// The count to write to the Deployment's `spec.replicas`, if the decision writes.
    pub fn scale_to(&self) -> Option<i32> {
        match self {
            Decision::Apply { to, .. } | Decision::Correct { to, .. } => Some(*to),
            _ => None,
        }
    }
}

/// An Event to publish on the Deployment and the ReplicaPolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The reason (one of the `REASON_*` constants).
    pub reason: &'static str,
    /// The note: what happened, with actor, from and to.
    pub note: String,
}

/// A status condition to set (its transition time moves only when `status` changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionChange {
    /// The condition type ([`CONDITION_SYNCED`], [`CONDITION_SUSPENDED`]).
    pub type_: &'static str,
    /// Its status.
    pub status: bool,
    /// A CamelCase reason.
    pub reason: &'static str,
    /// A sentence for people.
    pub message: String,
}

/// A correction to record as the status' `lastCorrection` (at the time of the look).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionRecord {
    /// `spec.replicas` before (a count).
    pub from: i32,
    /// The declared count written (or, for a suspension, the one not written).
    pub to: i32,
    /// The field manager that changed it, when recorded.
    pub field_manager: Option<String>,
}

/// What this leader must remember past this look (beyond what the status records).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Memory {
    /// The suspension began now.
    pub suspend: bool,
    /// The suspension is over: forget it.
    pub forget_suspension: bool,
    /// Enforcement resumed: clear the flap guard's history.
    pub forget_corrections: bool,
    /// A correction was made now: add it to the flap guard's history.
    pub record_correction: bool,
    /// Still waiting for the writer: keep the time this declaration was first seen waiting.
    pub waiting: bool,
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The one write (or none) to make.
    pub decision: Decision,
    /// The sync status and reason to report.
    pub sync: SyncState,
    /// Events to publish, in order.
    pub events: Vec<PlannedEvent>,
    /// Conditions to set, in order.
    pub conditions: Vec<ConditionChange>,
    /// The generation to record as applied (`status.appliedGeneration`).
    pub applied_generation: i64,
    /// `status.specReplicas` after the decision (a count); `None` when the Deployment is missing.
    pub spec_replicas: Option<i32>,
    /// `status.readyReplicas` (a count); `None` when the Deployment is missing.
    pub ready_replicas: Option<i32>,
    /// A new `status.lastCorrection`, if any.
    pub last_correction: Option<CorrectionRecord>,
    /// Memory updates for this leader.
    pub memory: Memory,
    /// When to look again at the latest.
    pub requeue_after: Duration,
    /// The effective count at the time of the look, and the rule it comes from.
    pub effective: Effective,
    /// The [`Source::key`] to record as applied (`status.appliedRule`).
    pub applied_rule: String,
}

/// Decides what to do about one ReplicaPolicy. Pure: the same input gives the same plan.
/// See the module docs for the decision table.
pub fn plan(input: &Input) -> Plan {
    let Input { declaration, deployment, hpas, record, limits, now } = input;
    let effective = declaration.rules.effective(declaration.desired.replicas, *now);
    let desired = effective.replicas;
    let key = effective.source.key();
    let recorded_rule = record.applied_rule.clone().unwrap_or_else(|| DECLARED_KEY.to_owned());
    // Back at the next transition (a hold expiring, a window starting or ending), a little
    // after it so the look sees the new rule.
    let transition_in = effective.next_transition.map(|t| {
        Duration::try_from(t.duration_since(*now)).unwrap_or_default() + Duration::from_millis(TRANSITION_SLACK_MS)
    });
    let Some(deployment) = deployment else {
        return Plan {
            decision: Decision::Missing,
            sync: SyncState {
                status: SyncStatus::Conflict,
                reason: format!("Deployment {} does not exist", declaration.target),
            },
            events: vec![],
            conditions: vec![ConditionChange {
                type_: CONDITION_SYNCED,
                status: false,
                reason: "DeploymentNotFound",
                message: format!("Deployment {} does not exist", declaration.target),
            }],
            applied_generation: record.applied_generation,
            spec_replicas: None,
            ready_replicas: None,
            last_correction: None,
            memory: Memory::default(),
            requeue_after: transition_in.map_or(limits.resync, |t| t.min(limits.resync)),
            effective,
            applied_rule: recorded_rule,
        };
    };
    let observed = &deployment.observed;
    let mut events = vec![];
    let mut conditions = vec![];
    let mut memory = Memory::default();

    // Suspension: in force while it began after the last declaration, no rule has taken over
    // by time since, and the cool-down runs.
    let took_over = record.applied_generation >= declaration.generation
        && recorded_rule != key
        && transition_event(&recorded_rule, &effective, None, declaration).is_some();
    let suspension = suspension(record.suspended_since, declaration.set_at, took_over, limits, *now);
    let until = suspension.ok();
    memory.forget_suspension = record.suspended_since.is_some() && until.is_none();
    if until.is_some() && !record.suspended {
        // Decided by this leader earlier, not yet visible in the status it read.
        conditions.push(suspended(true, "FlapGuard", "enforcement suspended".into()));
    }
    if let (true, Err(why)) = (record.suspended, suspension) {
        let note = match why {
            Resumption::CoolDownOver => {
                format!("flap guard cool-down of {}s over: enforcing again", limits.cool_down.as_secs())
            }
            Resumption::DeclaredAgain => "count declared again: enforcing again".to_string(),
            Resumption::RuleTookOver => format!("the {} took over by time: enforcing again", effective.describe()),
        };
        conditions.push(suspended(false, why.reason(), format!("enforcement resumed: {note}")));
        memory.forget_corrections = true;
        events.push(PlannedEvent { warning: false, reason: REASON_RESUMED, note });
    }
    let mut conflicts: Vec<Conflict> = hpas.iter().map(|h| Conflict::Hpa(h.clone())).collect();
    if until.is_some() {
        conflicts.push(Conflict::Flapping(record.last_corrected_by.clone().unwrap_or_else(|| "unknown".into())));
    }
    let rule = effective.source.kind();
    let effective_desired = Desired { replicas: desired, rule, ..declaration.desired.clone() };
    let mut sync = evaluate(Some(&effective_desired), observed, &conflicts);

    // A declaration (a new generation) is not a drift until the Deployment has had its count;
    // nor is a new rule taking over by time (a hold expiring, a window starting or ending).
    let generation = declaration.generation;
    let mut applied = record.applied_generation;
    let mut applied_rule = recorded_rule.clone();
    let in_effect = observed.spec_replicas == desired;
    if applied < generation && (in_effect || overtaken(declaration, observed)) {
        applied = generation;
    }
    if in_effect && applied_rule != key {
        // Announced only when the rule changed by time: a new declaration is announced by
        // whoever made it.
        if record.applied_generation >= generation
            && let Some(e) = transition_event(&recorded_rule, &effective, None, declaration)
        {
            events.push(e);
        }
        applied_rule.clone_from(&key);
    }
    let wait = if observed.spec_replicas != desired {
        left_to_writer(declaration, observed, applied, record.pending_for, limits, *now)
    } else {
        None
    };
    memory.waiting = wait.is_some();
    let by = deployment.replicas_manager.clone().unwrap_or_else(|| UNKNOWN_MANAGER.into());
    let from = observed.spec_replicas;
    let mut last_correction = None;

    let decision = match (sync.status, wait, declaration.desired.mode) {
        (SyncStatus::Drifted, Some(left), _) => {
            sync = SyncState {
                status: SyncStatus::Progressing,
                reason: format!("declared {desired} (version {generation}); waiting for it to be applied"),
            };
            Decision::Wait { left }
        }
        (SyncStatus::Drifted, None, Mode::Observe) => {
            if record.reported != Some(SyncStatus::Drifted) {
                events.push(PlannedEvent {
                    warning: false,
                    reason: REASON_DRIFT_DETECTED,
                    note: format!(
                        "spec.replicas is {from} (set by {by}), declared {desired}; Observe mode: not corrected"
                    ),
                });
            }
            Decision::Report
        }
        (SyncStatus::Drifted, None, Mode::Enforce) if applied >= generation && applied_rule != key => {
            // A rule that took over by time: applying it is no drift either.
            let note = format!("spec.replicas {from} -> {desired}");
            events.extend(transition_event(&recorded_rule, &effective, Some(note), declaration));
            applied_rule.clone_from(&key);
            sync = SyncState {
                status: SyncStatus::Progressing,
                reason: format!(
                    "applied the {} spec.replicas {from} -> {desired}; waiting for the rollout",
                    rule_name(rule)
                ),
            };
            Decision::Apply { from, to: desired }
        }
        (SyncStatus::Drifted, None, Mode::Enforce) if applied < generation => {
            // A declaration the Deployment never had: applying it is no drift — no drift
            // count, no flap guard, no culprit.
            applied = generation;
            applied_rule.clone_from(&key);
            let source = if declaration.through_api {
                let who = declaration.set_by.as_deref().unwrap_or("the API");
                format!(
                    "declared by {who} through the API, whose own scale write had not come within {}s",
                    limits.declaration_grace.as_secs()
                )
            } else {
                "declared in the ReplicaPolicy".to_string()
            };
            let (reason, what) = match &effective.source {
                // A hold written with kubectl or GitOps: the API's writer reported none.
                Source::Hold { .. } if !declaration.through_api => {
                    (REASON_HOLD_STARTED, format!(", {}", effective.describe()))
                }
                Source::Declared => (REASON_REPLICAS_APPLIED, String::new()),
                _ => (REASON_REPLICAS_APPLIED, format!(", {}", effective.describe())),
            };
            events.push(PlannedEvent {
                warning: false,
                reason,
                note: format!(
                    "spec.replicas {from} -> {desired}: applied version {generation} of the declaration{what} ({source})"
                ),
            });
            sync = SyncState {
                status: SyncStatus::Progressing,
                reason: format!("applied the declared spec.replicas {from} -> {desired}; waiting for the rollout"),
            };
            Decision::Apply { from, to: desired }
        }
        (SyncStatus::Drifted, None, Mode::Enforce) if flap_guard_full(&record.corrections, limits, *now) => {
            memory.suspend = true;
            conditions.push(suspended(
                true,
                "FlapGuard",
                format!(
                    "field manager {by:?} keeps changing spec.replicas: more than {} corrections within {}s; enforcement suspended for {}s",
                    limits.flap_max,
                    limits.flap_window.as_secs(),
                    limits.cool_down.as_secs()
                ),
            ));
            last_correction =
                Some(CorrectionRecord { from, to: desired, field_manager: deployment.replicas_manager.clone() });
            sync = SyncState { status: SyncStatus::Conflict, reason: Conflict::Flapping(by.clone()).to_string() };
            events.push(PlannedEvent {
                warning: true,
                reason: REASON_SUSPENDED,
                note: format!(
                    "field manager {by} keeps changing spec.replicas; scalekeeper stops enforcing for {}s",
                    limits.cool_down.as_secs()
                ),
            });
            Decision::Suspend { by }
        }
        (SyncStatus::Drifted, None, Mode::Enforce) => {
            memory.record_correction = true;
            last_correction =
                Some(CorrectionRecord { from, to: desired, field_manager: deployment.replicas_manager.clone() });
            events.push(PlannedEvent {
                warning: false,
                reason: REASON_DRIFT_CORRECTED,
                note: format!("spec.replicas {from} -> {desired} (it had been changed by {by})"),
            });
            sync = SyncState {
                status: SyncStatus::Progressing,
                reason: format!("corrected spec.replicas {from} -> {desired}; waiting for the rollout"),
            };
            Decision::Correct { from, to: desired, by }
        }
        _ => Decision::Noop,
    };

    // Entering a conflict with another owner (the flap guard reports its own Event).
    if sync.status == SyncStatus::Conflict
        && record.reported != Some(SyncStatus::Conflict)
        && !matches!(decision, Decision::Suspend { .. })
        && (!hpas.is_empty() || pinned_elsewhere(&declaration.desired, observed))
    {
        events.push(PlannedEvent {
            warning: true,
            reason: REASON_CONFLICT,
            note: format!("{}; not enforcing", sync.reason),
        });
    }

    let in_sync = sync.status == SyncStatus::InSync;
    conditions.push(ConditionChange {
        type_: CONDITION_SYNCED,
        status: in_sync,
        // The Synced condition's reason is the sync status' own name.
        reason: sync.status.as_str(),
        message: if in_sync { "spec.replicas and status match the declared count".into() } else { sync.reason.clone() },
    });

    let mut requeue_after = match until {
        Some(t) => Duration::from_secs((t.as_second() - now.as_second()).max(1) as u64).min(limits.resync),
        None => limits.resync,
    };
    if let Some(t) = transition_in {
        requeue_after = requeue_after.min(t);
    }
    if let Decision::Wait { left } = decision {
        // Back when the grace is over, to apply the declaration if the writer has not.
        requeue_after = requeue_after.min(left + Duration::from_millis(50));
    }
    Plan {
        spec_replicas: Some(decision.scale_to().unwrap_or(from)),
        ready_replicas: Some(observed.status.ready),
        decision,
        sync,
        events,
        conditions,
        applied_generation: applied,
        last_correction,
        memory,
        requeue_after,
        effective,
        applied_rule,
    }
}

/// How long after a transition's instant the reconciler looks again: 20 ms, so the look is
/// past the instant even when its timer fires a little early by the wall clock.
pub const TRANSITION_SLACK_MS: u64 = 20;

/// The effective count's rule as a note names it: `declared count`, `hold`, `schedule window`.
fn rule_name(rule: RuleKind) -> &'static str {
    match rule {
        RuleKind::Declared => "declared count",
        RuleKind::Hold => "hold",
        RuleKind::Schedule => "schedule window",
    }
}

/// The Event of a rule taking over by time, from the rule recorded as applied (`from_key`) to
/// `to`: a hold that expired ([`REASON_HOLD_EXPIRED`]), a window that started
/// ([`REASON_WINDOW_STARTED`]) or ended ([`REASON_WINDOW_ENDED`]); a hold that started is
/// announced where it is placed. `applied`, when the reconciler scales for it, says how.
/// `None` when the change is none of these (e.g. a hold replaced by another).
fn transition_event(
    from_key: &str,
    to: &Effective,
    applied: Option<String>,
    declaration: &Declaration,
) -> Option<PlannedEvent> {
    let from = kind_of_key(from_key).unwrap_or(RuleKind::Declared);
    let now_applies = to.describe();
    let tail = applied.map(|a| format!("; {a}")).unwrap_or_default();
    if to.source.same_window_as(from_key) {
        // The same window's next occurrence: no news.
        return None;
    }
    let (reason, what) = match (from, to.source.kind()) {
        (RuleKind::Hold, RuleKind::Hold) => return None,
        (RuleKind::Hold, _) => {
            let hold = declaration.rules.hold.as_ref();
            let was = match hold {
                Some(h) => format!(
                    "the hold of {} ({}{})",
                    h.replicas,
                    h.reason,
                    h.set_by.as_ref().map(|b| format!(", placed by {b}")).unwrap_or_default()
                ),
                None => "the hold".to_string(),
            };
            (REASON_HOLD_EXPIRED, format!("{was} expired; the {now_applies} applies"))
        }
        (_, RuleKind::Schedule) => (REASON_WINDOW_STARTED, format!("{now_applies} began")),
        (RuleKind::Schedule, RuleKind::Declared) => {
            (REASON_WINDOW_ENDED, format!("the schedule window ended; the {now_applies} applies"))
        }
        _ => return None,
    };
    Some(PlannedEvent { warning: false, reason, note: format!("{what}: {} replicas{tail}", to.replicas) })
}

fn suspended(status: bool, reason: &'static str, message: String) -> ConditionChange {
    ConditionChange { type_: CONDITION_SUSPENDED, status, reason, message }
}

/// Whether the declaration is pinned to a Deployment UID other than the observed one.
fn pinned_elsewhere(desired: &Desired, observed: &Observed) -> bool {
    desired.deployment_uid.as_deref().is_some_and(|u| !u.is_empty() && u != observed.uid)
}

/// Why a flap-guard suspension is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resumption {
    /// Its cool-down ran out (or nothing records when it began).
    CoolDownOver,
    /// Someone declared the count again through the API ([`declared_since`]).
    DeclaredAgain,
    /// A rule took over by time: a hold expired, a schedule window began or ended (row 10).
    RuleTookOver,
}

impl Resumption {
    /// The reason of the `EnforcementSuspended` condition, set to false.
    fn reason(self) -> &'static str {
        match self {
            Resumption::CoolDownOver => "CoolDownOver",
            Resumption::DeclaredAgain => "DeclaredAgain",
            Resumption::RuleTookOver => "RuleTookOver",
        }
    }
}

/// Whether a suspension that began at `since` is still in force at `now` — `Ok(when it ends)` —
/// or why it is over. It ends as soon as someone declares the count again ([`declared_since`])
/// or a rule takes over by time (`took_over`: a hold expiring, a schedule window beginning or
/// ending, each a declaration made in advance, so it ends the suspension as one made now does
/// and is applied at once rather than after the cool-down; issue 28, defect 9), else when the
/// cool-down runs out.
fn suspension(
    since: Option<Timestamp>,
    set_at: Option<Timestamp>,
    took_over: bool,
    limits: &Limits,
    now: Timestamp,
) -> Result<Timestamp, Resumption> {
    let Some(since) = since else { return Err(Resumption::CoolDownOver) };
    if declared_since(since, set_at) {
        return Err(Resumption::DeclaredAgain);
    }
    if took_over {
        return Err(Resumption::RuleTookOver);
    }
    let cool_down = jiff::SignedDuration::try_from(limits.cool_down).map_err(|_| Resumption::CoolDownOver)?;
    match since.checked_add(cool_down) {
        Ok(until) if until > now => Ok(until),
        _ => Err(Resumption::CoolDownOver),
    }
}

/// Whether the count was declared again at or after `since`, the start of a suspension:
/// `set_at` (the writer's `last-set-at`) compared to the millisecond, the resolution it is
/// recorded at. A declaration in the same millisecond counts as after: within it the order
/// cannot be told, and the declaration is the user's latest word. So does one in the same
/// second when only the status records the suspension (its condition's time has whole seconds,
/// as after a change of leader). (Issue 28, defect 7: `last-set-at` in whole seconds made a
/// declaration in the second of the trip compare as older.)
fn declared_since(since: Timestamp, set_at: Option<Timestamp>) -> bool {
    set_at.is_some_and(|s| s.as_millisecond() >= since.as_millisecond())
}

/// Whether the flap guard is full: `flap_max` corrections already within `flap_window` of
/// `now` (then the next correction is not made).
fn flap_guard_full(corrections: &[Timestamp], limits: &Limits, now: Timestamp) -> bool {
    let window = jiff::SignedDuration::try_from(limits.flap_window).unwrap_or(jiff::SignedDuration::MAX);
    corrections.iter().filter(|t| now.duration_since(**t) <= window).count() >= limits.flap_max
}

/// Whether the Deployment has changed since the count was declared through the API: its
/// generation moved past the one the writer read before its own scale write. That write has
/// landed then (or been overtaken), and a count other than the declared one is a drift.
fn overtaken(declaration: &Declaration, observed: &Observed) -> bool {
    declaration.through_api && declaration.read_generation.is_some_and(|g| observed.generation > g)
}

/// How long a count declared through the API, not in effect, is still left to the writer's
/// own scale write: `Some` while the Deployment is still at the generation the writer read
/// (for a policy written before that was recorded: while the generation has not been
/// applied) and the declaration is younger than the grace — by the writer's clock
/// (`set_at`) and by how long this leader has seen it waiting. `None`: act now. This covers a
/// SetReplicas that declares the count already declared, over a drift, too: it moves no
/// generation.
fn left_to_writer(
    declaration: &Declaration,
    observed: &Observed,
    applied: i64,
    pending_for: Duration,
    limits: &Limits,
    now: Timestamp,
) -> Option<Duration> {
    if !declaration.through_api {
        return None;
    }
    let set_at = declaration.set_at?;
    match declaration.read_generation {
        Some(read) if observed.generation > read => return None,
        Some(_) => {}
        None if applied >= declaration.generation => return None,
        None => {}
    }
    let age = Duration::try_from(now.duration_since(set_at)).unwrap_or_default();
    let grace = limits.declaration_grace;
    let left = grace.saturating_sub(age).min(grace.saturating_sub(pending_for));
    (!left.is_zero()).then_some(left)
}

#[cfg(test)]
mod tests;
