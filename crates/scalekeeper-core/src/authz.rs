//! Authorization, the domain's part: which Kubernetes RBAC verb each API operation needs, on
//! which resource, and what a refusal says. The check itself is a SubjectAccessReview the
//! Kubernetes adapter sends (scalekeeper's `authz` module), so operators grant access with
//! the RBAC objects they already manage (`kubectl create rolebinding`, GitOps, `kubectl auth
//! can-i --as`), the way kube-rbac-proxy and aggregated API servers do.
//!
//! | operation | verb | on |
//! |---|---|---|
//! | GetDeployment | `get` | `replicapolicies.scalekeeper.dev` in the namespace |
//! | ListDeployments, Diff | `list` | in the namespace, or in each namespace listed |
//! | WatchDeployments | `watch` | in the namespace, or in each namespace watched |
//! | SetReplicas (creating a policy included) | `update` | in the namespace |
//! | ClearDesiredReplicas | `delete` | in the namespace |
//!
//! Source for the attributes: `SubjectAccessReview` in
//! <https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access>.

use std::fmt;

/// The API group of the resource every check names.
pub const GROUP: &str = "scalekeeper.dev";
/// The resource every check names: access to replica counts is access to their policies.
pub const RESOURCE: &str = "replicapolicies";

/// The Kubernetes RBAC verb an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// Read one Deployment.
    Get,
    /// List Deployments, or diff them.
    List,
    /// Watch Deployments.
    Watch,
    /// Declare a count (create or update the policy).
    Update,
    /// Stop managing a count (delete the policy).
    Delete,
}

impl Verb {
    /// The verb as RBAC rules spell it (`get`, `list`, `watch`, `update`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }

    /// The verb the API method `method` (its gRPC name, e.g. `SetReplicas`) needs; `None`
    /// for a method this table does not know (which is then refused).
    pub fn for_method(method: &str) -> Option<Verb> {
        Some(match method {
            "GetDeployment" => Verb::Get,
            "ListDeployments" | "Diff" => Verb::List,
            "WatchDeployments" => Verb::Watch,
            "SetReplicas" | "SetSchedule" => Verb::Update,
            "ClearDesiredReplicas" => Verb::Delete,
            _ => return None,
        })
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asks, as Kubernetes sees it: a user name and groups (from the client certificate:
/// see [`crate::Identity`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The user name.
    pub user: String,
    /// The groups (the certificate subject's O values, the Kubernetes x509 convention).
    pub groups: Vec<String>,
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the operation may proceed.
    pub allowed: bool,
    /// Why, as the authorizer put it (may be empty).
    pub reason: String,
}

/// The message of a refusal: the user, the verb, the resource and the namespace (all
/// namespaces when `namespace` is empty) — nothing about scalekeeper's own identity.
pub fn denial(subject: &Subject, verb: Verb, namespace: &str) -> String {
    let place =
        if namespace.is_empty() { "across all namespaces".to_string() } else { format!("in namespace {namespace:?}") };
    format!(
        "user {:?} may not {verb} {RESOURCE}.{GROUP} {place} (Kubernetes RBAC; ask for a RoleBinding to scalekeeper-viewer or scalekeeper-editor)",
        subject.user
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_its_verb() {
        let table = [
            ("GetDeployment", Verb::Get),
            ("ListDeployments", Verb::List),
            ("Diff", Verb::List),
            ("WatchDeployments", Verb::Watch),
            ("SetReplicas", Verb::Update),
            ("ClearDesiredReplicas", Verb::Delete),
        ];
        for (method, verb) in table {
            assert_eq!(Verb::for_method(method), Some(verb), "{method}");
        }
        assert_eq!(Verb::for_method("Check"), None);
    }

    #[test]
    fn a_denial_names_user_verb_resource_and_namespace() {
        let s = Subject { user: "spiffe://prod/ns/ci/sa/bot".into(), groups: vec!["ci".into()] };
        let m = denial(&s, Verb::Update, "payments");
        assert!(m.starts_with(
            "user \"spiffe://prod/ns/ci/sa/bot\" may not update replicapolicies.scalekeeper.dev in namespace \"payments\""
        ), "{m}");
        assert!(denial(&s, Verb::List, "").contains("across all namespaces"));
    }
}
