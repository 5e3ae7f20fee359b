//! Writes to Kubernetes: declaring a replica count (the ReplicaPolicy, then the
//! Deployment's scale subresource) and clearing one.
//!
//! A declaration is applied once, by the writer's own scale write, and recorded as an Event
//! [`REASON_REPLICAS_DECLARED`] naming the caller; the reconciler leaves a fresh declaration to
//! that write (see [`crate::reconciler::DECLARATION_GRACE`]) and never counts it as a drift.
//!
//! Every write is conditional on a resourceVersion, so two callers racing never silently
//! overwrite each other: with `expected_version` the caller's version is the precondition;
//! without it, the version just read is (a concurrent writer then gets ABORTED).
//!
//! Failures are a [`WriteError`], which names no gRPC type: the gRPC edge maps it to the API's
//! error in one place (`crate::grpc::status`).

use std::sync::Arc;

use crate::cache::CachedDeployment;
use crate::hpa::{self, HorizontalPodAutoscaler};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{EventType, Recorder};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use serde_json::json;

use crate::reconciler::{REASON_REPLICAS_DECLARED, publish_on};

use crate::policy::{
    FIELD_MANAGER, LAST_SET_AT, LAST_SET_BY, LAST_SET_DEPLOYMENT_GENERATION, PolicyMode, ReplicaPolicy,
    ReplicaPolicySpec,
};
use crate::view::DeploymentView;

/// Why a write failed. The gRPC edge maps each variant (and, for [`WriteError::Kube`], the
/// Kubernetes status code) to an API error.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The Deployment does not exist; `what` names it (`Deployment shop/web`).
    #[error("{what} not found")]
    NotFound {
        /// The object, e.g. `Deployment shop/web`.
        what: String,
    },
    /// A HorizontalPodAutoscaler targets the Deployment: it owns the replica count, and
    /// scalekeeper does not fight it.
    #[error(
        "HorizontalPodAutoscaler {namespace}/{hpa} targets Deployment {namespace}/{deployment}: it owns the \
         replica count; scalekeeper will not fight it (delete the HPA or leave scaling to it)"
    )]
    HpaOwnsCount {
        /// Namespace of both.
        namespace: String,
        /// The HPA's name.
        hpa: String,
        /// The Deployment's name.
        deployment: String,
    },
    /// The caller expected a version of the policy, and the policy is at another one
    /// (`current`), or does not exist (`current: None`).
    #[error("{}", stale_message(.namespace, .name, *.expected, *.current))]
    VersionMismatch {
        /// Namespace of the policy.
        namespace: String,
        /// Name of the policy (and of its Deployment).
        name: String,
        /// The generation the caller expected.
        expected: i64,
        /// The generation found; `None`: no policy.
        current: Option<i64>,
    },
    /// Concurrent writes moved the policy's resourceVersion on every one of `attempts` tries.
    #[error("ReplicaPolicy {namespace}/{name} kept changing under {attempts} attempts to write it; retry")]
    Contended {
        /// Namespace of the policy.
        namespace: String,
        /// Name of the policy.
        name: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A request field is not acceptable (`field` names it, as in the API request).
    #[error("{field}: {description}")]
    Invalid {
        /// The request field, e.g. `expected_version`.
        field: String,
        /// What is wrong with it.
        description: String,
    },
    /// The Kubernetes API refused or failed a call about `what`.
    #[error("{what}: {source}")]
    Kube {
        /// The object or collection, e.g. `ReplicaPolicy shop/web`, `HorizontalPodAutoscalers in shop`.
        what: String,
        /// The client's error (an API status with its HTTP code, or a transport failure).
        source: kube::Error,
    },
}

fn stale_message(ns: &str, name: &str, expected: i64, current: Option<i64>) -> String {
    match current {
        None => {
            format!("ReplicaPolicy {ns}/{name} does not exist, but version {expected} was expected; get it and retry")
        }
        Some(g) => format!(
            "ReplicaPolicy {ns}/{name} is at version {g}, not the expected {expected}: the declaration changed since \
             you read it; get it again and retry"
        ),
    }
}

impl WriteError {
    /// A closure wrapping a client error about `what`, for `map_err`.
    fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| WriteError::Kube { what, source }
    }

    /// Reading the Deployment `what`: a 404 is [`WriteError::NotFound`].
    fn reading_deployment(what: String) -> impl FnOnce(kube::Error) -> Self {
        move |source| match source {
            kube::Error::Api(s) if s.code == 404 => WriteError::NotFound { what },
            source => WriteError::Kube { what, source },
        }
    }
}

/// What a SetReplicas asks for.
#[derive(Debug, Clone)]
pub struct SetRequest<'a> {
    /// Namespace of the Deployment.
    pub namespace: &'a str,
    /// Name of the Deployment (and of its policy).
    pub name: &'a str,
    /// The replica count to declare (validated by the caller).
    pub replicas: i32,
    /// The policy version the caller last saw, if it wants the write to depend on it.
    pub expected_version: Option<&'a str>,
    /// The mode to set; `None` keeps the current one (Enforce for a new policy).
    pub mode: Option<PolicyMode>,
    /// The caller's identity, recorded on the policy.
    pub identity: &'a str,
}

/// Writes declarations to the cluster.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    recorder: Recorder,
}

/// The Event `action` of a declaration.
const ACTION_DECLARE: &str = "Declare";

fn what(kind: &str, ns: &str, name: &str) -> String {
    format!("{kind} {ns}/{name}")
}

impl Writer {
    /// A writer using `client`; its Events name `instance` (this replica's identity, as in the
    /// Lease and the reconciler's Events) as reporting instance.
    pub fn new(client: Client, instance: &str) -> Self {
        Self { recorder: Recorder::new(client.clone(), crate::reconciler::reporter(instance)), client }
    }

    /// The names of the HorizontalPodAutoscalers in `namespace` that target Deployment `name`.
    ///
    /// # Errors
    ///
    /// [`WriteError::Kube`]: listing the HPAs failed.
    pub async fn hpas_targeting(&self, namespace: &str, name: &str) -> Result<Vec<String>, WriteError> {
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(WriteError::kube(format!("HorizontalPodAutoscalers in {namespace}")))?;
        Ok(list.items.into_iter().filter(|h| hpa::targets(h, name)).map(|h| h.name_any()).collect())
    }

    /// Declares `req.replicas` for the Deployment and applies it: creates or replaces the
    /// ReplicaPolicy (pinned to the Deployment's UID, owned by it), then patches the
    /// Deployment's scale subresource as field manager `scalekeeper`.
    ///
    /// # Errors
    ///
    /// - [`WriteError::NotFound`]: no such Deployment;
    /// - [`WriteError::HpaOwnsCount`]: an HPA targets it;
    /// - [`WriteError::Invalid`]: `expected_version` is not a version this API returns;
    /// - [`WriteError::VersionMismatch`]: the policy is not at `expected_version`;
    /// - [`WriteError::Contended`]: concurrent writes won every attempt;
    /// - [`WriteError::Kube`]: any other failure of the Kubernetes API, including the scale
    ///   write after the policy was written (the reconciler then applies the declaration).
    pub async fn set_replicas(&self, req: &SetRequest<'_>) -> Result<DeploymentView, WriteError> {
        let (ns, name) = (req.namespace, req.name);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let policies: Api<ReplicaPolicy> = Api::namespaced(self.client.clone(), ns);
        let deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", ns, name)))?;
        let hpas = self.hpas_targeting(ns, name).await?;
        if let Some(h) = hpas.first() {
            return Err(WriteError::HpaOwnsCount { namespace: ns.into(), hpa: h.clone(), deployment: name.into() });
        }
        let expected = parse_version(req.expected_version)?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        // A 409 means another write landed between our read and our write: a caller's, or
        // the reconciler's status write. Read again; only a changed declaration (a moved
        // generation, when one was expected) is ABORTED.
        let mut attempt = 0;
        let mut previous;
        let written = loop {
            attempt += 1;
            let current = policies.get_opt(name).await.map_err(WriteError::kube(what("ReplicaPolicy", ns, name)))?;
            check_expected(ns, name, expected, current.as_ref())?;
            previous = current.as_ref().map(|p| p.spec.replicas);
            let mode = req.mode.or(current.as_ref().map(|p| p.spec.mode)).unwrap_or_default();
            let mut policy = ReplicaPolicy::new(
                name,
                ReplicaPolicySpec { replicas: req.replicas, mode, deployment_uid: deployment.metadata.uid.clone() },
            );
            policy.metadata.namespace = Some(ns.to_string());
            policy.metadata.owner_references = Some(vec![owner_reference(&deployment)]);
            let mut annotations = current.as_ref().map(|p| p.annotations().clone()).unwrap_or_default();
            annotations.insert(LAST_SET_BY.into(), req.identity.to_string());
            annotations.insert(LAST_SET_AT.into(), crate::policy::timestamp(jiff::Timestamp::now()));
            annotations
                .insert(LAST_SET_DEPLOYMENT_GENERATION.into(), deployment.metadata.generation.unwrap_or(0).to_string());
            policy.metadata.annotations = Some(annotations);
            let result = match &current {
                None => policies.create(&pp, &policy).await,
                Some(cur) => {
                    policy.metadata.resource_version = cur.resource_version();
                    policy.metadata.labels = cur.metadata.labels.clone();
                    policies.replace(name, &pp, &policy).await
                }
            };
            match result {
                Ok(p) => break p,
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < WRITE_ATTEMPTS => continue,
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    return Err(WriteError::Contended {
                        namespace: ns.into(),
                        name: name.into(),
                        attempts: WRITE_ATTEMPTS,
                    });
                }
                Err(e) => return Err(WriteError::kube(what("ReplicaPolicy", ns, name))(e)),
            }
        };
        let before = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let declared_before = match &previous {
            Some(n) => format!("declared before: {n}"),
            None => "no count declared before".to_string(),
        };
        let regarding = [deployment.object_ref(&()), written.object_ref(&())];
        let patch = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let scaled = deployments
            .patch_scale(name, &patch, &Patch::Merge(json!({"spec": {"replicas": req.replicas}})))
            .await
            .map_err(WriteError::kube(what("Deployment", ns, name)));
        let note = match &scaled {
            Ok(_) => format!(
                "{} declared {} replicas: spec.replicas {before} -> {} ({declared_before})",
                req.identity, req.replicas, req.replicas
            ),
            Err(err) => {
                tracing::warn!(namespace = ns, name, error = %err, "declared, but scaling failed; the reconciler will retry");
                format!(
                    "{} declared {} replicas ({declared_before}); spec.replicas is still {before}: scaling failed, \
                     the reconciler will apply it",
                    req.identity, req.replicas
                )
            }
        };
        publish_on(&self.recorder, &regarding, EventType::Normal, REASON_REPLICAS_DECLARED, ACTION_DECLARE, &note)
            .await;
        scaled?;
        let deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", ns, name)))?;
        Ok(DeploymentView {
            deployment: Arc::new(CachedDeployment::from_deployment(&deployment)),
            policy: Some(Arc::new(written)),
            hpas: vec![],
        })
    }

    /// Deletes the policy of Deployment `namespace/name` (with a resourceVersion
    /// precondition when `expected_version` is given). Deleting a policy that does not
    /// exist succeeds, unless a version was expected.
    ///
    /// # Errors
    ///
    /// - [`WriteError::NotFound`]: no such Deployment;
    /// - [`WriteError::Invalid`]: `expected_version` is not a version this API returns;
    /// - [`WriteError::VersionMismatch`]: the policy is not at `expected_version` (or is gone);
    /// - [`WriteError::Kube`]: any other failure of the Kubernetes API.
    pub async fn clear(
        &self,
        namespace: &str,
        name: &str,
        expected_version: Option<&str>,
    ) -> Result<DeploymentView, WriteError> {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        let policies: Api<ReplicaPolicy> = Api::namespaced(self.client.clone(), namespace);
        let deployment =
            deployments.get(name).await.map_err(WriteError::reading_deployment(what("Deployment", namespace, name)))?;
        let expected = parse_version(expected_version)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current =
                policies.get_opt(name).await.map_err(WriteError::kube(what("ReplicaPolicy", namespace, name)))?;
            check_expected(namespace, name, expected, current.as_ref())?;
            let Some(current) = current else { break };
            let dp = DeleteParams {
                preconditions: Some(Preconditions { resource_version: current.resource_version(), uid: None }),
                ..Default::default()
            };
            match policies.delete(name, &dp).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 => break,
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < WRITE_ATTEMPTS => continue,
                Err(e) => return Err(WriteError::kube(what("ReplicaPolicy", namespace, name))(e)),
            }
        }
        Ok(DeploymentView {
            deployment: Arc::new(CachedDeployment::from_deployment(&deployment)),
            policy: None,
            hpas: vec![],
        })
    }
}

/// How many times a write is tried when concurrent writes keep moving the resourceVersion.
const WRITE_ATTEMPTS: u32 = 5;

/// Parses an `expected_version` (a ReplicaPolicy generation: a positive integer).
fn parse_version(v: Option<&str>) -> Result<Option<i64>, WriteError> {
    match v {
        None => Ok(None),
        Some(s) => s.parse::<i64>().ok().filter(|g| *g > 0).map(Some).ok_or_else(|| WriteError::Invalid {
            field: "expected_version".into(),
            description: format!("{s:?} is not a version this API returns (a positive integer)"),
        }),
    }
}

/// [`WriteError::VersionMismatch`] unless the policy is at the expected generation (when one
/// is expected).
fn check_expected(
    ns: &str,
    name: &str,
    expected: Option<i64>,
    current: Option<&ReplicaPolicy>,
) -> Result<(), WriteError> {
    let Some(expected) = expected else { return Ok(()) };
    let current = current.and_then(|p| p.metadata.generation);
    if current == Some(expected) {
        return Ok(());
    }
    Err(WriteError::VersionMismatch { namespace: ns.into(), name: name.into(), expected, current })
}

/// An ownerReference to `d`, so the garbage collector deletes the policy with it.
fn owner_reference(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: Deployment::api_version(&()).into_owned(),
        kind: Deployment::kind(&()).into_owned(),
        name: d.name_any(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    }
}
