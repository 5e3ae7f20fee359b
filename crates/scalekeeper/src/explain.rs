//! What Explain reads live from Kubernetes, because the watch cache strips it: the
//! Deployment's `metadata.managedFields` (every field manager owning `spec.replicas`), the
//! ownerReferences of the HorizontalPodAutoscalers targeting it (KEDA's HPA is owned by a
//! `ScaledObject` of `keda.sh`), and that ScaledObject's `autoscaling.keda.sh/paused-replicas`
//! annotation.
//!
//! ```text
//!   GET Deployment (managedFields kept) ──► owners of f:spec.f:replicas, newest first
//!   GET each HPA the cache names ─────────► ownerReferences ──► KEDA? GET ScaledObject
//!                                                              └─► paused-replicas, or a note
//! ```
//!
//! A ScaledObject that cannot be read (no RBAC: 403; gone: 404; no KEDA installed: 404) is a
//! note on its autoscaler, never an error of the call. Any other failure of the API server is a
//! [`ReadError`] (the gRPC edge answers UNAVAILABLE for an outage).
//!
//! Sources: managedFields, "Field management" in
//! <https://kubernetes.io/docs/reference/using-api/server-side-apply/>; KEDA's pause annotation,
//! <https://keda.sh/docs/latest/concepts/scaling-deployments/#pause-autoscaling>.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client, ResourceExt as _};
use scalekeeper_core::explain::Autoscaler as AutoscalerFacts;

use crate::culprit::owns_spec_replicas;
use crate::hpa::HorizontalPodAutoscaler;
use crate::policy::FIELD_MANAGER;

/// KEDA's annotation on a ScaledObject that pauses autoscaling at a count.
pub const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";

/// KEDA's API group.
pub const KEDA_GROUP: &str = "keda.sh";

/// A field manager owning the Deployment's `spec.replicas` (one managedFields entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The field manager, e.g. `kubectl-patch`, `argocd-controller`.
    pub manager: String,
    /// `Update` or `Apply`.
    pub operation: String,
    /// The subresource written through (`scale`), empty for the Deployment itself.
    pub subresource: String,
    /// When the entry was last written (managedFields' whole seconds).
    pub time: Option<jiff::Timestamp>,
    /// Whether it is scalekeeper's own field manager ([`FIELD_MANAGER`]).
    pub scalekeeper: bool,
}

/// An HPA targeting the Deployment, as Explain reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Autoscaler {
    /// What the notes are drawn from.
    pub facts: AutoscalerFacts,
    /// What could not be read about it, if anything.
    pub note: String,
}

/// The live facts of one Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Live {
    /// The owners of `spec.replicas`, newest write first.
    pub owners: Vec<Owner>,
    /// The HPAs targeting it, by name.
    pub autoscalers: Vec<Autoscaler>,
    /// The Deployment's other field managers (owning none of `spec.replicas`), in
    /// managedFields order, each once.
    pub others: Vec<String>,
}

/// A read that failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ReadError {
    /// What was being read, e.g. `Deployment shop/web`.
    pub what: String,
    /// The error.
    #[source]
    pub source: kube::Error,
}

/// Reads Explain's live facts.
#[derive(Clone)]
pub struct Reader {
    client: Client,
}

fn read_error(what: String) -> impl FnOnce(kube::Error) -> ReadError {
    move |source| ReadError { what, source }
}

impl Reader {
    /// A reader using `client` (scalekeeper's own credentials).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The live facts of Deployment `namespace/name`, whose HPAs (by name, from the cache) are
    /// `hpas`; `None` when the Deployment does not exist (deleted since the cache saw it). An
    /// HPA gone meanwhile is left out.
    ///
    /// # Errors
    /// [`ReadError`] when a GET of the Deployment or an HPA fails (an outage, scalekeeper's own
    /// RBAC).
    pub async fn read(&self, namespace: &str, name: &str, hpas: &[String]) -> Result<Option<Live>, ReadError> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        let Some(d) = api.get_opt(name).await.map_err(read_error(format!("Deployment {namespace}/{name}")))? else {
            return Ok(None);
        };
        let mut autoscalers = Vec::with_capacity(hpas.len());
        let hpa_api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
        for h in hpas {
            let what = format!("HorizontalPodAutoscaler {namespace}/{h}");
            if let Some(hpa) = hpa_api.get_opt(h).await.map_err(read_error(what))? {
                autoscalers.push(self.autoscaler(namespace, &hpa).await);
            }
        }
        let owners = owners(&d);
        Ok(Some(Live { others: others(&d, &owners), owners, autoscalers }))
    }

    /// The HPA `hpa` as Explain reports it: who manages it and, for KEDA, the pause count.
    async fn autoscaler(&self, namespace: &str, hpa: &HorizontalPodAutoscaler) -> Autoscaler {
        let owner = manager_of(hpa.owner_references());
        let mut out = Autoscaler {
            facts: AutoscalerFacts {
                name: hpa.name_any(),
                managed_by: owner.map(|o| format!("{}/{}", o.kind, o.name)),
                keda: owner.is_some_and(is_scaled_object),
                paused_replicas: None,
            },
            note: String::new(),
        };
        let Some(o) = owner.filter(|o| is_scaled_object(o)) else { return out };
        let version = o.api_version.split_once('/').map_or("v1alpha1", |(_, v)| v);
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(KEDA_GROUP, version, "ScaledObject"),
            "scaledobjects",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        match api.get(&o.name).await {
            Ok(so) => match so.annotations().get(PAUSED_REPLICAS) {
                None => {}
                Some(v) => match v.trim().parse::<i32>() {
                    Ok(n) if n >= 0 => out.facts.paused_replicas = Some(n),
                    _ => {
                        out.note =
                            format!("ScaledObject {}: annotation {PAUSED_REPLICAS} is {v:?}, not a count", o.name)
                    }
                },
            },
            Err(kube::Error::Api(s)) if s.code == 403 => {
                out.note = format!(
                    "ScaledObject {} not read: scalekeeper may not get scaledobjects.keda.sh here (its RBAC)",
                    o.name
                );
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                out.note = format!("ScaledObject {} not found (or KEDA's API is not installed)", o.name);
            }
            Err(e) => {
                tracing::warn!(namespace, scaled_object = %o.name, error = %e, "explain: reading a ScaledObject failed");
                out.note = format!("ScaledObject {} not read: {e}", o.name);
            }
        }
        out
    }
}

/// The object that manages an HPA: its controller ownerReference, else its first one.
fn manager_of(refs: &[OwnerReference]) -> Option<&OwnerReference> {
    refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())
}

/// Whether `r` names a KEDA ScaledObject (kind `ScaledObject`, API group `keda.sh`).
fn is_scaled_object(r: &OwnerReference) -> bool {
    r.kind == "ScaledObject" && r.api_version.split_once('/').is_some_and(|(g, _)| g == KEDA_GROUP)
}

/// Every managedFields entry of `d` owning `spec.replicas` ([`owns_spec_replicas`]), newest
/// write first; entries written in the same second keep managedFields' order reversed (the
/// API server lists Update entries after Apply ones, so the same order the culprit rule reads).
pub fn owners(d: &Deployment) -> Vec<Owner> {
    let mut out: Vec<Owner> = d
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .rev()
        .filter(|e| owns_spec_replicas(e))
        .map(|e| {
            let manager = e.manager.clone().unwrap_or_default();
            Owner {
                scalekeeper: manager == FIELD_MANAGER,
                manager,
                operation: e.operation.clone().unwrap_or_default(),
                subresource: e.subresource.clone().unwrap_or_default(),
                time: e.time.as_ref().map(|t| t.0),
            }
        })
        .collect();
    out.sort_by_key(|o| std::cmp::Reverse(o.time));
    out
}

/// The field managers of `d` other than `owners`, in managedFields order, each once.
pub fn others(d: &Deployment, owners: &[Owner]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in d.metadata.managed_fields.iter().flatten().filter_map(|e| e.manager.as_deref()) {
        if !owners.iter().any(|o| o.manager == m) && !out.iter().any(|o| o == m) {
            out.push(m.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owners_of_spec_replicas_newest_first() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "managedFields": [
                {"manager": "argocd-controller", "operation": "Apply", "time": "2026-01-01T10:00:05Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
                {"manager": "helm", "operation": "Update", "time": "2026-01-01T11:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {}}}},
                {"manager": "kubectl-patch", "operation": "Update", "time": "2026-01-01T10:00:05Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "scalekeeper", "operation": "Update", "subresource": "scale", "time": "2026-01-01T10:00:09Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]}
        }))
        .unwrap();
        let o = owners(&d);
        let names: Vec<&str> = o.iter().map(|o| o.manager.as_str()).collect();
        assert_eq!(names, ["scalekeeper", "kubectl-patch", "argocd-controller"], "helm owns no replicas");
        assert!(o[0].scalekeeper && !o[1].scalekeeper);
        assert_eq!((o[0].operation.as_str(), o[0].subresource.as_str()), ("Update", "scale"));
        assert_eq!(o[2].operation, "Apply");
        assert_eq!(o[2].time, Some("2026-01-01T10:00:05Z".parse().unwrap()));
        assert!(owners(&Deployment::default()).is_empty());
        assert_eq!(others(&d, &o), ["helm"]);
    }

    #[test]
    fn keda_owns_its_hpa_through_a_scaled_object() {
        let r = |api_version: &str, kind: &str, controller: Option<bool>| OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "web".into(),
            controller,
            ..Default::default()
        };
        assert!(is_scaled_object(&r("keda.sh/v1alpha1", "ScaledObject", Some(true))));
        assert!(!is_scaled_object(&r("example.com/v1", "ScaledObject", Some(true))));
        assert!(!is_scaled_object(&r("keda.sh/v1alpha1", "ScaledJob", Some(true))));
        let refs = [r("apps/v1", "Deployment", None), r("keda.sh/v1alpha1", "ScaledObject", Some(true))];
        assert_eq!(manager_of(&refs).map(|o| o.kind.as_str()), Some("ScaledObject"), "the controller first");
        assert_eq!(manager_of(&refs[..1]).map(|o| o.kind.as_str()), Some("Deployment"));
        assert_eq!(manager_of(&[]), None);
    }
}
