//! Defaulting and validation of the built-in kinds, as far as scalekeeper's dealings need.
//!
//! Rules come from `k8s.io/apimachinery/pkg/util/validation` (names: owned by
//! [`kube_selectors::validation`], called here) and `pkg/apis/apps/validation` +
//! `pkg/apis/apps/v1/defaults.go` (Deployments).

use serde_json::{Value, json};

use crate::error::Cause;
use crate::resources::{Behavior, ResourceDef};
use crate::selectors::LabelSelector;
use crate::selectors::validation::{
    LABEL_VALUE_RULE, dns1123_label_regex_error, dns1123_subdomain_regex_error, is_dns1123_label, is_dns1123_subdomain,
    is_label_key, is_label_value,
};

/// Validates an object name for `def` (Namespaces: DNS-1123 label; RBAC kinds: a path
/// segment, see [`crate::rbac::name_errors`]; everything else here: DNS-1123 subdomain).
/// Returns the causes for a 422: one, with the pattern's message, even when the name is
/// only too long.
pub fn name(def: &ResourceDef, name: &str) -> Vec<Cause> {
    let (ok, rule) = match def.behavior {
        Behavior::Rbac => {
            return crate::rbac::name_errors(name)
                .iter()
                .map(|msg| Cause::invalid("metadata.name", &json!(name), msg))
                .collect();
        }
        Behavior::Namespace => (is_dns1123_label(name), dns1123_label_regex_error()),
        _ => (is_dns1123_subdomain(name), dns1123_subdomain_regex_error()),
    };
    if ok { vec![] } else { vec![Cause::invalid("metadata.name", &json!(name), &rule)] }
}

/// The label every Namespace carries with its own name (`kubernetes.io/metadata.name`).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Applies defaults and validates `obj` (storage shape) for its kind; `old` is the stored
/// object on update. Appends causes for a 422. A Namespace gets its name label, as upstream's
/// namespace strategy sets it.
pub fn default_and_validate(def: &ResourceDef, obj: &mut Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    validate_metadata(obj, causes);
    match def.behavior {
        Behavior::Deployment => deployment(obj, old, causes),
        Behavior::Namespace => {
            if old.is_none() {
                obj["status"] = json!({"phase": "Active"});
            }
            // Every Namespace carries its name as a label, whatever the request said, so that
            // selectors (a webhook's namespaceSelector, a NetworkPolicy's) can name it: upstream's
            // namespace strategy Canonicalize, from 1.21 (NamespaceDefaultLabelName, GA 1.22).
            if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned) {
                let meta = &mut obj["metadata"];
                if !meta.get("labels").is_some_and(Value::is_object) {
                    meta["labels"] = json!({});
                }
                meta["labels"][NAMESPACE_NAME_LABEL] = json!(name);
            }
            if obj.pointer("/spec/finalizers").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        Behavior::Lease => {
            if let Some(d) = obj.pointer("/spec/leaseDurationSeconds")
                && d.as_i64().is_none_or(|d| d <= 0)
            {
                causes.push(Cause::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
            }
        }
        Behavior::Hpa => {
            if obj.pointer("/spec/scaleTargetRef/name").and_then(Value::as_str).is_none_or(str::is_empty) {
                causes.push(Cause::required("spec.scaleTargetRef.name"));
            }
            match obj.pointer("/spec/maxReplicas").and_then(Value::as_i64) {
                Some(m) if m >= 1 => {}
                Some(m) => {
                    causes.push(Cause::invalid("spec.maxReplicas", &json!(m), "must be greater than or equal to 1"))
                }
                None => causes.push(Cause::required("spec.maxReplicas")),
            }
        }
        Behavior::Event => {
            if obj.get("involvedObject").is_none() {
                causes.push(Cause::required("involvedObject"));
            }
        }
        Behavior::Rbac => crate::rbac::default_and_validate(&def.kind, obj, old, causes),
        Behavior::WebhookConfig => {
            crate::admission::config::default(obj);
            crate::admission::config::validate(obj, causes);
        }
        Behavior::Crd | Behavior::Custom | Behavior::AccessReview | Behavior::SelfSubjectReview => {}
    }
}

fn validate_metadata(obj: &Value, causes: &mut Vec<Cause>) {
    for field in ["labels", "annotations"] {
        match obj.pointer(&format!("/metadata/{field}")) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    if !v.is_string() {
                        causes.push(Cause::invalid(&format!("metadata.{field}"), v, "must be a string"));
                    } else if field == "labels" && v.as_str().is_some_and(|s| !is_label_key(k) || !is_label_value(s)) {
                        causes.push(Cause::invalid("metadata.labels", v, LABEL_VALUE_RULE));
                    }
                }
            }
            Some(other) => causes.push(Cause::invalid(&format!("metadata.{field}"), other, "must be an object")),
        }
    }
}

/// Deployment defaults (apps/v1 defaults.go) and validation (apps validation.go).
fn deployment(obj: &mut Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        causes.push(Cause::required("spec"));
        return;
    }
    let spec = &mut obj["spec"];
    if spec.get("replicas").is_none_or(Value::is_null) {
        spec["replicas"] = json!(1);
    }
    if spec.get("strategy").is_none() {
        spec["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
    }
    for (k, d) in [("revisionHistoryLimit", 10), ("progressDeadlineSeconds", 600)] {
        if spec.get(k).is_none() {
            spec[k] = json!(d);
        }
    }
    match spec.get("replicas").and_then(Value::as_i64) {
        Some(r) if r >= 0 && r <= i64::from(i32::MAX) => {}
        Some(r) => causes.push(Cause::invalid("spec.replicas", &json!(r), "must be greater than or equal to 0")),
        None => causes.push(Cause::invalid("spec.replicas", &spec["replicas"], "must be an integer")),
    }
    let selector = match spec.get("selector") {
        None | Some(Value::Null) => {
            causes.push(Cause::required("spec.selector"));
            None
        }
        Some(s) => match LabelSelector::from_object(s) {
            Ok(sel) if sel.is_empty() => {
                causes.push(Cause::invalid("spec.selector", s, "empty selector is invalid for deployment"));
                None
            }
            Ok(sel) => Some(sel),
            Err(e) => {
                causes.push(Cause::invalid("spec.selector", s, &e.to_string()));
                None
            }
        },
    };
    let template_labels = spec.pointer("/template/metadata/labels").cloned();
    if spec.get("template").is_none() {
        causes.push(Cause::required("spec.template"));
    } else if let Some(sel) = selector
        && !sel.matches(template_labels.as_ref().and_then(Value::as_object))
    {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            &template_labels.unwrap_or(json!({})),
            "`selector` does not match template `labels`",
        ));
    }
    // Container names are DNS-1123 labels (`validateContainers` in pkg/apis/core/validation).
    for kind in ["initContainers", "containers"] {
        let containers = obj.pointer(&format!("/spec/template/spec/{kind}")).and_then(Value::as_array);
        for (i, c) in containers.into_iter().flatten().enumerate() {
            match c.get("name").and_then(Value::as_str) {
                Some(n) if is_dns1123_label(n) => {}
                Some(n) => causes.push(Cause::invalid(
                    &format!("spec.template.spec.{kind}[{i}].name"),
                    &json!(n),
                    &dns1123_label_regex_error(),
                )),
                None => causes.push(Cause::required(&format!("spec.template.spec.{kind}[{i}].name"))),
            }
        }
    }
    deployment_status(obj, causes);
    if let Some(old) = old
        && old.pointer("/spec/selector") != obj.pointer("/spec/selector")
    {
        causes.push(Cause::invalid(
            "spec.selector",
            obj.pointer("/spec/selector").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

/// `ValidateDeploymentStatus` (pkg/apis/apps/validation): counts are not negative, none is
/// above `status.replicas`, and no more are available than ready. Appends causes for a 422.
pub fn deployment_status(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(status) = obj.get("status").and_then(Value::as_object) else { return };
    let count = |k: &str| status.get(k).and_then(Value::as_i64).unwrap_or(0);
    for k in [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ] {
        if count(k) < 0 {
            causes.push(Cause::invalid(&format!("status.{k}"), &json!(count(k)), "must be greater than or equal to 0"));
        }
    }
    for k in ["updatedReplicas", "readyReplicas", "availableReplicas"] {
        if count(k) > count("replicas") {
            causes.push(Cause::invalid(
                &format!("status.{k}"),
                &json!(count(k)),
                "cannot be greater than status.replicas",
            ));
        }
    }
    if count("availableReplicas") > count("readyReplicas") {
        causes.push(Cause::invalid(
            "status.availableReplicas",
            &json!(count("availableReplicas")),
            "cannot be greater than readyReplicas",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> ResourceDef {
        crate::resources::builtins().into_iter().find(|d| d.plural == "deployments").expect("deployments")
    }

    fn dep(replicas: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}})
    }

    #[test]
    fn container_names_are_dns_labels_and_status_counts_consistent() {
        let mut d = dep(json!(1));
        d["spec"]["template"]["spec"]["containers"] = json!([{"name": "app"}, {"name": "Bad_Name"}]);
        let mut causes = vec![];
        default_and_validate(&deployments(), &mut d, None, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.template.spec.containers[1].name"]);

        let mut d = dep(json!(1));
        d["status"] = json!({"replicas": 1, "readyReplicas": 0, "availableReplicas": 1, "updatedReplicas": 2});
        let mut causes = vec![];
        default_and_validate(&deployments(), &mut d, None, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["status.updatedReplicas", "status.availableReplicas"]);
    }

    #[test]
    fn dns_names() {
        let namespaces =
            crate::resources::builtins().into_iter().find(|d| d.plural == "namespaces").expect("namespaces");
        assert!(name(&namespaces, "a-1").is_empty());
        let bad = name(&namespaces, "a.b");
        assert_eq!(bad.len(), 1);
        assert!(bad[0].message.contains("a lowercase RFC 1123 label must consist of"), "{bad:?}");
        assert!(name(&deployments(), "a.b-c").is_empty());
        // As the API server: a subdomain's parts are not limited to 63 bytes, only the whole to 253.
        assert!(name(&deployments(), &"a".repeat(64)).is_empty());
        let bad = name(&deployments(), "Bad_Name");
        assert_eq!(bad.len(), 1);
        assert!(bad[0].message.contains("a lowercase RFC 1123 subdomain must consist of"), "{bad:?}");
        assert_eq!(name(&deployments(), &"a".repeat(254)).len(), 1);
    }

    #[test]
    fn labels_follow_the_label_rules() {
        let mut d = dep(json!(1));
        d["metadata"]["labels"] = json!({"in": "x", "example.com/tier": "", "bad key": "v", "k": "-v"});
        let mut causes = vec![];
        default_and_validate(&deployments(), &mut d, None, &mut causes);
        let bad: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(bad.len(), 2, "{causes:?}");
        assert!(bad.iter().all(|m| m.ends_with(LABEL_VALUE_RULE)), "{causes:?}");
    }

    #[test]
    fn deployment_defaults_replicas_and_refuses_negative() {
        let mut ok = dep(Value::Null);
        let mut causes = vec![];
        default_and_validate(&deployments(), &mut ok, None, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(ok["spec"]["replicas"], 1);

        let mut bad = dep(json!(-1));
        default_and_validate(&deployments(), &mut bad, None, &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.replicas");
        assert_eq!(causes[0].message, "Invalid value: -1: must be greater than or equal to 0");
    }

    #[test]
    fn deployment_selector_must_match_template_and_is_immutable() {
        let mut d = dep(json!(1));
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        let mut causes = vec![];
        default_and_validate(&deployments(), &mut d, None, &mut causes);
        assert_eq!(causes[0].field, "spec.template.metadata.labels");

        let old = dep(json!(1));
        let mut new = dep(json!(1));
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "x": "y"}});
        new["spec"]["template"]["metadata"]["labels"]["x"] = json!("y");
        let mut causes = vec![];
        default_and_validate(&deployments(), &mut new, Some(&old), &mut causes);
        assert!(causes.iter().any(|c| c.message.contains("field is immutable")), "{causes:?}");
    }
}
