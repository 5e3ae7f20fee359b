//! Property tests of request validation: no rule panics on any input, and every rejection is
//! a [`Violation`] with a non-empty field and description.
//!
//! That is what makes every rejection an INVALID_ARGUMENT: the gRPC layer turns a
//! `Vec<Violation>` into `Error::Invalid`, whose code is `Code::InvalidArgument` with one
//! `google.rpc.BadRequest` field violation per [`Violation`] (`Error::code` and
//! `impl From<Error> for Status` in `crates/scalekeeper/src/grpc/status.rs`). A panic instead
//! would abort the call with no answer the client can act on.
//!
//! Case counts stay at proptest's default (256) or below, so `make test` stays fast.

use kube_selectors::LabelSelector;
use kube_selectors::validation::{is_dns1123_label, is_dns1123_subdomain};
use proptest::prelude::*;
use scalekeeper_core::{
    MAX_LABEL_SELECTOR_BYTES, MAX_PAGE_TOKEN_BYTES, Violation, decode_page_token, encode_page_token, page_size,
    parse_label_selector, validate_namespace_filter, validate_replicas, validate_target,
};

/// Asserts a rejection can be shown to a caller: it names a field (one of `fields`) and says
/// what is wrong.
fn well_formed(v: &Violation, fields: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(!v.field.is_empty(), "{:?}", v);
    prop_assert!(fields.contains(&v.field.as_str()), "{:?} names none of {:?}", v, fields);
    prop_assert!(!v.description.trim().is_empty(), "{:?}", v);
    Ok(())
}

/// A DNS-1123 label (a valid namespace), 1 to 63 bytes.
fn namespace() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]", "[a-z0-9][-a-z0-9]{0,61}[a-z0-9]"]
}

/// A DNS-1123 subdomain (a valid Deployment name), 1 to 253 bytes.
fn deployment_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?){0,10}",
        "[a-z0-9][-a-z0-9.]{0,251}[a-z0-9]",
        "[a-z0-9]{240,253}",
    ]
    .prop_filter("a DNS-1123 subdomain", |s| is_dns1123_subdomain(s))
}

/// Any string, or a name-ish one near the rules' edges.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zA-Z0-9._/-]{0,20}", "[a-z0-9.-]{60,70}", "[a-z0-9.-]{250,256}"]
}

/// A valid label selector of exactly `len` bytes (at least 9): `a in (b,b,...,c)`, its last
/// value one or two `c`s to land on the length.
fn selector_of_len(len: usize) -> String {
    let head = "a in (";
    let commas = (len - head.len() - 2) / 2;
    let mut s = format!("{head}{}", "b,".repeat(commas));
    s.push_str(&"c".repeat(len - s.len() - 1));
    s.push(')');
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validate_target_rejects_only_with_well_formed_violations(ns in name_like(), name in name_like()) {
        let v = validate_target(&ns, &name);
        for violation in &v {
            well_formed(violation, &["namespace", "name"])?;
        }
        prop_assert_eq!(v.is_empty(), is_dns1123_label(&ns) && is_dns1123_subdomain(&name));
    }

    #[test]
    fn valid_targets_are_accepted(ns in namespace(), name in deployment_name()) {
        prop_assert_eq!(validate_target(&ns, &name), vec![]);
    }

    #[test]
    fn validate_namespace_filter_rejects_only_with_well_formed_violations(ns in name_like()) {
        let v = validate_namespace_filter(&ns);
        for violation in &v {
            well_formed(violation, &["namespace"])?;
        }
        prop_assert_eq!(v.is_empty(), ns.is_empty() || is_dns1123_label(&ns));
    }

    #[test]
    fn validate_replicas_accepts_exactly_zero_to_max(replicas in any::<i32>(), max in prop_oneof![any::<i32>(), 0..2000i32]) {
        let v = validate_replicas(replicas, max);
        for violation in &v {
            well_formed(violation, &["replicas"])?;
        }
        prop_assert_eq!(v.is_empty(), (0..=max).contains(&replicas));
    }

    #[test]
    fn page_size_is_in_range_or_rejected(requested in prop_oneof![any::<i32>(), -5..505i32]) {
        match page_size(requested) {
            Ok(n) => {
                prop_assert!((1..=500).contains(&n));
                prop_assert_eq!(n, if requested == 0 { 100 } else { requested as usize });
            }
            Err(v) => {
                well_formed(&v, &["page_size"])?;
                prop_assert!(!(0..=500).contains(&requested));
            }
        }
    }

    #[test]
    fn parse_label_selector_rejects_only_with_well_formed_violations(
        s in prop_oneof![any::<String>(), "\\PC{0,40}", "[a-z0-9 =!,()]{0,60}"],
    ) {
        match parse_label_selector(&s) {
            Ok(sel) => prop_assert_eq!(Ok(sel), LabelSelector::parse(&s).map_err(|e| e.to_string())),
            Err(v) => well_formed(&v, &["label_selector"])?,
        }
    }

    #[test]
    fn label_selectors_over_the_limit_are_rejected_for_length(
        len in (MAX_LABEL_SELECTOR_BYTES - 64)..(MAX_LABEL_SELECTOR_BYTES + 64),
        multibyte in "é{2030,2070}",
    ) {
        // A valid selector of `len` bytes: only the length can refuse it.
        let s = selector_of_len(len);
        prop_assert_eq!(s.len(), len);
        match parse_label_selector(&s) {
            Ok(_) => prop_assert!(len <= MAX_LABEL_SELECTOR_BYTES, "{} bytes accepted", len),
            Err(v) => {
                well_formed(&v, &["label_selector"])?;
                prop_assert!(len > MAX_LABEL_SELECTOR_BYTES, "{} bytes refused: {:?}", len, v);
                prop_assert!(v.description.contains(&MAX_LABEL_SELECTOR_BYTES.to_string()), "{:?}", v);
                prop_assert!(v.description.contains(&len.to_string()), "{:?}", v);
            }
        }
        // The limit counts bytes, not characters: 'é' is two. At or under the limit the
        // parser's own message comes back, never the length's.
        let v = parse_label_selector(&multibyte).expect_err("'é' is not a label key");
        well_formed(&v, &["label_selector"])?;
        let for_length = v.description.contains(&format!("limit of {MAX_LABEL_SELECTOR_BYTES} bytes"));
        prop_assert_eq!(for_length, multibyte.len() > MAX_LABEL_SELECTOR_BYTES, "{} bytes: {:?}", multibyte.len(), v);
    }

    #[test]
    fn any_string_over_the_limit_is_rejected(pad in "\\PC{0,20}", extra in 1..200usize) {
        let s = format!("{pad}{}", "a".repeat(MAX_LABEL_SELECTOR_BYTES + extra));
        let v = parse_label_selector(&s).expect_err("over the limit");
        well_formed(&v, &["label_selector"])?;
        prop_assert!(v.description.contains(&MAX_LABEL_SELECTOR_BYTES.to_string()));
    }

    #[test]
    fn page_tokens_round_trip_for_every_valid_deployment(ns in namespace(), name in deployment_name()) {
        let token = encode_page_token(&ns, &name);
        prop_assert!(token.len() <= MAX_PAGE_TOKEN_BYTES, "{} bytes", token.len());
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{}", token);
        prop_assert_eq!(decode_page_token(&token), Ok((ns, name)));
    }

    #[test]
    fn decode_page_token_rejects_only_with_well_formed_violations(
        token in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,64}", "[A-Za-z0-9_-]{1000,1100}"],
    ) {
        match decode_page_token(&token) {
            Ok((ns, name)) => {
                prop_assert!(is_dns1123_label(&ns) && is_dns1123_subdomain(&name));
                prop_assert_eq!(encode_page_token(&ns, &name), token);
            }
            Err(v) => well_formed(&v, &["page_token"])?,
        }
    }

    #[test]
    fn tokens_of_invalid_names_are_rejected(ns in name_like(), name in name_like()) {
        // A token anyone could forge from any pair: accepted only when the pair could be a
        // Deployment (a '/' in the namespace moves the split, so such pairs never round-trip).
        let result = decode_page_token(&encode_page_token(&ns, &name));
        let valid = is_dns1123_label(&ns) && is_dns1123_subdomain(&name);
        match result {
            Ok(pair) => prop_assert_eq!(pair, (ns, name)),
            Err(v) => {
                well_formed(&v, &["page_token"])?;
                prop_assert!(!valid);
            }
        }
    }
}
