//! Durability: `lookout watch` killed with SIGKILL at random moments (many of them while it
//! writes its state, which it does every second here), then started again, over and over.
//! Every start must load its state, and nothing already told (an urgent chat message) or
//! acknowledged (a long wait) may be told again.
//!
//! `LOOKOUT_DURABILITY_RUNS` sets the number of kills (default 100).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lookout_alerting::notify::{Action as UserAction, ActionEvent};
use lookout_alerting::store::Store;
use lookout_sim::{Action, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_lookout");

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Count a JSON line of `lookout watch` if it is a notification: its key, or each key of a
/// digest (several alerts of one rule told together).
fn note(told: &mut BTreeMap<(String, String), Vec<usize>>, v: &serde_json::Value, run: usize) {
    if v["type"] != "notification" {
        return;
    }
    let state = v["state"].as_str().unwrap_or_default().to_string();
    let keys: Vec<String> = match v["digest"].as_array() {
        Some(keys) => keys
            .iter()
            .filter_map(|k| k.as_str())
            .map(str::to_string)
            .collect(),
        None => vec![v["key"].as_str().unwrap_or_default().to_string()],
    };
    for key in keys {
        told.entry((key, state.clone())).or_default().push(run);
    }
}

#[test]
fn killed_at_random_it_restarts_from_its_state_and_tells_nothing_twice() {
    let runs: usize = std::env::var("LOOKOUT_DURABILITY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed = std::process::id() as u64 | 1;
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(format!("lookout-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(lookout_sim::start(
            SimConfig::default(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        ))
        .unwrap();
    for s in [
        "Sales",
        "Support",
        "Billing",
        "Support Chat",
        "VIP",
        "Retention",
    ] {
        sim.pin_service(s, "in_max_wait_time", 0);
    }
    // Support's long wait was acknowledged before: its state says so.
    let state = dir.join("data/lookout/state.json");
    let (mut store, _) = Store::open(&state);
    store.state.silences.apply(
        &ActionEvent {
            rule: "long_wait".into(),
            key: "wait:Support".into(),
            digest: None,
            action: UserAction::Acknowledge,
            by: None,
            also: Vec::new(),
        },
        lookout_keeper::unix_now(),
    );
    store.save().unwrap();
    sim.pin_service("Support", "in_max_wait_time", 200);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nurl = \"{}\"\ntenant = \"{}\"\nusername = \"supervisor\"\nauth = \"oauth\"\npoll_interval_secs = 1\n\n[rules]\ndir = \"{}\"\n",
            sim.url(),
            SimConfig::default().tenant,
            dir.join("rules").display()
        ),
    )
    .unwrap();

    // (key, state) → the runs that told it.
    let mut told: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    let mut posted = 0u64;
    let mut damaged = Vec::new();
    let start = Instant::now();
    for run in 0..runs {
        let mut child = Command::new(BIN)
            .args([
                "watch", "--format", "json", "--notify", "stdout", "--config",
            ])
            .arg(&config)
            .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        // Killed somewhere in its first 0.2–2.0 s: starting, signing in, polling, evaluating,
        // telling, saving. An urgent message arrives now and then meanwhile.
        let life = Duration::from_millis(200 + rng.below(1800));
        let born = Instant::now();
        while born.elapsed() < life {
            if rng.below(4) == 0 {
                posted += 1;
                sim.apply(&Action::Chat {
                    from: Some("diana.yeh".into()),
                    urgent: true,
                    content: format!("urgent {posted}"),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                panic!("run {run}: not JSON: {line}");
            };
            note(&mut told, &v, run);
        }
        let err = errors.join().unwrap();
        if err.contains("damaged") || err.contains("cannot read") {
            damaged.push(format!("run {run}: {err}"));
        }
        // Whatever the moment of the kill, the state on disk is whole.
        if state.exists() {
            let text = std::fs::read_to_string(&state).unwrap();
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("run {run}: the state file is not whole: {e}"));
        }
    }
    // One last, long run: every message posted is told by now, once in all.
    let mut child = Command::new(BIN)
        .args([
            "watch", "--format", "json", "--notify", "stdout", "--config",
        ])
        .arg(&config)
        .args(["--duration", "6s"])
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines().map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        note(&mut told, &v, runs);
    }
    child.wait().unwrap();
    rt.block_on(sim.stop());
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("data/lookout"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "state.json")
        .collect();
    let _ = std::fs::remove_dir_all(&dir);

    assert!(
        damaged.is_empty(),
        "a start could not read its state: {damaged:?}"
    );
    assert!(
        leftovers.iter().all(|n| !n.contains("damaged")),
        "a state file was set aside as damaged: {leftovers:?}"
    );
    let twice: Vec<_> = told
        .iter()
        .filter(|((key, state), runs)| {
            key.starts_with("chat:") && state == "firing" && runs.len() > 1
        })
        .collect();
    assert!(
        twice.is_empty(),
        "told again after a restart (seed {seed}): {twice:?}"
    );
    let acked: Vec<_> = told.keys().filter(|(k, _)| k == "wait:Support").collect();
    assert!(
        acked.is_empty(),
        "the acknowledged alert was told (seed {seed}): {told:?}"
    );
    let chats = told
        .keys()
        .filter(|(k, s)| k.starts_with("chat:") && s == "firing")
        .count() as u64;
    eprintln!(
        "{runs} kills in {:.0} s: {posted} urgent messages posted, {chats} told, none twice (seed {seed})",
        start.elapsed().as_secs_f64()
    );
    assert!(
        posted > 0 && chats > 0,
        "nothing was told: the test proved nothing"
    );
    // Killed after saving and before showing, a message is lost rather than told twice; that
    // window is a channel send wide, so nearly all are told.
    assert!(
        chats * 100 >= posted * 95,
        "only {chats} of {posted} messages were told (seed {seed})"
    );
}
