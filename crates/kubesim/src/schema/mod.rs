//! Structural-schema pruning, defaulting and validation of custom resources.
//!
//! When a custom resource is created or updated, kube-apiserver (the
//! apiextensions-apiserver inside it) takes the `schema.openAPIV3Schema` of
//! the CRD version and
//!
//! 1. prunes non-nullable `null`s that have no default
//!    (`defaulting.PruneNonNullableNullsWithoutDefaults`),
//! 2. applies `default`s (`defaulting.Default`),
//! 3. prunes fields the schema does not declare (`pruning.Prune`), and
//! 4. validates the result with kube-openapi's `validate.SchemaValidator`,
//!    converting its errors into `field.Error`s
//!    (`apiserver/validation.kubeOpenAPIResultToFieldErrors`).
//!
//! This module re-implements that pipeline for the subset of the schema
//! language CRDs use in practice. The rules are the ones documented at
//! <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation>,
//! <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning>
//! and
//! <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting-and-nullable>;
//! error paths and messages are the strings the Go code produces.
//!
//! Supported keywords: `type`, `properties`, `required`, `items`,
//! `additionalProperties` (bool or schema), `nullable`, `default`, `enum`,
//! `minimum`/`maximum` with boolean `exclusiveMinimum`/`exclusiveMaximum`,
//! `multipleOf`, `minLength`/`maxLength`, `pattern` (Go RE2 syntax, matched
//! unanchored with the `regex` crate; an invalid pattern fails the value with
//! the compile error, as go-openapi's `validate.Pattern` does),
//! `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-int-or-string`, and `x-kubernetes-embedded-resource` (only
//! for pruning: its `apiVersion`, `kind` and `metadata` are kept).
//!
//! Ignored: `allOf`/`anyOf`/`oneOf`/`not`, `format` (numeric formats such as
//! `int32` are stripped by the apiserver anyway; string formats such as
//! `date-time` are not checked — only kube-openapi's type-check quirk for
//! them is reproduced), `uniqueItems`, `x-kubernetes-list-type`/`-map-keys`
//! uniqueness, `x-kubernetes-validations` (CEL), validation ratcheting on
//! update, and the ObjectMeta validation of `metadata`. Unknown keywords are
//! ignored and never cause a panic.

use serde_json::{Map, Value};

mod default;
mod go_fmt;
mod pattern;
mod prune;
mod validate;

use default::apply_defaults;
use prune::{prune, prune_nulls};
use validate::validate;

/// One validation failure, shaped like a Kubernetes `StatusCause`
/// (`metav1.StatusCause{Type, Message, Field}` built from a `field.Error`).
///
/// Source of the shapes: the apiextensions-apiserver converts kube-openapi
/// errors to `field.Error`s (see
/// <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation>),
/// and `errors.NewInvalid` turns each into a cause with
/// `Type = field.ErrorType`, `Message = Error.ErrorBody()`, `Field = Error.Field`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// JSON path in Kubernetes form, e.g. `spec.replicas`, `spec.items[2].name`.
    /// Errors kube-openapi reports without a path (for example
    /// `Checked value must be of type integer ...`) use the apiserver's `<nil>`.
    pub field: String,
    /// StatusCause reason, the `field.ErrorType` string: `FieldValueRequired`,
    /// `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueTypeInvalid`,
    /// `FieldValueTooLong` or `FieldValueTooMany`.
    pub reason: &'static str,
    /// Message as the apiserver formats it (`field.Error.ErrorBody()`), e.g.
    /// `Required value`,
    /// `Invalid value: -1: spec.replicas in body should be greater than or equal to 0`,
    /// `Unsupported value: "X": supported values: "Enforce", "Observe"`,
    /// `Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
    pub message: String,
}

/// Prunes, defaults and validates `obj` against the structural `schema`
/// (a CRD version's `schema.openAPIV3Schema`) the way kube-apiserver does on
/// create and update, modifying `obj` in place, and returns every
/// validation error (an empty vector means the object is valid).
///
/// Steps, in order:
///
/// 1. **Nulls** — a `null` value of a declared field (property or
///    `additionalProperties` value) whose schema is not `nullable: true` and
///    has no `default` is removed, as `PruneNonNullableNullsWithoutDefaults`
///    does. Consequently such a field is treated as absent (a `required` one
///    then fails with `Required value`). `null` array elements cannot be
///    removed; unless the item schema has a default they fail validation with
///    `must be of type X: "null"`. With `nullable: true` a `null` is kept and
///    valid (it is still checked against `enum`, which never matches `null`,
///    exactly like kube-openapi).
///    Source: <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting-and-nullable>.
/// 2. **Defaults** — a property with a `default` that is missing, or `null`
///    while not nullable, gets a copy of the default; defaulting then
///    recurses into the (possibly just defaulted) value, so nested defaults
///    apply. Source: <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting>.
/// 3. **Pruning** — object fields not declared in `properties` are removed,
///    unless the object's schema has `additionalProperties` (then every key
///    is kept and its value pruned with that schema) or
///    `x-kubernetes-preserve-unknown-fields: true` (then unknown fields are
///    kept but declared properties are still pruned recursively). The
///    top-level `apiVersion`, `kind` and `metadata` are never pruned.
///    Source: <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning>.
/// 4. **Validation** — kube-openapi's checks (type, string, number, array,
///    enum, object) with its paths and messages.
///    Source: <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation>.
///
/// The top-level `apiVersion`, `kind` and `metadata` are left untouched by
/// every step and are not validated here (the apiserver validates
/// `metadata` as ObjectMeta separately).
///
/// # Errors
///
/// This function does not fail; validation failures are returned as
/// [`FieldError`]s. A malformed schema (non-object sub-schemas, keywords of
/// the wrong JSON type) is tolerated: the offending keyword is ignored.
pub fn prune_and_validate(schema: &Value, obj: &mut Value) -> Vec<FieldError> {
    prune_nulls(obj, Some(schema), true);
    apply_defaults(obj, Some(schema), true);
    prune(obj, Some(schema), true);
    let mut errs = Vec::new();
    validate(schema, obj, "", true, &mut errs);
    errs
}

// ---------------------------------------------------------------------------
// Schema accessors
// ---------------------------------------------------------------------------

const REASON_REQUIRED: &str = "FieldValueRequired";
const REASON_INVALID: &str = "FieldValueInvalid";
const REASON_NOT_SUPPORTED: &str = "FieldValueNotSupported";
const REASON_TYPE_INVALID: &str = "FieldValueTypeInvalid";
const REASON_TOO_LONG: &str = "FieldValueTooLong";
const REASON_TOO_MANY: &str = "FieldValueTooMany";

fn is_meta_field(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

fn kw<'a>(s: &'a Value, k: &str) -> Option<&'a Value> {
    s.as_object()?.get(k)
}

fn flag(s: &Value, k: &str) -> bool {
    matches!(kw(s, k), Some(Value::Bool(true)))
}

fn properties(s: &Value) -> Option<&Map<String, Value>> {
    kw(s, "properties")?.as_object()
}

fn property<'a>(s: &'a Value, k: &str) -> Option<&'a Value> {
    properties(s)?.get(k)
}

enum Additional<'a> {
    Absent,
    Bool(bool),
    Schema(&'a Value),
}

fn additional(s: &Value) -> Additional<'_> {
    match kw(s, "additionalProperties") {
        Some(Value::Bool(b)) => Additional::Bool(*b),
        Some(v @ Value::Object(_)) => Additional::Schema(v),
        _ => Additional::Absent,
    }
}

fn additional_schema(s: &Value) -> Option<&Value> {
    match additional(s) {
        Additional::Schema(v) => Some(v),
        _ => None,
    }
}

fn items(s: &Value) -> Option<&Value> {
    kw(s, "items").filter(|v| v.is_object())
}

fn default_of(s: &Value) -> Option<&Value> {
    kw(s, "default").filter(|v| !v.is_null())
}

fn nullable(s: &Value) -> bool {
    flag(s, "nullable")
}

/// Integer-valued keyword (`maxLength`, `minItems`, ...); floats with an
/// integral value (e.g. `3.0`) are accepted, anything else is ignored.
fn int_kw(s: &Value, k: &str) -> Option<i64> {
    let n = kw(s, k)?.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

fn f64_kw(s: &Value, k: &str) -> Option<f64> {
    kw(s, k)?.as_f64()
}

/// The schema's types as kube-openapi sees them: `x-kubernetes-int-or-string`
/// becomes `["integer", "string"]` (apiextensions `ConvertJSONSchemaProps`).
fn types(s: &Value) -> Vec<&str> {
    if flag(s, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match kw(s, "type") {
        Some(Value::String(t)) if !t.is_empty() => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Formats the apiserver keeps (`StripUnsupportedFormatsPostProcess`); all
/// others, including `int32`/`int64`/`float`/`double`, are stripped.
const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

fn supported_format(s: &Value) -> &str {
    match kw(s, "format").and_then(Value::as_str) {
        Some(f) if SUPPORTED_FORMATS.contains(&f.replace('-', "").as_str()) => f,
        _ => "",
    }
}

fn field_schema<'a>(s: Option<&'a Value>, k: &str) -> Option<&'a Value> {
    let s = s?;
    property(s, k).or_else(|| additional_schema(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn realistic() -> Value {
        json!({"type":"object","properties":{"spec":{"type":"object","required":["replicas"],"properties":{"replicas":{"type":"integer","format":"int32","minimum":0.0},"mode":{"type":"string","enum":["Enforce","Observe"],"default":"Enforce"},"deploymentUid":{"type":"string","nullable":true}}},"status":{"type":"object","nullable":true,"x-kubernetes-preserve-unknown-fields":true}},"required":["spec"]})
    }

    pub(super) fn err(field: &str, reason: &'static str, message: &str) -> FieldError {
        FieldError { field: field.to_string(), reason, message: message.to_string() }
    }

    pub(super) fn run(schema: &Value, mut obj: Value) -> (Value, Vec<FieldError>) {
        let errs = prune_and_validate(schema, &mut obj);
        (obj, errs)
    }

    // ----- realistic schema -------------------------------------------------

    #[test]
    fn realistic_valid_object_is_defaulted_and_pruned() {
        let (obj, errs) = run(
            &realistic(),
            json!({
                "apiVersion": "example.com/v1", "kind": "Policy",
                "metadata": {"name": "p", "labels": {"a": "b"}, "whatever": 1},
                "spec": {"replicas": 3, "unknown": true, "deploymentUid": null},
                "status": {"anything": {"goes": [1, 2]}},
                "extra": "dropped"
            }),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "example.com/v1", "kind": "Policy",
                "metadata": {"name": "p", "labels": {"a": "b"}, "whatever": 1},
                "spec": {"replicas": 3, "mode": "Enforce", "deploymentUid": null},
                "status": {"anything": {"goes": [1, 2]}}
            })
        );
    }

    #[test]
    fn realistic_missing_spec() {
        let (_, errs) = run(&realistic(), json!({"apiVersion": "v1", "kind": "K", "metadata": {}}));
        assert_eq!(errs, vec![err("spec", "FieldValueRequired", "Required value")]);
    }

    #[test]
    fn realistic_missing_replicas() {
        let (obj, errs) = run(&realistic(), json!({"spec": {"mode": "Observe"}}));
        assert_eq!(errs, vec![err("spec.replicas", "FieldValueRequired", "Required value")]);
        assert_eq!(obj["spec"]["mode"], "Observe");
    }

    #[test]
    fn realistic_negative_replicas_float_minimum() {
        let (_, errs) = run(&realistic(), json!({"spec": {"replicas": -1}}));
        assert_eq!(
            errs,
            vec![err(
                "spec.replicas",
                "FieldValueInvalid",
                "Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
            )]
        );
        let (_, errs) = run(&realistic(), json!({"spec": {"replicas": 0}}));
        assert_eq!(errs, vec![]);
    }

    #[test]
    fn realistic_wrong_type_and_enum() {
        let (_, errs) = run(&realistic(), json!({"spec": {"replicas": "string", "mode": "X"}}));
        assert_eq!(
            errs,
            vec![
                err(
                    "spec.mode",
                    "FieldValueNotSupported",
                    "Unsupported value: \"X\": supported values: \"Enforce\", \"Observe\""
                ),
                err(
                    "spec.replicas",
                    "FieldValueTypeInvalid",
                    "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
                ),
            ]
        );
    }

    #[test]
    fn realistic_nulls() {
        // Non-nullable null without default: pruned, so the required check fires.
        // Non-nullable null with default: defaulted. Nullable null: kept.
        let (obj, errs) =
            run(&realistic(), json!({"spec": {"replicas": null, "mode": null, "deploymentUid": null}, "status": null}));
        assert_eq!(errs, vec![err("spec.replicas", "FieldValueRequired", "Required value")]);
        assert_eq!(obj, json!({"spec": {"mode": "Enforce", "deploymentUid": null}, "status": null}));
    }

    #[test]
    fn realistic_int_valued_float_accepted_but_fraction_rejected() {
        let (_, errs) = run(&realistic(), json!({"spec": {"replicas": 2.0}}));
        assert_eq!(errs, vec![]);
        let (_, errs) = run(&realistic(), json!({"spec": {"replicas": 1.5}}));
        assert_eq!(
            errs,
            vec![
                err(
                    "spec.replicas",
                    "FieldValueTypeInvalid",
                    "Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\""
                ),
                err(
                    "<nil>",
                    "FieldValueInvalid",
                    "Invalid value: \"\": Checked value must be of type integer (default format) in spec.replicas"
                ),
            ]
        );
    }

    #[test]
    fn realistic_spec_wrong_type() {
        let (_, errs) = run(&realistic(), json!({"spec": [1]}));
        assert_eq!(
            errs,
            vec![err(
                "spec",
                "FieldValueTypeInvalid",
                "Invalid value: \"array\": spec in body must be of type object: \"array\""
            )]
        );
    }

    #[test]
    fn unknown_keywords_never_crash() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "allOf": [{"required": ["x"]}], "anyOf": "garbage", "oneOf": [1], "not": {"type": "object"},
            "x-kubernetes-validations": [{"rule": "self.x > 0"}], "uniqueItems": true,
            "properties": {"x": {"type": "integer", "format": "int64", "minimum": "zero",
                                 "maxLength": "no", "enum": "notalist", "pattern": "(["},
                           "y": true, "z": {"items": 5, "additionalProperties": 3}},
            "required": "spec"
        }}});
        let (obj, errs) = run(&schema, json!({"spec": {"x": 1, "y": {"a": 1}, "z": [1]}}));
        assert_eq!(errs, vec![]);
        assert_eq!(obj, json!({"spec": {"x": 1, "y": {}, "z": [1]}}));
        let (obj, errs) = run(&json!("not a schema"), json!({"a": 1, "kind": "K"}));
        assert_eq!(obj, json!({"kind": "K"}));
        assert_eq!(errs, vec![]);
    }
}
