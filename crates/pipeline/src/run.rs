//! [`run`]: the keeper, the rule thread, the alert decisions, the store and a notifier, wired
//! together until told to stop; the [`PipelineState`] published after every change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lookout_alerting::notify::{ActionEvent, Notification, Notifier, NotifierThread};
use lookout_alerting::policy::Held;
use lookout_alerting::store::Store;
use lookout_alerting::{Alerting, AlertingConfig};
use lookout_keeper::session::{self, ConnectionStatus, KeeperOptions, ShutdownReport};
use lookout_keeper::unix_now;
use lookout_rules::worker::{Event, RuleWorker};
use lookout_rules::{Rule, RuleEngine, RuleReport, RuleSet};

use crate::state::{Command, PipelineState, RECENT_HISTORY, StateSender};

/// What the pipeline says besides its state, for a log or a terminal: the connection changed,
/// or a problem (a rule, the rules folder, the store).
#[derive(Debug, Clone)]
pub enum Note {
    Status(ConnectionStatus),
    /// A problem with a rule, the rules folder or the store, for the log.
    Problem(String),
}

/// Everything [`run`] needs.
pub struct Setup {
    pub client: lookout_statsapi::Client,
    pub keeper: KeeperOptions,
    pub rules_dir: PathBuf,
    pub store_path: PathBuf,
    pub alerting: AlertingConfig,
    /// Where to publish the state (for a user interface).
    pub state: Option<StateSender>,
    /// Requests from a user interface.
    pub commands: Option<tokio::sync::mpsc::UnboundedReceiver<Command>>,
    /// Where the remembered state is shared from (a hub's, in JetStream); `None`: only the
    /// store file.
    pub shared_store: Option<SharedStore>,
}

/// A remembered state kept somewhere besides the store file: where to start from, and where
/// every saved state goes too.
pub struct SharedStore {
    /// The state to start from (as [`lookout_alerting::store::Store::save`] writes it);
    /// `None`: the store file's.
    pub saved: Option<Vec<u8>>,
    pub mirror: lookout_alerting::store::Mirror,
}

impl Setup {
    /// What a configuration asks for: its tenant, keeper options and alert settings.
    pub fn from_config(
        config: &lookout_keeper::Config,
        client: lookout_statsapi::Client,
        rules_dir: PathBuf,
        store_path: PathBuf,
    ) -> Setup {
        Setup {
            client,
            keeper: KeeperOptions::from_config(config),
            rules_dir,
            store_path,
            alerting: AlertingConfig::from_config(config.tenant(), config),
            state: None,
            commands: None,
            shared_store: None,
        }
    }
}

/// Keeps the published [`PipelineState`] up to date. With nobody listening (the command line)
/// it does nothing, so the poll path pays nothing for it.
struct Publisher {
    tx: Option<StateSender>,
    state: PipelineState,
}

impl Publisher {
    fn status(&mut self, s: &ConnectionStatus) {
        if self.tx.is_none() {
            return;
        }
        self.state.connection = s.clone();
        self.publish();
    }

    fn data(&mut self, snap: &Arc<lookout_keeper::Snapshot>) {
        if self.tx.is_none() {
            return;
        }
        self.state.snapshot = Some(snap.clone());
    }

    fn evaluated(&mut self, alerting: &Alerting, now: i64, reports: &[RuleReport]) {
        if self.tx.is_none() {
            return;
        }
        self.state.rules = reports.to_vec();
        let connection = self.state.connection.clone();
        self.refresh(alerting, &connection, now);
    }

    /// Once a second, and after a person's request: the connection as it is now (the age of
    /// its latest data moves every poll, which is no change of state the keeper announces),
    /// alerts, silences, history.
    fn refresh(&mut self, alerting: &Alerting, connection: &ConnectionStatus, now: i64) {
        if self.tx.is_none() {
            return;
        }
        self.state.at = now;
        self.state.connection = connection.clone();
        self.state.alerts = alerting.current(now);
        self.state.paused_until = alerting.store.state.silences.paused_until;
        self.state.history = alerting.store.state.recent(RECENT_HISTORY);
        self.publish();
    }

    fn publish(&self) {
        if let Some(tx) = &self.tx {
            tx.send_replace(Arc::new(self.state.clone()));
        }
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
    pub fn lines(&mut self, now: i64, reports: &[lookout_rules::RuleReport]) -> Vec<String> {
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
                            lookout_keeper::fmt_dur(now - open.logged_at)
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

/// Run the pipeline until `stop` completes. Notifications go to `notifier` (on a thread of its
/// own, so a slow notification server never holds up polling); status changes and problems
/// go to `report`. On the way out the subscription is deleted and the store saved.
pub async fn run(
    setup: Setup,
    notifier: Box<dyn Notifier>,
    actions: Option<tokio::sync::mpsc::UnboundedReceiver<ActionEvent>>,
    mut report: impl FnMut(Note) + Send,
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
        report(Note::Problem(d.to_string()));
    }
    if rules.files.is_empty() {
        report(Note::Problem(format!(
            "no rules in {}: only the connection is watched (see docs/rules.md)",
            setup.rules_dir.display()
        )));
    }
    let (store, warning) = match setup.shared_store {
        None => Store::open(&setup.store_path),
        Some(shared) => {
            let (mut store, warning) = match &shared.saved {
                Some(saved) => Store::from_saved(&setup.store_path, saved),
                None => Store::open(&setup.store_path),
            };
            store.set_mirror(shared.mirror);
            (store, warning)
        }
    };
    if let Some(w) = warning {
        report(Note::Problem(w));
    }
    let mut feed = Publisher {
        tx: setup.state,
        state: PipelineState::default(),
    };
    let mut commands = setup.commands;
    let evaluator = lookout_rules::Evaluator::with_schedules(setup.alerting.schedules.clone());
    let schedules: Vec<String> = setup.alerting.schedules.keys().cloned().collect();
    let mut alerting = Alerting::new(setup.alerting, store, unix_now());
    let mut running: Vec<Arc<Rule>> = rules.rules().cloned().collect();
    alerting.set_rules(lookout_rules::alert_rules(&running));
    let check_schedules = |running: &[Arc<Rule>], report: &mut dyn FnMut(Note)| {
        for d in lookout_rules::check_schedules(running.iter().map(|r| &**r), &schedules) {
            report(Note::Problem(d.to_string()));
        }
    };
    check_schedules(&running, &mut report);
    let mut plan = rules.plan();
    // The service whose agents the agents view lists, added to whatever the rules ask for.
    let mut members: Option<String> = None;
    let with_members = |plan: &lookout_keeper::Plan, members: &Option<String>| {
        let mut p = plan.clone();
        p.member_services.extend(members.iter().cloned());
        p
    };
    let mut keeper = session::spawn(setup.client, plan.clone(), setup.keeper);
    let mut changes = keeper
        .take_changes()
        .ok_or("the keeper's status changes were already taken")?;
    let mut snapshots = keeper.snapshots();
    let mut dispositions = keeper.dispositions();
    let status = keeper.status();

    let (rule_tx, mut rule_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = RuleWorker::start_with(engine, rules, evaluator, move |ev| {
        let _ = rule_tx.send(ev);
    })
    .map_err(|e| format!("cannot start the rule thread: {e}"))?;

    let notifier = NotifierThread::start(notifier)?;
    // What is about to be told is saved first: killed right after, the next start knows it
    // was told and does not tell it again.
    let send = |out: (Vec<Notification>, Vec<Held>),
                alerting: &mut Alerting,
                report: &mut dyn FnMut(Note)| {
        if !out.0.is_empty()
            && let Err(e) = alerting.save_if_dirty()
        {
            report(Note::Problem(e));
        }
        for h in out.1 {
            tracing::info!(
                rule = h.notice.rule,
                key = h.notice.key,
                "held: {}",
                h.reason
            );
            notifier.send_held(h);
        }
        for n in out.0 {
            if !notifier.send(n) {
                report(Note::Problem("the notifier stopped".into()));
            }
        }
    };

    let check_dispositions =
        |running: &[Arc<Rule>], list: &[String], report: &mut dyn FnMut(Note)| {
            for d in lookout_rules::check_dispositions(running.iter().map(|r| &**r), list) {
                report(Note::Problem(d.to_string()));
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
                report(Note::Status(s));
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
                    let out = alerting.evaluated(e.now, &e.findings);
                    send(out, &mut alerting, &mut report);
                    feed.evaluated(&alerting, e.now, &e.reports);
                }
                Event::Reloaded { changes, plan: new_plan, rules: now_running } => {
                    for c in &changes {
                        if let lookout_rules::Change::Broken(_, d) = c {
                            report(Note::Problem(format!("{d} (its last good version keeps running)")));
                        }
                    }
                    running = now_running;
                    alerting.set_rules(lookout_rules::alert_rules(&running));
                    check_schedules(&running, &mut report);
                    if let Some(list) = dispositions.borrow().clone() {
                        check_dispositions(&running, &list, &mut report);
                    }
                    if new_plan != plan {
                        plan = new_plan;
                        keeper.set_plan(with_members(&plan, &members));
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
                    report(Note::Problem(e));
                }
            }
            Some(c) = async {
                match commands.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match c {
                    Command::ReloadRules => worker.reload(),
                    Command::Pause { until } => alerting.pause(Some(until)),
                    Command::Resume => alerting.pause(None),
                    Command::Act(a) => alerting.action(&a, unix_now()),
                    Command::AgentsOf(service) => {
                        if members.as_ref() != Some(&service) {
                            members = Some(service);
                            keeper.set_plan(with_members(&plan, &members));
                        }
                    }
                }
                if let Err(e) = alerting.save_if_dirty() {
                    report(Note::Problem(e));
                }
                feed.refresh(&alerting, &status.borrow(), unix_now());
            }
            _ = tick.tick() => {
                let current = status.borrow().clone();
                let now = unix_now();
                let out = alerting.tick(now, &current);
                send(out, &mut alerting, &mut report);
                feed.refresh(&alerting, &current, now);
                // Saved when something changed: at most once a second, not once a poll.
                if let Err(e) = alerting.save_if_dirty() {
                    report(Note::Problem(e));
                }
            }
        }
    }
    let shut = keeper.shutdown().await;
    worker.stop();
    notifier.stop();
    if let Err(e) = alerting.store.save() {
        report(Note::Problem(format!(
            "cannot save {}: {e}",
            alerting.store.path().display()
        )));
    }
    Ok(shut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_persisting_rule_error_is_logged_once_a_minute_and_when_it_changes_or_clears() {
        let report = |error: Option<&str>| lookout_rules::RuleReport {
            id: "r".into(),
            name: "R".into(),
            error: error.map(|m| lookout_rules::Diagnostic::error(Path::new("r.rhai"), 2, 9, m)),
            elapsed: Duration::ZERO,
            alerts: 0,
            inactive: None,
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
}
