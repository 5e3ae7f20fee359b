//! Authorization through Kubernetes RBAC: every call is checked with a `SubjectAccessReview`
//! (authorization.k8s.io/v1) for the caller's user and groups, the verb the operation needs
//! and its resource in the target namespace: `replicapolicies.scalekeeper.dev`, or
//! `scalerequests.scalekeeper.dev` for `approve` ([`Verb::resource`]; the table is in
//! [`scalekeeper_core::authz`]). Operators grant access with Roles and bindings, as for any
//! other resource; `kubectl auth can-i update replicapolicies.scalekeeper.dev -n shop --as
//! alice` answers what scalekeeper will.
//!
//! ```text
//!  call ─► Authorizer::check(subject, verb, namespace)
//!            ├─ allowed cache hit (≤ allow TTL old) ─► allow
//!            ├─ denied cache hit (≤ deny TTL old) ──► deny
//!            └─ POST subjectaccessreviews ─► cache the answer ─► allow / deny
//! ```
//!
//! Decisions are cached per (user, groups, verb, namespace), allowed and denied alike, in a
//! bounded cache ([`CACHE_CAPACITY`] entries each) with short TTLs, as kube-rbac-proxy and the
//! API server's webhook authorizer do. The TTLs bound how long a revoked binding still works
//! (at most the allow TTL) and how long a new one takes to work (at most the deny TTL).

use std::time::Duration;

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use scalekeeper_core::authz::{Decision, GROUP, Subject, Verb};

/// How calls are authorized (`--authorization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthorizationMode {
    /// A SubjectAccessReview per (cached) decision: Kubernetes RBAC decides.
    #[default]
    Rbac,
    /// Every authenticated caller may do everything (the behaviour before RBAC; for tests
    /// and migrations only — the server warns at every start).
    AllowAny,
}

/// Default time an allowed decision is reused: a revoked RoleBinding stops working within it.
pub const DEFAULT_ALLOW_TTL: Duration = Duration::from_secs(10);
/// Default time a denied decision is reused: a new RoleBinding starts working within it.
pub const DEFAULT_DENY_TTL: Duration = Duration::from_secs(5);
/// Entries per cache (allowed and denied each); the least recently used go first.
pub const CACHE_CAPACITY: u64 = 10_000;

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The SubjectAccessReview failed (the API server is unreachable, or scalekeeper may not
    /// create SubjectAccessReviews: its ClusterRoleBinding to `system:auth-delegator` is
    /// missing).
    #[error("authorization check failed: {0}")]
    Review(#[source] kube::Error),
}

type Key = (Subject, Verb, String);

/// Answers "may this subject do this here", through SubjectAccessReviews, with a cache.
#[derive(Clone)]
pub struct Authorizer {
    mode: AuthorizationMode,
    client: Client,
    allowed: moka::sync::Cache<Key, Decision>,
    denied: moka::sync::Cache<Key, Decision>,
    allow_ttl: Duration,
}

impl Authorizer {
    /// An authorizer in `mode`, asking through `client`, reusing allowed decisions for
    /// `allow_ttl` and denied ones for `deny_ttl`.
    pub fn new(mode: AuthorizationMode, client: Client, allow_ttl: Duration, deny_ttl: Duration) -> Self {
        let cache = |ttl| moka::sync::Cache::builder().max_capacity(CACHE_CAPACITY).time_to_live(ttl).build();
        Self { mode, client, allowed: cache(allow_ttl), denied: cache(deny_ttl), allow_ttl }
    }

    /// How long an allowed decision is reused: how often a long-running call (a watch)
    /// re-checks what it was allowed, so a revocation reaches it as soon as a new call.
    pub fn allow_ttl(&self) -> Duration {
        self.allow_ttl
    }

    /// The mode.
    pub fn mode(&self) -> AuthorizationMode {
        self.mode
    }

    /// Whether `subject` may `verb` the verb's resource ([`Verb::resource`]: replicapolicies,
    /// or scalerequests for approve) in `namespace` (all namespaces when empty). The cache key
    /// holds the verb, and so the resource.
    ///
    /// # Errors
    /// [`AuthzError::Review`] when the SubjectAccessReview cannot be made; the caller should
    /// answer UNAVAILABLE, never allow.
    pub async fn check(&self, subject: &Subject, verb: Verb, namespace: &str) -> Result<Decision, AuthzError> {
        if self.mode == AuthorizationMode::AllowAny {
            return Ok(Decision { allowed: true, reason: "--authorization=allow-any".into() });
        }
        let key = (subject.clone(), verb, namespace.to_owned());
        if let Some(d) = self.allowed.get(&key).or_else(|| self.denied.get(&key)) {
            return Ok(d);
        }
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(subject.user.clone()),
                groups: Some(subject.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.into()),
                    resource: Some(verb.resource().into()),
                    verb: Some(verb.as_str().into()),
                    namespace: Some(namespace.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api.create(&PostParams::default(), &review).await.map_err(AuthzError::Review)?;
        let status = answer.status.unwrap_or_default();
        let decision = Decision { allowed: status.allowed, reason: status.reason.unwrap_or_default() };
        if decision.allowed {
            self.allowed.insert(key, decision.clone());
        } else {
            self.denied.insert(key, decision.clone());
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// kubesim with `user` bound (cluster-wide) to a ClusterRole granting `verb` on
    /// `resource`.scalekeeper.dev, for each `(user, resource, verb)`.
    async fn sim_with(grants: &[(&str, &str, &str)]) -> kubesim::Sim {
        let sim = kubesim::Sim::start(kubesim::SimConfig::default()).await.expect("kubesim starts");
        for (user, resource, verb) in grants {
            let role = format!("{user}-{verb}-{resource}");
            sim.apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
                "rules": [{"apiGroups": [GROUP], "resources": [resource], "verbs": [verb]}],
            }))
            .expect("ClusterRole");
            sim.apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }))
            .expect("ClusterRoleBinding");
        }
        sim
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn approve_is_checked_on_scalerequests_and_the_rest_on_replicapolicies() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = sim_with(&[("carol", "scalerequests", "approve"), ("dave", "replicapolicies", "update")]).await;
        let client = sim.client().await.expect("client");
        let authz = Authorizer::new(AuthorizationMode::Rbac, client, Duration::from_secs(60), Duration::from_secs(60));
        let who = |user: &str| Subject { user: user.into(), groups: vec![] };
        let allowed =
            async |user: &str, verb: Verb| authz.check(&who(user), verb, "shop").await.expect("review").allowed;
        assert!(allowed("carol", Verb::Approve).await, "approve on scalerequests");
        assert!(!allowed("carol", Verb::Update).await, "approve on scalerequests grants nothing on policies");
        assert!(allowed("dave", Verb::Update).await, "update on replicapolicies");
        assert!(!allowed("dave", Verb::Approve).await, "an editor of policies may not approve");
        // Cached per verb: the same subject gets each verb's own answer again.
        assert!(allowed("carol", Verb::Approve).await && !allowed("carol", Verb::Update).await);
        sim.shutdown().await;
    }
}
