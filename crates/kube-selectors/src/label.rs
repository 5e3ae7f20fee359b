//! Label selectors (`pkg/labels/selector.go`): the requirement model,
//! matching, canonical form, `metav1.LabelSelector` conversion, and the lexer
//! and parser of the `?labelSelector=` string form.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::SelectorError;
use crate::go_quote;
use crate::json_scalar_string;
use crate::validation::{aggregate, field_invalid, json_string_list, label_key_errors, label_value_errors};

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
                // Upstream accepts "()" as {""}; this crate requires at least
                // one value (see the crate docs).
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
}
