//! The demo: the simulated tenant on loopback with the demo scenario, watched with the shipped
//! rules from a private folder of its own. `lookout demo` and the desktop app's demo both start
//! it here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use lookout_keeper::Config;
use lookout_keeper::config::{AuthMode, AvailabilityConfig, ServerConfig};
use lookout_sim::{Profile, Scenario, SimConfig, SimHandle};

use crate::run::Setup;

/// Where a scenario of one's own for the demo may be given.
pub const SCENARIO_ENV: &str = "LOOKOUT_DEMO_SCENARIO";

/// A running demo: the simulated tenant and the demo's private folder (rules and state), both
/// gone when it is stopped or dropped.
pub struct Demo {
    sim: SimHandle,
    /// A config for the simulated tenant (its secret is not in it).
    pub config: Config,
    secret: lookout_statsapi::Secret,
    place: tempfile::TempDir,
}

/// The demo scenario: the file named by `LOOKOUT_DEMO_SCENARIO`, or the built-in one.
pub fn scenario() -> Result<Scenario, String> {
    match std::env::var_os(SCENARIO_ENV) {
        Some(path) => Scenario::load(std::path::Path::new(&path)).map_err(|e| e.to_string()),
        None => Scenario::parse(lookout_sim::DEMO_SCENARIO)
            .map_err(|e| format!("the built-in demo scenario: {e}")),
    }
}

/// A config for a simulated tenant at `url`: its tenant, its user, the login its profile takes,
/// and availability checks of the demo's services.
pub fn sim_config(url: &str, tenant: &str, user: &str, profile: &Profile) -> Config {
    Config {
        server: ServerConfig {
            tenant: Some(tenant.to_string()),
            ..ServerConfig::new(
                url,
                user,
                if profile.oauth {
                    AuthMode::OAuth
                } else {
                    AuthMode::Password
                },
            )
        },
        availability: AvailabilityConfig {
            services: vec!["Sales".into(), "Billing".into()],
            ..Default::default()
        },
        rules: Default::default(),
        alerts: Default::default(),
        notifications: Default::default(),
        hub: Default::default(),
        schedules: Default::default(),
        escalation: Default::default(),
        sounds: Default::default(),
    }
}

impl Demo {
    /// Start the simulated tenant with `scenario` and put the shipped rules in a fresh private
    /// folder: another local user can neither plant rules in it nor links where its state is
    /// written.
    pub async fn start(scenario: Scenario) -> Result<Demo, String> {
        let cfg = SimConfig::default().with_scenario(scenario);
        let user = cfg.users[0].clone();
        let profile = cfg.profile.clone();
        let tenant = cfg.tenant.clone();
        let place = lookout_keeper::files::private_temp_dir("lookout-demo-")
            .map_err(|e| format!("cannot make a folder for the demo: {e}"))?;
        let rules_dir = place.path().join("rules");
        lookout_rules::pack::install(&rules_dir).map_err(|e| {
            format!(
                "cannot write the demo rules to {}: {e}",
                rules_dir.display()
            )
        })?;
        let sim =
            lookout_sim::start(cfg, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
        let config = sim_config(&sim.url(), &tenant, &user.name, &profile);
        Ok(Demo {
            sim,
            config,
            secret: lookout_statsapi::Secret::new(user.api_secret),
            place,
        })
    }

    /// The simulated tenant's address.
    pub fn url(&self) -> String {
        self.sim.url()
    }

    /// The simulated tenant (to look at what it serves, or steer it).
    pub fn sim(&self) -> &SimHandle {
        &self.sim
    }

    /// The demo's rules folder.
    pub fn rules_dir(&self) -> PathBuf {
        self.place.path().join("rules")
    }

    /// What the pipeline needs to watch the demo (with `config`, which may differ from
    /// [`Demo::config`] in how often it polls).
    pub fn setup(&self, config: &Config) -> Result<Setup, String> {
        let client =
            crate::secrets::client_for(config, self.secret.clone()).map_err(|e| e.to_string())?;
        Ok(Setup::from_config(
            config,
            client,
            self.rules_dir(),
            self.place.path().join("state.json"),
        ))
    }

    /// Stop the simulated tenant and remove the demo's folder.
    pub async fn stop(self) {
        self.sim.stop().await;
        drop(self.place);
    }
}
