//! The overview's two sizes: compact (the default: a small window near the tray with what needs
//! a person now) and full (everything). The choice and the size of each are remembered in
//! `window.json` beside the state file, written privately and atomically.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which overview a person chose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OverviewSize {
    /// About 420×640 near the tray: the connection, firing alerts with their buttons, the
    /// services that are hot, urgent chat.
    #[default]
    Compact,
    /// Everything: services with trends, agents, rules, history.
    Full,
}

/// What is remembered of the overview window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    #[serde(default)]
    pub overview: OverviewSize,
    /// Logical pixels (width, height) of each size, as the person left them.
    #[serde(default = "compact_default")]
    pub compact: (f64, f64),
    #[serde(default = "full_default")]
    pub full: (f64, f64),
}

fn compact_default() -> (f64, f64) {
    (420.0, 640.0)
}

fn full_default() -> (f64, f64) {
    (1180.0, 760.0)
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            overview: OverviewSize::Compact,
            compact: compact_default(),
            full: full_default(),
        }
    }
}

/// The smallest and largest size remembered (a file someone edited cannot make the window
/// vanish or swallow the screen).
const MIN: (f64, f64) = (320.0, 240.0);
const MAX: (f64, f64) = (7680.0, 4320.0);

impl Layout {
    /// The size of the chosen overview.
    pub fn size(&self) -> (f64, f64) {
        match self.overview {
            OverviewSize::Compact => self.compact,
            OverviewSize::Full => self.full,
        }
    }

    /// The window of the chosen overview was resized to `size` (logical pixels).
    pub fn resized(&mut self, size: (f64, f64)) {
        let size = clamp(size);
        match self.overview {
            OverviewSize::Compact => self.compact = size,
            OverviewSize::Full => self.full = size,
        }
    }

    fn sane(mut self) -> Layout {
        self.compact = clamp(self.compact);
        self.full = clamp(self.full);
        self
    }
}

fn clamp((w, h): (f64, f64)) -> (f64, f64) {
    let ok = |v: f64, lo: f64, hi: f64| if v.is_finite() { v.clamp(lo, hi) } else { lo };
    (ok(w, MIN.0, MAX.0), ok(h, MIN.1, MAX.1))
}

/// `window.json` beside the state file.
pub fn path() -> Option<PathBuf> {
    lookout_alerting::store::Store::default_path().map(|p| p.with_file_name("window.json"))
}

/// What was remembered; the defaults when there is nothing (or nothing readable).
pub fn load() -> Layout {
    path()
        .and_then(|p| lookout_keeper::files::read_text(&p, 64 * 1024).ok())
        .and_then(|t| serde_json::from_str::<Layout>(&t).ok())
        .map(Layout::sane)
        .unwrap_or_default()
}

/// Remember `layout`.
pub fn save(layout: &Layout) {
    let Some(p) = path() else {
        return;
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = p.parent() {
            lookout_keeper::files::create_private_dir(dir)?;
        }
        let text = serde_json::to_vec_pretty(layout).map_err(std::io::Error::other)?;
        lookout_keeper::files::write_private_atomic(&p, &text)
    };
    if let Err(e) = write() {
        tracing::warn!("cannot save {}: {e}", p.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_size_is_remembered_for_its_choice_and_a_wild_one_is_held_in_bounds() {
        let mut l = Layout::default();
        assert_eq!(
            (l.overview, l.size()),
            (OverviewSize::Compact, (420.0, 640.0))
        );
        l.resized((500.0, 700.0));
        l.overview = OverviewSize::Full;
        assert_eq!(l.size(), (1180.0, 760.0));
        l.resized((1e9, f64::NAN));
        assert_eq!(l.size(), (7680.0, 240.0));
        let back: Layout = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back.compact, (500.0, 700.0));
        let old: Layout = serde_json::from_str("{}").unwrap();
        assert_eq!(old, Layout::default());
    }
}
