//! The real app under Xvfb, driven through WebKitWebDriver by way of `tauri-driver`, speaking
//! the W3C WebDriver protocol over plain HTTP. Each test starts its own Xvfb display and
//! session bus: `cargo test -p lookout-desktop --test e2e` (needs Xvfb, dbus-daemon,
//! WebKitWebDriver and tauri-driver: `cargo xtask setup`).
//! Skipped (with a message) when there is no Xvfb or display, or no tauri-driver.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../../crates/alerting/tests/support/fake_notifications.rs"]
mod fake_notifications;
#[path = "../../crates/alerting/tests/support/private_bus.rs"]
mod private_bus;
#[path = "../../crates/bench/src/proc_tree.rs"]
mod proc_tree;
use private_bus::{Bus, private_bus};

/// A display of the test's own: a fresh Xvfb when there is one, else `DISPLAY`.
struct Screen {
    xvfb: Option<Child>,
    display: String,
}

impl Drop for Screen {
    fn drop(&mut self) {
        if let Some(c) = &mut self.xvfb {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn private_screen() -> Option<Screen> {
    use std::io::BufRead;
    let spawned = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x1024x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut xvfb) => {
            let mut line = String::new();
            std::io::BufReader::new(xvfb.stdout.take()?)
                .read_line(&mut line)
                .ok()?;
            let display = format!(":{}", line.trim());
            Some(Screen {
                xvfb: Some(xvfb),
                display,
            })
        }
        Err(_) => std::env::var("DISPLAY").ok().map(|display| Screen {
            xvfb: None,
            display,
        }),
    }
}

/// tauri-driver with one app, on a display and a session bus of its own: apps in parallel
/// tests are not one another's "other instance", do not share windows, focus or grabs, and a
/// test's notification server hears only its app.
struct Driver {
    child: Child,
    bus: Bus,
    screen: Screen,
    /// What the driver and the app write on stderr.
    log: std::path::PathBuf,
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
    /// Start tauri-driver and the app with `env`, on a new bus; `None` when this machine cannot.
    fn start(env: &[(&str, &std::ffi::OsStr)], home: &std::path::Path) -> Option<Driver> {
        Driver::start_on(private_bus(), env, home)
    }

    /// The same, on `bus` (where the test may already serve notifications).
    fn start_on(
        bus: Bus,
        env: &[(&str, &std::ffi::OsStr)],
        home: &std::path::Path,
    ) -> Option<Driver> {
        let Some(screen) = private_screen() else {
            eprintln!("skipped: no Xvfb and no DISPLAY");
            return None;
        };
        let driver = std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into());
        let (port, native) = (free_port(), free_port());
        let child = Command::new(&driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .envs(app_env(&bus, &screen, home))
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(log_file(home))
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
            bus,
            screen,
            log: home.join("app.log"),
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
                Err(_) if start.elapsed() < Duration::from_secs(30) => {
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
        let r = self.try_script(js);
        // A window that is gone or a script that threw is a failure, never an answer.
        assert!(r["value"].get("error").is_none(), "the script failed: {r}");
        r["value"].clone()
    }

    /// Run `js`; the driver's whole answer, an error included.
    fn try_script(&self, js: &str) -> Value {
        self.http
            .post(self.url("/execute/sync"))
            .json(&json!({"script": js, "args": []}))
            .send()
            .unwrap()
            .json()
            .unwrap()
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

    /// What `js` returns once it returns something (not null, false or ""), if that happens
    /// within `within`.
    fn within(&self, js: &str, within: Duration) -> Option<Value> {
        let start = Instant::now();
        loop {
            let v = self.script(js);
            if !v.is_null() && v != json!(false) && v != json!("") {
                return Some(v);
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_for(&self, what: &str, js: &str, within: Duration) -> Value {
        match self.within(js, within) {
            Some(v) => v,
            None => {
                let page = self.script("return document.body.innerText");
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "{what} not seen within {within:?}; the page says:\n{page}\n\nthe app's log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
    }

    /// Click the element `css` finds, as a person would (WebDriver pointer click). If the page
    /// replaced it between finding and clicking, find it again (for up to 5 s).
    /// Press and release a key in the current window (WebDriver's key codes: `\u{E00C}` is
    /// Escape). Fine when the key closes that window.
    fn key(&self, key: &str) {
        let r: Value = self
            .http
            .post(self.url("/actions"))
            .json(
                &json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                    {"type": "keyDown", "value": key},
                    {"type": "keyUp", "value": key}
                ]}]}),
            )
            .send()
            .unwrap()
            .json()
            .unwrap();
        // The key may close the window before the driver answers (Escape on the wallboard).
        let closed = r["value"]["error"] == "no such window";
        assert!(r["value"].is_null() || closed, "pressing {key:?}: {r}");
    }

    fn click(&self, css: &str) {
        let start = Instant::now();
        loop {
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
                .map(str::to_string);
            let r = match &id {
                Some(id) => self
                    .http
                    .post(self.url(&format!("/element/{id}/click")))
                    .json(&json!({}))
                    .send()
                    .unwrap()
                    .json::<Value>()
                    .unwrap(),
                None => r,
            };
            if id.is_some() && r["value"].is_null() {
                return;
            }
            let gone = matches!(
                r["value"]["error"].as_str(),
                Some("stale element reference" | "no such element")
            );
            if !gone || start.elapsed() > Duration::from_secs(5) {
                panic!("click on {css}: {r}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Click the `action` button (`acknowledge` or `snooze`) of the alert whose text has `text`.
    fn click_alert(&self, text: &str, action: &str) {
        let id = self.wait_for(
            &format!("the alert {text:?}"),
            &format!(
                "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes({})); return li ? li.dataset.alert : null",
                json!(text)
            ),
            Duration::from_secs(10),
        );
        self.click(&format!(
            "#alerts li[data-alert={}] button[data-action={action}]",
            json!(id.as_str().unwrap())
        ));
    }

    /// Switch to the window whose title is `title`, waiting up to 15 s for it to open (windows
    /// are made when first shown).
    fn window(&self, title: &str) {
        let start = Instant::now();
        loop {
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
                // A window closed since the list was made (the welcome window, once the demo
                // starts) is skipped.
                if self.try_script("return document.title")["value"] == json!(title) {
                    return;
                }
            }
            if start.elapsed() > Duration::from_secs(15) {
                panic!("no window titled {title:?} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The overview's header once it says that nothing is watched (within 15 s).
    fn not_watching(&self) -> String {
        self.wait_for(
            "the overview saying nothing is watched",
            "const c = document.getElementById('connection'); return c.textContent.startsWith('Not watching') ? c.textContent : null",
            Duration::from_secs(15),
        )
        .as_str()
        .unwrap()
        .to_string()
    }

    /// The settings window's answer once it is final, as `class: text` (`ok` or `error`).
    fn answer(&self, what: &str) -> String {
        self.wait_for(
            what,
            "const r = document.getElementById('result'); return r.className !== '' && !r.textContent.endsWith('…') ? r.className + ': ' + r.textContent : null",
            Duration::from_secs(20),
        )
        .as_str()
        .unwrap()
        .to_string()
    }

    /// Press `button` in the settings window and wait for its answer (see [`Driver::answer`]).
    fn press(&self, button: &str, what: &str) -> String {
        self.script("document.getElementById('result').className = ''; return true");
        self.click(button);
        self.answer(what)
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

/// What the app is started with in a test: its own home and config folders, `bus` and `screen`.
fn app_env(
    bus: &Bus,
    screen: &Screen,
    home: &std::path::Path,
) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("DISPLAY", screen.display.clone().into()),
        ("LOOKOUT_LOG", "lookout_desktop=debug,info".into()),
        ("DBUS_SESSION_BUS_ADDRESS", bus.address.clone().into()),
        ("HOME", home.into()),
        ("XDG_DATA_HOME", home.join("data").into()),
        ("XDG_CONFIG_HOME", home.join("config").into()),
    ]
}

/// Where the driver and the app write their stderr: `app.log` in `home`.
fn log_file(home: &std::path::Path) -> Stdio {
    std::fs::File::create(home.join("app.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
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
    // It may listen to events, and do nothing else with them.
    let emitted = d.script_async(
        "window.__TAURI__.event.emit('overview', {state: 'live'}).then(() => done('allowed'), (e) => done(String(e)))",
    );
    let emitted = emitted.as_str().unwrap_or_default().to_string();
    assert!(
        emitted.contains("not allowed"),
        "the overview may emit events: {emitted}"
    );
    // `Object.prototype` is frozen, and the page can neither change its base, embed objects nor send
    // a form anywhere.
    assert_eq!(
        d.script("return Object.isFrozen(Object.prototype)"),
        json!(true),
        "freezePrototype"
    );
    let refused = d.script_async(
        r#"const seen = [];
        document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
        const base = document.createElement('base');
        base.href = 'https://example.invalid/';
        document.head.append(base);
        const object = document.createElement('object');
        object.data = 'https://example.invalid/x.swf';
        document.body.append(object);
        setTimeout(() => done(seen.sort().join(' ')), 1000);"#,
    );
    assert_eq!(refused, json!("base-uri object-src"), "the CSP");

    // Acknowledge the long wait: it stays visible, with the reason it is quiet.
    // A keyboard user on a button keeps their place while the overview updates every second.
    d.script("[...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Urgent message')).querySelector('button[data-action=snooze]').focus(); return true");
    std::thread::sleep(Duration::from_millis(2500));
    let focused = d.script("const a = document.activeElement; return a && a.dataset.action ? a.dataset.action + ' ' + a.closest('li').innerText.includes('Urgent message') : String(a && a.tagName)");
    assert_eq!(focused, json!("snooze true"), "focus kept across updates");
    d.click_alert("Support: a caller has waited", "acknowledge");
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
    let msg = d.press("#save", "the validation error");
    assert!(msg.starts_with("error: Server address"), "{msg}");
    assert!(msg.contains("https://"), "says what to do: {msg}");
    assert!(!msg.contains("hunter2"));
    // The field at fault is marked, and has the focus.
    let marked = d.script(
        "const u = document.getElementById('url'); return u.getAttribute('aria-invalid') === 'true' && document.activeElement === u && document.querySelectorAll('[aria-invalid]').length === 1",
    );
    assert_eq!(marked, serde_json::json!(true), "the address is marked");
    // Nothing was saved.
    assert!(!home.join("config/lookout/config.toml").exists());
    // The settings window hears no events.
    let listened = d.script_async(
        "window.__TAURI__.event.listen('overview', () => {}).then(() => done('allowed'), (e) => done(String(e)))",
    );
    let listened = listened.as_str().unwrap_or_default().to_string();
    assert!(
        listened.contains("not allowed"),
        "the settings window may listen: {listened}"
    );
    // Nor can it send a form anywhere.
    let refused = d.script_async(
        r#"document.addEventListener('securitypolicyviolation', (e) => done(e.violatedDirective));
        const form = document.createElement('form');
        form.action = 'https://example.invalid/';
        form.method = 'post';
        document.body.append(form);
        form.submit();
        setTimeout(() => done('sent'), 1500);"#,
    );
    assert_eq!(refused, json!("form-action"), "the CSP");
    // No notification server on this test's bus: the test notification says so.
    let msg = d.press("#notify", "the test notification's answer");
    assert!(
        msg.starts_with("error: no desktop notification server"),
        "{msg}"
    );
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

/// One cause, one bell, as the overview shows it: in the demo, Billing loses its agents;
/// "Nobody ready on Billing" is listed, quiet, with the alert that holds it back, and that
/// alert shows its runbook. The rules list says what each would fire now, and runs a rule's
/// tests.
#[test]
fn the_overview_shows_an_inhibited_alert_with_its_reason_the_cause_with_its_runbook_and_the_rules_what_they_would_fire()
 {
    let home = home("inhibited");
    let Some(d) = demo_overview(&home) else {
        return;
    };
    // The alert's text once it says `part`.
    let alert = |id: &str, part: &str| {
        format!(
            "const li = document.querySelector('#alerts li[data-alert=\"{id}\"]'); return li && li.innerText.includes('{part}') ? li.innerText : null"
        )
    };
    let held = d.wait_for(
        "nobody ready on Billing, firing and held back",
        &alert("no_ready/noready:Billing", "firing"),
        Duration::from_secs(60),
    );
    let held = held.as_str().unwrap();
    assert!(
        held.contains("Quiet: inhibited by: No agents available for Billing"),
        "{held}"
    );
    let cause = d.wait_for(
        "the cause",
        &alert("unavailable/unavailable:Billing", "firing"),
        Duration::from_secs(5),
    );
    let cause = cause.as_str().unwrap();
    assert!(
        cause.contains("Runbook: Ask the team lead on shift"),
        "{cause}"
    );
    assert!(!cause.contains("Quiet:"), "the cause is loud: {cause}");
    // The rules list (in the full overview) says what each rule would fire now, and runs a
    // rule's tests.
    d.click("#toggle-size");
    let rule = |id: &str, part: &str| {
        format!(
            "const li = document.querySelector('#rules li[data-rule=\"{id}\"]'); return li && li.innerText.includes('{part}') ? li.innerText : null"
        )
    };
    d.wait_for(
        "what the rule would fire now",
        &rule(
            "unavailable",
            "Would fire now: No agents available for Billing",
        ),
        Duration::from_secs(5),
    );
    d.click("#rules li[data-rule=\"unavailable\"] button[data-action=\"tests\"]");
    let said = d.wait_for(
        "the rule's tests",
        &rule("unavailable", "Tests passed"),
        Duration::from_secs(20),
    );
    assert!(
        said.as_str()
            .unwrap()
            .contains("Tests passed: 1 file(s), 8 checks."),
        "{said}"
    );
}

/// The agents view: in the demo, Billing's agents go into a meeting; the view lists one as not
/// ready, with the reason and for how long, among the first rows; the team filter narrows the
/// list to a team, and another team's filter leaves that agent out.
#[test]
fn the_agents_view_lists_who_is_not_ready_with_reason_and_time_and_filters_by_team() {
    let home = home("agents");
    let Some(d) = demo_overview(&home) else {
        return;
    };
    // The first row in meeting: [login, name, team, state, reason, for].
    let first_in_meeting = "const tr = [...document.querySelectorAll('#agents tbody tr')].find(r => r.cells[3].innerText === 'Meeting'); return tr ? [tr.dataset.agent, tr.cells[0].innerText, tr.cells[1].innerText, tr.cells[2].innerText, tr.cells[3].innerText, tr.cells[4].innerText, tr.sectionRowIndex] : null";
    let row = d.wait_for(
        "a not-ready agent in the meeting",
        first_in_meeting,
        Duration::from_secs(30),
    );
    let row = row.as_array().unwrap().clone();
    let (login, team) = (
        row[0].as_str().unwrap().to_string(),
        row[2].as_str().unwrap().to_string(),
    );
    assert_eq!(row[3], "not ready", "{row:?}");
    assert!(
        row[5].as_str().unwrap().ends_with('s'),
        "how long, as a duration: {row:?}"
    );
    assert!(
        row[6].as_u64().unwrap() < 15,
        "the ones not ready come first: {row:?}"
    );
    // Filter by another team: that agent is not listed; by theirs: listed.
    // Choose `value` in the filter `select`, as a person does (the page hears a change).
    let choose = |select: &str, value: &str| {
        d.script(&format!(
            "const s = document.getElementById({select:?}); s.value = {value:?}; s.dispatchEvent(new Event('change')); return s.value"
        ))
    };
    let pick = |t: &str| choose("agents-team", t);
    let teams = d.script("return [...document.getElementById('agents-team').options].map(o => o.value).filter(v => v)");
    let other = teams
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .find(|t| *t != team)
        .expect("more than one team")
        .to_string();
    let listed = format!(
        "return [...document.querySelectorAll('#agents tbody tr')].some(r => r.dataset.agent === {login:?})"
    );
    let only_team = |t: &str| {
        format!(
            "const rows = [...document.querySelectorAll('#agents tbody tr')]; return rows.length > 0 && rows.every(r => r.cells[1].innerText === {t:?})"
        )
    };
    assert_eq!(pick(&other), json!(other));
    d.wait_for(
        "only the other team",
        &only_team(&other),
        Duration::from_secs(5),
    );
    assert_eq!(d.script(&listed), json!(false));
    assert_eq!(pick(&team), json!(team));
    d.wait_for(
        "only the agent's team",
        &only_team(&team),
        Duration::from_secs(5),
    );
    assert_eq!(d.script(&listed), json!(true));
    // By service: the scenario holds every agent of Billing in a meeting, so with Billing
    // chosen every row is that, with nobody ready, though other agents are busy or ready.
    assert_eq!(pick(""), json!(""));
    let pick_service = |s: &str| choose("agents-service", s);
    assert_eq!(pick_service("Billing"), json!("Billing"));
    let only_meeting = "const rows = [...document.querySelectorAll('#agents tbody tr')]; const counts = document.getElementById('agents-counts').innerText; return rows.length > 0 && !counts.startsWith('Finding') && rows.every(r => r.cells[2].innerText === 'not ready' && r.cells[3].innerText === 'Meeting') ? counts : null";
    let counts = d.wait_for(
        "only Billing's agents, all in the meeting",
        only_meeting,
        Duration::from_secs(15),
    );
    assert!(
        counts.as_str().unwrap().contains(" 0 ready"),
        "nobody of Billing is ready: {counts}"
    );
    assert_eq!(pick_service(""), json!(""));
    d.wait_for(
        "every service's agents again",
        "return [...document.querySelectorAll('#agents tbody tr')].some(r => r.cells[2].innerText !== 'not ready')",
        Duration::from_secs(5),
    );
}

/// The small mode: the overview opens compact (about 420 px wide) with what needs a person
/// now: a new critical is there with its buttons, the agents and rules are not. Expand shows
/// everything, and the choice is remembered: the next time it opens full.
#[test]
fn the_overview_opens_small_with_a_new_critical_and_expand_is_remembered() {
    let home = home("small");
    let Some(d) = demo_overview(&home) else {
        return;
    };
    d.wait_for(
        "the compact overview",
        "return document.documentElement.classList.contains('compact') && window.innerWidth <= 460 ? window.innerWidth : null",
        Duration::from_secs(10),
    );
    let critical = d.wait_for(
        "a critical alert, in sight, with its buttons",
        "const li = [...document.querySelectorAll('#alerts li.critical.firing')].find(l => l.offsetParent !== null); return li && li.querySelector('button[data-action=acknowledge]').offsetParent !== null ? li.innerText : null",
        Duration::from_secs(40),
    );
    assert!(!critical.as_str().unwrap().is_empty());
    let hidden = |id: &str| {
        d.script(&format!(
            "return getComputedStyle(document.getElementById('{id}')).display === 'none'"
        ))
    };
    assert_eq!(hidden("agents-section"), json!(true));
    assert_eq!(hidden("rules-section"), json!(true));
    d.click("#toggle-size");
    d.wait_for(
        "the full overview",
        "return !document.documentElement.classList.contains('compact') && window.innerWidth > 900 ? window.innerWidth : null",
        Duration::from_secs(10),
    );
    assert_eq!(hidden("agents-section"), json!(false));
    // Grown from the tray's corner, it moves so that all of it is on the screen.
    d.wait_for(
        "the full overview on the screen",
        "return window.screenX >= 0 && window.screenX + window.outerWidth <= screen.width ? [window.screenX, window.outerWidth, screen.width] : null",
        Duration::from_secs(10),
    );
    let saved = std::fs::read_to_string(home.join("data/lookout/window.json")).unwrap();
    assert!(saved.contains("\"overview\": \"full\""), "{saved}");
    // Closed and opened again: full, as left.
    close_window(&d, "Lookout");
    wait_windows(&d, "Lookout", false, "the overview closed");
    assert!(launch_again(&d, &home).success());
    wait_windows(&d, "Lookout", true, "the overview shown again");
    d.window("Lookout");
    d.wait_for(
        "the full overview again",
        "return document.getElementById('toggle-size').dataset.size === 'full' && window.innerWidth > 900 ? true : null",
        Duration::from_secs(10),
    );
}

/// The wallboard: opened from the overview, full screen and without buttons, it shows the
/// demo's critical alert and the agents who need attention; Escape leaves it (the window goes).
#[test]
fn the_wallboard_opens_from_the_overview_shows_what_matters_and_escape_leaves_it() {
    let home = home("wallboard");
    let Some(d) = demo_overview(&home) else {
        return;
    };
    d.click("#open-wallboard");
    wait_windows(&d, "Lookout wallboard", true, "the wallboard");
    d.window("Lookout wallboard");
    let alert = d.wait_for(
        "a critical alert on the wallboard",
        "const li = document.querySelector('#wb-alerts li.critical'); return li ? li.innerText : null",
        Duration::from_secs(40),
    );
    assert!(!alert.as_str().unwrap().is_empty());
    d.wait_for(
        "an agent who needs attention",
        "const tr = document.querySelector('#wb-agents tbody tr.not_ready'); return tr ? tr.innerText : null",
        Duration::from_secs(10),
    );
    assert_eq!(
        d.script("return document.querySelectorAll('button').length"),
        json!(0),
        "nothing to mis-click"
    );
    let big = d.script("return parseFloat(getComputedStyle(document.body).fontSize)");
    assert!(big.as_f64().unwrap() >= 24.0, "large type: {big}");
    d.key("\u{E00C}");
    wait_windows(
        &d,
        "Lookout wallboard",
        false,
        "the wallboard left by Escape",
    );
    assert!(!app_windows(&d, "Lookout").is_empty(), "the overview stays");
}

/// Snooze changes what is notified: the snoozed alert fires again in silence while another one
/// is told again. The notifications go over the test's session bus to a server the test owns.
#[test]
fn snoozing_in_the_overview_silences_the_next_notification() {
    let bus = private_bus();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _server = fake_notifications::serve(&bus.address, seen.clone());
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
    let Some(d) = Driver::start_on(bus, &env, &home) else {
        return;
    };
    let told = |service: &str| {
        seen.lock()
            .unwrap()
            .iter()
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
    d.click_alert("Support: a caller has waited", "snooze");
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

/// The processes started under `pid`, at any depth.
fn descendants(pid: u32) -> Vec<u32> {
    proc_tree::tree(pid).split_off(1)
}

/// Ask the window titled `title` of this test's app to close, as a window manager's close
/// button does: a `WM_DELETE_WINDOW` message (Xvfb has no window manager to send it). Other
/// tests' apps on the same display are left alone (told apart by `_NET_WM_PID`).
/// The X windows titled `title` that belong to the app (its process or its children).
fn app_windows(d: &Driver, title: &str) -> Vec<u32> {
    let ours = descendants(d.child.id());
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt};
    let (conn, screen) = x11rb::connect(Some(&d.screen.display)).expect("the X display");
    let root = conn.setup().roots[screen].root;
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (utf8, net_name, net_pid) = (
        atom("UTF8_STRING"),
        atom("_NET_WM_NAME"),
        atom("_NET_WM_PID"),
    );
    let tree = conn.query_tree(root).unwrap().reply().unwrap();
    let mut found = Vec::new();
    for w in tree.children {
        let name = conn
            .get_property(false, w, net_name, utf8, 0, 256)
            .unwrap()
            .reply()
            .map(|p| p.value)
            .unwrap_or_default();
        let name = if name.is_empty() {
            conn.get_property(false, w, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 256)
                .unwrap()
                .reply()
                .map(|p| p.value)
                .unwrap_or_default()
        } else {
            name
        };
        let pid = conn
            .get_property(false, w, net_pid, AtomEnum::CARDINAL, 0, 1)
            .unwrap()
            .reply()
            .ok()
            .and_then(|p| p.value32()?.next());
        if name == title.as_bytes() && pid.is_some_and(|p| ours.contains(&p)) {
            found.push(w);
        }
    }
    found
}

/// Wait up to 10 s until the app has (`present`) or has no window titled `title`.
fn wait_windows(d: &Driver, title: &str, present: bool, what: &str) {
    let start = Instant::now();
    while app_windows(d, title).is_empty() == present {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not seen: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The app on the demo, its overview shown and the driver in it.
fn demo_overview(home: &std::path::Path) -> Option<Driver> {
    let env = [
        ("LOOKOUT_DEMO", std::ffi::OsStr::new("1")),
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
    ];
    let d = Driver::start(&env, home)?;
    d.window("Lookout");
    Some(d)
}

/// Ask the window manager's way to close the app's windows titled `title` (WM_DELETE_WINDOW).
fn close_window(d: &Driver, title: &str) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask};
    let windows = app_windows(d, title);
    assert!(
        !windows.is_empty(),
        "no window titled {title:?} on the display"
    );
    let (conn, _) = x11rb::connect(Some(&d.screen.display)).expect("the X display");
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (protocols, delete) = (atom("WM_PROTOCOLS"), atom("WM_DELETE_WINDOW"));
    for w in windows {
        let event = ClientMessageEvent::new(32, w, protocols, [delete, 0, 0, 0, 0]);
        conn.send_event(false, w, EventMask::NO_EVENT, event)
            .unwrap();
    }
    conn.flush().unwrap();
}

/// Start the app again beside the running one (which should show its overview); how it ended.
fn launch_again(d: &Driver, home: &std::path::Path) -> std::process::ExitStatus {
    let mut second = Command::new(env!("CARGO_BIN_EXE_lookout-desktop"))
        .envs(app_env(&d.bus, &d.screen, home))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(s) = second.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = second.kill();
            panic!("the second launch is still running after 15 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Closing the overview closes its window (its web view goes, and its memory with it) with
/// the app still running in the tray; a notification's Open shows it again with the same
/// alerts, and so does launching the app again (the second launch leaves at once).
#[test]
fn closing_the_overview_gives_it_up_and_open_or_a_second_launch_shows_it_again() {
    let bus = private_bus();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = fake_notifications::serve(&bus.address, seen.clone());
    let home = home("instance");
    let scenario = home.join("scenario.toml");
    std::fs::write(
        &scenario,
        "[[event]]\nat = \"1s\"\ndo = \"set\"\nservice = \"Support\"\nstat = \"in_max_wait_time\"\nvalue = 200\n",
    )
    .unwrap();
    let env = [
        ("LOOKOUT_DEMO", std::ffi::OsStr::new("1")),
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
        ("LOOKOUT_DEMO_SCENARIO", scenario.as_os_str()),
    ];
    let Some(d) = Driver::start_on(bus, &env, &home) else {
        return;
    };
    d.window("Lookout");
    // Shown: a window on the display, and its page (a new one after a close) lists the alert.
    let shown = |why: &str| {
        wait_windows(&d, "Lookout", true, &format!("the overview shown {why}"));
        d.window("Lookout");
        d.wait_for(
            &format!("the overview's alerts {why}"),
            "const li = document.querySelector('#alerts li'); return li && document.visibilityState === 'visible' ? li.innerText : null",
            Duration::from_secs(10),
        );
    };
    // Closed: no window left, the app still running. With both cores busy GTK sometimes drops
    // a close request (a person clicks again; so does this, once a second, for up to 5 s).
    let close = |why: &str| {
        for _ in 0..5 {
            if !app_windows(&d, "Lookout").is_empty() {
                close_window(&d, "Lookout");
            }
            std::thread::sleep(Duration::from_secs(1));
            if app_windows(&d, "Lookout").is_empty() {
                return;
            }
        }
        panic!("the overview is still there after closing it {why}");
    };
    shown("at start");
    // The long wait is told while the window is open.
    let start = Instant::now();
    let id = loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .position(|c| c.summary.starts_with("Support: a caller has waited"));
        if let Some(i) = found {
            break i as u32 + 1;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no notification for the long wait"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // Closed: hidden, the app stays in the tray. The notification's Open shows it again.
    // (The app is still there: the notification's Open reaches it.)
    close("the first time");
    fake_notifications::choose(&server, id, "default");
    shown("by the notification's Open");

    // Launched again (from the menu, a terminal, the login items): the running one shows its
    // overview and the new one leaves at once.
    close("the second time");
    let status = launch_again(&d, &home);
    assert!(status.success(), "the second launch: {status}");
    shown("by the second launch");
}

/// The autostart entries in the test's home (XDG autostart `.desktop` files).
fn autostart_entries(home: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(home.join(".config/autostart"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// First run → Connect: the settings test the connection against a real (simulated) tenant
/// over HTTP, a secret the keychain cannot take is said so with the way out, and saving starts
/// the watch; start at login is written only when asked, and removed again.
#[test]
fn connecting_from_the_first_run_tests_saves_and_watches_the_tenant() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = lookout_sim::SimConfig::default();
    let user = cfg.users[0].clone();
    let tenant = cfg.tenant.clone();
    let sim = rt
        .block_on(lookout_sim::start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let home = home("connect");
    // No keychain on the test's bus: the secret reaches the app through the documented variable.
    let env = [(
        "LOOKOUT_CLIENT_SECRET",
        std::ffi::OsStr::new(&user.api_secret),
    )];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    d.window("Welcome to Lookout");
    d.wait_for(
        "the choices",
        "return document.getElementById('connect') !== null",
        Duration::from_secs(10),
    );
    d.click("#connect");
    d.window("Lookout settings");
    d.wait_for(
        "the settings form",
        "return document.getElementById('url') !== null && document.getElementById('login').checked === false",
        Duration::from_secs(10),
    );
    let fill = format!(
        "document.getElementById('url').value = {url}; document.getElementById('tenant').value = {tenant}; document.getElementById('username').value = {name}; document.getElementById('secret').value = {secret}; document.getElementById('poll').value = '1'; document.getElementById('login').checked = true; return true",
        url = json!(sim.url()),
        tenant = json!(tenant),
        name = json!(user.name),
        secret = json!(user.api_secret),
    );
    d.script(&fill);
    let msg = d.press("#test", "the connection test");
    assert!(
        msg.starts_with(&format!("ok: Connected to {tenant} as {}", user.name)),
        "{msg}"
    );

    // The secret cannot go to a keychain here: saying so, with the way out; the rest is saved.
    let msg = d.press("#save", "the keychain's refusal");
    assert!(
        msg.starts_with("error: ") && msg.contains("keychain"),
        "{msg}"
    );
    assert!(msg.contains("LOOKOUT_CLIENT_SECRET"), "{msg}");
    assert!(!msg.contains(&user.api_secret), "{msg}");
    let config = std::fs::read_to_string(home.join("config/lookout/config.toml")).unwrap();
    assert!(config.contains(&sim.url()), "{config}");
    assert!(!config.contains(&user.api_secret), "no secret in the file");
    assert!(autostart_entries(&home).is_empty(), "nothing at login yet");

    // Empty secret: the environment's is used; saving starts the watch and the login entry.
    d.script("document.getElementById('secret').value = ''; return true");
    let msg = d.press("#save", "the save");
    assert!(
        msg.starts_with("ok: ") && msg.ends_with("watching it now."),
        "{msg}"
    );
    let entries = autostart_entries(&home);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0].contains(env!("CARGO_BIN_EXE_lookout-desktop")),
        "starts this app: {}",
        entries[0]
    );
    // The overview was never opened; launching Lookout again opens it (compact: services
    // show there only when hot; expanded, all of them).
    assert!(launch_again(&d, &home).success());
    d.window("Lookout");
    d.click("#toggle-size");
    d.wait_for(
        "the tenant's services, live",
        "const t = document.body.innerText; return t.includes('live, data') && t.includes('\\nBilling\\t')",
        Duration::from_secs(20),
    );

    // Turned off again: the entry goes.
    d.window("Lookout settings");
    d.script("document.getElementById('login').checked = false; return true");
    let msg = d.press("#save", "the second save");
    assert!(msg.starts_with("ok: "), "{msg}");
    assert!(autostart_entries(&home).is_empty(), "removed");
    drop(d);
    rt.block_on(sim.stop());
}

/// The environment of the processes the app started (its web views): `(pid, environ)`.
fn children_environment(d: &Driver) -> Vec<(u32, String)> {
    let app = descendants(d.child.id()).into_iter().find(|p| {
        std::fs::read_link(format!("/proc/{p}/exe"))
            .is_ok_and(|exe| exe == std::path::Path::new(env!("CARGO_BIN_EXE_lookout-desktop")))
    });
    let Some(app) = app else {
        panic!("the app's process is not among the driver's");
    };
    descendants(app)
        .into_iter()
        .filter_map(|p| {
            let env = std::fs::read(format!("/proc/{p}/environ")).ok()?;
            Some((p, String::from_utf8_lossy(&env).replace('\0', "\n")))
        })
        .collect()
}

/// A simulated tenant on a port of its own, and a config file for it in `home`.
fn tenant_config(
    rt: &tokio::runtime::Runtime,
    home: &std::path::Path,
    extra: &str,
) -> lookout_sim::SimHandle {
    let cfg = lookout_sim::SimConfig::default();
    let user = cfg.users[0].clone();
    let tenant = cfg.tenant.clone();
    let sim = rt
        .block_on(lookout_sim::start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let dir = home.join("config/lookout");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[server]\nurl = \"{}\"\ntenant = \"{tenant}\"\nusername = \"{}\"\npoll_interval_secs = 1\n{extra}",
            sim.url(),
            user.name
        ),
    )
    .unwrap();
    sim
}

/// A secret goes only to the server it was given for: with the secret in the environment and
/// the settings pointed at another server, Test and Save ask for the secret again and the
/// other server hears nothing. The secret never reaches a process the app starts.
#[test]
fn a_secret_goes_only_to_the_server_it_was_given_for() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let home = home("moved");
    let first = tenant_config(&rt, &home, "");
    let other = rt
        .block_on(lookout_sim::start(
            lookout_sim::SimConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let env = [
        ("LOOKOUT_CLIENT_SECRET", std::ffi::OsStr::new("demo-secret")),
        ("LOOKOUT_SHOW_SETTINGS", std::ffi::OsStr::new("1")),
    ];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    d.window("Lookout settings");
    d.wait_for(
        "the saved settings",
        &format!(
            "return document.getElementById('url').value === {}",
            json!(first.url())
        ),
        Duration::from_secs(10),
    );
    // The web views the app started do not have the secret.
    let children = children_environment(&d);
    assert!(!children.is_empty(), "the settings window's web view");
    for (pid, env) in &children {
        assert!(
            !env.contains("LOOKOUT_CLIENT_SECRET") && !env.contains("demo-secret"),
            "process {pid} has the secret in its environment"
        );
    }
    d.script(&format!(
        "document.getElementById('url').value = {}; return true",
        json!(other.url())
    ));
    let tokens = "POST /configapi/v2/oauth/token";
    for button in ["#test", "#save"] {
        let msg = d.press(button, &format!("the answer to {button}"));
        assert!(
            msg.starts_with("error: The server address changed"),
            "{msg}"
        );
        assert!(
            msg.contains("type the API secret for the new server"),
            "{msg}"
        );
        assert_eq!(
            other.request_count(tokens),
            0,
            "the other server got a login"
        );
    }
    let config = std::fs::read_to_string(home.join("config/lookout/config.toml")).unwrap();
    assert!(config.contains(&first.url()), "nothing was saved: {config}");
    // Typed for the new server, it is used there.
    d.script("document.getElementById('secret').value = 'demo-secret'; return true");
    let msg = d.press("#test", "the test with the typed secret");
    assert!(msg.starts_with("ok: Connected to"), "{msg}");
    assert!(other.request_count(tokens) > 0);
    drop(d);
    rt.block_on(first.stop());
    rt.block_on(other.stop());
}

/// A desk that watches nothing says so: with a configuration but no secret anywhere (no
/// keychain on this desktop, nothing in the environment) the overview says what is missing and
/// offers the settings, and a notification says it once it has lasted `no_data_secs`. In the
/// settings, the keychain's absence is said in plain words, whole, with the way out: keeping
/// the secret for this session, which starts the watch.
#[test]
fn a_desk_that_watches_nothing_says_so_and_a_secret_can_be_kept_for_the_session() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let home = home("nothing");
    let sim = tenant_config(&rt, &home, "\n[alerts]\nno_data_secs = 5\n");
    let bus = private_bus();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _server = fake_notifications::serve(&bus.address, seen.clone());
    let env = [("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1"))];
    let Some(d) = Driver::start_on(bus, &env, &home) else {
        return;
    };
    d.window("Lookout");
    let header = d.not_watching();
    let header = header.as_str();
    assert!(
        header.contains("no API secret"),
        "says what is missing: {header}"
    );
    assert!(
        header.contains("LOOKOUT_CLIENT_SECRET"),
        "and what to do: {header}"
    );
    assert!(!header.to_lowercase().contains("zbus"), "{header}");
    assert_eq!(
        d.script("return document.getElementById('open-settings').hidden"),
        json!(false),
        "the way to the settings"
    );
    assert_eq!(
        d.script("return document.getElementById('no-alerts').hidden || !document.body.innerText.includes('Nothing needs you')"),
        json!(true),
        "it never says all is well"
    );
    let told = || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|c| c.summary == "Lookout is not watching anything")
            .count()
    };
    let start = Instant::now();
    while told() == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(told(), 1, "told once no_data_secs passed");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(told(), 1, "and only once");

    // To the settings, from the overview.
    d.click("#open-settings");
    d.window("Lookout settings");
    d.wait_for(
        "the settings",
        &format!(
            "return document.getElementById('url').value === {}",
            json!(sim.url())
        ),
        Duration::from_secs(10),
    );
    d.script("document.getElementById('secret').value = 'demo-secret'; return true");
    let msg = d.press("#save", "the keychain's absence");
    assert!(msg.starts_with("error: "), "{msg}");
    assert!(
        msg.contains("the system keychain is not available"),
        "{msg}"
    );
    assert!(msg.contains("this session only"), "{msg}");
    assert!(
        msg.contains("LOOKOUT_CLIENT_SECRET"),
        "the way to keep it: {msg}"
    );
    for jargon in ["zbus", "Platform", "secure storage"] {
        assert!(!msg.contains(jargon), "{jargon} in: {msg}");
    }
    assert!(!msg.contains("demo-secret"), "{msg}");
    // Shown whole, in the window.
    assert_eq!(
        d.script("const r = document.getElementById('result').getBoundingClientRect(); const e = document.getElementById('result'); return r.top >= 0 && r.bottom <= window.innerHeight && e.scrollHeight <= e.clientHeight + 1"),
        json!(true),
        "the message is cut off"
    );
    d.screenshot(&home.join("settings-keychain.png"));
    let msg = d.press("#session", "the session's answer");
    assert!(msg.starts_with("ok: Kept for this session only"), "{msg}");
    d.window("Lookout");
    d.wait_for(
        "the tenant, live",
        "return document.getElementById('connection').textContent.startsWith('live')",
        Duration::from_secs(20),
    );
    drop(d);
    rt.block_on(sim.stop());
}

/// A rules folder Lookout cannot read stops the watch as soon as it starts: that is said too,
/// not shown as all quiet.
#[test]
fn a_rules_folder_that_cannot_be_read_says_nothing_is_watched() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let home = home("rules-unreadable");
    // The rules "folder" is the config file itself.
    let sim = tenant_config(&rt, &home, "\n[rules]\ndir = \"config.toml\"\n");
    let env = [
        ("LOOKOUT_CLIENT_SECRET", std::ffi::OsStr::new("demo-secret")),
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
    ];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    d.window("Lookout");
    let header = d.not_watching();
    let header = header.as_str();
    assert!(header.contains("cannot read the rules folder"), "{header}");
    assert!(header.contains("config.toml"), "which one: {header}");
    drop(d);
    rt.block_on(sim.stop());
}

/// The desktop app reading a team hub: chosen in the settings (the password kept for the
/// session, as no keychain runs here), the overview fills from the hub as it does from a
/// tenant, and acknowledging there goes to the hub for every desk.
#[test]
fn settings_connect_to_a_team_hub_and_the_overview_shows_what_the_hub_says() {
    use lookout_hub::broker::{BrokerUser, Role};
    let home = home("hub");
    let tenant = lookout_sim::SimConfig::default().tenant;
    let users = vec![
        BrokerUser::new("hub", Role::Hub),
        BrokerUser::new(
            "ana",
            Role::Desk {
                tenant,
                teams: vec!["Front Line".into()],
            },
        ),
    ];
    let team = TeamHub::start(&users);
    let broker = &team.broker;
    let env = [
        ("LOOKOUT_SHOW_SETTINGS", std::ffi::OsStr::new("1")),
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
    ];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    d.window("Lookout settings");
    d.wait_for(
        "the settings form",
        "return document.getElementById('hub-url') !== null",
        Duration::from_secs(10),
    );
    // Choosing the hub alone hides the tenant's fields.
    d.click("#read-hub");
    d.click("#read-tenant");
    assert_eq!(
        d.script("return document.getElementById('tenant-fields').hidden && !document.getElementById('hub-fields').hidden"),
        json!(true)
    );
    let password = users[1].password.expose().to_string();
    d.script(&format!(
        "document.getElementById('hub-url').value = {}; document.getElementById('hub-user').value = 'ana'; document.getElementById('hub-password').value = {}; return true",
        json!(broker.url()),
        json!(password)
    ));
    let msg = d.press("#test", "the hub's test");
    assert!(msg.starts_with("ok: Connected to nats://"), "{msg}");
    assert!(
        msg.contains("hub hub-1 publishes demo.lookout.test"),
        "{msg}"
    );
    let msg = d.press("#save", "the keychain's absence");
    assert!(msg.contains("the hub password was not kept"), "{msg}");
    assert!(!msg.contains(&password), "{msg}");
    let msg = d.press("#session", "the session's answer");
    assert!(msg.starts_with("ok: Kept for this session only"), "{msg}");
    // Nothing of Bright Pattern was written; the hub's settings were, without the password.
    assert!(!home.join("config/lookout/config.toml").exists());
    let desk = std::fs::read_to_string(home.join("config/lookout/desk.toml")).unwrap();
    assert!(
        desk.contains("user = \"ana\"") && !desk.contains(&password),
        "{desk}"
    );

    // The overview fills from the hub: the tenant live, its alerts.
    d.window("Lookout");
    d.wait_for(
        "the tenant, live through the hub",
        "return document.getElementById('connection').textContent.startsWith('live')",
        Duration::from_secs(30),
    );
    d.wait_for(
        "the urgent chat alert from the hub",
        "return [...document.querySelectorAll('#alerts li')].some(li => li.innerText.includes('Urgent message from Diana Yeh'))",
        Duration::from_secs(40),
    );
    d.screenshot(&home.join("overview-hub.png"));
    // Acknowledging goes to the hub, which says who did it.
    d.script("const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Urgent message from Diana Yeh')); li.querySelector('button').click(); return true");
    d.wait_for(
        "the alert acknowledged by ana",
        "const li = [...document.querySelectorAll('#alerts li')].find(li => li.innerText.includes('Urgent message from Diana Yeh')); return !!li && li.innerText.includes('Quiet: acknowledged by ana, ')",
        Duration::from_secs(10),
    );
    drop(d);
    drop(team);
}

/// Two sources in one tray: the tenant of config.toml and a team hub, each alert saying whose
/// it is.
#[test]
fn a_tenant_and_a_team_hub_in_one_overview_each_alert_naming_its_source() {
    use lookout_hub::broker::{BrokerUser, Role};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let home = home("two");
    // The tenant read directly: a simulated one with the demo scenario.
    let own = rt
        .block_on(lookout_pipeline::demo::Demo::start(
            lookout_pipeline::demo::scenario().unwrap(),
        ))
        .unwrap();
    let mut config = own.config.clone();
    config.server.poll_interval_secs = 1;
    config.rules.dir = Some(own.rules_dir());
    let dir = home.join("config/lookout");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), config.to_toml()).unwrap();
    // The hub, on a second simulated tenant.
    let users = vec![
        BrokerUser::new("hub", Role::Hub),
        BrokerUser::new(
            "ana",
            Role::Desk {
                tenant: lookout_sim::SimConfig::default().tenant,
                teams: vec![],
            },
        ),
    ];
    let team = TeamHub::start(&users);
    let broker = &team.broker;
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "enabled = true\nwith_tenant = true\nhub = \"{}\"\nuser = \"ana\"\n",
            broker.url()
        ),
    )
    .unwrap();
    let password = users[1].password.expose().to_string();
    let env = [
        ("LOOKOUT_SHOW_OVERVIEW", std::ffi::OsStr::new("1")),
        ("LOOKOUT_CLIENT_SECRET", std::ffi::OsStr::new("demo-secret")),
        ("LOOKOUT_NATS_PASSWORD", std::ffi::OsStr::new(&password)),
    ];
    let Some(d) = Driver::start(&env, &home) else {
        return;
    };
    d.window("Lookout");
    let hub_source = format!("From the team hub at {}", broker.url());
    d.wait_for(
        "alerts from both sources",
        &format!(
            "const t = [...document.querySelectorAll('#alerts li')].map(li => li.innerText); return t.some(x => x.includes('From demo.lookout.test')) && t.some(x => x.includes({}))",
            json!(hub_source)
        ),
        Duration::from_secs(40),
    );
    d.screenshot(&home.join("overview-two-sources.png"));
    drop(d);
    drop(team);
    rt.block_on(own.stop());
}

/// A team hub on loopback for the desktop tests: the simulated tenant with the demo scenario,
/// a broker with `users` (the first the hub's), and the hub itself. Stopped when dropped.
struct TeamHub {
    rt: tokio::runtime::Runtime,
    demo: Option<std::sync::Arc<lookout_pipeline::demo::Demo>>,
    broker: lookout_hub::broker::Broker,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    hub: Option<tokio::task::JoinHandle<Result<(), lookout_hub::nats::ConnectFailure>>>,
}

impl TeamHub {
    fn start(users: &[lookout_hub::broker::BrokerUser]) -> TeamHub {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let demo = std::sync::Arc::new(
            rt.block_on(lookout_pipeline::demo::Demo::start(
                lookout_pipeline::demo::scenario().unwrap(),
            ))
            .unwrap(),
        );
        let broker = lookout_hub::broker::Broker::start(users).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let hub = {
            let demo = demo.clone();
            let config = demo.config.clone();
            rt.spawn(lookout_hub::hub::run(
                lookout_hub::hub::HubOptions {
                    name: "hub-1".into(),
                    login: lookout_hub::nats::Login {
                        url: broker.url(),
                        user: Some(users[0].name.clone()),
                        password: Some(users[0].password.clone()),
                    },
                    lease: lookout_hub::hub::DEFAULT_LEASE,
                },
                vec![lookout_hub::hub::Watched {
                    tenant: demo.config.tenant(),
                    make: Box::new(move || demo.setup(&config)),
                }],
                |_| {},
                async move {
                    let _ = stopped.await;
                },
            ))
        };
        TeamHub {
            rt,
            demo: Some(demo),
            broker,
            stop: Some(stop),
            hub: Some(hub),
        }
    }
}

impl Drop for TeamHub {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.hub.take() {
            let _ = self.rt.block_on(h);
        }
        if let Some(demo) = self
            .demo
            .take()
            .and_then(|d| std::sync::Arc::try_unwrap(d).ok())
        {
            self.rt.block_on(demo.stop());
        }
    }
}

/// The windows live in a process of their own, which ends when the last window closes: the
/// app's process tree is then what it was before any window was opened (no WebKit process is
/// left to hold memory), the tray process lives on, and showing a window again starts it anew.
/// Launched without WebDriver, as a person runs it (a WebDriver session keeps the process).
#[test]
fn closing_the_last_window_ends_the_window_process_and_webkit_with_it() {
    let Some(screen) = private_screen() else {
        eprintln!("skipped: no Xvfb and no DISPLAY");
        return;
    };
    let bus = private_bus();
    let home = home("window-process");
    let env = app_env(&bus, &screen, &home);
    let launch = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lookout-desktop"))
            .args(args)
            .envs(env.iter().cloned())
            .env("LOOKOUT_DEMO", "1")
            .stdout(Stdio::null())
            .stderr(log_file(&home))
            .spawn()
            .unwrap()
    };
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let app = Killed(launch(&[]));
    let pid = app.0.id();
    // What runs under the app: `--windows` processes, and WebKit's.
    let kinds = || {
        let cmdline = |p: u32| std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let all: Vec<String> = descendants(pid)
            .into_iter()
            .map(|p| String::from_utf8_lossy(&cmdline(p)).replace('\0', " "))
            .collect();
        let windows = all.iter().filter(|c| c.contains("--windows")).count();
        let webkit = all.iter().filter(|c| c.contains("WebKit")).count();
        (windows, webkit)
    };
    let wait = |what: &str, ok: &dyn Fn((usize, usize)) -> bool| {
        let start = Instant::now();
        loop {
            let k = kinds();
            if ok(k) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: (window processes, WebKit processes) = {k:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // The demo runs in the tray with no window: nothing of WebKit runs.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(kinds(), (0, 0), "no window was shown yet");
    let second = |args: &[&str]| {
        let status = launch(args).wait().unwrap();
        assert!(status.success(), "the second launch {args:?}: {status}");
    };
    for round in ["the first time", "again"] {
        // A second launch shows the overview: one window process, with WebKit's under it.
        second(&[]);
        wait(&format!("the overview shown {round}"), &|(w, k)| {
            w == 1 && k >= 2
        });
        // `--close` closes every window: the window process ends, and WebKit's with it.
        second(&["--close"]);
        wait(&format!("the overview closed {round}"), &|k| k == (0, 0));
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_ok(),
            "the app lives on in the tray"
        );
    }
}
