//! Sounds: which one a notification rings (per severity, or an escalation step's), and playing
//! it at a volume. By default the notification server plays it (the `sound-name` or
//! `sound-file` hint); at a volume below 100 % Lookout plays it itself with the system's
//! player (`paplay` or `pw-play` on Linux, `afplay` on macOS) and asks the server for silence.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use lookout_keeper::config::Sound;

use crate::Severity;

/// Whether to ring at all (`[notifications] sound`), the sound of each severity and the
/// volume (`[sounds]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sounds {
    pub on: bool,
    pub critical: Sound,
    pub warning: Sound,
    pub info: Sound,
    /// Percent.
    pub volume: u8,
}

impl Default for Sounds {
    fn default() -> Self {
        Sounds::from_config(true, &lookout_keeper::config::SoundsConfig::default())
    }
}

impl Sounds {
    /// The sounds a configuration names (`on`: its `[notifications] sound`) (checked when it was read; a name that no longer
    /// parses, a file deleted since, falls back to the default of its severity).
    pub fn from_config(on: bool, c: &lookout_keeper::config::SoundsConfig) -> Sounds {
        let d = |text: &str, default: &str| {
            Sound::parse(text).unwrap_or_else(|_| Sound::Named(default.to_string()))
        };
        Sounds {
            on,
            critical: d(&c.critical, "alarm-clock-elapsed"),
            warning: d(&c.warning, "dialog-warning"),
            info: d(&c.info, "message"),
            volume: c.volume.min(100),
        }
    }

    /// The sound of `severity`, or `chosen` (an escalation step's) when it names one.
    pub fn pick(&self, severity: Severity, chosen: Option<&str>) -> Sound {
        if let Some(s) = chosen.and_then(|c| Sound::parse(c).ok()) {
            return s;
        }
        match severity {
            Severity::Critical => self.critical.clone(),
            Severity::Warning => self.warning.clone(),
            Severity::Info => self.info.clone(),
        }
    }
}

/// The file of a sound of the freedesktop theme, looked up where the sound theme
/// specification says (`$XDG_DATA_HOME`, then `$XDG_DATA_DIRS`, `sounds/freedesktop/stereo/`).
pub fn theme_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    let dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    home.into_iter()
        .chain(dirs.split(':').map(PathBuf::from))
        .flat_map(|d| {
            ["oga", "ogg", "wav"]
                .map(|ext| d.join(format!("sounds/freedesktop/stereo/{name}.{ext}")))
        })
        .find(|p| p.is_file())
}

/// The command that plays `file` at `volume` percent, with the first player found on `PATH`.
pub fn player_command(file: &Path, volume: u8) -> Option<Command> {
    player_command_in(file, volume, &std::env::var_os("PATH")?)
}

/// [`player_command`], looking for players in `search` (a `PATH`-like list).
fn player_command_in(file: &Path, volume: u8, search: &std::ffi::OsStr) -> Option<Command> {
    let find = |program: &str| {
        std::env::split_paths(search)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    };
    let volume = volume.min(100) as u32;
    let mut cmd = if cfg!(target_os = "macos") {
        let mut c = Command::new(find("afplay")?);
        c.arg("-v").arg(format!("{:.2}", volume as f64 / 100.0));
        c
    } else if let Some(paplay) = find("paplay") {
        let mut c = Command::new(paplay);
        // PulseAudio's scale: 65536 is 100 %.
        c.arg(format!("--volume={}", 65536 * volume / 100));
        c
    } else {
        let mut c = Command::new(find("pw-play")?);
        c.arg(format!("--volume={:.2}", volume as f64 / 100.0));
        c
    };
    cmd.arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Some(cmd)
}

/// Play `sound` at `volume` percent, without waiting for it. An error says why it cannot
/// (no such theme sound, no player), so the caller can ask the notification server instead.
pub fn play(sound: &Sound, volume: u8) -> Result<(), String> {
    let file = match sound {
        Sound::File(p) => p.clone(),
        Sound::Named(n) => {
            theme_file(n).ok_or_else(|| format!("no sound `{n}` in the sound theme"))?
        }
    };
    let mut cmd = player_command(&file, volume)
        .ok_or("no sound player (paplay, pw-play or afplay) on PATH")?;
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the sound player: {e}"))?;
    // Reaped on a thread of its own, so no player is left a zombie.
    let _ = std::thread::Builder::new()
        .name("lookout-sound".into())
        .spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_severity_rings_its_sound_unless_a_step_names_another() {
        let s = Sounds::default();
        assert_eq!(
            s.pick(Severity::Critical, None),
            Sound::Named("alarm-clock-elapsed".into())
        );
        assert_eq!(
            s.pick(Severity::Warning, Some("bell")),
            Sound::Named("bell".into())
        );
        assert_eq!(
            s.pick(Severity::Info, Some("not a sound")),
            Sound::Named("message".into()),
            "a step's sound that does not parse falls back"
        );
    }

    #[test]
    fn the_player_gets_the_volume_in_its_own_scale() {
        let dir = std::env::temp_dir().join(format!("lookout-players-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let paplay = dir.join("paplay");
        std::fs::write(&paplay, "").unwrap();
        let cmd = player_command_in(Path::new("/s/a.oga"), 50, dir.as_os_str()).expect("paplay");
        if !cfg!(target_os = "macos") {
            assert_eq!(cmd.get_program(), paplay.as_os_str());
            let args: Vec<_> = cmd.get_args().collect();
            assert_eq!(args, ["--volume=32768", "/s/a.oga"]);
        }
    }
}
