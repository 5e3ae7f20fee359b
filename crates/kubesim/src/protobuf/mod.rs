//! Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), converted to and
//! from the JSON that kubesim stores.
//!
//! Clients built on client-go (kubectl's `create`, `autoscale`, ...) send built-in kinds as
//! protobuf. The wire format is described at
//! <https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding>: the
//! 4-byte magic `k8s\0`, then a `runtime.Unknown` message whose `typeMeta` names the
//! apiVersion and kind and whose `raw` is the object's own message (which has no
//! apiVersion or kind of its own). A protobuf watch is a stream of frames, each a 4-byte
//! big-endian length and a meta/v1 `WatchEvent` message without the magic, whose
//! `object.raw` is one enveloped object.
//!
//! The messages are not hand-written: the Kubernetes `generated.proto` files of the served
//! groups, taken from the crates.io package `k8s-rs-pb` at build time (see `build.rs`), are
//! compiled by protox in `build.rs` into a descriptor set and read here with prost-reflect
//! as [`DynamicMessage`]s. The field-by-field mapping to JSON is in `protobuf/json.rs`, the
//! Go-type facts it needs in `protobuf/go_fields.rs`.
//!
//! Errors: a body that is not valid protobuf is 400, a kind or encoding kubesim has no
//! message for is 415, and an object that cannot be written as protobuf (a field the
//! message does not declare) is 406.

mod go_fields;
mod json;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value as PValue};
use serde_json::Value;

use crate::error::ApiError;

/// The Kubernetes version of the `generated.proto` files `build.rs` compiles (its
/// `KUBERNETES_MINOR`).
pub const KUBERNETES_VERSION: &str = env!("KUBESIM_PROTOS_KUBERNETES_VERSION");

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// The 4 bytes every enveloped protobuf object starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes_descriptor.bin")).as_slice())
        .map_err(|e| e.to_string())
});

fn pool() -> Result<&'static DescriptorPool, ApiError> {
    POOL.as_ref().map_err(|e| ApiError::internal(format!("kubesim's protobuf descriptors do not load: {e}")))
}

fn meta_message(name: &str) -> Result<MessageDescriptor, ApiError> {
    pool()?
        .get_message_by_name(name)
        .ok_or_else(|| ApiError::internal(format!("kubesim's protobuf descriptors lack {name}")))
}

/// meta/v1 kinds that every group version carries (`metav1.AddToGroupVersion`).
const META_KINDS: &[&str] = &[
    "Status",
    "DeleteOptions",
    "WatchEvent",
    "ListOptions",
    "GetOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "APIVersions",
];

/// The proto package of a served API group and version, as `k8s-rs-pb` shortened it.
fn package(api_version: &str) -> Option<String> {
    let (group, version) = crate::resources::split_api_version(api_version);
    let prefix = match group {
        "" => "api.core",
        "apps" => "api.apps",
        "autoscaling" => "api.autoscaling",
        "coordination.k8s.io" => "api.coordination",
        "events.k8s.io" => "api.events",
        "rbac.authorization.k8s.io" => "api.rbac",
        "authorization.k8s.io" => "api.authorization",
        "authentication.k8s.io" => "api.authentication",
        "admissionregistration.k8s.io" => "api.admissionregistration",
        "meta.k8s.io" => "apimachinery.pkg.apis.meta",
        _ => return None,
    };
    Some(format!("{prefix}.{version}"))
}

/// The message of `kind` in `apiVersion`, when kubesim has one.
pub fn message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let pool = pool().ok()?;
    if let Some(m) = package(api_version).and_then(|p| pool.get_message_by_name(&format!("{p}.{kind}"))) {
        return Some(m);
    }
    META_KINDS
        .contains(&kind)
        .then(|| pool.get_message_by_name(&format!("apimachinery.pkg.apis.meta.v1.{kind}")))
        .flatten()
}

/// Whether a `Content-Type` (parameters allowed) is protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Decodes a protobuf request body into the JSON object it stands for, with the
/// `apiVersion` and `kind` of its envelope.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    decode_envelope(body).map_err(|e| match e {
        EnvelopeError::Unsupported(m) => unsupported(&m),
        EnvelopeError::Malformed(m) => ApiError::bad_request(format!("error decoding protobuf body: {m}")),
        EnvelopeError::Api(e) => e,
    })
}

fn unsupported(message: &str) -> ApiError {
    let mut e = ApiError::unsupported_media_type(MEDIA_TYPE);
    e.message = format!("the body of the request was in an unknown format ({MEDIA_TYPE:?}): {message}");
    e
}

/// Why an envelope could not be decoded.
#[derive(Debug)]
enum EnvelopeError {
    /// Valid protobuf kubesim has no mapping for (415).
    Unsupported(String),
    /// Not valid protobuf (400).
    Malformed(String),
    /// The descriptors themselves (500).
    Api(ApiError),
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsupported(m) | Self::Malformed(m) => f.write_str(m),
            Self::Api(e) => f.write_str(&e.message),
        }
    }
}

fn decode_envelope(body: &[u8]) -> Result<Value, EnvelopeError> {
    let rest = body.strip_prefix(&MAGIC).ok_or_else(|| {
        EnvelopeError::Malformed("the body does not start with the Kubernetes protobuf magic \"k8s\\x00\"".into())
    })?;
    let unknown_desc = meta_message("apimachinery.pkg.runtime.Unknown").map_err(EnvelopeError::Api)?;
    let unknown = DynamicMessage::decode(unknown_desc, rest)
        .map_err(|e| EnvelopeError::Malformed(format!("runtime.Unknown: {e}")))?;
    let string = |m: &DynamicMessage, name: &str| {
        m.get_field_by_name(name).and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    };
    let encoding = string(&unknown, "contentEncoding");
    if !encoding.is_empty() {
        return Err(EnvelopeError::Unsupported(format!("content encoding {encoding:?} is not supported")));
    }
    let content_type = string(&unknown, "contentType");
    if !content_type.is_empty() && !is_protobuf(&content_type) {
        return Err(EnvelopeError::Unsupported(format!("embedded content type {content_type:?} is not supported")));
    }
    let type_meta = match unknown.get_field_by_name("typeMeta").as_deref() {
        Some(PValue::Message(m)) => m.clone(),
        _ => return Err(EnvelopeError::Malformed("runtime.Unknown has no typeMeta".into())),
    };
    let (api_version, kind) = (string(&type_meta, "apiVersion"), string(&type_meta, "kind"));
    if api_version.is_empty() || kind.is_empty() {
        return Err(EnvelopeError::Malformed("runtime.Unknown.typeMeta needs apiVersion and kind".into()));
    }
    let desc = message_for(&api_version, &kind).ok_or_else(|| {
        EnvelopeError::Unsupported(format!("kubesim has no protobuf message for {kind} in {api_version}"))
    })?;
    let raw = unknown.get_field_by_name("raw").and_then(|v| v.as_bytes().cloned()).unwrap_or_default();
    let msg = DynamicMessage::decode(desc, raw).map_err(|e| EnvelopeError::Malformed(format!("{kind}: {e}")))?;
    let fields = json::to_json(&msg, "").map_err(EnvelopeError::Unsupported)?;
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

fn not_acceptable(message: String) -> ApiError {
    let mut e = ApiError::not_acceptable(MEDIA_TYPE);
    e.message = format!("the object cannot be encoded as {MEDIA_TYPE}: {message}");
    e
}

/// Encodes a JSON object (with `apiVersion` and `kind`) as an enveloped protobuf body.
pub fn encode(obj: &Value) -> Result<Vec<u8>, ApiError> {
    let field = |name: &str| obj.get(name).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version.is_empty() || kind.is_empty() {
        return Err(not_acceptable("the object has no apiVersion or kind".into()));
    }
    let desc = message_for(api_version, kind)
        .ok_or_else(|| not_acceptable(format!("kubesim has no protobuf message for {kind} in {api_version}")))?;
    let raw = json::from_json(&desc, obj, "").map_err(not_acceptable)?.encode_to_vec();
    let mut type_meta = DynamicMessage::new(meta_message("apimachinery.pkg.runtime.TypeMeta")?);
    type_meta.set_field_by_name("apiVersion", PValue::String(api_version.into()));
    type_meta.set_field_by_name("kind", PValue::String(kind.into()));
    let mut unknown = DynamicMessage::new(meta_message("apimachinery.pkg.runtime.Unknown")?);
    unknown.set_field_by_name("typeMeta", PValue::Message(type_meta));
    unknown.set_field_by_name("raw", PValue::Bytes(raw.into()));
    let mut out = MAGIC.to_vec();
    unknown.encode(&mut out).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(out)
}

/// A protobuf response with `code` (406 when `v` has no protobuf form).
pub fn response(code: StatusCode, v: &Value) -> Result<Response, ApiError> {
    let body = encode(v)?;
    let mut resp = (code, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

/// An error as a protobuf `Status`, for a client that accepts only protobuf; the JSON
/// `Status` if it cannot be encoded.
pub fn error_response(e: ApiError) -> Response {
    let Ok(body) = encode(&e.status()) else { return e.into_response() };
    let (mut parts, _) = e.into_response().into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    Response::from_parts(parts, Body::from(body))
}

/// One frame of a protobuf watch: a 4-byte big-endian length, then a meta/v1 `WatchEvent`
/// whose `object.raw` is the enveloped object.
pub fn watch_frame(event_type: &str, obj: &Value) -> Result<Bytes, ApiError> {
    let mut raw_ext = DynamicMessage::new(meta_message("apimachinery.pkg.runtime.RawExtension")?);
    raw_ext.set_field_by_name("raw", PValue::Bytes(encode(obj)?.into()));
    let mut event = DynamicMessage::new(meta_message("apimachinery.pkg.apis.meta.v1.WatchEvent")?);
    event.set_field_by_name("type", PValue::String(event_type.into()));
    event.set_field_by_name("object", PValue::Message(raw_ext));
    let body = event.encode_to_vec();
    let len = u32::try_from(body.len()).map_err(|_| ApiError::internal("watch event too large"))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

/// Decodes one watch frame (as a client would): the event type and the object as JSON.
/// `None` when `buf` does not hold a whole frame yet; the frame's length is returned so a
/// reader can advance.
pub fn decode_watch_frame(buf: &[u8]) -> Result<Option<(usize, String, Value)>, ApiError> {
    let Some(len) = buf.get(..4) else { return Ok(None) };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let Some(body) = buf.get(4..4 + len) else { return Ok(None) };
    let event = DynamicMessage::decode(meta_message("apimachinery.pkg.apis.meta.v1.WatchEvent")?, body)
        .map_err(|e| ApiError::bad_request(format!("WatchEvent: {e}")))?;
    let event_type = event.get_field_by_name("type").and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let raw = match event.get_field_by_name("object").as_deref() {
        Some(PValue::Message(m)) => m.get_field_by_name("raw").and_then(|v| v.as_bytes().cloned()).unwrap_or_default(),
        _ => Bytes::new(),
    };
    Ok(Some((4 + len, event_type, decode(&raw)?)))
}
