//! What travels between a hub and its desks: JSON, versioned, each message read as hostile on
//! arrival (a message that does not parse is dropped and counted, never trusted in part).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lookout_alerting::ActiveAlert;
use lookout_alerting::notify::Notification;
use lookout_keeper::snapshot::{ChatMessage, Grid, Value};
use lookout_keeper::{ConnectionStatus, Snapshot};
use lookout_rules::{Diagnostic, RuleReport};
use serde::{Deserialize, Serialize};

use crate::subjects::Scope;

/// The version of every message; a desk drops a message of another version (and says so once).
pub const VERSION: u32 = 1;

/// The agents-grid column that says which team an agent is on.
pub const TEAM_COLUMN: &str = "team_name";

/// One scope's share of a tenant's pipeline state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeState {
    pub v: u32,
    pub tenant: String,
    pub scope: Scope,
    /// The hub that published it (the active one).
    pub hub: String,
    /// When the hub made it (Unix seconds).
    pub at: i64,
    /// The hub's connection to the tenant (tenant-wide only).
    #[serde(default)]
    pub connection: Option<ConnectionStatus>,
    /// The scope's alerts, with why each is quiet and who acknowledged it.
    pub alerts: Vec<ActiveAlert>,
    /// How each rule did (tenant-wide only).
    #[serde(default)]
    pub rules: Vec<RuleWire>,
    /// The scope's share of the latest data.
    #[serde(default)]
    pub data: Option<DataPart>,
    /// The scope's recent history (what was told, who acknowledged), newest first.
    #[serde(default)]
    pub history: Vec<lookout_alerting::store::HistoryEntry>,
}

/// A rule report as it travels (the rule's file named, not the hub's folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleWire {
    pub id: String,
    pub name: String,
    pub error: Option<DiagnosticWire>,
    pub elapsed_us: u64,
    pub alerts: usize,
    /// The schedule the rule is outside of now (not evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticWire {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub chain: Vec<String>,
    pub warning: bool,
}

impl RuleWire {
    pub fn of(r: &RuleReport) -> RuleWire {
        RuleWire {
            id: r.id.clone(),
            name: r.name.clone(),
            error: r.error.as_ref().map(|d| DiagnosticWire {
                file: d
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                line: d.line,
                col: d.col,
                message: d.message.clone(),
                chain: d.chain.clone(),
                warning: d.warning,
            }),
            elapsed_us: r.elapsed.as_micros().min(u64::MAX as u128) as u64,
            alerts: r.alerts,
            inactive: r.inactive.clone(),
        }
    }

    pub fn report(&self) -> RuleReport {
        RuleReport {
            id: self.id.clone(),
            name: self.name.clone(),
            error: self.error.as_ref().map(|d| Diagnostic {
                path: PathBuf::from(&d.file),
                line: d.line,
                col: d.col,
                message: d.message.clone(),
                chain: d.chain.clone(),
                warning: d.warning,
            }),
            elapsed: Duration::from_micros(self.elapsed_us),
            alerts: self.alerts,
            inactive: self.inactive.clone(),
        }
    }
}

/// A grid as it travels: columns once, rows as lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GridWire {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl GridWire {
    fn of(g: &Grid, keep: impl Fn(&[Value]) -> bool) -> GridWire {
        GridWire {
            columns: g.columns.clone(),
            rows: g.rows.iter().filter(|r| keep(r)).cloned().collect(),
        }
    }

    /// Back into a grid; a row of the wrong length is padded or cut to the columns.
    fn grid(self) -> Grid {
        let n = self.columns.len();
        Grid {
            rows: self
                .rows
                .into_iter()
                .map(|mut r| {
                    r.resize(n, Value::None);
                    r
                })
                .collect(),
            columns: self.columns,
        }
    }
}

/// A scope's share of one snapshot: tenant-wide, everything but the agents of a team;
/// a team's, its agents' rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataPart {
    pub taken_at: i64,
    #[serde(default)]
    pub totals: BTreeMap<String, Value>,
    #[serde(default)]
    pub services: GridWire,
    #[serde(default)]
    pub agents: GridWire,
    #[serde(default)]
    pub chat: Vec<ChatMessage>,
    #[serde(default)]
    pub availability: BTreeMap<String, bool>,
    #[serde(default)]
    pub percent_scales: BTreeMap<String, String>,
}

/// The team of an agents-grid row, when the grid has the column and the row a name.
fn team_of<'a>(g: &Grid, row: &'a [Value]) -> Option<&'a str> {
    let c = g.column(TEAM_COLUMN)?;
    row.get(c)?.as_str().filter(|t| !t.is_empty())
}

impl DataPart {
    /// The tenant-wide share: totals, services, chat, and the agents on no team.
    pub fn tenant_wide(s: &Snapshot) -> DataPart {
        DataPart {
            taken_at: s.taken_at,
            totals: s.totals.clone(),
            services: GridWire::of(&s.services, |_| true),
            agents: GridWire::of(&s.agents, |r| team_of(&s.agents, r).is_none()),
            chat: s.chat.clone(),
            availability: s.availability.clone(),
            percent_scales: s.percent_scales.clone(),
        }
    }

    /// One team's share: its agents' rows.
    pub fn team(s: &Snapshot, team: &str) -> DataPart {
        DataPart {
            taken_at: s.taken_at,
            agents: GridWire::of(&s.agents, |r| team_of(&s.agents, r) == Some(team)),
            ..DataPart::default()
        }
    }

    /// The teams the snapshot's agents are on.
    pub fn teams(s: &Snapshot) -> BTreeSet<String> {
        s.agents
            .rows
            .iter()
            .filter_map(|r| team_of(&s.agents, r))
            .map(str::to_string)
            .collect()
    }

    /// The parts a desk may read, put back together: tenant-wide first, then each team's
    /// agents (under the tenant-wide part's columns when they differ).
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a DataPart>) -> Option<Arc<Snapshot>> {
        let mut parts = parts.into_iter();
        let first = parts.next()?.clone();
        let mut snap = Snapshot::default();
        snap.taken_at = first.taken_at;
        snap.totals = first.totals;
        snap.services = first.services.grid();
        snap.chat = first.chat;
        snap.availability = first.availability;
        snap.percent_scales = first.percent_scales;
        let mut agents = first.agents.grid();
        for p in parts {
            snap.taken_at = snap.taken_at.max(p.taken_at);
            let g = p.agents.clone().grid();
            if agents.columns.is_empty() {
                agents.columns = g.columns.clone();
            }
            for row in g.rows {
                let mut out = vec![Value::None; agents.columns.len()];
                for (c, name) in g.columns.iter().enumerate() {
                    if let Some(at) = agents.column(name) {
                        out[at] = row[c].clone();
                    }
                }
                agents.rows.push(out);
            }
        }
        snap.agents = agents;
        Some(Arc::new(snap))
    }
}

/// A notification the hub decided, for the desks of its scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Told {
    pub v: u32,
    pub tenant: String,
    pub hub: String,
    /// When the hub sent it (Unix milliseconds, the hub's clock): how late a desk hears it.
    #[serde(default)]
    pub sent_ms: i64,
    pub notification: Notification,
}

/// Unix milliseconds now.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Someone acknowledged an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acked {
    pub v: u32,
    pub tenant: String,
    pub rule: String,
    pub rule_name: String,
    pub key: String,
    pub by: String,
    pub at: i64,
}

/// A desk asks to acknowledge: an alert by its key (of any rule, or of `rule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckRequest {
    pub v: u32,
    #[serde(default)]
    pub rule: Option<String>,
    pub key: String,
}

/// A person snoozes an alert on all their desks: by its key (of any rule, or of `rule`)
/// until then (Unix seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnoozeRequest {
    pub v: u32,
    #[serde(default)]
    pub rule: Option<String>,
    pub key: String,
    pub until: i64,
}

/// What a hub watches, announced to every desk (names only: no data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    pub v: u32,
    pub hub: String,
    pub tenants: Vec<TenantEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantEntry {
    pub tenant: String,
    pub teams: Vec<String>,
}

/// Read a message: JSON of the current version, or why not.
pub fn read<T: serde::de::DeserializeOwned + Versioned>(payload: &[u8]) -> Result<T, String> {
    let m: T = serde_json::from_slice(payload).map_err(|e| format!("does not parse: {e}"))?;
    if m.version() != VERSION {
        return Err(format!(
            "version {} (this Lookout reads version {VERSION})",
            m.version()
        ));
    }
    Ok(m)
}

/// A message with a version.
pub trait Versioned {
    fn version(&self) -> u32;
}

macro_rules! versioned {
    ($($t:ty),*) => {$(impl Versioned for $t { fn version(&self) -> u32 { self.v } })*};
}
versioned!(
    ScopeState,
    Told,
    Acked,
    AckRequest,
    SnoozeRequest,
    Directory
);

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::default();
        s.taken_at = 100;
        s.totals.insert("in_calls_waiting".into(), Value::Int(4));
        s.services = Grid {
            columns: vec!["name".into(), "service_level".into()],
            rows: vec![vec![text("Billing"), Value::Float(87.5)]],
        };
        s.agents = Grid {
            columns: vec![
                "login_id".into(),
                TEAM_COLUMN.into(),
                "state_duration".into(),
            ],
            rows: vec![
                vec![text("ana"), text("Front Line"), Value::Int(30)],
                vec![text("bo"), text("Specialists"), Value::Int(5)],
                vec![text("cy"), Value::None, Value::None],
            ],
        };
        s
    }

    #[test]
    fn each_team_gets_its_agents_and_the_parts_merge_back() {
        let s = snapshot();
        assert_eq!(
            DataPart::teams(&s).into_iter().collect::<Vec<_>>(),
            ["Front Line", "Specialists"]
        );
        let all = DataPart::tenant_wide(&s);
        let front = DataPart::team(&s, "Front Line");
        assert_eq!(all.agents.rows.len(), 1, "only the agent on no team");
        assert_eq!(front.agents.rows, vec![s.agents.rows[0].clone()]);
        assert!(front.services.rows.is_empty() && front.totals.is_empty());
        // Over the wire and back.
        let json = serde_json::to_vec(&front).unwrap();
        let back: DataPart = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, front);
        let merged = DataPart::merge([&all, &back]).unwrap();
        assert_eq!(merged.totals, s.totals);
        assert_eq!(merged.services, s.services);
        let logins: Vec<_> = (0..merged.agents.len())
            .map(|r| {
                merged
                    .agents
                    .get(r, "login_id")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(logins, ["cy", "ana"], "never the other team's bo");
    }

    #[test]
    fn a_message_of_another_version_or_shape_is_refused() {
        let ok = br#"{"v":1,"key":"wait:Billing"}"#;
        assert_eq!(read::<AckRequest>(ok).unwrap().key, "wait:Billing");
        assert!(
            read::<AckRequest>(br#"{"v":2,"key":"x"}"#)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(
            read::<AckRequest>(b"\x1b[31m")
                .unwrap_err()
                .contains("does not parse")
        );
        assert!(read::<ScopeState>(br#"{"v":1}"#).is_err());
    }
}
