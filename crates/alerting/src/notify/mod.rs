//! Telling people: the notifiers behind one trait —
//! the desktop (`desktop.rs`, over D-Bus / the OS notification center), stdout (text or JSON
//! lines) and a capture for tests.

pub mod desktop;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::Severity;

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
    pub at: i64,
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
}

/// Somewhere notifications go.
pub trait Notifier: Send {
    fn notify(&mut self, n: &Notification) -> Result<(), String>;
}

/// A notifier on a thread of its own, so a slow notification server never holds up the caller.
pub struct NotifierThread {
    tx: Option<std::sync::mpsc::Sender<Notification>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifierThread {
    pub fn start(notifier: Box<dyn Notifier>) -> Result<NotifierThread, String> {
        let (tx, rx) = std::sync::mpsc::channel::<Notification>();
        let thread = std::thread::Builder::new()
            .name("lookout-notifier".into())
            .spawn(move || {
                let mut notifier = notifier;
                for n in rx {
                    if let Err(e) = notifier.notify(&n) {
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
        self.tx.as_ref().is_some_and(|tx| tx.send(n).is_ok())
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
    })
    .unwrap_or_default()
}

/// One line of plain text for a notification. Titles and bodies hold what agents typed: control
/// characters (escape sequences that would steer the terminal, line breaks) become spaces.
pub fn text_line(n: &Notification) -> String {
    use lookout_statsapi::printable;
    let state = match n.state {
        NotificationState::Firing => "FIRING  ",
        NotificationState::Resolved => "RESOLVED",
    };
    let body = if n.body.is_empty() {
        String::new()
    } else {
        format!(" — {}", printable(&n.body.replace('\n', "; "), 2000))
    };
    format!(
        "{}  {state}  {:<8}  {}  {}{body}",
        lookout_keeper::clock(n.at),
        n.severity.as_str(),
        printable(&n.key, 300),
        printable(&n.title, 300)
    )
}

/// Writes notifications to stdout.
pub struct StdoutNotifier {
    pub format: Format,
}

impl Notifier for StdoutNotifier {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let line = match self.format {
            Format::Json => json_line(n),
            Format::Text => text_line(n),
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
