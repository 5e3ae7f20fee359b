//! `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`: a create-only, never stored
//! resource whose answer is the review with its `status` filled in.
//!
//! Sources: `pkg/registry/authorization/subjectaccessreview/rest.go` (`Create`),
//! `pkg/apis/authorization/validation/validation.go` (`ValidateSubjectAccessReviewSpec`) and
//! `pkg/registry/authorization/util/helpers.go` (`AuthorizationAttributesFrom`: the user,
//! the groups as given, the attributes; `IsResourceRequest` only with `resourceAttributes`).

use serde_json::{Value, json};

use super::{Attributes, Request, authorize, strings};
use crate::error::{ApiError, Cause};
use crate::store::StoreInner;

/// The group of a review, and its kind.
const GROUP: &str = "authorization.k8s.io";
const KIND: &str = "SubjectAccessReview";

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The attributes of a review's `spec`, or the 422 the real server answers when neither or
/// both of `resourceAttributes` and `nonResourceAttributes` are given, or neither `user` nor
/// `groups`.
pub fn attributes(spec: &Value) -> Result<Attributes, ApiError> {
    let res = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let user = s(spec, "user");
    let groups = strings(spec, "groups");
    let mut causes = vec![];
    if res.is_some() && non.is_some() {
        causes.push(Cause::invalid(
            "spec.nonResourceAttributes",
            non.unwrap_or(&json!("null")),
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if res.is_none() && non.is_none() {
        causes.push(Cause::invalid(
            "spec.resourceAttributes",
            // apimachinery's field errors print a nil pointer as the string "null".
            &json!("null"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    if user.is_empty() && groups.is_empty() {
        causes.push(Cause::invalid("spec.user", &json!(user), "at least one of user or group must be specified"));
    }
    if !causes.is_empty() {
        // The registry names the kind of the decoded review, whose TypeMeta is empty by
        // then: `.authorization.k8s.io "" is invalid`, details.kind "".
        return Err(ApiError::invalid(&format!(".{GROUP}"), GROUP, "", "", causes));
    }
    let (verb, request) = match (res, non) {
        (Some(r), _) => (
            s(r, "verb"),
            Request::Resource {
                namespace: s(r, "namespace"),
                group: s(r, "group"),
                resource: s(r, "resource"),
                subresource: s(r, "subresource"),
                name: s(r, "name"),
            },
        ),
        (None, n) => {
            let n = n.unwrap_or(&Value::Null);
            (s(n, "verb"), Request::NonResource { path: s(n, "path") })
        }
    };
    Ok(Attributes { user, groups, verb, request })
}

/// Answers a `SubjectAccessReview` `body`: the review as sent, with `status.allowed`,
/// `status.reason` (left out when empty, as `omitempty` does) and `status.denied` (never
/// true: RBAC has no opinion rather than denying).
pub fn review(store: &StoreInner, body: Value) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let attrs = attributes(&spec)?;
    let decision = authorize(store, &attrs);
    let mut out = body;
    out["apiVersion"] = json!(format!("{GROUP}/v1"));
    out["kind"] = json!(KIND);
    if !out.get("metadata").is_some_and(Value::is_object) {
        out["metadata"] = json!({});
    }
    out["metadata"]["creationTimestamp"] = Value::Null;
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    out["status"] = status;
    Ok(out)
}
