//! The batched write path: the writer commits the room writes queued at a moment in one
//! transaction, a failing write is rolled back alone and answered with its own error, and
//! nobody hears of a write before its batch committed; through the server, concurrent sends
//! into many rooms are all answered and stored, and a room's dispatch order is its history
//! order.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::Arbiter;
use chatd::config::Settings;
use chatd::rooms::room::RoomKind;
use chatd::sanitize::sanitize;
use chatd::store::direct::Direct;
use chatd::store::messages::{NewMessage, Planned, Written, CHECKED_FROM};
use chatd::store::notifications::NotificationKind;
use chatd::store::rooms::NewRoom;
use chatd::store::writer::{Job, JobFuture, Verdict, Writer, WriterOptions, WriterStop};
use chatd::store::{self, QueryObserver, StoreError};
use common::messages::{history, history_ids};
use common::rooms::{create_group, group_json, info_json};
use common::{
    assert_uuid, create_one_to_one, fresh_database, spawn_app, spawn_app_with, Client, TestDatabase,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set, Statement, TransactionTrait,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A write for the test: inserts the user row `id`; the first job of a test can say it runs
/// (`running`) and be held back until `gate` opens, so that the jobs queued meanwhile make
/// the next batch.
struct InsertUser {
    id: i64,
    running: Option<oneshot::Sender<()>>,
    gate: Option<oneshot::Receiver<()>>,
    result: Option<Result<(), StoreError>>,
    told: oneshot::Sender<Result<Instant, String>>,
}

/// The row of user `id`.
fn user_row(id: i64) -> entity::user::ActiveModel {
    let at = store::now();
    entity::user::ActiveModel {
        id: Set(id),
        username: Set(format!("user{id}")),
        email: Set(String::new()),
        first_name: Set(String::new()),
        last_name: Set(String::new()),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

/// Hands `writer` the insert of user `id`, held at a gate once it runs, so that what is
/// handed over meanwhile waits for its batch; the gate's key and the job's answer.
async fn hold_the_writer(
    writer: &Writer,
    id: i64,
) -> (
    oneshot::Sender<()>,
    oneshot::Receiver<Result<Instant, String>>,
) {
    let (mut gated, told) = insert_user(id);
    let (open, gate) = oneshot::channel();
    let (running, runs) = oneshot::channel();
    gated.gate = Some(gate);
    gated.running = Some(running);
    assert!(writer.try_submit(gated).is_ok());
    runs.await.expect("the gated batch runs");
    (open, told)
}

fn insert_user(id: i64) -> (Box<InsertUser>, oneshot::Receiver<Result<Instant, String>>) {
    let (told, answer) = oneshot::channel();
    let job = InsertUser {
        id,
        running: None,
        gate: None,
        result: None,
        told,
    };
    (Box::new(job), answer)
}

impl Job for InsertUser {
    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> JobFuture<'a> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                let _ = running.send(());
            }
            if let Some(gate) = self.gate.take() {
                let _ = gate.await;
            }
            let result = user_row(self.id)
                .insert(txn)
                .await
                .map(drop)
                .map_err(StoreError::from);
            let verdict = Verdict::of(&result);
            self.result = Some(result);
            verdict
        })
    }

    fn finish(self: Box<Self>, batch: Result<Instant, &DbErr>) {
        let told = answer(batch, self.result).map(|(at, ())| at);
        let _ = self.told.send(told);
    }
}

/// What a test job tells its submitter: when its batch committed and what it wrote, or why not.
fn answer<T>(
    batch: Result<Instant, &DbErr>,
    result: Option<Result<T, StoreError>>,
) -> Result<(Instant, T), String> {
    match (batch, result) {
        (Ok(at), Some(Ok(written))) => Ok((at, written)),
        (_, Some(Err(e))) => Err(e.to_string()),
        (Err(e), _) => Err(e.to_string()),
        (Ok(_), None) => Err("never ran".into()),
    }
}

#[actix_rt::test]
async fn a_failing_write_is_rolled_back_alone_and_the_rest_of_its_batch_commits() {
    // Arrange: a migrated database, and a writer whose first job waits at a gate.
    let (settings, db, _database) = migrated_database().await;
    let (arbiter, writer, stop) = start_writer(&settings, &db, None, 64, 64);
    let (open, first_told) = hold_the_writer(&writer, 1).await;

    // Act: while the first batch waits, queue four writes; the third repeats the second's id.
    let mut answers = Vec::new();
    for id in [2, 3, 3, 4] {
        let (job, told) = insert_user(id);
        assert!(writer.try_submit(job).is_ok());
        answers.push(told);
    }
    // Nothing is answered before its batch committed.
    let mut second = answers.remove(0);
    assert!(second.try_recv().is_err());
    open.send(()).expect("the first job waits at its gate");

    // Assert: the duplicate alone failed, with a constraint error; the three others were
    // answered with the one instant their (shared) batch committed, after the first batch.
    let first_at = first_told.await.expect("answered").expect("committed");
    let second_at = second.await.expect("answered").expect("committed");
    let mut rest = Vec::new();
    for told in answers {
        rest.push(told.await.expect("answered"));
    }
    let duplicate = rest.remove(1).expect_err("a duplicate id");
    assert!(duplicate.starts_with("constraint violated"), "{duplicate}");
    assert_eq!(rest, vec![Ok(second_at), Ok(second_at)]);
    assert!(first_at < second_at);
    assert_eq!(user_ids(&db).await, vec![1, 2, 3, 4]);
    stop.stop().await;
    arbiter.stop();
}

/// The ids of the next `n` `message.dispatch` frames of `client`, in order, with their contents.
async fn dispatched(client: &mut Client, n: usize) -> Vec<(Value, Value)> {
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        let data = client.recv_dispatch("message.dispatch").await;
        seen.push((data["id"].clone(), data["content"].clone()));
    }
    seen
}

#[tokio::test]
async fn concurrent_sends_into_many_rooms_are_all_answered_and_all_in_history_in_order() {
    sends_into_many_rooms_all_land_in_order("own").await;
}

/// The same with sends committed on the room actors' thread while the writer is idle
/// (`database.writer_thread = "adaptive"`).
#[tokio::test]
async fn with_commits_where_the_send_is_sends_into_many_rooms_all_land_in_order() {
    sends_into_many_rooms_all_land_in_order("adaptive").await;
}

async fn sends_into_many_rooms_all_land_in_order(writer_thread: &str) {
    const PAIRS: i64 = 8;
    const EACH: usize = 12;
    // Arrange: eight one-to-one rooms, each with its two users connected.
    let app = spawn_app_with(&[("database.writer_thread", writer_thread)]).await;
    let mut pairs: Vec<(Client, Client, Uuid)> = Vec::new();
    for pair in 0..PAIRS {
        let (a, b) = (2 * pair + 1, 2 * pair + 2);
        let mut sender = app.user(a).await;
        let mut receiver = app.user(b).await;
        let room = create_one_to_one(&mut sender, a, &mut receiver, b).await;
        pairs.push((sender, receiver, room));
    }

    // Act: every sender sends all its messages at once, before reading any answer.
    for (sender, _, room) in pairs.iter_mut() {
        for i in 0..EACH {
            sender
                .emit(
                    "message.send",
                    json!({"room_id": room, "content": format!("{room} #{i}")}),
                )
                .await;
        }
    }

    // Assert: each side of each room got every message once, in the order it was sent, and
    // the room's history holds exactly them, newest first.
    for (sender, receiver, room) in pairs.iter_mut() {
        let sent = dispatched(sender, EACH).await;
        let contents: Vec<Value> = sent.iter().map(|(_, c)| c.clone()).collect();
        let expected: Vec<Value> = (0..EACH).map(|i| json!(format!("{room} #{i}"))).collect();
        assert_eq!(contents, expected);
        assert_eq!(dispatched(receiver, EACH).await, sent);
        let mut ids: Vec<Value> = sent.into_iter().map(|(id, _)| id).collect();
        ids.reverse();
        let page = history(sender, *room, Some(json!({"page": 1, "size": EACH}))).await;
        assert_eq!(history_ids(&page), ids);
        sender.assert_nothing_pending().await;
        receiver.assert_nothing_pending().await;
    }
}

#[tokio::test]
async fn a_rooms_dispatch_order_is_its_history_order_under_concurrent_senders() {
    dispatch_order_is_history_order("own").await;
}

/// The same with sends committed on the room actors' thread while the writer is idle
/// (`database.writer_thread = "adaptive"`).
#[tokio::test]
async fn with_commits_where_the_send_is_a_rooms_dispatch_order_is_its_history_order() {
    dispatch_order_is_history_order("adaptive").await;
}

async fn dispatch_order_is_history_order(writer_thread: &str) {
    const EACH: usize = 10;
    // Arrange: a group of six, all connected; five of them will send at once.
    let app = spawn_app_with(&[("database.writer_thread", writer_thread)]).await;
    let [mut alice, mut b, mut c, mut d, mut e, mut listener] = app.users([1, 2, 3, 4, 5, 6]).await;
    let group = create_group(
        &mut alice,
        &[2, 3, 4, 5, 6],
        &mut [&mut b, &mut c, &mut d, &mut e, &mut listener],
    )
    .await;
    let mut senders = [&mut alice, &mut b, &mut c, &mut d, &mut e];

    // Act: the five send interleaved, none waiting for an answer.
    for i in 0..EACH {
        for (n, sender) in senders.iter_mut().enumerate() {
            sender
                .emit(
                    "message.send",
                    json!({"room_id": group, "content": format!("{n}:{i}")}),
                )
                .await;
        }
    }

    // Assert: every member saw the same order, each sender's own messages in the order sent,
    // and the history is that order, newest first.
    let total = EACH * senders.len();
    let order = dispatched(&mut listener, total).await;
    for (n, sender) in senders.iter_mut().enumerate() {
        assert_eq!(dispatched(sender, total).await, order);
        let own: Vec<Value> = order
            .iter()
            .map(|(_, c)| c.clone())
            .filter(|c| c.as_str().is_some_and(|c| c.starts_with(&format!("{n}:"))))
            .collect();
        let expected: Vec<Value> = (0..EACH).map(|i| json!(format!("{n}:{i}"))).collect();
        assert_eq!(own, expected);
    }
    let mut ids: Vec<Value> = order.into_iter().map(|(id, _)| id).collect();
    ids.reverse();
    let page = history(
        &mut listener,
        group,
        Some(json!({"page": 1, "size": total})),
    )
    .await;
    assert_eq!(history_ids(&page), ids);
    listener.assert_nothing_pending().await;
}

/// A plain message for the test, written as the writer writes `message.send`: with the
/// messages queued next to it in multi-row statements ([`Job::message`]), or alone in
/// [`Job::run`] when those fail.
struct SendMessage {
    planned: Planned,
    result: Option<Result<Written, StoreError>>,
    told: oneshot::Sender<Result<(Instant, Written), String>>,
}

type SendAnswer = oneshot::Receiver<Result<(Instant, Written), String>>;

fn send_message(room_id: Uuid, sender_id: i64, content: &str) -> (Box<SendMessage>, SendAnswer) {
    let (told, receiver) = oneshot::channel();
    let message = NewMessage {
        room_id,
        sender_id,
        content: sanitize(content),
        parent_message_id: None,
        forwarded_from_id: None,
        is_forwarded: false,
        media: Vec::new(),
        notification_type: Some(NotificationKind::NewMessage),
    };
    let planned = Planned {
        message,
        recipients: 1,
    };
    let job = Box::new(SendMessage {
        planned,
        result: None,
        told,
    });
    (job, receiver)
}

impl Job for SendMessage {
    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> JobFuture<'a> {
        Box::pin(async move {
            let result = store::messages::create_many(txn, std::slice::from_ref(&self.planned))
                .await
                .map(|mut written| written.remove(0));
            let verdict = Verdict::of(&result);
            self.result = Some(result);
            verdict
        })
    }

    fn message(&mut self) -> Option<Planned> {
        Some(self.planned.clone())
    }

    fn written(&mut self, stored: Written) -> Verdict {
        self.result = Some(Ok(stored));
        Verdict::Keep
    }

    fn finish(self: Box<Self>, batch: Result<Instant, &DbErr>) {
        let _ = self.told.send(answer(batch, self.result));
    }
}

/// A fresh database, migrated, its settings, and the pool writes go through.
async fn migrated_database() -> (Settings, DatabaseConnection, TestDatabase) {
    let (url, database) = fresh_database().await;
    let settings = Settings::load_with(None, &[("database.url", url.as_str())]).expect("settings");
    let db = store::connect(&settings.database).await.expect("connect");
    store::migrate(&db).await.expect("migrate");
    (settings, db, database)
}

/// A writer on an arbiter of its own, writing through `db` and, as the server does, on its own
/// connection to the SQLite file of `settings` (none on PostgreSQL).
fn start_writer(
    settings: &Settings,
    db: &DatabaseConnection,
    observe: Option<QueryObserver>,
    queue: usize,
    batch_max: usize,
) -> (Arbiter, Writer, WriterStop) {
    start_writer_with(settings, db, observe, queue, batch_max, false)
}

/// [`start_writer`], `inline`: committing a job in its submitter's place while idle
/// (`database.writer_thread = "adaptive"`).
fn start_writer_with(
    settings: &Settings,
    db: &DatabaseConnection,
    observe: Option<QueryObserver>,
    queue: usize,
    batch_max: usize,
    inline: bool,
) -> (Arbiter, Writer, WriterStop) {
    let direct = Direct::open(&settings.database).expect("the writer's connection");
    let arbiter = Arbiter::new();
    let (writer, stop) = Writer::launch(
        &arbiter.handle(),
        db.clone(),
        direct,
        observe,
        WriterOptions {
            queue,
            batch_max,
            inline,
            ..WriterOptions::from_settings(&settings.database)
        },
    );
    (arbiter, writer, stop)
}

/// A message of user 1 to `room`, handed to `writer` once it is idle: committed and answered
/// before `try_submit` returns where it commits in the submitter's place (`here`).
async fn to_an_idle_writer(
    writer: &Writer,
    db: &DatabaseConnection,
    here: bool,
    room: Uuid,
    content: &str,
) -> (Instant, Written) {
    until_idle(writer, db).await;
    let (job, mut told) = send_message(room, 1, content);
    assert!(writer.try_submit(job).is_ok());
    if here {
        let answered = told.try_recv();
        assert!(answered.is_ok(), "committed before try_submit returned");
        return answered.expect("answered").expect("committed");
    }
    told.await.expect("answered").expect("committed")
}

/// Waits (bounded, as a hang guard) until the writer has no job and, on SQLite, the pool's
/// write connection is back in the pool: what a commit in the submitter's place needs.
async fn until_idle(writer: &Writer, db: &DatabaseConnection) {
    let sqlite = db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite;
    for _ in 0..2000 {
        let pool_idle = !sqlite || db.get_sqlite_connection_pool().num_idle() > 0;
        if writer.in_flight() == 0 && pool_idle {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the writer never became idle");
}

/// The users `ids`, each committed in a transaction of its own.
async fn add_users(db: &DatabaseConnection, ids: impl IntoIterator<Item = i64>) {
    for id in ids {
        let (mut job, _) = insert_user(id);
        let txn = db.begin().await.expect("begin");
        assert_eq!(job.run(&txn).await, Verdict::Keep);
        txn.commit().await.expect("commit");
    }
}

/// The queries that inserted messages: all of them, and those in the form that checks its
/// references itself (`INSERT OR FAIL`).
#[derive(Default)]
struct Inserts {
    all: AtomicUsize,
    checked: AtomicUsize,
}

/// Counts the queries that insert messages, whether `db` runs them or the writer runs them on a
/// connection of its own (its folded SQLite transactions, told to the observer).
fn count_message_inserts(db: &mut DatabaseConnection) -> (Arc<Inserts>, QueryObserver) {
    let inserts = Arc::new(Inserts::default());
    let counted = inserts.clone();
    let observer: QueryObserver = Arc::new(move |sql: &str, _, _| {
        let checked = sql.starts_with("INSERT OR FAIL INTO messages");
        // On PostgreSQL the INSERT is the first part of one statement (`WITH s0 AS (INSERT …`).
        if checked || sql.contains("INSERT INTO messages") {
            counted.all.fetch_add(1, Ordering::SeqCst);
        }
        if checked {
            counted.checked.fetch_add(1, Ordering::SeqCst);
        }
    });
    let observe = observer.clone();
    db.set_metric_callback(move |info| observe(&info.statement.sql, info.elapsed, info.failed));
    (inserts, observer)
}

/// The ids of `room`'s stored messages, in the order they were written.
async fn stored_in_order(db: &DatabaseConnection, room: Uuid) -> Vec<Uuid> {
    messages_of(db, room)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// A one-to-one room of users `a` and `b`, straight in the database.
async fn pair_room(db: &DatabaseConnection, a: i64, b: i64) -> Uuid {
    let id = Uuid::new_v4();
    let txn = db.begin().await.expect("begin");
    let room = NewRoom {
        id,
        kind: RoomKind::OneToOneChat,
        creator: a,
        members: [a, b].into_iter().collect(),
        profile: None,
        cap: None,
        preferences: json!({}),
    };
    store::rooms::create(&txn, room).await.expect("room");
    txn.commit().await.expect("commit");
    id
}

/// A batch of `queued` (room, sender, content) plain messages: queued while a gated job holds
/// the writer, so that they make the next batch together; their answers, in order.
async fn one_batch(
    writer: &Writer,
    id: i64,
    queued: &[(Uuid, i64, &str)],
) -> Vec<Result<(Instant, Written), String>> {
    let (open, gated_told) = hold_the_writer(writer, id).await;
    let mut answers = Vec::new();
    for (room, sender, content) in queued {
        let (job, told) = send_message(*room, *sender, content);
        assert!(writer.try_submit(job).is_ok());
        answers.push(told);
    }
    open.send(()).expect("the gated job waits at its gate");
    gated_told.await.expect("answered").expect("committed");
    let mut told = Vec::new();
    for answer in answers {
        told.push(answer.await.expect("answered"));
    }
    told
}

#[actix_rt::test]
async fn plain_messages_of_several_rooms_share_statements_and_a_failing_one_is_undone_alone() {
    // Arrange: users 1–4, two rooms, a writer, and a count of the message INSERTs it runs.
    let (settings, mut db, _database) = migrated_database().await;
    add_users(&db, 1..=4).await;
    let (one, two) = (pair_room(&db, 1, 2).await, pair_room(&db, 3, 4).await);
    let (inserts, observer) = count_message_inserts(&mut db);
    let (arbiter, writer, stop) = start_writer(&settings, &db, Some(observer), 64, 64);

    // Act: two batches of messages of both rooms interleaved; the first holds one to a room
    // that does not exist, which fails the multi-row statements.
    let mut told = one_batch(
        &writer,
        10,
        &[
            (one, 1, "one #0"),
            (two, 3, "two #0"),
            (one, 2, "one #1"),
            (Uuid::new_v4(), 1, "nowhere"),
            (two, 4, "two #1"),
            (one, 1, "one #2"),
        ],
    )
    .await;
    let before = inserts.all.load(Ordering::SeqCst);
    let checked_before = inserts.checked.load(Ordering::SeqCst);
    let second = one_batch(&writer, 11, &[(two, 3, "two #2"), (one, 2, "one #3")]).await;
    let second_inserts = inserts.all.load(Ordering::SeqCst) - before;
    let second_checked = inserts.checked.load(Ordering::SeqCst) - checked_before;

    // Assert: the message to nowhere alone failed, as a vanished row; the others committed,
    // each batch at one instant, and the second batch's messages in one INSERT.
    let nowhere = told.remove(3).expect_err("a room that does not exist");
    assert!(nowhere.starts_with("referenced row is gone"), "{nowhere}");
    let mut told: Vec<(Instant, Written)> =
        told.into_iter().map(|t| t.expect("committed")).collect();
    assert!(told.iter().all(|(at, _)| *at == told[0].0));
    let second: Vec<(Instant, Written)> =
        second.into_iter().map(|t| t.expect("committed")).collect();
    assert!(told[0].0 < second[0].0 && second[0].0 == second[1].0);
    assert_eq!(second_inserts, 1);
    // On SQLite the writer's own connection writes even a batch of two in the form that
    // checks its rooms and senders itself.
    let sqlite = settings.database.url.starts_with("sqlite:");
    assert_eq!(second_checked, usize::from(sqlite));
    told.extend(second);
    // Each room's history is its queue order, its counters and notification numbers
    // following it.
    for (room, queued) in [(one, [0, 2, 4, 6].as_slice()), (two, [1, 3, 5].as_slice())] {
        let ids = stored_in_order(&db, room).await;
        let expected: Vec<Uuid> = queued.iter().map(|i| told[*i].1.id).collect();
        assert_eq!(ids, expected);
        let row = entity::room::Entity::find_by_id(room)
            .one(&db)
            .await
            .expect("room")
            .expect("exists");
        assert_eq!(row.messages_posted, queued.len() as i64);
        assert_eq!(row.last_message_id, expected.last().copied());
        assert_eq!(row.notification_seq, queued.len() as i64);
        let mut notices = entity::notification::Entity::find()
            .filter(entity::notification::Column::RoomId.eq(room))
            .all(&db)
            .await
            .expect("notifications");
        notices.sort_by_key(|n| n.seq);
        let numbered: Vec<(i64, Uuid)> = notices.iter().map(|n| (n.seq, n.message_id)).collect();
        let expected: Vec<(i64, Uuid)> = (1..).zip(expected).collect();
        assert_eq!(numbered, expected);
    }
    // Every message is settled for its sender (it does not count as unread for them).
    for (room, user, sent) in [(one, 1, 2), (one, 2, 2), (two, 3, 2), (two, 4, 1)] {
        let member = entity::room_member::Entity::find()
            .filter(entity::room_member::Column::RoomId.eq(room))
            .filter(entity::room_member::Column::UserId.eq(user))
            .one(&db)
            .await
            .expect("member")
            .expect("a member");
        assert_eq!(member.settled, sent);
    }
    stop.stop().await;
    arbiter.stop();
}

/// On PostgreSQL a batch's rows travel as one JSON text per statement
/// (`store::script::Sql::table`); whatever a message's text, it and its time are stored as
/// written, on either database.
#[actix_rt::test]
async fn a_batch_stores_its_messages_text_and_times_exactly_as_written() {
    // Arrange: a room and a writer; texts with what JSON and SQL escape.
    let (settings, db, _database) = migrated_database().await;
    add_users(&db, 1..=2).await;
    let room = pair_room(&db, 1, 2).await;
    let (arbiter, writer, stop) = start_writer(&settings, &db, None, 64, 64);
    let texts = [
        "a quote \" and a backslash \\ and \\\"",
        "a line\nbreak, a tab\t, \u{1} a control",
        "é 漢字 🙂 \u{2028}",
        "$1 ? :name '); DROP TABLE messages; --",
        "{\"column1\": null}",
    ];
    let queued: Vec<(Uuid, i64, &str)> = texts.iter().map(|t| (room, 1, *t)).collect();

    // Act
    let told = one_batch(&writer, 10, &queued).await;

    // Assert: each row holds the sanitised text and the time the writer told.
    for (text, answer) in texts.iter().zip(told) {
        let (_, written) = answer.expect("committed");
        let row = entity::message::Entity::find_by_id(written.id)
            .one(&db)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(row.content, sanitize(text).as_str());
        assert_eq!(
            (row.created_at, row.updated_at),
            (written.created_at, written.created_at)
        );
        assert_eq!((row.room_id, row.sender_id), (room, 1));
        assert!(!row.is_deleted && !row.is_edited && !row.is_forwarded);
        assert_eq!((row.parent_message_id, row.forwarded_from_id), (None, None));
        let notice = entity::notification::Entity::find_by_id(written.notification.expect("one"))
            .one(&db)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            (notice.message_id, notice.created_at),
            (written.id, written.created_at)
        );
    }
    stop.stop().await;
    arbiter.stop();
}

/// On PostgreSQL the writer runs its batches of plain sends on a connection of its own
/// (`store::script::Script::run_own`); when the server ends that connection, the next batch
/// is still written (again through the pool), and so is the one after (on a new connection).
#[actix_rt::test]
async fn sends_are_written_after_the_server_ends_the_writers_own_connection() {
    // Arrange: a room, a writer, and a first batch, which opens the writer's connection.
    let (settings, db, _database) = migrated_database().await;
    if settings.database.url.starts_with("sqlite:") {
        return;
    }
    add_users(&db, 1..=2).await;
    let room = pair_room(&db, 1, 2).await;
    // The writer's own statements, and those of them that failed.
    let fused = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counted = fused.clone();
    let observer: QueryObserver = Arc::new(move |sql: &str, _, failed| {
        if sql.starts_with("WITH") {
            counted[usize::from(failed)].fetch_add(1, Ordering::SeqCst);
        }
    });
    let (arbiter, writer, stop) = start_writer(&settings, &db, Some(observer), 64, 64);
    let first = one_batch(&writer, 10, &[(room, 1, "first")]).await;
    assert!(first.iter().all(Result::is_ok), "{first:?}");

    // Act: the server ends every other connection to the database (the writer's among them),
    // then two more batches.
    db.execute_raw(Statement::from_string(
        DatabaseBackend::Postgres,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    ))
    .await
    .expect("terminate");
    let second = one_batch(&writer, 11, &[(room, 2, "second"), (room, 1, "third")]).await;
    let third = one_batch(&writer, 12, &[(room, 2, "fourth")]).await;

    // Assert: every send committed, in order; the second batch failed on the ended connection
    // (and was written through the pool), the others on the writer's own.
    assert!(
        second.iter().chain(&third).all(Result::is_ok),
        "{second:?} {third:?}"
    );
    let fused = [0, 1].map(|i| fused[i].load(Ordering::SeqCst));
    assert_eq!(fused, [2, 1]);
    assert_eq!(
        history_of(&db, room).await,
        ["first", "second", "third", "fourth"]
    );
    stop.stop().await;
    arbiter.stop();
}

/// With commits in the submitter's place (`database.writer_thread = "adaptive"`): a plain
/// message handed to an idle writer is committed and answered before `try_submit` returns (on
/// a SQLite file; elsewhere it is queued as always); one handed over while a batch runs waits
/// its turn behind it; one that fails there (its room does not exist) is handed to the writer
/// and refused alone; one handed over with `try_queue` is committed by the writer's thread even
/// when it is idle; after the writer stopped, nothing more is committed.
#[actix_rt::test]
async fn an_idle_writer_commits_a_message_where_it_is_handed_over_and_a_busy_one_queues_it() {
    // Arrange: users 1–2, their room, and a writer that commits in its submitters' place.
    let (settings, db, _database) = migrated_database().await;
    add_users(&db, 1..=2).await;
    let room = pair_room(&db, 1, 2).await;
    let (arbiter, writer, stop) = start_writer_with(&settings, &db, None, 64, 64, true);
    let here = Direct::open(&settings.database).expect("open").is_some();

    // Act and assert: an idle writer; the message is answered at once where there is a file.
    let first = to_an_idle_writer(&writer, &db, here, room, "at once").await;

    // A busy writer (a gated batch): the message waits for it, then commits after it.
    let (open, gated_told) = hold_the_writer(&writer, 3).await;
    let (job, mut queued) = send_message(room, 2, "behind the batch");
    assert!(writer.try_submit(job).is_ok());
    assert!(
        queued.try_recv().is_err(),
        "not answered before the batch ahead"
    );
    open.send(()).expect("the gated job waits at its gate");
    let gated_at = gated_told.await.expect("answered").expect("committed");
    let queued = queued.await.expect("answered").expect("committed");
    assert!(gated_at <= queued.0);

    // A message to a room that does not exist fails where it is handed over, and is refused
    // alone by the writer; the next one commits where it is handed over again.
    until_idle(&writer, &db).await;
    let (job, nowhere) = send_message(Uuid::new_v4(), 1, "nowhere");
    assert!(writer.try_submit(job).is_ok());
    let nowhere = nowhere.await.expect("answered").expect_err("no such room");
    assert!(nowhere.starts_with("referenced row is gone"), "{nowhere}");
    let last = to_an_idle_writer(&writer, &db, here, room, "at once again").await;

    // Handed over with `try_queue` (a room with a send not yet fanned out): committed by the
    // writer's thread even though the writer is idle.
    until_idle(&writer, &db).await;
    let (job, told) = send_message(room, 2, "queued while idle");
    let (job, planned_on) = OnThread::wrap(job);
    assert!(writer.try_queue(job).is_ok());
    let queued_idle = told.await.expect("answered").expect("committed");
    let planned_on = planned_on.await.expect("planned");
    assert_ne!(planned_on, std::thread::current().id());

    // After the stop: dropped, never committed.
    stop.stop().await;
    let (job, after) = send_message(room, 2, "after the stop");
    assert!(writer.try_submit(job).is_ok());
    assert!(after.await.is_err(), "a stopped writer answers nothing");
    arbiter.stop();

    // The room's history is the order they were handed over in, and only those.
    let ids = stored_in_order(&db, room).await;
    assert_eq!(ids, [first.1.id, queued.1.id, last.1.id, queued_idle.1.id]);
    let row = entity::room::Entity::find_by_id(room)
        .one(&db)
        .await
        .expect("room")
        .expect("exists");
    assert_eq!(row.messages_posted, 4);
}

/// A job that tells on which thread its message was planned (where it is committed).
struct OnThread {
    job: Box<dyn Job>,
    planned_on: Option<oneshot::Sender<std::thread::ThreadId>>,
}

impl OnThread {
    fn wrap(job: Box<dyn Job>) -> (Box<OnThread>, oneshot::Receiver<std::thread::ThreadId>) {
        let (planned_on, told) = oneshot::channel();
        let job = Box::new(OnThread {
            job,
            planned_on: Some(planned_on),
        });
        (job, told)
    }
}

impl Job for OnThread {
    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> JobFuture<'a> {
        self.job.run(txn)
    }

    fn message(&mut self) -> Option<Planned> {
        if let Some(planned_on) = self.planned_on.take() {
            let _ = planned_on.send(std::thread::current().id());
        }
        self.job.message()
    }

    fn written(&mut self, stored: Written) -> Verdict {
        self.job.written(stored)
    }

    fn finish(self: Box<Self>, batch: Result<Instant, &DbErr>) {
        self.job.finish(batch)
    }
}

/// The writer's connection checkpoints its WAL after `database.sqlite_wal_autocheckpoint`
/// pages (SQLite only: PostgreSQL has no such pragma).
#[tokio::test]
async fn the_write_connection_checkpoints_after_the_configured_wal_pages() {
    for (overrides, expected) in [
        (vec![], 10_000),
        (vec![("database.sqlite_wal_autocheckpoint", "123")], 123),
    ] {
        let app = common::spawn_app_with(&overrides).await;
        if !app.settings.database.url.starts_with("sqlite:") {
            return;
        }
        let pages = sqlite_pragma(&app.state().db, "wal_autocheckpoint").await;
        assert_eq!(pages, expected);
    }
}

/// With `database.sqlite_checkpoint_delay`, the checkpointer copies what the writer committed
/// into the database file on a connection of its own, while the write connection checkpoints
/// nothing (`sqlite_wal_autocheckpoint` = 0 here): the database file alone, without its WAL,
/// then holds the message sent (SQLite only).
#[tokio::test]
async fn the_checkpointer_copies_committed_sends_into_the_database_file() {
    let app = common::spawn_app_with(&[
        ("database.sqlite_wal_autocheckpoint", "0"),
        ("database.sqlite_checkpoint_delay", "0.05"),
    ])
    .await;
    let Some(file) = app
        .settings
        .database
        .url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .map(std::path::PathBuf::from)
    else {
        return;
    };
    let (mut alice, mut bob) = (app.user(1).await, app.user(2).await);
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    common::send_message(&mut alice, room, "checkpointed").await;

    let copy = std::env::temp_dir().join(format!("chatd-checkpointed-{}.db", Uuid::new_v4()));
    app.eventually("the database file alone holds the message", || {
        database_file_holds(&file, &copy, "checkpointed")
    })
    .await;
    remove_sqlite_files(&copy);
}

/// Every send answered is in the write-ahead log as a crash would leave it: the database
/// file and its log copied at that instant (no checkpoint has copied anything: both are off)
/// and opened afresh, which recovers the log frame by frame, checking every checksum, hold
/// every message, long ones (pages of their own) among short ones (SQLite only). The writer's
/// connection gathers a commit's frames into one write (`database.sqlite_wal_write_bytes`); a
/// limit smaller than a page writes them a frame at a time, and 0 as SQLite does.
#[tokio::test]
async fn every_answered_send_is_in_the_log_a_crash_would_leave() {
    for limit in ["1048576", "100", "0"] {
        let app = common::spawn_app_with(&[
            ("database.sqlite_wal_autocheckpoint", "0"),
            ("database.sqlite_checkpoint_delay", "0"),
            ("database.sqlite_wal_write_bytes", limit),
        ])
        .await;
        let Some(file) = sqlite_file_of(&app) else {
            return;
        };
        let (mut alice, mut bob) = (app.user(1).await, app.user(2).await);
        let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

        let mut sent = 0;
        for n in 0..30 {
            let content = if n % 7 == 3 {
                format!("{n} {}", "x".repeat(9_000))
            } else {
                format!("message {n}")
            };
            common::send_message(&mut alice, room, &content).await;
            sent += 1;
            let copy = std::env::temp_dir().join(format!("chatd-crashed-{}.db", Uuid::new_v4()));
            let (messages, check) = after_a_crash(&file, &copy).await;
            remove_sqlite_files(&copy);
            assert_eq!(
                (messages, check.as_str()),
                (sent, "ok"),
                "limit {limit}, send {n}"
            );
        }
    }
}

/// The SQLite file of `app`'s database; `None` on PostgreSQL.
fn sqlite_file_of(app: &common::TestApp) -> Option<std::path::PathBuf> {
    app.settings
        .database
        .url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .map(std::path::PathBuf::from)
}

/// The messages in `file` and its write-ahead log as they are now, copied to `copy` and
/// opened there (SQLite recovers the log), and what `PRAGMA integrity_check` says of it.
async fn after_a_crash(file: &std::path::Path, copy: &std::path::Path) -> (i64, String) {
    remove_sqlite_files(copy);
    std::fs::copy(file, copy).expect("copy the database file");
    std::fs::copy(
        format!("{}-wal", file.display()),
        format!("{}-wal", copy.display()),
    )
    .expect("copy its log");
    let url = format!("sqlite://{}?mode=rw", copy.display());
    let db = sea_orm::Database::connect(url)
        .await
        .expect("open the copy");
    let one = |sql: &str| {
        let db = &db;
        let sql = sql.to_string();
        async move {
            db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql))
                .await
                .expect("query")
                .expect("a row")
        }
    };
    let messages: i64 = one("SELECT count(*) FROM messages")
        .await
        .try_get_by_index(0)
        .expect("a count");
    let check: String = one("PRAGMA integrity_check")
        .await
        .try_get_by_index(0)
        .expect("a verdict");
    db.close().await.ok();
    (messages, check)
}

/// Whether `file`, copied without the WAL beside it (what checkpoints have copied into it so
/// far), holds a message with this content.
async fn database_file_holds(
    file: &std::path::Path,
    copy: &std::path::Path,
    content: &str,
) -> bool {
    remove_sqlite_files(copy);
    if std::fs::copy(file, copy).is_err() {
        return false;
    }
    let url = format!("sqlite://{}?mode=rwc", copy.display());
    let Ok(db) = sea_orm::Database::connect(url).await else {
        return false;
    };
    let found = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT count(*) FROM messages WHERE content = ?",
            [content.into()],
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<i64>(0).ok());
    db.close().await.ok();
    found == Some(1)
}

fn remove_sqlite_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[actix_rt::test]
async fn a_batch_whose_statements_fail_leaves_no_transaction_open_on_the_write_connection() {
    // Arrange: users 1 and 2 in a room, a writer, and the users' count.
    let (settings, db, _database) = migrated_database().await;
    add_users(&db, 1..=2).await;
    let room = pair_room(&db, 1, 2).await;
    let (arbiter, writer, stop) = start_writer(&settings, &db, None, 64, 64);

    // Act: a batch of plain messages whose statements fail (the last one's room does not
    // exist), then a write straight through the pool the writer writes through, and a
    // transaction begun on it.
    let told = one_batch(
        &writer,
        10,
        &[(room, 1, "kept"), (Uuid::new_v4(), 2, "nowhere")],
    )
    .await;
    let (mut after, _) = insert_user(11);
    let txn = db
        .begin()
        .await
        .expect("a transaction begins: none is left open");
    assert_eq!(after.run(&txn).await, Verdict::Keep);
    txn.commit().await.expect("commit");
    // Outside any transaction of its own.
    let outside = user_row(12).insert(&db).await;

    // Assert: the failing message alone failed; what was written after it is committed: a
    // connection of its own (another pool) sees it, as it sees the kept message.
    assert!(told[0].is_ok(), "{:?}", told[0]);
    assert!(told[1].is_err());
    outside.expect("a write outside a transaction");
    let other = store::connect(&settings.database).await.expect("connect");
    assert_eq!(user_ids(&other).await, vec![1, 2, 10, 11, 12]);
    assert_eq!(history_of(&other, room).await, vec!["kept".to_string()]);
    stop.stop().await;
    arbiter.stop();
}

#[actix_rt::test]
async fn a_large_batch_checks_its_rooms_and_senders_itself_and_leaves_foreign_keys_on() {
    // Arrange: users 1–4 in two rooms, and a writer. Batches of `CHECKED_FROM` plain messages
    // or more are written by statements that check their rooms and senders themselves, with
    // SQLite's foreign keys off for their transaction.
    let (settings, db, _database) = migrated_database().await;
    add_users(&db, 1..=4).await;
    let (one, two) = (pair_room(&db, 1, 2).await, pair_room(&db, 3, 4).await);
    let (arbiter, writer, stop) = start_writer(&settings, &db, None, 256, 256);
    let each = CHECKED_FROM;
    let contents: Vec<String> = (0..each).map(|i| format!("m{i}")).collect();
    let mut queued: Vec<(Uuid, i64, &str)> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                (one, 1, c.as_str())
            } else {
                (two, 3, c.as_str())
            }
        })
        .collect();

    // Act: a batch with one more, to a room that does not exist; one with one more, from a
    // user who does not exist; then the same sends alone.
    let mut nowhere = queued.clone();
    nowhere.insert(3, (Uuid::new_v4(), 1, "nowhere"));
    let mut nowhere = one_batch(&writer, 10, &nowhere).await;
    let mut nobody = queued.clone();
    nobody.insert(6, (one, 99, "nobody"));
    let mut nobody = one_batch(&writer, 11, &nobody).await;
    queued.iter_mut().for_each(|q| q.2 = "again");
    let again = one_batch(&writer, 12, &queued).await;

    // Assert: each stray alone failed, as a vanished row, and wrote nothing; the others
    // committed, each batch at one instant.
    for refused in [nowhere.remove(3), nobody.remove(6)] {
        let refused = refused.expect_err("a room or sender that does not exist");
        assert!(refused.starts_with("referenced row is gone"), "{refused}");
    }
    for batch in [nowhere, nobody, again] {
        let at: Vec<Instant> = batch.into_iter().map(|t| t.expect("committed").0).collect();
        assert!(at.iter().all(|a| *a == at[0]));
    }
    let other = store::connect(&settings.database).await.expect("connect");
    let sent: Vec<String> = (0..each).step_by(2).map(|i| format!("m{i}")).collect();
    let again = vec!["again".to_string(); sent.len()];
    let expected_one = [sent.clone(), sent, again].concat();
    assert_eq!(history_of(&other, one).await, expected_one);
    assert_eq!(history_of(&other, two).await.len(), 3 * (each / 2));
    // The write connection is back to checking foreign keys: a membership of a user who does
    // not exist is refused.
    if settings.database.url.starts_with("sqlite:") {
        assert_eq!(sqlite_pragma(&db, "foreign_keys").await, 1);
    }
    let stray = entity::room_member::ActiveModel {
        room_id: Set(one),
        user_id: Set(99),
        created_at: Set(store::now()),
        ..Default::default()
    }
    .insert(&db)
    .await;
    assert!(stray.is_err(), "a membership of nobody was stored");
    stop.stop().await;
    arbiter.stop();
}

/// Every user's id, in order.
async fn user_ids(db: &DatabaseConnection) -> Vec<i64> {
    let mut ids: Vec<i64> = entity::user::Entity::find()
        .all(db)
        .await
        .expect("users")
        .into_iter()
        .map(|u| u.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The contents of `room`'s messages, oldest first.
async fn history_of(db: &DatabaseConnection, room: Uuid) -> Vec<String> {
    messages_of(db, room)
        .await
        .into_iter()
        .map(|m| m.content)
        .collect()
}

/// `room`'s stored messages, oldest first.
async fn messages_of(db: &DatabaseConnection, room: Uuid) -> Vec<entity::message::Model> {
    let mut stored = entity::message::Entity::find()
        .filter(entity::message::Column::RoomId.eq(room))
        .all(db)
        .await
        .expect("messages");
    stored.sort_by_key(|m| (m.created_at, m.id));
    stored
}

/// The value of SQLite's pragma `name` on a connection of `db`'s pool.
async fn sqlite_pragma(db: &DatabaseConnection, name: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!("PRAGMA {name}"),
    ))
    .await
    .expect("pragma")
    .expect("a row")
    .try_get_by_index(0)
    .expect("a number")
}

/// On a SQLite file the writer commits its batches of plain sends on a connection of its own
/// (`store::direct`): what it wrote is read through the pool, in history, and again after the
/// server restarts on the same file.
#[tokio::test]
async fn sends_the_writer_commits_on_its_own_connection_are_read_through_the_pool_and_after_a_restart(
) {
    // Arrange: Alice and Bob in a one-to-one chat.
    let mut app = spawn_app().await;
    let sqlite = app.settings.database.url.starts_with("sqlite:");
    let (mut alice, mut bob) = (app.user(1).await, app.user(2).await);
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    // SQLite's count of the commits other connections made, as the pool's connection sees it.
    let version = if sqlite {
        sqlite_pragma(&app.state().db, "data_version").await
    } else {
        0
    };

    // Act: three sends, one at a time.
    let mut sent = Vec::new();
    for content in ["one", "two", "three"] {
        let dispatch = common::send_message(&mut alice, room, content).await;
        assert_eq!(bob.recv_dispatch("message.dispatch").await, dispatch);
        sent.push(dispatch["id"].clone());
    }

    // Assert: another connection than the pool's committed them (on SQLite); the pool reads
    // them, history lists them, and so it does after a restart.
    if sqlite {
        assert_ne!(
            sqlite_pragma(&app.state().db, "data_version").await,
            version
        );
    }
    let pool = app.state().db.clone();
    let expected: Vec<String> = ["one", "two", "three"].map(String::from).to_vec();
    assert_eq!(history_of(&pool, room).await, expected);
    // History pages are newest first.
    sent.reverse();
    assert_eq!(history_ids(&history(&mut bob, room, None).await), sent);
    drop(pool);
    drop((alice, bob));
    app.restart().await;
    // Bob acknowledged none: the three notifications are replayed as he connects.
    let (mut bob, pending) = app.connect(2).await;
    let replayed: Vec<Value> = pending[room.to_string()]
        .as_array()
        .expect("the room's notifications")
        .iter()
        .rev()
        .map(|n| n["message"]["id"].clone())
        .collect();
    assert_eq!(replayed, sent);
    assert_eq!(history_ids(&history(&mut bob, room, None).await), sent);
    assert_eq!(history_of(&app.state().db, room).await, expected);
}

/// A transaction of the pool that reads before it writes, as `message.read` or `room.create`
/// do: it counts the users, then inserts user `id`.
async fn read_then_write(db: &DatabaseConnection, id: i64) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    entity::user::Entity::find().all(&txn).await?;
    tokio::task::yield_now().await;
    user_row(id).insert(&txn).await?;
    txn.commit().await
}

/// The writer's own connection and the pool's write the same SQLite file: while the writer
/// commits sends on its connection, transactions of the pool that read before they write
/// (which SQLite fails at once, busy timeout or not, if another connection commits between
/// their read and their write) all commit, and every send lands.
#[actix_rt::test]
async fn writes_through_the_pool_and_the_writers_own_connection_at_once_all_land() {
    // Arrange: users 1 and 2 in a room, and a writer on its own connection.
    let (settings, db, _database) = migrated_database().await;
    add_users(&db, 1..=2).await;
    let room = pair_room(&db, 1, 2).await;
    let (arbiter, writer, stop) = start_writer(&settings, &db, None, 64, 8);
    let rounds: i64 = 200;

    // Act: 200 sends, in batches of at most 8, and meanwhile 200 transactions of the pool,
    // one after another.
    let sends = async {
        let mut answers = Vec::new();
        for i in 0..rounds {
            let (job, told) = send_message(room, 1 + i % 2, &format!("m{i}"));
            writer.submit(job).await;
            answers.push(told);
        }
        let mut told = Vec::new();
        for answer in answers {
            told.push(answer.await.expect("answered"));
        }
        told
    };
    let pool_writes = async {
        let mut written = Vec::new();
        for id in 0..rounds {
            written.push(read_then_write(&db, 1000 + id).await);
        }
        written
    };
    let (told, pool_writes) = tokio::join!(sends, pool_writes);

    // Assert: every one committed.
    for (id, written) in pool_writes.into_iter().enumerate() {
        written.unwrap_or_else(|e| panic!("the pool's write of user {}: {e}", 1000 + id));
    }
    for answer in told {
        answer.expect("committed");
    }
    let other = store::connect(&settings.database).await.expect("connect");
    assert_eq!(user_ids(&other).await.len(), 2 + rounds as usize);
    assert_eq!(history_of(&other, room).await.len(), rounds as usize);
    stop.stop().await;
    arbiter.stop();
}

/// While a member's sends keep committing on the writer's own connection, which keeps the
/// pool's write connection from one commit to the next (`database.sqlite_write_hold`), rooms
/// created through the pool and members added (a batch the writer runs through the pool) all
/// complete with the members they were given, and every send lands once, in order: a write
/// through the pool is not starved by the sends, and none fails on SQLite's lock. With each
/// placement of the writer and the rooms.
#[tokio::test]
async fn rooms_created_and_members_added_while_sends_keep_committing_all_land() {
    for (writer_thread, actor_thread) in [
        ("adaptive", "worker"),
        ("own", "actors"),
        ("rooms", "actors"),
    ] {
        writes_through_the_pool_land_beside_sends(writer_thread, actor_thread, Some("0.05")).await;
    }
}

/// The same with the default placement and hold: what a server started without settings does
/// while one member sends at window 1.
#[tokio::test]
async fn with_the_default_hold_rooms_created_and_members_added_beside_window_one_sends_all_land() {
    writes_through_the_pool_land_beside_sends("adaptive", "worker", None).await;
}

async fn writes_through_the_pool_land_beside_sends(
    writer_thread: &str,
    actor_thread: &str,
    hold: Option<&str>,
) {
    const ROOMS: usize = 6;
    const LEAST_SENDS: usize = 20;
    // Arrange: alice and bob in a room of their own; carol, dave and eve connected. A hold
    // long beside a send's commit makes the rooms' writes come while it is held.
    let mut settings = vec![
        ("database.writer_thread", writer_thread),
        ("rooms.actor_thread", actor_thread),
    ];
    settings.extend(hold.map(|hold| ("database.sqlite_write_hold", hold)));
    let app = spawn_app_with(&settings).await;
    let [mut alice, mut bob, mut carol, mut dave, mut eve] = app.users([1, 2, 3, 4, 5]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    let rooms_done = AtomicBool::new(false);

    // Act: alice sends one message after another, each once the one before was dispatched,
    // until carol has created her groups with dave and added eve to each, one at a time.
    let sends = async {
        let mut sent = Vec::new();
        while sent.len() < LEAST_SENDS || !rooms_done.load(Ordering::Acquire) {
            let content = format!("m{}", sent.len());
            let data = common::send_message(&mut alice, pair, &content).await;
            assert_eq!(data["content"], json!(content), "{writer_thread}");
            sent.push(assert_uuid(&data["id"]));
        }
        sent
    };
    let rooms = async {
        let mut made = Vec::new();
        for _ in 0..ROOMS {
            let group = create_group(&mut carol, &[4], &mut [&mut dave]).await;
            carol
                .emit(
                    "room.add_members",
                    json!({"room_id": group, "members": [5]}),
                )
                .await;
            let added = json!({"room": group_json(group, 3, &[3, 4, 5], &[3]),
                               "new_members": ["user5"], "added_by": "user3"});
            for c in [&mut carol, &mut dave, &mut eve] {
                let got = c.recv_normalized("roomaddmembers.dispatch").await;
                assert_eq!(got, added, "{writer_thread}");
            }
            made.push(group);
        }
        rooms_done.store(true, Ordering::Release);
        made
    };
    let (sent, made) = tokio::join!(sends, rooms);

    // Assert: bob got every send once, in order, and the room holds exactly them; each group
    // has its three members.
    let got: Vec<Uuid> = dispatched(&mut bob, sent.len())
        .await
        .iter()
        .map(|(id, _)| assert_uuid(id))
        .collect();
    assert_eq!(got, sent, "{writer_thread}");
    assert_eq!(stored_in_order(&app.db().await, pair).await, sent);
    for group in made {
        eve.emit("room.info", json!({"room_id": group})).await;
        assert_eq!(
            eve.recv_normalized("roominfo.dispatch").await,
            info_json(group_json(group, 3, &[3, 4, 5], &[3]), 0),
            "{writer_thread}"
        );
    }
    for c in [&mut alice, &mut bob, &mut carol, &mut dave, &mut eve] {
        c.assert_nothing_pending().await;
    }
}
