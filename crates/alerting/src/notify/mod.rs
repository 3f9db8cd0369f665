//! Telling people: the notifiers behind one trait —
//! the desktop (`desktop.rs`, over D-Bus / the OS notification center), stdout (text or JSON
//! lines) and a capture for tests.

pub mod desktop;
pub mod sound;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::Severity;
use crate::policy::Held;

/// Firing (or still firing: a repeat) or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    Firing,
    Resolved,
}

/// One notification. (Serialized for team mode, where a hub's decisions reach its desks.)
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Notification {
    /// The rule's id (its file name), `connection` for the connection's own alert, `lookout`
    /// for the overflow notice.
    pub rule: String,
    /// The rule's name, as people read it.
    pub rule_name: String,
    pub key: String,
    pub severity: Severity,
    pub state: NotificationState,
    pub title: String,
    pub body: String,
    /// The keys a digest stands for.
    pub digest: Option<Vec<String>>,
    /// The alert's labels (a digest's: those its alerts share).
    #[serde(default)]
    pub labels: crate::Labels,
    /// The rule's runbook (text or a link), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    pub at: i64,
    /// A group by cause (`service=Billing`): a later notification of the same group replaces
    /// this one in place where the notification server can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The other alerts a group's notification names; an action on it applies to them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<crate::AlertId>,
    /// Told again because nobody acknowledged it: which step of the escalation ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

/// A step of the escalation ladder, as a notification carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Escalation {
    /// 1 for the first step.
    pub step: usize,
    /// How many steps the ladder has.
    pub of: usize,
    /// Stays on screen until someone acts on it.
    pub persistent: bool,
    /// Brings the overview to the front (the desktop app).
    pub raise: bool,
    /// The sound to ring instead of the severity's (a theme name or a file).
    pub sound: Option<String>,
    /// Only rings again (`[sounds] repeat_until_acknowledged`), the notification unchanged.
    pub ring_only: bool,
}

/// What a person did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Acknowledge,
    /// Snooze for 15 minutes.
    Snooze,
}

/// An action on the notification of (rule, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEvent {
    pub rule: String,
    pub key: String,
    /// For a digest: the keys it stands for.
    pub digest: Option<Vec<String>>,
    pub action: Action,
    /// Who did it, when more than one person watches (team mode).
    pub by: Option<String>,
    /// The other alerts of a group's notification: the action applies to them too.
    pub also: Vec<crate::AlertId>,
}

impl ActionEvent {
    /// Every alert the action is about: (rule, key), a digest's keys, a group's others.
    pub fn alerts(&self) -> Vec<crate::AlertId> {
        let keys = match &self.digest {
            Some(keys) => keys.clone(),
            None => vec![self.key.clone()],
        };
        keys.into_iter()
            .map(|k| (self.rule.clone(), k))
            .chain(self.also.iter().cloned())
            .collect()
    }
}

/// Somewhere notifications go.
pub trait Notifier: Send {
    fn notify(&mut self, n: &Notification) -> Result<(), String>;

    /// A transition that was not told, and why (inhibited, snoozed, quiet hours, …). Only a
    /// terminal shows these; the desktop stays quiet, which is the point.
    fn held(&mut self, _h: &Held) -> Result<(), String> {
        Ok(())
    }
}

/// What goes to a notifier's thread.
enum Told {
    Notification(Notification),
    Held(Held),
}

/// A notifier on a thread of its own, so a slow notification server never holds up the caller.
pub struct NotifierThread {
    tx: Option<std::sync::mpsc::Sender<Told>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifierThread {
    pub fn start(notifier: Box<dyn Notifier>) -> Result<NotifierThread, String> {
        let (tx, rx) = std::sync::mpsc::channel::<Told>();
        let thread = std::thread::Builder::new()
            .name("lookout-notifier".into())
            .spawn(move || {
                let mut notifier = notifier;
                for t in rx {
                    let done = match &t {
                        Told::Notification(n) => notifier.notify(n),
                        Told::Held(h) => notifier.held(h),
                    };
                    if let Err(e) = done {
                        tracing::warn!("{e}");
                    }
                }
            })
            .map_err(|e| format!("cannot start the notifier thread: {e}"))?;
        Ok(NotifierThread {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hand `n` to the thread; false when it has stopped.
    pub fn send(&self, n: Notification) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send(Told::Notification(n)).is_ok())
    }

    /// Hand a transition that was held back to the thread (a terminal shows it).
    pub fn send_held(&self, h: Held) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send(Told::Held(h)).is_ok())
    }

    /// Tell what is queued, then stop.
    pub fn stop(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How stdout notifications are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    rule: &'a str,
    key: &'a str,
    severity: Severity,
    state: NotificationState,
    title: &'a str,
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "crate::Labels::is_empty")]
    labels: &'a crate::Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    runbook: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a String>,
    /// The keys of the other alerts a group's notification names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    escalation: Option<&'a Escalation>,
    /// Why it was not told (a `held` line only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The JSON line of a notification: `{"type":"notification","rule":"<rule name>",…}`.
pub fn json_line(n: &Notification) -> String {
    serde_json::to_string(&JsonLine {
        kind: "notification",
        rule: &n.rule_name,
        key: &n.key,
        severity: n.severity,
        state: n.state,
        title: &n.title,
        body: &n.body,
        digest: n.digest.as_ref(),
        labels: &n.labels,
        runbook: n.runbook.as_ref(),
        group: n.group.as_ref(),
        also: n.also.iter().map(|(_, k)| k.as_str()).collect(),
        escalation: n.escalation.as_ref(),
        reason: None,
    })
    .unwrap_or_default()
}

/// The JSON line of a transition held back: `{"type":"held",…,"reason":"inhibited by: …"}`.
pub fn held_json_line(h: &Held) -> String {
    let n = &h.notice;
    serde_json::to_string(&JsonLine {
        kind: "held",
        rule: &n.rule_name,
        key: &n.key,
        severity: n.severity,
        state: NotificationState::of(n.kind),
        title: &n.title,
        body: &n.body,
        digest: None,
        labels: &n.labels,
        runbook: None,
        group: None,
        also: Vec::new(),
        escalation: None,
        reason: Some(&h.reason),
    })
    .unwrap_or_default()
}

/// One line of plain text for a transition held back, with why.
pub fn held_text_line(h: &Held) -> String {
    use lookout_statsapi::printable;
    let n = &h.notice;
    format!(
        "{}  HELD      {:<8}  {}  {} — {}",
        lookout_keeper::clock(n.at),
        n.severity.as_str(),
        printable(&n.key, 300),
        printable(&n.title, 300),
        printable(&h.reason, 300)
    )
}

/// One line of plain text for a notification. Titles and bodies hold what agents typed: control
/// characters (escape sequences that would steer the terminal, line breaks) become spaces.
pub fn text_line(n: &Notification) -> String {
    use lookout_statsapi::printable;
    let step;
    let state = match (n.state, &n.escalation) {
        (NotificationState::Firing, Some(e)) => {
            step = format!("STEP {}/{}", e.step, e.of);
            step.as_str()
        }
        (NotificationState::Firing, None) => "FIRING  ",
        (NotificationState::Resolved, _) => "RESOLVED",
    };
    let body = if n.body.is_empty() {
        String::new()
    } else {
        format!(" — {}", printable(&n.body.replace('\n', "; "), 2000))
    };
    let runbook = match (&n.runbook, n.state) {
        (Some(r), NotificationState::Firing) => {
            format!(
                "\n          runbook: {}",
                printable(&r.replace('\n', "; "), 2000)
            )
        }
        _ => String::new(),
    };
    // A group's notification names the keys of the others too.
    let mut keys = n.key.clone();
    for (_, k) in &n.also {
        keys.push_str(" +");
        keys.push_str(k);
    }
    format!(
        "{}  {state}  {:<8}  {}  {}{body}{runbook}",
        lookout_keeper::clock(n.at),
        n.severity.as_str(),
        printable(&keys, 600),
        printable(&n.title, 300)
    )
}

/// Writes notifications to stdout.
pub struct StdoutNotifier {
    pub format: Format,
}

impl Notifier for StdoutNotifier {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        // Ringing again is for ears; a terminal has said it already.
        if n.escalation.as_ref().is_some_and(|e| e.ring_only) {
            return Ok(());
        }
        let line = match self.format {
            Format::Json => json_line(n),
            Format::Text => text_line(n),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    }

    fn held(&mut self, h: &Held) -> Result<(), String> {
        let line = match self.format {
            Format::Json => held_json_line(h),
            Format::Text => held_text_line(h),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    }
}

/// Keeps notifications in memory (tests).
#[derive(Clone, Default)]
pub struct CaptureNotifier {
    pub seen: Arc<Mutex<Vec<Notification>>>,
}

impl Notifier for CaptureNotifier {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        self.seen
            .lock()
            .map_err(|_| "capture lock poisoned".to_string())?
            .push(n.clone());
        Ok(())
    }
}

/// Drops notifications (`--notify none`).
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&mut self, _: &Notification) -> Result<(), String> {
        Ok(())
    }
}
