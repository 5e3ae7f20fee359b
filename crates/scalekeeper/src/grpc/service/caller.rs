//! Who calls: the identity of the connection's client certificate, as the service logs,
//! audits and authorizes it.

use std::sync::{Arc, Mutex};

use scalekeeper_core::authz::{Subject, Verb};
use tonic::Request;

use crate::audit::{AuditDecision, Snapshot};
use crate::grpc::status::Error;
use crate::tls::PeerInfo;

/// Who calls: the identity as logged, and the Kubernetes subject authorization checks name
/// (`None` when the certificate names no acceptable identity).
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub(super) identity: String,
    /// The call's request id: in its log line, its audit record, its `x-request-id` and in
    /// the status a stream ends with.
    pub(super) request_id: String,
    pub(super) subject: Option<Subject>,
    /// The remote address, for its audit records.
    pub(super) peer: String,
    /// What the call did, for its audit record.
    pub(super) facts: Arc<Mutex<CallFacts>>,
}

/// What an audit record says about a call besides who and how it ended.
#[derive(Debug, Clone, Default)]
pub(super) struct CallFacts {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) verb: Option<Verb>,
    pub(super) decision: Option<AuditDecision>,
    pub(super) write: Option<(Snapshot, Snapshot, Option<i64>)>,
    /// The write was a dry run.
    pub(super) dry_run: bool,
    /// The ScaleRequest the call made, approved or denied.
    pub(super) scale_request: Option<crate::audit::ScaleRequestAudit>,
}

impl Caller {
    pub(super) fn facts(&self) -> std::sync::MutexGuard<'_, CallFacts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The caller and its remote address, from the connection's client certificate.
pub(super) fn caller<T>(req: &Request<T>) -> (Caller, String) {
    match req.extensions().get::<PeerInfo>() {
        Some(p) => (
            Caller {
                identity: p.identity.as_ref().map(|i| i.to_string()).unwrap_or_else(|| "<no identity>".into()),
                request_id: crate::grpc::status::new_request_id(),
                subject: p.identity.as_ref().map(|i| i.subject()),
                peer: p.remote_addr.to_string(),
                facts: Arc::default(),
            },
            p.remote_addr.to_string(),
        ),
        None => (
            Caller {
                identity: "<unknown>".into(),
                request_id: crate::grpc::status::new_request_id(),
                subject: None,
                peer: String::new(),
                facts: Arc::default(),
            },
            String::new(),
        ),
    }
}

/// The caller's Kubernetes subject: every call needs one, GetVersion nothing more.
///
/// # Errors
/// PERMISSION_DENIED when the client certificate names no identity scalekeeper accepts.
pub(super) fn authenticated(caller: &Caller) -> Result<&Subject, Error> {
    caller.subject.as_ref().ok_or_else(|| {
        Error::PermissionDenied(
            "the client certificate names no identity scalekeeper accepts (a SAN URI, a SAN DNS name, or a Common Name that is not a URI)".into(),
        )
    })
}

/// The methods whose every call is audited (besides every call refused by authorization): the
/// writes. A Freeze or a Thaw also gets one line per Deployment it writes.
pub(super) const AUDITED_METHODS: &[&str] = &[
    "SetReplicas",
    "ClearDesiredReplicas",
    "SetSchedule",
    "Undo",
    "Freeze",
    "Thaw",
    "SetApproval",
    "ApproveScaleRequest",
    "DenyScaleRequest",
];
