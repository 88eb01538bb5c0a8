//! chatd: a real-time chat service speaking the JSON event protocol of `../shared/spec` over one
//! WebSocket endpoint.
//!
//! Architecture map (docs/architecture.md tells the whole story):
//! - [`config`]: the typed settings tree (`settings.toml` + `CHAT__…` environment overrides).
//! - [`startup`]: builds the application: database, actors, HTTP listeners; stops it gracefully.
//! - [`auth`]: token → identity; the only module that knows the token format.
//! - [`protocol`]: the wire format as plain data (client events, dispatches, error frames).
//! - [`ws`]: the WebSocket endpoint, the `FrameGuard` on its input, and the per-connection
//!   `WsSession` actor.
//! - [`events`]: what each client event does: validate, authorise, persist, dispatch.
//! - [`rooms`]: the `Room` type and its authorisation table, one `RoomActor` per room (its
//!   membership, roles, lock, every change to it, fan-out) and their registry.
//! - [`presence`]: user → live connections, for user-addressed frames and fan-out; the
//!   session rows' batched `last_seen`.
//! - [`notifications`]: the `NotificationActor`: the bounded replay at connect, pushes to
//!   offline recipients (the signed webhook), cleanup.
//! - [`sanitize`]: the one HTML sanitiser for message content.
//! - [`store`]: every database query, named by intent.
//! - [`http`]: plain HTTP beside the endpoint: `/healthz`, `/readyz`, `/metrics`, the console.
//! - [`metrics`]: the Prometheus registry and what the rest of the code records in it.
//! - [`logging`]: text or JSON log lines, each line about a connection tagged with its id.

pub mod app;
pub mod auth;
pub mod config;
pub mod events;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notifications;
pub mod presence;
pub mod protocol;
pub mod rooms;
pub mod sanitize;
pub mod startup;
pub mod store;
pub mod ws;
