//! A desk's own rules over what the hub publishes: run on the desk's thread for rules, through
//! an alert lifecycle and policy of the desk's own, each alert labelled "your rules". They see
//! the data the hub subscribes to (its rules' and the overview's statistics); a statistic it
//! does not is said once.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use lookout_alerting::notify::{ActionEvent, Notification};
use lookout_alerting::store::Store;
use lookout_alerting::{ActiveAlert, Alerting, AlertingConfig};
use lookout_keeper::Snapshot;
use lookout_pipeline::sources::SOURCE_LABEL;
use lookout_rules::worker::{Event, RuleWorker};
use lookout_rules::{RuleEngine, RuleReport, RuleSet};

/// The source name of a desk's own alerts.
pub const YOUR_RULES: &str = "your rules";

/// A desk's own rules, running.
pub struct PersonalRules {
    worker: RuleWorker,
    events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    alerting: Alerting,
    ids: BTreeSet<String>,
    reports: Vec<RuleReport>,
    submitted: i64,
    plan: lookout_keeper::Plan,
    missing_told: bool,
}

impl PersonalRules {
    /// Load the rules in `dir` and start them; the problems found in the files come back to
    /// be said.
    pub fn start(dir: &Path, store: &Path) -> Result<(PersonalRules, Vec<String>), String> {
        let engine = RuleEngine::default();
        let set = RuleSet::load(&engine, dir)
            .map_err(|e| format!("cannot read your rules folder {}: {e}", dir.display()))?;
        let problems: Vec<String> = set.diagnostics().iter().map(|d| d.to_string()).collect();
        let running: Vec<_> = set.rules().cloned().collect();
        let ids = running.iter().map(|r| r.id.clone()).collect();
        let plan = set.plan();
        let (store, warning) = Store::open(store);
        let mut alerting = Alerting::new(
            AlertingConfig {
                tenant: YOUR_RULES.into(),
                // The hub's connection has its own "no data"; these rules have none (and no
                // tick asks for it).
                no_data_after: i64::MAX / 4,
                grace: 0,
                policy: Default::default(),
                schedules: Default::default(),
                escalation: Vec::new(),
                ring_every: None,
            },
            store,
            lookout_keeper::unix_now(),
        );
        alerting.set_rules(lookout_rules::alert_rules(&running));
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let worker = RuleWorker::start(engine, set, move |ev| {
            let _ = tx.send(ev);
        })
        .map_err(|e| format!("cannot start the rule thread: {e}"))?;
        let mut problems = problems;
        problems.extend(warning);
        Ok((
            PersonalRules {
                worker,
                events,
                alerting,
                ids,
                reports: Vec::new(),
                submitted: 0,
                plan,
                missing_told: false,
            },
            problems,
        ))
    }

    /// Run the rules over `snap` if it is newer than the last; the first time, what the rules
    /// need that the hub does not publish.
    pub fn submit(&mut self, snap: Arc<Snapshot>) -> Option<String> {
        if snap.taken_at <= self.submitted {
            return None;
        }
        self.submitted = snap.taken_at;
        let mut missing = Vec::new();
        if !self.missing_told {
            self.missing_told = true;
            for (grid, name, want) in [
                (&snap.services, "services", &self.plan.services),
                (&snap.agents, "agents", &self.plan.agents),
            ] {
                if grid.is_empty() {
                    continue;
                }
                missing.extend(
                    want.iter()
                        .filter(|c| grid.column(c).is_none())
                        .map(|c| format!("{name}.{c}")),
                );
            }
        }
        let at = snap.taken_at;
        self.worker.submit(snap, at);
        (!missing.is_empty()).then(|| {
            format!(
                "your rules need {}, which the hub does not publish: a rule of the hub's must declare it in its needs",
                missing.join(", ")
            )
        })
    }

    /// The next thing the rule thread says.
    pub async fn event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Take what the rule thread said: the notifications to tell (labelled "your rules").
    pub fn on_event(&mut self, ev: Event) -> Vec<Notification> {
        match ev {
            Event::Evaluated(e) => {
                self.reports = e.reports.clone();
                let (told, _held) = self.alerting.evaluated(e.now, &e.findings);
                let _ = self.alerting.save_if_dirty();
                told.into_iter()
                    .map(|mut n| {
                        n.labels.insert(SOURCE_LABEL.into(), YOUR_RULES.into());
                        n
                    })
                    .collect()
            }
            Event::Reloaded { rules, .. } => {
                self.ids = rules.iter().map(|r| r.id.clone()).collect();
                self.alerting.set_rules(lookout_rules::alert_rules(&rules));
                Vec::new()
            }
        }
    }

    /// The alerts of these rules now, labelled "your rules".
    pub fn alerts(&self, now: i64) -> Vec<ActiveAlert> {
        self.alerting
            .current(now)
            .into_iter()
            .map(|mut a| {
                a.alert
                    .labels
                    .insert(SOURCE_LABEL.into(), YOUR_RULES.into());
                a
            })
            .collect()
    }

    /// How each of these rules did, named as yours.
    pub fn reports(&self) -> Vec<RuleReport> {
        self.reports
            .iter()
            .cloned()
            .map(|mut r| {
                r.name = format!("{YOUR_RULES}: {}", r.name);
                r
            })
            .collect()
    }

    /// Whether `rule` is one of these.
    pub fn owns(&self, rule: &str) -> bool {
        self.ids.contains(rule)
    }

    /// A person's action on one of these alerts (kept here: they are nobody else's).
    pub fn act(&mut self, e: &ActionEvent, now: i64) {
        self.alerting.action(e, now);
        let _ = self.alerting.save_if_dirty();
    }

    pub fn stop(self) {
        self.worker.stop();
        let _ = self.alerting.store.save();
    }
}
