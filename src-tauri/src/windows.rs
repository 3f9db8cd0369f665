//! The window process (`lookout-desktop --windows`, see [`crate::link`]): the overview, the
//! settings, the welcome and the wallboard windows, made when shown and destroyed when closed.
//! It ends when its last window closes (the tray process agrees first, so a window asked for
//! meanwhile is not lost), which gives back everything WebKit held for them. Window commands
//! that only move windows run here; the rest go to the engine in the tray process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tauri::ipc::{Invoke, InvokeBody, InvokeError};
use tauri::{AppHandle, Emitter, Manager, State, WindowEvent};

use crate::layout;
use crate::link::{self, Down, Up};

/// The window process's own state.
struct Here {
    /// The overview's size (compact or full) and the size of each, remembered.
    layout: Mutex<layout::Layout>,
    out: Mutex<std::io::Stdout>,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<(bool, Value)>>>,
    /// How many `Show`s were handled.
    shown: AtomicU64,
    /// Under WebDriver the process stays when its windows close (the session lives in it).
    stay: bool,
}

impl Here {
    fn send(&self, msg: &Up) -> bool {
        match self.out.lock() {
            Ok(mut o) => link::write(&mut *o, msg).is_ok(),
            Err(_) => false,
        }
    }
}

/// Show the window `label`, making it first if it does not exist yet.
fn show(app: &AppHandle, label: &str) {
    let window = match app.get_webview_window(label) {
        Some(w) => Some(w),
        None => app
            .config()
            .app
            .windows
            .iter()
            .find(|w| w.label == label)
            .and_then(|cfg| {
                tauri::WebviewWindowBuilder::from_config(app, cfg)
                    .map(|b| match (label, overview_place(app)) {
                        // Made at its remembered size and place: no resize to record wrongly.
                        ("overview", Some(((w, h), at))) => {
                            let b = b.inner_size(w, h);
                            match at {
                                Some((x, y)) => b.position(x, y),
                                None => b,
                            }
                        }
                        _ => b,
                    })
                    .and_then(|b| b.build())
                    .map_err(|e| tracing::error!("cannot open the {label} window: {e}"))
                    .ok()
            }),
    };
    if let Some(w) = window {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Close the window `label`: its web view and the memory WebKit holds for it are given back
/// (the state lives in the engine, so showing it again shows the same thing).
fn close(app: &AppHandle, label: &str) {
    if let Some(w) = app.get_webview_window(label)
        && let Err(e) = w.destroy()
    {
        tracing::warn!("cannot close the {label} window: {e}");
    }
}

/// The overview's remembered size (logical pixels) and, compact, its place near the tray: a
/// corner of the primary screen (top right; bottom right on Windows, where the tray is).
type Place = ((f64, f64), Option<(f64, f64)>);

fn overview_place(app: &AppHandle) -> Option<Place> {
    let layout = app
        .try_state::<Here>()
        .and_then(|s| s.layout.lock().ok().map(|l| l.clone()))?;
    let (width, height) = layout.size();
    let at = match (layout.overview, app.primary_monitor()) {
        (layout::OverviewSize::Compact, Ok(Some(m))) => {
            let scale = m.scale_factor();
            let (mw, mh) = (
                m.size().width as f64 / scale,
                m.size().height as f64 / scale,
            );
            let (mx, my) = (m.position().x as f64 / scale, m.position().y as f64 / scale);
            let x = mx + (mw - width - 12.0).max(0.0);
            let y = if cfg!(windows) {
                my + (mh - height - 56.0).max(0.0)
            } else {
                my + 36.0
            };
            Some((x, y))
        }
        _ => None,
    };
    Some(((width, height), at))
}

/// Give the open overview its remembered size and place (Expand, Compact).
fn fit_overview(app: &AppHandle, w: &tauri::WebviewWindow) {
    let Some(((width, height), at)) = overview_place(app) else {
        return;
    };
    let _ = w.set_size(tauri::LogicalSize::new(width, height));
    let at = at.or_else(|| on_screen(w, (width, height)));
    if let Some((x, y)) = at {
        let _ = w.set_position(tauri::LogicalPosition::new(x, y));
    }
}

/// Where `w`, grown to `size`, stays on its screen: moved left and up as far as it would
/// reach past the right and bottom edges (`None`: it fits where it is).
fn on_screen(w: &tauri::WebviewWindow, (width, height): (f64, f64)) -> Option<(f64, f64)> {
    let m = w.current_monitor().ok().flatten()?;
    let scale = m.scale_factor();
    let at = w.outer_position().ok()?.to_logical::<f64>(scale);
    let (mx, my) = (m.position().x as f64 / scale, m.position().y as f64 / scale);
    let (mw, mh) = (
        m.size().width as f64 / scale,
        m.size().height as f64 / scale,
    );
    let x = at.x.min(mx + mw - width).max(mx);
    let y = at.y.min(my + mh - height).max(my);
    (x != at.x || y != at.y).then_some((x, y))
}

/// Which overview the window shows (the page asks when it loads).
#[tauri::command]
fn overview_size(here: State<'_, Here>) -> layout::OverviewSize {
    here.layout.lock().map(|l| l.overview).unwrap_or_default()
}

/// Switch the overview to `size` (Expand, Compact): the window takes that size's remembered
/// dimensions, and the choice is remembered.
#[tauri::command]
fn set_overview_size(app: AppHandle, size: layout::OverviewSize) {
    if let Some(here) = app.try_state::<Here>()
        && let Ok(mut l) = here.layout.lock()
    {
        l.overview = size;
        layout::save(&l);
    }
    if let Some(w) = app.get_webview_window("overview") {
        fit_overview(&app, &w);
    }
}

/// Show the wallboard (full screen, across a room). (Async: a window made from a synchronous
/// command can deadlock on Windows.)
#[tauri::command]
async fn open_wallboard(app: AppHandle) {
    show(&app, "wallboard");
}

/// Leave the wallboard (its Escape): the window closes and gives its memory back.
#[tauri::command]
async fn close_wallboard(app: AppHandle) {
    close(&app, "wallboard");
}

/// First run: connect to Bright Pattern; or, from the overview, fix what is not watched.
/// (Async: a window made from a synchronous command can deadlock on Windows.)
#[tauri::command]
async fn open_settings(app: AppHandle) {
    // Shown first: the welcome window closing is then not the last window closing.
    show(&app, "settings");
    close(&app, "welcome");
}

/// The commands that only move windows, answered here (the list of `run`'s handler).
pub(crate) const LOCAL: [&str; 5] = [
    "overview_size",
    "set_overview_size",
    "open_wallboard",
    "close_wallboard",
    "open_settings",
];

/// Send a window's command to the engine and answer the page with what it says.
fn forward(invoke: Invoke) {
    let app = invoke.message.webview_ref().app_handle().clone();
    let cmd = invoke.message.command().to_string();
    let args = match invoke.message.payload() {
        InvokeBody::Json(v) => v.clone(),
        InvokeBody::Raw(_) => Value::Null,
    };
    invoke.resolver.respond_async(async move {
        let here = app.state::<Here>();
        let id = here.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut w) = here.waiting.lock() {
            w.insert(id, tx);
        }
        if !here.send(&Up::Call { id, cmd, args }) {
            if let Ok(mut w) = here.waiting.lock() {
                w.remove(&id);
            }
            return Err(InvokeError::from("Lookout's engine is not reachable"));
        }
        match rx.await {
            Ok((true, v)) => Ok(v),
            Ok((false, v)) => Err(InvokeError::from(v)),
            Err(_) => Err(InvokeError::from("Lookout's engine did not answer")),
        }
    });
}

/// Read what the tray process says until it ends, then end.
fn listen(app: AppHandle) {
    let mut input = std::io::stdin().lock();
    loop {
        let msg = match link::read_line(&mut input) {
            Ok(Some(line)) => match serde_json::from_str::<Down>(&line) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("not a message from the tray process: {e}");
                    continue;
                }
            },
            // The tray process is gone (it quit or died): so are its windows.
            Ok(None) | Err(_) => std::process::exit(0),
        };
        let here = app.state::<Here>();
        match msg {
            Down::Show { label } => {
                let app = app.clone();
                // Made from the event loop's thread (a window made elsewhere can deadlock), and
                // counted once made: a window closing meanwhile does not report the process
                // idle with this show counted, so the tray process does not end it.
                let _ = app.clone().run_on_main_thread(move || {
                    show(&app, &label);
                    let here = app.state::<Here>();
                    here.shown.fetch_add(1, Ordering::SeqCst);
                    // It could not be made, and nothing else is open.
                    idle(&app, "");
                });
            }
            Down::Close { label } => {
                let app = app.clone();
                let _ = app.clone().run_on_main_thread(move || close(&app, &label));
            }
            Down::Overview { overview } => {
                let _ = app.emit("overview", overview);
            }
            Down::Reply { id, ok, value } => {
                if let Some(tx) = here.waiting.lock().ok().and_then(|mut w| w.remove(&id)) {
                    let _ = tx.send((ok, value));
                }
            }
            Down::Quit => std::process::exit(0),
        }
    }
}

/// Window `closing` closed (or none, `""`): when no other is open, ask the tray process
/// whether to end.
fn idle(app: &AppHandle, closing: &str) {
    let here = app.state::<Here>();
    if !here.stay && app.webview_windows().keys().all(|l| l == closing) {
        here.send(&Up::Idle {
            shown: here.shown.load(Ordering::SeqCst),
        });
    }
}

/// Run the window process until the tray process tells it to end (or ends itself).
pub fn run() {
    fn handler<F: Fn(Invoke) -> bool>(f: F) -> F {
        f
    }
    let local = handler(tauri::generate_handler![
        overview_size,
        set_overview_size,
        open_wallboard,
        close_wallboard,
        open_settings
    ]);
    let result = tauri::Builder::default()
        .manage(Here {
            layout: Mutex::new(layout::load()),
            out: Mutex::new(std::io::stdout()),
            next: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            shown: AtomicU64::new(0),
            stay: std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true"),
        })
        .invoke_handler(move |invoke| {
            if LOCAL.contains(&invoke.message.command()) {
                local(invoke)
            } else {
                forward(invoke);
                true
            }
        })
        .setup(|app| {
            let handle = app.handle().clone();
            std::thread::Builder::new()
                .name("tray-link".into())
                .spawn(move || listen(handle))?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // The overview's size as the person leaves it, for the size they chose.
            if window.label() == "overview"
                && let WindowEvent::Resized(size) = event
                && let Ok(scale) = window.scale_factor()
                && let Some(here) = window.try_state::<Here>()
                && let Ok(mut l) = here.layout.lock()
            {
                let logical = size.to_logical::<f64>(scale);
                if logical.width > 0.0 && logical.height > 0.0 {
                    l.resized((logical.width, logical.height));
                }
            }
            if let WindowEvent::Destroyed = event {
                tracing::debug!("{}: closed", window.label());
                if window.label() == "overview"
                    && let Some(here) = window.try_state::<Here>()
                    && let Ok(l) = here.layout.lock()
                {
                    layout::save(&l);
                }
                idle(window.app_handle(), window.label());
            }
        })
        .build(tauri::generate_context!());
    crate::run_app(result, &format!("lookout-desktop {}", link::WINDOWS_ARG));
}
