//! Named schedules (`[schedules.<name>]` in the config): weekday time spans in a stated time
//! zone, with dates off. A rule can be *active* only during one; notifications can be *muted*
//! during some. Times are wall-clock times in the schedule's zone, so "08:00" stays 08:00 across
//! a change to or from summer time.
//!
//! ```toml
//! [schedules.business]
//! time_zone = "Europe/Berlin"          # IANA name; default: this computer's zone
//! when = ["mon-fri 08:00-18:00", "sat 09:00-13:00"]
//! dates_off = ["2026-12-24", "2026-12-25"]
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A schedule as the config file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// An IANA time zone (`Europe/Berlin`, `America/New_York`); default: the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Spans: `"<days> HH:MM-HH:MM"`, days as `mon-fri`, `sat,sun`, `daily`.
    pub when: Vec<String>,
    /// Dates (`YYYY-MM-DD`, in the schedule's zone) the schedule is off all day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates_off: Vec<String>,
}

/// What is wrong with a schedule: the key at fault and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `when`, `time_zone` or `dates_off`.
    pub key: &'static str,
    pub message: String,
}

/// One span: on these weekdays (Monday first), from `start` to `end` minutes of the day. A span
/// whose end is not after its start runs past midnight and belongs to the day it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    days: [bool; 7],
    start: u16,
    end: u16,
}

/// A schedule, parsed: ask it whether a moment is inside.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    zone: jiff::tz::TimeZone,
    spans: Vec<Span>,
    dates_off: BTreeSet<jiff::civil::Date>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The most spans and dates off a schedule may list.
pub const MAX_ENTRIES: usize = 400;

impl Schedule {
    /// Parse `[schedules.<name>]`.
    pub fn parse(name: &str, c: &ScheduleConfig) -> Result<Schedule, ScheduleError> {
        let zone = match &c.time_zone {
            None => jiff::tz::TimeZone::system(),
            Some(z) => jiff::tz::TimeZone::get(z.trim()).map_err(|_| ScheduleError {
                key: "time_zone",
                message: format!(
                    "`{z}` is not a time zone; use an IANA name like \"Europe/Berlin\" or \"America/New_York\""
                ),
            })?,
        };
        if c.when.is_empty() {
            return Err(ScheduleError {
                key: "when",
                message: "empty; list spans like [\"mon-fri 08:00-18:00\"]".into(),
            });
        }
        if c.when.len() > MAX_ENTRIES || c.dates_off.len() > MAX_ENTRIES {
            return Err(ScheduleError {
                key: if c.when.len() > MAX_ENTRIES {
                    "when"
                } else {
                    "dates_off"
                },
                message: format!("more than {MAX_ENTRIES} entries"),
            });
        }
        let spans = c
            .when
            .iter()
            .map(|w| {
                span(w).map_err(|message| ScheduleError {
                    key: "when",
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dates_off = c
            .dates_off
            .iter()
            .map(|d| {
                d.trim()
                    .parse::<jiff::civil::Date>()
                    .map_err(|_| ScheduleError {
                        key: "dates_off",
                        message: format!("`{d}` is not a date like \"2026-12-24\""),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Schedule {
            name: name.to_string(),
            zone,
            spans,
            dates_off,
        })
    }

    /// A schedule from the old `quiet_hours = "HH:MM-HH:MM"`: every day, in the system's zone.
    pub fn daily(name: &str, start: u16, end: u16) -> Schedule {
        Schedule {
            name: name.to_string(),
            zone: jiff::tz::TimeZone::system(),
            spans: vec![Span {
                days: [true; 7],
                start,
                end,
            }],
            dates_off: BTreeSet::new(),
        }
    }

    /// The same schedule read in another zone (tests pin the zone of `daily`).
    pub fn in_zone(mut self, zone: &str) -> Option<Schedule> {
        self.zone = jiff::tz::TimeZone::get(zone).ok()?;
        Some(self)
    }

    /// True when the Unix time `unix` is inside the schedule.
    pub fn contains(&self, unix: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_second(unix) else {
            return false;
        };
        let local = ts.to_zoned_datetime(self.zone.clone());
        let date = local.date();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let day = local.weekday().to_monday_zero_offset() as usize;
        let yesterday = date.yesterday().ok();
        let on = |d: jiff::civil::Date| !self.dates_off.contains(&d);
        self.spans.iter().any(|s| {
            if s.start < s.end {
                s.days[day] && (s.start..s.end).contains(&minute) && on(date)
            } else {
                // Past midnight: from `start` on the day it starts, until `end` the next day.
                (s.days[day] && minute >= s.start && on(date))
                    || (s.days[(day + 6) % 7] && minute < s.end && yesterday.is_some_and(&on))
            }
        })
    }

    /// `HH:MM` of `unix` in the schedule's zone.
    pub fn local_time(&self, unix: i64) -> String {
        match jiff::Timestamp::from_second(unix) {
            Ok(ts) => {
                let t = ts.to_zoned_datetime(self.zone.clone());
                format!("{:02}:{:02}", t.hour(), t.minute())
            }
            Err(_) => "--:--".into(),
        }
    }

    /// The next moment after `unix` (within a week and a day) when being inside changes, for
    /// "muted until 07:00".
    pub fn next_change(&self, unix: i64) -> Option<i64> {
        let now = self.contains(unix);
        let first = unix - unix.rem_euclid(60) + 60;
        (0..8 * 24 * 60)
            .map(|m| first + m * 60)
            .find(|&t| self.contains(t) != now)
    }
}

/// `"mon-fri 08:00-18:00"`.
fn span(text: &str) -> Result<Span, String> {
    let example = "write spans like \"mon-fri 08:00-18:00\", \"sat,sun 10:00-14:00\" or \"daily 22:00-06:00\"";
    let mut parts = text.split_whitespace();
    let (Some(days_text), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("`{text}`: {example}"));
    };
    let mut days = [false; 7];
    if days_text.eq_ignore_ascii_case("daily") {
        days = [true; 7];
    } else {
        for part in days_text.split(',') {
            let day = |d: &str| {
                DAYS.iter()
                    .position(|x| x.eq_ignore_ascii_case(d))
                    .ok_or_else(|| {
                        format!(
                            "`{text}`: `{d}` is not a day; use mon, tue, wed, thu, fri, sat, sun"
                        )
                    })
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days[day(part)?] = true,
            }
        }
    }
    let (a, b) = times
        .split_once('-')
        .ok_or_else(|| format!("`{text}`: {example}"))?;
    let minutes = |t: &str, end: bool| -> Result<u16, String> {
        let (h, m) = t
            .split_once(':')
            .ok_or_else(|| format!("`{text}`: `{t}` is not a time like 08:00"))?;
        let (h, m): (u16, u16) = match (h.parse(), m.parse()) {
            (Ok(h), Ok(m)) => (h, m),
            _ => return Err(format!("`{text}`: `{t}` is not a time like 08:00")),
        };
        if (h, m) == (24, 0) && end {
            return Ok(24 * 60);
        }
        if h > 23 || m > 59 {
            return Err(format!(
                "`{text}`: `{t}` is not a time of day (00:00 to 23:59)"
            ));
        }
        Ok(h * 60 + m)
    };
    let (start, end) = (minutes(a, false)?, minutes(b, true)?);
    if start == end {
        return Err(format!(
            "`{text}`: starts and ends at the same time; for a whole day write 00:00-24:00"
        ));
    }
    Ok(Span { days, start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(zone: &str, when: &[&str], off: &[&str]) -> Schedule {
        Schedule::parse(
            "s",
            &ScheduleConfig {
                time_zone: Some(zone.into()),
                when: when.iter().map(|s| s.to_string()).collect(),
                dates_off: off.iter().map(|s| s.to_string()).collect(),
            },
        )
        .unwrap()
    }

    /// Unix seconds of a UTC time `YYYY-MM-DDTHH:MM`.
    fn utc(t: &str) -> i64 {
        format!("{t}:00Z")
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    }

    #[test]
    fn business_hours_across_a_weekday_boundary_and_a_date_off() {
        let s = schedule("UTC", &["mon-fri 08:00-18:00"], &["2026-12-24"]);
        // 2026-12-04 is a Friday.
        assert!(s.contains(utc("2026-12-04T08:00")));
        assert!(s.contains(utc("2026-12-04T17:59")));
        assert!(!s.contains(utc("2026-12-04T18:00")));
        assert!(!s.contains(utc("2026-12-05T10:00")), "Saturday");
        assert!(s.contains(utc("2026-12-07T09:00")), "Monday");
        assert!(!s.contains(utc("2026-12-24T09:00")), "a date off");
        assert!(s.contains(utc("2026-12-23T09:00")));
        assert_eq!(
            s.next_change(utc("2026-12-04T17:30")),
            Some(utc("2026-12-04T18:00"))
        );
        assert_eq!(
            s.next_change(utc("2026-12-04T18:30")),
            Some(utc("2026-12-07T08:00")),
            "over the weekend"
        );
    }

    #[test]
    fn a_night_shift_belongs_to_the_day_it_starts() {
        let s = schedule("UTC", &["fri 22:00-06:00"], &["2026-12-11"]);
        assert!(s.contains(utc("2026-12-04T23:00")), "Friday night");
        assert!(
            s.contains(utc("2026-12-05T05:59")),
            "Saturday morning, Friday's shift"
        );
        assert!(!s.contains(utc("2026-12-05T06:00")));
        assert!(!s.contains(utc("2026-12-05T23:00")), "Saturday night");
        assert!(
            !s.contains(utc("2026-12-04T05:00")),
            "Thursday's night is not on"
        );
        // Friday 11th is off: its night is off, into Saturday morning too.
        assert!(!s.contains(utc("2026-12-11T23:00")));
        assert!(!s.contains(utc("2026-12-12T03:00")));
    }

    #[test]
    fn wall_clock_times_hold_across_a_change_to_summer_time() {
        // Berlin moves from UTC+1 to UTC+2 on Sunday 2026-03-29.
        let s = schedule("Europe/Berlin", &["daily 08:00-18:00"], &[]);
        assert!(!s.contains(utc("2026-03-28T06:30")), "07:30 in Berlin");
        assert!(s.contains(utc("2026-03-28T07:30")), "08:30 in Berlin");
        assert!(
            s.contains(utc("2026-03-30T06:30")),
            "08:30 in Berlin, summer time"
        );
        assert!(
            !s.contains(utc("2026-03-30T16:30")),
            "18:30 in Berlin, summer time"
        );
        assert!(
            s.contains(utc("2026-03-28T16:30")),
            "17:30 in Berlin, winter time"
        );
        // The day of the change: 02:00–03:00 does not exist; a span through it still works.
        let n = schedule("Europe/Berlin", &["sun 01:30-03:30"], &[]);
        assert!(n.contains(utc("2026-03-29T00:45")), "01:45 CET");
        assert!(n.contains(utc("2026-03-29T01:15")), "03:15 CEST");
        assert!(!n.contains(utc("2026-03-29T01:45")), "03:45 CEST");
    }

    #[test]
    fn mistakes_name_the_key_and_the_way_out() {
        let err = |when: &[&str], zone: Option<&str>, off: &[&str]| {
            Schedule::parse(
                "s",
                &ScheduleConfig {
                    time_zone: zone.map(str::to_string),
                    when: when.iter().map(|s| s.to_string()).collect(),
                    dates_off: off.iter().map(|s| s.to_string()).collect(),
                },
            )
            .unwrap_err()
        };
        let e = err(&["mon-fri 08:00-18:00"], Some("Europe/Berlinn"), &[]);
        assert_eq!(e.key, "time_zone");
        assert!(
            e.message.contains("IANA name like \"Europe/Berlin\""),
            "{e:?}"
        );
        let e = err(&["monday 08:00-18:00"], None, &[]);
        assert_eq!(e.key, "when");
        assert!(e.message.contains("`monday` is not a day"), "{e:?}");
        let e = err(&["mon-fri 8-18"], None, &[]);
        assert!(e.message.contains("`8` is not a time like 08:00"), "{e:?}");
        let e = err(&["mon 25:00-26:00"], None, &[]);
        assert!(e.message.contains("not a time of day"), "{e:?}");
        let e = err(&["mon-fri"], None, &[]);
        assert!(e.message.contains("write spans like"), "{e:?}");
        let e = err(&[], None, &[]);
        assert!(e.message.starts_with("empty"), "{e:?}");
        let e = err(&["daily 08:00-18:00"], None, &["24.12.2026"]);
        assert_eq!(e.key, "dates_off");
        // A whole day, and wrap-around weekday ranges.
        let s = schedule("UTC", &["sat-mon 00:00-24:00"], &[]);
        assert!(s.contains(utc("2026-12-07T23:59")), "Monday");
        assert!(!s.contains(utc("2026-12-08T00:00")), "Tuesday");
    }
}
