//! The statistics catalogue: what kind of value each statistic holds, so that the wire strings
//! are parsed once, into typed cells, when a snapshot is built.
//!
//! The vendor's list of statistics could not be obtained; this one is reconstructed from real
//! clients (spec §3). A statistic not listed here is still accepted: its values are read as a
//! number when they look like one, as text otherwise.

/// What a statistic's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number of things (calls, agents).
    Count,
    /// A duration in whole seconds.
    Seconds,
    /// A percentage, 0–100.
    Percent,
    /// Free text (names, ids, reasons).
    Text,
    /// An agent state (`ready`, `busy`, `after_call_work`, `not_ready`, or none).
    State,
    /// Not in the catalogue: a number if it looks like one, else text.
    Unknown,
}

/// Every statistic the catalogue knows, with its kind.
pub const CATALOGUE: &[(&str, Kind)] = &[
    ("acd_state", Kind::State),
    ("acd_next_state", Kind::State),
    ("name", Kind::Text),
    ("id", Kind::Text),
    ("login_id", Kind::Text),
    ("firstname", Kind::Text),
    ("lastname", Kind::Text),
    ("first_last_name", Kind::Text),
    ("last_first_name", Kind::Text),
    ("user_id", Kind::Text),
    ("team_id", Kind::Text),
    ("team_name", Kind::Text),
    ("extension", Kind::Text),
    ("reason", Kind::Text),
    ("active_item_media_type", Kind::Text),
    ("is_agent", Kind::Text),
    ("in_max_wait_time", Kind::Seconds),
    ("in_ewt", Kind::Seconds),
    ("in_average_speed_of_answer", Kind::Seconds),
    ("service_level_threshold_time", Kind::Seconds),
    ("state_duration", Kind::Seconds),
    ("login_time", Kind::Seconds),
    ("active_item_talk_duration", Kind::Seconds),
    ("active_item_hold_duration", Kind::Seconds),
    ("calls_average_handling_time_per_day", Kind::Seconds),
    ("agent_total_ready_time", Kind::Seconds),
    ("agent_total_busy_time", Kind::Seconds),
    ("agent_total_ACW_time", Kind::Seconds),
    ("agent_total_break_time", Kind::Seconds),
    ("service_level", Kind::Percent),
    ("service_level_target", Kind::Percent),
    ("in_calls_abandoned_in_queue_ratio_per_day", Kind::Percent),
    (
        "in_calls_short_abandoned_in_queue_ratio_per_day",
        Kind::Percent,
    ),
    ("in_calls_abandoned_percent_per_day", Kind::Percent),
    ("in_calls_waiting", Kind::Count),
    ("in_calls_queued_per_day", Kind::Count),
    ("in_calls_received_per_day", Kind::Count),
    ("in_calls_answered_per_day", Kind::Count),
    ("in_calls_abandoned_in_queue_per_day", Kind::Count),
    ("in_calls_short_abandoned_in_queue_per_day", Kind::Count),
    ("in_calls_abandoned_total_per_day", Kind::Count),
    ("out_calls_answered_per_day", Kind::Count),
    ("out_calls_handled_per_day", Kind::Count),
    ("in_calls_handled_per_day", Kind::Count),
    ("calls_dispositions_per_day", Kind::Count),
    ("agents_logged", Kind::Count),
    ("agents_ready", Kind::Count),
    ("agents_busy", Kind::Count),
    ("agents_not_ready", Kind::Count),
    ("agents_acw", Kind::Count),
];

/// The kind of `stat` ([`Kind::Unknown`] when the catalogue does not list it).
pub fn kind_of(stat: &str) -> Kind {
    // `calls_dispositions_per_day:Product sold` counts like its statistic.
    let stat = stat.split_once(':').map_or(stat, |(s, _)| s);
    CATALOGUE
        .iter()
        .find(|(name, _)| *name == stat)
        .map_or(Kind::Unknown, |(_, kind)| *kind)
}

/// True when the catalogue lists `stat`.
pub fn is_known(stat: &str) -> bool {
    CATALOGUE.iter().any(|(name, _)| *name == stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_every_listed_statistic() {
        for (name, kind) in CATALOGUE {
            assert_eq!(kind_of(name), *kind, "{name}");
        }
        assert!(CATALOGUE.len() >= 50);
        assert_eq!(kind_of("in_ewt_x"), Kind::Unknown);
    }
}
