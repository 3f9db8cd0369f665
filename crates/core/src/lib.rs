//! The Lookout engine: configuration, secrets, the statistics catalogue and the typed snapshot.
//!
//! Data flows one way: the tenant's answer becomes a [`Snapshot`] (typed once, by the
//! [`catalogue`]), which everything downstream reads. This crate has no GUI dependencies; the
//! command line and the desktop app both drive it.

pub mod catalogue;
pub mod config;
pub mod secrets;
pub mod snapshot;

pub use config::{AuthMode, Config, ConfigError};
pub use snapshot::{ChatMessage, Grid, Plan, Snapshot, Value};
