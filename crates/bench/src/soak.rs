//! The soak run: the real `lookout watch` against a churning tenant with periodic faults, for
//! minutes to hours. It knows every change it makes, so it can tell missed and duplicated
//! notifications apart; it samples the watcher's memory and open files throughout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_sim::{Action, scenario::Dur};
use serde::Serialize;

use crate::procs::{fds, rss, write_config};
use crate::tenant::{WAIT_RULE, scratch, set_wait, sim};
use crate::{Args, lookout_bin};

const SERVICES: [&str; 6] = [
    "Sales",
    "Support",
    "Billing",
    "Support Chat",
    "VIP",
    "Retention",
];

#[derive(Debug, Serialize)]
struct Report {
    minutes: f64,
    cycles: usize,
    faults: Vec<String>,
    expected_firing: usize,
    expected_resolved: usize,
    missed: usize,
    duplicated: usize,
    /// `key state: expected N, told M` for every key where they differ.
    mismatches: Vec<String>,
    other_notifications: usize,
    rss_first_mb: f64,
    rss_last_mb: f64,
    rss_growth_pct: f64,
    fds_first: usize,
    fds_last: usize,
    samples: Vec<(f64, f64, usize)>,
}

fn faults() -> Vec<(&'static str, Action)> {
    let d = |s: u64| Dur(Duration::from_secs(s));
    vec![
        ("subscriptions dropped", Action::DropSubscriptions),
        ("tokens expired", Action::ExpireTokens),
        (
            "503 for 3 s",
            Action::Errors {
                status: 503,
                duration: d(3),
            },
        ),
        (
            "connections cut for 3 s",
            Action::Disconnect { duration: d(3) },
        ),
        (
            "malformed bodies for 3 s",
            Action::Malformed { duration: d(3) },
        ),
        ("204 for 3 s", Action::NotReady { duration: d(3) }),
        (
            "answers slowed by 1.5 s for 4 s",
            Action::Slow {
                delay: Dur(Duration::from_millis(1500)),
                duration: d(4),
            },
        ),
    ]
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let lookout = lookout_bin(args);
    anyhow::ensure!(
        lookout.exists(),
        "{} does not exist: build it (cargo build --release -p lookout-cli) or pass --lookout",
        lookout.display()
    );
    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let sim = sim(500, 1).await?;
    for s in SERVICES {
        set_wait(&sim, s, 0);
    }
    let dir = scratch("soak");
    std::fs::create_dir_all(dir.join("rules"))?;
    // A warning (no repeats), with resolutions told.
    std::fs::write(
        dir.join("rules/bench_wait.rhai"),
        WAIT_RULE.replace("\"critical\"", "\"warning\""),
    )?;
    let config = write_config(&sim, &dir)?;
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)? + "\n[notifications]\nresolved = \"all\"\n",
    )?;
    let mut child = Command::new(&lookout)
        .args([
            "watch", "--notify", "stdout", "--format", "json", "--config",
        ])
        .arg(&config)
        .env("LOOKOUT_CLIENT_SECRET", lookout_sim::demo_user().api_secret)
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    // (key, state) → count, read from the watcher's JSON lines.
    let seen: Arc<Mutex<BTreeMap<(String, String), usize>>> = Arc::default();
    let other = Arc::new(Mutex::new(0usize));
    let reader = {
        let stdout = child.stdout.take().expect("piped");
        let (seen, other) = (seen.clone(), other.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if v["type"] != "notification" {
                    continue;
                }
                let key = v["key"].as_str().unwrap_or_default().to_string();
                if key.starts_with("wait:") {
                    let state = v["state"].as_str().unwrap_or_default().to_string();
                    *seen.lock().unwrap().entry((key, state)).or_default() += 1;
                } else {
                    *other.lock().unwrap() += 1;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let start = Instant::now();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut fault_log = Vec::new();
    let faults = faults();
    let mut cycle = 0usize;
    let mut last_sample = Instant::now() - Duration::from_secs(60);
    eprintln!(
        "soak: {:.1} min; a change every 10 s, a fault every 45 s",
        args.minutes
    );
    while start.elapsed() < length {
        // One service's oldest caller waits too long for 8 s, then not for 2 s.
        let service = SERVICES[cycle % SERVICES.len()];
        set_wait(&sim, service, 200);
        *expected.entry(format!("wait:{service}")).or_default() += 1;
        let on = Instant::now();
        while on.elapsed() < Duration::from_secs(8) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if start.elapsed().as_secs() / 45 > fault_log.len() as u64 {
                let (what, action) = &faults[fault_log.len() % faults.len()];
                sim.apply(action);
                fault_log.push(format!("{:.0} s: {what}", start.elapsed().as_secs_f64()));
            }
        }
        set_wait(&sim, service, 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        cycle += 1;
        if last_sample.elapsed() >= Duration::from_secs(30) {
            last_sample = Instant::now();
            let (Some(r), Some(f)) = (rss(pid), fds(pid)) else {
                anyhow::bail!(
                    "lookout watch is gone after {:.0} s",
                    start.elapsed().as_secs_f64()
                );
            };
            let at = start.elapsed().as_secs_f64();
            eprintln!(
                "soak: {at:.0} s, {cycle} changes, RSS {:.1} MB, {f} fds",
                r as f64 / 1e6
            );
            samples.push((at, r as f64 / 1e6, f));
        }
    }
    // The last changes settle (a fault may delay them by a few polls).
    tokio::time::sleep(Duration::from_secs(10)).await;
    // SAFETY-free stop: SIGINT through kill(1), the way Ctrl-C stops it.
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let _ = reader.join();
    sim.stop().await;
    let seen = seen.lock().unwrap().clone();
    let (mut missed, mut duplicated) = (0, 0);
    let mut mismatches = Vec::new();
    for (key, want) in &expected {
        for state in ["firing", "resolved"] {
            let got = seen
                .get(&(key.clone(), state.to_string()))
                .copied()
                .unwrap_or(0);
            missed += want.saturating_sub(got);
            duplicated += got.saturating_sub(*want);
            if got != *want {
                mismatches.push(format!("{key} {state}: expected {want}, told {got}"));
            }
        }
    }
    // Growth is measured from the first sample after a minute (the start-up is not a leak).
    let first = samples
        .iter()
        .find(|s| s.0 >= 60.0)
        .or(samples.first())
        .copied()
        .unwrap_or_default();
    let last = samples.last().copied().unwrap_or_default();
    let report = Report {
        minutes: args.minutes,
        cycles: cycle,
        faults: fault_log,
        expected_firing: expected.values().sum(),
        expected_resolved: expected.values().sum(),
        missed,
        duplicated,
        mismatches,
        other_notifications: *other.lock().unwrap(),
        rss_first_mb: first.1,
        rss_last_mb: last.1,
        rss_growth_pct: if first.1 > 0.0 {
            (last.1 - first.1) / first.1 * 100.0
        } else {
            0.0
        },
        fds_first: first.2,
        fds_last: last.2,
        samples,
    };
    let _ = std::fs::remove_dir_all(&dir);
    let text = serde_json::to_string_pretty(&report)?;
    match &args.json {
        Some(p) => crate::write(p, &text)?,
        None => println!("{text}"),
    }
    eprintln!(
        "soak: {} changes, {} faults; missed {missed}, duplicated {duplicated}, other {}; RSS {:.1} → {:.1} MB ({:+.1} %), fds {} → {}",
        report.cycles,
        report.faults.len(),
        report.other_notifications,
        report.rss_first_mb,
        report.rss_last_mb,
        report.rss_growth_pct,
        report.fds_first,
        report.fds_last
    );
    anyhow::ensure!(
        missed == 0 && duplicated == 0,
        "notifications missed ({missed}) or duplicated ({duplicated})"
    );
    Ok(())
}
