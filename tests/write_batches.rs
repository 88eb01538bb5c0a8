//! The batched write path: the writer commits the room writes queued at a moment in one
//! transaction, a failing write is rolled back alone and answered with its own error, and
//! nobody hears of a write before its batch committed; through the server, concurrent sends
//! into many rooms are all answered and stored, and a room's dispatch order is its history
//! order.

mod common;

use std::time::Instant;

use actix::Arbiter;
use chatd::config::Settings;
use chatd::store::writer::{Job, JobFuture, Verdict, Writer};
use chatd::store::{self, StoreError};
use common::messages::{history, history_ids};
use common::rooms::create_group;
use common::{create_one_to_one, fresh_database, spawn_app, Client};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, DbErr, EntityTrait, Set};
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
            let at = store::now();
            let row = entity::user::ActiveModel {
                id: Set(self.id),
                username: Set(format!("user{}", self.id)),
                email: Set(String::new()),
                first_name: Set(String::new()),
                last_name: Set(String::new()),
                created_at: Set(at),
                updated_at: Set(at),
            };
            let result = row.insert(txn).await.map(drop).map_err(StoreError::from);
            let verdict = if result.is_ok() {
                Verdict::Keep
            } else {
                Verdict::Discard
            };
            self.result = Some(result);
            verdict
        })
    }

    fn finish(self: Box<Self>, batch: Result<Instant, &DbErr>) {
        let told = match (batch, self.result) {
            (Ok(at), Some(Ok(()))) => Ok(at),
            (_, Some(Err(e))) => Err(e.to_string()),
            (Err(e), _) => Err(e.to_string()),
            (Ok(_), None) => Err("never ran".into()),
        };
        let _ = self.told.send(told);
    }
}

#[actix_rt::test]
async fn a_failing_write_is_rolled_back_alone_and_the_rest_of_its_batch_commits() {
    // Arrange: a migrated database, and a writer whose first job waits at a gate.
    let (url, _database) = fresh_database().await;
    let settings = Settings::load_with(None, &[("database.url", url.as_str())]).expect("settings");
    let db = store::connect(&settings.database).await.expect("connect");
    store::migrate(&db).await.expect("migrate");
    let arbiter = Arbiter::new();
    let (writer, stop) = Writer::launch(&arbiter.handle(), db.clone(), 64, 64);
    let (mut first, first_told) = insert_user(1);
    let (open, gate) = oneshot::channel();
    let (running, runs) = oneshot::channel();
    first.gate = Some(gate);
    first.running = Some(running);
    assert!(writer.try_submit(first).is_ok());
    runs.await.expect("the first batch runs");

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
    let mut ids: Vec<i64> = entity::user::Entity::find()
        .all(&db)
        .await
        .expect("users")
        .into_iter()
        .map(|u| u.id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3, 4]);
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
    const PAIRS: i64 = 8;
    const EACH: usize = 12;
    // Arrange: eight one-to-one rooms, each with its two users connected.
    let app = spawn_app().await;
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
    const EACH: usize = 10;
    // Arrange: a group of six, all connected; five of them will send at once.
    let app = spawn_app().await;
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
