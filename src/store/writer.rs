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
//!
//! Committed where it was handed over (`database.writer_thread = "adaptive"`,
//! [`Writer::try_submit`]): a job that is a plain message, handed over while the writer has no
//! job at all (none queued, none waiting for room in the queue, no batch of its own running:
//! [`Shared::in_flight`] is 0), its own connection free and the pool's write connection idle
//! or still held for it ([`Own`]), is committed as a batch of one on the submitter's thread, the
//! same folded batch on the same connection, and answered there. A send at window 1 then costs no hand-over to the writer's
//! thread and back. How the guarantees hold: the job is claimed (0 to 1 jobs in flight) only
//! while this thread holds the writer's own connection, which the writer's thread holds for
//! each of its batches, so no job handed over earlier is still to be committed, and none handed
//! over later commits before it; everything that may wait (the connection, the pool's
//! connection) is only ever tried, so the submitter's thread never waits for the writer; a
//! failing commit leaves nothing written and hands the job to the writer's queue, where it is
//! run again as any failing batch is (alone, in a savepoint); a stopped writer has closed its
//! connection, so no job is committed past the stop. A submitter whose jobs come faster than
//! one commit each (a room with an earlier send not yet fanned out) hands them over with
//! [`Writer::try_queue`], which never commits in place: with the pool's write connection kept
//! at hand (`database.sqlite_write_hold`) a busy room would otherwise commit every send alone
//! on its own thread, where the writer's thread commits them in batches beside its fan-out.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_rt::ArbiterHandle;
use futures_util::FutureExt;
use sea_orm::sqlx::{postgres::PgConnection, Connection};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify};

use super::direct::Direct;
use super::exec::{Lite, Tx};
use super::messages::{self, Planned, References, Written};
use super::script::{Held, Script};
use super::{QueryObserver, StoreError};
use crate::config::{DatabaseSettings, WriterThread};

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
    shared: Arc<Shared>,
}

/// How the writer queues, batches and commits ([`Writer::launch`]).
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Jobs the queue holds (`database.write_queue`).
    pub queue: usize,
    /// Most jobs in one batch (`database.write_batch_max`).
    pub batch_max: usize,
    /// Whether a submitter may commit in the writer's place (`database.writer_thread =
    /// "adaptive"`).
    pub inline: bool,
    /// How long the pool's write connection stays with the writer's own connection once
    /// taken (`database.sqlite_write_hold`; zero: given back after each commit). See [`Own`].
    pub hold: Duration,
}

impl WriterOptions {
    pub fn from_settings(settings: &DatabaseSettings) -> WriterOptions {
        WriterOptions {
            queue: settings.write_queue,
            batch_max: settings.write_batch_max,
            inline: settings.writer_thread == WriterThread::Adaptive,
            hold: Duration::from_secs_f64(settings.sqlite_write_hold),
        }
    }
}

/// What the writer's thread and the submitters that commit in its place share.
struct Shared {
    db: DatabaseConnection,
    /// The writer's own connection, and the pool's write connection while it is held for it:
    /// held by the writer's thread for each batch (whichever connection the batch runs on), by
    /// a submitter for a commit in its place, by a message change ([`Writer::transaction`]).
    own: Mutex<Own>,
    /// Whether `direct` was opened at all (a SQLite file).
    has_direct: bool,
    observe: Option<QueryObserver>,
    /// Jobs handed over and not yet answered: queued, waiting for room in the queue, in the
    /// writer's batch, or committing in a submitter's place. Counted before a job enters the
    /// queue, uncounted once it has been answered (or given back, or dropped by a stopped
    /// writer): a job may be committed in its submitter's place only when it is 0.
    in_flight: AtomicUsize,
    /// Whether a submitter may commit in the writer's place (`database.writer_thread =
    /// "adaptive"`).
    inline: bool,
    /// How long [`Own::token`] is kept once taken (zero: given back after each commit).
    hold: Duration,
    /// Told when [`Own::token`] is taken and when the writer ends: what [`give_back`] waits for.
    taken: Notify,
    committed: watch::Sender<u64>,
}

/// The writer's own connection, and the pool's write connection held for it.
///
/// Every commit on `direct` holds the pool's write connection, unused, so that no transaction
/// of the pool runs beside it (see [`super::direct`]). sqlx pings a connection on its way back
/// to the pool (sqlx 0.9, `return_to_pool`: a command to its worker thread and the answer
/// back), so giving it back after each commit cost two thread wake-ups a send at window 1,
/// and the next send found it not back yet and went to the writer's queue
/// (docs/performance.md, "No ping per commit"). So it is kept across commits and given back
/// by [`give_back`] once `hold` has passed since it was taken: a transaction of the pool
/// (a room created, a member added, a session's row) waits at most that long for it while
/// sends keep committing, and sqlx's pool is fair, so it has the connection before the
/// writer takes it again. The writer gives it back itself before a batch of its own that runs
/// through the pool, and as it ends.
struct Own {
    /// `None` on PostgreSQL or an in-memory database, and once the writer has ended.
    direct: Option<Direct>,
    token: Token,
}

/// The pool's write connection, held unused for commits on [`Own::direct`], and when it was
/// taken.
#[derive(Default)]
struct Token(Option<(Held, Instant)>);

impl Token {
    /// Held for a commit: kept from an earlier commit, or taken now (waiting for it).
    async fn take(&mut self, shared: &Shared) -> Result<(), DbErr> {
        if self.0.is_none() {
            let held = Held::token(&shared.db).await?;
            self.taken(shared, held);
        }
        Ok(())
    }

    /// [`Token::take`] without waiting: `false` if the connection is not idle in the pool.
    fn try_take(&mut self, shared: &Shared) -> bool {
        if self.0.is_none() {
            let Some(held) = Held::try_token(&shared.db) else {
                return false;
            };
            self.taken(shared, held);
        }
        true
    }

    fn taken(&mut self, shared: &Shared, held: Held) {
        self.0 = Some((held, Instant::now()));
        if !shared.hold.is_zero() {
            shared.taken.notify_one();
        }
    }

    /// After a commit: the connection goes back now unless it is kept (`hold`).
    fn committed(&mut self, shared: &Shared) {
        if shared.hold.is_zero() {
            self.give_back();
        }
    }

    /// Gives the connection back to the pool (sqlx pings it, on this thread's runtime).
    fn give_back(&mut self) {
        self.0 = None;
    }

    /// When it is to go back: `hold` after it was taken; `None` when not held.
    fn due(&self, hold: Duration) -> Option<Instant> {
        self.0.as_ref().map(|(_, since)| *since + hold)
    }
}

/// One job counted in [`Shared::in_flight`] until dropped, also on a panic, unless handed on
/// ([`Counted::keep`]) to whoever uncounts it next (the writer's thread, after its batch).
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn add(in_flight: &'a AtomicUsize) -> Counted<'a> {
        in_flight.fetch_add(1, Ordering::AcqRel);
        Counted(in_flight)
    }

    /// Counted when there was no job at all; `None` otherwise.
    fn first(in_flight: &'a AtomicUsize) -> Option<Counted<'a>> {
        in_flight
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Counted(in_flight))
    }

    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
    /// timing ([`super::observe_queries`]). With `inline`, a job handed over while the writer
    /// is idle may be committed on its submitter's thread (see the module's note).
    pub fn launch(
        arbiter: &ArbiterHandle,
        db: DatabaseConnection,
        direct: Option<Direct>,
        observe: Option<QueryObserver>,
        options: WriterOptions,
    ) -> (Writer, WriterStop) {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let batch_max = options.batch_max.max(1);
        let (stop, stopping) = watch::channel(false);
        let (done, stopped) = oneshot::channel();
        let (committed, commits) = watch::channel(0);
        let has_direct = direct.is_some();
        let shared = Arc::new(Shared {
            db,
            has_direct,
            own: Mutex::new(Own {
                direct,
                token: Token::default(),
            }),
            observe,
            in_flight: AtomicUsize::new(0),
            inline: options.inline,
            hold: options.hold,
            taken: Notify::new(),
            committed,
        });
        let ours = shared.clone();
        arbiter.spawn_fn(move || {
            if has_direct && !ours.hold.is_zero() {
                actix_rt::spawn(give_back(ours.clone()));
            }
            actix_rt::spawn(async move {
                run(&ours, rx, batch_max, stopping).await;
                // Between batches, and after any commit in a submitter's place: no
                // transaction of its own is open. Taken, it is closed to them too.
                let mut own = ours.own.lock().await;
                if let Some(direct) = own.direct.take() {
                    direct.close();
                }
                own.token.give_back();
                drop(own);
                ours.taken.notify_one();
                let _ = done.send(());
            });
        });
        let writer = Writer {
            queue: tx,
            commits,
            shared,
        };
        (writer, WriterStop { stop, stopped })
    }

    /// Changes after each batch the writer commits; closed once it has ended. What the
    /// checkpointer ([`super::checkpoint`]) waits for.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Jobs handed over and not yet answered (queued, waiting for room in the queue, or in a
    /// batch being committed).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Queues `job` without waiting; gives it back when the queue is full. A job queued to a
    /// writer that has stopped is dropped, which its submitter sees as a closed answer. With
    /// `inline` (see the module's note), a plain message handed over while the writer is idle
    /// is committed and answered here instead, on the caller's thread.
    pub fn try_submit(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        let job = if self.shared.inline {
            match self.commit_here(job) {
                Ok(()) => return Ok(()),
                Err(job) => job,
            }
        } else {
            job
        };
        self.try_queue(job)
    }

    /// [`Writer::try_submit`] that never commits in the writer's place: for a submitter whose
    /// jobs come faster than they are committed one by one (a room with an earlier send not
    /// yet fanned out), so that they join the writer's batches wherever the writer's own
    /// connection or the pool's write connection happen to be free (docs/performance.md, "A
    /// hold that keeps the batches").
    pub fn try_queue(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        let counted = Counted::add(&self.shared.in_flight);
        match self.queue.try_send(job) {
            Ok(()) => {
                counted.keep();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(job)) => Err(job),
        }
    }

    /// Queues `job`, waiting for room in the queue.
    pub async fn submit(&self, job: Box<dyn Job>) {
        // Counted while it waits: no later job is committed in its submitter's place meanwhile.
        let counted = Counted::add(&self.shared.in_flight);
        // A stopped writer drops the job: its submitter sees a closed answer.
        if self.queue.send(job).await.is_ok() {
            counted.keep();
        }
    }

    /// Runs `work` as one transaction and commits it if it succeeds (rolls it back if not).
    /// On a SQLite file the transaction is on the writer's own connection, on this thread,
    /// its statements called straight into SQLite ([`super::exec`]); the connection is held
    /// as for one of the writer's batches (and the pool's write connection with it, unused),
    /// so it never overlaps a batch, a commit in a submitter's place or a pool transaction.
    /// Elsewhere (PostgreSQL, an in-memory database, a stopped writer): a transaction of the
    /// pool. `work` must only run statements on the [`Tx`] it is given: nothing else runs on
    /// this thread's connection, and nothing of the writer's, until it is done. With
    /// [`References::Checked`] the writer's connection keeps foreign keys off, as for its
    /// batches, and the statements check what they reference ([`super::exec::Exec::checks_references`]).
    pub async fn transaction<T, E>(
        &self,
        references: References,
        work: impl AsyncFnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let shared = &*self.shared;
        // Without a connection of its own (PostgreSQL) the writer still holds the lock for
        // each of its batches: no reason to wait for one.
        if !shared.has_direct {
            return pool_transaction(&shared.db, work).await;
        }
        let mut own = shared.own.lock().await;
        let Own { direct, token } = &mut *own;
        let Some(direct) = direct.as_mut() else {
            drop(own);
            return pool_transaction(&shared.db, work).await;
        };
        token.take(shared).await.map_err(StoreError::from)?;
        let result = {
            let checks_references = references == References::Checked;
            let conn = direct.begin(checks_references).map_err(StoreError::from)?;
            let tx = Tx::Own(Lite {
                conn,
                observe: shared.observe.as_ref(),
                checks_references,
            });
            work(&tx).await
        };
        let ended = direct.end(result.is_ok());
        token.committed(shared);
        drop(own);
        ended.map_err(StoreError::from)?;
        if result.is_ok() {
            shared.committed.send_modify(|n| *n = n.wrapping_add(1));
        }
        result
    }

    /// Commits `job` on this thread as a batch of one, if it is a plain message and the writer
    /// is idle, its own connection free and the pool's write connection idle; gives it back
    /// untouched otherwise, to be queued. Never waits for anything. A commit that fails hands
    /// the job to the queue itself (it is still the writer's only job).
    fn commit_here(&self, mut job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        let shared = &*self.shared;
        if shared.in_flight.load(Ordering::Acquire) != 0 {
            return Err(job);
        }
        // The connection first: without it (PostgreSQL, a batch of the writer's running)
        // nothing is planned or built only to be thrown away.
        let Ok(mut own) = shared.own.try_lock() else {
            return Err(job);
        };
        let Own { direct, token } = &mut *own;
        let Some(conn) = direct.as_mut() else {
            return Err(job);
        };
        let Some(planned) = plan(&mut job) else {
            return Err(job);
        };
        let backend = shared.db.get_database_backend();
        let Some((script, mut stored)) = messages::create_many_script_with(
            backend,
            std::slice::from_ref(&planned),
            References::Checked,
        ) else {
            return Err(job);
        };
        let Some(stored) = stored.pop() else {
            return Err(job);
        };
        // Last: a pool connection taken and given back unused would still cost sqlx's ping.
        if !token.try_take(shared) {
            return Err(job);
        }
        let done = self.commit_claimed(job, conn, script, stored);
        token.committed(shared);
        done
    }

    /// [`Writer::commit_here`] once the writer's connection and the pool's are held: claims
    /// the job and commits it, or gives it back.
    fn commit_claimed(
        &self,
        mut job: Box<dyn Job>,
        conn: &mut Direct,
        script: Script,
        stored: Written,
    ) -> Result<(), Box<dyn Job>> {
        let shared = &*self.shared;
        // Claimed while holding the writer's connection: nothing handed over earlier is left,
        // and nothing handed over from now on commits before this job (module's note).
        let Some(counted) = Counted::first(&shared.in_flight) else {
            return Err(job);
        };
        if take_written(&mut job, stored) != Verdict::Keep {
            // The writer runs it (and has it refuse there) as it would any batch.
            return self.hand_on(job, counted);
        }
        match script.run_direct_held(conn, shared.observe.as_ref()) {
            Ok(()) => {
                shared.committed.send_modify(|n| *n = n.wrapping_add(1));
                job.finish(Ok(Instant::now()));
                Ok(())
            }
            Err(e) => {
                log::info!("a message committed in the writer's place failed ({e}); the writer runs it again");
                self.hand_on(job, counted)
            }
        }
    }

    /// Queues a job already counted in [`Shared::in_flight`]; while the caller holds the
    /// writer's connection the writer's thread cannot commit anything before it.
    fn hand_on(&self, job: Box<dyn Job>, counted: Counted<'_>) -> Result<(), Box<dyn Job>> {
        match self.queue.try_send(job) {
            Ok(()) => counted.keep(),
            // Stopped: dropped, seen as a closed answer.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            // Filled by other threads since it was claimed: it cannot wait here.
            Err(mpsc::error::TrySendError::Full(job)) => {
                let e = DbErr::Custom("the writer's queue is full".into());
                job.finish(Err(&e));
            }
        }
        Ok(())
    }
}

async fn run(
    shared: &Shared,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    batch_max: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(batch_max);
    // On PostgreSQL, the connection the batches of plain sends run on ([`commit_folded`]).
    let mut pg: Option<PgConnection> = None;
    loop {
        let taken = tokio::select! {
            taken = queue.recv_many(&mut batch, batch_max) => taken,
            // Only a stop asked for: a dropped `WriterStop` leaves the writer running.
            Ok(_) = stop.wait_for(|stop| *stop) => 0,
        };
        if taken == 0 {
            if let Some(pg) = pg {
                let _ = pg.close().await;
            }
            return;
        }
        // Held for the whole batch, whichever connection it runs on: a job committed in a
        // submitter's place never runs beside it (module's note).
        let mut own = shared.own.lock().await;
        let ended = commit(shared, &mut own, &mut pg, &mut batch).await;
        match &ended {
            Ok(_) => shared.committed.send_modify(|n| *n = n.wrapping_add(1)),
            Err(e) => log::error!("a batch of {} room writes failed: {e}", batch.len()),
        }
        let ended = ended.as_ref().map(|at| *at);
        for job in batch.drain(..) {
            job.finish(ended);
        }
        shared.in_flight.fetch_sub(taken, Ordering::AcqRel);
        drop(own);
        // What the batch's answers woke on this thread runs before the next batch: with the
        // rooms (`database.writer_thread = "rooms"`) their fan-out, and the sends it let their
        // sessions hand over, which then join the next batch instead of waiting behind it.
        tokio::task::yield_now().await;
    }
}

/// Gives the pool's write connection back once `hold` has passed since the writer's own
/// connection took it ([`Own`]), whether or not commits keep coming; ends once the writer has.
/// It sleeps between a connection taken and its due time only: an idle writer never wakes it.
async fn give_back(shared: Arc<Shared>) {
    loop {
        shared.taken.notified().await;
        loop {
            let due = {
                let mut own = shared.own.lock().await;
                if own.direct.is_none() {
                    own.token.give_back();
                    return;
                }
                match own.token.due(shared.hold) {
                    Some(due) if due <= Instant::now() => {
                        own.token.give_back();
                        None
                    }
                    due => due,
                }
            };
            match due {
                Some(due) => tokio::time::sleep_until(due.into()).await,
                None => break,
            }
        }
    }
}

/// Runs every job of `batch` in one transaction and commits it. First straight in the
/// transaction: a savepoint costs two statements per job, and jobs rarely fail. A job that
/// does not keep what it wrote spoils that (on PostgreSQL a failed statement aborts the whole
/// transaction), so the batch is then rolled back and run once more, each job in a savepoint
/// of its own, where a failing job is undone alone.
async fn commit(
    shared: &Shared,
    own: &mut Own,
    pg: &mut Option<PgConnection>,
    batch: &mut [Box<dyn Job>],
) -> Result<Instant, DbErr> {
    if let Some(folded) = commit_folded(shared, own, pg, batch).await {
        return folded;
    }
    // Through the pool: its write connection cannot be held for the writer's own meanwhile.
    own.token.give_back();
    if let Some(at) = commit_plain(&shared.db, batch).await? {
        return Ok(at);
    }
    commit_with_savepoints(&shared.db, batch).await
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
    shared: &Shared,
    own: &mut Own,
    pg: &mut Option<PgConnection>,
    batch: &mut [Box<dyn Job>],
) -> Option<Result<Instant, DbErr>> {
    let (db, observe) = (&shared.db, shared.observe.as_ref());
    let Own { direct, token } = own;
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
            Some(direct) => match token.take(shared).await {
                Ok(()) => {
                    let ran = script.run_direct_held(direct, observe);
                    token.committed(shared);
                    ran
                }
                Err(e) => Err(e),
            },
            None if script.fused() => script.run_own(pg, db, observe).await,
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
    token.give_back();
    Some(commit_with_savepoints(db, batch).await)
}

/// [`Writer::transaction`] on a transaction of the pool.
async fn pool_transaction<T, E>(
    db: &DatabaseConnection,
    work: impl AsyncFnOnce(&Tx<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    let txn = db.begin().await.map_err(StoreError::from)?;
    // A failure drops `txn`, which rolls it back.
    let done = work(&Tx::Pool(&txn)).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(done)
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
