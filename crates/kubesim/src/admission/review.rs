//! The `admission.k8s.io` `AdmissionReview` a webhook gets, how its answer is checked, and
//! how a denial becomes the request's error.
//!
//! Sources (Kubernetes v1.20 and 1.33):
//! - `staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/request/admissionreview.go`
//!   (`CreateAdmissionObjects`: the first of `admissionReviewVersions` kubesim speaks;
//!   `CreateV1AdmissionReview`; `VerifyAdmissionResponse`: a v1 answer must be an
//!   `admission.k8s.io/v1` `AdmissionReview` with the request's `uid` and no patch),
//! - `.../webhook/errors/statuserror.go` (`ToStatusErr`: the webhook's status, its code
//!   raised to at least 400, its message prefixed `admission webhook "<name>" denied the
//!   request`),
//! - `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{create,update,patch,delete}.go`
//!   (the options each operation shows: `CreateOptions`, `UpdateOptions` (also for
//!   patches), `DeleteOptions`).

use serde_json::{Map, Value, json};

use super::matching::{Invocation, Operation};
use crate::error::ApiError;
use crate::identity::UserInfo;

/// What a review says about the request, besides the objects.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The operation.
    pub operation: Operation,
    /// The request's resource: `(group, version, resource)`.
    pub resource: (String, String, String),
    /// The request's kind: `(group, version, kind)`.
    pub kind: (String, String, String),
    /// The subresource (`""` for none).
    pub subresource: String,
    /// The object's name (`""` for a create whose name is generated).
    pub name: String,
    /// The request's namespace.
    pub namespace: String,
    /// Who asks.
    pub user: UserInfo,
    /// `?dryRun=All`.
    pub dry_run: bool,
    /// The operation's options (`CreateOptions`, `UpdateOptions` or `DeleteOptions`).
    pub options: Value,
}

/// The `options` of a review: the operation's options type with the query's `dryRun`,
/// `fieldManager` and `fieldValidation` (patches show `UpdateOptions`, or `CreateOptions`
/// when an apply creates; `force` is not carried), or for a delete the request's
/// `DeleteOptions` (`delete_body`, plus the query's `dryRun`).
pub fn options(
    operation: Operation,
    query: &std::collections::HashMap<String, String>,
    delete_body: Option<&Value>,
) -> Value {
    let kind = match operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
    };
    let mut m = Map::new();
    m.insert("kind".into(), json!(kind));
    m.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    if operation == Operation::Delete {
        if let Some(body) = delete_body.and_then(Value::as_object) {
            for f in ["gracePeriodSeconds", "preconditions", "orphanDependents", "propagationPolicy", "dryRun"] {
                if let Some(v) = body.get(f).filter(|v| !v.is_null()) {
                    m.insert(f.into(), v.clone());
                }
            }
        }
        if let Some(p) = query.get("propagationPolicy").filter(|p| !p.is_empty()) {
            m.insert("propagationPolicy".into(), json!(p));
        }
        if let Some(g) = query.get("gracePeriodSeconds").and_then(|g| g.parse::<i64>().ok()) {
            m.insert("gracePeriodSeconds".into(), json!(g));
        }
    } else {
        if let Some(f) = query.get("fieldManager").filter(|f| !f.is_empty()) {
            m.insert("fieldManager".into(), json!(f));
        }
        if let Some(f) = query.get("fieldValidation").filter(|f| !f.is_empty()) {
            m.insert("fieldValidation".into(), json!(f));
        }
    }
    if let Some(d) = query.get("dryRun").filter(|d| !d.is_empty()) {
        m.insert("dryRun".into(), json!([d]));
    }
    Value::Object(m)
}

/// The admission review version kubesim sends to a webhook: the first of its
/// `admissionReviewVersions` that is `v1` or `v1beta1`.
///
/// Errors: the message upstream fails the call with when there is none.
pub fn version_for(versions: &[String]) -> Result<&'static str, String> {
    for v in versions {
        match v.as_str() {
            "v1" => return Ok("v1"),
            "v1beta1" => return Ok("v1beta1"),
            _ => {}
        }
    }
    Err("could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)"
        .into())
}

/// The `AdmissionReview` request for one invocation (`CreateV1AdmissionReview`): `object`
/// and `oldObject` are already in the invocation's kind (JSON `null` when absent, as a
/// `RawExtension` without an object serializes).
pub fn build(
    version: &str,
    uid: &str,
    inv: &Invocation,
    info: &RequestInfo,
    object: Option<Value>,
    old_object: Option<Value>,
) -> Value {
    let gvk = |(g, v, k): &(String, String, String)| json!({"group": g, "version": v, "kind": k});
    let gvr = |(g, v, r): (&str, &str, &str)| json!({"group": g, "version": v, "resource": r});
    let mut request = json!({
        "uid": uid,
        "kind": gvk(&inv.kind),
        "resource": gvr((&inv.resource.group, &inv.resource.version, &inv.resource.resource)),
        "requestKind": gvk(&info.kind),
        "requestResource": gvr((&info.resource.0, &info.resource.1, &info.resource.2)),
        "operation": info.operation.as_str(),
        "userInfo": info.user.to_json(),
        "object": object.unwrap_or(Value::Null),
        "oldObject": old_object.unwrap_or(Value::Null),
        "dryRun": info.dry_run,
        "options": info.options,
    });
    // `omitempty` strings.
    for (field, value) in [
        ("subResource", &info.subresource),
        ("requestSubResource", &info.subresource),
        ("name", &info.name),
        ("namespace", &info.namespace),
    ] {
        if !value.is_empty() {
            request[field] = json!(value);
        }
    }
    json!({"kind": "AdmissionReview", "apiVersion": format!("admission.k8s.io/{version}"), "request": request})
}

/// A webhook's verdict, from a well-formed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `response.allowed`.
    pub allowed: bool,
    /// `response.status`, if any.
    pub status: Option<Value>,
    /// `response.warnings`.
    pub warnings: Vec<String>,
}

/// Checks an answer as `VerifyAdmissionResponse` does for a validating webhook: a `v1`
/// answer must be `admission.k8s.io/v1` `AdmissionReview` with `response.uid` equal to the
/// request's; a `v1beta1` answer only needs a `response`; neither may carry a patch.
///
/// Errors: upstream's message for the first thing that is wrong.
pub fn verify(version: &str, uid: &str, answer: &Value) -> Result<Verdict, String> {
    let response = answer.get("response").filter(|r| r.is_object()).ok_or("webhook response was absent")?;
    if version == "v1" {
        let got_uid = response.get("uid").and_then(Value::as_str).unwrap_or("");
        if got_uid != uid {
            return Err(format!("expected response.uid={uid:?}, got {got_uid:?}"));
        }
        let api_version = answer.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = answer.get("kind").and_then(Value::as_str).unwrap_or("");
        if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
            let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
            return Err(format!(
                "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {}",
                if g.is_empty() { format!("/{v}, Kind={kind}") } else { format!("{g}/{v}, Kind={kind}") }
            ));
        }
        if response.get("patch").is_some_and(|p| p.as_str().is_some_and(|p| !p.is_empty())) {
            return Err("validating webhook may not return response.patch".into());
        }
        if response.get("patchType").is_some_and(|p| !p.is_null()) {
            return Err("validating webhook may not return response.patchType".into());
        }
    }
    let warnings = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| w.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    Ok(Verdict {
        allowed: response.get("allowed").and_then(Value::as_bool).unwrap_or(false),
        status: response.get("status").filter(|s| s.is_object()).cloned(),
        warnings,
    })
}

/// The error a denial answers with (`ToStatusErr`): the webhook's `status` as it set it,
/// with `code` raised to 400 when below, `status: Failure`, and the message
/// `admission webhook "<name>" denied the request: <message>` (or `: <reason>`, or
/// ` without explanation`).
pub fn denial(webhook: &str, status: Option<&Value>) -> ApiError {
    let mut s = status.cloned().unwrap_or_else(|| json!({}));
    let code = s.get("code").and_then(Value::as_i64).unwrap_or(0);
    let code = if code < 400 { 400 } else { code.min(599) };
    if s.get("status").and_then(Value::as_str).is_none_or(|st| st.is_empty() || st == "Success") {
        s["status"] = json!("Failure");
    }
    let denied_by = format!("admission webhook {webhook:?} denied the request");
    let message = s.get("message").and_then(Value::as_str).filter(|m| !m.is_empty());
    let reason = s.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty());
    s["message"] = json!(match (message, reason) {
        (Some(m), _) => format!("{denied_by}: {m}"),
        (None, Some(r)) => format!("{denied_by}: {r}"),
        (None, None) => format!("{denied_by} without explanation"),
    });
    ApiError::from_status(u16::try_from(code).unwrap_or(400), s)
}

/// The 400 of a dry run that a webhook with side effects would see
/// (`NewDryRunUnsupportedErr`).
pub fn dry_run_unsupported(webhook: &str) -> ApiError {
    ApiError::bad_request(format!("admission webhook {webhook:?} does not support dry run"))
}

/// The error of a failed call under `failurePolicy: Fail`: `NewInternalError` of
/// `failed calling webhook "<name>": <reason>`.
pub fn call_failed(webhook: &str, reason: &str) -> ApiError {
    ApiError::internal_error(&format!("failed calling webhook {webhook:?}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_as_upstream() {
        let e = denial("a.b.c", Some(&json!({"code": 403, "reason": "Forbidden", "message": "no"})));
        let s = e.status();
        assert_eq!(
            (e.code, &s["reason"], &s["message"]),
            (403, &json!("Forbidden"), &json!("admission webhook \"a.b.c\" denied the request: no"))
        );
        assert_eq!(s["status"], "Failure");
        let e = denial("a.b.c", None);
        assert_eq!(
            (e.code, e.status()["message"].clone()),
            (400, json!("admission webhook \"a.b.c\" denied the request without explanation"))
        );
        assert!(e.status().get("reason").is_none());
        let e = denial("a.b.c", Some(&json!({"code": 200, "reason": "NotAllowed"})));
        assert_eq!(
            (e.code, e.status()["message"].clone()),
            (400, json!("admission webhook \"a.b.c\" denied the request: NotAllowed"))
        );
    }

    #[test]
    fn answers_are_checked() {
        let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "u", "allowed": true, "warnings": ["w"]}});
        assert_eq!(verify("v1", "u", &ok), Ok(Verdict { allowed: true, status: None, warnings: vec!["w".into()] }));
        assert_eq!(verify("v1", "x", &ok), Err("expected response.uid=\"x\", got \"u\"".into()));
        assert_eq!(verify("v1", "u", &json!({})), Err("webhook response was absent".into()));
        let wrong =
            json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "response": {"uid": "u"}});
        assert_eq!(
            verify("v1", "u", &wrong),
            Err("expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview".into())
        );
        assert!(verify("v1beta1", "u", &wrong).is_ok(), "v1beta1 answers are not checked");
    }

    #[test]
    fn options_per_operation() {
        let q: std::collections::HashMap<String, String> =
            [("fieldManager".to_string(), "kubectl-patch".to_string()), ("dryRun".to_string(), "All".to_string())]
                .into();
        assert_eq!(
            options(Operation::Update, &q, None),
            json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-patch", "dryRun": ["All"]})
        );
        let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        assert_eq!(
            options(Operation::Delete, &Default::default(), Some(&body)),
            json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "propagationPolicy": "Background"})
        );
    }
}
