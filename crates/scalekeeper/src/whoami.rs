//! Who scalekeeper is to the Kubernetes API server: the user its own requests authenticate as.
//! The admission guard never refuses that user's writes (its writer applies declarations the
//! answering replica's cache may not show yet), so it must know it.
//!
//! ```text
//!  SelfSubjectReview (authentication.k8s.io/v1, Kubernetes >= 1.28) ── the API server's answer
//!   └─ not served (older) ─► the credentials: a ServiceAccount token's `sub` claim
//!                            (system:serviceaccount:NS:NAME), or a client certificate's CN
//! ```
//!
//! Sources: "SelfSubjectReview" in
//! <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#self-subject-review>;
//! the ServiceAccount token's `sub` claim and the X.509 CN as the user name, in
//! <https://kubernetes.io/docs/reference/access-authn-authz/authentication/>.

use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::PostParams;
use kube::{Api, Client};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// How long the SelfSubjectReview may take before the credentials decide.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(5);

/// Where [`own_user`] found the user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The API server's SelfSubjectReview.
    SelfSubjectReview,
    /// The credentials of the client's configuration.
    Credentials,
}

/// The user scalekeeper's requests authenticate as, and how that was found; `None` when
/// neither the API server (no SelfSubjectReview before 1.28) nor the credentials (a bearer
/// token that is not a ServiceAccount JWT, an exec plugin) tell.
pub async fn own_user(client: &Client, credentials: Option<&str>) -> Option<(String, Source)> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review)).await {
        Ok(Ok(r)) => {
            if let Some(user) = r.status.and_then(|s| s.user_info).and_then(|u| u.username).filter(|u| !u.is_empty()) {
                return Some((user, Source::SelfSubjectReview));
            }
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "SelfSubjectReview not answered; reading the credentials"),
        Err(_) => tracing::debug!("SelfSubjectReview timed out; reading the credentials"),
    }
    credentials.map(|u| (u.to_owned(), Source::Credentials))
}

/// The user name the credentials of `config` name, read without asking the API server: the
/// `sub` claim of a ServiceAccount token (from `token` or `token_file`), else the Common Name
/// of a client certificate (from `client_certificate_data` or `client_certificate`); `None`
/// when they name none.
pub fn user_of_credentials(config: &kube::Config) -> Option<String> {
    use secrecy::ExposeSecret as _;
    let auth = &config.auth_info;
    let token = auth
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .or_else(|| auth.token_file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()));
    if let Some(user) = token.as_deref().and_then(service_account_of_token) {
        return Some(user);
    }
    let pem = match (&auth.client_certificate_data, &auth.client_certificate) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD.decode(data.trim()).ok(),
        (None, Some(path)) => std::fs::read(path).ok(),
        (None, None) => None,
    }?;
    common_name(&pem)
}

/// The `sub` claim of a ServiceAccount token (a JWT), when it names a ServiceAccount
/// (`system:serviceaccount:NAMESPACE:NAME`). The signature is not checked: this is the
/// process' own token, read to know its name, not to trust it.
pub fn service_account_of_token(token: &str) -> Option<String> {
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.get("sub")?.as_str()?;
    sub.starts_with("system:serviceaccount:").then(|| sub.to_owned())
}

/// The subject Common Name of the first certificate in `pem`.
fn common_name(pem: &[u8]) -> Option<String> {
    use x509_parser::prelude::*;
    let der = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    (!cn.is_empty()).then(|| cn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.c2ln", enc(br#"{"alg":"RS256"}"#), enc(claims.to_string().as_bytes()))
    }

    #[test]
    fn a_service_account_token_names_its_account() {
        let t = jwt(serde_json::json!({"sub": "system:serviceaccount:ops:scalekeeper", "aud": ["x"]}));
        assert_eq!(service_account_of_token(&t).as_deref(), Some("system:serviceaccount:ops:scalekeeper"));
        assert_eq!(
            service_account_of_token(&format!("{t}\n")).as_deref(),
            Some("system:serviceaccount:ops:scalekeeper")
        );
        assert_eq!(service_account_of_token(&jwt(serde_json::json!({"sub": "alice"}))), None, "not a ServiceAccount");
        assert_eq!(service_account_of_token("opaque-static-token"), None);
    }

    #[test]
    fn a_client_certificate_names_its_common_name() {
        let ca = crate::certs::Ca::generate("whoami test CA", 1).expect("CA");
        let client = ca.client_cert("admin", 1).expect("client");
        assert_eq!(common_name(client.cert_pem.as_bytes()).as_deref(), Some("admin"));
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().expect("url"));
        config.auth_info.client_certificate_data =
            Some(base64::engine::general_purpose::STANDARD.encode(client.cert_pem.as_bytes()));
        assert_eq!(user_of_credentials(&config).as_deref(), Some("admin"));
        config.auth_info.token = Some(jwt(serde_json::json!({"sub": "system:serviceaccount:a:b"})).into());
        assert_eq!(user_of_credentials(&config).as_deref(), Some("system:serviceaccount:a:b"), "the token first");
    }
}
