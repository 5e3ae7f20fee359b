//! Field selectors (`pkg/fields/selector.go`): parsing with escapes,
//! matching on dotted paths, and canonical form.

use std::fmt;

use serde_json::Value;

use crate::error::SelectorError;
use crate::json_scalar_string;

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
    /// escaped in the value. `parse(&sel.to_string())` gives back the same terms, and `sel`
    /// itself unless the input wrote `==`: upstream sorts terms by their raw text and prints
    /// `==` as `=`, so `a==z,a=b` prints `a=z,a=b`, which parses in the order `a=b,a=z` (the
    /// same selector, an AND of terms; derived `==` on the type sees the order). One print
    /// later the form is a fixed point (tests/properties.rs checks both).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fsel(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("parse {s:?}: {e}"))
    }

    fn ferr(s: &str) -> SelectorError {
        match FieldSelector::parse(s) {
            Ok(v) => panic!("{s:?} parsed as {v:?}"),
            Err(e) => e,
        }
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
}
