//! The resources kubesim serves: the built-in kinds and the kinds registered by CRDs.
//!
//! A [`ResourceDef`] is what discovery advertises for one group/resource; a CRD becomes one
//! when it is created (and stops being one when it is deleted), as on the real API server.
//! Several served resources may share one storage (core/v1 `events` and events.k8s.io/v1
//! `events`; autoscaling/v1 and /v2 HorizontalPodAutoscalers): the [`Codec`] converts between
//! the stored shape and the shape a version serves.

use serde_json::{Value, json};

/// How objects are converted between the storage shape and a served version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored as served; only `apiVersion` is rewritten (CRD versions, conversion `None`).
    Identity,
    /// events.k8s.io/v1 view of core/v1 Event storage.
    EventsV1,
    /// autoscaling/v1 view of autoscaling/v2 HPA storage.
    HpaV1,
}

/// Built-in behaviour attached to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// apps/v1 Deployment: defaulting, validation, scale subresource, the Deployment controller.
    Deployment,
    /// core/v1 Namespace: DNS-1123 label names, `status.phase`, cascading delete.
    Namespace,
    /// core/v1 or events.k8s.io/v1 Event.
    Event,
    /// coordination.k8s.io/v1 Lease.
    Lease,
    /// autoscaling HorizontalPodAutoscaler.
    Hpa,
    /// apiextensions.k8s.io/v1 CustomResourceDefinition: registers a kind.
    Crd,
    /// An object of a CRD-registered kind.
    Custom,
    /// rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding or ClusterRoleBinding
    /// (told apart by kind): path-segment names, RBAC validation, ClusterRole aggregation
    /// ([`crate::rbac`]).
    Rbac,
    /// authorization.k8s.io/v1 SubjectAccessReview: create-only, never stored; the answer
    /// is evaluated from the stored RBAC objects ([`crate::rbac::review`]).
    AccessReview,
    /// authentication.k8s.io/v1 SelfSubjectReview: create-only, never stored; the answer is
    /// the caller ([`crate::identity::self_subject_review`]).
    SelfSubjectReview,
    /// admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration: v1 defaulting and
    /// validation; its webhooks are called on the writes they select ([`crate::admission`]).
    WebhookConfig,
}

impl Behavior {
    /// Whether the resource is create-only and never stored (the review kinds).
    pub fn is_review(self) -> bool {
        matches!(self, Behavior::AccessReview | Behavior::SelfSubjectReview)
    }
}

/// The storage of Events: core/v1 and events.k8s.io/v1 share it.
pub const EVENTS: &str = "events";

/// The storage of admissionregistration.k8s.io/v1 ValidatingWebhookConfigurations.
pub const WEBHOOK_CONFIGS: &str = "admissionregistration.k8s.io/validatingwebhookconfigurations";

/// A `additionalPrinterColumns` entry, used to build `Table` responses.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: `integer`, `number`, `string`, `boolean` or `date`.
    pub type_: String,
    /// Simple JSONPath into the object, e.g. `.spec.replicas`.
    pub json_path: String,
    /// Column description.
    pub description: String,
    /// 0 = shown by default; >0 = only with `-o wide`.
    pub priority: i64,
}

/// A served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group; empty for the core group.
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    /// Resource (plural, lower case), e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Short names, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether a `status` subresource isolates status from the main resource.
    pub status_subresource: bool,
    /// Scale subresource paths `(specReplicasPath, statusReplicasPath, labelSelectorPath)`.
    pub scale: Option<(String, String, Option<String>)>,
    /// The storage shared by every resource with the same key.
    pub storage: String,
    /// Conversion from storage.
    pub codec: Codec,
    /// Built-in behaviour.
    pub behavior: Behavior,
    /// `Table` columns after `Name` (CRDs: their additionalPrinterColumns).
    pub columns: Vec<PrinterColumn>,
    /// Per served version: the OpenAPI v3 schema to prune and validate with (CRDs only).
    pub schemas: Vec<(String, Value)>,
    /// Whether `metadata.generation` is maintained (bumped on spec changes).
    pub generation: bool,
    /// Whether annotation changes bump `metadata.generation` too: Deployments, whose
    /// annotations are copied to their ReplicaSets (`PrepareForUpdate` in
    /// pkg/registry/apps/deployment/strategy.go).
    pub generation_on_annotations: bool,
}

/// The `apiVersion` of API group `group` at `version`: `group/version`, or `version` alone for
/// the core group (`""`), e.g. `apps/v1`, `v1`.
///
/// Source: API groups in the Kubernetes API conventions
/// (<https://kubernetes.io/docs/reference/using-api/#api-groups>).
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

/// The API group and version of an `apiVersion`, the inverse of [`api_version`]: `apps/v1` →
/// (`apps`, `v1`), `v1` → (`""`, `v1`). The group ends at the first `/`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The URL path, without a leading `/`, under which `group` at `version` is served:
/// `api/{version}` for the core group (`""`), `apis/{group}/{version}` for the others.
///
/// Source: API groups in the Kubernetes API conventions
/// (<https://kubernetes.io/docs/reference/using-api/#api-groups>).
pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

impl ResourceDef {
    /// `resource.group`, as API error messages name a resource (e.g. `deployments.apps`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `Kind.group`, as 422 messages name a kind (e.g. `Deployment.apps`).
    pub fn kind_qualified(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }

    /// `apiVersion` for `version` (e.g. `apps/v1`, or `v1` for core); see [`api_version`].
    pub fn api_version(&self, version: &str) -> String {
        api_version(&self.group, version)
    }

    /// The storage version (the first served one).
    pub fn storage_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    /// The conversion between storage and `version` of this resource.
    pub fn codec_for(&self, version: &str) -> Codec {
        if self.behavior == Behavior::Hpa && version == "v1" { Codec::HpaV1 } else { self.codec }
    }

    /// The schema for `version`, if any.
    pub fn schema(&self, version: &str) -> Option<&Value> {
        self.schemas.iter().find(|(v, _)| v == version).map(|(_, s)| s)
    }
}

fn col(name: &str, type_: &str, json_path: &str, priority: i64) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        json_path: json_path.into(),
        description: String::new(),
        priority,
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    versions: &[&str],
    plural: &str,
    kind: &str,
    short: &[&str],
    namespaced: bool,
    status: bool,
    storage: &str,
    codec: Codec,
    behavior: Behavior,
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        versions: versions.iter().map(|s| s.to_string()).collect(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        namespaced,
        status_subresource: status,
        scale: None,
        storage: storage.into(),
        codec,
        behavior,
        columns: vec![],
        schemas: vec![],
        generation: false,
        generation_on_annotations: false,
    }
}

/// The built-in resources every kubesim serves.
pub fn builtins() -> Vec<ResourceDef> {
    let mut deployments = builtin(
        "apps",
        &["v1"],
        "deployments",
        "Deployment",
        &["deploy"],
        true,
        true,
        "apps/deployments",
        Codec::Identity,
        Behavior::Deployment,
    );
    deployments.categories = vec!["all".into()];
    deployments.generation = true;
    deployments.generation_on_annotations = true;
    deployments.scale = Some((".spec.replicas".into(), ".status.replicas".into(), Some(".status.selector".into())));
    deployments.columns = vec![
        col("Ready", "string", "", 0),
        col("Up-to-date", "integer", ".status.updatedReplicas", 0),
        col("Available", "integer", ".status.availableReplicas", 0),
        col("Age", "date", ".metadata.creationTimestamp", 0),
        col("Containers", "string", "", 1),
        col("Images", "string", "", 1),
        col("Selector", "string", "", 1),
    ];

    let mut namespaces = builtin(
        "",
        &["v1"],
        "namespaces",
        "Namespace",
        &["ns"],
        false,
        true,
        "namespaces",
        Codec::Identity,
        Behavior::Namespace,
    );
    namespaces.columns =
        vec![col("Status", "string", ".status.phase", 0), col("Age", "date", ".metadata.creationTimestamp", 0)];

    let mut events =
        builtin("", &["v1"], "events", "Event", &["ev"], true, false, EVENTS, Codec::Identity, Behavior::Event);
    // The API server's event table (pkg/printers/internalversion/printers.go): no leading
    // Name column — the name comes last, only with `-o wide` (priority 1).
    events.columns = vec![
        col("Last Seen", "string", "", 0),
        col("Type", "string", ".type", 0),
        col("Reason", "string", ".reason", 0),
        col("Object", "string", "", 0),
        col("Subobject", "string", ".involvedObject.fieldPath", 1),
        col("Source", "string", "", 1),
        col("Message", "string", ".message", 0),
        col("First Seen", "string", "", 1),
        col("Count", "string", "", 1),
        col("Name", "string", ".metadata.name", 1),
    ];
    let mut events_v1 = builtin(
        "events.k8s.io",
        &["v1"],
        "events",
        "Event",
        &["ev"],
        true,
        false,
        EVENTS,
        Codec::EventsV1,
        Behavior::Event,
    );
    events_v1.columns = events.columns.clone();

    let mut leases = builtin(
        "coordination.k8s.io",
        &["v1"],
        "leases",
        "Lease",
        &[],
        true,
        false,
        "coordination.k8s.io/leases",
        Codec::Identity,
        Behavior::Lease,
    );
    leases.columns =
        vec![col("Holder", "string", ".spec.holderIdentity", 0), col("Age", "date", ".metadata.creationTimestamp", 0)];

    let hpa_columns = vec![
        col("Reference", "string", "", 0),
        col("MinPods", "integer", ".spec.minReplicas", 0),
        col("MaxPods", "integer", ".spec.maxReplicas", 0),
        col("Replicas", "integer", ".status.currentReplicas", 0),
        col("Age", "date", ".metadata.creationTimestamp", 0),
    ];
    let mut hpa_v2 = builtin(
        "autoscaling",
        &["v2", "v1"],
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        &["hpa"],
        true,
        true,
        "autoscaling/horizontalpodautoscalers",
        Codec::Identity,
        Behavior::Hpa,
    );
    hpa_v2.generation = true;
    hpa_v2.categories = vec!["all".into()];
    hpa_v2.columns = hpa_columns;

    let mut crds = builtin(
        "apiextensions.k8s.io",
        &["v1"],
        "customresourcedefinitions",
        "CustomResourceDefinition",
        &["crd", "crds"],
        false,
        true,
        "apiextensions.k8s.io/customresourcedefinitions",
        Codec::Identity,
        Behavior::Crd,
    );
    crds.generation = true;
    crds.columns = vec![col("Created At", "date", ".metadata.creationTimestamp", 0)];

    let rbac = |plural: &str, kind: &str, namespaced: bool| {
        let mut def = builtin(
            crate::rbac::GROUP,
            &["v1"],
            plural,
            kind,
            &[],
            namespaced,
            false,
            &format!("{}/{plural}", crate::rbac::GROUP),
            Codec::Identity,
            Behavior::Rbac,
        );
        // The API server's tables (pkg/printers/internalversion/printers.go): roles show
        // when they were created; bindings their role, age and (wide) subjects.
        def.columns = if kind.ends_with("Binding") {
            vec![
                col("Role", "string", "", 0),
                col("Age", "date", ".metadata.creationTimestamp", 0),
                col("Users", "string", "", 1),
                col("Groups", "string", "", 1),
                col("ServiceAccounts", "string", "", 1),
            ]
        } else {
            vec![col("Created At", "string", ".metadata.creationTimestamp", 0)]
        };
        def
    };
    let roles = rbac("roles", "Role", true);
    let cluster_roles = rbac("clusterroles", "ClusterRole", false);
    let role_bindings = rbac("rolebindings", "RoleBinding", true);
    let cluster_role_bindings = rbac("clusterrolebindings", "ClusterRoleBinding", false);
    let subject_access_reviews = builtin(
        "authorization.k8s.io",
        &["v1"],
        "subjectaccessreviews",
        "SubjectAccessReview",
        &[],
        false,
        false,
        "authorization.k8s.io/subjectaccessreviews",
        Codec::Identity,
        Behavior::AccessReview,
    );

    let self_subject_reviews = builtin(
        "authentication.k8s.io",
        &["v1"],
        "selfsubjectreviews",
        "SelfSubjectReview",
        &[],
        false,
        false,
        "authentication.k8s.io/selfsubjectreviews",
        Codec::Identity,
        Behavior::SelfSubjectReview,
    );
    let mut webhook_configs = builtin(
        "admissionregistration.k8s.io",
        &["v1"],
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        &[],
        false,
        false,
        WEBHOOK_CONFIGS,
        Codec::Identity,
        Behavior::WebhookConfig,
    );
    // pkg/registry/admissionregistration/validatingwebhookconfiguration/strategy.go: the
    // generation moves when the webhooks change. Category and columns as the API server's
    // (printers.go: NAME, WEBHOOKS, AGE).
    webhook_configs.generation = true;
    webhook_configs.categories = vec!["api-extensions".into()];
    webhook_configs.columns =
        vec![col("Webhooks", "integer", "", 0), col("Age", "date", ".metadata.creationTimestamp", 0)];

    vec![
        namespaces,
        events,
        deployments,
        events_v1,
        leases,
        hpa_v2,
        crds,
        roles,
        cluster_roles,
        role_bindings,
        cluster_role_bindings,
        subject_access_reviews,
        self_subject_reviews,
        webhook_configs,
    ]
}

/// Builds the [`ResourceDef`] a stored CRD registers, or `None` when it serves no version.
pub fn from_crd(crd: &Value) -> Option<ResourceDef> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let versions: Vec<&Value> = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .collect();
    // The storage version goes first so that it is the one objects are stored in.
    let mut ordered: Vec<&Value> = versions.iter().copied().filter(|v| v["storage"] == json!(true)).collect();
    ordered.extend(versions.iter().copied().filter(|v| v["storage"] != json!(true)));
    let first = *ordered.first()?;
    let status = first.pointer("/subresources/status").is_some();
    let scale = first.pointer("/subresources/scale").map(|s| {
        (
            s["specReplicasPath"].as_str().unwrap_or(".spec.replicas").to_string(),
            s["statusReplicasPath"].as_str().unwrap_or(".status.replicas").to_string(),
            s["labelSelectorPath"].as_str().map(String::from),
        )
    });
    let columns = match first.get("additionalPrinterColumns").and_then(Value::as_array) {
        Some(cols) => cols
            .iter()
            .map(|c| PrinterColumn {
                name: c["name"].as_str().unwrap_or("").to_string(),
                type_: c["type"].as_str().unwrap_or("string").to_string(),
                json_path: c["jsonPath"].as_str().unwrap_or("").to_string(),
                description: c["description"].as_str().unwrap_or("").to_string(),
                priority: c["priority"].as_i64().unwrap_or(0),
            })
            .collect(),
        None => vec![col("Age", "date", ".metadata.creationTimestamp", 0)],
    };
    let schemas = ordered
        .iter()
        .filter_map(|v| Some((v.get("name")?.as_str()?.to_string(), v.pointer("/schema/openAPIV3Schema")?.clone())))
        .collect();
    Some(ResourceDef {
        storage: format!("{group}/{plural}"),
        versions: ordered.iter().filter_map(|v| v["name"].as_str().map(String::from)).collect(),
        singular: names["singular"].as_str().map(String::from).unwrap_or_else(|| kind.to_lowercase()),
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        namespaced: spec["scope"] != json!("Cluster"),
        status_subresource: status,
        scale,
        codec: Codec::Identity,
        behavior: Behavior::Custom,
        columns,
        schemas,
        generation: true,
        generation_on_annotations: false,
        group,
        plural,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_and_paths() {
        assert_eq!(api_version("", "v1"), "v1");
        assert_eq!(api_version("apps", "v1"), "apps/v1");
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(group_version_path("", "v1"), "api/v1");
        assert_eq!(group_version_path("apps", "v1"), "apis/apps/v1");
    }

    #[test]
    fn crd_registers_storage_version_first_with_subresources() {
        let crd = json!({
            "spec": {
                "group": "example.dev", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                    {"name": "v0", "served": false, "storage": false}
                ]
            }
        });
        let def = from_crd(&crd).expect("registers");
        assert_eq!(def.versions, vec!["v1", "v1alpha1"]);
        assert!(def.status_subresource);
        assert_eq!(def.scale.as_ref().map(|s| s.0.as_str()), Some(".spec.size"));
        assert_eq!(def.columns[0].name, "Size");
        assert_eq!(def.qualified(), "widgets.example.dev");
        assert_eq!(def.short_names, vec!["wd"]);
    }

    #[test]
    fn builtin_names_qualify_like_apiserver() {
        let all = builtins();
        let dep = all.iter().find(|d| d.plural == "deployments").expect("deployments");
        assert_eq!(dep.qualified(), "deployments.apps");
        assert_eq!(dep.kind_qualified(), "Deployment.apps");
        let ns = all.iter().find(|d| d.plural == "namespaces").expect("namespaces");
        assert_eq!(ns.qualified(), "namespaces");
        assert_eq!(ns.api_version("v1"), "v1");
    }
}
