//! Go formatting helpers: the apiserver's messages are produced by Go's
//! `fmt`, `strconv` and `encoding/json`, and are reproduced here byte for byte.
//! `strconv.Quote` (`%q`) and the JSON encoding of a string are
//! [`go_quote`](crate::selectors::go_quote) and [`go_json_string`], shared with the selector
//! messages.

use serde_json::Value;

use super::validate::Num;
use crate::selectors::go_json_string;

// ---------------------------------------------------------------------------
// Go formatting helpers (the messages are produced by Go's fmt/strconv/json)
// ---------------------------------------------------------------------------

/// go-openapi `swag.IsFloat64AJSONInteger`.
pub(super) fn is_float64_a_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX_JSON_FLOAT..=MAX_JSON_FLOAT).contains(&f) {
        return false;
    }
    let rounded = f.round();
    if f == rounded {
        return true;
    }
    if rounded == 0.0 {
        return false;
    }
    (f - rounded).abs() < 1e-9 * rounded.abs()
}

/// Shortest round-trip decimal digits of a finite non-zero `f` and the
/// decimal point position (`value = 0.DIGITS × 10^dp`), like strconv's
/// `decimalSlice`.
fn decompose(f: f64) -> (Vec<u8>, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp + 1)
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else if f == 0.0 {
        Some(if f.is_sign_negative() { "-0" } else { "0" }.to_string())
    } else {
        None
    }
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(super) fn go_fmt_f(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (d, dp) = decompose(f);
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    let nd = d.len() as i32;
    let digit = |i: i32| -> char { if i >= 0 && i < nd { char::from(d[i as usize]) } else { '0' } };
    if dp <= 0 {
        out.push('0');
    } else {
        for i in 0..dp {
            out.push(digit(i));
        }
    }
    if nd > dp {
        out.push('.');
        for _ in dp..0 {
            out.push('0');
        }
        for i in dp.max(0)..nd {
            out.push(digit(i));
        }
    }
    out
}

/// Go `strconv.FormatFloat(f, 'e', -1, 64)`.
fn go_fmt_e(f: f64) -> String {
    if f == 0.0 && !f.is_sign_negative() {
        return "0e+00".to_string();
    }
    if let Some(s) = special(f) {
        return s;
    }
    let (d, dp) = decompose(f);
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    out.push(char::from(d.first().copied().unwrap_or(b'0')));
    if d.len() > 1 {
        out.push('.');
        out.extend(d[1..].iter().map(|&b| char::from(b)));
    }
    let exp = dp - 1;
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

/// Go `fmt.Sprintf("%v", f)` for a float64 (`strconv` `'g'` with the
/// shortest precision: exponent form when the exponent is < -4 or >= 6).
pub(super) fn go_fmt_g(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (_, dp) = decompose(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) { go_fmt_e(f) } else { go_fmt_f(f) }
}

/// Go `encoding/json` float64 encoding.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = go_fmt_e(f);
        // clean up e-09 to e-9
        if let Some(pos) = s.find("e-0") {
            let (head, tail) = s.split_at(pos + 2);
            return format!("{head}{}", &tail[1..]);
        }
        s
    } else {
        go_fmt_f(f)
    }
}

/// Go `json.Marshal` of a decoded JSON value (sorted keys, HTML escaping).
pub(super) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match Num::of(n) {
            Num::I(i) => out.push_str(&i.to_string()),
            Num::F(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => write_go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_go_json(x, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_go_json_string(s: &str, out: &mut String) {
    out.push_str(&go_json_string(s));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_fmt_g(0.0), "0");
        assert_eq!(go_fmt_g(1.0), "1");
        assert_eq!(go_fmt_g(-1.5), "-1.5");
        assert_eq!(go_fmt_g(100000.0), "100000");
        assert_eq!(go_fmt_g(1000000.0), "1e+06");
        assert_eq!(go_fmt_g(1234567.0), "1.234567e+06");
        assert_eq!(go_fmt_g(0.0001), "0.0001");
        assert_eq!(go_fmt_g(0.00001), "1e-05");
        assert_eq!(go_fmt_f(1e20), "100000000000000000000");
        assert_eq!(go_fmt_f(0.001), "0.001");
        assert_eq!(go_fmt_f(12.5), "12.5");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(3.0), "3");
        assert_eq!(go_json(&json!({"b": [1, 2.5, "<"], "a": null})), r#"{"a":null,"b":[1,2.5,"\u003c"]}"#);
    }
}
