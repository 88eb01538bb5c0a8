//! chatd: a real-time chat service speaking the JSON event protocol of `../shared/spec` over one
//! WebSocket endpoint.
//!
//! Architecture map (docs/architecture.md tells the whole story):
//! - [`config`]: the typed settings tree (`settings.toml` + `CHAT__…` environment overrides).
//! - [`startup`]: builds the application: database, actors, HTTP listener.
//! - [`auth`]: token → identity; the only module that knows the token format.
//! - [`protocol`]: the wire format as plain data (client events, dispatches, error frames).
//! - [`ws`]: the WebSocket endpoint, the `FrameGuard` on its input, and the per-connection
//!   `WsSession` actor.
//! - [`events`]: what each client event does: validate, authorise, persist, dispatch.
//! - [`rooms`]: the `Room` type and its authorisation table, one `RoomActor` per room (its
//!   membership, roles, lock, every change to it, fan-out) and their registry.
//! - [`presence`]: user → live connections, for user-addressed frames and fan-out.
//! - [`notifications`]: the `NotificationActor`, replaying pending notifications on connect.
//! - [`sanitize`]: the one HTML sanitiser for message content.
//! - [`store`]: every database query, named by intent.

pub mod app;
pub mod auth;
pub mod config;
pub mod events;
pub mod notifications;
pub mod presence;
pub mod protocol;
pub mod rooms;
pub mod sanitize;
pub mod startup;
pub mod store;
pub mod ws;
