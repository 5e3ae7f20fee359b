//! The mapping between a Kubernetes protobuf message (a prost-reflect [`DynamicMessage`])
//! and the JSON form of the same object, as `encoding/json` writes the Go struct.
//!
//! Generic rules (one per protobuf kind), because go-to-protobuf names every field after
//! its JSON name:
//!
//! - strings, integers, booleans and doubles map to JSON strings, numbers and booleans;
//!   `bytes` to a base64 string; a `repeated` field to an array; a `map<string, V>` to an
//!   object.
//! - A message field on the wire is a JSON object, even when empty (`"strategy": {}`), as a
//!   Go struct is never omitted.
//! - A scalar holding its zero value is left out unless [`keeps_zero`] says the Go field is
//!   a pointer (or has no `omitempty`): Go's marshaller always writes non-pointer fields,
//!   so a present zero usually only means "not set", and the JSON of the same Go value
//!   (`omitempty`) does not have it.
//!
//! The types whose JSON form is not their protobuf form are mapped by name: meta/v1
//! `Time` (RFC 3339, seconds) and `MicroTime` (RFC 3339, microseconds), both `null` when
//! zero; `IntOrString` (a number or a string); `resource.Quantity` (a string);
//! `runtime.RawExtension` and meta/v1 `FieldsV1` (embedded JSON). meta/v1 `Duration` is
//! not used by any served kind and is refused. Anything that has no place in the other
//! form (an unknown field number, a JSON key the message does not declare, a value of the
//! wrong type) is an error naming its path, never dropped; only an unknown field holding
//! its zero value, which says nothing, is passed over.

use base64::Engine as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage, Value as PValue};
use serde_json::{Map, Number, Value};

use super::go_fields;

pub(super) const TIME: &str = "apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";
const QUANTITY_VALUE: &str = "apimachinery.pkg.api.resource.QuantityValue";
const RAW_EXTENSION: &str = "apimachinery.pkg.runtime.RawExtension";

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) since the Unix epoch.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Whether `field` of `message` is a Go struct embedded inline (see [`go_fields::INLINE`]).
fn is_inline(message: &str, field: &str) -> bool {
    go_fields::INLINE.iter().any(|(m, f)| *m == message && *f == field)
}

/// Whether a zero in `field` of `message` is kept in JSON (see [`go_fields::KEEP_ZERO`]).
pub(super) fn keeps_zero(message: &str, field: &str) -> bool {
    go_fields::KEEP_ZERO.iter().any(|(m, fs)| *m == message && fs.contains(&field))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// A decoded message as JSON; `path` names it in errors (empty for the top level).
pub(super) fn to_json(msg: &DynamicMessage, path: &str) -> Result<Value, String> {
    let desc = msg.descriptor();
    match desc.full_name() {
        TIME => return time_to_json(msg, false),
        MICRO_TIME => return time_to_json(msg, true),
        INT_OR_STRING => {
            let ty = msg.get_field_by_name("type").and_then(|v| v.as_i64()).unwrap_or(0);
            return Ok(if ty == 1 {
                Value::String(
                    msg.get_field_by_name("strVal").and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                )
            } else {
                Value::from(msg.get_field_by_name("intVal").and_then(|v| v.as_i32()).unwrap_or(0))
            });
        }
        QUANTITY | QUANTITY_VALUE => {
            return Ok(Value::String(
                msg.get_field_by_name("string").and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            ));
        }
        RAW_EXTENSION | FIELDS_V1 => {
            let raw = msg.fields().next().and_then(|(_, v)| v.as_bytes().cloned()).unwrap_or_default();
            return embedded_json(&raw, path);
        }
        DURATION => return Err(format!("{path}: meta/v1 Duration is not supported by kubesim's protobuf mapping")),
        _ => {}
    }
    // A field number this Kubernetes version does not define is refused unless it holds its
    // zero value: Go writes every non-pointer field, so older clients send fields removed
    // since (ObjectMeta.clusterName, 15) as empty strings, which carry nothing.
    if let Some(u) = msg.unknown_fields().find(|u| !is_zero_unknown(u)) {
        return Err(format!(
            "{}: field number {} of {} is not known to kubesim (Kubernetes {} protobuf)",
            if path.is_empty() { "<root>" } else { path },
            u.number(),
            desc.full_name(),
            super::KUBERNETES_VERSION
        ));
    }
    let mut out = Map::new();
    for (field, value) in msg.fields() {
        let p = join(path, field.name());
        let json = match value {
            PValue::List(items) => {
                let mut arr = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    arr.push(value_to_json(item, &format!("{p}[{i}]"))?);
                }
                Value::Array(arr)
            }
            PValue::Map(entries) => {
                let mut obj = Map::new();
                for (k, v) in entries {
                    let MapKey::String(k) = k else {
                        return Err(format!("{p}: a map key that is not a string"));
                    };
                    obj.insert(k.clone(), value_to_json(v, &format!("{p}[{k}]"))?);
                }
                Value::Object(obj)
            }
            PValue::Message(_) if is_inline(desc.full_name(), field.name()) => {
                if let Value::Object(inner) = value_to_json(value, path)? {
                    out.extend(inner);
                }
                continue;
            }
            PValue::Message(_) => value_to_json(value, &p)?,
            scalar => {
                if is_zero(scalar) && !keeps_zero(desc.full_name(), field.name()) {
                    continue;
                }
                value_to_json(scalar, &p)?
            }
        };
        out.insert(field.name().to_string(), json);
    }
    Ok(Value::Object(out))
}

/// Whether an unknown field holds a zero: after its key, every byte of its encoding is 0
/// (a varint 0, an empty length-delimited value, or a zero fixed-width value).
fn is_zero_unknown(u: &prost_reflect::UnknownField) -> bool {
    let mut buf = Vec::new();
    u.encode(&mut buf);
    let key_len = prost::encoding::encoded_len_varint(u64::from(u.number()) << 3);
    buf.get(key_len..).is_some_and(|value| value.iter().all(|b| *b == 0))
}

fn is_zero(v: &PValue) -> bool {
    match v {
        PValue::Bool(b) => !b,
        PValue::I32(n) | PValue::EnumNumber(n) => *n == 0,
        PValue::I64(n) => *n == 0,
        PValue::U32(n) => *n == 0,
        PValue::U64(n) => *n == 0,
        PValue::F32(n) => *n == 0.0,
        PValue::F64(n) => *n == 0.0,
        PValue::String(s) => s.is_empty(),
        PValue::Bytes(b) => b.is_empty(),
        PValue::Message(_) | PValue::List(_) | PValue::Map(_) => false,
    }
}

fn value_to_json(v: &PValue, path: &str) -> Result<Value, String> {
    Ok(match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(n) => Number::from_f64(f64::from(*n)).map(Value::Number).ok_or(format!("{path}: not a number"))?,
        PValue::F64(n) => Number::from_f64(*n).map(Value::Number).ok_or(format!("{path}: not a number"))?,
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::EnumNumber(_) => return Err(format!("{path}: protobuf enums have no Kubernetes JSON form")),
        PValue::Message(m) => to_json(m, path)?,
        PValue::List(_) | PValue::Map(_) => return Err(format!("{path}: a nested list or map")),
    })
}

/// `RawExtension.raw` / `FieldsV1.Raw`: JSON text, or (in a RawExtension) a nested
/// protobuf object with its own envelope.
fn embedded_json(raw: &[u8], path: &str) -> Result<Value, String> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(&super::MAGIC) {
        return super::decode_envelope(raw).map_err(|e| format!("{path}: {e}"));
    }
    serde_json::from_slice(raw).map_err(|e| format!("{path}: embedded object is neither JSON nor protobuf: {e}"))
}

fn time_to_json(msg: &DynamicMessage, micro: bool) -> Result<Value, String> {
    let seconds = msg.get_field_by_name("seconds").and_then(|v| v.as_i64()).unwrap_or(0);
    let nanos = msg.get_field_by_name("nanos").and_then(|v| v.as_i32()).unwrap_or(0);
    if nanos == 0 && (seconds == 0 || seconds == GO_ZERO_TIME_SECONDS) {
        return Ok(Value::Null);
    }
    let ts = jiff::Timestamp::new(seconds, if micro { nanos - nanos % 1000 } else { 0 })
        .map_err(|e| format!("time out of range: {e}"))?;
    let fmt = if micro { "%Y-%m-%dT%H:%M:%S%.6fZ" } else { "%Y-%m-%dT%H:%M:%SZ" };
    Ok(Value::String(ts.strftime(fmt).to_string()))
}

/// A JSON value as the message `desc`; `path` names it in errors.
pub(super) fn from_json(desc: &MessageDescriptor, v: &Value, path: &str) -> Result<DynamicMessage, String> {
    let mut msg = DynamicMessage::new(desc.clone());
    let at = || if path.is_empty() { "<root>".to_string() } else { path.to_string() };
    match desc.full_name() {
        TIME | MICRO_TIME => {
            let s = v.as_str().ok_or_else(|| format!("{}: a time must be an RFC 3339 string", at()))?;
            let ts: jiff::Timestamp = s.parse().map_err(|e| format!("{}: {s:?} is not an RFC 3339 time: {e}", at()))?;
            msg.set_field_by_name("seconds", PValue::I64(ts.as_second()));
            msg.set_field_by_name("nanos", PValue::I32(ts.subsec_nanosecond()));
            return Ok(msg);
        }
        INT_OR_STRING => {
            match v {
                Value::String(s) => {
                    msg.set_field_by_name("type", PValue::I64(1));
                    msg.set_field_by_name("strVal", PValue::String(s.clone()));
                }
                Value::Number(n) => {
                    let n = n.as_i64().and_then(|n| i32::try_from(n).ok());
                    let n = n.ok_or_else(|| format!("{}: not a 32-bit integer", at()))?;
                    msg.set_field_by_name("type", PValue::I64(0));
                    msg.set_field_by_name("intVal", PValue::I32(n));
                }
                _ => return Err(format!("{}: an int-or-string must be a number or a string", at())),
            }
            return Ok(msg);
        }
        QUANTITY | QUANTITY_VALUE => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(format!("{}: a quantity must be a string or a number", at())),
            };
            msg.set_field_by_name("string", PValue::String(s));
            return Ok(msg);
        }
        RAW_EXTENSION | FIELDS_V1 => {
            let raw = serde_json::to_vec(v).map_err(|e| format!("{}: {e}", at()))?;
            let name = if desc.full_name() == FIELDS_V1 { "Raw" } else { "raw" };
            msg.set_field_by_name(name, PValue::Bytes(raw.into()));
            return Ok(msg);
        }
        DURATION => return Err(format!("{}: meta/v1 Duration is not supported by kubesim's protobuf mapping", at())),
        _ => {}
    }
    let obj = v.as_object().ok_or_else(|| format!("{}: expected an object for {}", at(), desc.full_name()))?;
    let is_kind = path.is_empty() || desc.get_field_by_name("metadata").is_some();
    let inline: Vec<_> = desc.fields().filter(|f| is_inline(desc.full_name(), f.name())).collect();
    let mut inline_parts: Vec<Map<String, Value>> = vec![Map::new(); inline.len()];
    for (key, val) in obj {
        let p = join(path, key);
        let owner = inline.iter().position(|f| match f.kind() {
            Kind::Message(m) => m.get_field_by_name(key).is_some(),
            _ => false,
        });
        if let (None, Some(i)) = (desc.get_field_by_name(key), owner) {
            inline_parts[i].insert(key.clone(), val.clone());
            continue;
        }
        let Some(field) = desc.get_field_by_name(key) else {
            // An object's type is the envelope's (top level) or its list's (items).
            if is_kind && (key == "apiVersion" || key == "kind") {
                continue;
            }
            return Err(format!("{p}: {} has no such field", desc.full_name()));
        };
        if val.is_null() {
            // Go writes a zero metav1.Time (JSON `null`) as an empty message; keep that.
            if let (false, Kind::Message(m)) = (field.is_list(), field.kind())
                && matches!(m.full_name(), TIME | MICRO_TIME)
            {
                msg.set_field(&field, PValue::Message(DynamicMessage::new(m)));
            }
            continue;
        }
        let value = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return Err(format!("{p}: malformed map descriptor"));
            };
            let value_kind = entry.map_entry_value_field().kind();
            let o = val.as_object().ok_or_else(|| format!("{p}: expected an object"))?;
            let mut m = std::collections::HashMap::with_capacity(o.len());
            for (k, item) in o {
                m.insert(MapKey::String(k.clone()), json_to_value(&value_kind, item, &format!("{p}[{k}]"))?);
            }
            PValue::Map(m)
        } else if field.is_list() {
            let a = val.as_array().ok_or_else(|| format!("{p}: expected an array"))?;
            let mut items = Vec::with_capacity(a.len());
            for (i, item) in a.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                if item.is_null() {
                    return Err(format!("{ip}: null list items have no protobuf form"));
                }
                items.push(json_to_value(&field.kind(), item, &ip)?);
            }
            PValue::List(items)
        } else {
            json_to_value(&field.kind(), val, &p)?
        };
        msg.set_field(&field, value);
    }
    for (field, part) in inline.iter().zip(inline_parts) {
        if let (false, Kind::Message(m)) = (part.is_empty(), field.kind()) {
            msg.set_field(field, PValue::Message(from_json(&m, &Value::Object(part), path)?));
        }
    }
    Ok(msg)
}

fn json_to_value(kind: &Kind, v: &Value, path: &str) -> Result<PValue, String> {
    let int = |v: &Value| v.as_i64().ok_or_else(|| format!("{path}: expected an integer, got {v}"));
    let uint = |v: &Value| v.as_u64().ok_or_else(|| format!("{path}: expected a non-negative integer, got {v}"));
    let range = |_| format!("{path}: {v} is out of range");
    Ok(match kind {
        Kind::String => PValue::String(v.as_str().ok_or_else(|| format!("{path}: expected a string, got {v}"))?.into()),
        Kind::Bool => PValue::Bool(v.as_bool().ok_or_else(|| format!("{path}: expected a boolean, got {v}"))?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(i32::try_from(int(v)?).map_err(range)?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => PValue::I64(int(v)?),
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(u32::try_from(uint(v)?).map_err(range)?),
        Kind::Uint64 | Kind::Fixed64 => PValue::U64(uint(v)?),
        Kind::Double => PValue::F64(v.as_f64().ok_or_else(|| format!("{path}: expected a number, got {v}"))?),
        Kind::Float => PValue::F32(v.as_f64().ok_or_else(|| format!("{path}: expected a number, got {v}"))? as f32),
        Kind::Bytes => {
            let s = v.as_str().ok_or_else(|| format!("{path}: expected a base64 string"))?;
            let b = base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("{path}: {e}"))?;
            PValue::Bytes(b.into())
        }
        Kind::Message(desc) => PValue::Message(from_json(desc, v, path)?),
        Kind::Enum(_) => return Err(format!("{path}: protobuf enums have no Kubernetes JSON form")),
    })
}
