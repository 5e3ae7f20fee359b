//! Unit tests of [`super`]: label selector parsing, matching, canonical form and error texts.

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
        format!("unable to parse requirement: values[0][a]: Invalid value: \"{v64}\": must be no more than 63 bytes")
    );
    let e = err("a=-b");
    assert!(
        e.starts_with(
            "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string"
        ),
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
    // Lists print as Go's json.Marshal does, HTML-escaping included.
    let html = e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["<x&y>"]}]}));
    assert!(
        html.starts_with("[values: Invalid value: [\"\\u003cx\\u0026y\\u003e\"]: values set must be empty"),
        "{html}"
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
