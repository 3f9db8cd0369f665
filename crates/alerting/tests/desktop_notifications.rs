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
        at: 1_700_000_000,
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
