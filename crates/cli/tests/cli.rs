//! The `lookout` binary as a user runs it: `lookout sim` in one process, `lookout snapshot`
//! in another, over real HTTP on loopback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lookout");

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `lookout sim` with `args`; return it and its URL (read from its first line).
fn start_sim(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg("sim")
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Keep reading what it prints, as a terminal would.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("Simulated tenant listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_string();
    (Running(child), url)
}

fn snapshot(config: &Path, format: &str, secret: Option<&str>) -> Output {
    snapshot_cmd(config, format, secret, 10).output().unwrap()
}

fn snapshot_cmd(config: &Path, format: &str, secret: Option<&str>, timeout: u32) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["snapshot", "--config"])
        .arg(config)
        .args(["--format", format, "--timeout", &timeout.to_string()])
        .env_remove("LOOKOUT_CLIENT_SECRET")
        .env_remove("LOOKOUT_PASSWORD")
        // No session bus: the keychain lookup fails fast instead of waiting for one.
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    if let Some(s) = secret {
        cmd.env("LOOKOUT_CLIENT_SECRET", s)
            .env("LOOKOUT_PASSWORD", s);
    }
    cmd
}

fn write_config(dir: &Path, url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nurl = \"{url}\"\nusername = \"supervisor\"\nauth = \"oauth\"\npoll_interval_secs = 1\n{extra}\n[availability]\nservices = [\"Sales\", \"Billing\"]\n"
        ),
    )
    .unwrap();
    path
}

/// A simulated tenant playing `scenario` (with more `lookout sim` arguments), and a config
/// file for it in `dir`.
fn scenario_sim(dir: &Path, scenario: &str, args: &[&str]) -> (Running, PathBuf) {
    let path = write_scenario(dir, "scenario.toml", scenario);
    let mut all = vec!["--scenario", path.to_str().unwrap()];
    all.extend(args);
    let (sim, url) = start_sim(&all);
    (sim, write_config(dir, &url, ""))
}

/// Write a scenario file into `dir` and return its path.
fn write_scenario(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lookout-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn snapshot_against_the_simulated_tenant_prints_typed_json() {
    let dir = tempdir("json");
    let (_sim, config) = scenario_sim(
        &dir,
        "[[event]]\nat = 0\ndo = \"chat\"\nfrom = \"diana.yeh\"\nurgent = true\ncontent = \"<b>help</b> now\"\n\n[[event]]\nat = 0\ndo = \"agents\"\nservice = \"Billing\"\nstate = \"not_ready\"\n",
        &[],
    );
    let out = snapshot(&config, "json", Some("demo-secret"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stderr.contains("waiting for data"),
        "progress is shown: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    assert!(v["totals"]["agents_logged"].is_u64(), "{}", v["totals"]);
    assert!(v["totals"]["in_calls_waiting"].is_u64());
    assert!(v["totals"]["service_level"].is_f64() || v["totals"]["service_level"].is_null());
    let services = v["services"].as_array().unwrap();
    assert_eq!(services.len(), 6);
    assert_eq!(services[0]["name"], "Sales");
    assert!(services[0]["in_max_wait_time"].is_u64());
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 40);
    assert!(
        agents.iter().any(|a| a["acd_state"].is_null()),
        "logged-out agents have no state"
    );
    assert!(agents.iter().any(|a| a["acd_state"] == "not_ready"));
    let chat = &v["chat"][0];
    assert_eq!(chat["is_urgent"], true);
    assert_eq!(chat["content"], "<b>help</b> now");
    assert_eq!(chat["login_id"], "diana.yeh");
    assert!(chat["send_time"].is_i64());
    assert_eq!(v["availability"]["Billing"], false);
    assert!(v["availability"]["Sales"].is_boolean());
    // How the tenant's percentages were read is stated (this one writes 0–100).
    assert_eq!(
        v["percent_scale"]["services.service_level_target"], "0–100 (auto)",
        "{}",
        v["percent_scale"]
    );

    // Text output for people.
    let out = snapshot(&config, "text", Some("demo-secret"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Services (6)") && text.contains("Billing"),
        "{text}"
    );
    assert!(text.contains("NOBODY READY"), "{text}");
    assert!(
        text.contains("services.service_level_target") && text.contains("0–100 (auto)"),
        "{text}"
    );
}

#[test]
fn snapshot_against_garbage_names_the_endpoint_and_status() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<html>Welcome to nginx!</html>";
            let _ = write!(
                s,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempdir("garbage");
    // A 502 may pass: the keeper retries until the timeout, then says what it last saw.
    let out = snapshot_cmd(&write_config(&dir, &url, ""), "json", Some("x"), 3)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no data within 3 s; the last problem"),
        "{err}"
    );
    assert!(err.contains("/configapi/v2/oauth/token"), "{err}");
    assert!(err.contains("HTTP 502 Bad Gateway"), "{err}");
    // What a login endpoint answers may hold credentials: never shown.
    assert!(!err.contains("Welcome to nginx"), "{err}");
}

/// An answer larger than `[server] max_response_mb` is not read, and the message says how
/// large an answer may be.
#[test]
fn answers_over_the_configured_size_are_not_read() {
    let dir = tempdir("cap");
    let (_sim, url) = start_sim(&["--agents", "20000"]);
    let config = write_config(&dir, &url, "max_response_mb = 1");
    let out = snapshot_cmd(&config, "json", Some("demo-secret"), 4)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/statsapi/subscription/data: response body larger than 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn missing_secret_and_bad_config_are_explained() {
    let dir = tempdir("bad");
    let config = write_config(&dir, "http://127.0.0.1:9", "");
    let out = snapshot(&config, "json", None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LOOKOUT_CLIENT_SECRET") && err.contains("keychain"),
        "{err}"
    );

    let config = write_config(&dir, "http://127.0.0.1:9", "password = \"hunter2\"");
    let out = snapshot(&config, "json", Some("x"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("config.toml") && err.contains("secrets do not belong"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let config = write_config(&dir, "http://example.com", "");
    let err = String::from_utf8_lossy(&snapshot(&config, "json", Some("x")).stderr).to_string();
    assert!(err.contains("https://"), "{err}");

    let err = String::from_utf8_lossy(&snapshot(&dir.join("nope.toml"), "json", Some("x")).stderr)
        .to_string();
    assert!(
        err.contains("nope.toml") && err.contains("--config"),
        "{err}"
    );

    // A schedule, an escalation sound: refused before anything starts, naming section and key.
    for (extra, want) in [
        (
            "[schedules.business]\ntime_zone = \"Europe/Berlinn\"\nwhen = [\"mon-fri 08:00-18:00\"]\n",
            "[schedules.business] time_zone: `Europe/Berlinn` is not a time zone; use an IANA name like \"Europe/Berlin\"",
        ),
        (
            "[[escalation]]\nafter_secs = 120\nsound = \"/nowhere/siren.oga\"\n",
            "[[escalation]]: step 1: sound: `/nowhere/siren.oga` does not exist",
        ),
    ] {
        std::fs::write(
            dir.join("sched.toml"),
            format!("[server]\nurl = \"https://127.0.0.1:9\"\nusername = \"supervisor\"\n{extra}"),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["watch", "--notify", "none", "--config"])
            .arg(dir.join("sched.toml"))
            .env("LOOKOUT_CLIENT_SECRET", "x")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("sched.toml") && err.contains(want), "{err}");
    }
}

#[test]
fn sim_rejects_a_bad_scenario_with_the_event_number() {
    let dir = tempdir("scenario");
    let scenario = write_scenario(
        &dir,
        "bad.toml",
        "[[event]]\nat = 5\ndo = \"calls\"\nservice = \"Nope\"\ncount = 1\n",
    );
    let out = Command::new(BIN)
        .args(["sim", "--port", "0", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("event 1") && err.contains("no service `Nope`"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["sim", "--port", "0", "--profile", "9.9"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown profile `9.9`"));
}

/// Send SIGINT, as Ctrl-C in a terminal does.
fn ctrl_c(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT failed");
}

/// Wait for `child` to exit, at most `limit`.
fn wait_exit(child: &mut Child, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

/// Read stderr lines in the background; `wait_for` blocks until one contains a text.
struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Lines {
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Lines(rx)
    }

    fn wait_for(&self, text: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.0.recv_timeout(std::time::Duration::from_secs(15)) {
                Ok(line) => {
                    let hit = line.contains(text);
                    seen.push(line);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("no line with {text:?}; saw {seen:#?}"),
            }
        }
    }
}

#[test]
fn ctrl_c_deletes_the_subscription_and_a_second_one_quits_at_once() {
    let dir = tempdir("ctrl-c");
    // One subscription slot; data never comes for the first 12 s; from 6 s on, every answer
    // takes 30 s.
    let (_sim, config) = scenario_sim(
        &dir,
        "[[event]]\nat = 0\ndo = \"not_ready\"\nfor = \"12s\"\n\n[[event]]\nat = \"6s\"\ndo = \"slow\"\ndelay = \"30s\"\nfor = \"30s\"\n",
        &["--subscription-limit", "1"],
    );

    // Ctrl-C while waiting for data: the subscription is deleted and the slot is free.
    let mut first = snapshot_cmd(&config, "text", Some("demo-secret"), 60)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut first);
    lines.wait_for("waiting for data");
    ctrl_c(&first);
    let status = wait_exit(&mut first, std::time::Duration::from_secs(5)).expect("exited");
    assert_eq!(status.code(), Some(130));
    lines.wait_for("Ctrl-C again to quit at once");
    // The only slot is free again: a second client can subscribe (it would get 409 if not).
    let mut second = snapshot_cmd(&config, "text", Some("demo-secret"), 60)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut second);
    lines.wait_for("waiting for data");
    // From 6 s on the tenant hangs: the first Ctrl-C starts a clean shutdown that would wait
    // up to 5 s for the delete; the second quits at once.
    std::thread::sleep(std::time::Duration::from_secs(7));
    ctrl_c(&second);
    lines.wait_for("Ctrl-C again to quit at once");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert!(
        second.try_wait().unwrap().is_none(),
        "still waiting for the hung tenant to delete the subscription"
    );
    let asked = std::time::Instant::now();
    ctrl_c(&second);
    let status = wait_exit(&mut second, std::time::Duration::from_secs(2)).expect("quit at once");
    assert_eq!(status.code(), Some(130));
    assert!(asked.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn the_demo_makes_the_shipped_rules_fire_within_a_minute() {
    let out = Command::new(BIN)
        .args(["demo", "--duration", "50", "--notify", "stdout"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connection: live"), "{stdout}");
    // Every shipped rule but the service level (its 60 s `for` ends just after) has fired
    // (a group's line names the keys of all its alerts).
    for key in [
        "chat:1",
        "growth:Support",
        "wait:Support",
        "wait:all",
        "abandon:spike",
        "unavailable:Billing",
        "acw:omar.berg",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("FIRING") && l.contains(key)),
            "{key} did not fire:\n{stdout}"
        );
    }
    // Billing lost its agents: one bell. Nobody ready on Billing is held back by it, and said.
    assert!(
        stdout.lines().any(|l| l.contains("HELD")
            && l.contains("noready:Billing")
            && l.ends_with("inhibited by: No agents available for Billing")),
        "{stdout}"
    );
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains("FIRING") && l.contains("noready:Billing")),
        "{stdout}"
    );
    // The runbook is printed under its alert.
    assert!(
        stdout.contains("\n          runbook: Ask the team lead on shift"),
        "{stdout}"
    );
    // Chat markup is shown as it was written.
    assert!(stdout.contains("legal action <b>now</b>"), "{stdout}");
}

fn repo_rules() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[test]
fn the_shipped_rules_pass_their_tests() {
    let out = Command::new(BIN)
        .args(["rules", "test"])
        .arg(repo_rules())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(
        !stdout.contains("has no test"),
        "every shipped rule has tests:\n{stdout}"
    );
    let out = Command::new(BIN)
        .args(["rules", "check"])
        .arg(repo_rules())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 errors, 0 warnings"));
    // Editor definitions name the API with its types.
    let defs = tempdir("defs");
    let out = Command::new(BIN)
        .args(["rules", "defs", "--out"])
        .arg(&defs)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(defs.join("lookout.d.rhai")).unwrap();
    for want in [
        "fn where(_: Rows, _: string, _: ?) -> Rows;",
        "const agents: Rows;",
        "fn fmt_dur(",
    ] {
        assert!(text.contains(want), "no {want:?} in the definitions");
    }
}

#[test]
fn rules_check_points_at_the_mistake_and_fails() {
    let dir = tempdir("check");
    std::fs::write(
        dir.join("bad.rhai"),
        "const RULE = #{ name: \"Bad\", needs: #{ services: [\"name\"] } };\n\nfor s in servics { }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("good.rhai"),
        "const RULE = #{ name: \"Good\", needs: #{ services: [\"nme\"] } };\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["rules", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: unknown variable `servics`; did you mean `services`?"),
        "{err}"
    );
    assert!(err.contains("bad.rhai:3:10\n"), "{err}");
    assert!(
        err.contains("3 | for s in servics { }\n  |          ^"),
        "{err}"
    );
    assert!(
        err.contains("warning: RULE.needs.services: `nme` is not a statistic Lookout knows; did you mean `name`?"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rules checked: 1 error, 1 warning"));
}

/// `rules check` runs each rule over made-up data, so the mistakes a live poll would find are
/// found before: a misspelled column in `where`, a misspelled row field, a column not declared,
/// a throw on an empty tenant (errors), a duration in a key (a warning).
#[test]
fn rules_check_finds_typos_before_the_data_does() {
    let dir = tempdir("dry");
    let rules = [
        (
            "a_where.rhai",
            "const RULE = #{ name: \"A\", needs: #{ services: [\"name\", \"agents_ready\"] } };\nfor s in services.where(\"agents_redy\", 0) {\n    alert(s.name, \"x\", \"\");\n}\n",
        ),
        (
            "b_field.rhai",
            "const RULE = #{ name: \"B\", needs: #{ services: [\"name\", \"agents_ready\"] } };\nfor s in services.where(\"agents_ready\", 0) {\n    alert(`x:${s.name}`, `${s.nme} has nobody`, \"\");\n}\n",
        ),
        (
            "c_needs.rhai",
            "const RULE = #{ name: \"C\", needs: #{ services: [\"name\"] } };\nfor s in services {\n    if s.in_calls_waiting > 3 { alert(s.name, \"x\", \"\"); }\n}\n",
        ),
        (
            "d_key.rhai",
            "const RULE = #{ name: \"D\", needs: #{ agents: [\"login_id\", \"state_duration\"] } };\nfor a in agents.where(\"state_duration\", \">\", 60) {\n    alert(`acw:${a.login_id}:${fmt_dur(a.state_duration)}`, \"long\", \"\");\n}\n",
        ),
        (
            "e_empty.rhai",
            "const RULE = #{ name: \"E\", needs: #{ services: [\"name\"] } };\nalert(\"first\", services.first().name, \"\");\n",
        ),
    ];
    for (name, text) in rules {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let out = Command::new(BIN)
        .args(["rules", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert!(
        stdout.contains("5 rules checked: 4 errors, 1 warning"),
        "{stdout}{err}"
    );
    for (place, what) in [
        (
            "a_where.rhai:2:19",
            "error: unknown column `agents_redy`; did you mean `agents_ready`?",
        ),
        (
            "b_field.rhai:3:30",
            "error: unknown column `nme`; did you mean `name`?",
        ),
        (
            "c_needs.rhai:3:10",
            "error: column `in_calls_waiting` is not declared; add \"in_calls_waiting\" to RULE.needs.services",
        ),
        (
            "d_key.rhai:3:5",
            "warning: the alert key changes from one poll to the next (`acw:ben.kim:1m 35s`, then `acw:ben.kim:1m 36s`)",
        ),
        (
            "e_empty.rhai:2:33",
            "error: on a tenant with nothing in it (no rows, no values): Unknown property 'name'",
        ),
    ] {
        // The message, then the place, as the compiler-style report prints them.
        let at = err
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in:\n{err}"));
        let next = err[at..].lines().nth(1).unwrap_or_default();
        assert!(next.ends_with(place), "{what} is at {next}, not {place}");
    }
}

#[test]
fn a_recording_replays_what_would_have_fired() {
    let dir = tempdir("record");
    let (_sim, config) = scenario_sim(
        &dir,
        "[[event]]\nat = \"1s\"\ndo = \"set\"\nservice = \"Support\"\nstat = \"in_max_wait_time\"\nvalue = 200\n",
        &[],
    );
    let recording = dir.join("r.jsonl");
    let out = Command::new(BIN)
        .args(["record", "--duration", "4s", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&recording)
        .arg("--rules")
        .arg(repo_rules())
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = String::from_utf8_lossy(&out.stdout);
    assert!(written.contains("snapshots in"), "{written}");
    #[cfg(unix)]
    assert_eq!(
        mode(&recording),
        0o600,
        "a recording holds names and chat: private"
    );
    let out = Command::new(BIN)
        .args(["rules", "replay", "--recording"])
        .arg(&recording)
        .arg(repo_rules())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "FIRING    critical  long_wait/wait:Support  Support: a caller has waited 3m 20s"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("0 rule errors"), "{stdout}");
}

#[test]
fn watch_writes_one_json_object_per_line_and_cleans_up_on_ctrl_c() {
    let dir = tempdir("watch");
    let (_sim, config) = scenario_sim(
        &dir,
        "[[event]]\nat = \"1s\"\ndo = \"set\"\nservice = \"Support\"\nstat = \"in_max_wait_time\"\nvalue = 200\n\n[[event]]\nat = \"1s\"\ndo = \"chat\"\nfrom = \"diana.yeh\"\nurgent = true\ncontent = \"<b>help</b> \\\"now\\\"\"\n",
        &["--subscription-limit", "1"],
    );
    let rules = dir.join("rules");
    let mut child = Command::new(BIN)
        .args([
            "watch", "--format", "json", "--notify", "stdout", "--config",
        ])
        .arg(&config)
        .arg("--rules")
        .arg(&rules)
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let errs = Lines::of(&mut child);
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < until {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            seen.push(v);
        }
        let has = |key: &str| seen.iter().any(|v| v["key"] == key);
        // The live status and the first notifications race each other to stdout.
        let live = seen.iter().any(|v| v["state"] == "live");
        if has("wait:Support") && has("chat:1") && live {
            break;
        }
    }
    let states: Vec<&str> = seen
        .iter()
        .filter(|v| v["type"] == "status")
        .filter_map(|v| v["state"].as_str())
        .collect();
    assert_eq!(
        &states[..5],
        [
            "connecting",
            "authenticating",
            "subscribing",
            "waiting_for_data",
            "live"
        ],
        "{seen:#?}"
    );
    let wait = seen
        .iter()
        .find(|v| v["key"] == "wait:Support")
        .unwrap_or_else(|| panic!("no wait:Support in {seen:#?}"));
    assert_eq!(wait["type"], "notification");
    assert_eq!(wait["rule"], "Caller waiting too long");
    assert_eq!(wait["severity"], "critical");
    assert_eq!(wait["state"], "firing");
    assert_eq!(wait["title"], "Support: a caller has waited 3m 20s");
    assert!(wait.get("digest").is_none());
    let chat = seen
        .iter()
        .find(|v| v["key"] == "chat:1")
        .expect("the urgent chat");
    assert_eq!(chat["body"], "<b>help</b> \"now\"");
    // The shipped rules were put in the empty folder.
    assert!(rules.join("no_ready.rhai").exists());
    ctrl_c(&child);
    let status = wait_exit(&mut child, std::time::Duration::from_secs(8)).expect("exited");
    assert!(status.success(), "{status:?}");
    errs.wait_for("Ctrl-C again");
    // The single subscription slot is free again.
    let out = snapshot(&config, "json", Some("demo-secret"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The state was saved where the OS keeps application data.
    assert!(dir.join("data/lookout/state.json").exists());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// What an agent types reaches the supervisor's terminal as plain text: escape sequences are
/// not passed on, a megabyte of chat still notifies (cut short) and breaks no rule that builds
/// text from it. A rule that fails every poll says so once, not once a poll. What is written
/// about people (the state file) is private to the user.
#[cfg(unix)]
#[test]
fn hostile_chat_and_a_failing_rule_reach_the_terminal_as_plain_text_once() {
    let dir = tempdir("hostile");
    let scenario = format!(
        "[[event]]\nat = \"1s\"\ndo = \"chat\"\nfrom = \"diana.yeh\"\nurgent = true\ncontent = \"\\u001b]0;owned\\u0007\\u001b[31mRED\\u001b[0m {}\"\n",
        "x".repeat(1024 * 1024)
    );
    let (_sim, config) = scenario_sim(&dir, &scenario, &[]);
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for name in ["urgent_chat.rhai", "no_ready.rhai"] {
        std::fs::copy(repo_rules().join(name), rules.join(name)).unwrap();
    }
    std::fs::write(
        rules.join("raw_chat.rhai"),
        "const RULE = #{ name: \"Raw\", mode: \"event\", needs: #{ chat: true } };\nfor m in chat.where(\"is_urgent\", true) { alert(`raw:${m.id}`, \"Raw\", `From chat: ${m.content}`); }\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("broken.rhai"),
        "const RULE = #{ name: \"Broken\", needs: #{} };\nlet x = 1 / 0;\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "watch",
            "--format",
            "text",
            "--notify",
            "stdout",
            "--duration",
            "8s",
            "--config",
        ])
        .arg(&config)
        .arg("--rules")
        .arg(&rules)
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("XDG_DATA_HOME", dir.join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}']),
            "control characters on {what}"
        );
    }
    let chat = stdout
        .lines()
        .find(|l| l.contains("FIRING") && l.contains("chat:1"))
        .unwrap_or_else(|| panic!("the urgent message was not told:\n{stdout:.2000}"));
    assert!(chat.contains("RED"), "{chat:.300}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("FIRING") && l.contains("raw:1")),
        "a rule that builds text from the message still works:\n{stdout:.2000}\n{stderr:.2000}"
    );
    assert!(
        stdout.lines().all(|l| l.len() < 4000),
        "lines are cut short"
    );
    // Eight polls of a rule that fails every time: one message.
    let told = stderr.matches("Division by zero").count();
    assert_eq!(told, 1, "{stderr}");
    let state = dir.join("data/lookout/state.json");
    assert_eq!(mode(&state), 0o600, "the state file is private");
    assert_eq!(mode(state.parent().unwrap()), 0o700);
}

/// The demo keeps its rules and state in a folder of its own: made fresh with a name nobody can
/// guess and that only the user can enter (another local user could otherwise plant rules
/// there, which would run, or links where the state is written), and gone afterwards.
#[cfg(unix)]
#[test]
fn the_demo_works_in_a_private_folder_of_its_own() {
    let tmp = tempdir("demo-tmp");
    let mut child = Command::new(BIN)
        .args(["demo", "--duration", "4", "--notify", "none"])
        .env("TMPDIR", &tmp)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let rules = first
        .split_once("shipped rules (")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(r, _)| PathBuf::from(r))
        .unwrap_or_else(|| panic!("no rules folder in {first:?}"));
    let place = rules.parent().unwrap().to_path_buf();
    assert!(place.starts_with(&tmp), "{}", place.display());
    assert_ne!(
        place.file_name().unwrap().to_string_lossy(),
        format!("lookout-demo-{}", child.id()),
        "a name another user can guess"
    );
    assert_eq!(mode(&place), 0o700, "{}", place.display());
    let status = wait_exit(&mut child, std::time::Duration::from_secs(20)).expect("exited");
    assert!(status.success());
    assert!(!place.exists(), "removed on exit");
}

#[path = "../../alerting/tests/support/fake_notifications.rs"]
mod fake_notifications;
#[path = "../../alerting/tests/support/private_bus.rs"]
mod private_bus;

/// Run `lookout watch` on `config` with the shipped rules in `dir/<name>`; its stdout lines
/// arrive on the receiver.
fn watch_lines(
    dir: &Path,
    name: &str,
    config: &Path,
    notify: &str,
    bus: &str,
) -> (Running, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["watch", "--format", "json", "--notify", notify, "--config"])
        .arg(config)
        .arg("--rules")
        .arg(dir.join(name).join("rules"))
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("XDG_DATA_HOME", dir.join(name).join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Running(child), rx)
}

/// Billing loses every agent while calls wait: one critical notification for Billing (the
/// cause), on the terminal and on the desktop; "nobody ready" and "long wait" on Billing are
/// held back, each with the reason.
#[test]
fn a_service_that_loses_every_agent_rings_one_bell_and_the_rest_is_shown_as_inhibited() {
    let dir = tempdir("inhibit");
    // The agents leave with calls waiting; the oldest caller's wait passes both thresholds
    // later, as waits do.
    let (_sim, config) = scenario_sim(
        &dir,
        r#"
[[event]]
at = "1s"
do = "agents"
service = "Billing"
state = "not_ready"
reason = "Meeting"
for = "5m"

[[event]]
at = "1s"
do = "calls"
service = "Billing"
count = 5

[[event]]
at = "16s"
do = "set"
service = "Billing"
stat = "in_max_wait_time"
value = 200
for = "5m"
"#,
        &[],
    );
    let bus = private_bus::private_bus();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _server = fake_notifications::serve(&bus.address, seen.clone());
    let (_desktop, _) = watch_lines(&dir, "desktop", &config, "desktop", &bus.address);
    let (_terminal, lines) = watch_lines(
        &dir,
        "terminal",
        &config,
        "stdout",
        "unix:path=/nonexistent",
    );
    let mut got: Vec<serde_json::Value> = Vec::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let held = |got: &[serde_json::Value], key: &str| {
        got.iter().any(|v| v["type"] == "held" && v["key"] == key)
    };
    while std::time::Instant::now() < until
        && !(held(&got, "noready:Billing") && held(&got, "wait:Billing"))
    {
        if let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(200)) {
            got.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    // A moment for the desktop's watcher, which runs alongside.
    std::thread::sleep(std::time::Duration::from_secs(3));
    while let Ok(line) = lines.try_recv() {
        got.push(serde_json::from_str(&line).unwrap());
    }
    let billing = |v: &&serde_json::Value| v["labels"]["service"] == "Billing";
    // Exactly one critical notification for Billing (the queue's growth, a warning, may be
    // told before it, in the same group).
    let told: Vec<&serde_json::Value> = got
        .iter()
        .filter(|v| v["type"] == "notification" && v["severity"] == "critical")
        .filter(billing)
        .collect();
    assert_eq!(
        told.len(),
        1,
        "one critical notification for Billing: {got:#?}"
    );
    assert_eq!(told[0]["key"], "unavailable:Billing");
    assert_eq!(told[0]["title"], "No agents available for Billing");
    assert_eq!(told[0]["group"], "service=Billing");
    assert!(told[0]["runbook"].as_str().unwrap().contains("team lead"));
    assert!(
        !got.iter().any(|v| v["type"] == "notification"
            && (v["key"] == "noready:Billing" || v["key"] == "wait:Billing")),
        "{got:#?}"
    );
    for key in ["noready:Billing", "wait:Billing"] {
        let h = got
            .iter()
            .find(|v| v["type"] == "held" && v["key"] == key)
            .unwrap_or_else(|| panic!("{key} not shown as held: {got:#?}"));
        assert_eq!(h["severity"], "critical");
        assert_eq!(h["reason"], "inhibited by: No agents available for Billing");
        assert_eq!(h["labels"]["service"], "Billing");
    }
    // The desktop: one notification about Billing on screen (each showing replaces the one
    // before), critical once, led by the cause.
    let desktop = seen.lock().unwrap().clone();
    let about_billing: Vec<_> = desktop
        .iter()
        .filter(|c| c.summary.contains("Billing") || c.body.contains("Billing"))
        .collect();
    let ids: std::collections::BTreeSet<u32> = about_billing.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 1, "{desktop:#?}");
    let critical: Vec<_> = about_billing
        .iter()
        .filter(|c| c.urgency == Some(2))
        .collect();
    assert_eq!(critical.len(), 1, "{desktop:#?}");
    assert_eq!(critical[0].summary, "No agents available for Billing");
    assert!(!critical[0].body.contains("Nobody ready"), "{desktop:#?}");
}

/// `rules preview`: what each rule would fire now against the tenant, and at each point of a
/// recording; with a notification server listening, nothing reaches it.
#[test]
fn rules_preview_lists_what_would_fire_and_tells_no_one() {
    let dir = tempdir("preview");
    let (_sim, config) = scenario_sim(
        &dir,
        "[[event]]\nat = \"0s\"\ndo = \"set\"\nservice = \"Support\"\nstat = \"in_max_wait_time\"\nvalue = 200\n",
        &[],
    );
    let bus = private_bus::private_bus();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _server = fake_notifications::serve(&bus.address, seen.clone());
    let out = Command::new(BIN)
        .args(["rules", "preview", "--config"])
        .arg(&config)
        .arg("--rules")
        .arg(repo_rules())
        .args(["long_wait", "no_ready"])
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("nothing is notified"), "{stdout}");
    assert!(
        stdout.contains("Caller waiting too long (long_wait.rhai): ")
            && stdout.contains("critical  wait:Support  Support: a caller has waited 3m 20s"),
        "{stdout}"
    );
    assert!(stdout.contains("(no_ready.rhai)"), "{stdout}");
    assert!(
        !stdout.contains("queue_growth"),
        "only the rules asked for: {stdout}"
    );
    // A recording of the same tenant: a line per point.
    let rec = dir.join("rec.jsonl");
    let out = Command::new(BIN)
        .args(["record", "--duration", "5s", "--config"])
        .arg(&config)
        .arg("--rules")
        .arg(repo_rules())
        .arg("--out")
        .arg(&rec)
        .env("LOOKOUT_CLIENT_SECRET", "demo-secret")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(BIN)
        .args(["rules", "preview", "--recording"])
        .arg(&rec)
        .arg(repo_rules().join("long_wait.rhai"))
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let points: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("long_wait: wait:Support"))
        .collect();
    assert!(points.len() >= 2, "{stdout}");
    // A rule that is not there: said, with a suggestion.
    let out = Command::new(BIN)
        .args(["rules", "preview", "--recording"])
        .arg(&rec)
        .arg("--rules")
        .arg(repo_rules())
        .arg("long_wiat")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no rule `long_wiat`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nobody was told anything.
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}
