//! The settings window's commands: load the config into a form, check and save it (the secret
//! goes to the OS keychain, never the file), and test a connection saying exactly what failed.

use std::path::PathBuf;

use lookout_core::config::{
    AvailabilityConfig, NotificationsConfig, ResolvedNotices, ServerConfig,
};
use lookout_core::{AuthMode, Config, Plan, secrets};
use lookout_statsapi::Secret;
use serde::{Deserialize, Serialize};

/// The form as the window sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Form {
    pub url: String,
    pub tenant: String,
    pub username: String,
    /// `oauth` or `password`.
    pub auth: String,
    /// Empty: keep the stored secret.
    pub secret: String,
    pub poll_interval_secs: u64,
    pub rules_dir: String,
    /// Comma-separated service names.
    pub availability: String,
    pub sound: bool,
    /// `rule`, `all` or `none`.
    pub resolved: String,
    /// `HH:MM-HH:MM`, or empty.
    pub quiet_hours: String,
    /// Start the app at login. Not in the config file: the OS's login items are the truth.
    #[serde(default)]
    pub start_at_login: bool,
}

/// Where the config lives (`XDG_CONFIG_HOME` and the like are honoured).
pub fn config_path() -> Result<PathBuf, String> {
    Config::default_path().map_err(|e| e.to_string())
}

/// The form for the config on disk, or an empty form with defaults.
pub fn load() -> Form {
    let Ok(path) = config_path() else {
        return Form::default();
    };
    match Config::load(Some(&path)) {
        Ok(c) => Form {
            url: c.server.url.clone(),
            tenant: c.server.tenant.clone().unwrap_or_default(),
            username: c.server.username.clone(),
            auth: match c.server.auth {
                AuthMode::OAuth => "oauth".into(),
                AuthMode::Password => "password".into(),
            },
            secret: String::new(),
            poll_interval_secs: c.server.poll_interval_secs,
            rules_dir: c
                .rules
                .dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            availability: c.availability.services.join(", "),
            sound: c.notifications.sound,
            resolved: match c.notifications.resolved {
                ResolvedNotices::Rule => "rule".into(),
                ResolvedNotices::All => "all".into(),
                ResolvedNotices::None => "none".into(),
            },
            quiet_hours: c.notifications.quiet_hours.clone().unwrap_or_default(),
            start_at_login: false,
        },
        Err(_) => Form {
            auth: "oauth".into(),
            poll_interval_secs: 2,
            sound: true,
            resolved: "rule".into(),
            ..Form::default()
        },
    }
}

/// The config a form describes, checked the way a config file is: errors name the field.
pub fn to_config(f: &Form) -> Result<Config, String> {
    let auth = match f.auth.as_str() {
        "oauth" => AuthMode::OAuth,
        "password" => AuthMode::Password,
        other => return Err(format!("Sign-in: `{other}` is not OAuth or password")),
    };
    let config = Config {
        server: ServerConfig {
            url: f.url.trim().to_string(),
            tenant: Some(f.tenant.trim().to_string()).filter(|t| !t.is_empty()),
            username: f.username.trim().to_string(),
            auth,
            poll_interval_secs: f.poll_interval_secs,
            stat_key: None,
        },
        availability: AvailabilityConfig {
            services: f
                .availability
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            ..AvailabilityConfig::default()
        },
        rules: lookout_core::config::RulesConfig {
            dir: Some(f.rules_dir.trim())
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        },
        alerts: Default::default(),
        notifications: NotificationsConfig {
            sound: f.sound,
            resolved: match f.resolved.as_str() {
                "all" => ResolvedNotices::All,
                "none" => ResolvedNotices::None,
                _ => ResolvedNotices::Rule,
            },
            quiet_hours: Some(f.quiet_hours.trim().to_string()).filter(|q| !q.is_empty()),
        },
    };
    // The same checks as a file gets, so the window and the file never disagree.
    Config::parse(&config.to_toml()).map_err(|e| humane(&e))
}

/// "[server] url: …" → "Server address: …".
fn humane(e: &str) -> String {
    e.replacen("[server] url", "Server address", 1)
        .replacen("[server] username", "Username", 1)
        .replacen("[server] poll_interval_secs", "Poll interval", 1)
        .replacen("[server] tenant", "Tenant", 1)
        .replacen("[availability] services", "Services to check", 1)
        .replacen("[notifications] quiet_hours", "Quiet hours", 1)
}

/// Check and save: the file first (no secret in it), then the secret to the keychain.
pub fn save(f: &Form) -> Result<String, String> {
    let config = to_config(f)?;
    let path = config_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&path, config.to_toml())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if !f.secret.is_empty() {
        secrets::store_secret(&config, &Secret::new(&f.secret)).map_err(|e| {
            format!(
                "Saved to {}, but {e}. Unlock or install a keychain (Secret Service) and save \
                 again, or leave the secret empty and set {} in Lookout's environment.",
                path.display(),
                config.server.auth.secret_env()
            )
        })?;
    }
    Ok(format!("Saved to {}", path.display()))
}

/// Log in, subscribe and unsubscribe with the form's settings; say what happened.
pub async fn test_connection(f: Form) -> Result<String, String> {
    let config = to_config(&f)?;
    let mut client = if f.secret.is_empty() {
        secrets::connect(&config).await?
    } else {
        secrets::client_for(&config, Secret::new(&f.secret)).map_err(|e| e.to_string())?
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
            auth: "oauth".into(),
            secret: "hunter2".into(),
            poll_interval_secs: 2,
            rules_dir: String::new(),
            availability: "Sales, Billing".into(),
            sound: true,
            resolved: "all".into(),
            quiet_hours: "22:00-07:00".into(),
            start_at_login: false,
        }
    }

    #[test]
    fn a_good_form_is_a_config_and_bad_ones_say_which_field() {
        let c = to_config(&good()).unwrap();
        assert_eq!(c.availability.services, ["Sales", "Billing"]);
        assert_eq!(c.notifications.resolved, ResolvedNotices::All);
        assert_eq!(c.notifications.quiet_hours.as_deref(), Some("22:00-07:00"));
        assert!(
            !c.to_toml().contains("hunter2"),
            "the secret never goes in the file"
        );
        let bad = [
            (
                Form {
                    url: "http://example.com".into(),
                    ..good()
                },
                "Server address",
            ),
            (
                Form {
                    username: " ".into(),
                    ..good()
                },
                "Username",
            ),
            (
                Form {
                    poll_interval_secs: 0,
                    ..good()
                },
                "Poll interval",
            ),
            (
                Form {
                    auth: "kerberos".into(),
                    ..good()
                },
                "Sign-in",
            ),
        ];
        for (f, want) in bad {
            let e = to_config(&f).unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
