//! The connection to one tenant: the config file, where private files go, the statistics
//! catalogue, the typed [`Snapshot`] and the [`session`] keeper that produces it.
//!
//! Why it exists: it is the only part of Lookout that talks to Bright Pattern (through
//! `lookout-statsapi`). Data flows one way from here: the tenant's answer becomes a
//! [`Snapshot`], typed once by the [`catalogue`], which everything downstream reads.
//!
//! What it must never know: rules, alerts, notifications, windows. It produces snapshots and a
//! [`ConnectionStatus`]; what they mean is decided above it.

pub mod catalogue;
pub mod config;
pub mod files;
pub mod recording;
pub mod schedule;
pub mod session;
pub mod snapshot;
pub mod suggest;
pub mod time;

pub use config::{AuthMode, Config, ConfigError};
pub use session::{ConnectionStatus, KeeperHandle, KeeperOptions, Problem, ProblemKind};
pub use snapshot::{ChatMessage, Grid, Plan, Snapshot, Value};
pub use time::{clock, clock_text, fmt_dur, unix_now};
