//! `Warning` response headers, as kube-apiserver writes the warnings of admission webhooks
//! (and kubectl prints them as `Warning: <text>` on stderr).
//!
//! Sources: `staging/src/k8s.io/apiserver/pkg/endpoints/filters/warning.go` (the recorder:
//! empty texts dropped, duplicates dropped, at most 4096 runes in all, beyond which every
//! warning is cut to 256 runes) and `staging/src/k8s.io/apimachinery/pkg/util/net/http.go`
//! (`NewWarningHeader`: `299 - "<text>"`, `"` and `\` escaped with `\`, text with control
//! characters or invalid UTF-8 dropped).

use std::sync::{Arc, Mutex};

/// The most runes of warning text one response carries before truncation starts.
const TRUNCATE_AT_TOTAL_RUNES: usize = 4 * 1024;
/// The runes each warning keeps once truncating.
const TRUNCATE_ITEM_RUNES: usize = 256;

/// A `Warning` header value for `text` with code 299 and agent `-`, or `None` when the
/// text may not be sent (control characters).
pub fn header_value(text: &str) -> Option<String> {
    if text.chars().any(char::is_control) {
        return None;
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Some(format!("299 - {quoted}"))
}

/// The warnings a request collects, shared by its concurrent webhook calls.
#[derive(Debug, Clone, Default)]
pub struct Warnings(Arc<Mutex<Recorder>>);

#[derive(Debug, Default)]
struct Recorder {
    /// Every text added, in order, without duplicates.
    ordered: Vec<String>,
}

impl Warnings {
    /// Adds a warning; an empty or already added text is ignored.
    pub fn add(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !r.ordered.iter().any(|t| t == text) {
            r.ordered.push(text.to_string());
        }
    }

    /// The `Warning` header values to send, in order: as the recorder writes them, cut to
    /// 256 runes each once all of them exceed 4096 runes.
    pub fn header_values(&self) -> Vec<String> {
        let r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = r.ordered.iter().map(|t| t.chars().count()).sum();
        r.ordered
            .iter()
            .map(|t| {
                if total > TRUNCATE_AT_TOTAL_RUNES && t.chars().count() > TRUNCATE_ITEM_RUNES {
                    t.chars().take(TRUNCATE_ITEM_RUNES).collect()
                } else {
                    t.clone()
                }
            })
            .filter_map(|t| header_value(&t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_escape_quotes_and_backslashes() {
        assert_eq!(header_value("replicas are managed").as_deref(), Some(r#"299 - "replicas are managed""#));
        assert_eq!(header_value(r#"a "b" \c"#).as_deref(), Some(r#"299 - "a \"b\" \\c""#));
        assert_eq!(header_value("two\nlines"), None);
        assert_eq!(header_value("ünïcode").as_deref(), Some("299 - \"ünïcode\""));
    }

    #[test]
    fn duplicates_and_empty_texts_are_dropped() {
        let w = Warnings::default();
        w.add("a");
        w.add("");
        w.add("b");
        w.add("a");
        assert_eq!(w.header_values(), [r#"299 - "a""#, r#"299 - "b""#]);
    }

    #[test]
    fn long_warnings_are_truncated_once_over_the_total() {
        let w = Warnings::default();
        let long = "x".repeat(3000);
        w.add(&long);
        w.add(&"y".repeat(2000));
        let values = w.header_values();
        assert_eq!(values[0], format!("299 - \"{}\"", "x".repeat(256)));
        assert_eq!(values[1], format!("299 - \"{}\"", "y".repeat(256)));
    }
}
