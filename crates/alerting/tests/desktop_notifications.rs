//! The desktop notifier against a notification server on a private D-Bus session bus: a real
//! `dbus-daemon`, a server that owns `org.freedesktop.Notifications` and records what arrives,
//! and the real notify-rust path in between. Each test in this file sets
//! `DBUS_SESSION_BUS_ADDRESS` for its own process (cargo-nextest runs one test per process).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_alerting::Severity;
use lookout_alerting::lifecycle::{Notice, NoticeKind};
use lookout_alerting::notify::desktop::DesktopNotifier;
use lookout_alerting::notify::{Action, Notification, NotificationState, Notifier};
use lookout_alerting::policy::{Policy, SNOOZE_SECS, Silences};

mod support {
    pub mod fake_notifications;
    pub mod private_bus;
}
use support::fake_notifications::{choose, serve};
use support::private_bus::private_bus;

fn note(severity: Severity, key: &str, title: &str, body: &str) -> Notification {
    Notification {
        rule: "urgent_chat".into(),
        rule_name: "Urgent chat message".into(),
        key: key.into(),
        severity,
        state: NotificationState::Firing,
        title: title.into(),
        body: body.into(),
        digest: None,
        labels: Default::default(),
        runbook: None,
        at: 1_700_000_000,
        group: None,
        also: Vec::new(),
        escalation: None,
    }
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn notifications_reach_the_server_escaped_with_urgency_and_actions_that_act() {
    let bus = private_bus();
    let addr = bus.address.clone();
    // SAFETY: this process runs this one test; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &addr) };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve(&addr, seen.clone());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut notifier = DesktopNotifier::connect(Some(tx)).expect("a notification server");
    assert!(notifier.capabilities().actions && notifier.capabilities().body_markup);

    notifier
        .notify(&note(
            Severity::Critical,
            "chat:7",
            "Urgent message from Diana <Yeh>",
            "<img src=x onerror=alert(1)> & <b>help</b>",
        ))
        .unwrap();
    let got = wait_until("the notification", || seen.lock().unwrap().first().cloned());
    assert_eq!(got.app, "Lookout");
    // This server renders markup (it says `body-markup`; some render summaries too): markup
    // characters in a summary become look-alikes no markup parser reads.
    assert_eq!(got.summary, "Urgent message from Diana ‹Yeh›");
    assert!(!got.summary.contains(['<', '>', '&']), "{}", got.summary);
    assert_eq!(
        got.body, "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;help&lt;/b&gt;",
        "a body is markup to this server, so it is escaped"
    );
    assert_eq!(got.urgency, Some(2));
    assert_eq!(got.sound.as_deref(), Some("alarm-clock-elapsed"));
    assert_eq!(
        got.actions,
        [
            "default",
            "Open",
            "acknowledge",
            "Acknowledge",
            "snooze",
            "Snooze 15 min"
        ]
    );

    // The person clicks Acknowledge: the alert goes quiet until it resolves.
    let event = wait_until("the Acknowledge action", || {
        choose(&server, 1, "acknowledge");
        std::thread::sleep(Duration::from_millis(50));
        rx.try_recv().ok()
    });
    assert_eq!(event.action, Action::Acknowledge);
    assert_eq!(
        (event.rule.as_str(), event.key.as_str()),
        ("urgent_chat", "chat:7")
    );
    let mut silences = Silences::default();
    silences.apply(&event, 1_700_000_000);
    let repeat = Notice {
        kind: NoticeKind::Repeat,
        notify: true,
        rule: "urgent_chat".into(),
        rule_name: "Urgent chat message".into(),
        key: "chat:7".into(),
        severity: Severity::Critical,
        title: "again".into(),
        body: String::new(),
        labels: Default::default(),
        runbook: None,
        at: 1_700_000_100,
    };
    let (out, held) = Policy::default().decide(1_700_000_100, vec![repeat.clone()], &mut silences);
    assert!(out.is_empty());
    assert_eq!(held[0].reason, "acknowledged");

    // A warning: normal urgency; Snooze quiets it for 15 minutes.
    notifier
        .notify(&note(
            Severity::Warning,
            "acw:ben",
            "Ben in after-call work",
            "6m",
        ))
        .unwrap();
    let got = wait_until("the second notification", || {
        seen.lock().unwrap().get(1).cloned()
    });
    assert_eq!(got.urgency, Some(1));
    let event = wait_until("the Snooze action", || {
        choose(&server, 2, "snooze");
        std::thread::sleep(Duration::from_millis(50));
        rx.try_recv().ok()
    });
    assert_eq!(event.action, Action::Snooze);
    silences.apply(&event, 1_700_000_000);
    assert_eq!(
        silences
            .snoozed
            .get(&("urgent_chat".to_string(), "acw:ben".to_string())),
        Some(&(1_700_000_000 + SNOOZE_SECS))
    );
}

#[test]
fn no_notification_server_is_a_clear_error_not_a_hang() {
    let bus = private_bus();
    let addr = bus.address.clone();
    // SAFETY: as above, one test per process.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &addr) };
    let start = Instant::now();
    let err = DesktopNotifier::connect(None)
        .err()
        .expect("nobody owns the name");
    assert!(err.starts_with("no desktop notification server"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// Grouping by cause, end to end from findings to the notification server: three alerts on
/// Billing within `group_wait` are one notification naming all three; a fourth that joins
/// later replaces it in place (`replaces_id`), and acknowledging it acknowledges all four.
#[test]
fn one_cause_is_one_notification_replaced_in_place_when_another_alert_joins() {
    use lookout_alerting::policy::PolicyConfig;
    use lookout_alerting::store::Store;
    use lookout_alerting::{AlertRule, Alerting, AlertingConfig, Finding, Mode};
    let bus = private_bus();
    let addr = bus.address.clone();
    // SAFETY: as above, one test per process.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &addr) };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve(&addr, seen.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut notifier = DesktopNotifier::connect(Some(tx)).expect("a notification server");

    let dir = std::env::temp_dir().join(format!("lookout-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (store, _) = Store::open(&dir.join("state.json"));
    let config = AlertingConfig {
        tenant: "demo".into(),
        no_data_after: 600,
        grace: 0,
        policy: PolicyConfig {
            group_by: vec!["service".into()],
            group_wait: 5,
            ..PolicyConfig::default()
        },
        schedules: Default::default(),
        escalation: Vec::new(),
        ring_every: None,
    };
    let mut alerting = Alerting::new(config, store, 0);
    let rule = |name: &str, runbook: Option<&str>| AlertRule {
        name: name.into(),
        severity: Severity::Critical,
        for_secs: 0,
        keep_firing_secs: 0,
        mode: Mode::State,
        repeat_secs: 0,
        notify_resolved: false,
        inhibits: None,
        runbook: runbook.map(str::to_string),
        active: None,
    };
    alerting.set_rules(
        [
            (
                "unavailable",
                rule(
                    "No agents available",
                    Some("https://wiki.example.com/billing"),
                ),
            ),
            ("growth", rule("Queue growing", None)),
            ("wait", rule("Caller waiting too long", None)),
            ("noready", rule("Nobody ready", None)),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_string(), r))
        .collect(),
    );
    let found = |list: &[(&str, Severity, &str)]| -> Vec<Finding> {
        list.iter()
            .map(|(rule, severity, title)| Finding {
                rule: rule.to_string(),
                key: format!("{rule}:Billing"),
                severity: *severity,
                title: title.to_string(),
                body: String::new(),
                labels: [("service".to_string(), "Billing".to_string())].into(),
            })
            .collect()
    };
    let status = lookout_keeper::ConnectionStatus::Connecting;
    let mut tell = |out: (Vec<Notification>, Vec<_>)| {
        for n in &out.0 {
            notifier.notify(n).unwrap();
        }
        out.0.len()
    };
    let three = [
        ("growth", Severity::Warning, "Billing: 5 more calls waiting"),
        (
            "unavailable",
            Severity::Critical,
            "No agents available for Billing",
        ),
    ];
    assert_eq!(tell(alerting.evaluated(0, &found(&three))), 0);
    let mut with_wait = three.to_vec();
    with_wait.push((
        "wait",
        Severity::Warning,
        "Billing: a caller has waited 1m 35s",
    ));
    assert_eq!(tell(alerting.evaluated(2, &found(&with_wait))), 0);
    assert_eq!(
        tell(alerting.tick(4, &status)),
        0,
        "still within group_wait"
    );
    assert_eq!(tell(alerting.tick(5, &status)), 1);
    let first = wait_until("the group's notification", || {
        seen.lock().unwrap().first().cloned()
    });
    assert_eq!(first.summary, "No agents available for Billing");
    assert_eq!(
        first.body,
        "Also: Billing: 5 more calls waiting; Billing: a caller has waited 1m 35s"
    );
    assert_eq!((first.replaces_id, first.urgency), (0, Some(2)));
    assert!(
        first.actions.contains(&"runbook".to_string()),
        "{:?}",
        first.actions
    );

    // A fourth alert on Billing, long after: the same notification, replaced in place.
    let mut four = with_wait.clone();
    four.push(("noready", Severity::Critical, "Nobody ready on Billing"));
    assert_eq!(tell(alerting.evaluated(30, &found(&four))), 1);
    let second = wait_until("the replacement", || seen.lock().unwrap().get(1).cloned());
    assert_eq!(second.replaces_id, first.id, "replaced in place");
    assert_eq!(second.id, first.id);
    assert!(
        second.body.ends_with("; Nobody ready on Billing"),
        "{}",
        second.body
    );

    // Acknowledge on it acknowledges all four.
    let event = wait_until("the Acknowledge action", || {
        choose(&server, first.id, "acknowledge");
        std::thread::sleep(Duration::from_millis(50));
        rx.try_recv().ok()
    });
    alerting.action(&event, 31);
    let acknowledged = alerting
        .current(31)
        .iter()
        .filter(|a| a.quiet.is_some())
        .count();
    assert_eq!(acknowledged, 4);
}

/// The escalation ladder on the notification server: each step replaces the alert's
/// notification in place with the step's sound; the last one stays until someone acts; an
/// acknowledgement from the notification stops the ladder.
#[test]
fn an_unacknowledged_critical_escalates_in_place_louder_then_persistent() {
    use lookout_alerting::notify::sound::{Sound, Sounds};
    use lookout_alerting::policy::PolicyConfig;
    use lookout_alerting::store::Store;
    use lookout_alerting::{AlertRule, Alerting, AlertingConfig, Finding, Mode};
    use lookout_keeper::config::EscalationStep;
    let bus = private_bus();
    let addr = bus.address.clone();
    // SAFETY: as above, one test per process.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &addr) };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve(&addr, seen.clone());
    let dir = std::env::temp_dir().join(format!("lookout-ladder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let siren = dir.join("siren.oga");
    std::fs::write(&siren, b"OggS").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut notifier = DesktopNotifier::connect(Some(tx))
        .expect("a notification server")
        .with_sounds(Sounds {
            critical: Sound::Named("bell".into()),
            ..Sounds::default()
        });
    let (store, _) = Store::open(&dir.join("state.json"));
    let config = AlertingConfig {
        tenant: "demo".into(),
        no_data_after: 100_000,
        grace: 0,
        policy: PolicyConfig::default(),
        schedules: Default::default(),
        escalation: vec![
            EscalationStep {
                after_secs: 120,
                sound: Some(siren.to_string_lossy().into_owned()),
                persistent: false,
                raise: false,
            },
            EscalationStep {
                after_secs: 300,
                sound: None,
                persistent: true,
                raise: true,
            },
        ],
        ring_every: None,
    };
    let mut alerting = Alerting::new(config, store, 0);
    alerting.set_rules(
        [(
            "unavailable".to_string(),
            AlertRule {
                name: "No agents available".into(),
                severity: Severity::Critical,
                for_secs: 0,
                keep_firing_secs: 0,
                mode: Mode::State,
                repeat_secs: 0,
                notify_resolved: false,
                inhibits: None,
                runbook: None,
                active: None,
            },
        )]
        .into(),
    );
    let finding = Finding {
        rule: "unavailable".into(),
        key: "unavailable:Billing".into(),
        severity: Severity::Critical,
        title: "No agents available for Billing".into(),
        body: String::new(),
        labels: Default::default(),
    };
    let status = lookout_keeper::ConnectionStatus::Connecting;
    let mut tell = |out: (Vec<Notification>, Vec<_>)| {
        for n in &out.0 {
            notifier.notify(n).unwrap();
        }
        out.0.len()
    };
    assert_eq!(
        tell(alerting.evaluated(0, std::slice::from_ref(&finding))),
        1
    );
    let first = wait_until("the first notification", || {
        seen.lock().unwrap().first().cloned()
    });
    assert_eq!(first.sound.as_deref(), Some("bell"), "the critical sound");
    assert_eq!(first.expire_timeout, -1);
    assert_eq!(tell(alerting.tick(119, &status)), 0);
    assert_eq!(tell(alerting.tick(120, &status)), 1);
    let step1 = wait_until("step 1", || seen.lock().unwrap().get(1).cloned());
    assert_eq!(step1.replaces_id, first.id, "in place, not stacked");
    assert_eq!(
        step1.sound_file.as_deref(),
        Some(siren.to_str().unwrap()),
        "louder"
    );
    assert!(
        step1.body.starts_with("Not acknowledged for 2m 00s."),
        "{}",
        step1.body
    );
    assert_eq!(tell(alerting.tick(300, &status)), 1);
    let step2 = wait_until("step 2", || seen.lock().unwrap().get(2).cloned());
    assert_eq!(step2.replaces_id, first.id);
    assert_eq!(step2.expire_timeout, 0, "persistent: never expires");
    assert_eq!(step2.urgency, Some(2));
    // Acknowledge from the notification: nothing more, ever.
    let event = wait_until("the Acknowledge action", || {
        choose(&server, first.id, "acknowledge");
        std::thread::sleep(Duration::from_millis(50));
        rx.try_recv().ok()
    });
    alerting.action(&event, 301);
    for t in [400, 900, 3600] {
        assert_eq!(tell(alerting.tick(t, &status)), 0);
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
}
