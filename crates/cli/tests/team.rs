//! Team mode end to end, as people run it: the simulated tenant, a real `nats-server`,
//! `lookout hub` processes and `lookout watch --hub` desks, `lookout ack` from the terminal.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_hub::broker::{Broker, BrokerUser, Role};
use lookout_pipeline::demo::Demo;

const BIN: &str = env!("CARGO_BIN_EXE_lookout");
const FRONT: &str = "Front Line";
const SPECIALISTS: &str = "Specialists";

/// Every agent not ready is an alert labelled with the agent's team: the demo's Billing
/// meeting makes a storm of them across teams within seconds.
const NOT_READY_RULE: &str = include_str!("../../hub/tests/not_ready_team.rhai");

/// A process and its output lines, with when each came.
struct Proc {
    child: Child,
    out: Arc<Mutex<Vec<(Instant, String)>>>,
    err: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Proc {
    fn start(args: &[&str], password: &str, home: &Path) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env("LOOKOUT_NATS_PASSWORD", password)
            .env(
                "LOOKOUT_CLIENT_SECRET",
                lookout_sim::SimConfig::default().users[0]
                    .api_secret
                    .clone(),
            )
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("HOME", home)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |r: Box<dyn std::io::Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    l.lock().unwrap().push((Instant::now(), line));
                }
            });
            lines
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        Proc { child, out, err }
    }

    fn lines(&self) -> Vec<(Instant, String)> {
        self.out.lock().unwrap().clone()
    }

    fn errors(&self) -> String {
        self.err
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The JSON lines of `type` printed so far.
    fn json(&self, kind: &str) -> Vec<(Instant, serde_json::Value)> {
        self.lines()
            .into_iter()
            .filter_map(|(t, l)| Some((t, serde_json::from_str::<serde_json::Value>(&l).ok()?)))
            .filter(|(_, v)| v["type"] == kind)
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < within, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The team mode set up: the simulated tenant with the demo scenario, its config file, the
/// rules with the storm rule, a broker with a hub user and three supervisors.
struct Team {
    rt: tokio::runtime::Runtime,
    demo: Option<Demo>,
    broker: Broker,
    users: Vec<BrokerUser>,
    config: PathBuf,
    rules: PathBuf,
    home: tempfile::TempDir,
}

impl Team {
    fn new() -> Team {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let demo = rt
            .block_on(Demo::start(lookout_pipeline::demo::scenario().unwrap()))
            .unwrap();
        std::fs::write(demo.rules_dir().join("not_ready_team.rhai"), NOT_READY_RULE).unwrap();
        let tenant = demo.config.server.tenant.clone().unwrap();
        let desk = |name: &str, team: &str| {
            BrokerUser::new(
                name,
                Role::Desk {
                    tenant: tenant.clone(),
                    teams: vec![team.into()],
                },
            )
        };
        let users = vec![
            BrokerUser::new("hub", Role::Hub),
            desk("ana", FRONT),
            desk("bo", FRONT),
            desk("cy", SPECIALISTS),
        ];
        let broker = Broker::start(&users).unwrap();
        let home = tempfile::tempdir().unwrap();
        let mut config = demo.config.clone();
        config.server.poll_interval_secs = 1;
        let config_path = home.path().join("tenant.toml");
        std::fs::write(&config_path, config.to_toml()).unwrap();
        Team {
            rules: demo.rules_dir(),
            rt,
            demo: Some(demo),
            broker,
            users,
            config: config_path,
            home,
        }
    }

    fn password(&self, user: &str) -> String {
        self.users
            .iter()
            .find(|u| u.name == user)
            .unwrap()
            .password
            .expose()
            .to_string()
    }

    fn demo(&self) -> &Demo {
        self.demo.as_ref().unwrap()
    }

    /// A place of its own for each process (its state files).
    fn home(&self, name: &str) -> PathBuf {
        let h = self.home.path().join(name);
        std::fs::create_dir_all(&h).unwrap();
        h
    }

    fn hub(&self, name: &str) -> Proc {
        let url = self.broker.url();
        Proc::start(
            &[
                "hub",
                "--config",
                self.config.to_str().unwrap(),
                "--rules",
                self.rules.to_str().unwrap(),
                "--nats",
                &url,
                "--user",
                "hub",
                "--name",
                name,
                "--lease",
                "2s",
            ],
            &self.password("hub"),
            &self.home(name),
        )
    }

    /// hub-1 active (its tenant live), then hub-2 standing by.
    fn two_hubs(&self) -> (Proc, Proc) {
        let long = Duration::from_secs(40);
        let hub1 = self.hub("hub-1");
        wait_for("hub-1 to be live", long, || {
            hub1.lines()
                .iter()
                .any(|(_, l)| l.contains(": connection: live"))
                .then_some(())
        });
        let hub2 = self.hub("hub-2");
        wait_for("hub-2 to stand by", long, || {
            hub2.lines()
                .iter()
                .any(|(_, l)| l.contains("standby (hub-1 holds the lease)"))
                .then_some(())
        });
        (hub1, hub2)
    }

    fn desk(&self, user: &str) -> Proc {
        let url = self.broker.url();
        Proc::start(
            &[
                "watch", "--hub", &url, "--user", user, "--format", "json", "--notify", "stdout",
            ],
            &self.password(user),
            &self.home(user),
        )
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        if let Some(d) = self.demo.take() {
            self.rt.block_on(d.stop());
        }
    }
}

/// When `hub` said it became active (waiting up to 10 s for it).
fn became_active(hub: &Proc) -> Instant {
    wait_for("the hub to take over", Duration::from_secs(10), || {
        hub.lines()
            .into_iter()
            .find(|(_, l)| l.ends_with(": active"))
            .map(|(t, _)| t)
    })
}

/// The team label of each notification a desk printed.
fn teams_told(desk: &Proc) -> Vec<Option<String>> {
    desk.json("notification")
        .iter()
        .map(|(_, v)| v["labels"]["team"].as_str().map(str::to_string))
        .collect()
}

/// How often each (key, state) was told: a digest counts for each key it stands for.
fn told_counts(desk: &Proc) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (_, v) in desk.json("notification") {
        let state = v["state"].as_str().unwrap_or_default().to_string();
        let keys: Vec<String> = match v["digest"].as_array() {
            Some(keys) => keys
                .iter()
                .filter_map(|k| k.as_str())
                .map(str::to_string)
                .collect(),
            None => vec![v["key"].as_str().unwrap_or_default().to_string()],
        };
        for k in keys {
            *out.entry((k, state.clone())).or_default() += 1;
        }
    }
    out
}

#[test]
fn a_hub_serves_three_desks_their_scopes_and_an_acknowledgement_reaches_the_others() {
    let team = Team::new();
    let long = Duration::from_secs(40);
    let _hub = team.hub("hub-1");
    let ana = team.desk("ana");
    let bo = team.desk("bo");
    let cy = team.desk("cy");

    // Each desk is told its team's alerts and the tenant-wide ones, never another team's.
    wait_for("every desk told of its own team", long, || {
        (teams_told(&ana).contains(&Some(FRONT.into()))
            && teams_told(&bo).contains(&Some(FRONT.into()))
            && teams_told(&cy).contains(&Some(SPECIALISTS.into())))
        .then_some(())
    });
    wait_for("a tenant-wide alert told on every desk", long, || {
        [&ana, &bo, &cy]
            .iter()
            .all(|d| teams_told(d).contains(&None))
            .then_some(())
    });
    for (desk, team_name) in [(&ana, FRONT), (&bo, FRONT), (&cy, SPECIALISTS)] {
        for t in teams_told(desk) {
            assert!(
                t.is_none() || t.as_deref() == Some(team_name),
                "{team_name}'s desk told of {t:?}"
            );
        }
    }
    // The tenant serves one subscription, the hub's; desks never log in to it.
    assert_eq!(team.demo().sim().active_subscriptions(), 1);
    // The Specialists' desk was refused Front Line by the broker.
    wait_for("cy to be refused Front Line", long, || {
        cy.errors()
            .contains("not permitted to read team Front Line")
            .then_some(())
    });
    assert!(
        team.broker
            .log()
            .contains("Subscription Violation - User \"cy\"")
    );

    // Ana acknowledges a Front Line alert from the terminal; Bo's desk prints it at once.
    let key = ana
        .json("notification")
        .iter()
        .find(|(_, v)| {
            v["labels"]["team"] == FRONT && v["state"] == "firing" && v["digest"].is_null()
        })
        .map(|(_, v)| v["key"].as_str().unwrap().to_string())
        .or_else(|| {
            // All in one digest: its first key.
            ana.json("notification")
                .iter()
                .find(|(_, v)| v["labels"]["team"] == FRONT)
                .and_then(|(_, v)| v["digest"][0].as_str().map(str::to_string))
        })
        .expect("a Front Line alert");
    let ack = Command::new(BIN)
        .args(["ack", &key, "--hub", &team.broker.url(), "--user", "ana"])
        .env("LOOKOUT_NATS_PASSWORD", team.password("ana"))
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("XDG_DATA_HOME", team.home("ana-cli").join("data"))
        .output()
        .unwrap();
    let confirmed = Instant::now();
    assert!(
        ack.status.success(),
        "{}",
        String::from_utf8_lossy(&ack.stderr)
    );
    assert!(String::from_utf8_lossy(&ack.stdout).contains(&format!("acknowledged {key}")));
    let heard = wait_for(
        "bo to print the acknowledgement",
        Duration::from_secs(1),
        || {
            bo.json("acknowledged")
                .into_iter()
                .find(|(_, v)| v["key"] == key.as_str() && v["by"] == "ana")
        },
    );
    assert!(heard.1["at"].as_i64().unwrap() > 0 && heard.1["rule"] == "Not ready");
    let late = heard.0.saturating_duration_since(confirmed);
    assert!(late < Duration::from_secs(1), "{late:?}");
    // The Specialists never hear of Front Line's acknowledgements.
    std::thread::sleep(Duration::from_secs(2));
    assert!(cy.json("acknowledged").is_empty());

    // Nothing told twice on any desk.
    for desk in [&ana, &bo, &cy] {
        let twice: Vec<_> = told_counts(desk)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(twice.is_empty(), "told twice: {twice:?}");
    }
}

#[test]
fn a_wrong_password_is_a_clear_error_without_retrying() {
    let team = Team::new();
    let started = Instant::now();
    let out = Command::new(BIN)
        .args([
            "watch",
            "--hub",
            &team.broker.url(),
            "--user",
            "ana",
            "--format",
            "json",
        ])
        .env("LOOKOUT_NATS_PASSWORD", "not-the-password")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("XDG_DATA_HOME", team.home("wrong").join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused user `ana`: wrong user or password"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"));
    assert!(started.elapsed() < Duration::from_secs(10));
    let tries = team.broker.log().matches("Authorization Error").count();
    assert!(tries <= 1, "{tries} tries: {}", team.broker.log());
}

#[test]
fn a_standby_hub_takes_over_a_killed_one_and_nothing_is_told_twice_or_lost() {
    let team = Team::new();
    let start = Instant::now();
    let lease = Duration::from_secs(2);
    let long = Duration::from_secs(40);
    let (mut hub1, hub2) = team.two_hubs();
    let ana = team.desk("ana");
    let cy = team.desk("cy");
    // Mid-storm: Front Line's agents are being told of.
    wait_for("the storm to reach ana", long, || {
        teams_told(&ana).contains(&Some(FRONT.into())).then_some(())
    });
    hub1.kill();
    let killed = Instant::now();
    let took_over = became_active(&hub2);
    let gap = took_over.saturating_duration_since(killed);
    eprintln!(
        "hub-2 took over {} ms after hub-1 was killed",
        gap.as_millis()
    );
    assert!(
        gap <= 2 * lease,
        "took {gap:?}, more than two lease periods"
    );
    wait_for("the desks to follow hub-2", long, || {
        (ana.errors().contains("hub hub-2 took over")
            && cy.errors().contains("hub hub-2 took over"))
        .then_some(())
    });
    // The scenario goes on (a long wait, callers hanging up): what fires now is told by hub-2.
    wait_for("a notification from after the switch", long, || {
        ana.json("notification")
            .iter()
            .any(|(t, _)| *t > took_over)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));

    for desk in [&ana, &cy] {
        let twice: Vec<_> = told_counts(desk)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(twice.is_empty(), "told twice across the switch: {twice:?}");
    }
    // At the tenant: one poller at a time, hub-1's then hub-2's, never both in one poll period.
    let polls = team.demo().sim().polls_since(start);
    let mut by_second: BTreeMap<u64, std::collections::BTreeSet<u32>> = BTreeMap::new();
    for (at, who) in &polls {
        by_second
            .entry(at.duration_since(start).as_secs())
            .or_default()
            .insert(*who);
    }
    let pollers: std::collections::BTreeSet<u32> = polls.iter().map(|(_, w)| *w).collect();
    assert_eq!(pollers.len(), 2, "hub-1's login, then hub-2's");
    let both = by_second.values().filter(|w| w.len() > 1).count();
    assert!(
        both <= 1,
        "two hubs polled in {both} seconds: {by_second:?}"
    );
    assert_eq!(team.demo().sim().active_subscriptions(), 1);
}

#[test]
fn the_team_demo_shows_an_acknowledgement_reaching_the_other_desk() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--team", "--duration", "20"])
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acked = text
        .lines()
        .find_map(|l| {
            l.split_once("[ana] acknowledges ")
                .map(|(_, k)| k.to_string())
        })
        .unwrap_or_else(|| panic!("ana acknowledged nothing:\n{text}"));
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("[bo] acknowledged by ana: {acked} "))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("[bo] ") && l.contains("FIRING")),
        "{text}"
    );
}

#[test]
fn a_hub_stopped_by_its_service_manager_hands_over_at_once() {
    let team = Team::new();
    let long = Duration::from_secs(40);
    let (hub1, hub2) = team.two_hubs();
    // SIGTERM, as systemd stops a service: the subscription is deleted, the lease given up.
    let stopped = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &hub1.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut hub1 = hub1;
    let exit = hub1.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}: {}", hub1.errors());
    assert!(
        hub1.errors().contains("giving up the leases"),
        "{}",
        hub1.errors()
    );
    let took_over = became_active(&hub2);
    let gap = took_over.saturating_duration_since(stopped);
    eprintln!(
        "hub-2 took over {} ms after hub-1 was told to stop",
        gap.as_millis()
    );
    // Not a lease period: hub-1 gave the lease up, hub-2 saw it at its next look.
    assert!(gap < Duration::from_secs(2), "{gap:?}");
    wait_for("hub-2's subscription alone", long, || {
        (team.demo().sim().active_subscriptions() == 1).then_some(())
    });
}

#[test]
fn one_watch_reads_a_hub_and_a_tenant_of_its_own_and_names_the_source_of_each_alert() {
    let team = Team::new();
    let _hub = team.hub("hub-1");
    // A second tenant, watched directly.
    let own = team
        .rt
        .block_on(Demo::start(lookout_pipeline::demo::scenario().unwrap()))
        .unwrap();
    let mut config = own.config.clone();
    config.server.poll_interval_secs = 1;
    config.rules.dir = Some(own.rules_dir());
    let own_config = team.home("own").join("own.toml");
    std::fs::write(&own_config, config.to_toml()).unwrap();
    let url = team.broker.url();
    let desk = Proc::start(
        &[
            "watch",
            "--hub",
            &url,
            "--user",
            "ana",
            "--config",
            own_config.to_str().unwrap(),
            "--format",
            "json",
            "--notify",
            "stdout",
        ],
        &team.password("ana"),
        &team.home("both"),
    );
    let hub_source = format!("hub {url}");
    let sources = |d: &Proc| -> std::collections::BTreeSet<String> {
        d.json("notification")
            .iter()
            .filter_map(|(_, v)| v["labels"]["source"].as_str().map(str::to_string))
            .collect()
    };
    wait_for(
        "notifications from both sources",
        Duration::from_secs(40),
        || {
            let s = sources(&desk);
            (s.contains(&hub_source) && s.contains(&config.tenant())).then_some(())
        },
    );
    for (_, v) in desk.json("notification") {
        let source = v["labels"]["source"].as_str().unwrap_or_default();
        assert!(
            v["title"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{source}: ")),
            "{v}"
        );
    }
    assert!(
        desk.json("status")
            .iter()
            .any(|(_, v)| v["state"] == "live")
    );
    // Each tenant serves one subscription: the hub's, and this desk's own.
    assert_eq!(team.demo().sim().active_subscriptions(), 1);
    assert_eq!(own.sim().active_subscriptions(), 1);
    drop(desk);
    team.rt.block_on(own.stop());
}
