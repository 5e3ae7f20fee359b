//! API errors, rendered as the `Status` objects the real API server sends.
//!
//! Reasons, codes and message shapes follow `k8s.io/apimachinery/pkg/api/errors`
//! (`NewNotFound`, `NewAlreadyExists`, `NewConflict`, `NewInvalid`, ...), so that clients
//! (kubectl, client-go, kube-rs) classify them exactly as they would a real cluster's.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One field-level cause of an `Invalid` (422) error, as a `StatusCause`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `StatusCause.reason`, e.g. `FieldValueInvalid`, `FieldValueRequired`.
    pub reason: String,
    /// The message without the field path, e.g. `Invalid value: -1: must be greater than or equal to 0`.
    pub message: String,
    /// The field path, e.g. `spec.replicas`.
    pub field: String,
}

impl Cause {
    /// A `FieldValueInvalid` cause for `field` holding `value`, with the validation `detail`.
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {detail}", render_value(value)),
            field: field.into(),
        }
    }

    /// A `FieldValueRequired` cause for a missing `field`.
    pub fn required(field: &str) -> Self {
        Self { reason: "FieldValueRequired".into(), message: "Required value".into(), field: field.into() }
    }

    /// A `FieldValueForbidden` cause, e.g. for an immutable field.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self { reason: "FieldValueForbidden".into(), message: format!("Forbidden: {detail}"), field: field.into() }
    }
}

/// Renders a value the way apimachinery's `field.Invalid` does: strings quoted, numbers bare.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// An error answered to an API request as a `Status` object with an HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (and `Status.code`).
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`; empty for errors that have none.
    pub reason: &'static str,
    /// Human-readable `Status.message`.
    pub message: String,
    /// `Status.details`, when the real server sends them.
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header (429 and 503 from fault injection).
    pub retry_after: Option<u64>,
    /// The whole `Status` to answer with, when it is not built from the fields above: an
    /// admission webhook's own `status` (any reason, details and message), which the API
    /// server passes on as the webhook set it ([`ApiError::from_status`]).
    pub status_override: Option<Box<Value>>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None, retry_after: None, status_override: None }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404 NotFound for the object `name` of resource `qualified` (e.g. `deployments.apps`).
    pub fn not_found(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 404 NotFound for a path that names no resource.
    pub fn no_such_resource() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
            .with_details(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}))
    }

    /// 409 AlreadyExists on create.
    pub fn already_exists(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{qualified} \"{name}\" already exists"))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409 Conflict: a stale resourceVersion or UID precondition.
    pub fn conflict(qualified: &str, group: &str, plural: &str, name: &str, detail: &str) -> Self {
        Self::new(409, "Conflict", format!("Operation cannot be fulfilled on {qualified} \"{name}\": {detail}"))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// The standard detail of a stale-resourceVersion conflict.
    pub const STALE: &'static str =
        "the object has been modified; please apply your changes to the latest version and try again";

    /// 422 Invalid with field causes; `kind_qualified` is e.g. `Deployment.apps`.
    pub fn invalid(kind_qualified: &str, group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let summary: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let summary = if summary.len() == 1 { summary.join("") } else { format!("[{}]", summary.join(", ")) };
        let causes: Vec<Value> =
            causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect();
        Self::new(422, "Invalid", format!("{kind_qualified} \"{name}\" is invalid: {summary}"))
            .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed for a verb the resource does not support.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType for a patch or body type the server does not accept.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type:?}) - accepted media types include: \
                 application/json, application/yaml, application/vnd.kubernetes.protobuf (bodies), \
                 application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, \
                 application/strategic-merge-patch+json (patches)"
            ),
        )
    }

    /// 406 NotAcceptable for an `Accept` header naming only media types kubesim cannot produce.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/yaml, \
                 application/vnd.kubernetes.protobuf ({accept:?} asked)"
            ),
        )
    }

    /// 410 Expired: a continue token whose snapshot is gone.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 410 Gone: a watch from a resourceVersion older than the retained history.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 401 Unauthorized: a missing or wrong bearer token.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 500 InternalError wrapping `err` as apimachinery's `NewInternalError` does: message
    /// `Internal error occurred: <err>`, one cause carrying `<err>`.
    pub fn internal_error(err: &str) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {err}"))
            .with_details(json!({"causes": [{"message": err}]}))
    }

    /// An injected failure with the given HTTP code (500, 503 or 429), as the real server words it.
    pub fn injected(code: u16, retry_after: Option<u64>) -> Self {
        let (reason, message) = match code {
            429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
            503 => ("ServiceUnavailable", "the server is currently unable to handle the request"),
            504 => ("Timeout", "the server was unable to return a response in the time allotted"),
            _ => (
                "InternalError",
                "an error on the server (\"injected by kubesim\") has prevented the request from succeeding",
            ),
        };
        let mut e = Self::new(code, reason, message);
        if let Some(secs) = retry_after {
            e.details = Some(json!({"retryAfterSeconds": secs}));
            e.retry_after = Some(secs);
        }
        e
    }

    /// An error answered with `status` as it is (`kind`, `apiVersion` and `metadata` are
    /// set), over HTTP `code`: how the API server answers an admission webhook's denial,
    /// whose status can carry any reason (`webhookerrors.ToStatusErr`).
    pub fn from_status(code: u16, mut status: Value) -> Self {
        if let Some(m) = status.as_object_mut() {
            m.insert("kind".into(), json!("Status"));
            m.insert("apiVersion".into(), json!("v1"));
            m.insert("metadata".into(), json!({}));
            m.insert("code".into(), json!(code));
        }
        let message = status.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        let mut e = Self::new(code, "", message);
        e.status_override = Some(Box::new(status));
        e
    }

    /// The reason a write answers while admission webhooks still have to be called for it
    /// ([`ApiError::admission_pending`]). It never reaches a client.
    pub const ADMISSION_PENDING: &'static str = "AdmissionPending";

    /// Not an answer: a write stopped before committing because admission webhooks must
    /// see it first. The caller (`api`) calls them outside the store lock and computes the
    /// write again ([`crate::admission`]).
    pub fn admission_pending() -> Self {
        Self::new(500, Self::ADMISSION_PENDING, "admission webhooks must be called first")
    }

    /// Whether this is [`ApiError::admission_pending`].
    pub fn is_admission_pending(&self) -> bool {
        self.reason == Self::ADMISSION_PENDING
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        if let Some(s) = &self.status_override {
            return (**s).clone();
        }
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            s["reason"] = json!(self.reason);
        }
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, axum::Json(self.status())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_matches_apiserver_shape() {
        let e = ApiError::invalid(
            "Deployment.apps",
            "apps",
            "Deployment",
            "web",
            vec![Cause::invalid("spec.replicas", &json!(-1), "must be greater than or equal to 0")],
        );
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(e.status()["details"]["causes"][0]["field"], "spec.replicas");
    }

    #[test]
    fn conflict_message_matches_apiserver_shape() {
        let e = ApiError::conflict("deployments.apps", "apps", "deployments", "web", ApiError::STALE);
        assert_eq!(e.status()["reason"], "Conflict");
        assert!(e.message.starts_with("Operation cannot be fulfilled on deployments.apps \"web\""));
    }

    #[test]
    fn injected_429_carries_retry_after() {
        let e = ApiError::injected(429, Some(2));
        assert_eq!(e.status()["details"]["retryAfterSeconds"], 2);
        let resp = e.into_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
    }
}
