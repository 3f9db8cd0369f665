//! The configuration file: TOML, at the OS config dir or a path given on the command line.
//!
//! ```toml
//! [server]
//! url = "https://example.brightpattern.com"
//! tenant = "example.brightpattern.com"   # defaults to the URL's host
//! username = "supervisor"
//! auth = "oauth"                          # or "password" (legacy login, retired in 5.36)
//! poll_interval_secs = 2                  # at least 1
//!
//! [availability]
//! services = ["Sales", "Support"]
//! interval_secs = 10                     # how often to check them
//! ```
//!
//! Secrets never live here: see `lookout_pipeline::secrets`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use lookout_statsapi::{StatKey, parse_server_url};

pub use crate::snapshot::PercentScale;

/// How to log in to the tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// OAuth client credentials with the user's API secret (BPCC 5.x and later).
    #[default]
    OAuth,
    /// The legacy password login with a session cookie (retired in BPCC 5.36).
    Password,
}

impl AuthMode {
    /// The environment variable that may hold this mode's secret.
    pub fn secret_env(self) -> &'static str {
        match self {
            AuthMode::OAuth => "LOOKOUT_CLIENT_SECRET",
            AuthMode::Password => "LOOKOUT_PASSWORD",
        }
    }

    /// What the secret is called, for messages.
    pub fn secret_name(self) -> &'static str {
        match self {
            AuthMode::OAuth => "API secret",
            AuthMode::Password => "password",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub username: String,
    #[serde(default)]
    pub auth: AuthMode,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// How columns spell their statistic key; the client falls back to the other spelling
    /// once if the server rejects this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_key: Option<StatKey>,
    /// The largest answer read from the tenant, in MiB (1–256). A data answer with 5,000
    /// agents and every statistic the shipped rules use is about 1 MB.
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
    /// How the tenant writes percentages: `auto` (decided per statistic from what it sends),
    /// `fraction` (0–1) or `percent` (0–100). Rules and the overview always see 0–100.
    #[serde(default)]
    pub percent_scale: PercentScale,
}

fn default_poll() -> u64 {
    2
}

fn default_max_response_mb() -> u64 {
    8
}

impl ServerConfig {
    /// A server section with the defaults for everything but the address and the user.
    pub fn new(url: impl Into<String>, username: impl Into<String>, auth: AuthMode) -> Self {
        ServerConfig {
            url: url.into(),
            tenant: None,
            username: username.into(),
            auth,
            poll_interval_secs: default_poll(),
            stat_key: None,
            max_response_mb: default_max_response_mb(),
            percent_scale: PercentScale::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Service names to check with `check_available_agents`.
    #[serde(default)]
    pub services: Vec<String>,
    /// Seconds between availability checks (at least 1).
    #[serde(default = "default_availability_interval")]
    pub interval_secs: u64,
}

fn default_availability_interval() -> u64 {
    10
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        AvailabilityConfig {
            services: Vec::new(),
            interval_secs: default_availability_interval(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub availability: AvailabilityConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// Team mode: the broker a `lookout hub` publishes on.
    #[serde(default, skip_serializing_if = "HubConfig::is_unset")]
    pub hub: HubConfig,
    /// Named schedules (`[schedules.business]`): when a rule is active, when telling is muted.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub schedules: std::collections::BTreeMap<String, crate::schedule::ScheduleConfig>,
    /// `[[escalation]]`: what happens to a critical alert nobody acknowledges, step by step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation: Vec<EscalationStep>,
    /// `[sounds]`: the sound of each severity, its volume, and ringing until acknowledged.
    #[serde(default, skip_serializing_if = "SoundsConfig::is_default")]
    pub sounds: SoundsConfig,
}

/// One step of the escalation ladder: `after_secs` after a critical alert started firing, if
/// nobody acknowledged, snoozed or paused it, it is told again, as this step says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Seconds since the alert started firing.
    pub after_secs: u64,
    /// This step's sound (a freedesktop sound name or a file), instead of the severity's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// The notification stays on screen until someone acts on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub persistent: bool,
    /// The overview window comes to the front (the desktop app).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raise: bool,
}

/// `[sounds]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoundsConfig {
    #[serde(default = "default_critical_sound")]
    pub critical: String,
    #[serde(default = "default_warning_sound")]
    pub warning: String,
    #[serde(default = "default_info_sound")]
    pub info: String,
    /// Percent. Below 100, Lookout plays the sound itself at this volume (where it finds a
    /// player) instead of asking the notification server.
    #[serde(default = "default_volume")]
    pub volume: u8,
    /// A critical alert rings again every `repeat_secs` until someone acknowledges, snoozes
    /// or pauses it (or it resolves).
    #[serde(default)]
    pub repeat_until_acknowledged: bool,
    #[serde(default = "default_repeat_sound_secs")]
    pub repeat_secs: u64,
}

fn default_critical_sound() -> String {
    "alarm-clock-elapsed".into()
}
fn default_warning_sound() -> String {
    "dialog-warning".into()
}
fn default_info_sound() -> String {
    "message".into()
}
fn default_volume() -> u8 {
    100
}
fn default_repeat_sound_secs() -> u64 {
    30
}

impl Default for SoundsConfig {
    fn default() -> Self {
        SoundsConfig {
            critical: default_critical_sound(),
            warning: default_warning_sound(),
            info: default_info_sound(),
            volume: default_volume(),
            repeat_until_acknowledged: false,
            repeat_secs: default_repeat_sound_secs(),
        }
    }
}

impl SoundsConfig {
    pub fn is_default(&self) -> bool {
        self == &SoundsConfig::default()
    }
}

/// A sound as the config names it: a sound of the freedesktop sound theme, or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sound {
    /// `alarm-clock-elapsed`, `dialog-warning`, … (letters, digits, `-`, `_`, `.`).
    Named(String),
    File(PathBuf),
}

impl Sound {
    /// Read a sound from the config: a path (it has a `/` or `\\`, or a sound file's
    /// extension) must be a file that exists; anything else is a theme name.
    pub fn parse(text: &str) -> Result<Sound, String> {
        let t = text.trim();
        let looks_like_file = t.contains('/')
            || t.contains('\\')
            || [".oga", ".ogg", ".wav", ".mp3", ".flac", ".aiff"]
                .iter()
                .any(|e| t.to_ascii_lowercase().ends_with(e));
        if looks_like_file {
            let path = PathBuf::from(t);
            return match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(Sound::File(path)),
                Ok(_) => Err(format!("`{t}` is not a file")),
                Err(_) => Err(format!(
                    "`{t}` does not exist; give a sound file that exists, or a sound name of the freedesktop theme like \"alarm-clock-elapsed\""
                )),
            };
        }
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "`{t}` is neither a sound name like \"alarm-clock-elapsed\" nor a path to a sound file"
            ));
        }
        Ok(Sound::Named(t.to_string()))
    }
}

/// `[hub]`: where a hub publishes (team mode, docs/team.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The broker: `nats://host:port` (or `tls://host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<String>,
    /// The hub's user at the broker; its password comes from `LOOKOUT_NATS_PASSWORD` or the
    /// keychain, never from this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl HubConfig {
    pub fn is_unset(&self) -> bool {
        self == &HubConfig::default()
    }
}

/// Which resolutions are notified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ResolvedNotices {
    /// As each rule says (`notify_resolved`; critical rules by default).
    #[default]
    Rule,
    All,
    None,
}

/// How notifications are given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Ask the notification server to play a sound.
    #[serde(default = "yes")]
    pub sound: bool,
    /// Which resolutions to notify: `rule`, `all` or `none`.
    #[serde(default)]
    pub resolved: ResolvedNotices,
    /// `HH:MM-HH:MM` in local time: only critical alerts are notified then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<String>,
    /// Alerts that carry these labels with the same values and start within `group_wait_secs`
    /// of each other are told as one notification, updated in place as others join.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long the first alert of a new group waits for others (0: no grouping).
    #[serde(default = "default_group_wait")]
    pub group_wait_secs: u64,
    /// Schedules (names in `[schedules]`) during which alerts are shown but not told.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute: Vec<String>,
    /// Mute critical alerts too (by default they are told whatever the schedule).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mute_criticals: bool,
}

fn yes() -> bool {
    true
}

fn default_group_by() -> Vec<String> {
    vec!["service".into()]
}

fn default_group_wait() -> u64 {
    5
}

/// The longest `group_wait_secs`: a wait longer than this is a delay, not a grouping.
pub const MAX_GROUP_WAIT_SECS: u64 = 120;

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            sound: true,
            resolved: ResolvedNotices::Rule,
            quiet_hours: None,
            group_by: default_group_by(),
            group_wait_secs: default_group_wait(),
            mute: Vec::new(),
            mute_criticals: false,
        }
    }
}

/// Parse `HH:MM-HH:MM` into minutes of the day (start, end); the span may cross midnight.
pub fn parse_quiet_hours(text: &str) -> Result<(u16, u16), String> {
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a span like 22:00-07:00"))?;
    match (minutes(a), minutes(b)) {
        (Some(a), Some(b)) if a != b => Ok((a, b)),
        (Some(_), Some(_)) => Err(format!("`{text}` starts and ends at the same time")),
        _ => Err(format!("`{text}` is not a span like 22:00-07:00")),
    }
}

/// Where the rules live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// The rules folder (default: `rules` beside the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
}

/// How alerts turn into notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Seconds without fresh data before the "no data" alert fires.
    #[serde(default = "default_no_data")]
    pub no_data_secs: u64,
    /// Seconds after data comes back during which alerts neither fire nor resolve (grids may
    /// be half loaded).
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
    /// At most this many notifications a minute; past it, one summary notice.
    #[serde(default = "default_per_minute")]
    pub max_per_minute: usize,
}

fn default_no_data() -> u64 {
    60
}

fn default_grace() -> u64 {
    10
}

fn default_per_minute() -> usize {
    20
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            no_data_secs: default_no_data(),
            grace_secs: default_grace(),
            max_per_minute: default_per_minute(),
        }
    }
}

/// A setting that validation speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    ServerUrl,
    ServerUsername,
    ServerPollInterval,
    ServerMaxResponse,
    ServerTenant,
    AvailabilityInterval,
    AvailabilityServices,
    AlertsNoData,
    AlertsMaxPerMinute,
    NotificationsQuietHours,
    NotificationsGroupBy,
    NotificationsGroupWait,
    NotificationsMute,
    Escalation,
    Sounds,
    HubNats,
}

impl Setting {
    /// Where it is in the file: `[server] url`.
    pub fn path(self) -> &'static str {
        match self {
            Setting::ServerUrl => "[server] url",
            Setting::ServerUsername => "[server] username",
            Setting::ServerPollInterval => "[server] poll_interval_secs",
            Setting::ServerMaxResponse => "[server] max_response_mb",
            Setting::ServerTenant => "[server] tenant",
            Setting::AvailabilityInterval => "[availability] interval_secs",
            Setting::AvailabilityServices => "[availability] services",
            Setting::AlertsNoData => "[alerts] no_data_secs",
            Setting::AlertsMaxPerMinute => "[alerts] max_per_minute",
            Setting::NotificationsQuietHours => "[notifications] quiet_hours",
            Setting::NotificationsGroupBy => "[notifications] group_by",
            Setting::NotificationsGroupWait => "[notifications] group_wait_secs",
            Setting::NotificationsMute => "[notifications] mute",
            Setting::Escalation => "[[escalation]]",
            Setting::Sounds => "[sounds]",
            Setting::HubNats => "[hub] nats",
        }
    }
}

/// Why a configuration's text is not a configuration: the setting at fault when there is
/// one, and what is wrong with it (never a quote of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub setting: Option<Setting>,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.setting {
            Some(s) => write!(f, "{}: {}", s.path(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A configuration that cannot be used: which file, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration file at {path}; create one (see docs/config.md) or pass --config FILE"
    )]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: crate::files::ReadError,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "cannot tell where the configuration lives on this system (no home directory); pass --config FILE"
    )]
    NoConfigDir,
}

/// Words that make a key look like it holds a secret. Such keys are refused at any level, so
/// a secret never sits in the file.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "privatekey",
];

/// True for a key that holds, or may be a misspelling of a key that holds, a secret:
/// `password`, `client_secret`, `api_token`, `passwd`, `pasword`, `secrte`.
pub fn secret_like(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if SECRET_WORDS.iter().any(|w| k.contains(w)) {
        return true;
    }
    // Misspellings: a word of the key (split at `_`, `-`, `.`) close to a secret word.
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_ascii_lowercase)
        .filter(|w| w.len() >= 5)
        .any(|w| {
            ["password", "secret", "token", "credential"]
                .iter()
                .any(|s| crate::suggest::edit_distance(&w, s) <= if s.len() > 6 { 2 } else { 1 })
        })
}

const SECRET_ADVICE: &str = "secrets do not belong in the configuration file; remove it and store the secret in the OS keychain, or set LOOKOUT_PASSWORD / LOOKOUT_CLIENT_SECRET in the environment";

/// Look at the file as lines before parsing it, so a secret is refused even where the file is
/// not valid TOML (`password = hunter2`, unquoted), at any depth (`[server.login]`, dotted
/// keys, inline tables): `line N: key: …`.
fn secret_lines(text: &str) -> Result<(), String> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let keys: Vec<&str> = if let Some(header) = line.strip_prefix('[') {
            // A table's name: `[server.login]`, `[[extra]]`.
            header.split(']').next().into_iter().collect()
        } else if let Some((key, _)) = line.split_once('=') {
            // Inline tables: `login = { passwd = "…" }` has keys after the first `=` too.
            std::iter::once(key)
                .chain(
                    line.split(['{', ','])
                        .skip(1)
                        .filter_map(|part| part.split_once('=').map(|(k, _)| k)),
                )
                .collect()
        } else {
            continue;
        };
        for key in keys {
            for part in key.split('.') {
                let name = part.trim().trim_matches(['"', '\'', '[']);
                if !name.is_empty() && secret_like(name) {
                    return Err(format!(
                        "line {}: `{}`: {SECRET_ADVICE}",
                        i + 1,
                        printable_key(name)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A key as it may be shown: at most 40 plain characters.
fn printable_key(key: &str) -> String {
    lookout_statsapi::printable(key, 40)
}

/// A TOML error as "line L, column C: what is wrong", without the quoted source line that
/// toml's own message carries (it could hold a secret).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {col}: {message}")
        }
        None => message,
    }
}

impl Config {
    /// The default location: `<OS config dir>/lookout/config.toml`.
    pub fn default_path() -> Result<PathBuf, ConfigError> {
        directories::ProjectDirs::from("", "", "lookout")
            .map(|d| d.config_dir().join("config.toml"))
            .ok_or(ConfigError::NoConfigDir)
    }

    /// Load from `path`, or from the default location when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => Config::default_path()?,
        };
        let text = match crate::files::read_text(&path, crate::files::MAX_TEXT_FILE) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Err(ConfigError::Missing { path }),
            Err(e) => return Err(ConfigError::Read { path, source: e }),
        };
        Config::parse(&text).map_err(|message| ConfigError::Invalid { path, message })
    }

    /// Parse and validate TOML text.
    ///
    /// Errors say where (line and column, or `[section] key`) and what to do, and never quote
    /// the file: a secret typed into it must not reach a message. Keys that look like they
    /// hold a secret are refused at any depth, misspelled ones too.
    pub fn parse(text: &str) -> Result<Config, String> {
        Config::check(text).map_err(|e| e.to_string())
    }

    /// [`Config::parse`], saying which setting is wrong when validation finds it (a form can
    /// mark the field).
    pub fn check(text: &str) -> Result<Config, Invalid> {
        let unplaced = |message| Invalid {
            setting: None,
            message,
        };
        secret_lines(text).map_err(unplaced)?;
        let config: Config = toml::from_str(text).map_err(|e| unplaced(toml_error(text, &e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), Invalid> {
        use Setting::*;
        let bad = |setting, message: String| {
            Err(Invalid {
                setting: Some(setting),
                message,
            })
        };
        let s = &self.server;
        if let Err(e) = parse_server_url(&s.url) {
            return bad(ServerUrl, e.to_string());
        }
        if s.username.trim().is_empty() {
            return bad(ServerUsername, "must not be empty".into());
        }
        if s.poll_interval_secs < 1 {
            return bad(
                ServerPollInterval,
                format!(
                    "{} is too short; the minimum is 1 second",
                    s.poll_interval_secs
                ),
            );
        }
        if s.poll_interval_secs > 3600 {
            return bad(
                ServerPollInterval,
                format!(
                    "{} is more than an hour; real-time alerts need a poll every few seconds",
                    s.poll_interval_secs
                ),
            );
        }
        if !(1..=256).contains(&s.max_response_mb) {
            return bad(
                ServerMaxResponse,
                format!("{} is out of range; use 1 to 256 (MiB)", s.max_response_mb),
            );
        }
        if let Some(t) = &s.tenant
            && t.trim().is_empty()
        {
            return bad(
                ServerTenant,
                "must not be empty (or leave it out to use the URL's host)".into(),
            );
        }
        if let Some(url) = &self.hub.nats {
            let problem = match check_nats_url(url) {
                Ok(NatsUrl { scheme: None }) | Err(NatsUrlProblem::NotNats) => {
                    "is not a NATS address: write nats://HOST:PORT (or tls://HOST:PORT)"
                }
                Err(NatsUrlProblem::HoldsCredentials) => {
                    "holds a user or password: give the user as [hub] user and the password in LOOKOUT_NATS_PASSWORD or the keychain"
                }
                Err(NatsUrlProblem::NoHost) => "names no host",
                Ok(_) => "",
            };
            if !problem.is_empty() {
                return bad(HubNats, problem.into());
            }
        }
        let every = self.availability.interval_secs;
        if !(1..=3600).contains(&every) {
            return bad(
                AvailabilityInterval,
                format!("{every} is out of range; use 1 to 3600 seconds"),
            );
        }
        if self.alerts.no_data_secs < 5 {
            return bad(
                AlertsNoData,
                format!(
                    "{} is too short; use at least 5 seconds",
                    self.alerts.no_data_secs
                ),
            );
        }
        if let Some(q) = &self.notifications.quiet_hours
            && let Err(e) = parse_quiet_hours(q)
        {
            return bad(NotificationsQuietHours, e);
        }
        if self.notifications.group_wait_secs > MAX_GROUP_WAIT_SECS {
            return bad(
                NotificationsGroupWait,
                format!(
                    "{} is too long; use 0 (no grouping) to {MAX_GROUP_WAIT_SECS} seconds",
                    self.notifications.group_wait_secs
                ),
            );
        }
        if let Some(bad_label) = self
            .notifications
            .group_by
            .iter()
            .find(|l| l.trim().is_empty() || l.chars().any(char::is_whitespace))
        {
            return bad(
                NotificationsGroupBy,
                format!(
                    "`{bad_label}` is not a label name; use names rules give labels, like [\"service\"] (or [] for no grouping)"
                ),
            );
        }
        for (name, schedule) in &self.schedules {
            if name.trim().is_empty() || name.chars().any(|c| c.is_whitespace() || c == '.') {
                return Err(Invalid {
                    setting: None,
                    message: format!(
                        "[schedules.{name}]: a schedule's name is one word, like [schedules.business]"
                    ),
                });
            }
            if let Err(e) = crate::schedule::Schedule::parse(name, schedule) {
                return Err(Invalid {
                    setting: None,
                    message: format!("[schedules.{name}] {}: {}", e.key, e.message),
                });
            }
        }
        for name in &self.notifications.mute {
            if !self.schedules.contains_key(name) {
                let hint = crate::suggest::closest(name, self.schedules.keys().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                return bad(
                    NotificationsMute,
                    format!(
                        "`{name}` is no schedule; {hint}name one of [schedules] ({}), or add [schedules.{name}]",
                        self.schedules
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        let mut before = 0;
        for (i, step) in self.escalation.iter().enumerate() {
            if step.after_secs <= before {
                return bad(
                    Escalation,
                    format!(
                        "step {}: after_secs = {} must be later than the step before it ({before} s); list the steps in order, each after_secs larger",
                        i + 1,
                        step.after_secs
                    ),
                );
            }
            before = step.after_secs;
            if let Some(sound) = &step.sound
                && let Err(e) = Sound::parse(sound)
            {
                return bad(Escalation, format!("step {}: sound: {e}", i + 1));
            }
        }
        let sounds = &self.sounds;
        for (key, sound) in [
            ("critical", &sounds.critical),
            ("warning", &sounds.warning),
            ("info", &sounds.info),
        ] {
            if let Err(e) = Sound::parse(sound) {
                return bad(Sounds, format!("{key}: {e}"));
            }
        }
        if sounds.volume > 100 {
            return bad(
                Sounds,
                format!(
                    "volume: {} is over 100; use 0 to 100 (percent)",
                    sounds.volume
                ),
            );
        }
        if !(5..=3600).contains(&sounds.repeat_secs) {
            return bad(
                Sounds,
                format!(
                    "repeat_secs: {} is out of range; use 5 to 3600 seconds",
                    sounds.repeat_secs
                ),
            );
        }
        if self.alerts.max_per_minute == 0 {
            return bad(AlertsMaxPerMinute, "must be at least 1".into());
        }
        if self
            .availability
            .services
            .iter()
            .any(|n| n.trim().is_empty())
        {
            return bad(AvailabilityServices, "a service name is empty".into());
        }
        Ok(())
    }

    /// The tenant host: `tenant` if set, else the URL's host.
    pub fn tenant(&self) -> String {
        if let Some(t) = &self.server.tenant {
            return t.clone();
        }
        parse_server_url(&self.server.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The rules folder: `[rules] dir` (relative to the config file's folder), or `rules`
    /// beside the config file.
    pub fn rules_dir(&self, config_path: &Path) -> PathBuf {
        let base = config_path.parent().unwrap_or(Path::new("."));
        match &self.rules.dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => base.join(d),
            None => base.join("rules"),
        }
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// A broker's address as read: `nats://` or `tls://` (or none: a bare `HOST:PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatsUrl {
    pub scheme: Option<&'static str>,
}

/// What is wrong with a broker's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsUrlProblem {
    /// Another scheme (`http://…`).
    NotNats,
    /// A `user:password@` in it: a password on a command line or in a file is seen by others.
    HoldsCredentials,
    NoHost,
}

/// Read a broker's address (team mode): the one check of `[hub] nats`, `desk.toml` and
/// `--hub`/`--nats`; each says what is wrong in its own words.
pub fn check_nats_url(url: &str) -> Result<NatsUrl, NatsUrlProblem> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("nats", rest)) => (Some("nats"), rest),
        Some(("tls", rest)) => (Some("tls"), rest),
        Some(_) => return Err(NatsUrlProblem::NotNats),
        None => (None, url),
    };
    if rest.contains('@') {
        return Err(NatsUrlProblem::HoldsCredentials);
    }
    if rest.is_empty() {
        return Err(NatsUrlProblem::NoHost);
    }
    Ok(NatsUrl { scheme })
}

/// `desk.toml`, beside `config.toml`: read a team hub instead of Bright Pattern (team mode,
/// docs/team.md). Switched off, it is kept, so switching back loses nothing; `config.toml` is
/// left as it is either way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskConfig {
    /// Read the hub (true) or the tenant of `config.toml` (false).
    #[serde(default)]
    pub enabled: bool,
    /// The hub's broker: `nats://HOST:PORT` or `tls://HOST:PORT`.
    pub hub: String,
    /// This supervisor's user at the broker; the password is in the keychain or
    /// `LOOKOUT_NATS_PASSWORD`, never here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The tenant to follow when the hub watches several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Read only these teams (empty: every team the broker allows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// Read the tenant of `config.toml` as well: two sources in one tray.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_tenant: bool,
}

impl DeskConfig {
    /// `desk.toml` beside `config`.
    pub fn path_beside(config: &Path) -> PathBuf {
        config.with_file_name("desk.toml")
    }

    /// The desk file at `path`: `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<DeskConfig>, ConfigError> {
        let text = match crate::files::read_text(path, crate::files::MAX_TEXT_FILE) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        };
        DeskConfig::parse(&text)
            .map(Some)
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })
    }

    /// Parse and check: the address is a broker's, with no user or password in it; like the
    /// config file, no key may look like a secret, and errors never quote the file.
    pub fn parse(text: &str) -> Result<DeskConfig, String> {
        secret_lines(text)?;
        let d: DeskConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        d.check()?;
        Ok(d)
    }

    /// The checks of [`DeskConfig::parse`].
    pub fn check(&self) -> Result<(), String> {
        match check_nats_url(&self.hub) {
            Ok(NatsUrl { scheme: None }) | Err(NatsUrlProblem::NotNats) => Err(
                "hub: not a NATS address; write nats://HOST:PORT (or tls://HOST:PORT)".into(),
            ),
            Err(NatsUrlProblem::HoldsCredentials) => Err("hub: holds a user or password; give the user as `user` and keep the password in the keychain".into()),
            Err(NatsUrlProblem::NoHost) => Err("hub: names no host".into()),
            Ok(_) if self.user.as_deref().is_some_and(|u| u.trim().is_empty()) => {
                Err("user: must not be empty (or leave it out for a broker without users)".into())
            }
            Ok(_) => Ok(()),
        }
    }

    pub fn to_toml(&self) -> String {
        format!(
            "# Read a team hub instead of Bright Pattern (docs/team.md).\n{}",
            toml::to_string_pretty(self).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
url = "https://example.brightpattern.com"
username = "supervisor"
auth = "password"

[availability]
services = ["Sales"]
"#;

    #[test]
    fn a_good_file_with_defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.server.poll_interval_secs, 2);
        assert_eq!(c.server.auth, AuthMode::Password);
        assert_eq!(c.tenant(), "example.brightpattern.com");
        assert_eq!(c.availability.services, vec!["Sales"]);
        assert_eq!(c.availability.interval_secs, 10);
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn bad_files_say_what_and_where() {
        let cases = [
            (GOOD.replace("https://", "http://"), "[server] url"),
            (GOOD.replace("supervisor", " "), "[server] username"),
            (
                GOOD.replace(
                    "auth = \"password\"",
                    "auth = \"password\"\npoll_interval_secs = 0",
                ),
                "minimum is 1 second",
            ),
            (
                GOOD.replace("auth = \"password\"", "auth = \"kerberos\""),
                "unknown variant",
            ),
            (
                GOOD.replace("username", "user_name"),
                "unknown field `user_name`",
            ),
            (
                GOOD.replace("auth = \"password\"", "password = \"hunter2\""),
                "secrets do not belong",
            ),
            ("[server\nurl=".to_string(), "line 1"),
            (
                GOOD.replace(
                    "services = [\"Sales\"]",
                    "services = [\"Sales\"]\ninterval_secs = 0",
                ),
                "[availability] interval_secs: 0 is out of range",
            ),
            (
                format!("{GOOD}\n[notifications]\nquiet_hours = \"25:00-07:00\"\n"),
                "[notifications] quiet_hours: `25:00-07:00` is not a span like 22:00-07:00",
            ),
            (
                format!("{GOOD}\n[schedules.business]\nwhen = [\"mon-fri 8-18\"]\n"),
                "[schedules.business] when: `mon-fri 8-18`: `8` is not a time like 08:00",
            ),
            (
                format!(
                    "{GOOD}\n[schedules.business]\ntime_zone = \"Mars/Olympus\"\nwhen = [\"daily 08:00-18:00\"]\n"
                ),
                "[schedules.business] time_zone: `Mars/Olympus` is not a time zone; use an IANA name",
            ),
            (
                format!(
                    "{GOOD}\n[notifications]\nmute = [\"nigth\"]\n[schedules.night]\nwhen = [\"daily 22:00-06:00\"]\n"
                ),
                "[notifications] mute: `nigth` is no schedule; did you mean `night`?",
            ),
            (
                format!("{GOOD}\n[notifications]\ngroup_wait_secs = 600\n"),
                "[notifications] group_wait_secs: 600 is too long",
            ),
            (
                format!("{GOOD}\n[sounds]\ncritical = \"/nonexistent/siren.oga\"\n"),
                "[sounds]: critical: `/nonexistent/siren.oga` does not exist; give a sound file that exists",
            ),
            (
                format!(
                    "{GOOD}\n[[escalation]]\nafter_secs = 300\n[[escalation]]\nafter_secs = 120\n"
                ),
                "[[escalation]]: step 2: after_secs = 120 must be later than the step before it (300 s)",
            ),
            (
                format!("{GOOD}\n[[escalation]]\nafter_secs = 60\nsound = \"my siren\"\n"),
                "[[escalation]]: step 1: sound: `my siren` is neither a sound name",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(&text).unwrap_err();
            assert!(err.contains(want), "want {want:?} in {err:?}");
            assert!(!err.contains("hunter2"), "the secret is echoed: {err}");
        }
    }

    /// A secret typed into the file, however it is typed, is refused by saying where it is and
    /// what to do, never by quoting the line it is on.
    #[test]
    fn secrets_in_the_file_are_refused_without_being_repeated() {
        let cases = [
            // Unquoted: not even TOML.
            GOOD.replace("auth = \"password\"", "password = hunter2"),
            // Misspelled.
            GOOD.replace("auth = \"password\"", "pasword = \"hunter2\""),
            GOOD.replace("auth = \"password\"", "client_secrte = \"hunter2\""),
            // Outside any section, or deeper than one.
            format!("password = \"hunter2\"\n{GOOD}"),
            format!("{GOOD}\n[server.login]\napi_token = \"hunter2\"\n"),
            GOOD.replace("auth = \"password\"", "login = { passwd = \"hunter2\" }"),
            format!("{GOOD}\n[secret]\nvalue = \"hunter2\"\n"),
        ];
        for text in cases {
            let err = Config::parse(&text).unwrap_err();
            assert!(!err.contains("hunter2"), "the secret is echoed: {err}");
            assert!(err.contains("line "), "says where: {err}");
            assert!(err.contains("keychain"), "says what to do: {err}");
        }
        // A file broken in some other way is reported by line and column, not by its text.
        let err = Config::parse("[server]\nurl = https://example.com\n").unwrap_err();
        assert!(err.contains("line 2, column 7"), "{err}");
        assert!(!err.contains("example.com"), "{err}");
        // Keys that only look a little like secrets are still fine.
        let ok = GOOD.replace(
            "auth = \"password\"",
            "auth = \"password\"\nstat_key = \"stat_name\"",
        );
        Config::parse(&ok).unwrap();
    }

    #[test]
    fn quiet_hours_may_cross_midnight() {
        assert_eq!(parse_quiet_hours("22:00-07:30"), Ok((1320, 450)));
        assert_eq!(parse_quiet_hours("12:00 - 13:00"), Ok((720, 780)));
        assert!(parse_quiet_hours("07:00-07:00").is_err());
        assert!(parse_quiet_hours("7pm-8am").is_err());
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = Config::load(Some(Path::new("/nonexistent/lookout.toml"))).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/lookout.toml"),
            "{err}"
        );
    }

    #[test]
    fn a_desk_file_names_a_broker_and_never_holds_a_password() {
        let d = DeskConfig::parse(
            "enabled = true\nhub = \"nats://hub:4222\"\nuser = \"ana\"\nteams = [\"Front Line\"]\n",
        )
        .unwrap();
        assert!(d.enabled && d.user.as_deref() == Some("ana") && d.teams == ["Front Line"]);
        assert_eq!(DeskConfig::parse(&d.to_toml()).unwrap(), d);
        let e =
            DeskConfig::parse("hub = \"nats://hub:4222\"\npassword = \"hunter2\"\n").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = DeskConfig::parse("hub = \"nats://ana:hunter2@hub:4222\"\n").unwrap_err();
        assert!(
            e.contains("user or password") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(DeskConfig::parse("hub = \"http://hub\"\n").is_err());
    }

    #[test]
    fn the_hub_section_names_a_broker_without_a_password() {
        let base = "[server]\nurl = \"https://t.example.com\"\nusername = \"u\"\n";
        let c = Config::parse(&format!(
            "{base}[hub]\nnats = \"nats://broker:4222\"\nuser = \"hub\"\n"
        ))
        .unwrap();
        assert_eq!(c.hub.nats.as_deref(), Some("nats://broker:4222"));
        assert_eq!(c.hub.user.as_deref(), Some("hub"));
        assert!(Config::parse(&c.to_toml()).unwrap().hub == c.hub);
        let e = Config::check(&format!(
            "{base}[hub]\nnats = \"nats://hub:s3cret@broker:4222\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.setting, Some(Setting::HubNats));
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(Config::check(&format!("{base}[hub]\nnats = \"broker:4222\"\n")).is_err());
        assert!(Config::parse(&format!("{base}[hub]\nnatz = \"nats://b:1\"\n")).is_err());
        // Without [hub], none is written.
        assert!(!Config::parse(base).unwrap().to_toml().contains("[hub]"));
    }
}
