//! Where the password or API secret comes from: the environment (`LOOKOUT_PASSWORD`,
//! `LOOKOUT_CLIENT_SECRET`) first, then the OS keychain. Never a file, never a command line.

use lookout_statsapi::{Auth, Secret};

use crate::config::{AuthMode, Config};

/// The keychain service name every entry is filed under.
pub const KEYRING_SERVICE: &str = "lookout";

/// The keychain account for a config: `<username>@<tenant>`.
pub fn keyring_account(config: &Config) -> String {
    format!("{}@{}", config.server.username, config.tenant())
}

/// No secret could be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "no {what} for {account}: set {env} in the environment, or store it in the OS keychain (service \"{KEYRING_SERVICE}\", account \"{account}\"){}",
    keychain_note(keychain)
)]
pub struct MissingSecret {
    pub what: &'static str,
    pub env: &'static str,
    pub account: String,
    /// Why the keychain had nothing, when it is more than "no entry".
    pub keychain: Option<String>,
}

fn keychain_note(k: &Option<String>) -> String {
    k.as_ref()
        .map(|k| format!("; the keychain said: {k}"))
        .unwrap_or_default()
}

/// Find the secret for `config`'s auth mode. Blocking (the keychain may be a D-Bus call): call
/// it off the async runtime.
pub fn find_secret(config: &Config) -> Result<Secret, MissingSecret> {
    let mode = config.server.auth;
    if let Ok(v) = std::env::var(mode.secret_env())
        && !v.is_empty()
    {
        return Ok(Secret::new(v));
    }
    let account = keyring_account(config);
    let keychain =
        match keyring::Entry::new(KEYRING_SERVICE, &account).and_then(|e| e.get_password()) {
            Ok(p) if !p.is_empty() => return Ok(Secret::new(p)),
            Ok(_) | Err(keyring::Error::NoEntry) => None,
            Err(e) => Some(e.to_string()),
        };
    Err(MissingSecret {
        what: mode.secret_name(),
        env: mode.secret_env(),
        account,
        keychain,
    })
}

/// Store a secret in the OS keychain for `config`.
pub fn store_secret(config: &Config, secret: &Secret) -> Result<(), String> {
    keyring::Entry::new(KEYRING_SERVICE, &keyring_account(config))
        .and_then(|e| e.set_password(secret.expose()))
        .map_err(|e| format!("cannot store the secret in the OS keychain: {e}"))
}

/// The client's auth settings for `config` with `secret`.
pub fn auth_for(config: &Config, secret: Secret) -> Auth {
    match config.server.auth {
        AuthMode::OAuth => Auth::OAuth {
            client_id: config.server.username.clone(),
            client_secret: secret,
            scope: config.tenant(),
        },
        AuthMode::Password => Auth::Password {
            tenant_url: config.tenant(),
            username: config.server.username.clone(),
            password: secret,
        },
    }
}

/// The client for `config`'s tenant, logging in with `secret`.
pub fn client_for(
    config: &Config,
    secret: Secret,
) -> Result<lookout_statsapi::Client, lookout_statsapi::Error> {
    lookout_statsapi::Client::new(
        &config.server.url,
        auth_for(config, secret),
        lookout_statsapi::ClientOptions {
            stat_key: config.server.stat_key.unwrap_or_default(),
            ..Default::default()
        },
    )
}

/// Find the secret (the keychain may block, so off the async runtime) and make the client.
pub async fn connect(config: &Config) -> Result<lookout_statsapi::Client, String> {
    let c = config.clone();
    let secret = tokio::task::spawn_blocking(move || find_secret(&c))
        .await
        .map_err(|e| format!("the keychain lookup failed: {e}"))?
        .map_err(|e| e.to_string())?;
    client_for(config, secret).map_err(|e| e.to_string())
}
