//! The alert lifecycle, per (rule, key): `inactive → pending (for_secs) → firing → resolved`,
//! with `keep_firing_secs` against flapping, event mode (a key notifies once, then is
//! remembered), and repeats. Pure: it is stepped with the rules' findings and the time, so it
//! runs the same on a virtual clock (rule tests) as live.

use std::collections::{BTreeMap, HashMap};

use crate::{AlertRule, Finding, Labels, Mode, Severity};

/// Where one alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "AlertState"))]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Seen, not yet for `for_secs`.
    Pending,
    Firing,
}

/// One alert the lifecycle tracks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub rule: String,
    pub rule_name: String,
    pub key: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The rule's runbook: what to do about it (text or a link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    pub state: State,
    /// When it was first seen (pending) in this spell.
    pub since: i64,
    /// When it started firing.
    pub firing_since: Option<i64>,
    /// When the rule last reported it.
    pub last_seen: i64,
    #[serde(skip)]
    last_notified: Option<i64>,
}

impl Alert {
    /// An alert firing since `since`, told then: one a program states itself (a desk's "no
    /// data from the hub") rather than one the lifecycle found.
    pub fn firing(finding: Finding, rule_name: &str, since: i64) -> Alert {
        Alert {
            rule: finding.rule,
            rule_name: rule_name.into(),
            key: finding.key,
            severity: finding.severity,
            title: finding.title,
            body: finding.body,
            labels: finding.labels,
            runbook: None,
            state: State::Firing,
            since,
            firing_since: Some(since),
            last_seen: since,
            last_notified: Some(since),
        }
    }

    /// When it was last told (fired or repeated).
    pub fn last_notified(&self) -> Option<i64> {
        self.last_notified
    }
}

/// Why a notification goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    Firing,
    /// Still firing, `repeat_secs` after the last notice.
    Repeat,
    Resolved,
}

/// A transition of one alert. `notify` says whether the rule wants it told (a resolution is
/// told only when the rule says `notify_resolved`; a pending alert that goes away is no
/// transition at all).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub notify: bool,
    pub rule: String,
    pub rule_name: String,
    pub key: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    pub labels: Labels,
    pub runbook: Option<String>,
    pub at: i64,
}

/// How long an event-mode key is remembered after the rule last reported it (so a chat message
/// that scrolls out of the window and back does not notify twice).
pub const EVENT_MEMORY_SECS: i64 = 24 * 3600;

/// Every alert of every rule.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    alerts: BTreeMap<(String, String), Alert>,
    /// Event-mode keys already notified → when last reported.
    seen: HashMap<(String, String), i64>,
}

impl Lifecycle {
    /// Take one poll's findings at time `now`. `rules` holds the metadata of every rule that
    /// exists; the alerts of a rule that is gone resolve. Returns the transitions.
    pub fn step(
        &mut self,
        now: i64,
        rules: &BTreeMap<String, AlertRule>,
        findings: &[Finding],
    ) -> Vec<Notice> {
        self.step_with(now, rules, findings, false)
    }

    /// [`Lifecycle::step`], in a grace period (`grace`: just after data came back) when
    /// half-loaded data must not change anything that matters: new keys wait as pending,
    /// pending ones do not fire, firing ones that are missing do not resolve.
    pub fn step_with(
        &mut self,
        now: i64,
        rules: &BTreeMap<String, AlertRule>,
        findings: &[Finding],
        grace: bool,
    ) -> Vec<Notice> {
        self.step_where(now, rules, findings, grace, |_| true)
    }

    /// [`Lifecycle::step_with`] over the alerts of the rules `in_scope` says are this step's;
    /// the others are left as they are. The connection's own alert is stepped apart from the
    /// rules' (by the clock, not by data), through the same lifecycle.
    pub fn step_where(
        &mut self,
        now: i64,
        rules: &BTreeMap<String, AlertRule>,
        findings: &[Finding],
        grace: bool,
        in_scope: impl Fn(&str) -> bool,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let mut present: HashMap<(String, String), &Finding> = HashMap::new();
        for f in findings {
            present.insert((f.rule.clone(), f.key.clone()), f);
        }
        // Alerts already known: still there, or gone.
        let keys: Vec<(String, String)> = self
            .alerts
            .keys()
            .filter(|(rule, _)| in_scope(rule))
            .cloned()
            .collect();
        for id in keys {
            let meta = rules.get(&id.0);
            let Some(alert) = self.alerts.get_mut(&id) else {
                continue;
            };
            match (present.remove(&id), meta) {
                (Some(f), Some(meta)) => {
                    alert.last_seen = now;
                    alert.title = f.title.clone();
                    alert.body = f.body.clone();
                    alert.labels = f.labels.clone();
                    alert.severity = f.severity;
                    alert.runbook = meta.runbook.clone();
                    if meta.mode == Mode::Event {
                        self.seen.insert(id.clone(), now);
                        continue;
                    }
                    match alert.state {
                        State::Pending if !grace && now - alert.since >= meta.for_secs as i64 => {
                            alert.state = State::Firing;
                            alert.firing_since = Some(now);
                            alert.last_notified = Some(now);
                            notices.push(notice(NoticeKind::Firing, alert, now));
                        }
                        State::Firing
                            if meta.repeat_secs > 0
                                && alert
                                    .last_notified
                                    .is_some_and(|t| now - t >= meta.repeat_secs as i64) =>
                        {
                            alert.last_notified = Some(now);
                            notices.push(notice(NoticeKind::Repeat, alert, now));
                        }
                        _ => {}
                    }
                }
                (None, Some(meta)) => {
                    let gone = match (meta.mode, alert.state) {
                        (Mode::Event, _) => true,
                        (_, State::Pending) => true,
                        (_, State::Firing) => {
                            !grace && now - alert.last_seen >= meta.keep_firing_secs as i64
                        }
                    };
                    if gone {
                        let alert = self.alerts.remove(&id).expect("present above");
                        if meta.mode == Mode::State && alert.state == State::Firing {
                            let mut n = notice(NoticeKind::Resolved, &alert, now);
                            n.notify = meta.notify_resolved;
                            notices.push(n);
                        }
                    }
                }
                (_, None) => {
                    // The rule is gone (its file deleted): its alerts resolve.
                    let alert = self.alerts.remove(&id).expect("present above");
                    if alert.state == State::Firing {
                        let mut n = notice(NoticeKind::Resolved, &alert, now);
                        n.notify = alert.severity == Severity::Critical;
                        notices.push(n);
                    }
                }
            }
        }
        // New keys.
        let mut fresh: Vec<_> = present.into_iter().collect();
        fresh.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, f) in fresh {
            let Some(meta) = rules.get(&f.rule) else {
                continue;
            };
            let mut alert = Alert {
                rule: f.rule.clone(),
                rule_name: meta.name.clone(),
                key: f.key.clone(),
                severity: f.severity,
                title: f.title.clone(),
                body: f.body.clone(),
                labels: f.labels.clone(),
                runbook: meta.runbook.clone(),
                state: State::Pending,
                since: now,
                firing_since: None,
                last_seen: now,
                last_notified: None,
            };
            if meta.mode == Mode::Event {
                alert.state = State::Firing;
                alert.firing_since = Some(now);
                let known = self
                    .seen
                    .get(&id)
                    .is_some_and(|t| now - t < EVENT_MEMORY_SECS);
                if !known {
                    alert.last_notified = Some(now);
                    notices.push(notice(NoticeKind::Firing, &alert, now));
                }
                self.seen.insert(id.clone(), now);
            } else if meta.for_secs == 0 && !grace {
                alert.state = State::Firing;
                alert.firing_since = Some(now);
                alert.last_notified = Some(now);
                notices.push(notice(NoticeKind::Firing, &alert, now));
            }
            self.alerts.insert(id, alert);
        }
        self.seen.retain(|_, t| now - *t < EVENT_MEMORY_SECS);
        notices
    }

    /// End every alert of `rule` at once, untold (its rule is outside its schedule): they are
    /// returned, and no transition is made of them.
    pub fn retire(&mut self, rule: &str) -> Vec<Alert> {
        let ids: Vec<(String, String)> = self
            .alerts
            .keys()
            .filter(|(r, _)| r == rule)
            .cloned()
            .collect();
        ids.iter().filter_map(|id| self.alerts.remove(id)).collect()
    }

    /// Every alert, pending or firing.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> + Clone {
        self.alerts.values()
    }

    /// Event-mode keys already notified (rule, key) → last reported.
    pub fn seen_events(&self) -> &HashMap<(String, String), i64> {
        &self.seen
    }

    /// Carry on with alerts an earlier run saved (each with when it was last told), so a
    /// firing one is not told again and resolves as it would have.
    pub fn restore(&mut self, alerts: impl IntoIterator<Item = (Alert, Option<i64>)>) {
        for (mut a, told) in alerts {
            a.last_notified = told;
            self.alerts.insert((a.rule.clone(), a.key.clone()), a);
        }
    }

    /// Remember event-mode keys notified before (by an earlier run), so they are not notified
    /// again.
    pub fn remember_events(&mut self, seen: impl IntoIterator<Item = ((String, String), i64)>) {
        self.seen.extend(seen);
    }
}

/// The transition `kind` of `a` at `at`.
pub fn notice(kind: NoticeKind, a: &Alert, at: i64) -> Notice {
    Notice {
        kind,
        notify: true,
        rule: a.rule.clone(),
        rule_name: a.rule_name.clone(),
        key: a.key.clone(),
        severity: a.severity,
        title: a.title.clone(),
        body: a.body.clone(),
        labels: a.labels.clone(),
        runbook: a.runbook.clone(),
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(mode: Mode, for_secs: u64, keep: u64, repeat: u64) -> AlertRule {
        AlertRule {
            name: "Test".into(),
            severity: Severity::Critical,
            for_secs,
            keep_firing_secs: keep,
            mode,
            repeat_secs: repeat,
            notify_resolved: true,
            inhibits: None,
            runbook: None,
            active: None,
        }
    }

    fn f(key: &str) -> Finding {
        Finding {
            rule: "r".into(),
            key: key.into(),
            severity: Severity::Critical,
            title: format!("title {key}"),
            body: String::new(),
            labels: Labels::new(),
        }
    }

    fn run(m: AlertRule, timeline: &[(i64, &[&str])]) -> Vec<String> {
        let rules = BTreeMap::from([("r".to_string(), m)]);
        let mut l = Lifecycle::default();
        let mut out = Vec::new();
        for (t, keys) in timeline {
            let found: Vec<Finding> = keys.iter().map(|k| f(k)).collect();
            for n in l.step(*t, &rules, &found).into_iter().filter(|n| n.notify) {
                out.push(format!("{t} {:?} {}", n.kind, n.key));
            }
        }
        out
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let got = run(
            meta(Mode::State, 10, 0, 0),
            &[
                (0, &["a"]),
                (5, &["a"]),
                (10, &["a"]),
                (15, &["a"]),
                (20, &[]),
            ],
        );
        assert_eq!(got, ["10 Firing a", "20 Resolved a"]);
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        let got = run(
            meta(Mode::State, 10, 0, 0),
            &[(0, &["a"]), (5, &[]), (10, &["a"])],
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn keep_firing_rides_out_a_gap() {
        let got = run(
            meta(Mode::State, 0, 10, 0),
            &[
                (0, &["a"]),
                (2, &[]),
                (6, &["a"]),
                (8, &[]),
                (16, &[]),
                (18, &[]),
            ],
        );
        assert_eq!(got, ["0 Firing a", "16 Resolved a"]);
    }

    #[test]
    fn repeats_while_firing() {
        let got = run(
            meta(Mode::State, 0, 0, 10),
            &[
                (0, &["a"]),
                (5, &["a"]),
                (10, &["a"]),
                (15, &["a"]),
                (20, &["a"]),
            ],
        );
        assert_eq!(got, ["0 Firing a", "10 Repeat a", "20 Repeat a"]);
    }

    #[test]
    fn event_mode_notifies_once_per_key() {
        let got = run(
            meta(Mode::Event, 30, 0, 0),
            &[
                (0, &["m1"]),
                (2, &["m1", "m2"]),
                (4, &[]),
                (6, &["m1", "m2"]),
            ],
        );
        assert_eq!(got, ["0 Firing m1", "2 Firing m2"]);
    }

    #[test]
    fn a_grace_period_neither_fires_nor_resolves() {
        let rules = BTreeMap::from([("r".to_string(), meta(Mode::State, 0, 0, 0))]);
        let mut l = Lifecycle::default();
        assert_eq!(l.step(0, &rules, &[f("a")]).len(), 1);
        // Back from a gap: the grid is half loaded, `a` is missing and `b` appears.
        assert!(l.step_with(10, &rules, &[f("b")], true).is_empty());
        assert_eq!(
            l.alerts()
                .map(|a| (a.key.as_str(), a.state))
                .collect::<Vec<_>>(),
            [("a", State::Firing), ("b", State::Pending)]
        );
        // After the grace period both move on.
        let n = l.step(12, &rules, &[f("b")]);
        let got: Vec<_> = n.iter().map(|n| (n.kind, n.key.as_str())).collect();
        assert_eq!(
            got,
            [(NoticeKind::Resolved, "a"), (NoticeKind::Firing, "b")]
        );
    }

    #[test]
    fn a_resolution_is_reported_but_told_only_when_the_rule_says_so() {
        let mut m = meta(Mode::State, 0, 0, 0);
        m.notify_resolved = false;
        let rules = BTreeMap::from([("r".to_string(), m)]);
        let mut l = Lifecycle::default();
        l.step(0, &rules, &[f("a")]);
        let n = l.step(1, &rules, &[]);
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].kind, n[0].notify), (NoticeKind::Resolved, false));
    }

    #[test]
    fn remembered_events_are_not_told_again() {
        let rules = BTreeMap::from([("r".to_string(), meta(Mode::Event, 0, 0, 0))]);
        let mut l = Lifecycle::default();
        l.remember_events([(("r".to_string(), "m1".to_string()), 0)]);
        let n = l.step(5, &rules, &[f("m1"), f("m2")]);
        let told: Vec<_> = n
            .iter()
            .filter(|n| n.notify)
            .map(|n| n.key.as_str())
            .collect();
        assert_eq!(told, ["m2"]);
    }

    #[test]
    fn a_deleted_rules_alerts_resolve() {
        let rules = BTreeMap::from([("r".to_string(), meta(Mode::State, 0, 60, 0))]);
        let mut l = Lifecycle::default();
        l.step(0, &rules, &[f("a")]);
        let n = l.step(1, &BTreeMap::new(), &[]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].kind, NoticeKind::Resolved);
        assert_eq!(l.alerts().count(), 0);
    }
}
