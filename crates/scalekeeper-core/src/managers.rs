//! Field managers of a Deployment's `spec.replicas` that belong to a GitOps or packaging tool,
//! and the exact setting that stops each from fighting scalekeeper over the count.
//!
//! A tool that applies a manifest holding `replicas` sets `spec.replicas` back to that count on
//! every sync (or upgrade), and scalekeeper sets it back to the effective count: the two fight,
//! and every round scales Pods. The cure is always the same idea — the tool must stop owning
//! `spec.replicas` — spelled differently per tool. One table ([`TOOLS`]), one function
//! ([`classify`]); Explain's notes and the CLI print the fix in full.
//!
//! Sources:
//! - Argo CD: "Diffing Customization" (`ignoreDifferences` with `jsonPointers`),
//!   <https://argo-cd.readthedocs.io/en/stable/user-guide/diffing/>, and "Sync Options"
//!   (`RespectIgnoreDifferences=true`, without which a sync still applies the ignored field),
//!   <https://argo-cd.readthedocs.io/en/stable/user-guide/sync-options/#respect-ignore-difference-configs>.
//! - Flux HelmRelease: `spec.driftDetection.ignore[].paths` ("drift ignore rules"),
//!   <https://fluxcd.io/flux/components/helm/helmreleases/#drift-detection>.
//! - Flux Kustomization, Helm and `kubectl apply`: leave `replicas` out of what is applied, as
//!   Kubernetes advises when something else sets the count ("Migrating Deployments and
//!   StatefulSets to horizontal autoscaling"),
//!   <https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling>.

/// A GitOps or packaging tool recognised by its field manager name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The tool, as people name it: `Argo CD`, `Flux`, `Helm`, `kubectl apply`.
    pub name: &'static str,
    /// How it fights scalekeeper and the exact setting that stops it, in full.
    pub fix: &'static str,
}

const ARGO_CD: Tool = Tool {
    name: "Argo CD",
    fix: "each sync sets spec.replicas back to the count in Git. Stop it in the Application: \
          spec.ignoreDifferences: [{group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}] \
          and spec.syncPolicy.syncOptions: [RespectIgnoreDifferences=true] (without that option a sync \
          still applies the ignored field)",
};

const FLUX_KUSTOMIZATION: Tool = Tool {
    name: "Flux",
    fix: "each reconciliation of the Kustomization applies the manifest's replicas again. Stop it by \
          leaving `replicas` out of the Deployment manifest (or patching it out in kustomization.yaml), \
          so Flux no longer owns spec.replicas",
};

const FLUX_HELM_RELEASE: Tool = Tool {
    name: "Flux",
    fix: "the HelmRelease's drift detection sets spec.replicas back to the chart's value. Stop it with \
          drift ignore rules in the HelmRelease: spec.driftDetection.ignore: \
          [{paths: [/spec/replicas], target: {kind: Deployment}}]",
};

const HELM: Tool = Tool {
    name: "Helm",
    fix: "every helm upgrade sets spec.replicas back to the chart's value. Stop it by leaving `replicas` \
          out of the chart's values and Deployment template, so the release no longer sets it",
};

const KUBECTL_APPLY: Tool = Tool {
    name: "kubectl apply",
    fix: "a pipeline running kubectl apply sets spec.replicas back to the manifest's count on every run. \
          Stop it by removing `replicas` from the manifest it applies (Kubernetes: \"Migrating Deployments \
          and StatefulSets to horizontal autoscaling\")",
};

/// Field manager names and their tools: Argo CD's (server-side apply, and its older client-side
/// manager), Flux's kustomize-controller and helm-controller, the Helm CLI, and kubectl's
/// client-side apply.
pub const TOOLS: [(&str, Tool); 6] = [
    ("argocd-controller", ARGO_CD),
    ("argocd-application-controller", ARGO_CD),
    ("kustomize-controller", FLUX_KUSTOMIZATION),
    ("helm-controller", FLUX_HELM_RELEASE),
    ("helm", HELM),
    ("kubectl-client-side-apply", KUBECTL_APPLY),
];

/// The tool behind field manager `manager` (compared exactly, as managedFields record it), if
/// it is one of [`TOOLS`].
pub fn classify(manager: &str) -> Option<Tool> {
    TOOLS.iter().find(|(m, _)| *m == manager).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_manager_has_its_tool_and_fix() {
        let table = [
            ("argocd-controller", "Argo CD", "ignoreDifferences"),
            ("argocd-application-controller", "Argo CD", "RespectIgnoreDifferences=true"),
            ("kustomize-controller", "Flux", "leaving `replicas` out"),
            ("helm-controller", "Flux", "spec.driftDetection.ignore"),
            ("helm", "Helm", "out of the chart's values"),
            ("kubectl-client-side-apply", "kubectl apply", "removing `replicas` from the manifest"),
        ];
        for (manager, tool, fix) in table {
            let t = classify(manager).unwrap_or_else(|| panic!("{manager} is known"));
            assert_eq!(t.name, tool, "{manager}");
            assert!(t.fix.contains(fix), "{manager}: {}", t.fix);
        }
        let argo = classify("argocd-controller").unwrap().fix;
        assert!(argo.contains("/spec/replicas") && argo.contains("group: apps, kind: Deployment"), "{argo}");
        assert!(classify("helm-controller").unwrap().fix.contains("paths: [/spec/replicas]"));
    }

    #[test]
    fn other_managers_are_no_tool() {
        for manager in ["kubectl", "kubectl-patch", "kubectl-scale", "scalekeeper", "Helm", "argocd", "", "helm-x"] {
            assert_eq!(classify(manager), None, "{manager}");
        }
    }
}
