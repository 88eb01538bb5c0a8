//! Push for recipients with no open connection (docs/push.md). The `NotificationActor` hands
//! each notification whose recipients include offline users to a bounded queue (full → the
//! push is dropped, counted and logged; message delivery never waits on it). One worker
//! drains the queue in order: it builds the payload, then asks the [`PushTransport`] to
//! deliver it, retrying with exponential backoff when the transport says the failure may
//! pass ([`PushFailure::Retry`]: a 5xx, a timeout, a refused connection) and giving up at
//! once when it will not ([`PushFailure::Permanent`]: a 4xx). A delivery being retried holds
//! back the ones behind it, so receivers see pushes in the order the notifications were
//! created on this server.
//!
//! [`PushTransport`] is the extension point for other transports (a message queue, a push
//! provider's API): implement it and give [`Launch::new`] a factory for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytestring::ByteString;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Created, NotificationStats};
use crate::config::PushSettings;
use crate::protocol::server::UserView;
use crate::protocol::Timestamp;
use crate::sanitize::plain_text;
use crate::store::{self, StoreError};

/// What is handed to a transport: the payload, and its JSON encoding (the exact bytes every
/// attempt sends, so a signature over them is stable across retries).
pub struct Delivery {
    pub payload: PushPayload,
    pub body: ByteString,
}

/// The push document (docs/push.md, "Payload"). Key order is the documented one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushPayload {
    /// Unique per push, the same on every attempt: receivers de-duplicate by it.
    pub delivery_id: Uuid,
    pub notification_id: Uuid,
    /// `NEW_MESSAGE`, `REPLY` or `REACTION`.
    pub notification_type: &'static str,
    pub room: PushRoom,
    pub message_id: Uuid,
    /// Whose action it reports: the author of the message or reply, or the user who reacted.
    pub sender: Arc<UserView>,
    /// The emoji of a `REACTION`, else `null`.
    pub reaction: Option<String>,
    /// The message as plain text, at most `push.preview_chars` characters.
    pub preview: String,
    /// The recipients with no open connection when its event was fanned out, ascending.
    pub recipients: Vec<i64>,
    /// When the notification was created.
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushRoom {
    pub id: Uuid,
    /// A group's or channel's name; `null` for a one-to-one chat.
    pub name: Option<String>,
    pub r#type: &'static str,
}

/// Why an attempt failed, as the transport judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFailure {
    /// May pass: try again after a backoff.
    Retry(String),
    /// Will not pass: give up on this push.
    Permanent(String),
}

/// A boxed future bound to the worker's thread.
pub type Attempt<'a> = Pin<Box<dyn Future<Output = Result<(), PushFailure>> + 'a>>;

/// How pushes leave the server: one attempt to deliver `delivery`. It runs on the actors'
/// arbiter, one delivery at a time, so an implementation may hold thread-bound clients.
pub trait PushTransport {
    fn attempt<'a>(&'a self, delivery: &'a Delivery) -> Attempt<'a>;
}

/// When to try again: `max_attempts` in all, waiting `initial`, then twice as long each
/// time, never longer than `max`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

type MakeTransport = Box<dyn FnOnce() -> Box<dyn PushTransport> + Send>;

/// Everything the push worker is started with.
pub struct Launch {
    /// Builds the transport on the worker's thread.
    make: MakeTransport,
    pub retry: RetryPolicy,
    pub queue_size: usize,
    pub preview_chars: usize,
}

impl Launch {
    /// A worker for the transport `make` builds, with the queue, retries and preview length
    /// of `settings`.
    pub fn new(
        settings: &PushSettings,
        make: impl FnOnce() -> Box<dyn PushTransport> + Send + 'static,
    ) -> Launch {
        Launch {
            make: Box::new(make),
            retry: RetryPolicy {
                max_attempts: settings.max_attempts,
                initial: Duration::from_secs_f64(settings.backoff_initial),
                max: Duration::from_secs_f64(settings.backoff_max),
            },
            queue_size: settings.queue_size,
            preview_chars: settings.preview_chars,
        }
    }
}

/// One queued push: the notification and who of its recipients was offline.
pub struct PushJob {
    pub created: Created,
    pub offline: Vec<i64>,
}

/// Starts the worker on the current (actix) thread; it looks rooms up on `reader`.
pub(super) fn spawn_worker(
    launch: Launch,
    mut queue: mpsc::Receiver<PushJob>,
    reader: DatabaseConnection,
    stats: Arc<NotificationStats>,
) {
    actix_rt::spawn(async move {
        let transport = (launch.make)();
        while let Some(job) = queue.recv().await {
            let id = job.created.notification_id;
            match delivery(&reader, job, launch.preview_chars).await {
                Ok(Some(delivery)) => {
                    deliver(&*transport, &delivery, launch.retry, &stats).await;
                }
                // The room is gone: nobody is owed anything there any more.
                Ok(None) => {}
                Err(e) => {
                    NotificationStats::bump(&stats.push_failed);
                    log::warn!("push for notification {id} not built: {e}");
                }
            }
        }
    });
}

/// The delivery for `job`; `None` when its room no longer exists.
async fn delivery(
    db: &DatabaseConnection,
    job: PushJob,
    preview_chars: usize,
) -> Result<Option<Delivery>, StoreError> {
    let Some(room) = store::rooms::find(db, job.created.room_id).await? else {
        return Ok(None);
    };
    let kind = store::rooms::kind_of(&room)?;
    let created = job.created;
    let mut recipients = job.offline;
    recipients.sort_unstable();
    let payload = PushPayload {
        delivery_id: Uuid::new_v4(),
        notification_id: created.notification_id,
        notification_type: created.kind.as_str(),
        room: PushRoom {
            id: room.id,
            name: room.name,
            r#type: kind.as_str(),
        },
        message_id: created.message_id,
        sender: created.actor,
        reaction: created.reaction,
        preview: plain_text(&created.content, preview_chars),
        recipients,
        created_at: Timestamp(created.at),
    };
    let body = serde_json::to_string(&payload)
        .map_err(|e| StoreError::Corrupt(format!("push payload: {e}")))?;
    Ok(Some(Delivery {
        payload,
        body: ByteString::from(body),
    }))
}

/// Attempts `delivery` until the transport accepts it, refuses it for good, or the attempts
/// run out.
pub async fn deliver(
    transport: &dyn PushTransport,
    delivery: &Delivery,
    retry: RetryPolicy,
    stats: &NotificationStats,
) {
    let id = delivery.payload.delivery_id;
    for attempt in 1..=retry.max_attempts {
        NotificationStats::bump(&stats.push_attempts);
        match transport.attempt(delivery).await {
            Ok(()) => {
                NotificationStats::bump(&stats.push_delivered);
                return;
            }
            Err(PushFailure::Retry(why)) if attempt < retry.max_attempts => {
                let wait = retry.delay(attempt);
                log::info!("push {id}: attempt {attempt} failed ({why}); retrying in {wait:?}");
                actix_rt::time::sleep(wait).await;
            }
            Err(PushFailure::Retry(why)) => {
                NotificationStats::bump(&stats.push_failed);
                log::warn!("push {id}: giving up after {attempt} attempts ({why})");
                return;
            }
            Err(PushFailure::Permanent(why)) => {
                NotificationStats::bump(&stats.push_failed);
                log::warn!("push {id}: refused ({why}); not retried");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling() {
        let retry = RetryPolicy {
            max_attempts: 10,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(3),
        };
        let waits: Vec<u128> = (1..=5).map(|a| retry.delay(a).as_millis()).collect();
        assert_eq!(waits, vec![500, 1000, 2000, 3000, 3000]);
        assert_eq!(retry.delay(1000), Duration::from_secs(3));
    }
}
