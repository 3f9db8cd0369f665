//! The `lookout` binary as a user runs it: `lookout sim` in one process, `lookout snapshot`
//! in another, over real HTTP on loopback.

use std::io::{BufRead, BufReader};
use std::path::Path;
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
    let mut cmd = Command::new(BIN);
    cmd.args(["snapshot", "--config"])
        .arg(config)
        .args(["--format", format, "--timeout", "10"])
        .env_remove("LOOKOUT_CLIENT_SECRET")
        .env_remove("LOOKOUT_PASSWORD")
        // No session bus: the keychain lookup fails fast instead of waiting for one.
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    if let Some(s) = secret {
        cmd.env("LOOKOUT_CLIENT_SECRET", s)
            .env("LOOKOUT_PASSWORD", s);
    }
    cmd.output().unwrap()
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
    let scenario = write_scenario(
        &dir,
        "scenario.toml",
        "[[event]]\nat = 0\ndo = \"chat\"\nfrom = \"diana.yeh\"\nurgent = true\ncontent = \"<b>help</b> now\"\n\n[[event]]\nat = 0\ndo = \"agents\"\nservice = \"Billing\"\nstate = \"not_ready\"\n",
    );
    let (_sim, url) = start_sim(&["--scenario", scenario.to_str().unwrap()]);
    let config = write_config(&dir, &url, "");
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

    // Text output for people.
    let out = snapshot(&config, "text", Some("demo-secret"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Services (6)") && text.contains("Billing"),
        "{text}"
    );
    assert!(text.contains("NOBODY READY"), "{text}");
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
    let out = snapshot(&write_config(&dir, &url, ""), "json", Some("x"));
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/configapi/v2/oauth/token"), "{err}");
    assert!(err.contains("HTTP 502"), "{err}");
    assert!(err.contains("Welcome to nginx"), "{err}");
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
