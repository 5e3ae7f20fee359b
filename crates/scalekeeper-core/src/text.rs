//! Caller input inside messages: one owner of how a name, a reason, a selector or an identity
//! that a caller wrote is quoted back in an error, a warning, an Event or a log line.
//!
//! A message quotes at most [`MAX_ECHO_BYTES`] of it, then says how long it was, and escapes
//! control characters: a 48 KB name cannot turn an INVALID_ARGUMENT into 256 KB of response
//! trailers (which a default gRPC client refuses, seeing RESOURCE_EXHAUSTED instead), and a
//! newline in a hold's reason cannot forge a line of a text log.

/// The most bytes of caller input a message quotes: 128.
pub const MAX_ECHO_BYTES: usize = 128;

/// `text` as a message quotes it: control characters escaped (`\n`, `\u{1b}`); when longer
/// than [`MAX_ECHO_BYTES`], its first bytes up to a character boundary, then `… (N bytes)`
/// with its whole length. Never fails; the result is at most about 4 × 128 + 20 bytes (every
/// character of the prefix escaped).
pub fn bounded(text: &str) -> String {
    bounded_to(text, MAX_ECHO_BYTES)
}

/// [`bounded`] with another limit, `max_bytes`: for a parser's message about caller input,
/// which quotes some of it among words of its own.
pub fn bounded_to(text: &str, max_bytes: usize) -> String {
    let mut cut = text.len().min(max_bytes);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + 16);
    escape_into(&text[..cut], &mut out);
    if cut < text.len() {
        out.push_str(&format!("… ({} bytes)", text.len()));
    }
    out
}

/// Appends `text` to `out` with every control character escaped as Rust's `escape_default`
/// writes it (`\n`, `\t`, `\u{1b}`), the rest as it is.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// `text` with its control characters escaped (see [`escape_into`]), whatever its length: for
/// log fields, which carry what they carry but never a raw newline or terminal escape.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_with_its_controls_escaped() {
        assert_eq!(bounded("web"), "web");
        assert_eq!(bounded("a\nforged line\u{1b}[31m\u{7}\0"), "a\\nforged line\\u{1b}[31m\\u{7}\\u{0}");
        assert_eq!(escape_controls("INC-123: ok"), "INC-123: ok");
        assert_eq!(escape_controls("x\r\ny"), "x\\r\\ny");
    }

    #[test]
    fn long_text_is_cut_at_a_character_and_says_how_long_it_was() {
        let name = "a".repeat(48 * 1024);
        let q = bounded(&name);
        assert_eq!(q, format!("{}… (49152 bytes)", "a".repeat(MAX_ECHO_BYTES)));
        let wide = "é".repeat(100);
        let q = bounded(&wide);
        assert!(q.starts_with(&"é".repeat(64)) && q.ends_with("… (200 bytes)"), "{q}");
        assert_eq!(bounded(&"x".repeat(MAX_ECHO_BYTES)), "x".repeat(MAX_ECHO_BYTES), "at the limit: whole");
    }
}
