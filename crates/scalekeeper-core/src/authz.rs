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
//! | SetApproval (set or remove the approval rule) | `update` | in the namespace |
//! | ListScaleRequests | `list` | in the namespace |
//! | ApproveScaleRequest, DenyScaleRequest | `approve` | `scalerequests.scalekeeper.dev` in the namespace |
//! | GetVersion | none: any authenticated caller | — |
//!
//! GetVersion needs a client certificate the server accepts and nothing else, as Kubernetes'
//! `/version` is open to every authenticated user (the `system:public-info-viewer`
//! ClusterRole); [`Verb::for_method`] has no verb for it.
//!
//! Source for the attributes: `SubjectAccessReview` in
//! <https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access>.

use std::fmt;

/// The API group of the resource every check names.
pub const GROUP: &str = "scalekeeper.dev";
/// The resource most checks name ([`Verb::resource`]): access to replica counts is access to
/// their policies.
pub const RESOURCE: &str = "replicapolicies";
/// The resource [`Verb::Approve`] names: approving or denying a change held back by the
/// two-person rule is a verb on the ScaleRequest that holds it.
pub const SCALE_REQUESTS: &str = "scalerequests";

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
    /// Approve or deny a ScaleRequest (the two-person rule): a custom verb on
    /// [`SCALE_REQUESTS`], which RBAC grants like any other.
    Approve,
}

impl Verb {
    /// The verb as RBAC rules spell it (`get`, `list`, `watch`, `update`, `delete`,
    /// `approve`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Update => "update",
            Verb::Delete => "delete",
            Verb::Approve => "approve",
        }
    }

    /// The resource (in [`GROUP`]) a check of this verb names: [`SCALE_REQUESTS`] for
    /// [`Verb::Approve`], [`RESOURCE`] (replicapolicies) for the others.
    pub fn resource(self) -> &'static str {
        match self {
            Verb::Approve => SCALE_REQUESTS,
            Verb::Get | Verb::List | Verb::Watch | Verb::Update | Verb::Delete => RESOURCE,
        }
    }

    /// The verb the API method `method` (its gRPC name, e.g. `SetReplicas`) needs; `None`
    /// for a method that needs no RBAC verb (GetVersion: any authenticated caller) or that
    /// this table does not know. The handlers make the checks (each calls the server's
    /// `authorize` with its verb, GetVersion only requires an accepted identity); this table
    /// names the verb in audit records.
    pub fn for_method(method: &str) -> Option<Verb> {
        Some(match method {
            "GetDeployment" | "GetHistory" => Verb::Get,
            "Explain" | "Plan" => Verb::Get,
            "ListDeployments" | "Diff" | "ListScaleRequests" => Verb::List,
            "WatchDeployments" => Verb::Watch,
            "SetReplicas" | "SetSchedule" | "Undo" | "Freeze" | "Thaw" | "SetApproval" => Verb::Update,
            "ClearDesiredReplicas" => Verb::Delete,
            "ApproveScaleRequest" | "DenyScaleRequest" => Verb::Approve,
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

/// The prefix of the groups Kubernetes reserves for itself: `system:masters` (RBAC's
/// superuser: every request of a member is allowed, bindings or not), `system:authenticated`,
/// `system:serviceaccounts`, `system:nodes` ... A certificate signed by scalekeeper's client
/// CA names its groups in its O values, and a SubjectAccessReview names them to the API
/// server, which trusts them: whoever can have the client CA sign such a subject would be all
/// that group is.
///
/// Source: "Default roles and role bindings" and "User-facing roles" in
/// <https://kubernetes.io/docs/reference/access-authn-authz/rbac/#default-roles-and-role-bindings>
/// (`system:` is reserved for Kubernetes system use).
pub const SYSTEM_GROUP_PREFIX: &str = "system:";

/// The groups of `subject` that a client certificate may not claim (those with the
/// [`SYSTEM_GROUP_PREFIX`]), in the certificate's order; empty when it claims none.
pub fn system_groups(subject: &Subject) -> Vec<&str> {
    subject.groups.iter().map(String::as_str).filter(|g| g.starts_with(SYSTEM_GROUP_PREFIX)).collect()
}

/// The message of a call refused because the certificate claims `groups` (the ones
/// [`system_groups`] found), each quoted bounded; it names the flag that allows them.
pub fn system_groups_denial(subject: &Subject, groups: &[&str]) -> String {
    let listed: Vec<String> = groups.iter().map(|g| format!("\"{}\"", crate::text::bounded(g))).collect();
    format!(
        "user \"{}\": the client certificate claims the group(s) {} (O values); groups with the system: prefix are \
         Kubernetes' own (system:masters is RBAC's superuser) and are refused from a certificate unless the server \
         runs with --allow-system-groups",
        crate::text::bounded(&subject.user),
        listed.join(", ")
    )
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the operation may proceed.
    pub allowed: bool,
    /// Why, as the authorizer put it (may be empty).
    pub reason: String,
}

/// The message of a refusal: the user, the verb, the resource ([`Verb::resource`]) and the
/// namespace (all namespaces when `namespace` is empty), and the ClusterRole that grants it —
/// nothing about scalekeeper's own identity.
pub fn denial(subject: &Subject, verb: Verb, namespace: &str) -> String {
    let place =
        if namespace.is_empty() { "across all namespaces".to_string() } else { format!("in namespace {namespace:?}") };
    let roles = match verb {
        Verb::Approve => "scalekeeper-approver",
        _ => "scalekeeper-viewer or scalekeeper-editor",
    };
    format!(
        "user {:?} may not {verb} {}.{GROUP} {place} (Kubernetes RBAC; ask for a RoleBinding to {roles})",
        subject.user,
        verb.resource()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_its_verb() {
        let table = [
            ("GetDeployment", Verb::Get),
            ("Explain", Verb::Get),
            ("Plan", Verb::Get),
            ("ListDeployments", Verb::List),
            ("Diff", Verb::List),
            ("WatchDeployments", Verb::Watch),
            ("SetReplicas", Verb::Update),
            ("ClearDesiredReplicas", Verb::Delete),
            ("GetHistory", Verb::Get),
            ("Undo", Verb::Update),
            ("Freeze", Verb::Update),
            ("Thaw", Verb::Update),
            ("SetApproval", Verb::Update),
            ("ListScaleRequests", Verb::List),
            ("ApproveScaleRequest", Verb::Approve),
            ("DenyScaleRequest", Verb::Approve),
        ];
        for (method, verb) in table {
            assert_eq!(Verb::for_method(method), Some(verb), "{method}");
        }
        assert_eq!(Verb::for_method("Check"), None);
        assert_eq!(Verb::for_method("GetVersion"), None, "no RBAC verb: any authenticated caller");
    }

    #[test]
    fn a_certificate_may_not_claim_kubernetes_own_groups() {
        let s = |groups: &[&str]| Subject {
            user: "mallory".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        for group in ["system:masters", "system:authenticated", "system:serviceaccounts", "system:nodes"] {
            let subject = s(&["sre", group]);
            assert_eq!(system_groups(&subject), [group], "{group}");
            let m = system_groups_denial(&subject, &system_groups(&subject));
            assert!(m.contains(group) && m.contains("--allow-system-groups") && m.contains("mallory"), "{m}");
        }
        assert!(system_groups(&s(&["sre", "systems:team", "ops"])).is_empty(), "only the system: prefix");
    }

    #[test]
    fn a_denial_names_user_verb_resource_and_namespace() {
        let s = Subject { user: "spiffe://prod/ns/ci/sa/bot".into(), groups: vec!["ci".into()] };
        let m = denial(&s, Verb::Update, "payments");
        assert!(m.starts_with(
            "user \"spiffe://prod/ns/ci/sa/bot\" may not update replicapolicies.scalekeeper.dev in namespace \"payments\""
        ), "{m}");
        assert!(denial(&s, Verb::List, "").contains("across all namespaces"));
        let m = denial(&s, Verb::Approve, "payments");
        assert!(m.starts_with(
            "user \"spiffe://prod/ns/ci/sa/bot\" may not approve scalerequests.scalekeeper.dev in namespace \"payments\""
        ), "{m}");
        assert!(m.contains("scalekeeper-approver"), "{m}");
    }

    #[test]
    fn approve_names_scalerequests_and_every_other_verb_replicapolicies() {
        assert_eq!(Verb::Approve.as_str(), "approve");
        assert_eq!(Verb::Approve.resource(), "scalerequests");
        for verb in [Verb::Get, Verb::List, Verb::Watch, Verb::Update, Verb::Delete] {
            assert_eq!(verb.resource(), "replicapolicies", "{verb}");
        }
    }
}
