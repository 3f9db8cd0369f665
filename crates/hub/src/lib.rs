//! Team mode. One `lookout hub` per contact center holds the only subscription per tenant,
//! runs the team's rules once and publishes the pipeline state on NATS; desks read it and tell
//! their supervisors. JetStream holds what the hubs must not forget (who is active, what was
//! told and acknowledged), so a standby takes over without telling anything twice.
//!
//! - [`subjects`]: where everything goes, and the NATS permissions that scope it
//! - [`wire`]: the messages
//! - [`hub`]: the service
//! - [`desk`]: a desk's side, producing the same [`lookout_pipeline::PipelineState`] a local
//!   pipeline does
//! - [`broker`]: a `nats-server` of our own, for `lookout demo --team` and the tests

pub mod broker;
pub mod desk;
pub mod hub;
pub mod nats;
pub mod personal;
pub mod subjects;
pub mod wire;
