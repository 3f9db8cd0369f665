//! The Lookout engine: configuration, secrets, the statistics catalogue, the typed snapshot and
//! the session keeper that produces it.
//!
//! Data flows one way: the tenant's answer becomes a [`Snapshot`] (typed once, by the
//! [`catalogue`]), which everything downstream reads. This crate has no GUI dependencies; the
//! command line and the desktop app both drive it.

pub mod alerts;
pub mod catalogue;
pub mod config;
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

/// `HH:MM:SS UTC` of a Unix time, for messages.
pub fn clock_text(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}
