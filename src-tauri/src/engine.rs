//! The engine behind the windows: `lookout_pipeline::run` against the configured tenant, or
//! against the embedded simulated tenant in demo mode, or a desk reading a team hub
//! (`lookout_hub::desk::run`, the same state and commands). It can be stopped and started
//! again (the settings changed, the person chose the demo).

use std::path::PathBuf;

use lookout_alerting::notify::sound::Sounds;
use lookout_alerting::notify::{self, ActionEvent};
use lookout_hub::desk::{DeskNote, DeskOptions};
use lookout_hub::nats::Login;
use lookout_keeper::Config;
use lookout_keeper::config::DeskConfig;
use lookout_pipeline::demo::Demo;
use lookout_pipeline::sources::{FromSource, Source as Source_};
use lookout_pipeline::state::{StateReceiver, state_channel};
use lookout_pipeline::{Command, Note, Setup, secrets};
use tokio::sync::mpsc;

/// What to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The embedded simulated tenant with the demo scenario (or `LOOKOUT_DEMO_SCENARIO`).
    Demo,
    /// The tenant of the config file.
    Configured(PathBuf),
    /// A team hub, as `desk.toml` at this path says.
    Hub(PathBuf),
    /// Several of these at once, as one (the worst state in the tray, every alert named with
    /// its source).
    Several(Vec<Mode>),
}

/// A running engine: the ends the windows and the tray use.
pub struct Running {
    pub tenant: String,
    pub commands: mpsc::UnboundedSender<Command>,
    pub state: StateReceiver,
    /// The data is a tenant's of its own (not only a hub's), so it can list a service's agents
    /// when asked ([`Command::AgentsOf`]).
    pub lists_members: bool,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tauri::async_runtime::JoinHandle<()>>,
}

impl Running {
    /// Stop: the subscription is deleted and the state saved before this returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

/// Everything a mode needs before it can start.
struct Prepared {
    source: Source,
    tenant: String,
    sounds: Sounds,
    /// The demo (its simulated tenant and private folder), stopped after the pipeline.
    demo: Option<Demo>,
}

/// Where the state comes from.
enum Source {
    Pipeline(Box<Setup>),
    Desk(Box<DeskOptions>),
}

async fn prepare(mode: &Mode) -> anyhow::Result<Prepared> {
    match mode {
        Mode::Demo => {
            let demo = Demo::start(lookout_pipeline::demo::scenario().map_err(anyhow::Error::msg)?)
                .await
                .map_err(anyhow::Error::msg)?;
            Ok(Prepared {
                source: Source::Pipeline(Box::new(
                    demo.setup(&demo.config).map_err(anyhow::Error::msg)?,
                )),
                tenant: demo.config.tenant(),
                sounds: Sounds::default(),
                demo: Some(demo),
            })
        }
        Mode::Several(_) => anyhow::bail!("several sources are started one by one"),
        Mode::Configured(path) => {
            let config = Config::load(Some(path))?;
            let client = secrets::connect(&config)
                .await
                .map_err(anyhow::Error::msg)?;
            let rules_dir = config.rules_dir(path);
            if !rules_dir.exists() {
                lookout_rules::pack::install(&rules_dir)?;
            }
            let store_path = lookout_alerting::store::Store::default_path()
                .ok_or_else(|| anyhow::anyhow!("no place for Lookout's state on this system"))?;
            Ok(Prepared {
                tenant: config.tenant(),
                sounds: Sounds::from_config(config.notifications.sound, &config.sounds),
                source: Source::Pipeline(Box::new(Setup::from_config(
                    &config, client, rules_dir, store_path,
                ))),
                demo: None,
            })
        }
        Mode::Hub(path) => {
            let desk = DeskConfig::load(path)?.ok_or_else(|| {
                anyhow::anyhow!("no team hub is set up ({} is missing)", path.display())
            })?;
            let login = Login::find(&desk.hub, desk.user.as_deref())
                .await
                .map_err(anyhow::Error::msg)?;
            let store_path = lookout_alerting::store::Store::default_path()
                .ok_or_else(|| anyhow::anyhow!("no place for Lookout's state on this system"))?
                .with_file_name("desk.json");
            let sounds = Config::load(Some(&path.with_file_name("config.toml")))
                .map(|c| Sounds::from_config(c.notifications.sound, &c.sounds))
                .unwrap_or_default();
            Ok(Prepared {
                tenant: desk
                    .tenant
                    .clone()
                    .unwrap_or_else(|| format!("the team hub at {}", desk.hub)),
                sounds,
                source: Source::Desk(Box::new(DeskOptions {
                    login,
                    user: desk.user.clone().unwrap_or_else(|| "someone".into()),
                    tenant: desk.tenant.clone(),
                    teams: (!desk.teams.is_empty()).then(|| desk.teams.clone()),
                    store_path,
                    stale_after: lookout_hub::desk::DEFAULT_STALE_AFTER,
                    state: None,
                    commands: None,
                    rules: None,
                })),
                demo: None,
            })
        }
    }
}

/// One source started: where its state comes, where its commands go, its task.
struct Started {
    name: String,
    state: StateReceiver,
    commands: mpsc::UnboundedSender<Command>,
    task: tauri::async_runtime::JoinHandle<()>,
}

/// Tells through `inner`; an escalation step that says `raise` also brings the overview to
/// the front.
struct Raising {
    inner: Box<dyn notify::Notifier>,
    raise: Box<dyn Fn() + Send>,
}

impl notify::Notifier for Raising {
    fn notify(&mut self, n: &notify::Notification) -> Result<(), String> {
        if n.escalation.as_ref().is_some_and(|e| e.raise) {
            (self.raise)();
        }
        self.inner.notify(n)
    }

    fn held(&mut self, h: &lookout_alerting::policy::Held) -> Result<(), String> {
        self.inner.held(h)
    }
}

/// Start one prepared source. `labelled`: its notifications say whose they are (one of
/// several). Stops when `stop` completes.
fn start_one(
    mut prepared: Prepared,
    labelled: bool,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    on_open: impl Fn() + Send + Sync + 'static,
    on_stopped: impl FnOnce(String) + Send + 'static,
) -> Started {
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let on_open = std::sync::Arc::new(on_open);
    let raise = on_open.clone();
    // The notifier's actions pass through here: Open is the app's to handle (show the
    // overview), the rest go to the pipeline.
    let (clicked_tx, mut clicked_rx) = mpsc::unbounded_channel::<ActionEvent>();
    let to_pipeline = commands_tx.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(a) = clicked_rx.recv().await {
            if a.action == notify::Action::Open {
                on_open();
            } else if to_pipeline.send(Command::Act(a)).is_err() {
                break;
            }
        }
    });
    let (state_tx, state_rx) = state_channel();
    let mut notifier: Box<dyn notify::Notifier> =
        match notify::desktop::DesktopNotifier::connect(Some(clicked_tx)) {
            Ok(d) => Box::new(d.with_sounds(prepared.sounds.clone())),
            Err(e) => {
                tracing::warn!("{e}; notifications are shown only in the overview");
                Box::new(notify::NoNotifier)
            }
        };
    if labelled {
        notifier = Box::new(FromSource::new(&prepared.tenant, notifier));
    }
    notifier = Box::new(Raising {
        inner: notifier,
        raise: Box::new(move || raise()),
    });
    let demo = prepared.demo.take();
    let task = match prepared.source {
        Source::Pipeline(mut setup) => {
            setup.state = Some(state_tx);
            setup.commands = Some(commands_rx);
            tauri::async_runtime::spawn(async move {
                let report = |r: Note| match r {
                    Note::Status(s) => tracing::info!("connection: {}", s),
                    Note::Problem(p) => tracing::warn!("{p}"),
                };
                if let Err(e) = lookout_pipeline::run(*setup, notifier, None, report, stop).await {
                    tracing::error!("the engine stopped: {e}");
                    on_stopped(e);
                }
                if let Some(demo) = demo {
                    demo.stop().await;
                }
            })
        }
        Source::Desk(mut options) => {
            options.state = Some(state_tx);
            options.commands = Some(commands_rx);
            tauri::async_runtime::spawn(async move {
                let report = |n: DeskNote| match n {
                    DeskNote::Problem(p) | DeskNote::Unreachable(p) => tracing::warn!("{p}"),
                    other => tracing::info!("hub: {other:?}"),
                };
                if let Err(e) = lookout_hub::desk::run(*options, notifier, None, report, stop).await
                {
                    tracing::error!("the desk stopped: {e}");
                    on_stopped(e.to_string());
                }
            })
        }
    };
    Started {
        name: prepared.tenant,
        state: state_rx,
        commands: commands_tx,
        task,
    }
}

/// Start the engine in `mode`. Problems before the pipeline runs (no secret, a bad config) come
/// back as an error for the window to show; a pipeline that stops on its own (a rules folder it
/// cannot read) calls `on_stopped` with why. `on_open` runs when a notification's *Open* is
/// chosen. Several sources run side by side, as one (`lookout_pipeline::sources`).
pub async fn start(
    mode: Mode,
    on_open: impl Fn() + Send + Sync + 'static,
    on_stopped: impl FnOnce(String) + Send + 'static,
) -> anyhow::Result<Running> {
    let modes = match mode {
        Mode::Several(modes) => modes,
        one => vec![one],
    };
    let mut prepared = Vec::new();
    for m in &modes {
        prepared.push(prepare(m).await?);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let labelled = prepared.len() > 1;
    let lists_members = prepared
        .iter()
        .any(|p| matches!(p.source, Source::Pipeline(_)));
    let on_open = std::sync::Arc::new(on_open);
    // The first source to stop on its own says why.
    let on_stopped = std::sync::Arc::new(std::sync::Mutex::new(Some(on_stopped)));
    let started: Vec<Started> = prepared
        .into_iter()
        .map(|p| {
            let mut rx = stop_rx.clone();
            let (open, stopped) = (on_open.clone(), on_stopped.clone());
            start_one(
                p,
                labelled,
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
                move || open(),
                move |why| {
                    if let Some(f) = stopped.lock().ok().and_then(|mut f| f.take()) {
                        f(why);
                    }
                },
            )
        })
        .collect();
    let name = started
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let (state, commands, tasks) = if started.len() == 1 {
        let s = started.into_iter().next().expect("one");
        (s.state, s.commands, vec![s.task])
    } else {
        let mut tasks = Vec::new();
        let sources = started
            .into_iter()
            .map(|s| {
                tasks.push(s.task);
                Source_ {
                    name: s.name,
                    state: s.state,
                    commands: s.commands,
                }
            })
            .collect();
        let (state, commands) = lookout_pipeline::sources::fan_in(sources);
        (state, commands, tasks)
    };
    Ok(Running {
        tenant: name,
        commands,
        state,
        lists_members,
        stop: Some(stop_tx),
        tasks,
    })
}
