//! The settings window's commands: load the config into a form, check and save it (the secret
//! goes to the OS keychain, never the file), and test a connection saying exactly what failed.
//!
//! Saving is a patch over the file on disk: only the settings the form shows are written, and
//! only where they changed, so every other key (`[alerts]`, `[server] stat_key`, comments, the
//! order of things) survives as it was.

use std::path::{Path, PathBuf};

use lookout_keeper::config::{
    AvailabilityConfig, Invalid, NotificationsConfig, ResolvedNotices, Setting,
};
use lookout_keeper::{AuthMode, Config, Plan};
use lookout_pipeline::secrets;
use lookout_statsapi::Secret;
use serde::{Deserialize, Serialize};
use toml_edit::{DocumentMut, Item, Value};

use crate::hub_form::{self, HubForm};

/// The form as the window sees it.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Form {
    pub url: String,
    pub tenant: String,
    pub username: String,
    pub auth: AuthMode,
    /// Empty: keep the stored secret.
    pub secret: String,
    pub poll_interval_secs: u64,
    pub rules_dir: String,
    /// Services whose available agents are checked.
    pub availability: Vec<String>,
    pub sound: bool,
    pub resolved: ResolvedNotices,
    /// `HH:MM-HH:MM`, or empty.
    pub quiet_hours: String,
    /// Start the app at login. Not in the config file: the OS's login items are the truth.
    #[serde(default)]
    pub start_at_login: bool,
    /// Read a team hub instead of Bright Pattern (`desk.toml`).
    #[serde(default)]
    pub hub: HubForm,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("url", &lookout_statsapi::redact_url(&self.url))
            .field("tenant", &self.tenant)
            .field("username", &self.username)
            .field("auth", &self.auth)
            .field(
                "secret",
                &if self.secret.is_empty() {
                    "<empty>"
                } else {
                    "<redacted>"
                },
            )
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("rules_dir", &self.rules_dir)
            .field("availability", &self.availability)
            .field("sound", &self.sound)
            .field("resolved", &self.resolved)
            .field("quiet_hours", &self.quiet_hours)
            .field("start_at_login", &self.start_at_login)
            .field("hub", &self.hub)
            .finish()
    }
}

/// A field of the form, for the window to mark when it is what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Url,
    Tenant,
    Username,
    Secret,
    PollIntervalSecs,
    Availability,
    QuietHours,
    HubUrl,
    HubUser,
    HubPassword,
}

impl Field {
    /// The field's label, as the window shows it.
    pub fn label(self) -> &'static str {
        match self {
            Field::Url => "Server address",
            Field::Tenant => "Tenant",
            Field::Username => "Username",
            Field::Secret => "API secret or password",
            Field::PollIntervalSecs => "Poll interval",
            Field::Availability => "Services to check",
            Field::QuietHours => "Quiet hours",
            Field::HubUrl => "Hub address",
            Field::HubUser => "Hub user",
            Field::HubPassword => "Hub password",
        }
    }

    /// The field that sets `s`, if the form shows it.
    fn of(s: Setting) -> Option<Field> {
        match s {
            Setting::ServerUrl => Some(Field::Url),
            Setting::ServerUsername => Some(Field::Username),
            Setting::ServerPollInterval => Some(Field::PollIntervalSecs),
            Setting::ServerTenant => Some(Field::Tenant),
            Setting::AvailabilityServices => Some(Field::Availability),
            Setting::NotificationsQuietHours => Some(Field::QuietHours),
            Setting::ServerMaxResponse
            | Setting::HubNats
            | Setting::NotificationsGroupBy
            | Setting::NotificationsGroupWait
            | Setting::NotificationsMute
            | Setting::Escalation
            | Setting::Sounds
            | Setting::AvailabilityInterval
            | Setting::AlertsNoData
            | Setting::AlertsMaxPerMinute => None,
        }
    }
}

/// What went wrong, and the field at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FormError {
    pub field: Option<Field>,
    pub message: String,
}

impl FormError {
    pub fn at(field: Field, message: String) -> FormError {
        FormError {
            field: Some(field),
            message,
        }
    }
}

impl From<String> for FormError {
    fn from(message: String) -> FormError {
        FormError {
            field: None,
            message,
        }
    }
}

impl From<Invalid> for FormError {
    /// A config error about a setting the form shows names the field, in the form's words.
    fn from(e: Invalid) -> FormError {
        match e.setting.and_then(Field::of) {
            Some(field) => FormError::at(field, format!("{}: {}", field.label(), e.message)),
            None => e.to_string().into(),
        }
    }
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where the config lives (`XDG_CONFIG_HOME` and the like are honoured).
pub fn config_path() -> Result<PathBuf, String> {
    Config::default_path().map_err(|e| e.to_string())
}

/// The form for the config on disk, or an empty form with defaults.
pub fn load() -> Form {
    let mut form =
        match config_path().and_then(|p| Config::load(Some(&p)).map_err(|e| e.to_string())) {
            Ok(c) => form_of(&c),
            Err(_) => Form {
                poll_interval_secs: 2,
                sound: true,
                ..Form::default()
            },
        };
    if let Ok(path) = config_path() {
        form.hub = hub_form::load(&path);
    }
    form
}

/// `desk.toml`, when the settings say to read a team hub, and whether the tenant of the
/// config is read as well.
pub fn hub_chosen() -> Option<(PathBuf, bool)> {
    hub_form::chosen(&config_path().ok()?)
}

/// What the form shows of `c`.
fn form_of(c: &Config) -> Form {
    Form {
        url: c.server.url.clone(),
        tenant: c.server.tenant.clone().unwrap_or_default(),
        username: c.server.username.clone(),
        auth: c.server.auth,
        secret: String::new(),
        poll_interval_secs: c.server.poll_interval_secs,
        rules_dir: c
            .rules
            .dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        availability: c.availability.services.clone(),
        sound: c.notifications.sound,
        resolved: c.notifications.resolved,
        quiet_hours: c.notifications.quiet_hours.clone().unwrap_or_default(),
        start_at_login: false,
        hub: HubForm::default(),
    }
}

/// The text of the config file at `path` ("" when there is none).
fn current_text(path: &Path) -> Result<String, String> {
    match lookout_keeper::files::read_text(path, lookout_keeper::files::MAX_TEXT_FILE) {
        Ok(t) => Ok(t),
        Err(e) if e.is_not_found() => Ok(String::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// `text` (a config file) with the form's settings written over it. Only what the form shows
/// is touched, and only where it differs from what is there (or from the default, for a key
/// that is not there): a form saved unchanged leaves the file byte for byte as it was.
pub fn patched(text: &str, f: &Form) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let at = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                format!(" at line {}", before.matches('\n').count() + 1)
            })
            .unwrap_or_default();
        format!(
            "the configuration file cannot be read{at}, so saving over it would lose what is in it; fix it or move it aside, then save again"
        )
    })?;
    let auth = match f.auth {
        AuthMode::OAuth => "oauth",
        AuthMode::Password => "password",
    };
    let text_or_none = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(Value::from);
    let services: toml_edit::Array = f
        .availability
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let defaults = (
        AvailabilityConfig::default(),
        NotificationsConfig::default(),
    );
    let set = |doc: &mut DocumentMut, table: &str, key: &str, v: Option<Value>, default: Value| {
        set_key(doc, table, key, v, Some(default))
    };
    set_key(&mut doc, "server", "url", Some(f.url.trim().into()), None);
    set_key(&mut doc, "server", "tenant", text_or_none(&f.tenant), None);
    set_key(
        &mut doc,
        "server",
        "username",
        Some(f.username.trim().into()),
        None,
    );
    set(
        &mut doc,
        "server",
        "auth",
        Some(auth.into()),
        "oauth".into(),
    );
    set(
        &mut doc,
        "server",
        "poll_interval_secs",
        Some((f.poll_interval_secs.min(i64::MAX as u64) as i64).into()),
        2.into(),
    );
    set_key(&mut doc, "rules", "dir", text_or_none(&f.rules_dir), None);
    set(
        &mut doc,
        "availability",
        "services",
        Some(Value::Array(services)),
        Value::Array(defaults.0.services.iter().collect()),
    );
    set(
        &mut doc,
        "notifications",
        "sound",
        Some(f.sound.into()),
        defaults.1.sound.into(),
    );
    let resolved = match f.resolved {
        ResolvedNotices::Rule => "rule",
        ResolvedNotices::All => "all",
        ResolvedNotices::None => "none",
    };
    set(
        &mut doc,
        "notifications",
        "resolved",
        Some(resolved.into()),
        "rule".into(),
    );
    set_key(
        &mut doc,
        "notifications",
        "quiet_hours",
        text_or_none(&f.quiet_hours),
        None,
    );
    Ok(doc.to_string())
}

/// Set `[table] key` to `value` (`None`: remove it), unless it already holds that value, or it
/// is missing and `value` is its `default`. An existing key keeps its place and comments.
fn set_key(
    doc: &mut DocumentMut,
    table: &str,
    key: &str,
    value: Option<Value>,
    default: Option<Value>,
) {
    let current = doc
        .get(table)
        .and_then(|t| t.get(key))
        .and_then(Item::as_value);
    match (&value, current) {
        (Some(v), Some(c)) if same(v, c) => return,
        (Some(v), None) if default.as_ref().is_some_and(|d| same(v, d)) => return,
        (None, None) => return,
        _ => {}
    }
    let Some(value) = value else {
        if let Some(t) = doc.get_mut(table).and_then(Item::as_table_like_mut) {
            t.remove(key);
        }
        return;
    };
    if doc.get(table).is_none_or(|t| !t.is_table_like()) {
        doc[table] = toml_edit::table();
    }
    let Some(t) = doc[table].as_table_like_mut() else {
        return;
    };
    match t.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = value;
            *old.decor_mut() = decor;
        }
        None => {
            t.insert(key, Item::Value(value));
        }
    }
}

/// The same setting, however it is written.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Integer(a), Value::Integer(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        (Value::Float(a), Value::Float(b)) => a.value() == b.value(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| same(x, y))
        }
        _ => false,
    }
}

/// The form written over the file at `path` (read once).
#[derive(Debug)]
struct Edit {
    /// The config the form makes, checked the way a config file is (errors name the field).
    config: Config,
    /// Its text, to be saved.
    text: String,
    /// The config on disk before, if Lookout can read it.
    saved: Option<Config>,
}

fn config_at(path: &Path, f: &Form) -> Result<Edit, FormError> {
    let current = current_text(path)?;
    let text = patched(&current, f)?;
    let config = Config::check(&text)?;
    Ok(Edit {
        config,
        text,
        saved: Config::parse(&current).ok(),
    })
}

/// The config a form describes over the file on disk.
pub fn to_config(f: &Form) -> Result<Config, FormError> {
    config_at(&config_path()?, f).map(|e| e.config)
}

/// "[server] url: …" → "Server address: …".
/// The secret to test or save with: the one typed, else the one kept for this server (from
/// the environment, the session or the keychain; `None` here means "look it up"). A server
/// address other than the saved one gets no kept secret: it is asked for again, so a secret
/// never goes to a server it was not given for.
fn typed_or_kept(f: &Form, edit: &Edit) -> Result<Option<Secret>, FormError> {
    if !f.secret.is_empty() {
        return Ok(Some(Secret::new(&f.secret)));
    }
    let config = &edit.config;
    match &edit.saved {
        Some(saved) if !secrets::same_server(saved, config) => Err(FormError::at(
            Field::Secret,
            format!(
                "The server address changed (from {} to {}): type the {} for the new server. Lookout does not send a secret kept for one server to another.",
                secrets::server_origin(saved),
                secrets::server_origin(config),
                config.server.auth.secret_name()
            ),
        )),
        _ => Ok(None),
    }
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Saved {
    pub message: String,
    /// The file is saved but the secret could not go to the keychain: the window offers to keep
    /// it for this session only.
    pub keychain_unavailable: bool,
}

/// Check and save: the file first (no secret in it), then the secret to the keychain.
pub fn save(f: &Form) -> Result<Saved, FormError> {
    let path = config_path()?;
    match (f.hub.enabled, f.hub.with_tenant) {
        // Reading a hub alone, the tenant's settings are neither needed nor touched.
        (true, false) => hub_form::save(&path, &f.hub),
        (true, true) => {
            let hub = hub_form::save(&path, &f.hub)?;
            let tenant = save_at(&path, f)?;
            Ok(Saved {
                message: [hub.message, tenant.message]
                    .into_iter()
                    .filter(|m| !m.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
                keychain_unavailable: hub.keychain_unavailable || tenant.keychain_unavailable,
            })
        }
        (false, _) => {
            hub_form::save(&path, &f.hub)?;
            save_at(&path, f)
        }
    }
}

fn save_at(path: &Path, f: &Form) -> Result<Saved, FormError> {
    let edit = config_at(path, f)?;
    let secret = typed_or_kept(f, &edit)?;
    let Edit { config, text, .. } = edit;
    lookout_keeper::files::write_private_atomic(path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let saved = format!("Saved to {}", path.display());
    if let Some(secret) = secret
        && let Err(e) = secrets::store_secret(&config, &secret)
    {
        let permanent = format!(
            "To keep it for good, start a keyring (such as GNOME Keyring or KWallet) and save again, or set {} in Lookout's environment.",
            config.server.auth.secret_env()
        );
        return Ok(Saved {
            message: format!(
                "{saved}, but the {} was not kept: {e}. You can keep it for this session only (until Lookout quits). {permanent}",
                config.server.auth.secret_name()
            ),
            keychain_unavailable: true,
        });
    }
    Ok(Saved {
        message: saved,
        keychain_unavailable: false,
    })
}

/// Keep the form's secret in memory for this session (no keychain to keep it in).
pub fn keep_for_session(f: &Form) -> Result<(), FormError> {
    if f.hub.enabled {
        hub_form::keep_for_session(&f.hub)?;
        if !f.hub.with_tenant || f.secret.is_empty() {
            return Ok(());
        }
    }
    let config = to_config(f)?;
    if f.secret.is_empty() {
        return Err(FormError::at(
            Field::Secret,
            format!(
                "Type the {} to keep for this session.",
                config.server.auth.secret_name()
            ),
        ));
    }
    secrets::keep_for_session(&config, Secret::new(&f.secret));
    Ok(())
}

/// Log in, subscribe and unsubscribe with the form's settings; say what happened.
pub async fn test_connection(f: Form) -> Result<String, FormError> {
    let path = config_path()?;
    if f.hub.enabled {
        return hub_form::test(&path, &f.hub).await;
    }
    let edit = config_at(&path, &f)?;
    let config = &edit.config;
    let mut client = match typed_or_kept(&f, &edit)? {
        Some(secret) => secrets::client_for(config, secret).map_err(|e| e.to_string())?,
        None => secrets::connect(config).await?,
    };
    client.authenticate().await.map_err(|e| e.to_string())?;
    let services = client.services().await.map(|s| s.len()).unwrap_or(0);
    client
        .create_subscription(&Plan::overview().request())
        .await
        .map_err(|e| e.to_string())?;
    let _ = client.delete_subscription().await;
    Ok(format!(
        "Connected to {} as {}: signed in, subscribed, {services} services visible.",
        config.tenant(),
        config.server.username
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Form {
        Form {
            url: "https://example.brightpattern.com".into(),
            tenant: String::new(),
            username: "supervisor".into(),
            auth: AuthMode::OAuth,
            secret: "hunter2".into(),
            poll_interval_secs: 2,
            rules_dir: String::new(),
            availability: vec!["Sales".into(), " Billing".into()],
            sound: true,
            resolved: ResolvedNotices::All,
            quiet_hours: "22:00-07:00".into(),
            start_at_login: false,
            hub: HubForm::default(),
        }
    }

    #[test]
    fn a_hub_is_kept_in_its_own_file_and_switching_it_off_loses_nothing() {
        let (_dir, path) = config_file();
        save_at(&path, &good()).unwrap();
        let config_before = std::fs::read(&path).unwrap();
        let hub = HubForm {
            enabled: true,
            url: "nats://hub.example:4222".into(),
            user: "ana".into(),
            password: String::new(),
            teams: vec![" Front Line ".into(), String::new()],
            with_tenant: false,
        };
        hub_form::save(&path, &hub).unwrap();
        let desk = lookout_keeper::config::DeskConfig::path_beside(&path);
        assert_eq!(hub_form::chosen(&path), Some((desk.clone(), false)));
        // Both: the hub and the tenant of config.toml, in one tray.
        hub_form::save(
            &path,
            &HubForm {
                with_tenant: true,
                ..hub.clone()
            },
        )
        .unwrap();
        assert_eq!(hub_form::chosen(&path), Some((desk.clone(), true)));
        hub_form::save(&path, &hub).unwrap();
        let back = hub_form::load(&path);
        assert_eq!(back.teams, ["Front Line"]);
        assert_eq!(
            (back.url.as_str(), back.user.as_str()),
            ("nats://hub.example:4222", "ana")
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            config_before,
            "config.toml untouched"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&desk).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Off: Bright Pattern again, the hub's settings kept for next time.
        hub_form::save(
            &path,
            &HubForm {
                enabled: false,
                ..hub.clone()
            },
        )
        .unwrap();
        assert_eq!(hub_form::chosen(&path), None);
        assert_eq!(hub_form::load(&path).url, "nats://hub.example:4222");
        // A bad address is refused, naming the field, without a word of a password.
        let bad = HubForm {
            url: "nats://ana:hunter2@hub.example:4222".into(),
            ..hub
        };
        let e = hub_form::save(&path, &bad).unwrap_err();
        assert_eq!(e.field, Some(Field::HubUrl));
        assert!(
            e.message.starts_with("Hub address: ") && !e.message.contains("hunter2"),
            "{e}"
        );
    }

    /// A config path in a folder of the test's own (removed with the guard).
    fn config_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        (dir, path)
    }

    #[test]
    fn a_good_form_is_a_config_and_bad_ones_say_which_field() {
        let (_dir, path) = config_file();
        let Edit {
            config: c, text, ..
        } = config_at(&path, &good()).unwrap();
        assert_eq!(c.availability.services, ["Sales", "Billing"]);
        assert_eq!(c.notifications.resolved, ResolvedNotices::All);
        assert_eq!(c.notifications.quiet_hours.as_deref(), Some("22:00-07:00"));
        assert!(
            !text.contains("hunter2"),
            "the secret never goes in the file"
        );
        let bad = [
            (
                Form {
                    url: "http://example.com".into(),
                    ..good()
                },
                Field::Url,
                "Server address: ",
            ),
            (
                Form {
                    username: " ".into(),
                    ..good()
                },
                Field::Username,
                "Username: must not be empty",
            ),
            (
                Form {
                    poll_interval_secs: 0,
                    ..good()
                },
                Field::PollIntervalSecs,
                "Poll interval: 0 is too short",
            ),
            (
                Form {
                    quiet_hours: "late".into(),
                    ..good()
                },
                Field::QuietHours,
                "Quiet hours: ",
            ),
        ];
        for (f, field, want) in bad {
            let e = config_at(&path, &f).unwrap_err();
            assert_eq!(e.field, Some(field), "{e}");
            assert!(e.message.starts_with(want), "{e}");
        }
    }

    /// Every section set, with comments: saved from the window unchanged, the file is the same
    /// byte for byte; saved with one change, only that line changes and nothing the window
    /// does not show is lost.
    #[test]
    fn saving_keeps_everything_the_form_does_not_show() {
        let (_dir, path) = config_file();
        let original = r#"# Lookout, set up by hand
[server]
url = "https://example.brightpattern.com"
tenant = "example"
username = "supervisor"
auth = "password"
poll_interval_secs = 5   # slower on purpose
stat_key = "statName"
max_response_mb = 16
percent_scale = "fraction"

[availability]
services = ["Sales", "Billing"]
interval_secs = 30

[rules]
dir = "/srv/rules"

[alerts]
no_data_secs = 120
grace_secs = 20
max_per_minute = 5

[notifications]
sound = false
resolved = "none"
quiet_hours = "22:00-07:00"
"#;
        std::fs::write(&path, original).unwrap();
        let before = Config::load(Some(&path)).unwrap();
        let form = Form {
            secret: String::new(),
            ..form_of(&before)
        };
        save_at(&path, &form).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        assert_eq!(Config::load(Some(&path)).unwrap(), before);

        let changed = Form {
            poll_interval_secs: 3,
            quiet_hours: String::new(),
            ..form
        };
        save_at(&path, &changed).unwrap();
        let after = Config::load(Some(&path)).unwrap();
        assert_eq!(after.server.poll_interval_secs, 3);
        assert_eq!(after.notifications.quiet_hours, None);
        assert_eq!(after.alerts, before.alerts);
        assert_eq!(after.server.stat_key, before.server.stat_key);
        assert_eq!(after.server.max_response_mb, 16);
        assert_eq!(after.availability.interval_secs, 30);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("poll_interval_secs = 3   # slower on purpose"),
            "{text}"
        );
        assert!(text.starts_with("# Lookout, set up by hand\n"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the configuration is private");
        }
    }

    #[test]
    fn a_file_lookout_cannot_read_is_not_saved_over() {
        let (_dir, path) = config_file();
        std::fs::write(&path, "[server\nurl = ").unwrap();
        let e = save_at(&path, &good()).unwrap_err().message;
        assert!(e.contains("line 1") && e.contains("move it aside"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[server\nurl = ");
    }

    #[test]
    fn a_new_server_address_asks_for_its_secret() {
        let (_dir, path) = config_file();
        std::fs::write(
            &path,
            "[server]\nurl = \"https://acme.example.com\"\nusername = \"ana\"\n",
        )
        .unwrap();
        let form = Form {
            url: "https://elsewhere.example.net".into(),
            username: "ana".into(),
            secret: String::new(),
            ..good()
        };
        let e = save_at(&path, &form).unwrap_err();
        assert_eq!(e.field, Some(Field::Secret));
        assert!(
            e.message
                .contains("from https://acme.example.com to https://elsewhere.example.net"),
            "{e}"
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("acme.example.com"),
            "nothing saved"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let shown = format!("{:?}", good());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
