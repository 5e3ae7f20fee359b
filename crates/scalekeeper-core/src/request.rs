//! Parsing of the free-form request fields: label selectors, page tokens and expected
//! versions.
//!
//! These are the fields a caller controls byte for byte, so each is bounded in length before
//! any parsing work is done (a selector of megabytes would otherwise cost a full parse per
//! call). Every rejection is a [`Violation`] naming the request field, which the gRPC layer
//! returns as INVALID_ARGUMENT with a `google.rpc.BadRequest` field violation.

use base64::Engine as _;
use kube_selectors::LabelSelector;
use kube_selectors::validation::{is_dns1123_label, is_dns1123_subdomain};

use crate::Violation;

/// The longest label selector a request may carry, in bytes of UTF-8: 4096 (4 KiB).
///
/// Kubernetes itself sets no limit on `?labelSelector=` beyond the API server's URL length;
/// this is scalekeeper's own bound, chosen so a selector of many real requirements fits while
/// a hostile one cannot make every call parse megabytes. Checked by [`parse_label_selector`].
pub const MAX_LABEL_SELECTOR_BYTES: usize = 4096;

/// The most bytes of a label selector's parse error a violation quotes (the parser quotes the
/// selector in it).
const MAX_SELECTOR_ERROR_BYTES: usize = 512;

/// The longest page token a request may carry, in bytes: 1024 (1 KiB).
///
/// A token this server issues is at most 423 bytes: the base64 (4 characters per 3 bytes,
/// unpadded) of a namespace (≤ 63 bytes), `/` and a Deployment name (≤ 253 bytes). Checked
/// by [`decode_page_token`] before decoding.
pub const MAX_PAGE_TOKEN_BYTES: usize = 1024;

/// The base64 alphabet of page tokens: URL-safe (`-` and `_`), no `=` padding (RFC 4648 §5),
/// so a token needs no escaping in a URL or a shell.
const TOKEN_ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Parses a request's `label_selector` field: at most [`MAX_LABEL_SELECTOR_BYTES`] bytes, then
/// the Kubernetes `?labelSelector=` grammar (e.g. `app=web,tier in (a,b),!canary`; see
/// [`LabelSelector::parse`]). The empty string is the empty selector, which matches every
/// Deployment.
///
/// Errors: a [`Violation`] on field `label_selector` when the selector is longer than the
/// limit (saying the limit and the length, in bytes; checked before any parsing), or when it
/// does not parse (the parser's message, worded as the Kubernetes API server's).
///
/// Sources: the length bound is scalekeeper's (see [`MAX_LABEL_SELECTOR_BYTES`]); the grammar
/// is upstream's `labels.Parse` (`k8s.io/apimachinery/pkg/labels/selector.go`).
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, Violation> {
    let bad = |description: String| Violation { field: "label_selector".into(), description };
    if s.len() > MAX_LABEL_SELECTOR_BYTES {
        return Err(bad(format!(
            "{} bytes is over the limit of {MAX_LABEL_SELECTOR_BYTES} bytes for a label selector",
            s.len()
        )));
    }
    // The parser's message quotes the selector: bounded, as every echo of caller input.
    LabelSelector::parse(s).map_err(|e| bad(crate::text::bounded_to(&e.to_string(), MAX_SELECTOR_ERROR_BYTES)))
}

/// The page token for "the page after `namespace`/`name`": the URL-safe, unpadded base64
/// (RFC 4648 §5) of `namespace/name`. Opaque to callers; only [`decode_page_token`] reads it.
/// Never fails.
///
/// The format is part of the API's compatibility: a token handed out by one version of the
/// server must still be accepted by the next (a client may page across a rolling update).
pub fn encode_page_token(namespace: &str, name: &str) -> String {
    TOKEN_ENGINE.encode(format!("{namespace}/{name}"))
}

/// Reads a page token made by [`encode_page_token`]: the `(namespace, name)` of the last
/// Deployment of the previous page. Listing resumes after that key.
///
/// Errors: a [`Violation`] on field `page_token` (`not a token this server issued`) when the
/// token is longer than [`MAX_PAGE_TOKEN_BYTES`] (checked before decoding), is not URL-safe
/// unpadded base64, is not UTF-8 inside, has no `/`, or names something that cannot be a
/// Deployment: a namespace that is not a DNS-1123 label or a name that is not a DNS-1123
/// subdomain (every token the server issues names a real Deployment, so it always passes).
///
/// Source: scalekeeper's own format (`scalekeeper.v1.ListDeploymentsRequest.page_token`).
pub fn decode_page_token(token: &str) -> Result<(String, String), Violation> {
    let bad = || Violation { field: "page_token".into(), description: "not a token this server issued".into() };
    if token.len() > MAX_PAGE_TOKEN_BYTES {
        return Err(bad());
    }
    let bytes = TOKEN_ENGINE.decode(token).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (namespace, name) = s.split_once('/').ok_or_else(bad)?;
    if !is_dns1123_label(namespace) || !is_dns1123_subdomain(name) {
        return Err(bad());
    }
    Ok((namespace.to_string(), name.to_string()))
}

/// Parses a write request's `expected_version`: the ReplicaPolicy version the caller last
/// saw (its `metadata.generation`, which the API returns as `Deployment.version`), a positive
/// integer in decimal. The empty string (proto3's "not given") expects none: `Ok(None)`.
///
/// Errors: a [`Violation`] on field `expected_version` (`"…" is not a version this API
/// returns (a positive integer)`, the text quoted bounded) for anything else: 0, a negative
/// number, more than an `i64` holds, or not a number.
///
/// Source: scalekeeper's own API (`scalekeeper.v1.SetReplicasRequest.expected_version`); the
/// write plan ([`crate::write::plan`]) applies it, and compares the version with the policy's.
pub fn parse_expected_version(s: &str) -> Result<Option<i64>, Violation> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<i64>().ok().filter(|g| *g > 0).map(Some).ok_or_else(|| Violation {
        field: "expected_version".into(),
        description: format!("\"{}\" is not a version this API returns (a positive integer)", crate::text::bounded(s)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_versions_are_positive_integers_and_empty_is_none() {
        assert_eq!(parse_expected_version(""), Ok(None));
        assert_eq!(parse_expected_version("7"), Ok(Some(7)));
        assert_eq!(parse_expected_version("9223372036854775807"), Ok(Some(i64::MAX)));
        for bad in ["0", "-3", "x", "1.5", " 7", "9223372036854775808"] {
            let v = parse_expected_version(bad).expect_err(bad);
            assert_eq!(v.field, "expected_version");
            assert_eq!(v.description, format!("\"{bad}\" is not a version this API returns (a positive integer)"));
        }
        let long = parse_expected_version(&"9".repeat(300)).expect_err("long");
        assert!(long.description.contains("… (300 bytes)"), "bounded: {}", long.description);
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let t = encode_page_token("shop", "web");
        assert_eq!(decode_page_token(&t), Ok(("shop".into(), "web".into())));
        // The format is fixed: tokens issued before this module existed still decode.
        assert_eq!(t, "c2hvcC93ZWI");
        for bad in ["!!", "c2hvcA", "c2hvcC93ZWI=", &TOKEN_ENGINE.encode("Shop/web"), &TOKEN_ENGINE.encode("/")] {
            let v = decode_page_token(bad).expect_err(bad);
            assert_eq!(v.field, "page_token");
        }
        let long = encode_page_token(&"a".repeat(63), &"b".repeat(253));
        assert!(long.len() <= MAX_PAGE_TOKEN_BYTES);
        assert!(decode_page_token(&long).is_ok());
        assert!(decode_page_token(&"A".repeat(MAX_PAGE_TOKEN_BYTES + 4)).is_err());
    }

    #[test]
    fn label_selectors_are_bounded_then_parsed() {
        assert!(parse_label_selector("").is_ok_and(|s| s.is_empty()));
        assert!(parse_label_selector("app=web,tier in (a,b)").is_ok());
        let v = parse_label_selector("a in (").expect_err("bad grammar");
        assert_eq!(v.field, "label_selector");
        // `a in (b,b,...,b,c)`: valid, and exactly at the limit.
        let at_limit = format!("a in ({}c)", "b,".repeat((MAX_LABEL_SELECTOR_BYTES - 8) / 2));
        assert_eq!(at_limit.len(), MAX_LABEL_SELECTOR_BYTES);
        assert!(parse_label_selector(&at_limit).is_ok(), "{at_limit}");
        let over = "a".repeat(5000);
        let v = parse_label_selector(&over).expect_err("too long");
        assert_eq!(v.field, "label_selector");
        assert!(v.description.contains("4096") && v.description.contains("5000"), "{}", v.description);
    }
}
