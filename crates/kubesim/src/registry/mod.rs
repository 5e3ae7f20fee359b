//! The verbs: get, list, create, update, patch, delete — with the real API server's rules
//! for metadata, generation, preconditions, subresources, validation, managedFields and
//! garbage collection.
//!
//! Every function here runs synchronously under the store lock, so each write is atomic.
//! Objects are stored in their storage shape and converted to the requested version on the
//! way out ([`to_view`]) and back on the way in ([`from_view`]).

use serde_json::{Map, Value, json};

use crate::convert;
use crate::error::{ApiError, Cause};
use crate::resources::{Behavior, Codec, ResourceDef};
use crate::store::{ObjKey, StoreInner, WriteRecord};

mod admit;
mod create;
mod delete;
mod patch;
mod read;
mod update;

pub use admit::{Admit, Gate, Operation, Pins, Proposed};
pub use create::create;
pub use delete::{DeleteOptions, delete, delete_collection};
pub use patch::{PatchType, patch};
pub use read::{
    ListOptions, ListPage, PartialList, check_field_selector, get, list_page, matches, partial_object, watch_event,
};
pub use update::{json_pointer, scale_view, update, write_existing};

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
    /// The subresource's name in URLs and reviews (`status`, `scale`); `None` for the main
    /// resource.
    pub fn name(self) -> Option<&'static str> {
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
    /// The request's admission and pinned values; `None` for kubesim's own writes
    /// ([`crate::Sim::apply`], the Deployment controller), which no webhook sees.
    pub gate: Option<Gate>,
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

/// What storing a CustomResourceDefinition does: the resource it defines is served from now
/// on, replacing any earlier definition of the same group and plural. Storing any other
/// object, or a CRD that defines nothing servable, changes nothing.
fn serve_if_crd(store: &mut StoreInner, ctx: &Ctx, stored: &Value) {
    if ctx.def.behavior == Behavior::Crd
        && let Some(def) = crate::resources::from_crd(stored)
    {
        unserve(store, &def);
        store.resources.push(def);
    }
}

/// Stops serving the resource `def` stands for: whatever is served under its group and
/// plural (the identity of a CRD-defined resource).
fn unserve(store: &mut StoreInner, def: &ResourceDef) {
    store.resources.retain(|r| !(r.group == def.group && r.plural == def.plural));
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
