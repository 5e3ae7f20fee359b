//! The caller's identity, from its client certificate.
//!
//! Precedence: the first SAN URI (e.g. a SPIFFE ID `spiffe://cluster/ns/ci/sa/deployer`),
//! else the first SAN DNS name, else the subject Common Name. SANs come first because
//! RFC 6125 §6.4.4 deprecates identities in the CN; the CN stays as a fallback for
//! certificates issued without SANs.

use std::fmt;

use crate::authz::Subject;

/// Which certificate name an [`Identity`] came from: part of the identity, so a Common Name
/// never passes for a SAN URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A SAN URI (e.g. a SPIFFE ID).
    Uri,
    /// A SAN DNS name.
    Dns,
    /// The subject Common Name.
    CommonName,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    name: String,
    kind: NameKind,
    groups: Vec<String>,
}

impl Identity {
    /// Picks the identity from a certificate's names; `None` when it has none. A Common Name
    /// that looks like a URI (`CN=spiffe://…`) is no identity: only a SAN URI may name one,
    /// because a CA that checks SAN URIs against a policy may not check CNs.
    pub fn from_names(san_uris: &[String], san_dns: &[String], common_name: Option<&str>) -> Option<Self> {
        let named = |kind| move |s: &String| (!s.trim().is_empty()).then(|| (s.clone(), kind));
        let (name, kind) = san_uris
            .iter()
            .find_map(named(NameKind::Uri))
            .or_else(|| san_dns.iter().find_map(named(NameKind::Dns)))
            .or_else(|| {
                common_name
                    .filter(|c| !c.trim().is_empty() && !c.contains("://"))
                    .map(|c| (c.to_string(), NameKind::CommonName))
            })?;
        Some(Identity { name, kind, groups: vec![] })
    }

    /// The same identity with `groups` (the certificate subject's Organization values).
    pub fn with_groups(mut self, groups: Vec<String>) -> Self {
        self.groups = groups;
        self
    }

    /// The identity as a string.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Which certificate name it came from.
    pub fn kind(&self) -> NameKind {
        self.kind
    }

    /// The groups.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The Kubernetes subject an authorization check names: user = the identity, groups =
    /// the certificate's O values (the Kubernetes x509 client-certificate convention,
    /// <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#x509-client-certificates>).
    pub fn subject(&self) -> Subject {
        Subject { user: self.name.clone(), groups: self.groups.clone() }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn uri_then_dns_then_cn() {
        let uri = Identity::from_names(&s(&["spiffe://c/ns/ci/sa/x"]), &s(&["ci.example"]), Some("cn"));
        assert_eq!(uri.map(|i| i.to_string()).as_deref(), Some("spiffe://c/ns/ci/sa/x"));
        let dns = Identity::from_names(&[], &s(&["ci.example"]), Some("cn"));
        assert_eq!(dns.map(|i| i.to_string()).as_deref(), Some("ci.example"));
        let cn = Identity::from_names(&[], &[], Some("alice"));
        assert_eq!(cn.as_ref().map(Identity::as_str), Some("alice"));
        assert_eq!(Identity::from_names(&[], &[], None), None);
        assert_eq!(Identity::from_names(&s(&[""]), &[], Some(" ")), None);
    }

    #[test]
    fn the_name_type_is_part_of_the_identity() {
        let uri = Identity::from_names(&s(&["spiffe://prod/x"]), &[], None).unwrap();
        assert_eq!(uri.kind(), NameKind::Uri);
        // A CN spelled like a SPIFFE ID never passes for one.
        assert_eq!(Identity::from_names(&[], &[], Some("spiffe://prod/x")), None);
        assert_eq!(Identity::from_names(&[], &[], Some("alice")).unwrap().kind(), NameKind::CommonName);
        let with = Identity::from_names(&[], &s(&["ci.example"]), None).unwrap().with_groups(s(&["ops", "sre"]));
        assert_eq!(with.subject(), Subject { user: "ci.example".into(), groups: s(&["ops", "sre"]) });
    }
}
