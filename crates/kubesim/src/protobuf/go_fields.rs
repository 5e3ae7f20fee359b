//! What the Go types say and the protobuf descriptors do not: which scalar fields are Go
//! pointers (or lack `omitempty`), and which structs are embedded inline in JSON. Used by
//! [`super::json`] for the messages reachable from the kinds kubesim serves.
//!
//! Provenance: generated from the Go types (`types.go`) of `k8s.io/api` (core/v1, apps/v1,
//! autoscaling/v1, autoscaling/v2beta2 for v2) and `k8s.io/apimachinery` meta/v1 of
//! Kubernetes 1.20.2 (Debian's `kubernetes` source package): every field of a reachable
//! message whose protobuf form is a scalar and whose Go type is a pointer, or whose JSON tag
//! has no `omitempty`. The fields added from 1.21 to 1.33 (present in the 1.33 protos
//! `build.rs` compiles but not in 1.20) were classified by hand from the 1.33 Go types. To
//! extend: serve a new kind, then add its pointer and required scalar fields here; the unit
//! tests check that every entry names a real field.

/// Scalar fields whose explicit zero (0, `""`, `false`) is kept in JSON: Go pointer fields,
/// where zero differs from "not set", and fields whose JSON tag has no `omitempty`. Any
/// other scalar at its zero value is what Go's marshaller writes for an unset non-pointer
/// field, and its JSON leaves it out.
pub(super) const KEEP_ZERO: &[(&str, &[&str])] = &[
    ("api.apps.v1.DeploymentCondition", &["type", "status"]),
    ("api.apps.v1.DeploymentSpec", &["replicas", "revisionHistoryLimit", "progressDeadlineSeconds"]),
    ("api.apps.v1.DeploymentStatus", &["collisionCount", "terminatingReplicas"]),
    ("api.autoscaling.v1.CrossVersionObjectReference", &["kind", "name"]),
    (
        "api.autoscaling.v1.HorizontalPodAutoscalerSpec",
        &["minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"],
    ),
    (
        "api.autoscaling.v1.HorizontalPodAutoscalerStatus",
        &["observedGeneration", "currentReplicas", "desiredReplicas", "currentCPUUtilizationPercentage"],
    ),
    ("api.autoscaling.v1.ScaleStatus", &["replicas"]),
    ("api.autoscaling.v2.ContainerResourceMetricSource", &["name", "container"]),
    ("api.autoscaling.v2.ContainerResourceMetricStatus", &["name", "container"]),
    ("api.autoscaling.v2.CrossVersionObjectReference", &["kind", "name"]),
    ("api.autoscaling.v2.HPAScalingPolicy", &["type", "value", "periodSeconds"]),
    ("api.autoscaling.v2.HPAScalingRules", &["stabilizationWindowSeconds", "selectPolicy"]),
    ("api.autoscaling.v2.HorizontalPodAutoscalerCondition", &["type", "status"]),
    ("api.autoscaling.v2.HorizontalPodAutoscalerSpec", &["minReplicas", "maxReplicas"]),
    ("api.autoscaling.v2.HorizontalPodAutoscalerStatus", &["observedGeneration", "currentReplicas", "desiredReplicas"]),
    ("api.autoscaling.v2.MetricIdentifier", &["name"]),
    ("api.autoscaling.v2.MetricSpec", &["type"]),
    ("api.autoscaling.v2.MetricStatus", &["type"]),
    ("api.autoscaling.v2.MetricTarget", &["type", "averageUtilization"]),
    ("api.autoscaling.v2.MetricValueStatus", &["averageUtilization"]),
    ("api.autoscaling.v2.ResourceMetricSource", &["name"]),
    ("api.autoscaling.v2.ResourceMetricStatus", &["name"]),
    (
        "api.coordination.v1.LeaseSpec",
        &["holderIdentity", "leaseDurationSeconds", "leaseTransitions", "strategy", "preferredHolder"],
    ),
    ("api.core.v1.AWSElasticBlockStoreVolumeSource", &["volumeID"]),
    ("api.core.v1.AppArmorProfile", &["type", "localhostProfile"]),
    ("api.core.v1.AzureDiskVolumeSource", &["diskName", "diskURI", "cachingMode", "fsType", "readOnly", "kind"]),
    ("api.core.v1.AzureFileVolumeSource", &["secretName", "shareName"]),
    ("api.core.v1.CSIVolumeSource", &["driver", "readOnly", "fsType"]),
    ("api.core.v1.CinderVolumeSource", &["volumeID"]),
    ("api.core.v1.ClusterTrustBundleProjection", &["name", "signerName", "optional", "path"]),
    ("api.core.v1.ConfigMapEnvSource", &["optional"]),
    ("api.core.v1.ConfigMapKeySelector", &["key", "optional"]),
    ("api.core.v1.ConfigMapProjection", &["optional"]),
    ("api.core.v1.ConfigMapVolumeSource", &["defaultMode", "optional"]),
    ("api.core.v1.Container", &["name", "restartPolicy"]),
    ("api.core.v1.ContainerPort", &["containerPort"]),
    ("api.core.v1.ContainerResizePolicy", &["resourceName", "restartPolicy"]),
    ("api.core.v1.DownwardAPIVolumeFile", &["path", "mode"]),
    ("api.core.v1.DownwardAPIVolumeSource", &["defaultMode"]),
    ("api.core.v1.EnvVar", &["name"]),
    ("api.core.v1.EphemeralContainerCommon", &["name", "restartPolicy"]),
    ("api.core.v1.Event", &["reportingComponent", "reportingInstance"]),
    ("api.core.v1.FCVolumeSource", &["lun"]),
    ("api.core.v1.FlexVolumeSource", &["driver"]),
    ("api.core.v1.GCEPersistentDiskVolumeSource", &["pdName"]),
    ("api.core.v1.GRPCAction", &["port", "service"]),
    ("api.core.v1.GitRepoVolumeSource", &["repository"]),
    ("api.core.v1.GlusterfsVolumeSource", &["endpoints", "path"]),
    ("api.core.v1.HTTPHeader", &["name", "value"]),
    ("api.core.v1.HostPathVolumeSource", &["path", "type"]),
    ("api.core.v1.ISCSIVolumeSource", &["targetPortal", "iqn", "lun", "initiatorName"]),
    ("api.core.v1.KeyToPath", &["key", "path", "mode"]),
    ("api.core.v1.Lifecycle", &["stopSignal"]),
    ("api.core.v1.NFSVolumeSource", &["server", "path"]),
    ("api.core.v1.NamespaceCondition", &["type", "status"]),
    ("api.core.v1.NodeSelectorRequirement", &["key", "operator"]),
    ("api.core.v1.ObjectFieldSelector", &["fieldPath"]),
    ("api.core.v1.PersistentVolumeClaimSpec", &["storageClassName", "volumeMode", "volumeAttributesClassName"]),
    ("api.core.v1.PersistentVolumeClaimVolumeSource", &["claimName"]),
    ("api.core.v1.PhotonPersistentDiskVolumeSource", &["pdID"]),
    ("api.core.v1.PodAffinityTerm", &["topologyKey"]),
    ("api.core.v1.PodDNSConfigOption", &["value"]),
    ("api.core.v1.PodOS", &["name"]),
    ("api.core.v1.PodReadinessGate", &["conditionType"]),
    ("api.core.v1.PodResourceClaim", &["name", "resourceClaimName", "resourceClaimTemplateName"]),
    ("api.core.v1.PodSchedulingGate", &["name"]),
    (
        "api.core.v1.PodSecurityContext",
        &[
            "runAsUser",
            "runAsGroup",
            "runAsNonRoot",
            "fsGroup",
            "fsGroupChangePolicy",
            "supplementalGroupsPolicy",
            "seLinuxChangePolicy",
        ],
    ),
    (
        "api.core.v1.PodSpec",
        &[
            "terminationGracePeriodSeconds",
            "activeDeadlineSeconds",
            "automountServiceAccountToken",
            "shareProcessNamespace",
            "priority",
            "runtimeClassName",
            "enableServiceLinks",
            "preemptionPolicy",
            "setHostnameAsFQDN",
            "hostUsers",
        ],
    ),
    ("api.core.v1.PortworxVolumeSource", &["volumeID"]),
    ("api.core.v1.PreferredSchedulingTerm", &["weight"]),
    ("api.core.v1.Probe", &["terminationGracePeriodSeconds"]),
    ("api.core.v1.ProjectedVolumeSource", &["defaultMode"]),
    ("api.core.v1.QuobyteVolumeSource", &["registry", "volume"]),
    ("api.core.v1.RBDVolumeSource", &["image"]),
    ("api.core.v1.ResourceClaim", &["name"]),
    ("api.core.v1.ResourceFieldSelector", &["resource"]),
    ("api.core.v1.ScaleIOVolumeSource", &["gateway", "system"]),
    ("api.core.v1.SeccompProfile", &["type", "localhostProfile"]),
    ("api.core.v1.SecretEnvSource", &["optional"]),
    ("api.core.v1.SecretKeySelector", &["key", "optional"]),
    ("api.core.v1.SecretProjection", &["optional"]),
    ("api.core.v1.SecretVolumeSource", &["defaultMode", "optional"]),
    (
        "api.core.v1.SecurityContext",
        &[
            "privileged",
            "runAsUser",
            "runAsGroup",
            "runAsNonRoot",
            "readOnlyRootFilesystem",
            "allowPrivilegeEscalation",
            "procMount",
        ],
    ),
    ("api.core.v1.ServiceAccountTokenProjection", &["expirationSeconds", "path"]),
    ("api.core.v1.SleepAction", &["seconds"]),
    ("api.core.v1.Sysctl", &["name", "value"]),
    ("api.core.v1.Toleration", &["tolerationSeconds"]),
    (
        "api.core.v1.TopologySpreadConstraint",
        &["maxSkew", "topologyKey", "whenUnsatisfiable", "minDomains", "nodeAffinityPolicy", "nodeTaintsPolicy"],
    ),
    ("api.core.v1.TypedLocalObjectReference", &["apiGroup", "kind", "name"]),
    ("api.core.v1.TypedObjectReference", &["apiGroup", "kind", "name", "namespace"]),
    ("api.core.v1.Volume", &["name"]),
    ("api.core.v1.VolumeDevice", &["name", "devicePath"]),
    ("api.core.v1.VolumeMount", &["name", "mountPath", "mountPropagation", "recursiveReadOnly"]),
    ("api.core.v1.VsphereVirtualDiskVolumeSource", &["volumePath"]),
    ("api.core.v1.WeightedPodAffinityTerm", &["weight"]),
    (
        "api.core.v1.WindowsSecurityContextOptions",
        &["gmsaCredentialSpecName", "gmsaCredentialSpec", "runAsUserName", "hostProcess"],
    ),
    ("api.events.v1.EventSeries", &["count"]),
    (
        "apimachinery.pkg.apis.meta.v1.DeleteOptions",
        &[
            "gracePeriodSeconds",
            "orphanDependents",
            "propagationPolicy",
            "ignoreStoreReadErrorWithClusterBreakingPotential",
        ],
    ),
    // rbac/v1 and authorization/v1 (served since; their Go types are the same in 1.20 and
    // 1.33 but for authorization/v1's field and label selector attributes, added in 1.31):
    // the scalars whose JSON tags have no `omitempty`. Neither group has pointer scalars.
    ("api.authorization.v1.SubjectAccessReviewStatus", &["allowed"]),
    // admissionregistration/v1 (1.33 Go types): fields without `omitempty` and pointer
    // scalars, by hand. authentication/v1's UserInfo and SelfSubjectReview have neither.
    ("api.admissionregistration.v1.MatchCondition", &["name", "expression"]),
    ("api.admissionregistration.v1.Rule", &["scope"]),
    ("api.admissionregistration.v1.ServiceReference", &["namespace", "name", "path", "port"]),
    (
        "api.admissionregistration.v1.ValidatingWebhook",
        &["name", "failurePolicy", "matchPolicy", "sideEffects", "timeoutSeconds"],
    ),
    ("api.admissionregistration.v1.WebhookClientConfig", &["url"]),
    ("api.rbac.v1.RoleRef", &["apiGroup", "kind", "name"]),
    ("api.rbac.v1.Subject", &["kind", "name"]),
    // Reached from authorization/v1's `FieldSelectorAttributes` (1.33 Go types).
    ("apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement", &["key", "operator"]),
    ("apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", &["key", "operator"]),
    ("apimachinery.pkg.apis.meta.v1.ListMeta", &["remainingItemCount"]),
    ("apimachinery.pkg.apis.meta.v1.ObjectMeta", &["deletionGracePeriodSeconds"]),
    (
        "apimachinery.pkg.apis.meta.v1.OwnerReference",
        &["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"],
    ),
    ("apimachinery.pkg.apis.meta.v1.Preconditions", &["uid", "resourceVersion"]),
    ("apimachinery.pkg.apis.meta.v1.WatchEvent", &["type"]),
];

/// Go structs embedded with `json:",inline"`: protobuf has a field for them, JSON spreads
/// their fields into the parent. From the 1.33 Go types of core/v1 (the other served groups
/// and meta/v1 embed nothing but `TypeMeta`, which protobuf leaves out).
pub(super) const INLINE: &[(&str, &str)] = &[
    ("api.core.v1.Probe", "handler"),
    ("api.core.v1.Volume", "volumeSource"),
    ("api.core.v1.EphemeralContainer", "ephemeralContainerCommon"),
    ("api.core.v1.PersistentVolumeSpec", "persistentVolumeSource"),
    ("api.core.v1.ConfigMapEnvSource", "localObjectReference"),
    ("api.core.v1.ConfigMapKeySelector", "localObjectReference"),
    ("api.core.v1.ConfigMapProjection", "localObjectReference"),
    ("api.core.v1.ConfigMapVolumeSource", "localObjectReference"),
    ("api.core.v1.SecretEnvSource", "localObjectReference"),
    ("api.core.v1.SecretKeySelector", "localObjectReference"),
    ("api.core.v1.SecretProjection", "localObjectReference"),
];
