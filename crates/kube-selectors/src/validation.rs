//! Name and label syntax as the Kubernetes API server checks it, and the
//! upstream error-text helpers (`field.Invalid`, `utilerrors.NewAggregate`)
//! the label selector parsers build their messages with.
//!
//! This module is the workspace's one owner of the DNS-1123 name rules
//! (kubesim and scalekeeper-core call it). Sources:
//!
//! * DNS-1123 labels and subdomains: RFC 1123 host names as the Kubernetes API
//!   conventions use them for object names
//!   (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/>), checked by
//!   `IsDNS1123Label` / `IsDNS1123Subdomain` in
//!   <https://github.com/kubernetes/apimachinery/blob/master/pkg/util/validation/validation.go>.
//! * label keys and values: `IsLabelKey` / `IsLabelValue` in
//!   <https://github.com/kubernetes/apimachinery/blob/master/pkg/api/validate/content/kube.go>.
//!
//! Error texts are upstream's, byte for byte, since callers compare them with
//! the real kube-apiserver's.

use crate::go_json_string;

/// The longest DNS-1123 label, in bytes: 63 (RFC 1123; upstream
/// `validation.DNS1123LabelMaxLength`). Also the limit of a label key's name
/// part and of a label value.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// The longest DNS-1123 subdomain, in bytes: 253 (RFC 1123; upstream
/// `validation.DNS1123SubdomainMaxLength`).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
/// What a label value must be, in upstream's words: `IsLabelValue`'s message without its
/// examples and regex (`a valid label must be an empty string or consist of alphanumeric
/// characters, '-', '_' or '.', and must start and end with an alphanumeric character`).
pub const LABEL_VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Upstream `validation.RegexError`: `msg (e.g. 'ex1',  or 'ex2', regex used
/// for validation is 're')` (the double space is upstream's).
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

/// Upstream `validation.MaxLenError`.
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

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` (no length limit).
fn is_dns1123_label_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => alnum(f) && alnum(l) && b.iter().all(|c| alnum(c) || *c == b'-'),
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$` (no
/// length limit, on the whole or per dot-separated part).
fn is_dns1123_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(is_dns1123_label_syntax)
}

/// Whether `value` is a DNS-1123 label: 1 to 63 bytes of lower-case ASCII
/// letters, digits and '-', starting and ending with a letter or digit (e.g.
/// `my-name`, `123-abc`). Kubernetes requires it of namespace names and
/// container names, among others.
///
/// Source: RFC 1123 as the Kubernetes API conventions use it
/// (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names>);
/// upstream `IsDNS1123Label` in `k8s.io/apimachinery/pkg/util/validation`.
pub fn is_dns1123_label(value: &str) -> bool {
    value.len() <= DNS1123_LABEL_MAX_LENGTH && is_dns1123_label_syntax(value)
}

/// Whether `value` is a DNS-1123 subdomain: at most 253 bytes of
/// dot-separated parts, each of lower-case ASCII letters, digits and '-' that
/// starts and ends with a letter or digit (e.g. `example.com`). As upstream, a
/// part may be longer than 63 bytes: only the whole is limited. Kubernetes
/// requires it of most object names (Deployments, ConfigMaps, ...) and of a
/// label key's prefix.
///
/// Source: RFC 1123 as the Kubernetes API conventions use it
/// (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names>);
/// upstream `IsDNS1123Subdomain` in `k8s.io/apimachinery/pkg/util/validation`.
pub fn is_dns1123_subdomain(value: &str) -> bool {
    value.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH && is_dns1123_subdomain_syntax(value)
}

/// The API server's message for a value that does not match the DNS-1123
/// label pattern, exactly as upstream `IsDNS1123Label` words it:
/// `a lowercase RFC 1123 label must consist of ... (e.g. 'my-name',  or
/// '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`.
/// It says nothing of the 63-byte limit.
pub fn dns1123_label_regex_error() -> String {
    regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, &["my-name", "123-abc"])
}

/// The API server's message for a value that does not match the DNS-1123
/// subdomain pattern, exactly as upstream `IsDNS1123Subdomain` words it:
/// `a lowercase RFC 1123 subdomain must consist of ... (e.g. 'example.com',
/// regex used for validation is '...')`. It says nothing of the 253-byte
/// limit.
pub fn dns1123_subdomain_regex_error() -> String {
    regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"])
}

/// Every reason `value` is not a DNS-1123 subdomain (see
/// [`is_dns1123_subdomain`]), worded as upstream `IsDNS1123Subdomain`: `must
/// be no more than 253 bytes` when too long, then
/// [`dns1123_subdomain_regex_error`] when the pattern fails. Empty when valid.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !is_dns1123_subdomain_syntax(value) {
        errs.push(dns1123_subdomain_regex_error());
    }
    errs
}

/// Whether `key` is a valid label key: an optional DNS-1123 subdomain prefix and `/`, then a
/// name of 1 to 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric
/// (e.g. `app`, `example.com/My_name`). Keywords of the selector grammar (`in`, `notin`) are
/// valid keys.
///
/// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set>;
/// upstream `IsLabelKey` in `k8s.io/apimachinery/pkg/api/validate/content`.
pub fn is_label_key(key: &str) -> bool {
    label_key_errors(key).is_empty()
}

/// Whether `value` is a valid label value: empty, or 1 to 63 alphanumerics, '-', '_' or '.'
/// that starts and ends with an alphanumeric (see [`LABEL_VALUE_RULE`]).
///
/// Source: <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set>;
/// upstream `IsLabelValue` in `k8s.io/apimachinery/pkg/api/validate/content`.
pub fn is_label_value(value: &str) -> bool {
    label_value_errors(value).is_empty()
}

/// Upstream `content.IsLabelKey` (a.k.a. `validation.IsQualifiedName`).
pub(crate) fn label_key_errors(value: &str) -> Vec<String> {
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
    } else if name.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(format!("name part {}", max_len_error(DNS1123_LABEL_MAX_LENGTH)));
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
pub(crate) fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !value.is_empty() && !is_label_name_syntax(value) {
        errs.push(regex_error(LABEL_VALUE_RULE, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// `field.Invalid(path, value, detail).Error()`; `bad` is already rendered.
pub(crate) fn field_invalid(path: &str, bad: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {bad}: {detail}")
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several
/// de-duplicated, joined with ", " and wrapped in brackets.
pub(crate) fn aggregate(errs: Vec<String>) -> Option<String> {
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

/// `json.Marshal` of a Go `[]string`, as `field.Invalid` prints a list value: `null` when
/// empty, else `["a","b"]` with Go's string encoding ([`go_json_string`]).
pub(crate) fn json_string_list(vals: &[String]) -> String {
    if vals.is_empty() {
        // Upstream hands the validator a nil slice, which JSON-marshals as null.
        return "null".to_string();
    }
    let quoted: Vec<String> = vals.iter().map(|v| go_json_string(v)).collect();
    format!("[{}]", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_name_syntax() {
        for ok in ["a", "A", "0", "a-b", "a_b", "a.b", "a--_..b", "9z"] {
            assert!(is_label_name_syntax(ok), "{ok}");
        }
        for bad in ["", "-", "a-", "-a", "a b", "a/b", "ä"] {
            assert!(!is_label_name_syntax(bad), "{bad}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for ok in ["app", "in", "notin", "a.b_c-d", "example.com/My_name", &"k".repeat(63)] {
            assert!(is_label_key(ok), "{ok}");
        }
        for bad in ["", "a b", "a=b", "/a", "Example.com/a", "a/b/c", "-a", &"k".repeat(64)] {
            assert!(!is_label_key(bad), "{bad}");
        }
        for ok in ["", "web", "in", "My_value.1", &"v".repeat(63)] {
            assert!(is_label_value(ok), "{ok}");
        }
        for bad in ["a b", "a,b", "-a", "a/b", &"v".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }

    #[test]
    fn dns1123_labels() {
        for ok in ["a", "0", "a-1", "my-name", "123-abc", "a--b", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "ä", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn dns1123_subdomains() {
        for ok in ["a", "example.com", "a-b.c0", "a.b-c", &"a".repeat(253)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        // As upstream: only the whole is limited, not each dot-separated part.
        assert!(is_dns1123_subdomain(&format!("{}.b", "a".repeat(64))));
        for bad in ["", "Example.com", "a..b", ".a", "a.", "-a.b", "a_b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn dns1123_messages_are_upstreams() {
        assert_eq!(
            dns1123_label_regex_error(),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
        assert_eq!(
            dns1123_subdomain_regex_error(),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert!(dns1123_subdomain_errors("example.com").is_empty());
        assert_eq!(dns1123_subdomain_errors(&"a".repeat(254)), ["must be no more than 253 bytes"]);
        assert_eq!(dns1123_subdomain_errors("A"), [dns1123_subdomain_regex_error()]);
    }
}
