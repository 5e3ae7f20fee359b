//! The `ScaleRequest` custom resource (`scalekeeper.dev/v1alpha1`): a change of a Deployment's
//! counts that the two-person rule holds back until other identities approve it (issue 27).
//!
//! ```text
//!  SetReplicas/... needs approval ─► create ScaleRequest (generateName "{deployment}-",
//!                                     spec written once: the change, who, why, digest)
//!  ApproveScaleRequest ─► status.approvals += {identity, time, digest}
//!                         enough distinct approvers with the spec's digest ─► Approved ─► Applied
//!  DenyScaleRequest ───► Denied        now >= spec.expiresAt while Pending ─► Expired
//! ```
//!
//! The spec is immutable: the server writes it once, with `digest` the SHA-256 of the rest
//! ([`spec_digest`]); an approval names the digest its approver saw, so an approval of one
//! change never counts for another. The status is written by the server only (approvals, the
//! phase and its outcome). `scalekeeper crd` prints the CRD generated from these types.

use jiff::Timestamp;
use kube::CustomResource;
use scalekeeper_core::approval::{self, ApprovalRecord, Phase, RequestState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::{PolicyApproval, PolicyGuard, PolicyMode, PolicyWindow};

/// A change of one Deployment's counts waiting for (or decided by) the two-person rule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "scalekeeper.dev",
    version = "v1alpha1",
    kind = "ScaleRequest",
    plural = "scalerequests",
    shortname = "sr",
    namespaced,
    status = "ScaleRequestStatus",
    printcolumn = r#"{"name":"Deployment","type":"string","jsonPath":".spec.deployment","description":"The Deployment whose counts the request changes"}"#,
    printcolumn = r#"{"name":"Change","type":"string","jsonPath":".spec.summary","description":"The change, in words"}"#,
    printcolumn = r#"{"name":"Requester","type":"string","jsonPath":".spec.requester.user","description":"The identity that asked for the change"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Pending, Approved, Applied, Denied, Expired or Superseded"}"#,
    printcolumn = r#"{"name":"Approvals","type":"integer","jsonPath":".status.approvalCount","description":"Approvals that count (distinct identities, not the requester, of this spec's digest)"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRequestSpec {
    /// The name of the Deployment (in the request's namespace) whose counts the change sets.
    pub deployment: String,
    /// The UID of that Deployment when the change was requested: a Deployment deleted and
    /// re-created under the same name is never changed by an older request.
    pub deployment_uid: String,
    /// The ReplicaPolicy's metadata.generation when the change was requested; absent when the
    /// Deployment had no policy. A policy that has moved on since makes the request
    /// Superseded instead of applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub based_on_generation: Option<i64>,
    /// The change: exactly one of declare, hold, schedule and approval is set.
    pub change: RequestedChange,
    /// The change in words, made by the server, e.g. `declare 0`, `hold 40 for 1h`.
    pub summary: String,
    /// Who asked for the change.
    pub requester: Requester,
    /// Why, as the requester put it; omitted when empty (Kubernetes 1.20 reads an empty string
    /// in a custom resource as null, which a `type: string` field refuses).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(transform = crate::policy::no_default)]
    pub reason: String,
    /// RFC 3339 time after which a Pending request is Expired (by default 1 h after it was
    /// created).
    pub expires_at: String,
    /// Why the change needs approval, in words, one entry per reason (e.g. `0 is below the
    /// approval band's lower edge 3`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_approval_because: Vec<String>,
    /// How many approvals the change needs (1 to 5), from identities other than the requester.
    #[schemars(range(min = 1, max = 5))]
    pub approvals_needed: u32,
    /// The break-glass group the requester applied the change as, at once and past the rule
    /// (the request then waits in phase ReviewRequired for a second identity's review); absent
    /// for a request that waits for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_group: Option<String>,
    /// SHA-256, lower-case hex, of this spec's JSON with `digest` set to "" ([`spec_digest`]).
    /// An approval counts only for the digest its approver saw.
    #[serde(default)]
    #[schemars(transform = crate::policy::no_default)]
    pub digest: String,
}

/// The change a ScaleRequest asks for: exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestedChange {
    /// Declare a count (SetReplicas), with its mode, guard and bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declare: Option<DeclareChange>,
    /// Place a hold (SetReplicas with a duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldChange>,
    /// Replace the schedule (SetSchedule); no windows clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleChange>,
    /// Set or remove the approval rule (SetApproval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalChange>,
}

impl RequestedChange {
    /// How many of the four changes are set; a well-formed request sets exactly one.
    pub fn set_count(&self) -> usize {
        usize::from(self.declare.is_some())
            + usize::from(self.hold.is_some())
            + usize::from(self.schedule.is_some())
            + usize::from(self.approval.is_some())
    }
}

/// A declared count (`change.declare`), as SetReplicas would write it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeclareChange {
    /// The count to declare (a number of Pods).
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// The mode to set; absent: the policy's (Enforce for a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PolicyMode>,
    /// The admission guard to set; absent: the policy's (the server's default for a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<PolicyGuard>,
    /// The lower bound to set (a number of Pods); absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
    /// The upper bound to set (a number of Pods); absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_replicas: Option<i32>,
    /// Remove both bounds.
    #[serde(default)]
    pub clear_bounds: bool,
}

/// A hold (`change.hold`): `replicas` for `durationSeconds` from when it is applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldChange {
    /// The count to hold (a number of Pods).
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// How long the hold lasts once applied, in seconds.
    #[schemars(range(min = 1))]
    pub duration_seconds: i64,
    /// Why the hold is placed, e.g. `INC-123: checkout latency`.
    pub reason: String,
}

/// A schedule (`change.schedule`): the windows that replace the policy's; none clears it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleChange {
    /// The windows, in precedence order; empty: clear the schedule.
    #[serde(default)]
    pub windows: Vec<PolicyWindow>,
}

/// An approval rule change (`change.approval`): the rule to set, or none to remove it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalChange {
    /// The rule to set; absent: remove the policy's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<PolicyApproval>,
}

/// Who asked: the identity and groups of the requester's client certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    /// The identity (the certificate's user name).
    pub user: String,
    /// The groups (the certificate subject's O values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Where the request stands (written only by the server).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRequestStatus {
    /// Pending, Approved, Applied, Denied, Expired or Superseded (the domain's phase, as
    /// `scalekeeper_core::approval` names it); absent until the server writes it (Pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Every approval given, in order, with the digest its approver saw.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<RecordedApproval>,
    /// How many of `approvals` count: distinct identities, never the requester, whose digest
    /// is the spec's (the printer column Approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_count: Option<u32>,
    /// What happened, in words (e.g. `applied: declared 0`, `denied: not during the sale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The identity that decided the request (the last approver, or the one who denied it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// RFC 3339 time the request was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

/// One approval (`status.approvals[]`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedApproval {
    /// The approver's identity (the certificate's user name).
    pub identity: String,
    /// RFC 3339 time of the approval.
    pub time: String,
    /// The spec digest the approver saw.
    pub digest: String,
}

/// The digest of `spec`: SHA-256, lower-case hex, of `serde_json::to_vec` of the spec with
/// `digest` set to "". The one function that computes it: the request path stores it, the
/// approve path recomputes it from the stored spec and compares.
///
/// # Errors
///
/// The spec cannot be serialized (serde_json's error; never for these types in practice).
pub fn spec_digest(spec: &ScaleRequestSpec) -> Result<String, serde_json::Error> {
    let bytes = serde_json::to_vec(&ScaleRequestSpec { digest: String::new(), ..spec.clone() })?;
    Ok(scalekeeper_core::approval::digest(&bytes))
}

/// The CRD YAML of ScaleRequest, as `scalekeeper crd` prints it (see
/// [`crate::policy::quote_yaml11_booleans`]).
///
/// # Errors
///
/// serde_yaml cannot serialize the CRD.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt as _;
    Ok(crate::policy::quote_yaml11_booleans(&serde_yaml::to_string(&ScaleRequest::crd())?))
}

/// `sr` as the domain decides on it; a phase the server did not write reads as Pending, an
/// expiry that is not a time as expired.
pub fn state<'a>(sr: &'a ScaleRequest, records: &'a [ApprovalRecord]) -> RequestState<'a> {
    RequestState {
        requester: &sr.spec.requester.user,
        digest: &sr.spec.digest,
        approvals_needed: sr.spec.approvals_needed,
        expires_at: sr.spec.expires_at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
        // A break-glass request is applied before its status is written: without one it waits
        // for review, never for approval.
        phase: sr
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .and_then(Phase::parse)
            .unwrap_or(if sr.spec.break_glass_group.is_some() { Phase::ReviewRequired } else { Phase::Pending }),
        approvals: records,
    }
}

/// The phase of `sr` as of `now` ([`approval::phase_at`]: a pending request past its expiry
/// is Expired).
pub fn phase_at(sr: &ScaleRequest, now: Timestamp) -> Phase {
    approval::phase_at(&state(sr, &[]), now)
}

/// When `sr` was created (`metadata.creationTimestamp`; the epoch when the API server recorded
/// none).
pub fn created(sr: &ScaleRequest) -> Timestamp {
    sr.metadata.creation_timestamp.as_ref().and_then(|t| t.0.to_string().parse().ok()).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt as _;

    fn spec() -> ScaleRequestSpec {
        ScaleRequestSpec {
            deployment: "web".into(),
            deployment_uid: "uid-1".into(),
            based_on_generation: Some(7),
            change: RequestedChange {
                declare: Some(DeclareChange { replicas: 0, ..Default::default() }),
                ..Default::default()
            },
            summary: "declare 0".into(),
            requester: Requester { user: "alice".into(), groups: vec!["sre".into()] },
            reason: "INC-1".into(),
            expires_at: "2026-12-07T15:00:00Z".into(),
            needs_approval_because: vec!["0 is below the approval band's lower edge 3".into()],
            approvals_needed: 1,
            break_glass_group: None,
            digest: String::new(),
        }
    }

    #[test]
    fn crd_names_scope_subresources_and_columns() {
        let crd = ScaleRequest::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("scalerequests.scalekeeper.dev"));
        assert_eq!(crd.spec.group, "scalekeeper.dev");
        assert_eq!(crd.spec.names.kind, "ScaleRequest");
        assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["sr".to_string()][..]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
        let cols: Vec<(&str, &str)> =
            v.additional_printer_columns.iter().flatten().map(|c| (c.name.as_str(), c.json_path.as_str())).collect();
        assert_eq!(
            cols,
            [
                ("Deployment", ".spec.deployment"),
                ("Change", ".spec.summary"),
                ("Requester", ".spec.requester.user"),
                ("Phase", ".status.phase"),
                ("Approvals", ".status.approvalCount"),
                ("Age", ".metadata.creationTimestamp"),
            ]
        );
    }

    #[test]
    fn the_status_schema_has_no_defaults() {
        // Kubernetes 1.20 rejects `default` in the status schema (as for ReplicaPolicy).
        let crd = serde_json::to_value(ScaleRequest::crd()).unwrap();
        let status = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        assert!(status["properties"]["approvals"].is_object(), "{status}");
        assert!(!status.to_string().contains("\"default\""), "{status}");
    }

    #[test]
    fn the_spec_round_trips_in_camel_case() {
        let mut s = spec();
        s.digest = spec_digest(&s).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "deployment",
            "deploymentUid",
            "basedOnGeneration",
            "change",
            "summary",
            "requester",
            "reason",
            "expiresAt",
            "needsApprovalBecause",
            "approvalsNeeded",
            "digest",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(json["change"], serde_json::json!({"declare": {"replicas": 0, "clearBounds": false}}));
        let back: ScaleRequestSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        assert_eq!(spec_digest(&back).unwrap(), s.digest, "the stored spec digests to the stored digest");

        let every = [
            RequestedChange {
                hold: Some(HoldChange { replicas: 40, duration_seconds: 3600, reason: "sale".into() }),
                ..Default::default()
            },
            RequestedChange { schedule: Some(ScheduleChange::default()), ..Default::default() },
            RequestedChange { approval: Some(ApprovalChange::default()), ..Default::default() },
        ];
        for change in every {
            assert_eq!(change.set_count(), 1);
            let s = ScaleRequestSpec { change, ..spec() };
            let back: ScaleRequestSpec = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
            assert_eq!(back, s);
        }
        assert_eq!(
            serde_json::to_value(ScheduleChange::default()).unwrap(),
            serde_json::json!({"windows": []}),
            "an empty schedule (clear) is written, not left out"
        );
    }

    #[test]
    fn the_digest_changes_with_every_spec_field_and_not_with_status() {
        let base = spec();
        let d = spec_digest(&base).unwrap();
        assert_eq!(d.len(), 64);
        assert!(d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{d}");
        assert_eq!(spec_digest(&ScaleRequestSpec { digest: "anything".into(), ..base.clone() }).unwrap(), d);

        let declare = |f: &dyn Fn(&mut DeclareChange)| {
            let mut s = base.clone();
            if let Some(c) = s.change.declare.as_mut() {
                f(c);
            }
            s
        };
        let changed = [
            ScaleRequestSpec { deployment: "api".into(), ..base.clone() },
            ScaleRequestSpec { deployment_uid: "uid-2".into(), ..base.clone() },
            ScaleRequestSpec { based_on_generation: None, ..base.clone() },
            ScaleRequestSpec { based_on_generation: Some(8), ..base.clone() },
            ScaleRequestSpec { summary: "declare 1".into(), ..base.clone() },
            ScaleRequestSpec { requester: Requester { user: "bob".into(), ..base.requester.clone() }, ..base.clone() },
            ScaleRequestSpec { requester: Requester { groups: vec![], ..base.requester.clone() }, ..base.clone() },
            ScaleRequestSpec { reason: "INC-2".into(), ..base.clone() },
            ScaleRequestSpec { expires_at: "2026-12-07T16:00:00Z".into(), ..base.clone() },
            ScaleRequestSpec { needs_approval_because: vec![], ..base.clone() },
            ScaleRequestSpec { approvals_needed: 2, ..base.clone() },
            declare(&|c| c.replicas = 1),
            declare(&|c| c.mode = Some(PolicyMode::Observe)),
            declare(&|c| c.guard = Some(PolicyGuard::Deny)),
            declare(&|c| c.min_replicas = Some(1)),
            declare(&|c| c.max_replicas = Some(9)),
            declare(&|c| c.clear_bounds = true),
            ScaleRequestSpec {
                change: RequestedChange { schedule: Some(ScheduleChange::default()), ..Default::default() },
                ..base.clone()
            },
        ];
        for (i, s) in changed.iter().enumerate() {
            assert_ne!(spec_digest(s).unwrap(), d, "change {i}: {s:?}");
        }

        let mut request = ScaleRequest::new("web-abcde", base.clone());
        let before = spec_digest(&request.spec).unwrap();
        request.status = Some(ScaleRequestStatus {
            phase: Some("Approved".into()),
            approvals: vec![RecordedApproval { identity: "bob".into(), time: "t".into(), digest: d.clone() }],
            approval_count: Some(1),
            outcome: Some("approved".into()),
            decided_by: Some("bob".into()),
            decided_at: Some("2026-12-07T14:40:00Z".into()),
        });
        assert_eq!(spec_digest(&request.spec).unwrap(), before, "status is not part of the digest");
    }

    #[test]
    fn the_crd_yaml_reads_back_as_the_crd() {
        let yaml = crd_yaml().unwrap();
        let back: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, serde_json::to_value(ScaleRequest::crd()).unwrap());
    }
}
