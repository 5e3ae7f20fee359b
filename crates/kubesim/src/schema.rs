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

// ---------------------------------------------------------------------------
// Step 1: PruneNonNullableNullsWithoutDefaults
// ---------------------------------------------------------------------------

fn field_schema<'a>(s: Option<&'a Value>, k: &str) -> Option<&'a Value> {
    let s = s?;
    property(s, k).or_else(|| additional_schema(s))
}

fn prune_nulls(x: &mut Value, s: Option<&Value>, root: bool) {
    match x {
        Value::Object(m) => m.retain(|k, v| {
            if root && is_meta_field(k) {
                return true;
            }
            let sub = field_schema(s, k);
            if v.is_null() {
                return !sub.is_some_and(|sub| !nullable(sub) && default_of(sub).is_none());
            }
            prune_nulls(v, sub, false);
            true
        }),
        Value::Array(a) => {
            let it = s.and_then(items);
            for v in a {
                prune_nulls(v, it, false);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Step 2: Default
// ---------------------------------------------------------------------------

fn apply_defaults(x: &mut Value, s: Option<&Value>, root: bool) {
    let Some(s) = s else { return };
    match x {
        Value::Object(m) => {
            if let Some(props) = properties(s) {
                for (k, p) in props {
                    if root && is_meta_field(k) {
                        continue;
                    }
                    let Some(d) = default_of(p) else { continue };
                    let missing = match m.get(k) {
                        None => true,
                        Some(v) => v.is_null() && !nullable(p),
                    };
                    if missing {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            let has_additional = !matches!(additional(s), Additional::Absent);
            for (k, v) in m.iter_mut() {
                if root && is_meta_field(k) {
                    continue;
                }
                if let Some(p) = property(s, k) {
                    apply_defaults(v, Some(p), false);
                } else if has_additional {
                    let ap = additional_schema(s);
                    if let Some(ap) = ap
                        && v.is_null()
                        && !nullable(ap)
                    {
                        *v = default_of(ap).cloned().unwrap_or(Value::Null);
                    }
                    apply_defaults(v, ap, false);
                }
            }
        }
        Value::Array(a) => {
            let it = items(s);
            for v in a.iter_mut() {
                if let Some(it) = it
                    && v.is_null()
                    && !nullable(it)
                {
                    *v = default_of(it).cloned().unwrap_or(Value::Null);
                }
                apply_defaults(v, it, false);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Step 3: Prune
// ---------------------------------------------------------------------------

fn prune(x: &mut Value, s: Option<&Value>, root: bool) {
    if let Some(s) = s
        && flag(s, "x-kubernetes-preserve-unknown-fields")
    {
        skip_prune(x, s, root);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                m.clear();
                return;
            };
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            m.retain(|k, v| {
                if embedded && is_meta_field(k) {
                    return true;
                }
                if let Some(p) = property(s, k) {
                    prune(v, Some(p), false);
                    return true;
                }
                match additional(s) {
                    Additional::Schema(ap) => {
                        prune(v, Some(ap), false);
                        true
                    }
                    Additional::Bool(_) => {
                        prune(v, None, false);
                        true
                    }
                    Additional::Absent => false,
                }
            });
        }
        Value::Array(a) => {
            let it = s.and_then(items);
            for v in a {
                prune(v, it, false);
            }
        }
        _ => {}
    }
}

/// Pruning below `x-kubernetes-preserve-unknown-fields: true`: unknown
/// fields stay, declared ones are pruned normally.
fn skip_prune(x: &mut Value, s: &Value, root: bool) {
    match x {
        Value::Object(m) => {
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            for (k, v) in m.iter_mut() {
                if embedded && is_meta_field(k) {
                    continue;
                }
                if let Some(p) = property(s, k) {
                    prune(v, Some(p), false);
                } else {
                    match additional(s) {
                        Additional::Schema(ap) => prune(v, Some(ap), false),
                        Additional::Bool(_) => prune(v, None, false),
                        Additional::Absent => {}
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(it) = items(s) {
                for v in a {
                    skip_prune(v, it, false);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Step 4: validation (kube-openapi SchemaValidator)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    /// JSON numbers as the apiserver decodes them: int64 when the literal is
    /// an integer that fits, float64 otherwise.
    fn of(n: &serde_json::Number) -> Num {
        match n.as_i64() {
            Some(i) => Num::I(i),
            None => Num::F(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    fn bad(self) -> Bad<'static> {
        match self {
            Num::I(i) => Bad::Int(i),
            Num::F(f) => Bad::Float(f),
        }
    }
}

/// A `field.Error` BadValue, rendered as `ErrorBody()` renders it.
enum Bad<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Json(&'a Value),
}

impl Bad<'_> {
    fn of(v: &Value) -> Bad<'_> {
        match v {
            Value::String(s) => Bad::Str(s),
            Value::Number(n) => Num::of(n).bad(),
            other => Bad::Json(other),
        }
    }

    fn render(&self) -> String {
        match self {
            Bad::Str(s) => go_quote(s),
            Bad::Int(i) => i.to_string(),
            Bad::Float(f) => go_fmt_g(*f),
            Bad::Json(v) => go_json(v),
        }
    }
}

/// `field.Path` string for a kube-openapi error name: the leading `.` is
/// trimmed and an empty name means the nil path, printed `<nil>`.
fn field_of(name: &str) -> String {
    if name.is_empty() || name == "." {
        "<nil>".to_string()
    } else {
        name.strip_prefix('.').unwrap_or(name).to_string()
    }
}

fn child(path: &str, k: &str) -> String {
    if path.is_empty() { k.to_string() } else { format!("{path}.{k}") }
}

fn push_invalid(errs: &mut Vec<FieldError>, name: &str, bad: Bad<'_>, detail: String) {
    errs.push(FieldError {
        field: field_of(name),
        reason: REASON_INVALID,
        message: format!("Invalid value: {}: {detail}", bad.render()),
    });
}

/// A plain (non-`Validation`) kube-openapi error: the apiserver reports it as
/// `field.Invalid(nil, "", err.Error())`.
fn push_plain(errs: &mut Vec<FieldError>, detail: String) {
    errs.push(FieldError {
        field: "<nil>".to_string(),
        reason: REASON_INVALID,
        message: format!("Invalid value: \"\": {detail}"),
    });
}

fn push_type_invalid(errs: &mut Vec<FieldError>, name: &str, type_name: &str, value: &str) {
    let q = go_quote(value);
    errs.push(FieldError {
        field: field_of(name),
        reason: REASON_TYPE_INVALID,
        message: format!("Invalid value: {q}: {name} in body must be of type {type_name}: {q}"),
    });
}

fn push_too_many(errs: &mut Vec<FieldError>, name: &str, actual: i64, max: i64) {
    let detail = if max >= 0 {
        format!("must have at most {max} {}", if max == 1 { "item" } else { "items" })
    } else {
        "has too many items".to_string()
    };
    errs.push(FieldError {
        field: field_of(name),
        reason: REASON_TOO_MANY,
        message: format!("Too many: {actual}: {detail}"),
    });
}

fn validate(s: &Value, data: &Value, path: &str, root: bool, errs: &mut Vec<FieldError>) {
    if data.is_null() {
        // SchemaValidator.Validate(nil) runs only the type and enum checks.
        let ts = types(s);
        if !ts.is_empty() && !ts.contains(&"null") && !nullable(s) {
            push_type_invalid(errs, path, &ts.join(","), "null");
        }
        validate_enum(s, data, path, errs);
        return;
    }
    validate_type(s, data, path, errs);
    match data {
        Value::String(st) => validate_string(s, st, path, errs),
        Value::Number(n) => validate_number(s, Num::of(n), path, errs),
        Value::Array(a) => validate_array(s, a, path, errs),
        _ => {}
    }
    validate_enum(s, data, path, errs);
    if let Value::Object(m) = data {
        validate_object(s, m, path, root, errs);
    }
}

/// kube-openapi `typeValidator.Validate` for non-null data.
fn validate_type(s: &Value, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let ts = types(s);
    let format = supported_format(s);
    if ts.is_empty() && format.is_empty() {
        return;
    }
    let (sch_type, data_format) = match data {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) => match Num::of(n) {
            Num::I(_) => ("integer", "int64"),
            Num::F(_) => ("number", "float64"),
        },
        Value::Array(_) => ("array", ""),
        Value::Object(_) | Value::Null => ("object", ""),
    };
    let contains = |t: &str| ts.contains(&t);
    let is_float_int = match data {
        Value::Number(n) => match Num::of(n) {
            Num::F(f) => is_float64_a_json_integer(f) && contains("integer"),
            Num::I(_) => false,
        },
        _ => false,
    };
    let is_int_float = sch_type == "integer" && contains("number");
    let str_or_slice = matches!(data, Value::String(_) | Value::Array(_));
    let matches_type = contains(sch_type) || data_format == format || is_float_int || is_int_float;
    if !(str_or_slice || format.is_empty() || matches_type) {
        push_type_invalid(errs, path, format, data_format);
        return;
    }
    if str_or_slice && !(contains("number") || contains("integer") || format.is_empty()) {
        return;
    }
    if !(contains(sch_type) || is_float_int || is_int_float) {
        push_type_invalid(errs, path, &ts.join(","), sch_type);
    }
}

fn validate_string(s: &Value, st: &str, path: &str, errs: &mut Vec<FieldError>) {
    let len = st.chars().count() as i64;
    if let Some(max) = int_kw(s, "maxLength")
        && len > max
    {
        let detail = if max >= 0 {
            format!("may not be more than {max} {}", if max == 1 { "byte" } else { "bytes" })
        } else {
            "value is too long".to_string()
        };
        errs.push(FieldError {
            field: field_of(path),
            reason: REASON_TOO_LONG,
            message: format!("Too long: {detail}"),
        });
        return;
    }
    if let Some(min) = int_kw(s, "minLength")
        && len < min
    {
        push_invalid(errs, path, Bad::Str(st), format!("{path} in body should be at least {min} chars long"));
        return;
    }
    if let Some(p) = kw(s, "pattern").and_then(Value::as_str)
        && !p.is_empty()
    {
        // go-openapi's `validate.Pattern`: an invalid pattern fails every
        // value, with the compile error in the message.
        match pattern::compile(p) {
            Ok(re) if re.is_match(st) => {}
            Ok(_) => push_invalid(errs, path, Bad::Str(st), format!("{path} in body should match '{p}'")),
            Err(e) => push_invalid(
                errs,
                path,
                Bad::Str(st),
                format!("{path} in body should match '{p}, but pattern is invalid: {e}'"),
            ),
        }
    }
}

/// `IsValueValidAgainstRange` with the (always stripped, hence empty) format:
/// only `type: integer` constrains the value, to what `ParseInt(.., 64)`
/// accepts after `FormatFloat(v, 'f', -1, 64)`.
fn in_range(v: Num, type_name: &str) -> bool {
    if type_name != "integer" {
        return true;
    }
    match v {
        Num::I(_) => true,
        Num::F(f) => go_fmt_f(f).parse::<i64>().is_ok(),
    }
}

fn range_error(prefix: &str, type_name: &str, path: &str) -> String {
    format!("{prefix} value must be of type {type_name} (default format) in {path}")
}

/// kube-openapi `numberValidator.Validate`.
fn validate_number(s: &Value, data: Num, path: &str, errs: &mut Vec<FieldError>) {
    let ts = types(s);
    let type_name = match ts.as_slice() {
        ["integer"] => "integer",
        ["number"] => "number",
        _ => "",
    };
    if !in_range(data, type_name) {
        push_plain(errs, range_error("Checked", type_name, path));
    }

    if let Some(factor) = f64_kw(s, "multipleOf") {
        let native = in_range(Num::F(factor), type_name);
        if !native {
            push_plain(errs, range_error("MultipleOf", type_name, path));
        }
        match (native, data) {
            (true, Num::I(d)) => {
                let fi = factor as i64;
                if fi <= 0 {
                    push_invalid(
                        errs,
                        path,
                        Bad::Int(fi),
                        format!("factor MultipleOf declared for {path} must be positive: {fi}"),
                    );
                } else if d % fi != 0 {
                    push_invalid(errs, path, Bad::Int(d), format!("{path} in body should be a multiple of {fi}"));
                }
            }
            _ => {
                let d = data.as_f64();
                if factor <= 0.0 {
                    push_invalid(
                        errs,
                        path,
                        Bad::Float(factor),
                        format!("factor MultipleOf declared for {path} must be positive: {}", go_fmt_g(factor)),
                    );
                } else {
                    let mult = if factor < 1.0 { 1.0 / factor * d } else { d / factor };
                    if !is_float64_a_json_integer(mult) {
                        let bad = if native { data.bad() } else { Bad::Float(d) };
                        push_invalid(
                            errs,
                            path,
                            bad,
                            format!("{path} in body should be a multiple of {}", go_fmt_g(factor)),
                        );
                    }
                }
            }
        }
    }

    for (kw_name, excl_name, is_min) in [("minimum", "exclusiveMinimum", true), ("maximum", "exclusiveMaximum", false)]
    {
        let Some(bound) = f64_kw(s, kw_name) else {
            continue;
        };
        let excl = flag(s, excl_name);
        let native = in_range(Num::F(bound), type_name);
        if !native {
            let prefix = if is_min { "Minimum boundary" } else { "Maximum boundary" };
            push_plain(errs, range_error(prefix, type_name, path));
        }
        let fails = |d: f64, b: f64| match (is_min, excl) {
            (true, false) => d < b,
            (true, true) => d <= b,
            (false, false) => d > b,
            (false, true) => d >= b,
        };
        let (failed, bound_text, bad) = match (native, data) {
            (true, Num::I(d)) => {
                let bi = bound as i64;
                let failed = match (is_min, excl) {
                    (true, false) => d < bi,
                    (true, true) => d <= bi,
                    (false, false) => d > bi,
                    (false, true) => d >= bi,
                };
                (failed, bi.to_string(), Bad::Int(d))
            }
            _ => {
                let d = data.as_f64();
                (fails(d, bound), go_fmt_g(bound), Bad::Float(d))
            }
        };
        if failed {
            let relation = match (is_min, excl) {
                (true, false) => "greater than or equal to",
                (true, true) => "greater than",
                (false, false) => "less than or equal to",
                (false, true) => "less than",
            };
            push_invalid(errs, path, bad, format!("{path} in body should be {relation} {bound_text}"));
        }
    }
}

/// kube-openapi `schemaSliceValidator.Validate`.
fn validate_array(s: &Value, a: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    if let Some(it) = items(s) {
        for (i, v) in a.iter().enumerate() {
            validate(it, v, &format!("{path}[{i}]"), false, errs);
        }
    }
    let size = a.len() as i64;
    if let Some(min) = int_kw(s, "minItems")
        && size < min
    {
        push_invalid(errs, path, Bad::Int(size), format!("{path} in body should have at least {min} items"));
    }
    if let Some(max) = int_kw(s, "maxItems")
        && size > max
    {
        push_too_many(errs, path, size, max);
    }
}

/// Go `reflect` conversion + `DeepEqual`, as kube-openapi's
/// `basicCommonValidator` compares data against each enum value.
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (data, e) {
        (Value::Number(a), Value::Number(b)) => match (Num::of(a), Num::of(b)) {
            (Num::I(x), Num::I(y)) => x == y,
            (Num::I(x), Num::F(y)) => x as f64 == y,
            (Num::F(x), Num::F(y)) => x == y,
            (Num::F(x), Num::I(y)) => x as i64 == y,
        },
        // Go converts an integer to a string as a code point.
        (Value::Number(a), Value::String(b)) => match Num::of(a) {
            Num::I(x) => {
                let c = u32::try_from(x).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                b.chars().eq(std::iter::once(c))
            }
            Num::F(_) => false,
        },
        (Value::Null, _) => false,
        (a, b) => a == b,
    }
}

fn validate_enum(s: &Value, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(Value::Array(values)) = kw(s, "enum") else {
        return;
    };
    if values.is_empty() || values.iter().any(|e| enum_matches(data, e)) {
        return;
    }
    let supported: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => go_quote(s),
            other => go_quote(&go_json(other)),
        })
        .collect();
    let mut message = format!("Unsupported value: {}", Bad::of(data).render());
    if !supported.is_empty() {
        message.push_str(": supported values: ");
        message.push_str(&supported.join(", "));
    }
    errs.push(FieldError { field: field_of(path), reason: REASON_NOT_SUPPORTED, message });
}

/// kube-openapi `objectValidator.Validate`.
fn validate_object(s: &Value, m: &Map<String, Value>, path: &str, root: bool, errs: &mut Vec<FieldError>) {
    let n = m.len() as i64;
    if let Some(min) = int_kw(s, "minProperties")
        && n < min
    {
        push_invalid(errs, path, Bad::Int(n), format!("{path} in body should have at least {min} properties"));
    }
    if let Some(max) = int_kw(s, "maxProperties")
        && n > max
    {
        push_too_many(errs, path, n, max);
    }
    let props = properties(s);
    let declared = |k: &str| props.is_some_and(|p| p.contains_key(k));
    let skip = |k: &str| root && is_meta_field(k);
    match additional(s) {
        Additional::Bool(false) => {
            for k in m.keys() {
                if !declared(k) && !skip(k) {
                    push_invalid(errs, path, Bad::Str(k), format!("{path}.{k} in body is a forbidden property"));
                }
            }
        }
        Additional::Schema(ap) => {
            for (k, v) in m {
                if !declared(k) && !skip(k) {
                    validate(ap, v, &format!("{path}.{k}"), false, errs);
                }
            }
        }
        _ => {}
    }
    if let Some(props) = props {
        for (k, ps) in props {
            if skip(k) {
                continue;
            }
            if let Some(v) = m.get(k) {
                validate(ps, v, &child(path, k), false, errs);
            }
        }
    }
    if let Some(Value::Array(required)) = kw(s, "required") {
        for k in required.iter().filter_map(Value::as_str) {
            if !m.contains_key(k) {
                errs.push(FieldError {
                    field: field_of(&format!("{path}.{k}")),
                    reason: REASON_REQUIRED,
                    message: "Required value".to_string(),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Go formatting helpers (the messages are produced by Go's fmt/strconv/json)
// ---------------------------------------------------------------------------

/// go-openapi `swag.IsFloat64AJSONInteger`.
fn is_float64_a_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX_JSON_FLOAT..=MAX_JSON_FLOAT).contains(&f) {
        return false;
    }
    let rounded = f.round();
    if f == rounded {
        return true;
    }
    if rounded == 0.0 {
        return false;
    }
    (f - rounded).abs() < 1e-9 * rounded.abs()
}

/// Shortest round-trip decimal digits of a finite non-zero `f` and the
/// decimal point position (`value = 0.DIGITS × 10^dp`), like strconv's
/// `decimalSlice`.
fn decompose(f: f64) -> (Vec<u8>, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp + 1)
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else if f == 0.0 {
        Some(if f.is_sign_negative() { "-0" } else { "0" }.to_string())
    } else {
        None
    }
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`.
fn go_fmt_f(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (d, dp) = decompose(f);
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    let nd = d.len() as i32;
    let digit = |i: i32| -> char { if i >= 0 && i < nd { char::from(d[i as usize]) } else { '0' } };
    if dp <= 0 {
        out.push('0');
    } else {
        for i in 0..dp {
            out.push(digit(i));
        }
    }
    if nd > dp {
        out.push('.');
        for _ in dp..0 {
            out.push('0');
        }
        for i in dp.max(0)..nd {
            out.push(digit(i));
        }
    }
    out
}

/// Go `strconv.FormatFloat(f, 'e', -1, 64)`.
fn go_fmt_e(f: f64) -> String {
    if f == 0.0 && !f.is_sign_negative() {
        return "0e+00".to_string();
    }
    if let Some(s) = special(f) {
        return s;
    }
    let (d, dp) = decompose(f);
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    out.push(char::from(d.first().copied().unwrap_or(b'0')));
    if d.len() > 1 {
        out.push('.');
        out.extend(d[1..].iter().map(|&b| char::from(b)));
    }
    let exp = dp - 1;
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

/// Go `fmt.Sprintf("%v", f)` for a float64 (`strconv` `'g'` with the
/// shortest precision: exponent form when the exponent is < -4 or >= 6).
fn go_fmt_g(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (_, dp) = decompose(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) { go_fmt_e(f) } else { go_fmt_f(f) }
}

/// Go `encoding/json` float64 encoding.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = go_fmt_e(f);
        // clean up e-09 to e-9
        if let Some(pos) = s.find("e-0") {
            let (head, tail) = s.split_at(pos + 2);
            return format!("{head}{}", &tail[1..]);
        }
        s
    } else {
        go_fmt_f(f)
    }
}

/// Go `json.Marshal` of a decoded JSON value (sorted keys, HTML escaping).
fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match Num::of(n) {
            Num::I(i) => out.push_str(&i.to_string()),
            Num::F(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => write_go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_go_json(x, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Approximation of Go's `strconv.IsPrint`.
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c,
            '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e000}'..='\u{f8ff}'))
}

/// Go `strconv.Quote` (what `%q` prints).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// `pattern`: Go regexp semantics on top of the `regex` crate
// ---------------------------------------------------------------------------

/// Compiling and matching `pattern` the way kube-openapi does: Go `regexp`
/// (RE2 syntax), unanchored `MatchString`. The `regex` crate implements RE2;
/// the few places where its defaults differ from Go are translated first:
///
/// * `\d \w \s \b` (and their negations) are ASCII-only in Go, Unicode in
///   `regex`; they are rewritten to explicit ASCII classes (`\s` is Go's
///   `[\t\n\f\r ]`, without `\v`);
/// * inside a bracket class Go takes `[` (not starting `[:name:]`), `&` and
///   `~` literally, where `regex` would read a nested class or a set
///   operation; they are escaped;
/// * a `{` that does not start a Go repetition (`{n}`, `{n,}`, `{n,m}`) is a
///   literal in Go; it is escaped.
///
/// Compiled patterns are cached, so a schema's pattern is compiled once.
mod pattern {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};

    /// Entries kept before the cache is emptied (patterns come from CRDs, so
    /// there are few; this only bounds memory against churn).
    const CACHE_MAX: usize = 1024;

    type Compiled = Result<Arc<regex::Regex>, String>;

    static CACHE: LazyLock<Mutex<HashMap<String, Compiled>>> = LazyLock::new(Mutex::default);

    /// The compiled `pattern`, or why it is not a valid regular expression.
    pub(super) fn compile(pattern: &str) -> Compiled {
        let mut cache = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.get(pattern) {
            return c.clone();
        }
        let compiled = translate(pattern).and_then(|t| regex::Regex::new(&t).map_err(|e| one_line(&e))).map(Arc::new);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(pattern.to_string(), compiled.clone());
        compiled
    }

    /// `regex::Error`'s message without the multi-line source excerpt.
    fn one_line(e: &regex::Error) -> String {
        let text = e.to_string();
        text.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .map_or_else(|| text.lines().last().unwrap_or_default().trim().to_string(), str::to_string)
    }

    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = r"\t\n\f\r\x20";

    /// `\d \D \w \W \s \S` as the (positive) set and whether it is negated.
    fn perl_class(c: char) -> Option<(&'static str, bool)> {
        match c {
            'd' => Some((DIGIT, false)),
            'D' => Some((DIGIT, true)),
            'w' => Some((WORD, false)),
            'W' => Some((WORD, true)),
            's' => Some((SPACE, false)),
            'S' => Some((SPACE, true)),
            _ => None,
        }
    }

    /// Go's limit on `{n,m}` counts.
    const MAX_REPEAT: u32 = 1000;

    /// The length of the Go repetition `{n}`, `{n,}` or `{n,m}` at
    /// `chars[i..]`, `None` if there is none (the `{` is then a literal);
    /// an error for counts Go rejects.
    fn repeat_len(chars: &[char], i: usize) -> Result<Option<usize>, String> {
        let mut j = i + 1;
        let number = |j: &mut usize| {
            let start = *j;
            while chars.get(*j).is_some_and(char::is_ascii_digit) {
                *j += 1;
            }
            chars.get(start..*j).map(|d| d.iter().collect::<String>()).filter(|d| !d.is_empty())
        };
        let Some(min) = number(&mut j) else { return Ok(None) };
        let mut max = Some(min.clone());
        if chars.get(j) == Some(&',') {
            j += 1;
            max = number(&mut j);
        }
        if chars.get(j) != Some(&'}') {
            return Ok(None);
        }
        let count = |d: &str| d.parse::<u32>().ok().filter(|&n| n <= MAX_REPEAT);
        let min_n = count(&min);
        let max_ok = max.as_deref().is_none_or(|m| count(m).is_some_and(|m| min_n.is_some_and(|n| n <= m)));
        if min_n.is_none() || !max_ok {
            let text: String = chars.get(i..=j).unwrap_or_default().iter().collect();
            return Err(format!("invalid repeat count: `{text}`"));
        }
        Ok(Some(j + 1 - i))
    }

    /// The token before the current one, for nested-repetition checks.
    #[derive(Clone, Copy)]
    enum Repeat {
        /// Not a repetition operator.
        None,
        /// `*`, `+`, `?` or `{n,m}`.
        Op,
        /// A repetition operator followed by its non-greedy `?`.
        Lazy,
    }

    /// Rewrites a Go pattern into the `regex` crate's syntax with the same
    /// meaning (see the module documentation).
    fn translate(pattern: &str) -> Result<String, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut out = String::with_capacity(pattern.len() + 8);
        let mut in_class = false;
        // What the previous token was: Go rejects a repetition of a
        // repetition (`a**`, `a+{2}`), which `regex` accepts.
        let mut repeat = Repeat::None;
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '\\' => {
                    let Some(&e) = chars.get(i) else {
                        return Err("trailing backslash at end of expression".to_string());
                    };
                    i += 1;
                    match (perl_class(e), e) {
                        (Some((set, false)), _) if in_class => out.push_str(set),
                        (Some((set, neg)), _) => {
                            out.push_str(if neg { "[^" } else { "[" });
                            out.push_str(set);
                            out.push(']');
                        }
                        (None, 'b' | 'B') if !in_class => {
                            out.push_str("(?-u:\\");
                            out.push(e);
                            out.push(')');
                        }
                        (None, _) => {
                            out.push('\\');
                            out.push(e);
                            if matches!(e, 'p' | 'P' | 'x') && chars.get(i) == Some(&'{') {
                                // `\p{Greek}`, `\x{41}`: copy through the `}`.
                                while let Some(&n) = chars.get(i) {
                                    i += 1;
                                    out.push(n);
                                    if n == '}' {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
                '[' if in_class => {
                    if chars.get(i) == Some(&':') {
                        // `[:name:]`: copy through the closing `:]`.
                        out.push('[');
                        while let Some(&n) = chars.get(i) {
                            i += 1;
                            out.push(n);
                            if n == ']' {
                                break;
                            }
                        }
                    } else {
                        out.push_str("\\[");
                    }
                }
                '[' => {
                    in_class = true;
                    out.push('[');
                    if chars.get(i) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                    if chars.get(i) == Some(&']') {
                        out.push_str("\\]");
                        i += 1;
                    }
                }
                ']' if in_class => {
                    in_class = false;
                    out.push(']');
                }
                '&' | '~' if in_class => {
                    out.push('\\');
                    out.push(c);
                }
                '*' | '+' | '?' | '{' if !in_class => {
                    let len = if c == '{' { repeat_len(&chars, i - 1)? } else { Some(1) };
                    let Some(len) = len else {
                        out.push_str("\\{");
                        repeat = Repeat::None;
                        continue;
                    };
                    let op: String = chars.get(i - 1..i - 1 + len).unwrap_or_default().iter().collect();
                    i += len - 1;
                    repeat = match repeat {
                        Repeat::Op if c == '?' => Repeat::Lazy,
                        Repeat::Op | Repeat::Lazy => {
                            return Err(format!("invalid nested repetition operator: `{op}`"));
                        }
                        Repeat::None => Repeat::Op,
                    };
                    out.push_str(&op);
                    continue;
                }
                _ => out.push(c),
            }
            repeat = Repeat::None;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn realistic() -> Value {
        json!({"type":"object","properties":{"spec":{"type":"object","required":["replicas"],"properties":{"replicas":{"type":"integer","format":"int32","minimum":0.0},"mode":{"type":"string","enum":["Enforce","Observe"],"default":"Enforce"},"deploymentUid":{"type":"string","nullable":true}}},"status":{"type":"object","nullable":true,"x-kubernetes-preserve-unknown-fields":true}},"required":["spec"]})
    }

    fn err(field: &str, reason: &'static str, message: &str) -> FieldError {
        FieldError { field: field.to_string(), reason, message: message.to_string() }
    }

    fn run(schema: &Value, mut obj: Value) -> (Value, Vec<FieldError>) {
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

    // ----- pruning ------------------------------------------------------------

    #[test]
    fn prunes_nested_unknown_fields() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string"}}},
                "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
            }}
        }});
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"a": {"b": "x", "c": 1, "d": {"e": 1}}, "zz": 1,
                    "list": [{"x": 1, "y": 2}, {"y": {"z": 1}}]},
                   "top": 1, "kind": "K", "apiVersion": "g/v1", "metadata": {"name": "n"}}),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj,
            json!({"spec": {"a": {"b": "x"}, "list": [{"x": 1}, {}]},
                   "kind": "K", "apiVersion": "g/v1", "metadata": {"name": "n"}})
        );
    }

    #[test]
    fn metadata_is_never_touched() {
        // Even a schema that declares metadata neither prunes, defaults nor validates it.
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 1},
                "x": {"type": "string", "default": "d"}}},
            "kind": {"type": "integer"}
        }});
        let original = json!({"apiVersion": 5, "kind": "K",
            "metadata": {"name": "long-name", "labels": {"a": "b"}, "n": null}});
        let (obj, errs) = run(&schema, original.clone());
        assert_eq!(errs, vec![]);
        assert_eq!(obj, original);
    }

    #[test]
    fn preserve_unknown_fields() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "known": {"type": "object", "properties": {"k": {"type": "string"}}},
                "n": {"type": "integer"}
            }},
            "raw": {"x-kubernetes-preserve-unknown-fields": true}
        }});
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"free": {"deep": [1, {"a": 2}]}, "known": {"k": "v", "drop": 1}, "n": 1},
                   "raw": [1, "two", {"three": null}]}),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj,
            json!({"spec": {"free": {"deep": [1, {"a": 2}]}, "known": {"k": "v"}, "n": 1},
                   "raw": [1, "two", {"three": null}]})
        );
        // declared properties below preserve-unknown-fields are still validated
        let (_, errs) = run(&schema, json!({"spec": {"n": "x"}}));
        assert_eq!(
            errs,
            vec![err(
                "spec.n",
                "FieldValueTypeInvalid",
                "Invalid value: \"string\": spec.n in body must be of type integer: \"string\""
            )]
        );
    }

    #[test]
    fn embedded_resource_keeps_type_and_object_meta() {
        let schema = json!({"type": "object", "properties": {"template": {
            "type": "object", "x-kubernetes-embedded-resource": true,
            "properties": {"spec": {"type": "object"}}}}});
        let (obj, _) = run(
            &schema,
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                                "spec": {"gone": 1}, "other": 1}}),
        );
        assert_eq!(
            obj,
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}}})
        );
    }

    // ----- required / types -----------------------------------------------------

    #[test]
    fn required_missing_nested_and_in_items() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "required": ["name"],
                      "properties": {"name": {"type": "string"}}}}}}}});
        let (_, errs) = run(&schema, json!({"spec": {"items": [{"name": "a"}, {"name": "b"}, {}]}}));
        assert_eq!(errs, vec![err("spec.items[2].name", "FieldValueRequired", "Required value")]);
    }

    #[test]
    fn type_mismatches() {
        let schema = json!({"type": "object", "properties": {
            "s": {"type": "string"}, "b": {"type": "boolean"}, "n": {"type": "number"},
            "o": {"type": "object"}, "a": {"type": "array", "items": {"type": "string"}},
            "i": {"type": "integer"}
        }});
        let (_, errs) = run(&schema, json!({"s": 1, "b": "true", "n": 1, "o": "x", "a": {}, "i": true}));
        let msgs: Vec<(String, String)> = errs.iter().map(|e| (e.field.clone(), e.message.clone())).collect();
        assert_eq!(
            msgs,
            vec![
                ("a".into(), "Invalid value: \"object\": a in body must be of type array: \"object\"".into()),
                ("b".into(), "Invalid value: \"string\": b in body must be of type boolean: \"string\"".into()),
                ("i".into(), "Invalid value: \"boolean\": i in body must be of type integer: \"boolean\"".into()),
                ("o".into(), "Invalid value: \"string\": o in body must be of type object: \"string\"".into()),
                ("s".into(), "Invalid value: \"integer\": s in body must be of type string: \"integer\"".into()),
            ]
        );
        assert!(errs.iter().all(|e| e.reason == "FieldValueTypeInvalid"));
    }

    #[test]
    fn int_or_string() {
        let schema = json!({"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": true}}});
        for ok in [json!(80), json!("http"), json!(80.0)] {
            let (_, errs) = run(&schema, json!({"port": ok}));
            assert_eq!(errs, vec![]);
        }
        let (_, errs) = run(&schema, json!({"port": true}));
        assert_eq!(
            errs,
            vec![err(
                "port",
                "FieldValueTypeInvalid",
                "Invalid value: \"boolean\": port in body must be of type integer,string: \"boolean\""
            )]
        );
    }

    // ----- enum -------------------------------------------------------------------

    #[test]
    fn enum_values() {
        let schema = json!({"type": "object", "properties": {
            "n": {"type": "integer", "enum": [1, 2]},
            "s": {"type": "string", "enum": ["a\"b"]},
            "f": {"type": "number", "enum": [1.5]}
        }});
        let (_, errs) = run(&schema, json!({"n": 2, "s": "a\"b", "f": 1.5}));
        assert_eq!(errs, vec![]);
        let (_, errs) = run(&schema, json!({"n": 3, "s": "x", "f": 2.5}));
        assert_eq!(
            errs,
            vec![
                err("f", "FieldValueNotSupported", "Unsupported value: 2.5: supported values: \"1.5\""),
                err("n", "FieldValueNotSupported", "Unsupported value: 3: supported values: \"1\", \"2\""),
                err("s", "FieldValueNotSupported", "Unsupported value: \"x\": supported values: \"a\\\"b\""),
            ]
        );
    }

    #[test]
    fn nullable_enum_still_rejects_null_like_kube_openapi() {
        let schema = json!({"type": "object", "properties": {
            "m": {"type": "string", "nullable": true, "enum": ["A"]}}});
        let (_, errs) = run(&schema, json!({"m": null}));
        assert_eq!(errs, vec![err("m", "FieldValueNotSupported", "Unsupported value: null: supported values: \"A\"")]);
    }

    // ----- numbers ------------------------------------------------------------------

    #[test]
    fn minimum_maximum_exclusive() {
        let schema = json!({"type": "object", "properties": {
            "i": {"type": "integer", "minimum": 1, "maximum": 10, "exclusiveMaximum": true},
            "f": {"type": "number", "minimum": 0.5, "exclusiveMinimum": true, "maximum": 1000000.0}
        }});
        let (_, errs) = run(&schema, json!({"i": 5, "f": 0.75}));
        assert_eq!(errs, vec![]);
        let (_, errs) = run(&schema, json!({"i": 10, "f": 0.5}));
        assert_eq!(
            errs,
            vec![
                err("f", "FieldValueInvalid", "Invalid value: 0.5: f in body should be greater than 0.5"),
                err("i", "FieldValueInvalid", "Invalid value: 10: i in body should be less than 10"),
            ]
        );
        let (_, errs) = run(&schema, json!({"i": 0, "f": 2000000.5}));
        assert_eq!(
            errs,
            vec![
                err(
                    "f",
                    "FieldValueInvalid",
                    "Invalid value: 2.0000005e+06: f in body should be less than or equal to 1e+06"
                ),
                err("i", "FieldValueInvalid", "Invalid value: 0: i in body should be greater than or equal to 1"),
            ]
        );
    }

    #[test]
    fn multiple_of() {
        let schema = json!({"type": "object", "properties": {
            "i": {"type": "integer", "multipleOf": 3},
            "f": {"type": "number", "multipleOf": 0.5}
        }});
        let (_, errs) = run(&schema, json!({"i": 9, "f": 2.5}));
        assert_eq!(errs, vec![]);
        let (_, errs) = run(&schema, json!({"i": 10, "f": 2.25}));
        assert_eq!(
            errs,
            vec![
                err("f", "FieldValueInvalid", "Invalid value: 2.25: f in body should be a multiple of 0.5"),
                err("i", "FieldValueInvalid", "Invalid value: 10: i in body should be a multiple of 3"),
            ]
        );
    }

    // ----- nullable / defaults --------------------------------------------------------

    #[test]
    fn nullable_rules() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "foo": {"type": "string", "nullable": false, "default": "default"},
            "bar": {"type": "string", "nullable": true},
            "baz": {"type": "string"},
            "list": {"type": "array", "items": {"type": "string"}},
            "nlist": {"type": "array", "items": {"type": "string", "nullable": true}},
            "dlist": {"type": "array", "items": {"type": "string", "default": "x"}}
        }}}});
        // The example from the "Defaulting and nullable" docs section.
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"foo": null, "bar": null, "baz": null,
                            "list": ["a", null], "nlist": [null], "dlist": [null, "y"]}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {"foo": "default", "bar": null,
                            "list": ["a", null], "nlist": [null], "dlist": ["x", "y"]}})
        );
        assert_eq!(
            errs,
            vec![err(
                "spec.list[1]",
                "FieldValueTypeInvalid",
                "Invalid value: \"null\": spec.list[1] in body must be of type string: \"null\""
            )]
        );
    }

    #[test]
    fn defaults_nested_and_in_items_and_maps() {
        let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object", "default": {},
        "properties": {
            "policy": {"type": "object", "default": {"level": 1},
                       "properties": {"level": {"type": "integer"}, "mode": {"type": "string", "default": "Audit"}}},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "protocol": {"type": "string", "default": "TCP"}, "port": {"type": "integer"}}}},
            "limits": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "max": {"type": "integer", "default": 10}}}},
            "present": {"type": "string", "default": "no"}
        }}}});
        let (obj, errs) = run(&schema, json!({"kind": "K"}));
        assert_eq!(errs, vec![]);
        assert_eq!(obj, json!({"kind": "K", "spec": {"policy": {"level": 1, "mode": "Audit"}, "present": "no"}}));
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"present": "yes", "ports": [{"port": 80}, {"protocol": "UDP"}],
                            "limits": {"cpu": {}, "mem": {"max": 1}}}}),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj["spec"],
            json!({"present": "yes", "policy": {"level": 1, "mode": "Audit"},
                   "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
                   "limits": {"cpu": {"max": 10}, "mem": {"max": 1}}})
        );
    }

    #[test]
    fn defaults_are_validated() {
        let schema = json!({"type": "object", "properties": {
            "n": {"type": "integer", "default": -5, "minimum": 0}}});
        let (obj, errs) = run(&schema, json!({}));
        assert_eq!(obj, json!({"n": -5}));
        assert_eq!(
            errs,
            vec![err("n", "FieldValueInvalid", "Invalid value: -5: n in body should be greater than or equal to 0")]
        );
    }

    // ----- strings ------------------------------------------------------------------------

    #[test]
    fn string_length_and_pattern() {
        let schema = json!({"type": "object", "properties": {
            "short": {"type": "string", "maxLength": 3},
            "one": {"type": "string", "maxLength": 1},
            "long": {"type": "string", "minLength": 3},
            "dns": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "uni": {"type": "string", "pattern": "^\\p{L}+$"}
        }});
        let (_, errs) =
            run(&schema, json!({"short": "äöü", "one": "x", "long": "abc", "dns": "my-name-1", "uni": "wörter"}));
        assert_eq!(errs, vec![]);
        let (_, errs) = run(&schema, json!({"short": "abcd", "one": "xy", "long": "ab", "dns": "My_Name"}));
        assert_eq!(
            errs,
            vec![
                err(
                    "dns",
                    "FieldValueInvalid",
                    "Invalid value: \"My_Name\": dns in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
                ),
                err("long", "FieldValueInvalid", "Invalid value: \"ab\": long in body should be at least 3 chars long"),
                err("one", "FieldValueTooLong", "Too long: may not be more than 1 byte"),
                err("short", "FieldValueTooLong", "Too long: may not be more than 3 bytes"),
            ]
        );
    }

    #[test]
    fn string_format_type_quirk() {
        let schema = json!({"type": "object", "properties": {"t": {"type": "string", "format": "date-time"}}});
        let (_, errs) = run(&schema, json!({"t": "not checked"}));
        assert_eq!(errs, vec![]);
        let (_, errs) = run(&schema, json!({"t": 5}));
        assert_eq!(
            errs,
            vec![err(
                "t",
                "FieldValueTypeInvalid",
                "Invalid value: \"int64\": t in body must be of type date-time: \"int64\""
            )]
        );
    }

    // ----- arrays / maps ----------------------------------------------------------------

    #[test]
    fn arrays_with_item_schemas_and_bounds() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "items": {"type": "array", "minItems": 2, "maxItems": 3, "items": {
                "type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer", "maximum": 5}}}}}}}});
        let (obj, errs) = run(&schema, json!({"spec": {"items": [{"name": "a", "junk": 1}, {"name": 7, "n": 6}]}}));
        assert_eq!(obj, json!({"spec": {"items": [{"name": "a"}, {"name": 7, "n": 6}]}}));
        assert_eq!(
            errs,
            vec![
                err(
                    "spec.items[1].n",
                    "FieldValueInvalid",
                    "Invalid value: 6: spec.items[1].n in body should be less than or equal to 5"
                ),
                err(
                    "spec.items[1].name",
                    "FieldValueTypeInvalid",
                    "Invalid value: \"integer\": spec.items[1].name in body must be of type string: \"integer\""
                ),
            ]
        );
        let (_, errs) = run(&schema, json!({"spec": {"items": [{}]}}));
        assert_eq!(
            errs,
            vec![err(
                "spec.items",
                "FieldValueInvalid",
                "Invalid value: 1: spec.items in body should have at least 2 items"
            )]
        );
        let (_, errs) = run(&schema, json!({"spec": {"items": [{}, {}, {}, {}]}}));
        assert_eq!(errs, vec![err("spec.items", "FieldValueTooMany", "Too many: 4: must have at most 3 items")]);
    }

    #[test]
    fn additional_properties_maps() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "limits": {"type": "object", "maxProperties": 1, "additionalProperties": {
                "type": "object", "properties": {"max": {"type": "integer"}}}},
            "anything": {"type": "object", "additionalProperties": true}
        }}}});
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"labels": {"app": "x", "tier": 3, "gone": null},
                            "limits": {"cpu": {"max": 1, "junk": 2}},
                            "anything": {"k": "v", "nested": {"dropped": 1}}}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {"labels": {"app": "x", "tier": 3},
                            "limits": {"cpu": {"max": 1}},
                            "anything": {"k": "v", "nested": {}}}})
        );
        assert_eq!(
            errs,
            vec![err(
                "spec.labels.tier",
                "FieldValueTypeInvalid",
                "Invalid value: \"integer\": spec.labels.tier in body must be of type string: \"integer\""
            )]
        );
        let (_, errs) = run(&schema, json!({"spec": {"limits": {"a": {}, "b": {}}}}));
        assert_eq!(errs, vec![err("spec.limits", "FieldValueTooMany", "Too many: 2: must have at most 1 item")]);
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

    // ----- helpers --------------------------------------------------------------------------

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_fmt_g(0.0), "0");
        assert_eq!(go_fmt_g(1.0), "1");
        assert_eq!(go_fmt_g(-1.5), "-1.5");
        assert_eq!(go_fmt_g(100000.0), "100000");
        assert_eq!(go_fmt_g(1000000.0), "1e+06");
        assert_eq!(go_fmt_g(1234567.0), "1.234567e+06");
        assert_eq!(go_fmt_g(0.0001), "0.0001");
        assert_eq!(go_fmt_g(0.00001), "1e-05");
        assert_eq!(go_fmt_f(1e20), "100000000000000000000");
        assert_eq!(go_fmt_f(0.001), "0.001");
        assert_eq!(go_fmt_f(12.5), "12.5");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(3.0), "3");
        assert_eq!(go_json(&json!({"b": [1, 2.5, "<"], "a": null})), r#"{"a":null,"b":[1,2.5,"\u003c"]}"#);
        assert_eq!(go_quote("a\"b\\\n\u{1}é"), "\"a\\\"b\\\\\\n\\x01é\"");
    }

    /// `pattern` as kube-openapi matches it: Go `regexp`, unanchored.
    fn matches(p: &str, s: &str) -> Result<bool, String> {
        let schema = json!({"type": "object", "properties": {"v": {"type": "string", "pattern": p}}});
        let (_, errs) = run(&schema, json!({ "v": s }));
        match errs.as_slice() {
            [] => Ok(true),
            [e] if e.message.contains("but pattern is invalid") => Err(e.message.clone()),
            [e] if e.message.ends_with(&format!("v in body should match '{p}'")) => Ok(false),
            _ => panic!("unexpected errors for {p:?}: {errs:?}"),
        }
    }

    #[test]
    fn pattern_uses_go_regexp_semantics() {
        let m = |p: &str, s: &str| matches(p, s).ok();
        assert_eq!(m("^[a-z]+$", "abc"), Some(true));
        assert_eq!(m("^[a-z]+$", "abC"), Some(false));
        assert_eq!(m("b", "abc"), Some(true)); // unanchored
        assert_eq!(m("^(foo|bar)-\\d{2,3}$", "bar-123"), Some(true));
        assert_eq!(m("^(foo|bar)-\\d{2,3}$", "bar-1234"), Some(false));
        assert_eq!(m("(?i)^abc$", "AbC"), Some(true));
        assert_eq!(m("^a(?i:b)c$", "aBc"), Some(true));
        assert_eq!(m("^a(?i:b)c$", "aBC"), Some(false));
        assert_eq!(m("^[[:alpha:]_][[:word:]]*$", "_x9"), Some(true));
        assert_eq!(m("^[^\\s]+$", "no space"), Some(false));
        assert_eq!(m("^\\w+\\b", "ab cd"), Some(true));
        assert_eq!(m("^a.c$", "a\nc"), Some(false));
        assert_eq!(m("(?s)^a.c$", "a\nc"), Some(true));
        assert_eq!(m("^(a*)*$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), Some(false));
        assert_eq!(m("^x{2}$", "xx"), Some(true));
        assert_eq!(m("a{,2}", "a{,2}"), Some(true)); // literal brace
        assert_eq!(m("^a{,2}$", "a"), Some(false)); // literal brace, as in Go
        assert_eq!(m("^a{x}$", "a{x}"), Some(true));
        assert_eq!(m("^\\$\\{[A-Z_]+\\}$", "${HOME_DIR}"), Some(true));
        assert_eq!(m("^[\\x41-\\x{43}]+$", "ABC"), Some(true));
        assert_eq!(m("^(?P<n>[0-9]+)(ms|s)?$", "10ms"), Some(true));
        assert_eq!(m("^$", ""), Some(true));
        assert_eq!(m("a|", "zzz"), Some(true));
        assert_eq!(m("^.{3}$", "äöü"), Some(true)); // `.` is a character
        // Unicode classes, which Go supports too.
        assert_eq!(m("^\\p{L}+$", "wörter"), Some(true));
        assert_eq!(m("^\\p{L}+$", "whatever 1"), Some(false));
        // Perl classes and word boundaries are ASCII-only in Go.
        assert_eq!(m("^\\w+$", "café"), Some(false));
        assert_eq!(m("^\\d+$", "١٢"), Some(false));
        assert_eq!(m("^\\W$", "é"), Some(true));
        assert_eq!(m("^[\\w.]+$", "a.b_1"), Some(true));
        assert_eq!(m("^[\\w]+$", "é"), Some(false));
        assert_eq!(m("^[\\D]+$", "ab"), Some(true));
        assert_eq!(m("^\\s$", "\u{b}"), Some(false)); // no \v in Go's \s
        assert_eq!(m("^\\s$", "\u{a0}"), Some(false));
        assert_eq!(m("é\\b", "é"), Some(false));
        // Go takes `[`, `&` and `~` in a class literally.
        assert_eq!(m("^[a[]+$", "a[a"), Some(true));
        assert_eq!(m("^[a&&b]+$", "a&b"), Some(true));
        assert_eq!(m("^[]a]+$", "]a"), Some(true));
        assert_eq!(m("^[^]a]+$", "b"), Some(true));
        // invalid: the value fails with the compile error, never a panic
        assert_eq!(m("^a+?b*?$", "aa"), Some(true));
        assert_eq!(m("^a{2}?x{1,1000}$", "aax"), Some(true));
        for p in
            ["a**", "a+{2}", "a*??", "a{1001}", "a{2,1}", "(a", "a)", "[z-a]", "(\\1)", "*a", "\\", "[a", "\\p{Nope}"]
        {
            let e = matches(p, "a").expect_err(p);
            assert!(
                e.starts_with(&format!("Invalid value: \"a\": v in body should match '{p}, but pattern is invalid: ")),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
