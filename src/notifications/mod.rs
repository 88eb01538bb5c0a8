//! The `NotificationActor`: what happens around the notification rows a user is owed.
//!
//! The rows themselves are written and removed by `store::notifications`, always inside the
//! transaction of the event they belong to (a send or reaction creates them, an
//! acknowledgement, delete or leave settles them), so a crash can never leave a committed
//! message without its notification, nor a replay showing what was already settled
//! (docs/architecture.md, "Notifications"). Around them the actor owns:
//!
//! - **the replay at connect** ([`PendingFrame`], [`replay`]): the user's pending
//!   notifications, bounded per room and per frame; what is left out stays pending;
//! - **the push to offline recipients** ([`Created`], [`Missed`], [`push`]): told after the
//!   commit and the fan-out, with a non-blocking send into its bounded mailbox (a full mailbox
//!   drops the notice, counted and logged, and never holds up the message's delivery), of the
//!   recipients that had no open connection at the fan-out; they are handed to the push
//!   queue, which a [`push::PushTransport`] (the signed webhook by default) drains.
//!
//! Nothing needs sweeping: a notification nobody is owed any more is deleted by the
//! transaction that releases its last recipient (`store::notifications`).

pub mod push;
pub mod replay;
pub mod webhook;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::logging;
use crate::presence::Presence;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{Frame, UserView};
use crate::store::notifications::NotificationKind;
use push::PushJob;
use replay::ReplayBounds;

/// Counters of what happened to notifications beyond their rows, for operators and tests.
#[derive(Debug, Default)]
pub struct NotificationStats {
    /// `Created` notices dropped because the actor's mailbox was full.
    pub notices_dropped: AtomicU64,
    /// Pushes handed to the push queue.
    pub push_queued: AtomicU64,
    /// Pushes dropped because the push queue was full.
    pub push_dropped: AtomicU64,
    /// Pushes the transport accepted.
    pub push_delivered: AtomicU64,
    /// Pushes given up on (a 4xx, or every attempt failed).
    pub push_failed: AtomicU64,
    /// Attempts made, first tries and retries.
    pub push_attempts: AtomicU64,
}

impl NotificationStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A notification has just been committed (told by whoever committed it, after the commit
/// and the fan-out of its event, through [`Notices::created`]).
#[derive(Debug, Clone)]
pub struct Created {
    pub notification_id: Uuid,
    pub kind: NotificationKind,
    pub room_id: Uuid,
    pub message_id: Uuid,
    /// Whose action it reports: the author of a message or reply, the user who reacted.
    pub actor: Arc<UserView>,
    /// The message's stored (sanitised) content, for the push preview.
    pub content: String,
    /// The emoji of a `REACTION`.
    pub reaction: Option<String>,
    pub recipients: Vec<i64>,
    pub at: DateTime<Utc>,
}

/// A committed notification some of whose recipients had no open connection when its event
/// was fanned out: they did not get the dispatch and are pushed to.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Missed {
    pub created: Created,
    /// Who of `created.recipients` had no open connection then.
    pub offline: Vec<i64>,
}

/// How committed events tell the `NotificationActor` about new notifications: a non-blocking
/// send into its bounded mailbox. Cloned into every room actor and event that creates
/// notifications.
#[derive(Clone)]
pub struct Notices {
    /// `None` when no push transport is configured: nothing needs telling. Otherwise the
    /// actor, and who is connected now.
    to: Option<(Recipient<Missed>, Arc<Presence>)>,
    stats: Arc<NotificationStats>,
}

impl Notices {
    /// A handle that tells nobody: for a room registry run without a `NotificationActor`
    /// (benches of the fan-out).
    pub fn off() -> Notices {
        Notices {
            to: None,
            stats: Arc::default(),
        }
    }

    /// Tells the actor about `created`, right after its event was fanned out: the recipients
    /// with no open connection at this moment are the ones who did not get the dispatch.
    /// Decided here rather than when the actor gets to the notice, by which time a recipient
    /// who got the dispatch may have disconnected (and would be pushed a message they have).
    /// Never waits: a full mailbox drops the notice (the notification row is committed and
    /// replayed at connect all the same; only its push is lost), counted in
    /// [`NotificationStats::notices_dropped`] and logged.
    pub fn created(&self, created: Created) {
        let Some((to, presence)) = &self.to else {
            return;
        };
        let offline = presence.offline_among(&created.recipients);
        if offline.is_empty() {
            return;
        }
        match to.try_send(Missed { created, offline }) {
            Ok(()) => {}
            Err(SendError::Full(dropped)) => {
                NotificationStats::bump(&self.stats.notices_dropped);
                log::warn!(
                    "notification actor's mailbox is full: no push for notification {}",
                    dropped.created.notification_id
                );
            }
            Err(SendError::Closed(_)) => {}
        }
    }
}

/// The `chat.notifications` frame for a user who just connected; `None` when notifications
/// are disabled (then nothing is sent at all).
#[derive(Message)]
#[rtype(result = "Result<Option<Frame>, ChatError>")]
pub struct PendingFrame {
    pub user_id: i64,
    /// The connection it is for, named in whatever the replay logs.
    pub connection_id: Uuid,
}

/// What the actor is built from.
pub struct NotificationConfig {
    /// For the replays and the push worker's room lookups (reads only; on SQLite they read
    /// while the writer writes, and never wait for the write connection, which the writer
    /// keeps across its commits: `database.sqlite_write_hold`).
    pub reader: DatabaseConnection,
    pub enabled: bool,
    pub mailbox: usize,
    pub bounds: ReplayBounds,
    pub presence: Arc<Presence>,
    pub stats: Arc<NotificationStats>,
    /// The push queue's sending end; `None` when push is off.
    pub push: Option<mpsc::Sender<PushJob>>,
}

pub struct NotificationActor {
    config: NotificationConfig,
}

impl NotificationActor {
    pub fn new(config: NotificationConfig) -> Self {
        NotificationActor { config }
    }

    /// Starts the actor on `arbiter` and, when `transport` is given, the push worker beside
    /// it (the transport is built on the arbiter's thread: an HTTP client of the actix
    /// ecosystem is bound to the thread it runs on). Returns the actor's address and the
    /// handle events use to tell it about new notifications.
    pub fn launch(
        arbiter: &ArbiterHandle,
        mut config: NotificationConfig,
        transport: Option<push::Launch>,
    ) -> (Addr<NotificationActor>, Notices) {
        let stats = config.stats.clone();
        let worker = transport.map(|launch| {
            let (tx, rx) = mpsc::channel(launch.queue_size);
            config.push = Some(tx);
            (launch, rx)
        });
        let push_on = worker.is_some();
        let presence = config.presence.clone();
        let addr = NotificationActor::start_in_arbiter(arbiter, move |_| {
            if let Some((launch, rx)) = worker {
                push::spawn_worker(launch, rx, config.reader.clone(), config.stats.clone());
            }
            NotificationActor::new(config)
        });
        let notices = Notices {
            to: push_on.then(|| (addr.clone().recipient(), presence)),
            stats,
        };
        (addr, notices)
    }
}

impl Actor for NotificationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox);
    }
}

impl Handler<PendingFrame> for NotificationActor {
    type Result = ResponseFuture<Result<Option<Frame>, ChatError>>;

    fn handle(&mut self, msg: PendingFrame, _ctx: &mut Self::Context) -> Self::Result {
        let db = self.config.reader.clone();
        let enabled = self.config.enabled;
        let bounds = self.config.bounds;
        // Each replay runs on its own so that a reconnect storm is limited by the pool, not
        // by this mailbox; each is bounded, so none can hold the pool for long.
        Box::pin(logging::in_connection(msg.connection_id, async move {
            if !enabled {
                return Ok(None);
            }
            replay::frame(&db, msg.user_id, bounds)
                .await
                .map(Some)
                .map_err(|e| ChatError::internal("pending notifications", e))
        }))
    }
}

impl Handler<Missed> for NotificationActor {
    type Result = ();

    fn handle(&mut self, msg: Missed, _ctx: &mut Self::Context) {
        let Some(queue) = &self.config.push else {
            return;
        };
        let id = msg.created.notification_id;
        match queue.try_send(PushJob {
            created: msg.created,
            offline: msg.offline,
        }) {
            Ok(()) => NotificationStats::bump(&self.config.stats.push_queued),
            Err(_) => {
                NotificationStats::bump(&self.config.stats.push_dropped);
                log::warn!("push queue is full: notification {id} is not pushed");
            }
        }
    }
}
