//! Label and field selectors, as the Kubernetes API server parses and applies
//! them to `?labelSelector=` / `?fieldSelector=` query parameters and to
//! `metav1.LabelSelector` objects embedded in resources.
//!
//! The grammar, validation rules, canonical string form and error texts follow
//! `k8s.io/apimachinery`:
//!
//! * labels: <https://github.com/kubernetes/apimachinery/blob/master/pkg/labels/selector.go>
//!   and <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>
//! * label key / value validation:
//!   <https://github.com/kubernetes/apimachinery/blob/master/pkg/api/validate/content/kube.go>
//! * `metav1.LabelSelector` conversion (`LabelSelectorAsSelector`):
//!   <https://github.com/kubernetes/apimachinery/blob/master/pkg/apis/meta/v1/helpers.go>
//! * fields: <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>
//!   and <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/>
//!
//! Known, deliberate differences from upstream:
//!
//! * `key in ()` / `key notin ()` is rejected here. Upstream's parser turns an
//!   empty parenthesised list into the one-element set `{""}` (so it matches an
//!   empty label value). `in (,)` is still accepted and means `{""}`, as
//!   upstream. To get upstream's behaviour, return `Ok(vec![String::new()])`
//!   instead of the error in `Parser::parse_values`.
//! * A NUL byte inside a label selector is treated as an ordinary (invalid)
//!   character; upstream's lexer treats it as end of input.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Error parsing a selector; its Display text is what the API server puts in a
/// 400 BadRequest Status message.
///
/// The texts reproduce `k8s.io/apimachinery` (`pkg/labels/selector.go`,
/// `pkg/fields/selector.go`, `pkg/apis/meta/v1/helpers.go`,
/// `pkg/runtime/conversion.go`), including upstream's field-path prefixes such
/// as `<nil>: Invalid value: ...` and `values[0][app]: Invalid value: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A single label-selector requirement is malformed or fails validation
    /// (bad key, bad value, missing operator, unbalanced parentheses, ...).
    /// Display: `unable to parse requirement: <detail>`, as upstream's
    /// `labels.Parse`.
    #[error("unable to parse requirement: {0}")]
    InvalidRequirement(String),

    /// The label-selector string is malformed between requirements, e.g. a
    /// trailing comma (`found '', expected: identifier after ','`) or garbage
    /// after a requirement (`found '==', expected: ',' or 'end of string'`).
    /// Display: the detail alone, as upstream.
    #[error("{0}")]
    InvalidLabelSelector(String),

    /// A `metav1.LabelSelector` object failed `LabelSelectorAsSelector`:
    /// unknown operator (`"Gt" is not a valid label selector operator`) or an
    /// invalid requirement (`key: Invalid value: ...`). Display: the detail.
    #[error("{0}")]
    InvalidLabelSelectorObject(String),

    /// A `metav1.LabelSelector` JSON value has the wrong shape (e.g.
    /// `matchLabels` is not an object of strings). Upstream would fail while
    /// decoding JSON instead. Display: `invalid label selector: <detail>`.
    #[error("invalid label selector: {0}")]
    MalformedLabelSelector(String),

    /// A field-selector term has no `=`, `==` or `!=` operator.
    /// Display: `invalid selector: '<selector>'; can't understand '<term>'`,
    /// as upstream `fields.ParseSelector`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm {
        /// The whole field selector string as given.
        selector: String,
        /// The offending term.
        term: String,
    },

    /// A field-selector value contains a backslash not followed by `\`, `,`
    /// or `=`, or ends with a lone backslash.
    /// Display: `invalid field selector: invalid escape sequence: <seq>`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),

    /// A field-selector value contains an unescaped `,` or `=`.
    /// Display: `invalid field selector: unescaped character in value: <n>`
    /// where `<n>` is the character's decimal code point, exactly as upstream
    /// prints a Go rune with `%v` (e.g. `61` for `=`).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedCharacter(char),

    /// A field selector names a field the resource does not support. Never
    /// produced by this module's parsers; build it with
    /// [`SelectorError::unsupported_field`] after checking
    /// [`FieldSelector::fields`]. Display, as upstream
    /// `runtime.DefaultMetaV1FieldSelectorConversion`:
    /// `"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    #[error("{} is not a known field selector: only {}", go_quote(.field), quote_list(.supported))]
    UnsupportedField {
        /// The unsupported field path.
        field: String,
        /// The field paths the resource does support.
        supported: Vec<String>,
    },
}

impl SelectorError {
    /// Builds [`SelectorError::UnsupportedField`] for `field`, listing the
    /// `supported` field paths in the message. Never fails.
    ///
    /// Source of the message: `DefaultMetaV1FieldSelectorConversion` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/runtime/conversion.go>.
    pub fn unsupported_field(field: &str, supported: &[&str]) -> Self {
        SelectorError::UnsupportedField {
            field: field.to_string(),
            supported: supported.iter().map(|s| (*s).to_string()).collect(),
        }
    }
}

/// Quotes like Go's `%q` for the characters that can reasonably occur here.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// Validation (pkg/api/validate/content)
// ---------------------------------------------------------------------------

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const NAME_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;

fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    let mut out = msg.to_string();
    out.push_str(" (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(ex);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(re);
    out.push_str("')");
    out
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn is_label_name_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
fn is_dns1123_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        let ok_end = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => ok_end(f) && ok_end(l) && b.iter().all(|c| ok_end(c) || *c == b'-'),
            _ => false,
        }
    })
}

fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > SUBDOMAIN_MAX {
        errs.push(max_len_error(SUBDOMAIN_MAX));
    }
    if !is_dns1123_subdomain_syntax(s) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// Upstream `content.IsLabelKey` (a.k.a. `validation.IsQualifiedName`).
fn label_key_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain_errors(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > NAME_MAX {
        errs.push(format!("name part {}", max_len_error(NAME_MAX)));
    }
    if !is_label_name_syntax(name) {
        errs.push(format!(
            "name part {}",
            regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// Upstream `content.IsLabelValue`.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > NAME_MAX {
        errs.push(max_len_error(NAME_MAX));
    }
    if !value.is_empty() && !is_label_name_syntax(value) {
        errs.push(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// `field.Invalid(path, value, detail).Error()`; `bad` is already rendered.
fn field_invalid(path: &str, bad: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {bad}: {detail}")
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several
/// de-duplicated, joined with ", " and wrapped in brackets.
fn aggregate(errs: Vec<String>) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => None,
        1 => seen.pop(),
        _ => Some(format!("[{}]", seen.join(", "))),
    }
}

fn json_string_list(vals: &[String]) -> String {
    if vals.is_empty() {
        // Upstream hands the validator a nil slice, which JSON-marshals as null.
        return "null".to_string();
    }
    let quoted: Vec<String> = vals.iter().map(|v| Value::String(v.clone()).to_string()).collect();
    format!("[{}]", quoted.join(","))
}

// ---------------------------------------------------------------------------
// Label selector model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Operator,
    /// Sorted and de-duplicated (upstream stores a set and prints it sorted).
    values: Vec<String>,
}

impl Requirement {
    /// Upstream `labels.NewRequirement` with a nil field path.
    fn new(key: &str, op: Operator, vals: Vec<String>) -> Result<Self, String> {
        let mut errs = Vec::new();
        let key_errs = label_key_errors(key);
        if !key_errs.is_empty() {
            errs.push(field_invalid("key", &go_quote(key), &key_errs.join("; ")));
        }
        match op {
            Operator::In | Operator::NotIn => {
                if vals.is_empty() {
                    errs.push(field_invalid(
                        "values",
                        &json_string_list(&vals),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if vals.len() != 1 {
                    errs.push(field_invalid(
                        "values",
                        &json_string_list(&vals),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !vals.is_empty() {
                    errs.push(field_invalid(
                        "values",
                        &json_string_list(&vals),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if vals.len() != 1 {
                    errs.push(field_invalid(
                        "values",
                        &json_string_list(&vals),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in vals.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(field_invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in vals.iter().enumerate() {
            let v_errs = label_value_errors(v);
            if !v_errs.is_empty() {
                errs.push(field_invalid(&format!("values[{i}][{key}]"), &go_quote(v), &v_errs.join("; ")));
            }
        }
        if let Some(msg) = aggregate(errs) {
            return Err(msg);
        }
        let mut values = vals;
        values.sort();
        values.dedup();
        Ok(Requirement { key: key.to_string(), op, values })
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }

    /// Upstream `Requirement.Matches`.
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let got = labels.and_then(|m| m.get(&self.key)).map(json_scalar_string);
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => got.is_some_and(|v| self.has_value(&v)),
            Operator::NotIn | Operator::NotEquals => got.is_none_or(|v| !self.has_value(&v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = got.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(want) = self.values.first().and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                if self.op == Operator::GreaterThan { have > want } else { have < want }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// Upstream `Requirement.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
        };
        f.write_str(op)?;
        let set = matches!(self.op, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// String form of a JSON scalar as a selector compares it: strings as is,
/// `null` as "", numbers and booleans by their JSON text, objects and arrays
/// by their compact JSON text.
fn json_scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A parsed Kubernetes label selector: an AND of requirements on an object's
/// `metadata.labels`.
///
/// Built from the `?labelSelector=` string form ([`LabelSelector::parse`]) or
/// from a `metav1.LabelSelector` object ([`LabelSelector::from_object`]). The
/// default value is the empty selector, which matches everything.
/// Requirements are kept sorted by key (stable), and each requirement's values
/// sorted and de-duplicated, so equal selectors compare equal regardless of
/// how they were written.
///
/// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>,
/// <https://github.com/kubernetes/apimachinery/blob/master/pkg/labels/selector.go>.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// `labels.Nothing()`: produced by `from_object(null)`; matches no object.
    nothing: bool,
}

impl LabelSelector {
    /// Parses the string form used in `?labelSelector=`, e.g.
    /// `app=web,tier in (a,b),!gone,env!=prod,release notin (x),canary,replicas>2`.
    ///
    /// Grammar (upstream `labels.Parse`): comma-separated requirements, each
    /// `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (v1,v2)`,
    /// `key notin (v1,v2)`, `key>N` or `key<N`; spaces, tabs, CR and LF are
    /// allowed around tokens; the empty string (or only whitespace) is the
    /// empty selector, which matches everything. `key=` means the value "".
    /// `in`/`notin` lists may contain empty entries (`(a,,b)`, `(,)` mean
    /// "" is one of the values). `>`/`<` (Gt/Lt) are supported: the value must
    /// be a base-10 `i64`, and an object matches only if it has the label and
    /// its value parses as an `i64` satisfying the inequality.
    ///
    /// Errors: [`SelectorError::InvalidRequirement`] for a malformed or invalid
    /// requirement (key not a qualified name: optional DNS-1123 subdomain
    /// prefix of ≤253 bytes + `/` + name of ≤63 bytes matching
    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`; value not a label value
    /// (≤63 bytes, same pattern, may be empty); missing operator or value;
    /// `in ()`/`notin ()` with no values — stricter than upstream, see the
    /// module docs; Gt/Lt value not an integer), and
    /// [`SelectorError::InvalidLabelSelector`] for bad tokens between
    /// requirements (leading operator, trailing comma, `a==b==c`).
    ///
    /// Source: `Parse` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/labels/selector.go>.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser::new(s);
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// Converts a `metav1.LabelSelector` JSON object
    /// `{"matchLabels": {k: v}, "matchExpressions": [{"key", "operator", "values"}]}`
    /// (operators `In`, `NotIn`, `Exists`, `DoesNotExist`) into a selector.
    ///
    /// Each `matchLabels` entry becomes `key=value`; expressions become
    /// `in`/`notin`/exists/`!key`. `{}` (or both fields absent, null or empty)
    /// is the empty selector, which matches everything; JSON `null` (e.g. an
    /// absent `spec.selector`) yields a selector that matches nothing, whose
    /// `is_empty()` is false and whose Display is "". Unknown fields are
    /// ignored.
    ///
    /// Errors: [`SelectorError::InvalidLabelSelectorObject`] for an operator
    /// other than the four above (`"Gt" is not a valid label selector
    /// operator`), an invalid key or value, `In`/`NotIn` without values, or
    /// `Exists`/`DoesNotExist` with values; [`SelectorError::MalformedLabelSelector`]
    /// when the JSON has the wrong shape (not an object, `matchLabels` not an
    /// object of strings, `matchExpressions` not an array of objects, `key`
    /// or `operator` not a string, `values` not an array of strings).
    ///
    /// Source: `LabelSelectorAsSelector` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/apis/meta/v1/helpers.go>.
    pub fn from_object(sel: &Value) -> Result<Self, SelectorError> {
        let obj = match sel {
            Value::Null => {
                return Ok(LabelSelector { requirements: Vec::new(), nothing: true });
            }
            Value::Object(o) => o,
            other => {
                return Err(SelectorError::MalformedLabelSelector(format!(
                    "expected an object, got {}",
                    json_kind(other)
                )));
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let Value::String(v) = v else {
                        return Err(SelectorError::MalformedLabelSelector(format!(
                            "matchLabels[{k}]: expected a string, got {}",
                            json_kind(v)
                        )));
                    };
                    let r = Requirement::new(k, Operator::Equals, vec![v.clone()])
                        .map_err(SelectorError::InvalidLabelSelectorObject)?;
                    requirements.push(r);
                }
            }
            Some(other) => {
                return Err(SelectorError::MalformedLabelSelector(format!(
                    "matchLabels: expected an object, got {}",
                    json_kind(other)
                )));
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, expr) in exprs.iter().enumerate() {
                    requirements.push(expression_requirement(i, expr)?);
                }
            }
            Some(other) => {
                return Err(SelectorError::MalformedLabelSelector(format!(
                    "matchExpressions: expected an array, got {}",
                    json_kind(other)
                )));
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// True if the selector has no requirements and therefore matches every
    /// object (upstream `Selector.Empty()`); false for the match-nothing
    /// selector from `from_object(null)`. Never fails.
    ///
    /// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#api>
    /// ("an empty label selector ... selects every object").
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True if the labels satisfy every requirement. `labels` is an object's
    /// `metadata.labels` map (values are JSON strings; a non-string value is
    /// compared by its JSON text, `null` as ""); `None` means no labels.
    /// `!=` and `notin` also match objects without the key; `in`, `=`, `==`,
    /// `>` and `<` need the key. Never fails.
    ///
    /// Source: `Requirement.Matches` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/labels/selector.go>.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// [`LabelSelector::matches`] for a typed label map, as kube-rs and k8s-openapi
    /// objects carry them (`metadata.labels: Option<BTreeMap<String, String>>`).
    pub fn matches_labels(&self, labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
        if self.nothing {
            return false;
        }
        if self.requirements.is_empty() {
            return true;
        }
        let map: Option<Map<String, Value>> =
            labels.map(|l| l.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
        self.matches(map.as_ref())
    }

    /// [`LabelSelector::matches`] applied to `obj["metadata"]["labels"]`; a
    /// missing, null or non-object labels field counts as no labels. Never
    /// fails.
    ///
    /// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object);
        self.matches(labels)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expression_requirement(i: usize, expr: &Value) -> Result<Requirement, SelectorError> {
    let malformed = |what: &str, v: &Value| {
        SelectorError::MalformedLabelSelector(format!(
            "matchExpressions[{i}]{what}: expected {}, got {}",
            if what.is_empty() {
                "an object"
            } else if what == ".values" {
                "an array of strings"
            } else {
                "a string"
            },
            json_kind(v)
        ))
    };
    let Value::Object(expr) = expr else {
        return Err(malformed("", expr));
    };
    let string_field = |name: &str| -> Result<String, SelectorError> {
        match expr.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(malformed(&format!(".{name}"), other)),
        }
    };
    let key = string_field("key")?;
    let operator = string_field("operator")?;
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => return Err(malformed(".values", other)),
                }
            }
            out
        }
        Some(other) => return Err(malformed(".values", other)),
    };
    let op = match operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(SelectorError::InvalidLabelSelectorObject(format!(
                "{} is not a valid label selector operator",
                go_quote(other)
            )));
        }
    };
    Requirement::new(&key, op, values).map_err(SelectorError::InvalidLabelSelectorObject)
}

impl fmt::Display for LabelSelector {
    /// Canonical string form, as upstream `Selector.String()` and as
    /// autoscaling/v1 `Scale.status.selector`: requirements sorted by key and
    /// joined by ",", values of `in`/`notin` sorted, e.g.
    /// `app=web,!gone,tier in (a,b)`. The empty and the match-nothing
    /// selectors both print "". `parse(&sel.to_string())` gives back `sel`
    /// for every selector except the match-nothing one and an `in`/`notin`
    /// whose only value is "" (printed `in ()`, which `parse` rejects).
    ///
    /// Source: `internalSelector.String` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/labels/selector.go>.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Label selector lexer and parser (port of upstream's Lexer / Parser)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

#[derive(Debug, Clone, Copy)]
struct Item<'a> {
    tok: Tok,
    lit: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn symbol_token(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

/// Splits the input into tokens; always ends with `EndOfString`.
fn lex(s: &str) -> Vec<Item<'_>> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut items = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            items.push(Item { tok: Tok::EndOfString, lit: "" });
            return items;
        }
        let start = pos;
        if is_special(b[pos]) {
            // Every single special byte is a token; extend to two bytes when
            // that is a token too ("==", "!="). Upstream never yields more.
            pos += 1;
            if pos < b.len() && is_special(b[pos]) && symbol_token(&s[start..pos + 1]).is_some() {
                pos += 1;
            }
            let lit = &s[start..pos];
            // Slicing is on ASCII boundaries, so `lit` is valid.
            let tok = symbol_token(lit).unwrap_or(Tok::Identifier);
            items.push(Item { tok, lit });
        } else {
            while pos < b.len() && !is_special(b[pos]) && !is_whitespace(b[pos]) {
                pos += 1;
            }
            let lit = &s[start..pos];
            let tok = match lit {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Identifier,
            };
            items.push(Item { tok, lit });
        }
    }
}

struct Parser<'a> {
    items: Vec<Item<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser { items: lex(s), pos: 0 }
    }

    fn at(&self, idx: usize, ctx: Context) -> Item<'a> {
        let mut item = self.items.get(idx).copied().unwrap_or(Item { tok: Tok::EndOfString, lit: "" });
        if ctx == Context::Values && matches!(item.tok, Tok::In | Tok::NotIn) {
            item.tok = Tok::Identifier;
        }
        item
    }

    fn lookahead(&self, ctx: Context) -> Item<'a> {
        self.at(self.pos, ctx)
    }

    fn consume(&mut self, ctx: Context) -> Item<'a> {
        let item = self.at(self.pos, ctx);
        if self.pos < self.items.len() {
            self.pos += 1;
        }
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            let it = self.lookahead(Context::Values);
            match it.tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self.parse_requirement().map_err(SelectorError::InvalidRequirement)?;
                    reqs.push(r);
                    let t = self.consume(Context::Values);
                    match t.tok {
                        Tok::EndOfString => return Ok(reqs),
                        Tok::Comma => {
                            let t2 = self.lookahead(Context::Values);
                            if !matches!(t2.tok, Tok::Identifier | Tok::DoesNotExist) {
                                return Err(SelectorError::InvalidLabelSelector(format!(
                                    "found '{}', expected: identifier after ','",
                                    t2.lit
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::InvalidLabelSelector(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.lit
                            )));
                        }
                    }
                }
                Tok::EndOfString => return Ok(reqs),
                _ => {
                    return Err(SelectorError::InvalidLabelSelector(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        it.lit
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Requirement::new(key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(key, op, values)
    }

    /// Returns the key and, for `key` / `!key`, the inferred unary operator.
    fn parse_key_and_infer_operator(&mut self) -> Result<(&'a str, Option<Operator>), String> {
        let mut op = None;
        let mut it = self.consume(Context::Values);
        if it.tok == Tok::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            it = self.consume(Context::Values);
        }
        if it.tok != Tok::Identifier {
            return Err(format!("found '{}', expected: identifier", it.lit));
        }
        let errs = label_key_errors(it.lit);
        if !errs.is_empty() {
            return Err(field_invalid("<nil>", &go_quote(it.lit), &errs.join("; ")));
        }
        let next = self.lookahead(Context::Values).tok;
        if matches!(next, Tok::EndOfString | Tok::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((it.lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let it = self.consume(Context::KeyAndOperator);
        Ok(match it.tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!("found '{}', expected: in, notin, =, ==, !=, gt, lt", it.lit));
            }
        })
    }

    /// `( v1, v2, ... )` for `in` / `notin`; returns a sorted set.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let it = self.consume(Context::Values);
        if it.tok != Tok::OpenPar {
            return Err(format!("found '{}' expected: '('", it.lit));
        }
        let la = self.lookahead(Context::Values);
        match la.tok {
            Tok::Identifier | Tok::Comma => {
                let set = self.parse_identifiers_list()?;
                if self.consume(Context::Values).tok != Tok::ClosedPar {
                    return Err(format!("found '{}', expected: ')'", la.lit));
                }
                Ok(set.into_iter().collect())
            }
            Tok::ClosedPar => {
                // Upstream accepts "()" as {""}; this module requires at least
                // one value (see the module docs).
                self.consume(Context::Values);
                Err(field_invalid("values", "[]", "for 'in', 'notin' operators, values set can't be empty"))
            }
            _ => Err(format!("found '{}', expected: ',', ')' or identifier", la.lit)),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut set = BTreeSet::new();
        loop {
            let it = self.consume(Context::Values);
            match it.tok {
                Tok::Identifier => {
                    set.insert(it.lit.to_string());
                    let la = self.lookahead(Context::Values);
                    match la.tok {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{}', expected: ',' or ')'", la.lit)),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.insert(String::new()); // "(,"
                    }
                    match self.lookahead(Context::Values).tok {
                        Tok::ClosedPar => {
                            set.insert(String::new()); // ",)"
                            return Ok(set);
                        }
                        Tok::Comma => {
                            self.consume(Context::Values);
                            set.insert(String::new()); // ",,"
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{}', expected: ',', or identifier", it.lit)),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>`, `<`; "" when absent.
    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let la = self.lookahead(Context::Values);
        if matches!(la.tok, Tok::EndOfString | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        let it = self.consume(Context::Values);
        if it.tok == Tok::Identifier {
            return Ok(vec![it.lit.to_string()]);
        }
        Err(format!("found '{}', expected: identifier", it.lit))
    }
}

// ---------------------------------------------------------------------------
// Field selectors (pkg/fields/selector.go)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    negate: bool,
    value: String,
}

/// A parsed Kubernetes field selector: an AND of `field=value` /
/// `field!=value` terms on dotted paths such as `metadata.name` or
/// `involvedObject.kind`.
///
/// The default value is the empty selector, which matches everything. Terms
/// are kept in upstream's order (sorted by their raw text).
///
/// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/>,
/// <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the string form used in `?fieldSelector=`, e.g.
    /// `metadata.name=foo,status.phase!=Running`.
    ///
    /// Terms are separated by unescaped `,`; empty terms are skipped (so ""
    /// and ",," are the empty selector). Each term is split at the first
    /// `!=`, `==` or `=`; `==` means the same as `=`. Nothing is trimmed: a
    /// space is part of the field or value, as upstream. In the value, `\\`,
    /// `\,` and `\=` stand for `\`, `,` and `=`. The field path is not
    /// validated here: check [`FieldSelector::fields`] and refuse unknown ones
    /// with [`SelectorError::unsupported_field`]. A term whose field and value
    /// are both empty (`=`) is dropped, as upstream.
    ///
    /// Errors: [`SelectorError::InvalidFieldTerm`] for a term without an
    /// operator; [`SelectorError::UnescapedCharacter`] for a bare `,` or `=`
    /// in a value (e.g. `a==b==c`); [`SelectorError::InvalidEscapeSequence`]
    /// for any other backslash sequence or a trailing backslash.
    ///
    /// Source: `ParseSelector` / `UnescapeValue` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(SelectorError::InvalidFieldTerm { selector: s.to_string(), term: part.to_string() });
            };
            let value = unescape_value(rhs)?;
            if lhs.is_empty() && value.is_empty() {
                continue;
            }
            terms.push(FieldTerm { field: lhs.to_string(), negate: op == "!=", value });
        }
        Ok(FieldSelector { terms })
    }

    /// True if the selector has no terms and therefore matches every object.
    /// Never fails.
    ///
    /// Source: `andTerm.Empty` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The field paths the selector names, in term order without duplicates,
    /// e.g. `["involvedObject.kind", "metadata.name"]`, so the caller can
    /// refuse fields the resource does not support (the API server answers
    /// 400 BadRequest for those). Never fails.
    ///
    /// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/#supported-fields>.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for t in &self.terms {
            if !out.contains(&t.field.as_str()) {
                out.push(&t.field);
            }
        }
        out
    }

    /// True if every term holds for `obj`: each dotted path is resolved
    /// through nested JSON objects; a missing field or `null` compares as "",
    /// strings as themselves, numbers and booleans by their JSON text
    /// (`3`, `true`), objects and arrays by their compact JSON text. `=`
    /// requires equality, `!=` inequality (so `!=` matches a missing field
    /// unless the value is ""). Never fails.
    ///
    /// Source: `hasTerm.Matches` / `notHasTerm.Matches` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let got = resolve_field(obj, &t.field);
            (got == t.value) != t.negate
        })
    }
}

impl fmt::Display for FieldSelector {
    /// Canonical string form, as upstream `Selector.String()`: terms joined
    /// by ",", each `field=value` or `field!=value` with `\`, `,` and `=`
    /// escaped in the value; `parse(&sel.to_string()) == sel`.
    ///
    /// Source: <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&t.field)?;
            f.write_str(if t.negate { "!=" } else { "=" })?;
            f.write_str(&escape_value(&t.value))?;
        }
        Ok(())
    }
}

fn resolve_field(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    json_scalar_string(cur)
}

/// Upstream `splitTerms`: split on commas not preceded by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Upstream `splitTerm`: split at the first `!=`, `==` or `=`.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// Upstream `EscapeValue`.
fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Upstream `UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscapeSequence(format!("\\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(SelectorError::UnescapedCharacter(c)),
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::InvalidEscapeSequence("\\".to_string()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("parse {s:?}: {e}"))
    }

    fn m(s: &str, l: Value) -> bool {
        sel(s).matches(Some(&labels(l)))
    }

    fn err(s: &str) -> String {
        match LabelSelector::parse(s) {
            Ok(v) => panic!("{s:?} parsed as {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn fsel(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("parse {s:?}: {e}"))
    }

    fn ferr(s: &str) -> SelectorError {
        match FieldSelector::parse(s) {
            Ok(v) => panic!("{s:?} parsed as {v:?}"),
            Err(e) => e,
        }
    }

    // ----- label selector: parsing and matching per operator -----

    #[test]
    fn empty_selector_matches_everything() {
        for s in ["", "   ", "\t\n"] {
            let ls = sel(s);
            assert!(ls.is_empty());
            assert!(ls.matches(None));
            assert!(ls.matches(Some(&labels(json!({"a": "b"})))));
            assert_eq!(ls.to_string(), "");
        }
        assert!(LabelSelector::default().is_empty());
        assert_eq!(LabelSelector::default(), sel(""));
    }

    #[test]
    fn equals_and_double_equals() {
        assert!(m("app=web", json!({"app": "web"})));
        assert!(!m("app=web", json!({"app": "db"})));
        assert!(!m("app=web", json!({})));
        assert!(m("app==web", json!({"app": "web", "x": "y"})));
        assert!(!m("app==web", json!({"app": "db"})));
        assert!(!sel("app==web").matches(None));
        assert!(!sel("app=web").is_empty());
    }

    #[test]
    fn equals_empty_value() {
        assert!(m("app=", json!({"app": ""})));
        assert!(!m("app=", json!({"app": "x"})));
        assert!(!m("app=", json!({})));
        assert!(m("app=,b=c", json!({"app": "", "b": "c"})));
    }

    #[test]
    fn not_equals_matches_missing_key() {
        assert!(m("app!=web", json!({"app": "db"})));
        assert!(!m("app!=web", json!({"app": "web"})));
        assert!(m("app!=web", json!({})));
        assert!(sel("app!=web").matches(None));
    }

    #[test]
    fn in_operator() {
        assert!(m("tier in (a,b)", json!({"tier": "a"})));
        assert!(m("tier in (a,b)", json!({"tier": "b"})));
        assert!(!m("tier in (a,b)", json!({"tier": "c"})));
        assert!(!m("tier in (a,b)", json!({})));
        assert!(!sel("tier in (a)").matches(None));
    }

    #[test]
    fn notin_matches_missing_key() {
        assert!(m("tier notin (a,b)", json!({"tier": "c"})));
        assert!(!m("tier notin (a,b)", json!({"tier": "a"})));
        assert!(m("tier notin (a,b)", json!({})));
        assert!(sel("tier notin (a,b)").matches(None));
    }

    #[test]
    fn exists_and_does_not_exist() {
        assert!(m("app", json!({"app": ""})));
        assert!(m("app", json!({"app": "x"})));
        assert!(!m("app", json!({"other": "x"})));
        assert!(!sel("app").matches(None));
        assert!(m("!app", json!({"other": "x"})));
        assert!(!m("!app", json!({"app": "x"})));
        assert!(sel("!app").matches(None));
        assert!(m("! app", json!({})));
    }

    #[test]
    fn greater_and_less_than() {
        assert!(m("n>5", json!({"n": "6"})));
        assert!(!m("n>5", json!({"n": "5"})));
        assert!(!m("n>5", json!({"n": "abc"})));
        assert!(!m("n>5", json!({})));
        assert!(m("n<5", json!({"n": "4"})));
        assert!(m("n<5", json!({"n": "-10"})));
        assert!(!m("n<5", json!({"n": "5"})));
        assert!(m("n > 10 , n < 20", json!({"n": "15"})));
        assert!(!m("n > 10 , n < 20", json!({"n": "25"})));
        assert_eq!(sel("n>5").to_string(), "n>5");
        assert_eq!(sel("n < 5").to_string(), "n<5");
    }

    #[test]
    fn gt_lt_need_integer() {
        let e = err("n>abc");
        assert_eq!(
            e,
            "unable to parse requirement: values[0]: Invalid value: \"abc\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert!(err("n>").contains("the value must be an integer"));
        // "-5" is an integer but not a valid label value (upstream rule).
        let e = err("n>-5");
        assert!(e.starts_with("unable to parse requirement: values[0][n]: Invalid value: \"-5\""), "{e}");
        // Neither an integer nor a label value: two errors, aggregated.
        let e = err("n>a-");
        assert!(e.starts_with("unable to parse requirement: [values[0]: Invalid value: \"a-\": for 'Gt'"), "{e}");
        assert!(e.contains(", values[0][n]: Invalid value: \"a-\""), "{e}");
        assert!(e.ends_with(']'), "{e}");
        assert!(err("n>=5").contains("found '=', expected: identifier"));
    }

    #[test]
    fn multiple_requirements_are_anded() {
        let s = sel("app=web,tier in (a,b),!gone");
        assert!(s.matches(Some(&labels(json!({"app": "web", "tier": "a"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "tier": "a", "gone": "1"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "db", "tier": "a"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web"})))));
    }

    #[test]
    fn whitespace_around_tokens() {
        let a = sel("  app = web ,  tier   in   ( a , b ) , ! gone , x != y , z notin (q)\t");
        let b = sel("app=web,tier in (a,b),!gone,x!=y,z notin (q)");
        assert_eq!(a, b);
        assert_eq!(sel("a\r\n==\nb"), sel("a==b"));
        assert_eq!(sel("tier in(a)"), sel("tier in (a)"));
    }

    #[test]
    fn keywords_as_keys_and_values() {
        assert!(m("in in (in,notin)", json!({"in": "notin"})));
        assert!(m("notin notin (in)", json!({"notin": "x"})));
        assert!(m("x=in", json!({"x": "in"})));
        assert!(m("in", json!({"in": "1"})));
        assert!(m("!notin", json!({})));
    }

    #[test]
    fn prefixed_keys() {
        assert!(m("app.kubernetes.io/name=web", json!({"app.kubernetes.io/name": "web"})));
        assert!(m("example.com/a_b-c.d", json!({"example.com/a_b-c.d": "x"})));
        assert!(m("A_b.C-d=X_y.Z-1", json!({"A_b.C-d": "X_y.Z-1"})));
    }

    #[test]
    fn empty_entries_in_value_set() {
        assert_eq!(sel("a in (,)").to_string(), "a in ()");
        assert!(m("a in (,)", json!({"a": ""})));
        assert!(m("a in (x,,y)", json!({"a": ""})));
        assert!(m("a in (x,)", json!({"a": ""})));
        assert!(m("a in (,x)", json!({"a": "x"})));
        assert!(!m("a in (x,y)", json!({"a": ""})));
        assert_eq!(sel("a in (x,,y)").to_string(), "a in (,x,y)");
    }

    #[test]
    fn non_string_label_values_compare_by_text() {
        assert!(m("a=1", json!({"a": 1})));
        assert!(m("a=true", json!({"a": true})));
        assert!(m("a=", json!({"a": null})));
        assert!(m("a>0", json!({"a": 3})));
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let s = sel("app=web");
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!s.matches_object(&json!({"metadata": {"labels": {"app": "db"}}})));
        assert!(!s.matches_object(&json!({"metadata": {}})));
        assert!(!s.matches_object(&json!({})));
        assert!(!s.matches_object(&json!({"metadata": {"labels": null}})));
        let n = sel("app!=web,!gone");
        assert!(n.matches_object(&json!({"metadata": {"name": "x"}})));
        assert!(n.matches_object(&json!("not an object")));
        assert!(sel("").matches_object(&json!({})));
    }

    // ----- label selector: invalid inputs and error texts -----

    #[test]
    fn error_in_without_values() {
        assert_eq!(err("a in"), "unable to parse requirement: found '' expected: '('");
        assert_eq!(err("a in ("), "unable to parse requirement: found '', expected: ',', ')' or identifier");
        assert_eq!(err("a in (b"), "unable to parse requirement: found '', expected: ',' or ')'");
        assert_eq!(err("a in (b,"), "unable to parse requirement: found '', expected: ',', or identifier");
        assert_eq!(err("a notin"), "unable to parse requirement: found '' expected: '('");
        assert_eq!(err("a in b"), "unable to parse requirement: found 'b' expected: '('");
        assert_eq!(err("a in (b c)"), "unable to parse requirement: found 'c', expected: ',' or ')'");
        assert_eq!(err("a in (b,=)"), "unable to parse requirement: found '=', expected: ',', or identifier");
    }

    #[test]
    fn error_empty_value_set() {
        let want = "unable to parse requirement: values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty";
        assert_eq!(err("a in ()"), want);
        assert_eq!(err("a notin ( )"), want);
    }

    #[test]
    fn error_missing_key() {
        assert_eq!(err("=b"), "found '=', expected: !, identifier, or 'end of string'");
        assert_eq!(err("!=b"), "found '!=', expected: !, identifier, or 'end of string'");
        assert_eq!(err("(a)"), "found '(', expected: !, identifier, or 'end of string'");
        assert_eq!(err("!"), "unable to parse requirement: found '', expected: identifier");
        assert_eq!(err("!,a"), "unable to parse requirement: found ',', expected: identifier");
    }

    #[test]
    fn error_trailing_garbage() {
        assert_eq!(err("a==b==c"), "found '==', expected: ',' or 'end of string'");
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("a=b)"), "found ')', expected: ',' or 'end of string'");
    }

    #[test]
    fn error_commas() {
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(err("a,,b"), "found ',', expected: identifier after ','");
        assert_eq!(err(",a"), "found ',', expected: !, identifier, or 'end of string'");
    }

    #[test]
    fn error_missing_operator() {
        assert_eq!(err("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(err("a ("), "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(err("a=(b)"), "unable to parse requirement: found '(', expected: identifier");
    }

    #[test]
    fn error_bad_key_chars() {
        let e = err("a$b=c");
        assert_eq!(
            e,
            "unable to parse requirement: <nil>: Invalid value: \"a$b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        for bad in ["-a", "a-", ".a", "_a", "a/b/c", "/a", "a/", "Example.com/a", "a..b/c", "é=x"] {
            let e = err(bad);
            assert!(e.starts_with("unable to parse requirement: <nil>: Invalid value:"), "{bad}: {e}");
        }
        assert!(err("/a").contains("prefix part must be non-empty"));
        assert!(err("a/").contains("name part must be non-empty"));
        assert!(err("a/b/c").contains("a valid label key must consist of"));
        assert!(err("Example.com/a").contains("prefix part a lowercase RFC 1123 subdomain"));
    }

    #[test]
    fn key_length_limits() {
        let name63 = "k".repeat(63);
        assert!(LabelSelector::parse(&name63).is_ok());
        let e = err(&"k".repeat(64));
        assert!(e.ends_with("name part must be no more than 63 bytes"), "{e}");
        let prefix = format!("{}.com", "p".repeat(249));
        assert_eq!(prefix.len(), 253);
        assert!(LabelSelector::parse(&format!("{prefix}/n")).is_ok());
        let e = err(&format!("p{prefix}/n"));
        assert!(e.contains("prefix part must be no more than 253 bytes"), "{e}");
    }

    #[test]
    fn value_validation() {
        let v63 = "v".repeat(63);
        assert!(m(&format!("a={v63}"), json!({"a": v63})));
        let v64 = "v".repeat(64);
        assert_eq!(
            err(&format!("a={v64}")),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{v64}\": must be no more than 63 bytes"
            )
        );
        let e = err("a=-b");
        assert!(
            e.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string"),
            "{e}"
        );
        // Index is into the sorted value set, as upstream.
        let e = err("a in (z,b-)");
        assert!(e.contains("values[0][a]: Invalid value: \"b-\""), "{e}");
        let e = err("a in (z, b_, c.)");
        assert!(e.starts_with("unable to parse requirement: [values[0][a]"), "{e}");
        assert!(e.contains(", values[1][a]: Invalid value: \"c.\""), "{e}");
        assert!(err("a!=b$").contains("values[0][a]: Invalid value: \"b$\""));
    }

    #[test]
    fn error_variants() {
        assert!(matches!(LabelSelector::parse("a in"), Err(SelectorError::InvalidRequirement(_))));
        assert!(matches!(LabelSelector::parse("a,"), Err(SelectorError::InvalidLabelSelector(_))));
    }

    // ----- label selector: canonical form and round trip -----

    #[test]
    fn display_canonical_form() {
        assert_eq!(sel("tier in (b,a),app=web,!gone").to_string(), "app=web,!gone,tier in (a,b)");
        assert_eq!(sel("a in (b,b,a)").to_string(), "a in (a,b)");
        assert_eq!(sel("x notin (q)").to_string(), "x notin (q)");
        assert_eq!(sel("a==b").to_string(), "a==b");
        assert_eq!(sel("a!=b").to_string(), "a!=b");
        assert_eq!(sel("a").to_string(), "a");
        assert_eq!(sel("a=").to_string(), "a=");
        // Stable by key: requirements on the same key keep their order.
        assert_eq!(sel("b,a!=1,a").to_string(), "a!=1,a,b");
    }

    #[test]
    fn display_round_trip() {
        for s in [
            "app=web,tier in (a,b),!gone",
            "a==b,c!=d,e notin (f,g),h,!i,j>3,k<0",
            "app.kubernetes.io/name=web,example.com/x in (,a)",
            "a=",
            "z, y, x in (3,2,1)",
            "in in (notin),notin",
            "",
        ] {
            let a = sel(s);
            let b = sel(&a.to_string());
            assert_eq!(a, b, "{s}");
            assert_eq!(a.to_string(), b.to_string());
        }
    }

    #[test]
    fn equality_is_order_insensitive() {
        assert_eq!(sel("a=1,b=2"), sel("b=2,a=1"));
        assert_eq!(sel("a in (1,2)"), sel("a in (2,1,1)"));
        assert_ne!(sel("a=1"), sel("a==1"));
    }

    // ----- label selector: metav1.LabelSelector objects -----

    #[test]
    fn from_object_match_labels_and_expressions() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web", "env": "prod"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "team", "operator": "Exists"},
                {"key": "gone", "operator": "DoesNotExist", "values": []}
            ]
        }))
        .unwrap();
        assert_eq!(s.to_string(), "app=web,env=prod,!gone,team,tier in (a,b),track notin (canary)");
        assert_eq!(s, sel(&s.to_string()));
        let ok = json!({"app": "web", "env": "prod", "tier": "a", "team": "x"});
        assert!(s.matches(Some(&labels(ok))));
        let canary = json!({"app": "web", "env": "prod", "tier": "a", "team": "x", "track": "canary"});
        assert!(!s.matches(Some(&labels(canary))));
        let no_team = json!({"app": "web", "env": "prod", "tier": "a"});
        assert!(!s.matches(Some(&labels(no_team))));
        let gone = json!({"app": "web", "env": "prod", "tier": "b", "team": "x", "gone": "y"});
        assert!(!s.matches(Some(&labels(gone))));
    }

    #[test]
    fn from_object_empty_matches_everything() {
        for v in [
            json!({}),
            json!({"matchLabels": {}}),
            json!({"matchLabels": null, "matchExpressions": []}),
            json!({"unknown": 1}),
        ] {
            let s = LabelSelector::from_object(&v).unwrap();
            assert!(s.is_empty(), "{v}");
            assert!(s.matches(None));
            assert_eq!(s, LabelSelector::default());
        }
    }

    #[test]
    fn from_object_null_matches_nothing() {
        let s = LabelSelector::from_object(&Value::Null).unwrap();
        assert!(!s.is_empty());
        assert!(!s.matches(None));
        assert!(!s.matches(Some(&labels(json!({"a": "b"})))));
        assert!(!s.matches_object(&json!({"metadata": {"labels": {"a": "b"}}})));
        assert_eq!(s.to_string(), "");
        assert_ne!(s, LabelSelector::default());
    }

    #[test]
    fn from_object_in_with_empty_string_value() {
        let s = LabelSelector::from_object(&json!({
            "matchExpressions": [{"key": "a", "operator": "In", "values": [""]}]
        }))
        .unwrap();
        assert!(s.matches(Some(&labels(json!({"a": ""})))));
        assert!(!s.matches(Some(&labels(json!({"a": "x"})))));
        assert_eq!(s.to_string(), "a in ()");
    }

    #[test]
    fn from_object_errors() {
        let e = |v: Value| LabelSelector::from_object(&v).unwrap_err().to_string();
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(e(json!({"matchExpressions": [{"key": "a"}]})), "\"\" is not a valid label selector operator");
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]})),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
        );
        let bad_key = e(json!({"matchLabels": {"bad key": "v"}}));
        assert!(bad_key.starts_with("key: Invalid value: \"bad key\": name part must consist"), "{bad_key}");
        let bad_val = e(json!({"matchLabels": {"k": "bad value"}}));
        assert!(bad_val.starts_with("values[0][k]: Invalid value: \"bad value\""), "{bad_val}");
        let both = e(json!({"matchLabels": {"b k": "b v"}}));
        assert!(both.starts_with("[key: Invalid value:"), "{both}");
        let long = "v".repeat(64);
        assert!(e(json!({"matchLabels": {"k": long}})).ends_with("must be no more than 63 bytes"));
        assert!(matches!(
            LabelSelector::from_object(&json!({"matchExpressions": [{"key": "a", "operator": "Lt"}]})),
            Err(SelectorError::InvalidLabelSelectorObject(_))
        ));
    }

    #[test]
    fn from_object_malformed() {
        for v in [
            json!("app=web"),
            json!([]),
            json!({"matchLabels": []}),
            json!({"matchLabels": {"a": 1}}),
            json!({"matchExpressions": {}}),
            json!({"matchExpressions": ["a"]}),
            json!({"matchExpressions": [{"key": 1, "operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": true}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
        ] {
            let r = LabelSelector::from_object(&v);
            assert!(matches!(r, Err(SelectorError::MalformedLabelSelector(_))), "{v}: {r:?}");
        }
        assert_eq!(
            LabelSelector::from_object(&json!({"matchLabels": {"a": 1}})).unwrap_err().to_string(),
            "invalid label selector: matchLabels[a]: expected a string, got a number"
        );
        assert_eq!(
            LabelSelector::from_object(&json!({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}))
                .unwrap_err()
                .to_string(),
            "invalid label selector: matchExpressions[0].values: expected an array of strings, got a string"
        );
    }

    // ----- validation helpers -----

    #[test]
    fn label_name_syntax() {
        for ok in ["a", "A", "0", "a-b", "a_b", "a.b", "a--_..b", "9z"] {
            assert!(is_label_name_syntax(ok), "{ok}");
        }
        for bad in ["", "-", "a-", "-a", "a b", "a/b", "ä"] {
            assert!(!is_label_name_syntax(bad), "{bad}");
        }
        assert!(is_dns1123_subdomain_syntax("example.com"));
        assert!(is_dns1123_subdomain_syntax("a-b.c0"));
        for bad in ["", "Example.com", "a..b", ".a", "a.", "-a.b", "a_b"] {
            assert!(!is_dns1123_subdomain_syntax(bad), "{bad}");
        }
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }

    // ----- field selectors -----

    #[test]
    fn field_empty() {
        for s in ["", ",", ",,", "="] {
            let f = fsel(s);
            assert!(f.is_empty(), "{s}");
            assert!(f.matches(&json!({})));
            assert!(f.fields().is_empty());
        }
        assert_eq!(FieldSelector::default(), fsel(""));
    }

    #[test]
    fn field_operators() {
        let obj = json!({"metadata": {"name": "foo", "namespace": "ns"}});
        assert!(fsel("metadata.name=foo").matches(&obj));
        assert!(fsel("metadata.name==foo").matches(&obj));
        assert!(!fsel("metadata.name=bar").matches(&obj));
        assert!(fsel("metadata.name!=bar").matches(&obj));
        assert!(!fsel("metadata.name!=foo").matches(&obj));
        assert!(fsel("metadata.name=foo,metadata.namespace=ns").matches(&obj));
        assert!(!fsel("metadata.name=foo,metadata.namespace=other").matches(&obj));
        assert_eq!(fsel("metadata.name==foo"), fsel("metadata.name=foo"));
    }

    #[test]
    fn field_nested_paths() {
        let ev = json!({
            "involvedObject": {"kind": "Pod", "name": "p1", "uid": "u"},
            "spec": {"nodeName": "n1", "replicas": 3, "paused": false, "x": {"y": {"z": "deep"}}},
            "status": {"phase": "Running"}
        });
        assert!(fsel("involvedObject.kind=Pod,involvedObject.name=p1").matches(&ev));
        assert!(fsel("spec.x.y.z=deep").matches(&ev));
        assert!(fsel("status.phase!=Pending").matches(&ev));
        assert!(fsel("spec.replicas=3").matches(&ev));
        assert!(fsel("spec.paused=false").matches(&ev));
        assert!(!fsel("spec.paused=true").matches(&ev));
        // Missing field and null compare as "".
        assert!(fsel("spec.missing=").matches(&ev));
        assert!(fsel("spec.nodeName.deeper=").matches(&ev));
        assert!(fsel("nope.nope=").matches(&ev));
        assert!(!fsel("spec.missing!=").matches(&ev));
        assert!(fsel("spec.missing!=x").matches(&ev));
        assert!(fsel("spec.n=").matches(&json!({"spec": {"n": null}})));
        assert!(!fsel("spec.nodeName=").matches(&ev));
        // Objects compare by JSON text, never equal to ordinary values.
        assert!(fsel("spec.x!=").matches(&ev));
    }

    #[test]
    fn field_fields_list() {
        let f = fsel("metadata.name=a,involvedObject.kind=Pod,metadata.name!=b");
        assert_eq!(f.fields(), vec!["involvedObject.kind", "metadata.name"]);
        assert_eq!(fsel("=x").fields(), vec![""]);
        assert_eq!(fsel(" metadata.name = a").fields(), vec![" metadata.name "]);
    }

    #[test]
    fn field_escaping() {
        let obj = json!({"metadata": {"name": "a,b=c\\d"}});
        let f = fsel("metadata.name=a\\,b\\=c\\\\d");
        assert!(f.matches(&obj));
        assert_eq!(f.fields(), vec!["metadata.name"]);
        assert_eq!(f.to_string(), "metadata.name=a\\,b\\=c\\\\d");
        assert_eq!(fsel(&f.to_string()), f);
        // An escaped comma does not split terms.
        let g = fsel("a=x\\,y,b=z");
        assert_eq!(g.fields(), vec!["a", "b"]);
        assert!(g.matches(&json!({"a": "x,y", "b": "z"})));
    }

    #[test]
    fn field_escape_errors() {
        assert_eq!(ferr("a=b\\c"), SelectorError::InvalidEscapeSequence("\\c".to_string()));
        assert_eq!(ferr("a=b\\c").to_string(), "invalid field selector: invalid escape sequence: \\c");
        assert_eq!(ferr("a=b\\").to_string(), "invalid field selector: invalid escape sequence: \\");
        assert_eq!(ferr("a==b==c").to_string(), "invalid field selector: unescaped character in value: 61");
        assert_eq!(ferr("a==b==c"), SelectorError::UnescapedCharacter('='));
        assert_eq!(ferr("a=b=c").to_string(), "invalid field selector: unescaped character in value: 61");
    }

    #[test]
    fn field_missing_operator() {
        assert_eq!(
            ferr("metadata.name").to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(ferr("a=b,foo").to_string(), "invalid selector: 'a=b,foo'; can't understand 'foo'");
        assert!(matches!(ferr("a<b"), SelectorError::InvalidFieldTerm { .. }));
    }

    #[test]
    fn field_split_at_first_operator() {
        // "a!=b" is a not-equals term, not field "a!" equals "b".
        let f = fsel("a!=b");
        assert!(f.matches(&json!({"a": "c"})));
        assert!(!f.matches(&json!({"a": "b"})));
        assert_eq!(f.to_string(), "a!=b");
        // Value may contain '!'.
        assert!(fsel("a=!b").matches(&json!({"a": "!b"})));
        // No trimming: spaces belong to the field and value.
        assert!(fsel("a= b").matches(&json!({"a": " b"})));
    }

    #[test]
    fn field_display_sorted_round_trip() {
        let f = fsel("status.phase!=Running,metadata.name=x");
        assert_eq!(f.to_string(), "metadata.name=x,status.phase!=Running");
        assert_eq!(fsel(&f.to_string()), f);
        assert_eq!(fsel("b=1,a=2"), fsel("a=2,b=1"));
    }

    #[test]
    fn unsupported_field_message() {
        let e = SelectorError::unsupported_field("spec.foo", &["metadata.name", "metadata.namespace"]);
        assert_eq!(
            e.to_string(),
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
    }
}
