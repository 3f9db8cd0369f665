//! The settings window's "team hub" part: read a hub instead of Bright Pattern
//! (`desk.toml` beside `config.toml`; the password in the keychain, never the file).
//! Switching the hub off keeps its settings, and `config.toml` is never touched by it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lookout_keeper::config::DeskConfig;
use lookout_pipeline::secrets;
use lookout_statsapi::Secret;
use serde::{Deserialize, Serialize};

use crate::settings::{Field, FormError, Saved};

/// The hub's part of the form.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HubForm {
    /// Read the hub instead of Bright Pattern.
    pub enabled: bool,
    /// `nats://HOST:PORT` or `tls://HOST:PORT`.
    pub url: String,
    /// This supervisor's user at the broker (empty: a broker without users).
    pub user: String,
    /// Empty: keep the stored password.
    pub password: String,
    /// Only these teams (empty: all the broker allows).
    pub teams: Vec<String>,
    /// Read Bright Pattern (`config.toml`) as well.
    #[serde(default)]
    pub with_tenant: bool,
}

impl std::fmt::Debug for HubForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubForm")
            .field("enabled", &self.enabled)
            .field("url", &self.url)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    "<empty>"
                } else {
                    "<redacted>"
                },
            )
            .field("teams", &self.teams)
            .field("with_tenant", &self.with_tenant)
            .finish()
    }
}

/// `desk.toml` beside the config at `config`, when it says to read a hub, and whether the
/// tenant of the config is read as well.
pub fn chosen(config: &Path) -> Option<(PathBuf, bool)> {
    let path = DeskConfig::path_beside(config);
    match DeskConfig::load(&path) {
        Ok(Some(d)) if d.enabled => Some((path, d.with_tenant)),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

/// The hub's part of the form, from `desk.toml` (empty when there is none).
pub fn load(config: &Path) -> HubForm {
    match DeskConfig::load(&DeskConfig::path_beside(config)) {
        Ok(Some(d)) => HubForm {
            enabled: d.enabled,
            url: d.hub,
            user: d.user.unwrap_or_default(),
            password: String::new(),
            teams: d.teams,
            with_tenant: d.with_tenant,
        },
        _ => HubForm::default(),
    }
}

/// The desk file the form asks for (checked), keeping what the form does not show.
fn desk_of(config: &Path, f: &HubForm) -> Result<DeskConfig, FormError> {
    let before = DeskConfig::load(&DeskConfig::path_beside(config))
        .ok()
        .flatten()
        .unwrap_or_default();
    let desk = DeskConfig {
        enabled: f.enabled,
        hub: f.url.trim().to_string(),
        user: Some(f.user.trim().to_string()).filter(|u| !u.is_empty()),
        teams: f
            .teams
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        with_tenant: f.with_tenant,
        ..before
    };
    desk.check().map_err(|e| {
        let (field, what) = match e.split_once(": ") {
            Some(("user", what)) => (Field::HubUser, what.to_string()),
            Some((_, what)) => (Field::HubUrl, what.to_string()),
            None => (Field::HubUrl, e.clone()),
        };
        FormError::at(field, format!("{}: {what}", field.label()))
    })?;
    Ok(desk)
}

/// Save the hub's settings (the password to the keychain). With the hub off, only its
/// `enabled` changes, and only when there is a file.
pub fn save(config: &Path, f: &HubForm) -> Result<Saved, FormError> {
    let path = DeskConfig::path_beside(config);
    if !f.enabled {
        if let Ok(Some(mut d)) = DeskConfig::load(&path)
            && d.enabled
        {
            d.enabled = false;
            lookout_keeper::files::write_private_atomic(&path, d.to_toml().as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        return Ok(Saved {
            message: String::new(),
            keychain_unavailable: false,
        });
    }
    let desk = desk_of(config, f)?;
    if !f.password.is_empty() && desk.user.is_none() {
        return Err(FormError::at(
            Field::HubUser,
            "Hub user: a password needs the user it belongs to".into(),
        ));
    }
    if let Some(dir) = path.parent() {
        lookout_keeper::files::create_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    lookout_keeper::files::write_private_atomic(&path, desk.to_toml().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let saved = format!("Saved to {}", path.display());
    if let (Some(user), false) = (&desk.user, f.password.is_empty())
        && let Err(e) = secrets::store_nats_password(&desk.hub, user, &Secret::new(&f.password))
    {
        return Ok(Saved {
            message: format!(
                "{saved}, but the hub password was not kept: {e}. You can keep it for this session only (until Lookout quits). To keep it for good, start a keyring (such as GNOME Keyring or KWallet) and save again, or set {} in Lookout's environment.",
                secrets::NATS_PASSWORD_ENV
            ),
            keychain_unavailable: true,
        });
    }
    Ok(Saved {
        message: saved,
        keychain_unavailable: false,
    })
}

/// Keep the typed hub password in memory for this session.
pub fn keep_for_session(f: &HubForm) -> Result<(), FormError> {
    if f.password.is_empty() || f.user.trim().is_empty() {
        return Err(FormError::at(
            Field::HubPassword,
            "Type the hub password to keep for this session.".into(),
        ));
    }
    secrets::keep_nats_for_session(f.url.trim(), f.user.trim(), Secret::new(&f.password));
    Ok(())
}

/// Connect to the broker with the form's settings and listen for the hub's directory: say
/// what was found.
pub async fn test(config: &Path, f: &HubForm) -> Result<String, FormError> {
    let desk = desk_of(
        config,
        &HubForm {
            enabled: true,
            ..f.clone()
        },
    )?;
    let login = if f.password.is_empty() {
        lookout_hub::nats::Login::find(&desk.hub, desk.user.as_deref())
            .await
            .map_err(|e| FormError::at(Field::HubPassword, e))?
    } else {
        lookout_hub::nats::Login {
            url: desk.hub.clone(),
            user: desk.user.clone(),
            password: desk.user.as_ref().map(|_| Secret::new(&f.password)),
        }
    };
    let client = lookout_hub::nats::connect(&login, "lookout settings", None)
        .await
        .map_err(|e| e.to_string())?;
    let who = desk.user.as_deref().unwrap_or("(no user)");
    let heard = lookout_hub::desk::directory(&client, Duration::from_secs(3)).await;
    Ok(match heard {
        Some(d) => format!(
            "Connected to {} as {who}: hub {} publishes {}.",
            desk.hub,
            d.hub,
            d.tenants
                .iter()
                .map(|t| format!("{} (teams: {})", t.tenant, t.teams.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        None => format!(
            "Connected to {} as {who}, but no hub spoke within 3 s: is `lookout hub` running?",
            desk.hub
        ),
    })
}
