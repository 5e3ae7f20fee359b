//! RBAC: the `rbac.authorization.k8s.io/v1` objects kubesim stores, evaluated like the
//! upstream RBAC authorizer to answer `SubjectAccessReview`s.
//!
//! kubesim does **not** enforce RBAC on its own API (every authenticated request is
//! allowed); only the answers to `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`
//! evaluate the stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings.
//!
//! Sources (Kubernetes v1.20, unchanged in substance up to 1.33):
//! - `plugin/pkg/auth/authorizer/rbac/rbac.go` (`Authorize`, `RuleAllows`, the
//!   `authorizingVisitor` and its reasons),
//! - `pkg/registry/rbac/validation/rule.go` (`VisitRulesFor`, `GetRoleReferenceRules`,
//!   `appliesToUser`, the binding describers),
//! - `pkg/apis/rbac/v1/evaluation_helpers.go` (`VerbMatches`, `APIGroupMatches`,
//!   `ResourceMatches`, `ResourceNameMatches`, `NonResourceURLMatches`),
//! - `staging/src/k8s.io/apiserver/pkg/authorization/authorizerfactory/builtin.go`
//!   (`NewPrivilegedGroups`: `system:masters` may do anything),
//! - `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`
//!   (aggregation, see [`aggregate`]).

mod aggregate;
mod review;
mod validate;

pub use aggregate::aggregate;
pub use review::review;
pub use validate::{default_and_validate, name_errors};

use serde_json::Value;

use crate::selectors::go_quote;
use crate::store::StoreInner;

/// The API group of the RBAC kinds.
pub const GROUP: &str = "rbac.authorization.k8s.io";
/// Storage of Roles.
pub const ROLES: &str = "rbac.authorization.k8s.io/roles";
/// Storage of ClusterRoles.
pub const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
/// Storage of RoleBindings.
pub const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";
/// Storage of ClusterRoleBindings.
pub const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
/// The group whose members may do anything (`user.SystemPrivilegedGroup`), allowed by the
/// privileged-group authorizer the API server puts before RBAC.
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// Who asks, and for what: `authorizer.Attributes` as a `SubjectAccessReview` spec builds
/// them (`AuthorizationAttributesFrom` in `pkg/registry/authorization/util/helpers.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// The user name (`spec.user`).
    pub user: String,
    /// The user's groups (`spec.groups`), exactly as given: no implicit
    /// `system:authenticated` is added, as upstream adds none.
    pub groups: Vec<String>,
    /// The verb (`get`, `list`, …; for non-resource requests the HTTP verb in lower case).
    pub verb: String,
    /// The request: on a resource or on a non-resource URL.
    pub request: Request,
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A resource request (`spec.resourceAttributes`).
    Resource {
        /// Namespace; `""` for cluster-scoped resources or all namespaces.
        namespace: String,
        /// API group (`""` for core).
        group: String,
        /// Resource (plural).
        resource: String,
        /// Subresource, or `""`.
        subresource: String,
        /// Object name, or `""` (list, create, …).
        name: String,
    },
    /// A non-resource request (`spec.nonResourceAttributes`).
    NonResource {
        /// The URL path, e.g. `/healthz`.
        path: String,
    },
}

impl Default for Request {
    fn default() -> Self {
        Request::NonResource { path: String::new() }
    }
}

impl Attributes {
    fn namespace(&self) -> &str {
        match &self.request {
            Request::Resource { namespace, .. } => namespace,
            Request::NonResource { .. } => "",
        }
    }
}

/// The authorizer's answer: `SubjectAccessReviewStatus` without `evaluationError` (the
/// RBAC authorizer folds its errors into the reason and returns none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `DecisionAllow`.
    pub allowed: bool,
    /// Why: `RBAC: allowed by …`, the RBAC errors met while denying (a Role that a binding
    /// names but that does not exist), or `""`.
    pub reason: String,
}

/// One `PolicyRule`, read leniently from JSON (a missing list is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`, possibly `resource/subresource` or `*/subresource`.
    pub resources: Vec<String>,
    /// `resourceNames`.
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`, possibly ending in `*`.
    pub non_resource_urls: Vec<String>,
}

/// The strings of the JSON array `v[key]` (non-strings skipped, missing → empty).
pub(crate) fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl PolicyRule {
    /// Reads a rule from its JSON form.
    pub fn from_json(v: &Value) -> PolicyRule {
        PolicyRule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// `VerbMatches`: `*` or the verb itself.
    pub fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    /// `APIGroupMatches`: `*` or the group itself (`""` is the core group).
    pub fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    /// `ResourceMatches`: `*`, the combined `resource[/subresource]`, or `*/subresource`
    /// when a subresource is asked for.
    pub fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || r == combined
                || (!subresource.is_empty()
                    && r.len() == subresource.len() + 2
                    && r.starts_with("*/")
                    && r.ends_with(subresource))
        })
    }

    /// `ResourceNameMatches`: no names means every name; otherwise the name must be listed
    /// (so a request without a name, like list, never matches a rule with names).
    pub fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    /// `NonResourceURLMatches`: `*`, the path itself, or a prefix ending in `*`.
    pub fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls
            .iter()
            .any(|u| u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*'))))
    }

    /// `RuleAllows`: whether this rule allows the request.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.verb_matches(&attrs.verb) {
            return false;
        }
        match &attrs.request {
            Request::Resource { group, resource, subresource, name, .. } => {
                let combined =
                    if subresource.is_empty() { resource.clone() } else { format!("{resource}/{subresource}") };
                self.api_group_matches(group)
                    && self.resource_matches(&combined, subresource)
                    && self.resource_name_matches(name)
            }
            Request::NonResource { path } => self.non_resource_url_matches(path),
        }
    }
}

/// `appliesToUser`: whether `subject` (of a binding in `binding_ns`, `""` for a
/// ClusterRoleBinding) names the user or one of their groups. A ServiceAccount subject
/// without a namespace means one in the binding's namespace, and matches the user name
/// `system:serviceaccount:NS:NAME` (`serviceaccount.MatchesUsername`).
pub fn applies_to(subject: &Value, binding_ns: &str, user: &str, groups: &[String]) -> bool {
    let name = text(subject, "/name");
    match text(subject, "/kind") {
        "User" => user == name,
        "Group" => groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = match text(subject, "/namespace") {
                "" => binding_ns,
                ns => ns,
            };
            !ns.is_empty() && user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// `describeSubject`: `User "alice"`, `Group "devs"`, `ServiceAccount "sa/ns"`.
fn describe_subject(subject: &Value, binding_ns: &str) -> String {
    let kind = text(subject, "/kind");
    let name = text(subject, "/name");
    if kind == "ServiceAccount" {
        let ns = match text(subject, "/namespace") {
            "" => binding_ns,
            ns => ns,
        };
        return format!("{kind} {}", go_quote(&format!("{name}/{ns}")));
    }
    format!("{kind} {}", go_quote(name))
}

/// The rules a binding's `roleRef` grants (`GetRoleReferenceRules`): a Role in the
/// binding's namespace or a ClusterRole. A missing role is the error the real role getter
/// gives (`role.rbac.authorization.k8s.io "x" not found`).
fn role_ref_rules(store: &StoreInner, role_ref: &Value, binding_ns: &str) -> Result<Vec<PolicyRule>, String> {
    let name = text(role_ref, "/name");
    let (storage, ns, resource) = match text(role_ref, "/kind") {
        "Role" => (ROLES, binding_ns, "role"),
        "ClusterRole" => (CLUSTER_ROLES, "", "clusterrole"),
        other => return Err(format!("unsupported role reference kind: {}", go_quote(other))),
    };
    let role = store
        .get(storage, &(ns.to_string(), name.to_string()))
        .ok_or_else(|| format!("{resource}.{GROUP} {} not found", go_quote(name)))?;
    Ok(role.get("rules").and_then(Value::as_array).into_iter().flatten().map(PolicyRule::from_json).collect())
}

/// Evaluates `attrs` as the API server's authorizer chain with `--authorization-mode RBAC`
/// does: the privileged-group authorizer (`system:masters` → allowed, reason `""`), then RBAC
/// (`VisitRulesFor`): every ClusterRoleBinding, then — for a namespaced request only — the
/// RoleBindings of that namespace, stopping at the first rule that allows.
///
/// Bindings are visited in kubesim's store order (by namespace, then name); the real
/// server's informer cache has no fixed order, so when several bindings allow a request the
/// two may name different ones in the reason.
pub fn authorize(store: &StoreInner, attrs: &Attributes) -> Decision {
    if attrs.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
        return Decision { allowed: true, reason: String::new() };
    }
    let mut errors: Vec<String> = vec![];
    let mut visit = |bindings: &[std::sync::Arc<Value>], binding_kind: &str, ns: &str| -> Option<String> {
        for binding in bindings {
            let subjects = binding.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default();
            let Some(subject) = subjects.iter().find(|s| applies_to(s, ns, &attrs.user, &attrs.groups)) else {
                continue;
            };
            let role_ref = binding.get("roleRef").cloned().unwrap_or(Value::Null);
            match role_ref_rules(store, &role_ref, ns) {
                Err(e) => errors.push(e),
                Ok(rules) => {
                    if rules.iter().any(|r| r.allows(attrs)) {
                        let name = text(binding, "/metadata/name");
                        let shown = if ns.is_empty() { name.to_string() } else { format!("{name}/{ns}") };
                        return Some(format!(
                            "RBAC: allowed by {binding_kind} {} of {} {} to {}",
                            go_quote(&shown),
                            text(&role_ref, "/kind"),
                            go_quote(text(&role_ref, "/name")),
                            describe_subject(subject, ns)
                        ));
                    }
                }
            }
        }
        None
    };
    let cluster: Vec<_> = store.snapshot(CLUSTER_ROLE_BINDINGS).iter().map(|(_, v)| v.clone()).collect();
    if let Some(reason) = visit(&cluster, "ClusterRoleBinding", "") {
        return Decision { allowed: true, reason };
    }
    let ns = attrs.namespace();
    if !ns.is_empty() {
        let local: Vec<_> =
            store.snapshot(ROLE_BINDINGS).iter().filter(|((n, _), _)| n == ns).map(|(_, v)| v.clone()).collect();
        if let Some(reason) = visit(&local, "RoleBinding", ns) {
            return Decision { allowed: true, reason };
        }
    }
    Decision { allowed: false, reason: denial_reason(&errors) }
}

/// The reason of a denial: `RBAC: ` and the errors met, aggregated as
/// `utilerrors.NewAggregate` prints them (one as is; several, deduplicated, in `[a, b]`);
/// `""` when there were none.
fn denial_reason(errors: &[String]) -> String {
    let mut seen: Vec<&str> = vec![];
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests;
