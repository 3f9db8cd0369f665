//! A desk: reads a hub instead of Bright Pattern and produces the same [`PipelineState`] and
//! takes the same [`Command`]s as a local pipeline, so a window or a terminal cannot tell
//! the difference. Notifications are the hub's decisions, told here; acknowledging goes to
//! the hub (everyone sees who did it); snooze and pause stay on this desk.
//!
//! What this desk may read is the broker's decision: it subscribes to every team the hub
//! announces (or those it is told to) and keeps the ones the broker allows.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::{Client, Event, ServerError};
use futures_util::StreamExt;
use lookout_alerting::lifecycle::Alert;
use lookout_alerting::notify::{
    Action, ActionEvent, Notification, NotificationState, Notifier, NotifierThread,
};
use lookout_alerting::store::{HistoryEntry, Store};
use lookout_alerting::{ActiveAlert, CONNECTION_RULE, Finding, NO_DATA_KEY, Severity};
use lookout_keeper::{ConnectionStatus, Problem, ProblemKind, unix_now};
use lookout_pipeline::state::{RECENT_HISTORY, StateSender};
use lookout_pipeline::{Command, PipelineState};

use crate::nats::{ConnectFailure, Login, connect_retrying};
use crate::personal::PersonalRules;
use crate::subjects::{DIRECTORY, Scope, Subjects, personal_snooze};
use crate::wire::{self, AckRequest, Acked, DataPart, Directory, ScopeState, SnoozeRequest, Told};

/// How a desk runs.
pub struct DeskOptions {
    pub login: Login,
    /// Who acknowledges from this desk (the NATS user, unless the broker has none).
    pub user: String,
    /// The tenant to follow (default: the only one the hub watches, or the first).
    pub tenant: Option<String>,
    /// The teams to read (default: every team the hub announces that the broker allows).
    pub teams: Option<Vec<String>>,
    /// This desk's own memory: snoozes, pause, history.
    pub store_path: PathBuf,
    /// No word from the hub for this long is "no data".
    pub stale_after: Duration,
    /// Where to publish the state (for a window).
    pub state: Option<StateSender>,
    /// Requests from a window.
    pub commands: Option<tokio::sync::mpsc::UnboundedReceiver<Command>>,
    /// Rules of this desk's own, run over what the hub publishes (`None`: only the hub's).
    pub rules: Option<PathBuf>,
}

/// Why a desk stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The broker refused it, or its address cannot work.
    #[error(transparent)]
    Connect(#[from] ConnectFailure),
    /// It could not start.
    #[error("{0}")]
    Start(String),
}

/// The default time without a word from the hub (it speaks every second) before a desk
/// calls it unreachable.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(5);

/// What a desk says besides its state, for a log or a terminal.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskNote {
    Connected {
        url: String,
    },
    /// Reading this tenant, from this hub.
    Following {
        tenant: String,
        hub: String,
    },
    /// Another hub took over.
    HubChanged {
        hub: String,
    },
    /// The broker does not let this desk read a scope (another team's): fine, and said once.
    NotPermitted {
        tenant: String,
        scope: Scope,
    },
    /// Someone acknowledged an alert (maybe here).
    Acknowledged(Acked),
    /// No word from the hub: why.
    Unreachable(String),
    /// The hub speaks again.
    Back,
    /// Something to log.
    Problem(String),
}

/// Messages that did not parse are counted; the first and then every hundredth is said.
#[derive(Default)]
struct Refused {
    count: u64,
    /// What to say, once the loop gets to it.
    say: Vec<String>,
}

impl Refused {
    fn note(&mut self, what: &str) {
        self.count += 1;
        if self.count == 1 || self.count.is_multiple_of(100) {
            self.say.push(format!(
                "ignored a message from the hub: {what} ({} so far)",
                self.count
            ));
        }
    }
}

enum Incoming {
    Directory(async_nats::Message),
    Snooze(async_nats::Message),
    Scope(Scope, async_nats::Message),
}

/// Everything the desk knows of its tenant.
struct Desk {
    tenant: Option<String>,
    subjects: Option<Subjects>,
    hub: Option<String>,
    /// Scopes subscribed to, and those the broker refused.
    reading: BTreeSet<Scope>,
    refused_scopes: BTreeSet<Scope>,
    scopes: BTreeMap<Scope, ScopeState>,
    /// When the hub last spoke (its tenant-wide state).
    last_word: Option<std::time::Instant>,
    disconnected: bool,
    /// The desk's own "no data from the hub" alert, while it is up.
    no_data: Option<Alert>,
    store: Store,
    /// Notifications told lately, so none is told twice (a hub taking over, a replay).
    told: VecDeque<(String, String, NotificationState, i64)>,
    refused: Refused,
    started: i64,
    /// This desk's own rules, when it has some.
    personal: Option<PersonalRules>,
    /// The data of every scope read, put together when a scope's data changes (not at every
    /// publish: a window redraws its grids only for new data).
    data: Option<Arc<lookout_keeper::Snapshot>>,
}

const TOLD_MEMORY: usize = 1024;

impl Desk {
    fn stale(&self, after: Duration) -> bool {
        self.disconnected || self.last_word.is_none_or(|t| t.elapsed() >= after)
    }

    /// The state a window shows: the hub's scopes put together, this desk's silences over them.
    fn state(&self, now: i64, after: Duration) -> PipelineState {
        let all = self.scopes.get(&Scope::All);
        let connection = if self.stale(after) && self.last_word.is_some() {
            ConnectionStatus::Reconnecting {
                reason: Problem::new(ProblemKind::Network, self.unreachable_text(after)),
                retry_at: SystemTime::now() + Duration::from_secs(1),
                attempt: 1,
            }
        } else {
            all.and_then(|s| s.connection.clone())
                .unwrap_or(ConnectionStatus::Connecting)
        };
        let silences = &self.store.state.silences;
        let mut alerts: Vec<ActiveAlert> = self
            .scopes
            .values()
            .flat_map(|s| s.alerts.iter())
            .map(|a| {
                let mut a = a.clone();
                // The hub's reason (acknowledged) unless this desk silenced it itself.
                if let Some(q) = silences.quiet(now, &a.alert.rule, &a.alert.key) {
                    a.quiet = Some(q);
                }
                a
            })
            .collect();
        if let Some(nd) = &self.no_data {
            alerts.push(ActiveAlert {
                quiet: silences.quiet(now, &nd.rule, &nd.key),
                acknowledged: None,
                alert: nd.clone(),
            });
        }
        let mut rules: Vec<_> = all
            .map(|s| s.rules.iter().map(wire::RuleWire::report).collect())
            .unwrap_or_default();
        if let Some(p) = &self.personal {
            alerts.extend(p.alerts(now));
            rules.extend(p.reports());
        }
        alerts.sort_by_key(ActiveAlert::attention);
        PipelineState {
            at: now,
            connection,
            snapshot: self.data.clone(),
            alerts,
            rules,
            paused_until: silences.paused_until,
            history: self.history(),
        }
    }

    /// The data of every scope read, put together.
    fn merge_data(&self) -> Option<Arc<lookout_keeper::Snapshot>> {
        let mut parts: Vec<&DataPart> = Vec::new();
        if let Some(d) = self.scopes.get(&Scope::All).and_then(|s| s.data.as_ref()) {
            parts.push(d);
        }
        parts.extend(
            self.scopes
                .iter()
                .filter(|(sc, _)| **sc != Scope::All)
                .filter_map(|(_, s)| s.data.as_ref()),
        );
        DataPart::merge(parts)
    }

    /// The hub's history of every scope read, with this desk's own (its snoozes), newest first.
    fn history(&self) -> Vec<HistoryEntry> {
        let mut all: Vec<HistoryEntry> = self
            .scopes
            .values()
            .flat_map(|s| s.history.iter().cloned())
            .chain(self.store.state.recent(RECENT_HISTORY))
            .collect();
        all.sort_by_key(|h| std::cmp::Reverse(h.at));
        all.truncate(RECENT_HISTORY);
        all
    }

    fn unreachable_text(&self, after: Duration) -> String {
        match (&self.hub, self.disconnected) {
            (_, true) => "the hub's broker is out of reach".into(),
            (Some(h), false) => format!(
                "the hub ({h}) has said nothing for {} s",
                after.as_secs().max(1)
            ),
            (None, false) => "no hub has spoken yet".into(),
        }
    }

    /// Tell a notification unless this desk silenced it or told it already.
    fn tell(&mut self, n: Notification, now: i64, out: &NotifierThread) {
        let id = (n.rule.clone(), n.key.clone(), n.state, n.at);
        if self.told.contains(&id) {
            return;
        }
        self.told.push_back(id);
        while self.told.len() > TOLD_MEMORY {
            self.told.pop_front();
        }
        if let Some(q) = self.store.state.silences.quiet(now, &n.rule, &n.key) {
            tracing::info!(rule = n.rule, key = n.key, "held: {q}");
            return;
        }
        let _ = out.send(n);
    }

    /// Snooze the alerts `s` names (every rule's with its key, or `s.rule`'s); a key no alert
    /// has now is snoozed for the rule given, or not at all.
    fn snooze(&mut self, s: &SnoozeRequest) {
        let mut rules: BTreeSet<String> = self
            .scopes
            .values()
            .flat_map(|sc| sc.alerts.iter())
            .filter(|a| a.alert.key == s.key && s.rule.as_ref().is_none_or(|r| *r == a.alert.rule))
            .map(|a| a.alert.rule.clone())
            .collect();
        if let Some(r) = &s.rule {
            rules.insert(r.clone());
        }
        for rule in rules {
            self.store
                .state
                .silences
                .snoozed
                .insert((rule.clone(), s.key.clone()), s.until);
            self.store.state.record(HistoryEntry {
                at: unix_now(),
                rule,
                key: s.key.clone(),
                what: "snoozed".into(),
                title: String::new(),
                labels: Default::default(),
            });
        }
    }

    /// The scope an alert of the current state is in (for where to acknowledge it).
    fn scope_of(&self, rule: &str, key: &str) -> Option<Scope> {
        self.scopes.iter().find_map(|(scope, s)| {
            s.alerts
                .iter()
                .any(|a| a.alert.rule == rule && a.alert.key == key)
                .then(|| scope.clone())
        })
    }
}

/// Run a desk until `stop` completes. Notifications go to `notifier` (on a thread of its own);
/// `actions` are a notification's buttons; `report` hears everything else.
pub async fn run(
    mut options: DeskOptions,
    notifier: Box<dyn Notifier>,
    actions: Option<tokio::sync::mpsc::UnboundedReceiver<ActionEvent>>,
    mut report: impl FnMut(DeskNote) + Send,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DeskError> {
    tokio::pin!(stop);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let name = format!("lookout desk {}", options.user);
    let client = {
        let state = options.state.clone();
        let mut attempt = 0;
        let mut tried = |e: &ConnectFailure, pause: Duration| {
            attempt += 1;
            // A window shows why nothing comes, as it does for a tenant out of reach.
            if let Some(tx) = &state {
                tx.send_replace(Arc::new(PipelineState {
                    at: unix_now(),
                    connection: ConnectionStatus::Reconnecting {
                        reason: Problem::new(ProblemKind::Network, e.to_string()),
                        retry_at: SystemTime::now() + pause,
                        attempt,
                    },
                    ..PipelineState::default()
                }));
            }
            report(DeskNote::Unreachable(format!(
                "{e}; trying again in {} s",
                pause.as_secs()
            )))
        };
        tokio::select! {
            c = connect_retrying(&options.login, &name, Some(events_tx), &mut tried) => c?,
            () = &mut stop => return Ok(()),
        }
    };
    report(DeskNote::Connected {
        url: options.login.url.clone(),
    });
    let (store, warning) = Store::open(&options.store_path);
    if let Some(w) = warning {
        report(DeskNote::Problem(w));
    }
    let notifier = NotifierThread::start(notifier).map_err(DeskError::Start)?;

    let (in_tx, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Incoming>();
    let mut forwarders = Vec::new();
    match client.subscribe(DIRECTORY).await {
        Ok(mut sub) => {
            let tx = in_tx.clone();
            forwarders.push(tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    if tx.send(Incoming::Directory(m)).is_err() {
                        return;
                    }
                }
            }));
        }
        Err(e) => report(DeskNote::Problem(format!(
            "cannot read the hub's directory: {e}"
        ))),
    }
    match client.subscribe(personal_snooze(&options.user)).await {
        Ok(mut sub) => {
            let tx = in_tx.clone();
            forwarders.push(tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    if tx.send(Incoming::Snooze(m)).is_err() {
                        return;
                    }
                }
            }));
        }
        Err(e) => report(DeskNote::Problem(format!(
            "cannot hear this person's snoozes: {e}"
        ))),
    }
    let mut desk = Desk {
        tenant: options.tenant.clone(),
        subjects: options.tenant.as_deref().map(Subjects::new),
        hub: None,
        reading: BTreeSet::new(),
        refused_scopes: BTreeSet::new(),
        scopes: BTreeMap::new(),
        last_word: None,
        disconnected: false,
        no_data: None,
        store,
        told: VecDeque::new(),
        refused: Refused::default(),
        started: unix_now(),
        personal: None,
        data: None,
    };
    if let Some(dir) = options.rules.take() {
        let store = options.store_path.with_extension("rules.json");
        let (personal, problems) = PersonalRules::start(&dir, &store).map_err(DeskError::Start)?;
        for p in problems {
            report(DeskNote::Problem(p));
        }
        desk.personal = Some(personal);
    }
    // Told which tenant and teams, the desk needs no directory.
    let mut wanted: BTreeSet<Scope> = BTreeSet::new();
    if desk.tenant.is_some() {
        wanted.insert(Scope::All);
        for t in options.teams.iter().flatten() {
            wanted.insert(Scope::Team(t.clone()));
        }
    }
    let subscribe =
        |scope: Scope, subjects: &Subjects, forwarders: &mut Vec<tokio::task::JoinHandle<()>>| {
            let subject = subjects.readable(&scope);
            let client = client.clone();
            let tx = in_tx.clone();
            forwarders.push(tokio::spawn(async move {
                let Ok(mut sub) = client.subscribe(subject).await else {
                    return;
                };
                while let Some(m) = sub.next().await {
                    if tx.send(Incoming::Scope(scope.clone(), m)).is_err() {
                        return;
                    }
                }
            }));
        };
    if let Some(subjects) = desk.subjects.clone() {
        for scope in &wanted {
            subscribe(scope.clone(), &subjects, &mut forwarders);
            desk.reading.insert(scope.clone());
        }
    }

    let mut actions = actions;
    let mut commands = options.commands.take();
    let after = options.stale_after;
    let mut said_unreachable = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let publish = |desk: &Desk, tx: &Option<StateSender>| {
        if let Some(tx) = tx {
            tx.send_replace(Arc::new(desk.state(unix_now(), after)));
        }
    };
    loop {
        let mut changed = false;
        tokio::select! {
            () = &mut stop => break,
            Some(e) = events.recv() => match e {
                Event::Disconnected => {
                    desk.disconnected = true;
                    changed = true;
                }
                Event::Connected => {
                    desk.disconnected = false;
                    changed = true;
                }
                Event::ServerError(ServerError::Other(text)) => {
                    let denied = text
                        .split('"')
                        .nth(1)
                        .filter(|_| text.contains("Permissions Violation for Subscription"));
                    let scope = denied.and_then(|subject| {
                        let subjects = desk.subjects.as_ref()?;
                        desk.reading.iter().find(|s| subjects.readable(s) == subject).cloned()
                    });
                    match scope {
                        Some(scope) => {
                            desk.reading.remove(&scope);
                            if desk.refused_scopes.insert(scope.clone()) {
                                report(DeskNote::NotPermitted {
                                    tenant: desk.tenant.clone().unwrap_or_default(),
                                    scope,
                                });
                            }
                        }
                        None => report(DeskNote::Problem(format!("the broker says: {text}"))),
                    }
                }
                Event::ServerError(ServerError::AuthorizationViolation) => {
                    report(DeskNote::Problem(
                        "the broker refused this desk's user: wrong user or password".into(),
                    ));
                }
                other => tracing::debug!("broker: {other}"),
            },
            Some(m) = incoming.recv() => match m {
                Incoming::Directory(m) => {
                    let d = match wire::read::<Directory>(&m.payload) {
                        Ok(d) => d,
                        Err(e) => {
                            desk.refused.note(&format!("a directory that {e}"));
                            continue;
                        }
                    };
                    if desk.tenant.is_none() {
                        let Some(first) = d.tenants.first() else { continue };
                        if d.tenants.len() > 1 {
                            report(DeskNote::Problem(format!(
                                "the hub watches {} tenants; following {} (choose with --tenant)",
                                d.tenants.len(),
                                first.tenant
                            )));
                        }
                        desk.tenant = Some(first.tenant.clone());
                        desk.subjects = Some(Subjects::new(&first.tenant));
                    }
                    let Some(entry) = d.tenants.iter().find(|t| Some(&t.tenant) == desk.tenant.as_ref()) else {
                        continue;
                    };
                    let subjects = desk.subjects.clone().expect("set with the tenant");
                    let mut scopes = vec![Scope::All];
                    scopes.extend(
                        entry
                            .teams
                            .iter()
                            .filter(|t| options.teams.as_ref().is_none_or(|w| w.contains(t)))
                            .map(|t| Scope::Team(t.clone())),
                    );
                    for scope in scopes {
                        if !desk.reading.contains(&scope) && !desk.refused_scopes.contains(&scope) {
                            subscribe(scope.clone(), &subjects, &mut forwarders);
                            desk.reading.insert(scope);
                        }
                    }
                }
                Incoming::Snooze(m) => match wire::read::<SnoozeRequest>(&m.payload) {
                    Ok(s) => {
                        desk.snooze(&s);
                        if let Err(e) = desk.store.save() {
                            report(DeskNote::Problem(format!("cannot save {}: {e}", desk.store.path().display())));
                        }
                        changed = true;
                    }
                    Err(e) => desk.refused.note(&format!("a snooze that {e}")),
                },
                Incoming::Scope(scope, m) => {
                    let now = unix_now();
                    let Some(subjects) = desk.subjects.clone() else { continue };
                    let subject = m.subject.as_str();
                    if subject == subjects.state(&scope) {
                        let s = match wire::read::<ScopeState>(&m.payload) {
                            Ok(s) => s,
                            Err(e) => {
                                desk.refused.note(&format!("a state that {e}"));
                                continue;
                            }
                        };
                        if s.scope != scope || Some(&s.tenant) != desk.tenant.as_ref() {
                            desk.refused.note(&format!("a state of {} on {subject}", s.scope));
                            continue;
                        }
                        // Older than what this desk has from the same hub (held back while
                        // the broker was out of reach): already superseded.
                        if desk.scopes.get(&scope).is_some_and(|p| p.hub == s.hub && s.at < p.at) {
                            continue;
                        }
                        if scope == Scope::All {
                            desk.last_word = Some(std::time::Instant::now());
                            match &desk.hub {
                                None => report(DeskNote::Following {
                                    tenant: s.tenant.clone(),
                                    hub: s.hub.clone(),
                                }),
                                Some(h) if *h != s.hub => report(DeskNote::HubChanged { hub: s.hub.clone() }),
                                _ => {}
                            }
                            desk.hub = Some(s.hub.clone());
                        }
                        // The hub says the same data again each second: merged only when new.
                        let taken = |st: &ScopeState| st.data.as_ref().map(|d| d.taken_at);
                        let new_data = desk.scopes.get(&scope).map(taken) != Some(taken(&s));
                        desk.scopes.insert(scope, s);
                        changed = true;
                        if new_data {
                            desk.data = desk.merge_data();
                            if let (Some(p), Some(snap)) = (desk.personal.as_mut(), desk.data.clone())
                                && let Some(missing) = p.submit(snap)
                            {
                                report(DeskNote::Problem(missing));
                            }
                        }
                    } else if subject == subjects.told(&scope) {
                        match wire::read::<Told>(&m.payload) {
                            Ok(t) if Scope::of(&t.notification.labels) == scope => {
                                desk.tell(t.notification, now, &notifier);
                                changed = true;
                            }
                            Ok(t) => desk.refused.note(&format!(
                                "a notification for {} on {subject}",
                                Scope::of(&t.notification.labels)
                            )),
                            Err(e) => desk.refused.note(&format!("a notification that {e}")),
                        }
                    } else if subject == subjects.acked(&scope) {
                        match wire::read::<Acked>(&m.payload) {
                            Ok(a) => {
                                // The hub's history says so too, with its next state.
                                report(DeskNote::Acknowledged(a));
                                changed = true;
                            }
                            Err(e) => desk.refused.note(&format!("an acknowledgement that {e}")),
                        }
                    }
                }
            },
            Some(ev) = async {
                match desk.personal.as_mut() {
                    Some(p) => p.event().await,
                    None => std::future::pending().await,
                }
            } => {
                let told = desk.personal.as_mut().map(|p| p.on_event(ev)).unwrap_or_default();
                for n in told {
                    desk.tell(n, unix_now(), &notifier);
                }
                changed = true;
            }
            Some(a) = async {
                match actions.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                act(&client, &options.user, &mut desk, &a).await;
                changed = true;
            }
            Some(c) = async {
                match commands.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match c {
                    Command::Pause { until } => desk.store.state.silences.paused_until = Some(until),
                    Command::Resume => desk.store.state.silences.paused_until = None,
                    Command::Act(a) => act(&client, &options.user, &mut desk, &a).await,
                    Command::ReloadRules => tracing::info!("the rules are the hub's: reload them there"),
                    // A desk has no agent grid of its own.
                    Command::AgentsOf(_) => {}
                }
                if let Err(e) = desk.store.save() {
                    report(DeskNote::Problem(format!("cannot save {}: {e}", desk.store.path().display())));
                }
                changed = true;
            }
            _ = tick.tick() => {
                let now = unix_now();
                desk.store.state.silences.expire(now);
                let stale = desk.stale(after) && now - desk.started >= after.as_secs() as i64;
                if stale && desk.no_data.is_none() {
                    let why = desk.unreachable_text(after);
                    let alert = Alert::firing(
                        Finding {
                            rule: CONNECTION_RULE.into(),
                            key: NO_DATA_KEY.into(),
                            severity: Severity::Critical,
                            title: "No data from the hub".into(),
                            body: format!("{why}; the alerts shown are as it last said."),
                            labels: Default::default(),
                        },
                        "Connection",
                        now,
                    );
                    desk.tell(notification_of(&alert, NotificationState::Firing, now), now, &notifier);
                    desk.no_data = Some(alert);
                    if !said_unreachable {
                        report(DeskNote::Unreachable(why));
                        said_unreachable = true;
                    }
                } else if !stale && let Some(alert) = desk.no_data.take() {
                    let mut n = notification_of(&alert, NotificationState::Resolved, now);
                    n.body = "Data is arriving again.".into();
                    desk.tell(n, now, &notifier);
                    report(DeskNote::Back);
                    said_unreachable = false;
                }
                changed = true;
            }
        }
        for w in std::mem::take(&mut desk.refused.say) {
            report(DeskNote::Problem(w));
        }
        if changed {
            publish(&desk, &options.state);
        }
    }
    for f in forwarders {
        f.abort();
    }
    notifier.stop();
    if let Some(p) = desk.personal.take() {
        p.stop();
    }
    if let Err(e) = desk.store.save() {
        report(DeskNote::Problem(format!(
            "cannot save {}: {e}",
            desk.store.path().display()
        )));
    }
    let _ = client.flush().await;
    Ok(())
}

fn notification_of(a: &Alert, state: NotificationState, now: i64) -> Notification {
    Notification {
        rule: a.rule.clone(),
        rule_name: a.rule_name.clone(),
        key: a.key.clone(),
        severity: a.severity,
        state,
        title: a.title.clone(),
        body: a.body.clone(),
        digest: None,
        labels: a.labels.clone(),
        runbook: a.runbook.clone(),
        at: now,
        group: None,
        also: Vec::new(),
        escalation: None,
    }
}

/// A person's action: acknowledging goes to the hub (for everyone), snoozing stays here.
async fn act(client: &Client, user: &str, desk: &mut Desk, a: &ActionEvent) {
    let now = unix_now();
    // This desk's own rules' alerts are nobody else's.
    if let Some(p) = desk.personal.as_mut()
        && p.owns(&a.rule)
    {
        p.act(a, now);
        return;
    }
    match a.action {
        Action::Acknowledge => {
            let Some(subjects) = desk.subjects.clone() else {
                return;
            };
            for (rule, key) in a.alerts() {
                let scope = desk.scope_of(&rule, &key).unwrap_or(Scope::All);
                let req = AckRequest {
                    v: wire::VERSION,
                    rule: Some(rule),
                    key,
                };
                if let Ok(body) = serde_json::to_vec(&req)
                    && let Err(e) = client
                        .publish(subjects.ack(&scope, user), body.into())
                        .await
                {
                    tracing::warn!("cannot send the acknowledgement to the hub: {e}");
                }
            }
            let _ = client.flush().await;
        }
        Action::Snooze => desk.store.state.silences.apply(a, now),
        Action::Open => {}
    }
}

/// The first directory a hub announces within `within` (hubs announce once a second), if any.
pub async fn directory(client: &Client, within: Duration) -> Option<Directory> {
    let mut sub = client.subscribe(DIRECTORY).await.ok()?;
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if let Ok(d) = wire::read::<Directory>(&m.payload) {
            return Some(d);
        }
    }
    None
}
