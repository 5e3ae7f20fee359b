//! Step 4 of the pipeline: kube-openapi's `SchemaValidator` checks (type,
//! string, number, array, enum, object) with its error paths and messages.

use serde_json::{Map, Value};

use super::go_fmt::{go_fmt_f, go_fmt_g, go_json, is_float64_a_json_integer};
use super::pattern;
use super::{
    Additional, FieldError, REASON_INVALID, REASON_NOT_SUPPORTED, REASON_REQUIRED, REASON_TOO_LONG, REASON_TOO_MANY,
    REASON_TYPE_INVALID, additional, f64_kw, flag, int_kw, is_meta_field, items, kw, nullable, properties,
    supported_format, types,
};
use crate::selectors::go_quote;

// ---------------------------------------------------------------------------
// Step 4: validation (kube-openapi SchemaValidator)
// ---------------------------------------------------------------------------

/// A JSON number as the apiserver decodes it.
#[derive(Clone, Copy)]
pub(super) enum Num {
    I(i64),
    F(f64),
}

impl Num {
    /// JSON numbers as the apiserver decodes them: int64 when the literal is
    /// an integer that fits, float64 otherwise.
    pub(super) fn of(n: &serde_json::Number) -> Num {
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

pub(super) fn validate(s: &Value, data: &Value, path: &str, root: bool, errs: &mut Vec<FieldError>) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::tests::{err, run};

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
}
