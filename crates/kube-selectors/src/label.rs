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
        self.matches_value(got.as_deref())
    }

    /// Upstream `Requirement.Matches`, given the value of this requirement's key (`None`: the
    /// object has no such label).
    fn matches_value(&self, got: Option<&str>) -> bool {
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => got.is_some_and(|v| self.has_value(v)),
            Operator::NotIn | Operator::NotEquals => got.is_none_or(|v| !self.has_value(v)),
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
        self.matches_with(|key| labels.and_then(|l| l.get(key)).map(String::as_str))
    }

    /// [`LabelSelector::matches`] for labels held in any form: `label` answers the value of a
    /// key (`None`: no such label). Allocates nothing.
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches_value(label(&r.key)))
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
mod tests;
