//! Property tests: the parsers and validation helpers never panic on any input, a selector
//! that parses survives its canonical form (Display), up to the exceptions its Display docs
//! list, and the hand-written name checks agree with the regexes Kubernetes documents for
//! them (compiled with the `regex` crate, in the tests only).
//!
//! Case counts stay at proptest's default (256) or below, so `make test` stays fast.

use kube_selectors::validation::{
    DNS1123_LABEL_MAX_LENGTH, DNS1123_SUBDOMAIN_MAX_LENGTH, dns1123_subdomain_errors, is_dns1123_label,
    is_dns1123_subdomain, is_label_key, is_label_value,
};
use kube_selectors::{FieldSelector, LabelSelector};
use proptest::prelude::*;
use regex::Regex;

/// Strings shaped like label selectors: identifier-ish runs joined by the grammar's operators
/// and punctuation, so the parser gets past its first token and into its deeper states.
const LABEL_GRAMMAR: &str =
    r"[a-zA-Z0-9._/-]{0,20}([ \t]?(=|==|!=| in | notin |,|\(|\)|!|<|>|\\)[ \t]?[a-z0-9._/-]{0,20}){0,6}";

/// Strings shaped like field selectors: paths and values with the escapes and operators the
/// field grammar knows.
const FIELD_GRAMMAR: &str = r"[a-zA-Z0-9. ]{0,12}((=|==|!=|,|\\|\\,|\\=|\\\\|!)[a-zA-Z0-9. ]{0,12}){0,6}";

/// Any string, including arbitrary Unicode, or one from `grammar`.
fn text(grammar: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\PC{0,40}", grammar]
}

/// A valid label key: an optional DNS-1123 subdomain prefix and '/', then a name.
fn label_key() -> impl Strategy<Value = String> {
    (
        proptest::option::of("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,5}){0,2}"),
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?",
    )
        .prop_map(|(prefix, name)| match prefix {
            Some(p) => format!("{p}/{name}"),
            None => name,
        })
}

/// A valid label value (possibly empty).
fn label_value() -> impl Strategy<Value = String> {
    "([A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?)?"
}

/// A valid non-empty label value.
fn non_empty_label_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?"
}

/// One requirement of a label selector, written in any of the grammar's forms.
///
/// Gt/Lt values are non-negative: as upstream, the value must also be a label value, so `-1`
/// is refused. An `in`/`notin` set holds "" as a trailing `,` (`(a,)`, or `(,)` alone), never
/// as consecutive commas: upstream's parser refuses `(,,)` (and this crate with it), and
/// `in ()` is refused here (a documented difference from upstream).
fn requirement() -> impl Strategy<Value = String> {
    (
        label_key(),
        0..9u8,
        (label_value(), proptest::collection::vec(non_empty_label_value(), 0..4), any::<bool>()),
        any::<u32>(),
        " ?",
        " ?",
    )
        .prop_map(|(key, op, (value, set, with_empty), n, l, r)| {
            let set = if set.is_empty() {
                ",".to_string()
            } else if with_empty {
                format!("{},", set.join(","))
            } else {
                set.join(",")
            };
            match op {
                0 => key,
                1 => format!("!{key}"),
                2 => format!("{key}{l}={r}{value}"),
                3 => format!("{key}{l}=={r}{value}"),
                4 => format!("{key}{l}!={r}{value}"),
                5 => format!("{key} in{l}({set})"),
                6 => format!("{key} notin{l}({set})"),
                7 => format!("{key}{l}>{r}{n}"),
                _ => format!("{key}{l}<{r}{n}"),
            }
        })
}

/// A label selector of valid requirements, in no particular order.
fn valid_label_selector() -> impl Strategy<Value = String> {
    proptest::collection::vec(requirement(), 0..5).prop_map(|r| r.join(","))
}

/// A field selector of `path=value` / `path==value` / `path!=value` terms whose values use
/// the escapes.
fn valid_field_selector() -> impl Strategy<Value = String> {
    let path = prop_oneof![
        "[a-z]{1,6}(\\.[a-zA-Z]{1,6}){0,2}",
        Just("a".to_string()),
        Just("metadata.name".to_string()),
        Just("status.phase".to_string())
    ];
    let term = (path, prop_oneof![Just("="), Just("=="), Just("!=")], "([a-zA-Z0-9 .-]|\\\\,|\\\\=|\\\\\\\\){0,8}")
        .prop_map(|(path, op, value)| format!("{path}{op}{value}"));
    proptest::collection::vec(term, 0..5).prop_map(|t| t.join(","))
}

/// Asserts a parsed label selector's canonical form parses back to it. The one documented
/// exception (see `impl Display for LabelSelector`): an `in`/`notin` whose only value is ""
/// prints as `in ()`, which `parse` rejects.
fn assert_label_round_trip(input: &str, sel: &LabelSelector) -> Result<(), TestCaseError> {
    let printed = sel.to_string();
    match LabelSelector::parse(&printed) {
        Ok(again) => prop_assert_eq!(&again, sel, "{:?} printed as {:?}", input, printed),
        Err(e) => {
            prop_assert!(printed.contains("in ()"), "{:?} printed as {:?}, which does not parse: {}", input, printed, e)
        }
    }
    Ok(())
}

/// The terms of a printed field selector, split at unescaped commas and sorted.
fn printed_terms(printed: &str) -> Vec<String> {
    let mut terms = vec![String::new()];
    let mut escaped = false;
    for c in printed.chars() {
        match c {
            ',' if !escaped => terms.push(String::new()),
            _ => terms.last_mut().expect("never empty").push(c),
        }
        escaped = !escaped && c == '\\';
    }
    terms.sort();
    terms
}

/// Asserts a parsed field selector's canonical form parses back to it: to an equal selector
/// when the input did not write `==`, else to the same terms in maybe another order. Upstream
/// sorts terms by their raw text and prints `==` as `=`, so `a==z,a=b` prints `a=z,a=b`, which
/// parses as `a=b,a=z`: the same selector (an AND of terms), printed once more in the other
/// order. After one print the form is a fixed point.
fn assert_field_round_trip(input: &str, sel: &FieldSelector) -> Result<(), TestCaseError> {
    let printed = sel.to_string();
    let again = match FieldSelector::parse(&printed) {
        Ok(again) => again,
        Err(e) => {
            return Err(TestCaseError::fail(format!("{input:?} printed as {printed:?}, which does not parse: {e}")));
        }
    };
    if input.contains("==") {
        prop_assert_eq!(printed_terms(&again.to_string()), printed_terms(&printed), "{:?}", input);
        let printed_again = again.to_string();
        prop_assert_eq!(
            FieldSelector::parse(&printed_again).ok(),
            Some(again),
            "{:?} printed as {:?}",
            input,
            printed_again
        );
    } else {
        prop_assert_eq!(&again, sel, "{:?} printed as {:?}", input, printed);
    }
    Ok(())
}

/// Anchors one of upstream's patterns (Go's `regexp.MatchString("^" + fmt + "$")`).
fn anchored(fmt: &str) -> Regex {
    Regex::new(&format!("^(?:{fmt})$")).expect("upstream's regex compiles")
}

/// Upstream `dns1123LabelFmt` (`k8s.io/apimachinery/pkg/util/validation`).
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
/// Upstream `dns1123SubdomainFmt`.
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
/// Upstream `qualifiedNameFmt` (a label key's name part; also a non-empty label value).
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

/// Name-ish strings near the rules' edges: any string, the names' own alphabet (upper case,
/// '_', '/' and '.' included so each rule is also broken), and lengths around 63 and 253.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._/-]{0,20}",
        "[a-z0-9.-]{0,12}",
        "[a-z0-9]{1,3}[a-z0-9.-]{55,70}[a-z0-9]",
        "[a-z0-9]([a-z0-9.-]{240,260})[a-z0-9]",
        "[a-z0-9]{1,4}(\\.[a-z0-9]{1,4}){0,3}/[A-Za-z0-9._-]{0,70}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn label_parse_never_panics_and_round_trips(s in text(LABEL_GRAMMAR)) {
        if let Ok(sel) = LabelSelector::parse(&s) {
            assert_label_round_trip(&s, &sel)?;
        }
    }

    #[test]
    fn valid_label_selectors_parse_and_round_trip(s in valid_label_selector()) {
        let sel = LabelSelector::parse(&s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
        assert_label_round_trip(&s, &sel)?;
    }

    #[test]
    fn field_parse_never_panics_and_round_trips(s in text(FIELD_GRAMMAR)) {
        if let Ok(sel) = FieldSelector::parse(&s) {
            assert_field_round_trip(&s, &sel)?;
        }
    }

    #[test]
    fn valid_field_selectors_parse_and_round_trip(s in valid_field_selector()) {
        let sel = FieldSelector::parse(&s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
        assert_field_round_trip(&s, &sel)?;
    }

    #[test]
    fn dns1123_checks_agree_with_upstreams_regexes(s in name_like()) {
        let label = anchored(DNS1123_LABEL_FMT).is_match(&s) && s.len() <= DNS1123_LABEL_MAX_LENGTH;
        prop_assert_eq!(is_dns1123_label(&s), label, "is_dns1123_label({:?})", s);
        let subdomain = anchored(DNS1123_SUBDOMAIN_FMT).is_match(&s) && s.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH;
        prop_assert_eq!(is_dns1123_subdomain(&s), subdomain, "is_dns1123_subdomain({:?})", s);
        prop_assert_eq!(dns1123_subdomain_errors(&s).is_empty(), subdomain, "dns1123_subdomain_errors({:?})", s);
    }

    #[test]
    fn label_key_and_value_checks_agree_with_upstreams_regexes(s in name_like()) {
        // IsLabelKey (IsQualifiedName): `[prefix/]name`, the prefix a DNS-1123 subdomain of at
        // most 253 bytes, the name matching qualifiedNameFmt in at most 63 bytes.
        let key = match s.split_once('/') {
            Some((prefix, name)) => {
                prefix.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH
                    && anchored(DNS1123_SUBDOMAIN_FMT).is_match(prefix)
                    && anchored(QUALIFIED_NAME_FMT).is_match(name)
                    && name.len() <= DNS1123_LABEL_MAX_LENGTH
            }
            None => anchored(QUALIFIED_NAME_FMT).is_match(&s) && s.len() <= DNS1123_LABEL_MAX_LENGTH,
        };
        prop_assert_eq!(is_label_key(&s), key, "is_label_key({:?})", s);
        // IsLabelValue: empty, or qualifiedNameFmt in at most 63 bytes.
        let value = s.is_empty() || (anchored(QUALIFIED_NAME_FMT).is_match(&s) && s.len() <= DNS1123_LABEL_MAX_LENGTH);
        prop_assert_eq!(is_label_value(&s), value, "is_label_value({:?})", s);
    }

    /// The allocation-free matcher the server uses agrees with the JSON one, on any labels.
    #[test]
    fn matches_with_agrees_with_matches(
        s in valid_label_selector(),
        labels in proptest::collection::btree_map(label_key(), label_value(), 0..4),
    ) {
        let sel = LabelSelector::parse(&s).unwrap();
        let json: serde_json::Map<String, serde_json::Value> =
            labels.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        prop_assert_eq!(sel.matches_with(|k| labels.get(k).map(String::as_str)), sel.matches(Some(&json)));
        prop_assert_eq!(sel.matches_labels(Some(&labels)), sel.matches(Some(&json)));
    }
}
