//! ClusterRole aggregation: a ClusterRole with an `aggregationRule` gets as its `rules` the
//! rules of every other ClusterRole whose labels match one of its `clusterRoleSelectors`.
//!
//! Source: `syncClusterRole` in
//! `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`: for each
//! selector in order, the matching ClusterRoles sorted by name (the role itself skipped),
//! each rule appended unless an equal one is already there; the role is updated only when
//! the result differs (semantically: a missing list equals an empty one).
//!
//! The real controller runs asynchronously in kube-controller-manager; kubesim runs it
//! synchronously after every committed ClusterRole write (from [`crate::store::StoreInner::commit`]),
//! so a write's answer still shows the rules as written, and the aggregated rules follow as
//! a separate change (field manager `clusterrole-aggregation-controller`) before the write
//! returns.

use serde_json::{Value, json};

use super::{CLUSTER_ROLES, PolicyRule};
use crate::selectors::LabelSelector;
use crate::store::{StoreInner, WriteRecord};

/// The field manager the aggregation's writes are recorded with.
pub const FIELD_MANAGER: &str = "clusterrole-aggregation-controller";

/// The JSON form of a rule, with empty lists left out as the API server's `omitempty`
/// does (`verbs` has no `omitempty` and is always written).
fn rule_json(rule: &PolicyRule) -> Value {
    let mut v = json!({"verbs": rule.verbs});
    for (key, list) in [
        ("apiGroups", &rule.api_groups),
        ("resources", &rule.resources),
        ("resourceNames", &rule.resource_names),
        ("nonResourceURLs", &rule.non_resource_urls),
    ] {
        if !list.is_empty() {
            v[key] = json!(list);
        }
    }
    v
}

fn rules_of(role: &Value) -> Vec<PolicyRule> {
    role.get("rules").and_then(Value::as_array).into_iter().flatten().map(PolicyRule::from_json).collect()
}

/// The rules the aggregation gives `role` from `all` ClusterRoles (sorted by name), or
/// `None` when it has no `aggregationRule`. A selector that cannot be parsed matches nothing.
pub fn aggregated_rules(role: &Value, all: &[(String, Value)]) -> Option<Vec<PolicyRule>> {
    let selectors = role.pointer("/aggregationRule/clusterRoleSelectors")?;
    let name = role.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let mut rules: Vec<PolicyRule> = vec![];
    for sel in selectors.as_array().into_iter().flatten() {
        let Ok(sel) = LabelSelector::from_object(sel) else { continue };
        for (other_name, other) in all {
            if other_name == name || !sel.matches_object(other) {
                continue;
            }
            for rule in rules_of(other) {
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
    }
    Some(rules)
}

/// Runs the aggregation over every stored ClusterRole until nothing changes (an aggregated
/// role may itself be aggregated into another), committing each changed role.
pub fn aggregate(store: &mut StoreInner) {
    let rounds = store.snapshot(CLUSTER_ROLES).len() + 1;
    for _ in 0..rounds {
        // Sorted by name: the store's keys of cluster-scoped objects are ("", name).
        let all: Vec<(String, Value)> =
            store.snapshot(CLUSTER_ROLES).iter().map(|((_, name), v)| (name.clone(), (**v).clone())).collect();
        let mut changed = false;
        for (name, role) in &all {
            let Some(rules) = aggregated_rules(role, &all) else { continue };
            if rules == rules_of(role) {
                continue;
            }
            let mut updated = role.clone();
            updated["rules"] = Value::Array(rules.iter().map(rule_json).collect());
            if store.commit(CLUSTER_ROLES, (String::new(), name.clone()), Some(updated)).is_some() {
                store.record_write(WriteRecord {
                    rv: store.rv,
                    verb: "update".into(),
                    resource: "clusterroles".into(),
                    subresource: None,
                    namespace: String::new(),
                    name: name.clone(),
                    field_manager: FIELD_MANAGER.into(),
                });
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}
