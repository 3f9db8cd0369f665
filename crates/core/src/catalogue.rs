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

/// The kind of `stat`.
pub fn kind_of(stat: &str) -> Kind {
    match stat {
        "acd_state" | "acd_next_state" => Kind::State,
        "name"
        | "id"
        | "login_id"
        | "firstname"
        | "lastname"
        | "first_last_name"
        | "last_first_name"
        | "user_id"
        | "team_id"
        | "team_name"
        | "extension"
        | "reason"
        | "active_item_media_type"
        | "is_agent" => Kind::Text,
        "in_max_wait_time"
        | "in_ewt"
        | "in_average_speed_of_answer"
        | "service_level_threshold_time"
        | "state_duration"
        | "login_time"
        | "active_item_talk_duration"
        | "active_item_hold_duration"
        | "calls_average_handling_time_per_day"
        | "agent_total_ready_time"
        | "agent_total_busy_time"
        | "agent_total_ACW_time"
        | "agent_total_break_time" => Kind::Seconds,
        "service_level"
        | "service_level_target"
        | "in_calls_abandoned_in_queue_ratio_per_day"
        | "in_calls_short_abandoned_in_queue_ratio_per_day"
        | "in_calls_abandoned_percent_per_day" => Kind::Percent,
        "in_calls_waiting"
        | "in_calls_queued_per_day"
        | "in_calls_received_per_day"
        | "in_calls_answered_per_day"
        | "in_calls_abandoned_in_queue_per_day"
        | "in_calls_short_abandoned_in_queue_per_day"
        | "in_calls_abandoned_total_per_day"
        | "out_calls_answered_per_day"
        | "out_calls_handled_per_day"
        | "in_calls_handled_per_day"
        | "calls_dispositions_per_day"
        | "agents_logged"
        | "agents_ready"
        | "agents_busy"
        | "agents_not_ready"
        | "agents_acw" => Kind::Count,
        _ => Kind::Unknown,
    }
}

/// Every statistic the catalogue knows, for help texts and completion.
pub const KNOWN: &[&str] = &[
    "acd_state",
    "acd_next_state",
    "name",
    "id",
    "login_id",
    "firstname",
    "lastname",
    "first_last_name",
    "last_first_name",
    "user_id",
    "team_id",
    "team_name",
    "extension",
    "reason",
    "active_item_media_type",
    "is_agent",
    "in_max_wait_time",
    "in_ewt",
    "in_average_speed_of_answer",
    "service_level_threshold_time",
    "state_duration",
    "login_time",
    "active_item_talk_duration",
    "active_item_hold_duration",
    "calls_average_handling_time_per_day",
    "agent_total_ready_time",
    "agent_total_busy_time",
    "agent_total_ACW_time",
    "agent_total_break_time",
    "service_level",
    "service_level_target",
    "in_calls_abandoned_in_queue_ratio_per_day",
    "in_calls_short_abandoned_in_queue_ratio_per_day",
    "in_calls_abandoned_percent_per_day",
    "in_calls_waiting",
    "in_calls_queued_per_day",
    "in_calls_received_per_day",
    "in_calls_answered_per_day",
    "in_calls_abandoned_in_queue_per_day",
    "in_calls_short_abandoned_in_queue_per_day",
    "in_calls_abandoned_total_per_day",
    "out_calls_answered_per_day",
    "out_calls_handled_per_day",
    "in_calls_handled_per_day",
    "calls_dispositions_per_day",
    "agents_logged",
    "agents_ready",
    "agents_busy",
    "agents_not_ready",
    "agents_acw",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_statistic_has_a_kind() {
        for s in KNOWN {
            assert_ne!(kind_of(s), Kind::Unknown, "{s}");
        }
        assert_eq!(kind_of("in_ewt_x"), Kind::Unknown);
    }
}
