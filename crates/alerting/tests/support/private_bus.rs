//! A private D-Bus session bus for one test: a real `dbus-daemon`, stopped when dropped. Tests
//! that each need their own bus (one desktop app per bus, a notification server per test) use it
//! instead of the bus the whole run shares.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Bus {
    child: Child,
    pub address: String,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a private session bus.
pub fn private_bus() -> Bus {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon (package dbus-daemon) must be installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("dbus-daemon prints its address");
    Bus {
        child,
        address: line.trim().to_string(),
    }
}
