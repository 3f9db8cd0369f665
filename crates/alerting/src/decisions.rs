//! [`Alerting`]: the lifecycle, the connection's health, the policy and the store, stepped with
//! explicit times (so it is tested on a virtual clock). Its input is findings and the clock; its
//! output is notifications to send, transitions held back (with why), and the alerts as they
//! are now ([`ActiveAlert`]).

use std::collections::{BTreeMap, BTreeSet};

use lookout_keeper::ConnectionStatus;
use lookout_keeper::schedule::Schedule;

use crate::lifecycle::{Alert, Lifecycle, Notice, NoticeKind, State};
use crate::notify::{ActionEvent, Notification};
use crate::policy::{Acknowledgement, Held, Inhibited, Policy, PolicyConfig, Quiet};
use crate::store::{HistoryEntry, SavedAlert, Store};
use crate::{AlertId, AlertRule, CONNECTION_RULE, Finding, Mode, NO_DATA_KEY, Severity};

/// Settings of the alerting stage.
#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// The tenant, for "no data from <tenant>".
    pub tenant: String,
    pub no_data_after: i64,
    pub grace: i64,
    pub policy: PolicyConfig,
    /// The config's named schedules: a rule whose `active` names one is evaluated only
    /// during it.
    pub schedules: BTreeMap<String, Schedule>,
    /// The escalation ladder for critical alerts nobody acknowledges.
    pub escalation: Vec<lookout_keeper::config::EscalationStep>,
    /// Ring a critical alert again this often until someone acknowledges it (`None`: once).
    pub ring_every: Option<i64>,
}

impl AlertingConfig {
    /// The settings a configuration asks for, for `tenant`. `schedules` are its
    /// `[schedules]`, `[[escalation]]` and `[sounds]` (checked when the configuration was
    /// read; a schedule that does not parse is left out).
    pub fn from_config(tenant: String, config: &lookout_keeper::Config) -> AlertingConfig {
        let schedules: BTreeMap<String, Schedule> = config
            .schedules
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), Schedule::parse(name, c).ok()?)))
            .collect();
        let alerts = &config.alerts;
        AlertingConfig {
            tenant,
            no_data_after: alerts.no_data_secs as i64,
            grace: alerts.grace_secs as i64,
            policy: PolicyConfig::from_config(alerts, &config.notifications, &schedules),
            schedules,
            escalation: config.escalation.clone(),
            ring_every: (config.notifications.sound && config.sounds.repeat_until_acknowledged)
                .then_some(config.sounds.repeat_secs as i64),
        }
    }
}

/// An alert as it is now, with the reason it makes no noise when it does not (silenced alerts
/// stay visible).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActiveAlert {
    #[serde(flatten)]
    pub alert: Alert,
    pub quiet: Option<Quiet>,
    /// Who acknowledged it and when, while it is acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
}

impl ActiveAlert {
    /// Firing since (or pending since).
    pub fn since(&self) -> i64 {
        self.alert.firing_since.unwrap_or(self.alert.since)
    }

    /// Firing and not silenced: what makes noise.
    pub fn loud(&self) -> bool {
        self.alert.state == State::Firing && self.quiet.is_none()
    }

    /// The connection's own "no data" alert.
    pub fn is_no_data(&self) -> bool {
        self.alert.rule == CONNECTION_RULE && self.alert.key == NO_DATA_KEY
    }

    /// The order a person should look at alerts in (smallest first): firing before pending,
    /// loud before quiet, critical before warning, the connection's "no data" first among
    /// equals, oldest first.
    pub fn attention(&self) -> impl Ord + use<> {
        (
            self.alert.state != State::Firing,
            self.quiet.is_some(),
            std::cmp::Reverse(self.alert.severity),
            self.alert.rule != CONNECTION_RULE,
            self.since(),
        )
    }
}

/// The connection's own alert, as a rule the lifecycle knows.
fn connection_rule() -> AlertRule {
    AlertRule {
        name: "Connection".into(),
        severity: Severity::Critical,
        for_secs: 0,
        keep_firing_secs: 0,
        mode: Mode::State,
        repeat_secs: 0,
        notify_resolved: true,
        inhibits: None,
        runbook: None,
        active: None,
    }
}

/// Lifecycle, health, policy and store, stepped with times.
pub struct Alerting {
    config: AlertingConfig,
    lifecycle: Lifecycle,
    policy: Policy,
    pub store: Store,
    rules: BTreeMap<String, AlertRule>,
    /// When data last came (or when watching began).
    last_data: i64,
    /// The connection's "no data" finding while data is missing too long.
    no_data: Option<Finding>,
    grace_until: i64,
    /// Something worth saving changed since the last [`Alerting::save_if_dirty`].
    dirty: bool,
    /// The latest time it was stepped with.
    now: i64,
    /// The alerts held back by another now, and by which ([`crate::inhibit`]).
    inhibited: Inhibited,
    /// Firing alerts that were never told because another held them back: told when it lets
    /// go while they still fire.
    untold: BTreeSet<AlertId>,
    /// Escalation steps climbed, per firing critical alert (kept in the store).
    escalated: BTreeMap<AlertId, usize>,
    /// When each firing critical alert last rang (`ring_every`).
    rung: BTreeMap<AlertId, i64>,
}

/// A start within this long of the last save carries on with the alerts it saved (a restart,
/// or a standby hub taking over); after longer, what was true then is not trusted.
pub const RESUME_SECS: i64 = 300;

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
        if now - store.state.saved_at <= RESUME_SECS {
            // The connection's own alert is about that run's connection, not this one's.
            lifecycle.restore(
                store
                    .state
                    .active
                    .iter()
                    .filter(|s| s.alert.rule != CONNECTION_RULE)
                    .map(|s| (s.alert.clone(), s.last_notified)),
            );
        }
        let policy = Policy::new(config.policy.clone());
        let mut alerting = Alerting {
            config,
            lifecycle,
            policy,
            store,
            rules: BTreeMap::new(),
            last_data: now,
            no_data: None,
            grace_until: 0,
            dirty: false,
            now,
            inhibited: Inhibited::new(),
            untold: BTreeSet::new(),
            escalated: BTreeMap::new(),
            rung: BTreeMap::new(),
        };
        alerting.escalated = alerting
            .store
            .state
            .escalated
            .iter()
            .map(|(r, k, n)| ((r.clone(), k.clone()), *n))
            .collect();
        alerting.set_rules(BTreeMap::new());
        alerting
    }

    /// The rules that exist now, by id (their alerts resolve when they go).
    pub fn set_rules(&mut self, rules: BTreeMap<String, AlertRule>) {
        self.rules = rules;
        self.rules.insert(CONNECTION_RULE.into(), connection_rule());
    }

    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// A fresh snapshot arrived at `now` (its rules run later).
    pub fn data_arrived(&mut self, now: i64) -> (Vec<Notification>, Vec<Held>) {
        self.last_data = now;
        if self.no_data.take().is_none() {
            return (Vec::new(), Vec::new());
        }
        // Back after a gap: the first polls may be half loaded.
        self.grace_until = now + self.config.grace;
        let mut notices = self.step_connection(now);
        for n in &mut notices {
            n.body = "Data is arriving again.".into();
        }
        self.tell(now, notices)
    }

    /// The rules ran over a snapshot taken at `now`.
    pub fn evaluated(&mut self, now: i64, findings: &[Finding]) -> (Vec<Notification>, Vec<Held>) {
        let grace = now < self.grace_until;
        let asleep = self.retire_outside_schedules(now);
        let awake: Vec<Finding>;
        let findings = if asleep.is_empty() {
            findings
        } else {
            awake = findings
                .iter()
                .filter(|f| !asleep.contains(&f.rule))
                .cloned()
                .collect();
            &awake
        };
        let mut notices = self
            .lifecycle
            .step_where(now, &self.rules, findings, grace, |r| r != CONNECTION_RULE);
        self.store.state.seen_events = self
            .lifecycle
            .seen_events()
            .iter()
            .map(|((r, k), t)| (r.clone(), k.clone(), *t))
            .collect();
        let before = std::mem::replace(
            &mut self.inhibited,
            crate::inhibit::inhibitions(&self.rules, self.lifecycle.alerts()),
        );
        // Held back until the one that held them resolved, and still firing: told now.
        for a in self.lifecycle.alerts() {
            let id = (a.rule.clone(), a.key.clone());
            if a.state == State::Firing
                && !self.inhibited.contains_key(&id)
                && self.untold.remove(&id)
            {
                notices.push(crate::lifecycle::notice(NoticeKind::Firing, a, now));
            }
        }
        // What resolves while held back stays quiet to the end.
        let mut holding = self.inhibited.clone();
        for n in notices.iter().filter(|n| n.kind == NoticeKind::Resolved) {
            let id = (n.rule.clone(), n.key.clone());
            self.untold.remove(&id);
            if let Some(by) = before.get(&id) {
                holding.insert(id, by.clone());
            }
        }
        let out = self.tell_holding(now, notices, &holding);
        // What fires while held back is remembered as untold.
        self.remember_untold(now, &out.1);
        out
    }

    /// Once a second: raise "no data" when data has been missing too long. `status` says why,
    /// in the alert's body. Data rules are not stepped meanwhile, so they neither fire nor
    /// resolve while Lookout is blind.
    pub fn tick(&mut self, now: i64, status: &ConnectionStatus) -> (Vec<Notification>, Vec<Held>) {
        // Groups whose wait is over are told now, whether or not data comes.
        let (mut out, mut held) =
            self.policy
                .flush(now, &self.store.state.silences, &self.inhibited);
        self.remember_untold(now, &held);
        out.extend(self.escalate(now));
        if self.no_data.is_some() || now - self.last_data < self.config.no_data_after {
            return (out, held);
        }
        self.no_data = Some(Finding {
            rule: CONNECTION_RULE.into(),
            key: NO_DATA_KEY.into(),
            severity: Severity::Critical,
            title: format!("No data from {}", self.config.tenant),
            body: format!(
                "No fresh data for {}; the connection is {}.",
                lookout_keeper::fmt_dur(now - self.last_data),
                status.describe(std::time::SystemTime::now())
            ),
            labels: Default::default(),
        });
        let notices = self.step_connection(now);
        let (more, more_held) = self.tell(now, notices);
        out.extend(more);
        held.extend(more_held);
        (out, held)
    }

    /// Critical alerts that fire, were told, and that nobody acknowledged, snoozed or paused
    /// (and that no other alert holds back, and no mute covers) climb the escalation ladder:
    /// one step at a time, each when its `after_secs` since firing has passed, so a restart in
    /// the middle (the steps climbed are in the store) neither starts again nor skips one.
    /// With `ring_every`, they ring again in between.
    fn escalate(&mut self, now: i64) -> Vec<Notification> {
        let steps = &self.config.escalation;
        let mut out = Vec::new();
        let mut climbed = Vec::new();
        for a in self.lifecycle.alerts() {
            if a.state != State::Firing || a.severity != Severity::Critical {
                continue;
            }
            let Some(told) = a.last_notified() else {
                continue;
            };
            let id = (a.rule.clone(), a.key.clone());
            let quiet = self
                .store
                .state
                .silences
                .quiet(now, &a.rule, &a.key)
                .is_some()
                || self.inhibited.contains_key(&id)
                || self.policy.config.muted(now, Severity::Critical).is_some();
            if quiet {
                continue;
            }
            let since = a.firing_since.unwrap_or(a.since);
            let done = self.escalated.get(&id).copied().unwrap_or(0);
            let note = |escalation: crate::notify::Escalation, body: String| {
                let mut n = Notification::from_notice(&crate::lifecycle::notice(
                    NoticeKind::Repeat,
                    a,
                    now,
                ));
                n.body = body;
                n.escalation = Some(escalation);
                n
            };
            if let Some(step) = steps.get(done)
                && now - since >= step.after_secs as i64
            {
                let body = format!(
                    "Not acknowledged for {}.{}{}",
                    lookout_keeper::fmt_dur(now - since),
                    if a.body.is_empty() { "" } else { "\n" },
                    a.body
                );
                out.push(note(
                    crate::notify::Escalation {
                        step: done + 1,
                        of: steps.len(),
                        persistent: step.persistent,
                        raise: step.raise,
                        sound: step.sound.clone(),
                        ring_only: false,
                    },
                    body,
                ));
                climbed.push((id, done + 1, a.title.clone(), a.labels.clone()));
                continue;
            }
            if let Some(every) = self.config.ring_every
                && now - self.rung.get(&id).copied().unwrap_or(told) >= every
            {
                let last = done.checked_sub(1).and_then(|i| steps.get(i));
                out.push(note(
                    crate::notify::Escalation {
                        step: done,
                        of: steps.len(),
                        persistent: last.is_some_and(|s| s.persistent),
                        raise: false,
                        sound: last.and_then(|s| s.sound.clone()),
                        ring_only: true,
                    },
                    a.body.clone(),
                ));
                self.rung.insert(id, now);
            }
        }
        for (id, step, title, labels) in climbed {
            self.rung.insert(id.clone(), now);
            self.store.state.record(HistoryEntry {
                at: now,
                rule: id.0.clone(),
                key: id.1.clone(),
                what: format!("escalated: step {step} of {}", steps.len()),
                title,
                labels,
            });
            self.escalated.insert(id, step);
            self.dirty = true;
        }
        // Forget what no longer fires.
        let alive = |id: &AlertId| {
            self.lifecycle
                .alerts()
                .any(|a| a.state == State::Firing && a.rule == id.0 && a.key == id.1)
        };
        let before = self.escalated.len();
        self.escalated.retain(|id, _| alive(id));
        self.dirty |= self.escalated.len() != before;
        self.rung.retain(|id, _| alive(id));
        out
    }

    /// The alerts of rules outside their schedule (`RULE.active`) end quietly: not told, and
    /// said in the history. Returns those rules.
    fn retire_outside_schedules(&mut self, now: i64) -> BTreeSet<String> {
        let asleep: Vec<(String, String)> = self
            .rules
            .iter()
            .filter_map(|(id, r)| {
                let name = r.active.as_ref()?;
                let s = self.config.schedules.get(name)?;
                (!s.contains(now)).then(|| (id.clone(), name.clone()))
            })
            .collect();
        let mut out = BTreeSet::new();
        for (rule, schedule) in asleep {
            for a in self.lifecycle.retire(&rule) {
                let id = (a.rule.clone(), a.key.clone());
                self.untold.remove(&id);
                let silences = &mut self.store.state.silences;
                silences.acknowledged.remove(&id);
                silences.acknowledged_by.remove(&id);
                self.dirty = true;
                self.store.state.record(HistoryEntry {
                    at: now,
                    rule: a.rule,
                    key: a.key,
                    what: format!("ended: outside its schedule {schedule}"),
                    title: a.title,
                    labels: a.labels,
                });
            }
            out.insert(rule);
        }
        out
    }

    /// Firing alerts a group held back because another alert holds them: told if it lets go.
    fn remember_untold(&mut self, now: i64, held: &[Held]) {
        for h in held {
            let id = (h.notice.rule.clone(), h.notice.key.clone());
            if h.notice.kind == NoticeKind::Firing
                && self.inhibited.contains_key(&id)
                && self.store.state.silences.quiet(now, &id.0, &id.1).is_none()
            {
                self.untold.insert(id);
            }
        }
    }

    /// Step the connection's own alert with its finding (or none).
    fn step_connection(&mut self, now: i64) -> Vec<Notice> {
        let findings: Vec<Finding> = self.no_data.iter().cloned().collect();
        self.lifecycle
            .step_where(now, &self.rules, &findings, false, |r| r == CONNECTION_RULE)
    }

    /// Every alert now, each with the reason it is quiet (if it is), in the order a person
    /// should look at them ([`ActiveAlert::attention`]).
    pub fn current(&self, now: i64) -> Vec<ActiveAlert> {
        let silences = &self.store.state.silences;
        let mut out: Vec<ActiveAlert> = self
            .lifecycle
            .alerts()
            .map(|a| ActiveAlert {
                quiet: silences.quiet(now, &a.rule, &a.key).or_else(|| {
                    let by = self.inhibited.get(&(a.rule.clone(), a.key.clone()))?;
                    Some(Quiet::Inhibited { by: by.clone() })
                }),
                acknowledged: silences.acknowledgement(&a.rule, &a.key),
                alert: a.clone(),
            })
            .collect();
        out.sort_by_key(ActiveAlert::attention);
        out
    }

    /// True while the "no data" alert is up.
    pub fn blind(&self) -> bool {
        self.no_data.is_some()
    }

    /// Save the store if something changed since the last save; the error names the file.
    pub fn save_if_dirty(&mut self) -> Result<(), String> {
        if !std::mem::take(&mut self.dirty) {
            return Ok(());
        }
        self.store.state.saved_at = self.now;
        self.store.state.escalated = self
            .escalated
            .iter()
            .map(|((r, k), n)| (r.clone(), k.clone(), *n))
            .collect();
        self.store.state.active = self
            .lifecycle
            .alerts()
            .map(|a| SavedAlert {
                alert: a.clone(),
                last_notified: a.last_notified(),
            })
            .collect();
        self.store
            .save()
            .map_err(|e| format!("cannot save {}: {e}", self.store.path().display()))
    }

    /// Pause all notifications until then (`i64::MAX`: until resumed), or resume (`None`).
    pub fn pause(&mut self, until: Option<i64>) {
        self.store.state.silences.paused_until = until;
        self.dirty = true;
    }

    /// A person acted on a notification.
    pub fn action(&mut self, e: &ActionEvent, now: i64) {
        self.now = self.now.max(now);
        self.dirty = true;
        self.store.state.silences.apply(e, now);
        let alert = self
            .lifecycle
            .alerts()
            .find(|a| a.rule == e.rule && a.key == e.key);
        self.store.state.record(HistoryEntry {
            at: now,
            rule: e.rule.clone(),
            key: e.key.clone(),
            what: match (&e.by, e.action) {
                (Some(by), crate::notify::Action::Acknowledge) => format!("acknowledged by {by}"),
                _ => format!("{:?}", e.action).to_lowercase(),
            },
            title: alert.map(|a| a.title.clone()).unwrap_or_default(),
            labels: alert.map(|a| a.labels.clone()).unwrap_or_default(),
        });
    }

    fn tell(&mut self, now: i64, notices: Vec<Notice>) -> (Vec<Notification>, Vec<Held>) {
        self.tell_holding(now, notices, &Inhibited::new())
    }

    /// Record and decide `notices`; those in `holding` are held back by another alert.
    fn tell_holding(
        &mut self,
        now: i64,
        notices: Vec<Notice>,
        holding: &Inhibited,
    ) -> (Vec<Notification>, Vec<Held>) {
        self.now = self.now.max(now);
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
                labels: n.labels.clone(),
            });
        }
        self.policy
            .decide_inhibited(now, notices, &mut self.store.state.silences, holding)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Action, NotificationState};
    use std::path::PathBuf;

    fn store(name: &str) -> (Store, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("lookout-alerting-{name}-{}", std::process::id()));
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
            schedules: BTreeMap::new(),
            escalation: Vec::new(),
            ring_every: None,
        }
    }

    fn rule(name: &str, mode: Mode) -> AlertRule {
        AlertRule {
            name: name.into(),
            mode,
            ..connection_rule()
        }
    }

    const RULES: &[(&str, Mode)] = &[("r", Mode::State), ("chat", Mode::Event)];

    fn rules(list: &[(&str, Mode)]) -> BTreeMap<String, AlertRule> {
        list.iter()
            .map(|(id, mode)| (id.to_string(), rule(&id.to_uppercase(), *mode)))
            .collect()
    }

    fn found(found: &[(&str, &str)]) -> Vec<Finding> {
        found
            .iter()
            .map(|(r, k)| Finding {
                rule: r.to_string(),
                key: k.to_string(),
                severity: Severity::Critical,
                title: format!("{k}!"),
                body: String::new(),
                labels: Default::default(),
            })
            .collect()
    }

    fn told(out: (Vec<Notification>, Vec<Held>)) -> Vec<String> {
        out.0
            .iter()
            .map(|n| format!("{:?} {}", n.state, n.key))
            .collect()
    }

    #[test]
    fn no_data_raises_one_alert_freezes_rules_and_resolves_with_a_grace_period() {
        let (st, _) = store("nodata");
        let mut a = Alerting::new(config(), st, 0);
        a.set_rules(rules(RULES));
        assert_eq!(told(a.evaluated(0, &found(&[("r", "x")]))), ["Firing x"]);
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
        // It is an alert like any other, shown first.
        let now = a.current(62);
        assert_eq!(
            (now[0].alert.rule.as_str(), now[0].alert.key.as_str()),
            (CONNECTION_RULE, NO_DATA_KEY)
        );
        assert_eq!(now[0].alert.rule_name, "Connection");
        assert_eq!(now[0].since(), 61);
        assert!(now[0].loud() && now[0].is_no_data());
        // Data is back: the alert resolves; in the grace period `x` missing does not resolve.
        let back = a.data_arrived(100);
        assert_eq!(back.0[0].body, "Data is arriving again.");
        assert_eq!(told(back), ["Resolved no-data"]);
        assert!(told(a.evaluated(100, &found(&[]))).is_empty());
        assert_eq!(
            a.lifecycle()
                .alerts()
                .map(|x| x.key.as_str())
                .collect::<Vec<_>>(),
            ["x"]
        );
        assert_eq!(told(a.evaluated(111, &found(&[]))), ["Resolved x"]);
    }

    #[test]
    fn a_restart_does_not_tell_again_what_was_acknowledged_or_seen() {
        let (st, path) = store("restart");
        let mut a = Alerting::new(config(), st, 0);
        a.set_rules(rules(RULES));
        let out = a.evaluated(0, &found(&[("r", "x"), ("chat", "chat:1")]));
        assert_eq!(told(out).len(), 2);
        a.action(
            &ActionEvent {
                rule: "r".into(),
                key: "x".into(),
                digest: None,
                action: Action::Acknowledge,
                by: None,
                also: Vec::new(),
            },
            5,
        );
        a.store.save().unwrap();

        // A new process: same conditions hold. Nothing is told again.
        let (st, w) = Store::open(&path);
        assert!(w.is_none());
        let mut b = Alerting::new(config(), st, 100);
        b.set_rules(rules(RULES));
        let (out, held) = b.evaluated(100, &found(&[("r", "x"), ("chat", "chat:1")]));
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].reason, "acknowledged");
        // Quiet, but still shown, with the reason.
        let x = b
            .current(100)
            .into_iter()
            .find(|v| v.alert.key == "x")
            .unwrap();
        assert_eq!(x.quiet, Some(Quiet::Acknowledged));
        // A new chat message is still told; `x` resolving ends its acknowledgement.
        let (out, _) = b.evaluated(102, &found(&[("chat", "chat:1"), ("chat", "chat:2")]));
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

    #[test]
    fn a_start_soon_after_carries_on_with_the_saved_alerts_and_who_acknowledged() {
        let (st, path) = store("resume");
        let mut a = Alerting::new(config(), st, 0);
        a.set_rules(rules(RULES));
        assert_eq!(
            told(a.evaluated(0, &found(&[("r", "x"), ("r", "y")]))),
            ["Firing x", "Firing y"]
        );
        a.action(
            &ActionEvent {
                rule: "r".into(),
                key: "y".into(),
                digest: None,
                action: Action::Acknowledge,
                by: Some("ana".into()),
                also: Vec::new(),
            },
            3,
        );
        a.save_if_dirty().unwrap();
        let saved = std::fs::read(&path).unwrap();

        // Another process (a standby hub) starts from the saved text 20 s later.
        let (st, w) = Store::from_saved(&path, &saved);
        assert!(w.is_none());
        let mut b = Alerting::new(config(), st, 20);
        b.set_rules(rules(RULES));
        assert!(
            told(b.evaluated(20, &found(&[("r", "x"), ("r", "y")]))).is_empty(),
            "not told twice"
        );
        let y = b
            .current(20)
            .into_iter()
            .find(|v| v.alert.key == "y")
            .unwrap();
        assert_eq!(y.quiet, Some(Quiet::Acknowledged));
        assert_eq!(
            y.acknowledged,
            Some(Acknowledgement {
                by: Some("ana".into()),
                at: 3
            })
        );
        assert_eq!(y.alert.firing_since, Some(0));
        let h = b.store.state.recent(1);
        assert_eq!(
            (h[0].what.as_str(), h[0].title.as_str()),
            ("acknowledged by ana", "y!")
        );
        // What resolves while it runs is told as resolved: nothing is lost.
        assert_eq!(told(b.evaluated(21, &found(&[("r", "y")]))), ["Resolved x"]);

        // After longer than RESUME_SECS, what was true then is not trusted: told afresh.
        let (st, _) = Store::from_saved(&path, &saved);
        let mut c = Alerting::new(config(), st, RESUME_SECS + 10);
        c.set_rules(rules(RULES));
        assert_eq!(
            told(c.evaluated(RESUME_SECS + 10, &found(&[("r", "x")]))),
            ["Firing x"]
        );
    }

    #[test]
    fn one_cause_rings_one_bell_and_what_it_held_back_is_told_if_it_outlasts_it() {
        let (st, _) = store("inhibit");
        let mut a = Alerting::new(config(), st, 0);
        let mut rules = rules(&[("unavailable", Mode::State), ("no_ready", Mode::State)]);
        rules.get_mut("unavailable").unwrap().inhibits = Some(crate::Inhibits {
            rules: vec!["no_ready".into()],
            equal: vec!["service".into()],
        });
        a.set_rules(rules);
        let f = |rule: &str, service: &str| Finding {
            rule: rule.into(),
            key: format!("{rule}:{service}"),
            severity: Severity::Critical,
            title: format!("{rule} on {service}"),
            body: String::new(),
            labels: [("service".to_string(), service.to_string())].into(),
        };
        // Both fire together: one bell; the other is shown, quiet, with the reason.
        let (out, held) = a.evaluated(0, &[f("unavailable", "Billing"), f("no_ready", "Billing")]);
        assert_eq!(told((out, held.clone())), ["Firing unavailable:Billing"]);
        assert_eq!(held[0].reason, "inhibited by: unavailable on Billing");
        let shown = a.current(0);
        let nr = shown.iter().find(|x| x.alert.rule == "no_ready").unwrap();
        assert_eq!(
            nr.quiet,
            Some(Quiet::Inhibited {
                by: "unavailable on Billing".into()
            })
        );
        assert!(!nr.loud());
        // Another service is not held back.
        assert_eq!(
            told(a.evaluated(
                1,
                &[
                    f("unavailable", "Billing"),
                    f("no_ready", "Billing"),
                    f("no_ready", "Sales")
                ]
            )),
            ["Firing no_ready:Sales"]
        );
        // The cause resolves while the other still fires: now it is told, once.
        assert_eq!(
            told(a.evaluated(2, &[f("no_ready", "Billing"), f("no_ready", "Sales")])),
            ["Resolved unavailable:Billing", "Firing no_ready:Billing"]
        );
        assert!(
            told(a.evaluated(3, &[f("no_ready", "Billing"), f("no_ready", "Sales")])).is_empty()
        );
        // Held back to the end: its resolution is as quiet as its start.
        a.evaluated(4, &[f("unavailable", "VIP"), f("no_ready", "VIP")]);
        let (out, held) = a.evaluated(5, &[f("unavailable", "VIP")]);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(held[0].reason, "inhibited by: unavailable on VIP");
        assert!(a.untold.is_empty());
    }

    #[test]
    fn a_rule_outside_its_schedule_neither_fires_nor_resolves_noisily() {
        let (st, _) = store("schedule");
        let mut cfg = config();
        let business = lookout_keeper::schedule::ScheduleConfig {
            time_zone: Some("UTC".into()),
            when: vec!["mon-fri 08:00-18:00".into()],
            dates_off: vec![],
        };
        cfg.schedules = [(
            "business".to_string(),
            Schedule::parse("business", &business).unwrap(),
        )]
        .into();
        // Friday 2026-12-04, 17:59:00 UTC.
        let friday = 1_796_407_140;
        let mut a = Alerting::new(cfg, st, friday);
        let mut rules = rules(&[("sl", Mode::State)]);
        rules.get_mut("sl").unwrap().active = Some("business".into());
        a.set_rules(rules);
        assert_eq!(
            told(a.evaluated(friday, &found(&[("sl", "sl:Sales")]))),
            ["Firing sl:Sales"]
        );
        // 18:00: the rule is not evaluated (no findings) and its alert ends without a word.
        let out = a.evaluated(friday + 60, &[]);
        assert!(out.0.is_empty() && out.1.is_empty(), "{out:?}");
        assert!(a.current(friday + 60).is_empty());
        let h = a.store.state.recent(1);
        assert_eq!(h[0].what, "ended: outside its schedule business");
        // Even if findings came (a rule thread that does not know the schedule), nothing
        // starts outside it.
        let out = a.evaluated(friday + 120, &found(&[("sl", "sl:Sales")]));
        assert!(out.0.is_empty(), "{out:?}");
        assert!(a.current(friday + 120).is_empty());
        // Monday 08:00: it fires again, and is told.
        let monday = friday + 60 + 2 * 86_400 + 14 * 3600;
        assert_eq!(
            told(a.evaluated(monday, &found(&[("sl", "sl:Sales")]))),
            ["Firing sl:Sales"]
        );
    }

    fn ladder() -> Vec<lookout_keeper::config::EscalationStep> {
        let step = |after_secs, sound: Option<&str>, persistent, raise| {
            lookout_keeper::config::EscalationStep {
                after_secs,
                sound: sound.map(str::to_string),
                persistent,
                raise,
            }
        };
        vec![
            step(120, Some("siren"), false, false),
            step(300, None, true, true),
            step(600, None, true, true),
        ]
    }

    fn steps(out: (Vec<Notification>, Vec<Held>)) -> Vec<String> {
        out.0
            .iter()
            .map(|n| {
                let e = n.escalation.as_ref().expect("an escalation");
                format!("{} step {}/{}", n.key, e.step, e.of)
            })
            .collect()
    }

    #[test]
    fn an_unacknowledged_critical_climbs_the_ladder_and_acknowledging_stops_it() {
        let (st, path) = store("ladder");
        let mut cfg = config();
        cfg.no_data_after = 100_000;
        cfg.escalation = ladder();
        let mut a = Alerting::new(cfg.clone(), st, 0);
        a.set_rules(rules(RULES));
        let status = ConnectionStatus::Connecting;
        assert_eq!(
            told(a.evaluated(0, &found(&[("r", "x"), ("r", "y")]))),
            ["Firing x", "Firing y"]
        );
        assert!(steps(a.tick(119, &status)).is_empty());
        let out = a.tick(120, &status);
        assert_eq!(steps(out.clone()), ["x step 1/3", "y step 1/3"]);
        let e = out.0[0].escalation.clone().unwrap();
        assert_eq!(
            (e.sound.as_deref(), e.persistent, e.raise),
            (Some("siren"), false, false)
        );
        assert!(
            out.0[0].body.starts_with("Not acknowledged for 2m 00s."),
            "{}",
            out.0[0].body
        );
        assert!(steps(a.tick(121, &status)).is_empty(), "one step once");
        // Someone acknowledges y at step 1: its ladder stops at once.
        a.action(
            &ActionEvent {
                rule: "r".into(),
                key: "y".into(),
                digest: None,
                action: Action::Acknowledge,
                by: None,
                also: Vec::new(),
            },
            200,
        );
        let out = a.tick(300, &status);
        assert_eq!(steps(out.clone()), ["x step 2/3"]);
        let e = out.0[0].escalation.clone().unwrap();
        assert!(e.persistent && e.raise);
        a.save_if_dirty().unwrap();

        // A restart in the middle: step 3 is next, not step 1 again, and none is skipped.
        let (st, _) = Store::open(&path);
        let mut b = Alerting::new(cfg.clone(), st, 320);
        b.set_rules(rules(RULES));
        b.evaluated(320, &found(&[("r", "x"), ("r", "y")]));
        assert!(
            steps(b.tick(321, &status)).is_empty(),
            "not again from step 1"
        );
        assert_eq!(steps(b.tick(600, &status)), ["x step 3/3"]);
        assert!(steps(b.tick(900, &status)).is_empty(), "the ladder ends");
        assert!(
            b.store
                .state
                .history
                .iter()
                .any(|h| h.what == "escalated: step 3 of 3")
        );
    }

    #[test]
    fn a_start_that_finds_several_steps_overdue_climbs_them_one_at_a_time() {
        let (st, path) = store("ladder-late");
        let mut cfg = config();
        cfg.no_data_after = 100_000;
        cfg.escalation = ladder();
        let mut a = Alerting::new(cfg.clone(), st, 0);
        a.set_rules(rules(RULES));
        let status = ConnectionStatus::Connecting;
        a.evaluated(0, &found(&[("r", "x")]));
        assert_eq!(steps(a.tick(120, &status)), ["x step 1/3"]);
        a.save_if_dirty().unwrap();
        // Down from 130 s to 290 s (within RESUME_SECS): steps 2 and 3 are both due at 700 s.
        let (st, _) = Store::open(&path);
        let mut b = Alerting::new(cfg, st, 290);
        b.set_rules(rules(RULES));
        b.evaluated(290, &found(&[("r", "x")]));
        assert_eq!(steps(b.tick(700, &status)), ["x step 2/3"]);
        assert_eq!(steps(b.tick(701, &status)), ["x step 3/3"]);
        // Pausing stops what is left too; a resolved alert forgets its ladder.
        b.pause(Some(i64::MAX));
        assert!(steps(b.tick(2000, &status)).is_empty());
        b.evaluated(2001, &found(&[]));
        b.tick(2002, &status);
        assert!(b.escalated.is_empty());
    }

    #[test]
    fn ringing_until_acknowledged_rings_again_in_between() {
        let (st, _) = store("ring");
        let mut cfg = config();
        cfg.no_data_after = 100_000;
        cfg.ring_every = Some(30);
        let mut a = Alerting::new(cfg, st, 0);
        a.set_rules(rules(RULES));
        let status = ConnectionStatus::Connecting;
        a.evaluated(0, &found(&[("r", "x")]));
        assert!(a.tick(29, &status).0.is_empty());
        let out = a.tick(30, &status);
        assert_eq!(out.0.len(), 1);
        assert!(out.0[0].escalation.as_ref().unwrap().ring_only);
        assert!(a.tick(59, &status).0.is_empty());
        assert_eq!(a.tick(60, &status).0.len(), 1);
        a.action(
            &ActionEvent {
                rule: "r".into(),
                key: "x".into(),
                digest: None,
                action: Action::Snooze,
                by: None,
                also: Vec::new(),
            },
            61,
        );
        assert!(a.tick(200, &status).0.is_empty(), "snoozed: silent");
    }
}
