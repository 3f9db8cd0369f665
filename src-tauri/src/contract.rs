//! The windows' contract with the app: TypeScript declarations of what they receive (the
//! overview, the settings form) and what they send (the commands and their arguments),
//! generated from the Rust types into `ui/types.d.ts`. A test keeps the file current
//! (`cargo xtask ui-types` writes it again); `cargo xtask lint` type-checks `ui/` against it,
//! so no window reads a field the app does not send.

use ts_rs::{Config, TS};

use crate::layout::OverviewSize;
use crate::settings::{Field, Form, FormError, Saved};
use crate::view::{
    AgentCounts, AgentRow, AgentsPage, AlertRef, AlertView, ChatView, Connection, HistoryView,
    Overview, RuleView, ServiceRow,
};
use lookout_alerting::Severity;
use lookout_alerting::lifecycle::State;
use lookout_keeper::AuthMode;
use lookout_keeper::config::ResolvedNotices;

/// Where the declarations live, from this crate.
const FILE: &str = "../ui/types.d.ts";

fn cfg() -> Config {
    // JSON numbers, whatever their Rust width.
    Config::new().with_large_int("number")
}

/// One command: its name, its arguments (name and type), its answer and its error.
struct Command {
    name: &'static str,
    args: Vec<(&'static str, String)>,
    answer: String,
    error: Option<String>,
}

/// Every command the windows may invoke (each is answered by the window process or the
/// engine, checked below).
fn commands() -> Vec<Command> {
    let c = cfg();
    let cmd =
        |name, args: Vec<(&'static str, String)>, answer: String, error: Option<String>| Command {
            name,
            args,
            answer,
            error,
        };
    let form = || vec![("form", Form::name(&c))];
    let alert = || vec![("alert", AlertRef::name(&c))];
    let text = || "string".to_string();
    let none = || "null".to_string();
    vec![
        cmd("overview", vec![], Overview::name(&c), None),
        cmd("acknowledge", alert(), none(), None),
        cmd("snooze", alert(), none(), None),
        cmd("open_runbook", alert(), none(), Some(text())),
        cmd(
            "agents",
            vec![
                ("team", "string | null".to_string()),
                ("service", "string | null".to_string()),
                ("offset", "number".to_string()),
                ("limit", "number".to_string()),
            ],
            AgentsPage::name(&c),
            None,
        ),
        cmd("open_wallboard", vec![], none(), None),
        cmd("overview_size", vec![], OverviewSize::name(&c), None),
        cmd(
            "set_overview_size",
            vec![("size", OverviewSize::name(&c))],
            none(),
            None,
        ),
        cmd("close_wallboard", vec![], none(), None),
        cmd(
            "run_rule_tests",
            vec![("rule", "string".to_string())],
            text(),
            Some(text()),
        ),
        cmd("settings_load", vec![], Form::name(&c), None),
        cmd(
            "settings_save",
            form(),
            Saved::name(&c),
            Some(FormError::name(&c)),
        ),
        cmd("settings_test", form(), text(), Some(FormError::name(&c))),
        cmd(
            "settings_keep_for_session",
            form(),
            text(),
            Some(FormError::name(&c)),
        ),
        cmd("start_demo", vec![], none(), Some(text())),
        cmd("open_settings", vec![], none(), None),
        cmd("test_notification", vec![], text(), Some(text())),
    ]
}

/// The whole file.
fn declarations() -> String {
    let c = cfg();
    let mut out = String::from(
        "// The windows' contract with the app, generated from its Rust types (src-tauri/src/\n\
         // view.rs, settings.rs; src-tauri/src/contract.rs). Do not edit: `cargo xtask ui-types`\n\
         // writes it again, and a test fails while it is not what the code generates.\n\n",
    );
    for decl in [
        Connection::decl(&c),
        Severity::decl(&c),
        State::decl(&c),
        Overview::decl(&c),
        AlertView::decl(&c),
        AlertRef::decl(&c),
        ServiceRow::decl(&c),
        RuleView::decl(&c),
        ChatView::decl(&c),
        HistoryView::decl(&c),
        AgentRow::decl(&c),
        AgentCounts::decl(&c),
        AgentsPage::decl(&c),
        OverviewSize::decl(&c),
        AuthMode::decl(&c),
        ResolvedNotices::decl(&c),
        Form::decl(&c),
        crate::hub_form::HubForm::decl(&c),
        Field::decl(&c),
        FormError::decl(&c),
        Saved::decl(&c),
    ] {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.push_str(
        "/** The commands a window may invoke: their arguments, answer and error. */\n\
         export interface Commands {\n",
    );
    for cmd in commands() {
        let args: Vec<String> = cmd
            .args
            .iter()
            .map(|(name, ty)| format!("{name}: {ty}"))
            .collect();
        out.push_str(&format!(
            "  {}: {{ args: {{ {} }}; answer: {}; error: {} }};\n",
            cmd.name,
            args.join("; "),
            cmd.answer,
            cmd.error.as_deref().unwrap_or("never"),
        ));
    }
    out.push_str("}\n\n");
    out.push_str(&format!(
        "/** The events the app sends to the windows. */\n\
         export interface Events {{\n  overview: {};\n}}\n",
        Overview::name(&c)
    ));
    out
}

#[test]
fn the_ui_types_are_what_the_code_declares() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE);
    let want = declarations();
    if std::env::var_os("LOOKOUT_WRITE_UI_TYPES").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == want,
        "{} is not what the Rust types declare; `cargo xtask ui-types` writes it again",
        path.display()
    );
}

/// The commands the window process answers itself (its `generate_handler!`) and those it
/// sends to the engine (the arms of `main.rs`'s `call`) are together the declared ones.
#[test]
fn every_command_the_app_handles_is_declared() {
    let windows = include_str!("windows.rs");
    let start = windows
        .find("generate_handler![")
        .expect("the handler list")
        + 18;
    let end = start + windows[start..].find(']').expect("its end");
    let mut handled: Vec<&str> = windows[start..end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut local = crate::windows::LOCAL.to_vec();
    local.sort_unstable();
    let mut listed = handled.clone();
    listed.sort_unstable();
    assert_eq!(
        local, listed,
        "what the window process keeps is what it handles"
    );
    let main = include_str!("main.rs");
    let start = main.find("async fn call(").expect("the engine's commands");
    let end = start + main[start..].find("other =>").expect("their end");
    for line in main[start..end].lines().map(str::trim) {
        if line.starts_with('"')
            && let Some((names, _)) = line.split_once("=>")
        {
            handled.extend(names.split('|').map(|n| n.trim().trim_matches('"')));
        }
    }
    let mut declared: Vec<&str> = commands().iter().map(|c| c.name).collect();
    handled.sort_unstable();
    declared.sort_unstable();
    assert_eq!(handled, declared);
}

/// The windows format durations in JavaScript (`ui/format.js`) exactly as the app does in Rust:
/// run with Node.js over the same values.
#[test]
fn the_windows_write_durations_as_the_app_does() {
    let secs: [i64; 10] = [-5, 0, 59, 60, 61, 3599, 3600, 3661, 86_399, 90_061];
    let format = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/format.js");
    let url = format!("file://{}", format.canonicalize().unwrap().display());
    let script =
        format!("import {{ dur }} from {url:?}; console.log(JSON.stringify({secs:?}.map(dur)));");
    let out = std::process::Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .expect("Node.js runs the windows' code in this test (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let rust: Vec<String> = secs.iter().map(|s| lookout_keeper::fmt_dur(*s)).collect();
    assert_eq!(js, rust);
}
