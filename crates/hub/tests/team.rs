//! Team mode against the simulated tenant and a real `nats-server`: one hub, three desks (two
//! on Front Line, one on Specialists).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lookout_alerting::TEAM_LABEL;
use lookout_alerting::notify::{Action, ActionEvent, NotificationState};
use lookout_alerting::policy::Quiet;
use lookout_hub::broker::Broker;
use lookout_hub::desk::DeskNote;
use lookout_hub::hub::HubNote;
use lookout_hub::subjects::{Scope, Subjects};
use lookout_keeper::ConnectionStatus;
use lookout_pipeline::Command;
use support::*;

fn teams_told(desk: &RunningDesk) -> Vec<Option<String>> {
    desk.told()
        .iter()
        .map(|n| n.labels.get(TEAM_LABEL).cloned())
        .collect()
}

fn agent_teams(desk: &RunningDesk) -> Vec<String> {
    let state = desk.state();
    let Some(snap) = state.snapshot.as_ref() else {
        return Vec::new();
    };
    (0..snap.agents.len())
        .filter_map(|r| {
            snap.agents
                .get(r, "team_name")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hub_serves_each_desk_its_scope_and_an_acknowledgement_reaches_every_desk() {
    let demo = demo_with_storm().await;
    let users = users();
    let broker = Broker::start(&users).unwrap();
    let hub = RunningHub::start(
        "hub-1",
        login(&broker, &users, "hub"),
        demo.clone(),
        Duration::from_secs(3),
    );
    let ana = RunningDesk::start("ana", login(&broker, &users, "ana"));
    let bo = RunningDesk::start("bo", login(&broker, &users, "bo"));
    let cy = RunningDesk::start("cy", login(&broker, &users, "cy"));
    let long = Duration::from_secs(30);

    // Every desk sees the tenant live, through the hub: the tenant serves one subscription.
    for desk in [&ana, &bo, &cy] {
        wait_for("a desk to see the tenant live", long, || {
            matches!(desk.state().connection, ConnectionStatus::Live { .. }).then_some(())
        })
        .await;
    }
    assert!(hub.active());
    assert_eq!(demo.sim().active_subscriptions(), 1);

    // Each desk is told its team's alerts and the tenant-wide ones, never another team's.
    wait_for("Front Line's desks to be told of their team", long, || {
        (teams_told(&ana).contains(&Some(FRONT.into()))
            && teams_told(&bo).contains(&Some(FRONT.into())))
        .then_some(())
    })
    .await;
    wait_for("the Specialists' desk to be told of its team", long, || {
        teams_told(&cy)
            .contains(&Some(SPECIALISTS.into()))
            .then_some(())
    })
    .await;
    for (desk, team) in [(&ana, FRONT), (&bo, FRONT), (&cy, SPECIALISTS)] {
        for t in teams_told(desk) {
            assert!(
                t.is_none() || t.as_deref() == Some(team),
                "{team}'s desk told of {t:?}"
            );
        }
        for a in &desk.state().alerts {
            let t = a.alert.labels.get(TEAM_LABEL);
            assert!(
                t.is_none() || t.map(String::as_str) == Some(team),
                "{team}'s desk shows {t:?}"
            );
        }
    }
    wait_for("a tenant-wide alert told on every desk", long, || {
        [&ana, &bo, &cy]
            .iter()
            .all(|d| teams_told(d).contains(&None))
            .then_some(())
    })
    .await;

    // The Specialists' desk never gets Front Line's agents: the broker refuses it.
    wait_for("the broker to refuse Front Line to cy", long, || {
        cy.notes()
            .contains(&DeskNote::NotPermitted {
                tenant: demo.config.server.tenant.clone().unwrap(),
                scope: Scope::Team(FRONT.into()),
            })
            .then_some(())
    })
    .await;
    let subject = Subjects::new(&demo.config.server.tenant.clone().unwrap())
        .readable(&Scope::Team(FRONT.into()));
    assert!(
        broker.log().contains(&format!(
            "Subscription Violation - User \"cy\", Subject \"{subject}\""
        )),
        "{}",
        broker.log()
    );
    assert!(agent_teams(&ana).iter().any(|t| t == FRONT));
    assert!(!agent_teams(&ana).iter().any(|t| t == SPECIALISTS));
    assert!(agent_teams(&cy).iter().any(|t| t == SPECIALISTS));
    assert!(
        !agent_teams(&cy).iter().any(|t| t == FRONT),
        "{:?}",
        agent_teams(&cy)
    );

    // Ana acknowledges one of Front Line's alerts; Bo hears of it within a second, and his
    // window says who.
    let target = wait_for("a firing Front Line alert on ana's desk", long, || {
        ana.state()
            .alerts
            .iter()
            .find(|a| a.loud() && a.alert.labels.get(TEAM_LABEL).map(String::as_str) == Some(FRONT))
            .map(|a| (a.alert.rule.clone(), a.alert.key.clone()))
    })
    .await;
    let asked = Instant::now();
    ana.commands
        .send(Command::Act(ActionEvent {
            rule: target.0.clone(),
            key: target.1.clone(),
            digest: None,
            action: Action::Acknowledge,
            by: None,
            also: Vec::new(),
        }))
        .unwrap();
    wait_for(
        "bo to hear of ana's acknowledgement",
        Duration::from_secs(1),
        || {
            bo.notes()
            .iter()
            .any(|n| matches!(n, DeskNote::Acknowledged(a) if a.key == target.1 && a.by == "ana"))
            .then_some(())
        },
    )
    .await;
    let heard = asked.elapsed();
    wait_for(
        "bo's window to show who acknowledged",
        Duration::from_secs(3),
        || {
            bo.state()
                .alerts
                .iter()
                .find(|a| a.alert.key == target.1)
                .filter(|a| a.quiet == Some(Quiet::Acknowledged))
                .and_then(|a| a.acknowledged.clone())
                .filter(|k| k.by.as_deref() == Some("ana"))
        },
    )
    .await;
    // The history shows it on every desk of the team, and no Front Line entry reaches the
    // Specialists.
    wait_for(
        "bo's history to say who acknowledged",
        Duration::from_secs(3),
        || {
            bo.state()
                .history
                .iter()
                .any(|h| h.key == target.1 && h.what == "acknowledged by ana")
                .then_some(())
        },
    )
    .await;
    assert!(
        cy.state()
            .history
            .iter()
            .all(|h| h.labels.get(TEAM_LABEL).is_none_or(|t| t == SPECIALISTS)),
        "{:?}",
        cy.state().history
    );
    assert!(
        cy.state()
            .history
            .iter()
            .any(|h| h.labels.get(TEAM_LABEL).map(String::as_str) == Some(SPECIALISTS))
    );
    eprintln!(
        "acknowledgement heard by another desk after {} ms",
        heard.as_millis()
    );

    // Bo snoozes a tenant-wide alert as `lookout snooze` does: his desk is quiet about it, Ana's
    // is not (snoozing is personal).
    let other = wait_for("a loud tenant-wide alert on bo's desk", long, || {
        bo.state()
            .alerts
            .iter()
            .find(|a| a.loud() && !a.alert.labels.contains_key(TEAM_LABEL) && !a.is_no_data())
            .map(|a| a.alert.key.clone())
    })
    .await;
    let bo_client = lookout_hub::nats::connect(&login(&broker, &users, "bo"), "test", None)
        .await
        .unwrap();
    let until = lookout_keeper::unix_now() + 900;
    let snooze = lookout_hub::wire::SnoozeRequest {
        v: lookout_hub::wire::VERSION,
        rule: None,
        key: other.clone(),
        until,
    };
    bo_client
        .publish(
            lookout_hub::subjects::personal_snooze("bo"),
            serde_json::to_vec(&snooze).unwrap().into(),
        )
        .await
        .unwrap();
    bo_client.flush().await.unwrap();
    wait_for(
        "bo's desk to be quiet about it",
        Duration::from_secs(3),
        || {
            bo.state()
                .alerts
                .iter()
                .find(|a| a.alert.key == other)
                .filter(|a| a.quiet == Some(Quiet::Snoozed { until }))
                .map(|_| ())
        },
    )
    .await;
    let quiet_on_ana = || {
        ana.state()
            .alerts
            .iter()
            .find(|a| a.alert.key == other)
            .map(|a| a.quiet.clone())
    };
    assert_eq!(quiet_on_ana(), Some(None), "ana's desk is not snoozed");
    // Nobody snoozes for someone else: the broker drops bo's publishing as ana.
    let _ = bo_client
        .publish(
            lookout_hub::subjects::personal_snooze("ana"),
            serde_json::to_vec(&snooze).unwrap().into(),
        )
        .await;
    let _ = bo_client.flush().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        broker.log().contains("Publish Violation - User \"bo\""),
        "{}",
        broker.log()
    );
    assert_eq!(quiet_on_ana(), Some(None));

    // Nothing was told twice on any desk.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for desk in [&ana, &bo, &cy] {
        let mut times: BTreeMap<(String, String), u32> = BTreeMap::new();
        for n in desk.told() {
            if n.state == NotificationState::Firing {
                *times.entry((n.rule.clone(), n.key.clone())).or_default() += 1;
            }
        }
        assert!(times.values().all(|t| *t == 1), "{times:?}");
    }
    assert_eq!(demo.sim().active_subscriptions(), 1);

    for d in [ana, bo, cy] {
        d.stop().await;
    }
    hub.stop().await;
    assert_eq!(
        demo.sim().active_subscriptions(),
        0,
        "the hub deleted its subscription"
    );
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_waits_for_a_broker_that_is_down_and_shows_a_lost_one_as_no_data() {
    let demo = demo_with_storm().await;
    let users = users();
    let mut broker = Broker::start(&users).unwrap();
    let long = Duration::from_secs(30);
    // Down at start: the desk says so and keeps trying.
    broker.kill();
    let ana = RunningDesk::start("ana", login(&broker, &users, "ana"));
    wait_for("ana to say the broker is out of reach", long, || {
        let c = ana.state().connection.clone();
        (matches!(&c, ConnectionStatus::Reconnecting { reason, .. } if reason.message.contains("cannot reach the hub's broker"))
            && ana.notes().iter().any(|n| matches!(n, DeskNote::Unreachable(_))))
        .then_some(())
    })
    .await;
    broker.restart().unwrap();
    let hub = RunningHub::start(
        "hub-1",
        login(&broker, &users, "hub"),
        demo.clone(),
        Duration::from_secs(3),
    );
    wait_for("ana to see the tenant live", long, || {
        (matches!(ana.state().connection, ConnectionStatus::Live { .. })
            && ana.state().alerts.iter().any(|a| a.loud()))
        .then_some(())
    })
    .await;

    // Lost while running: "no data from the hub", and the alerts stay as the hub last said.
    let keys = |d: &RunningDesk| -> Vec<String> {
        d.state()
            .alerts
            .iter()
            .filter(|a| {
                !a.is_no_data() && a.alert.state == lookout_alerting::lifecycle::State::Firing
            })
            .map(|a| a.alert.key.clone())
            .collect()
    };
    let before = keys(&ana);
    let told_before = ana.told().len();
    broker.kill();
    wait_for("ana to show no data from the hub", long, || {
        ana.state().alerts.iter().find(|a| a.is_no_data()).cloned()
    })
    .await;
    assert!(matches!(
        ana.state().connection,
        ConnectionStatus::Reconnecting { .. }
    ));
    let during = keys(&ana);
    assert!(
        before.iter().all(|k| during.contains(k)),
        "{before:?} → {during:?}"
    );
    let told: Vec<_> = ana.told()[told_before..].to_vec();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].title, "No data from the hub");
    assert_eq!(told[0].severity, lookout_alerting::Severity::Critical);

    // Back: the hub takes its lease again, the desk says data is arriving again.
    broker.restart().unwrap();
    // The hub stepped down when it could not renew its lease (it cannot know that no other
    // hub took over), and takes the lease again now.
    wait_for(
        "the hub to step down and come back",
        Duration::from_secs(45),
        || {
            let notes = hub.notes.lock().unwrap();
            (notes
                .iter()
                .any(|n| matches!(n, HubNote::SteppedDown { .. }))
                && notes
                    .iter()
                    .filter(|n| matches!(n, HubNote::Active { .. }))
                    .count()
                    == 2)
                .then_some(())
        },
    )
    .await;
    wait_for("ana to hear the hub again", Duration::from_secs(45), || {
        (!ana.state().alerts.iter().any(|a| a.is_no_data())
            && matches!(ana.state().connection, ConnectionStatus::Live { .. }))
        .then_some(())
    })
    .await;
    assert!(
        ana.told()
            .iter()
            .any(|n| n.body == "Data is arriving again.")
    );

    // A message on a hub subject that does not parse: ignored, counted, nothing breaks.
    let hub_client = lookout_hub::nats::connect(&login(&broker, &users, "hub"), "test", None)
        .await
        .unwrap();
    let subjects = Subjects::new(&demo.config.server.tenant.clone().unwrap());
    for garbage in [
        &b"\x1b]0;pwned\x07{"[..],
        br#"{"v":1,"scope":{"kind":"all"}}"#,
        br#"{"v":9}"#,
    ] {
        hub_client
            .publish(
                subjects.state(&Scope::All),
                bytes::Bytes::copy_from_slice(garbage),
            )
            .await
            .unwrap();
    }
    hub_client.flush().await.unwrap();
    wait_for("ana to count the garbage", long, || {
        ana.notes()
            .iter()
            .any(|n| matches!(n, DeskNote::Problem(p) if p.contains("ignored a message from the hub: a state that does not parse") && p.contains("(1 so far)")))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(matches!(
        ana.state().connection,
        ConnectionStatus::Live { .. }
    ));
    ana.stop().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_runs_rules_of_its_own_over_what_the_hub_publishes() {
    let demo = demo_with_storm().await;
    let users = users();
    let broker = Broker::start(&users).unwrap();
    let long = Duration::from_secs(30);
    let hub = RunningHub::start(
        "hub-1",
        login(&broker, &users, "hub"),
        demo.clone(),
        Duration::from_secs(3),
    );
    // Ana's own rule: any call waiting on Billing. It also asks for a statistic the hub does
    // not subscribe to.
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(
        mine.path().join("billing_waits.rhai"),
        r#"const RULE = #{ name: "Billing waits", severity: "warning", needs: #{ services: ["name", "in_calls_waiting", "in_ewt"] } };
for s in services.where("name", "Billing").where("in_calls_waiting", ">", 0) {
    alert(`mine:${s.name}`, `${s.name}: ${s.in_calls_waiting} waiting`, "");
}"#,
    )
    .unwrap();
    let ana = RunningDesk::with_rules(
        "ana",
        login(&broker, &users, "ana"),
        Some(mine.path().into()),
    );
    let bo = RunningDesk::start("bo", login(&broker, &users, "bo"));
    // Told on Ana's desk, once, named as her own; shown with her rules' report.
    wait_for("ana's own alert", long, || {
        ana.told().iter().find(|n| n.key == "mine:Billing").cloned()
    })
    .await;
    let shown = wait_for("ana's own alert in her window", long, || {
        ana.state()
            .alerts
            .iter()
            .find(|a| a.alert.key == "mine:Billing")
            .cloned()
    })
    .await;
    assert_eq!(
        shown
            .alert
            .labels
            .get(lookout_pipeline::sources::SOURCE_LABEL)
            .map(String::as_str),
        Some(lookout_hub::personal::YOUR_RULES)
    );
    assert!(
        ana.state()
            .rules
            .iter()
            .any(|r| r.name == "your rules: Billing waits")
    );
    assert!(
        ana.notes().iter().any(|n| matches!(n, DeskNote::Problem(p) if p.contains("services.in_ewt") && p.contains("does not publish"))),
        "{:?}",
        ana.notes()
    );
    // Acknowledging it stays on her desk: the hub hears nothing, Bo never has it.
    ana.commands
        .send(Command::Act(ActionEvent {
            rule: "billing_waits".into(),
            key: "mine:Billing".into(),
            digest: None,
            action: Action::Acknowledge,
            by: None,
            also: Vec::new(),
        }))
        .unwrap();
    wait_for(
        "ana's own alert acknowledged",
        Duration::from_secs(3),
        || {
            ana.state()
                .alerts
                .iter()
                .find(|a| a.alert.key == "mine:Billing")
                .filter(|a| a.quiet == Some(Quiet::Acknowledged))
                .map(|_| ())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !bo.notes()
            .iter()
            .any(|n| matches!(n, DeskNote::Acknowledged(_)))
    );
    assert!(
        !bo.state()
            .alerts
            .iter()
            .any(|a| a.alert.key == "mine:Billing")
    );
    let told = ana
        .told()
        .iter()
        .filter(|n| n.key == "mine:Billing")
        .count();
    assert_eq!(told, 1);
    ana.stop().await;
    bo.stop().await;
    hub.stop().await;
}
