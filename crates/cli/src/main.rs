//! `lookout`: the command line of Lookout.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use std::sync::Arc;
use std::time::SystemTime;

use lookout_keeper::session::{self as keeper, ShutdownReport};
use lookout_keeper::{Config, ConnectionStatus, KeeperHandle, KeeperOptions, Plan, Snapshot};
use lookout_pipeline::{Note, Setup, demo, secrets};
use lookout_sim::{Profile, Scenario, SimConfig};
use lookout_statsapi::Client;

mod render;
mod rules_cli;
mod team;

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
    /// Run the simulated tenant with the demo scenario and watch it with the shipped rules
    Demo(DemoArgs),
    /// Watch a tenant: keep the subscription alive, run the rules, notify
    Watch(WatchArgs),
    /// Check, test and document rules
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Record live snapshots to a file, for `lookout rules replay`
    Record(RecordArgs),
    /// Team mode: hold the one subscription per tenant, run the team's rules once and publish
    /// to the desks through a NATS broker (docs/team.md)
    Hub(team::HubArgs),
    /// Acknowledge an alert for everyone, through the hub
    Ack(team::AckArgs),
    /// Snooze an alert on your own desks, through the hub
    Snooze(team::SnoozeArgs),
    /// Print a supervisor's (or a hub's) user for the broker's configuration
    NatsUser(team::NatsUserArgs),
}

#[derive(clap::Args)]
struct RecordArgs {
    /// Where to write the recording (JSON lines)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Stop after this long (e.g. 10m, 1h; default: until Ctrl-C)
    #[arg(long)]
    duration: Option<String>,
    /// Config file (default: the OS config dir's lookout/config.toml)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Subscribe to what the rules in this folder need (default: the overview's statistics)
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Compile, validate and lint every rule in DIR; exit 1 on any error
    Check {
        /// The rules folder
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Run the rule tests in DIR/tests/*.toml; exit 1 on any failure
    Test {
        /// The rules folder
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Run the rules over a recording (`lookout record`) and print what would have fired when
    Replay {
        /// The recording
        #[arg(long, value_name = "FILE")]
        recording: PathBuf,
        /// The rules folder
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Show what each rule would fire now against the tenant (or at each point of a
    /// recording), without notifying anyone
    Preview {
        /// Config file of the tenant (default: the OS config dir's lookout/config.toml)
        #[arg(long, value_name = "FILE", conflicts_with = "recording")]
        config: Option<PathBuf>,
        /// A recording (`lookout record`) instead of the live tenant
        #[arg(long, value_name = "FILE")]
        recording: Option<PathBuf>,
        /// The rules folder (default: the config's, or `rules`)
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Only these rules: ids (file names without .rhai) or paths to .rhai files
        #[arg(value_name = "RULE")]
        only: Vec<PathBuf>,
    },
    /// Write Rhai definition files for the language server, so editors complete the rule API
    Defs {
        /// Where to write them
        #[arg(long, default_value = "rules/.defs")]
        out: PathBuf,
    },
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
    /// Where notifications go (default: the desktop when a notification server is running,
    /// else stdout)
    #[arg(long, value_enum)]
    notify: Option<NotifyTo>,
    /// Team mode: a NATS broker of its own (nats-server), a hub and two desks; an
    /// acknowledgement on one desk shows on the other
    #[arg(long, conflicts_with = "notify")]
    team: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NotifyTo {
    Desktop,
    Stdout,
    None,
}

#[derive(clap::Args)]
struct WatchArgs {
    /// Config file (default: the OS config dir's lookout/config.toml); give several, or --hub
    /// beside it, to watch several sources at once
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// The rules folder (default: [rules] dir of the config, or `rules` beside it; the shipped
    /// rules are put there when it does not exist). With --hub: rules of your own, run over
    /// what the hub publishes, beside the hub's
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Where notifications go (default: the desktop when a notification server is running,
    /// else stdout)
    #[arg(long, value_enum)]
    notify: Option<NotifyTo>,
    /// Output on stdout: text for people, or one JSON object per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Stop after this long (e.g. 30m; default: until Ctrl-C)
    #[arg(long)]
    duration: Option<String>,
    #[command(flatten)]
    desk: team::DeskArgs,
}

fn main() -> ExitCode {
    lookout_pipeline::limit_memory_arenas();
    // SAFETY: the first thing the program does, before any other thread exists.
    unsafe { secrets::take_from_environment() };
    let cli = Cli::parse();
    lookout_pipeline::init_logging();
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
            Command::Watch(a) => run_watch(a).await,
            // On a thread with a rule thread's stack: a rule nested as deeply as the limits
            // allow must not overflow the main thread's.
            Command::Rules(RulesCommand::Preview {
                config,
                recording,
                rules,
                only,
            }) => rules_cli::preview(config, recording, rules, only).await,
            Command::Rules(c) => lookout_rules::with_rule_stack(|| rules_cli::run(c))
                .map_err(anyhow::Error::from)
                .and_then(|r| r),
            Command::Record(a) => run_record(a).await,
            Command::Hub(a) => team::run_hub(a).await,
            Command::Ack(a) => team::run_ack(a).await,
            Command::Snooze(a) => team::run_snooze(a).await,
            Command::NatsUser(a) => team::run_nats_user(a),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Interrupted>() => ExitCode::from(130),
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
    let config = demo::sim_config(&url, &tenant, &user.name, &profile);
    match &a.write_config {
        Some(path) => {
            lookout_keeper::files::write_private_atomic(path, config.to_toml().as_bytes())
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
    interrupted("stopping the simulated tenant").await;
    handle.stop().await;
    Ok(())
}

/// The user pressed Ctrl-C before the command was done (exit status 130, like a shell).
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Wait for Ctrl-C. From then on a second Ctrl-C quits at once, without cleaning up.
/// After `duration` (`None`: never), or at Ctrl-C (saying `what` happens then).
async fn until_stopped(duration: Option<Duration>, what: &'static str) {
    let limit = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = limit => {}
        () = interrupted(what) => {}
    }
}

/// Ctrl-C, or (on Unix) SIGTERM, as a service manager stops a service: the same orderly stop.
async fn interrupted(what: &'static str) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: never interrupted.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("lookout: {what} (Ctrl-C again to quit at once)…");
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("lookout: quitting at once");
            std::process::exit(130);
        }
    });
}

/// Run the session keeper for `config`.
pub(crate) fn start_keeper(config: &Config, client: Client, plan: Plan) -> KeeperHandle {
    keeper::spawn(client, plan, KeeperOptions::from_config(config))
}

/// Stop the keeper and say so if the subscription could not be deleted.
pub(crate) async fn stop_keeper(keeper: KeeperHandle) -> ShutdownReport {
    let report = keeper.shutdown().await;
    if let Some(p) = &report.problem {
        eprintln!("lookout: warning: {p}; the tenant frees the slot when the session expires");
    }
    report
}

/// Wait for the keeper's first snapshot, showing its progress on stderr. Gives up when it
/// fails, when `timeout` passes, or on Ctrl-C.
pub(crate) async fn first_snapshot(
    keeper: &mut KeeperHandle,
    timeout: Duration,
) -> Result<Arc<Snapshot>> {
    let mut changes = keeper
        .take_changes()
        .context("the keeper's status changes were already taken")?;
    let mut snapshots = keeper.snapshots();
    let status = keeper.status();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some(s) = changes.recv() => match &s {
                ConnectionStatus::Failed { reason } => bail!("{reason}"),
                ConnectionStatus::Live { .. } => {}
                other => eprintln!("lookout: {}", other.describe(SystemTime::now())),
            },
            Ok(()) = snapshots.changed() => {
                if let Some(snap) = snapshots.borrow_and_update().clone() {
                    return Ok(snap);
                }
            }
            () = &mut deadline => {
                let last = status.borrow().clone();
                match last.problem() {
                    Some(p) => bail!("no data within {} s; the last problem: {p}", timeout.as_secs()),
                    None => bail!(
                        "no data within {} s (the connection is {})",
                        timeout.as_secs(),
                        last.describe(SystemTime::now())
                    ),
                }
            }
            () = interrupted("interrupted; deleting the subscription") => return Err(Interrupted.into()),
        }
    }
}

async fn run_snapshot(a: SnapshotArgs) -> Result<()> {
    let config = Config::load(a.config.as_deref())?;
    let client = secrets::connect(&config)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut keeper = start_keeper(&config, client, Plan::overview());
    let result = first_snapshot(&mut keeper, Duration::from_secs(a.timeout)).await;
    // Free the tenant's subscription slot whatever happened.
    stop_keeper(keeper).await;
    let snap = result?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&*snap)?),
        Format::Text => print!("{}", render::snapshot_text(&snap)),
    }
    Ok(())
}

async fn run_demo(a: DemoArgs) -> Result<()> {
    if a.team {
        return team::run_team_demo(a.duration.map(Duration::from_secs)).await;
    }
    let demo = demo::Demo::start(demo::scenario().map_err(anyhow::Error::msg)?)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut config = demo.config.clone();
    config.server.poll_interval_secs = a.interval.max(1);
    println!(
        "Demo: a simulated tenant at {} with the demo scenario, watched with the shipped rules ({}). Ctrl-C stops.",
        demo.url(),
        demo.rules_dir().display()
    );
    let result = match demo.setup(&config) {
        Ok(setup) => {
            watch_with(
                &config,
                setup,
                a.notify,
                Format::Text,
                a.duration.map(Duration::from_secs),
            )
            .await
        }
        Err(e) => Err(anyhow::Error::msg(e)),
    };
    demo.stop().await;
    result
}

async fn run_watch(a: WatchArgs) -> Result<()> {
    let duration = parse_duration_arg(a.duration.as_deref())?;
    if a.config.len() + a.desk.hub.len() > 1 {
        return team::watch_several(
            &a.config,
            a.rules.as_deref(),
            &a.desk,
            a.notify,
            a.format,
            duration,
        )
        .await;
    }
    if !a.desk.hub.is_empty() {
        // Rules given here are this desk's own, over what the hub publishes.
        let sound = lookout_alerting::notify::sound::Sounds::default();
        return team::watch_desk(
            &a.desk,
            a.rules.clone(),
            a.notify,
            sound,
            a.format,
            duration,
        )
        .await;
    }
    let config_path = match a.config.first() {
        Some(p) => p.clone(),
        None => Config::default_path()?,
    };
    let config = Config::load(Some(&config_path))?;
    let rules_dir = a
        .rules
        .clone()
        .unwrap_or_else(|| config.rules_dir(&config_path));
    if !rules_dir.exists() {
        let n = lookout_rules::pack::install(&rules_dir)
            .with_context(|| format!("cannot create the rules folder {}", rules_dir.display()))?;
        eprintln!(
            "lookout: no rules folder at {}; put the {n} files of the shipped rules there. Edit them to taste (docs/rules.md).",
            rules_dir.display()
        );
    }
    let store_path = lookout_alerting::store::Store::default_path()
        .context("cannot tell where to keep Lookout's state on this system (no home directory)")?;
    let client = secrets::connect(&config)
        .await
        .map_err(anyhow::Error::msg)?;
    let setup = Setup::from_config(&config, client, rules_dir, store_path);
    watch_with(&config, setup, a.notify, a.format, duration).await
}

fn parse_duration_arg(d: Option<&str>) -> Result<Option<Duration>> {
    d.map(|d| {
        humantime::parse_duration(d)
            .with_context(|| format!("--duration `{d}`: not a duration like 10m or 1h"))
    })
    .transpose()
}

/// The notifier asked for, or the desktop when a notification server answers and stdout
/// otherwise.
fn pick_notifier(
    to: Option<NotifyTo>,
    format: Format,
    sound: lookout_alerting::notify::sound::Sounds,
    actions: tokio::sync::mpsc::UnboundedSender<lookout_alerting::notify::ActionEvent>,
) -> Result<Box<dyn lookout_alerting::notify::Notifier>> {
    use lookout_alerting::notify::{self, desktop::DesktopNotifier};
    let stdout = || -> Box<dyn notify::Notifier> {
        Box::new(notify::StdoutNotifier {
            format: match format {
                Format::Json => notify::Format::Json,
                Format::Text => notify::Format::Text,
            },
        })
    };
    Ok(match to {
        Some(NotifyTo::Stdout) => stdout(),
        Some(NotifyTo::None) => Box::new(notify::NoNotifier),
        Some(NotifyTo::Desktop) => Box::new(
            DesktopNotifier::connect(Some(actions))
                .map_err(|e| {
                    anyhow::anyhow!("{e}; start a notification server or use --notify stdout")
                })?
                .with_sounds(sound),
        ),
        None => match DesktopNotifier::connect(Some(actions)) {
            Ok(d) => Box::new(d.with_sounds(sound)),
            Err(e) => {
                eprintln!("lookout: {e}; notifications go to stdout");
                stdout()
            }
        },
    })
}

/// The sounds `config` asks for.
pub(crate) fn sounds_of(config: &Config) -> lookout_alerting::notify::sound::Sounds {
    lookout_alerting::notify::sound::Sounds::from_config(config.notifications.sound, &config.sounds)
}

/// Watch with `client` until Ctrl-C or `duration`.
async fn watch_with(
    config: &Config,
    setup: Setup,
    notify_to: Option<NotifyTo>,
    format: Format,
    duration: Option<Duration>,
) -> Result<()> {
    let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
    let notifier = pick_notifier(notify_to, format, sounds_of(config), action_tx)?;

    let stop = until_stopped(
        duration,
        "stopping: deleting the subscription and saving state",
    );
    let report = move |r: Note| match r {
        Note::Status(s) => match format {
            Format::Json => println!("{}", status_json(&s)),
            Format::Text => println!(
                "{}  connection: {}",
                render::clock(lookout_keeper::unix_now()),
                terminal(&s.describe(SystemTime::now()))
            ),
        },
        Note::Problem(p) => eprintln!("lookout: warning: {}", terminal(&p)),
    };
    let shut = lookout_pipeline::run(setup, notifier, Some(action_rx), report, stop)
        .await
        .map_err(anyhow::Error::msg)?;
    if let Some(p) = &shut.problem {
        eprintln!("lookout: warning: {p}; the tenant frees the slot when the session expires");
    }
    Ok(())
}

/// Text for the terminal: no control characters (a server's or a rule's words cannot steer it).
fn terminal(text: &str) -> String {
    lookout_statsapi::printable(text, 4000)
}

/// `{"type":"status","state":"…","detail":"…"}`.
fn status_json(s: &ConnectionStatus) -> String {
    serde_json::json!({
        "type": "status",
        "state": s.state(),
        "detail": s.describe(SystemTime::now()),
    })
    .to_string()
}

async fn run_record(a: RecordArgs) -> Result<()> {
    let duration = parse_duration_arg(a.duration.as_deref())?;
    let config = Config::load(a.config.as_deref())?;
    let plan = match &a.rules {
        Some(dir) => {
            let engine = lookout_rules::RuleEngine::default();
            lookout_rules::RuleSet::load(&engine, dir)
                .with_context(|| format!("cannot read the rules folder {}", dir.display()))?
                .plan()
        }
        None => Plan::overview(),
    };
    // Names and chat text: private to the user.
    let file = lookout_keeper::files::create_private(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut recorder = lookout_keeper::recording::Recorder::new(std::io::BufWriter::new(file));
    let client = secrets::connect(&config)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut keeper = start_keeper(&config, client, plan);
    let mut changes = keeper
        .take_changes()
        .context("the keeper's status changes were already taken")?;
    let mut snapshots = keeper.snapshots();
    let stop = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let interrupt = interrupted("stopping: deleting the subscription");
    tokio::pin!(interrupt);
    eprintln!("Recording to {}; Ctrl-C stops.", a.out.display());
    let result = loop {
        tokio::select! {
            Some(s) = changes.recv() => {
                eprintln!("lookout: {}", s.describe(SystemTime::now()));
            }
            Ok(()) = snapshots.changed() => {
                let snap = snapshots.borrow_and_update().clone();
                if let Some(snap) = snap {
                    if let Err(e) = recorder.write(&snap) {
                        break Err(anyhow::anyhow!("cannot write {}: {e}", a.out.display()));
                    }
                    eprint!("\r{} snapshots recorded", recorder.written);
                }
            }
            () = &mut stop => break Ok(()),
            () = &mut interrupt => break Ok(()),
        }
    };
    eprintln!();
    stop_keeper(keeper).await;
    result?;
    println!("{} snapshots in {}", recorder.written, a.out.display());
    Ok(())
}
