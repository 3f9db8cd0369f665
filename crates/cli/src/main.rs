//! `lookout`: the command line of Lookout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use lookout_core::{Config, Plan, Snapshot, secrets};
use lookout_sim::{Profile, Scenario, SimConfig};
use lookout_statsapi::{Client, ClientOptions, Error as ApiError, PollOutcome};

mod render;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Real-time alerts for Bright Pattern contact-center supervisors",
    long_about = "Lookout keeps a Bright Pattern real-time statistics subscription alive, runs your rules over it and tells you when something needs you.\n\nSecrets come from the environment (LOOKOUT_CLIENT_SECRET for OAuth, LOOKOUT_PASSWORD for password logins) or the OS keychain, never from the config file or the command line."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated Bright Pattern tenant on this machine (no server, no account needed)
    Sim(SimArgs),
    /// Connect, fetch one snapshot of the real-time statistics, print it and disconnect
    Snapshot(SnapshotArgs),
    /// Run the simulated tenant with the demo scenario and watch it live
    Demo(DemoArgs),
}

#[derive(clap::Args)]
struct SimArgs {
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Scenario file scripting events and faults (see docs/scenarios.md); `demo` for the built-in one
    #[arg(long)]
    scenario: Option<String>,
    /// Version profile: 3.12, 5.2, 5.3, 5.36 (or latest)
    #[arg(long, default_value = lookout_sim::profile::DEFAULT_PROFILE)]
    profile: String,
    /// Seed for the contact-center model (the same seed gives the same tenant)
    #[arg(long)]
    seed: Option<u64>,
    /// Number of agents
    #[arg(long)]
    agents: Option<usize>,
    /// Tenant-wide limit of active subscriptions
    #[arg(long, default_value_t = 10)]
    subscription_limit: usize,
    /// Write a config file for this tenant to FILE (no secret goes in it)
    #[arg(long, value_name = "FILE")]
    write_config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(clap::Args)]
struct SnapshotArgs {
    /// Config file (default: the OS config dir's lookout/config.toml)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Give up when no data has come after this many seconds
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C)
    #[arg(long)]
    duration: Option<u64>,
    /// Poll interval in seconds
    #[arg(long, default_value_t = 2)]
    interval: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOOKOUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lookout: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Sim(a) => run_sim(a).await,
            Command::Snapshot(a) => run_snapshot(a).await,
            Command::Demo(a) => run_demo(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lookout: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_scenario(arg: Option<&str>) -> Result<Scenario> {
    match arg {
        None => Ok(Scenario::default()),
        Some("demo") => Scenario::parse(lookout_sim::DEMO_SCENARIO)
            .map_err(|e| anyhow::anyhow!("the built-in demo scenario: {e}")),
        Some(path) => Ok(Scenario::load(std::path::Path::new(path))?),
    }
}

async fn run_sim(a: SimArgs) -> Result<()> {
    let profile = Profile::named(&a.profile).map_err(anyhow::Error::msg)?;
    let scenario = load_scenario(a.scenario.as_deref())?;
    let scenario_name = scenario.name.clone();
    let mut cfg = SimConfig {
        profile: profile.clone(),
        subscription_limit: a.subscription_limit,
        ..SimConfig::default()
    }
    .with_scenario(scenario);
    if let Some(s) = a.seed {
        cfg.model.seed = s;
    }
    if let Some(n) = a.agents {
        cfg.model.agents = n;
    }
    let tenant = cfg.tenant.clone();
    let user = cfg.users[0].clone();
    let handle = lookout_sim::start(cfg, SocketAddr::new(a.bind, a.port))
        .await
        .map_err(anyhow::Error::msg)?;
    let url = handle.url();
    // Built first and written once, ignoring a closed stdout: the tenant keeps serving when
    // whoever started it stopped reading (`lookout sim | head -1`).
    let mut banner = format!("Simulated tenant listening on {url}\n  profile   {profile}\n");
    if let Some(n) = scenario_name {
        banner += &format!("  scenario  {n}\n");
    }
    banner += &format!("  tenant    {tenant}\n  username  {}\n", user.name);
    if profile.oauth {
        banner += &format!(
            "  auth = \"oauth\":    export LOOKOUT_CLIENT_SECRET={}\n",
            user.api_secret
        );
    }
    if profile.legacy_login {
        banner += &format!(
            "  auth = \"password\": export LOOKOUT_PASSWORD={}\n",
            user.password
        );
    }
    let config = sim_config(&url, &tenant, &user.name, &profile);
    match &a.write_config {
        Some(path) => {
            std::fs::write(path, config.to_toml())
                .with_context(|| format!("cannot write {}", path.display()))?;
            banner += &format!("Config written to {}\n", path.display());
        }
        None => {
            banner += &format!(
                "A config file for it (lookout snapshot --config FILE):\n\n{}\n",
                config.to_toml()
            );
        }
    }
    banner += "Press Ctrl-C to stop.\n";
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    handle.stop().await;
    Ok(())
}

fn sim_config(url: &str, tenant: &str, user: &str, profile: &Profile) -> Config {
    Config {
        server: lookout_core::config::ServerConfig {
            url: url.to_string(),
            tenant: Some(tenant.to_string()),
            username: user.to_string(),
            auth: if profile.oauth {
                lookout_core::AuthMode::OAuth
            } else {
                lookout_core::AuthMode::Password
            },
            poll_interval_secs: 2,
            stat_key: None,
        },
        availability: lookout_core::config::AvailabilityConfig {
            services: vec!["Sales".into(), "Billing".into()],
        },
    }
}

fn client_for(config: &Config, secret: lookout_statsapi::Secret) -> Result<Client> {
    let opts = ClientOptions {
        stat_key: config.server.stat_key.unwrap_or_default(),
        ..ClientOptions::default()
    };
    Ok(Client::new(
        &config.server.url,
        secrets::auth_for(config, secret),
        opts,
    )?)
}

/// Log in, subscribe, and wait for the first data (re-subscribing once if the server lost the
/// subscription meanwhile). Prints progress on stderr.
async fn first_snapshot(
    client: &mut Client,
    plan: &Plan,
    config: &Config,
    timeout: Duration,
) -> Result<Snapshot> {
    client.authenticate().await?;
    client.create_subscription(&plan.request()).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let interval = Duration::from_secs(config.server.poll_interval_secs.clamp(1, 5));
    let mut resubscribed = false;
    loop {
        match client.poll_data().await {
            Ok(PollOutcome::Data(data)) => {
                let mut snap = Snapshot::from_data(plan, &data, unix_now());
                add_availability(client, config, &mut snap).await?;
                return Ok(snap);
            }
            Ok(PollOutcome::NotReady) => {
                eprintln!("waiting for data…");
            }
            Err(ApiError::NoSubscription { .. }) if !resubscribed => {
                resubscribed = true;
                client.create_subscription(&plan.request()).await?;
            }
            Err(e) => return Err(e.into()),
        }
        if tokio::time::Instant::now() + interval > deadline {
            bail!(
                "no data from {} within {} s (the server kept answering 204 \"not ready\")",
                config.server.url,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(interval).await;
    }
}

/// Ask `check_available_agents` for each configured service and record the answers.
async fn add_availability(client: &Client, config: &Config, snap: &mut Snapshot) -> Result<()> {
    for service in &config.availability.services {
        let available = client
            .check_available_agents(service)
            .await
            .with_context(|| format!("availability of service `{service}`"))?;
        snap.availability.insert(service.clone(), available);
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn run_snapshot(a: SnapshotArgs) -> Result<()> {
    let config = Config::load(a.config.as_deref())?;
    let for_secret = config.clone();
    let secret = tokio::task::spawn_blocking(move || secrets::find_secret(&for_secret))
        .await
        .context("the keychain lookup failed")??;
    let mut client = client_for(&config, secret)?;
    let plan = Plan::overview();
    let result = first_snapshot(&mut client, &plan, &config, Duration::from_secs(a.timeout)).await;
    // Free the tenant's subscription slot whatever happened.
    if client.has_session() {
        match tokio::time::timeout(Duration::from_secs(5), client.delete_subscription()).await {
            Ok(Ok(())) | Ok(Err(ApiError::NoSubscription { .. })) => {}
            Ok(Err(e)) => eprintln!("lookout: warning: could not delete the subscription: {e}"),
            Err(_) => eprintln!("lookout: warning: deleting the subscription timed out"),
        }
    }
    let snap = result?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&snap)?),
        Format::Text => print!("{}", render::snapshot_text(&snap)),
    }
    Ok(())
}

async fn run_demo(a: DemoArgs) -> Result<()> {
    let scenario = load_scenario(Some("demo"))?;
    let cfg = SimConfig::default().with_scenario(scenario);
    let user = cfg.users[0].clone();
    let profile = cfg.profile.clone();
    let tenant = cfg.tenant.clone();
    let handle = lookout_sim::start(cfg, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .map_err(anyhow::Error::msg)?;
    let mut config = sim_config(&handle.url(), &tenant, &user.name, &profile);
    config.server.poll_interval_secs = a.interval.max(1);
    println!(
        "Demo: simulated tenant at {} with the demo scenario; one line per poll. Ctrl-C stops.",
        handle.url()
    );
    let mut client = client_for(&config, lookout_statsapi::Secret::new(user.api_secret))?;
    let plan = Plan::overview();
    let interval = Duration::from_secs(config.server.poll_interval_secs);
    let stop_at = a
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs(d));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let run = async {
        client.authenticate().await?;
        client.create_subscription(&plan.request()).await?;
        loop {
            ticker.tick().await;
            if stop_at.is_some_and(|t| tokio::time::Instant::now() >= t) {
                return Ok::<(), anyhow::Error>(());
            }
            let line = match client.poll_data().await {
                Ok(PollOutcome::Data(data)) => {
                    let mut snap = Snapshot::from_data(&plan, &data, unix_now());
                    match add_availability(&client, &config, &mut snap).await {
                        Ok(()) => render::summary_line(&snap),
                        Err(e) => format!("{}  (error: {e:#})", render::summary_line(&snap)),
                    }
                }
                Ok(PollOutcome::NotReady) => "waiting for data…".to_string(),
                Err(e) => format!("error: {e}"),
            };
            println!("{}  {line}", render::clock(unix_now()));
        }
    };
    tokio::select! {
        r = run => r?,
        _ = tokio::signal::ctrl_c() => println!("stopping…"),
    }
    let _ = client.delete_subscription().await;
    handle.stop().await;
    Ok(())
}
