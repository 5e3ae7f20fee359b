//! Go's two ways of quoting a string in a message: `strconv.Quote` (every `%q`) and
//! `encoding/json` (values `field.Invalid` prints as JSON).

/// Quotes `s` as Go's `strconv.Quote` (what `fmt`'s `%q` prints) does: in
/// double quotes, with `"` and `\` escaped, the C escapes `\a \b \f \n \r \t
/// \v`, and every other non-printable character as `\xNN` (below U+0080),
/// `\uNNNN` or `\UNNNNNNNN`. Printable characters, ASCII or not, stay as
/// they are.
///
/// Limits: Go's notion of printable (`unicode.IsPrint`: letters, marks,
/// numbers, punctuation, symbols and the ASCII space) is approximated with
/// Rust's control and white-space classes plus a list of format and
/// private-use ranges; it agrees with Go for ASCII, Latin-1, white space and
/// the common format characters. Invalid UTF-8 cannot occur in a `&str`.
///
/// Source: <https://pkg.go.dev/strconv#Quote>. The workspace's one copy:
/// kube-selectors' messages and kubesim's schema-validation messages use it.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Encodes `s` as a JSON string the way Go's `encoding/json` (`json.Marshal`) does: in double
/// quotes, with `"` and `\` escaped, `\n \r \t \b \f`, other characters below U+0020 as
/// `\u00XX`, and, unlike most JSON encoders, the HTML-sensitive `<`, `>`, `&` and the line
/// separators U+2028 and U+2029 as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`.
/// Everything else, non-ASCII included, stays as it is.
///
/// Source: `encodeState.string` in <https://pkg.go.dev/encoding/json> (`HTMLEscape` on, as
/// `json.Marshal` has it). The workspace's one copy: the selector messages and kubesim's
/// schema-validation messages use it.
pub fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Approximation of Go's `strconv.IsPrint`.
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c,
            '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e000}'..='\u{f8ff}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(go_quote("a\"b\\\n\u{1}é"), "\"a\\\"b\\\\\\n\\x01é\"");
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{7}\u{8}\u{b}\u{c}\r\t"), "\"\\a\\b\\v\\f\\r\\t\"");
        assert_eq!(go_quote("\u{7f}\u{85}"), "\"\\x7f\\u0085\"");
        // As Go: non-ASCII white space and format characters are not printable.
        assert_eq!(go_quote("a\u{a0}b\u{200b}"), "\"a\\u00a0b\\u200b\"");
        assert_eq!(go_quote("日本 ✓"), "\"日本 ✓\"");
    }

    #[test]
    fn go_json_string_escapes_as_json_marshal() {
        assert_eq!(go_json_string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(go_json_string("<a&b>\u{2028}"), "\"\\u003ca\\u0026b\\u003e\\u2028\"");
        assert_eq!(go_json_string("\u{7f}\u{a0}"), "\"\u{7f}\u{a0}\"");
    }
}
