//! P2 (ingest) and P3 (latency): against the simulated tenant over real HTTP on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lookout_alerting::AlertingConfig;
use lookout_alerting::notify::{Notification, NotificationState, Notifier};
use lookout_keeper::KeeperOptions;
use lookout_keeper::snapshot::{Plan, Snapshot};
use lookout_pipeline::Setup;
use lookout_rules::{RuleEngine, RuleSet};
use lookout_sim::{SimConfig, SimHandle};
use lookout_statsapi::{Auth, Client, DataResponse, PollOutcome, Secret};

use crate::{Baseline, Figure, median_ms, quantile};

/// A simulated tenant with `agents` agents and `users` API users (`user0`, `user1`, …; the
/// first is the demo user).
pub async fn sim(agents: usize, users: usize) -> anyhow::Result<SimHandle> {
    let mut cfg = SimConfig::default();
    cfg.model.agents = agents;
    let demo = cfg.users[0].clone();
    for i in 1..users {
        cfg.users.push(lookout_sim::User {
            name: format!("user{i}"),
            password: demo.password.clone(),
            api_secret: demo.api_secret.clone(),
        });
    }
    cfg.subscription_limit = users * 2 + 10;
    lookout_sim::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(anyhow::Error::msg)
}

/// A client of `sim` signing in as user `i` (OAuth).
pub fn client(sim: &SimHandle, i: usize) -> anyhow::Result<Client> {
    let demo = lookout_sim::demo_user();
    let name = if i == 0 {
        demo.name
    } else {
        format!("user{i}")
    };
    let auth = Auth::OAuth {
        client_id: name,
        client_secret: Secret::new(demo.api_secret),
        scope: SimConfig::default().tenant,
    };
    Ok(Client::new(&sim.url(), auth, Default::default())?)
}

/// The subscription of the shipped rules (the overview's statistics and what the rules need).
fn shipped_plan(dir: &std::path::Path) -> anyhow::Result<Plan> {
    lookout_rules::pack::install(dir)?;
    Ok(RuleSet::load(&RuleEngine::default(), dir)?.plan())
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lookout-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// P2: the bytes of one data response for 5,000 agents (the shipped rules' subscription), parsed
/// into the typed snapshot, against parsing the same bytes into `serde_json::Value`.
pub async fn ingest(quick: bool) -> anyhow::Result<Figure> {
    let sim = sim(5000, 1).await?;
    let dir = scratch("ingest");
    let plan = shipped_plan(&dir.join("rules"))?;
    let mut c = client(&sim, 0)?;
    c.authenticate().await?;
    c.create_subscription(&plan.request()).await?;
    let start = Instant::now();
    let data = loop {
        match c.poll_data().await? {
            PollOutcome::Data(d) => break d,
            PollOutcome::NotReady if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            PollOutcome::NotReady => anyhow::bail!("the tenant sent no data in 10 s"),
        }
    };
    let _ = c.delete_subscription().await;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    // The tenant's answer, as it is on the wire (values as strings).
    let bytes = serde_json::to_vec(&data)?;
    let agents = Snapshot::from_data(&plan, &data, 0).agents.len();
    anyhow::ensure!(
        agents == 5000,
        "the response has {agents} agent rows, not 5,000"
    );
    let runs = if quick { 5 } else { 40 };
    let (mut typed, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let d: DataResponse = serde_json::from_slice(&bytes)?;
        let snap = Snapshot::from_data(&plan, &d, 0);
        typed.push(t.elapsed());
        std::hint::black_box(snap);
        let t = Instant::now();
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        plain.push(t.elapsed());
        std::hint::black_box(v);
    }
    let (typed, plain) = (median_ms(&mut typed), median_ms(&mut plain));
    let ratio = typed / plain;
    Ok(Figure {
        id: "P2".into(),
        what: "ingest: a 5,000-agent data response → typed snapshot".into(),
        value: typed,
        unit: "ms".into(),
        baseline: Some(Baseline {
            what: "serde_json::from_slice::<Value>".into(),
            value: plain,
            ratio,
        }),
        target: "≤ 1.5×".into(),
        met: Some(ratio <= 1.5),
        note: format!(
            "{:.1} MB of JSON (the shipped rules' subscription); median of {runs} runs, each \
             parse to the wire types plus conversion to the snapshot",
            bytes.len() as f64 / 1e6
        ),
    })
}

/// Records when each notification reaches it.
struct Timed(mpsc::Sender<(Instant, Notification)>);

impl Notifier for Timed {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let _ = self.0.send((Instant::now(), n.clone()));
        Ok(())
    }
}

/// One rule that fires while Support's oldest caller has waited over 100 s.
pub const WAIT_RULE: &str = r#"
const RULE = #{
    name: "Bench wait",
    severity: "critical",
    needs: #{ services: ["name", "in_max_wait_time"] },
};
for s in services.where("in_max_wait_time", ">", 100) {
    alert(`wait:${s.name}`, `${s.name} waits`, "");
}
"#;

/// Pin `service`'s oldest caller's wait; returns the tenant's count of data answers before
/// it (see [`SimHandle::apply_counting`]).
pub fn set_wait(sim: &SimHandle, service: &str, secs: i64) -> u64 {
    sim.pin_service(service, "in_max_wait_time", secs)
}

/// P3: the tenant changes a value (at a random point of the poll cycle); how long until the
/// notification reaches the notifier, through the whole pipeline (poll, snapshot, rules,
/// lifecycle, policy, notifier thread).
pub async fn latency(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let interval = Duration::from_secs(1);
    let sim = sim(5000, 1).await?;
    for s in [
        "Sales",
        "Support",
        "Billing",
        "Support Chat",
        "VIP",
        "Retention",
    ] {
        set_wait(&sim, s, 0);
    }
    let dir = scratch("latency");
    std::fs::create_dir_all(dir.join("rules"))?;
    std::fs::write(dir.join("rules/bench_wait.rhai"), WAIT_RULE)?;
    let setup = Setup {
        client: client(&sim, 0)?,
        keeper: KeeperOptions {
            poll_interval: interval,
            ..KeeperOptions::default()
        },
        rules_dir: dir.join("rules"),
        store_path: dir.join("state.json"),
        // Two notifications every ~2.4 s is past the storm cap of 20 a minute, which would hold
        // them back on purpose: the cap is lifted here, the pipeline is what is measured.
        alerting: AlertingConfig::from_config(SimConfig::default().tenant, &{
            let mut c = lookout_keeper::Config::parse(
                "[server]\nurl = \"https://bench.invalid\"\nusername = \"bench\"\n",
            )
            .map_err(anyhow::Error::msg)?;
            c.alerts.max_per_minute = 100_000;
            c
        }),
        state: None,
        commands: None,
        shared_store: None,
    };
    let (tx, rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pipeline = tokio::spawn(lookout_pipeline::run(
        setup,
        Box::new(Timed(tx)),
        None,
        |_| {},
        async {
            let _ = stop_rx.await;
        },
    ));
    // Live and evaluated at least twice before the first change.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let samples = if quick { 6 } else { 120 };
    let mut firing = Vec::new();
    let mut resolved = Vec::new();
    let wait_for = |state: NotificationState, since: Instant| -> anyhow::Result<f64> {
        loop {
            let (at, n) = rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| anyhow::anyhow!("no {state:?} notification within 10 s"))?;
            if n.key == "wait:Support" && n.state == state {
                return Ok((at - since).as_secs_f64() * 1e3);
            }
        }
    };
    for i in 0..samples {
        // A random point of the poll cycle (golden-ratio steps cover it evenly).
        let phase = (i as f64 * 0.618_034).fract();
        tokio::time::sleep(interval.mul_f64(phase)).await;
        let t0 = Instant::now();
        set_wait(&sim, "Support", 200);
        firing.push(tokio::task::block_in_place(|| {
            wait_for(NotificationState::Firing, t0)
        })?);
        tokio::time::sleep(interval.mul_f64(0.37)).await;
        let t0 = Instant::now();
        set_wait(&sim, "Support", 0);
        resolved.push(tokio::task::block_in_place(|| {
            wait_for(NotificationState::Resolved, t0)
        })?);
    }
    let _ = stop_tx.send(());
    let _ = pipeline.await;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let target_ms = interval.as_secs_f64() * 1e3 + 50.0;
    let fig = |id: &str, what: &str, v: &mut Vec<f64>| {
        let p50 = quantile(v, 0.5);
        let p99 = quantile(v, 0.99);
        Figure {
            id: id.into(),
            what: format!("{what}, p99 (p50 {p50:.0} ms)"),
            value: p99,
            unit: "ms".into(),
            baseline: None,
            target: format!("p99 ≤ poll interval + 50 ms = {target_ms:.0} ms"),
            met: Some(p99 <= target_ms),
            note: format!(
                "{} changes at evenly spread points of the 1 s poll cycle, 5,000 agents; max \
                 {:.0} ms",
                v.len(),
                v.iter().cloned().fold(0.0, f64::max)
            ),
        }
    };
    Ok(vec![
        fig(
            "P3",
            "latency: value changed → firing notification",
            &mut firing,
        ),
        fig(
            "P3",
            "latency: value back → resolved notification",
            &mut resolved,
        ),
    ])
}
