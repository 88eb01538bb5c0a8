//! The writer: one task that owns the room writes' path to the database and commits them in
//! groups. Room actors hand it [`Job`]s; it takes every job queued at that moment (at most
//! `database.write_batch_max`), runs them one after another in ONE transaction, commits once,
//! and only then tells each job how its batch ended. When a job fails, the batch is run again
//! with each job inside a savepoint of its own ([`commit`]). On a SQLite file a batch of plain
//! messages only (every batch of a room with one send in flight) runs on the writer's own
//! connection, SQLite called from the writer's thread, `BEGIN` to `COMMIT` ([`commit_folded`],
//! [`super::direct`]); on PostgreSQL such a batch is one statement, a transaction by itself,
//! on a connection of the writer's own (outside the pool, opened at its first such batch); the
//! other batches run through the pool.
//!
//! Why: on SQLite a commit is the expensive part of a small write (the WAL append and, with
//! `synchronous = FULL`, a sync), and there is one writer at a time anyway; a batch pays it
//! once for many sends, from any rooms. A job that fails (a constraint, a row gone) is rolled
//! back to its savepoint alone and answered with its own error while the rest commit.
//!
//! Guarantees the rooms rely on:
//! - Nothing is answered before the transaction that holds it committed (DECISIONS 31).
//! - Jobs run, commit and are answered in the order they were queued, so a room that queues
//!   its writes in order has them committed, and told, in that order.
//! - A job that panics is rolled back to its savepoint and the writer carries on.
//!
//! The queue is bounded (`database.write_queue`): a full queue makes submitters wait.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Instant;

use actix_rt::ArbiterHandle;
use futures_util::FutureExt;
use sea_orm::sqlx::{postgres::PgConnection, Connection};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot, watch};

use super::direct::Direct;
use super::messages::{self, Planned, References, Written};
use super::QueryObserver;

/// What a job's run asks of the transaction (or savepoint) it ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep what it wrote (release the savepoint).
    Keep,
    /// It failed: undo what it wrote (roll back to the savepoint).
    Discard,
    /// Undo what it wrote and run it once more, in a savepoint (it found a row gone
    /// and will re-read what it relies on). Granted once per job; a second is a `Discard`.
    Retry,
}

impl Verdict {
    /// `Keep` what succeeded, `Discard` what failed.
    pub fn of<T, E>(result: &Result<T, E>) -> Verdict {
        if result.is_ok() {
            Verdict::Keep
        } else {
            Verdict::Discard
        }
    }
}

/// A future a job runs on the writer's thread; it need not be `Send`.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + 'a>>;

/// One write, queued by its submitter. It keeps its own result until [`Job::finish`].
pub trait Job: Send {
    /// Runs the write in `txn` (the batch's transaction, or a savepoint of it). It may be run
    /// again when its batch is (what an earlier run wrote is undone then): each run starts
    /// over and replaces the result of the one before.
    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> JobFuture<'a>;

    /// The batch has ended: committed at that instant, or failed (everything it wrote is
    /// undone). The job answers its submitter.
    fn finish(self: Box<Self>, batch: Result<Instant, &DbErr>);

    /// A job that is one new message without attachments (a plain `message.send`) says so
    /// here, with the message, and is then written with its neighbours in the queue by
    /// multi-row statements ([`messages::create_many`]) instead of [`Job::run`]; then
    /// [`Job::written`] tells it what was stored. `None` (the default): run it.
    fn message(&mut self) -> Option<Planned> {
        None
    }

    /// What the multi-row statements stored for [`Job::message`] (on SQLite's folded path: will
    /// store, told before the query runs; should it fail, the job is run again or its batch
    /// ends failed); the job takes it as it takes the end of a run, and says whether to keep it.
    fn written(&mut self, _stored: Written) -> Verdict {
        Verdict::Discard
    }
}

/// The handle rooms submit jobs through. Cloning it is cheap.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    /// Counts the committed batches; closed once the writer has ended.
    commits: watch::Receiver<u64>,
}

/// Stops the writer between two batches (for shutdown): a batch is never cut off halfway,
/// and no pooled connection is dropped with the writer's thread.
pub struct WriterStop {
    stop: watch::Sender<bool>,
    stopped: oneshot::Receiver<()>,
}

impl WriterStop {
    /// Asks the writer to stop once its current batch has ended, and waits until it has.
    /// Jobs still queued are dropped, which their submitters see as a closed answer.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.stopped.await;
    }
}

impl Writer {
    /// Starts the writer on `arbiter` (a thread of its own in the server: the jobs' futures
    /// stay on that thread); it ends once every handle is dropped and the queue is empty.
    /// `db` must be the pool writes go through ([`super::connect`]); `direct`, the writer's
    /// own connection to the same SQLite file ([`Direct::open`]), runs the folded batches;
    /// `observe`, when given, is told of the folded queries, which bypass `db`'s own statement
    /// timing ([`super::observe_queries`]).
    pub fn launch(
        arbiter: &ArbiterHandle,
        db: DatabaseConnection,
        direct: Option<Direct>,
        observe: Option<QueryObserver>,
        queue: usize,
        batch_max: usize,
    ) -> (Writer, WriterStop) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let batch_max = batch_max.max(1);
        let (stop, stopping) = watch::channel(false);
        let (done, stopped) = oneshot::channel();
        let (committed, commits) = watch::channel(0);
        arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
                let mut direct = direct;
                run(
                    &db,
                    &mut direct,
                    observe,
                    rx,
                    batch_max,
                    stopping,
                    committed,
                )
                .await;
                // Between batches: no transaction of its own is open.
                if let Some(direct) = direct {
                    direct.close();
                }
                let _ = done.send(());
            });
        });
        let writer = Writer { queue: tx, commits };
        (writer, WriterStop { stop, stopped })
    }

    /// Changes after each batch the writer commits; closed once it has ended. What the
    /// checkpointer ([`super::checkpoint`]) waits for.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Queues `job` without waiting; gives it back when the queue is full. A job queued to a
    /// writer that has stopped is dropped, which its submitter sees as a closed answer.
    pub fn try_submit(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        match self.queue.try_send(job) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(job)) => Err(job),
        }
    }

    /// Queues `job`, waiting for room in the queue.
    pub async fn submit(&self, job: Box<dyn Job>) {
        // A stopped writer drops the job: its submitter sees a closed answer.
        let _ = self.queue.send(job).await;
    }
}

async fn run(
    db: &DatabaseConnection,
    direct: &mut Option<Direct>,
    observe: Option<QueryObserver>,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    batch_max: usize,
    mut stop: watch::Receiver<bool>,
    committed: watch::Sender<u64>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(batch_max);
    // On PostgreSQL, the connection the batches of plain sends run on ([`commit_folded`]).
    let mut own: Option<PgConnection> = None;
    loop {
        let taken = tokio::select! {
            taken = queue.recv_many(&mut batch, batch_max) => taken,
            // Only a stop asked for: a dropped `WriterStop` leaves the writer running.
            Ok(_) = stop.wait_for(|stop| *stop) => 0,
        };
        if taken == 0 {
            if let Some(own) = own {
                let _ = own.close().await;
            }
            return;
        }
        let ended = commit(db, direct, &mut own, observe.as_ref(), &mut batch).await;
        match &ended {
            Ok(_) => committed.send_modify(|n| *n = n.wrapping_add(1)),
            Err(e) => log::error!("a batch of {} room writes failed: {e}", batch.len()),
        }
        let ended = ended.as_ref().map(|at| *at);
        for job in batch.drain(..) {
            job.finish(ended);
        }
        // What the batch's answers woke on this thread runs before the next batch: with the
        // rooms (`database.writer_thread = "rooms"`) their fan-out, and the sends it let their
        // sessions hand over, which then join the next batch instead of waiting behind it.
        tokio::task::yield_now().await;
    }
}

/// Runs every job of `batch` in one transaction and commits it. First straight in the
/// transaction: a savepoint costs two statements per job, and jobs rarely fail. A job that
/// does not keep what it wrote spoils that (on PostgreSQL a failed statement aborts the whole
/// transaction), so the batch is then rolled back and run once more, each job in a savepoint
/// of its own, where a failing job is undone alone.
async fn commit(
    db: &DatabaseConnection,
    direct: &mut Option<Direct>,
    own: &mut Option<PgConnection>,
    observe: Option<&QueryObserver>,
    batch: &mut [Box<dyn Job>],
) -> Result<Instant, DbErr> {
    if let Some(folded) = commit_folded(db, direct.as_mut(), own, observe, batch).await {
        return folded;
    }
    if let Some(at) = commit_plain(db, batch).await? {
        return Ok(at);
    }
    commit_with_savepoints(db, batch).await
}

/// A job's run; a panic counts as a failure (the job is undone, the writer carries on).
async fn run_job(job: &mut Box<dyn Job>, txn: &DatabaseTransaction) -> Verdict {
    AssertUnwindSafe(job.run(txn))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            log::error!("a room write panicked; it is rolled back alone");
            Verdict::Discard
        })
}

/// Every job straight in one transaction; `None` (rolled back) as soon as one does not keep
/// what it wrote. A run of consecutive jobs that are plain messages ([`Job::message`]) is
/// written by one call of [`messages::create_many`]: a few statements for the whole run
/// instead of a few per message. If that call fails, the batch is rolled back like for a
/// failing job, and the run with savepoints finds the message at fault by writing them one
/// at a time.
async fn commit_plain(
    db: &DatabaseConnection,
    batch: &mut [Box<dyn Job>],
) -> Result<Option<Instant>, DbErr> {
    let txn = db.begin().await?;
    let mut next = 0;
    while next < batch.len() {
        let mut run = Vec::new();
        while let Some(message) = batch.get_mut(next + run.len()).and_then(plan) {
            run.push(message);
        }
        let kept = if run.is_empty() {
            next += 1;
            run_job(&mut batch[next - 1], &txn).await == Verdict::Keep
        } else {
            let jobs = &mut batch[next..next + run.len()];
            next += run.len();
            match messages::create_many(&txn, &run).await {
                Ok(stored) => jobs
                    .iter_mut()
                    .zip(stored)
                    .all(|(job, stored)| take_written(job, stored) == Verdict::Keep),
                Err(e) => {
                    log::info!(
                        "{} messages written together failed ({e}); they are written one at a time",
                        run.len()
                    );
                    false
                }
            }
        };
        if !kept {
            txn.rollback().await?;
            return Ok(None);
        }
    }
    txn.commit().await?;
    Ok(Some(Instant::now()))
}

/// A batch of plain messages only: on SQLite `BEGIN`, the multi-row statements of
/// [`messages::create_many`] and `COMMIT` as one call on the writer's own connection
/// ([`super::script::Script::run_direct`]), or without one (an in-memory database) as one query
/// ([`super::script::Script::run_committed`]): one round trip to sqlx's worker thread where a
/// transaction of sea-orm's takes three. On PostgreSQL the statements as one, which is a
/// transaction by itself, on a connection the writer keeps ([`super::script::Script::run_own`]):
/// one round trip to the server where `BEGIN`, four statements, `COMMIT` and the pool's two
/// pings took eight or more. The
/// jobs are told what will be stored before it is ([`Job::written`]), so that one refusing it
/// keeps the batch off this path; if the query fails, nothing of it stays written and the
/// batch is run again with savepoints, where each job's run replaces what it was told.
/// `None`: the batch is not such a batch (a job that is not a plain message comes first, or
/// the messages do not fit one statement each), for [`commit_plain`].
async fn commit_folded(
    db: &DatabaseConnection,
    direct: Option<&mut Direct>,
    own: &mut Option<PgConnection>,
    observe: Option<&QueryObserver>,
    batch: &mut [Box<dyn Job>],
) -> Option<Result<Instant, DbErr>> {
    let mut plans = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        plans.push(plan(job)?);
    }
    let backend = db.get_database_backend();
    let (script, stored) = match direct {
        // On its own connection the foreign-keys pragma changes only when the form does, so
        // the statements that check their references cost nothing extra at any size
        // (docs/performance.md, "The writer calls SQLite itself").
        Some(_) => messages::create_many_script_with(backend, &plans, References::Checked),
        None => messages::create_many_script(backend, &plans),
    }?;
    let kept = batch
        .iter_mut()
        .zip(stored)
        .all(|(job, stored)| take_written(job, stored) == Verdict::Keep);
    if kept {
        let ran = match direct {
            Some(direct) => script.run_direct(direct, db, observe).await,
            None if script.fused() => script.run_own(own, db, observe).await,
            None => script.run_committed(db, observe).await,
        };
        match ran {
            Ok(()) => return Some(Ok(Instant::now())),
            Err(e) => log::info!(
                "{} messages written together failed ({e}); they are written one at a time",
                plans.len()
            ),
        }
    }
    Some(commit_with_savepoints(db, batch).await)
}

/// A job's [`Job::message`]; one that panics is left to [`Job::run`].
fn plan(job: &mut Box<dyn Job>) -> Option<Planned> {
    std::panic::catch_unwind(AssertUnwindSafe(|| job.message())).unwrap_or(None)
}

/// A job's [`Job::written`]; a panic counts as a failure, as in [`run_job`].
fn take_written(job: &mut Box<dyn Job>, stored: Written) -> Verdict {
    std::panic::catch_unwind(AssertUnwindSafe(|| job.written(stored))).unwrap_or_else(|_| {
        log::error!("a room write panicked; it is rolled back alone");
        Verdict::Discard
    })
}

async fn commit_with_savepoints(
    db: &DatabaseConnection,
    batch: &mut [Box<dyn Job>],
) -> Result<Instant, DbErr> {
    let txn = db.begin().await?;
    for job in batch.iter_mut() {
        let mut retried = false;
        loop {
            let savepoint = txn.begin().await?;
            match run_job(job, &savepoint).await {
                Verdict::Keep => savepoint.commit().await?,
                Verdict::Discard => savepoint.rollback().await?,
                Verdict::Retry => {
                    savepoint.rollback().await?;
                    // Once: a job that asks again is left rolled back.
                    if !std::mem::replace(&mut retried, true) {
                        continue;
                    }
                }
            }
            break;
        }
    }
    txn.commit().await?;
    Ok(Instant::now())
}
