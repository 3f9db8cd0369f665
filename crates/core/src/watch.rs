//! The whole headless pipeline: keeper → rules → alerts → notifier, as `lookout watch` runs
//! it (and the desktop app will).
//!
//! [`Alerting`] is the part with the decisions, synchronous and stepped with explicit times, so
//! it is tested on a virtual clock; [`run`] wires it to the keeper, the rule thread, the store
//! and a notifier.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::alerts::{Lifecycle, Notice, NoticeKind};
use crate::keeper::{self, ConnectionStatus, KeeperOptions, ShutdownReport};
use crate::notify::policy::{Held, Policy, PolicyConfig};
use crate::notify::{ActionEvent, Notification, Notifier};
use crate::rules::worker::{Event, RuleWorker};
use crate::rules::{Evaluation, Rule, RuleEngine, RuleMeta, RuleSet, Severity};
use crate::store::{HistoryEntry, Store};
use crate::unix_now;

/// The rule id and key of the connection's own alert.
pub const CONNECTION_RULE: &str = "connection";
pub const NO_DATA_KEY: &str = "no-data";

/// Settings of the alerting stage.
#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// The tenant, for "no data from <tenant>".
    pub tenant: String,
    pub no_data_after: i64,
    pub grace: i64,
    pub policy: PolicyConfig,
}

impl AlertingConfig {
    /// The settings a configuration asks for, for `tenant`.
    pub fn from_config(
        tenant: String,
        alerts: &crate::config::AlertsConfig,
        notifications: &crate::config::NotificationsConfig,
    ) -> AlertingConfig {
        AlertingConfig {
            tenant,
            no_data_after: alerts.no_data_secs as i64,
            grace: alerts.grace_secs as i64,
            policy: PolicyConfig::from_config(alerts, notifications),
        }
    }
}

/// Lifecycle, health, policy and store, stepped with times.
pub struct Alerting {
    config: AlertingConfig,
    lifecycle: Lifecycle,
    policy: Policy,
    pub store: Store,
    metas: BTreeMap<String, RuleMeta>,
    /// When data last came (or when watching began).
    last_data: i64,
    no_data_raised: bool,
    grace_until: i64,
    /// Something worth saving changed since the last [`Alerting::save_if_dirty`].
    dirty: bool,
}

impl Alerting {
    pub fn new(config: AlertingConfig, store: Store, now: i64) -> Alerting {
        let mut lifecycle = Lifecycle::default();
        lifecycle.remember_events(
            store
                .state
                .seen_events
                .iter()
                .map(|(r, k, t)| ((r.clone(), k.clone()), *t)),
        );
        let policy = Policy::new(config.policy.clone());
        Alerting {
            config,
            lifecycle,
            policy,
            store,
            metas: BTreeMap::new(),
            last_data: now,
            no_data_raised: false,
            grace_until: 0,
            dirty: false,
        }
    }

    /// The rules that exist now (their alerts resolve when they go).
    pub fn set_rules<'a>(&mut self, rules: impl Iterator<Item = &'a Rule>) {
        self.metas = rules.map(|r| (r.id.clone(), r.meta.clone())).collect();
    }

    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// A fresh snapshot arrived at `now` (its rules run later).
    pub fn data_arrived(&mut self, now: i64) -> (Vec<Notification>, Vec<Held>) {
        self.last_data = now;
        if !self.no_data_raised {
            return (Vec::new(), Vec::new());
        }
        self.no_data_raised = false;
        // Back after a gap: the first polls may be half loaded.
        self.grace_until = now + self.config.grace;
        let n = self.connection_notice(NoticeKind::Resolved, now, "Data is arriving again.");
        self.tell(now, vec![n])
    }

    /// The rules ran over a snapshot.
    pub fn evaluated(&mut self, e: &Evaluation) -> (Vec<Notification>, Vec<Held>) {
        let grace = e.now < self.grace_until;
        let notices = self
            .lifecycle
            .step_with(e.now, &self.metas, &e.findings, grace);
        self.store.state.seen_events = self
            .lifecycle
            .seen_events()
            .iter()
            .map(|((r, k), t)| (r.clone(), k.clone(), *t))
            .collect();
        self.tell(e.now, notices)
    }

    /// Once a second: raise "no data" when data has been missing too long. `status` says why,
    /// in the alert's body. Data rules are not stepped meanwhile, so they neither fire nor
    /// resolve while Lookout is blind.
    pub fn tick(&mut self, now: i64, status: &ConnectionStatus) -> (Vec<Notification>, Vec<Held>) {
        if self.no_data_raised || now - self.last_data < self.config.no_data_after {
            return (Vec::new(), Vec::new());
        }
        self.no_data_raised = true;
        let why = format!(
            "No fresh data for {}; the connection is {}.",
            crate::rules::fmt_dur(now - self.last_data),
            status.describe(std::time::SystemTime::now())
        );
        let n = self.connection_notice(NoticeKind::Firing, now, &why);
        self.tell(now, vec![n])
    }

    /// Every alert now, the connection's own first, each with the reason it is quiet (if it
    /// is): silenced alerts stay visible.
    pub fn current(&self, now: i64) -> Vec<AlertView> {
        let mut out = Vec::new();
        if self.no_data_raised {
            out.push(AlertView {
                rule: CONNECTION_RULE.into(),
                rule_name: "Connection".into(),
                key: NO_DATA_KEY.into(),
                severity: Severity::Critical,
                state: crate::alerts::State::Firing,
                title: format!("No data from {}", self.config.tenant),
                body: String::new(),
                since: self.last_data + self.config.no_data_after,
                quiet: self
                    .store
                    .state
                    .silences
                    .quiet(now, CONNECTION_RULE, NO_DATA_KEY)
                    .map(|q| q.to_string()),
            });
        }
        for a in self.lifecycle.alerts() {
            out.push(AlertView {
                rule: a.rule.clone(),
                rule_name: a.rule_name.clone(),
                key: a.key.clone(),
                severity: a.severity,
                state: a.state,
                title: a.title.clone(),
                body: a.body.clone(),
                since: a.firing_since.unwrap_or(a.since),
                quiet: self
                    .store
                    .state
                    .silences
                    .quiet(now, &a.rule, &a.key)
                    .map(|q| q.to_string()),
            });
        }
        // What needs a person first: firing before pending, loud before quiet, critical
        // before warning, oldest first.
        out.sort_by_key(|a| {
            (
                a.state != crate::alerts::State::Firing,
                a.quiet.is_some(),
                std::cmp::Reverse(a.severity),
                a.since,
            )
        });
        out
    }

    /// True while the "no data" alert is up.
    pub fn blind(&self) -> bool {
        self.no_data_raised
    }

    /// Save the store if something changed since the last save; the error names the file.
    pub fn save_if_dirty(&mut self) -> Result<(), String> {
        if !std::mem::take(&mut self.dirty) {
            return Ok(());
        }
        self.store
            .save()
            .map_err(|e| format!("cannot save {}: {e}", self.store.path().display()))
    }

    /// A person paused or resumed notifications.
    pub fn control(&mut self, c: &Control) {
        self.store.state.silences.paused_until = match c {
            Control::Pause { until } => Some(*until),
            Control::Resume => None,
            Control::ReloadRules => return,
        };
        self.dirty = true;
    }

    /// A person acted on a notification.
    pub fn action(&mut self, e: &ActionEvent, now: i64) {
        self.dirty = true;
        self.store.state.silences.apply(e, now);
        self.store.state.record(HistoryEntry {
            at: now,
            rule: e.rule.clone(),
            key: e.key.clone(),
            what: format!("{:?}", e.action).to_lowercase(),
            title: String::new(),
        });
    }

    fn connection_notice(&self, kind: NoticeKind, now: i64, body: &str) -> Notice {
        Notice {
            kind,
            notify: true,
            rule: CONNECTION_RULE.into(),
            rule_name: "Connection".into(),
            key: NO_DATA_KEY.into(),
            severity: Severity::Critical,
            title: format!("No data from {}", self.config.tenant),
            body: body.into(),
            at: now,
        }
    }

    fn tell(&mut self, now: i64, notices: Vec<Notice>) -> (Vec<Notification>, Vec<Held>) {
        self.dirty |= !notices.is_empty();
        for n in &notices {
            self.store.state.record(HistoryEntry {
                at: now,
                rule: n.rule.clone(),
                key: n.key.clone(),
                what: match n.kind {
                    NoticeKind::Firing => "firing",
                    NoticeKind::Repeat => "repeat",
                    NoticeKind::Resolved => "resolved",
                }
                .into(),
                title: n.title.clone(),
            });
        }
        self.policy
            .decide(now, notices, &mut self.store.state.silences)
    }
}

/// How rules' errors reach the log: once when one starts, then at most once a minute while it
/// persists (with how often it recurred), and again when it changes or stops. Three broken
/// rules must not write three lines a second forever.
#[derive(Debug, Default)]
pub struct RuleErrorLog {
    /// Rule id → its current error.
    open: BTreeMap<String, OpenError>,
}

#[derive(Debug)]
struct OpenError {
    message: String,
    logged_at: i64,
    /// Polls that failed the same way since it was last logged.
    again: u64,
}

/// The least time between two log lines about the same persisting error.
pub const RULE_ERROR_REPEAT_SECS: i64 = 60;

impl RuleErrorLog {
    /// The lines to log for the reports of a poll at `now`.
    pub fn lines(&mut self, now: i64, reports: &[crate::rules::RuleReport]) -> Vec<String> {
        let mut out = Vec::new();
        for r in reports {
            let Some(d) = &r.error else {
                if self.open.remove(&r.id).is_some() {
                    out.push(format!("rule `{}` runs without errors again", r.id));
                }
                continue;
            };
            let message = d.to_string();
            match self.open.get_mut(&r.id) {
                Some(open) if open.message == message => {
                    open.again += 1;
                    if now - open.logged_at >= RULE_ERROR_REPEAT_SECS {
                        out.push(format!(
                            "{message} (still failing: {} more time{} in the last {})",
                            open.again,
                            if open.again == 1 { "" } else { "s" },
                            crate::rules::fmt_dur(now - open.logged_at)
                        ));
                        open.logged_at = now;
                        open.again = 0;
                    }
                }
                _ => {
                    out.push(message.clone());
                    self.open.insert(
                        r.id.clone(),
                        OpenError {
                            message,
                            logged_at: now,
                            again: 0,
                        },
                    );
                }
            }
        }
        // Rules that are gone take their errors with them.
        self.open
            .retain(|id, _| reports.iter().any(|r| &r.id == id));
        out
    }
}

/// An alert as the overview shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertView {
    pub rule: String,
    pub rule_name: String,
    pub key: String,
    pub severity: Severity,
    pub state: crate::alerts::State,
    pub title: String,
    pub body: String,
    /// Firing since (or pending since).
    pub since: i64,
    /// Why it makes no noise, when it does not.
    pub quiet: Option<String>,
}

/// What the pipeline reports besides notifications.
#[derive(Debug, Clone)]
pub enum Report {
    Status(ConnectionStatus),
    /// A problem with a rule, the rules folder or the store, for the log.
    Problem(String),
}

/// Everything [`run`] needs.
pub struct WatchSetup {
    pub client: lookout_statsapi::Client,
    pub keeper: KeeperOptions,
    pub rules_dir: PathBuf,
    pub store_path: PathBuf,
    pub alerting: AlertingConfig,
    /// Where to publish the state for a user interface (the desktop app's overview and tray).
    pub overview: Option<tokio::sync::watch::Sender<Arc<Overview>>>,
    /// Requests from a user interface.
    pub controls: Option<tokio::sync::mpsc::UnboundedReceiver<Control>>,
}

/// What a user interface asks of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Pause all notifications until then (`i64::MAX`: until resumed).
    Pause {
        until: i64,
    },
    Resume,
    /// Read every rule file now (the folder is otherwise looked at every 200 ms, and an edit
    /// applied once it holds still).
    ReloadRules,
}

impl WatchSetup {
    /// What a configuration asks for: its tenant, keeper options and alert settings.
    pub fn from_config(
        config: &crate::Config,
        client: lookout_statsapi::Client,
        rules_dir: PathBuf,
        store_path: PathBuf,
    ) -> WatchSetup {
        WatchSetup {
            client,
            keeper: KeeperOptions::from_config(config),
            rules_dir,
            store_path,
            alerting: AlertingConfig::from_config(
                config.tenant(),
                &config.alerts,
                &config.notifications,
            ),
            overview: None,
            controls: None,
        }
    }
}

/// Everything a user interface shows, published after every change.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overview {
    /// The connection state name and its description.
    pub state: String,
    pub detail: String,
    /// When the latest data arrived (Unix seconds).
    pub data_at: Option<i64>,
    pub alerts: Vec<AlertView>,
    pub services: Vec<ServiceRow>,
    pub rules: Vec<crate::rules::RuleReport>,
    pub paused_until: Option<i64>,
    /// Urgent chat messages of the latest data, newest first.
    pub urgent_chat: Vec<crate::snapshot::ChatMessage>,
    /// The latest history entries, newest first.
    pub history: Vec<crate::store::HistoryEntry>,
}

/// Calls waiting per service, one sample a minute, for the overview's sparklines.
#[derive(Debug, Clone, Default)]
struct Trends {
    minute: i64,
    waiting: std::collections::BTreeMap<String, std::collections::VecDeque<i64>>,
}

/// Minutes of trend kept.
pub const TREND_MINUTES: usize = 30;

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

/// Keeps the [`Overview`] for a user interface up to date. With nobody listening (the command
/// line) it does nothing, so the poll path pays nothing for it.
struct OverviewFeed {
    tx: Option<tokio::sync::watch::Sender<Arc<Overview>>>,
    view: Overview,
    trends: Trends,
}

impl OverviewFeed {
    fn status(&mut self, s: &ConnectionStatus) {
        if self.tx.is_none() {
            return;
        }
        self.view.state = s.state().into();
        self.view.detail = s.describe(std::time::SystemTime::now());
        self.publish();
    }

    fn data(&mut self, snap: &crate::snapshot::Snapshot) {
        if self.tx.is_none() {
            return;
        }
        self.view.data_at = Some(snap.taken_at);
        let mut rows = ServiceRow::rows(snap);
        self.trends.add(snap.taken_at, &mut rows);
        self.view.services = rows;
        self.view.urgent_chat = snap
            .chat
            .iter()
            .filter(|m| m.is_urgent)
            .take(20)
            .cloned()
            .collect();
    }

    fn evaluated(&mut self, alerting: &Alerting, e: &Evaluation) {
        if self.tx.is_none() {
            return;
        }
        self.view.alerts = alerting.current(e.now);
        self.view.rules = e.reports.clone();
        self.publish();
    }

    /// Once a second, and after a person's request: alert ages, silences, history.
    fn refresh(&mut self, alerting: &Alerting, status: &ConnectionStatus, now: i64) {
        if self.tx.is_none() {
            return;
        }
        self.view.detail = status.describe(std::time::SystemTime::now());
        self.view.alerts = alerting.current(now);
        self.view.paused_until = alerting.store.state.silences.paused_until;
        self.view.history = alerting
            .store
            .state
            .history
            .iter()
            .rev()
            .take(50)
            .cloned()
            .collect();
        self.publish();
    }

    fn publish(&self) {
        if let Some(tx) = &self.tx {
            tx.send_replace(Arc::new(self.view.clone()));
        }
    }
}

/// One service at a glance.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServiceRow {
    pub name: String,
    /// Calls waiting, a sample a minute, oldest first (up to 30 minutes).
    pub trend: Vec<i64>,
    pub waiting: Option<i64>,
    pub longest_wait: Option<i64>,
    pub ready: Option<i64>,
    pub service_level: Option<f64>,
    pub available: Option<bool>,
}

impl ServiceRow {
    fn rows(snap: &crate::snapshot::Snapshot) -> Vec<ServiceRow> {
        let g = &snap.services;
        (0..g.len())
            .map(|r| {
                let name = g
                    .get(r, "name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                ServiceRow {
                    waiting: g.get(r, "in_calls_waiting").and_then(|v| v.as_i64()),
                    longest_wait: g.get(r, "in_max_wait_time").and_then(|v| v.as_i64()),
                    ready: g.get(r, "agents_ready").and_then(|v| v.as_i64()),
                    service_level: g.get(r, "service_level").and_then(|v| v.as_f64()),
                    available: snap.availability.get(&name).copied(),
                    trend: Vec::new(),
                    name,
                }
            })
            .collect()
    }
}

/// Run the pipeline until `stop` completes. Notifications go to `notifier` (on a thread of its
/// own, so a slow notification server never holds up polling); status changes and problems
/// go to `report`. On the way out the subscription is deleted and the store saved.
pub async fn run(
    setup: WatchSetup,
    notifier: Box<dyn Notifier>,
    actions: Option<tokio::sync::mpsc::UnboundedReceiver<ActionEvent>>,
    mut report: impl FnMut(Report) + Send,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ShutdownReport, String> {
    let engine = RuleEngine::default();
    let rules = RuleSet::load(&engine, &setup.rules_dir).map_err(|e| {
        format!(
            "cannot read the rules folder {}: {e}",
            setup.rules_dir.display()
        )
    })?;
    for d in rules.diagnostics() {
        report(Report::Problem(d.to_string()));
    }
    if rules.files.is_empty() {
        report(Report::Problem(format!(
            "no rules in {}: only the connection is watched (see docs/rules.md)",
            setup.rules_dir.display()
        )));
    }
    let (store, warning) = Store::open(&setup.store_path);
    if let Some(w) = warning {
        report(Report::Problem(w));
    }
    let mut feed = OverviewFeed {
        tx: setup.overview,
        view: Overview::default(),
        trends: Trends::default(),
    };
    let mut controls = setup.controls;
    let mut alerting = Alerting::new(setup.alerting, store, unix_now());
    alerting.set_rules(rules.rules().map(|r| &**r));
    let mut running: Vec<Arc<Rule>> = rules.rules().cloned().collect();
    let mut plan = rules.plan();
    let mut keeper = keeper::spawn(setup.client, plan.clone(), setup.keeper);
    let mut changes = keeper
        .take_changes()
        .ok_or("the keeper's status changes were already taken")?;
    let mut snapshots = keeper.snapshots();
    let mut dispositions = keeper.dispositions();
    let status = keeper.status();

    let (rule_tx, mut rule_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = RuleWorker::start(engine, rules, move |ev| {
        let _ = rule_tx.send(ev);
    })
    .map_err(|e| format!("cannot start the rule thread: {e}"))?;

    let (note_tx, note_rx) = std::sync::mpsc::channel::<Notification>();
    let notifier_thread = std::thread::Builder::new()
        .name("lookout-notifier".into())
        .spawn(move || {
            let mut notifier = notifier;
            for n in note_rx {
                if let Err(e) = notifier.notify(&n) {
                    tracing::warn!("{e}");
                }
            }
        })
        .map_err(|e| format!("cannot start the notifier thread: {e}"))?;
    // What is about to be told is saved first: killed right after, the next start knows it
    // was told and does not tell it again.
    let send = |out: (Vec<Notification>, Vec<Held>),
                alerting: &mut Alerting,
                report: &mut dyn FnMut(Report)| {
        if !out.0.is_empty()
            && let Err(e) = alerting.save_if_dirty()
        {
            report(Report::Problem(e));
        }
        for h in out.1 {
            tracing::info!(
                rule = h.notice.rule,
                key = h.notice.key,
                "held: {}",
                h.reason
            );
        }
        for n in out.0 {
            if note_tx.send(n).is_err() {
                report(Report::Problem("the notifier stopped".into()));
            }
        }
    };

    let check_dispositions =
        |running: &[Arc<Rule>], list: &[String], report: &mut dyn FnMut(Report)| {
            for d in crate::rules::check_dispositions(running.iter().map(|r| &**r), list) {
                report(Report::Problem(d.to_string()));
            }
        };
    let mut actions = actions;
    let mut rule_errors = RuleErrorLog::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(s) = changes.recv() => {
                feed.status(&s);
                report(Report::Status(s));
            }
            Ok(()) = snapshots.changed() => {
                let snap = snapshots.borrow_and_update().clone();
                if let Some(snap) = snap {
                    let at = snap.taken_at;
                    let out = alerting.data_arrived(at);
                    send(out, &mut alerting, &mut report);
                    feed.data(&snap);
                    worker.submit(snap, at);
                }
            }
            Some(ev) = rule_rx.recv() => match ev {
                Event::Evaluated(e) => {
                    for line in rule_errors.lines(e.now, &e.reports) {
                        tracing::warn!("{line}");
                    }
                    let out = alerting.evaluated(&e);
                    send(out, &mut alerting, &mut report);
                    feed.evaluated(&alerting, &e);
                }
                Event::Reloaded { changes, plan: new_plan, rules: now_running } => {
                    for c in &changes {
                        if let crate::rules::Change::Broken(_, d) = c {
                            report(Report::Problem(format!("{d} (its last good version keeps running)")));
                        }
                    }
                    running = now_running;
                    alerting.set_rules(running.iter().map(|r| &**r));
                    if let Some(list) = dispositions.borrow().clone() {
                        check_dispositions(&running, &list, &mut report);
                    }
                    if new_plan != plan {
                        plan = new_plan.clone();
                        keeper.set_plan(new_plan);
                    }
                }
            },
            Ok(()) = dispositions.changed() => {
                let list = dispositions.borrow_and_update().clone();
                if let Some(list) = list {
                    check_dispositions(&running, &list, &mut report);
                }
            }
            Some(a) = async {
                match actions.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                // A person's acknowledgement or snooze is kept at once, not at the next tick.
                alerting.action(&a, unix_now());
                if let Err(e) = alerting.save_if_dirty() {
                    report(Report::Problem(e));
                }
            }
            Some(c) = async {
                match controls.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if c == Control::ReloadRules {
                    worker.reload();
                } else {
                    alerting.control(&c);
                    feed.refresh(&alerting, &status.borrow(), unix_now());
                }
            }
            _ = tick.tick() => {
                let current = status.borrow().clone();
                let now = unix_now();
                let out = alerting.tick(now, &current);
                send(out, &mut alerting, &mut report);
                feed.refresh(&alerting, &current, now);
                // Saved when something changed: at most once a second, not once a poll.
                if let Err(e) = alerting.save_if_dirty() {
                    report(Report::Problem(e));
                }
            }
        }
    }
    let shut = keeper.shutdown().await;
    worker.stop();
    drop(note_tx);
    let _ = notifier_thread.join();
    if let Err(e) = alerting.store.save() {
        report(Report::Problem(format!(
            "cannot save {}: {e}",
            alerting.store.path().display()
        )));
    }
    Ok(shut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotificationState;
    use crate::rules::Finding;
    use std::path::Path;

    fn store(name: &str) -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!("lookout-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.json");
        (Store::open(&path).0, path)
    }

    fn config() -> AlertingConfig {
        AlertingConfig {
            tenant: "demo.lookout.test".into(),
            no_data_after: 60,
            grace: 10,
            policy: PolicyConfig::default(),
        }
    }

    fn rules(dir: &Path, files: &[(&str, &str)]) -> RuleSet {
        std::fs::create_dir_all(dir).unwrap();
        for (n, t) in files {
            std::fs::write(dir.join(n), t).unwrap();
        }
        RuleSet::load(&RuleEngine::default(), dir).unwrap()
    }

    fn eval(now: i64, found: &[(&str, &str)]) -> Evaluation {
        Evaluation {
            now,
            findings: found
                .iter()
                .map(|(r, k)| Finding {
                    rule: r.to_string(),
                    key: k.to_string(),
                    severity: Severity::Critical,
                    title: format!("{k}!"),
                    body: String::new(),
                })
                .collect(),
            reports: Vec::new(),
        }
    }

    fn told(out: (Vec<Notification>, Vec<Held>)) -> Vec<String> {
        out.0
            .iter()
            .map(|n| format!("{:?} {}", n.state, n.key))
            .collect()
    }

    #[test]
    fn a_persisting_rule_error_is_logged_once_a_minute_and_when_it_changes_or_clears() {
        let report = |error: Option<&str>| crate::rules::RuleReport {
            id: "r".into(),
            name: "R".into(),
            error: error.map(|m| crate::rules::Diagnostic::error(Path::new("r.rhai"), 2, 9, m)),
            elapsed: Duration::ZERO,
            alerts: 0,
        };
        let mut log = RuleErrorLog::default();
        let mut lines = Vec::new();
        for now in 0..130 {
            lines.extend(log.lines(now, &[report(Some("Division by zero"))]));
        }
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].ends_with("r.rhai:2:9: Division by zero"),
            "{lines:?}"
        );
        assert!(
            lines[1].ends_with("(still failing: 60 more times in the last 1m 00s)"),
            "{lines:?}"
        );
        // A different error is news; so is none.
        assert_eq!(log.lines(130, &[report(Some("Something else"))]).len(), 1);
        assert_eq!(
            log.lines(131, &[report(None)]),
            ["rule `r` runs without errors again"]
        );
        assert!(log.lines(132, &[report(None)]).is_empty());
    }

    #[test]
    fn no_data_raises_one_alert_freezes_rules_and_resolves_with_a_grace_period() {
        let (st, path) = store("nodata");
        let set = rules(
            &path.parent().unwrap().join("rules"),
            &[(
                "r.rhai",
                "const RULE = #{ name: \"R\", severity: \"critical\", needs: #{} };",
            )],
        );
        let mut a = Alerting::new(config(), st, 0);
        a.set_rules(set.rules().map(|r| &**r));
        assert_eq!(told(a.evaluated(&eval(0, &[("r", "x")]))), ["Firing x"]);
        let status = ConnectionStatus::Connecting;
        assert!(told(a.tick(59, &status)).is_empty());
        let out = a.tick(61, &status);
        assert_eq!(out.0.len(), 1);
        assert_eq!(out.0[0].title, "No data from demo.lookout.test");
        assert!(
            out.0[0].body.starts_with("No fresh data for 1m 01s"),
            "{}",
            out.0[0].body
        );
        assert!(told(a.tick(62, &status)).is_empty(), "raised once");
        assert!(a.blind());
        // Data is back: the alert resolves; in the grace period `x` missing does not resolve.
        assert_eq!(told(a.data_arrived(100)), ["Resolved no-data"]);
        assert!(told(a.evaluated(&eval(100, &[]))).is_empty());
        assert_eq!(
            a.lifecycle()
                .alerts()
                .map(|x| x.key.as_str())
                .collect::<Vec<_>>(),
            ["x"]
        );
        assert_eq!(told(a.evaluated(&eval(111, &[]))), ["Resolved x"]);
    }

    #[test]
    fn a_restart_does_not_tell_again_what_was_acknowledged_or_seen() {
        let (st, path) = store("restart");
        let dir = path.parent().unwrap().join("rules");
        let set = rules(
            &dir,
            &[
                (
                    "r.rhai",
                    "const RULE = #{ name: \"R\", severity: \"critical\", needs: #{} };",
                ),
                (
                    "chat.rhai",
                    "const RULE = #{ name: \"C\", mode: \"event\", needs: #{ chat: true } };",
                ),
            ],
        );
        let mut a = Alerting::new(config(), st, 0);
        a.set_rules(set.rules().map(|r| &**r));
        let out = a.evaluated(&eval(0, &[("r", "x"), ("chat", "chat:1")]));
        assert_eq!(told(out).len(), 2);
        a.action(
            &ActionEvent {
                rule: "r".into(),
                key: "x".into(),
                digest: None,
                action: crate::notify::Action::Acknowledge,
            },
            5,
        );
        a.store.save().unwrap();

        // A new process: same conditions hold. Nothing is told again.
        let (st, w) = Store::open(&path);
        assert!(w.is_none());
        let mut b = Alerting::new(config(), st, 100);
        b.set_rules(set.rules().map(|r| &**r));
        let (out, held) = b.evaluated(&eval(100, &[("r", "x"), ("chat", "chat:1")]));
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].reason, "acknowledged");
        // Quiet, but still shown, with the reason.
        let x = b.current(100).into_iter().find(|v| v.key == "x").unwrap();
        assert_eq!(x.quiet.as_deref(), Some("acknowledged"));
        // A new chat message is still told; `x` resolving ends its acknowledgement.
        let (out, _) = b.evaluated(&eval(102, &[("chat", "chat:1"), ("chat", "chat:2")]));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].key.as_str(), out[0].state),
            ("chat:2", NotificationState::Firing)
        );
        assert!(b.store.state.silences.acknowledged.is_empty());
        assert!(
            b.store
                .state
                .history
                .iter()
                .any(|h| h.what == "acknowledge")
        );
    }
}
