//! Team mode on the command line: `lookout hub`, `lookout watch --hub`, `lookout ack`,
//! `lookout snooze` and `lookout nats-user` (see docs/team.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use lookout_alerting::notify::{Action, ActionEvent};
use lookout_hub::desk::{self, DeskNote, DeskOptions};
use lookout_hub::hub::{self, HubNote, HubOptions, Watched};
use lookout_hub::nats::Login;
use lookout_hub::subjects::{PasswordRef, desk_user, hub_user, password_var};
use lookout_keeper::Config;
use lookout_pipeline::secrets;
use lookout_pipeline::{Command, Note, Setup};

use crate::{Format, NotifyTo, interrupted, pick_notifier, status_json, terminal, until_stopped};

#[derive(clap::Args)]
pub struct HubArgs {
    /// A tenant's config file; give one per tenant the hub watches (default: the OS config
    /// dir's lookout/config.toml)
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// The rules folder, for every tenant (default: each config's [rules] dir)
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// The broker to publish on, nats://HOST:PORT (default: [hub] nats of the first config)
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// The hub's user at the broker (default: [hub] user); its password comes from
    /// LOOKOUT_NATS_PASSWORD or the keychain
    #[arg(long)]
    user: Option<String>,
    /// This hub's name, as desks and other hubs see it (default: host name and process id)
    #[arg(long)]
    name: Option<String>,
    /// The lease period: a standby hub takes over within about one and a third of it
    #[arg(long, default_value = "3s")]
    lease: String,
}

/// Where a desk reads from: a hub instead of Bright Pattern.
#[derive(clap::Args, Clone, Default)]
pub struct DeskArgs {
    /// Read a team hub at this broker instead of Bright Pattern: nats://HOST:PORT (no config
    /// file needed). `lookout watch` takes several, and --config files beside them
    #[arg(long, value_name = "URL", env = "LOOKOUT_HUB")]
    pub hub: Vec<String>,
    /// Your user at the hub's broker; the password comes from LOOKOUT_NATS_PASSWORD or the
    /// keychain
    #[arg(long, env = "LOOKOUT_NATS_USER")]
    pub user: Option<String>,
    /// The tenant to follow, when the hub watches several
    #[arg(long)]
    pub tenant: Option<String>,
    /// Read only this team (repeat for several; default: every team the broker lets you read)
    #[arg(long = "team", value_name = "TEAM")]
    pub teams: Vec<String>,
}

#[derive(clap::Args)]
pub struct AckArgs {
    /// The alert's key, as notifications and `lookout watch` show it
    key: String,
    /// Only the alert of this rule (its id, the file name without .rhai)
    #[arg(long)]
    rule: Option<String>,
    #[command(flatten)]
    desk: DeskArgs,
}

#[derive(clap::Args)]
pub struct SnoozeArgs {
    /// The alert's key, as notifications and `lookout watch` show it
    key: String,
    /// For how long (e.g. 15m, 1h)
    #[arg(long = "for", value_name = "DURATION", default_value = "15m")]
    duration: String,
    /// Only the alert of this rule (its id, the file name without .rhai)
    #[arg(long)]
    rule: Option<String>,
    #[command(flatten)]
    desk: DeskArgs,
}

#[derive(clap::Args)]
pub struct NatsUserArgs {
    /// The user's name at the broker
    #[arg(long)]
    user: String,
    /// A hub's user (everything under lookout.) instead of a supervisor's
    #[arg(long, conflicts_with_all = ["tenant", "teams"])]
    hub: bool,
    /// The tenant the supervisor watches
    #[arg(long, required_unless_present = "hub")]
    tenant: Option<String>,
    /// A team the supervisor may read (repeat for several)
    #[arg(long = "team", value_name = "TEAM")]
    teams: Vec<String>,
}

/// The user's password at the broker, when there is a user.
async fn login(url: &str, user: Option<&str>) -> Result<Login> {
    lookout_hub::nats::check_url(url)?;
    Login::find(url, user).await.map_err(anyhow::Error::msg)
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hub".into())
}

fn stamp() -> String {
    crate::render::clock(lookout_keeper::unix_now())
}

pub async fn run_hub(a: HubArgs) -> Result<()> {
    let lease = humantime::parse_duration(&a.lease)
        .with_context(|| format!("--lease `{}`: not a duration like 3s", a.lease))?;
    if lease < Duration::from_secs(1) {
        bail!("--lease {}: use at least 1s", a.lease);
    }
    let paths = if a.config.is_empty() {
        vec![Config::default_path()?]
    } else {
        a.config.clone()
    };
    let mut watched = Vec::new();
    let mut first: Option<Config> = None;
    for path in &paths {
        let config = Config::load(Some(path))?;
        let tenant = config.tenant();
        if watched.iter().any(|w: &Watched| w.tenant == tenant) {
            bail!(
                "{} watches {tenant} again: give each tenant once",
                path.display()
            );
        }
        let rules_dir = a.rules.clone().unwrap_or_else(|| config.rules_dir(path));
        if !rules_dir.is_dir() {
            bail!(
                "the rules folder {} does not exist (give --rules, or set [rules] dir in {})",
                rules_dir.display(),
                path.display()
            );
        }
        let secret = {
            let c = config.clone();
            tokio::task::spawn_blocking(move || secrets::find_secret(&c))
                .await
                .context("the keychain lookup failed")??
        };
        let store_path = lookout_alerting::store::Store::default_path()
            .context(
                "cannot tell where to keep Lookout's state on this system (no home directory)",
            )?
            .with_file_name(format!(
                "hub-{}.json",
                lookout_hub::subjects::token(&tenant)
            ));
        let c = config.clone();
        watched.push(Watched {
            tenant,
            make: Box::new(move || {
                let client = secrets::client_for(&c, secret.clone()).map_err(|e| e.to_string())?;
                Ok(Setup::from_config(
                    &c,
                    client,
                    rules_dir.clone(),
                    store_path.clone(),
                ))
            }),
        });
        first.get_or_insert(config);
    }
    let first = first.expect("at least one config");
    let url = a
        .nats
        .clone()
        .or(first.hub.nats.clone())
        .context("no broker: give --nats nats://HOST:PORT or set [hub] nats in the config")?;
    let user = a.user.clone().or(first.hub.user.clone());
    let login = login(&url, user.as_deref()).await?;
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()));
    println!(
        "{}  hub {name}: watching {} for the desks at {url}; Ctrl-C stops",
        stamp(),
        watched
            .iter()
            .map(|w| w.tenant.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let options = HubOptions {
        name: name.clone(),
        login,
        lease,
    };
    let report = move |n: HubNote| match n {
        HubNote::Connected => println!("{}  hub {name}: connected to the broker", stamp()),
        HubNote::Standby { tenant, active } => println!(
            "{}  {tenant}: standby ({} holds the lease)",
            stamp(),
            terminal(&active)
        ),
        HubNote::Active { tenant } => println!("{}  {tenant}: active", stamp()),
        HubNote::SteppedDown { tenant, why } => {
            println!("{}  {tenant}: stepped down: {why}", stamp())
        }
        HubNote::Pipeline { tenant, note } => match note {
            Note::Status(s) => println!(
                "{}  {tenant}: connection: {}",
                stamp(),
                terminal(&s.describe(SystemTime::now()))
            ),
            Note::Problem(p) => eprintln!("lookout: warning: {tenant}: {}", terminal(&p)),
        },
        HubNote::Problem(p) => eprintln!("lookout: warning: {}", terminal(&p)),
    };
    hub::run(
        options,
        watched,
        report,
        interrupted("stopping: deleting the subscriptions and giving up the leases"),
    )
    .await?;
    Ok(())
}

impl DeskArgs {
    /// The one hub (for acknowledging and snoozing).
    fn one_hub(&self, why: &str) -> Result<String> {
        match self.hub.as_slice() {
            [] => bail!("{why}: give --hub nats://HOST:PORT (or set LOOKOUT_HUB)"),
            [one] => Ok(one.clone()),
            _ => bail!("{why}: give one --hub"),
        }
    }
}

/// The desk's options from the command line, for the hub at `url`.
async fn desk_options(a: &DeskArgs, url: &str) -> Result<DeskOptions> {
    let url = url.to_string();
    let login = login(&url, a.user.as_deref()).await?;
    // One memory per hub read (the first keeps the plain name).
    let file = if a.hub.first() == Some(&url) {
        "desk.json".to_string()
    } else {
        format!("desk-{}.json", lookout_hub::subjects::token(&url))
    };
    let store_path = lookout_alerting::store::Store::default_path()
        .context("cannot tell where to keep Lookout's state on this system (no home directory)")?
        .with_file_name(file);
    Ok(DeskOptions {
        user: a
            .user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "someone".into()),
        login,
        tenant: a.tenant.clone(),
        teams: (!a.teams.is_empty()).then(|| a.teams.clone()),
        store_path,
        stale_after: desk::DEFAULT_STALE_AFTER,
        state: None,
        commands: None,
        rules: None,
    })
}

/// `{"type":"acknowledged","rule":"<rule name>","key":…,"by":…,"at":…}`.
fn acknowledged_json(a: &lookout_hub::wire::Acked) -> String {
    serde_json::json!({
        "type": "acknowledged",
        "rule": a.rule_name,
        "key": a.key,
        "by": a.by,
        "at": a.at,
    })
    .to_string()
}

/// `lookout watch --hub`: a desk in the terminal.
pub async fn watch_desk(
    a: &DeskArgs,
    rules: Option<PathBuf>,
    notify: Option<NotifyTo>,
    sound: lookout_alerting::notify::sound::Sounds,
    format: Format,
    duration: Option<Duration>,
) -> Result<()> {
    let url = a.one_hub("reading a hub")?;
    let mut options = desk_options(a, &url).await?;
    options.rules = rules;
    let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
    let notifier = pick_notifier(notify, format, sound, action_tx)?;
    let (state_tx, state_rx) = lookout_pipeline::state::state_channel();
    options.state = Some(state_tx);
    // The tenant's connection as the hub tells it (or the hub's silence), as `lookout watch`
    // prints its own.
    let statuses = print_connection(state_rx, format);
    let stop = until_stopped(duration, "stopping");
    let result = desk::run(
        options,
        notifier,
        Some(action_rx),
        desk_report(format),
        stop,
    )
    .await;
    statuses.abort();
    result?;
    Ok(())
}

/// Print the connection of `rx`'s state whenever it changes state or problem.
fn print_connection(
    mut rx: lookout_pipeline::state::StateReceiver,
    format: Format,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Option<(&'static str, String)> = None;
        while rx.changed().await.is_ok() {
            let c = rx.borrow_and_update().connection.clone();
            let now = (
                c.state(),
                c.problem().map(|p| p.message.clone()).unwrap_or_default(),
            );
            if last.as_ref() == Some(&now) {
                continue;
            }
            last = Some(now);
            match format {
                Format::Json => println!("{}", status_json(&c)),
                Format::Text => println!(
                    "{}  connection: {}",
                    stamp(),
                    terminal(&c.describe(SystemTime::now()))
                ),
            }
        }
    })
}

/// What a desk says, on the terminal.
fn desk_report(format: Format) -> impl FnMut(DeskNote) + Send {
    move |n: DeskNote| match n {
        DeskNote::Acknowledged(a) => match format {
            Format::Json => println!("{}", acknowledged_json(&a)),
            Format::Text => println!(
                "{}  acknowledged by {}: {} ({})",
                stamp(),
                terminal(&a.by),
                terminal(&a.key),
                terminal(&a.rule_name)
            ),
        },
        DeskNote::Connected { url } => eprintln!("lookout: connected to the hub's broker at {url}"),
        DeskNote::Following { tenant, hub } => eprintln!(
            "lookout: reading {} from hub {}",
            terminal(&tenant),
            terminal(&hub)
        ),
        DeskNote::HubChanged { hub } => {
            eprintln!("lookout: hub {} took over", terminal(&hub))
        }
        DeskNote::NotPermitted { scope, .. } => {
            eprintln!(
                "lookout: not permitted to read {}",
                terminal(&scope.to_string())
            )
        }
        DeskNote::Unreachable(why) => eprintln!("lookout: warning: {}", terminal(&why)),
        DeskNote::Back => eprintln!("lookout: the hub speaks again"),
        DeskNote::Problem(p) => eprintln!("lookout: warning: {}", terminal(&p)),
    }
}

/// Start a desk quietly, wait until the hub has shown an alert with `key`, act on it, and
/// wait for `done` to say it is done.
async fn act_through_desk(
    a: &DeskArgs,
    key: &str,
    rule: Option<&str>,
    act: impl FnOnce(&str, &str) -> Command,
    mut done: impl FnMut(&DeskNote) -> bool + Send + 'static,
) -> Result<(String, String)> {
    let url = a.one_hub("acknowledging goes through the hub")?;
    let mut options = desk_options(a, &url).await?;
    let (state_tx, mut state_rx) = lookout_pipeline::state::state_channel();
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    options.state = Some(state_tx);
    options.commands = Some(cmd_rx);
    let (note_tx, mut notes) = tokio::sync::mpsc::unbounded_channel::<DeskNote>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (fail_tx, mut failed) = tokio::sync::mpsc::unbounded_channel::<String>();
    let running = tokio::spawn(desk::run(
        options,
        Box::new(lookout_alerting::notify::NoNotifier),
        None,
        move |n| {
            if let DeskNote::Unreachable(w) = &n {
                let _ = fail_tx.send(w.clone());
            }
            let _ = note_tx.send(n);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(a) = state_rx
                .borrow_and_update()
                .alerts
                .iter()
                .find(|x| x.alert.key == key && rule.is_none_or(|r| r == x.alert.rule))
            {
                return Ok((a.alert.rule.clone(), a.alert.rule_name.clone()));
            }
            tokio::select! {
                c = state_rx.changed() => if c.is_err() { bail!("the desk stopped") },
                Some(w) = failed.recv() => bail!("{w}"),
            }
        }
    })
    .await;
    let (rule_id, rule_name) = match found {
        Ok(r) => r?,
        Err(_) => {
            let _ = stop_tx.send(());
            let _ = running.await;
            bail!(
                "the hub shows no alert with the key `{key}`{} that you may read (after 10 s)",
                rule.map(|r| format!(" of rule {r}")).unwrap_or_default()
            );
        }
    };
    let _ = cmd_tx.send(act(&rule_id, key));
    let confirmed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(n) = notes.recv().await {
            if done(&n) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    let _ = stop_tx.send(());
    match running.await {
        Ok(r) => r?,
        Err(e) => bail!("the desk failed: {e}"),
    }
    if !confirmed {
        bail!("the hub did not confirm within 5 s; is a hub running for this tenant?");
    }
    Ok((rule_id, rule_name))
}

pub async fn run_ack(a: AckArgs) -> Result<()> {
    let user = a.desk.user.clone().unwrap_or_default();
    let key = a.key.clone();
    let (_, rule_name) = act_through_desk(
        &a.desk,
        &a.key,
        a.rule.as_deref(),
        |rule, key| {
            Command::Act(ActionEvent {
                rule: rule.into(),
                key: key.into(),
                digest: None,
                action: Action::Acknowledge,
                by: None,
                also: Vec::new(),
            })
        },
        move |n| matches!(n, DeskNote::Acknowledged(x) if x.key == key && (user.is_empty() || x.by == user)),
    )
    .await?;
    println!(
        "acknowledged {} ({}) for everyone",
        terminal(&a.key),
        terminal(&rule_name)
    );
    Ok(())
}

pub async fn run_snooze(a: SnoozeArgs) -> Result<()> {
    let d = humantime::parse_duration(&a.duration)
        .with_context(|| format!("--for `{}`: not a duration like 15m or 1h", a.duration))?;
    if d.is_zero() || d > Duration::from_secs(7 * 24 * 3600) {
        bail!(
            "--for {}: use more than nothing and at most a week",
            a.duration
        );
    }
    let user = a
        .desk
        .user
        .clone()
        .context("snoozing reaches your own desks: give --user (or set LOOKOUT_NATS_USER)")?;
    let url = a
        .desk
        .one_hub("snoozing reaches your desks through the hub")?;
    let login = login(&url, Some(&user)).await?;
    let client = lookout_hub::nats::connect(&login, "lookout snooze", None).await?;
    let until = lookout_keeper::unix_now() + d.as_secs() as i64;
    let req = lookout_hub::wire::SnoozeRequest {
        v: lookout_hub::wire::VERSION,
        rule: a.rule.clone(),
        key: a.key.clone(),
        until,
    };
    client
        .publish(
            lookout_hub::subjects::personal_snooze(&user),
            serde_json::to_vec(&req)?.into(),
        )
        .await
        .context("cannot send the snooze")?;
    client.flush().await.context("cannot send the snooze")?;
    println!(
        "snoozed {} on {user}'s desks until {} (acknowledging it would be for everyone: lookout ack)",
        terminal(&a.key),
        lookout_keeper::clock_text(until)
    );
    Ok(())
}

pub fn run_nats_user(a: NatsUserArgs) -> Result<()> {
    let entry = if a.hub {
        hub_user(&a.user, &PasswordRef::Env)
    } else {
        desk_user(
            &a.user,
            &PasswordRef::Env,
            a.tenant.as_deref().unwrap_or_default(),
            &a.teams,
        )
    };
    println!("{entry}");
    eprintln!(
        "lookout: put this in the users of the broker's authorization block; the broker reads the password from ${} (or replace it with a bcrypt hash: see docs/team.md)",
        password_var(&a.user)
    );
    Ok(())
}

/// A desk's notifications in the team demo: each line says whose desk told it.
struct DeskLines(&'static str);

impl lookout_alerting::notify::Notifier for DeskLines {
    fn notify(&mut self, n: &lookout_alerting::notify::Notification) -> Result<(), String> {
        println!("[{}] {}", self.0, lookout_alerting::notify::text_line(n));
        Ok(())
    }
}

/// `lookout demo --team`: the simulated tenant, a broker of our own, a hub and two desks of
/// Front Line (Ana and Bo) in this process. Ana acknowledges the first alert she is told of;
/// Bo's desk shows it.
pub async fn run_team_demo(duration: Option<Duration>) -> Result<()> {
    use lookout_hub::broker::{Broker, BrokerUser, Role};
    const TEAM: &str = "Front Line";
    let demo = lookout_pipeline::demo::Demo::start(
        lookout_pipeline::demo::scenario().map_err(anyhow::Error::msg)?,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let tenant = demo.config.tenant();
    let desk_user = |name: &str| {
        BrokerUser::new(
            name,
            Role::Desk {
                tenant: tenant.clone(),
                teams: vec![TEAM.into()],
            },
        )
    };
    let users = vec![
        BrokerUser::new("hub", Role::Hub),
        desk_user("ana"),
        desk_user("bo"),
    ];
    let broker = Broker::start(&users).map_err(anyhow::Error::msg)?;
    let login_of = |name: &str| {
        let u = users.iter().find(|u| u.name == name).expect("a user");
        Login {
            url: broker.url(),
            user: Some(u.name.clone()),
            password: Some(u.password.clone()),
        }
    };
    println!(
        "Team demo: a simulated tenant at {}, a NATS broker at {}, one hub, and the desks of Ana and Bo (team {TEAM}). Ana acknowledges the first alert she is told of; Bo's desk shows who did. Ctrl-C stops.",
        demo.url(),
        broker.url()
    );
    let demo = Arc::new(demo);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let hub_task = {
        let demo = demo.clone();
        let config = demo.config.clone();
        tokio::spawn(hub::run(
            HubOptions {
                name: "hub-1".into(),
                login: login_of("hub"),
                lease: hub::DEFAULT_LEASE,
            },
            vec![Watched {
                tenant: tenant.clone(),
                make: Box::new(move || demo.setup(&config)),
            }],
            |n| match n {
                HubNote::Active { tenant } => println!("{}  [hub] watching {tenant}", stamp()),
                HubNote::Pipeline {
                    note: Note::Status(s),
                    ..
                } => println!(
                    "{}  [hub] connection: {}",
                    stamp(),
                    terminal(&s.describe(SystemTime::now()))
                ),
                HubNote::Problem(p) => eprintln!("lookout: warning: [hub] {}", terminal(&p)),
                _ => {}
            },
            stopped(stop_rx.clone()),
        ))
    };
    let places = lookout_keeper::files::private_temp_dir("lookout-team-demo-")?;
    let mut desks = Vec::new();
    let (ana_state_tx, mut ana_state) = lookout_pipeline::state::state_channel();
    let (ana_cmd_tx, ana_cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    for (name, state, commands) in [
        ("ana", Some(ana_state_tx), Some(ana_cmd_rx)),
        ("bo", None, None),
    ] {
        let options = DeskOptions {
            login: login_of(name),
            user: name.into(),
            tenant: None,
            teams: None,
            store_path: places.path().join(format!("{name}.json")),
            stale_after: desk::DEFAULT_STALE_AFTER,
            state,
            commands,
            rules: None,
        };
        desks.push(tokio::spawn(desk::run(
            options,
            Box::new(DeskLines(name)),
            None,
            move |n| {
                if let DeskNote::Acknowledged(a) = n {
                    println!(
                        "{}  [{name}] acknowledged by {}: {} ({})",
                        stamp(),
                        terminal(&a.by),
                        terminal(&a.key),
                        terminal(&a.rule_name)
                    );
                }
            },
            stopped(stop_rx.clone()),
        )));
    }
    // Ana acknowledges the first alert that makes noise.
    let script = tokio::spawn(async move {
        while ana_state.changed().await.is_ok() {
            let target = ana_state
                .borrow_and_update()
                .alerts
                .iter()
                .find(|a| a.loud() && !a.is_no_data())
                .map(|a| (a.alert.rule.clone(), a.alert.key.clone()));
            if let Some((rule, key)) = target {
                tokio::time::sleep(Duration::from_secs(2)).await;
                println!("{}  [ana] acknowledges {}", stamp(), terminal(&key));
                let _ = ana_cmd_tx.send(Command::Act(ActionEvent {
                    rule,
                    key,
                    digest: None,
                    action: Action::Acknowledge,
                    by: None,
                    also: Vec::new(),
                }));
                return;
            }
        }
    });
    until_stopped(duration, "stopping the team demo").await;
    script.abort();
    let _ = stop_tx.send(true);
    for d in desks {
        let _ = d.await;
    }
    let _ = hub_task.await;
    drop(broker);
    if let Ok(demo) = Arc::try_unwrap(demo) {
        demo.stop().await;
    }
    Ok(())
}

/// `lookout watch` with several sources (the tenants of config files, and hubs): each runs as
/// it would alone, each notification says whose it is, and the connection printed is the worst
/// of theirs. The first to stop on its own (a refused password, an unreadable rules folder)
/// stops them all.
pub async fn watch_several(
    configs: &[PathBuf],
    rules: Option<&std::path::Path>,
    desk: &DeskArgs,
    notify: Option<NotifyTo>,
    format: Format,
    duration: Option<Duration>,
) -> Result<()> {
    if rules.is_some() {
        bail!(
            "with several sources, each config names its rules folder ([rules] dir): leave out --rules"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut sources = Vec::new();
    let mut running: tokio::task::JoinSet<Result<()>> = tokio::task::JoinSet::new();
    let state_file = lookout_alerting::store::Store::default_path()
        .context("cannot tell where to keep Lookout's state on this system (no home directory)")?;
    let mut add = |name: String,
                   state: lookout_pipeline::state::StateReceiver,
                   commands: tokio::sync::mpsc::UnboundedSender<Command>| {
        if sources
            .iter()
            .any(|s: &lookout_pipeline::sources::Source| s.name == name)
        {
            bail!("{name} is given twice");
        }
        sources.push(lookout_pipeline::sources::Source {
            name,
            state,
            commands,
        });
        Ok(())
    };
    for path in configs {
        let config = Config::load(Some(path))?;
        let name = config.tenant();
        let rules_dir = config.rules_dir(path);
        if !rules_dir.is_dir() {
            bail!(
                "the rules folder {} of {} does not exist",
                rules_dir.display(),
                path.display()
            );
        }
        let client = secrets::connect(&config)
            .await
            .map_err(anyhow::Error::msg)?;
        // One memory per tenant.
        let store = state_file.with_file_name(format!(
            "state-{}.json",
            lookout_hub::subjects::token(&name)
        ));
        let mut setup = Setup::from_config(&config, client, rules_dir, store);
        let (state_tx, state_rx) = lookout_pipeline::state::state_channel();
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        setup.state = Some(state_tx);
        setup.commands = Some(cmd_rx);
        let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
        let notifier = Box::new(lookout_pipeline::sources::FromSource::new(
            &name,
            pick_notifier(notify, format, crate::sounds_of(&config), action_tx)?,
        ));
        add(name.clone(), state_rx, cmd_tx)?;
        let stop = stopped(stop_rx.clone());
        running.spawn(async move {
            let who = name.clone();
            let report = move |r: Note| {
                if let Note::Problem(p) = r {
                    eprintln!("lookout: warning: {who}: {}", terminal(&p));
                }
            };
            lookout_pipeline::run(setup, notifier, Some(action_rx), report, stop)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        });
    }
    for url in &desk.hub {
        let mut options = desk_options(desk, url).await?;
        let name = format!("hub {url}");
        let (state_tx, state_rx) = lookout_pipeline::state::state_channel();
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        options.state = Some(state_tx);
        options.commands = Some(cmd_rx);
        let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
        let sound = lookout_alerting::notify::sound::Sounds::default();
        let notifier = Box::new(lookout_pipeline::sources::FromSource::new(
            &name,
            pick_notifier(notify, format, sound, action_tx)?,
        ));
        add(name.clone(), state_rx, cmd_tx)?;
        let stop = stopped(stop_rx.clone());
        running.spawn(async move {
            desk::run(
                options,
                notifier,
                Some(action_rx),
                desk_report(format),
                stop,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        });
    }
    let (merged, _commands) = lookout_pipeline::sources::fan_in(sources);
    let statuses = print_connection(merged, format);
    let mut failed = None;
    tokio::select! {
        () = until_stopped(duration, "stopping: deleting the subscriptions and saving state") => {}
        Some(r) = running.join_next() => failed = r.map_err(anyhow::Error::from).and_then(|r| r).err(),
    }
    let _ = stop_tx.send(true);
    while let Some(r) = running.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            failed.get_or_insert(e);
        }
    }
    statuses.abort();
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
