//! A room change as a job for the writer ([`crate::store::writer`]): the change, the room state
//! it is checked against, and where its answer goes once its batch has ended.
//!
//! A change that finds a row it relied on gone (the room, or a member, deleted by another
//! process: `chatd users delete`) asks the writer for one retry; the retry re-reads the room
//! in the batch's transaction first, and the state it found travels back with the answer so
//! that the actor adopts it.

use std::sync::Arc;
use std::time::Instant;

use sea_orm::{DatabaseTransaction, DbErr};
use tokio::sync::oneshot;

use super::changes::{After, Outcome, Write, WriteError};
use super::room::Room;
use crate::protocol::errors::ChatError;
use crate::store::messages::{Planned, Written};
use crate::store::writer::{Job, JobFuture, Verdict};
use crate::store::{self, StoreError};

/// What the actor hears once a change's batch has ended.
pub(crate) struct Landed<T> {
    /// The state re-read after a vanished row, if the change did (only from a committed batch).
    pub reloaded: Option<After>,
    /// The committed outcome and when its batch committed, or why nothing was written.
    pub result: Result<(Outcome<T>, Instant), ChatError>,
}

pub(crate) struct WriteJob<M: Write> {
    msg: M,
    /// The actor's state when the change was queued, shared with the actor (not copied: a
    /// room's member sets are most of what a send's job would otherwise carry and free).
    room: Arc<Room>,
    /// Set once an attempt met a vanished row: the next one re-reads the room first.
    stale: bool,
    reloaded: Option<After>,
    result: Option<Result<Outcome<M::Answer>, WriteError>>,
    reply: oneshot::Sender<Landed<M::Answer>>,
}

impl<M: Write> WriteJob<M> {
    /// The job, and where its [`Landed`] arrives.
    pub(crate) fn new(
        msg: M,
        room: Arc<Room>,
    ) -> (Box<Self>, oneshot::Receiver<Landed<M::Answer>>) {
        let (reply, landed) = oneshot::channel();
        let job = WriteJob {
            msg,
            room,
            stale: false,
            reloaded: None,
            result: None,
            reply,
        };
        (Box::new(job), landed)
    }

    async fn attempt(&mut self, txn: &DatabaseTransaction) -> Verdict {
        if self.stale {
            match store::rooms::load(txn, self.room.id).await {
                Ok(Some(fresh)) => {
                    self.room = Arc::new(fresh.clone());
                    self.reloaded = Some(After::Changed(fresh));
                }
                Ok(None) => {
                    self.reloaded = Some(After::Deleted);
                    self.result = Some(Err(WriteError::Refused(ChatError::NotFound)));
                    return Verdict::Discard;
                }
                Err(e) => {
                    self.result = Some(Err(WriteError::Store(e)));
                    return Verdict::Discard;
                }
            }
        }
        match self.msg.write(txn, &self.room).await {
            Ok(outcome) => {
                self.result = Some(Ok(outcome));
                Verdict::Keep
            }
            Err(WriteError::Stale) if !self.stale => {
                self.stale = true;
                Verdict::Retry
            }
            Err(e) => {
                self.result = Some(Err(e));
                Verdict::Discard
            }
        }
    }
}

impl<M> Job for WriteJob<M>
where
    M: Write + Send + 'static,
    M::Answer: Send,
{
    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> JobFuture<'a> {
        Box::pin(self.attempt(txn))
    }

    fn message(&mut self) -> Option<Planned> {
        // A job that met a vanished row re-reads the room first: only `run` does that.
        if self.stale {
            return None;
        }
        self.msg.planned(&self.room)
    }

    fn written(&mut self, stored: Written) -> Verdict {
        let outcome = self.msg.written(&self.room, stored);
        let verdict = Verdict::of(&outcome);
        self.result = Some(outcome);
        verdict
    }

    fn finish(self: Box<Self>, batch: Result<Instant, &DbErr>) {
        let WriteJob {
            reloaded,
            result,
            reply,
            ..
        } = *self;
        // What a failed batch read saw may include its own undone writes: forget it.
        let reloaded = batch.is_ok().then_some(reloaded).flatten();
        let result = match (batch, result) {
            (Ok(at), Some(Ok(outcome))) => Ok((outcome, at)),
            // Its own refusal stands whatever became of the batch.
            (_, Some(Err(e))) => Err(e.into()),
            (Err(e), _) => Err(StoreError::Db(DbErr::Custom(format!("batch failed: {e}"))).into()),
            (Ok(_), None) => Err(ChatError::internal("room write", "ended without a result")),
        };
        let landed = Landed { reloaded, result };
        // A submitter that stopped waiting (its actor ended) is told nothing.
        let _ = reply.send(landed);
    }
}
