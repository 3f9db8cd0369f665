//! What Lookout remembers across restarts: silences and acknowledgements, event-mode memory
//! (chat messages already notified) and recent history. One JSON file in the OS data
//! directory, written atomically (temporary file, fsync, rename). A damaged file is moved
//! aside with a warning and Lookout starts clean: it never refuses to start over it.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::Silences;

/// How many history entries are kept.
pub const HISTORY_LIMIT: usize = 500;

/// One thing that happened, for the overview's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub rule: String,
    pub key: String,
    /// `firing`, `resolved`, `acknowledged`, `snoozed`, …
    pub what: String,
    pub title: String,
    /// The alert's labels (in team mode, its `team` decides who sees the entry).
    #[serde(default, skip_serializing_if = "crate::Labels::is_empty")]
    pub labels: crate::Labels,
}

/// The remembered state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub silences: Silences,
    /// Event-mode keys already notified: (rule, key, last reported).
    #[serde(default)]
    pub seen_events: Vec<(String, String, i64)>,
    #[serde(default)]
    pub history: VecDeque<HistoryEntry>,
    /// The alerts pending or firing when this was saved, so a restart soon after (or a hub
    /// that takes over) carries on with them instead of telling them again.
    #[serde(default)]
    pub active: Vec<SavedAlert>,
    /// When this was saved (Unix seconds).
    #[serde(default)]
    pub saved_at: i64,
    /// How many escalation steps each firing critical alert has climbed: (rule, key, steps),
    /// so a restart neither starts its ladder again nor skips a step.
    #[serde(default)]
    pub escalated: Vec<(String, String, usize)>,
}

/// An alert as saved: the alert and when it was last told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAlert {
    #[serde(flatten)]
    pub alert: crate::lifecycle::Alert,
    #[serde(default)]
    pub last_notified: Option<i64>,
}

impl State {
    /// The latest `n` history entries, newest first.
    pub fn recent(&self, n: usize) -> Vec<HistoryEntry> {
        self.history.iter().rev().take(n).cloned().collect()
    }

    pub fn record(&mut self, entry: HistoryEntry) {
        self.history.push_back(entry);
        while self.history.len() > HISTORY_LIMIT {
            self.history.pop_front();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(flatten)]
    state: State,
}

/// The state file.
pub struct Store {
    path: PathBuf,
    pub state: State,
    /// Also given every saved state (a hub keeps it in JetStream).
    mirror: Option<Mirror>,
}

/// Where a copy of every saved state goes.
pub type Mirror = Box<dyn Fn(&[u8]) + Send>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("state", &self.state)
            .field("mirror", &self.mirror.is_some())
            .finish()
    }
}

impl Store {
    /// `<OS data dir>/lookout/state.json`.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "lookout").map(|d| d.data_dir().join("state.json"))
    }

    /// Open the store at `path`. A missing file is a fresh start; a damaged one is moved to
    /// `<name>.damaged-<unix time>` and the warning says where.
    pub fn open(path: &Path) -> (Store, Option<String>) {
        let fresh = |warning| {
            (
                Store {
                    path: path.to_path_buf(),
                    state: State::default(),
                    mirror: None,
                },
                warning,
            )
        };
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fresh(None),
            Err(e) => {
                return fresh(Some(format!(
                    "{}: cannot read ({e}); starting with no silences or history",
                    path.display()
                )));
            }
        };
        match serde_json::from_slice::<File>(&text) {
            Ok(f) if f.version == 1 => (
                Store {
                    path: path.to_path_buf(),
                    state: f.state,
                    mirror: None,
                },
                None,
            ),
            Ok(f) => fresh(Some(set_aside(
                path,
                &format!("written by a newer Lookout (version {})", f.version),
            ))),
            Err(e) => fresh(Some(set_aside(path, &format!("damaged ({e})")))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start from `text` (a saved state, as [`Store::save`] writes it and the mirror gets it)
    /// instead of the file; kept at `path` from now on. Text that does not read is a fresh
    /// start, with a warning.
    pub fn from_saved(path: &Path, text: &[u8]) -> (Store, Option<String>) {
        let (state, warning) = match serde_json::from_slice::<File>(text) {
            Ok(f) if f.version == 1 => (f.state, None),
            Ok(f) => (
                State::default(),
                Some(format!(
                    "the saved state was written by a newer Lookout (version {}); starting clean",
                    f.version
                )),
            ),
            Err(e) => (
                State::default(),
                Some(format!("the saved state is damaged ({e}); starting clean")),
            ),
        };
        (
            Store {
                path: path.to_path_buf(),
                state,
                mirror: None,
            },
            warning,
        )
    }

    /// Give every saved state to `mirror` too.
    pub fn set_mirror(&mut self, mirror: Mirror) {
        self.mirror = Some(mirror);
    }

    /// Write the state: to a fresh temporary file beside it (private to the user), flushed to
    /// disk, then renamed over the old one, so a crash at any point leaves either the old file
    /// or the new one (see [`lookout_keeper::files::write_private_atomic`]).
    pub fn save(&self) -> std::io::Result<()> {
        let body = serde_json::to_vec_pretty(&File {
            version: 1,
            state: self.state.clone(),
        })
        .map_err(std::io::Error::other)?;
        lookout_keeper::files::write_private_atomic(&self.path, &body)?;
        if let Some(mirror) = &self.mirror {
            mirror(&body);
        }
        Ok(())
    }
}

fn set_aside(path: &Path, why: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state.json".into());
    let aside = path.with_file_name(format!("{name}.damaged-{now}"));
    match std::fs::rename(path, &aside) {
        Ok(()) => format!(
            "{}: {why}; moved to {} and starting with no silences or history",
            path.display(),
            aside.display()
        ),
        Err(e) => format!(
            "{}: {why}; could not move it aside ({e}); starting with no silences or history",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lookout-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn state_survives_a_restart() {
        let path = dir("roundtrip").join("state.json");
        let (mut s, w) = Store::open(&path);
        assert!(w.is_none());
        s.state
            .silences
            .acknowledged
            .insert(("r".into(), "k".into()));
        s.state
            .silences
            .snoozed
            .insert(("r".into(), "j".into()), 1000);
        s.state.silences.paused_until = Some(i64::MAX);
        s.state
            .seen_events
            .push(("chat".into(), "chat:7".into(), 50));
        for i in 0..HISTORY_LIMIT + 10 {
            s.state.record(HistoryEntry {
                at: i as i64,
                rule: "r".into(),
                key: "k".into(),
                what: "firing".into(),
                title: "t".into(),
                labels: Default::default(),
            });
        }
        s.save().unwrap();
        let (back, w) = Store::open(&path);
        assert!(w.is_none());
        assert_eq!(back.state, s.state);
        assert_eq!(back.state.history.len(), HISTORY_LIMIT);
        assert_eq!(back.state.history[0].at, 10, "the oldest went first");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_the_start_is_clean() {
        let d = dir("damaged");
        let path = d.join("state.json");
        std::fs::write(&path, b"{\"version\":1,\"silences\":{\"paused_until\":").unwrap();
        let (s, w) = Store::open(&path);
        let w = w.expect("a warning");
        assert!(w.contains("damaged") && w.contains("moved to"), "{w}");
        assert_eq!(s.state, State::default());
        assert!(!path.exists());
        let aside: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
            .collect();
        assert_eq!(
            aside.len(),
            1,
            "the damaged file is kept for a person to look at"
        );
        // And the store works from there.
        s.save().unwrap();
        assert!(Store::open(&path).1.is_none());
    }
}
