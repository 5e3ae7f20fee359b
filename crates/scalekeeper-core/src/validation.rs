//! Validation of API input: Deployment references and replica counts.
//!
//! Names follow the Kubernetes object name rules
//! (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/>): a
//! namespace is a DNS-1123 label (RFC 1123, ≤ 63 characters); a Deployment name is a
//! DNS-1123 subdomain (≤ 253 characters). Each violation names the request field, so the
//! gRPC layer can return them as `google.rpc.BadRequest` field violations. The name rules
//! themselves are [`kube_selectors::validation`]'s, their one owner in the workspace. A
//! violation quotes the caller's input bounded ([`crate::text::bounded`]).

use std::time::Duration;

use kube_selectors::validation::{is_dns1123_label, is_dns1123_subdomain};

use crate::rules::{MAX_HOLD, MAX_REASON_BYTES, MAX_WINDOWS, MIN_HOLD};
use crate::text::bounded;

/// The default upper bound of a declared replica count (`--max-replicas`).
pub const DEFAULT_MAX_REPLICAS: i32 = 1000;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The request field, e.g. `replicas`, `namespace`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

impl Violation {
    fn new(field: &str, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// Checks a Deployment reference. Returns every violation (empty = valid).
pub fn validate_target(namespace: &str, name: &str) -> Vec<Violation> {
    let mut v = vec![];
    if namespace.is_empty() {
        v.push(Violation::new("namespace", "required"));
    } else if !is_dns1123_label(namespace) {
        v.push(Violation::new(
            "namespace",
            format!("\"{}\" is not a valid namespace: lower-case alphanumerics and '-', at most 63, starting and ending with an alphanumeric (RFC 1123 label)", bounded(namespace)),
        ));
    }
    if name.is_empty() {
        v.push(Violation::new("name", "required"));
    } else if !is_dns1123_subdomain(name) {
        v.push(Violation::new(
            "name",
            format!("\"{}\" is not a valid Deployment name: lower-case alphanumerics, '-' and '.', at most 253 (RFC 1123 subdomain)", bounded(name)),
        ));
    }
    v
}

/// Checks a namespace filter: empty (every namespace) or a DNS-1123 label.
pub fn validate_namespace_filter(namespace: &str) -> Vec<Violation> {
    if namespace.is_empty() || is_dns1123_label(namespace) {
        vec![]
    } else {
        vec![Violation::new(
            "namespace",
            format!("\"{}\" is not a valid namespace (RFC 1123 label)", bounded(namespace)),
        )]
    }
}

/// Checks a replica count against `0..=max` (a count of Pods).
pub fn validate_replicas(replicas: i32, max: i32) -> Vec<Violation> {
    if replicas < 0 {
        vec![Violation::new("replicas", format!("{replicas} is negative; a replica count is 0 or more"))]
    } else if replicas > max {
        vec![Violation::new("replicas", format!("{replicas} is over this server's maximum of {max} (--max-replicas)"))]
    } else {
        vec![]
    }
}

/// Checks a hold request: `hold_for` (when given) within [`MIN_HOLD`]..=[`MAX_HOLD`], and a
/// `reason` that is required with it (non-empty, at most [`MAX_REASON_BYTES`] bytes) and
/// refused without it. `hold_for` is `None` when the request places no hold, `Err(())` when it
/// is not a valid duration (negative, or out of range).
pub fn validate_hold(hold_for: Option<Result<Duration, ()>>, reason: &str) -> Vec<Violation> {
    let mut v = vec![];
    match hold_for {
        None if !reason.is_empty() => {
            v.push(Violation::new("reason", "a reason is only taken with hold_for (a hold); a declaration has none"));
        }
        None => {}
        Some(d) => {
            match d {
                Ok(d) if (MIN_HOLD..=MAX_HOLD).contains(&d) => {}
                _ => v.push(Violation::new(
                    "hold_for",
                    format!("a hold lasts from {} s to {} days", MIN_HOLD.as_secs(), MAX_HOLD.as_secs() / 86_400),
                )),
            }
            if reason.trim().is_empty() {
                v.push(Violation::new(
                    "reason",
                    "required with hold_for: say why the count is held, e.g. an incident id",
                ));
            } else if reason.len() > MAX_REASON_BYTES {
                v.push(Violation::new(
                    "reason",
                    format!("{} bytes is over the limit of {MAX_REASON_BYTES} bytes", reason.len()),
                ));
            }
        }
    }
    v
}

/// The most namespaces one Freeze or Thaw names (scalekeeper's bound, so one call stays one
/// bounded piece of work; `all_namespaces` has none).
pub const MAX_BULK_NAMESPACES: usize = 100;

/// Checks the selection of a Freeze or a Thaw: exactly one of `namespaces` and
/// `all_namespaces`, unless a `label_selector` is given (a selector alone selects across every
/// namespace in scope); each namespace a DNS-1123 label, at most [`MAX_BULK_NAMESPACES`] of
/// them; a selector that parses ([`crate::parse_label_selector`]). Returns every violation
/// (empty = valid).
pub fn validate_bulk_selection(namespaces: &[String], all_namespaces: bool, label_selector: &str) -> Vec<Violation> {
    let mut v = vec![];
    if !namespaces.is_empty() && all_namespaces {
        v.push(Violation::new("all_namespaces", "give namespaces or all_namespaces, not both"));
    } else if namespaces.is_empty() && !all_namespaces && label_selector.is_empty() {
        v.push(Violation::new(
            "namespaces",
            "required: name the namespaces, or ask for all_namespaces, or give a label_selector",
        ));
    }
    if namespaces.len() > MAX_BULK_NAMESPACES {
        v.push(Violation::new(
            "namespaces",
            format!(
                "{} namespaces is over the limit of {MAX_BULK_NAMESPACES}; use all_namespaces or a label_selector",
                namespaces.len()
            ),
        ));
    }
    for (i, ns) in namespaces.iter().enumerate().take(MAX_BULK_NAMESPACES) {
        if !is_dns1123_label(ns) {
            v.push(Violation::new(
                &format!("namespaces[{i}]"),
                format!("\"{}\" is not a valid namespace (RFC 1123 label)", bounded(ns)),
            ));
        }
    }
    if let Err(e) = crate::parse_label_selector(label_selector) {
        v.push(e);
    }
    v
}

/// Checks a write's `if_current_replicas` (`--if-current`): when given, a count of 0 or more.
/// Whether it holds is the write plan's check against the Deployment
/// ([`crate::write::check_current`]).
pub fn validate_if_current(if_current: Option<i32>) -> Vec<Violation> {
    match if_current {
        Some(n) if n < 0 => vec![Violation::new("if_current_replicas", format!("{n} is negative"))],
        _ => vec![],
    }
}

/// Checks requested bounds (each a count within `0..=max`, the server's `--max-replicas`) and
/// that `clear` (remove both) comes without either.
pub fn validate_bounds(min: Option<i32>, max_bound: Option<i32>, clear: bool, max: i32) -> Vec<Violation> {
    let mut v = vec![];
    for (field, value) in [("min_replicas", min), ("max_replicas", max_bound)] {
        if let Some(n) = value {
            v.extend(validate_replicas(n, max).into_iter().map(|x| Violation { field: field.into(), ..x }));
        }
    }
    if clear && (min.is_some() || max_bound.is_some()) {
        v.push(Violation::new("clear_bounds", "not with min_replicas or max_replicas"));
    }
    v
}

/// Checks schedule windows, given as (window text, count): at most [`MAX_WINDOWS`], each text
/// in the [`crate::schedule::Window`] grammar, each count within `0..=max`. Violations name
/// `windows[i].window` / `windows[i].replicas`.
pub fn validate_windows<'a>(windows: impl ExactSizeIterator<Item = (&'a str, i32)>, max: i32) -> Vec<Violation> {
    let mut v = vec![];
    if windows.len() > MAX_WINDOWS {
        v.push(Violation::new("windows", format!("{} windows is over the limit of {MAX_WINDOWS}", windows.len())));
        return v;
    }
    for (i, (text, replicas)) in windows.enumerate() {
        if let Err(e) = text.parse::<crate::schedule::Window>() {
            v.push(Violation::new(&format!("windows[{i}].window"), e.to_string()));
        }
        v.extend(
            validate_replicas(replicas, max)
                .into_iter()
                .map(|x| Violation { field: format!("windows[{i}].replicas"), ..x }),
        );
    }
    v
}

/// The shortest horizon Plan looks ahead: 1 s.
pub const MIN_HORIZON: Duration = Duration::from_secs(1);

/// The longest horizon Plan looks ahead: 31 days (a month of any length, and more than the
/// week after which a weekly schedule repeats itself).
pub const MAX_HORIZON: Duration = Duration::from_secs(31 * 24 * 3600);

/// The horizon Plan looks ahead when the request gives none: 7 days.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(7 * 24 * 3600);

/// The horizon to plan over for a request's `horizon`, given as (seconds, nanoseconds) of a
/// `google.protobuf.Duration`: `None` → [`DEFAULT_HORIZON`]; else within
/// [`MIN_HORIZON`]..=[`MAX_HORIZON`].
///
/// # Errors
/// A violation of field `horizon` for a negative, malformed or out-of-range duration.
pub fn validate_horizon(horizon: Option<(i64, i32)>) -> Result<Duration, Violation> {
    let Some((seconds, nanos)) = horizon else { return Ok(DEFAULT_HORIZON) };
    let d = u64::try_from(seconds)
        .ok()
        .zip(u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000))
        .map(|(s, n)| Duration::new(s, n));
    match d {
        Some(d) if (MIN_HORIZON..=MAX_HORIZON).contains(&d) => Ok(d),
        _ => Err(Violation::new(
            "horizon",
            format!(
                "a horizon lasts from {} s to {} days (unset: {} days)",
                MIN_HORIZON.as_secs(),
                MAX_HORIZON.as_secs() / 86_400,
                DEFAULT_HORIZON.as_secs() / 86_400
            ),
        )),
    }
}

/// The instant a request's `field` names, given as (seconds, nanoseconds) of a
/// `google.protobuf.Timestamp`: any instant from year 1 to year 9998 (a schedule is evaluated
/// up to weeks around it, so the ends of the calendar's range are kept clear).
///
/// # Errors
/// A violation of `field` for nanoseconds outside 0..1e9 or an instant out of that range.
pub fn validate_instant(field: &str, seconds: i64, nanos: i32) -> Result<jiff::Timestamp, Violation> {
    const FIRST: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const LAST: i64 = 253_370_764_800; // 9999-01-01T00:00:00Z
    if !(0..1_000_000_000).contains(&nanos) || !(FIRST..LAST).contains(&seconds) {
        return Err(Violation::new(field, "an instant from year 1 to year 9998, with nanoseconds 0 to 999999999"));
    }
    jiff::Timestamp::new(seconds, nanos).map_err(|e| Violation::new(field, e.to_string()))
}

/// The largest page ListDeployments and Diff return.
pub const MAX_PAGE_SIZE: i32 = 500;

/// The page size when a request asks for none (0).
pub const DEFAULT_PAGE_SIZE: i32 = 100;

/// The page size to use for a requested one: 0 → [`DEFAULT_PAGE_SIZE`]; 1..=[`MAX_PAGE_SIZE`]
/// as asked; otherwise a violation.
pub fn page_size(requested: i32) -> Result<usize, Violation> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE as usize),
        1..=MAX_PAGE_SIZE => Ok(requested as usize),
        n => Err(Violation::new(
            "page_size",
            format!("{n} is outside 1..={MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizons() {
        assert_eq!(validate_horizon(None), Ok(DEFAULT_HORIZON));
        assert_eq!(validate_horizon(Some((1, 0))), Ok(Duration::from_secs(1)));
        assert_eq!(validate_horizon(Some((31 * 86_400, 0))), Ok(MAX_HORIZON));
        assert_eq!(validate_horizon(Some((3600, 500))), Ok(Duration::new(3600, 500)));
        for bad in [(0, 0), (0, 999_999_999), (31 * 86_400, 1), (-1, 0), (5, -1), (5, 1_000_000_000), (i64::MAX, 0)] {
            let v = validate_horizon(Some(bad)).unwrap_err();
            assert_eq!(v.field, "horizon", "{bad:?}");
            assert!(v.description.contains("1 s to 31 days"), "{bad:?}: {}", v.description);
        }
    }

    #[test]
    fn instants() {
        assert_eq!(validate_instant("at", 1_700_000_000, 5), Ok(jiff::Timestamp::new(1_700_000_000, 5).unwrap()));
        assert!(validate_instant("at", -62_135_596_800, 0).is_ok(), "year 1");
        assert!(validate_instant("at", 253_370_764_799, 0).is_ok(), "the end of 9998");
        for (s, n) in
            [(253_370_764_800, 0), (-62_135_596_801, 0), (i64::MAX, 0), (i64::MIN, 0), (0, -1), (0, 1_000_000_000)]
        {
            assert_eq!(validate_instant("at", s, n).unwrap_err().field, "at", "{s} {n}");
        }
    }

    #[test]
    fn targets() {
        assert!(validate_target("shop", "web").is_empty());
        assert!(validate_target("shop", "web.v2").is_empty());
        let v = validate_target("", "Web");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], Violation::new("namespace", "required"));
        assert_eq!(v[1].field, "name");
        assert_eq!(validate_target("a.b", "x")[0].field, "namespace");
        assert_eq!(validate_target("x", &"a".repeat(254))[0].field, "name");
        assert!(validate_target("x", "-web").iter().any(|v| v.field == "name"));
        // As the API server: only the whole name is limited (253), not each dot-separated part.
        assert!(validate_target("x", &"a".repeat(253)).is_empty());
        assert_eq!(validate_target(&"a".repeat(64), "x")[0].field, "namespace");
    }

    #[test]
    fn replicas_bounds() {
        assert!(validate_replicas(0, 10).is_empty());
        assert!(validate_replicas(10, 10).is_empty());
        assert!(validate_replicas(-1, 10)[0].description.contains("negative"));
        assert!(validate_replicas(11, 10)[0].description.contains("maximum of 10"));
    }

    #[test]
    fn holds_need_a_reason_and_a_sane_duration() {
        let h = |secs: u64| Some(Ok(Duration::from_secs(secs)));
        assert!(validate_hold(None, "").is_empty());
        assert!(validate_hold(h(3), "INC-123").is_empty());
        assert!(validate_hold(h(30 * 86_400), "x").is_empty());
        assert_eq!(validate_hold(None, "INC-1")[0].field, "reason");
        assert_eq!(validate_hold(h(3), " ")[0].field, "reason");
        assert_eq!(validate_hold(h(0), "x")[0].field, "hold_for");
        assert_eq!(validate_hold(h(30 * 86_400 + 1), "x")[0].field, "hold_for");
        assert_eq!(validate_hold(Some(Err(())), "x")[0].field, "hold_for");
        assert!(validate_hold(h(3), &"r".repeat(257))[0].description.contains("256"));
    }

    #[test]
    fn if_current_is_a_count() {
        assert!(validate_if_current(None).is_empty());
        assert!(validate_if_current(Some(0)).is_empty());
        assert_eq!(validate_if_current(Some(-1)), vec![Violation::new("if_current_replicas", "-1 is negative")]);
    }

    #[test]
    fn bounds_and_windows() {
        assert!(validate_bounds(Some(1), Some(5), false, 10).is_empty());
        assert_eq!(validate_bounds(Some(-1), None, false, 10)[0].field, "min_replicas");
        assert_eq!(validate_bounds(None, Some(11), false, 10)[0].field, "max_replicas");
        assert_eq!(validate_bounds(Some(1), None, true, 10)[0].field, "clear_bounds");
        let ok = [("Mon-Fri 08:00-20:00 Europe/Berlin", 3)];
        assert!(validate_windows(ok.iter().map(|(w, n)| (*w, *n)), 10).is_empty());
        let bad = [("Mon-Fri 08:00-20:00 Europe/Berlin", 3), ("Someday 8-9", 11)];
        let v = validate_windows(bad.iter().map(|(w, n)| (*w, *n)), 10);
        assert_eq!(
            v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(),
            ["windows[1].window", "windows[1].replicas"]
        );
        let many = vec![("Mon 08:00-09:00 UTC", 1); 33];
        assert_eq!(validate_windows(many.into_iter(), 10)[0].field, "windows");
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), Ok(100));
        assert_eq!(page_size(500), Ok(500));
        assert!(page_size(501).is_err());
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn bulk_selections_name_namespaces_or_all_or_a_selector() {
        let ns = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let fields = |v: Vec<Violation>| v.into_iter().map(|v| v.field).collect::<Vec<_>>();
        assert!(validate_bulk_selection(&ns(&["shop", "pay"]), false, "").is_empty());
        assert!(validate_bulk_selection(&[], true, "").is_empty());
        assert!(validate_bulk_selection(&[], false, "tier=web").is_empty(), "a selector alone");
        assert!(validate_bulk_selection(&ns(&["shop"]), false, "tier=web").is_empty(), "a selector narrows");
        assert_eq!(fields(validate_bulk_selection(&[], false, "")), ["namespaces"]);
        assert_eq!(fields(validate_bulk_selection(&ns(&["shop"]), true, "")), ["all_namespaces"]);
        assert_eq!(fields(validate_bulk_selection(&ns(&["shop", "Bad_NS"]), false, "")), ["namespaces[1]"]);
        assert_eq!(fields(validate_bulk_selection(&[], true, "tier in (web")), ["label_selector"]);
        let many: Vec<String> = (0..=MAX_BULK_NAMESPACES).map(|i| format!("ns-{i}")).collect();
        let v = validate_bulk_selection(&many, false, "");
        assert_eq!(v.len(), 1);
        assert!(v[0].field == "namespaces" && v[0].description.contains("100"), "{v:?}");
    }

    #[test]
    fn namespace_filter() {
        assert!(validate_namespace_filter("").is_empty());
        assert!(validate_namespace_filter("shop").is_empty());
        assert_eq!(validate_namespace_filter("Shop")[0].field, "namespace");
    }
}
