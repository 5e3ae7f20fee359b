//! The verbs: get, list, create, update, patch, delete — with the real API server's rules
//! for metadata, generation, preconditions, subresources, validation, managedFields and
//! garbage collection.
//!
//! Every function here runs synchronously under the store lock, so each write is atomic.
//! Objects are stored in their storage shape and converted to the requested version on the
//! way out ([`to_view`]) and back on the way in ([`from_view`]).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::convert;
use crate::error::{ApiError, Cause};
use crate::managed_fields::{self, Operation, Writer};
use crate::resources::{Behavior, Codec, ResourceDef};
use crate::schema;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ChangeType, ObjKey, StoreInner, WriteRecord};
use crate::validation;

/// Which part of an object a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The main resource.
    Main,
    /// The `status` subresource.
    Status,
    /// The `scale` subresource (an autoscaling/v1 `Scale`).
    Scale,
}

impl Sub {
    fn name(self) -> Option<&'static str> {
        match self {
            Sub::Main => None,
            Sub::Status => Some("status"),
            Sub::Scale => Some("scale"),
        }
    }
}

/// The request a verb runs for.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The resource addressed.
    pub def: ResourceDef,
    /// The version it was addressed in.
    pub version: String,
    /// Namespace from the URL (empty for cluster-scoped or all-namespaces).
    pub namespace: String,
    /// Field manager: `?fieldManager=`, else the user agent's product name.
    pub manager: String,
    /// `?dryRun=All`: validate but do not persist.
    pub dry_run: bool,
}

impl Ctx {
    fn key(&self, name: &str) -> ObjKey {
        (if self.def.namespaced { self.namespace.clone() } else { String::new() }, name.to_string())
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.def.qualified(), &self.def.group, &self.def.plural, name)
    }

    fn conflict(&self, name: &str, detail: &str) -> ApiError {
        ApiError::conflict(&self.def.qualified(), &self.def.group, &self.def.plural, name, detail)
    }

    fn invalid(&self, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::invalid(&self.def.kind_qualified(), &self.def.group, &self.def.kind, name, causes)
    }
}

/// The outcome of a write: the object to answer with and what to publish.
#[derive(Debug)]
pub struct Written {
    /// The object in the requested version's shape.
    pub object: Value,
    /// Whether it was created (201) rather than updated (200).
    pub created: bool,
    /// The resourceVersion committed last (0 when nothing was committed).
    pub rv: u64,
    /// Whether a Deployment's spec changed (wakes the Deployment controller).
    pub deployments_changed: bool,
}

/// RFC 3339 "now", to the second, as `metav1.Time` serializes.
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// === conversion ===

/// Converts a stored object to `version` of `def`.
pub fn to_view(def: &ResourceDef, version: &str, stored: &Value) -> Value {
    let mut v = match def.codec_for(version) {
        Codec::Identity => stored.clone(),
        Codec::EventsV1 => convert::event_core_to_v1(stored.clone()),
        Codec::HpaV1 => convert::hpa_v2_to_v1(stored.clone()),
    };
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!(def.api_version(version)));
        m.insert("kind".into(), json!(def.kind));
    }
    v
}

/// Converts an object in `version` of `def` to its storage shape.
pub fn from_view(def: &ResourceDef, version: &str, view: Value) -> Value {
    let storage_version = def.storage_version().to_string();
    let mut v = match def.codec_for(version) {
        Codec::Identity => view,
        Codec::EventsV1 => convert::event_v1_to_core(view),
        Codec::HpaV1 => convert::hpa_v1_to_v2(view),
    };
    if let Some(m) = v.as_object_mut() {
        let api_version = match def.behavior {
            Behavior::Event => "v1".to_string(),
            _ => def.api_version(&storage_version),
        };
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(def.kind));
    }
    v
}

// === reads ===

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

/// LIST a collection: one page of at most `limit` objects, served from one snapshot.
pub fn list(store: &mut StoreInner, ctx: &Ctx, opts: &ListOptions) -> Result<Value, ApiError> {
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
        items.push(to_view(&ctx.def, &ctx.version, obj));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(start) = next {
        if opts.continue_token.is_none() {
            store.keep_snapshot(&storage, snapshot);
        }
        let token = serde_json::to_vec(&ContinueToken { rv, start }).map_err(|e| ApiError::internal(e.to_string()))?;
        metadata["continue"] = json!(b64.encode(token));
    }
    Ok(json!({
        "apiVersion": ctx.def.api_version(&ctx.version),
        "kind": format!("{}List", ctx.def.kind),
        "metadata": metadata,
        "items": items,
    }))
}

// === writes ===

fn meta(obj: &Value) -> &Value {
    obj.get("metadata").unwrap_or(&Value::Null)
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).get(field).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

fn random_suffix() -> String {
    use rand::Rng as _;
    // The alphabet of apimachinery's utilrand.String: no vowels, no confusable digits.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn record(store: &mut StoreInner, ctx: &Ctx, verb: &str, sub: Sub, name: &str, rv: u64) {
    store.record_write(WriteRecord {
        rv,
        verb: verb.into(),
        resource: ctx.def.plural.clone(),
        subresource: sub.name().map(String::from),
        namespace: if ctx.def.namespaced { ctx.namespace.clone() } else { String::new() },
        name: name.into(),
        field_manager: ctx.manager.clone(),
    });
}

/// Checks a body's `apiVersion`/`kind` against the URL.
fn check_type(ctx: &Ctx, body: &Value, expect_kind: &str, expect_api_version: &str) -> Result<(), ApiError> {
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != expect_kind
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({expect_api_version})",
            body.get("apiVersion").and_then(Value::as_str).unwrap_or("")
        )));
    }
    let _ = ctx;
    Ok(())
}

/// POST: create an object.
pub fn create(store: &mut StoreInner, ctx: &Ctx, body: Value) -> Result<Written, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    check_type(ctx, &body, &ctx.def.kind, &ctx.def.api_version(&ctx.version))?;
    let mut obj = from_view(&ctx.def, &ctx.version, body);
    let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
        (Some(n), _) => n.to_string(),
        (None, Some(g)) => format!("{g}{}", random_suffix()),
        (None, None) => {
            return Err(ctx.invalid("", vec![Cause::required("metadata.name")]).with_message_name_required());
        }
    };
    if ctx.def.namespaced {
        if let Some(ns) = meta_str(&obj, "namespace")
            && ns != ctx.namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if store.get("namespaces", &(String::new(), ctx.namespace.clone())).is_none() {
            return Err(ApiError::not_found("namespaces", "", "namespaces", &ctx.namespace));
        }
    }
    let key = ctx.key(&name);
    if store.get(&ctx.def.storage, &key).is_some() {
        return Err(ApiError::already_exists(&ctx.def.qualified(), &ctx.def.group, &ctx.def.plural, &name));
    }
    {
        let m = meta_mut(&mut obj);
        m.insert("name".into(), json!(name));
        if ctx.def.namespaced {
            m.insert("namespace".into(), json!(ctx.namespace));
        } else {
            m.remove("namespace");
        }
        for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"] {
            m.remove(f);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        if ctx.def.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    if ctx.def.status_subresource && ctx.def.behavior != Behavior::Namespace {
        obj.as_object_mut().map(|m| m.remove("status"));
    }
    let mut causes = validation::name(&ctx.def, &name);
    validation::default_and_validate(&ctx.def, &mut obj, None, &mut causes);
    validate_custom(ctx, &mut obj, &mut causes);
    if !causes.is_empty() {
        return Err(ctx.invalid(&name, causes));
    }
    let owned = managed_fields::field_set(&obj, false);
    let api_version = ctx.def.api_version(&ctx.version);
    managed_fields::record(
        &[],
        &mut obj,
        &owned,
        &Writer {
            manager: &ctx.manager,
            operation: Operation::Update,
            subresource: None,
            api_version: &api_version,
            time: &now(),
        },
    );
    if ctx.def.behavior == Behavior::Crd {
        crd_accept(store, &mut obj)?;
    }
    if ctx.dry_run {
        record(store, ctx, "create", Sub::Main, &name, 0);
        return Ok(Written {
            object: to_view(&ctx.def, &ctx.version, &obj),
            created: true,
            rv: 0,
            deployments_changed: false,
        });
    }
    let stored =
        store.commit(&ctx.def.storage, key.clone(), Some(obj)).ok_or_else(|| ApiError::internal("commit failed"))?;
    let rv = store.rv;
    record(store, ctx, "create", Sub::Main, &name, rv);
    let deployments_changed = ctx.def.behavior == Behavior::Deployment;
    if deployments_changed {
        store.deployment_changes.push(key);
    }
    if ctx.def.behavior == Behavior::Crd
        && let Some(def) = crate::resources::from_crd(&stored)
    {
        store.resources.retain(|r| !(r.group == def.group && r.plural == def.plural));
        store.resources.push(def);
    }
    Ok(Written { object: to_view(&ctx.def, &ctx.version, &stored), created: true, rv, deployments_changed })
}

impl ApiError {
    fn with_message_name_required(mut self) -> Self {
        self.message =
            format!("{}: name or generateName is required", self.message.trim_end_matches(": Required value"));
        self
    }
}

/// Validates a CRD-registered object against its version's schema (pruning unknown fields).
fn validate_custom(ctx: &Ctx, obj: &mut Value, causes: &mut Vec<Cause>) {
    if ctx.def.behavior != Behavior::Custom {
        return;
    }
    if let Some(s) = ctx.def.schema(&ctx.version) {
        for e in schema::prune_and_validate(s, obj) {
            causes.push(Cause { reason: e.reason.to_string(), message: e.message, field: e.field });
        }
    }
}

/// Checks a CRD's names and fills its status (NamesAccepted, Established), as the
/// apiextensions controllers do once the names are free.
fn crd_accept(store: &StoreInner, crd: &mut Value) -> Result<(), ApiError> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("").to_string();
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or("").to_string();
    let name = meta_str(crd, "name").unwrap_or("").to_string();
    let mut causes = vec![];
    if name != format!("{plural}.{group}") {
        causes.push(Cause::invalid("metadata.name", &json!(name), "must be spec.names.plural+\".\"+spec.group"));
    }
    if crd.pointer("/spec/versions").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        causes.push(Cause::required("spec.versions"));
    }
    let storage_versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter(|v| v["storage"] == json!(true)).count())
        .unwrap_or(0);
    if storage_versions != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            &json!(storage_versions),
            "must have exactly one version marked as storage version",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition.apiextensions.k8s.io",
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &name,
            causes,
        ));
    }
    let builtin_clash =
        store.resources.iter().any(|r| r.group == group && r.plural == plural && r.behavior != Behavior::Custom);
    let t = now();
    let accepted = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    crd["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": if builtin_clash {"False"} else {"True"}, "reason": if builtin_clash {"NameConflict"} else {"NoConflicts"}, "message": if builtin_clash {"the name is already in use"} else {"no conflicts found"}, "lastTransitionTime": t},
            {"type": "Established", "status": if builtin_clash {"False"} else {"True"}, "reason": if builtin_clash {"NotAccepted"} else {"InitialNamesAccepted"}, "message": if builtin_clash {"not all names are accepted"} else {"the initial names have been accepted"}, "lastTransitionTime": t},
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|v| v.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
    });
    Ok(())
}

/// The autoscaling/v1 `Scale` view of a stored object with a scale subresource.
pub fn scale_view(def: &ResourceDef, stored: &Value) -> Result<Value, ApiError> {
    let (spec_path, status_path, selector_path) = def.scale.clone().ok_or_else(ApiError::no_such_resource)?;
    let at = |path: &str| stored.pointer(&json_pointer(path)).cloned();
    let mut status = json!({"replicas": at(&status_path).and_then(|v| v.as_i64()).unwrap_or(0)});
    let selector = match (def.behavior, selector_path) {
        (Behavior::Deployment, _) => {
            stored.pointer("/spec/selector").and_then(|s| LabelSelector::from_object(s).ok()).map(|s| s.to_string())
        }
        (_, Some(p)) => at(&p).and_then(|v| v.as_str().map(String::from)),
        _ => None,
    };
    if let Some(sel) = selector {
        status["selector"] = json!(sel);
    }
    let m = meta(stored);
    let mut metadata = json!({
        "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
        "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
    });
    if !def.namespaced {
        metadata.as_object_mut().map(|o| o.remove("namespace"));
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": at(&spec_path).and_then(|v| v.as_i64()).unwrap_or(0)},
        "status": status,
    }))
}

/// `.spec.replicas` → `/spec/replicas`.
pub fn json_pointer(path: &str) -> String {
    path.trim_start_matches('.').split('.').fold(String::new(), |acc, p| format!("{acc}/{p}"))
}

fn set_at(obj: &mut Value, path: &str, v: Value) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), v);
            return;
        }
        cur = m.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

/// The parts of an object that decide whether `metadata.generation` moves: everything
/// but metadata and status.
fn spec_of(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    v
}

/// Writes a new state of an existing object: `mutate` turns the current view (of the
/// version and subresource addressed) into the requested one. Applies preconditions,
/// subresource isolation, system metadata, validation, generation and managedFields.
pub fn write_existing(
    store: &mut StoreInner,
    ctx: &Ctx,
    name: &str,
    sub: Sub,
    verb: &str,
    operation: Operation,
    mutate: impl FnOnce(Value) -> Result<Value, ApiError>,
) -> Result<Written, ApiError> {
    let key = ctx.key(name);
    let cur = store.get(&ctx.def.storage, &key).ok_or_else(|| ctx.not_found(name))?;
    let cur_view = match sub {
        Sub::Scale => scale_view(&ctx.def, &cur)?,
        _ => to_view(&ctx.def, &ctx.version, &cur),
    };
    let new_view = mutate(cur_view)?;
    if !new_view.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    // Preconditions carried in the object: resourceVersion and uid.
    if let Some(rv) = meta_str(&new_view, "resourceVersion")
        && Some(rv) != meta_str(&cur, "resourceVersion")
    {
        return Err(ctx.conflict(name, ApiError::STALE));
    }
    if let Some(uid) = meta_str(&new_view, "uid")
        && Some(uid) != meta_str(&cur, "uid")
    {
        return Err(ctx.conflict(
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&cur, "uid").unwrap_or("")
            ),
        ));
    }
    if let Some(n) = meta_str(&new_view, "name")
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if ctx.def.namespaced
        && let Some(ns) = meta_str(&new_view, "namespace")
        && ns != ctx.namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut causes = vec![];
    let mut new = match sub {
        Sub::Scale => {
            let replicas = new_view.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            if replicas.as_i64().is_none_or(|r| r < 0) {
                return Err(ApiError::invalid(
                    "Scale.autoscaling",
                    "autoscaling",
                    "Scale",
                    name,
                    vec![Cause::invalid("spec.replicas", &replicas, "must be greater than or equal to 0")],
                ));
            }
            let mut n = (*cur).clone();
            let spec_path = ctx.def.scale.as_ref().map(|s| s.0.clone()).unwrap_or_else(|| ".spec.replicas".into());
            set_at(&mut n, &spec_path, replicas);
            n
        }
        Sub::Status => {
            let mut n = (*cur).clone();
            let status = from_view(&ctx.def, &ctx.version, new_view).get("status").cloned();
            match status {
                Some(s) => n["status"] = s,
                None => {
                    n.as_object_mut().map(|m| m.remove("status"));
                }
            }
            n
        }
        Sub::Main => {
            check_type(ctx, &new_view, &ctx.def.kind, &ctx.def.api_version(&ctx.version))?;
            let mut n = from_view(&ctx.def, &ctx.version, new_view);
            if ctx.def.status_subresource {
                match cur.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        n.as_object_mut().map(|m| m.remove("status"));
                    }
                }
            }
            n
        }
    };
    // System metadata comes from the stored object, whatever the body said.
    {
        let cur_meta = meta(&cur).clone();
        let m = meta_mut(&mut new);
        for f in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
        ] {
            match cur_meta.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        if sub != Sub::Main {
            // Subresource writes never change labels, annotations or owners.
            for f in ["labels", "annotations", "ownerReferences", "finalizers"] {
                match cur_meta.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
        }
        match cur_meta.get("managedFields") {
            Some(v) => m.insert("managedFields".into(), v.clone()),
            None => m.remove("managedFields"),
        };
    }
    if sub != Sub::Status {
        validation::default_and_validate(&ctx.def, &mut new, Some(&cur), &mut causes);
        validate_custom(ctx, &mut new, &mut causes);
    } else if ctx.def.behavior == Behavior::Deployment {
        validation::deployment_status(&new, &mut causes);
    }
    if !causes.is_empty() {
        return Err(ctx.invalid(name, causes));
    }
    if ctx.def.behavior == Behavior::Crd && sub == Sub::Main {
        crd_accept(store, &mut new)?;
    }
    let spec_changed = spec_of(&new) != spec_of(&cur)
        || (ctx.def.generation_on_annotations && meta(&new).get("annotations") != meta(&cur).get("annotations"));
    if new == *cur {
        // Nothing changed: the real server does not write, and the resourceVersion stays.
        record(store, ctx, verb, sub, name, 0);
        return Ok(Written { object: respond(ctx, sub, &cur)?, created: false, rv: 0, deployments_changed: false });
    }
    if ctx.def.generation && spec_changed && sub != Sub::Status {
        let g = meta(&cur).get("generation").and_then(Value::as_i64).unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    let owned = match operation {
        Operation::Update => managed_fields::changed(&cur, &new, sub == Sub::Status),
        Operation::Apply => Map::new(), // apply records its own set after the write
    };
    let api_version = if sub == Sub::Scale {
        ctx.def.api_version(ctx.def.storage_version())
    } else {
        ctx.def.api_version(&ctx.version)
    };
    managed_fields::record(
        &managed_fields::of(&cur),
        &mut new,
        &owned,
        &Writer { manager: &ctx.manager, operation, subresource: sub.name(), api_version: &api_version, time: &now() },
    );
    if operation == Operation::Update {
        managed_fields::prune(&mut new);
    }
    // An object being deleted goes once its last finalizer is removed.
    let finalized = meta(&new).get("deletionTimestamp").is_some()
        && meta(&new).get("finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
    if ctx.dry_run {
        record(store, ctx, verb, sub, name, 0);
        return Ok(Written { object: respond(ctx, sub, &new)?, created: false, rv: 0, deployments_changed: false });
    }
    let deployments_changed = ctx.def.behavior == Behavior::Deployment && spec_changed;
    if finalized {
        let w = delete_now(store, ctx, &key, true)?;
        record(store, ctx, verb, sub, name, store.rv);
        return Ok(w);
    }
    let stored =
        store.commit(&ctx.def.storage, key.clone(), Some(new)).ok_or_else(|| ApiError::internal("commit failed"))?;
    let rv = store.rv;
    record(store, ctx, verb, sub, name, rv);
    if deployments_changed {
        store.deployment_changes.push(key);
    }
    if ctx.def.behavior == Behavior::Crd
        && let Some(def) = crate::resources::from_crd(&stored)
    {
        store.resources.retain(|r| !(r.group == def.group && r.plural == def.plural));
        store.resources.push(def);
    }
    Ok(Written { object: respond(ctx, sub, &stored)?, created: false, rv, deployments_changed })
}

fn respond(ctx: &Ctx, sub: Sub, stored: &Value) -> Result<Value, ApiError> {
    match sub {
        Sub::Scale => scale_view(&ctx.def, stored),
        _ => Ok(to_view(&ctx.def, &ctx.version, stored)),
    }
}

/// PUT: replace an object (or its subresource).
pub fn update(store: &mut StoreInner, ctx: &Ctx, name: &str, sub: Sub, body: Value) -> Result<Written, ApiError> {
    if ctx.def.behavior == Behavior::Custom && sub == Sub::Main && meta_str(&body, "resourceVersion").is_none() {
        // CustomResources do not allow unconditional updates (apiextensions' strategy).
        return Err(ctx.invalid(
            name,
            vec![Cause::invalid("metadata.resourceVersion", &json!("0x0"), "must be specified for an update")],
        ));
    }
    write_existing(store, ctx, name, sub, "update", Operation::Update, |_| Ok(body))
}

/// The patch formats of `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch.
    Merge,
    /// RFC 6902 JSON patch.
    Json,
    /// Strategic merge patch; kubesim applies it with merge semantics (lists replace).
    Strategic,
    /// Server-side apply (YAML or JSON body).
    Apply,
}

impl PatchType {
    /// Parses a `Content-Type`; `None` answers 415.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Removes `$patch`, `$retainKeys`, `$setElementOrder/...` and `$deleteFromPrimitiveList/...`
/// directives of a strategic merge patch, which merge semantics cannot honour.
fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn apply_patch(pt: PatchType, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match pt {
        PatchType::Merge | PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("the patch must be a JSON object"));
            }
            let mut p = patch.clone();
            if pt == PatchType::Strategic {
                strip_directives(&mut p);
            }
            json_patch::merge(target, &p);
            Ok(())
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("the server rejected our request due to an error in our request: {e}"))
            })?;
            json_patch::patch(target, &ops).map_err(|_| ApiError::invalid_patch())
        }
        PatchType::Apply => {
            json_patch::merge(target, patch);
            Ok(())
        }
    }
}

impl ApiError {
    /// A JSON patch that does not apply (a failed `test`, a missing path). The API server
    /// answers `NewGenericServerResponse(422, ...)`, which drops the patch library's text:
    /// a generic message and empty details, so kubectl prints "The request is invalid: the
    /// server rejected our request due to an error in our request".
    fn invalid_patch() -> Self {
        let mut e = ApiError::bad_request("the server rejected our request due to an error in our request");
        e.code = 422;
        e.reason = "Invalid";
        e.details = Some(json!({}));
        e
    }
}

/// PATCH an object (or its subresource). A server-side apply of an object that does not
/// exist creates it.
pub fn patch(
    store: &mut StoreInner,
    ctx: &Ctx,
    name: &str,
    sub: Sub,
    pt: PatchType,
    body: &[u8],
    force: bool,
) -> Result<Written, ApiError> {
    let patch: Value = match pt {
        PatchType::Apply => {
            serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        }
        _ => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
    };
    if pt != PatchType::Apply {
        return write_existing(store, ctx, name, sub, "patch", Operation::Update, |mut cur| {
            apply_patch(pt, &mut cur, &patch)?;
            Ok(cur)
        });
    }
    // Server-side apply.
    if ctx.manager.is_empty() || ctx.manager == "unknown" {
        return Err(ApiError::bad_request("PATCH, fieldManager is required for apply requests"));
    }
    let mut applied = patch.clone();
    if let Some(m) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    let applied_set = managed_fields::field_set(&applied, sub == Sub::Status);
    let key = ctx.key(name);
    let existing = store.get(&ctx.def.storage, &key);
    let Some(cur) = existing else {
        if sub != Sub::Main {
            return Err(ctx.not_found(name));
        }
        let mut body = patch.clone();
        meta_mut(&mut body).insert("name".into(), json!(name));
        let mut w = create(store, ctx, body)?;
        if w.rv > 0 {
            // Re-record the create as an Apply owning exactly the applied fields.
            let stored = store.get(&ctx.def.storage, &key).ok_or_else(|| ApiError::internal("lost create"))?;
            let mut obj = (*stored).clone();
            let api_version = ctx.def.api_version(&ctx.version);
            managed_fields::record(
                &[],
                &mut obj,
                &applied_set,
                &Writer {
                    manager: &ctx.manager,
                    operation: Operation::Apply,
                    subresource: None,
                    api_version: &api_version,
                    time: &now(),
                },
            );
            let stored =
                store.commit(&ctx.def.storage, key, Some(obj)).ok_or_else(|| ApiError::internal("commit failed"))?;
            w.rv = store.rv;
            w.object = to_view(&ctx.def, &ctx.version, &stored);
        }
        return Ok(w);
    };
    // The applier's own entry. A manager is its name, operation and subresource together
    // (the API server's BuildManagerIdentifier): `kubectl scale` (kubectl, Update, scale) is
    // another manager than `kubectl apply --server-side` (kubectl, Apply).
    let own_apply = |e: &Value| {
        e["manager"] == json!(ctx.manager)
            && e["operation"] == json!("Apply")
            && e.get("subresource").and_then(Value::as_str) == sub.name()
    };
    // Conflicts: fields in the applied config owned by another manager with another value.
    let cur_view = to_view(&ctx.def, &ctx.version, &cur);
    let mut merged = cur_view.clone();
    json_patch::merge(&mut merged, &patch);
    // Fields this manager applied last time but no longer applies go, unless another
    // manager owns them too.
    let entries = managed_fields::of(&cur);
    let fields = |e: &Value| e.get("fieldsV1").and_then(Value::as_object).cloned().unwrap_or_default();
    let previous = entries.iter().find(|e| own_apply(e)).map(fields).unwrap_or_default();
    let others: Vec<Map<String, Value>> = entries.iter().filter(|e| !own_apply(e)).map(fields).collect();
    for path in managed_fields::dropped(&previous, &applied_set, &others) {
        managed_fields::remove_path(&mut merged, &path);
    }
    let changed = managed_fields::changed(&cur_view, &merged, sub == Sub::Status);
    if !force {
        let mut conflicts = vec![];
        for e in managed_fields::of(&cur) {
            if own_apply(&e) {
                continue;
            }
            if let Some(fields) = e.get("fieldsV1").and_then(Value::as_object) {
                let mut paths = vec![];
                managed_fields::overlap(fields, &changed, "", &mut paths);
                for p in paths {
                    conflicts.push((print_manager(&e), p));
                }
            }
        }
        if !conflicts.is_empty() {
            let mut err = ctx.conflict(name, "");
            err.message = conflict_message(&conflicts);
            err.details = Some(json!({
                "causes": conflicts.iter().map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p})).collect::<Vec<_>>()
            }));
            return Err(err);
        }
    }
    let mut w = write_existing(store, ctx, name, sub, "patch", Operation::Apply, |_| Ok(merged.clone()))?;
    // Record the apply: the manager owns exactly its applied set; others lose what changed.
    if w.rv > 0 || !managed_fields::of(&cur).iter().any(own_apply) {
        let stored = store.get(&ctx.def.storage, &key).ok_or_else(|| ApiError::internal("lost write"))?;
        let mut obj = (*stored).clone();
        let mut others = managed_fields::of(&cur);
        others.retain(|e| !own_apply(e));
        let api_version = ctx.def.api_version(&ctx.version);
        // Others lose what the apply changed; then the applier owns exactly its applied set.
        let rest = managed_fields::take(&others, &changed);
        managed_fields::record(
            &rest,
            &mut obj,
            &applied_set,
            &Writer {
                manager: &ctx.manager,
                operation: Operation::Apply,
                subresource: sub.name(),
                api_version: &api_version,
                time: &now(),
            },
        );
        if !ctx.dry_run && obj != *stored {
            let stored =
                store.commit(&ctx.def.storage, key, Some(obj)).ok_or_else(|| ApiError::internal("commit failed"))?;
            w.rv = store.rv;
            w.object = respond(ctx, sub, &stored)?;
        }
    }
    Ok(w)
}

/// A manager as apply conflicts name it (the API server's `printManager`): the quoted name,
/// ` with subresource "…"` when it wrote one, and ` using <apiVersion>` for an Update.
fn print_manager(entry: &Value) -> String {
    let mut s = format!("{:?}", entry["manager"].as_str().unwrap_or(""));
    if let Some(sub) = entry.get("subresource").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if entry["operation"] == json!("Update") {
        s.push_str(&format!(" using {}", entry["apiVersion"].as_str().unwrap_or("")));
    }
    s
}

/// The message of an apply conflict (the API server's `getConflictMessage`): one conflict
/// inline, several grouped by manager (sorted), one `- path` line each.
fn conflict_message(conflicts: &[(String, String)]) -> String {
    if let [(manager, path)] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {manager}: {path}");
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|(m, _)| m.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = vec![];
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(conflicts.iter().filter(|(cm, _)| cm == m).map(|(_, p)| format!("- {p}")));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// `DeleteOptions` that kubesim honours.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `propagationPolicy` is `Orphan` (or `orphanDependents: true`).
    pub orphan: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body and the `propagationPolicy` query parameter.
    pub fn parse(body: &[u8], propagation: Option<&str>) -> Result<Self, ApiError> {
        let mut o = DeleteOptions { orphan: propagation == Some("Orphan"), ..Default::default() };
        if !body.is_empty() {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
            o.uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
            o.resource_version = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
            o.orphan |= v["propagationPolicy"] == json!("Orphan") || v["orphanDependents"] == json!(true);
        }
        Ok(o)
    }
}

/// DELETE an object: with finalizers it is only marked (deletionTimestamp); otherwise it
/// goes at once and its dependents are garbage-collected.
pub fn delete(store: &mut StoreInner, ctx: &Ctx, name: &str, opts: &DeleteOptions) -> Result<Written, ApiError> {
    let key = ctx.key(name);
    let cur = store.get(&ctx.def.storage, &key).ok_or_else(|| ctx.not_found(name))?;
    if let Some(uid) = &opts.uid
        && Some(uid.as_str()) != meta_str(&cur, "uid")
    {
        return Err(ctx.conflict(
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&cur, "uid").unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && Some(rv.as_str()) != meta_str(&cur, "resourceVersion")
    {
        return Err(ctx.conflict(
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta_str(&cur, "resourceVersion").unwrap_or("")
            ),
        ));
    }
    if ctx.dry_run {
        record(store, ctx, "delete", Sub::Main, name, 0);
        return Ok(Written {
            object: to_view(&ctx.def, &ctx.version, &cur),
            created: false,
            rv: 0,
            deployments_changed: false,
        });
    }
    let has_finalizers = meta(&cur).get("finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if meta(&cur).get("deletionTimestamp").is_some() {
            return Ok(Written {
                object: to_view(&ctx.def, &ctx.version, &cur),
                created: false,
                rv: 0,
                deployments_changed: false,
            });
        }
        let mut n = (*cur).clone();
        let m = meta_mut(&mut n);
        m.insert("deletionTimestamp".into(), json!(now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        let stored = store.commit(&ctx.def.storage, key, Some(n)).ok_or_else(|| ApiError::internal("commit failed"))?;
        let rv = store.rv;
        record(store, ctx, "delete", Sub::Main, name, rv);
        return Ok(Written {
            object: to_view(&ctx.def, &ctx.version, &stored),
            created: false,
            rv,
            deployments_changed: false,
        });
    }
    let w = delete_now(store, ctx, &key, !opts.orphan)?;
    record(store, ctx, "delete", Sub::Main, name, w.rv);
    Ok(w)
}

/// Removes an object now, then what depended on it: dependents whose every owner is gone
/// (or, when `cascade` is false, only their ownerReferences), a CRD's objects, a
/// Namespace's contents.
fn delete_now(store: &mut StoreInner, ctx: &Ctx, key: &ObjKey, cascade: bool) -> Result<Written, ApiError> {
    let last = store.commit(&ctx.def.storage, key.clone(), None).ok_or_else(|| ctx.not_found(&key.1))?;
    let uid = meta_str(&last, "uid").unwrap_or("").to_string();
    let mut deployments_changed = false;
    match ctx.def.behavior {
        Behavior::Crd => {
            if let Some(def) = crate::resources::from_crd(&last) {
                for k in store.keys(&def.storage) {
                    store.commit(&def.storage, k, None);
                }
                store.resources.retain(|r| !(r.group == def.group && r.plural == def.plural));
            }
        }
        Behavior::Namespace => {
            for storage in store.storages() {
                for k in store.keys_in_namespace(&storage, &key.1) {
                    store.commit(&storage, k, None);
                }
            }
        }
        _ => {}
    }
    collect_garbage(store, &uid, cascade);
    if ctx.def.behavior == Behavior::Deployment {
        deployments_changed = false;
    }
    Ok(Written { object: to_view(&ctx.def, &ctx.version, &last), created: false, rv: store.rv, deployments_changed })
}

/// The garbage collector: dependents of a deleted owner `uid` lose that ownerReference;
/// those left with no owner are deleted (recursively), unless orphaning.
/// Source: <https://kubernetes.io/docs/concepts/architecture/garbage-collection/>.
fn collect_garbage(store: &mut StoreInner, uid: &str, cascade: bool) {
    if uid.is_empty() {
        return;
    }
    for (storage, key) in store.dependents_of(uid) {
        let Some(obj) = store.get(&storage, &key) else { continue };
        let mut n = (*obj).clone();
        let remaining = match n.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
            Some(refs) => {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
                refs.len()
            }
            None => 0,
        };
        if remaining == 0 && cascade {
            if let Some(last) = store.commit(&storage, key, None) {
                let dep_uid = meta_str(&last, "uid").unwrap_or("").to_string();
                collect_garbage(store, &dep_uid, cascade);
            }
        } else {
            if remaining == 0 {
                meta_mut(&mut n).remove("ownerReferences");
            }
            store.commit(&storage, key, Some(n));
        }
    }
}

/// DELETE a collection: every object the selectors match.
pub fn delete_collection(
    store: &mut StoreInner,
    ctx: &Ctx,
    opts: &ListOptions,
    del: &DeleteOptions,
) -> Result<Value, ApiError> {
    let snapshot = store.snapshot(&ctx.def.storage);
    let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
    let mut items = vec![];
    for (key, obj) in snapshot.iter() {
        if (!ns.is_empty() && key.0 != ns) || !matches(obj, "", opts) {
            continue;
        }
        let w = delete(store, &Ctx { namespace: key.0.clone(), ..ctx.clone() }, &key.1, del)?;
        items.push(w.object);
    }
    Ok(json!({
        "apiVersion": ctx.def.api_version(&ctx.version),
        "kind": format!("{}List", ctx.def.kind),
        "metadata": {"resourceVersion": store.rv.to_string()},
        "items": items,
    }))
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

    #[test]
    fn json_patch_that_does_not_apply_is_a_generic_422() {
        let mut target = json!({"spec": {"replicas": 3}});
        let patch = json!([{"op": "test", "path": "/spec/replicas", "value": 9}]);
        let e = apply_patch(PatchType::Json, &mut target, &patch).expect_err("test op fails");
        let status = e.status();
        assert_eq!((status["code"].clone(), status["reason"].clone()), (json!(422), json!("Invalid")));
        assert_eq!(status["message"], "the server rejected our request due to an error in our request");
        assert_eq!(status["details"], json!({}));
        assert_eq!(target["spec"]["replicas"], 3);
    }

    #[test]
    fn apply_conflicts_name_managers_as_the_api_server_does() {
        let scale =
            json!({"manager": "kubectl", "operation": "Update", "subresource": "scale", "apiVersion": "apps/v1"});
        let applier = json!({"manager": "ci", "operation": "Apply", "apiVersion": "apps/v1"});
        assert_eq!(print_manager(&scale), r#""kubectl" with subresource "scale" using apps/v1"#);
        assert_eq!(print_manager(&applier), r#""ci""#);
        let one = [(print_manager(&scale), ".spec.replicas".to_string())];
        assert_eq!(
            conflict_message(&one),
            r#"Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#
        );
        let two = [
            (print_manager(&scale), ".spec.replicas".to_string()),
            (print_manager(&applier), ".metadata.labels.a".to_string()),
        ];
        assert_eq!(
            conflict_message(&two),
            "Apply failed with 2 conflicts: conflicts with \"ci\":\n- .metadata.labels.a\nconflicts with \"kubectl\" \
             with subresource \"scale\" using apps/v1:\n- .spec.replicas"
        );
    }
}
