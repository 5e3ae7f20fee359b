//! Validation of API input: Deployment references and replica counts.
//!
//! Names follow the Kubernetes object name rules
//! (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/>): a
//! namespace is a DNS-1123 label (RFC 1123, ≤ 63 characters); a Deployment name is a
//! DNS-1123 subdomain (≤ 253 characters). Each violation names the request field, so the
//! gRPC layer can return them as `google.rpc.BadRequest` field violations. The name rules
//! themselves are [`kube_selectors::validation`]'s, their one owner in the workspace.

use kube_selectors::validation::{is_dns1123_label, is_dns1123_subdomain};

/// The default upper bound of a declared replica count (`--max-replicas`).
pub const DEFAULT_MAX_REPLICAS: i32 = 1000;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The request field, e.g. `replicas`, `namespace`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

impl Violation {
    fn new(field: &str, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// Checks a Deployment reference. Returns every violation (empty = valid).
pub fn validate_target(namespace: &str, name: &str) -> Vec<Violation> {
    let mut v = vec![];
    if namespace.is_empty() {
        v.push(Violation::new("namespace", "required"));
    } else if !is_dns1123_label(namespace) {
        v.push(Violation::new(
            "namespace",
            format!("{namespace:?} is not a valid namespace: lower-case alphanumerics and '-', at most 63, starting and ending with an alphanumeric (RFC 1123 label)"),
        ));
    }
    if name.is_empty() {
        v.push(Violation::new("name", "required"));
    } else if !is_dns1123_subdomain(name) {
        v.push(Violation::new(
            "name",
            format!("{name:?} is not a valid Deployment name: lower-case alphanumerics, '-' and '.', at most 253 (RFC 1123 subdomain)"),
        ));
    }
    v
}

/// Checks a namespace filter: empty (every namespace) or a DNS-1123 label.
pub fn validate_namespace_filter(namespace: &str) -> Vec<Violation> {
    if namespace.is_empty() || is_dns1123_label(namespace) {
        vec![]
    } else {
        vec![Violation::new("namespace", format!("{namespace:?} is not a valid namespace (RFC 1123 label)"))]
    }
}

/// Checks a replica count against `0..=max` (a count of Pods).
pub fn validate_replicas(replicas: i32, max: i32) -> Vec<Violation> {
    if replicas < 0 {
        vec![Violation::new("replicas", format!("{replicas} is negative; a replica count is 0 or more"))]
    } else if replicas > max {
        vec![Violation::new("replicas", format!("{replicas} is over this server's maximum of {max} (--max-replicas)"))]
    } else {
        vec![]
    }
}

/// The largest page ListDeployments and Diff return.
pub const MAX_PAGE_SIZE: i32 = 500;

/// The page size when a request asks for none (0).
pub const DEFAULT_PAGE_SIZE: i32 = 100;

/// The page size to use for a requested one: 0 → [`DEFAULT_PAGE_SIZE`]; 1..=[`MAX_PAGE_SIZE`]
/// as asked; otherwise a violation.
pub fn page_size(requested: i32) -> Result<usize, Violation> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE as usize),
        1..=MAX_PAGE_SIZE => Ok(requested as usize),
        n => Err(Violation::new(
            "page_size",
            format!("{n} is outside 1..={MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert!(validate_target("shop", "web").is_empty());
        assert!(validate_target("shop", "web.v2").is_empty());
        let v = validate_target("", "Web");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], Violation::new("namespace", "required"));
        assert_eq!(v[1].field, "name");
        assert_eq!(validate_target("a.b", "x")[0].field, "namespace");
        assert_eq!(validate_target("x", &"a".repeat(254))[0].field, "name");
        assert!(validate_target("x", "-web").iter().any(|v| v.field == "name"));
        // As the API server: only the whole name is limited (253), not each dot-separated part.
        assert!(validate_target("x", &"a".repeat(253)).is_empty());
        assert_eq!(validate_target(&"a".repeat(64), "x")[0].field, "namespace");
    }

    #[test]
    fn replicas_bounds() {
        assert!(validate_replicas(0, 10).is_empty());
        assert!(validate_replicas(10, 10).is_empty());
        assert!(validate_replicas(-1, 10)[0].description.contains("negative"));
        assert!(validate_replicas(11, 10)[0].description.contains("maximum of 10"));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), Ok(100));
        assert_eq!(page_size(500), Ok(500));
        assert!(page_size(501).is_err());
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn namespace_filter() {
        assert!(validate_namespace_filter("").is_empty());
        assert!(validate_namespace_filter("shop").is_empty());
        assert_eq!(validate_namespace_filter("Shop")[0].field, "namespace");
    }
}
