//! Several sources (tenants watched here, or team hubs) as one. The state a window shows is
//! their merge — the worst connection, every alert and history entry labelled with its
//! source — and a person's command goes to the source that holds the alert (pause, resume and
//! reload go to all). With one source, its state passes unchanged.

use std::sync::Arc;

use lookout_alerting::ActiveAlert;
use lookout_alerting::store::HistoryEntry;
use lookout_keeper::{ConnectionStatus, Problem};
use tokio::sync::mpsc::UnboundedSender;

use crate::state::{Command, PipelineState, RECENT_HISTORY, StateReceiver, state_channel};

/// The label that names an alert's source when there are several.
pub const SOURCE_LABEL: &str = "source";

/// One source: its name (a tenant, a hub), its state and where its commands go.
pub struct Source {
    pub name: String,
    pub state: StateReceiver,
    pub commands: UnboundedSender<Command>,
}

/// The notifier of one of several sources: each notification labelled with it, and its name
/// before the title, so it says whose it is.
pub struct FromSource {
    source: String,
    inner: Box<dyn lookout_alerting::notify::Notifier>,
}

impl FromSource {
    pub fn new(source: &str, inner: Box<dyn lookout_alerting::notify::Notifier>) -> FromSource {
        FromSource {
            source: source.into(),
            inner,
        }
    }
}

impl lookout_alerting::notify::Notifier for FromSource {
    fn notify(&mut self, n: &lookout_alerting::notify::Notification) -> Result<(), String> {
        let mut n = n.clone();
        n.labels.insert(SOURCE_LABEL.into(), self.source.clone());
        n.title = format!("{}: {}", self.source, n.title);
        self.inner.notify(&n)
    }
}

/// How bad a connection is: smaller is worse.
fn rank(c: &ConnectionStatus) -> (u8, std::time::SystemTime) {
    let never = std::time::SystemTime::UNIX_EPOCH;
    match c {
        ConnectionStatus::Failed { .. } => (0, never),
        ConnectionStatus::Reconnecting { .. } => (1, never),
        ConnectionStatus::Connecting
        | ConnectionStatus::Authenticating
        | ConnectionStatus::Subscribing => (2, never),
        ConnectionStatus::WaitingForData { .. } => (3, never),
        // The stalest data is the worst.
        ConnectionStatus::Live { last_data, .. } => (4, *last_data),
    }
}

/// The connection of `name`, its problem (if any) saying whose it is.
fn named(name: &str, c: &ConnectionStatus) -> ConnectionStatus {
    let name_it = |p: &Problem| Problem::new(p.kind, format!("{name}: {}", p.message));
    match c {
        ConnectionStatus::Failed { reason } => ConnectionStatus::Failed {
            reason: name_it(reason),
        },
        ConnectionStatus::Reconnecting {
            reason,
            retry_at,
            attempt,
        } => ConnectionStatus::Reconnecting {
            reason: name_it(reason),
            retry_at: *retry_at,
            attempt: *attempt,
        },
        other => other.clone(),
    }
}

/// The states of several sources as one. The data (services, agents, chat) is the first
/// source's that has any: a window shows one tenant's grids, and every source's alerts.
pub fn merge(parts: &[(&str, &PipelineState)]) -> PipelineState {
    match parts {
        [] => return PipelineState::default(),
        [(_, one)] => return (*one).clone(),
        _ => {}
    }
    let worst = parts
        .iter()
        .min_by_key(|(_, s)| rank(&s.connection))
        .expect("two or more");
    let label = |name: &str, labels: &mut lookout_alerting::Labels| {
        labels.insert(SOURCE_LABEL.into(), name.to_string());
    };
    let mut alerts: Vec<ActiveAlert> = Vec::new();
    let mut history: Vec<HistoryEntry> = Vec::new();
    let mut rules = Vec::new();
    for (name, s) in parts {
        alerts.extend(s.alerts.iter().cloned().map(|mut a| {
            label(name, &mut a.alert.labels);
            a
        }));
        history.extend(s.history.iter().cloned().map(|mut h| {
            label(name, &mut h.labels);
            h
        }));
        rules.extend(s.rules.iter().cloned().map(|mut r| {
            r.name = format!("{name}: {}", r.name);
            r
        }));
    }
    alerts.sort_by_key(ActiveAlert::attention);
    history.sort_by_key(|h| std::cmp::Reverse(h.at));
    history.truncate(RECENT_HISTORY);
    PipelineState {
        at: parts.iter().map(|(_, s)| s.at).max().unwrap_or(0),
        connection: named(worst.0, &worst.1.connection),
        snapshot: parts.iter().find_map(|(_, s)| s.snapshot.clone()),
        alerts,
        rules,
        paused_until: parts[0].1.paused_until,
        history,
    }
}

/// The source of the alert a command is about, when one holds it.
fn holder(sources: &[(String, StateReceiver)], c: &Command) -> Option<usize> {
    let Command::Act(e) = c else {
        return None;
    };
    let key = e.digest.as_ref().and_then(|d| d.first()).unwrap_or(&e.key);
    sources.iter().position(|(_, rx)| {
        rx.borrow()
            .alerts
            .iter()
            .any(|a| a.alert.rule == e.rule && a.alert.key == *key)
    })
}

/// Run several sources as one: the merged state, kept current, and one way to command them.
/// Call from within a tokio runtime.
pub fn fan_in(sources: Vec<Source>) -> (StateReceiver, UnboundedSender<Command>) {
    let (state_tx, state_rx) = state_channel();
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel::<Command>();
    let (poke_tx, mut poke_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let receivers: Vec<(String, StateReceiver)> = sources
        .iter()
        .map(|s| (s.name.clone(), s.state.clone()))
        .collect();
    for s in &sources {
        let mut rx = s.state.clone();
        let poke = poke_tx.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                if poke.send(()).is_err() {
                    return;
                }
            }
        });
    }
    drop(poke_tx);
    let for_merge = receivers.clone();
    tokio::spawn(async move {
        while poke_rx.recv().await.is_some() {
            let states: Vec<(String, Arc<PipelineState>)> = for_merge
                .iter()
                .map(|(n, rx)| (n.clone(), rx.borrow().clone()))
                .collect();
            let parts: Vec<(&str, &PipelineState)> =
                states.iter().map(|(n, s)| (n.as_str(), &**s)).collect();
            state_tx.send_replace(Arc::new(merge(&parts)));
        }
    });
    let senders: Vec<UnboundedSender<Command>> = sources.into_iter().map(|s| s.commands).collect();
    tokio::spawn(async move {
        while let Some(c) = cmd_rx.recv().await {
            match holder(&receivers, &c) {
                Some(i) => {
                    let _ = senders[i].send(c);
                }
                None => {
                    for s in &senders {
                        let _ = s.send(c.clone());
                    }
                }
            }
        }
    });
    (state_rx, cmd_tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_alerting::lifecycle::Alert;
    use lookout_alerting::notify::{Action, ActionEvent};
    use lookout_alerting::{Finding, Severity};
    use lookout_keeper::ProblemKind;
    use std::time::{Duration, SystemTime};

    fn alert(key: &str, severity: Severity, since: i64) -> ActiveAlert {
        ActiveAlert {
            alert: Alert::firing(
                Finding {
                    rule: "r".into(),
                    key: key.into(),
                    severity,
                    title: key.into(),
                    body: String::new(),
                    labels: Default::default(),
                },
                "R",
                since,
            ),
            quiet: None,
            acknowledged: None,
        }
    }

    fn live(ago: u64) -> ConnectionStatus {
        let now = SystemTime::now();
        ConnectionStatus::Live {
            since: now - Duration::from_secs(600),
            last_data: now - Duration::from_secs(ago),
        }
    }

    #[test]
    fn the_worst_connection_and_every_alert_with_its_source() {
        let a = PipelineState {
            connection: live(1),
            alerts: vec![alert("wait:Sales", Severity::Warning, 10)],
            ..PipelineState::default()
        };
        let b = PipelineState {
            connection: ConnectionStatus::Reconnecting {
                reason: Problem::new(ProblemKind::Network, "the hub's broker is out of reach"),
                retry_at: SystemTime::now(),
                attempt: 2,
            },
            alerts: vec![alert("noready:Billing", Severity::Critical, 20)],
            ..PipelineState::default()
        };
        let m = merge(&[("acme", &a), ("hub", &b)]);
        assert_eq!(m.connection.state(), "reconnecting");
        assert_eq!(
            m.connection.problem().unwrap().message,
            "hub: the hub's broker is out of reach"
        );
        let got: Vec<(&str, &str)> = m
            .alerts
            .iter()
            .map(|x| (x.alert.key.as_str(), x.alert.labels[SOURCE_LABEL].as_str()))
            .collect();
        assert_eq!(
            got,
            [("noready:Billing", "hub"), ("wait:Sales", "acme")],
            "critical first"
        );
        // Both live: the staler data is the one shown.
        let b = PipelineState {
            connection: live(9),
            ..b
        };
        let m = merge(&[("acme", &a), ("hub", &b)]);
        assert_eq!(m.connection, b.connection);
        // One source: as it is, unlabelled.
        let one = merge(&[("acme", &a)]);
        assert!(one.alerts[0].alert.labels.is_empty());
    }

    #[tokio::test]
    async fn a_command_goes_to_the_source_that_holds_its_alert() {
        let mut sources = Vec::new();
        let mut inboxes = Vec::new();
        let mut publishers = Vec::new();
        for (name, key) in [("acme", "wait:Sales"), ("hub", "noready:Billing")] {
            let (tx, rx) = state_channel();
            let (ctx, crx) = tokio::sync::mpsc::unbounded_channel();
            tx.send_replace(Arc::new(PipelineState {
                alerts: vec![alert(key, Severity::Critical, 1)],
                ..PipelineState::default()
            }));
            sources.push(Source {
                name: name.into(),
                state: rx,
                commands: ctx,
            });
            inboxes.push(crx);
            publishers.push(tx);
        }
        let (mut merged, commands) = fan_in(sources);
        publishers[1].send_modify(|_| {});
        merged.changed().await.unwrap();
        assert_eq!(merged.borrow().alerts.len(), 2);
        let ack = Command::Act(ActionEvent {
            rule: "r".into(),
            key: "noready:Billing".into(),
            digest: None,
            action: Action::Acknowledge,
            by: None,
            also: Vec::new(),
        });
        commands.send(ack.clone()).unwrap();
        commands.send(Command::Resume).unwrap();
        assert_eq!(inboxes[1].recv().await, Some(ack));
        assert_eq!(inboxes[1].recv().await, Some(Command::Resume));
        assert_eq!(
            inboxes[0].recv().await,
            Some(Command::Resume),
            "not the acknowledgement"
        );
    }
}
