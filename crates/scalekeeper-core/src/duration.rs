//! The duration syntax of every command-line flag that takes one (`--call-timeout 30s`,
//! `--kube-event-ttl 1h`, `--request-receive-timeout 5s`): one owner, so `serve`, `dev` and
//! the examples read a duration the same way.

use std::time::Duration;

/// Parses a duration flag: a friendly duration (`20s`, `1m30s`, `500ms`, `1h`) or ISO 8601
/// (`PT20S`), as jiff's `SignedDuration` reads them; a bare integer is seconds.
///
/// # Errors
///
/// Not a duration, or a negative one; the message says which and shows an example.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().map(Duration::from_secs).map_err(|e| format!("{s:?}: {e}"));
    }
    let signed: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{s:?} is not a duration (e.g. 20s, 1m30s, 500ms; a bare number is seconds): {e}"))?;
    Duration::try_from(signed).map_err(|_| format!("{s:?} is negative; a duration here is 0 or more"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_iso_and_bare_seconds() {
        assert_eq!(parse("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse(" 500ms "), Ok(Duration::from_millis(500)));
        assert_eq!(parse("PT20S"), Ok(Duration::from_secs(20)));
        assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn refusals_say_why() {
        assert!(parse("soon").is_err_and(|e| e.contains("is not a duration") && e.contains("20s")));
        assert!(parse("-5s").is_err_and(|e| e.contains("is negative")));
        assert!(parse("").is_err());
        assert!(parse("99999999999999999999999").is_err());
    }
}
