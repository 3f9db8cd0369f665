//! P6: team mode's fan-out. One `lookout hub` (release) on the simulated tenant publishes
//! through a real `nats-server`; hundreds of desks (async-nats subscribers, in this process,
//! each on its own connection) read the tenant-wide state and notifications. A rule tells a
//! new event every poll; each desk notes how long after the hub sent it the notification
//! arrived. The hub's CPU and memory are sampled; the tenant must still serve one
//! subscription.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lookout_hub::broker::Broker;
use lookout_hub::subjects::{Scope, Subjects};
use lookout_hub::wire::{self, Told};

use crate::procs::{Killed, cpu_secs, rss, write_config};
use crate::tenant::{scratch, sim};
use crate::{Figure, quantile};

/// A new event-mode alert every poll: one notification per second for every desk.
const TICK_RULE: &str = r#"
const RULE = #{ name: "Bench tick", severity: "warning", mode: "event", needs: #{} };
alert(`tick:${now}`, "A poll came", "");
"#;

pub async fn fan_out(lookout: &Path, quick: bool) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(
        lookout.exists(),
        "{} does not exist: build it (cargo build --release -p lookout-cli) or pass --lookout",
        lookout.display()
    );
    let (desks, length) = if quick {
        (50, Duration::from_secs(8))
    } else {
        (500, Duration::from_secs(30))
    };
    let sim = sim(1000, 1).await?;
    let dir = scratch("team");
    std::fs::create_dir_all(dir.join("rules"))?;
    std::fs::write(dir.join("rules/tick.rhai"), TICK_RULE)?;
    let config = write_config(&sim, &dir)?;
    // Every poll's notification told: the storm cap is not what is measured.
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str("\n[alerts]\nmax_per_minute = 100000\n");
    std::fs::write(&config, text)?;
    let broker = Broker::start(&[]).map_err(anyhow::Error::msg)?;
    let tenant = lookout_sim::SimConfig::default().tenant;
    let subjects = Subjects::new(&tenant);

    // The desks first, so none misses the start.
    let delays: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let states = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..desks {
        let client = async_nats::ConnectOptions::new()
            .name(format!("bench desk {i}"))
            .connect(broker.url())
            .await?;
        let mut told = client.subscribe(subjects.told(&Scope::All)).await?;
        let mut state = client.subscribe(subjects.state(&Scope::All)).await?;
        let delays = delays.clone();
        let states = states.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = client;
            loop {
                tokio::select! {
                    Some(m) = told.next() => {
                        let now = wire::unix_ms();
                        if let Ok(t) = wire::read::<Told>(&m.payload) {
                            delays.lock().unwrap().push((now - t.sent_ms) as f64);
                        }
                    }
                    Some(m) = state.next() => {
                        if wire::read::<wire::ScopeState>(&m.payload).is_ok() {
                            states.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    else => return,
                }
            }
        }));
    }
    let hub = Command::new(lookout)
        .args([
            "hub",
            "--name",
            "bench",
            "--nats",
            &broker.url(),
            "--config",
        ])
        .arg(&config)
        .env("LOOKOUT_CLIENT_SECRET", lookout_sim::demo_user().api_secret)
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = hub.id();
    let hub = Killed(hub);
    // Warm up until the notifications flow, then measure.
    let warm = crate::until(Duration::from_secs(30), || {
        !delays.lock().unwrap().is_empty()
    })
    .await;
    anyhow::ensure!(warm, "no notification reached the desks within 30 s");
    delays.lock().unwrap().clear();
    let cpu0 = cpu_secs(pid).unwrap_or(0.0);
    let start = Instant::now();
    let mut peak_rss = 0u64;
    while start.elapsed() < length {
        peak_rss = peak_rss.max(rss(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu_pct = (cpu_secs(pid).unwrap_or(0.0) - cpu0) / start.elapsed().as_secs_f64() * 100.0;
    let subscriptions = sim.active_subscriptions();
    drop(hub);
    for t in tasks {
        t.abort();
    }
    drop(broker);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let mut d = delays.lock().unwrap().clone();
    anyhow::ensure!(
        !d.is_empty(),
        "no notification reached the desks while measuring"
    );
    let samples = d.len();
    let p50 = quantile(&mut d, 0.5);
    let p99 = quantile(&mut d, 0.99);
    let note = format!(
        "{desks} desks on their own connections in one process, one `lookout hub` (release) at 1 s polls of 1,000 agents, a notification every poll; {samples} receipts over {} s, p50 {p50:.1} ms",
        length.as_secs()
    );
    Ok(vec![
        Figure {
            id: "P6".into(),
            what: format!("team fan-out: hub → {desks} desks, p99"),
            value: p99,
            unit: "ms".into(),
            baseline: None,
            target: "≤ 100 ms".into(),
            met: Some(p99 <= 100.0),
            note,
        },
        Figure {
            id: "P6".into(),
            what: format!("hub CPU with {desks} desks"),
            value: cpu_pct,
            unit: "% of a core".into(),
            baseline: None,
            target: "reported".into(),
            met: None,
            note: "the hub process alone (polling, rules, publishing); the broker and the desks not counted".into(),
        },
        Figure {
            id: "P6".into(),
            what: format!("hub memory with {desks} desks"),
            value: peak_rss as f64 / 1e6,
            unit: "MB".into(),
            baseline: None,
            target: "reported".into(),
            met: None,
            note: "peak RSS of the hub process".into(),
        },
        Figure {
            id: "P6".into(),
            what: "subscriptions at the tenant".into(),
            value: subscriptions as f64,
            unit: "".into(),
            baseline: None,
            target: "= 1".into(),
            met: Some(subscriptions == 1),
            note: format!("with {desks} desks reading: the hub's alone"),
        },
    ])
}
