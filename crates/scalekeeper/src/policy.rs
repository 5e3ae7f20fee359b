//! The `ReplicaPolicy` custom resource (`scalekeeper.dev/v1alpha1`): the declared replica
//! count of one Deployment, stored in the cluster (etcd is the database).
//!
//! One policy per managed Deployment, in its namespace and with its name; an
//! ownerReference to the Deployment lets the garbage collector delete the policy with it,
//! and `spec.deploymentUid` pins the Deployment it was declared for, so a Deployment
//! deleted and re-created under the same name is never scaled by a stale policy.
//! `scalekeeper crd` prints the CRD generated from these types.

use kube::{CustomResource, ResourceExt as _};
use scalekeeper_core::spec::{HoldSpec, Spec, WindowSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of ReplicaPolicy.
pub const GROUP: &str = "scalekeeper.dev";
/// Annotation: the client identity that last declared the count through the API.
pub const LAST_SET_BY: &str = "scalekeeper.dev/last-set-by";
/// Annotation: when the count was last declared through the API, RFC 3339 in UTC with
/// milliseconds ([`timestamp_millis`]); readers accept whole seconds too (what versions before
/// issue 28 wrote). Finer than a second because a declaration ends a flap-guard suspension
/// that began before it, and both can fall in one second.
pub const LAST_SET_AT: &str = "scalekeeper.dev/last-set-at";
/// Annotation: the Deployment's `metadata.generation` when the count was last declared through
/// the API, read before the API's own scale write. While the Deployment is still at it, that
/// write has not landed; once it has moved on, a count other than the declared one is a drift.
pub const LAST_SET_DEPLOYMENT_GENERATION: &str = "scalekeeper.dev/last-set-deployment-generation";
/// Annotation: the policy was created by a freeze (`scalekeeper freeze` on an unmanaged
/// Deployment), and this is the `metadata.generation` the freeze wrote, in decimal. While the
/// policy is still at that generation nothing else was declared since, and a thaw deletes it
/// (the Deployment goes back to unmanaged); a later declaration moves the generation (and
/// drops the annotation), and a thaw then only ends the freeze's hold.
pub const CREATED_BY_FREEZE: &str = "scalekeeper.dev/created-by-freeze";
/// The field manager scalekeeper writes as (server-side field ownership).
pub const FIELD_MANAGER: &str = "scalekeeper";

/// The declared replica state of the Deployment with the same namespace and name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "scalekeeper.dev",
    version = "v1alpha1",
    kind = "ReplicaPolicy",
    plural = "replicapolicies",
    shortname = "rp",
    namespaced,
    status = "ReplicaPolicyStatus",
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.replicas","description":"Declared replica count"}"#,
    printcolumn = r#"{"name":"Effective","type":"integer","jsonPath":".status.effectiveReplicas","description":"The count applied now: the hold's, the schedule window's or the declared one"}"#,
    printcolumn = r#"{"name":"Current","type":"integer","jsonPath":".status.specReplicas","description":"The Deployment's spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas","description":"The Deployment's status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Sync","type":"string","jsonPath":".status.syncStatus","description":"InSync, Drifted, Progressing or Conflict"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode","description":"Enforce or Observe"}"#,
    printcolumn = r#"{"name":"Rule","type":"string","jsonPath":".status.effectiveRule","description":"What sets the effective count: Declared, Hold or Schedule"}"#,
    printcolumn = r#"{"name":"Guard","type":"string","jsonPath":".spec.guard","description":"The admission guard: Off, Warn or Deny"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaPolicySpec {
    /// The declared replica count (a count of Pods), 0 or more.
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// Enforce: drift is corrected. Observe: drift is only reported.
    #[serde(default)]
    pub mode: PolicyMode,
    /// The admission guard, for a write of spec.replicas (through the Deployment or its scale
    /// subresource) that differs from the effective count, made by anyone but scalekeeper and
    /// the exempt identities: Off (allowed; the reconciler corrects it in Enforce mode), Warn
    /// (allowed, with a warning the client prints), Deny (refused before it is stored, so no
    /// Pod is deleted). Only in Enforce mode, and only where scalekeeper's webhook is
    /// registered.
    #[serde(default)]
    pub guard: PolicyGuard,
    /// UID of the Deployment the count was declared for. When set and the Deployment's
    /// UID differs (it was deleted and re-created), the policy is not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_uid: Option<String>,
    /// The lower bound (a count) of every count this policy declares, holds or schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
    /// The upper bound (a count) of every count this policy declares, holds or schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_replicas: Option<i32>,
    /// A temporary count that overrides the schedule and the declared count until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<PolicyHold>,
    /// Recurring weekly windows with their counts, in precedence order (the first that covers
    /// now wins); outside every window the declared count applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<PolicyWindow>,
    /// The two-person rule: which changes of this policy's counts need approval by other
    /// identities (a ScaleRequest). Once set, changing or removing it needs approval too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<PolicyApproval>,
}

/// The approval rule (`spec.approval`): a declared, held or scheduled count above `above` or
/// below `below`, or a step from the count in force larger than `maxStepPercent` percent of it
/// (any step from 0), needs `approvers` approvals, each by an identity other than the
/// requester's.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyApproval {
    /// Counts above this (a number of Pods) need approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub above: Option<i32>,
    /// Counts below this (a number of Pods) need approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub below: Option<i32>,
    /// Steps larger than this percentage of the count in force need approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_step_percent: Option<u32>,
    /// How many approvals a change needs (1 to 5).
    #[schemars(range(min = 1, max = 5))]
    pub approvers: u32,
}

impl From<&PolicyApproval> for scalekeeper_core::approval::ApprovalRule {
    fn from(a: &PolicyApproval) -> Self {
        Self { above: a.above, below: a.below, max_step_percent: a.max_step_percent, approvers: a.approvers }
    }
}

impl From<scalekeeper_core::approval::ApprovalRule> for PolicyApproval {
    fn from(a: scalekeeper_core::approval::ApprovalRule) -> Self {
        Self { above: a.above, below: a.below, max_step_percent: a.max_step_percent, approvers: a.approvers }
    }
}

/// A hold (`spec.hold`): `replicas` until `until`, for `reason`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyHold {
    /// The count held (a number of Pods).
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// RFC 3339 time the hold expires (milliseconds kept). An expired hold stays in the spec
    /// until replaced or cleared, and no longer applies.
    pub until: String,
    /// Why the hold was placed, e.g. `INC-123: checkout latency`.
    pub reason: String,
    /// The client identity that placed it through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// RFC 3339 time it was placed through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<String>,
    /// A freeze placed it (`scalekeeper freeze`), so `scalekeeper thaw` ends it; omitted (false)
    /// for a hold placed any other way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(transform = no_default)]
    pub freeze: bool,
}

/// A schedule window (`spec.schedule[]`): `replicas` while `window` covers now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyWindow {
    /// `DAYS HH:MM-HH:MM ZONE`, e.g. `Mon-Fri 08:00-20:00 Europe/Berlin` (see
    /// `scalekeeper_core::schedule`).
    pub window: String,
    /// The count inside the window (a number of Pods).
    #[schemars(range(min = 0))]
    pub replicas: i32,
}

impl ReplicaPolicySpec {
    /// The effective count at `now` and its rule: [`ReplicaPolicySpec::rules`] applied to
    /// `spec.replicas` (the one place a policy's spec becomes an effective count).
    pub fn effective(&self, now: jiff::Timestamp) -> scalekeeper_core::rules::Effective {
        self.rules().effective(self.replicas, now)
    }

    /// The hold, schedule and bounds as the domain reads them ([`Spec::rules`], the one
    /// reading of a policy's text: a hold whose `until` is not an RFC 3339 time never applies,
    /// a window that does not parse never applies and carries its error).
    pub fn rules(&self) -> scalekeeper_core::rules::Rules {
        Spec::from(self).rules()
    }
}

// === The domain's plain spec: one conversion each way ===
//
// Field for field and lossless, so a spec read, planned and written back is byte for byte what
// was read wherever the write plan left it alone (`writer.rs` compares what it wrote with what
// the API server kept).

impl From<&ReplicaPolicySpec> for Spec {
    fn from(s: &ReplicaPolicySpec) -> Self {
        Spec {
            replicas: s.replicas,
            mode: s.mode,
            guard: s.guard,
            deployment_uid: s.deployment_uid.clone(),
            min_replicas: s.min_replicas,
            max_replicas: s.max_replicas,
            hold: s.hold.as_ref().map(|h| HoldSpec {
                replicas: h.replicas,
                until: h.until.clone(),
                reason: h.reason.clone(),
                set_by: h.set_by.clone(),
                set_at: h.set_at.clone(),
                freeze: h.freeze,
            }),
            schedule: s
                .schedule
                .iter()
                .map(|w| WindowSpec { window: w.window.clone(), replicas: w.replicas })
                .collect(),
            approval: s.approval.as_ref().map(Into::into),
        }
    }
}

impl From<Spec> for ReplicaPolicySpec {
    fn from(s: Spec) -> Self {
        ReplicaPolicySpec {
            replicas: s.replicas,
            mode: s.mode,
            guard: s.guard,
            deployment_uid: s.deployment_uid,
            min_replicas: s.min_replicas,
            max_replicas: s.max_replicas,
            hold: s.hold.map(|h| PolicyHold {
                replicas: h.replicas,
                until: h.until,
                reason: h.reason,
                set_by: h.set_by,
                set_at: h.set_at,
                freeze: h.freeze,
            }),
            schedule: s.schedule.into_iter().map(|w| PolicyWindow { window: w.window, replicas: w.replicas }).collect(),
            approval: s.approval.map(Into::into),
        }
    }
}

impl From<&ReplicaPolicy> for scalekeeper_core::write::Policy {
    /// The policy as the write plan reads it: its spec, its generation, and whether its status
    /// records a flap-guard suspension ([`ReplicaPolicyStatus::is_suspended`]).
    fn from(p: &ReplicaPolicy) -> Self {
        scalekeeper_core::write::Policy {
            spec: Spec::from(&p.spec),
            generation: p.metadata.generation,
            created_by_freeze: p.annotations().get(CREATED_BY_FREEZE).and_then(|g| g.parse().ok()),
            suspended: p.status.as_ref().is_some_and(ReplicaPolicyStatus::is_suspended),
        }
    }
}

/// What to do about drift: Enforce (correct it) or Observe (only report it). The domain's
/// `Mode`, one type from the CRD to the reconciler's decision.
pub use scalekeeper_core::Mode as PolicyMode;

/// What the admission guard does about a write of spec.replicas that differs from the
/// effective count: Off, Warn or Deny. The domain's `Guard`, one type from the CRD to the
/// guard's decision.
pub use scalekeeper_core::admission::Guard as PolicyGuard;

/// What the reconciler last observed and did (written only by the leader).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaPolicyStatus {
    /// The policy generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Deployment's spec.replicas (a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_replicas: Option<i32>,
    /// The Deployment's status.readyReplicas (a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// InSync, Drifted, Progressing or Conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    /// Conditions, Kubernetes style (type, status, reason, message, lastTransitionTime).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PolicyCondition>,
    /// The last drift correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_correction: Option<Correction>,
    /// The newest policy generation whose declared count the reconciler has seen in effect on
    /// the Deployment, or applied to it itself (0: none yet). While the Deployment differs from
    /// a newer generation's count, that is a declaration not yet applied, not a drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_generation: Option<i64>,
    /// RFC 3339 time the reconciler last applied a declaration itself (one applied by GitOps,
    /// or one the API's writer did not apply in time); drift corrections are `lastCorrection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<String>,
    /// The count applied now (a number of Pods): the hold's, the schedule window's or the
    /// declared one, within the bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_replicas: Option<i32>,
    /// What sets it: `Declared`, `Hold` or `Schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_rule: Option<String>,
    /// RFC 3339 time the rule in force may next change by itself (a hold expiring, a window
    /// starting or ending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_transition_time: Option<String>,
    /// Which rule, in which occurrence, the reconciler last saw in effect or applied
    /// (`Declared`, `Hold/<until>`, `Window/<index>/<start>`): a rule taking over by time is a
    /// transition to apply, not a drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_rule: Option<String>,
    /// The last changes of the Deployment's count, oldest first, at most 20 (the oldest are
    /// dropped), recorded by the reconciler's leader only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// The declared count (a number of Pods) the history last recorded: a declaration of
    /// another count is recorded once, as `Declared`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_declared_replicas: Option<i32>,
    /// The active hold the history last recorded (`Hold/<until>`, RFC 3339): another hold is
    /// recorded once, as `HoldPlaced`; this one ending, as `HoldExpired` or `HoldCleared`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_hold: Option<String>,
    /// RFC 3339 time (microseconds kept) of the newest admission guard refusal the history
    /// recorded: a `ScaleRefused` Event observed later is recorded once, as `GuardRefused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_refused_until: Option<String>,
}

/// One change of the Deployment's count in `status.history`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// RFC 3339 time the reconciler saw the change (milliseconds kept).
    pub time: String,
    /// The count before (a number of Pods); absent for a first declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i32>,
    /// The count after (a number of Pods).
    pub to: i32,
    /// What happened: Declared, HoldPlaced, HoldExpired, HoldCleared, WindowStarted,
    /// WindowEnded, DriftCorrected, DriftObserved, Applied or GuardRefused.
    pub kind: String,
    /// Who: the caller's identity, or the field manager that changed spec.replicas; absent
    /// when not recorded.
    // Left out rather than written empty: Kubernetes 1.20 applies a JSON merge patch whose
    // array holds an object with an empty string as if that string were null, and then refuses
    // the status ("status.history.who in body must be of type string: \"null\"").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(transform = no_default)]
    pub who: String,
    /// Why, in words; absent when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(transform = no_default)]
    pub reason: String,
}

impl From<&scalekeeper_core::history::Entry> for HistoryEntry {
    fn from(e: &scalekeeper_core::history::Entry) -> Self {
        HistoryEntry {
            time: timestamp_millis(e.time),
            from: e.from,
            to: e.to,
            kind: e.kind.as_str().to_owned(),
            who: e.who.clone(),
            reason: e.reason.clone(),
        }
    }
}

impl HistoryEntry {
    /// The entry as the domain reads it; `None` for an entry whose time or kind no version of
    /// scalekeeper writes (a status edited by hand).
    pub fn to_domain(&self) -> Option<scalekeeper_core::history::Entry> {
        Some(scalekeeper_core::history::Entry {
            time: self.time.parse().ok()?,
            from: self.from,
            to: self.to,
            kind: self.kind.parse().ok()?,
            who: self.who.clone(),
            reason: self.reason.clone(),
        })
    }
}

/// A status condition (the shape of metav1.Condition).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCondition {
    /// Condition type, e.g. `Synced`, `EnforcementSuspended`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub reason: String,
    /// Human-readable message.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub message: String,
    /// RFC 3339 time the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// The condition types the reconciler sets; the domain's decision owns them.
pub use scalekeeper_core::plan::{CONDITION_SUSPENDED, CONDITION_SYNCED};

/// A condition's `status` for `true`/`false`: `True` or `False` (metav1.ConditionStatus;
/// `Unknown` is never written).
pub fn condition_status(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

impl PolicyCondition {
    /// Whether the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == condition_status(true)
    }
}

impl ReplicaPolicyStatus {
    /// The condition of type `type_`, if recorded.
    pub fn condition(&self, type_: &str) -> Option<&PolicyCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether a flap-guard suspension is recorded as in force: the one rule every reader
    /// (reconciler, views, metrics) uses for "suspended".
    pub fn is_suspended(&self) -> bool {
        self.condition(CONDITION_SUSPENDED).is_some_and(PolicyCondition::is_true)
    }

    /// When the flap-guard suspension in force began: the `EnforcementSuspended` condition's
    /// lastTransitionTime, when it is `True` and the time is RFC 3339.
    pub fn suspended_since(&self) -> Option<jiff::Timestamp> {
        let c = self.condition(CONDITION_SUSPENDED).filter(|c| c.is_true())?;
        c.last_transition_time.as_deref()?.parse().ok()
    }
}

/// How a policy records an instant: [`timestamp`] in whole seconds (the resolution of
/// Kubernetes' own `metav1.Time`), [`timestamp_millis`] where finer than a second matters (a
/// hold's expiry, the next transition, [`LAST_SET_AT`]); both RFC 3339 in UTC. The domain owns
/// the formats, since the write plan writes them too.
pub use scalekeeper_core::spec::{timestamp, timestamp_millis};

/// Drops the `default` schemars derives from `#[serde(default)]`: the reconciler always writes
/// these status fields, a default there serves no purpose, and Kubernetes 1.20 refuses a CRD
/// whose status schema carries `default: ''` ("must be of type string: \"null\"").
pub(crate) fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// One drift correction.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Correction {
    /// RFC 3339 time of the correction.
    pub time: String,
    /// spec.replicas found (a count).
    pub from: i32,
    /// spec.replicas set (a count).
    pub to: i32,
    /// The field manager that had changed spec.replicas, from managedFields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
}

/// The CRD YAML, as `scalekeeper crd` prints it and the Helm chart carries it, with every plain
/// scalar that YAML 1.1 reads as a boolean quoted (see [`quote_yaml11_booleans`]).
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt as _;
    Ok(quote_yaml11_booleans(&serde_yaml::to_string(&ReplicaPolicy::crd())?))
}

/// `yaml` with every plain (unquoted) scalar value that YAML 1.1 reads as a boolean (`Off`,
/// `on`, `yes`, `N`, ...) double-quoted. serde_yaml writes YAML 1.2, where `Off` is a string;
/// kubectl and Helm read YAML 1.1 (go-yaml v2), where it is `false`, so the guard's `Off`
/// (its default and enum value) would reach the API server as a boolean. Only `key: value`
/// and `- value` lines are touched; the value, read as YAML 1.2, is the same.
///
/// Source: the YAML 1.1 boolean type, <https://yaml.org/type/bool.html>.
pub fn quote_yaml11_booleans(yaml: &str) -> String {
    const BOOLS: [&str; 22] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ];
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let cut = body.rfind(": ").map(|i| i + 2).or_else(|| {
            let indent = body.len() - body.trim_start().len();
            body[indent..].starts_with("- ").then_some(indent + 2)
        });
        match cut {
            // true/false are written by serde_yaml for booleans themselves: leave those.
            Some(i) if BOOLS.contains(&&body[i..]) && !matches!(&body[i..], "true" | "false") => {
                out.push_str(&body[..i]);
                out.push('"');
                out.push_str(&body[i..]);
                out.push('"');
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt as _;

    #[test]
    fn crd_names_and_columns() {
        let crd = ReplicaPolicy::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("replicapolicies.scalekeeper.dev"));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
        let cols: Vec<&str> = v.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
        assert_eq!(cols, ["Desired", "Effective", "Current", "Ready", "Sync", "Mode", "Rule", "Guard", "Age"]);
    }

    #[test]
    fn a_history_entry_leaves_out_empty_strings() {
        // Kubernetes 1.20 reads "" in an object of a merge patch's array as null and refuses it.
        let e = HistoryEntry {
            time: "2026-12-07T06:29:56.457Z".into(),
            from: Some(5),
            to: 3,
            kind: "HoldExpired".into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"time": "2026-12-07T06:29:56.457Z", "from": 5, "to": 3, "kind": "HoldExpired"})
        );
        assert_eq!(serde_json::from_value::<HistoryEntry>(json).unwrap(), e);
        let named = HistoryEntry { who: "alice".into(), reason: "INC-1".into(), ..e };
        let json = serde_json::to_value(&named).unwrap();
        assert_eq!((json["who"].as_str(), json["reason"].as_str()), (Some("alice"), Some("INC-1")));
    }

    #[test]
    fn status_schema_has_no_defaults() {
        // Kubernetes 1.20 rejects `default` in the status schema; every version from 1.20 on
        // must accept the CRD (make test-real applies it to a 1.20 API server).
        fn defaults(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        if k == "default" {
                            out.push(path.to_owned());
                        }
                        defaults(v, &format!("{path}.{k}"), out);
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| defaults(v, path, out)),
                _ => {}
            }
        }
        let crd = serde_json::to_value(ReplicaPolicy::crd()).unwrap();
        let status = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        assert!(status["properties"]["conditions"].is_object(), "status schema: {status}");
        let mut found = vec![];
        defaults(status, "status", &mut found);
        assert!(found.is_empty(), "defaults in the status schema at {found:?}");
    }

    #[test]
    fn suspension_is_a_true_suspended_condition_and_times_are_whole_seconds() {
        let cond = |type_: &str, value: bool| PolicyCondition {
            type_: type_.into(),
            status: condition_status(value).into(),
            ..Default::default()
        };
        let mut s = ReplicaPolicyStatus { conditions: vec![cond(CONDITION_SYNCED, true)], ..Default::default() };
        assert!(!s.is_suspended());
        s.conditions.push(cond(CONDITION_SUSPENDED, false));
        assert!(!s.is_suspended());
        s.conditions[1].status = "True".into();
        assert!(s.is_suspended());
        assert_eq!(s.suspended_since(), None, "no time recorded");
        s.conditions[1].last_transition_time = Some("2026-11-28T21:51:00Z".into());
        assert_eq!(s.suspended_since(), Some("2026-11-28T21:51:00Z".parse().unwrap()));
        s.conditions[1].status = "False".into();
        assert_eq!(s.suspended_since(), None, "only while suspended");
        let t: jiff::Timestamp = "2026-11-28T21:51:00.987654Z".parse().unwrap();
        assert_eq!(timestamp(t), "2026-11-28T21:51:00Z");
    }

    #[test]
    fn conditions_without_reason_or_message_still_read() {
        let c: PolicyCondition =
            serde_json::from_value(serde_json::json!({"type": "Synced", "status": "True"})).unwrap();
        assert_eq!((c.reason.as_str(), c.message.as_str()), ("", ""));
    }

    #[test]
    fn the_crd_yaml_quotes_what_yaml_1_1_reads_as_booleans() {
        let yaml = crd_yaml().unwrap();
        assert!(yaml.contains("default: \"Off\"\n"), "{yaml}");
        assert!(yaml.contains("- \"Off\"\n"), "{yaml}");
        assert!(!yaml.lines().any(|l| l.trim_end().ends_with(": Off") || l.trim() == "- Off"), "{yaml}");
        // The same document, read as YAML 1.2.
        let back: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, serde_json::to_value(ReplicaPolicy::crd()).unwrap());
        assert_eq!(
            quote_yaml11_booleans("a: on\n- No\nb: true\nc: 'Off'\nd: Offer\n"),
            "a: \"on\"\n- \"No\"\nb: true\nc: 'Off'\nd: Offer\n"
        );
    }

    #[test]
    fn the_plain_spec_round_trips_byte_for_byte() {
        let json = serde_json::json!({
            "replicas": 4, "mode": "Observe", "guard": "Deny", "deploymentUid": "uid-1",
            "minReplicas": 1, "maxReplicas": 9,
            // As kubectl may write it: an offset, no milliseconds; and a set_at that is no time.
            "hold": {"replicas": 8, "until": "2026-11-28T14:00:00+01:00", "reason": "INC-1", "setBy": "alice",
                     "setAt": "yesterday"},
            "schedule": [{"window": "Someday 08:00-09:00 UTC", "replicas": 2}],
        });
        let crd: ReplicaPolicySpec = serde_json::from_value(json.clone()).unwrap();
        let plain = Spec::from(&crd);
        assert_eq!(plain.hold.as_ref().map(|h| h.until.as_str()), Some("2026-11-28T14:00:00+01:00"));
        let back = ReplicaPolicySpec::from(plain);
        assert_eq!(back, crd);
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        let minimal: ReplicaPolicySpec = serde_json::from_value(serde_json::json!({"replicas": 3})).unwrap();
        assert_eq!(ReplicaPolicySpec::from(Spec::from(&minimal)), minimal);
    }

    #[test]
    fn the_write_plan_reads_generation_and_suspension() {
        let mut p = ReplicaPolicy::new("web", ReplicaPolicySpec { replicas: 3, ..Default::default() });
        p.metadata.generation = Some(4);
        let read = scalekeeper_core::write::Policy::from(&p);
        assert_eq!((read.spec.replicas, read.generation, read.suspended), (3, Some(4), false));
        p.status = Some(ReplicaPolicyStatus {
            conditions: vec![PolicyCondition {
                type_: CONDITION_SUSPENDED.into(),
                status: condition_status(true).into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert!(scalekeeper_core::write::Policy::from(&p).suspended);
    }

    #[test]
    fn spec_round_trips_with_defaults() {
        let s: ReplicaPolicySpec = serde_json::from_value(serde_json::json!({"replicas": 3})).unwrap();
        assert_eq!((s.mode, s.guard), (PolicyMode::Enforce, PolicyGuard::Off));
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"replicas": 3, "mode": "Enforce", "guard": "Off"})
        );
    }
}
