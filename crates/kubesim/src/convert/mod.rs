//! API-version conversion for the kinds kubesim serves in more than one version.
//!
//! The real API server stores one version of an object and converts it on every
//! read and write (`k8s.io/apimachinery/pkg/runtime.Scheme.Convert`). kubesim does
//! the same for two kinds, on whole JSON objects:
//!
//! * `Event` is stored as `core/v1` and also served as `events.k8s.io/v1`
//!   (k8s.io/kubernetes/pkg/apis/events/v1/conversion.go and its
//!   zz_generated.conversion.go).
//! * `HorizontalPodAutoscaler` is stored as `autoscaling/v2` and also served as
//!   `autoscaling/v1` (k8s.io/kubernetes/pkg/apis/autoscaling/v1/conversion.go,
//!   with the annotation names from pkg/apis/autoscaling/annotations.go and
//!   `DropRoundTripHorizontalPodAutoscalerAnnotations` from
//!   pkg/apis/autoscaling/helpers.go).
//!
//! Common rules:
//!
//! * `apiVersion` and `kind` are set to the target version; `metadata` passes
//!   through untouched, except for the HPA round-trip annotations
//!   ([`METRIC_SPECS_ANNOTATION`] and the other `autoscaling.alpha.kubernetes.io/*`
//!   annotations).
//! * A field absent from the input stays absent in the output: nothing is filled
//!   with Go zero values and no `null` is written for an absent field. Values that
//!   are present (including an explicit `null`) are moved verbatim.
//! * Field names that belong only to the *other* version are unknown fields in
//!   the input's version; they are dropped (the real server prunes them) instead
//!   of being allowed to collide with the converted fields.
//! * Anything that is not a JSON object is returned unchanged.
//!
//! Deliberate deviations from upstream are listed on each public function.

use serde_json::{Map, Value};

mod event;
mod hpa;

pub use event::{event_core_to_v1, event_v1_to_core};
pub use hpa::{
    BEHAVIOR_SPECS_ANNOTATION, CONDITIONS_ANNOTATION, DEFAULT_CPU_UTILIZATION, METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION, hpa_v1_to_v2, hpa_v2_to_v1,
};

type Object = Map<String, Value>;

// ---------------------------------------------------------------------------
// Small JSON helpers
// ---------------------------------------------------------------------------

/// The value under `key`, unless absent or `null` (Go's nil pointer).
fn present<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The object under `key`, if it is one.
fn object_at<'a>(obj: &'a Object, key: &str) -> Option<&'a Object> {
    obj.get(key).and_then(Value::as_object)
}

/// The string under `key`, if it is one.
fn str_at<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// Copies `src[src_key]` to `dst[dst_key]` when present and not `null`.
fn copy_if(dst: &mut Object, dst_key: &str, src: &Object, src_key: &str) {
    if let Some(v) = present(src, src_key) {
        dst.insert(dst_key.to_owned(), v.clone());
    }
}

fn set_type_meta(obj: &mut Object, api_version: &str, kind: &str) {
    obj.insert("apiVersion".to_owned(), Value::String(api_version.to_owned()));
    obj.insert("kind".to_owned(), Value::String(kind.to_owned()));
}

/// Moves each `from` field to its `to` name. Fields already carrying a `to`
/// name are unknown in the input's version and are dropped first.
fn rename_fields(obj: &mut Object, renames: &[(&str, &str)]) {
    for (_, to) in renames {
        obj.remove(*to);
    }
    for (from, to) in renames {
        if let Some(v) = obj.remove(*from) {
            obj.insert((*to).to_owned(), v);
        }
    }
}

/// `encoding/json` key matching: the exact key, else a case-insensitive one.
fn get_ci<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Fails when any `null` appears anywhere in `v`.
    pub(super) fn assert_no_nulls(v: &Value, path: &str) {
        match v {
            Value::Null => panic!("null at {path}"),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    assert_no_nulls(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(m) => {
                for (k, item) in m {
                    assert_no_nulls(item, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn non_objects_pass_through() {
        assert_eq!(event_v1_to_core(json!(null)), json!(null));
        assert_eq!(event_core_to_v1(json!([1])), json!([1]));
        assert_eq!(hpa_v1_to_v2(json!("x")), json!("x"));
        assert_eq!(hpa_v2_to_v1(json!(3)), json!(3));
    }
}
