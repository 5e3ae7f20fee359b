//! GetVersion: the server's version and git commit ([`scalekeeper_core::build_info`]).
//!
//! Open to every authenticated caller, with no RBAC check: Kubernetes' `/version` is readable
//! by every authenticated user (the `system:public-info-viewer` ClusterRole). "Authenticated"
//! is what every other call needs before its RBAC check: a client certificate that passed the
//! handshake (the client CA, the CRL, `--allowed-identity-prefix`) and names an identity
//! scalekeeper accepts; a certificate without one is PERMISSION_DENIED here as everywhere.

use scalekeeper_api::v1 as pb;
use scalekeeper_core::build_info;

use super::{Caller, authenticated};
use crate::grpc::status::Error;

/// GetVersion's answer for `who`.
///
/// # Errors
/// PERMISSION_DENIED when the caller's certificate names no accepted identity.
pub(super) fn get_version_call(who: &Caller) -> Result<pb::GetVersionResponse, Error> {
    authenticated(who)?;
    Ok(pb::GetVersionResponse {
        version: build_info::VERSION.to_owned(),
        git_commit: build_info::git_commit().unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use scalekeeper_core::authz::Subject;

    use super::*;

    fn caller(subject: Option<Subject>) -> Caller {
        Caller { identity: "test".into(), request_id: "r".into(), subject, peer: String::new(), facts: Arc::default() }
    }

    #[test]
    fn any_authenticated_caller_gets_the_version() {
        let who = caller(Some(Subject { user: "alice".into(), groups: vec![] }));
        let v = get_version_call(&who).expect("allowed");
        assert_eq!(v.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(v.git_commit, build_info::git_commit().unwrap_or_default());
    }

    #[test]
    fn a_certificate_without_an_accepted_identity_is_refused() {
        let err = get_version_call(&caller(None)).expect_err("refused");
        assert!(matches!(err, Error::PermissionDenied(ref m) if m.contains("no identity")), "{err:?}");
    }
}
