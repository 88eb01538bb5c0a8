//! Reactions, read receipts and delivery receipts committed on the writer's own connection
//! (a SQLite file) or in a pool transaction (PostgreSQL): the same frames, the same errors in
//! the same order, and the writer's sends unaffected when both come at once.

mod common;

use common::messages::{alice_and_bob, rows, send_to};
use common::rooms::{constraint, create_group, denied, not_found};
use common::{create_one_to_one, normalize_times, spawn_app, user_json, Client, TestApp};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, TransactionTrait};
use serde_json::{json, Value};

/// The next `n` frames of a connection, by event type, in arrival order within each type.
async fn frames(client: &mut Client, n: usize) -> std::collections::BTreeMap<String, Vec<Value>> {
    let mut by_type = std::collections::BTreeMap::<String, Vec<Value>>::new();
    for _ in 0..n {
        let mut frame = client.recv().await;
        normalize_times(&mut frame["data"]);
        let event_type = frame["eventType"].as_str().expect("a dispatch").to_string();
        by_type
            .entry(event_type)
            .or_default()
            .push(frame["data"].take());
    }
    by_type
}

async fn unread_count(client: &mut Client) -> Value {
    client.emit("room.list", json!({})).await;
    let list = client.recv_dispatch("roomlist.dispatch").await;
    list[0]["unread_count"].clone()
}

#[tokio::test]
async fn a_reaction_and_a_read_racing_sends_to_the_same_room_are_each_dispatched_once() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let first = send_to(&mut alice, room, "first", &mut [&mut bob]).await;

    // Bob's two changes and Alice's two sends go in together; each connection's events are
    // handled in order, the two connections' in any order.
    bob.emit(
        "message.react",
        json!({"type": "add", "message_id": first["id"], "reaction_content": "👍"}),
    )
    .await;
    bob.emit("message.read", json!({"message_id": first["id"]}))
        .await;
    for content in ["second", "third"] {
        alice
            .emit("message.send", json!({"room_id": room, "content": content}))
            .await;
    }

    let at_alice = frames(&mut alice, 4).await;
    let at_bob = frames(&mut bob, 4).await;
    assert_eq!(at_alice, at_bob);
    // The sends, in order, each once.
    let sent: Vec<&Value> = at_alice["message.dispatch"]
        .iter()
        .map(|m| &m["content"])
        .collect();
    assert_eq!(sent, [&json!("second"), &json!("third")]);
    // The reaction as committed before the read; the read with the reaction.
    let reacted = &at_alice["reaction.dispatch"];
    assert_eq!(reacted.len(), 1);
    let reaction = reacted[0]["message"]["reactions"][0].clone();
    let mut with_reaction = first.clone();
    normalize_times(&mut with_reaction);
    with_reaction["reactions"] = json!([{"id": reaction["id"], "user": user_json(2),
        "reaction_content": "👍", "created_at": "<ts>"}]);
    assert_eq!(
        reacted[0],
        json!({"status": "successful", "type": "add", "message": with_reaction})
    );
    let mut read = with_reaction.clone();
    read["read_receipts"] = json!([{"reader": user_json(2), "read_at": "<ts>"}]);
    assert_eq!(at_alice["readreceipt.dispatch"], [read]);
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;

    let db = app.db().await;
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 1);
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 1);
    assert_eq!(rows::<entity::message::Entity>(&db).await, 3);
    // Bob read the first; the two sent meanwhile still count for him.
    assert_eq!(unread_count(&mut bob).await, json!(2));
}

#[tokio::test]
async fn reads_reactions_and_acknowledgements_of_a_deleted_message_answer_4004_and_store_nothing() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let gone = send_to(&mut alice, room, "soon gone", &mut [&mut bob]).await;
    let kept = send_to(&mut alice, room, "kept", &mut [&mut bob]).await;
    alice
        .emit(
            "message.modify",
            json!({"action": "delete", "message_id": [gone["id"]]}),
        )
        .await;
    alice.recv_dispatch("messagemodification.dispatch").await;
    bob.recv_dispatch("messagemodification.dispatch").await;

    for (event_type, data) in [
        ("message.read", json!({"message_id": gone["id"]})),
        (
            "message.read",
            json!({"message_id": [kept["id"], gone["id"]]}),
        ),
        (
            "message.react",
            json!({"type": "add", "message_id": gone["id"], "reaction_content": "👍"}),
        ),
        (
            "message.react",
            json!({"type": "remove", "message_id": gone["id"]}),
        ),
        (
            "message.acknowledged",
            json!({"message_id": [kept["id"], gone["id"]]}),
        ),
    ] {
        bob.refused(event_type, data, not_found()).await;
    }
    alice.assert_nothing_pending().await;
    let db = app.db().await;
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::message_delivery::Entity>(&db).await, 0);
    assert_eq!(unread_count(&mut bob).await, json!(1));
}

#[tokio::test]
async fn a_bulk_read_across_rooms_with_one_not_the_callers_stores_nothing_then_reads_the_rest() {
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    let ac = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    let from_alice = send_to(&mut alice, ab, "from alice", &mut [&mut bob]).await;
    let from_carol = send_to(&mut carol, bc, "from carol", &mut [&mut bob]).await;
    let not_bobs = send_to(&mut carol, ac, "not for bob", &mut [&mut alice]).await;

    bob.refused(
        "message.read",
        json!({"message_id": [from_alice["id"], from_carol["id"], not_bobs["id"]]}),
        denied("User is not authorized to access this message"),
    )
    .await;
    for client in [&mut alice, &mut carol] {
        client.assert_nothing_pending().await;
    }
    assert_eq!(
        rows::<entity::read_receipt::Entity>(&app.db().await).await,
        0
    );

    bob.emit(
        "message.read",
        json!({"message_id": [from_alice["id"], from_carol["id"]]}),
    )
    .await;
    let mut at_bob = frames(&mut bob, 2).await;
    let mut in_ab = alice.recv_dispatch("readreceipt.dispatch").await;
    let mut in_bc = carol.recv_dispatch("readreceipt.dispatch").await;
    normalize_times(&mut in_ab);
    normalize_times(&mut in_bc);
    let mut at_bob = at_bob.remove("readreceipt.dispatch").expect("two arrays");
    at_bob.sort_by_key(|frame| frame[0]["room"]["id"] != json!(ab));
    assert_eq!(at_bob, [in_ab.clone(), in_bc.clone()]);
    for (frame, message) in [(&in_ab, &from_alice), (&in_bc, &from_carol)] {
        let mut expected = message.clone();
        normalize_times(&mut expected);
        expected["read_receipts"] = json!([{"reader": user_json(2), "read_at": "<ts>"}]);
        assert_eq!(frame, &json!([expected]));
    }
    for client in [&mut alice, &mut bob, &mut carol] {
        client.assert_nothing_pending().await;
    }
    // Both of Bob's rooms are read; nothing counts for him any more.
    bob.emit("room.list", json!({})).await;
    let list = bob.recv_dispatch("roomlist.dispatch").await;
    let unread: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["unread_count"])
        .collect();
    assert_eq!(unread, [&json!(0), &json!(0)]);
}

#[tokio::test]
async fn a_change_refused_by_the_database_leaves_the_writes_after_it_working() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let message = send_to(&mut alice, room, "read me", &mut [&mut bob]).await;
    bob.emit("message.read", json!({"message_id": message["id"]}))
        .await;
    bob.recv_dispatch("readreceipt.dispatch").await;
    alice.recv_dispatch("readreceipt.dispatch").await;

    // The unique receipt refuses the second read: rolled back, 4005.
    bob.refused(
        "message.read",
        json!({"message_id": message["id"]}),
        constraint(),
    )
    .await;
    // A send (the writer's batch), a reaction and an acknowledgement (changes) still commit.
    let after = send_to(&mut alice, room, "after", &mut [&mut bob]).await;
    bob.emit(
        "message.react",
        json!({"type": "add", "message_id": after["id"], "reaction_content": "👍"}),
    )
    .await;
    bob.recv_dispatch("reaction.dispatch").await;
    alice.recv_dispatch("reaction.dispatch").await;
    bob.emit("message.acknowledged", json!({"message_id": after["id"]}))
        .await;
    let delivered = alice.recv_dispatch("messagedelivered.dispatch").await;
    assert_eq!(delivered[0]["delivered_to"], json!(["user2"]));
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
    let db = app.db().await;
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 1);
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 1);
    assert_eq!(rows::<entity::message_delivery::Entity>(&db).await, 1);
}

#[tokio::test]
async fn members_acknowledging_the_same_messages_at_once_are_all_answered() {
    let app = spawn_app().await;
    let [mut alice, b, c, d, e, f, g, h] = app.users([1, 2, 3, 4, 5, 6, 7, 8]).await;
    let mut members = [b, c, d, e, f, g, h];
    let mut others: Vec<&mut Client> = members.iter_mut().collect();
    let room = create_group(&mut alice, &[2, 3, 4, 5, 6, 7, 8], &mut others).await;
    let rounds = 20;
    for round in 0..rounds {
        let mut ids = Vec::new();
        for n in 0..3 {
            let content = format!("round {round}, message {n}");
            ids.push(send_to(&mut alice, room, &content, &mut others).await["id"].clone());
        }
        // Two members react to each: every message has three notifications to settle.
        for reactor in others.iter_mut().take(2) {
            for id in &ids {
                reactor
                    .emit(
                        "message.react",
                        json!({"type": "add", "message_id": id, "reaction_content": "👍"}),
                    )
                    .await;
            }
        }
        for _ in 0..6 {
            alice.recv_dispatch("reaction.dispatch").await;
            for member in others.iter_mut() {
                member.recv_dispatch("reaction.dispatch").await;
            }
        }
        // Everyone but the author acknowledges all three at once.
        for member in others.iter_mut() {
            member
                .emit("message.acknowledged", json!({"message_id": ids}))
                .await;
        }
        for _ in 0..others.len() {
            let delivered = alice.recv_dispatch("messagedelivered.dispatch").await;
            assert_eq!(delivered.as_array().map(Vec::len), Some(3));
        }
    }
    alice.assert_nothing_pending().await;
    for member in others.iter_mut() {
        member.assert_nothing_pending().await;
    }
    let db = app.db().await;
    assert_eq!(
        rows::<entity::message_delivery::Entity>(&db).await,
        rounds * 3 * 7
    );
    // Every notification but the reactions' is settled; those are still owed to Alice.
    assert_eq!(
        rows::<entity::notification::Entity>(&db).await,
        rounds * 3 * 2
    );
    // The settled ones went with their release rows.
    assert_references_hold(&db).await;
}

/// Every row's references hold: on SQLite, `PRAGMA foreign_key_check` finds nothing (the
/// writer's connection runs the changes with foreign keys off, their statements checking for
/// themselves); PostgreSQL never lets a row dangle.
async fn assert_references_hold(db: &DatabaseConnection) {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return;
    }
    let dangling = db
        .query_all_raw(sea_orm::Statement::from_string(
            DatabaseBackend::Sqlite,
            "PRAGMA foreign_key_check",
        ))
        .await
        .expect("foreign_key_check");
    let mut tables = std::collections::BTreeMap::<String, usize>::new();
    for row in &dangling {
        *tables
            .entry(row.try_get_by_index::<String>(0).expect("a table"))
            .or_default() += 1;
    }
    assert!(
        tables.is_empty(),
        "rows with a dangling reference: {tables:?}"
    );
}

/// The server's counters, read in the test's process: its HTTP workers may be waiting for the
/// test's write lock.
fn statements(app: &TestApp) -> common::Scrape {
    common::Scrape::parse(&app.state().metrics.render().expect("metrics"))
}

/// The three answers of Carol (user 3) to a message of Alice's in a group of Alice, Bob and
/// Carol.
fn carols_answers(message: &Value) -> [(&'static str, Value); 3] {
    [
        (
            "message.react",
            json!({"type": "add", "message_id": message["id"], "reaction_content": "👍"}),
        ),
        ("message.read", json!({"message_id": message["id"]})),
        (
            "message.acknowledged",
            json!({"message_id": [message["id"]]}),
        ),
    ]
}

/// Alice (1), Bob (2) and Carol (3), connected, in a group.
async fn alice_bob_and_carol(app: &TestApp) -> ([Client; 3], uuid::Uuid) {
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let room = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    ([alice, bob, carol], room)
}

#[tokio::test]
async fn a_reaction_a_read_and_an_acknowledgement_by_a_user_deleted_meanwhile_answer_4004_and_store_nothing(
) {
    // Arrange: a message of Alice's; then Carol is deleted as `chatd users delete` deletes
    // her, behind the server's back, while her connection stays open and her room's actor
    // still counts her in.
    let app = spawn_app().await;
    let ([mut alice, mut bob, mut carol], room) = alice_bob_and_carol(&app).await;
    let message = send_to(&mut alice, room, "hello", &mut [&mut bob, &mut carol]).await;
    let db = app.db().await;
    let txn = db.begin().await.expect("begin");
    assert!(chatd::store::users::delete(&txn, 3).await.expect("delete"));
    txn.commit().await.expect("commit");

    // Act / Assert: each of her answers references her user row: 4004, as its foreign key
    // answers, and nothing is stored or told.
    for (event_type, data) in carols_answers(&message) {
        carol.refused(event_type, data, not_found()).await;
    }
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::message_delivery::Entity>(&db).await, 0);
    assert_references_hold(&db).await;
    // Bob's answers, which reference a user who exists, are stored.
    bob.emit("message.read", json!({"message_id": message["id"]}))
        .await;
    alice.recv_dispatch("readreceipt.dispatch").await;
    bob.recv_dispatch("readreceipt.dispatch").await;
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 1);
}

#[tokio::test]
async fn a_reaction_a_read_and_an_acknowledgement_of_a_message_deleted_meanwhile_answer_4004_and_store_nothing(
) {
    // Arrange: Alice, Bob and Carol in a group.
    let app = spawn_app().await;
    let ([mut alice, mut bob, mut carol], room) = alice_bob_and_carol(&app).await;
    let db = app.db().await;
    let selects = "chatd_db_query_duration_seconds_count{statement=\"select\"}";

    for (n, kind) in ["message.react", "message.read", "message.acknowledged"]
        .into_iter()
        .enumerate()
    {
        let message = send_to(
            &mut alice,
            room,
            &format!("m{n}"),
            &mut [&mut bob, &mut carol],
        )
        .await;
        let (event_type, data) = carols_answers(&message)
            .into_iter()
            .find(|(event_type, _)| *event_type == kind)
            .expect("an answer of that kind");
        // Act: the message's rows are deleted in a transaction of the test's own that
        // commits only once the server has read the message as live (its gate): the change's
        // own transaction then finds it gone (SQLite: it waits for the test's write lock;
        // PostgreSQL: its foreign key check, or its own read, waits for the row's).
        let txn = db.begin().await.expect("begin");
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                DatabaseBackend::Postgres => "DELETE FROM messages WHERE id = $1",
                _ => "DELETE FROM messages WHERE id = ?",
            },
            [common::assert_uuid(&message["id"]).into()],
        ))
        .await
        .expect("delete the message");
        let before = statements(&app).value(selects);
        carol.emit(event_type, data).await;
        app.eventually("the gate has read the message", || async {
            statements(&app).value(selects) > before
        })
        .await;
        txn.commit().await.expect("commit");

        // Assert: 4004, nothing stored, nobody told.
        assert_eq!(carol.recv().await, not_found(), "{event_type}");
        alice.assert_nothing_pending().await;
        bob.assert_nothing_pending().await;
    }
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::message_delivery::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::notification::Entity>(&db).await, 0);
    assert_references_hold(&db).await;
}

#[tokio::test]
async fn the_acknowledgement_that_settles_a_notification_takes_its_release_rows_with_it() {
    // Arrange: a message of Alice's, owed to Bob and Carol.
    let app = spawn_app().await;
    let ([mut alice, mut bob, mut carol], room) = alice_bob_and_carol(&app).await;
    let message = send_to(&mut alice, room, "hello", &mut [&mut bob, &mut carol]).await;
    let db = app.db().await;

    // Act: Bob acknowledges it (a release row, still owed to Carol), then Carol.
    bob.emit(
        "message.acknowledged",
        json!({"message_id": [message["id"]]}),
    )
    .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;
    assert_eq!(rows::<entity::notification::Entity>(&db).await, 1);
    assert_eq!(rows::<entity::notification_release::Entity>(&db).await, 1);
    carol
        .emit(
            "message.acknowledged",
            json!({"message_id": [message["id"]]}),
        )
        .await;
    let delivered = alice.recv_dispatch("messagedelivered.dispatch").await;

    // Assert: nobody is owed it any more: the notification is gone, and its release row
    // with it.
    assert_eq!(delivered[0]["delivered_to"], json!(["user2", "user3"]));
    assert_eq!(rows::<entity::notification::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::notification_release::Entity>(&db).await, 0);
    assert_references_hold(&db).await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.assert_nothing_pending().await;
    }
}
