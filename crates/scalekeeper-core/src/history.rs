//! The history of a Deployment's count: which changes one look of the reconciler records, as a
//! pure function of what the look read and decided ([`look`]), the bound on how many are kept
//! ([`append`], [`MAX_HISTORY`]), and which count an undo declares again ([`undo`]).
//!
//! ```text
//!  plan::Input (declaration, Deployment, record, now) ┐
//!  plan::Plan (decision, effective, applied rule) ────┼─► look ─► Look { entries, recorded }
//!  Recorded (what the status last recorded) ─────────┤                 │
//!  editor (who owns the policy's spec.replicas) ──────┤                 └─► append (at most 20)
//!  refusals (the guard's ScaleRefused Events) ────────┘
//! ```
//!
//! Only the reconciler's leader writes the history, in the ReplicaPolicy's status, with the
//! markers ([`Recorded`]) that make each change recorded exactly once: the declared count and
//! the hold the history last recorded, and the status' own `effectiveReplicas`, `specReplicas`
//! and `appliedRule`. A new leader reads them from the status and continues the same list.
//!
//! | kind | recorded when | from → to | who |
//! |---|---|---|---|
//! | [`ChangeKind::Declared`] | `spec.replicas` differs from the declared count last recorded | declared before (none the first time) → declared now | the API caller (`last-set-by`), else the field manager that edited the ReplicaPolicy |
//! | [`ChangeKind::HoldPlaced`] | an active hold other than the one last recorded | effective before → held count | `hold.setBy` |
//! | [`ChangeKind::HoldExpired`] | the hold last recorded is no longer active, its `until` is past | effective before → effective now | — |
//! | [`ChangeKind::HoldCleared`] | the same, but its `until` is not past (ended early) | effective before → effective now | the writer's `last-set-by` |
//! | [`ChangeKind::WindowStarted`] | the rule in effect became a schedule window (not after a hold) | effective before → window's count | — |
//! | [`ChangeKind::WindowEnded`] | a schedule window gave way to the declared count | effective before → declared count | — |
//! | [`ChangeKind::Applied`] | the reconciler applied a declaration the Deployment never had ([`Decision::Apply`] of a new generation) | `spec.replicas` → declared | the declarer |
//! | [`ChangeKind::DriftCorrected`] | [`Decision::Correct`] | drifted count → effective count | the field manager that drifted it |
//! | [`ChangeKind::DriftObserved`] | drift not corrected (Observe mode, flap guard), `spec.replicas` not the count last recorded | count last recorded → drifted count | the field manager that drifted it |
//! | [`ChangeKind::GuardRefused`] | a `ScaleRefused` Event newer than the newest refusal recorded | `spec.replicas` → the count the write asked for | who made the write |

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::plan::{Decision, Input, Plan, UNKNOWN_MANAGER};
use crate::rules::{DECLARED_KEY, RuleKind, kind_of_key};
use crate::sync::{Mode, SyncStatus};

/// The most entries a ReplicaPolicy's status keeps (a count): the oldest are dropped, so etcd
/// stays small.
pub const MAX_HISTORY: usize = 20;

/// What changed a Deployment's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A count was declared (through the API, or by editing the ReplicaPolicy).
    Declared,
    /// A hold was placed.
    HoldPlaced,
    /// A hold expired.
    HoldExpired,
    /// A hold was ended before its expiry.
    HoldCleared,
    /// A schedule window started.
    WindowStarted,
    /// A schedule window ended.
    WindowEnded,
    /// scalekeeper set `spec.replicas` back after another writer changed it.
    DriftCorrected,
    /// Another writer changed `spec.replicas` and it was not corrected (Observe mode, or
    /// enforcement suspended by the flap guard).
    DriftObserved,
    /// The reconciler applied a declared count the Deployment did not have yet.
    Applied,
    /// The admission guard refused a write of `spec.replicas`.
    GuardRefused,
}

impl ChangeKind {
    /// Every kind, in the API's order.
    pub const ALL: [ChangeKind; 10] = [
        ChangeKind::Declared,
        ChangeKind::HoldPlaced,
        ChangeKind::HoldExpired,
        ChangeKind::HoldCleared,
        ChangeKind::WindowStarted,
        ChangeKind::WindowEnded,
        ChangeKind::DriftCorrected,
        ChangeKind::DriftObserved,
        ChangeKind::Applied,
        ChangeKind::GuardRefused,
    ];

    /// The name as the ReplicaPolicy status spells it (CamelCase, e.g. `HoldPlaced`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Declared => "Declared",
            ChangeKind::HoldPlaced => "HoldPlaced",
            ChangeKind::HoldExpired => "HoldExpired",
            ChangeKind::HoldCleared => "HoldCleared",
            ChangeKind::WindowStarted => "WindowStarted",
            ChangeKind::WindowEnded => "WindowEnded",
            ChangeKind::DriftCorrected => "DriftCorrected",
            ChangeKind::DriftObserved => "DriftObserved",
            ChangeKind::Applied => "Applied",
            ChangeKind::GuardRefused => "GuardRefused",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name no version of scalekeeper writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a history entry kind")]
pub struct UnknownKind(pub String);

impl FromStr for ChangeKind {
    type Err = UnknownKind;

    /// Parses the name [`ChangeKind::as_str`] writes.
    ///
    /// # Errors
    /// [`UnknownKind`] for any other text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// One change of a Deployment's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the reconciler saw it (the time of its look).
    pub time: Timestamp,
    /// The count before (a number of Pods): the declared count for [`ChangeKind::Declared`],
    /// else `spec.replicas` or the effective count; `None` when there was none (a first
    /// declaration) or it is not known.
    pub from: Option<i32>,
    /// The count after (a number of Pods).
    pub to: i32,
    /// What happened.
    pub kind: ChangeKind,
    /// Who: the caller's identity, or the field manager that changed `spec.replicas`; empty
    /// when not recorded.
    pub who: String,
    /// Why, in words.
    pub reason: String,
}

/// What the status' history recorded before this look: the markers that make each change
/// recorded once. Every field is optional, so a status written before the history existed
/// reads as "nothing recorded".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    /// The declared count the history last recorded (`status.historyDeclaredReplicas`).
    pub declared: Option<i32>,
    /// The [`crate::rules::Source::key`] of the active hold the history last recorded
    /// (`status.historyHold`, `Hold/<until>`); `None`: no hold was active.
    pub hold: Option<String>,
    /// The effective count the status recorded (`status.effectiveReplicas`).
    pub effective: Option<i32>,
    /// The Deployment's `spec.replicas` the status recorded (`status.specReplicas`).
    pub spec_replicas: Option<i32>,
    /// The rule the status recorded as last in effect (`status.appliedRule`, a
    /// [`crate::rules::Source::key`]); `None` reads as the declared count's.
    pub applied_rule: Option<String>,
    /// The time of the newest guard refusal the history recorded
    /// (`status.historyRefusedUntil`): refusals at or before it are not recorded again.
    pub refused_until: Option<Timestamp>,
}

/// A write of `spec.replicas` the admission guard refused, as its `ScaleRefused` Event says
/// (the note read with [`crate::admission::parse_refusal_note`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// When (the Event's last observation: a series' `lastObservedTime`, else its time).
    pub time: Timestamp,
    /// `spec.replicas` before the refused write (a count).
    pub from: i32,
    /// The count the refused write asked for.
    pub to: i32,
    /// Who made the write.
    pub by: String,
    /// How many times the Event has seen this refusal (a series' count; 1 for one).
    pub count: i32,
}

/// What one look adds to the history, and the markers to record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// The new entries, oldest first (all at the look's time).
    pub entries: Vec<Entry>,
    /// The declared count now recorded (`status.historyDeclaredReplicas`).
    pub declared: i32,
    /// The active hold now recorded (`status.historyHold`).
    pub hold: Option<String>,
    /// The time of the newest guard refusal now recorded (`status.historyRefusedUntil`).
    pub refused_until: Option<Timestamp>,
}

/// The changes one look of the reconciler records, from what it read (`input`), what it decided
/// (`plan`), what the status' history recorded before (`recorded`), the field manager that
/// last wrote the ReplicaPolicy's `spec.replicas` (`editor`, named when the count was not
/// declared through the API) and the guard's refusals of writes to this Deployment that its
/// Events report (`refusals`, any order; those after `recorded.refused_until` are new). See the
/// module docs for the table. Pure.
pub fn look(input: &Input, plan: &Plan, recorded: &Recorded, editor: Option<&str>, refusals: &[Refusal]) -> Look {
    let declaration = &input.declaration;
    let now = input.now;
    let declared = declaration.desired.replicas;
    let effective = &plan.effective;
    let mut entries = vec![];
    let entry = |kind, from, to, who: String, reason: String| Entry { time: now, from, to, kind, who, reason };
    let declarer = || {
        if declaration.through_api {
            declaration.set_by.clone().unwrap_or_default()
        } else {
            editor.unwrap_or_default().to_owned()
        }
    };

    // Declared: the declared count moved.
    if recorded.declared != Some(declared) {
        let reason = if declaration.through_api {
            format!("declared through the API (version {})", declaration.generation)
        } else {
            format!("the ReplicaPolicy was edited (version {}), not through the API", declaration.generation)
        };
        entries.push(entry(ChangeKind::Declared, recorded.declared, declared, declarer(), reason));
    }

    // Holds: the active hold, against the one last recorded.
    let active = declaration.rules.active_hold(now);
    let hold_key = active.map(|h| format!("Hold/{}", h.until));
    if hold_key != recorded.hold {
        if let Some(h) = active {
            let reason = if h.reason.is_empty() { format!("until {}", h.until) } else { h.reason.clone() };
            entries.push(entry(
                ChangeKind::HoldPlaced,
                recorded.effective,
                effective.replicas,
                h.set_by.clone().unwrap_or_default(),
                format!("{reason} (until {})", crate::spec::timestamp(h.until)),
            ));
        } else if let Some(old) = &recorded.hold {
            let until = old.strip_prefix("Hold/").and_then(|t| t.parse::<Timestamp>().ok());
            let now_applies = effective.describe();
            if until.is_some_and(|u| u > now) {
                entries.push(entry(
                    ChangeKind::HoldCleared,
                    recorded.effective,
                    effective.replicas,
                    declaration.set_by.clone().unwrap_or_default(),
                    format!("the hold was ended early; the {now_applies} applies"),
                ));
            } else {
                entries.push(entry(
                    ChangeKind::HoldExpired,
                    recorded.effective,
                    effective.replicas,
                    String::new(),
                    format!("the hold expired; the {now_applies} applies"),
                ));
            }
        }
    }

    // Windows: the rule in effect, as the plan records it, changed to or from a window (holds
    // are recorded above).
    let before = recorded.applied_rule.as_deref().unwrap_or(DECLARED_KEY);
    let after = plan.applied_rule.as_str();
    let kind_before = kind_of_key(before).unwrap_or(RuleKind::Declared);
    let kind_after = kind_of_key(after).unwrap_or(RuleKind::Declared);
    if before != after && kind_before != RuleKind::Hold && kind_after != RuleKind::Hold {
        match (kind_before, kind_after) {
            (_, RuleKind::Schedule) if !effective.source.same_window_as(before) => entries.push(entry(
                ChangeKind::WindowStarted,
                recorded.effective,
                effective.replicas,
                String::new(),
                format!("{} began", effective.describe()),
            )),
            (RuleKind::Schedule, RuleKind::Declared) => entries.push(entry(
                ChangeKind::WindowEnded,
                recorded.effective,
                effective.replicas,
                String::new(),
                format!("the schedule window ended; the {} applies", effective.describe()),
            )),
            _ => {}
        }
    }

    // What the look did to the Deployment, or saw done to it.
    if let Some(d) = &input.deployment {
        let spec = d.observed.spec_replicas;
        let by = || d.replicas_manager.clone().unwrap_or_else(|| UNKNOWN_MANAGER.to_owned());
        let changed_since_recorded = recorded.spec_replicas != Some(spec);
        match &plan.decision {
            Decision::Apply { from, to } if plan.applied_generation > input.record.applied_generation => {
                entries.push(entry(
                    ChangeKind::Applied,
                    Some(*from),
                    *to,
                    declarer(),
                    format!("applied version {} of the declaration", declaration.generation),
                ));
            }
            Decision::Correct { from, to, by } => entries.push(entry(
                ChangeKind::DriftCorrected,
                Some(*from),
                *to,
                by.clone(),
                format!("spec.replicas had been changed by {by}; set back to the {}", effective.describe()),
            )),
            Decision::Suspend { by } => entries.push(entry(
                ChangeKind::DriftObserved,
                recorded.spec_replicas.or(recorded.effective),
                spec,
                by.clone(),
                format!("{by} keeps changing spec.replicas: the flap guard suspended enforcement; not corrected"),
            )),
            Decision::Report if changed_since_recorded => entries.push(entry(
                ChangeKind::DriftObserved,
                recorded.spec_replicas.or(recorded.effective),
                spec,
                by(),
                format!("Observe mode: not corrected ({} is {})", effective.describe(), effective.replicas),
            )),
            Decision::Noop
                if changed_since_recorded
                    && spec != effective.replicas
                    && plan.sync.status == SyncStatus::Conflict
                    && input.hpas.is_empty()
                    && declaration.desired.mode == Mode::Enforce
                    && !pinned_elsewhere(input) =>
            {
                // Suspended by the flap guard: the one Conflict neither an HPA nor a re-created
                // Deployment explains.
                entries.push(entry(
                    ChangeKind::DriftObserved,
                    recorded.spec_replicas.or(recorded.effective),
                    spec,
                    by(),
                    "enforcement is suspended by the flap guard: not corrected".to_owned(),
                ));
            }
            _ => {}
        }
    }
    // The guard's refusals since the newest recorded, oldest first.
    let mut new: Vec<&Refusal> =
        refusals.iter().filter(|r| recorded.refused_until.is_none_or(|t| r.time > t)).collect();
    new.sort_by_key(|r| r.time);
    for r in &new {
        let times = if r.count > 1 { format!(" (seen {} times)", r.count) } else { String::new() };
        entries.push(entry(
            ChangeKind::GuardRefused,
            Some(r.from),
            r.to,
            r.by.clone(),
            format!("the admission guard refused the write at {}{times}", crate::spec::timestamp(r.time)),
        ));
    }
    let refused_until = new.last().map(|r| r.time).max(recorded.refused_until);
    Look { entries, declared, hold: hold_key, refused_until }
}

/// Whether the declaration is pinned to a Deployment UID other than the observed one.
fn pinned_elsewhere(input: &Input) -> bool {
    let uid = input.declaration.desired.deployment_uid.as_deref();
    input.deployment.as_ref().is_some_and(|d| uid.is_some_and(|u| !u.is_empty() && u != d.observed.uid))
}

/// Appends `new` to `history` (oldest first) and drops the oldest entries beyond
/// [`MAX_HISTORY`].
pub fn append<T>(history: &mut Vec<T>, new: impl IntoIterator<Item = T>) {
    history.extend(new);
    let excess = history.len().saturating_sub(MAX_HISTORY);
    history.drain(..excess);
}

/// Why there is nothing an undo can declare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoRefusal {
    /// The newest [`ChangeKind::Declared`] entry is not the declaration in force: the history
    /// has not caught up with it yet (the reconciler records it within moments).
    #[error(
        "the history has not recorded the current declaration ({declared} replicas) yet (its newest declaration is {newest}); retry in a few seconds"
    )]
    NotCaughtUp {
        /// The declared count now.
        declared: i32,
        /// The newest declared count the history records.
        newest: i32,
    },
    /// No declaration in the history has a count before it.
    #[error("nothing to undo: the history records no earlier declared count")]
    NothingToUndo,
}

/// The declaration an undo reverts, given the history (oldest first) and the count declared
/// now: the newest [`ChangeKind::Declared`] entry; its `from` is the count to declare again.
///
/// # Errors
/// [`UndoRefusal::NotCaughtUp`] when the newest Declared entry's `to` is not `declared`;
/// [`UndoRefusal::NothingToUndo`] when there is no Declared entry, or it has no `from`.
pub fn undo(history: &[Entry], declared: i32) -> Result<(&Entry, i32), UndoRefusal> {
    let Some(newest) = history.iter().rev().find(|e| e.kind == ChangeKind::Declared) else {
        return Err(UndoRefusal::NothingToUndo);
    };
    if newest.to != declared {
        return Err(UndoRefusal::NotCaughtUp { declared, newest: newest.to });
    }
    match newest.from {
        Some(from) => Ok((newest, from)),
        None => Err(UndoRefusal::NothingToUndo),
    }
}

#[cfg(test)]
mod tests;
