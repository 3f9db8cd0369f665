//! The alert decisions: what is true ([`lifecycle`]: a rule's findings become alerts that are
//! pending, firing, resolved), what is told ([`policy`]: silences, acknowledgements, repeats,
//! digests, a cap), what is remembered across restarts ([`store`]) and where it is told
//! ([`notify`]: the desktop, the terminal). [`decisions::Alerting`] steps all of it with explicit
//! times, so it runs the same on a virtual clock as live.
//!
//! Why it exists: deciding who is told is one job, in one place. Rules say what is true now;
//! only this crate decides what becomes a notification.
//!
//! What it must never know: how rules are written (Rhai), how data is fetched (HTTP), windows.
//! Its input is the vocabulary below, which the rules produce.

pub mod decisions;
pub mod inhibit;
pub mod lifecycle;
pub mod notify;
pub mod policy;
pub mod store;

pub use decisions::{ActiveAlert, Alerting, AlertingConfig};

/// How loud an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `state`: a key fires after `for_secs` and resolves when it is gone. `event`: a key notifies
/// once (an urgent chat message) and is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    State,
    Event,
}

/// How the alerts of one rule live: what the lifecycle needs to know of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// The rule's name, as people read it.
    pub name: String,
    pub severity: Severity,
    pub for_secs: u64,
    pub keep_firing_secs: u64,
    pub mode: Mode,
    /// Notify again while firing, every this many seconds (0: never).
    pub repeat_secs: u64,
    pub notify_resolved: bool,
    /// While an alert of this rule fires, the alerts it holds back.
    pub inhibits: Option<Inhibits>,
    /// What to do about an alert of this rule: text, or a link (`https://…`).
    pub runbook: Option<String>,
    /// The schedule (a name in the config's `[schedules]`) outside which the rule is not
    /// evaluated and its alerts end quietly; `None`: always.
    pub active: Option<String>,
}

/// What a firing alert holds back (inhibits): the alerts of `rules` whose `equal` labels have
/// the same values as its own. A label missing on either side is never equal, so an alert
/// about one service never holds back one about the whole center. With `equal` empty it holds
/// back every alert of those rules. An alert never holds back itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inhibits {
    /// Rule ids (file names without `.rhai`).
    pub rules: Vec<String>,
    /// Label names.
    pub equal: Vec<String>,
}

/// A condition a rule says is true now: the input of the alerting stage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule's id (its file name without `.rhai`).
    pub rule: String,
    pub key: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    /// What the alert is about besides its key (`service`, `team`, `agent`, …), as the rule
    /// set them.
    pub labels: Labels,
}

/// An alert's labels: name → value.
pub type Labels = std::collections::BTreeMap<String, String>;

/// The label that scopes an alert to a team: in team mode, only that team's desks receive it;
/// an alert without it is tenant-wide.
pub const TEAM_LABEL: &str = "team";

/// An alert's identity: (rule id, key).
pub type AlertId = (String, String);

/// The rule id of the connection's own alert ("no data"), which goes through the same
/// lifecycle as every rule's.
pub const CONNECTION_RULE: &str = "connection";
/// The key of the connection's "no data" alert.
pub const NO_DATA_KEY: &str = "no-data";
