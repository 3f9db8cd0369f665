//! Bright Pattern Real-Time Stats API (`/statsapi`): wire types and an async client.
//!
//! This crate knows the protocol and nothing else: what each endpoint takes and answers, in
//! every version's dialect (see `spec/statsapi.md` in the project's shared folder). It keeps
//! values as the strings the server sends; typing them is the snapshot's job. It never retries
//! on its own: each call reports what happened as [`PollOutcome`] or a matchable [`Error`], and
//! the session keeper decides what to do next.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lookout_statsapi::Error> {
//! use lookout_statsapi::{Auth, Client, ClientOptions, Secret, PollOutcome};
//! let mut client = Client::new(
//!     "https://example.brightpattern.com",
//!     Auth::OAuth {
//!         client_id: "supervisor".into(),
//!         client_secret: Secret::new("from the keychain"),
//!         scope: "example.brightpattern.com".into(),
//!     },
//!     ClientOptions::default(),
//! )?;
//! client.authenticate().await?;
//! let request = Default::default(); // app id → AppSubscription
//! client.create_subscription(&request).await?;
//! match client.poll_data().await? {
//!     PollOutcome::Data(data) => println!("{} apps", data.len()),
//!     PollOutcome::NotReady => println!("not ready yet"),
//! }
//! client.delete_subscription().await?;
//! # Ok(()) }
//! ```

mod client;
mod error;
pub mod wire;

pub use client::{Auth, Client, ClientOptions, Login, PollOutcome, Secret, parse_server_url};
pub use error::{Error, printable, redact_url};
pub use wire::{
    AppData, AppSubscription, Cell, ChatMessage, ChatRequest, Column, DataResponse,
    DispositionFilter, GridData, GridRequest, IdOrNumber, NamedRef, StatKey, SubscriptionRequest,
};
