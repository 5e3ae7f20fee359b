//! The errors of the API, the one table that maps them to gRPC status codes, and the one
//! mapping from the writer's [`WriteError`] (with the Kubernetes status codes) into them.
//!
//! | error | gRPC code | from Kubernetes |
//! |---|---|---|
//! | [`Error::InvalidArgument`] | INVALID_ARGUMENT (+ `google.rpc.BadRequest`) | 422, 400 |
//! | [`Error::NotFound`] | NOT_FOUND | 404 |
//! | [`Error::Aborted`] | ABORTED | 409 |
//! | [`Error::FailedPrecondition`] | FAILED_PRECONDITION | |
//! | [`Error::Refused`] | FAILED_PRECONDITION (+ `google.rpc.ErrorInfo`: a reason of `scalekeeper_api`, domain `scalekeeper.dev`) | |
//! | [`Error::PermissionDenied`] | PERMISSION_DENIED | |
//! | [`Error::Unavailable`] | UNAVAILABLE | caches not synced, authorization check impossible |
//! | [`Error::ResourceExhausted`] | RESOURCE_EXHAUSTED | |
//! | [`Error::DeadlineExceeded`] | DEADLINE_EXCEEDED | |
//! | [`Error::OutOfRange`] | OUT_OF_RANGE | |
//! | [`Error::Internal`] | INTERNAL | anything else: a bug |
//! | [`Error::Kubernetes`] | PERMISSION_DENIED, UNAVAILABLE or INTERNAL | 401/403 (scalekeeper's own RBAC is too narrow), 429, 5xx, connection failures, undecodable answers |
//!
//! Before any handler, the port's intake ([`super::intake`]) answers through the same table:
//! a request tonic cannot decode is INVALID_ARGUMENT (tonic says INTERNAL, kept here for our
//! faults), one that does not arrive in time DEADLINE_EXCEEDED, one past the receiving limits
//! RESOURCE_EXHAUSTED, one too large OUT_OF_RANGE (tonic's code). A watch's stream ends
//! through it too. Codes are named as the gRPC spec spells them
//! ([`scalekeeper_api::code_name`]) in metrics, logs and audit records.
//!
//! What the caller reads ([`Error::into_status`]) never holds scalekeeper's ServiceAccount,
//! the API server's address or other transport details: an [`Error::Internal`] or an
//! [`Error::Kubernetes`] says what failed in general words and gives the request id, under
//! which the server's log has the details. Every answer carries the request id in the
//! `x-request-id` response metadata too.
//!
//! The writer's errors: [`WriteError::NotFound`] → NOT_FOUND, [`WriteError::HpaOwnsCount`],
//! [`WriteError::Precondition`] (`--if-current`), [`WriteError::OutOfBounds`],
//! [`WriteError::NeedsApproval`] (a dry run the approval rule holds back) and
//! [`WriteError::ApprovalRequired`] (a write recorded as a ScaleRequest) → FAILED_PRECONDITION, [`WriteError::VersionMismatch`] and [`WriteError::Contended`] → ABORTED,
//! [`WriteError::Invalid`] → INVALID_ARGUMENT, [`WriteError::Kube`] by the Kubernetes column.

use scalekeeper_core::Violation;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::writer::WriteError;

/// An API error: what went wrong, in words a caller can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed; each violation names a request field.
    #[error("invalid request: {}", render(.0))]
    InvalidArgument(Vec<Violation>),
    /// The Deployment (or what was named) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A precondition on the version failed, or a concurrent write won.
    #[error("{0}")]
    Aborted(String),
    /// The write is refused in the current state (e.g. an HPA owns the replica count).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A refusal a client tells apart by its reason (the two-person rule's): FAILED_PRECONDITION
    /// with a `google.rpc.ErrorInfo` of `reason` (one of `scalekeeper_api::REASON_*`) and
    /// `metadata`.
    #[error("{message}")]
    Refused {
        /// The ErrorInfo reason.
        reason: &'static str,
        /// What the caller reads.
        message: String,
        /// The ErrorInfo metadata, e.g. `scaleRequest` → `shop/web-x7k2p`.
        metadata: Vec<(String, String)>,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Kubernetes is unreachable or failing, or the caches are not synced: retry.
    #[error("{0}")]
    Unavailable(String),
    /// The server or the stream is overloaded.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The call ran past the server's call timeout, or its request did not arrive in time.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A request message over the server's size limit (tonic's own code for it).
    #[error("{0}")]
    OutOfRange(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
    /// The Kubernetes API refused scalekeeper itself, failed or could not be reached.
    #[error("{public}: {detail}")]
    Kubernetes {
        /// PERMISSION_DENIED, UNAVAILABLE or INTERNAL.
        code: Code,
        /// What the caller reads.
        public: String,
        /// What only the server's log shows (the API server's message or the transport error).
        detail: String,
    },
}

/// The response metadata key that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A new request id: 16 hex digits of a random UUID, the id of one call in its log line, its
/// audit record and its `x-request-id` response metadata.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// `id` as the value of [`REQUEST_ID_HEADER`], marked sensitive so that HTTP/2 sends it as a
/// literal "never indexed" (RFC 7541 section 6.2.3) rather than adding it to the
/// connection's HPACK dynamic table. Every id is unique, so indexing it would only evict the
/// entries that repeat on every response (content-type, grpc-status) and make the encoder
/// compare each new id against the ones before it. `None` when `id` is not a valid header
/// value (ids are ours, so never in practice).
pub fn request_id_value(id: &str) -> Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
    let mut v: tonic::metadata::MetadataValue<_> = id.parse().ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn render(v: &[Violation]) -> String {
    v.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ")
}

impl Error {
    /// The gRPC code, as the table above says.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::Aborted(_) => Code::Aborted,
            Error::FailedPrecondition(_) | Error::Refused { .. } => Code::FailedPrecondition,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Unavailable(_) => Code::Unavailable,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::OutOfRange(_) => Code::OutOfRange,
            Error::Internal(_) => Code::Internal,
            Error::Kubernetes { code, .. } => *code,
        }
    }

    /// Whether this is a fault of the server or its cluster rather than of the request (logged
    /// as an error).
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Error::Internal(_) | Error::Kubernetes { code: Code::Internal | Code::PermissionDenied, .. })
    }

    /// The status the caller gets for the call `request_id`: the message as the table above
    /// says, without details only the log may show, and the request id in the metadata.
    pub fn into_status(self, request_id: &str) -> Status {
        let mut status = match self {
            Error::Internal(_) => Status::internal(format!(
                "internal error; the server's log has the details under request id {request_id}"
            )),
            Error::Kubernetes { code, public, .. } => {
                let message = format!("{public} (request id {request_id})");
                if code == Code::Unavailable { Error::Unavailable(message).into() } else { Status::new(code, message) }
            }
            other => other.into(),
        };
        if let Some(v) = request_id_value(request_id) {
            status.metadata_mut().insert(REQUEST_ID_HEADER, v);
        }
        status
    }

    /// Classifies a Kubernetes client error by the table's Kubernetes column; `what` names
    /// the object for the message (e.g. `Deployment shop/web`).
    fn from_kube(err: kube::Error, what: &str) -> Self {
        match err {
            kube::Error::Api(status) => {
                let msg = format!("{what}: {}", status.message);
                match status.code {
                    404 => Error::NotFound(format!("{what} not found")),
                    409 => Error::Aborted(msg),
                    400 | 422 => Error::InvalidArgument(vec![Violation { field: "request".into(), description: msg }]),
                    401 | 403 => Error::Kubernetes {
                        code: Code::PermissionDenied,
                        public: format!(
                            "{what}: the Kubernetes API refused scalekeeper itself, not your identity; \
                             an operator can see why in the server's log"
                        ),
                        detail: format!("{} (check scalekeeper's RBAC)", status.message),
                    },
                    429 | 500..=599 => Error::Kubernetes {
                        code: Code::Unavailable,
                        public: format!("Kubernetes API unavailable ({what}); retry shortly"),
                        detail: msg,
                    },
                    _ => Error::Kubernetes {
                        code: Code::Internal,
                        public: format!("unexpected answer from the Kubernetes API ({what})"),
                        detail: msg,
                    },
                }
            }
            kube::Error::SerdeError(e) => Error::Kubernetes {
                code: Code::Internal,
                public: format!("undecodable answer from the Kubernetes API ({what})"),
                detail: e.to_string(),
            },
            // Connection refused, TLS, timeouts, a broken watch...: the API server is not
            // reachable from here right now.
            other => Error::Kubernetes {
                code: Code::Unavailable,
                public: format!("Kubernetes API unreachable ({what}); retry shortly"),
                detail: other.to_string(),
            },
        }
    }
}

impl From<crate::explain::ReadError> for Error {
    /// The API error for a failed live read of Explain: classified by the Kubernetes column,
    /// as a write's Kubernetes errors are (an outage is UNAVAILABLE).
    fn from(err: crate::explain::ReadError) -> Self {
        Error::from_kube(err.source, &err.what)
    }
}

impl From<WriteError> for Error {
    /// The API error for a failed write: the one place a [`WriteError`] becomes a gRPC-facing
    /// error. Messages are the writer's own, except for [`WriteError::Kube`], classified by
    /// the Kubernetes status code.
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::NotFound { .. } => Error::NotFound(err.to_string()),
            WriteError::HpaOwnsCount { .. }
            | WriteError::Precondition(_)
            | WriteError::OutOfBounds(_)
            | WriteError::CrdOutdated { .. } => Error::FailedPrecondition(err.to_string()),
            WriteError::NeedsApproval { .. } => Error::Refused {
                reason: scalekeeper_api::REASON_APPROVAL_REQUIRED,
                message: err.to_string(),
                metadata: vec![],
            },
            WriteError::ApprovalRequired { ref namespace, ref request, .. } => Error::Refused {
                reason: scalekeeper_api::REASON_APPROVAL_REQUIRED,
                metadata: vec![(scalekeeper_api::METADATA_SCALE_REQUEST.into(), format!("{namespace}/{request}"))],
                message: err.to_string(),
            },
            WriteError::RequestRefused { ref namespace, ref request, .. } => Error::Refused {
                reason: scalekeeper_api::REASON_SCALE_REQUEST_REFUSED,
                metadata: vec![(scalekeeper_api::METADATA_SCALE_REQUEST.into(), format!("{namespace}/{request}"))],
                message: err.to_string(),
            },
            WriteError::VersionMismatch { .. } | WriteError::Contended { .. } => Error::Aborted(err.to_string()),
            WriteError::Invalid { field, description } => {
                Error::InvalidArgument(vec![Violation { field, description }])
            }
            WriteError::Kube { what, source } => Error::from_kube(source, &what),
        }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match &err {
            Error::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(Code::InvalidArgument, err.to_string(), details)
            }
            Error::Unavailable(_) => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                Status::with_error_details(Code::Unavailable, err.to_string(), details)
            }
            Error::Refused { reason, message, metadata } => {
                let details = ErrorDetails::with_error_info(
                    *reason,
                    scalekeeper_api::ERROR_DOMAIN,
                    metadata.iter().cloned().collect::<std::collections::HashMap<_, _>>(),
                );
                Status::with_error_details(Code::FailedPrecondition, message.clone(), details)
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure(&format!("status {code}"), "Reason").with_code(code).boxed())
    }

    #[test]
    fn kubernetes_codes_map_to_grpc_codes() {
        assert_eq!(Error::from_kube(api(404), "Deployment a/b").code(), Code::NotFound);
        assert_eq!(Error::from_kube(api(409), "x").code(), Code::Aborted);
        assert_eq!(Error::from_kube(api(422), "x").code(), Code::InvalidArgument);
        assert_eq!(Error::from_kube(api(503), "x").code(), Code::Unavailable);
        assert_eq!(Error::from_kube(api(429), "x").code(), Code::Unavailable);
        assert_eq!(Error::from_kube(api(403), "x").code(), Code::PermissionDenied);
    }

    fn kube(code: u16) -> WriteError {
        WriteError::Kube { what: "Deployment a/b".into(), source: api(code) }
    }

    #[test]
    fn write_errors_map_to_api_errors_with_their_messages() {
        assert_eq!(Error::from(kube(404)).to_string(), "Deployment a/b not found");
        assert_eq!(Error::from(WriteError::NotFound { what: "Deployment a/b".into() }).code(), Code::NotFound);
        let hpa = WriteError::HpaOwnsCount { namespace: "a".into(), hpa: "h".into(), deployment: "b".into() };
        let hpa = Error::from(hpa);
        assert_eq!(hpa.code(), Code::FailedPrecondition);
        assert!(hpa.to_string().starts_with("HorizontalPodAutoscaler a/h targets Deployment a/b: it owns the replica count; scalekeeper will not fight it"), "{hpa}");
        let stale =
            WriteError::VersionMismatch { namespace: "a".into(), name: "b".into(), expected: 3, current: Some(4) };
        assert_eq!(
            Error::from(stale).to_string(),
            "ReplicaPolicy a/b is at version 4, not the expected 3: the declaration changed since you read it; get it again and retry"
        );
        let gone = WriteError::VersionMismatch { namespace: "a".into(), name: "b".into(), expected: 3, current: None };
        assert_eq!(Error::from(gone).code(), Code::Aborted);
        let contended = WriteError::Contended { namespace: "a".into(), name: "b".into(), attempts: 5 };
        assert_eq!(Error::from(contended).code(), Code::Aborted);
        let invalid = Error::from(WriteError::Invalid { field: "expected_version".into(), description: "x".into() });
        assert_eq!(invalid.to_string(), "invalid request: expected_version: x");
        assert_eq!(Error::from(kube(403)).code(), Code::PermissionDenied);
        assert_eq!(Error::from(kube(409)).code(), Code::Aborted);
        assert_eq!(Error::from(kube(400)).code(), Code::InvalidArgument);
        assert_eq!(Error::from(kube(500)).code(), Code::Unavailable);
    }

    #[test]
    fn callers_get_the_request_id_and_never_the_service_account_or_transport_details() {
        let forbidden = kube::Error::Api(
            kube::core::Status::failure(
                "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:sk:scalekeeper\" cannot patch",
                "Forbidden",
            )
            .with_code(403)
            .boxed(),
        );
        let e = Error::from_kube(forbidden, "Deployment shop/web");
        assert!(e.to_string().contains("system:serviceaccount:sk:scalekeeper"), "the log keeps the detail: {e}");
        assert!(e.is_server_fault());
        let st = e.into_status("r-42");
        assert_eq!(st.code(), Code::PermissionDenied);
        assert!(!st.message().contains("serviceaccount"), "{}", st.message());
        assert!(st.message().contains("request id r-42"), "{}", st.message());
        assert_eq!(st.metadata().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()), Some("r-42"));
        assert!(st.metadata().get(REQUEST_ID_HEADER).is_some_and(|v| v.is_sensitive()), "never HPACK-indexed");

        let st = Error::from_kube(api(503), "Deployment a/b").into_status("r-43");
        assert_eq!(st.code(), Code::Unavailable);
        assert!(!st.message().contains("status 503"), "{}", st.message());
        assert!(st.get_error_details().retry_info().is_some(), "UNAVAILABLE keeps its RetryInfo");

        let st = Error::Internal("index out of bounds in cache.rs".into()).into_status("r-44");
        assert_eq!(st.code(), Code::Internal);
        assert!(!st.message().contains("cache.rs"), "{}", st.message());
        assert!(st.message().contains("r-44"), "{}", st.message());
    }

    #[test]
    fn invalid_carries_field_violations() {
        let st: Status =
            Error::InvalidArgument(vec![Violation { field: "replicas".into(), description: "negative".into() }]).into();
        assert_eq!(st.code(), Code::InvalidArgument);
        let br = st.get_error_details().bad_request().cloned().expect("bad request details");
        assert_eq!(br.field_violations[0].field, "replicas");
    }
}
