//! What gets told, separate from what is true: silences (snooze a key or a rule, acknowledge,
//! pause everything), repeats only for unacknowledged criticals, a storm guard that turns many
//! keys of one rule into one digest, and a cap per minute.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Notice, NoticeKind};
use crate::notify::{Notification, NotificationState};
use crate::{Labels, Severity, TEAM_LABEL};

/// Why an alert is quiet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Quiet {
    /// Acknowledged: quiet until it resolves.
    Acknowledged,
    /// This alert is snoozed until then (Unix seconds).
    Snoozed { until: i64 },
    /// Its whole rule is snoozed until then.
    RuleSnoozed { until: i64 },
    /// All notifications are paused until then (`i64::MAX`: until resumed).
    Paused { until: i64 },
}

impl std::fmt::Display for Quiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = |t: i64| {
            if t == i64::MAX {
                "until resumed".to_string()
            } else {
                format!("until {}", lookout_keeper::clock_text(t))
            }
        };
        match self {
            Quiet::Acknowledged => f.write_str("acknowledged"),
            Quiet::Snoozed { until } => write!(f, "snoozed {}", when(*until)),
            Quiet::RuleSnoozed { until } => write!(f, "rule snoozed {}", when(*until)),
            Quiet::Paused { until } => write!(f, "notifications paused {}", when(*until)),
        }
    }
}

/// How long the Snooze action silences an alert.
pub const SNOOZE_SECS: i64 = 15 * 60;

/// An alert's identity: (rule id, key).
pub use crate::AlertId;

/// The silences a person set. Kept in the store, so they survive a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Silences {
    /// (rule, key) → until.
    #[serde(default, with = "pairs")]
    pub snoozed: BTreeMap<AlertId, i64>,
    /// rule → until.
    #[serde(default)]
    pub rules_snoozed: BTreeMap<String, i64>,
    #[serde(default)]
    pub acknowledged: BTreeSet<AlertId>,
    /// Who acknowledged each (when it is known) and when.
    #[serde(default, with = "pairs")]
    pub acknowledged_by: BTreeMap<AlertId, Acknowledgement>,
    #[serde(default)]
    pub paused_until: Option<i64>,
}

/// Who acknowledged an alert, and when: shown on every desk in team mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The person, when more than one watches (team mode); `None` on a desk of one.
    pub by: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// JSON maps need string keys: (rule, key) pairs are stored as a list.
mod pairs {
    use super::AlertId;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer, V: Serialize>(
        m: &BTreeMap<AlertId, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|((r, k), t)| (r, k, t))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<AlertId, V>, D::Error> {
        let v: Vec<(String, String, V)> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|(r, k, t)| ((r, k), t)).collect())
    }
}

impl Silences {
    /// Why (rule, key) is quiet at `now`, if it is. Paused beats a snooze, which beats an
    /// acknowledgement, so the reason shown is the one that will last.
    pub fn quiet(&self, now: i64, rule: &str, key: &str) -> Option<Quiet> {
        if let Some(until) = self.paused_until.filter(|u| now < *u) {
            return Some(Quiet::Paused { until });
        }
        if let Some(&until) = self.rules_snoozed.get(rule).filter(|u| now < **u) {
            return Some(Quiet::RuleSnoozed { until });
        }
        let id = (rule.to_string(), key.to_string());
        if let Some(&until) = self.snoozed.get(&id).filter(|u| now < **u) {
            return Some(Quiet::Snoozed { until });
        }
        self.acknowledged
            .contains(&id)
            .then_some(Quiet::Acknowledged)
    }

    /// What a person did to a notification: acknowledge it, or snooze it for
    /// [`SNOOZE_SECS`]. A digest's action applies to every alert it stands for. Open changes
    /// nothing here (the app shows the overview).
    pub fn apply(&mut self, e: &crate::notify::ActionEvent, now: i64) {
        let keys: Vec<String> = match &e.digest {
            Some(keys) => keys.clone(),
            None => vec![e.key.clone()],
        };
        for key in keys {
            let id = (e.rule.clone(), key);
            match e.action {
                crate::notify::Action::Acknowledge => {
                    self.acknowledged_by.insert(
                        id.clone(),
                        Acknowledgement {
                            by: e.by.clone(),
                            at: now,
                        },
                    );
                    self.acknowledged.insert(id);
                }
                crate::notify::Action::Snooze => {
                    self.snoozed.insert(id, now + SNOOZE_SECS);
                }
                crate::notify::Action::Open => {}
            }
        }
    }

    /// Who acknowledged (rule, key) and when, if it is acknowledged.
    pub fn acknowledgement(&self, rule: &str, key: &str) -> Option<Acknowledgement> {
        let id = (rule.to_string(), key.to_string());
        if !self.acknowledged.contains(&id) {
            return None;
        }
        Some(
            self.acknowledged_by
                .get(&id)
                .cloned()
                .unwrap_or(Acknowledgement { by: None, at: 0 }),
        )
    }

    /// Forget what has run out.
    pub fn expire(&mut self, now: i64) {
        self.snoozed.retain(|_, u| now < *u);
        self.rules_snoozed.retain(|_, u| now < *u);
        if self.paused_until.is_some_and(|u| now >= u) {
            self.paused_until = None;
        }
    }
}

/// Tunables of the policy.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// This many keys of one rule firing in one poll become one digest.
    pub storm_threshold: usize,
    /// At most this many notifications per rolling minute; past it, one "more alerts" notice.
    pub max_per_minute: usize,
    /// Which resolutions are notified.
    pub resolved: lookout_keeper::config::ResolvedNotices,
    /// Minutes of the local day (start, end) when only critical alerts are notified.
    pub quiet_hours: Option<(u16, u16)>,
    /// The local minute of the day at a Unix time (the system's time zone; tests fix it).
    pub local_minute: fn(i64) -> u16,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            storm_threshold: 3,
            max_per_minute: 20,
            resolved: lookout_keeper::config::ResolvedNotices::Rule,
            quiet_hours: None,
            local_minute,
        }
    }
}

impl PolicyConfig {
    /// The policy a configuration asks for.
    pub fn from_config(
        alerts: &lookout_keeper::config::AlertsConfig,
        notifications: &lookout_keeper::config::NotificationsConfig,
    ) -> PolicyConfig {
        PolicyConfig {
            max_per_minute: alerts.max_per_minute,
            resolved: notifications.resolved,
            quiet_hours: notifications
                .quiet_hours
                .as_deref()
                .and_then(|q| lookout_keeper::config::parse_quiet_hours(q).ok()),
            ..PolicyConfig::default()
        }
    }

    /// The end of the quiet hours `now` falls in, if it does.
    fn quiet_until(&self, now: i64) -> Option<String> {
        let (start, end) = self.quiet_hours?;
        let m = (self.local_minute)(now);
        let inside = if start < end {
            (start..end).contains(&m)
        } else {
            m >= start || m < end
        };
        inside.then(|| format!("{:02}:{:02}", end / 60, end % 60))
    }
}

/// The minute of the local day at a Unix time, in the system's time zone.
pub fn local_minute(unix: i64) -> u16 {
    use chrono::Timelike;
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.with_timezone(&chrono::Local))
        .map_or(0, |t| (t.hour() * 60 + t.minute()) as u16)
}

/// A transition that was not told, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub notice: Notice,
    pub reason: String,
}

/// Decides what to tell.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub config: PolicyConfig,
    sent: VecDeque<i64>,
    overflow_told_at: Option<i64>,
}

impl Policy {
    pub fn new(config: PolicyConfig) -> Policy {
        Policy {
            config,
            ..Policy::default()
        }
    }

    /// Turn one step's transitions into notifications. Updates `silences`: a resolved alert's
    /// acknowledgement ends with it.
    pub fn decide(
        &mut self,
        now: i64,
        notices: Vec<Notice>,
        silences: &mut Silences,
    ) -> (Vec<Notification>, Vec<Held>) {
        silences.expire(now);
        let mut held = Vec::new();
        let mut told: Vec<Notice> = Vec::new();
        for n in notices {
            let id = (n.rule.clone(), n.key.clone());
            let quiet = silences.quiet(now, &n.rule, &n.key);
            let mut n = n;
            if n.kind == NoticeKind::Resolved {
                silences.acknowledged.remove(&id);
                silences.acknowledged_by.remove(&id);
                match self.config.resolved {
                    lookout_keeper::config::ResolvedNotices::Rule => {}
                    lookout_keeper::config::ResolvedNotices::All => n.notify = true,
                    lookout_keeper::config::ResolvedNotices::None => n.notify = false,
                }
            }
            if !n.notify {
                continue;
            }
            if let Some(q) = quiet {
                held.push(Held {
                    notice: n,
                    reason: q.to_string(),
                });
                continue;
            }
            if n.kind == NoticeKind::Repeat && n.severity != Severity::Critical {
                continue;
            }
            if n.severity != Severity::Critical
                && let Some(until) = self.config.quiet_until(now)
            {
                held.push(Held {
                    notice: n,
                    reason: format!("quiet hours until {until}"),
                });
                continue;
            }
            told.push(n);
        }
        // Storm guard: many keys of one rule firing together become one digest.
        let mut out = Vec::new();
        // By rule and team: a digest never mixes teams, so in team mode each goes to its team.
        let mut firing_by_rule: BTreeMap<(String, Option<String>), Vec<Notice>> = BTreeMap::new();
        for n in told {
            if n.kind == NoticeKind::Firing {
                let team = n.labels.get(TEAM_LABEL).cloned();
                firing_by_rule
                    .entry((n.rule.clone(), team))
                    .or_default()
                    .push(n);
            } else {
                out.push(Notification::from_notice(&n));
            }
        }
        for (_, group) in firing_by_rule {
            if group.len() >= self.config.storm_threshold {
                out.push(Notification::digest(&group, now));
            } else {
                out.extend(group.iter().map(Notification::from_notice));
            }
        }
        // The cap per minute.
        while self.sent.front().is_some_and(|t| now - t >= 60) {
            self.sent.pop_front();
        }
        let room = self.config.max_per_minute.saturating_sub(self.sent.len());
        if out.len() > room {
            let over: Vec<Notification> = out.split_off(room);
            let already = self.overflow_told_at.is_some_and(|t| now - t < 60);
            if !already {
                self.overflow_told_at = Some(now);
                let mut by_team: BTreeMap<Option<&String>, Vec<Notification>> = BTreeMap::new();
                for n in &over {
                    by_team
                        .entry(n.labels.get(TEAM_LABEL))
                        .or_default()
                        .push(n.clone());
                }
                out.extend(by_team.values().map(|g| Notification::overflow(g, now)));
            }
            for n in over {
                held.push(Held {
                    notice: n.as_notice(),
                    reason: format!(
                        "more than {} notifications in a minute",
                        self.config.max_per_minute
                    ),
                });
            }
        }
        self.sent.extend(out.iter().map(|_| now));
        // Newest silences first in the log; keep the order of decisions stable.
        (out, held)
    }
}

impl NotificationState {
    fn of(kind: NoticeKind) -> NotificationState {
        match kind {
            NoticeKind::Firing | NoticeKind::Repeat => NotificationState::Firing,
            NoticeKind::Resolved => NotificationState::Resolved,
        }
    }
}

impl Notification {
    pub fn from_notice(n: &Notice) -> Notification {
        Notification {
            rule: n.rule.clone(),
            rule_name: n.rule_name.clone(),
            key: n.key.clone(),
            severity: n.severity,
            state: NotificationState::of(n.kind),
            title: n.title.clone(),
            body: n.body.clone(),
            digest: None,
            labels: n.labels.clone(),
            at: n.at,
        }
    }

    fn digest(group: &[Notice], now: i64) -> Notification {
        let first = &group[0];
        let severity = group
            .iter()
            .map(|n| n.severity)
            .max()
            .unwrap_or(first.severity);
        let titles: Vec<&str> = group.iter().map(|n| n.title.as_str()).collect();
        let shown = titles
            .iter()
            .take(5)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let more = if titles.len() > 5 {
            format!("\n… and {} more", titles.len() - 5)
        } else {
            String::new()
        };
        Notification {
            rule: first.rule.clone(),
            rule_name: first.rule_name.clone(),
            key: match first.labels.get(TEAM_LABEL) {
                Some(team) => format!("{}/{team}/*", first.rule),
                None => format!("{}/*", first.rule),
            },
            severity,
            state: NotificationState::Firing,
            title: format!("{} × {}", group.len(), first.rule_name),
            body: format!("{shown}{more}"),
            digest: Some(group.iter().map(|n| n.key.clone()).collect()),
            labels: shared_labels(group.iter().map(|n| &n.labels)),
            at: now,
        }
    }

    fn overflow(over: &[Notification], now: i64) -> Notification {
        let severity = over
            .iter()
            .map(|n| n.severity)
            .max()
            .unwrap_or(Severity::Warning);
        Notification {
            rule: "lookout".into(),
            rule_name: "Lookout".into(),
            key: "overflow".into(),
            severity,
            state: NotificationState::Firing,
            title: match over.len() {
                1 => "1 more alert".to_string(),
                n => format!("{n} more alerts"),
            },
            body: "Too many alerts at once to notify each; the overview lists them all.".into(),
            digest: Some(
                over.iter()
                    .map(|n| format!("{}/{}", n.rule, n.key))
                    .collect(),
            ),
            labels: shared_labels(over.iter().map(|n| &n.labels)),
            at: now,
        }
    }

    fn as_notice(&self) -> Notice {
        Notice {
            kind: match self.state {
                NotificationState::Firing => NoticeKind::Firing,
                NotificationState::Resolved => NoticeKind::Resolved,
            },
            notify: true,
            rule: self.rule.clone(),
            rule_name: self.rule_name.clone(),
            key: self.key.clone(),
            severity: self.severity,
            title: self.title.clone(),
            body: self.body.clone(),
            labels: self.labels.clone(),
            at: self.at,
        }
    }
}

/// The labels every one of `all` has, with the same value.
fn shared_labels<'a>(mut all: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = all.next() else {
        return Labels::new();
    };
    let mut out = first.clone();
    for l in all {
        out.retain(|k, v| l.get(k) == Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(kind: NoticeKind, rule: &str, key: &str, sev: Severity, at: i64) -> Notice {
        Notice {
            kind,
            notify: true,
            rule: rule.into(),
            rule_name: format!("Rule {rule}"),
            key: key.into(),
            severity: sev,
            title: format!("{key} title"),
            body: String::new(),
            labels: Labels::new(),
            at,
        }
    }

    #[test]
    fn a_storm_digest_never_mixes_teams() {
        let mut p = Policy::default();
        let mut notices = Vec::new();
        for (i, team) in ["A", "A", "A", "A", "B", "B", "B", "B"].iter().enumerate() {
            let mut x = n(
                NoticeKind::Firing,
                "stuck",
                &format!("k{i}"),
                Severity::Warning,
                10,
            );
            x.labels.insert(TEAM_LABEL.into(), team.to_string());
            x.labels.insert("agent".into(), format!("a{i}"));
            notices.push(x);
        }
        let (out, _) = p.decide(10, notices, &mut Silences::default());
        let got: Vec<(String, Labels, usize)> = out
            .iter()
            .map(|o| {
                (
                    o.key.clone(),
                    o.labels.clone(),
                    o.digest.as_ref().map_or(0, Vec::len),
                )
            })
            .collect();
        let team = |t: &str| Labels::from([(TEAM_LABEL.to_string(), t.to_string())]);
        assert_eq!(
            got,
            [
                ("stuck/A/*".to_string(), team("A"), 4),
                ("stuck/B/*".to_string(), team("B"), 4)
            ]
        );
    }

    fn keys(out: &[Notification]) -> Vec<String> {
        out.iter()
            .map(|n| format!("{:?} {}", n.state, n.key))
            .collect()
    }

    use NoticeKind::*;
    use Severity::*;

    #[test]
    fn firing_and_resolved_are_told_repeats_only_for_criticals() {
        let mut p = Policy::default();
        let mut s = Silences::default();
        let (out, _) = p.decide(
            0,
            vec![
                n(Firing, "r", "a", Warning, 0),
                n(Repeat, "r", "b", Warning, 0),
                n(Repeat, "c", "x", Critical, 0),
                n(Resolved, "r", "d", Warning, 0),
            ],
            &mut s,
        );
        assert_eq!(keys(&out), ["Firing x", "Resolved d", "Firing a"]);
    }

    #[test]
    fn many_keys_of_one_rule_become_one_digest() {
        let mut p = Policy::default();
        let mut s = Silences::default();
        let storm: Vec<Notice> = ["Sales", "Support", "Billing", "VIP"]
            .iter()
            .map(|k| n(Firing, "noready", k, Critical, 0))
            .chain([n(Firing, "other", "z", Warning, 0)])
            .collect();
        let (out, _) = p.decide(0, storm, &mut s);
        assert_eq!(out.len(), 2);
        let d = out.iter().find(|o| o.digest.is_some()).unwrap();
        assert_eq!(d.title, "4 × Rule noready");
        assert_eq!(d.key, "noready/*");
        assert_eq!(
            d.digest.as_ref().unwrap(),
            &["Sales", "Support", "Billing", "VIP"]
        );
        assert!(d.body.starts_with("Sales title\nSupport title"));
    }

    fn utc_minute(unix: i64) -> u16 {
        (unix.rem_euclid(86_400) / 60) as u16
    }

    #[test]
    fn quiet_hours_hold_all_but_critical_and_resolutions_follow_the_preference() {
        let mut p = Policy::new(PolicyConfig {
            quiet_hours: Some((22 * 60, 7 * 60)),
            local_minute: utc_minute,
            ..PolicyConfig::default()
        });
        let mut s = Silences::default();
        let night = 23 * 3600;
        let (out, held) = p.decide(
            night,
            vec![
                n(Firing, "r", "w", Warning, night),
                n(Firing, "c", "x", Critical, night),
            ],
            &mut s,
        );
        assert_eq!(keys(&out), ["Firing x"]);
        assert_eq!(held[0].reason, "quiet hours until 07:00");
        let morning = 8 * 3600;
        let (out, _) = p.decide(
            morning,
            vec![n(Firing, "r", "w2", Warning, morning)],
            &mut s,
        );
        assert_eq!(keys(&out), ["Firing w2"]);
        // Resolutions: the rule's choice, all, or none.
        let mut quiet = n(Resolved, "r", "q", Warning, morning);
        quiet.notify = false;
        let (out, _) = p.decide(morning, vec![quiet.clone()], &mut s);
        assert!(out.is_empty());
        p.config.resolved = lookout_keeper::config::ResolvedNotices::All;
        let (out, _) = p.decide(morning, vec![quiet.clone()], &mut s);
        assert_eq!(keys(&out), ["Resolved q"]);
        p.config.resolved = lookout_keeper::config::ResolvedNotices::None;
        let (out, _) = p.decide(
            morning,
            vec![n(Resolved, "r", "z", Critical, morning)],
            &mut s,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_minute_caps_the_number_of_notifications() {
        let mut p = Policy::new(PolicyConfig {
            storm_threshold: 100,
            max_per_minute: 3,
            ..PolicyConfig::default()
        });
        let mut s = Silences::default();
        let many: Vec<Notice> = (0..5)
            .map(|i| n(Firing, "r", &format!("k{i}"), Warning, 0))
            .collect();
        let (out, held) = p.decide(0, many, &mut s);
        assert_eq!(
            keys(&out),
            ["Firing k0", "Firing k1", "Firing k2", "Firing overflow"]
        );
        assert_eq!(out[3].title, "2 more alerts");
        assert_eq!(held.len(), 2);
        // Still within the minute: held, no second overflow notice.
        let (out, held) = p.decide(30, vec![n(Firing, "r", "k9", Warning, 30)], &mut s);
        assert!(out.is_empty());
        assert_eq!(held.len(), 1);
        // A minute later there is room again.
        let (out, _) = p.decide(61, vec![n(Firing, "r", "k10", Warning, 61)], &mut s);
        assert_eq!(keys(&out), ["Firing k10"]);
    }

    #[test]
    fn every_kind_of_silence_holds_with_its_reason() {
        let mut p = Policy::default();
        let mut s = Silences::default();
        s.snoozed.insert(("r".into(), "a".into()), 100);
        s.rules_snoozed.insert("q".into(), 100);
        s.acknowledged.insert(("r".into(), "b".into()));
        let (out, held) = p.decide(
            10,
            vec![
                n(Firing, "r", "a", Critical, 10),
                n(Firing, "q", "x", Critical, 10),
                n(Repeat, "r", "b", Critical, 10),
                n(Firing, "r", "c", Critical, 10),
            ],
            &mut s,
        );
        assert_eq!(keys(&out), ["Firing c"]);
        let reasons: Vec<String> = held
            .iter()
            .map(|h| format!("{} {}", h.notice.key, h.reason))
            .collect();
        assert_eq!(reasons.len(), 3);
        assert!(reasons[0].starts_with("a snoozed until"), "{reasons:?}");
        assert!(
            reasons[1].starts_with("x rule snoozed until"),
            "{reasons:?}"
        );
        assert_eq!(reasons[2], "b acknowledged");
        // A snooze runs out; an acknowledgement ends when the alert resolves.
        let (out, _) = p.decide(100, vec![n(Repeat, "r", "a", Critical, 100)], &mut s);
        assert_eq!(keys(&out), ["Firing a"]);
        let (out, _) = p.decide(101, vec![n(Resolved, "r", "b", Critical, 101)], &mut s);
        assert!(out.is_empty(), "quiet to the end");
        assert!(s.acknowledged.is_empty());
        let (out, _) = p.decide(102, vec![n(Firing, "r", "b", Critical, 102)], &mut s);
        assert_eq!(keys(&out), ["Firing b"], "it fired again: told again");
        // Pause everything until a time, or until resumed.
        s.paused_until = Some(200);
        let (out, held) = p.decide(150, vec![n(Firing, "r", "e", Critical, 150)], &mut s);
        assert!(out.is_empty());
        assert!(held[0].reason.starts_with("notifications paused until"));
        s.paused_until = Some(i64::MAX);
        let (_, held) = p.decide(300, vec![n(Firing, "r", "f", Critical, 300)], &mut s);
        assert_eq!(held[0].reason, "notifications paused until resumed");
    }
}
