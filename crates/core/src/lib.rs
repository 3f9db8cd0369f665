//! The Lookout engine: configuration, secrets, the statistics catalogue, the typed snapshot and
//! the session keeper that produces it.
//!
//! Data flows one way: the tenant's answer becomes a [`Snapshot`] (typed once, by the
//! [`catalogue`]), which everything downstream reads. This crate has no GUI dependencies; the
//! command line and the desktop app both drive it.

pub mod alerts;
pub mod catalogue;
pub mod config;
pub mod files;
pub mod keeper;
pub mod notify;
pub mod recording;
pub mod rules;
pub mod secrets;
pub mod snapshot;
pub mod store;
pub mod watch;

pub use config::{AuthMode, Config, ConfigError};
pub use keeper::{ConnectionStatus, KeeperHandle, KeeperOptions, Problem, ProblemKind};
pub use snapshot::{ChatMessage, Grid, Plan, Snapshot, Value};

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `HH:MM:SS` (UTC) of a Unix time.
pub fn clock(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `HH:MM:SS UTC` of a Unix time, for messages.
pub fn clock_text(unix: i64) -> String {
    format!("{} UTC", clock(unix))
}

/// Keep the allocator to one pool of memory for the whole process. For the programs, first
/// thing, before any other thread exists.
///
/// glibc gives each thread that allocates its own pool (an "arena", up to 8 per core). Each
/// keeps the memory it once needed at its busiest, so a long-running watcher's resident memory
/// creeps up for an hour as the parser, the rules and the HTTP client take turns on different
/// threads (measured in docs/performance.md, "Soak"). Lookout allocates little and rarely at the
/// same moment on two threads: one arena cost no CPU beyond the noise against eight, and saved
/// 7 MB of a 5,000-agent watcher's 36 (docs/performance.md, "P4"). `MALLOC_ARENA_MAX` set in
/// the environment wins. Other platforms' allocators do not need this.
pub fn limit_memory_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before other threads start.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    }
}

/// Log to stderr, filtered by `LOOKOUT_LOG` (default: warnings). For the programs, once.
///
/// Colours only on a terminal: a log file or a pipe gets plain text. Control characters in
/// messages and fields (a server's or an agent's words) are escaped by the formatter
/// (`\x1b` is written as text), so a log line cannot steer the terminal that shows it.
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOOKOUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
