//! The snapshot: one poll's data, typed. Built once per poll from the wire strings by the
//! [`catalogue`](crate::catalogue), then shared read-only (`Arc<Snapshot>`) by everything
//! downstream.
//!
//! Columns are named by statistic, because the subscription uses statistic names as column
//! ids (see [`Plan`]). `""` on the wire is [`Value::None`], never 0.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use lookout_statsapi::{
    AppSubscription, Cell, ChatRequest, Column, DataResponse, GridRequest, SubscriptionRequest,
};

use crate::catalogue::{Kind, kind_of};

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (`""` or `null` on the wire).
    None,
    Int(i64),
    Float(f64),
    Text(Arc<str>),
    /// A flag (chat `is_urgent`).
    Bool(bool),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// Parse a wire cell as a value of `kind`. A value that does not fit its kind is kept as
    /// text rather than dropped, so nothing the server said is lost.
    pub fn parse(cell: &Cell, kind: Kind) -> Value {
        let Some(text) = cell.text() else {
            return Value::None;
        };
        let t = text.trim();
        let number = || -> Option<Value> {
            if let Ok(i) = t.parse::<i64>() {
                return Some(Value::Int(i));
            }
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::Float)
        };
        let whole = || -> Option<Value> {
            number().map(|v| match v {
                Value::Float(f) => Value::Int(f.round() as i64),
                other => other,
            })
        };
        let parsed = match kind {
            Kind::Count | Kind::Seconds => whole(),
            Kind::Percent => t
                .strip_suffix('%')
                .unwrap_or(t)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::Float),
            Kind::State => {
                let s = t.to_ascii_lowercase();
                // Some wallboards treat "0" as "no state" too.
                if s.is_empty() || s == "0" {
                    Some(Value::None)
                } else {
                    Some(Value::Text(s.into()))
                }
            }
            Kind::Text => Some(Value::Text(capped(&text).into())),
            Kind::Unknown => number(),
        };
        parsed.unwrap_or_else(|| Value::Text(capped(&text).into()))
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::None => s.serialize_unit(),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Text(t) => s.serialize_str(t),
            Value::Bool(b) => s.serialize_bool(*b),
        }
    }
}

/// Read back what [`Value`]'s `Serialize` wrote: `null`, a number, a string or a flag. (Team
/// mode sends snapshots from a hub to its desks.)
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("null, a number, a string or a flag")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::None)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::None)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
                i64::try_from(u)
                    .map(Value::Int)
                    .or(Ok(Value::Float(u as f64)))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Text(capped(s).into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A grid: named columns and rows of values in column order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Grid {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value at `row` in column `name`.
    pub fn get(&self, row: usize, name: &str) -> Option<&Value> {
        let c = self.column(name)?;
        self.rows.get(row).and_then(|r| r.get(c))
    }
}

impl Serialize for Grid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Row<'a>(&'a [String], &'a [Value]);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (c, v) in self.0.iter().zip(self.1) {
                    m.serialize_entry(c, v)?;
                }
                m.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for r in &self.rows {
            seq.serialize_element(&Row(&self.columns, r))?;
        }
        seq.end()
    }
}

/// An internal chat message, typed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub login_id: String,
    pub first_name: String,
    pub last_name: String,
    /// Unix seconds, when `send_time` could be read.
    pub send_time: Option<i64>,
    pub is_urgent: bool,
    pub content: String,
}

/// Read a chat `send_time`: RFC 3339 / ISO 8601 (with or without `T` and zone, read as UTC),
/// or Unix seconds or milliseconds.
pub fn parse_send_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = t.parse().ok()?;
        return Some(if n > 100_000_000_000 { n / 1000 } else { n });
    }
    let normalized = t.replacen(' ', "T", 1);
    let parsed = humantime::parse_rfc3339_weak(&normalized)
        .or_else(|_| humantime::parse_rfc3339_weak(normalized.trim_end_matches('Z')))
        .ok()
        .or_else(|| {
            // An explicit "+00:00" offset is UTC too.
            let no_zone = normalized
                .strip_suffix("+00:00")
                .or_else(|| normalized.strip_suffix("+0000"))?;
            humantime::parse_rfc3339_weak(no_zone).ok()
        })?;
    parsed
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

fn truthy(cell: &Cell) -> bool {
    match cell {
        Cell::Bool(b) => *b,
        other => other.text().is_some_and(|t| {
            matches!(t.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        }),
    }
}

fn text(cell: &Cell) -> String {
    cell.text()
        .map(|t| capped(&t).into_owned())
        .unwrap_or_default()
}

/// The most text kept of one cell or chat field, in bytes. Names and chat messages are far
/// shorter; an agent's megabyte of chat is kept as its first 8 KiB and "…", which still
/// notifies and leaves rules room to build strings from it (they may make 256 KiB).
pub const MAX_CELL_TEXT: usize = 8 * 1024;

/// `text` cut to at most [`MAX_CELL_TEXT`] bytes (at a character boundary) with "…".
fn capped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_CELL_TEXT {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_CELL_TEXT - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..end]))
}

/// How a tenant writes percentages. Rules and the overview always see 0–100.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PercentScale {
    /// Decided per statistic from what the tenant sends (see [`PercentScales`]).
    #[default]
    Auto,
    /// 0–1 fractions: `0.92` is 92 %.
    Fraction,
    /// 0–100: `92` is 92 %.
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Fraction,
    Percent,
}

/// What ingest knows of a tenant's percentages, kept from one answer to the next.
///
/// In `auto`, a tenant is taken to write each section (totals, services, agents) one way. A
/// statistic is read as 0–100 once a value above 1 has shown up in it or in any percentage of
/// its section (a fraction cannot be above 1; and a percent tenant's small ratios, `0.50` for
/// half a percent, must not be taken for fractions). Otherwise, once a value strictly between 0
/// and 1 has shown up in it or its section, it is read as a 0–1 fraction. With nothing to go by
/// (only 0 and 1 so far) it is read as 0–100, and said so. What was learnt is kept from one
/// answer to the next, and 0–100 always wins over a fraction.
#[derive(Debug, Clone, Default)]
pub struct PercentScales {
    setting: PercentScale,
    sections: BTreeMap<&'static str, Seen>,
    stats: BTreeMap<String, Seen>,
}

impl PercentScales {
    pub fn new(setting: PercentScale) -> Self {
        PercentScales {
            setting,
            ..Default::default()
        }
    }

    /// Learn from the values of `stat` in `section`, then bring them to 0–100. Returns
    /// `section.stat` and how it was read, in words.
    fn normalize(
        &mut self,
        section: &'static str,
        stat: &str,
        mut values: Vec<&mut Value>,
    ) -> (String, String) {
        let numbers = || {
            values
                .iter()
                .filter_map(|v| v.as_f64().filter(|f| f.is_finite()))
        };
        let key = format!("{section}.{stat}");
        if numbers().any(|f| f > 1.0) {
            self.stats.insert(key.clone(), Seen::Percent);
            self.sections.insert(section, Seen::Percent);
        } else if numbers().any(|f| f > 0.0 && f < 1.0)
            && self.stats.get(&key) != Some(&Seen::Percent)
        {
            self.stats.insert(key.clone(), Seen::Fraction);
            self.sections.entry(section).or_insert(Seen::Fraction);
        }
        if self.scale(section, &key) == Some(Seen::Fraction) {
            for v in values.iter_mut() {
                if let Some(f) = v.as_f64() {
                    **v = Value::Float(f * 100.0);
                }
            }
        }
        let how = self.describe(section, &key);
        (key, how)
    }

    /// The scale `section.stat` is read in; `None` while undecided (read as 0–100).
    fn scale(&self, section: &str, key: &str) -> Option<Seen> {
        match self.setting {
            PercentScale::Fraction => Some(Seen::Fraction),
            PercentScale::Percent => Some(Seen::Percent),
            PercentScale::Auto => match (self.stats.get(key), self.sections.get(section)) {
                (Some(Seen::Percent), _) | (_, Some(Seen::Percent)) => Some(Seen::Percent),
                (Some(Seen::Fraction), _) | (_, Some(Seen::Fraction)) => Some(Seen::Fraction),
                (None, None) => None,
            },
        }
    }

    /// How `section.stat` is read, in words: `fraction (auto)`, `percent (set)`, …
    fn describe(&self, section: &str, key: &str) -> String {
        let how = match self.setting {
            PercentScale::Auto => "auto",
            _ => "set",
        };
        match self.scale(section, key) {
            Some(Seen::Fraction) => format!("0–1 fraction ({how})"),
            Some(Seen::Percent) => format!("0–100 ({how})"),
            None => format!("undecided, read as 0–100 ({how})"),
        }
    }
}

/// One poll's data, typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Unix seconds when the data arrived.
    #[serde(skip)]
    pub taken_at: i64,
    pub totals: BTreeMap<String, Value>,
    pub services: Grid,
    pub agents: Grid,
    pub chat: Vec<ChatMessage>,
    pub availability: BTreeMap<String, bool>,
    /// How each percentage statistic was read (`totals.service_level` → `0–1 fraction
    /// (auto)`): its values here are 0–100 whatever the tenant sent.
    #[serde(rename = "percent_scale", skip_serializing_if = "BTreeMap::is_empty")]
    pub percent_scales: BTreeMap<String, String>,
    /// The login ids of the agents of each service of [`Plan::member_services`] that the
    /// server answered for, sorted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Vec<String>>,
    /// The chat messages as a grid (columns [`CHAT_COLUMNS`]), made on first use: fill `chat`
    /// before anything asks for it.
    #[serde(skip)]
    chat_grid: LazyGrid,
}

/// A grid made on first use. It is derived from other fields, so it never makes two snapshots
/// differ.
#[derive(Clone, Default)]
struct LazyGrid(std::sync::OnceLock<Grid>);

impl PartialEq for LazyGrid {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LazyGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

/// The columns of [`Snapshot::chat_grid`].
pub const CHAT_COLUMNS: [&str; 7] = [
    "id",
    "login_id",
    "first_name",
    "last_name",
    "send_time",
    "is_urgent",
    "content",
];

/// The app id, and the grid ids, this program's subscriptions use.
pub const APP_ID: &str = "lookout";
pub const SERVICES_GRID: &str = "services";
pub const AGENTS_GRID: &str = "agents";

/// The id of the agents grid that lists the members of `plan.member_services[i]`.
fn members_grid(i: usize) -> String {
    format!("members:{i}")
}

/// At most this many agents are read as one service's members, whatever the server sends.
pub const MAX_MEMBERS: usize = 20_000;

/// What to subscribe to: statistics per section. Column ids are the statistic names, so data
/// rows come back keyed by statistic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub totals: Vec<String>,
    pub services: Vec<String>,
    pub agents: Vec<String>,
    /// Chat messages to fetch (`None`: no chat).
    pub chat_limit: Option<usize>,
    /// Dispositions to count per agent: one agents-grid column each, named
    /// [`disposition_column`] and counting `calls_dispositions_per_day` of that disposition.
    pub dispositions: Vec<String>,
    /// Services (by name) whose agents to list: one narrow agents grid each, filtered by the
    /// service's id, read into [`Snapshot::members`]. The agents grid has no column naming an
    /// agent's services, so this is how "the agents of Billing" is asked.
    pub member_services: Vec<String>,
}

/// The agents-grid column that counts today's calls with disposition `name`.
pub fn disposition_column(name: &str) -> String {
    format!("calls_dispositions_per_day:{name}")
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Plan {
    /// What the overview shows, and what `lookout snapshot` fetches until rules declare more.
    pub fn overview() -> Plan {
        Plan {
            totals: owned(&[
                "in_calls_waiting",
                "in_max_wait_time",
                "in_calls_received_per_day",
                "in_calls_abandoned_in_queue_per_day",
                "service_level",
                "agents_logged",
                "agents_ready",
            ]),
            services: owned(&[
                "name",
                "in_calls_waiting",
                "in_max_wait_time",
                "agents_ready",
                "agents_busy",
                "agents_logged",
                "service_level",
                "service_level_target",
                "in_calls_received_per_day",
                "in_calls_abandoned_in_queue_per_day",
            ]),
            agents: owned(&[
                "login_id",
                "first_last_name",
                "team_name",
                "acd_state",
                "reason",
                "state_duration",
                "in_calls_handled_per_day",
            ]),
            chat_limit: Some(50),
            dispositions: Vec::new(),
            member_services: Vec::new(),
        }
    }

    /// The subscription request for this plan, without member grids (see
    /// [`Plan::request_with`]).
    pub fn request(&self) -> SubscriptionRequest {
        self.request_with(&BTreeMap::new())
    }

    /// The subscription request for this plan; `service_ids` maps a service's name to its id,
    /// and a member service it does not know is left out.
    pub fn request_with(&self, service_ids: &BTreeMap<String, String>) -> SubscriptionRequest {
        let grid = |id: &str, stats: &[String]| {
            GridRequest::new(
                id,
                stats
                    .iter()
                    .map(|s| Column::new(s.as_str(), s.as_str()))
                    .collect(),
            )
        };
        let mut agents = grid(AGENTS_GRID, &self.agents);
        for d in &self.dispositions {
            let mut c = Column::new(disposition_column(d), "calls_dispositions_per_day");
            c.dispositions = Some(vec![d.clone()]);
            agents.columns.push(c);
        }
        let mut agent_grids: Vec<GridRequest> = Vec::new();
        if !agents.columns.is_empty() {
            agent_grids.push(agents);
        }
        for (i, name) in self.member_services.iter().enumerate() {
            if let Some(id) = service_ids.get(name) {
                let mut g = grid(&members_grid(i), &["login_id".to_string()]);
                g.service_ids = Some(vec![id.clone()]);
                agent_grids.push(g);
            }
        }
        let app = AppSubscription {
            stats_totals: (!self.totals.is_empty()).then(|| self.totals.clone()),
            service_grids: (!self.services.is_empty())
                .then(|| vec![grid(SERVICES_GRID, &self.services)]),
            agent_grids: (!agent_grids.is_empty()).then_some(agent_grids),
            chat_messages: self.chat_limit.map(|l| ChatRequest {
                filter: Some(String::new()),
                limit: Some((l as i64).into()),
            }),
            ..Default::default()
        };
        SubscriptionRequest::from([(APP_ID.to_string(), app)])
    }
}

impl Snapshot {
    /// Type a data response subscribed with `plan`. Missing sections, rows and cells become
    /// empty grids and [`Value::None`]; unknown keys are ignored. Percentages are read as
    /// `auto` decides from this answer alone (see [`Snapshot::from_data_with`]).
    pub fn from_data(plan: &Plan, data: &DataResponse, taken_at: i64) -> Snapshot {
        Snapshot::from_data_with(plan, data, taken_at, &mut PercentScales::default())
    }

    /// [`Snapshot::from_data`], reading percentages by what `scales` knows of the tenant and
    /// teaching it what this answer shows.
    pub fn from_data_with(
        plan: &Plan,
        data: &DataResponse,
        taken_at: i64,
        scales: &mut PercentScales,
    ) -> Snapshot {
        let app = data.get(APP_ID);
        let totals = plan
            .totals
            .iter()
            .map(|stat| {
                let v = app
                    .and_then(|a| a.stats_totals.as_ref())
                    .and_then(|t| t.get(stat))
                    .map_or(Value::None, |c| Value::parse(c, kind_of(stat)));
                (stat.clone(), v)
            })
            .collect();
        let grid = |grids: Option<&Vec<lookout_statsapi::GridData>>, id: &str, stats: &[String]| {
            let kinds: Vec<Kind> = stats.iter().map(|s| kind_of(s)).collect();
            let rows = grids
                .and_then(|gs| gs.iter().find(|g| g.id.as_text() == id))
                .map(|g| {
                    g.values
                        .iter()
                        .map(|row| {
                            stats
                                .iter()
                                .zip(&kinds)
                                .map(|(s, k)| {
                                    row.get(s).map_or(Value::None, |c| Value::parse(c, *k))
                                })
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            Grid {
                columns: stats.to_vec(),
                rows,
            }
        };
        let services = grid(
            app.and_then(|a| a.service_grids.as_ref()),
            SERVICES_GRID,
            &plan.services,
        );
        let mut agent_columns = plan.agents.clone();
        agent_columns.extend(plan.dispositions.iter().map(|d| disposition_column(d)));
        let agents = grid(
            app.and_then(|a| a.agent_grids.as_ref()),
            AGENTS_GRID,
            &agent_columns,
        );
        // No more messages than were asked for, whatever the server sends.
        let chat_limit = plan.chat_limit.unwrap_or(0);
        let chat = app
            .and_then(|a| a.chat_messages.as_ref())
            .map(|msgs| {
                msgs.iter()
                    .take(chat_limit)
                    .map(|m| ChatMessage {
                        id: text(&m.id),
                        login_id: text(&m.login_id),
                        first_name: text(&m.first_name),
                        last_name: text(&m.last_name),
                        send_time: m.send_time.text().and_then(|t| parse_send_time(&t)),
                        is_urgent: truthy(&m.is_urgent),
                        content: text(&m.content),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut members = BTreeMap::new();
        for (i, name) in plan.member_services.iter().enumerate() {
            let id = members_grid(i);
            let Some(g) = app
                .and_then(|a| a.agent_grids.as_ref())
                .and_then(|gs| gs.iter().find(|g| g.id.as_text() == id))
            else {
                continue;
            };
            let mut logins: Vec<String> = g
                .values
                .iter()
                .take(MAX_MEMBERS)
                .filter_map(|row| row.get("login_id"))
                .filter_map(|c| match Value::parse(c, Kind::Text) {
                    Value::Text(t) if !t.is_empty() => Some(t.to_string()),
                    _ => None,
                })
                .collect();
            logins.sort();
            logins.dedup();
            members.insert(name.clone(), logins);
        }
        let mut snap = Snapshot {
            taken_at,
            totals,
            services,
            agents,
            chat,
            availability: BTreeMap::new(),
            percent_scales: BTreeMap::new(),
            members,
            chat_grid: Default::default(),
        };
        snap.normalize_percentages(scales);
        snap
    }

    /// Bring every percentage to 0–100 and note how each was read.
    fn normalize_percentages(&mut self, scales: &mut PercentScales) {
        let percent = |stat: &str| kind_of(stat) == Kind::Percent;
        for (stat, v) in self.totals.iter_mut().filter(|(s, _)| percent(s)) {
            let (key, how) = scales.normalize("totals", stat, vec![v]);
            self.percent_scales.insert(key, how);
        }
        for (section, grid) in [
            ("services", &mut self.services),
            ("agents", &mut self.agents),
        ] {
            for (c, stat) in grid.columns.iter().enumerate().filter(|(_, s)| percent(s)) {
                let values = grid.rows.iter_mut().filter_map(|r| r.get_mut(c)).collect();
                let (key, how) = scales.normalize(section, stat, values);
                self.percent_scales.insert(key, how);
            }
        }
    }

    /// The chat messages as a grid, one row per message (columns [`CHAT_COLUMNS`]), so rules
    /// query them like the other grids. Made on first use.
    pub fn chat_grid(&self) -> &Grid {
        self.chat_grid.0.get_or_init(|| Grid {
            columns: CHAT_COLUMNS.iter().map(|c| c.to_string()).collect(),
            rows: self
                .chat
                .iter()
                .map(|m| {
                    let text = |t: &str| Value::Text(t.into());
                    vec![
                        text(&m.id),
                        text(&m.login_id),
                        text(&m.first_name),
                        text(&m.last_name),
                        m.send_time.map_or(Value::None, Value::Int),
                        Value::Bool(m.is_urgent),
                        text(&m.content),
                    ]
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_by_the_catalogue() {
        let c = |s: &str| Cell::Text(s.into());
        assert_eq!(Value::parse(&c("12"), Kind::Count), Value::Int(12));
        assert_eq!(
            Value::parse(&c(""), Kind::Count),
            Value::None,
            "\"\" is no value, not 0"
        );
        assert_eq!(Value::parse(&Cell::Null, Kind::Count), Value::None);
        assert_eq!(Value::parse(&c("12.6"), Kind::Seconds), Value::Int(13));
        assert_eq!(Value::parse(&c("85.5"), Kind::Percent), Value::Float(85.5));
        assert_eq!(
            Value::parse(&c("85.5 %"), Kind::Percent),
            Value::Float(85.5)
        );
        assert_eq!(
            Value::parse(&c("Ready"), Kind::State),
            Value::Text("ready".into())
        );
        assert_eq!(Value::parse(&c(""), Kind::State), Value::None);
        assert_eq!(
            Value::parse(&c("007"), Kind::Text),
            Value::Text("007".into())
        );
        assert_eq!(Value::parse(&c("3"), Kind::Unknown), Value::Int(3));
        assert_eq!(
            Value::parse(&c("n/a"), Kind::Count),
            Value::Text("n/a".into()),
            "kept, not lost"
        );
        assert_eq!(
            Value::parse(&c("NaN"), Kind::Percent),
            Value::Text("NaN".into())
        );
        assert_eq!(
            Value::parse(&Cell::Number(serde_json::Number::from(4)), Kind::Count),
            Value::Int(4)
        );
        assert_eq!(Value::parse(&Cell::Unsupported, Kind::Count), Value::None);
    }

    #[test]
    fn send_times_in_every_form() {
        assert_eq!(parse_send_time("2026-11-28T10:00:00Z"), Some(1_795_860_000));
        assert_eq!(parse_send_time("2026-11-28 10:00:00"), Some(1_795_860_000));
        assert_eq!(
            parse_send_time("2026-11-28T10:00:00+00:00"),
            Some(1_795_860_000)
        );
        assert_eq!(parse_send_time("1795860000"), Some(1_795_860_000));
        assert_eq!(parse_send_time("1795860000123"), Some(1_795_860_000));
        assert_eq!(parse_send_time("yesterday"), None);
        assert_eq!(parse_send_time(""), None);
    }

    #[test]
    fn a_response_becomes_a_typed_snapshot() {
        let body = r#"{"lookout":{
            "stats_totals":{"in_calls_waiting":"3","service_level":"","extra":"x"},
            "service_grids":[{"id":"services","values":[{"name":"Sales","in_calls_waiting":"2"},{"name":"VIP"}]}],
            "chat_messages":[{"id":"7","login_id":"diana.yeh","first_name":"Diana","last_name":"Yeh",
                "send_time":"2026-11-28T10:00:00Z","is_urgent":"1","content":"<b>help</b>"}]
        }}"#;
        let data: DataResponse = serde_json::from_str(body).unwrap();
        let plan = Plan {
            totals: owned(&["in_calls_waiting", "service_level", "agents_ready"]),
            services: owned(&["name", "in_calls_waiting"]),
            agents: owned(&["login_id"]),
            chat_limit: Some(10),
            dispositions: Vec::new(),
            member_services: Vec::new(),
        };
        let s = Snapshot::from_data(&plan, &data, 0);
        assert_eq!(s.totals["in_calls_waiting"], Value::Int(3));
        assert_eq!(s.totals["service_level"], Value::None);
        assert_eq!(
            s.totals["agents_ready"],
            Value::None,
            "missing total is no value"
        );
        assert_eq!(s.services.len(), 2);
        assert_eq!(s.services.get(1, "in_calls_waiting"), Some(&Value::None));
        assert!(s.agents.is_empty(), "missing section tolerated");
        assert!(s.chat[0].is_urgent);
        assert_eq!(s.chat[0].content, "<b>help</b>");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["services"][0]["name"], "Sales");
        assert_eq!(json["services"][0]["in_calls_waiting"], 2);
        assert_eq!(json["totals"]["service_level"], serde_json::Value::Null);
        assert_eq!(json["chat"][0]["is_urgent"], true);
    }

    #[test]
    fn percentages_are_read_on_the_scale_the_tenant_writes() {
        let plan = Plan {
            services: owned(&[
                "name",
                "service_level",
                "in_calls_abandoned_percent_per_day",
            ]),
            ..Plan::default()
        };
        let answer = |sl: &str, abandoned: &str| -> DataResponse {
            serde_json::from_str(&format!(
                r#"{{"lookout":{{"service_grids":[{{"id":"services","values":[{{"name":"Sales","service_level":"{sl}","in_calls_abandoned_percent_per_day":"{abandoned}"}}]}}]}}}}"#
            ))
            .unwrap()
        };
        let read = |s: &Snapshot, stat: &str| s.services.get(0, stat).and_then(|v| v.as_f64());
        // A percent tenant's small ratio is not taken for a fraction: its section says 0–100.
        let mut scales = PercentScales::default();
        let s = Snapshot::from_data_with(&plan, &answer("92.5", "0.5"), 0, &mut scales);
        assert_eq!(read(&s, "service_level"), Some(92.5));
        assert_eq!(read(&s, "in_calls_abandoned_percent_per_day"), Some(0.5));
        // A fraction tenant: everything times 100, and kept so when only 1 and 0 come next.
        let mut scales = PercentScales::default();
        let s = Snapshot::from_data_with(&plan, &answer("0.925", "0.005"), 0, &mut scales);
        assert!((read(&s, "service_level").unwrap() - 92.5).abs() < 1e-9);
        let s = Snapshot::from_data_with(&plan, &answer("1", "0"), 0, &mut scales);
        assert_eq!(read(&s, "service_level"), Some(100.0));
        assert_eq!(
            s.percent_scales["services.service_level"],
            "0–1 fraction (auto)"
        );
        // Nothing to go by: read as 0–100, and said so.
        let s = Snapshot::from_data(&plan, &answer("1", "0"), 0);
        assert_eq!(read(&s, "service_level"), Some(1.0));
        assert_eq!(
            s.percent_scales["services.service_level"],
            "undecided, read as 0–100 (auto)"
        );
        // A value above 1 always wins.
        let s = Snapshot::from_data_with(&plan, &answer("85", "0.5"), 0, &mut scales);
        assert_eq!(read(&s, "service_level"), Some(85.0));
        assert_eq!(read(&s, "in_calls_abandoned_percent_per_day"), Some(0.5));
    }

    #[test]
    fn the_plan_names_columns_by_statistic() {
        let req = Plan::overview().request();
        let json = serde_json::to_value(&req).unwrap();
        let col = &json[APP_ID]["service_grids"][0]["columns"][0];
        assert_eq!(col["id"], "name");
        assert_eq!(col["stat_name"], "name");
    }

    #[test]
    fn a_service_s_agents_are_asked_by_its_id_and_read_by_its_name() {
        let plan = Plan {
            agents: owned(&["login_id"]),
            member_services: owned(&["Billing", "Nowhere"]),
            ..Plan::default()
        };
        let ids = BTreeMap::from([("Billing".to_string(), "svc-7".to_string())]);
        let json = serde_json::to_value(plan.request_with(&ids)).unwrap();
        let grids = json[APP_ID]["agent_grids"].as_array().unwrap();
        assert_eq!(
            grids.len(),
            2,
            "the agents grid and Billing's; no id, no grid"
        );
        assert_eq!(grids[1]["id"], "members:0");
        assert_eq!(grids[1]["service_ids"], serde_json::json!(["svc-7"]));
        assert_eq!(grids[1]["columns"][0]["stat_name"], "login_id");

        let body = r#"{"lookout":{"agent_grids":[
            {"id":"agents","values":[{"login_id":"a"},{"login_id":"b"}]},
            {"id":"members:0","values":[{"login_id":"b"},{"login_id":""},{"login_id":"a"},{"login_id":"b"}]}
        ]}}"#;
        let data: DataResponse = serde_json::from_str(body).unwrap();
        let s = Snapshot::from_data(&plan, &data, 0);
        assert_eq!(s.members["Billing"], owned(&["a", "b"]));
        assert!(
            !s.members.contains_key("Nowhere"),
            "not answered is not known, never an empty team"
        );
    }
}
