//! Which webhooks a request selects: rules (operation, group, version, resource and
//! subresource, scope), `matchPolicy: Equivalent`, `namespaceSelector` and `objectSelector`.
//!
//! Sources (Kubernetes v1.20, unchanged in substance in 1.33):
//! - `staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/generic/webhook.go`
//!   (`ShouldCallHook`: selectors, then rules, then equivalent resources),
//! - `.../webhook/predicates/rules/rules.go` (`Matcher`: scope, operation, group, version,
//!   `resource/subresource` with `*` on either side),
//! - `.../webhook/namespace/matcher.go` (`MatchNamespaceSelector`: cluster-scoped requests
//!   other than Namespaces always match; a Namespace's own labels on its create and update),
//! - `.../webhook/object/matcher.go` (`MatchObjectSelector`: the object's or the old object's
//!   labels; an absent object matches nothing).
//!
//! kubesim checks the rules first and the selectors only for webhooks whose rules select
//! the request: the outcome is the same (all three must hold), and a request no rule
//! selects costs no label lookups.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::config::{Rule, Webhook};
use crate::error::ApiError;
pub use crate::registry::Operation;
use crate::registry::Sub;
use crate::resources::{Behavior, ResourceDef};
use crate::store::StoreInner;

/// What a request does, as matching needs it (`admission.Attributes`).
#[derive(Debug)]
pub struct Attributes<'a> {
    /// The operation.
    pub operation: Operation,
    /// The resource addressed.
    pub def: &'a ResourceDef,
    /// The version it was addressed in.
    pub version: &'a str,
    /// The subresource.
    pub sub: Sub,
    /// The request's namespace: the URL's for namespaced resources, `""` for cluster-scoped
    /// ones, a Namespace's own name for writes to it other than create.
    pub namespace: &'a str,
    /// The object after the write (storage shape), if any.
    pub object: Option<&'a Value>,
    /// The object before the write (storage shape), if any.
    pub old_object: Option<&'a Value>,
}

/// A group, version and resource, as a review names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gvr {
    /// The API group (`""` for core).
    pub group: String,
    /// The version.
    pub version: String,
    /// The resource (plural).
    pub resource: String,
}

/// A webhook to call for a request, and in which version to show it the objects
/// (`generic.WebhookInvocation`).
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The webhook.
    pub webhook: Arc<Webhook>,
    /// The resource the matching rule named: the request's, or an equivalent one.
    pub resource: Gvr,
    /// The resource definition of `resource` (to convert the objects).
    pub def: ResourceDef,
    /// The kind the objects are shown as: `(group, version, kind)`.
    pub kind: (String, String, String),
}

fn exact_or_wildcard(items: &[String], requested: &str) -> bool {
    items.iter().any(|i| i == "*" || i == requested)
}

/// Whether `rule` selects `op` on `gvr`/`sub` in `namespace` (`rules.Matcher.Matches`).
pub fn rule_matches(rule: &Rule, op: Operation, gvr: &Gvr, sub: &str, namespace: &str) -> bool {
    let is_namespaces = gvr.group.is_empty() && gvr.version == "v1" && gvr.resource == "namespaces";
    let scope = match rule.scope.as_str() {
        "" | "*" => true,
        "Namespaced" => !is_namespaces && !namespace.is_empty(),
        "Cluster" => is_namespaces || namespace.is_empty(),
        _ => false,
    };
    let operation = rule.operations.iter().any(|o| o == "*" || o == op.as_str());
    let resource = rule.resources.iter().any(|r| {
        let (res, s) = r.split_once('/').unwrap_or((r.as_str(), ""));
        (res == "*" || res == gvr.resource) && (s == "*" || s == sub)
    });
    scope
        && operation
        && exact_or_wildcard(&rule.api_groups, &gvr.group)
        && exact_or_wildcard(&rule.api_versions, &gvr.version)
        && resource
}

/// The kind a request on `def` at `version` and `sub` shows its objects as.
fn kind_of(def: &ResourceDef, version: &str, sub: Sub) -> (String, String, String) {
    match sub {
        Sub::Scale => ("autoscaling".into(), "v1".into(), "Scale".into()),
        _ => (def.group.clone(), version.to_string(), def.kind.clone()),
    }
}

fn gvr(def: &ResourceDef, version: &str) -> Gvr {
    Gvr { group: def.group.clone(), version: version.to_string(), resource: def.plural.clone() }
}

/// The resources equivalent to `def` (the same storage: autoscaling/v1 and v2
/// HorizontalPodAutoscalers, core/v1 and events.k8s.io/v1 Events), each served version, the
/// request's own first; for a subresource only those that have it
/// (`EquivalentResourcesFor`).
fn equivalents<'a>(resources: &'a [ResourceDef], def: &ResourceDef, sub: Sub) -> Vec<(&'a ResourceDef, &'a str)> {
    let mut out = vec![];
    for r in resources.iter().filter(|r| r.storage == def.storage) {
        let has_sub = match sub {
            Sub::Main => true,
            Sub::Status => r.status_subresource,
            Sub::Scale => r.scale.is_some(),
        };
        if has_sub {
            out.extend(r.versions.iter().map(|v| (r, v.as_str())));
        }
    }
    out
}

/// The invocation of `hook` for `attrs`, if its rules select the request (directly, or
/// through an equivalent resource under `matchPolicy: Equivalent`), before selectors.
fn by_rules(hook: &Arc<Webhook>, store: &StoreInner, attrs: &Attributes<'_>) -> Option<Invocation> {
    let sub = attrs.sub.name().unwrap_or("");
    let own = gvr(attrs.def, attrs.version);
    if hook.rules.iter().any(|r| rule_matches(r, attrs.operation, &own, sub, attrs.namespace)) {
        return Some(Invocation {
            webhook: hook.clone(),
            resource: own,
            def: attrs.def.clone(),
            kind: kind_of(attrs.def, attrs.version, attrs.sub),
        });
    }
    if !hook.match_equivalent {
        return None;
    }
    let equivalents = equivalents(&store.resources, attrs.def, attrs.sub);
    // Earlier rules first, as upstream's `OuterLoop`.
    for rule in &hook.rules {
        for (def, version) in &equivalents {
            let candidate = gvr(def, version);
            if candidate == own {
                continue;
            }
            if rule_matches(rule, attrs.operation, &candidate, sub, attrs.namespace) {
                return Some(Invocation {
                    webhook: hook.clone(),
                    resource: candidate,
                    def: (*def).clone(),
                    kind: kind_of(def, version, attrs.sub),
                });
            }
        }
    }
    None
}

fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

/// The labels the namespace selector is evaluated against, as `GetNamespaceLabels`: a
/// Namespace's own (new) labels on its create and update, else the labels of the request's
/// Namespace.
///
/// Errors: 404 when that Namespace does not exist.
fn namespace_labels<'a>(
    store: &'a StoreInner,
    attrs: &'a Attributes<'a>,
) -> Result<Option<Map<String, Value>>, ApiError> {
    if attrs.def.behavior == Behavior::Namespace
        && attrs.sub == Sub::Main
        && matches!(attrs.operation, Operation::Create | Operation::Update)
    {
        return Ok(attrs.object.and_then(labels).cloned());
    }
    let ns = store
        .get("namespaces", &(String::new(), attrs.namespace.to_string()))
        .ok_or_else(|| ApiError::not_found("namespaces", "", "namespaces", attrs.namespace))?;
    Ok(labels(&ns).cloned())
}

/// Whether `hook`'s namespace selector admits `attrs` (`MatchNamespaceSelector`).
///
/// Errors: an unparsable selector (internal error), a missing Namespace (404).
fn namespace_matches(hook: &Webhook, store: &StoreInner, attrs: &Attributes<'_>) -> Result<bool, ApiError> {
    if attrs.namespace.is_empty() && attrs.def.behavior != Behavior::Namespace {
        return Ok(true);
    }
    let selector = hook.namespace_selector.as_ref().map_err(|e| ApiError::internal_error(e))?;
    if selector.is_empty() {
        return Ok(true);
    }
    Ok(selector.matches(namespace_labels(store, attrs)?.as_ref()))
}

/// Whether `hook`'s object selector admits `attrs` (`MatchObjectSelector`): the object's or
/// the old object's labels match. A `Scale` has no labels, so a non-empty selector that
/// needs one never selects a request on the `scale` subresource, as upstream.
///
/// Errors: an unparsable selector (internal error).
fn object_matches(hook: &Webhook, attrs: &Attributes<'_>) -> Result<bool, ApiError> {
    let selector = hook.object_selector.as_ref().map_err(|e| ApiError::internal_error(e))?;
    if selector.is_empty() {
        return Ok(true);
    }
    let empty = Map::new();
    let of = |obj: Option<&Value>| {
        obj.is_some_and(|o| {
            let l = if attrs.sub == Sub::Scale { Some(&empty) } else { labels(o) };
            selector.matches(l)
        })
    };
    Ok(of(attrs.object) || of(attrs.old_object))
}

/// The webhooks of `hooks` that `attrs` selects, in order, each with the version it is
/// called with.
///
/// Errors: as `namespace_matches` and `object_matches`, for a webhook whose rules
/// select the request (upstream reports selector errors only then).
pub fn select(hooks: &[Arc<Webhook>], store: &StoreInner, attrs: &Attributes<'_>) -> Result<Vec<Invocation>, ApiError> {
    let mut out = vec![];
    for hook in hooks {
        let Some(inv) = by_rules(hook, store, attrs) else { continue };
        if namespace_matches(hook, store, attrs)? && object_matches(hook, attrs)? {
            out.push(inv);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ops: &[&str], groups: &[&str], resources: &[&str], scope: &str) -> Rule {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
        Rule {
            operations: v(ops),
            api_groups: v(groups),
            api_versions: v(&["*"]),
            resources: v(resources),
            scope: scope.into(),
        }
    }

    fn deployments() -> Gvr {
        Gvr { group: "apps".into(), version: "v1".into(), resource: "deployments".into() }
    }

    #[test]
    fn rules_match_resources_and_subresources_as_upstream() {
        let d = deployments();
        let r = rule(&["UPDATE"], &["apps"], &["deployments"], "*");
        assert!(rule_matches(&r, Operation::Update, &d, "", "shop"));
        assert!(!rule_matches(&r, Operation::Update, &d, "scale", "shop"), "`deployments` is not its subresources");
        assert!(!rule_matches(&r, Operation::Create, &d, "", "shop"));
        let r = rule(&["*"], &["*"], &["*/scale"], "*");
        assert!(rule_matches(&r, Operation::Delete, &d, "scale", "shop"));
        assert!(!rule_matches(&r, Operation::Update, &d, "", "shop"));
        let r = rule(&["UPDATE"], &["apps"], &["deployments/*"], "*");
        assert!(rule_matches(&r, Operation::Update, &d, "status", "shop"));
        // `x/*`: a subresource of `*` matches every subresource and, in upstream's code,
        // the main resource too (`sub == "*" || sub == opSub`).
        assert!(rule_matches(&r, Operation::Update, &d, "", "shop"));
        let r = rule(&["UPDATE"], &["apps"], &["*"], "*");
        assert!(rule_matches(&r, Operation::Update, &d, "", "shop"));
        assert!(!rule_matches(&r, Operation::Update, &d, "scale", "shop"), "`*` is every resource, no subresource");
        let r = rule(&["UPDATE"], &[""], &["deployments"], "*");
        assert!(!rule_matches(&r, Operation::Update, &d, "", "shop"), "the core group is not apps");
    }

    #[test]
    fn scopes() {
        let d = deployments();
        let ns = Gvr { group: String::new(), version: "v1".into(), resource: "namespaces".into() };
        let namespaced = rule(&["*"], &["*"], &["*"], "Namespaced");
        let cluster = rule(&["*"], &["*"], &["*"], "Cluster");
        assert!(rule_matches(&namespaced, Operation::Update, &d, "", "shop"));
        assert!(!rule_matches(&namespaced, Operation::Update, &ns, "", "shop"), "Namespaces are cluster-scoped");
        assert!(rule_matches(&cluster, Operation::Update, &ns, "", "shop"));
        assert!(!rule_matches(&cluster, Operation::Update, &d, "", "shop"));
    }
}
