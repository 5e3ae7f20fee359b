//! Defaulting and validation of the RBAC kinds.
//!
//! Sources: `pkg/apis/rbac/validation/validation.go` (`ValidateRBACName`,
//! `ValidatePolicyRule`, `ValidateRoleBinding[Update]`, `ValidateRoleBindingSubject`,
//! `ValidateClusterRole`'s aggregation rule) and `pkg/apis/rbac/v1/defaults.go`
//! (`SetDefaults_Subject`, `SetDefaults_RoleBinding`, `SetDefaults_ClusterRoleBinding`).
//! Not modelled: the escalation check (`pkg/registry/rbac/escalation_check.go`) that keeps a
//! user from granting permissions they lack; kubesim's clients may grant anything.

use serde_json::{Value, json};

use super::{GROUP, strings};
use crate::error::Cause;
use crate::selectors::go_quote;

/// `ValidateRBACName` (`path.IsValidPathSegmentName`): RBAC names may hold `:` and other
/// characters DNS names may not, but not `/` or `%`, and may not be `.` or `..`.
pub fn name_errors(name: &str) -> Vec<String> {
    let mut out = vec![];
    if name == "." || name == ".." {
        out.push(format!("may not be '{name}'"));
    }
    for c in ["/", "%"] {
        if name.contains(c) {
            out.push(format!("may not contain '{c}'"));
        }
    }
    out
}

fn required(field: &str, detail: &str) -> Cause {
    let mut c = Cause::required(field);
    if !detail.is_empty() {
        c.message = format!("Required value: {detail}");
    }
    c
}

/// `field.NotSupported`: `Unsupported value: "x": supported values: "a", "b"`.
fn not_supported(field: &str, value: &str, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!("Unsupported value: {}: supported values: {}", go_quote(value), list.join(", ")),
        field: field.into(),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Defaults and validates a stored RBAC object of `kind` (`Role`, `ClusterRole`,
/// `RoleBinding`, `ClusterRoleBinding`); `old` is the stored object on update.
pub fn default_and_validate(kind: &str, obj: &mut Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    match kind {
        "Role" | "ClusterRole" => {
            let namespaced = kind == "Role";
            for (i, rule) in obj.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
                policy_rule(rule, namespaced, &format!("rules[{i}]"), causes);
            }
            if let Some(agg) = obj.get("aggregationRule").filter(|a| !a.is_null())
                && agg.get("clusterRoleSelectors").and_then(Value::as_array).is_none_or(Vec::is_empty)
            {
                causes.push(required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => binding(kind == "RoleBinding", obj, old, causes),
        _ => {}
    }
}

/// `ValidatePolicyRule`.
fn policy_rule(rule: &Value, namespaced: bool, path: &str, causes: &mut Vec<Cause>) {
    if strings(rule, "verbs").is_empty() {
        causes.push(required(&format!("{path}.verbs"), "verbs must contain at least one value"));
    }
    let urls = strings(rule, "nonResourceURLs");
    if !urls.is_empty() {
        let field = format!("{path}.nonResourceURLs");
        if namespaced {
            causes.push(Cause::invalid(&field, &json!(urls), "namespaced rules cannot apply to non-resource URLs"));
        }
        if !strings(rule, "apiGroups").is_empty()
            || !strings(rule, "resources").is_empty()
            || !strings(rule, "resourceNames").is_empty()
        {
            causes.push(Cause::invalid(
                &field,
                &json!(urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if strings(rule, "apiGroups").is_empty() {
        causes.push(required(&format!("{path}.apiGroups"), "resource rules must supply at least one api group"));
    }
    if strings(rule, "resources").is_empty() {
        causes.push(required(&format!("{path}.resources"), "resource rules must supply at least one resource"));
    }
}

/// Defaults (`roleRef.apiGroup`, each subject's `apiGroup`) and validates a binding.
fn binding(namespaced: bool, obj: &mut Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    if obj.get("roleRef").is_some_and(Value::is_object) && str_at(obj, "/roleRef/apiGroup").is_empty() {
        obj["roleRef"]["apiGroup"] = json!(GROUP);
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects.iter_mut().filter(|s| s.is_object()) {
            if str_at(s, "/apiGroup").is_empty() {
                match str_at(s, "/kind") {
                    "User" | "Group" => s["apiGroup"] = json!(GROUP),
                    // Defaulted to "", which `omitempty` leaves out of the JSON.
                    _ => {
                        s.as_object_mut().map(|m| m.remove("apiGroup"));
                    }
                }
            }
        }
    }
    let api_group = str_at(obj, "/roleRef/apiGroup");
    if api_group != GROUP {
        causes.push(not_supported("roleRef.apiGroup", api_group, &[GROUP]));
    }
    let kind = str_at(obj, "/roleRef/kind");
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&kind) {
        causes.push(not_supported("roleRef.kind", kind, kinds));
    }
    let name = str_at(obj, "/roleRef/name");
    if name.is_empty() {
        causes.push(Cause::required("roleRef.name"));
    }
    for msg in name_errors(name) {
        causes.push(Cause::invalid("roleRef.name", &json!(name), &msg));
    }
    for (i, s) in obj.get("subjects").and_then(Value::as_array).into_iter().flatten().enumerate() {
        subject(s, namespaced, &format!("subjects[{i}]"), causes);
    }
    if let Some(old) = old
        && old.get("roleRef") != obj.get("roleRef")
    {
        causes.push(Cause::invalid("roleRef", obj.get("roleRef").unwrap_or(&Value::Null), "cannot change roleRef"));
    }
}

/// `ValidateRoleBindingSubject`.
fn subject(s: &Value, namespaced: bool, path: &str, causes: &mut Vec<Cause>) {
    if str_at(s, "/name").is_empty() {
        causes.push(Cause::required(&format!("{path}.name")));
    }
    let api_group = str_at(s, "/apiGroup");
    match str_at(s, "/kind") {
        "ServiceAccount" => {
            if !api_group.is_empty() {
                causes.push(not_supported(&format!("{path}.apiGroup"), api_group, &[""]));
            }
            if !namespaced && str_at(s, "/namespace").is_empty() {
                causes.push(Cause::required(&format!("{path}.namespace")));
            }
        }
        "User" | "Group" => {
            if api_group != GROUP {
                causes.push(not_supported(&format!("{path}.apiGroup"), api_group, &[GROUP]));
            }
        }
        other => causes.push(not_supported(&format!("{path}.kind"), other, &["ServiceAccount", "User", "Group"])),
    }
}
