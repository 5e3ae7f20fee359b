//! The caller's identity, from its client certificate.
//!
//! Precedence: the first SAN URI (e.g. a SPIFFE ID `spiffe://cluster/ns/ci/sa/deployer`),
//! else the first SAN DNS name, else the subject Common Name. SANs come first because
//! RFC 6125 §6.4.4 deprecates identities in the CN; the CN stays as a fallback for
//! certificates issued without SANs.

use std::fmt;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// Picks the identity from a certificate's names; `None` when it has none.
    pub fn from_names(san_uris: &[String], san_dns: &[String], common_name: Option<&str>) -> Option<Self> {
        san_uris
            .iter()
            .chain(san_dns.iter())
            .map(String::as_str)
            .chain(common_name)
            .find(|s| !s.trim().is_empty())
            .map(|s| Identity(s.to_string()))
    }

    /// The identity as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
}
