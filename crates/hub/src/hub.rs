//! The hub: per tenant, wait for the lease (standby), then run the pipeline and publish its
//! state until the lease is lost or the hub is stopped.
//!
//! The lease is a key in JetStream's key-value store that the active hub rewrites every third
//! of the lease period, each time expecting the revision it wrote last. A standby takes over
//! when it has seen the same revision for a whole lease period; the active hub steps down (and
//! deletes its subscription) when it has not renewed for two thirds of one, so two hubs never
//! poll the tenant at once. What the pipeline remembers (alerts firing and when they were
//! told, acknowledgements, silences) is saved to the same store before anything is told, and
//! the next active hub starts from it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::Client;
use async_nats::jetstream::kv::{Operation, Store as Kv, UpdateErrorKind};
use bytes::Bytes;
use futures_util::StreamExt;
use lookout_alerting::notify::{Action, ActionEvent, Notification, Notifier};
use lookout_keeper::unix_now;
use lookout_pipeline::run::SharedStore;
use lookout_pipeline::state::state_channel;
use lookout_pipeline::{Command, Note, PipelineState, Setup};

use crate::nats::{ConnectFailure, Login, connect_retrying};
use crate::subjects::{BUCKET, DIRECTORY, Scope, Subjects, parse_ack_subject, untoken};
use crate::wire::{self, AckRequest, Acked, DataPart, Directory, RuleWire, ScopeState, Told};

/// How a hub runs.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// This hub's name, as desks and the other hubs see it.
    pub name: String,
    pub login: Login,
    /// The lease period: a standby takes over within about one and a third of it after the
    /// active hub dies.
    pub lease: Duration,
}

/// The default lease period.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

/// One tenant a hub watches: its name and how to set its pipeline up each time this hub
/// becomes the active one.
pub struct Watched {
    pub tenant: String,
    pub make: Box<dyn Fn() -> Result<Setup, String> + Send + Sync>,
}

/// What a hub says about itself, for its log.
#[derive(Debug, Clone)]
pub enum HubNote {
    Connected,
    /// Another hub holds the lease for the tenant.
    Standby {
        tenant: String,
        active: String,
    },
    /// This hub holds the lease and watches the tenant.
    Active {
        tenant: String,
    },
    /// This hub stopped watching the tenant.
    SteppedDown {
        tenant: String,
        why: String,
    },
    /// The tenant's pipeline said something.
    Pipeline {
        tenant: String,
        note: Note,
    },
    Problem(String),
}

type Report = Arc<dyn Fn(HubNote) + Send + Sync>;

/// Run the hub until `stop` completes; on the way out each tenant's subscription is deleted
/// and its lease given up, so a standby takes over at once.
pub async fn run(
    options: HubOptions,
    watched: Vec<Watched>,
    report: impl Fn(HubNote) + Send + Sync + 'static,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ConnectFailure> {
    let report: Report = Arc::new(report);
    let name = format!("lookout hub {}", options.name);
    tokio::pin!(stop);
    let client = {
        let report = report.clone();
        tokio::select! {
            c = connect_retrying(&options.login, &name, None, move |e, pause| {
                report(HubNote::Problem(format!("{e}; trying again in {} s", pause.as_secs())));
            }) => c?,
            () = &mut stop => return Ok(()),
        }
    };
    report(HubNote::Connected);
    let js = async_nats::jetstream::new(client.clone());
    let kv = open_bucket(&js)
        .await
        .map_err(|e| ConnectFailure::Unreachable {
            url: options.login.url.clone(),
            why: format!("cannot open the key-value bucket {BUCKET} (is JetStream on?): {e}"),
        })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = watched
        .into_iter()
        .map(|w| {
            tokio::spawn(tenant_loop(
                client.clone(),
                kv.clone(),
                options.clone(),
                w,
                report.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    stop.await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let _ = client.flush().await;
    Ok(())
}

/// The hubs' key-value bucket, made if it is not there. Its stream is made here, as a
/// key-value bucket's is (one value per key, rollups, direct reads): async-nats' own way asks
/// the server for account fields nats-server 2.9 (Debian 12's) does not send.
async fn open_bucket(js: &async_nats::jetstream::Context) -> Result<Kv, String> {
    use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
    if let Ok(kv) = js.get_key_value(BUCKET).await {
        return Ok(kv);
    }
    js.get_or_create_stream(Config {
        name: format!("KV_{BUCKET}"),
        description: Some("Lookout hubs: who is active per tenant, what was told".into()),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    js.get_key_value(BUCKET).await.map_err(|e| e.to_string())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LeaseValue {
    hub: String,
    at: i64,
}

fn lease_value(name: &str) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&LeaseValue {
            hub: name.into(),
            at: unix_now(),
        })
        .unwrap_or_default(),
    )
}

async fn tenant_loop(
    client: Client,
    kv: Kv,
    options: HubOptions,
    watched: Watched,
    report: Report,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let subjects = Subjects::new(&watched.tenant);
    loop {
        let Some(revision) = standby(
            &kv,
            &subjects,
            &options,
            &watched.tenant,
            &report,
            &mut stop,
        )
        .await
        else {
            return;
        };
        report(HubNote::Active {
            tenant: watched.tenant.clone(),
        });
        match active(
            &client, &kv, &subjects, &options, &watched, &report, revision, &mut stop,
        )
        .await
        {
            Ended::Stopped => return,
            Ended::Lost(why) => report(HubNote::SteppedDown {
                tenant: watched.tenant.clone(),
                why,
            }),
        }
    }
}

/// Wait until this hub holds the lease; its revision, or `None` when stopped first.
async fn standby(
    kv: &Kv,
    subjects: &Subjects,
    options: &HubOptions,
    tenant: &str,
    report: &Report,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<u64> {
    let key = subjects.lease_key();
    let mut seen: Option<(u64, Instant)> = None;
    let mut holder_told: Option<String> = None;
    let mut failing_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return None;
        }
        match kv.entry(key.as_str()).await {
            Ok(None) => {
                if let Ok(rev) = kv.create(key.as_str(), lease_value(&options.name)).await {
                    return Some(rev);
                }
            }
            Ok(Some(e)) if e.operation != Operation::Put => {
                if let Ok(rev) = kv.create(key.as_str(), lease_value(&options.name)).await {
                    return Some(rev);
                }
            }
            Ok(Some(e)) => {
                failing_since = None;
                let holder = serde_json::from_slice::<LeaseValue>(&e.value)
                    .map(|v| v.hub)
                    .unwrap_or_else(|_| "another hub".into());
                if holder_told.as_deref() != Some(holder.as_str()) {
                    report(HubNote::Standby {
                        tenant: tenant.into(),
                        active: holder.clone(),
                    });
                    holder_told = Some(holder);
                }
                match seen {
                    Some((rev, since)) if rev == e.revision => {
                        if since.elapsed() >= options.lease
                            && let Ok(rev) = kv
                                .update(key.as_str(), lease_value(&options.name), e.revision)
                                .await
                        {
                            return Some(rev);
                        }
                    }
                    _ => seen = Some((e.revision, Instant::now())),
                }
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() < options.lease {
                    tracing::debug!("cannot read the lease: {e}");
                } else {
                    report(HubNote::Problem(format!(
                        "cannot read the lease for {tenant}: {e}"
                    )));
                    failing_since = Some(Instant::now());
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(options.lease / 3) => {}
            _ = stop.changed() => {}
        }
    }
}

enum Ended {
    Stopped,
    Lost(String),
}

/// What the pipeline hands out, in the order it happened: the remembered state is written
/// before the notification it allows is published.
enum Out {
    Store(Bytes),
    Told(Box<Notification>),
}

/// The pipeline's notifier on a hub: every notification goes to the outbox.
struct Outbox(tokio::sync::mpsc::UnboundedSender<Out>);

impl Notifier for Outbox {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        self.0
            .send(Out::Told(Box::new(n.clone())))
            .map_err(|_| "the hub's outbox is closed".to_string())
    }
}

#[allow(clippy::too_many_arguments)]
async fn active(
    client: &Client,
    kv: &Kv,
    subjects: &Subjects,
    options: &HubOptions,
    watched: &Watched,
    report: &Report,
    mut revision: u64,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Ended {
    let tenant = watched.tenant.clone();
    let saved = match kv.entry(subjects.store_key()).await {
        Ok(Some(e)) if e.operation == Operation::Put => Some(e.value.to_vec()),
        Ok(_) => None,
        Err(e) => {
            report(HubNote::Problem(format!(
                "cannot read what the last hub remembered for {tenant}: {e}; starting from this hub's own file"
            )));
            None
        }
    };
    let mut setup = match (watched.make)() {
        Ok(s) => s,
        Err(e) => {
            report(HubNote::Problem(format!("cannot watch {tenant}: {e}")));
            let _ = kv
                .delete_expect_revision(subjects.lease_key(), Some(revision))
                .await;
            // Wait for the stop: the configuration will not fix itself.
            let _ = stop.wait_for(|s| *s).await;
            return Ended::Stopped;
        }
    };
    let holding = Arc::new(AtomicBool::new(true));
    let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel::<Out>();
    let mirror_tx = out_tx.clone();
    setup.shared_store = Some(SharedStore {
        saved,
        mirror: Box::new(move |b| {
            let _ = mirror_tx.send(Out::Store(Bytes::copy_from_slice(b)));
        }),
    });
    let (state_tx, state_rx) = state_channel();
    setup.state = Some(state_tx);
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    setup.commands = Some(cmd_rx);

    let (pipe_stop_tx, pipe_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pipeline = {
        let report = report.clone();
        let tenant = tenant.clone();
        tokio::spawn(lookout_pipeline::run(
            setup,
            Box::new(Outbox(out_tx)),
            None,
            move |note| {
                report(HubNote::Pipeline {
                    tenant: tenant.clone(),
                    note,
                })
            },
            async move {
                let _ = pipe_stop_rx.await;
            },
        ))
    };
    let writer = tokio::spawn(write_out(
        client.clone(),
        kv.clone(),
        subjects.clone(),
        tenant.clone(),
        options.name.clone(),
        holding.clone(),
        out_rx,
    ));
    let publisher = tokio::spawn(publish_states(
        client.clone(),
        subjects.clone(),
        tenant.clone(),
        options.name.clone(),
        state_rx.clone(),
    ));
    let acks = tokio::spawn(take_acks(
        client.clone(),
        subjects.clone(),
        tenant.clone(),
        state_rx,
        cmd_tx,
    ));

    // Keep the lease.
    let key = subjects.lease_key();
    let mut last_renewed = Instant::now();
    let ended = loop {
        tokio::select! {
            () = tokio::time::sleep(options.lease / 3) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break Ended::Stopped;
        }
        let renewed = tokio::time::timeout(
            options.lease / 3,
            kv.update(key.as_str(), lease_value(&options.name), revision),
        )
        .await;
        match renewed {
            Ok(Ok(r)) => {
                revision = r;
                last_renewed = Instant::now();
            }
            Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                break Ended::Lost("another hub took the lease over".into());
            }
            Ok(Err(_)) | Err(_) if last_renewed.elapsed() >= options.lease * 2 / 3 => {
                break Ended::Lost(format!(
                    "the lease could not be renewed for {} ms (the broker is out of reach)",
                    last_renewed.elapsed().as_millis()
                ));
            }
            _ => {}
        }
    };
    if matches!(ended, Ended::Lost(_)) {
        // Another hub may be active already: nothing more from this one.
        holding.store(false, Ordering::SeqCst);
    }
    let _ = pipe_stop_tx.send(());
    match pipeline.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => report(HubNote::Problem(format!("{tenant}: {e}"))),
        Err(e) => report(HubNote::Problem(format!(
            "{tenant}: the pipeline failed: {e}"
        ))),
    }
    publisher.abort();
    acks.abort();
    // The outbox closes once the pipeline is gone: what is in it is written, then the lease is
    // given up so a standby starts at once.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    if matches!(ended, Ended::Stopped) {
        let _ = kv
            .delete_expect_revision(key.as_str(), Some(revision))
            .await;
    }
    ended
}

/// Write the outbox in order: the remembered state to the store, each notification to its
/// scope's subject. Nothing once the lease is lost.
async fn write_out(
    client: Client,
    kv: Kv,
    subjects: Subjects,
    tenant: String,
    hub: String,
    holding: Arc<AtomicBool>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Out>,
) {
    let store_key = subjects.store_key();
    while let Some(out) = rx.recv().await {
        if !holding.load(Ordering::SeqCst) {
            continue;
        }
        match out {
            Out::Store(body) => {
                if let Err(e) = kv.put(store_key.as_str(), body).await {
                    tracing::warn!("cannot keep the alert state of {tenant} in JetStream: {e}");
                }
            }
            Out::Told(n) => {
                let scope = Scope::of(&n.labels);
                let told = Told {
                    v: wire::VERSION,
                    tenant: tenant.clone(),
                    hub: hub.clone(),
                    sent_ms: wire::unix_ms(),
                    notification: *n,
                };
                publish(&client, subjects.told(&scope), &told).await;
            }
        }
    }
}

async fn publish<T: serde::Serialize>(client: &Client, subject: String, message: &T) {
    let body = match serde_json::to_vec(message) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("cannot write a message for {subject}: {e}");
            return;
        }
    };
    let size = body.len();
    if let Err(e) = client.publish(subject.clone(), body.into()).await {
        tracing::warn!("cannot publish {size} bytes on {subject}: {e}");
    }
}

/// The scopes' states, split from one pipeline state.
pub fn split(
    tenant: &str,
    hub: &str,
    state: &PipelineState,
    teams: &BTreeSet<String>,
) -> Vec<ScopeState> {
    let mut out = vec![ScopeState {
        v: wire::VERSION,
        tenant: tenant.into(),
        scope: Scope::All,
        hub: hub.into(),
        at: state.at,
        connection: Some(state.connection.clone()),
        alerts: Vec::new(),
        rules: state.rules.iter().map(RuleWire::of).collect(),
        data: state.snapshot.as_deref().map(DataPart::tenant_wide),
        history: Vec::new(),
    }];
    for team in teams {
        out.push(ScopeState {
            v: wire::VERSION,
            tenant: tenant.into(),
            scope: Scope::Team(team.clone()),
            hub: hub.into(),
            at: state.at,
            connection: None,
            alerts: Vec::new(),
            rules: Vec::new(),
            data: state.snapshot.as_deref().map(|s| DataPart::team(s, team)),
            history: Vec::new(),
        });
    }
    for a in &state.alerts {
        let scope = Scope::of(&a.alert.labels);
        if let Some(s) = out.iter_mut().find(|s| s.scope == scope) {
            s.alerts.push(a.clone());
        }
    }
    for h in &state.history {
        let scope = Scope::of(&h.labels);
        if let Some(s) = out.iter_mut().find(|s| s.scope == scope) {
            s.history.push(h.clone());
        }
    }
    out
}

/// The teams a state speaks of: its agents' and its alerts'.
fn teams_of(state: &PipelineState) -> BTreeSet<String> {
    let mut teams = state
        .snapshot
        .as_deref()
        .map(DataPart::teams)
        .unwrap_or_default();
    for a in &state.alerts {
        if let Scope::Team(t) = Scope::of(&a.alert.labels) {
            teams.insert(t);
        }
    }
    teams
}

/// Publish every scope's state on each change, and the directory once a second.
async fn publish_states(
    client: Client,
    subjects: Subjects,
    tenant: String,
    hub: String,
    mut rx: lookout_pipeline::state::StateReceiver,
) {
    // A team once seen keeps getting its (maybe empty) state, so its desks see it empty out.
    let mut teams: BTreeSet<String> = BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let state = rx.borrow_and_update().clone();
                teams.extend(teams_of(&state));
                for s in split(&tenant, &hub, &state, &teams) {
                    publish(&client, subjects.state(&s.scope), &s).await;
                }
            }
            _ = tick.tick() => {
                let d = Directory {
                    v: wire::VERSION,
                    hub: hub.clone(),
                    tenants: vec![wire::TenantEntry {
                        tenant: tenant.clone(),
                        teams: teams.iter().cloned().collect(),
                    }],
                };
                publish(&client, DIRECTORY.into(), &d).await;
            }
        }
    }
}

/// Acknowledgements from desks: each names its user in its subject (NATS allows a user only
/// their own) and may only touch alerts of the scope it came in on.
async fn take_acks(
    client: Client,
    subjects: Subjects,
    tenant: String,
    state: lookout_pipeline::state::StateReceiver,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
) {
    let [all, teams] = subjects.ack_any();
    let (Ok(a), Ok(b)) = (client.subscribe(all).await, client.subscribe(teams).await) else {
        tracing::warn!("cannot listen for acknowledgements of {tenant}");
        return;
    };
    let mut msgs = futures_util::stream::select(a, b);
    let mut refused = 0u64;
    while let Some(m) = msgs.next().await {
        let parsed = parse_ack_subject(&m.subject)
            .and_then(|(path, user)| Some((Scope::from_tokens(&path)?, untoken(&user)?)));
        let Some((scope, user)) = parsed else {
            refused += 1;
            tracing::warn!(
                "ignored an acknowledgement on {} ({refused} so far)",
                m.subject
            );
            continue;
        };
        let req = match wire::read::<AckRequest>(&m.payload) {
            Ok(r) => r,
            Err(e) => {
                refused += 1;
                tracing::warn!("ignored an acknowledgement from {user}: it {e} ({refused} so far)");
                continue;
            }
        };
        let now = unix_now();
        let matching: Vec<_> = state
            .borrow()
            .alerts
            .iter()
            .filter(|a| {
                Scope::of(&a.alert.labels) == scope
                    && a.alert.key == req.key
                    && req.rule.as_ref().is_none_or(|r| *r == a.alert.rule)
            })
            .map(|a| (a.alert.rule.clone(), a.alert.rule_name.clone()))
            .collect();
        if matching.is_empty() {
            tracing::info!(
                "{user} acknowledged `{}`, which is no alert of {scope} now",
                req.key
            );
        }
        for (rule, rule_name) in matching {
            let _ = commands.send(Command::Act(ActionEvent {
                rule: rule.clone(),
                key: req.key.clone(),
                digest: None,
                action: Action::Acknowledge,
                by: Some(user.clone()),
                also: Vec::new(),
            }));
            let acked = Acked {
                v: wire::VERSION,
                tenant: tenant.clone(),
                rule,
                rule_name,
                key: req.key.clone(),
                by: user.clone(),
                at: now,
            };
            publish(&client, subjects.acked(&scope), &acked).await;
        }
    }
}
