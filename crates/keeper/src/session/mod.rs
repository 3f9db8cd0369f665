//! The session keeper: one task that owns the connection to one tenant and keeps a statistics
//! subscription alive through whatever the network and the server do.
//!
//! It is a small explicit state machine — log in, subscribe, poll — with one rule per kind of
//! failure (see [`Keeper::on_error`]):
//!
//! | what happened | what the keeper does |
//! |---|---|
//! | 401 on a session that had worked | logs in again at once and re-creates the subscription |
//! | 401 right after a fresh password login, again and again | another login of the same user holds the session: long backoff, and says so |
//! | 404 on poll | re-creates the subscription (at once, or with backoff if it keeps vanishing) |
//! | 204 | waiting for data; the last snapshot stays the latest |
//! | 409 on create | long backoff; the tenant's subscription limit is reached |
//! | 400 on create, rejected credentials, retired login | failed: nothing a retry can fix |
//! | network, timeouts, 5xx, malformed bodies | exponential backoff with full jitter, 1 s → 60 s |
//! | the wall clock jumped (sleep/resume) | re-checks the session at once |
//!
//! Out of it come a [`ConnectionStatus`] on every change and an `Arc<Snapshot>` for every fresh
//! poll. Nothing it reads from the network can panic it: every answer goes through the client's
//! typed errors.

mod status;
mod timing;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lookout_statsapi::{Auth, Client, DispositionFilter, Error as ApiError, PollOutcome};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::Config;
use crate::snapshot::{Plan, Snapshot};

pub use status::{ConnectionStatus, Problem, ProblemKind};
pub use timing::{BackoffPolicy, Clock, SystemClock};
use timing::{ClockWatch, Jitter};

/// How often the keeper looks at the clocks for a sleep/resume or a jump.
const CLOCK_LOOK: Duration = Duration::from_secs(1);

/// The keeper's tunables. [`KeeperOptions::from_config`] gives what a user configured; tests
/// shorten the long waits.
#[derive(Clone)]
pub struct KeeperOptions {
    /// Time between poll starts (steady: a slow answer does not push later polls back).
    pub poll_interval: Duration,
    /// Services whose availability (`check_available_agents`) goes into every snapshot.
    pub availability_services: Vec<String>,
    /// Time between availability checks.
    pub availability_interval: Duration,
    /// Waits after network trouble, timeouts, 5xx and malformed answers.
    pub backoff: BackoffPolicy,
    /// Waits when the tenant's subscription limit is reached or the session is taken over.
    pub long_backoff: BackoffPolicy,
    /// A session or subscription that dies sooner than this after it was made is "fresh"
    /// trouble: it is retried with backoff instead of at once.
    pub fresh_window: Duration,
    /// This many fresh password logins in a row ended by the server mean another login of the
    /// same user holds the session.
    pub takeover_strikes: u32,
    /// A disagreement between the wall clock and the monotonic clock larger than this is a
    /// sleep/resume or a clock jump. `None`: three poll intervals, at least 30 s.
    pub jump_threshold: Option<Duration>,
    /// The most a shutdown waits for the server to delete the subscription.
    pub shutdown_timeout: Duration,
    /// Seed for the retry jitter (`None`: a different one each run).
    pub jitter_seed: Option<u64>,
    /// The wall clock.
    pub clock: Arc<dyn Clock>,
    /// How the tenant writes percentages (snapshots always hold 0–100).
    pub percent_scale: crate::snapshot::PercentScale,
}

impl Default for KeeperOptions {
    fn default() -> Self {
        KeeperOptions {
            poll_interval: Duration::from_secs(2),
            availability_services: Vec::new(),
            availability_interval: Duration::from_secs(10),
            backoff: BackoffPolicy::SHORT,
            long_backoff: BackoffPolicy::LONG,
            fresh_window: Duration::from_secs(30),
            takeover_strikes: 2,
            jump_threshold: None,
            shutdown_timeout: Duration::from_secs(5),
            jitter_seed: None,
            clock: Arc::new(SystemClock),
            percent_scale: Default::default(),
        }
    }
}

impl std::fmt::Debug for KeeperOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeeperOptions")
            .field("poll_interval", &self.poll_interval)
            .field("availability_services", &self.availability_services)
            .field("availability_interval", &self.availability_interval)
            .field("backoff", &self.backoff)
            .field("long_backoff", &self.long_backoff)
            .finish_non_exhaustive()
    }
}

impl KeeperOptions {
    /// The options a configuration file asks for.
    pub fn from_config(config: &Config) -> KeeperOptions {
        KeeperOptions {
            poll_interval: Duration::from_secs(config.server.poll_interval_secs.max(1)),
            availability_services: config.availability.services.clone(),
            availability_interval: Duration::from_secs(config.availability.interval_secs.max(1)),
            percent_scale: config.server.percent_scale,
            ..KeeperOptions::default()
        }
    }

    fn jump_threshold(&self) -> Duration {
        self.jump_threshold
            .unwrap_or_else(|| (self.poll_interval * 3).max(Duration::from_secs(30)))
    }
}

/// What the keeper did on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The subscription was deleted, freeing its slot on the tenant.
    pub deleted: bool,
    /// Why it could not be deleted, when there was one to delete.
    pub problem: Option<String>,
}

enum Command {
    Shutdown,
    RetryNow,
    SetPlan(Plan),
    Reconnect(Box<(Client, KeeperOptions)>),
}

/// The running keeper: read its status and snapshots, steer it, stop it.
///
/// Dropping the handle without [`KeeperHandle::shutdown`] also stops the keeper (and it still
/// tries to delete the subscription), but nobody waits for that to finish.
pub struct KeeperHandle {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<ConnectionStatus>,
    snapshot: watch::Receiver<Option<Arc<Snapshot>>>,
    dispositions: watch::Receiver<Option<Arc<Vec<String>>>>,
    changes: Option<mpsc::Receiver<ConnectionStatus>>,
    shutdown_timeout: Duration,
    task: JoinHandle<ShutdownReport>,
}

/// How many status changes wait for a reader before the oldest are dropped (the current status
/// is always in [`KeeperHandle::status`]).
const CHANGES_BUFFER: usize = 1024;

impl KeeperHandle {
    /// The current status, always up to date (`Live` carries the time of the latest data).
    pub fn status(&self) -> watch::Receiver<ConnectionStatus> {
        self.status.clone()
    }

    /// The latest snapshot. A reader that falls behind skips to the newest: snapshots never
    /// queue up.
    pub fn snapshots(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.snapshot.clone()
    }

    /// The tenant's disposition names, fetched once per session.
    pub fn dispositions(&self) -> watch::Receiver<Option<Arc<Vec<String>>>> {
        self.dispositions.clone()
    }

    /// Every status change in order, starting with `Connecting` (for logs and `--format
    /// json`). Can be taken once.
    pub fn take_changes(&mut self) -> Option<mpsc::Receiver<ConnectionStatus>> {
        self.changes.take()
    }

    /// Cut a backoff short, or start over after a failure.
    pub fn retry_now(&self) {
        let _ = self.commands.send(Command::RetryNow);
    }

    /// Subscribe to different statistics (rules changed); a failed keeper tries again.
    pub fn set_plan(&self, plan: Plan) {
        let _ = self.commands.send(Command::SetPlan(plan));
    }

    /// Connect with a new client and options (the configuration changed): the old
    /// subscription is deleted and the keeper starts over.
    pub fn reconnect(&self, client: Client, options: KeeperOptions) {
        let _ = self
            .commands
            .send(Command::Reconnect(Box::new((client, options))));
    }

    /// Stop: delete the subscription (waiting at most the configured shutdown timeout) and
    /// end the task.
    pub async fn shutdown(self) -> ShutdownReport {
        let _ = self.commands.send(Command::Shutdown);
        let mut task = self.task;
        match tokio::time::timeout(self.shutdown_timeout + Duration::from_secs(1), &mut task).await
        {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => ShutdownReport {
                deleted: false,
                problem: Some(format!("the session keeper stopped abnormally: {e}")),
            },
            Err(_) => {
                task.abort();
                ShutdownReport {
                    deleted: false,
                    problem: Some("the session keeper did not stop in time".into()),
                }
            }
        }
    }
}

/// Start a keeper for `client` subscribing to `plan`. Must be called inside a tokio runtime.
pub fn spawn(client: Client, plan: Plan, options: KeeperOptions) -> KeeperHandle {
    let shutdown_timeout = options.shutdown_timeout;
    let (keeper, ends) = Keeper::new(client, plan, options);
    let task = tokio::spawn(keeper.run());
    KeeperHandle {
        commands: ends.commands,
        status: ends.status,
        snapshot: ends.snapshot,
        dispositions: ends.dispositions,
        changes: Some(ends.changes),
        shutdown_timeout,
        task,
    }
}

/// The outside ends of a keeper's channels.
struct Ends {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<ConnectionStatus>,
    snapshot: watch::Receiver<Option<Arc<Snapshot>>>,
    dispositions: watch::Receiver<Option<Arc<Vec<String>>>>,
    changes: mpsc::Receiver<ConnectionStatus>,
}

/// Where the keeper is in setting up its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Login,
    Subscribe,
    Poll,
}

/// What a step ended with.
enum Outcome {
    Go(Step),
    Retry {
        problem: Problem,
        long: bool,
        then: Step,
    },
    Fail(Problem),
    Command(Command),
}

/// What the current session has.
#[derive(Default)]
struct SessionFacts {
    logged_in_at: Option<Instant>,
    /// The subscription exists (as far as the keeper knows) and was created then.
    subscribed_at: Option<Instant>,
    /// A poll of this subscription has been answered (200 or 204).
    answered: bool,
    dispositions_fetched: bool,
    /// Service names to ids, from `cfg/services`, fetched once a plan asks for a service's
    /// members.
    service_ids: Option<BTreeMap<String, String>>,
}

/// Counters that a good answer resets.
#[derive(Default)]
struct Tries {
    short: u32,
    long: u32,
    /// Fresh logins ended by the server, in a row.
    ended_logins: u32,
}

struct Keeper {
    client: Client,
    plan: Plan,
    options: KeeperOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    status_tx: watch::Sender<ConnectionStatus>,
    changes_tx: mpsc::Sender<ConnectionStatus>,
    snapshot_tx: watch::Sender<Option<Arc<Snapshot>>>,
    dispositions_tx: watch::Sender<Option<Arc<Vec<String>>>>,
    availability: Arc<Mutex<BTreeMap<String, bool>>>,
    session: SessionFacts,
    tries: Tries,
    jitter: Jitter,
    clock_watch: ClockWatch,
    /// When to fetch a new OAuth token.
    refresh_at: Option<Instant>,
    live_since: Option<SystemTime>,
    waiting_since: Option<SystemTime>,
    /// What the answers so far showed of the tenant's percentages.
    scales: crate::snapshot::PercentScales,
}

/// Run `fut` unless a command comes first (a retry request is not one: the keeper is already
/// trying). A closed command channel means the handle is gone: stop.
async fn guarded<T>(
    commands: &mut mpsc::UnboundedReceiver<Command>,
    fut: impl Future<Output = T>,
) -> Result<T, Command> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                None => return Err(Command::Shutdown),
                Some(Command::RetryNow) => continue,
                Some(c) => return Err(c),
            },
            r = &mut fut => return Ok(r),
        }
    }
}

/// Fetch a configuration list (`cfg/…`) within `timeout`, interrupted by commands: `None`
/// (logged) when it fails, which costs only what the list was for.
async fn fetch_cfg<T, E: std::fmt::Display>(
    commands: &mut mpsc::UnboundedReceiver<Command>,
    what: &str,
    timeout: Duration,
    fetch: impl Future<Output = Result<T, E>>,
) -> Result<Option<T>, Command> {
    Ok(
        match guarded(commands, tokio::time::timeout(timeout, fetch)).await? {
            Ok(Ok(list)) => Some(list),
            Ok(Err(e)) => {
                tracing::warn!("could not fetch the {what}: {e}");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "could not fetch the {what}: no answer within {} s",
                    timeout.as_secs()
                );
                None
            }
        },
    )
}

/// Aborts a background task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Keeper {
    fn new(client: Client, plan: Plan, options: KeeperOptions) -> (Keeper, Ends) {
        let (commands, rx) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(ConnectionStatus::Connecting);
        let (snapshot_tx, snapshot) = watch::channel(None);
        let (dispositions_tx, dispositions) = watch::channel(None);
        let (changes_tx, changes) = mpsc::channel(CHANGES_BUFFER);
        let _ = changes_tx.try_send(ConnectionStatus::Connecting);
        let keeper = Keeper {
            scales: crate::snapshot::PercentScales::new(options.percent_scale),
            jitter: Jitter::new(options.jitter_seed),
            clock_watch: ClockWatch::new(options.clock.clone(), options.jump_threshold()),
            client,
            plan,
            options,
            commands: rx,
            status_tx,
            changes_tx,
            snapshot_tx,
            dispositions_tx,
            availability: Arc::new(Mutex::new(BTreeMap::new())),
            session: SessionFacts::default(),
            tries: Tries::default(),
            refresh_at: None,
            live_since: None,
            waiting_since: None,
        };
        let ends = Ends {
            commands,
            status,
            snapshot,
            dispositions,
            changes,
        };
        (keeper, ends)
    }

    async fn run(mut self) -> ShutdownReport {
        let mut step = Step::Login;
        loop {
            let outcome = match step {
                Step::Login => self.login().await,
                Step::Subscribe => self.subscribe().await,
                Step::Poll => self.poll().await,
            };
            let next = match outcome {
                Outcome::Go(s) => Some(s),
                Outcome::Retry {
                    problem,
                    long,
                    then,
                } => self.back_off(problem, long, then).await,
                Outcome::Fail(problem) => self.failed(problem).await,
                Outcome::Command(c) => self.apply(c).await,
            };
            match next {
                Some(s) => step = s,
                None => break,
            }
        }
        self.finish().await
    }

    fn now(&self) -> SystemTime {
        self.options.clock.now()
    }

    /// Make `status` current, and log it when it is a change a person would notice.
    fn publish(&mut self, status: ConnectionStatus) {
        if !matches!(status, ConnectionStatus::Live { .. }) {
            self.live_since = None;
        }
        if !matches!(status, ConnectionStatus::WaitingForData { .. }) {
            self.waiting_since = None;
        }
        let changed = !self.status_tx.borrow().same_state(&status);
        if changed {
            match status.problem() {
                Some(p) => tracing::warn!(state = status.state(), "{p}"),
                None => tracing::info!(state = status.state(), "connection: {}", status),
            }
            if self.changes_tx.try_send(status.clone()).is_err() {
                tracing::debug!("status change not queued: nobody is reading changes");
            }
        }
        self.status_tx.send_replace(status);
    }

    fn is_password_login(&self) -> bool {
        matches!(self.client.auth(), Auth::Password { .. })
    }

    async fn login(&mut self) -> Outcome {
        self.publish(ConnectionStatus::Authenticating);
        self.session = SessionFacts::default();
        self.refresh_at = None;
        match guarded(&mut self.commands, self.client.authenticate()).await {
            Err(cmd) => Outcome::Command(cmd),
            Ok(Ok(login)) => {
                self.session.logged_in_at = Some(Instant::now());
                self.refresh_at = login.expires_at.map(|at| self.refresh_deadline(at.into()));
                Outcome::Go(Step::Subscribe)
            }
            Ok(Err(e)) => self.on_error(e, Step::Login),
        }
    }

    /// When to fetch a new token that runs out at `expires_at`: a fifth of its life early (at
    /// most a minute), and never sooner than one poll interval from now, so a server that
    /// hands back a nearly spent token cannot make the keeper ask in a loop.
    fn refresh_deadline(&self, expires_at: Instant) -> Instant {
        let now = Instant::now();
        let ttl = expires_at.saturating_duration_since(now);
        let margin = (ttl / 5).min(Duration::from_secs(60));
        (expires_at - margin).max(now + self.options.poll_interval)
    }

    async fn subscribe(&mut self) -> Outcome {
        self.publish(ConnectionStatus::Subscribing);
        if !self.plan.member_services.is_empty()
            && self.session.service_ids.is_none()
            && let Err(cmd) = self.fetch_service_ids().await
        {
            return Outcome::Command(cmd);
        }
        let request = self.plan.request_with(
            self.session
                .service_ids
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        );
        match guarded(
            &mut self.commands,
            self.client.create_subscription(&request),
        )
        .await
        {
            Err(cmd) => Outcome::Command(cmd),
            Ok(Ok(())) => {
                self.session.subscribed_at = Some(Instant::now());
                self.session.answered = false;
                if !self.session.dispositions_fetched
                    && let Err(cmd) = self.fetch_dispositions().await
                {
                    return Outcome::Command(cmd);
                }
                Outcome::Go(Step::Poll)
            }
            Ok(Err(e)) => self.on_error(e, Step::Subscribe),
        }
    }

    /// Dispositions, once per session. A failure here costs nothing but the list: it is logged
    /// and the previous list (if any) stays.
    async fn fetch_dispositions(&mut self) -> Result<(), Command> {
        let timeout = self.cfg_timeout();
        let fetch = self.client.dispositions(DispositionFilter::default());
        if let Some(list) =
            fetch_cfg(&mut self.commands, "disposition list", timeout, fetch).await?
        {
            self.session.dispositions_fetched = true;
            self.dispositions_tx.send_replace(Some(Arc::new(list)));
        }
        Ok(())
    }

    /// The ids of the services, for the plan's member grids. A failure costs only those grids
    /// (logged; tried again at the next subscription).
    async fn fetch_service_ids(&mut self) -> Result<(), Command> {
        let timeout = self.cfg_timeout();
        let fetch = self.client.services();
        if let Some(list) = fetch_cfg(&mut self.commands, "service list", timeout, fetch).await? {
            self.session.service_ids = Some(list.into_iter().map(|s| (s.name, s.id)).collect());
        }
        Ok(())
    }

    /// How long a configuration list (`cfg/…`) may take.
    fn cfg_timeout(&self) -> Duration {
        self.options.poll_interval.max(Duration::from_secs(5))
    }

    /// The one place that decides what an error means for the session.
    fn on_error(&mut self, err: ApiError, step: Step) -> Outcome {
        match &err {
            ApiError::Unauthorized { .. } => self.session_ended(&err),
            ApiError::NoSubscription { .. } => {
                // Lost before a single answer: the server may be dropping it as fast as it is
                // made, so wait before making it again. Lost later (a restart, a cleared
                // cache): make it again at once; polls pace the cycle.
                let fresh = !self.session.answered;
                self.session.subscribed_at = None;
                if fresh {
                    Outcome::Retry {
                        problem: Problem::new(
                            ProblemKind::SubscriptionLost,
                            format!(
                                "{err}; the server dropped the subscription right after it was created"
                            ),
                        ),
                        long: false,
                        then: Step::Subscribe,
                    }
                } else {
                    tracing::info!("{err}; subscribing again");
                    Outcome::Go(Step::Subscribe)
                }
            }
            ApiError::SubscriptionLimit { .. } => Outcome::Retry {
                problem: Problem::from_error(&err),
                long: true,
                then: Step::Subscribe,
            },
            e if e.is_transient() => Outcome::Retry {
                problem: Problem::from_error(e),
                long: false,
                then: step,
            },
            e => Outcome::Fail(Problem::from_error(e)),
        }
    }

    /// 401: the session is gone. An established session is replaced at once. A fresh one —
    /// never answered a poll, or (password logins) made less than `fresh_window` ago — is
    /// retried with backoff. Fresh password logins ended again and again mean another login of
    /// the same user keeps replacing ours (one session per user): fighting it would log the
    /// other side out in a loop, so the keeper backs off for long and says why.
    fn session_ended(&mut self, err: &ApiError) -> Outcome {
        let young = self
            .session
            .logged_in_at
            .is_some_and(|t| t.elapsed() < self.options.fresh_window);
        let fresh = !self.session.answered || (self.is_password_login() && young);
        self.session = SessionFacts::default();
        self.client.forget_session();
        if !fresh {
            tracing::info!("{err}; logging in again");
            self.tries.ended_logins = 0;
            return Outcome::Go(Step::Login);
        }
        self.tries.ended_logins += 1;
        if self.is_password_login() && self.tries.ended_logins >= self.options.takeover_strikes {
            let user = self.client.auth().username().to_string();
            return Outcome::Retry {
                problem: Problem::new(
                    ProblemKind::TakenOver,
                    format!(
                        "session taken over by another login of {user}: the server keeps one password session per user, and another wallboard or client keeps logging in as {user}. Lookout waits instead of fighting it; give Lookout a user of its own, or switch to OAuth (auth = \"oauth\")"
                    ),
                ),
                long: true,
                then: Step::Login,
            };
        }
        Outcome::Retry {
            problem: Problem::new(
                ProblemKind::SessionLost,
                format!("{err}; the login was ended right after it was made"),
            ),
            long: false,
            then: Step::Login,
        }
    }

    async fn poll(&mut self) -> Outcome {
        let outcome = self.poll_loop().await;
        // What availability checks said before a gap may be stale after it: unknown until the
        // next round.
        lock(&self.availability).clear();
        outcome
    }

    async fn poll_loop(&mut self) -> Outcome {
        let interval = self.options.poll_interval;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut clock_tick = tokio::time::interval_at(Instant::now() + CLOCK_LOOK, CLOCK_LOOK);
        clock_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.clock_watch.reset();
        let (_availability, first_round) = self.start_availability();
        if let Some(first) = first_round {
            // The first snapshot should already know availability: wait a little for it.
            let wait = tokio::time::timeout(interval, first);
            if let Err(cmd) = guarded(&mut self.commands, wait).await {
                return Outcome::Command(cmd);
            }
        }
        loop {
            let refresh_at = self.refresh_at;
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    None => return Outcome::Command(Command::Shutdown),
                    Some(Command::RetryNow) => {
                        ticker.reset_immediately();
                        continue;
                    }
                    Some(c) => return Outcome::Command(c),
                },
                _ = tokio::time::sleep_until(refresh_at.unwrap_or_else(Instant::now)),
                    if refresh_at.is_some() =>
                {
                    if let Err(cmd) = self.refresh_token().await {
                        return Outcome::Command(cmd);
                    }
                    continue;
                }
                _ = clock_tick.tick() => {
                    if let Some(jump) = self.clock_watch.look(CLOCK_LOOK) {
                        tracing::info!(
                            wall_secs = jump.wall,
                            monotonic_secs = jump.mono,
                            "the clock jumped (sleep/resume?); checking the session now"
                        );
                        ticker.reset_immediately();
                        if self.refresh_at.is_some() {
                            // Token lifetimes were counted on a clock that stood still.
                            self.refresh_at = Some(Instant::now());
                        }
                    }
                    continue;
                }
                _ = ticker.tick() => {}
            }
            match guarded(&mut self.commands, self.client.poll_data()).await {
                Err(cmd) => return Outcome::Command(cmd),
                Ok(Ok(PollOutcome::Data(data))) => {
                    let now = self.now();
                    let taken_at = now
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    let mut snap =
                        Snapshot::from_data_with(&self.plan, &data, taken_at, &mut self.scales);
                    snap.availability = lock(&self.availability).clone();
                    self.snapshot_tx.send_replace(Some(Arc::new(snap)));
                    self.session.answered = true;
                    self.tries = Tries::default();
                    let since = *self.live_since.get_or_insert(now);
                    self.publish(ConnectionStatus::Live {
                        since,
                        last_data: now,
                    });
                }
                Ok(Ok(PollOutcome::NotReady)) => {
                    // The session works; only the data is not there yet.
                    let now = self.now();
                    self.session.answered = true;
                    self.tries.short = 0;
                    self.tries.long = 0;
                    let since = *self.waiting_since.get_or_insert(now);
                    self.publish(ConnectionStatus::WaitingForData { since });
                }
                Ok(Err(e)) => return self.on_error(e, Step::Poll),
            }
        }
    }

    /// Fetch a new OAuth token while the current one still works. A failure is logged and
    /// tried again a little later; if the token runs out meanwhile, the next poll's 401 logs in
    /// again.
    async fn refresh_token(&mut self) -> Result<(), Command> {
        match guarded(&mut self.commands, self.client.refresh()).await? {
            Ok(login) => {
                tracing::debug!("token refreshed");
                self.refresh_at = login.expires_at.map(|at| self.refresh_deadline(at.into()));
            }
            Err(e) => {
                let again = self.options.poll_interval.max(Duration::from_secs(5));
                tracing::warn!(
                    "could not refresh the access token ({e}); trying again in {} s",
                    again.as_secs()
                );
                self.refresh_at = Some(Instant::now() + again);
            }
        }
        Ok(())
    }

    /// Start checking availability in the background. Returns the task (aborted when dropped)
    /// and, when nothing is known yet, a signal for the end of its first round.
    fn start_availability(&self) -> (Option<AbortOnDrop>, Option<oneshot::Receiver<()>>) {
        let services = self.options.availability_services.clone();
        if services.is_empty() {
            return (None, None);
        }
        let probe = self.client.without_session();
        let shared = self.availability.clone();
        let every = self.options.availability_interval;
        let (first_tx, first_rx) = oneshot::channel();
        let first = lock(&shared).is_empty().then_some(first_rx);
        let task = tokio::spawn(async move {
            let mut first_tx = Some(first_tx);
            loop {
                let round = futures_util::future::join_all(services.iter().map(|s| {
                    let probe = &probe;
                    async move { (s.clone(), probe.check_available_agents(s).await) }
                }))
                .await;
                {
                    let mut map = lock(&shared);
                    for (service, answer) in round {
                        match answer {
                            Ok(v) => {
                                map.insert(service, v);
                            }
                            Err(e) => {
                                // Unknown, not "nobody available": a rule must not fire on a
                                // failed check.
                                if map.remove(&service).is_some() {
                                    tracing::warn!("availability of service `{service}`: {e}");
                                } else {
                                    tracing::debug!("availability of service `{service}`: {e}");
                                }
                            }
                        }
                    }
                }
                if let Some(tx) = first_tx.take() {
                    let _ = tx.send(());
                }
                tokio::time::sleep(every).await;
            }
        });
        (Some(AbortOnDrop(task)), first)
    }

    /// Wait out a retry delay, unless a command, a `retry_now` or a clock jump comes first.
    async fn back_off(&mut self, problem: Problem, long: bool, then: Step) -> Option<Step> {
        let (policy, n) = if long {
            self.tries.long += 1;
            (self.options.long_backoff, self.tries.long)
        } else {
            self.tries.short += 1;
            (self.options.backoff, self.tries.short)
        };
        let delay = self.jitter.delay(&policy, n);
        let retry_at = Instant::now() + delay;
        self.publish(ConnectionStatus::Reconnecting {
            reason: problem,
            retry_at: self.now() + delay,
            attempt: self.tries.short + self.tries.long,
        });
        self.clock_watch.reset();
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    None => return None,
                    Some(Command::RetryNow) => return Some(then),
                    Some(c) => return self.apply(c).await,
                },
                _ = tokio::time::sleep_until(retry_at) => return Some(then),
                _ = tokio::time::sleep(CLOCK_LOOK) => {
                    if let Some(jump) = self.clock_watch.look(CLOCK_LOOK) {
                        tracing::info!(
                            wall_secs = jump.wall,
                            monotonic_secs = jump.mono,
                            "the clock jumped (sleep/resume?); retrying now"
                        );
                        return Some(then);
                    }
                }
            }
        }
    }

    /// Stay failed until something changes: a new plan, a new configuration, or an explicit
    /// retry.
    async fn failed(&mut self, problem: Problem) -> Option<Step> {
        self.publish(ConnectionStatus::Failed { reason: problem });
        match self.commands.recv().await {
            None => None,
            Some(Command::RetryNow) => {
                self.publish(ConnectionStatus::Connecting);
                Some(Step::Login)
            }
            Some(c) => self.apply(c).await,
        }
    }

    /// Carry out a command; `None` means stop.
    async fn apply(&mut self, cmd: Command) -> Option<Step> {
        match cmd {
            Command::Shutdown => None,
            Command::RetryNow => Some(Step::Login),
            Command::SetPlan(plan) => {
                self.plan = plan;
                if self.client.has_session() {
                    Some(Step::Subscribe)
                } else {
                    Some(Step::Login)
                }
            }
            Command::Reconnect(next) => {
                let (client, options) = *next;
                let _ = self.delete_subscription().await;
                self.jitter = Jitter::new(options.jitter_seed);
                self.clock_watch = ClockWatch::new(options.clock.clone(), options.jump_threshold());
                self.client = client;
                self.options = options;
                self.session = SessionFacts::default();
                self.tries = Tries::default();
                lock(&self.availability).clear();
                self.publish(ConnectionStatus::Connecting);
                Some(Step::Login)
            }
        }
    }

    /// Delete the subscription if there is one, within the shutdown timeout.
    async fn delete_subscription(&mut self) -> ShutdownReport {
        if self.session.subscribed_at.is_none() || !self.client.has_session() {
            return ShutdownReport {
                deleted: false,
                problem: None,
            };
        }
        self.session.subscribed_at = None;
        let timeout = self.options.shutdown_timeout;
        match tokio::time::timeout(timeout, self.client.delete_subscription()).await {
            Ok(Ok(())) => ShutdownReport {
                deleted: true,
                problem: None,
            },
            // Already gone (the server restarted or dropped it): the slot is free.
            Ok(Err(ApiError::NoSubscription { .. })) => ShutdownReport {
                deleted: false,
                problem: None,
            },
            Ok(Err(e)) => ShutdownReport {
                deleted: false,
                problem: Some(format!("could not delete the subscription: {e}")),
            },
            Err(_) => ShutdownReport {
                deleted: false,
                problem: Some(format!(
                    "could not delete the subscription: no answer within {} s",
                    timeout.as_secs()
                )),
            },
        }
    }

    async fn finish(mut self) -> ShutdownReport {
        let report = self.delete_subscription().await;
        match &report.problem {
            Some(p) => tracing::warn!("{p}"),
            None if report.deleted => tracing::info!("subscription deleted"),
            None => {}
        }
        report
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    //! Every client error, and what the keeper does about it. The integration tests in
    //! `tests/keeper.rs` drive the same paths against the simulated tenant.

    use super::*;
    use lookout_statsapi::Secret;

    fn keeper(auth: Auth) -> Keeper {
        let client = Client::new("http://127.0.0.1:9", auth, Default::default()).unwrap();
        Keeper::new(client, Plan::overview(), KeeperOptions::default()).0
    }

    fn oauth() -> Auth {
        Auth::OAuth {
            client_id: "supervisor".into(),
            client_secret: Secret::new("s"),
            scope: "t".into(),
        }
    }

    fn password() -> Auth {
        Auth::Password {
            tenant_url: "t".into(),
            username: "supervisor".into(),
            password: Secret::new("p"),
        }
    }

    const EP: &str = "GET http://127.0.0.1:9/statsapi/subscription/data";

    fn ep() -> String {
        EP.to_string()
    }

    /// What an outcome amounts to: (retry long?, problem kind) or the next step or a failure.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Go(Step),
        Retry(ProblemKind, bool, Step),
        Fail(ProblemKind),
    }

    fn seen(o: Outcome) -> Seen {
        match o {
            Outcome::Go(s) => Seen::Go(s),
            Outcome::Retry {
                problem,
                long,
                then,
            } => Seen::Retry(problem.kind, long, then),
            Outcome::Fail(p) => Seen::Fail(p.kind),
            Outcome::Command(_) => panic!("no command was sent"),
        }
    }

    fn status(code: u16) -> ApiError {
        ApiError::Status {
            endpoint: ep(),
            status: code,
            excerpt: String::new(),
        }
    }

    fn transient_errors() -> Vec<(ApiError, ProblemKind)> {
        vec![
            (
                ApiError::Transport {
                    endpoint: ep(),
                    message: "connection refused".into(),
                },
                ProblemKind::Network,
            ),
            (
                ApiError::Timeout {
                    endpoint: ep(),
                    after: Duration::from_secs(10),
                },
                ProblemKind::Timeout,
            ),
            (
                ApiError::Decode {
                    endpoint: ep(),
                    status: 200,
                    message: "EOF".into(),
                    excerpt: "{".into(),
                },
                ProblemKind::Malformed,
            ),
            (
                ApiError::BodyTooLarge {
                    endpoint: ep(),
                    limit: 10,
                },
                ProblemKind::Malformed,
            ),
            (status(500), ProblemKind::Server),
            (status(503), ProblemKind::Server),
            (status(429), ProblemKind::Server),
            (status(408), ProblemKind::Server),
        ]
    }

    #[test]
    fn transient_errors_back_off_and_resume_where_they_failed() {
        for step in [Step::Login, Step::Subscribe, Step::Poll] {
            for (err, kind) in transient_errors() {
                let mut k = keeper(oauth());
                assert_eq!(seen(k.on_error(err, step)), Seen::Retry(kind, false, step));
            }
        }
    }

    #[test]
    fn what_a_retry_cannot_fix_fails() {
        let cases = [
            (
                ApiError::SubscriptionRejected {
                    endpoint: ep(),
                    status: 400,
                    error_code: Some("2".into()),
                    error_message: Some("Unknown statistic".into()),
                },
                ProblemKind::SubscriptionRejected,
            ),
            (
                ApiError::AuthRejected {
                    endpoint: ep(),
                    status: 401,
                    message: None,
                },
                ProblemKind::CredentialsRejected,
            ),
            (
                ApiError::LegacyLoginRetired { endpoint: ep() },
                ProblemKind::LoginRetired,
            ),
            (
                ApiError::OAuthUnavailable { endpoint: ep() },
                ProblemKind::OAuthUnavailable,
            ),
            (
                ApiError::InvalidUrl {
                    url: "x".into(),
                    reason: "no host".into(),
                },
                ProblemKind::Config,
            ),
            (status(403), ProblemKind::Unexpected),
            (status(418), ProblemKind::Unexpected),
        ];
        for (err, kind) in cases {
            let mut k = keeper(oauth());
            assert_eq!(seen(k.on_error(err, Step::Subscribe)), Seen::Fail(kind));
        }
    }

    #[test]
    fn a_full_tenant_waits_long_then_subscribes_again() {
        let mut k = keeper(oauth());
        let o = k.on_error(
            ApiError::SubscriptionLimit { endpoint: ep() },
            Step::Subscribe,
        );
        assert_eq!(
            seen(o),
            Seen::Retry(ProblemKind::SubscriptionLimit, true, Step::Subscribe)
        );
    }

    #[test]
    fn a_lost_subscription_is_made_again_at_once_unless_it_never_answered() {
        let mut k = keeper(oauth());
        k.session.answered = true;
        let lost = || ApiError::NoSubscription { endpoint: ep() };
        assert_eq!(
            seen(k.on_error(lost(), Step::Poll)),
            Seen::Go(Step::Subscribe)
        );
        k.session.answered = false;
        assert_eq!(
            seen(k.on_error(lost(), Step::Poll)),
            Seen::Retry(ProblemKind::SubscriptionLost, false, Step::Subscribe)
        );
    }

    #[test]
    fn an_ended_session_logs_in_again_and_a_takeover_is_not_fought() {
        let gone = || ApiError::Unauthorized { endpoint: ep() };
        // OAuth: an established session is replaced at once; a fresh one that dies backs off,
        // however often (there is no takeover with OAuth).
        let mut k = keeper(oauth());
        k.session.answered = true;
        k.session.logged_in_at = Some(Instant::now());
        assert_eq!(seen(k.on_error(gone(), Step::Poll)), Seen::Go(Step::Login));
        for _ in 0..4 {
            k.session.logged_in_at = Some(Instant::now());
            assert_eq!(
                seen(k.on_error(gone(), Step::Subscribe)),
                Seen::Retry(ProblemKind::SessionLost, false, Step::Login)
            );
        }
        // Password: a young session ended counts, and the second one in a row is a takeover.
        let mut k = keeper(password());
        k.session.answered = true;
        k.session.logged_in_at = Some(Instant::now() - Duration::from_secs(3600));
        assert_eq!(seen(k.on_error(gone(), Step::Poll)), Seen::Go(Step::Login));
        k.session.logged_in_at = Some(Instant::now());
        assert_eq!(
            seen(k.on_error(gone(), Step::Subscribe)),
            Seen::Retry(ProblemKind::SessionLost, false, Step::Login)
        );
        k.session.logged_in_at = Some(Instant::now());
        match k.on_error(gone(), Step::Subscribe) {
            Outcome::Retry {
                problem,
                long: true,
                then: Step::Login,
            } => {
                assert_eq!(problem.kind, ProblemKind::TakenOver);
                assert!(
                    problem
                        .message
                        .starts_with("session taken over by another login of supervisor"),
                    "{}",
                    problem.message
                );
            }
            _ => panic!("a takeover was not recognised"),
        }
        assert!(!k.client.has_session(), "the dead session is forgotten");
    }

    #[test]
    fn a_token_is_refreshed_early_but_never_in_a_loop() {
        let k = keeper(oauth());
        let now = Instant::now();
        // An hour-long token: a minute early.
        let at = k.refresh_deadline(now + Duration::from_secs(3600));
        let early = (now + Duration::from_secs(3600)).duration_since(at);
        assert!(early.as_secs() == 60 || early.as_secs() == 59, "{early:?}");
        // A 10-second token: 2 s early.
        let at = k.refresh_deadline(now + Duration::from_secs(10));
        assert!((now + Duration::from_secs(8)).duration_since(at) < Duration::from_millis(50));
        // A token already spent: not before one poll interval.
        let at = k.refresh_deadline(now);
        assert!(at >= now + k.options.poll_interval);
    }
}
