//! Recurring weekly time windows, such as `Mon-Fri 08:00-20:00 Europe/Berlin`, evaluated
//! against instants in the window's own time zone, correctly across daylight-saving changes.
//!
//! The syntax is the one kube-downscaler users know from `DEFAULT_UPTIME` /
//! `DEFAULT_DOWNTIME` (hjacobs/kube-downscaler, README "Configuration"): `DAYS START-END ZONE`.
//! Pure code: the time-zone rules come from jiff's time-zone database (the system's
//! `/usr/share/zoneinfo` on Linux), read through [`jiff::tz::db`]; nothing reads the clock.
//!
//! ```text
//!   "Mon-Fri 22:00-06:00 Europe/Berlin"
//!        │ parse (FromStr)
//!        ▼
//!   Window ── for each civil date D whose weekday is listed ──▶ Occurrence { start, end }
//!        │      start = D START, end = D END (or D+1 END when END <= START, or 24:00)
//!        │      each civil time → instant with "compatible" disambiguation
//!        ▼
//!   contains(now) ⇔ some occurrence has start <= now < end
//!   next_boundary_after(now) = the earliest start or end strictly after now
//! ```
//!
//! # Daylight saving
//!
//! Each occurrence's civil start and end are converted to instants with jiff's *compatible*
//! disambiguation ([`jiff::tz::TimeZone::to_timestamp`]): a local time that falls in a gap
//! (clocks jump forward) is shifted forward by the length of the gap (`02:30` on a
//! spring-forward day in Berlin is `03:30` CEST), and a local time that occurs twice (clocks
//! jump back) is the earlier of the two. This is RFC 5545 §3.3.5 (DATE-TIME with a TZID),
//! `java.time.ZonedDateTime.of` and Temporal's `"compatible"`. So a `Sun 00:00-24:00` window
//! lasts 23 hours on the spring-forward Sunday and 25 hours on the fall-back one, and a daily
//! `08:00` window starts at 08:00 local time on both sides of a change (its UTC instant moves).
//!
//! Two consequences of the shift, both on spring-forward days only:
//! - An occurrence whose end, after resolution, is not after its start is *empty* and contains
//!   nothing: `Sun 02:30-03:00 Europe/Berlin` on 2026-03-29 starts at 03:30 CEST (shifted) and
//!   ends at 03:00 CEST, so that Sunday it never applies. Its boundaries are not reported.
//! - Two occurrences may overlap: in `Mon-Sun 03:00-02:30 America/New_York` the Saturday
//!   occurrence ends at 02:30 Sunday, shifted to 03:30 EDT, after the Sunday one starts at 03:00
//!   EDT. [`Window::occurrence_at`] then returns the one that started first.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

/// The longest window specification [`Window::from_str`] accepts, in bytes of UTF-8: 128.
///
/// A valid form is about 50 bytes at most (`Mon-Sun 00:00-24:00 `, 20 bytes, and one of the
/// longest IANA names, `America/Argentina/ComodRivadavia`, 32 bytes); the bound is
/// scalekeeper's own, checked before any parsing so a hostile specification costs nothing.
pub const MAX_WINDOW_BYTES: usize = 128;

/// The form every [`WindowError`] message ends with, so a user can fix the input from the
/// message alone.
const EXPECTED: &str = "expected DAYS HH:MM-HH:MM ZONE, e.g. Mon-Fri 08:00-20:00 Europe/Berlin";

/// How many local dates before `now`'s may start an occurrence that still contains `now`.
///
/// An occurrence spans at most two local dates (start on D, end on D+1), so one would do in
/// ordinary zones; the second covers zones whose clocks once jumped a whole day (Pacific/Apia,
/// 2011-12-30), where an end shifted forward by the gap lands on D+2.
const LOOKBACK_DAYS: i64 = 2;

/// How many local dates after `now`'s are scanned for the next boundary: 15.
///
/// A single listed day comes round every 7 days; if that week's occurrence is empty (see the
/// module docs), the next is 7 days later again, and one more day covers an occurrence that
/// starts on a local date after `now`'s but ends first. (Found by the property test: from
/// the end of `Sun 02:30-03:00 Europe/Berlin` on 2026-03-22 the next start is 2026-04-05.)
const LOOKAHEAD_DAYS: i64 = 15;

/// Why a window specification was rejected. Every message says what is wrong and ends with
/// the expected form, `DAYS HH:MM-HH:MM ZONE, e.g. Mon-Fri 08:00-20:00 Europe/Berlin`.
///
/// Quoted input is shown with Rust's `{:?}` escaping, so control characters stay visible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The specification is longer than [`MAX_WINDOW_BYTES`]; `len` is its length in bytes.
    #[error("{len} bytes is over the limit of {max} bytes for a time window; {}", EXPECTED, max = MAX_WINDOW_BYTES)]
    TooLong {
        /// The length of the rejected specification, in bytes.
        len: usize,
    },
    /// The specification does not have exactly three whitespace-separated parts.
    #[error("a time window has three parts separated by spaces (days, times, zone), found {found}; {}", EXPECTED)]
    Parts {
        /// How many parts were found.
        found: usize,
    },
    /// The first part is not `Day` or `Day-Day` with 3-letter English day names.
    #[error(
        "{given:?} is not a day or a range of days (Mon, Tue, Wed, Thu, Fri, Sat, Sun, or two joined by '-'); {}",
        EXPECTED
    )]
    Days {
        /// The rejected first part.
        given: String,
    },
    /// The second part is not `HH:MM-HH:MM` with two-digit fields in range.
    #[error(
        "{given:?} is not a time range HH:MM-HH:MM (two digits each, 00:00 to 23:59, or 24:00 as the end); {}",
        EXPECTED
    )]
    Times {
        /// The rejected second part.
        given: String,
    },
    /// START equals END, which would describe an empty window.
    #[error("{given:?} is an empty window; for a whole day use 00:00-24:00; {}", EXPECTED)]
    Empty {
        /// The rejected second part.
        given: String,
    },
    /// START is `24:00`, which is only valid as an END.
    #[error("{given:?} starts at 24:00, which can only end a window; {}", EXPECTED)]
    StartsAt24 {
        /// The rejected second part.
        given: String,
    },
    /// The third part names no time zone in jiff's database.
    #[error(
        "unknown time zone {name:?}: use an IANA name such as Europe/Berlin, America/New_York or UTC; {}",
        EXPECTED
    )]
    UnknownZone {
        /// The rejected zone name.
        name: String,
    },
}

/// One stretch of time a [`Window`] covers: the half-open interval `[start, end)` of instants,
/// from one listed day's START to its END, each resolved in the window's zone.
///
/// Occurrences returned by this module are never empty: `start < end` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The first instant inside the occurrence (inclusive).
    pub start: Timestamp,
    /// The first instant after the occurrence (exclusive).
    pub end: Timestamp,
}

/// A recurring weekly time window: listed weekdays, a civil start and end time of day, and an
/// IANA time zone, parsed from `DAYS START-END ZONE` (see [`Window::from_str`]).
///
/// Evaluated in the zone's own rules, never by UTC arithmetic; see the module docs for what
/// happens on daylight-saving days.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The first listed day.
    first: Weekday,
    /// The last listed day of a range `first-last` (wrapping past Sunday if `last` comes
    /// before `first`); `None` when a single day was given.
    last: Option<Weekday>,
    /// START, a time of day.
    start: Time,
    /// END as a time of day: `00:00` when END was `24:00`.
    end: Time,
    /// Whether END was written `24:00` (midnight at the end of the day, kept for Display).
    end_is_24: bool,
    /// The zone name as the user wrote it (the lookup is case-insensitive).
    zone_name: String,
    /// The zone's rules.
    tz: TimeZone,
}

// === impl Window ===

impl Window {
    /// The occurrence containing `now`, if any: the one with `start <= now < end`. When two
    /// occurrences overlap (possible only on a spring-forward day, see the module docs), the
    /// one that started first.
    pub fn occurrence_at(&self, now: Timestamp) -> Option<Occurrence> {
        let today = self.tz.to_datetime(now).date();
        (-LOOKBACK_DAYS..=0)
            .filter_map(|offset| self.occurrence_on(today.checked_add(jiff::Span::new().days(offset)).ok()?))
            .find(|o| o.start <= now && now < o.end)
    }

    /// Whether `now` is inside the window: some occurrence has `start <= now < end`.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.occurrence_at(now).is_some()
    }

    /// The first instant strictly after `now` at which an occurrence starts or ends: the next
    /// time [`Window::contains`] may change. It does not always change there: where two
    /// occurrences touch (`Mon-Sun 00:00-24:00` at midnight) or overlap, the window stays
    /// inside. Empty occurrences (see the module docs) contribute no boundary.
    ///
    /// `None` only if no occurrence starts or ends in the local dates from two days before
    /// `now`'s to fifteen days after, which cannot happen for a valid window short of the ends
    /// of jiff's supported range (years -9999 and 9999): it would take two empty occurrences of
    /// the same weekday in a row.
    pub fn next_boundary_after(&self, now: Timestamp) -> Option<Timestamp> {
        let today = self.tz.to_datetime(now).date();
        (-LOOKBACK_DAYS..=LOOKAHEAD_DAYS)
            .filter_map(|offset| self.occurrence_on(today.checked_add(jiff::Span::new().days(offset)).ok()?))
            .flat_map(|o| [o.start, o.end])
            .filter(|&t| t > now)
            .min()
    }

    /// The window's time zone: the one its local times are read in, and the one a planned
    /// change it causes is shown in ([`crate::ahead`]).
    pub fn zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether `day` is one of the listed days.
    fn includes(&self, day: Weekday) -> bool {
        match self.last {
            None => day == self.first,
            Some(last) => self.first.until(day) <= self.first.until(last),
        }
    }

    /// The occurrence that starts on the civil date `date` in the window's zone: `None` if
    /// `date`'s weekday is not listed, if the occurrence is empty after resolution, or if the
    /// date is at the edge of jiff's range.
    fn occurrence_on(&self, date: Date) -> Option<Occurrence> {
        if !self.includes(date.weekday()) {
            return None;
        }
        let end_date = if self.end_is_24 || self.end < self.start { date.tomorrow().ok()? } else { date };
        let start = self.tz.to_timestamp(date.to_datetime(self.start)).ok()?;
        let end = self.tz.to_timestamp(end_date.to_datetime(self.end)).ok()?;
        (start < end).then_some(Occurrence { start, end })
    }
}

impl FromStr for Window {
    type Err = WindowError;

    /// Parses `DAYS START-END ZONE`, the three parts separated by any run of ASCII whitespace
    /// (leading and trailing whitespace is ignored):
    /// - DAYS: `Day` or `Day-Day`, Day one of `Mon Tue Wed Thu Fri Sat Sun` in any case. A range
    ///   may wrap past Sunday (`Fri-Mon` is Fri, Sat, Sun, Mon); `Mon-Sun` is every day; a range
    ///   from a day to itself (`Fri-Fri`, kube-downscaler's way to write one day) is that day.
    /// - START-END: `HH:MM-HH:MM`, two digits each, `00:00` to `23:59`; END may also be `24:00`,
    ///   the end of the day. END before START crosses midnight: the occurrence ends on the
    ///   following day.
    /// - ZONE: an IANA time-zone name, looked up case-insensitively in [`jiff::tz::db`].
    ///
    /// # Errors
    ///
    /// - [`WindowError::TooLong`]: more than [`MAX_WINDOW_BYTES`] bytes (checked first).
    /// - [`WindowError::Parts`]: not exactly three parts.
    /// - [`WindowError::Days`]: DAYS is not a day or a range of two days.
    /// - [`WindowError::Times`]: START-END is malformed (one-digit fields, `25:00`, `12:60`,
    ///   `24:30`, a missing `-`).
    /// - [`WindowError::Empty`]: START equals END.
    /// - [`WindowError::StartsAt24`]: START is `24:00`.
    /// - [`WindowError::UnknownZone`]: the zone is not in the database (or is jiff's
    ///   `Etc/Unknown` placeholder, which is not a real zone).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_WINDOW_BYTES {
            return Err(WindowError::TooLong { len: s.len() });
        }
        let mut parts = s.split_ascii_whitespace();
        let (Some(days), Some(times), Some(zone), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(WindowError::Parts { found: s.split_ascii_whitespace().count() });
        };

        let bad_days = || WindowError::Days { given: days.to_string() };
        let (first, last) = match days.split_once('-') {
            None => (parse_day(days).ok_or_else(bad_days)?, None),
            Some((a, b)) => (parse_day(a).ok_or_else(bad_days)?, Some(parse_day(b).ok_or_else(bad_days)?)),
        };

        let bad_times = || WindowError::Times { given: times.to_string() };
        let (start, end) = times.split_once('-').ok_or_else(bad_times)?;
        let (start, end) = (parse_hhmm(start).ok_or_else(bad_times)?, parse_hhmm(end).ok_or_else(bad_times)?);
        if start == (24, 0) {
            return Err(WindowError::StartsAt24 { given: times.to_string() });
        }
        if start == end {
            return Err(WindowError::Empty { given: times.to_string() });
        }
        let end_is_24 = end == (24, 0);
        let end = if end_is_24 { (0, 0) } else { end };
        let start = Time::new(start.0, start.1, 0, 0).map_err(|_| bad_times())?;
        let end = Time::new(end.0, end.1, 0, 0).map_err(|_| bad_times())?;

        let unknown = || WindowError::UnknownZone { name: zone.to_string() };
        let tz = jiff::tz::db().get(zone).map_err(|_| unknown())?;
        if tz.is_unknown() {
            return Err(unknown());
        }
        Ok(Window { first, last, start, end, end_is_24, zone_name: zone.to_string(), tz })
    }
}

impl fmt::Display for Window {
    /// The canonical form: days capitalised (`Mon`, or `Mon-Fri` if a range was given), times
    /// as `HH:MM` (`24:00` kept), and the zone name as given. Parsing it yields an equal
    /// [`Window`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(day_name(self.first))?;
        if let Some(last) = self.last {
            write!(f, "-{}", day_name(last))?;
        }
        let end_hour = if self.end_is_24 { 24 } else { self.end.hour() };
        write!(
            f,
            " {:02}:{:02}-{:02}:{:02} {}",
            self.start.hour(),
            self.start.minute(),
            end_hour,
            self.end.minute(),
            self.zone_name
        )
    }
}

/// The 3-letter English day names, Monday first, as accepted and printed.
const DAY_NAMES: [(&str, Weekday); 7] = [
    ("Mon", Weekday::Monday),
    ("Tue", Weekday::Tuesday),
    ("Wed", Weekday::Wednesday),
    ("Thu", Weekday::Thursday),
    ("Fri", Weekday::Friday),
    ("Sat", Weekday::Saturday),
    ("Sun", Weekday::Sunday),
];

/// Reads a 3-letter English day name, ignoring ASCII case.
fn parse_day(s: &str) -> Option<Weekday> {
    DAY_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)).map(|&(_, day)| day)
}

/// The 3-letter English name of `day`.
fn day_name(day: Weekday) -> &'static str {
    DAY_NAMES.iter().find(|&&(_, d)| d == day).map_or("?", |&(name, _)| name)
}

/// Reads `HH:MM` (exactly two digits each) as `(hour, minute)`, accepting `00:00` to `23:59`
/// and `24:00`; whether `24:00` is allowed in a position is the caller's rule.
fn parse_hhmm(s: &str) -> Option<(i8, i8)> {
    let &[h1, h2, b':', m1, m2] = s.as_bytes() else {
        return None;
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| (b - b'0') as i8);
    let (hour, minute) = (digit(h1)? * 10 + digit(h2)?, digit(m1)? * 10 + digit(m2)?);
    (minute <= 59 && (hour <= 23 || (hour, minute) == (24, 0))).then_some((hour, minute))
}

/// Of several windows, the index of the first (in list order) that contains `now`, with the
/// occurrence that contains it: where windows overlap, the first listed wins. `None` if no
/// window contains `now`.
pub fn first_containing<'a>(
    windows: impl IntoIterator<Item = &'a Window>,
    now: Timestamp,
) -> Option<(usize, Occurrence)> {
    windows.into_iter().enumerate().find_map(|(i, w)| w.occurrence_at(now).map(|o| (i, o)))
}

/// The earliest boundary strictly after `now` among all windows (the minimum of each one's
/// [`Window::next_boundary_after`]): the next instant at which [`first_containing`] may
/// change. `None` if there are no windows.
pub fn next_boundary<'a>(windows: impl IntoIterator<Item = &'a Window>, now: Timestamp) -> Option<Timestamp> {
    windows.into_iter().filter_map(|w| w.next_boundary_after(now)).min()
}

#[cfg(test)]
mod tests;
