//! The pipeline: the keeper's snapshots through the rules into the alert decisions, wired
//! together and run ([`run()`]). It publishes one typed value, [`PipelineState`], after every
//! change, and takes typed [`Command`]s. Both programs go through it: `lookout watch` and
//! `lookout demo` in the terminal, the desktop app behind its windows. It also knows where
//! secrets come from ([`secrets`]) and how the demo is set up ([`demo`]).
//!
//! Why it exists: one place where the stages meet, so each stage stays ignorant of the others
//! and every program runs the same pipeline.
//!
//! What it must never know: windows, trays, menus. A user interface reads [`PipelineState`] and
//! builds its own view of it.

pub mod demo;
pub mod run;
pub mod secrets;
pub mod sources;
pub mod state;

pub use run::{Note, RuleErrorLog, Setup, run};
pub use state::{Command, PipelineState};

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
