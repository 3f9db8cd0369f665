//! The real app under Xvfb, driven through WebKitWebDriver by way of `tauri-driver`, speaking
//! the W3C WebDriver protocol over plain HTTP. Run inside a display and a session bus:
//! `xvfb-run -a dbus-run-session -- cargo test -p lookout-desktop --test e2e`.
//! Skipped (with a message) when there is no display or no tauri-driver.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../../crates/core/tests/support/fake_notifications.rs"]
mod fake_notifications;

struct Driver {
    child: Child,
    base: String,
    session: Option<String>,
    http: reqwest::blocking::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(s) = &self.session {
            let _ = self
                .http
                .delete(format!("{}/session/{s}", self.base))
                .send();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    /// Start tauri-driver and the app with `args`; `None` when this machine cannot.
    fn start(env: &[(&str, &std::ffi::OsStr)], home: &std::path::Path) -> Option<Driver> {
        if std::env::var_os("DISPLAY").is_none() {
            eprintln!("skipped: no DISPLAY (run under xvfb-run)");
            return None;
        }
        let driver = std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into());
        let (port, native) = (free_port(), free_port());
        let child = Command::new(&driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("skipped: cannot run {driver} (cargo install tauri-driver --version '^2')");
            return None;
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            http,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": env!("CARGO_BIN_EXE_lookout-desktop"),
        }}}});
        let start = Instant::now();
        loop {
            match d
                .http
                .post(format!("{}/session", d.base))
                .json(&caps)
                .send()
            {
                Ok(r) => {
                    let v: Value = r.json().unwrap();
                    let id = v["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no session: {v}"));
                    d.session = Some(id.to_string());
                    return Some(d);
                }
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("tauri-driver does not answer: {e}"),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/session/{}{path}",
            self.base,
            self.session.as_ref().unwrap()
        )
    }

    fn script(&self, js: &str) -> Value {
        let r: Value = self
            .http
            .post(self.url("/execute/sync"))
            .json(&json!({"script": js, "args": []}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["value"].clone()
    }

    /// Run `js`, which ends by calling `done(value)`.
    fn script_async(&self, js: &str) -> Value {
        let body = format!("const done = arguments[arguments.length - 1]; {js}");
        let r: Value = self
            .http
            .post(self.url("/execute/async"))
            .json(&json!({"script": body, "args": []}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["value"].clone()
    }

    fn wait_for(&self, what: &str, js: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.script(js);
            if !v.is_null() && v != json!(false) && v != json!("") {
                return v;
            }
            if start.elapsed() > within {
                let page = self.script("return document.body.innerText");
                panic!("{what} not seen within {within:?}; the page says:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, css: &str) {
        let r: Value = self
            .http
            .post(self.url("/element"))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = r["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {r}"))
            .to_string();
        let r: Value = self
            .http
            .post(self.url(&format!("/element/{id}/click")))
            .json(&json!({}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(r["value"].is_null(), "click on {css}: {r}");
    }

    /// Switch to the window whose title is `title`.
    fn window(&self, title: &str) {
        let r: Value = self
            .http
            .get(self.url("/window/handles"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        for h in r["value"].as_array().cloned().unwrap_or_default() {
            let _ = self
                .http
                .post(self.url("/window"))
                .json(&json!({"handle": h}))
                .send();
            if self.script("return document.title") == json!(title) {
                return;
            }
        }
        panic!("no window titled {title:?}");
    }

    fn screenshot(&self, path: &std::path::Path) {
        let r: Value = self
            .http
            .get(self.url("/screenshot"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(b64) = r["value"].as_str() {
            let bytes = decode_base64(b64);
            let _ = std::fs::File::create(path).and_then(|mut f| f.write_all(&bytes));
        }
    }
}

/// An empty folder to be the app's home in one test.
fn home(name: &str) -> std::path::PathBuf {
    let home = std::env::temp_dir().join(format!("lookout-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    home
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn the_overview_shows_alerts_as_text_and_acknowledging_quiets_them() {
    let home = home("overview");
    let scenario = home.join("scenario.toml");
    std::fs::write(
        &scenario,
        r#"
[[event]]
at = "1s"
do = "chat"
from = "diana.yeh"
urgent = true
content = "<img src=x onerror=alert(1)> and <b>bold</b>"

[[event]]
at = "1s"
do = "set"
service = "Support"
stat = "in_max_wait_time"
value = 200
"#,
    )
    .unwrap();
    let env = [
        ("LOOKOUT_DEMO", std::ffi::OsStr::new("1")),
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
        ("LOOKOUT_DEMO_SCENARIO", scenario.as_os_str()),
    ];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    // The alerts arrive live, through Tauri events.
    d.wait_for(
        "the long-wait alert",
        "return [...document.querySelectorAll('#alerts li')].some(li => li.innerText.includes('Support: a caller has waited 3m 20s'))",
        Duration::from_secs(30),
    );
    let chat = d.wait_for(
        "the urgent chat alert",
        "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Urgent message')); return li ? li.innerText : null",
        Duration::from_secs(30),
    );
    let chat = chat.as_str().unwrap();
    assert!(
        chat.contains("<img src=x onerror=alert(1)> and <b>bold</b>"),
        "markup shows as text: {chat}"
    );
    assert_eq!(
        d.script("return document.querySelectorAll('#alerts img, #alerts b').length"),
        json!(0),
        "nothing from the tenant became HTML"
    );
    d.screenshot(&home.join("overview.png"));
    // The overview may not call the settings' commands.
    let denied = d.script_async(
        "window.__TAURI__.core.invoke('settings_load').then(() => done('allowed'), (e) => done(String(e)))",
    );
    let denied = denied.as_str().unwrap_or_default().to_string();
    assert!(
        denied != "allowed" && denied.contains("not allowed"),
        "the overview window reached a settings command: {denied}"
    );

    // Acknowledge the long wait: it stays visible, with the reason it is quiet.
    d.script("window.__ackTarget = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Support: a caller has waited')); window.__ackTarget.querySelector('button').id = 'ack-me'; return true");
    d.click("#ack-me");
    d.wait_for(
        "the acknowledgement",
        "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Support: a caller has waited')); return li && li.innerText.includes('Quiet: acknowledged')",
        Duration::from_secs(10),
    );
}

#[test]
fn settings_refuse_a_bad_address_and_say_why() {
    let home = home("settings");
    let env = [("LOOKOUT_SHOW_SETTINGS", std::ffi::OsStr::new("1"))];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    d.window("Lookout settings");
    d.wait_for(
        "the settings form",
        "return document.getElementById('url') !== null",
        Duration::from_secs(10),
    );
    d.script("document.getElementById('url').value = 'http://tenant.example.com'; document.getElementById('username').value = 'supervisor'; document.getElementById('secret').value = 'hunter2'; return true");
    d.click("#save");
    let msg = d.wait_for(
        "the validation error",
        "const r = document.getElementById('result'); return r.className === 'error' ? r.textContent : null",
        Duration::from_secs(10),
    );
    let msg = msg.as_str().unwrap();
    assert!(msg.starts_with("Server address"), "{msg}");
    assert!(msg.contains("https://"), "says what to do: {msg}");
    assert!(!msg.contains("hunter2"));
    // Nothing was saved.
    assert!(!home.join("config/lookout/config.toml").exists());
    // No notification server on this bus: the test notification says so.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        d.click("#notify");
        let msg = d.wait_for(
            "the test notification's answer",
            "const r = document.getElementById('result'); return r.textContent.startsWith('Sent') || r.textContent.includes('notification server') ? r.textContent : null",
            Duration::from_secs(10),
        );
        let msg = msg.as_str().unwrap();
        assert!(
            msg.starts_with("Sent") || msg.starts_with("no desktop notification server"),
            "{msg}"
        );
    }
}

#[test]
fn the_first_run_offers_the_demo_and_the_demo_fills_the_overview() {
    let home = home("first");
    let Some(d) = Driver::start(&[], &home) else {
        return;
    };
    // No config: the welcome window asks.
    d.window("Welcome to Lookout");
    d.wait_for(
        "the choices",
        "return document.getElementById('demo') !== null && document.getElementById('connect') !== null",
        Duration::from_secs(10),
    );
    d.click("#demo");
    d.window("Lookout");
    let text = d.wait_for(
        "the demo's first alert",
        "const li = document.querySelector('#alerts li'); return li ? li.innerText : null",
        Duration::from_secs(40),
    );
    let text = text.as_str().unwrap();
    assert!(text.contains("Support"), "the demo tenant's alert: {text}");
}

/// Snooze changes what is notified: the snoozed alert fires again in silence while another one
/// is told again. The notifications go over the test's session bus to a server the test owns.
#[test]
fn snoozing_in_the_overview_silences_the_next_notification() {
    let Some(bus) = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok() else {
        eprintln!("skipped: no session bus (run under dbus-run-session)");
        return;
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _server = fake_notifications::serve(&bus, seen.clone());
    let home = home("snooze");
    // Both services' oldest callers wait too long, then not, then again.
    let scenario = home.join("scenario.toml");
    let mut text = String::new();
    for (at, secs) in [("1s", "6s"), ("24s", "40s")] {
        for service in ["Support", "Billing"] {
            text += &format!(
                "[[event]]\nat = \"{at}\"\ndo = \"set\"\nservice = \"{service}\"\nstat = \"in_max_wait_time\"\nvalue = 211\nfor = \"{secs}\"\n\n"
            );
        }
    }
    std::fs::write(&scenario, text).unwrap();
    let env = [
        ("LOOKOUT_DEMO", std::ffi::OsStr::new("1")),
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
        ("LOOKOUT_DEMO_SCENARIO", scenario.as_os_str()),
    ];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    let told = |service: &str| {
        seen.lock()
            .unwrap()
            .iter()
            // Other tests' apps may notify on the same bus: only this scenario's 3m 31s.
            .filter(|c| c.summary == format!("{service}: a caller has waited 3m 31s"))
            .count()
    };
    let start = Instant::now();
    while (told("Support") == 0 || told("Billing") == 0)
        && start.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!((told("Support"), told("Billing")), (1, 1), "both told once");
    // Snooze Support from the overview.
    d.wait_for(
        "the Support alert",
        "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Support: a caller has waited')); if (!li) return null; li.querySelectorAll('button')[1].id = 'snooze-me'; return true",
        Duration::from_secs(10),
    );
    d.click("#snooze-me");
    d.wait_for(
        "the snooze",
        "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Support: a caller has waited')); return li && li.innerText.includes('Quiet: snoozed')",
        Duration::from_secs(10),
    );
    // Both resolve, then fire again: Billing is told again, Support is not.
    let start = Instant::now();
    while told("Billing") < 2 && start.elapsed() < Duration::from_secs(45) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(told("Billing"), 2, "Billing fired again and was told");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        told("Support"),
        1,
        "the snoozed alert fired again without a notification"
    );
    d.wait_for(
        "Support shown again, quiet",
        "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Support: a caller has waited')); return li && li.innerText.includes('Quiet: snoozed')",
        Duration::from_secs(10),
    );
}
