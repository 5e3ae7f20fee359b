//! The one rule for "which HorizontalPodAutoscaler owns a Deployment's replica count".
//!
//! HPAs are read through `autoscaling/v1`, which every Kubernetes version serves
//! (`autoscaling/v2` arrived in 1.23; a 1.20 server answers 404 for it and a cache built on
//! it would never sync). scalekeeper only reads `spec.scaleTargetRef`, which v1 carries
//! whole; the API server converts v2 objects to v1 on read.

pub use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;

/// The name of the Deployment `h` scales: its `spec.scaleTargetRef` is kind `Deployment` of
/// API group `apps` (any version; a reference without an apiVersion is taken as `apps`, as
/// the HPA controller resolves it through the kind). `None` for every other target.
///
/// Source: the `CrossVersionObjectReference` in
/// <https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v1/>.
pub fn target_deployment(h: &HorizontalPodAutoscaler) -> Option<&str> {
    let r = &h.spec.as_ref()?.scale_target_ref;
    let group_is_apps = r.api_version.as_deref().is_none_or(|v| v.split_once('/').is_some_and(|(g, _)| g == "apps"));
    (r.kind == "Deployment" && group_is_apps).then_some(r.name.as_str())
}

/// Whether `h` targets the Deployment called `name` (in the HPA's own namespace).
pub fn targets(h: &HorizontalPodAutoscaler, name: &str) -> bool {
    target_deployment(h) == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v1::{CrossVersionObjectReference, HorizontalPodAutoscalerSpec};

    fn hpa(api_version: Option<&str>, kind: &str, name: &str) -> HorizontalPodAutoscaler {
        HorizontalPodAutoscaler {
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: api_version.map(str::to_owned),
                    kind: kind.into(),
                    name: name.into(),
                },
                max_replicas: 5,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_apps_deployments_are_targets() {
        assert_eq!(target_deployment(&hpa(Some("apps/v1"), "Deployment", "web")), Some("web"));
        assert_eq!(target_deployment(&hpa(None, "Deployment", "web")), Some("web"));
        // Another group's kind called Deployment is not ours to yield to.
        assert_eq!(target_deployment(&hpa(Some("example.com/v1"), "Deployment", "web")), None);
        assert_eq!(target_deployment(&hpa(Some("apps"), "Deployment", "web")), None);
        assert_eq!(target_deployment(&hpa(Some("apps/v1"), "StatefulSet", "web")), None);
        assert_eq!(target_deployment(&HorizontalPodAutoscaler::default()), None);
        assert!(targets(&hpa(Some("apps/v1"), "Deployment", "web"), "web"));
        assert!(!targets(&hpa(Some("apps/v1"), "Deployment", "web"), "cart"));
    }
}
