//! Who makes a request: bearer tokens mapped to users, impersonation headers, and the
//! `authentication.k8s.io/v1` `SelfSubjectReview` that tells a caller who it is.
//!
//! ```text
//!  Authorization: Bearer T ──► authenticate ──► UserInfo ──► impersonate ──► UserInfo
//!   (SimConfig.token → kubesim-admin,            (adds system:      (Impersonate-User,
//!    SimConfig.users[].token → that user)         authenticated)     -Group, -Uid, -Extra-*)
//! ```
//!
//! The user reaches admission webhooks (`request.userInfo`) and SelfSubjectReviews. kubesim
//! authorizes nothing: every authenticated user, and every impersonation, is allowed.
//!
//! Sources (Kubernetes v1.20, the same in 1.33 except where noted):
//! - `staging/src/k8s.io/apiserver/pkg/authentication/group/authenticated_group_adder.go`
//!   (every authenticated user is in `system:authenticated`),
//! - `staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go` (the headers,
//!   the groups of an impersonated user; `Impersonate-Uid` since 1.22),
//! - `pkg/registry/authentication/selfsubjectreview/rest.go` (1.26+: the review's answer).

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::state::RuntimeConfig;

/// The user of kubesim's own token (`SimConfig::token`), and of every request when no
/// token is configured.
pub const ADMIN_USER: &str = "kubesim-admin";
/// The group whose members may do anything (`user.SystemPrivilegedGroup`).
pub const MASTERS_GROUP: &str = "system:masters";
/// The group of every authenticated user (`user.AllAuthenticated`).
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group of the anonymous user (`user.AllUnauthenticated`).
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The anonymous user's name (`user.Anonymous`).
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// `Impersonate-User` (`authenticationv1.ImpersonateUserHeader`).
pub const IMPERSONATE_USER: &str = "impersonate-user";
/// `Impersonate-Group`, repeatable.
pub const IMPERSONATE_GROUP: &str = "impersonate-group";
/// `Impersonate-Uid` (Kubernetes 1.22+).
pub const IMPERSONATE_UID: &str = "impersonate-uid";
/// The prefix of `Impersonate-Extra-<key>` headers.
pub const IMPERSONATE_EXTRA_PREFIX: &str = "impersonate-extra-";

/// A user as the API server knows one after authentication (`user.Info`): what admission
/// webhooks get as `request.userInfo` and a SelfSubjectReview as `status.userInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `kubesim-admin`, `system:serviceaccount:ops:scalekeeper`.
    pub username: String,
    /// The user's UID; empty when the authenticator gives none (kubesim's tokens give none).
    pub uid: String,
    /// The user's groups, in order.
    pub groups: Vec<String>,
    /// Extra attributes (`Impersonate-Extra-<key>` headers).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// kubesim's default user: [`ADMIN_USER`] in `system:masters` and `system:authenticated`.
    pub fn admin() -> Self {
        Self {
            username: ADMIN_USER.into(),
            groups: vec![MASTERS_GROUP.into(), AUTHENTICATED_GROUP.into()],
            ..Default::default()
        }
    }

    /// The `authentication.k8s.io/v1` `UserInfo` JSON: every field `omitempty`, as the Go
    /// type serializes it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.username.is_empty() {
            m.insert("username".into(), json!(self.username));
        }
        if !self.uid.is_empty() {
            m.insert("uid".into(), json!(self.uid));
        }
        if !self.groups.is_empty() {
            m.insert("groups".into(), json!(self.groups));
        }
        if !self.extra.is_empty() {
            m.insert("extra".into(), json!(self.extra));
        }
        Value::Object(m)
    }
}

/// A user that kubesim authenticates by bearer token (`SimConfig::users`, `kubesim serve
/// --user NAME:TOKEN[:GROUP,...]`), like a line of kube-apiserver's `--token-auth-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The user name.
    pub name: String,
    /// The bearer token that authenticates as this user.
    pub token: String,
    /// The user's groups; `system:authenticated` is added on every request, as upstream's
    /// authenticated-group adder does.
    pub groups: Vec<String>,
}

/// Why a `--user` value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimUserError {
    /// Not `NAME:TOKEN` or `NAME:TOKEN:GROUP,...`, or a part is empty.
    #[error("expected NAME:TOKEN[:GROUP,...] with a non-empty name and token, got {0:?}")]
    Format(String),
}

impl FromStr for SimUser {
    type Err = SimUserError;

    /// Parses `NAME:TOKEN[:GROUP,...]` (the token may not contain `:`; empty groups are
    /// dropped).
    ///
    /// Errors: [`SimUserError::Format`] when the name or token is missing or empty.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
            return Err(SimUserError::Format(s.to_string()));
        };
        if name.is_empty() || token.is_empty() {
            return Err(SimUserError::Format(s.to_string()));
        }
        let groups = parts
            .next()
            .map(|g| g.split(',').filter(|g| !g.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        Ok(SimUser { name: name.into(), token: token.into(), groups })
    }
}

impl SimUser {
    /// The user a request with this user's token is: its name and groups, plus
    /// `system:authenticated` when missing (`AuthenticatedGroupAdder`).
    pub fn user_info(&self) -> UserInfo {
        let mut groups = self.groups.clone();
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.into());
        }
        UserInfo { username: self.name.clone(), groups, ..Default::default() }
    }
}

/// The user of a request, from its `Authorization: Bearer` token:
/// - [`RuntimeConfig::token`] → [`UserInfo::admin`];
/// - a [`SimUser`]'s token → that user;
/// - no header → the admin, unless `RuntimeConfig::token` is set;
/// - any other token → the admin when no token at all is configured (kubesim without
///   authentication accepts every client), else 401.
///
/// Errors: 401 Unauthorized as above.
pub fn authenticate(config: &RuntimeConfig, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match bearer {
        Some(t) if config.token.as_deref() == Some(t) => Ok(UserInfo::admin()),
        Some(t) => match config.users.iter().find(|u| u.token == t) {
            Some(u) => Ok(u.user_info()),
            None if config.token.is_none() && config.users.is_empty() => Ok(UserInfo::admin()),
            None => Err(ApiError::unauthorized()),
        },
        None if config.token.is_some() => Err(ApiError::unauthorized()),
        None => Ok(UserInfo::admin()),
    }
}

/// The user a request acts as: `user` itself, or the one its impersonation headers name.
///
/// As upstream's impersonation filter: `Impersonate-User` names the user (a
/// `system:serviceaccount:NS:NAME` name gets the groups `system:serviceaccounts` and
/// `system:serviceaccounts:NS` when no group is given), each `Impersonate-Group` adds a
/// group, `Impersonate-Uid` sets the UID, `Impersonate-Extra-<key>` (key percent-decoded,
/// lower case) adds extra values; then `system:authenticated` is added unless the groups
/// already hold it or `system:unauthenticated` (for `system:anonymous`:
/// `system:unauthenticated` unless present). kubesim does not check that `user` may
/// impersonate.
///
/// Errors: 500, as upstream, for groups, a UID or extras without `Impersonate-User`.
pub fn impersonate(user: UserInfo, headers: &HeaderMap, uri: &str) -> Result<UserInfo, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let name = values(IMPERSONATE_USER).into_iter().next().filter(|n| !n.is_empty());
    let groups_given = values(IMPERSONATE_GROUP);
    let uid = values(IMPERSONATE_UID).into_iter().next().filter(|u| !u.is_empty());
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (h, v) in headers {
        if let Some(key) = h.as_str().strip_prefix(IMPERSONATE_EXTRA_PREFIX)
            && let Ok(v) = v.to_str()
        {
            extra.entry(path_unescape(key).to_lowercase()).or_default().push(v.to_string());
        }
    }
    let Some(name) = name else {
        if groups_given.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(user);
        }
        return Err(ApiError::internal(format!(
            "Internal Server Error: {uri:?}: requested impersonation of groups, a uid or extra attributes without impersonating a user"
        )));
    };
    let specified = !groups_given.is_empty();
    let mut groups = groups_given;
    if !specified && let Some(ns) = service_account_namespace(&name) {
        groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")];
    }
    if name == ANONYMOUS_USER {
        if !groups.iter().any(|g| g == UNAUTHENTICATED_GROUP) {
            groups.push(UNAUTHENTICATED_GROUP.into());
        }
    } else if !groups.iter().any(|g| g == AUTHENTICATED_GROUP || g == UNAUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.into());
    }
    Ok(UserInfo { username: name, uid: uid.unwrap_or_default(), groups, extra })
}

/// `url.PathUnescape`: `%XX` escapes decoded; a malformed escape keeps the key as sent, as
/// upstream's `unescapeExtraKey` does.
fn path_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => return s.to_string(),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The namespace of a service account user name `system:serviceaccount:NS:NAME`
/// (`serviceaccount.SplitUsername`), or `None` for any other name.
fn service_account_namespace(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("system:serviceaccount:")?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some(ns)
}

/// Answers `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: a
/// `SelfSubjectReview` whose `status.userInfo` is the caller (after impersonation). As
/// upstream's REST `Create`, nothing of the body is kept: the answer's metadata holds only
/// `creationTimestamp` (now).
///
/// Errors: 400 when the body is not a JSON object.
pub fn self_subject_review(body: &Value, user: &UserInfo) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    Ok(json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": crate::registry::now()},
        "status": {"userInfo": user.to_json()},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn config(token: Option<&str>, users: &[&str]) -> RuntimeConfig {
        RuntimeConfig {
            token: token.map(String::from),
            users: users.iter().map(|u| u.parse().expect("user")).collect(),
            ..RuntimeConfig::default()
        }
    }

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {t}")).expect("header"));
        h
    }

    #[test]
    fn tokens_map_to_users() {
        let c = config(Some("admin-t"), &["alice:alice-t:sre,oncall", "bot:bot-t"]);
        assert_eq!(authenticate(&c, &bearer("admin-t")).expect("admin"), UserInfo::admin());
        let alice = authenticate(&c, &bearer("alice-t")).expect("alice");
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.groups, ["sre", "oncall", "system:authenticated"]);
        assert_eq!(authenticate(&c, &bearer("bot-t")).expect("bot").groups, ["system:authenticated"]);
        assert_eq!(authenticate(&c, &bearer("wrong")).expect_err("401").code, 401);
        assert_eq!(authenticate(&c, &HeaderMap::new()).expect_err("401").code, 401);
        // Users only: no header is still the admin (the admin kubeconfig has no token).
        let c = config(None, &["alice:alice-t"]);
        assert_eq!(authenticate(&c, &HeaderMap::new()).expect("admin"), UserInfo::admin());
        assert_eq!(authenticate(&c, &bearer("wrong")).expect_err("401").code, 401);
        // Nothing configured: every client is the admin.
        let c = config(None, &[]);
        assert_eq!(authenticate(&c, &bearer("anything")).expect("admin"), UserInfo::admin());
    }

    #[test]
    fn sim_users_parse() {
        assert_eq!(
            "a:t:g1,g2".parse::<SimUser>(),
            Ok(SimUser { name: "a".into(), token: "t".into(), groups: vec!["g1".into(), "g2".into()] })
        );
        assert!("a".parse::<SimUser>().is_err());
        assert!(":t".parse::<SimUser>().is_err());
        assert!("a:".parse::<SimUser>().is_err());
    }

    #[test]
    fn impersonation_adds_authenticated_as_upstream() {
        let mut h = HeaderMap::new();
        h.insert("impersonate-user", HeaderValue::from_static("jane"));
        h.append("impersonate-group", HeaderValue::from_static("devs"));
        h.append("impersonate-group", HeaderValue::from_static("ops"));
        h.insert("impersonate-uid", HeaderValue::from_static("u-1"));
        h.insert("impersonate-extra-scopes%2fx", HeaderValue::from_static("view"));
        let u = impersonate(UserInfo::admin(), &h, "/").expect("impersonated");
        assert_eq!(u.username, "jane");
        assert_eq!(u.groups, ["devs", "ops", "system:authenticated"]);
        assert_eq!(u.uid, "u-1");
        assert_eq!(u.extra.get("scopes/x").map(Vec::as_slice), Some(&["view".to_string()][..]));

        let mut h = HeaderMap::new();
        h.insert("impersonate-user", HeaderValue::from_static("system:serviceaccount:ops:bot"));
        let u = impersonate(UserInfo::admin(), &h, "/").expect("impersonated");
        assert_eq!(u.groups, ["system:serviceaccounts", "system:serviceaccounts:ops", "system:authenticated"]);

        let mut h = HeaderMap::new();
        h.insert("impersonate-user", HeaderValue::from_static("system:anonymous"));
        assert_eq!(impersonate(UserInfo::admin(), &h, "/").expect("anonymous").groups, ["system:unauthenticated"]);

        let mut h = HeaderMap::new();
        h.insert("impersonate-group", HeaderValue::from_static("devs"));
        assert_eq!(impersonate(UserInfo::admin(), &h, "/").expect_err("no user").code, 500);
        assert_eq!(impersonate(UserInfo::admin(), &HeaderMap::new(), "/").expect("as is"), UserInfo::admin());
    }

    #[test]
    fn user_info_json_omits_empty_fields() {
        assert_eq!(
            UserInfo::admin().to_json(),
            json!({"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]})
        );
    }
}
