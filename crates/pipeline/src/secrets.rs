//! Where the password or API secret comes from: a secret the person chose to keep for this
//! session only (typed in the settings, no keychain to keep it in), then the environment
//! (`LOOKOUT_PASSWORD`, `LOOKOUT_CLIENT_SECRET`), then the OS keychain. Never a file, never a
//! command line.
//!
//! A keychain entry belongs to one server: its account names the user, the tenant and the
//! server's address (`supervisor@example.brightpattern.com on https://example.brightpattern.com`),
//! so a secret kept for one server is never sent to another. Entries of older versions
//! (`<username>@<tenant>`, bound to nothing) are moved to the bound name the first time they are
//! used with a configuration.
//!
//! The programs take the environment's secrets out of the process environment first thing
//! ([`take_from_environment`]), so no program they start (a file manager, the web views) ever
//! sees them.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use lookout_statsapi::Auth;
pub use lookout_statsapi::Secret;

use lookout_keeper::config::{AuthMode, Config};

/// The keychain service name every entry is filed under.
pub const KEYRING_SERVICE: &str = "lookout";

/// The environment variables that may hold a secret.
pub const SECRET_ENV: [&str; 3] = [
    "LOOKOUT_CLIENT_SECRET",
    "LOOKOUT_PASSWORD",
    NATS_PASSWORD_ENV,
];

/// The environment variable that may hold the password of a NATS user (team mode).
pub const NATS_PASSWORD_ENV: &str = "LOOKOUT_NATS_PASSWORD";

/// The keychain account of a NATS user's password: `<user> on <nats://host:port>`.
pub fn nats_account(url: &str, user: &str) -> String {
    format!("{user} on {url}")
}

/// The password of NATS user `user` at `url` (team mode): the environment's
/// `LOOKOUT_NATS_PASSWORD`, then the keychain entry [`nats_account`]. Blocking (the keychain
/// may be a D-Bus call).
pub fn find_nats_password(url: &str, user: &str) -> Result<Secret, MissingSecret> {
    find_nats_password_in(url, user, &OsKeychain)
}

/// [`find_nats_password`] with the keychain given.
pub fn find_nats_password_in(
    url: &str,
    user: &str,
    keychain: &dyn Keychain,
) -> Result<Secret, MissingSecret> {
    let from_env = match FROM_ENVIRONMENT.get() {
        Some(taken) => taken.get(NATS_PASSWORD_ENV).cloned(),
        None => std::env::var(NATS_PASSWORD_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new),
    };
    let account = nats_account(url, user);
    let kept = FOR_SESSION
        .lock()
        .ok()
        .and_then(|kept| kept.get(&account).cloned());
    if let Some(s) = kept.or(from_env) {
        return Ok(s);
    }
    let missing = |keychain| MissingSecret {
        what: "NATS password",
        env: NATS_PASSWORD_ENV,
        account: account.clone(),
        keychain,
    };
    match keychain.get(&account) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(missing(None)),
        Err(e) => Err(missing(Some(e))),
    }
}

/// Keep a NATS user's password in memory until the program ends (no keychain to keep it in).
pub fn keep_nats_for_session(url: &str, user: &str, secret: Secret) {
    if let Ok(mut kept) = FOR_SESSION.lock() {
        kept.insert(nats_account(url, user), secret);
    }
}

/// Keep a NATS user's password in the OS keychain.
pub fn store_nats_password(url: &str, user: &str, secret: &Secret) -> Result<(), KeychainError> {
    OsKeychain.set(&nats_account(url, user), secret)
}

/// `scheme://host[:port]` of the configured server (what a secret is bound to).
pub fn server_origin(config: &Config) -> String {
    match lookout_statsapi::parse_server_url(&config.server.url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => lookout_statsapi::redact_url(&config.server.url),
    }
}

/// True when `a` and `b` name the same server, so a secret kept for one may go to the other.
pub fn same_server(a: &Config, b: &Config) -> bool {
    server_origin(a) == server_origin(b)
}

/// The keychain account for a config: `<username>@<tenant> on <scheme://host[:port]>`.
pub fn keyring_account(config: &Config) -> String {
    format!(
        "{}@{} on {}",
        config.server.username,
        config.tenant(),
        server_origin(config)
    )
}

/// The account older versions used, bound to no server.
fn legacy_account(config: &Config) -> String {
    format!("{}@{}", config.server.username, config.tenant())
}

/// The secrets the environment held when the program started.
static FROM_ENVIRONMENT: OnceLock<BTreeMap<&'static str, Secret>> = OnceLock::new();

/// Take the secrets out of the process environment and keep them in memory; the programs call
/// this first thing, before any other thread exists. From then on no child process inherits
/// them, and [`find_secret`] still finds them.
///
/// # Safety
///
/// Changing the environment is sound only while no other thread reads or writes it: call this
/// before starting any thread.
pub unsafe fn take_from_environment() {
    let mut found = BTreeMap::new();
    for name in SECRET_ENV {
        if let Some(v) = std::env::var_os(name) {
            if let Some(v) = v.to_str().filter(|v| !v.is_empty()) {
                found.insert(name, Secret::new(v));
            }
            // SAFETY: the caller promises no other thread exists yet.
            unsafe { std::env::remove_var(name) };
        }
    }
    let _ = FROM_ENVIRONMENT.set(found);
}

/// The environment's secret for `mode`: as taken at start, or (for callers that did not take
/// them) as the environment has it now.
fn environment_secret(mode: AuthMode) -> Option<Secret> {
    match FROM_ENVIRONMENT.get() {
        Some(taken) => taken.get(mode.secret_env()).cloned(),
        None => std::env::var(mode.secret_env())
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new),
    }
}

/// Secrets a person chose to keep for this session only (no keychain to keep them in), by
/// keychain account.
static FOR_SESSION: Mutex<BTreeMap<String, Secret>> = Mutex::new(BTreeMap::new());

/// Keep `secret` for `config`'s server until the program ends, in memory only.
pub fn keep_for_session(config: &Config, secret: Secret) {
    if let Ok(mut kept) = FOR_SESSION.lock() {
        kept.insert(keyring_account(config), secret);
    }
}

fn session_secret(config: &Config) -> Option<Secret> {
    FOR_SESSION
        .lock()
        .ok()
        .and_then(|kept| kept.get(&keyring_account(config)).cloned())
}

/// Why the keychain could not help, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    #[error(
        "the system keychain is not available (no Secret Service, such as GNOME Keyring or KWallet, is running)"
    )]
    Unavailable,
    #[error("the system keychain is locked or refused access")]
    Refused,
    #[error("the system keychain failed: {0}")]
    Other(String),
}

/// A place to keep secrets: the OS keychain, or a map in a unit test.
pub trait Keychain {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError>;
    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError>;
    fn delete(&self, account: &str) -> Result<(), KeychainError>;
}

/// The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
pub struct OsKeychain;

fn keychain_error(e: keyring::Error) -> KeychainError {
    match e {
        keyring::Error::PlatformFailure(_) => KeychainError::Unavailable,
        keyring::Error::NoStorageAccess(_) => KeychainError::Refused,
        other => KeychainError::Other(lookout_statsapi::printable(&other.to_string(), 200)),
    }
}

impl Keychain for OsKeychain {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        match keyring::Entry::new(KEYRING_SERVICE, account).and_then(|e| e.get_password()) {
            Ok(p) if !p.is_empty() => Ok(Some(Secret::new(p))),
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError> {
        keyring::Entry::new(KEYRING_SERVICE, account)
            .and_then(|e| e.set_password(secret.expose()))
            .map_err(keychain_error)
    }

    fn delete(&self, account: &str) -> Result<(), KeychainError> {
        match keyring::Entry::new(KEYRING_SERVICE, account).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }
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
    pub keychain: Option<KeychainError>,
}

fn keychain_note(k: &Option<KeychainError>) -> String {
    k.as_ref().map(|k| format!("; {k}")).unwrap_or_default()
}

/// Find the secret for `config`'s auth mode. Blocking (the keychain may be a D-Bus call): call
/// it off the async runtime.
pub fn find_secret(config: &Config) -> Result<Secret, MissingSecret> {
    find_secret_in(config, &OsKeychain)
}

/// [`find_secret`] with the keychain given: the session, the environment, the keychain entry
/// bound to this server, then an older unbound entry (moved to the bound name on the way).
pub fn find_secret_in(config: &Config, keychain: &dyn Keychain) -> Result<Secret, MissingSecret> {
    let mode = config.server.auth;
    if let Some(s) = session_secret(config).or_else(|| environment_secret(mode)) {
        return Ok(s);
    }
    let account = keyring_account(config);
    let missing = |keychain| MissingSecret {
        what: mode.secret_name(),
        env: mode.secret_env(),
        account: account.clone(),
        keychain,
    };
    match keychain.get(&account) {
        Ok(Some(s)) => return Ok(s),
        Ok(None) => {}
        Err(e) => return Err(missing(Some(e))),
    }
    let legacy = legacy_account(config);
    match keychain.get(&legacy) {
        Ok(Some(s)) => {
            match keychain
                .set(&account, &s)
                .and_then(|()| keychain.delete(&legacy))
            {
                Ok(()) => tracing::info!(
                    "the keychain entry \"{legacy}\" now belongs to one server: moved to \"{account}\""
                ),
                Err(e) => tracing::warn!("cannot move the keychain entry \"{legacy}\": {e}"),
            }
            Ok(s)
        }
        Ok(None) => Err(missing(None)),
        Err(e) => Err(missing(Some(e))),
    }
}

/// Store a secret in the OS keychain for `config`'s server.
pub fn store_secret(config: &Config, secret: &Secret) -> Result<(), KeychainError> {
    OsKeychain.set(&keyring_account(config), secret)
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
            max_body_bytes: (config.server.max_response_mb as usize).saturating_mul(1024 * 1024),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A keychain in a map, for the rules of lookup and migration.
    #[derive(Default)]
    struct Memory(RefCell<BTreeMap<String, String>>);

    impl Keychain for Memory {
        fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
            Ok(self.0.borrow().get(account).map(Secret::new))
        }
        fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError> {
            self.0
                .borrow_mut()
                .insert(account.into(), secret.expose().into());
            Ok(())
        }
        fn delete(&self, account: &str) -> Result<(), KeychainError> {
            self.0.borrow_mut().remove(account);
            Ok(())
        }
    }

    fn config(url: &str) -> Config {
        // The password mode's variable is not set by any test of this crate.
        Config::parse(&format!(
            "[server]\nurl = \"{url}\"\nusername = \"ana\"\ntenant = \"acme.example.com\"\nauth = \"password\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_stored_secret_belongs_to_one_server() {
        let keychain = Memory::default();
        let home = config("https://acme.example.com");
        keychain
            .set(&keyring_account(&home), &Secret::new("hunter2"))
            .unwrap();
        assert_eq!(
            keyring_account(&home),
            "ana@acme.example.com on https://acme.example.com"
        );
        assert_eq!(
            find_secret_in(&home, &keychain).unwrap().expose(),
            "hunter2"
        );
        // The same user and tenant at another address: nothing is found, so nothing is sent.
        for elsewhere in [
            "https://evil.example.net",
            "https://acme.example.com:8443",
            "http://127.0.0.1:9",
        ] {
            let err = find_secret_in(&config(elsewhere), &keychain).unwrap_err();
            assert!(err.to_string().contains(elsewhere), "{err}");
        }
    }

    #[test]
    fn an_unbound_entry_of_an_older_version_is_moved_to_its_server() {
        let keychain = Memory::default();
        let home = config("https://acme.example.com");
        keychain
            .set("ana@acme.example.com", &Secret::new("hunter2"))
            .unwrap();
        assert_eq!(
            find_secret_in(&home, &keychain).unwrap().expose(),
            "hunter2"
        );
        let entries: Vec<String> = keychain.0.borrow().keys().cloned().collect();
        assert_eq!(entries, [keyring_account(&home)], "moved, not copied");
        // From then on it is bound: another server does not get it.
        assert!(find_secret_in(&config("https://evil.example.net"), &keychain).is_err());
    }

    #[test]
    fn a_session_secret_is_found_for_its_server_only() {
        let home = config("https://session.example.com");
        keep_for_session(&home, Secret::new("for-now"));
        let keychain = Memory::default();
        assert_eq!(
            find_secret_in(&home, &keychain).unwrap().expose(),
            "for-now"
        );
        assert!(find_secret_in(&config("https://other.example.com"), &keychain).is_err());
    }
}
