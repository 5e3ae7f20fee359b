//! Compiling and matching `pattern` the way kube-openapi does: Go `regexp`
//! (RE2 syntax), unanchored `MatchString`. The `regex` crate implements RE2;
//! the few places where its defaults differ from Go are translated first:
//!
//! * `\d \w \s \b` (and their negations) are ASCII-only in Go, Unicode in
//!   `regex`; they are rewritten to explicit ASCII classes (`\s` is Go's
//!   `[\t\n\f\r ]`, without `\v`);
//! * inside a bracket class Go takes `[` (not starting `[:name:]`), `&` and
//!   `~` literally, where `regex` would read a nested class or a set
//!   operation; they are escaped;
//! * a `{` that does not start a Go repetition (`{n}`, `{n,}`, `{n,m}`) is a
//!   literal in Go; it is escaped.
//!
//! Compiled patterns are cached, so a schema's pattern is compiled once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Entries kept before the cache is emptied (patterns come from CRDs, so
/// there are few; this only bounds memory against churn).
const CACHE_MAX: usize = 1024;

type Compiled = Result<Arc<regex::Regex>, String>;

static CACHE: LazyLock<Mutex<HashMap<String, Compiled>>> = LazyLock::new(Mutex::default);

/// The compiled `pattern`, or why it is not a valid regular expression.
pub(super) fn compile(pattern: &str) -> Compiled {
    let mut cache = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(c) = cache.get(pattern) {
        return c.clone();
    }
    let compiled = translate(pattern).and_then(|t| regex::Regex::new(&t).map_err(|e| one_line(&e))).map(Arc::new);
    if cache.len() >= CACHE_MAX {
        cache.clear();
    }
    cache.insert(pattern.to_string(), compiled.clone());
    compiled
}

/// `regex::Error`'s message without the multi-line source excerpt.
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(|| text.lines().last().unwrap_or_default().trim().to_string(), str::to_string)
}

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\f\r\x20";

/// `\d \D \w \W \s \S` as the (positive) set and whether it is negated.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some((DIGIT, false)),
        'D' => Some((DIGIT, true)),
        'w' => Some((WORD, false)),
        'W' => Some((WORD, true)),
        's' => Some((SPACE, false)),
        'S' => Some((SPACE, true)),
        _ => None,
    }
}

/// Go's limit on `{n,m}` counts.
const MAX_REPEAT: u32 = 1000;

/// The length of the Go repetition `{n}`, `{n,}` or `{n,m}` at
/// `chars[i..]`, `None` if there is none (the `{` is then a literal);
/// an error for counts Go rejects.
fn repeat_len(chars: &[char], i: usize) -> Result<Option<usize>, String> {
    let mut j = i + 1;
    let number = |j: &mut usize| {
        let start = *j;
        while chars.get(*j).is_some_and(char::is_ascii_digit) {
            *j += 1;
        }
        chars.get(start..*j).map(|d| d.iter().collect::<String>()).filter(|d| !d.is_empty())
    };
    let Some(min) = number(&mut j) else { return Ok(None) };
    let mut max = Some(min.clone());
    if chars.get(j) == Some(&',') {
        j += 1;
        max = number(&mut j);
    }
    if chars.get(j) != Some(&'}') {
        return Ok(None);
    }
    let count = |d: &str| d.parse::<u32>().ok().filter(|&n| n <= MAX_REPEAT);
    let min_n = count(&min);
    let max_ok = max.as_deref().is_none_or(|m| count(m).is_some_and(|m| min_n.is_some_and(|n| n <= m)));
    if min_n.is_none() || !max_ok {
        let text: String = chars.get(i..=j).unwrap_or_default().iter().collect();
        return Err(format!("invalid repeat count: `{text}`"));
    }
    Ok(Some(j + 1 - i))
}

/// The token before the current one, for nested-repetition checks.
#[derive(Clone, Copy)]
enum Repeat {
    /// Not a repetition operator.
    None,
    /// `*`, `+`, `?` or `{n,m}`.
    Op,
    /// A repetition operator followed by its non-greedy `?`.
    Lazy,
}

/// Rewrites a Go pattern into the `regex` crate's syntax with the same
/// meaning (see the module documentation).
fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    // What the previous token was: Go rejects a repetition of a
    // repetition (`a**`, `a+{2}`), which `regex` accepts.
    let mut repeat = Repeat::None;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '\\' => {
                let Some(&e) = chars.get(i) else {
                    return Err("trailing backslash at end of expression".to_string());
                };
                i += 1;
                match (perl_class(e), e) {
                    (Some((set, false)), _) if in_class => out.push_str(set),
                    (Some((set, neg)), _) => {
                        out.push_str(if neg { "[^" } else { "[" });
                        out.push_str(set);
                        out.push(']');
                    }
                    (None, 'b' | 'B') if !in_class => {
                        out.push_str("(?-u:\\");
                        out.push(e);
                        out.push(')');
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(e);
                        if matches!(e, 'p' | 'P' | 'x') && chars.get(i) == Some(&'{') {
                            // `\p{Greek}`, `\x{41}`: copy through the `}`.
                            while let Some(&n) = chars.get(i) {
                                i += 1;
                                out.push(n);
                                if n == '}' {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            '[' if in_class => {
                if chars.get(i) == Some(&':') {
                    // `[:name:]`: copy through the closing `:]`.
                    out.push('[');
                    while let Some(&n) = chars.get(i) {
                        i += 1;
                        out.push(n);
                        if n == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '*' | '+' | '?' | '{' if !in_class => {
                let len = if c == '{' { repeat_len(&chars, i - 1)? } else { Some(1) };
                let Some(len) = len else {
                    out.push_str("\\{");
                    repeat = Repeat::None;
                    continue;
                };
                let op: String = chars.get(i - 1..i - 1 + len).unwrap_or_default().iter().collect();
                i += len - 1;
                repeat = match repeat {
                    Repeat::Op if c == '?' => Repeat::Lazy,
                    Repeat::Op | Repeat::Lazy => {
                        return Err(format!("invalid nested repetition operator: `{op}`"));
                    }
                    Repeat::None => Repeat::Op,
                };
                out.push_str(&op);
                continue;
            }
            _ => out.push(c),
        }
        repeat = Repeat::None;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::tests::run;

    /// `pattern` as kube-openapi matches it: Go `regexp`, unanchored.
    fn matches(p: &str, s: &str) -> Result<bool, String> {
        let schema = json!({"type": "object", "properties": {"v": {"type": "string", "pattern": p}}});
        let (_, errs) = run(&schema, json!({ "v": s }));
        match errs.as_slice() {
            [] => Ok(true),
            [e] if e.message.contains("but pattern is invalid") => Err(e.message.clone()),
            [e] if e.message.ends_with(&format!("v in body should match '{p}'")) => Ok(false),
            _ => panic!("unexpected errors for {p:?}: {errs:?}"),
        }
    }

    #[test]
    fn pattern_uses_go_regexp_semantics() {
        let m = |p: &str, s: &str| matches(p, s).ok();
        assert_eq!(m("^[a-z]+$", "abc"), Some(true));
        assert_eq!(m("^[a-z]+$", "abC"), Some(false));
        assert_eq!(m("b", "abc"), Some(true)); // unanchored
        assert_eq!(m("^(foo|bar)-\\d{2,3}$", "bar-123"), Some(true));
        assert_eq!(m("^(foo|bar)-\\d{2,3}$", "bar-1234"), Some(false));
        assert_eq!(m("(?i)^abc$", "AbC"), Some(true));
        assert_eq!(m("^a(?i:b)c$", "aBc"), Some(true));
        assert_eq!(m("^a(?i:b)c$", "aBC"), Some(false));
        assert_eq!(m("^[[:alpha:]_][[:word:]]*$", "_x9"), Some(true));
        assert_eq!(m("^[^\\s]+$", "no space"), Some(false));
        assert_eq!(m("^\\w+\\b", "ab cd"), Some(true));
        assert_eq!(m("^a.c$", "a\nc"), Some(false));
        assert_eq!(m("(?s)^a.c$", "a\nc"), Some(true));
        assert_eq!(m("^(a*)*$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), Some(false));
        assert_eq!(m("^x{2}$", "xx"), Some(true));
        assert_eq!(m("a{,2}", "a{,2}"), Some(true)); // literal brace
        assert_eq!(m("^a{,2}$", "a"), Some(false)); // literal brace, as in Go
        assert_eq!(m("^a{x}$", "a{x}"), Some(true));
        assert_eq!(m("^\\$\\{[A-Z_]+\\}$", "${HOME_DIR}"), Some(true));
        assert_eq!(m("^[\\x41-\\x{43}]+$", "ABC"), Some(true));
        assert_eq!(m("^(?P<n>[0-9]+)(ms|s)?$", "10ms"), Some(true));
        assert_eq!(m("^$", ""), Some(true));
        assert_eq!(m("a|", "zzz"), Some(true));
        assert_eq!(m("^.{3}$", "äöü"), Some(true)); // `.` is a character
        // Unicode classes, which Go supports too.
        assert_eq!(m("^\\p{L}+$", "wörter"), Some(true));
        assert_eq!(m("^\\p{L}+$", "whatever 1"), Some(false));
        // Perl classes and word boundaries are ASCII-only in Go.
        assert_eq!(m("^\\w+$", "café"), Some(false));
        assert_eq!(m("^\\d+$", "١٢"), Some(false));
        assert_eq!(m("^\\W$", "é"), Some(true));
        assert_eq!(m("^[\\w.]+$", "a.b_1"), Some(true));
        assert_eq!(m("^[\\w]+$", "é"), Some(false));
        assert_eq!(m("^[\\D]+$", "ab"), Some(true));
        assert_eq!(m("^\\s$", "\u{b}"), Some(false)); // no \v in Go's \s
        assert_eq!(m("^\\s$", "\u{a0}"), Some(false));
        assert_eq!(m("é\\b", "é"), Some(false));
        // Go takes `[`, `&` and `~` in a class literally.
        assert_eq!(m("^[a[]+$", "a[a"), Some(true));
        assert_eq!(m("^[a&&b]+$", "a&b"), Some(true));
        assert_eq!(m("^[]a]+$", "]a"), Some(true));
        assert_eq!(m("^[^]a]+$", "b"), Some(true));
        // invalid: the value fails with the compile error, never a panic
        assert_eq!(m("^a+?b*?$", "aa"), Some(true));
        assert_eq!(m("^a{2}?x{1,1000}$", "aax"), Some(true));
        for p in
            ["a**", "a+{2}", "a*??", "a{1001}", "a{2,1}", "(a", "a)", "[z-a]", "(\\1)", "*a", "\\", "[a", "\\p{Nope}"]
        {
            let e = matches(p, "a").expect_err(p);
            assert!(
                e.starts_with(&format!("Invalid value: \"a\": v in body should match '{p}, but pattern is invalid: ")),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
