//! The synthetic tenant the rules benchmark and the rules' differential test run over: 5,000
//! agents × 500 services × 200 chat messages, the same for the same seed.

#![allow(dead_code)]

use lookout_keeper::{Grid, Snapshot, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub const AGENTS: usize = 5_000;
pub const SERVICES: usize = 500;
pub const CHAT: usize = 200;

pub fn text(s: impl AsRef<str>) -> Value {
    Value::Text(s.as_ref().into())
}

/// A count that is mostly in `usual` and, with chance `p`, in `rare` (the few stuck agents,
/// the long waits).
fn skewed(
    rng: &mut SmallRng,
    p: f64,
    rare: std::ops::Range<i64>,
    usual: std::ops::Range<i64>,
) -> Value {
    Value::Int(if rng.random_bool(p) {
        rng.random_range(rare)
    } else {
        rng.random_range(usual)
    })
}

pub fn synthetic(seed: u64, waiting_total: i64) -> Snapshot {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut s = Snapshot::default();
    s.taken_at = 1_700_000_000;
    let totals: [(&str, Value); 8] = [
        ("in_calls_waiting", Value::Int(waiting_total)),
        ("in_max_wait_time", Value::Int(300)),
        ("service_level", Value::Float(76.5)),
        ("in_calls_abandoned_in_queue_per_day", Value::Int(120)),
        ("in_calls_received_per_day", Value::Int(1500)),
        ("agents_logged", Value::Int(4000)),
        ("agents_ready", Value::Int(900)),
        ("in_ewt", Value::Int(40)),
    ];
    for (k, v) in totals {
        s.totals.insert(k.into(), v);
    }
    for i in s.totals.len()..50 {
        s.totals.insert(format!("filler_{i}"), Value::Int(i as i64));
    }
    let service_cols = [
        "name",
        "id",
        "in_calls_waiting",
        "agents_ready",
        "in_max_wait_time",
        "service_level",
        "service_level_target",
        "in_average_speed_of_answer",
        "in_calls_received_per_day",
        "in_calls_abandoned_in_queue_per_day",
        "agents_busy",
        "agents_logged",
        "agents_not_ready",
        "agents_acw",
        "in_ewt",
    ];
    s.services = Grid {
        columns: service_cols.map(String::from).to_vec(),
        rows: (0..SERVICES)
            .map(|i| {
                let name = if i % 50 == 0 {
                    format!("VIP Service {i:03}")
                } else {
                    format!("Service {i:03}")
                };
                vec![
                    text(name),
                    text(format!("svc-{i}")),
                    Value::Int(rng.random_range(0..8)),
                    Value::Int(if rng.random_bool(0.03) {
                        0
                    } else {
                        rng.random_range(1..10)
                    }),
                    skewed(&mut rng, 0.05, 60..400, 0..60),
                    Value::Float(if rng.random_bool(0.1) {
                        rng.random_range(50.0..80.0)
                    } else {
                        rng.random_range(80.0..100.0)
                    }),
                    Value::Float(80.0),
                    skewed(&mut rng, 0.05, 60..120, 0..60),
                    Value::Int(rng.random_range(10..500)),
                    Value::Int(rng.random_range(0..40)),
                    Value::Int(rng.random_range(0..10)),
                    Value::Int(rng.random_range(0..20)),
                    Value::Int(rng.random_range(0..5)),
                    Value::Int(rng.random_range(0..5)),
                    Value::Int(rng.random_range(0..100)),
                ]
            })
            .collect(),
    };
    let agent_cols = [
        "login_id",
        "first_last_name",
        "team_name",
        "acd_state",
        "reason",
        "state_duration",
        "active_item_talk_duration",
        "in_calls_handled_per_day",
        "extension",
        "login_time",
        "agent_total_break_time",
        "team_id",
    ];
    let states = ["ready", "busy", "after_call_work", "not_ready"];
    s.agents = Grid {
        columns: agent_cols.map(String::from).to_vec(),
        rows: (0..AGENTS)
            .map(|i| {
                let state = if rng.random_bool(0.1) {
                    Value::None
                } else {
                    text(states[rng.random_range(0..states.len())])
                };
                vec![
                    text(format!("agent{i:04}")),
                    text(format!("Agent Number{i}")),
                    text(format!("Team {:02}", i % 100)),
                    state,
                    if rng.random_bool(0.3) {
                        text("Break")
                    } else {
                        Value::None
                    },
                    // Most agents are a few minutes into their state; a few are stuck.
                    skewed(&mut rng, 0.02, 900..3600, 0..600),
                    skewed(&mut rng, 0.01, 1200..2400, 0..900),
                    Value::Int(rng.random_range(0..60)),
                    text(format!("{}", 1000 + i)),
                    Value::Int(rng.random_range(0..30000)),
                    Value::Int(rng.random_range(0..3600)),
                    text(format!("team-{}", i % 100)),
                ]
            })
            .collect(),
    };
    s.chat = (0..CHAT)
        .map(|i| lookout_keeper::ChatMessage {
            id: format!("m{i}"),
            login_id: format!("agent{:04}", i % 30),
            first_name: "Agent".into(),
            last_name: format!("{i}"),
            send_time: Some(1_700_000_000 - i as i64),
            is_urgent: i % 20 == 0,
            content: if i % 17 == 0 {
                format!("message {i}: I need a supervisor please")
            } else {
                format!("message {i}: all good here, carrying on with the queue")
            },
        })
        .collect();
    for i in 0..5 {
        s.availability.insert(format!("Service {i:03}"), i % 2 == 0);
    }
    s
}
