//! Desktop notifications through `notify-rust`: the freedesktop notification server over D-Bus
//! on Linux, the notification center on macOS and Windows.
//!
//! Severity sets the urgency and a sound hint. Where the server supports actions, each
//! notification offers Open, Acknowledge and Snooze 15 min, and what the person picks comes
//! back as an [`ActionEvent`]. Servers that render markup in bodies get the body escaped, so a
//! chat message with `<b>` shows the tag, literally, and the summary's markup characters turned
//! into look-alikes (some of those servers render summaries too).

use super::{Action, ActionEvent, Notification, NotificationState, Notifier};
use crate::Severity;

/// The longest title and body shown; longer ones are cut at a word with "…".
pub const MAX_TITLE: usize = 120;
pub const MAX_BODY: usize = 400;

/// Action keys on the wire.
pub const OPEN: &str = "default";
pub const ACKNOWLEDGE: &str = "acknowledge";
pub const SNOOZE: &str = "snooze";
pub const RUNBOOK: &str = "runbook";

/// A runbook that is a web link: `http(s)://…`, one token of printable characters. Anything
/// else is text, shown in the overview.
pub fn runbook_link(runbook: &str) -> Option<&str> {
    let r = runbook.trim();
    let ok = (r.starts_with("https://") || r.starts_with("http://"))
        && r.len() > "https://".len()
        && !r.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(r)
}

/// Open a folder or a link with the system's opener (`xdg-open`, `open`, `explorer`), as one
/// argument, never a shell's text. The programs take the secrets out of their environment at
/// start; `scrub` names variables to remove anyway.
pub fn open_with_system(what: &std::ffi::OsStr, scrub: &[&str]) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let mut cmd = std::process::Command::new(opener);
    for name in scrub {
        cmd.env_remove(name);
    }
    match cmd
        .arg(what)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        // Reaped on a thread of its own, so no opener is left a zombie.
        Ok(mut child) => {
            let _ = std::thread::Builder::new()
                .name("lookout-open".into())
                .spawn(move || child.wait());
        }
        Err(e) => tracing::warn!("cannot open {} with {opener}: {e}", what.to_string_lossy()),
    }
}

/// Escape what notification servers read as markup.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A summary for a server that renders markup: the characters markup is made of become
/// look-alikes (‹ › ＆) that no markup parser reads. The specification says summaries are plain
/// text, but servers that render body markup (dunst with `markup = full`, some others) render
/// summaries too, while the rest would show an escape like `&lt;` literally.
pub fn defuse_markup(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            '&' => '＆',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// At most `max` characters, cut at a word boundary when one is near, ending in "…".
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    let at_word = cut
        .rfind(char::is_whitespace)
        .filter(|&i| i > cut.len() * 3 / 4)
        .map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end())
}

/// What the notification server can do.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub actions: bool,
    pub body_markup: bool,
}

/// Sends desktop notifications.
pub struct DesktopNotifier {
    caps: Capabilities,
    actions: Option<tokio::sync::mpsc::UnboundedSender<ActionEvent>>,
    sound: bool,
    /// The server's id of what is on screen, by group (`group:…`) and by alert
    /// (`alert:rule/key`), so a group's next notification, an escalation or a ring replaces
    /// it in place instead of stacking another.
    shown: std::collections::HashMap<String, u32>,
    sounds: super::sound::Sounds,
    /// Which showing of each notification id answers its actions: a replaced one's waiting
    /// thread stands down for the newer one, which names every alert.
    showings: Showings,
}

/// Notification id → the number of its latest showing (ids are reused by replacement).
type Showings = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u32, u64>>>;

impl DesktopNotifier {
    /// Ask the notification server what it supports. Fails when there is none (no session bus,
    /// or nothing owns `org.freedesktop.Notifications`).
    pub fn connect(
        actions: Option<tokio::sync::mpsc::UnboundedSender<ActionEvent>>,
    ) -> Result<DesktopNotifier, String> {
        let caps = capabilities()?;
        Ok(DesktopNotifier {
            caps,
            actions,
            sound: true,
            shown: std::collections::HashMap::new(),
            sounds: super::sound::Sounds::default(),
            showings: Showings::default(),
        })
    }

    /// Ask for a sound (the default) or for silence.
    pub fn with_sound(mut self, sound: bool) -> DesktopNotifier {
        self.sound = sound;
        self
    }

    /// Whether to ring, the sound of each severity, and the volume (the configuration's).
    pub fn with_sounds(mut self, sounds: super::sound::Sounds) -> DesktopNotifier {
        self.sound = sounds.on;
        self.sounds = sounds;
        self
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn capabilities() -> Result<Capabilities, String> {
    let caps = notify_rust::get_capabilities()
        .map_err(|e| format!("no desktop notification server: {e}"))?;
    Ok(Capabilities {
        actions: caps.iter().any(|c| c == "actions"),
        body_markup: caps.iter().any(|c| c == "body-markup"),
    })
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn capabilities() -> Result<Capabilities, String> {
    Ok(Capabilities::default())
}

fn urgency(s: Severity) -> notify_rust::Urgency {
    match s {
        Severity::Info => notify_rust::Urgency::Low,
        Severity::Warning => notify_rust::Urgency::Normal,
        Severity::Critical => notify_rust::Urgency::Critical,
    }
}

/// The most notifications remembered as on screen; past it the oldest are forgotten (they
/// are then shown anew rather than replaced).
const MAX_SHOWN: usize = 4096;

/// Where `n` is remembered as on screen: its alert's slot (`alert:rule/key`).
fn alert_slot(rule: &str, key: &str) -> String {
    format!("alert:{rule}/{key}")
}

impl Notifier for DesktopNotifier {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let title = truncate(&n.title, MAX_TITLE);
        let body = truncate(&n.body, MAX_BODY);
        let (title, body) = if self.caps.body_markup {
            (defuse_markup(&title), escape_markup(&body))
        } else {
            (title, body)
        };
        let mut note = notify_rust::Notification::new();
        note.appname("Lookout")
            .summary(&title)
            .body(&body)
            .icon(match n.severity {
                Severity::Critical => "dialog-error",
                Severity::Warning => "dialog-warning",
                Severity::Info => "dialog-information",
            })
            .urgency(urgency(n.severity))
            .hint(notify_rust::Hint::Category("im.received".into()));
        let sound = self.sounds.pick(
            n.severity,
            n.escalation.as_ref().and_then(|e| e.sound.as_deref()),
        );
        let played_here = self.sound
            && self.sounds.volume < 100
            && match super::sound::play(&sound, self.sounds.volume) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("{e}; the notification server plays the sound instead");
                    false
                }
            };
        match (&sound, self.sound && !played_here) {
            (_, false) => {
                note.hint(notify_rust::Hint::SuppressSound(true));
            }
            (super::sound::Sound::Named(name), true) => {
                note.hint(notify_rust::Hint::SoundName(name.clone()));
            }
            (super::sound::Sound::File(path), true) => {
                note.hint(notify_rust::Hint::SoundFile(
                    path.to_string_lossy().into_owned(),
                ));
            }
        }
        if n.escalation.as_ref().is_some_and(|e| e.persistent) {
            // Stays until someone acts on it.
            note.timeout(notify_rust::Timeout::Never);
        }
        let offers_actions =
            self.caps.actions && self.actions.is_some() && n.state == NotificationState::Firing;
        if offers_actions {
            note.action(OPEN, "Open")
                .action(ACKNOWLEDGE, "Acknowledge")
                .action(SNOOZE, "Snooze 15 min");
            if n.runbook.is_some() {
                note.action(RUNBOOK, "Runbook");
            }
        }
        // A group's notification replaces the group's; an escalation or a ring replaces what
        // shows its alert.
        let slot = match (&n.group, &n.escalation) {
            (Some(g), _) => Some(format!("group:{g}")),
            (None, Some(_)) => Some(alert_slot(&n.rule, &n.key)),
            (None, None) => None,
        };
        if let Some(id) = slot.as_ref().and_then(|s| self.shown.get(s)) {
            note.id(*id);
        }
        let handle = note
            .show()
            .map_err(|e| format!("the desktop notification failed: {e}"))?;
        if self.shown.len() > MAX_SHOWN {
            self.shown.clear();
        }
        match n.state {
            NotificationState::Firing if n.digest.is_none() => {
                if let Some(g) = &n.group {
                    self.shown.insert(format!("group:{g}"), handle.id());
                }
                for (rule, key) in
                    std::iter::once((&n.rule, &n.key)).chain(n.also.iter().map(|(r, k)| (r, k)))
                {
                    self.shown.insert(alert_slot(rule, key), handle.id());
                }
            }
            NotificationState::Firing => {}
            NotificationState::Resolved => {
                self.shown.remove(&alert_slot(&n.rule, &n.key));
            }
        }
        if offers_actions && let Some(tx) = self.actions.clone() {
            let showing = {
                let mut all = self.showings.lock().map_err(|_| "notifier lock poisoned")?;
                let next = all.get(&handle.id()).map_or(0, |s| s + 1);
                all.insert(handle.id(), next);
                next
            };
            wait_for_action(handle, tx, n, (self.showings.clone(), showing));
        }
        Ok(())
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn wait_for_action(
    handle: notify_rust::NotificationHandle,
    tx: tokio::sync::mpsc::UnboundedSender<ActionEvent>,
    n: &Notification,
    (showings, showing): (Showings, u64),
) {
    let id = handle.id();
    let (rule, key, digest) = (n.rule.clone(), n.key.clone(), n.digest.clone());
    let also = n.also.clone();
    let link = n
        .runbook
        .as_deref()
        .and_then(runbook_link)
        .map(str::to_string);
    // The handle blocks until the person acts or the notification closes.
    // One small thread per notification that offers actions; it ends when the notification
    // is acted on or closed.
    let spawned = std::thread::Builder::new()
        .name("lookout-notification".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            handle.wait_for_action(|picked| {
                // Replaced since: the newer showing's thread answers; this one only leaves.
                let latest = {
                    let Ok(mut all) = showings.lock() else {
                        return;
                    };
                    let latest = all.get(&id) == Some(&showing);
                    if latest {
                        all.remove(&id);
                    }
                    latest
                };
                if !latest {
                    return;
                }
                let action = match picked {
                    OPEN => Some(Action::Open),
                    // A link opens in the browser; a runbook of text is in the overview.
                    RUNBOOK => match &link {
                        Some(url) => {
                            open_with_system(std::ffi::OsStr::new(url), &[]);
                            None
                        }
                        None => Some(Action::Open),
                    },
                    ACKNOWLEDGE => Some(Action::Acknowledge),
                    SNOOZE => Some(Action::Snooze),
                    _ => None,
                };
                if let Some(action) = action {
                    let _ = tx.send(ActionEvent {
                        rule,
                        key,
                        digest,
                        action,
                        by: None,
                        also,
                    });
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot wait for the notification's actions: {e}");
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn wait_for_action(
    _handle: notify_rust::NotificationHandle,
    _tx: tokio::sync::mpsc::UnboundedSender<ActionEvent>,
    _n: &Notification,
    _showing: (Showings, u64),
) {
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_shows_literally() {
        assert_eq!(
            escape_markup("<img src=x onerror=alert(1)> & <b>hi</b>"),
            "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;hi&lt;/b&gt;"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_word() {
        let long = "word ".repeat(100);
        let t = truncate(&long, 50);
        assert!(t.chars().count() <= 50, "{t}");
        assert!(t.ends_with("word…"), "{t}");
        assert_eq!(truncate("short", 50), "short");
        let one = "x".repeat(80);
        assert_eq!(truncate(&one, 10).chars().count(), 10);
    }
}
