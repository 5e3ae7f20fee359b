//! The values the client subcommands parse from their arguments: a hold's duration, a plan's
//! horizon, an instant, and a `NAMESPACE/NAME` target.

use std::str::FromStr;

use jiff::SignedDuration;

use crate::CliError;

/// The `--for` of `set`: how long a hold lasts, a positive duration in jiff's friendly format
/// (`2h`, `90m`, `1h30m`, `3s`, `1.5s`) or ISO 8601 (`PT2H`). Units of days and longer are
/// refused (their length is not fixed); the server checks the range (1 s to 30 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldDuration(SignedDuration);

/// Why a `--for` value is not a hold duration.
#[derive(Debug, thiserror::Error)]
pub enum HoldDurationError {
    /// Not a duration in hours, minutes and seconds (days are refused: their length varies).
    #[error("{0:?} is not a duration in hours, minutes and seconds; use e.g. 2h, 90m, 1h30m, 3s, 720h or PT2H")]
    Syntax(String),
    /// Zero or negative.
    #[error("{0:?} is not a positive duration; a hold lasts at least 1s")]
    NotPositive(String),
}

impl FromStr for HoldDuration {
    type Err = HoldDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d: SignedDuration = s.trim().parse().map_err(|_: jiff::Error| HoldDurationError::Syntax(s.to_string()))?;
        if d.is_positive() { Ok(HoldDuration(d)) } else { Err(HoldDurationError::NotPositive(s.to_string())) }
    }
}

impl HoldDuration {
    /// The duration as jiff holds it.
    pub fn get(self) -> SignedDuration {
        self.0
    }

    /// The duration as a `google.protobuf.Duration` (for `SetReplicasRequest.hold_for`).
    pub fn to_proto(self) -> prost_types::Duration {
        prost_types::Duration { seconds: self.0.as_secs(), nanos: self.0.subsec_nanos() }
    }
}

/// The `--next` of `plan`: how far ahead to look, a positive duration in jiff's friendly format
/// or ISO 8601, where (unlike `--for`) days and weeks are taken as 24 h and 7 × 24 h: `7d`,
/// `36h`, `1w`, `90m`, `P2W`, `PT12H`. Months and years are refused (their length varies); the
/// server checks the range (1 s to 31 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon(SignedDuration);

/// Why a `--next` value is not a horizon.
#[derive(Debug, thiserror::Error)]
pub enum HorizonError {
    /// Not a duration in weeks, days, hours, minutes and seconds.
    #[error("{0:?} is not a duration in weeks, days, hours, minutes and seconds; use e.g. 7d, 36h, 1w, 90m or P2W")]
    Syntax(String),
    /// Zero or negative.
    #[error("{0:?} is not a positive duration; look ahead at least 1s")]
    NotPositive(String),
}

impl FromStr for Horizon {
    type Err = HorizonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || HorizonError::Syntax(s.to_string());
        let span: jiff::Span = s.trim().parse().map_err(|_: jiff::Error| syntax())?;
        let d = span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).map_err(|_| syntax())?;
        if d.is_positive() { Ok(Horizon(d)) } else { Err(HorizonError::NotPositive(s.to_string())) }
    }
}

impl Horizon {
    /// The duration as jiff holds it.
    pub fn get(self) -> SignedDuration {
        self.0
    }

    /// The duration as a `google.protobuf.Duration` (for `PlanRequest.horizon`).
    pub fn to_proto(self) -> prost_types::Duration {
        prost_types::Duration { seconds: self.0.as_secs(), nanos: self.0.subsec_nanos() }
    }

    /// The duration as people write it, largest units first: `7d`, `1d 12h`, `90m` becomes
    /// `1h 30m` (days of 24 h).
    pub fn human(self) -> String {
        let secs = self.0.as_secs();
        let parts = [(secs / 86_400, "d"), (secs % 86_400 / 3600, "h"), (secs % 3600 / 60, "m"), (secs % 60, "s")];
        let text: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, u)| format!("{n}{u}")).collect();
        if text.is_empty() { format!("{}s", self.0.as_secs_f64()) } else { text.join(" ") }
    }
}

/// The `--at` of `explain`: an instant in RFC 3339 (`2026-12-12T09:00:00+01:00`,
/// `2026-12-12T08:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(jiff::Timestamp);

/// Why an `--at` value is not an instant.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 time with an offset, e.g. 2026-12-12T09:00:00+01:00 or 2026-12-12T08:00:00Z")]
pub struct InstantError(String);

impl FromStr for Instant {
    type Err = InstantError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<jiff::Timestamp>().map(Instant).map_err(|_| InstantError(s.to_string()))
    }
}

impl Instant {
    /// The instant as a `google.protobuf.Timestamp` (for `ExplainRequest.at`).
    pub fn to_proto(self) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds: self.0.as_second(), nanos: self.0.subsec_nanosecond() }
    }
}

/// A Deployment named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The namespace.
    pub namespace: String,
    /// The Deployment's name.
    pub name: String,
}

/// Parses `NAMESPACE/NAME`; both parts must be non-empty and there must be exactly one `/`.
/// The server checks that they are valid Kubernetes names.
pub fn parse_target(target: &str) -> Result<Target, CliError> {
    match target.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(Target { namespace: ns.to_string(), name: name.to_string() })
        }
        _ => Err(CliError::Usage(format!("invalid target {target:?}: expected NAMESPACE/NAME, e.g. shop/web"))),
    }
}
