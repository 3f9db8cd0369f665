//! What the pipeline publishes and what it takes: one typed value after every change, typed
//! commands back. A user interface (the desktop app, a hub's subscribers) reads
//! [`PipelineState`] and decides from its enums and types, never from text.

use std::sync::Arc;

use lookout_alerting::ActiveAlert;
use lookout_alerting::store::HistoryEntry;
use lookout_keeper::{ConnectionStatus, Snapshot};
use lookout_rules::RuleReport;

/// How many history entries the state carries (newest first); the store keeps more.
pub const RECENT_HISTORY: usize = 50;

/// Everything the pipeline knows, as of `at`.
#[derive(Debug, Clone)]
pub struct PipelineState {
    /// When this state was made (Unix seconds).
    pub at: i64,
    /// The connection, as the keeper last said.
    pub connection: ConnectionStatus,
    /// The latest snapshot, once data has arrived.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Every alert, pending or firing, with why it is quiet when it is; in the order a person
    /// should look at them. The connection's "no data" is one of them.
    pub alerts: Vec<ActiveAlert>,
    /// How each rule did on the latest poll.
    pub rules: Vec<RuleReport>,
    /// Notifications are paused until then (`i64::MAX`: until resumed).
    pub paused_until: Option<i64>,
    /// The latest history entries, newest first (up to [`RECENT_HISTORY`]).
    pub history: Vec<HistoryEntry>,
}

impl Default for PipelineState {
    fn default() -> Self {
        PipelineState {
            at: 0,
            connection: ConnectionStatus::Connecting,
            snapshot: None,
            alerts: Vec::new(),
            rules: Vec::new(),
            paused_until: None,
            history: Vec::new(),
        }
    }
}

/// What a user interface asks of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Pause all notifications until then (`i64::MAX`: until resumed).
    Pause {
        until: i64,
    },
    Resume,
    /// Read every rule file now (the folder is otherwise looked at every 200 ms, and an edit
    /// applied once it holds still).
    ReloadRules,
    /// A person acknowledged or snoozed an alert (from a window, not a notification).
    Act(lookout_alerting::notify::ActionEvent),
    /// List the agents of this service (by name) in every snapshot from now on, in
    /// `Snapshot::members` (the agents view's service filter). Only the latest service asked
    /// for is kept, so the subscription grows by one narrow grid at most.
    AgentsOf(String),
}

/// Where the state goes: a `tokio::sync::watch` channel, so a slow reader only ever sees the
/// newest.
pub type StateSender = tokio::sync::watch::Sender<Arc<PipelineState>>;
pub type StateReceiver = tokio::sync::watch::Receiver<Arc<PipelineState>>;

/// A channel for the state, starting from an empty one.
pub fn state_channel() -> (StateSender, StateReceiver) {
    tokio::sync::watch::channel(Arc::new(PipelineState::default()))
}
