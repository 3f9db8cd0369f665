//! Lookout's desktop app: a tray icon that tells the truth, an overview window and a settings
//! window, over the same engine as `lookout watch` (`lookout_pipeline::run`).
//!
//! At start: with a config file, it watches that tenant; without one (first run) it asks whether
//! to try the demo or connect. `--demo` (or `LOOKOUT_DEMO=1`) starts the demo directly.
//!
//! This process keeps the tray and the engine; the windows run in a second process of this
//! program (`--windows`, see `link` and `windows`), which ends when the last window closes.

use std::sync::{Arc, Mutex};

use link::{Down, Windows};
use lookout_alerting::notify::{Action, ActionEvent};
use lookout_pipeline::Command;
use lookout_pipeline::state::StateReceiver;
use serde_json::Value;
use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt;
use tray::MenuId;
use view::{Overview, ViewModel};

#[cfg(test)]
mod contract;
mod engine;
mod hub_form;
#[cfg(test)]
mod icons;
mod layout;
mod link;
mod settings;
mod tray;
mod view;
mod windows;

/// What the commands and the tray share.
#[derive(Default)]
struct Shared {
    latest: Mutex<Arc<Overview>>,
    /// The latest data, for the agents view (which asks for the page it shows).
    snapshot: Mutex<Option<Arc<lookout_keeper::Snapshot>>>,
    engine: tokio::sync::Mutex<Option<engine::Running>>,
    /// The running engine's senders (kept apart so sync code can use them).
    senders: Mutex<Option<Senders>>,
    /// While no engine runs: since when, why, and whether that was told.
    stopped: Mutex<Option<Stopped>>,
}

/// Lookout is not watching anything (no configuration yet, no secret, a configuration or a
/// rules folder it cannot use): the tray and the overview say so at once, and a notification
/// says so once it has lasted as long as "no data" may.
struct Stopped {
    since: i64,
    reason: String,
    /// How long it may last before it is told (`[alerts] no_data_secs`), read once.
    limit: i64,
    told: bool,
}

#[derive(Clone)]
struct Senders {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    rules_dir: Option<std::path::PathBuf>,
    lists_members: bool,
}

use lookout_keeper::unix_now;

/// Show the window `label` (in the window process, started when none runs). Windows are
/// made on first use, not at start: a tray app that nobody has opened yet should cost little.
fn show(app: &AppHandle, label: &str) {
    Windows::show(app, label, dispatch);
}

/// Close the window `label`, if it is open.
fn close(app: &AppHandle, label: &str) {
    Windows::tell(
        app,
        Down::Close {
            label: label.into(),
        },
    );
}

/// `--close` on a second launch: close every window; the app stays in the tray.
pub const CLOSE_ARG: &str = "--close";

/// Build the tray menu for `o`; "Pause notifications" is a submenu.
fn build_menu(app: &AppHandle, o: &Overview) -> tauri::Result<Menu<Wry>> {
    let mut items: Vec<Box<dyn IsMenuItem<Wry>>> = Vec::new();
    let mut pause: Vec<MenuItem<Wry>> = Vec::new();
    for (id, label) in tray::menu(o, unix_now()) {
        match id {
            Some(id) if id.pauses() => {
                pause.push(MenuItem::with_id(app, id.id(), label, true, None::<&str>)?);
            }
            Some(id) => {
                if !pause.is_empty() {
                    let refs: Vec<&dyn IsMenuItem<Wry>> =
                        pause.iter().map(|m| m as &dyn IsMenuItem<Wry>).collect();
                    items.push(Box::new(Submenu::with_items(
                        app,
                        "Pause notifications",
                        true,
                        &refs,
                    )?));
                    pause.clear();
                }
                items.push(Box::new(MenuItem::with_id(
                    app,
                    id.id(),
                    label,
                    true,
                    None::<&str>,
                )?));
            }
            None => items.push(Box::new(PredefinedMenuItem::separator(app)?)),
        }
    }
    let refs: Vec<&dyn IsMenuItem<Wry>> = items.iter().map(|b| b.as_ref()).collect();
    Menu::with_items(app, &refs)
}

fn senders(app: &AppHandle) -> Option<Senders> {
    app.try_state::<Shared>()
        .and_then(|s| s.senders.lock().ok().and_then(|g| g.clone()))
}

fn command(app: &AppHandle, c: Command) {
    if let Some(s) = senders(app) {
        let _ = s.commands.send(c);
    }
}

fn on_menu(app: &AppHandle, id: MenuId) {
    let now = unix_now();
    match id {
        MenuId::Show => show(app, "overview"),
        MenuId::Wallboard => show(app, "wallboard"),
        MenuId::Pause15m => command(
            app,
            Command::Pause {
                until: now + 15 * 60,
            },
        ),
        MenuId::Pause1h => command(app, Command::Pause { until: now + 3600 }),
        MenuId::PauseUntilResumed => command(app, Command::Pause { until: i64::MAX }),
        MenuId::Resume => command(app, Command::Resume),
        MenuId::Settings => show(app, "settings"),
        MenuId::RulesFolder => {
            if let Some(dir) = senders(app).and_then(|s| s.rules_dir) {
                open_folder(&dir);
            }
        }
        MenuId::Reload => command(app, Command::ReloadRules),
        MenuId::Quit => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                stop_engine(&app).await;
                app.exit(0);
            });
        }
    }
}

fn open_folder(dir: &std::path::Path) {
    open_with_system(dir.as_os_str());
}

/// Open a folder or a link with the system's opener; the secrets' variables are named to it
/// too, so it never gets one whatever happened before.
fn open_with_system(what: &std::ffi::OsStr) {
    lookout_alerting::notify::desktop::open_with_system(
        what,
        &lookout_pipeline::secrets::SECRET_ENV,
    );
}

async fn stop_engine(app: &AppHandle) {
    let Some(shared) = app.try_state::<Shared>() else {
        return;
    };
    let running = shared.engine.lock().await.take();
    if let Some(r) = running {
        r.stop().await;
    }
    if let Ok(mut s) = shared.senders.lock() {
        *s = None;
    }
}

/// Stop what runs and start `mode`; the windows and the tray follow the new engine. When it
/// cannot start, the tray and the overview say that nothing is watched, and why.
async fn switch_engine(app: &AppHandle, mode: engine::Mode) -> Result<(), String> {
    stop_engine(app).await;
    // Watching, unless the start fails (the episode of not watching goes on) or the pipeline
    // stops on its own, even before `start` returns (`on_stopped` says so again).
    let before = app
        .try_state::<Shared>()
        .and_then(|shared| shared.stopped.lock().ok()?.take());
    let (opener, stopped) = (app.clone(), app.clone());
    let on_stopped =
        move |why: String| not_watching(&stopped, &lookout_statsapi::printable(&why, 600));
    let running =
        match engine::start(mode.clone(), move || show(&opener, "overview"), on_stopped).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(shared) = app.try_state::<Shared>()
                    && let Ok(mut stopped) = shared.stopped.lock()
                {
                    *stopped = before;
                }
                let reason = lookout_statsapi::printable(&format!("{e:#}"), 600);
                not_watching(app, &reason);
                return Err(reason);
            }
        };
    let shared = app.state::<Shared>();
    let rules_dir = rules_dir_of(&mode);
    if let Ok(mut s) = shared.senders.lock() {
        *s = Some(Senders {
            commands: running.commands.clone(),
            rules_dir,
            lists_members: running.lists_members,
        });
    }
    forward(app.clone(), running.state.clone(), running.tenant.clone());
    *shared.engine.lock().await = Some(running);
    Ok(())
}

/// What the saved settings say to read: the tenant of the config file, a team hub, or both.
fn configured_mode() -> Option<engine::Mode> {
    let tenant = settings::config_path()
        .ok()
        .filter(|p| p.exists())
        .map(engine::Mode::Configured);
    match (settings::hub_chosen(), tenant) {
        (Some((desk, true)), Some(tenant)) => {
            Some(engine::Mode::Several(vec![tenant, engine::Mode::Hub(desk)]))
        }
        (Some((desk, _)), _) => Some(engine::Mode::Hub(desk)),
        (None, tenant) => tenant,
    }
}

/// The rules folder of the (first) tenant watched here, for *Open rules folder*.
fn rules_dir_of(mode: &engine::Mode) -> Option<std::path::PathBuf> {
    match mode {
        engine::Mode::Configured(path) => lookout_keeper::Config::load(Some(path))
            .ok()
            .map(|c| c.rules_dir(path)),
        engine::Mode::Demo | engine::Mode::Hub(_) => None,
        engine::Mode::Several(modes) => modes.iter().find_map(rules_dir_of),
    }
}

/// What the tray last showed (its state and menu), so it is redrawn only when they change.
type Shown = Option<(tray::TrayState, Vec<tray::Entry>)>;

/// Show `o` in the tray and the windows.
fn publish(app: &AppHandle, o: Arc<Overview>, tenant: &str, shown: &mut Shown) {
    if let Some(shared) = app.try_state::<Shared>()
        && let Ok(mut latest) = shared.latest.lock()
    {
        *latest = o.clone();
    }
    let now = unix_now();
    if let Some(t) = app.tray_by_id("lookout") {
        let _ = t.set_tooltip(Some(tray::tooltip(&o, tenant, now)));
        let state = tray::TrayState::of(&o, now);
        let entries = tray::menu(&o, now);
        if shown.as_ref() != Some(&(state.clone(), entries.clone())) {
            let icon = Image::new_owned(tray::draw(&state), tray::SIZE, tray::SIZE);
            let _ = t.set_icon(Some(icon));
            if let Ok(m) = build_menu(app, &o) {
                let _ = t.set_menu(Some(m));
            }
            *shown = Some((state, entries));
        }
    }
    Windows::tell_overview(app, &*o);
}

/// Turn each new state of the pipeline into the app's view, for the windows and the tray.
fn forward(app: AppHandle, mut rx: StateReceiver, tenant: String) {
    tauri::async_runtime::spawn(async move {
        let mut shown: Shown = None;
        let mut view = ViewModel::default();
        while rx.changed().await.is_ok() {
            let state = rx.borrow_and_update().clone();
            if let Some(shared) = app.try_state::<Shared>()
                && let Ok(mut snap) = shared.snapshot.lock()
            {
                *snap = state.snapshot.clone();
            }
            let o = view.overview(&state, std::time::SystemTime::now());
            publish(&app, Arc::new(o), &tenant, &mut shown);
        }
    });
}

/// Nothing is watched, because of `reason`: the tray shows "no data", the overview says why
/// and what to do, and the watchdog tells it once it lasts.
fn not_watching(app: &AppHandle, reason: &str) {
    publish(app, Arc::new(view::not_watching(reason)), "", &mut None);
    if let Some(shared) = app.try_state::<Shared>()
        && let Ok(mut stopped) = shared.stopped.lock()
    {
        // One episode of not watching, one notification, whatever the reasons on the way.
        let (since, limit, told) = match stopped.as_ref() {
            Some(s) => (s.since, s.limit, s.told),
            None => (unix_now(), no_data_secs(), false),
        };
        *stopped = Some(Stopped {
            since,
            reason: reason.to_string(),
            limit,
            told,
        });
    }
}

/// How long nothing may be watched before a notification says so: the configuration's
/// `[alerts] no_data_secs` when it can be read, else its default.
fn no_data_secs() -> i64 {
    settings::config_path()
        .ok()
        .and_then(|p| lookout_keeper::Config::load(Some(&p)).ok())
        .map_or_else(
            || lookout_keeper::config::AlertsConfig::default().no_data_secs,
            |c| c.alerts.no_data_secs,
        ) as i64
}

/// Once a second: tell, once, that nothing has been watched for as long as "no data" may last.
fn watch_the_watcher(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            // Due once it has lasted its limit: marked told here, then told.
            let due = app.try_state::<Shared>().and_then(|shared| {
                let mut stopped = shared.stopped.lock().ok()?;
                let s = stopped.as_mut()?;
                let due = !s.told && unix_now() - s.since >= s.limit;
                s.told |= due;
                due.then(|| s.reason.clone())
            });
            let Some(reason) = due else { continue };
            let told = tauri::async_runtime::spawn_blocking(move || {
                use lookout_alerting::notify::{Notification, NotificationState, Notifier};
                lookout_alerting::notify::desktop::DesktopNotifier::connect(None)?.notify(
                    &Notification {
                        rule: lookout_alerting::CONNECTION_RULE.into(),
                        rule_name: "Connection".into(),
                        key: "not-watching".into(),
                        severity: lookout_alerting::Severity::Critical,
                        state: NotificationState::Firing,
                        title: "Lookout is not watching anything".into(),
                        body: format!("{reason}. Open Settings from the tray menu to fix it."),
                        digest: None,
                        labels: Default::default(),
                        runbook: None,
                        at: unix_now(),
                        group: None,
                        also: Vec::new(),
                        escalation: None,
                    },
                )
            })
            .await;
            if let Ok(Err(e)) = told {
                tracing::warn!("cannot tell that nothing is watched: {e}");
            }
        }
    });
}

fn overview(app: &AppHandle) -> Arc<Overview> {
    app.try_state::<Shared>()
        .and_then(|s| s.latest.lock().ok().map(|o| o.clone()))
        .unwrap_or_default()
}

fn act(app: &AppHandle, alert: view::AlertRef, action: Action) {
    command(
        app,
        Command::Act(ActionEvent {
            rule: alert.rule,
            key: alert.key,
            digest: None,
            action,
            by: None,
            also: Vec::new(),
        }),
    );
}

/// A page of the agents view: the agents of `team` and `service` (all when none), rows
/// `offset..offset + limit` in the order that needs attention. A service whose agents the data
/// does not list yet is asked for (the page says it is pending).
fn agents(
    app: &AppHandle,
    team: Option<String>,
    service: Option<String>,
    offset: usize,
    limit: usize,
) -> view::AgentsPage {
    let snap = app
        .try_state::<Shared>()
        .and_then(|s| s.snapshot.lock().ok().and_then(|s| s.clone()));
    let filter = view::AgentFilter {
        team: team.as_deref(),
        service: service.as_deref(),
    };
    let mut page = view::agents_page(snap.as_deref(), filter, offset, limit);
    if !senders(app).is_some_and(|s| s.lists_members) {
        // A hub's data cannot be asked for a service's agents: no service filter is offered.
        page.services.clear();
    }
    if page.service_pending
        && let Some(s) = service
        && page.services.contains(&s)
    {
        command(app, Command::AgentsOf(s));
    }
    page
}

/// Open the runbook link of an alert the engine shows now. The window names the alert, never
/// the link, so a page cannot make the app open an address of its choosing.
fn open_runbook(app: &AppHandle, alert: view::AlertRef) -> Result<(), String> {
    let latest = overview(app);
    let link = latest
        .alerts
        .iter()
        .find(|a| a.rule == alert.rule && a.key == alert.key)
        .and_then(|a| a.runbook.as_deref())
        .and_then(lookout_alerting::notify::desktop::runbook_link)
        .ok_or("this alert has no runbook link")?;
    open_with_system(std::ffi::OsStr::new(link));
    Ok(())
}

/// Run the tests of one rule (the `tests/*.toml` of its folder that name it) and say how they
/// went, in a line or a few. The demo's rules are the shipped pack: its tests run from a
/// private copy.
async fn run_rule_tests(app: AppHandle, rule: String) -> Result<String, String> {
    let dir = senders(&app).and_then(|s| s.rules_dir);
    tauri::async_runtime::spawn_blocking(move || rule_tests(dir, &rule))
        .await
        .map_err(|e| format!("the tests did not run: {e}"))?
}

fn rule_tests(dir: Option<std::path::PathBuf>, rule: &str) -> Result<String, String> {
    let copy;
    let dir = match dir {
        Some(d) => d,
        None => {
            copy = tempfile::tempdir().map_err(|e| format!("no place to run the tests: {e}"))?;
            lookout_rules::pack::install(copy.path())
                .map_err(|e| format!("cannot copy the shipped rules: {e}"))?;
            copy.path().to_path_buf()
        }
    };
    let engine = lookout_rules::RuleEngine::default();
    let reports =
        lookout_rules::with_rule_stack(|| lookout_rules::testfile::run_rule(&dir, rule, &engine))
            .map_err(|e| format!("cannot start a thread for the tests: {e}"))??;
    if reports.is_empty() {
        return Ok(format!(
            "No tests for this rule in {} (docs/rules.md, Testing a rule).",
            dir.join("tests").display()
        ));
    }
    let checks: usize = reports.iter().map(|r| r.checks).sum();
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| r.failures.iter().map(|f| f.replace('\n', " ")))
        .collect();
    Ok(if failures.is_empty() {
        format!("Tests passed: {} file(s), {checks} checks.", reports.len())
    } else {
        format!(
            "Tests failed: {} of {checks} checks. {}",
            failures.len(),
            lookout_statsapi::printable(&failures.join(" · "), 1500)
        )
    })
}

fn settings_load(app: &AppHandle) -> settings::Form {
    settings::Form {
        start_at_login: app.autolaunch().is_enabled().unwrap_or(false),
        ..settings::load()
    }
}

/// Start at login, or stop doing so; nothing happens when it already is as asked.
fn set_start_at_login(app: &AppHandle, on: bool) -> Result<(), String> {
    let login = app.autolaunch();
    if login.is_enabled().unwrap_or(false) == on {
        return Ok(());
    }
    if on { login.enable() } else { login.disable() }.map_err(|e| {
        let what = if on { "turned on" } else { "turned off" };
        format!("starting at login could not be {what}: {e}")
    })
}

/// Save, then watch the saved configuration. When the secret could not go to the keychain,
/// the answer says so and the window offers to keep it for this session.
async fn settings_save(
    app: AppHandle,
    form: settings::Form,
) -> Result<settings::Saved, settings::FormError> {
    let login = form.start_at_login;
    let mut saved = tauri::async_runtime::spawn_blocking(move || settings::save(&form))
        .await
        .map_err(|e| e.to_string())??;
    let mode = configured_mode().ok_or_else(|| "nothing to read is saved".to_string())?;
    let started = switch_engine(&app, mode).await;
    if saved.keychain_unavailable {
        // Not done yet: the person chooses how to keep the secret, then saves again.
        return Ok(saved);
    }
    set_start_at_login(&app, login).map_err(|e| format!("{}, but {e}", saved.message))?;
    started.map_err(|e| format!("{}, but the connection cannot start: {e}", saved.message))?;
    close(&app, "welcome");
    saved.message += "; watching it now.";
    Ok(saved)
}

/// The keychain could not take the secret: keep it in memory until Lookout quits, and watch.
async fn settings_keep_for_session(
    app: AppHandle,
    form: settings::Form,
) -> Result<String, settings::FormError> {
    tauri::async_runtime::spawn_blocking(move || settings::keep_for_session(&form))
        .await
        .map_err(|e| e.to_string())??;
    let mode = configured_mode().ok_or_else(|| "nothing to read is saved".to_string())?;
    switch_engine(&app, mode)
        .await
        .map_err(|e| format!("Kept for this session, but the connection cannot start: {e}"))?;
    close(&app, "welcome");
    Ok("Kept for this session only (until Lookout quits); watching it now.".into())
}

async fn settings_test(form: settings::Form) -> Result<String, settings::FormError> {
    settings::test_connection(form).await
}

/// Settings: show a notification now, to see that (and how) notifications arrive.
async fn test_notification() -> Result<String, String> {
    tauri::async_runtime::spawn_blocking(|| {
        use lookout_alerting::notify::{Notification, NotificationState, Notifier};
        let mut n = lookout_alerting::notify::desktop::DesktopNotifier::connect(None)?;
        n.notify(&Notification {
            rule: "lookout".into(),
            rule_name: "Lookout".into(),
            key: "test".into(),
            severity: lookout_alerting::Severity::Warning,
            state: NotificationState::Firing,
            title: "Lookout test notification".into(),
            body: "Notifications from Lookout look like this.".into(),
            digest: None,
            labels: Default::default(),
            runbook: None,
            at: unix_now(),
            group: None,
            also: Vec::new(),
            escalation: None,
        })?;
        Ok("Sent: a test notification should be on your screen.".to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// First run: try the demo.
async fn start_demo(app: AppHandle) -> Result<(), String> {
    switch_engine(&app, engine::Mode::Demo).await?;
    // Shown first: the welcome window closing is then not the last window closing.
    show(&app, "overview");
    close(&app, "welcome");
    Ok(())
}

/// Run a window's command (allowed by its capability in the window process) and answer it.
fn dispatch(
    app: AppHandle,
    cmd: String,
    args: Value,
) -> tauri::async_runtime::JoinHandle<Result<Value, Value>> {
    tauri::async_runtime::spawn(async move { call(app, &cmd, &args).await })
}

async fn call(app: AppHandle, cmd: &str, args: &Value) -> Result<Value, Value> {
    fn arg<T: serde::de::DeserializeOwned>(args: &Value, name: &str) -> Result<T, Value> {
        serde_json::from_value(args.get(name).cloned().unwrap_or(Value::Null))
            .map_err(|e| Value::String(format!("{name}: {e}")))
    }
    fn answer<T: serde::Serialize, E: serde::Serialize>(r: Result<T, E>) -> Result<Value, Value> {
        let value =
            |v: serde_json::Result<Value>| v.unwrap_or_else(|e| Value::String(e.to_string()));
        match r {
            Ok(v) => Ok(value(serde_json::to_value(v))),
            Err(e) => Err(value(serde_json::to_value(e))),
        }
    }
    fn ok<T: serde::Serialize>(v: T) -> Result<Value, Value> {
        answer(Ok::<T, ()>(v))
    }
    match cmd {
        "overview" => ok(overview(&app)),
        "acknowledge" | "snooze" => {
            let action = if cmd == "snooze" {
                Action::Snooze
            } else {
                Action::Acknowledge
            };
            act(&app, arg(args, "alert")?, action);
            ok(())
        }
        "open_runbook" => answer(open_runbook(&app, arg(args, "alert")?)),
        "run_rule_tests" => answer(run_rule_tests(app, arg(args, "rule")?).await),
        "agents" => ok(agents(
            &app,
            arg(args, "team")?,
            arg(args, "service")?,
            arg(args, "offset")?,
            arg(args, "limit")?,
        )),
        "settings_load" => ok(settings_load(&app)),
        "settings_save" => answer(settings_save(app, arg(args, "form")?).await),
        "settings_keep_for_session" => {
            answer(settings_keep_for_session(app, arg(args, "form")?).await)
        }
        "settings_test" => answer(settings_test(arg(args, "form")?).await),
        "test_notification" => answer(test_notification().await),
        "start_demo" => answer(start_demo(app).await),
        other => Err(Value::String(format!("no such command: {other}"))),
    }
}

fn main() {
    lookout_pipeline::limit_memory_arenas();
    // SAFETY: the first thing the program does, before any other thread exists. From here on
    // no program Lookout starts (the web views, a file manager) inherits a secret.
    unsafe { lookout_pipeline::secrets::take_from_environment() };
    // The tray process draws nothing with OpenGL (WebKit renders the pages in its own
    // processes); without this, GTK loads the GL driver at start, 47 MB more under software
    // rendering (Mesa's llvmpipe). `GDK_GL` set in the environment wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: the first thing the program does, before any other thread exists.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
    lookout_pipeline::init_logging();
    if std::env::args().any(|a| a == link::WINDOWS_ARG) {
        windows::run();
        return;
    }
    let demo =
        std::env::args().any(|a| a == "--demo") || std::env::var_os("LOOKOUT_DEMO").is_some();
    let result = tauri::Builder::default()
        // Another launch shows this one's overview and exits (on Linux: a name on the session
        // bus; macOS and Windows have their own locks).
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            if args.iter().any(|a| a == CLOSE_ARG) {
                tracing::debug!("launched again with {CLOSE_ARG}: closing the windows");
                for w in &app.config().app.windows {
                    close(app, &w.label);
                }
                return;
            }
            tracing::debug!("launched again: showing the overview");
            show(app, "overview");
        }))
        // Start at login only once the person asks for it in the settings.
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .manage(Shared::default())
        .manage(Windows::default())
        .setup(move |app| {
            let menu = build_menu(app.handle(), &Overview::default())?;
            let starting = tray::TrayState {
                level: tray::Level::NoData,
                firing: 0,
            };
            TrayIconBuilder::with_id("lookout")
                .tooltip("Lookout: starting")
                .icon(Image::new_owned(
                    tray::draw(&starting),
                    tray::SIZE,
                    tray::SIZE,
                ))
                .menu(&menu)
                .on_menu_event(|app, e| {
                    if let Some(id) = MenuId::from_id(e.id.as_ref()) {
                        on_menu(app, id);
                    }
                })
                .build(app)?;
            let handle = app.handle().clone();
            let configured = configured_mode();
            tauri::async_runtime::spawn(async move {
                let mode = if demo {
                    Some(engine::Mode::Demo)
                } else {
                    configured
                };
                match mode {
                    Some(m) => {
                        if let Err(e) = switch_engine(&handle, m).await {
                            tracing::error!("cannot start: {e}");
                            show(&handle, "settings");
                        }
                    }
                    None => {
                        not_watching(
                            &handle,
                            "nothing is set up yet; try the demo or connect to Bright Pattern in the welcome window",
                        );
                        show(&handle, "welcome");
                    }
                }
            });
            watch_the_watcher(app.handle().clone());
            if std::env::var_os("LOOKOUT_SHOW_OVERVIEW").is_some() {
                show(app.handle(), "overview");
            }
            if std::env::var_os("LOOKOUT_SHOW_WALLBOARD").is_some() {
                show(app.handle(), "wallboard");
            }
            if std::env::var_os("LOOKOUT_SHOW_SETTINGS").is_some() {
                show(app.handle(), "settings");
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    run_app(result, "lookout-desktop");
}

/// Run a built app (or say why it could not be built, and exit 1). The last window closing is
/// no reason to end: only an exit with a code is (the tray's Quit; the window process's end).
fn run_app(result: tauri::Result<tauri::App>, who: &str) {
    let app = match result {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{who}: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_, event| {
        if let tauri::RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}
