//! Reading a subscription the way a server does, and answering it from the model.
//!
//! Parsing works on raw JSON (not on the client's wire types) on purpose: the simulated tenant is
//! an independent implementation of the protocol, so a misunderstanding in the client shows up
//! as a failing contract test instead of being mirrored on both sides.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::model::{AgentState, Model};
use crate::profile::{OrderForms, Profile, StatKeys};
use crate::stats::{
    AGENT_STATS, SERVICE_STATS, TOTAL_STATS, agent_value, service_value, total_value,
};

/// A 400 answer: the server's error code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: i64,
    pub message: String,
}

fn reject(code: i64, message: impl Into<String>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
    }
}

pub const ERR_MALFORMED: i64 = 1;
pub const ERR_UNKNOWN_STAT: i64 = 2;
pub const ERR_BAD_COLUMN_REF: i64 = 3;
pub const ERR_UNKNOWN_KEY: i64 = 4;
pub const ERR_BAD_VALUE: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridKind {
    Service,
    Agent,
}

impl GridKind {
    fn label(self) -> &'static str {
        match self {
            GridKind::Service => "service grid",
            GridKind::Agent => "agent grid",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub id: String,
    pub stat: String,
    pub sum: Vec<String>,
    pub dispositions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone)]
pub struct GridDef {
    pub id: Value,
    pub columns: Vec<ColumnDef>,
    /// (column id, descending)
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub filter: Option<(String, String, FilterOp)>,
    pub team_ids: Option<Vec<String>>,
    pub service_ids: Option<Vec<String>>,
    pub logged_in_only: bool,
}

#[derive(Debug, Clone)]
pub struct AppDef {
    pub id: String,
    pub totals: Option<Vec<String>>,
    pub totals_service_ids: Option<Vec<String>>,
    pub service_grids: Option<Vec<GridDef>>,
    pub agent_grids: Option<Vec<GridDef>>,
    /// (content filter, limit)
    pub chat: Option<(String, usize)>,
}

/// A parsed, validated subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub apps: Vec<AppDef>,
}

const APP_KEYS: &[&str] = &[
    "stats_totals",
    "stats_totals_service_ids",
    "stats_totals_dispositions",
    "service_grids",
    "agent_grids",
    "chat_messages",
];

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => None,
        },
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        _ => None,
    }
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, Rejection> {
    v.as_array()
        .ok_or_else(|| reject(ERR_BAD_VALUE, format!("{what} must be an array")))?
        .iter()
        .map(|x| {
            as_text(x).ok_or_else(|| reject(ERR_BAD_VALUE, format!("{what} must hold strings")))
        })
        .collect()
}

fn as_limit(v: &Value, what: &str) -> Result<usize, Rejection> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| reject(ERR_BAD_VALUE, format!("{what}: `{v}` is not a count")))
}

impl Subscription {
    /// Parse a request body as `profile` would.
    pub fn parse(body: &[u8], profile: &Profile) -> Result<Subscription, Rejection> {
        let root: Value = serde_json::from_slice(body)
            .map_err(|e| reject(ERR_MALFORMED, format!("Malformed JSON: {e}")))?;
        let root = root
            .as_object()
            .ok_or_else(|| reject(ERR_MALFORMED, "subscription must be an object of app ids"))?;
        if root.is_empty() {
            return Err(reject(ERR_MALFORMED, "subscription has no app ids"));
        }
        let mut apps = Vec::new();
        for (app_id, app) in root {
            let app = app.as_object().ok_or_else(|| {
                reject(ERR_MALFORMED, format!("app '{app_id}' must be an object"))
            })?;
            for key in app.keys() {
                if !APP_KEYS.contains(&key.as_str()) && profile.strict_keys {
                    return Err(reject(
                        ERR_UNKNOWN_KEY,
                        format!("Unrecognized field \"{key}\" in app '{app_id}'"),
                    ));
                }
            }
            let totals = app
                .get("stats_totals")
                .map(|v| string_list(v, "stats_totals"))
                .transpose()?;
            for s in totals.iter().flatten() {
                if !TOTAL_STATS.contains(&s.as_str()) {
                    return Err(reject(
                        ERR_UNKNOWN_STAT,
                        format!("Unknown statistic '{s}' in stats_totals of app '{app_id}'"),
                    ));
                }
            }
            let totals_service_ids = app
                .get("stats_totals_service_ids")
                .map(|v| string_list(v, "stats_totals_service_ids"))
                .transpose()?;
            let grids = |key: &str, kind: GridKind| -> Result<Option<Vec<GridDef>>, Rejection> {
                let Some(v) = app.get(key) else {
                    return Ok(None);
                };
                let arr = v
                    .as_array()
                    .ok_or_else(|| reject(ERR_BAD_VALUE, format!("{key} must be an array")))?;
                arr.iter()
                    .map(|g| parse_grid(g, kind, profile))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            };
            let service_grids = grids("service_grids", GridKind::Service)?;
            let agent_grids = grids("agent_grids", GridKind::Agent)?;
            let chat = match app.get("chat_messages") {
                None => None,
                Some(Value::Object(c)) => {
                    let filter = c.get("filter").and_then(as_text).unwrap_or_default();
                    let limit = match c.get("limit") {
                        None => 50,
                        Some(Value::String(s)) if s.is_empty() => 50,
                        Some(v) => as_limit(v, "chat_messages.limit")?,
                    };
                    Some((filter, limit))
                }
                Some(_) => return Err(reject(ERR_BAD_VALUE, "chat_messages must be an object")),
            };
            apps.push(AppDef {
                id: app_id.clone(),
                totals,
                totals_service_ids,
                service_grids,
                agent_grids,
                chat,
            });
        }
        Ok(Subscription { apps })
    }
}

fn parse_grid(v: &Value, kind: GridKind, profile: &Profile) -> Result<GridDef, Rejection> {
    let label = kind.label();
    let g = v
        .as_object()
        .ok_or_else(|| reject(ERR_BAD_VALUE, format!("{label} must be an object")))?;
    let id = g
        .get("id")
        .filter(|v| as_text(v).is_some())
        .cloned()
        .ok_or_else(|| reject(ERR_BAD_VALUE, format!("{label} has no id")))?;
    let gid = as_text(&id).unwrap_or_default();
    let mut allowed = vec![
        "id",
        "columns",
        "order_by",
        "order_dir",
        "limit",
        "filter_by",
        "filter_value",
        "filter_operation",
        "team_ids",
        "service_ids",
        "my_subteam_only",
        "logged_in_agents_only",
    ];
    if profile.order == OrderForms::Both {
        allowed.push("order");
    }
    for key in g.keys() {
        if !allowed.contains(&key.as_str()) && profile.strict_keys {
            return Err(reject(
                ERR_UNKNOWN_KEY,
                format!("Unrecognized field \"{key}\" in {label} '{gid}'"),
            ));
        }
    }
    let known: &[&str] = match kind {
        GridKind::Service => SERVICE_STATS,
        GridKind::Agent => AGENT_STATS,
    };
    let cols = g.get("columns").and_then(|c| c.as_array()).ok_or_else(|| {
        reject(
            ERR_BAD_VALUE,
            format!("{label} '{gid}' has no columns array"),
        )
    })?;
    let mut columns = Vec::with_capacity(cols.len());
    for c in cols {
        let c = c.as_object().ok_or_else(|| {
            reject(
                ERR_BAD_VALUE,
                format!("{label} '{gid}': a column must be an object"),
            )
        })?;
        let cid = c.get("id").and_then(as_text).ok_or_else(|| {
            reject(
                ERR_BAD_VALUE,
                format!("{label} '{gid}': a column has no id"),
            )
        })?;
        let snake = c.get("stat_name").and_then(as_text);
        let camel = c.get("statName").and_then(as_text);
        let stat = match (profile.stat_keys, snake, camel) {
            (StatKeys::Both, Some(s), _) | (StatKeys::Both, None, Some(s)) => s,
            (StatKeys::StatNameOnly, Some(s), _) => s,
            (StatKeys::CamelOnly, _, Some(s)) => s,
            (StatKeys::StatNameOnly, None, Some(_)) => {
                return Err(reject(
                    ERR_UNKNOWN_KEY,
                    format!("Unrecognized field \"statName\" in {label} '{gid}' column '{cid}'"),
                ));
            }
            (StatKeys::CamelOnly, Some(_), None) => {
                return Err(reject(
                    ERR_UNKNOWN_KEY,
                    format!("Unrecognized field \"stat_name\" in {label} '{gid}' column '{cid}'"),
                ));
            }
            _ => {
                return Err(reject(
                    ERR_BAD_VALUE,
                    format!("{label} '{gid}' column '{cid}' names no statistic"),
                ));
            }
        };
        let sum = c
            .get("sum_stat_names")
            .map(|v| string_list(v, "sum_stat_names"))
            .transpose()?
            .unwrap_or_default();
        let dispositions = c
            .get("dispositions")
            .map(|v| string_list(v, "dispositions"))
            .transpose()?
            .unwrap_or_default();
        let to_check: Vec<&String> = if stat == "SUM" {
            if sum.is_empty() {
                return Err(reject(
                    ERR_BAD_VALUE,
                    format!("{label} '{gid}' column '{cid}' is SUM but has no sum_stat_names"),
                ));
            }
            sum.iter().collect()
        } else {
            vec![&stat]
        };
        for s in to_check {
            if !known.contains(&s.as_str()) {
                return Err(reject(
                    ERR_UNKNOWN_STAT,
                    format!("Unknown statistic '{s}' in {label} '{gid}' column '{cid}'"),
                ));
            }
        }
        columns.push(ColumnDef {
            id: cid,
            stat,
            sum,
            dispositions,
        });
    }
    let has_col = |id: &str| columns.iter().any(|c| c.id == id);
    let mut order = Vec::new();
    if let Some(by) = g.get("order_by").and_then(as_text) {
        let dir = g
            .get("order_dir")
            .and_then(as_text)
            .unwrap_or_else(|| "ASC".into());
        order.push((by, dir.eq_ignore_ascii_case("DESC")));
    }
    if let Some(list) = g.get("order").filter(|_| profile.order == OrderForms::Both) {
        let list = list.as_array().ok_or_else(|| {
            reject(
                ERR_BAD_VALUE,
                format!("{label} '{gid}': order must be an array"),
            )
        })?;
        for o in list {
            let by = o.get("by").and_then(as_text).ok_or_else(|| {
                reject(
                    ERR_BAD_VALUE,
                    format!("{label} '{gid}': order entry has no `by`"),
                )
            })?;
            let dir = o
                .get("dir")
                .and_then(as_text)
                .unwrap_or_else(|| "ASC".into());
            order.push((by, dir.eq_ignore_ascii_case("DESC")));
        }
    }
    for (by, _) in &order {
        if !has_col(by) {
            return Err(reject(
                ERR_BAD_COLUMN_REF,
                format!(
                    "{label} '{gid}': order refers to column '{by}', which the grid does not have"
                ),
            ));
        }
    }
    let limit = match g.get("limit") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(as_limit(v, "limit")?),
    };
    let filter = match g
        .get("filter_by")
        .and_then(as_text)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(by) => {
            if !has_col(&by) {
                return Err(reject(
                    ERR_BAD_COLUMN_REF,
                    format!(
                        "{label} '{gid}': filter_by refers to column '{by}', which the grid does not have"
                    ),
                ));
            }
            let value = g.get("filter_value").and_then(as_text).unwrap_or_default();
            let op_text = g
                .get("filter_operation")
                .and_then(as_text)
                .unwrap_or_else(|| "EQ".into());
            let op = match op_text.to_ascii_uppercase().as_str() {
                "EQ" => FilterOp::Eq,
                "NE" => FilterOp::Ne,
                "LT" => FilterOp::Lt,
                "GT" => FilterOp::Gt,
                "LE" => FilterOp::Le,
                "GE" => FilterOp::Ge,
                _ => {
                    return Err(reject(
                        ERR_BAD_VALUE,
                        format!(
                            "{label} '{gid}': filter_operation '{op_text}' is not one of EQ, NE, LT, GT, LE, GE"
                        ),
                    ));
                }
            };
            Some((by, value, op))
        }
    };
    let team_ids = g
        .get("team_ids")
        .map(|v| string_list(v, "team_ids"))
        .transpose()?;
    let service_ids = g
        .get("service_ids")
        .map(|v| string_list(v, "service_ids"))
        .transpose()?
        .filter(|v| !v.is_empty());
    let logged_in_only = g
        .get("logged_in_agents_only")
        .and_then(as_flag)
        .unwrap_or(false);
    Ok(GridDef {
        id,
        columns,
        order,
        limit,
        filter,
        team_ids: team_ids.filter(|v| !v.is_empty()),
        service_ids,
        logged_in_only,
    })
}

/// Compare two cell strings the way a server would: as numbers when both are numbers.
fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn passes(value: &str, wanted: &str, op: FilterOp) -> bool {
    let o = compare(value, wanted);
    match op {
        FilterOp::Eq => o == Ordering::Equal,
        FilterOp::Ne => o != Ordering::Equal,
        FilterOp::Lt => o == Ordering::Less,
        FilterOp::Gt => o == Ordering::Greater,
        FilterOp::Le => o != Ordering::Greater,
        FilterOp::Ge => o != Ordering::Less,
    }
}

/// Pinned values from scenario `set` events, consulted before the model.
pub trait Overrides {
    fn service(&self, service: &str, stat: &str) -> Option<String>;
    fn agent(&self, login: &str, stat: &str) -> Option<String>;
    fn totals(&self, stat: &str) -> Option<String>;
    /// How a value of `stat` is written on the wire (the tenant's scale for percentages).
    fn written(&self, _stat: &str, value: String) -> String {
        value
    }
    /// How many chat messages are sent when the subscription asks for `asked`.
    fn chat_limit(&self, asked: usize) -> usize {
        asked
    }
}

fn cell(m: &Model, kind: GridKind, row: usize, col: &ColumnDef, ov: &dyn Overrides) -> String {
    let one = |stat: &str| -> String {
        match kind {
            GridKind::Service => ov
                .service(&m.services[row].name, stat)
                .or_else(|| service_value(m, row, stat)),
            GridKind::Agent => ov
                .agent(&m.agents[row].login_id, stat)
                .or_else(|| agent_value(m, row, stat, &col.dispositions)),
        }
        .unwrap_or_default()
    };
    let one = |stat: &str| ov.written(stat, one(stat));
    if col.stat == "SUM" {
        let mut total = 0f64;
        let mut any = false;
        for s in &col.sum {
            if let Ok(v) = one(s).parse::<f64>() {
                total += v;
                any = true;
            }
        }
        if !any {
            String::new()
        } else if total.fract() == 0.0 {
            format!("{}", total as i64)
        } else {
            format!("{total:.2}")
        }
    } else {
        one(&col.stat)
    }
}

fn grid_rows<'a>(m: &Model, kind: GridKind, g: &'a GridDef, ov: &dyn Overrides) -> GridAnswer<'a> {
    let candidates: Vec<usize> = match kind {
        GridKind::Service => (0..m.services.len())
            .filter(|&i| {
                g.service_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&m.services[i].id))
            })
            .collect(),
        GridKind::Agent => (0..m.agents.len())
            .filter(|&i| {
                let a = &m.agents[i];
                (!g.logged_in_only || a.state != AgentState::LoggedOut)
                    && g.team_ids
                        .as_ref()
                        .is_none_or(|ids| ids.contains(&m.teams[a.team].id))
                    && g.service_ids
                        .as_ref()
                        .is_none_or(|ids| a.skills.iter().any(|s| ids.contains(&m.services[*s].id)))
            })
            .collect(),
    };
    let mut rows: Vec<Vec<String>> = candidates
        .into_iter()
        .map(|r| g.columns.iter().map(|c| cell(m, kind, r, c, ov)).collect())
        .collect();
    let col_index = |id: &str| g.columns.iter().position(|c| c.id == id);
    if let Some((by, value, op)) = &g.filter
        && let Some(ci) = col_index(by)
    {
        rows.retain(|r| passes(&r[ci], value, *op));
    }
    if !g.order.is_empty() {
        let keys: Vec<(usize, bool)> = g
            .order
            .iter()
            .filter_map(|(by, desc)| col_index(by).map(|i| (i, *desc)))
            .collect();
        rows.sort_by(|a, b| {
            for (i, desc) in &keys {
                let o = compare(&a[*i], &b[*i]);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    if let Some(l) = g.limit {
        rows.truncate(l);
    }
    // A row is an object keyed by column id: in id order, and a repeated id holds its last
    // column's value, as a JSON map would.
    let mut keys: Vec<(&str, usize)> = g.columns.iter().map(|c| c.id.as_str()).zip(0..).collect();
    keys.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
    keys.dedup_by(|later, first| later.0 == first.0);
    GridAnswer {
        id: &g.id,
        keys,
        rows,
    }
}

/// One grid of a data answer, written straight to JSON: `{"id": …, "values": [{column: value}]}`
/// (no `Value` per cell, which for 5,000 agents was most of the tenant's time per poll).
struct GridAnswer<'a> {
    id: &'a Value,
    /// (column id, index into each row), in the order they are written.
    keys: Vec<(&'a str, usize)>,
    rows: Vec<Vec<String>>,
}

impl Serialize for GridAnswer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Row<'r>(&'r [(&'r str, usize)], &'r [String]);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (id, i) in self.0 {
                    map.serialize_entry(id, &self.1[*i])?;
                }
                map.end()
            }
        }
        struct Rows<'r>(&'r GridAnswer<'r>);
        impl Serialize for Rows<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.rows.iter().map(|r| Row(&self.0.keys, r)))
            }
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("id", self.id)?;
        map.serialize_entry("values", &Rows(self))?;
        map.end()
    }
}

/// What one app of a subscription gets: only the sections it asked for. The fields are in the
/// order of their keys, so the answer's keys come out sorted, as in a JSON map.
#[derive(Default, serde::Serialize)]
struct AppAnswer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_grids: Option<Vec<GridAnswer<'a>>>,
    #[serde(rename = "chat_messages", skip_serializing_if = "Option::is_none")]
    chat: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_grids: Option<Vec<GridAnswer<'a>>>,
    #[serde(rename = "stats_totals", skip_serializing_if = "Option::is_none")]
    totals: Option<Map<String, Value>>,
}

/// The data answer for a subscription, by app id; serialize it to get the body.
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct Answer<'a>(BTreeMap<&'a str, AppAnswer<'a>>);

/// Format a model second as the chat `send_time`: UTC, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn send_time(m: &Model, sent_at: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.epoch + sent_at);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The data answer for `sub`: only the sections each app asked for, every value a string.
pub fn answer<'a>(m: &Model, sub: &'a Subscription, ov: &dyn Overrides) -> Answer<'a> {
    let mut root = BTreeMap::new();
    for app in &sub.apps {
        let mut out = AppAnswer::default();
        if let Some(stats) = &app.totals {
            let services: Vec<usize> = match &app.totals_service_ids {
                Some(ids) if !ids.is_empty() => (0..m.services.len())
                    .filter(|&i| ids.contains(&m.services[i].id))
                    .collect(),
                _ => (0..m.services.len()).collect(),
            };
            let mut t = Map::new();
            for s in stats {
                let v = ov
                    .totals(s)
                    .or_else(|| total_value(m, &services, s))
                    .unwrap_or_default();
                let v = ov.written(s, v);
                t.insert(s.clone(), Value::String(v));
            }
            out.totals = Some(t);
        }
        let grids = |kind, grids: &'a Option<Vec<GridDef>>| {
            grids
                .as_ref()
                .map(|gs| gs.iter().map(|g| grid_rows(m, kind, g, ov)).collect())
        };
        out.service_grids = grids(GridKind::Service, &app.service_grids);
        out.agent_grids = grids(GridKind::Agent, &app.agent_grids);
        if let Some((filter, limit)) = &app.chat {
            let needle = filter.to_lowercase();
            let msgs: Vec<Value> = m
                .chat
                .iter()
                .rev()
                .filter(|c| needle.is_empty() || c.content.to_lowercase().contains(&needle))
                .take(ov.chat_limit(*limit))
                .map(|c| {
                    let a = &m.agents[c.agent];
                    json!({
                        "id": c.id.to_string(),
                        "login_id": a.login_id,
                        "first_name": a.first,
                        "last_name": a.last,
                        "send_time": send_time(m, c.sent_at),
                        "is_urgent": if c.urgent { "1" } else { "0" },
                        "content": c.content,
                    })
                })
                .collect();
            out.chat = Some(msgs);
        }
        root.insert(app.id.as_str(), out);
    }
    Answer(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    struct NoPins;
    impl Overrides for NoPins {
        fn service(&self, _: &str, _: &str) -> Option<String> {
            None
        }
        fn agent(&self, _: &str, _: &str) -> Option<String> {
            None
        }
        fn totals(&self, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn an_answer_is_json_of_only_the_sections_asked_for_rows_keyed_by_column_id() {
        let m = Model::new(&ModelConfig::default());
        let body = json!({
            "b": {
                "stats_totals": ["in_calls_waiting"],
                "service_grids": [{"id": 7, "columns": [
                    {"id": "z", "stat_name": "name"},
                    {"id": "a", "stat_name": "id"},
                    // A repeated id: the last column's value, as a JSON object keeps it.
                    {"id": "z", "stat_name": "service_level_target"},
                ]}],
            },
            "a": {"agent_grids": [{"id": "g", "limit": 2, "columns": [
                {"id": "l", "stat_name": "login_id"},
            ]}]},
        });
        let profile = Profile::named("5.3").unwrap();
        let sub = Subscription::parse(body.to_string().as_bytes(), &profile).unwrap();
        let text = serde_json::to_string(&answer(&m, &sub, &NoPins)).unwrap();
        let s0 = &m.services[0];
        let a = |i: usize| &m.agents[i].login_id;
        let want = format!(
            concat!(
                r#"{{"a":{{"agent_grids":[{{"id":"g","values":[{{"l":"{}"}},{{"l":"{}"}}]}}]}},"#,
                r#""b":{{"service_grids":[{{"id":7,"values":[{{"a":"{}","z":"{}"}},"#
            ),
            a(0),
            a(1),
            s0.id,
            s0.sl_target
        );
        assert!(text.starts_with(&want), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["b"]["service_grids"][0]["values"]
                .as_array()
                .unwrap()
                .len(),
            m.services.len()
        );
        assert!(v["b"]["stats_totals"]["in_calls_waiting"].is_string());
        assert!(v["a"].get("stats_totals").is_none() && v["b"].get("agent_grids").is_none());
    }
}
