//! A `nats-server` of our own (the Debian package): started on a free loopback port with a
//! generated configuration and a JetStream store in a private temporary folder, stopped when
//! dropped. `lookout demo --team`, the tests and the benchmarks use it; a contact center runs
//! its own broker (see docs/team.md).
//!
//! Users' passwords go into the configuration as bcrypt hashes, never as themselves.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lookout_pipeline::secrets::Secret;
use rand::{Rng, SeedableRng};

use crate::subjects::{PasswordRef, desk_user, hub_user};

/// A user of the broker.
#[derive(Debug, Clone)]
pub struct BrokerUser {
    pub name: String,
    pub password: Secret,
    pub role: Role,
}

/// What a user may do.
#[derive(Debug, Clone)]
pub enum Role {
    Hub,
    Desk { tenant: String, teams: Vec<String> },
}

impl BrokerUser {
    /// A user with a fresh random password.
    pub fn new(name: &str, role: Role) -> BrokerUser {
        BrokerUser {
            name: name.into(),
            password: random_password(),
            role,
        }
    }
}

/// 24 random letters and digits.
pub fn random_password() -> Secret {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let p: String = (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    Secret::new(p)
}

/// A running `nats-server`.
pub struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
}

/// The lowest bcrypt cost nats-server takes: the brokers here live for a test or a demo.
const BCRYPT_COST: u32 = 4;

impl Broker {
    /// Start one with these users (none: anyone may connect and do anything). Waits until it
    /// takes connections (at most 10 s).
    pub fn start(users: &[BrokerUser]) -> Result<Broker, String> {
        let binary = which("nats-server").ok_or(
            "nats-server is not installed: `cargo xtask setup` installs it (Debian package nats-server)",
        )?;
        let dir = lookout_keeper::files::private_temp_dir("lookout-broker-")
            .map_err(|e| format!("cannot make a folder for the broker: {e}"))?;
        let mut entries = Vec::new();
        for u in users {
            let hash = bcrypt::hash(u.password.expose(), BCRYPT_COST)
                .map_err(|e| format!("cannot hash a password: {e}"))?;
            let password = PasswordRef::Bcrypt(hash);
            entries.push(match &u.role {
                Role::Hub => hub_user(&u.name, &password),
                Role::Desk { tenant, teams } => desk_user(&u.name, &password, tenant, teams),
            });
        }
        let mut last_error = String::new();
        // A port found free may be taken before the server binds it: a few tries.
        for _ in 0..3 {
            let port = free_port()?;
            let config = config_text(port, &dir.path().join("jetstream"), &entries);
            let config_path = dir.path().join("nats.conf");
            lookout_keeper::files::write_private_atomic(&config_path, config.as_bytes())
                .map_err(|e| format!("cannot write the broker's configuration: {e}"))?;
            let log_path = dir.path().join("nats.log");
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("cannot write the broker's log: {e}"))?;
            let mut child = Command::new(&binary)
                .arg("-c")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
            match wait_ready(&mut child, port, &log_path, Duration::from_secs(10)) {
                Ok(()) => {
                    return Ok(Broker {
                        child,
                        port,
                        dir,
                        binary,
                    });
                }
                Err(e) => {
                    last_error = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        Err(format!("the broker did not start: {last_error}"))
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("nats.log"))
    }

    /// Start it again after [`Broker::kill`]: the same port, users and JetStream store.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("nats.log"))
            .map_err(|e| format!("cannot write the broker's log: {e}"))?;
        self.child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        wait_ready(
            &mut self.child,
            self.port,
            &self.dir.path().join("nats.log"),
            Duration::from_secs(10),
        )
    }

    /// Stop it at once (SIGKILL): a broker lost, for the tests.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// The last lines of the log, for an error message.
fn log_tail(path: &Path) -> String {
    let log = read_log(path);
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

fn wait_ready(child: &mut Child, port: u16, log: &Path, within: Duration) -> Result<(), String> {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while start.elapsed() < within {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("nats-server exited ({status}): {}", log_tail(log)));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "no connection after {} s: {}",
        within.as_secs(),
        log_tail(log)
    ))
}

fn config_text(port: u16, store: &Path, users: &[String]) -> String {
    let mut c = format!(
        "# Written by Lookout for a broker of its own.\nlisten: \"127.0.0.1:{port}\"\nserver_name: \"lookout-{port}\"\njetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 64MB\n  max_file_store: 256MB\n}}\n",
        store.display()
    );
    if !users.is_empty() {
        c.push_str("authorization {\n  users: [\n");
        for u in users {
            c.push_str("    ");
            c.push_str(u);
            c.push('\n');
        }
        c.push_str("  ]\n}\n");
    }
    c
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
