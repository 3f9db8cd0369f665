//! The windows' and the tray's view of the engine: built here, in the app, from the pipeline's
//! typed state ([`PipelineState`]). The engine knows nothing of windows; this module is the one
//! place that turns its state into what a person sees (services with trends, alerts with their
//! quiet reasons as words, the connection as one of a few states).
//!
//! These structs are what the windows receive: their TypeScript declarations are generated
//! from them (`ui/types/`), and units are in the field names.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use lookout_alerting::lifecycle::State;
use lookout_alerting::notify::desktop::runbook_link;
use lookout_alerting::policy::{Acknowledgement, Quiet};
use lookout_alerting::{ActiveAlert, Severity};
use lookout_keeper::{ConnectionStatus, Snapshot};
use lookout_pipeline::PipelineState;
use serde::Serialize;

/// The connection as the windows and the tray show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// The app has just started: no engine has said anything yet.
    #[default]
    Starting,
    Connecting,
    Authenticating,
    Subscribing,
    WaitingForData,
    Live,
    Reconnecting,
    Failed,
    /// No engine runs (no configuration, no secret, a rules folder it cannot read).
    NotWatching,
}

impl Connection {
    pub fn of(s: &ConnectionStatus) -> Connection {
        match s {
            ConnectionStatus::Connecting => Connection::Connecting,
            ConnectionStatus::Authenticating => Connection::Authenticating,
            ConnectionStatus::Subscribing => Connection::Subscribing,
            ConnectionStatus::WaitingForData { .. } => Connection::WaitingForData,
            ConnectionStatus::Live { .. } => Connection::Live,
            ConnectionStatus::Reconnecting { .. } => Connection::Reconnecting,
            ConnectionStatus::Failed { .. } => Connection::Failed,
        }
    }
}

/// Everything the overview shows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Overview {
    pub connection: Connection,
    /// The connection in words ("live, data 2 s old", "Not watching: …").
    pub detail: String,
    /// When the latest data was taken (Unix seconds).
    pub data_at_unix: Option<i64>,
    pub alerts: Vec<AlertView>,
    pub services: Vec<ServiceRow>,
    pub rules: Vec<RuleView>,
    /// Notifications are paused until then (Unix seconds; `null`: not paused; the largest
    /// number: until resumed).
    pub paused_until_unix: Option<i64>,
    /// Urgent chat messages of the latest data, newest first.
    pub urgent_chat: Vec<ChatView>,
    /// The latest history entries, newest first.
    pub history: Vec<HistoryView>,
    /// How long the Snooze button silences an alert.
    pub snooze_minutes: i64,
}

/// Which alert a window acts on (the argument of `acknowledge` and `snooze`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AlertRef {
    pub rule: String,
    pub key: String,
}

/// An alert as the overview shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AlertView {
    pub rule: String,
    pub rule_name: String,
    pub key: String,
    pub severity: Severity,
    pub state: State,
    pub title: String,
    pub body: String,
    /// Firing since (or pending since), Unix seconds.
    pub since_unix: i64,
    /// Why it makes no noise, in words, when it does not.
    pub quiet: Option<String>,
    /// The connection's own "no data" alert.
    pub no_data: bool,
    /// Whose it is, when the app reads several sources (a tenant, a team hub).
    pub source: Option<String>,
    /// What to do about it, from its rule: text, or a link the app opens.
    pub runbook: Option<String>,
    /// The runbook is a web link (an "Open runbook" button opens it).
    pub runbook_is_link: bool,
}

impl AlertView {
    /// The view of `a` at `now` (Unix seconds).
    fn of(a: &ActiveAlert, now: i64) -> AlertView {
        AlertView {
            rule: a.alert.rule.clone(),
            rule_name: a.alert.rule_name.clone(),
            key: a.alert.key.clone(),
            severity: a.alert.severity,
            state: a.alert.state,
            title: a.alert.title.clone(),
            body: a.alert.body.clone(),
            since_unix: a.since(),
            quiet: a.quiet.as_ref().map(|q| match (q, &a.acknowledged) {
                // In team mode, who did it and when.
                (Quiet::Acknowledged, Some(Acknowledgement { by: Some(by), at })) => format!(
                    "acknowledged by {by}, {} ago",
                    lookout_keeper::fmt_dur((now - at).max(0))
                ),
                (q, _) => q.to_string(),
            }),
            no_data: a.is_no_data(),
            source: a
                .alert
                .labels
                .get(lookout_pipeline::sources::SOURCE_LABEL)
                .cloned(),
            runbook: a.alert.runbook.clone(),
            runbook_is_link: a.alert.runbook.as_deref().and_then(runbook_link).is_some(),
        }
    }

    /// Firing and not silenced: what makes noise.
    pub fn loud(&self) -> bool {
        self.state == State::Firing && self.quiet.is_none()
    }
}

/// One rule's latest run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RuleView {
    pub id: String,
    pub name: String,
    /// The error of the latest run, with file:line:col.
    pub error: Option<String>,
    pub elapsed_us: u64,
    pub alerts: usize,
    /// The schedule the rule is outside of now (`RULE.active`): not evaluated.
    pub inactive: Option<String>,
    /// What it would fire now: the titles of its alerts, pending or firing (at most 5).
    pub would_fire: Vec<String>,
}

/// An urgent chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChatView {
    pub login_id: String,
    pub first_name: String,
    pub last_name: String,
    pub send_time_unix: Option<i64>,
    pub content: String,
}

/// One line of history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HistoryView {
    pub at_unix: i64,
    pub rule: String,
    pub key: String,
    /// `firing`, `resolved`, `acknowledge`, `snooze`, …
    pub what: String,
    pub title: String,
}

/// One service at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServiceRow {
    pub name: String,
    /// Calls waiting, a sample a minute, oldest first (up to [`TREND_MINUTES`]).
    pub trend: Vec<i64>,
    pub waiting: Option<i64>,
    pub longest_wait_secs: Option<i64>,
    pub ready: Option<i64>,
    pub service_level_pct: Option<f64>,
    pub available: Option<bool>,
}

/// The service statistics the overview reads; each is in the overview's subscription
/// (`Plan::overview()`, checked by a test).
const SERVICE_COLUMNS: [&str; 5] = [
    "name",
    "in_calls_waiting",
    "in_max_wait_time",
    "agents_ready",
    "service_level",
];

impl ServiceRow {
    fn rows(snap: &Snapshot) -> Vec<ServiceRow> {
        let [name, waiting, longest, ready, level] = SERVICE_COLUMNS;
        let g = &snap.services;
        (0..g.len())
            .map(|r| {
                let name = g
                    .get(r, name)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                ServiceRow {
                    waiting: g.get(r, waiting).and_then(|v| v.as_i64()),
                    longest_wait_secs: g.get(r, longest).and_then(|v| v.as_i64()),
                    ready: g.get(r, ready).and_then(|v| v.as_i64()),
                    service_level_pct: g.get(r, level).and_then(|v| v.as_f64()),
                    available: snap.availability.get(&name).copied(),
                    trend: Vec::new(),
                    name,
                }
            })
            .collect()
    }
}

/// Minutes of trend kept.
pub const TREND_MINUTES: usize = 30;

/// Calls waiting per service, one sample a minute, for the overview's sparklines.
#[derive(Debug, Clone, Default)]
struct Trends {
    minute: i64,
    waiting: BTreeMap<String, VecDeque<i64>>,
}

impl Trends {
    /// Take the rows of data that arrived at `taken_at`: one sample per service per minute
    /// (the latest of the minute), and give each row its trend.
    fn add(&mut self, taken_at: i64, rows: &mut [ServiceRow]) {
        let minute = taken_at.div_euclid(60);
        let new_minute = minute != self.minute;
        self.minute = minute;
        for row in rows {
            let series = self.waiting.entry(row.name.clone()).or_default();
            let v = row.waiting.unwrap_or(0);
            if new_minute || series.is_empty() {
                series.push_back(v);
                while series.len() > TREND_MINUTES {
                    series.pop_front();
                }
            } else if let Some(last) = series.back_mut() {
                *last = v;
            }
            row.trend = series.iter().copied().collect();
        }
    }
}

/// Builds [`Overview`]s from the pipeline's states, keeping what spans states (the trends,
/// the rows of the latest snapshot, built once per snapshot).
#[derive(Default)]
pub struct ViewModel {
    trends: Trends,
    /// The snapshot the rows were built from, and the rows.
    rows_of: Option<Arc<Snapshot>>,
    rows: Vec<ServiceRow>,
    chat: Vec<ChatView>,
}

/// Urgent chat messages shown at most.
const URGENT_CHAT_SHOWN: usize = 20;

impl ViewModel {
    /// The overview of `state` at `now`.
    pub fn overview(&mut self, state: &PipelineState, now: std::time::SystemTime) -> Overview {
        let now_unix = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if let Some(snap) = &state.snapshot
            && !self.rows_of.as_ref().is_some_and(|s| Arc::ptr_eq(s, snap))
        {
            let mut rows = ServiceRow::rows(snap);
            self.trends.add(snap.taken_at, &mut rows);
            self.rows = rows;
            self.chat = snap
                .chat
                .iter()
                .filter(|m| m.is_urgent)
                .take(URGENT_CHAT_SHOWN)
                .map(|m| ChatView {
                    login_id: m.login_id.clone(),
                    first_name: m.first_name.clone(),
                    last_name: m.last_name.clone(),
                    send_time_unix: m.send_time,
                    content: m.content.clone(),
                })
                .collect();
            self.rows_of = Some(snap.clone());
        }
        Overview {
            connection: Connection::of(&state.connection),
            detail: state.connection.describe(now),
            data_at_unix: state.snapshot.as_ref().map(|s| s.taken_at),
            alerts: state
                .alerts
                .iter()
                .map(|a| AlertView::of(a, now_unix))
                .collect(),
            services: self.rows.clone(),
            rules: state
                .rules
                .iter()
                .map(|r| RuleView {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    error: r.error.as_ref().map(|d| d.to_string()),
                    elapsed_us: r.elapsed.as_micros() as u64,
                    alerts: r.alerts,
                    inactive: r.inactive.clone(),
                    would_fire: state
                        .alerts
                        .iter()
                        .filter(|a| a.alert.rule == r.id)
                        .take(5)
                        .map(|a| a.alert.title.clone())
                        .collect(),
                })
                .collect(),
            paused_until_unix: state.paused_until,
            snooze_minutes: SNOOZE_MINUTES,
            urgent_chat: self.chat.clone(),
            history: state
                .history
                .iter()
                .map(|h| HistoryView {
                    at_unix: h.at,
                    rule: h.rule.clone(),
                    key: h.key.clone(),
                    what: h.what.clone(),
                    title: h.title.clone(),
                })
                .collect(),
        }
    }
}

/// How long the Snooze action silences an alert, in minutes.
const SNOOZE_MINUTES: i64 = lookout_alerting::policy::SNOOZE_SECS / 60;

impl Default for Overview {
    fn default() -> Self {
        Overview {
            connection: Connection::default(),
            detail: String::new(),
            data_at_unix: None,
            alerts: Vec::new(),
            services: Vec::new(),
            rules: Vec::new(),
            paused_until_unix: None,
            urgent_chat: Vec::new(),
            history: Vec::new(),
            snooze_minutes: SNOOZE_MINUTES,
        }
    }
}

/// The overview while nothing is watched, and why.
pub fn not_watching(reason: &str) -> Overview {
    Overview {
        connection: Connection::NotWatching,
        detail: format!("Not watching: {reason}"),
        ..Overview::default()
    }
}

/// One agent as the agents view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AgentRow {
    pub login_id: String,
    pub name: String,
    pub team: String,
    /// `not_ready`, `after_call_work`, `busy`, `ready`, or `logged_out`.
    pub state: String,
    /// Why not ready, when the tenant says.
    pub reason: Option<String>,
    /// How long in this state.
    pub state_secs: Option<i64>,
}

/// How many agents are in each state (of the team shown).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AgentCounts {
    pub not_ready: usize,
    pub after_call_work: usize,
    pub busy: usize,
    pub ready: usize,
    pub logged_out: usize,
}

/// A page of the agents view: the rows from `offset` of those that match, sorted by what needs
/// attention (the longest not ready first, then the longest in after-call work, busy, ready,
/// logged out). Only the rows a window shows are sent, so 5,000 agents cost a page, not a grid.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AgentsPage {
    /// Agents that match the filter.
    pub total: usize,
    pub offset: usize,
    pub rows: Vec<AgentRow>,
    pub counts: AgentCounts,
    /// Every team of the data, for the filter.
    pub teams: Vec<String>,
    /// Every service of the data, for the filter.
    pub services: Vec<String>,
    /// The service filter is set, but the data does not list that service's agents yet (they
    /// are asked for with the next subscription; the rows are then unfiltered by service).
    pub service_pending: bool,
    /// When the data was taken (Unix seconds).
    pub data_at_unix: Option<i64>,
}

/// The most rows one page may ask for.
pub const MAX_AGENTS_PAGE: usize = 500;

/// What the agents view is narrowed to: a team and a service (each `None` for all).
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentFilter<'a> {
    pub team: Option<&'a str>,
    pub service: Option<&'a str>,
}

/// The agents of `snap` that pass `filter`, rows `offset..offset + limit`.
pub fn agents_page(
    snap: Option<&Snapshot>,
    filter: AgentFilter<'_>,
    offset: usize,
    limit: usize,
) -> AgentsPage {
    let AgentFilter { team, service } = filter;
    let Some(snap) = snap else {
        return AgentsPage::default();
    };
    let g = &snap.agents;
    let col = |name: &str| g.column(name);
    let (login, name, team_col, state, reason, dur) = (
        col("login_id"),
        col("first_last_name"),
        col("team_name"),
        col("acd_state"),
        col("reason"),
        col("state_duration"),
    );
    // A cell's text, borrowed (only the page's rows are copied out).
    fn text(row: &[lookout_keeper::Value], c: Option<usize>) -> Option<&str> {
        match c.and_then(|c| row.get(c)) {
            Some(lookout_keeper::Value::Text(t)) if !t.is_empty() => Some(t),
            _ => None,
        }
    }
    fn state_in(row: &[lookout_keeper::Value], c: Option<usize>) -> &str {
        text(row, c).unwrap_or("logged_out")
    }
    let secs =
        |row: &[lookout_keeper::Value]| dur.and_then(|c| row.get(c)).and_then(|v| v.as_i64());
    let mut teams: Vec<String> = g
        .rows
        .iter()
        .filter_map(|r| text(r, team_col))
        .map(str::to_string)
        .collect();
    teams.sort();
    teams.dedup();
    let names = snap.services.column("name");
    let mut services: Vec<String> = snap
        .services
        .rows
        .iter()
        .filter_map(|r| text(r, names))
        .map(str::to_string)
        .collect();
    services.sort();
    services.dedup();
    // The service's agents, when the data lists them (sorted login ids).
    let members = service.and_then(|s| snap.members.get(s));
    let service_pending = service.is_some() && members.is_none();
    let mut picked: Vec<&Vec<lookout_keeper::Value>> = g
        .rows
        .iter()
        .filter(|r| team.is_none_or(|t| text(r, team_col) == Some(t)))
        .filter(|r| {
            members.is_none_or(|m| {
                text(r, login).is_some_and(|l| m.binary_search_by(|x| x.as_str().cmp(l)).is_ok())
            })
        })
        .collect();
    let mut counts = AgentCounts::default();
    for r in &picked {
        match state_in(r, state) {
            "not_ready" => counts.not_ready += 1,
            "after_call_work" => counts.after_call_work += 1,
            "busy" => counts.busy += 1,
            "ready" => counts.ready += 1,
            _ => counts.logged_out += 1,
        }
    }
    let rank = |s: &str| match s {
        "not_ready" => 0,
        "after_call_work" => 1,
        "busy" => 2,
        "ready" => 3,
        _ => 4,
    };
    picked.sort_by(|a, b| {
        rank(state_in(a, state))
            .cmp(&rank(state_in(b, state)))
            .then(secs(b).unwrap_or(0).cmp(&secs(a).unwrap_or(0)))
            .then(text(a, name).unwrap_or("").cmp(text(b, name).unwrap_or("")))
    });
    let total = picked.len();
    let offset = offset.min(total);
    let rows = picked
        .into_iter()
        .skip(offset)
        .take(limit.min(MAX_AGENTS_PAGE))
        .map(|r| {
            let state = state_in(r, state);
            AgentRow {
                login_id: text(r, login).unwrap_or_default().to_string(),
                name: text(r, name).unwrap_or_default().to_string(),
                team: text(r, team_col).unwrap_or_default().to_string(),
                reason: (state == "not_ready")
                    .then(|| text(r, reason).map(str::to_string))
                    .flatten(),
                state: state.to_string(),
                state_secs: secs(r),
            }
        })
        .collect();
    AgentsPage {
        total,
        offset,
        rows,
        counts,
        teams,
        services,
        service_pending,
        data_at_unix: Some(snap.taken_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overview_reads_only_what_its_subscription_holds() {
        let plan = lookout_keeper::Plan::overview();
        for c in SERVICE_COLUMNS {
            assert!(plan.services.iter().any(|s| s == c), "{c}");
        }
    }

    #[test]
    fn a_trend_takes_one_sample_a_minute() {
        let mut t = Trends::default();
        let row = |w| ServiceRow {
            name: "Sales".into(),
            waiting: Some(w),
            ..ServiceRow::default()
        };
        let mut rows = vec![row(1)];
        t.add(60, &mut rows);
        let mut rows = vec![row(3)];
        t.add(90, &mut rows);
        assert_eq!(rows[0].trend, [3], "the latest of the minute");
        let mut rows = vec![row(5)];
        t.add(125, &mut rows);
        assert_eq!(rows[0].trend, [3, 5]);
    }

    #[test]
    fn the_agents_view_puts_the_longest_not_ready_first_and_filters_by_team() {
        use lookout_keeper::{Grid, Value};
        let t = |s: &str| Value::Text(s.into());
        let mut snap = Snapshot::default();
        snap.taken_at = 100;
        snap.agents = Grid {
            columns: [
                "login_id",
                "first_last_name",
                "team_name",
                "acd_state",
                "reason",
                "state_duration",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![
                vec![
                    t("a"),
                    t("Ana"),
                    t("Front"),
                    t("ready"),
                    t(""),
                    Value::Int(50),
                ],
                vec![
                    t("b"),
                    t("Ben"),
                    t("Front"),
                    t("not_ready"),
                    t("Lunch"),
                    Value::Int(60),
                ],
                vec![
                    t("c"),
                    t("Cy"),
                    t("Back"),
                    t("not_ready"),
                    t("Meeting"),
                    Value::Int(900),
                ],
                vec![
                    t("d"),
                    t("Di"),
                    t("Back"),
                    t("after_call_work"),
                    t("x"),
                    Value::Int(30),
                ],
                vec![t("e"), t("Ed"), t("Back"), t(""), t(""), Value::None],
            ],
        };
        let all = agents_page(Some(&snap), AgentFilter::default(), 0, 10);
        let order: Vec<&str> = all.rows.iter().map(|r| r.login_id.as_str()).collect();
        assert_eq!(order, ["c", "b", "d", "a", "e"]);
        assert_eq!(all.rows[0].reason.as_deref(), Some("Meeting"));
        assert_eq!(all.rows[2].reason, None, "a reason only for not ready");
        assert_eq!(all.rows[4].state, "logged_out");
        assert_eq!(all.teams, ["Back", "Front"]);
        assert_eq!((all.counts.not_ready, all.counts.logged_out), (2, 1));
        let front = AgentFilter {
            team: Some("Front"),
            service: None,
        };
        let front = agents_page(Some(&snap), front, 0, 10);
        assert_eq!(front.total, 2);
        assert_eq!(front.rows[0].login_id, "b");
        // A page: only the rows asked for.
        let page = agents_page(Some(&snap), AgentFilter::default(), 3, 1);
        assert_eq!((page.total, page.offset, page.rows.len()), (5, 3, 1));
        assert_eq!(page.rows[0].login_id, "a");
        // By service: pending (and not narrowed) until the data lists its agents.
        let billing = AgentFilter {
            team: None,
            service: Some("Billing"),
        };
        let pending = agents_page(Some(&snap), billing, 0, 10);
        assert!(pending.service_pending);
        assert_eq!(pending.total, 5);
        snap.members
            .insert("Billing".into(), vec!["a".into(), "c".into(), "z".into()]);
        let page = agents_page(Some(&snap), billing, 0, 10);
        assert!(!page.service_pending);
        let order: Vec<&str> = page.rows.iter().map(|r| r.login_id.as_str()).collect();
        assert_eq!(order, ["c", "a"]);
        let both = AgentFilter {
            team: Some("Front"),
            service: Some("Billing"),
        };
        assert_eq!(agents_page(Some(&snap), both, 0, 10).total, 1);
    }
}
