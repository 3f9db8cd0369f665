//! The engine behind the windows: `lookout_core::watch::run` against the configured tenant, or
//! against the embedded simulated tenant in demo mode. It can be stopped and started again (the
//! settings changed, the person chose the demo).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use lookout_core::notify::{self, ActionEvent};
use lookout_core::watch::{self, AlertingConfig, Control, Overview, Report, WatchSetup};
use lookout_core::{Config, KeeperOptions, secrets};
use tokio::sync::{mpsc, oneshot, watch as tokio_watch};

/// What to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The embedded simulated tenant with the demo scenario (or `LOOKOUT_DEMO_SCENARIO`).
    Demo,
    /// The tenant of the config file.
    Configured(PathBuf),
}

/// A running engine: the ends the windows and the tray use.
pub struct Running {
    pub tenant: String,
    pub actions: mpsc::UnboundedSender<ActionEvent>,
    pub controls: mpsc::UnboundedSender<Control>,
    pub overview: tokio_watch::Receiver<Arc<Overview>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tauri::async_runtime::JoinHandle<()>>,
    /// The demo's private folder (rules and state), removed when the engine goes.
    _place: Option<tempfile::TempDir>,
}

impl Running {
    /// Stop: the subscription is deleted and the state saved before this returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Everything a mode needs before the pipeline can start.
struct Prepared {
    setup: WatchSetup,
    tenant: String,
    sound: bool,
    /// Keeps the simulated tenant alive in demo mode.
    sim: Option<lookout_sim::SimHandle>,
    /// The demo's private folder.
    place: Option<tempfile::TempDir>,
}

async fn prepare(mode: &Mode) -> anyhow::Result<Prepared> {
    match mode {
        Mode::Demo => {
            let scenario = match std::env::var_os("LOOKOUT_DEMO_SCENARIO") {
                Some(path) => lookout_sim::Scenario::load(std::path::Path::new(&path))?,
                None => lookout_sim::Scenario::parse(lookout_sim::DEMO_SCENARIO)
                    .map_err(anyhow::Error::msg)?,
            };
            let cfg = lookout_sim::SimConfig::default().with_scenario(scenario);
            let user = cfg.users[0].clone();
            let tenant = cfg.tenant.clone();
            let sim = lookout_sim::start(cfg, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                .await
                .map_err(anyhow::Error::msg)?;
            // A fresh private folder: another local user can neither plant rules in it nor
            // links where its state is written.
            let place = lookout_core::files::private_temp_dir("lookout-desktop-demo-")?;
            let rules_dir = place.path().join("rules");
            lookout_core::rules::pack::install(&rules_dir)?;
            let auth = lookout_statsapi::Auth::OAuth {
                client_id: user.name.clone(),
                client_secret: lookout_statsapi::Secret::new(user.api_secret),
                scope: tenant.clone(),
            };
            let client = lookout_statsapi::Client::new(&sim.url(), auth, Default::default())?;
            Ok(Prepared {
                setup: WatchSetup {
                    client,
                    keeper: KeeperOptions {
                        availability_services: vec!["Sales".into(), "Billing".into()],
                        ..KeeperOptions::default()
                    },
                    rules_dir,
                    store_path: place.path().join("state.json"),
                    alerting: AlertingConfig::from_config(
                        tenant.clone(),
                        &Default::default(),
                        &Default::default(),
                    ),
                    overview: None,
                    controls: None,
                },
                tenant,
                sound: true,
                sim: Some(sim),
                place: Some(place),
            })
        }
        Mode::Configured(path) => {
            let config = Config::load(Some(path))?;
            let client = secrets::connect(&config)
                .await
                .map_err(anyhow::Error::msg)?;
            let rules_dir = config.rules_dir(path);
            if !rules_dir.exists() {
                lookout_core::rules::pack::install(&rules_dir)?;
            }
            let store_path = lookout_core::store::Store::default_path()
                .ok_or_else(|| anyhow::anyhow!("no place for Lookout's state on this system"))?;
            Ok(Prepared {
                tenant: config.tenant(),
                sound: config.notifications.sound,
                setup: WatchSetup::from_config(&config, client, rules_dir, store_path),
                sim: None,
                place: None,
            })
        }
    }
}

/// Start the engine in `mode`. Problems before the pipeline runs (no secret, a bad config) come
/// back as an error for the window to show; a pipeline that stops on its own (a rules folder it
/// cannot read) calls `on_stopped` with why. `on_open` runs when a notification's *Open* is
/// chosen.
pub async fn start(
    mode: Mode,
    on_open: impl Fn() + Send + 'static,
    on_stopped: impl FnOnce(String) + Send + 'static,
) -> anyhow::Result<Running> {
    let mut prepared = prepare(&mode).await?;
    let (actions_tx, actions_rx) = mpsc::unbounded_channel();
    // The notifier's actions pass through here: Open is the app's to handle (show the
    // overview), the rest go to the pipeline.
    let (clicked_tx, mut clicked_rx) = mpsc::unbounded_channel::<ActionEvent>();
    let to_pipeline = actions_tx.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(a) = clicked_rx.recv().await {
            if a.action == notify::Action::Open {
                on_open();
            } else if to_pipeline.send(a).is_err() {
                break;
            }
        }
    });
    let (controls_tx, controls_rx) = mpsc::unbounded_channel();
    let (overview_tx, overview_rx) = tokio_watch::channel(Arc::new(Overview::default()));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    prepared.setup.overview = Some(overview_tx);
    prepared.setup.controls = Some(controls_rx);
    let notifier: Box<dyn notify::Notifier> =
        match notify::desktop::DesktopNotifier::connect(Some(clicked_tx)) {
            Ok(d) => Box::new(d.with_sound(prepared.sound)),
            Err(e) => {
                tracing::warn!("{e}; notifications are shown only in the overview");
                Box::new(notify::NoNotifier)
            }
        };
    let setup = prepared.setup;
    let sim = prepared.sim;
    let task = tauri::async_runtime::spawn(async move {
        let report = |r: Report| match r {
            Report::Status(s) => tracing::info!("connection: {}", s),
            Report::Problem(p) => tracing::warn!("{p}"),
        };
        let stop = async {
            let _ = stop_rx.await;
        };
        if let Err(e) = watch::run(setup, notifier, Some(actions_rx), report, stop).await {
            tracing::error!("the engine stopped: {e}");
            on_stopped(e);
        }
        if let Some(sim) = sim {
            sim.stop().await;
        }
    });
    Ok(Running {
        tenant: prepared.tenant,
        actions: actions_tx,
        controls: controls_tx,
        overview: overview_rx,
        stop: Some(stop_tx),
        task: Some(task),
        _place: prepared.place,
    })
}
