//! A simulated Bright Pattern tenant: the Real-Time Stats API over HTTP on loopback, with a
//! small contact-center model behind it.
//!
//! It exists so that everything else can be tested and demonstrated for real (real HTTP, real
//! JSON, real timing) with no server and no account, and so that every version's quirks and
//! every failure a real tenant can produce are one scenario line away:
//!
//! - server semantics from the spec: one cookie per user, one subscription per session, 204
//!   before the first data, 404 without a subscription, 409 above the tenant limit, 400 with
//!   `error_code`/`error_message`, values as strings with `""` for none, only the subscribed
//!   sections, order/limit/filter/SUM honoured;
//! - version [`profile`]s: auth modes, cookie names, `stat_name`/`statName`, sort forms,
//!   password login retired (403);
//! - a [`model`] that moves on its own (calls, queues, agents, chat), deterministic per seed;
//! - [`scenario`] files that script events and faults over time.

pub mod model;
pub mod profile;
pub mod scenario;
mod server;
pub mod stats;
mod subscription;

pub use model::ModelConfig;
pub use profile::Profile;
pub use scenario::{Action, DEMO_SCENARIO, Scenario};
pub use server::{Quirks, SimConfig, SimHandle, User, demo_user, start};
