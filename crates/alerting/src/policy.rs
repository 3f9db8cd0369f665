//! What gets told, separate from what is true: silences (snooze a key or a rule, acknowledge,
//! pause everything), repeats only for unacknowledged criticals, a storm guard that turns many
//! keys of one rule into one digest, and a cap per minute.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Notice, NoticeKind};
use crate::notify::{Notification, NotificationState};
use crate::{Labels, Severity, TEAM_LABEL};
use lookout_keeper::schedule::Schedule;

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
    /// A firing alert holds it back (its rule's `inhibits`); `by` is that alert's title.
    Inhibited { by: String },
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
            Quiet::Inhibited { by } => write!(f, "inhibited by: {by}"),
        }
    }
}

/// The alerts another holds back: (rule, key) → the title of the firing alert that does.
pub type Inhibited = BTreeMap<AlertId, String>;

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
        for id in e.alerts() {
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
    /// Schedules during which alerts are shown but not told (the old quiet hours are one).
    pub mutes: Vec<Mute>,
    /// Alerts with the same values of these labels, starting within `group_wait` seconds of
    /// each other, are told as one notification ([`Policy`]'s grouping by cause).
    pub group_by: Vec<String>,
    /// Seconds the first alert of a new group waits for others (0: no grouping).
    pub group_wait: i64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            storm_threshold: 3,
            max_per_minute: 20,
            resolved: lookout_keeper::config::ResolvedNotices::Rule,
            mutes: Vec::new(),
            group_by: Vec::new(),
            group_wait: 0,
        }
    }
}

impl PolicyConfig {
    /// The policy a configuration asks for: `schedules` are its `[schedules]`, parsed.
    pub fn from_config(
        alerts: &lookout_keeper::config::AlertsConfig,
        notifications: &lookout_keeper::config::NotificationsConfig,
        schedules: &BTreeMap<String, Schedule>,
    ) -> PolicyConfig {
        let mut mutes: Vec<Mute> = notifications
            .mute
            .iter()
            .filter_map(|name| schedules.get(name))
            .map(|s| Mute {
                schedule: s.clone(),
                criticals: notifications.mute_criticals,
                reason: format!("muted ({})", s.name),
            })
            .collect();
        // The older `quiet_hours`: a daily schedule in the system's zone; criticals still told.
        if let Some((start, end)) = notifications
            .quiet_hours
            .as_deref()
            .and_then(|q| lookout_keeper::config::parse_quiet_hours(q).ok())
        {
            mutes.push(Mute {
                schedule: Schedule::daily("quiet hours", start, end),
                criticals: false,
                reason: "quiet hours".into(),
            });
        }
        PolicyConfig {
            max_per_minute: alerts.max_per_minute,
            resolved: notifications.resolved,
            mutes,
            group_by: notifications.group_by.clone(),
            group_wait: notifications.group_wait_secs as i64,
            ..PolicyConfig::default()
        }
    }

    /// Why telling `severity` is muted at `now`, if it is: "quiet hours until 07:00".
    pub fn muted(&self, now: i64, severity: Severity) -> Option<String> {
        let m = self.mutes.iter().find(|m| {
            (m.criticals || severity != Severity::Critical) && m.schedule.contains(now)
        })?;
        Some(match m.schedule.next_change(now) {
            Some(t) => format!("{} until {}", m.reason, m.schedule.local_time(t)),
            None => m.reason.clone(),
        })
    }
}

/// A schedule during which telling is muted: alerts are evaluated and shown, not told.
#[derive(Debug, Clone)]
pub struct Mute {
    pub schedule: Schedule,
    /// Critical alerts are muted too (by default they are told).
    pub criticals: bool,
    /// How a held notice says why: "quiet hours", "muted (night)".
    pub reason: String,
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
    /// Groups by cause, by their key (`service=Billing`).
    groups: BTreeMap<String, Group>,
}

/// Alerts told as one notification: they share the `group_by` labels and started within
/// `group_wait` of the first.
#[derive(Debug, Clone)]
struct Group {
    /// When it is told; `None`: told already, and a new member updates it in place.
    due: Option<i64>,
    members: Vec<Notice>,
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
        self.decide_inhibited(now, notices, silences, &Inhibited::new())
    }

    /// [`Policy::decide`], where the alerts in `inhibited` are held back by another (a person's
    /// silence is the reason given first: it lasts longer).
    pub fn decide_inhibited(
        &mut self,
        now: i64,
        notices: Vec<Notice>,
        silences: &mut Silences,
        inhibited: &Inhibited,
    ) -> (Vec<Notification>, Vec<Held>) {
        silences.expire(now);
        let mut held = Vec::new();
        let mut told: Vec<Notice> = Vec::new();
        for n in notices {
            let id = (n.rule.clone(), n.key.clone());
            // Gone before its group was told: never told at all.
            if n.kind == NoticeKind::Resolved && self.leave_group(&id) {
                continue;
            }
            let quiet = silences.quiet(now, &n.rule, &n.key).or_else(|| {
                inhibited
                    .get(&id)
                    .map(|by| Quiet::Inhibited { by: by.clone() })
            });
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
            if let Some(reason) = self.config.muted(now, n.severity) {
                held.push(Held { notice: n, reason });
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
                continue;
            }
            for n in group {
                match self.group_key(&n) {
                    Some(key) => self.join(key, n, now, &mut out, silences, inhibited),
                    None => out.push(Notification::from_notice(&n)),
                }
            }
        }
        let (due, more_held) = self.due_groups(now, silences, inhibited);
        out.extend(due);
        held.extend(more_held);
        self.cap(now, out, held)
    }

    /// Tell the groups whose `group_wait` is over (called every second): each member is
    /// checked again, so one that a person silenced or another alert came to hold back
    /// meanwhile is held, with the reason.
    pub fn flush(
        &mut self,
        now: i64,
        silences: &Silences,
        inhibited: &Inhibited,
    ) -> (Vec<Notification>, Vec<Held>) {
        let (out, held) = self.due_groups(now, silences, inhibited);
        if out.is_empty() && held.is_empty() {
            return (out, held);
        }
        self.cap(now, out, held)
    }

    /// The group `n` belongs to: the values of the `group_by` labels (and its team, so a group
    /// never mixes teams); `None` when grouping is off or `n` lacks one of them.
    fn group_key(&self, n: &Notice) -> Option<String> {
        if self.config.group_wait <= 0 || self.config.group_by.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !self.config.group_by.iter().any(|l| l == TEAM_LABEL)
            && let Some(team) = n.labels.get(TEAM_LABEL)
        {
            parts.push(format!("{TEAM_LABEL}={team}"));
        }
        for label in &self.config.group_by {
            parts.push(format!("{label}={}", n.labels.get(label)?));
        }
        Some(parts.join(","))
    }

    /// `n` starts firing in group `key`: a new group waits `group_wait`; a waiting one takes
    /// it; one already told is told again, in place, with it (and without the members that
    /// are quiet now: silenced, or held back by another alert).
    fn join(
        &mut self,
        key: String,
        n: Notice,
        now: i64,
        out: &mut Vec<Notification>,
        silences: &Silences,
        inhibited: &Inhibited,
    ) {
        let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
            due: Some(now + self.config.group_wait),
            members: Vec::new(),
        });
        group
            .members
            .retain(|m| (m.rule.as_str(), m.key.as_str()) != (n.rule.as_str(), n.key.as_str()));
        group.members.push(n);
        if group.due.is_none() {
            group.members.retain(|m| {
                let id = (m.rule.clone(), m.key.clone());
                silences.quiet(now, &m.rule, &m.key).is_none() && !inhibited.contains_key(&id)
            });
            if !group.members.is_empty() {
                out.push(Notification::group(&key, &group.members, now));
            }
        }
        self.groups.retain(|_, g| !g.members.is_empty());
    }

    /// (rule, key) resolved: it leaves its group. True when that group was still waiting, so
    /// the alert was never told.
    fn leave_group(&mut self, id: &AlertId) -> bool {
        let mut waiting = false;
        for group in self.groups.values_mut() {
            let before = group.members.len();
            group
                .members
                .retain(|m| (&m.rule, &m.key) != (&id.0, &id.1));
            if group.members.len() < before {
                waiting = group.due.is_some();
            }
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        waiting
    }

    fn due_groups(
        &mut self,
        now: i64,
        silences: &Silences,
        inhibited: &Inhibited,
    ) -> (Vec<Notification>, Vec<Held>) {
        let (mut out, mut held) = (Vec::new(), Vec::new());
        for (key, group) in &mut self.groups {
            if group.due.is_none_or(|d| now < d) {
                continue;
            }
            group.due = None;
            let mut loud = Vec::new();
            for m in group.members.drain(..) {
                let quiet = silences.quiet(now, &m.rule, &m.key).or_else(|| {
                    inhibited
                        .get(&(m.rule.clone(), m.key.clone()))
                        .map(|by| Quiet::Inhibited { by: by.clone() })
                });
                match quiet {
                    Some(q) => held.push(Held {
                        notice: m,
                        reason: q.to_string(),
                    }),
                    None => loud.push(m),
                }
            }
            group.members = loud;
            if !group.members.is_empty() {
                out.push(Notification::group(key, &group.members, now));
            }
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        (out, held)
    }

    /// The cap per minute over what is about to be told.
    fn cap(
        &mut self,
        now: i64,
        mut out: Vec<Notification>,
        mut held: Vec<Held>,
    ) -> (Vec<Notification>, Vec<Held>) {
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
    pub(crate) fn of(kind: NoticeKind) -> NotificationState {
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
            runbook: n.runbook.clone(),
            at: n.at,
            group: None,
            also: Vec::new(),
            escalation: None,
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
            runbook: first.runbook.clone(),
            at: now,
            group: None,
            also: Vec::new(),
            escalation: None,
        }
    }

    /// The notification of a group by cause: the loudest member (the first of the loudest)
    /// leads; the others are named under it.
    fn group(key: &str, members: &[Notice], now: i64) -> Notification {
        let lead = (0..members.len())
            .max_by_key(|&i| (members[i].severity, std::cmp::Reverse(i)))
            .unwrap_or(0);
        let first = &members[lead];
        let others: Vec<&Notice> = members
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != lead)
            .map(|(_, m)| m)
            .collect();
        let mut body = first.body.clone();
        if !others.is_empty() {
            if !body.is_empty() {
                body.push('\n');
            }
            let titles: Vec<&str> = others.iter().map(|m| m.title.as_str()).collect();
            body.push_str(&format!("Also: {}", titles.join("; ")));
        }
        Notification {
            rule: first.rule.clone(),
            rule_name: first.rule_name.clone(),
            key: first.key.clone(),
            severity: first.severity,
            state: NotificationState::Firing,
            title: first.title.clone(),
            body,
            digest: None,
            labels: shared_labels(members.iter().map(|n| &n.labels)),
            runbook: first.runbook.clone(),
            at: now,
            group: Some(key.to_string()),
            also: others
                .iter()
                .map(|m| (m.rule.clone(), m.key.clone()))
                .collect(),
            escalation: None,
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
            runbook: None,
            at: now,
            group: None,
            also: Vec::new(),
            escalation: None,
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
            runbook: self.runbook.clone(),
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
            runbook: None,
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

    #[test]
    fn quiet_hours_hold_all_but_critical_and_resolutions_follow_the_preference() {
        let mut p = Policy::new(PolicyConfig {
            mutes: vec![Mute {
                schedule: Schedule::daily("quiet hours", 22 * 60, 7 * 60)
                    .in_zone("UTC")
                    .unwrap(),
                criticals: false,
                reason: "quiet hours".into(),
            }],
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

    fn on(kind: NoticeKind, rule: &str, service: &str, sev: Severity, at: i64) -> Notice {
        let mut x = n(kind, rule, &format!("{rule}:{service}"), sev, at);
        x.title = format!("{rule} on {service}");
        x.labels.insert("service".into(), service.into());
        x
    }

    #[test]
    fn alerts_of_one_cause_become_one_notification_updated_in_place() {
        let mut p = Policy::new(PolicyConfig {
            group_by: vec!["service".into()],
            group_wait: 5,
            ..PolicyConfig::default()
        });
        let mut s = Silences::default();
        let none = Inhibited::new();
        // Three rules on Billing within group_wait; one on Sales; one with no service label.
        let (out, _) = p.decide(
            100,
            vec![
                on(Firing, "wait", "Billing", Warning, 100),
                on(Firing, "sales", "Sales", Warning, 100),
                n(Firing, "chat", "chat:1", Critical, 100),
            ],
            &mut s,
        );
        assert_eq!(keys(&out), ["Firing chat:1"], "no label: told at once");
        let (out, _) = p.decide(
            102,
            vec![on(Firing, "unavailable", "Billing", Critical, 102)],
            &mut s,
        );
        assert!(out.is_empty(), "waiting for others: {out:?}");
        let (out, _) = p.decide(
            103,
            vec![
                on(Firing, "growth", "Billing", Warning, 103),
                on(Firing, "gone", "Billing", Warning, 103),
            ],
            &mut s,
        );
        assert!(out.is_empty());
        // One resolves before its group is told: never told at all.
        let (out, _) = p.decide(
            104,
            vec![on(Resolved, "gone", "Billing", Warning, 104)],
            &mut s,
        );
        assert!(out.is_empty(), "{out:?}");
        let (out, _) = p.flush(104, &s, &none);
        assert!(out.is_empty());
        let (out, _) = p.flush(105, &s, &none);
        let billing = out
            .iter()
            .find(|o| o.labels.get("service").map(String::as_str) == Some("Billing"))
            .unwrap();
        assert_eq!(out.len(), 2, "{out:#?}");
        // The loudest leads; the others are named.
        assert_eq!(billing.title, "unavailable on Billing");
        assert_eq!(billing.severity, Critical);
        assert_eq!(billing.body, "Also: wait on Billing; growth on Billing");
        assert_eq!(billing.group.as_deref(), Some("service=Billing"));
        assert_eq!(
            billing.also,
            [
                ("wait".to_string(), "wait:Billing".to_string()),
                ("growth".to_string(), "growth:Billing".to_string())
            ]
        );
        // A fourth joins later: the same group's notification, told again in place.
        let (out, _) = p.decide(
            140,
            vec![on(Firing, "noready", "Billing", Critical, 140)],
            &mut s,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].group.as_deref(), Some("service=Billing"));
        assert_eq!(out[0].title, "unavailable on Billing");
        assert!(
            out[0]
                .body
                .ends_with("growth on Billing; noready on Billing"),
            "{}",
            out[0].body
        );
        // An action on it applies to every alert it names.
        s.apply(
            &crate::notify::ActionEvent {
                rule: out[0].rule.clone(),
                key: out[0].key.clone(),
                digest: None,
                action: crate::notify::Action::Acknowledge,
                by: None,
                also: out[0].also.clone(),
            },
            141,
        );
        assert_eq!(s.acknowledged.len(), 4);
        // Held back by another alert meanwhile: held at the flush, with the reason.
        p.decide(
            150,
            vec![on(Firing, "noready", "VIP", Critical, 150)],
            &mut s,
        );
        let inhibited: Inhibited = [(
            ("noready".to_string(), "noready:VIP".to_string()),
            "unavailable on VIP".to_string(),
        )]
        .into();
        let (out, held) = p.flush(155, &s, &inhibited);
        assert!(out.is_empty());
        assert_eq!(held[0].reason, "inhibited by: unavailable on VIP");
    }

    #[test]
    fn a_mute_schedule_holds_telling_and_the_old_quiet_hours_key_is_one() {
        let night = Schedule::parse(
            "night",
            &lookout_keeper::schedule::ScheduleConfig {
                time_zone: Some("UTC".into()),
                when: vec!["daily 22:00-06:00".into()],
                dates_off: vec![],
            },
        )
        .unwrap();
        let schedules = BTreeMap::from([("night".to_string(), night)]);
        let mut notifications = lookout_keeper::config::NotificationsConfig {
            mute: vec!["night".into()],
            ..Default::default()
        };
        let at = 23 * 3600;
        let mut p = Policy::new(PolicyConfig::from_config(
            &Default::default(),
            &notifications,
            &schedules,
        ));
        let mut s = Silences::default();
        let (out, held) = p.decide(
            at,
            vec![
                n(Firing, "r", "w", Warning, at),
                n(Firing, "c", "x", Critical, at),
            ],
            &mut s,
        );
        assert_eq!(keys(&out), ["Firing x"], "criticals are told by default");
        assert_eq!(held[0].reason, "muted (night) until 06:00");
        notifications.mute_criticals = true;
        let mut p = Policy::new(PolicyConfig::from_config(
            &Default::default(),
            &notifications,
            &schedules,
        ));
        let (out, held) = p.decide(at, vec![n(Firing, "c", "y", Critical, at)], &mut s);
        assert!(out.is_empty());
        assert_eq!(held[0].reason, "muted (night) until 06:00");
        // The older `quiet_hours` is read as a daily mute (in the system's zone).
        let old = PolicyConfig::from_config(
            &Default::default(),
            &lookout_keeper::config::NotificationsConfig {
                quiet_hours: Some("22:00-07:00".into()),
                ..Default::default()
            },
            &BTreeMap::new(),
        );
        assert_eq!(old.mutes.len(), 1);
        assert_eq!(old.mutes[0].reason, "quiet hours");
        assert!(!old.mutes[0].criticals);
    }
}
