//! Reads: GET of one object, LIST with selectors and continue tokens, and the
//! filtering of watch events by the same options.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resources::{Behavior, Codec, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ChangeType, ObjKey, StoreInner};

use super::update::scale_view;
use super::{Ctx, Sub, to_view};

/// GET one object.
pub fn get(store: &StoreInner, ctx: &Ctx, name: &str, sub: Sub) -> Result<Value, ApiError> {
    let stored = store.get(&ctx.def.storage, &ctx.key(name)).ok_or_else(|| ctx.not_found(name))?;
    Ok(match sub {
        Sub::Scale => scale_view(&ctx.def, &stored)?,
        _ => to_view(&ctx.def, &ctx.version, &stored),
    })
}

/// List options from the query string.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: LabelSelector,
    /// `fieldSelector`.
    pub field_selector: FieldSelector,
    /// `limit` (0 = no limit).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
}

/// Whether `obj` passes the namespace and selectors of a list or watch.
pub fn matches(obj: &Value, namespace: &str, opts: &ListOptions) -> bool {
    (namespace.is_empty() || obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace))
        && opts.label_selector.matches_object(obj)
        && opts.field_selector.matches(obj)
}

/// Field paths a field selector may name for `def` (as the real server's field label
/// conversion functions allow). Others answer 400.
pub fn check_field_selector(def: &ResourceDef, sel: &FieldSelector) -> Result<(), ApiError> {
    for f in sel.fields() {
        let ok = matches!(f, "metadata.name" | "metadata.namespace")
            || (def.behavior == Behavior::Event
                && (f.starts_with("involvedObject.")
                    || f.starts_with("regarding.")
                    || matches!(f, "reason" | "type" | "source" | "reportingComponent" | "reportingController")))
            || (def.behavior == Behavior::Namespace && f == "status.phase");
        if !ok {
            return Err(ApiError::bad_request(format!(
                "\"{f}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            )));
        }
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: (String, String),
}

/// One page of a LIST: the stored objects, shared with the store rather than copied, and
/// the list's metadata (`resourceVersion`, `continue`). Items are converted to the requested
/// version only as they are written out, so a page of 500 Deployments costs one pass of
/// serialization and no deep copy ([`ListPage::to_value`] makes the copy for the renderers
/// that need a [`Value`]: tables and protobuf).
#[derive(Debug)]
pub struct ListPage {
    def: ResourceDef,
    version: String,
    /// The list's `metadata`.
    pub metadata: Value,
    /// The stored objects on this page, in key order.
    pub items: Vec<Arc<Value>>,
}

impl ListPage {
    /// The list's `apiVersion` (the resource's at the requested version).
    pub fn api_version(&self) -> String {
        self.def.api_version(&self.version)
    }

    /// The list's `kind`: the resource's kind followed by `List`.
    pub fn kind(&self) -> String {
        format!("{}List", self.def.kind)
    }

    /// The items in the requested version, copied.
    pub fn views(&self) -> Vec<Value> {
        self.items.iter().map(|o| to_view(&self.def, &self.version, o)).collect()
    }

    /// The whole list as one value, copied.
    pub fn to_value(&self) -> Value {
        json!({"apiVersion": self.api_version(), "kind": self.kind(), "metadata": self.metadata, "items": self.views()})
    }

    /// The list as a meta.k8s.io/v1 `PartialObjectMetadataList`, serialized without
    /// copying: each item keeps type meta and `metadata` only (the apiserver's
    /// `asPartialObjectMetadataList`).
    pub fn partial(&self) -> PartialList<'_> {
        PartialList(self)
    }

    fn partial_value(&self) -> Value {
        let items: Vec<Value> = self.views().iter().map(|v| partial_object(v.get("metadata"))).collect();
        json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": self.metadata, "items": items})
    }
}

/// A `PartialObjectMetadata` holding `metadata` (an empty one when the object has none).
pub fn partial_object(metadata: Option<&Value>) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata.cloned().unwrap_or(json!({}))})
}

impl Serialize for ListPage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("apiVersion", &self.api_version())?;
        m.serialize_entry("kind", &self.kind())?;
        m.serialize_entry("metadata", &self.metadata)?;
        m.serialize_entry("items", &Items { page: self, partial: false })?;
        m.end()
    }
}

/// A [`ListPage`] as a `PartialObjectMetadataList`; see [`ListPage::partial`].
#[derive(Debug)]
pub struct PartialList<'a>(&'a ListPage);

impl PartialList<'_> {
    /// The list as one value, copied (for protobuf).
    pub fn to_value(&self) -> Value {
        self.0.partial_value()
    }
}

impl Serialize for PartialList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("kind", "PartialObjectMetadataList")?;
        m.serialize_entry("apiVersion", "meta.k8s.io/v1")?;
        m.serialize_entry("metadata", &self.0.metadata)?;
        m.serialize_entry("items", &Items { page: self.0, partial: true })?;
        m.end()
    }
}

/// The items of a page as they are written out: borrowed from the store when the requested
/// version is the storage shape (only `apiVersion` and `kind` are set on the way out),
/// converted one at a time otherwise.
struct Items<'a> {
    page: &'a ListPage,
    partial: bool,
}

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let page = self.page;
        let mut seq = s.serialize_seq(Some(page.items.len()))?;
        let identity = matches!(page.def.codec_for(&page.version), Codec::Identity);
        let api_version = page.api_version();
        for obj in &page.items {
            match (identity, self.partial) {
                (true, false) => {
                    seq.serialize_element(&Stored { obj, api_version: &api_version, kind: &page.def.kind })?
                }
                (true, true) => seq.serialize_element(&Partial(obj.get("metadata")))?,
                (false, partial) => {
                    let view = to_view(&page.def, &page.version, obj);
                    if partial {
                        seq.serialize_element(&Partial(view.get("metadata")))?;
                    } else {
                        seq.serialize_element(&view)?;
                    }
                }
            }
        }
        seq.end()
    }
}

/// A stored object in its storage shape, written with the requested `apiVersion` and the
/// resource's `kind` in place of its own (what [`to_view`] does, without the copy).
struct Stored<'a> {
    obj: &'a Value,
    api_version: &'a str,
    kind: &'a str,
}

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rest = self.obj.as_object().into_iter().flatten().filter(|(k, _)| *k != "apiVersion" && *k != "kind");
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("apiVersion", self.api_version)?;
        m.serialize_entry("kind", self.kind)?;
        for (k, v) in rest {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A `PartialObjectMetadata` borrowing its `metadata`.
struct Partial<'a>(Option<&'a Value>);

impl Serialize for Partial<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("kind", "PartialObjectMetadata")?;
        m.serialize_entry("apiVersion", "meta.k8s.io/v1")?;
        match self.0 {
            Some(md) => m.serialize_entry("metadata", md)?,
            None => m.serialize_entry("metadata", &serde_json::Map::new())?,
        }
        m.end()
    }
}

/// LIST a collection: one page of at most `limit` objects, served from one snapshot. The
/// objects are shared with the store; see [`ListPage`].
pub fn list_page(store: &mut StoreInner, ctx: &Ctx, opts: &ListOptions) -> Result<ListPage, ApiError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let storage = ctx.def.storage.clone();
    let (snapshot, rv, start) = match &opts.continue_token {
        Some(token) => {
            let bytes =
                b64.decode(token).map_err(|_| ApiError::bad_request("continue key is not valid: illegal base64"))?;
            let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| {
                ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion")
            })?;
            let snap = store.kept_snapshot(&storage, t.rv).ok_or_else(|| {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start \
                     a new list without the continue parameter.",
                )
            })?;
            (snap, t.rv, Some(t.start))
        }
        None => (store.snapshot(&storage), store.rv, None),
    };
    let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
    let iter: Box<dyn Iterator<Item = (&ObjKey, &Arc<Value>)>> = match (&start, ns.is_empty()) {
        (Some(s), _) => Box::new(snapshot.range(s.clone()..)),
        (None, false) => Box::new(snapshot.range((ns.to_string(), String::new())..)),
        (None, true) => Box::new(snapshot.iter()),
    };
    let mut items = vec![];
    let mut next: Option<ObjKey> = None;
    for (key, obj) in iter {
        if !ns.is_empty() && key.0 != ns {
            break;
        }
        if !matches(obj, "", opts) {
            continue;
        }
        if opts.limit > 0 && items.len() == opts.limit {
            next = Some(key.clone());
            break;
        }
        items.push(Arc::clone(obj));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(start) = next {
        if opts.continue_token.is_none() {
            store.keep_snapshot(&storage, snapshot);
        }
        let token = serde_json::to_vec(&ContinueToken { rv, start }).map_err(|e| ApiError::internal(e.to_string()))?;
        metadata["continue"] = json!(b64.encode(token));
    }
    Ok(ListPage { def: ctx.def.clone(), version: ctx.version.clone(), metadata, items })
}

/// A watch event's object in the requested version; `None` when the change does not pass
/// the watch's filters. Objects leaving the selection are sent as DELETED and objects
/// entering it as ADDED, as the watch cache does.
pub fn watch_event(
    ctx: &Ctx,
    opts: &ListOptions,
    kind: ChangeType,
    obj: &Value,
    prev: Option<&Value>,
) -> Option<(&'static str, Value)> {
    let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
    let now_in = matches(obj, ns, opts);
    let was_in = prev.is_some_and(|p| matches(p, ns, opts));
    let t = match kind {
        ChangeType::Added if now_in => "ADDED",
        ChangeType::Modified if now_in && was_in => "MODIFIED",
        ChangeType::Modified if now_in => "ADDED",
        ChangeType::Modified if was_in => "DELETED",
        ChangeType::Deleted if now_in || was_in => "DELETED",
        _ => return None,
    };
    Some((t, to_view(&ctx.def, &ctx.version, obj)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;
    use crate::store::Store;

    fn ctx(kind: &str, version: &str) -> Ctx {
        let def = builtins().into_iter().find(|d| d.kind == kind).expect("builtin kind");
        Ctx {
            def,
            version: version.into(),
            namespace: String::new(),
            manager: "test".into(),
            dry_run: false,
            gate: None,
        }
    }

    /// A page written out from the store's objects is the same JSON as the copied list, for
    /// a resource served in its storage shape and for one converted on the way out
    /// (autoscaling/v1 HPAs are stored as v2), in full and as PartialObjectMetadata.
    #[test]
    fn a_page_serialized_from_the_store_equals_the_copied_list() {
        let store = Store::new(builtins(), 100);
        let mut s = store.lock();
        let deployments = ctx("Deployment", "v1").def.storage;
        let hpas = ctx("HorizontalPodAutoscaler", "v2").def.storage;
        for i in 0..3 {
            let name = format!("web-{i}");
            s.commit(
                &deployments,
                ("shop".into(), name.clone()),
                Some(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"}},
                "spec": {"replicas": i, "selector": {"matchLabels": {"app": "web"}}}})),
            );
            s.commit(
                &hpas,
                ("shop".into(), name.clone()),
                Some(json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "minReplicas": 1, "maxReplicas": 5,
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                      "target": {"type": "Utilization", "averageUtilization": 70}}}]}})),
            );
        }
        for (kind, version) in
            [("Deployment", "v1"), ("HorizontalPodAutoscaler", "v1"), ("HorizontalPodAutoscaler", "v2")]
        {
            let opts = ListOptions { limit: 2, ..Default::default() };
            let page = list_page(&mut s, &ctx(kind, version), &opts).expect("list");
            assert_eq!(page.items.len(), 2, "{kind} {version}");
            let copied = page.to_value();
            assert_eq!(serde_json::to_value(&page).expect("serialize"), copied, "{kind} {version}");
            assert_eq!(copied["items"][0]["apiVersion"], json!(page.api_version()), "{kind} {version}");
            assert!(copied["metadata"]["continue"].is_string(), "{kind} {version}");
            let partial = serde_json::to_value(page.partial()).expect("serialize");
            assert_eq!(partial, page.partial().to_value(), "{kind} {version}");
            assert_eq!(partial["items"][1]["metadata"], copied["items"][1]["metadata"], "{kind} {version}");
            assert_eq!(partial["items"][1]["kind"], json!("PartialObjectMetadata"));
        }
        let hpa_v1 = list_page(&mut s, &ctx("HorizontalPodAutoscaler", "v1"), &ListOptions::default()).expect("list");
        let v1 = serde_json::to_value(&hpa_v1).expect("serialize");
        assert_eq!(v1["items"][0]["spec"]["targetCPUUtilizationPercentage"], json!(70), "converted to v1: {v1}");
    }
}
