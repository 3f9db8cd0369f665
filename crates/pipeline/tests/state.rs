//! The pipeline's published state against the simulated tenant on loopback.

use std::time::{Duration, SystemTime};

use lookout_keeper::ConnectionStatus;
use lookout_pipeline::demo::Demo;
use lookout_pipeline::state::state_channel;
use lookout_pipeline::{Command, Note};

/// While data flows, the published connection says how old the latest data is, second by
/// second (a window's "live, data 2 s old" must not freeze at the first poll), and the
/// latest snapshot and the rules' reports come with it; a pause is published at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_follows_the_data_and_the_commands() {
    let demo = Demo::start(lookout_sim::Scenario::default()).await.unwrap();
    let mut config = demo.config.clone();
    config.server.poll_interval_secs = 1;
    let mut setup = demo.setup(&config).unwrap();
    let (tx, mut rx) = state_channel();
    let (commands, commands_rx) = tokio::sync::mpsc::unbounded_channel();
    setup.state = Some(tx);
    setup.commands = Some(commands_rx);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pipeline = tokio::spawn(lookout_pipeline::run(
        setup,
        Box::new(lookout_alerting::notify::NoNotifier),
        None,
        |_: Note| {},
        async {
            let _ = stop_rx.await;
        },
    ));
    let live_since = |s: &ConnectionStatus| match s {
        ConnectionStatus::Live { last_data, .. } => Some(*last_data),
        _ => None,
    };
    // Live, with data, rules reported.
    let first = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            rx.changed().await.unwrap();
            let s = rx.borrow_and_update().clone();
            if let Some(at) = live_since(&s.connection)
                && s.snapshot.is_some()
                && !s.rules.is_empty()
            {
                break at;
            }
        }
    })
    .await
    .expect("live with data and rule reports within 20 s");
    // Three seconds on, the published connection has newer data.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = rx.borrow().clone();
    let latest = live_since(&now.connection).expect("still live");
    assert!(
        latest > first,
        "the published last data stayed at the first poll"
    );
    let age = SystemTime::now().duration_since(latest).unwrap_or_default();
    assert!(
        age < Duration::from_secs(3),
        "data {age:?} old while polling every second"
    );
    // A pause is in the next state.
    commands.send(Command::Pause { until: i64::MAX }).unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            rx.changed().await.unwrap();
            if rx.borrow_and_update().paused_until == Some(i64::MAX) {
                break;
            }
        }
    })
    .await
    .expect("the pause is published");
    let _ = stop_tx.send(());
    pipeline.await.unwrap().unwrap();
    demo.stop().await;
}
