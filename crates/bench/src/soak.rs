//! The soak run: the real `lookout watch` against a churning tenant with periodic faults, for
//! minutes to hours. It knows every change it makes, so it can tell missed and duplicated
//! notifications apart; it samples the watcher's memory and open files throughout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_sim::{Action, SimHandle, scenario::Dur};
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
struct SoakReport {
    minutes: f64,
    fault_every_secs: f64,
    cycles: usize,
    faults: Vec<String>,
    /// Episodes (a service's long wait, 8 s) that at least one data answer carried: each must
    /// be told firing and then resolved.
    episodes_seen: usize,
    /// Episodes no data answer carried (an outage and the retries after it covered them
    /// whole): nobody could have told them, so nothing is expected of them.
    episodes_unseen: Vec<String>,
    /// The longest stretch in which the tenant sent the watcher no data answer (sampled every
    /// 250 ms).
    longest_blind_secs: f64,
    expected_firing: usize,
    expected_resolved: usize,
    missed: usize,
    duplicated: usize,
    /// `key state: expected N, told M` for every key where they differ, with the times of that
    /// key's seen episodes and of what was told.
    mismatches: Vec<String>,
    other_notifications: usize,
    rss_first_mb: f64,
    rss_last_mb: f64,
    rss_growth_pct: f64,
    fds_first: usize,
    fds_last: usize,
    samples: Vec<(f64, f64, usize)>,
}

/// (key, state) → the times it was told, in seconds into the soak.
type Told = BTreeMap<(String, String), Vec<f64>>;

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
    // (key, state) → when each was told (seconds into the soak), read from the watcher's JSON
    // lines.
    let told: Arc<Mutex<Told>> = Arc::default();
    let other = Arc::new(Mutex::new(0usize));
    let start = Instant::now() + Duration::from_secs(5);
    let reader = {
        let stdout = child.stdout.take().expect("piped");
        let (told, other) = (told.clone(), other.clone());
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
                    let at = Instant::now()
                        .saturating_duration_since(start)
                        .as_secs_f64();
                    told.lock()
                        .unwrap()
                        .entry((key, state))
                        .or_default()
                        .push(at);
                } else {
                    *other.lock().unwrap() += 1;
                }
            }
        })
    };
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    // service key → the times of its episodes that a data answer carried.
    let mut expected: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut unseen = Vec::new();
    let mut samples = Vec::new();
    let mut ticks = Ticks::new(&sim, start, args.fault_every);
    let mut cycle = 0usize;
    let mut last_sample = Instant::now() - Duration::from_secs(60);
    eprintln!(
        "soak: {:.1} min; a change every 10 s, a fault every {:.0} s",
        args.minutes, args.fault_every
    );
    while start.elapsed() < length {
        // One service's oldest caller waits too long for 8 s, then not for 2 s.
        let service = SERVICES[cycle % SERVICES.len()];
        let at = start.elapsed().as_secs_f64();
        let answers_before = set_wait(&sim, service, 200);
        ticks.run_for(&sim, Duration::from_secs(8)).await;
        let answers_after = set_wait(&sim, service, 0);
        let key = format!("wait:{service}");
        if answers_after > answers_before {
            expected.entry(key).or_default().push(at);
        } else {
            // Faults that began up to 15 s before it, or while it lasted.
            let near: Vec<&str> = ticks
                .faults
                .iter()
                .filter(|f| (at - 15.0..=at + 8.0).contains(&f.0))
                .map(|f| f.1.as_str())
                .collect();
            unseen.push(format!("{at:.0} s {key} (faults: {})", near.join(", ")));
        }
        ticks.run_for(&sim, Duration::from_secs(2)).await;
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
                "soak: {at:.0} s, {cycle} changes ({} unseen), RSS {:.1} MB, {f} fds",
                unseen.len(),
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
    let told = told.lock().unwrap().clone();
    let (mut missed, mut duplicated) = (0, 0);
    let mut mismatches = Vec::new();
    let times = |t: &[f64]| {
        t.iter()
            .map(|t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (key, episodes) in &expected {
        let want = episodes.len();
        for state in ["firing", "resolved"] {
            let at = told
                .get(&(key.clone(), state.to_string()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let got = at.len();
            missed += want.saturating_sub(got);
            duplicated += got.saturating_sub(want);
            if got != want {
                mismatches.push(format!(
                    "{key} {state}: expected {want}, told {got} (episodes at {} s; told at {} s)",
                    times(episodes),
                    times(at)
                ));
            }
        }
    }
    // A key told that had no seen episode at all is extra too.
    for ((key, state), at) in &told {
        if !expected.contains_key(key) {
            duplicated += at.len();
            mismatches.push(format!(
                "{key} {state}: expected 0, told {} (at {} s)",
                at.len(),
                times(at)
            ));
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
    let seen_count: usize = expected.values().map(Vec::len).sum();
    let report = SoakReport {
        minutes: args.minutes,
        fault_every_secs: args.fault_every,
        cycles: cycle,
        faults: ticks
            .faults
            .iter()
            .map(|(at, what)| format!("{at:.0} s: {what}"))
            .collect(),
        episodes_seen: seen_count,
        episodes_unseen: unseen,
        longest_blind_secs: ticks.longest_blind.as_secs_f64(),
        expected_firing: seen_count,
        expected_resolved: seen_count,
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
        "soak: {} changes ({} seen by a poll, {} not), {} faults, longest without data {:.1} s; missed {missed}, duplicated {duplicated}, other {}; RSS {:.1} → {:.1} MB ({:+.1} %), fds {} → {}",
        report.cycles,
        report.episodes_seen,
        report.episodes_unseen.len(),
        report.faults.len(),
        report.longest_blind_secs,
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

/// The soak's clock: steps of 250 ms, a fault injected whenever the next one is due, and the
/// longest stretch without a data answer.
struct Ticks {
    start: Instant,
    every: f64,
    plan: Vec<(&'static str, Action)>,
    /// (seconds into the soak, what)
    faults: Vec<(f64, String)>,
    answers: u64,
    last_answer: Instant,
    longest_blind: Duration,
}

impl Ticks {
    fn new(sim: &SimHandle, start: Instant, every: f64) -> Ticks {
        Ticks {
            start,
            every,
            plan: faults(),
            faults: Vec::new(),
            answers: sim.data_answers(),
            last_answer: Instant::now(),
            longest_blind: Duration::ZERO,
        }
    }

    async fn run_for(&mut self, sim: &SimHandle, length: Duration) {
        let until = Instant::now() + length;
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(250).min(until - Instant::now())).await;
            let at = self.start.elapsed().as_secs_f64();
            if (at / self.every) as usize > self.faults.len() {
                let (what, action) = &self.plan[self.faults.len() % self.plan.len()];
                sim.apply(action);
                self.faults.push((at, what.to_string()));
            }
            let answers = sim.data_answers();
            if answers != self.answers {
                self.answers = answers;
                self.last_answer = Instant::now();
            }
            self.longest_blind = self.longest_blind.max(self.last_answer.elapsed());
        }
    }
}
