//! A team on loopback: the simulated tenant, a real `nats-server` with users for a hub and
//! desks, hubs and desks in this process.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_alerting::notify::{CaptureNotifier, Notification};
use lookout_hub::broker::{Broker, BrokerUser, Role};
use lookout_hub::desk::{self, DeskNote, DeskOptions};
use lookout_hub::hub::{self, HubNote, HubOptions, Watched};
use lookout_hub::nats::Login;
use lookout_pipeline::demo::Demo;
use lookout_pipeline::state::{StateReceiver, state_channel};
use lookout_pipeline::{Command, PipelineState};

pub const FRONT: &str = "Front Line";
pub const SPECIALISTS: &str = "Specialists";

/// A rule that alerts for every agent not ready, labelled with the agent's team: the demo's
/// Billing meeting makes a storm of them across teams within seconds.
pub const NOT_READY_RULE: &str = include_str!("../not_ready_team.rhai");

/// The simulated tenant with the demo scenario and the storm rule beside the shipped ones.
pub async fn demo_with_storm() -> Arc<Demo> {
    let demo = Demo::start(lookout_pipeline::demo::scenario().unwrap())
        .await
        .unwrap();
    std::fs::write(demo.rules_dir().join("not_ready_team.rhai"), NOT_READY_RULE).unwrap();
    Arc::new(demo)
}

pub fn users() -> Vec<BrokerUser> {
    let desk = |name: &str, team: &str| {
        BrokerUser::new(
            name,
            Role::Desk {
                tenant: lookout_sim::SimConfig::default().tenant,
                teams: vec![team.to_string()],
            },
        )
    };
    vec![
        BrokerUser::new("hub", Role::Hub),
        desk("ana", FRONT),
        desk("bo", FRONT),
        desk("cy", SPECIALISTS),
    ]
}

pub fn login(broker: &Broker, users: &[BrokerUser], name: &str) -> Login {
    let u = users
        .iter()
        .find(|u| u.name == name)
        .expect("a user of the broker");
    Login {
        url: broker.url(),
        user: Some(u.name.clone()),
        password: Some(u.password.clone()),
    }
}

/// Wait up to `within` for `f` to give something.
pub async fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < within, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A hub running in this process.
pub struct RunningHub {
    pub notes: Arc<Mutex<Vec<HubNote>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningHub {
    pub fn start(name: &str, login: Login, demo: Arc<Demo>, lease: Duration) -> RunningHub {
        let notes = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tenant = demo.config.server.tenant.clone().unwrap_or_default();
        let store = demo
            .rules_dir()
            .with_file_name(format!("{name}-state.json"));
        let config = demo.config.clone();
        let watched = Watched {
            tenant,
            make: Box::new(move || {
                let mut setup = demo.setup(&config)?;
                setup.store_path = store.clone();
                Ok(setup)
            }),
        };
        let options = HubOptions {
            name: name.into(),
            login,
            lease,
        };
        let n = notes.clone();
        let task = tokio::spawn(async move {
            hub::run(
                options,
                vec![watched],
                move |note| {
                    n.lock().unwrap().push(note);
                },
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("the hub runs");
        });
        RunningHub {
            notes,
            stop: Some(stop),
            task,
        }
    }

    pub fn active(&self) -> bool {
        self.notes
            .lock()
            .unwrap()
            .iter()
            .any(|n| matches!(n, HubNote::Active { .. }))
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }

    /// Gone at once, as after SIGKILL: nothing is given up, nothing deleted.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// A desk running in this process.
pub struct RunningDesk {
    pub told: Arc<Mutex<Vec<Notification>>>,
    pub notes: Arc<Mutex<Vec<DeskNote>>>,
    pub state: StateReceiver,
    pub commands: tokio::sync::mpsc::UnboundedSender<Command>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl RunningDesk {
    pub fn start(user: &str, login: Login) -> RunningDesk {
        RunningDesk::with_rules(user, login, None)
    }

    /// A desk with rules of its own.
    pub fn with_rules(user: &str, login: Login, rules: Option<std::path::PathBuf>) -> RunningDesk {
        let capture = CaptureNotifier::default();
        let told = capture.seen.clone();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let (state_tx, state) = state_channel();
        let (commands, commands_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dir = tempfile::tempdir().unwrap();
        let options = DeskOptions {
            login,
            user: user.into(),
            tenant: None,
            teams: None,
            store_path: dir.path().join("desk.json"),
            stale_after: desk::DEFAULT_STALE_AFTER,
            state: Some(state_tx),
            commands: Some(commands_rx),
            rules,
        };
        let n = notes.clone();
        let task = tokio::spawn(async move {
            desk::run(
                options,
                Box::new(capture),
                None,
                move |note| n.lock().unwrap().push(note),
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("the desk runs");
        });
        RunningDesk {
            told,
            notes,
            state,
            commands,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    pub fn state(&self) -> Arc<PipelineState> {
        self.state.borrow().clone()
    }

    pub fn told(&self) -> Vec<Notification> {
        self.told.lock().unwrap().clone()
    }

    pub fn notes(&self) -> Vec<DeskNote> {
        self.notes.lock().unwrap().clone()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}
