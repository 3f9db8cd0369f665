//! Statistic values, computed from the model and written the way the server writes them:
//! every value a string, `""` for "no value", durations in whole seconds, percentages on a
//! 0–100 scale with two decimals.

use crate::model::{AgentState, Model};

/// Statistics a service grid column may ask for.
pub const SERVICE_STATS: &[&str] = &[
    "name",
    "id",
    "in_calls_waiting",
    "in_max_wait_time",
    "in_ewt",
    "service_level",
    "service_level_target",
    "service_level_threshold_time",
    "in_calls_received_per_day",
    "in_calls_queued_per_day",
    "in_calls_answered_per_day",
    "in_calls_abandoned_in_queue_per_day",
    "in_calls_short_abandoned_in_queue_per_day",
    "in_calls_abandoned_total_per_day",
    "in_calls_abandoned_in_queue_ratio_per_day",
    "in_calls_short_abandoned_in_queue_ratio_per_day",
    "in_calls_abandoned_percent_per_day",
    "in_average_speed_of_answer",
    "agents_busy",
    "agents_logged",
    "agents_ready",
    "agents_not_ready",
    "agents_acw",
    "out_calls_handled_per_day",
];

/// Statistics a totals list may ask for (service-level sums and extremes).
pub const TOTAL_STATS: &[&str] = &[
    "in_calls_waiting",
    "in_max_wait_time",
    "in_ewt",
    "in_calls_queued_per_day",
    "in_calls_received_per_day",
    "in_calls_answered_per_day",
    "in_calls_abandoned_in_queue_per_day",
    "in_calls_abandoned_in_queue_ratio_per_day",
    "in_calls_short_abandoned_in_queue_per_day",
    "in_calls_short_abandoned_in_queue_ratio_per_day",
    "in_calls_abandoned_total_per_day",
    "in_calls_abandoned_percent_per_day",
    "service_level",
    "service_level_threshold_time",
    "out_calls_answered_per_day",
    "agents_logged",
    "agents_ready",
    "agents_busy",
    "agents_not_ready",
    "agents_acw",
    "in_average_speed_of_answer",
];

/// Statistics an agent grid column may ask for.
pub const AGENT_STATS: &[&str] = &[
    "login_id",
    "firstname",
    "lastname",
    "first_last_name",
    "last_first_name",
    "user_id",
    "team_id",
    "team_name",
    "is_agent",
    "extension",
    "acd_state",
    "acd_next_state",
    "reason",
    "state_duration",
    "login_time",
    "active_item_talk_duration",
    "active_item_hold_duration",
    "active_item_media_type",
    "in_calls_handled_per_day",
    "out_calls_handled_per_day",
    "calls_average_handling_time_per_day",
    "agent_total_ready_time",
    "agent_total_busy_time",
    "agent_total_ACW_time",
    "agent_total_break_time",
    "calls_dispositions_per_day",
];

/// The statistics whose values are percentages (written 0–100, with two decimals).
pub const PERCENT_STATS: &[&str] = &[
    "service_level",
    "service_level_target",
    "in_calls_abandoned_in_queue_ratio_per_day",
    "in_calls_short_abandoned_in_queue_ratio_per_day",
    "in_calls_abandoned_percent_per_day",
];

fn pct(num: u64, den: u64) -> String {
    if den == 0 {
        String::new()
    } else {
        format!("{:.2}", num as f64 * 100.0 / den as f64)
    }
}

/// Counters summed over a set of services.
#[derive(Default)]
struct Sums {
    waiting: u64,
    max_wait: u64,
    ewt: u64,
    received: u64,
    queued: u64,
    answered: u64,
    in_sl: u64,
    abandoned: u64,
    short: u64,
    answer_wait: u64,
    out: u64,
    threshold: u64,
}

fn sums(m: &Model, services: &[usize]) -> Sums {
    let mut t = Sums::default();
    for &si in services {
        let s = &m.services[si];
        t.waiting += s.queue.len() as u64;
        t.max_wait = t.max_wait.max(m.max_wait(si));
        t.ewt = t.ewt.max(m.ewt(si));
        t.received += s.received;
        t.queued += s.queued;
        t.answered += s.answered;
        t.in_sl += s.answered_in_sl;
        t.abandoned += s.abandoned;
        t.short += s.short_abandoned;
        t.answer_wait += s.total_answer_wait;
        t.out += s.out_handled;
        t.threshold = t.threshold.max(s.sl_threshold);
    }
    t
}

fn sum_value(t: &Sums, stat: &str) -> Option<String> {
    Some(match stat {
        "in_calls_waiting" => t.waiting.to_string(),
        "in_max_wait_time" => t.max_wait.to_string(),
        "in_ewt" => t.ewt.to_string(),
        "in_calls_received_per_day" => t.received.to_string(),
        "in_calls_queued_per_day" => t.queued.to_string(),
        "in_calls_answered_per_day" => t.answered.to_string(),
        "in_calls_abandoned_in_queue_per_day" => t.abandoned.to_string(),
        "in_calls_short_abandoned_in_queue_per_day" => t.short.to_string(),
        "in_calls_abandoned_total_per_day" => (t.abandoned + t.short).to_string(),
        "in_calls_abandoned_in_queue_ratio_per_day" => pct(t.abandoned, t.queued),
        "in_calls_short_abandoned_in_queue_ratio_per_day" => pct(t.short, t.queued),
        "in_calls_abandoned_percent_per_day" => pct(t.abandoned + t.short, t.received),
        "service_level" => pct(t.in_sl, t.answered + t.abandoned),
        "service_level_threshold_time" => t.threshold.to_string(),
        "in_average_speed_of_answer" => t
            .answer_wait
            .checked_div(t.answered)
            .map_or(String::new(), |v| v.to_string()),
        "out_calls_answered_per_day" | "out_calls_handled_per_day" => t.out.to_string(),
        _ => return None,
    })
}

fn agent_count<'a>(
    agents: impl Iterator<Item = &'a crate::model::Agent>,
    stat: &str,
) -> Option<u64> {
    let wanted: &dyn Fn(AgentState) -> bool = match stat {
        "agents_logged" => &|s| s != AgentState::LoggedOut,
        "agents_ready" => &|s| s == AgentState::Ready,
        "agents_busy" => &|s| s == AgentState::Busy,
        "agents_not_ready" => &|s| s == AgentState::NotReady,
        "agents_acw" => &|s| s == AgentState::AfterCallWork,
        _ => return None,
    };
    Some(agents.filter(|a| wanted(a.state)).count() as u64)
}

/// A service grid cell. `None` for a statistic this grid does not know.
pub fn service_value(m: &Model, si: usize, stat: &str) -> Option<String> {
    let s = &m.services[si];
    match stat {
        "name" => Some(s.name.clone()),
        "id" => Some(s.id.clone()),
        "service_level_target" => Some(s.sl_target.to_string()),
        _ => agent_count(m.agents_on_service(si), stat)
            .map(|n| n.to_string())
            .or_else(|| sum_value(&sums(m, &[si]), stat)),
    }
}

/// A totals value over `services`. `None` for a statistic totals do not know.
pub fn total_value(m: &Model, services: &[usize], stat: &str) -> Option<String> {
    if !TOTAL_STATS.contains(&stat) {
        return None;
    }
    let on_any = m
        .agents
        .iter()
        .filter(|a| a.skills.iter().any(|s| services.contains(s)));
    agent_count(on_any, stat)
        .map(|n| n.to_string())
        .or_else(|| sum_value(&sums(m, services), stat))
}

/// An agent grid cell. `None` for a statistic this grid does not know.
pub fn agent_value(m: &Model, ai: usize, stat: &str, dispositions: &[String]) -> Option<String> {
    let a = &m.agents[ai];
    let logged = a.state != AgentState::LoggedOut;
    let since = |t: u64| {
        if logged {
            (m.now - t).to_string()
        } else {
            String::new()
        }
    };
    Some(match stat {
        "login_id" => a.login_id.clone(),
        "firstname" => a.first.clone(),
        "lastname" => a.last.clone(),
        "first_last_name" => a.full_name(),
        "last_first_name" => format!("{} {}", a.last, a.first),
        "user_id" => a.id.clone(),
        "team_id" => m.teams[a.team].id.clone(),
        "team_name" => m.teams[a.team].name.clone(),
        "is_agent" => "1".into(),
        "extension" => a.extension.clone(),
        "acd_state" => a.state.as_str().into(),
        "acd_next_state" => String::new(),
        "reason" => a.reason.clone(),
        "state_duration" => since(a.state_since),
        "login_time" => a.login_since.map_or(String::new(), since),
        "active_item_talk_duration" => a
            .call
            .as_ref()
            .map_or(String::new(), |c| (m.now - c.started).to_string()),
        "active_item_hold_duration" => a
            .call
            .as_ref()
            .map_or(String::new(), |c| c.hold.to_string()),
        "active_item_media_type" => a.call.as_ref().map_or(String::new(), |c| {
            if m.services[c.service]
                .name
                .to_ascii_lowercase()
                .contains("chat")
            {
                "chat".into()
            } else {
                "voice".into()
            }
        }),
        "in_calls_handled_per_day" => a.handled_in.to_string(),
        "out_calls_handled_per_day" => a.handled_out.to_string(),
        "calls_average_handling_time_per_day" => a
            .handle_time_total
            .checked_div(a.handled_in)
            .map_or(String::new(), |v| v.to_string()),
        "agent_total_ready_time" => a.ready_time.to_string(),
        "agent_total_busy_time" => a.busy_time.to_string(),
        "agent_total_ACW_time" => a.acw_time.to_string(),
        "agent_total_break_time" => a.break_time.to_string(),
        "calls_dispositions_per_day" => dispositions
            .iter()
            .map(|d| a.dispositions.get(d).copied().unwrap_or(0))
            .sum::<u64>()
            .to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    #[test]
    fn every_listed_statistic_has_a_value() {
        let mut m = Model::new(&ModelConfig::default());
        for _ in 0..600 {
            m.step();
        }
        let all: Vec<usize> = (0..m.services.len()).collect();
        for s in SERVICE_STATS {
            assert!(service_value(&m, 0, s).is_some(), "service stat {s}");
        }
        for s in TOTAL_STATS {
            assert!(total_value(&m, &all, s).is_some(), "total stat {s}");
        }
        for s in AGENT_STATS {
            assert!(agent_value(&m, 0, s, &[]).is_some(), "agent stat {s}");
        }
        assert!(service_value(&m, 0, "in_ewt_x").is_none());
    }

    #[test]
    fn totals_add_up_over_services() {
        let mut m = Model::new(&ModelConfig::default());
        for _ in 0..900 {
            m.step();
        }
        let all: Vec<usize> = (0..m.services.len()).collect();
        let total: u64 = total_value(&m, &all, "in_calls_received_per_day")
            .unwrap()
            .parse()
            .unwrap();
        let per: u64 = all
            .iter()
            .map(|&i| {
                service_value(&m, i, "in_calls_received_per_day")
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(total, per);
    }
}
