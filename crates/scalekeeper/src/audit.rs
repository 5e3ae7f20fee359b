//! The audit trail: one JSON line per decision on every mutating call (SetReplicas,
//! ClearDesiredReplicas, SetSchedule, Freeze, Thaw; a Freeze or a Thaw also one per Deployment
//! it writes or is refused, with that Deployment's namespace, name and before/after) and every
//! call refused by authorization, and one per admission
//! guard warning, refusal and break-glass write (`method` `AdmissionReview`, with `admission`), written to
//! `--audit-log PATH` (`-`: stdout). Independent of `RUST_LOG`: logs are for operators,
//! this is the record of who changed or tried to change what. The format is in
//! `docs/security.md`.
//!
//! ```json
//! {"time":"2026-11-29T10:00:00.123456Z","requestId":"9f…","user":"dev-admin","groups":[],
//!  "peer":"127.0.0.1:52144","method":"SetReplicas","namespace":"shop","name":"web",
//!  "verb":"update","decision":{"allowed":true,"reason":"…"},"code":"OK",
//!  "before":{"declared":null,"mode":null,"specReplicas":3},
//!  "after":{"declared":5,"mode":"Enforce","specReplicas":5},"generation":1}
//! ```

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The replica state of a Deployment before or after a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The declared count (a count), if a policy declares one.
    pub declared: Option<i32>,
    /// The policy's mode (`Enforce`, `Observe`), if a policy exists.
    pub mode: Option<String>,
    /// The Deployment's `spec.replicas` (a count), if it exists.
    pub spec_replicas: Option<i32>,
    /// The effective count (a count: the hold's, the schedule window's or the declared one),
    /// if a policy exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<i32>,
    /// What sets it (`Declared`, `Hold`, `Schedule`), if a policy exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The authorization decision an audit record carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditDecision {
    /// Whether the call was authorized.
    pub allowed: bool,
    /// Why, as the authorizer (or the refusal) put it.
    pub reason: String,
}

/// One audit line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// When the call ended (RFC 3339, UTC, microseconds).
    pub time: String,
    /// The request id the caller got in errors and the logs carry.
    pub request_id: String,
    /// The Kubernetes user of the client certificate (empty when it names none).
    pub user: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// The remote address.
    pub peer: String,
    /// The gRPC method.
    pub method: String,
    /// The target namespace (empty: all).
    pub namespace: String,
    /// The target name (empty for listings).
    pub name: String,
    /// The RBAC verb the call needs.
    pub verb: String,
    /// The authorization decision, when one was made.
    pub decision: Option<AuditDecision>,
    /// The gRPC status code the call ended with (`Ok`, `PermissionDenied`, ...).
    pub code: String,
    /// For writes: the state before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Snapshot>,
    /// For writes: the state after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Snapshot>,
    /// For writes: the policy's generation after (the declaration's version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// A dry run: nothing was written, and `after` is what the write would have made.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// For the admission guard's records (`method` `AdmissionReview`): what it decided about a
    /// write made past scalekeeper.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionAudit>,
    /// The ScaleRequest the call made, approved or denied (the two-person rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_request: Option<ScaleRequestAudit>,
}

/// The ScaleRequest a call made, approved or denied, as an audit line records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRequestAudit {
    /// Its name (in the record's namespace).
    pub name: String,
    /// The SHA-256 digest of its spec: what was requested, and what an approval approved.
    pub digest: String,
    /// Its phase after the call (`Pending`, `Approved`, `Applied`, `Denied`, `Superseded`,
    /// `ReviewRequired`, `Reviewed`).
    pub phase: String,
    /// The break-glass group its requester applied it as (a break-glass change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass_group: Option<String>,
}

/// What the admission guard decided about one write of `spec.replicas` (a warning, a refusal,
/// or a break-glass write: the guard's audited decisions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionAudit {
    /// The request's operation (`UPDATE`).
    pub operation: String,
    /// The resource when it is not a Deployment: `replicapolicies` for a write of a policy the
    /// two-person rule holds back; empty (left out) for a Deployment.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// `scale` for the scale subresource, empty for the Deployment itself.
    pub sub_resource: String,
    /// The policy's guard (`Warn`, `Deny`).
    pub guard: String,
    /// The decision label: `warned`, `denied`, `break_glass`.
    pub outcome: String,
    /// The break-glass group the requester wrote past the guard as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass_group: Option<String>,
}

/// Where audit lines go.
#[derive(Clone, Default)]
pub struct Auditor {
    sink: Option<Arc<Mutex<Box<dyn std::io::Write + Send>>>>,
}

impl Auditor {
    /// An auditor writing to `path` (appending; `-`: stdout), or none when `path` is `None`.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let sink: Option<Box<dyn std::io::Write + Send>> = match path {
            None => None,
            Some(p) if p == Path::new("-") => Some(Box::new(std::io::stdout())),
            Some(p) => Some(Box::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?)),
        };
        Ok(Self { sink: sink.map(|s| Arc::new(Mutex::new(s))) })
    }

    /// Whether records are written anywhere.
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes `record` as one line and flushes it. A failed write is logged, never returned:
    /// the call it records has already happened.
    pub fn record(&self, record: &Record) {
        let Some(sink) = &self.sink else { return };
        let line = match serde_json::to_string(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "serializing an audit record failed");
                return;
            }
        };
        let mut w = sink.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(w, "{line}").and_then(|()| w.flush()) {
            tracing::error!(error = %e, request_id = %record.request_id, "writing an audit record failed");
        }
    }
}

/// The time of a record: RFC 3339, UTC, microseconds.
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let a = Auditor::open(Some(&path)).unwrap();
        assert!(a.enabled());
        let r = Record {
            time: now(),
            request_id: "r1".into(),
            user: "alice".into(),
            groups: vec!["ops".into()],
            peer: "127.0.0.1:1".into(),
            method: "SetReplicas".into(),
            namespace: "shop".into(),
            name: "web".into(),
            verb: "update".into(),
            decision: Some(AuditDecision { allowed: true, reason: "bound".into() }),
            code: "OK".into(),
            before: Some(Snapshot { declared: None, mode: None, spec_replicas: Some(3), ..Default::default() }),
            after: Some(Snapshot {
                declared: Some(5),
                mode: Some("Enforce".into()),
                spec_replicas: Some(5),
                ..Default::default()
            }),
            generation: Some(1),
            dry_run: false,
            admission: None,
            scale_request: None,
        };
        a.record(&r);
        a.record(&Record { before: None, after: None, generation: None, ..r });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["before"]["specReplicas"], 3);
        assert_eq!(lines[0]["after"]["declared"], 5);
        assert_eq!(lines[0]["decision"]["allowed"], true);
        assert!(lines[1].get("before").is_none());
        assert!(!Auditor::open(None).unwrap().enabled());
    }
}
