//! Reaching the broker: one way to connect for hubs, desks and the command line, with errors
//! that say what to do and never a password in them.

use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event};
use lookout_pipeline::secrets::Secret;

/// Where the broker is and who we are there.
#[derive(Clone)]
pub struct Login {
    /// `nats://host:port` (or `tls://…`).
    pub url: String,
    /// The NATS user; `None` on a broker without users.
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Login {
    /// `user` at the broker at `url`, its password from the environment or the keychain (the
    /// keychain may be a D-Bus call: looked up off the async runtime). No user: no password.
    pub async fn find(url: &str, user: Option<&str>) -> Result<Login, String> {
        let password = match user {
            None => None,
            Some(u) => {
                let (u_url, u_user) = (url.to_string(), u.to_string());
                let found = tokio::task::spawn_blocking(move || {
                    lookout_pipeline::secrets::find_nats_password(&u_url, &u_user)
                })
                .await
                .map_err(|e| format!("the keychain lookup failed: {e}"))?;
                Some(found.map_err(|e| e.to_string())?)
            }
        };
        Ok(Login {
            url: url.to_string(),
            user: user.map(str::to_string),
            password,
        })
    }
}

/// Why connecting failed: retrying helps, or it does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFailure {
    /// The broker cannot be reached now (down, wrong port, network): try again later.
    #[error("cannot reach the hub's broker at {url}: {why}")]
    Unreachable { url: String, why: String },
    /// The broker refused the user: retrying will not help.
    #[error(
        "the hub's broker at {url} refused {who}: wrong user or password (the password comes from LOOKOUT_NATS_PASSWORD or the keychain)"
    )]
    Refused { url: String, who: String },
    /// The address cannot work.
    #[error("{0}")]
    BadUrl(String),
}

impl ConnectFailure {
    /// Trying again may work.
    pub fn transient(&self) -> bool {
        matches!(self, ConnectFailure::Unreachable { .. })
    }
}

/// Check a broker address: `nats://`, `tls://` (or a bare `host:port`), and no password in it:
/// a password on a command line is visible to every local user.
pub fn check_url(url: &str) -> Result<(), ConnectFailure> {
    use lookout_keeper::config::{NatsUrlProblem, check_nats_url};
    match check_nats_url(url) {
        Ok(_) => Ok(()),
        Err(NatsUrlProblem::NotNats) => Err(ConnectFailure::BadUrl(format!(
            "`{url}` is not a NATS address: write nats://HOST:PORT (or tls://HOST:PORT)"
        ))),
        Err(NatsUrlProblem::HoldsCredentials) => Err(ConnectFailure::BadUrl(
            "the hub's address holds a user or password: give the user with --user and the password in LOOKOUT_NATS_PASSWORD or the keychain, never in the address".into(),
        )),
        Err(NatsUrlProblem::NoHost) => Err(ConnectFailure::BadUrl(
            "the hub's address is empty: write nats://HOST:PORT".into(),
        )),
    }
}

/// Connect once (no retries here: the caller decides, with [`ConnectFailure::transient`]).
/// Once connected, the client reconnects by itself when the broker goes away; `events` hears
/// about it.
pub async fn connect(
    login: &Login,
    name: &str,
    events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
) -> Result<Client, ConnectFailure> {
    check_url(&login.url)?;
    let mut options = ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(3))
        .request_timeout(Some(Duration::from_secs(5)))
        // Reconnect for as long as it takes, at most every few seconds.
        .max_reconnects(None)
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis((250u64 << attempt.min(4)).min(4_000))
        });
    if let (Some(user), Some(password)) = (&login.user, &login.password) {
        options = options.user_and_password(user.clone(), password.expose().to_string());
    }
    if let Some(tx) = events {
        options = options.event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e);
            }
        });
    }
    let who = match &login.user {
        Some(u) => format!("user `{u}`"),
        None => "a connection without a user".into(),
    };
    options.connect(login.url.as_str()).await.map_err(|e| {
        let url = login.url.clone();
        match e.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                ConnectFailure::Refused { url, who }
            }
            ConnectErrorKind::ServerParse => ConnectFailure::BadUrl(format!(
                "`{url}` is not a NATS address: write nats://HOST:PORT"
            )),
            _ => ConnectFailure::Unreachable {
                url,
                why: e.to_string(),
            },
        }
    })
}

/// Connect, trying again with a growing pause (1 s to 30 s) while the broker cannot be
/// reached; each failed try goes to `tried`. A refusal ends it at once: trying again with the
/// same password would only fill the broker's log.
pub async fn connect_retrying(
    login: &Login,
    name: &str,
    events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
    mut tried: impl FnMut(&ConnectFailure, Duration),
) -> Result<Client, ConnectFailure> {
    let mut pause = Duration::from_secs(1);
    loop {
        match connect(login, name, events.clone()).await {
            Ok(c) => return Ok(c),
            Err(e) if e.transient() => {
                tried(&e, pause);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_with_a_password_is_refused_without_repeating_it() {
        let e = check_url("nats://ana:hunter2@hub:4222").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("LOOKOUT_NATS_PASSWORD"));
        assert!(check_url("http://hub:4222").is_err());
        assert!(check_url("nats://hub:4222").is_ok());
        assert!(check_url("hub:4222").is_ok());
    }

    #[test]
    fn a_login_never_prints_its_password() {
        let l = Login {
            url: "nats://hub:4222".into(),
            user: Some("ana".into()),
            password: Some(Secret::new("hunter2")),
        };
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
