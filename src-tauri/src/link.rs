//! The windows live in a process of their own (`lookout-desktop --windows`), started when one
//! is first shown and ended when the last one closes: WebKit keeps what a window made it load
//! (its network process, its libraries' pages) for the life of the process that made it, so
//! only a process that ends gives that memory back. The tray process keeps the engine.
//!
//! The two speak JSON, one message per line, over the window process's stdin (tray → windows)
//! and stdout (windows → tray): private pipes, so no other local user can reach either end,
//! and nothing secret travels (a secret never leaves the tray process). A window's command is
//! checked against its capability in the window process, then run here.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, TrySendError};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::{AppHandle, Manager};

/// The argument that makes `lookout-desktop` the window process.
pub const WINDOWS_ARG: &str = "--windows";

/// The longest line either side reads; a longer one ends the link (an overview is a few
/// hundred KB at most).
pub const MAX_LINE: u64 = 32 << 20;

/// From the tray process to the window process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Down {
    /// Show this window, making it first.
    Show { label: String },
    /// Close this window, if it is open.
    Close { label: String },
    /// The engine's new overview, for the windows that listen.
    Overview { overview: Value },
    /// The answer to [`Up::Call`] `id`.
    Reply { id: u64, ok: bool, value: Value },
    /// End: no window is open and none was asked for since.
    Quit,
}

/// From the window process to the tray process.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Up {
    /// A window's command (already allowed by its capability), to run in the engine.
    Call { id: u64, cmd: String, args: Value },
    /// The last window closed, after `shown` shows were handled: may it end?
    Idle { shown: u64 },
}

/// Read one line of at most [`MAX_LINE`] bytes; `None` at the end of the stream.
pub fn read_line(r: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *r, MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
        return Err(std::io::Error::other(
            "a message longer than the link allows",
        ));
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// `msg` as one line, newline included.
fn encode(msg: &impl Serialize) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Write `msg` as one line.
pub fn write(w: &mut impl Write, msg: &impl Serialize) -> std::io::Result<()> {
    w.write_all(&encode(msg)?)?;
    w.flush()
}

/// How many messages may wait for the window process; beyond that it is not reading, and an
/// overview is dropped (the next one says all of it) or the process is started anew.
const QUEUE: usize = 256;

/// [`Down::Overview`] as the tray process writes it: the overview straight into the line,
/// without a `Value` in between.
#[derive(Serialize)]
struct OverviewLine<'a, T> {
    to: &'static str,
    overview: &'a T,
}

/// The running window process, as the tray process holds it.
pub struct Link {
    pid: u32,
    /// To the thread that writes to its stdin (a process that stops reading never blocks the
    /// engine).
    to: SyncSender<Vec<u8>>,
    /// How many `Show`s were sent.
    shows: u64,
}

/// The tray process's end: `None` while no window process runs.
#[derive(Default)]
pub struct Windows(Mutex<Option<Link>>);

/// What the tray process does with a window's command.
pub type Dispatch =
    fn(AppHandle, String, Value) -> tauri::async_runtime::JoinHandle<Result<Value, Value>>;

impl Windows {
    /// Show window `label`, starting the window process when none runs.
    pub fn show(app: &AppHandle, label: &str, dispatch: Dispatch) {
        let Some(me) = app.try_state::<Windows>() else {
            return;
        };
        let Ok(mut link) = me.0.lock() else {
            return;
        };
        let Some(msg) = as_line(&Down::Show {
            label: label.into(),
        }) else {
            return;
        };
        // A process that ended between two messages is started again, once.
        for _ in 0..2 {
            if link.is_none() {
                match start(app, dispatch) {
                    Ok(l) => *link = Some(l),
                    Err(e) => {
                        tracing::error!("cannot open the {label} window: {e}");
                        return;
                    }
                }
            }
            if let Some(l) = link.as_mut() {
                if send(&l.to, msg.clone()) {
                    l.shows += 1;
                    return;
                }
                *link = None;
            }
        }
        tracing::error!("cannot open the {label} window: the window process ends at once");
    }

    /// Tell the window process `msg`, when it runs.
    pub fn tell(app: &AppHandle, msg: Down) {
        Windows::tell_line(app, || as_line(&msg));
    }

    /// Send the engine's new overview to the windows, when a window process runs (an overview
    /// nobody looks at is not even written out). Written once, straight to the message line.
    pub fn tell_overview(app: &AppHandle, overview: &impl Serialize) {
        Windows::tell_line(app, || {
            as_line(&OverviewLine {
                to: "overview",
                overview,
            })
        });
    }

    fn tell_line(app: &AppHandle, make: impl FnOnce() -> Option<Vec<u8>>) {
        if let Some(me) = app.try_state::<Windows>()
            && let Ok(link) = me.0.lock()
            && let Some(l) = link.as_ref()
            && let Some(msg) = make()
        {
            send(&l.to, msg);
        }
    }
}

/// `msg` as one line (`None`, logged, when it cannot be written out).
fn as_line(msg: &impl Serialize) -> Option<Vec<u8>> {
    match encode(msg) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("cannot write a message for the window process: {e}");
            None
        }
    }
}

/// Queue the line `msg` for the window process: false when it is gone or not reading.
fn send(to: &SyncSender<Vec<u8>>, msg: Vec<u8>) -> bool {
    match to.try_send(msg) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            tracing::warn!("the window process is not reading its messages");
            false
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// Start the window process and the thread that serves it.
fn start(app: &AppHandle, dispatch: Dispatch) -> std::io::Result<Link> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg(WINDOWS_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("the window process has no input"))?;
    let (to, queue) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE);
    std::thread::Builder::new()
        .name("windows-link-out".into())
        .spawn(move || {
            // Ends when the link is dropped (the window process then reads the end of its
            // input, and ends) or the process is gone.
            for msg in queue {
                if stdin.write_all(&msg).and_then(|()| stdin.flush()).is_err() {
                    break;
                }
            }
        })?;
    let from = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("the window process has no output"))?;
    let (app, replies) = (app.clone(), to.clone());
    std::thread::Builder::new()
        .name("windows-link".into())
        .spawn(move || {
            let mut from = std::io::BufReader::new(from);
            loop {
                let line = match read_line(&mut from) {
                    Ok(Some(l)) => l,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("the window process's link broke: {e}");
                        let _ = child.kill();
                        break;
                    }
                };
                match serde_json::from_str::<Up>(&line) {
                    Ok(Up::Call { id, cmd, args }) => {
                        let (app, replies) = (app.clone(), replies.clone());
                        tauri::async_runtime::spawn(async move {
                            let (ok, value) = match dispatch(app, cmd, args).await {
                                Ok(Ok(v)) => (true, v),
                                Ok(Err(v)) => (false, v),
                                Err(e) => (false, Value::String(e.to_string())),
                            };
                            if let Some(l) = as_line(&Down::Reply { id, ok, value }) {
                                send(&replies, l);
                            }
                        });
                    }
                    Ok(Up::Idle { shown }) => {
                        // It may end unless a Show is on its way to it.
                        if let Some(me) = app.try_state::<Windows>()
                            && let Ok(mut link) = me.0.lock()
                            && link
                                .as_ref()
                                .is_some_and(|l| l.pid == pid && l.shows == shown)
                        {
                            if let Some(l) = as_line(&Down::Quit) {
                                send(&replies, l);
                            }
                            *link = None;
                        }
                    }
                    // Something else printed on its stdout (a library): not for us.
                    Err(_) => tracing::debug!("not a message from the window process: {line:?}"),
                }
            }
            if let Some(me) = app.try_state::<Windows>()
                && let Ok(mut link) = me.0.lock()
                && link.as_ref().is_some_and(|l| l.pid == pid)
            {
                *link = None;
            }
            match child.wait() {
                Ok(s) if !s.success() => tracing::warn!("the window process ended: {s}"),
                Ok(_) => tracing::debug!("the window process ended"),
                Err(e) => tracing::warn!("the window process: {e}"),
            }
        })?;
    Ok(Link { pid, to, shows: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lines_and_an_endless_line_ends_the_link() {
        let mut out = Vec::new();
        write(
            &mut out,
            &Up::Call {
                id: 7,
                cmd: "agents".into(),
                args: serde_json::json!({"team": "a\nb"}),
            },
        )
        .unwrap();
        write(&mut out, &Up::Idle { shown: 2 }).unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2);
        let mut r = std::io::Cursor::new(out);
        let first: Up = serde_json::from_str(&read_line(&mut r).unwrap().unwrap()).unwrap();
        assert!(matches!(first, Up::Call { id: 7, .. }));
        let second: Up = serde_json::from_str(&read_line(&mut r).unwrap().unwrap()).unwrap();
        assert!(matches!(second, Up::Idle { shown: 2 }));
        assert!(read_line(&mut r).unwrap().is_none());

        let endless = std::io::Read::take(std::io::repeat(b'x'), MAX_LINE + 10);
        let mut r = std::io::BufReader::new(endless);
        assert!(read_line(&mut r).is_err());
    }

    #[test]
    fn the_overview_written_straight_to_its_line_is_the_overview_message() {
        let o = serde_json::json!({"detail": "live", "alerts": [1, 2]});
        let l = as_line(&OverviewLine {
            to: "overview",
            overview: &o,
        })
        .unwrap();
        let read = read_line(&mut std::io::Cursor::new(l)).unwrap().unwrap();
        match serde_json::from_str::<Down>(&read).unwrap() {
            Down::Overview { overview } => assert_eq!(overview, o),
            other => panic!("{other:?}"),
        }
    }
}
