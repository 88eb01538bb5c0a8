//! A connection's consecutive `message.send` events are handed to their room without waiting
//! for each other (`sessions.pipelined_sends`), and still every frame comes out as if they ran
//! one at a time (messages.md §1.5, rooms.md §1.5): every member, the sender's other
//! connections included, gets a connection's sends in the order it sent them; the sender's
//! own error frames and answers sit exactly between the dispatches of the sends around them;
//! any other event waits for the sends before it.

mod common;

use common::messages::history;
use common::rooms::{create_group, denied, field, internal, rule, texts};
use common::{create_one_to_one, spawn_app_with, Client, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use uuid::Uuid;

/// What a test compares of a frame: a message by its room, content and sender (ids and times
/// differ between servers), another dispatch by its type and room, anything else whole.
fn summary(frame: &Value) -> Value {
    let data = &frame["data"];
    match frame["eventType"].as_str() {
        Some("message.dispatch") => json!({"dispatch": "message.dispatch",
            "room": data["room"]["id"], "content": data["content"], "sender": data["sender"]["id"]}),
        Some(event) => json!({"dispatch": event, "room": data["id"]}),
        None => frame.clone(),
    }
}

/// The next `n` frames of `client`, summarised.
async fn next_frames(client: &mut Client, n: usize) -> Vec<Value> {
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        frames.push(summary(&client.recv().await));
    }
    frames
}

fn sent(room: Uuid, content: &str) -> Value {
    json!({"dispatch": "message.dispatch", "room": room, "content": content, "sender": 1})
}

fn heartbeat_ack() -> Value {
    json!({"status": "success"})
}

/// Makes the database refuse to store a message whose content is `boom`: a send that passes
/// every check of the asking side and then fails in the writer's batch.
async fn refuse_boom(app: &TestApp) {
    let db = app.db().await;
    let statements: &[&str] = if app.settings.database.url.starts_with("postgres") {
        &[
            "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN \
             IF NEW.content = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END \
             $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages FOR EACH ROW \
             EXECUTE FUNCTION refuse_boom()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.content = 'boom' \
           BEGIN SELECT RAISE(ABORT, 'boom'); END",
        ]
    };
    for sql in statements {
        db.execute_unprepared(sql)
            .await
            .expect("create the trigger");
    }
}

/// Alice (user 1, two connections), Bob and Carol in a group; Alice and Bob in a one-to-one
/// chat; Bob and Carol in one that Alice is not in. Alice's first connection writes a burst of
/// events without reading; returns what each connection then receives, summarised, with the
/// rooms (group, alice–bob, bob–carol). `writer_thread`: `database.writer_thread`;
/// `actor_thread`: `rooms.actor_thread`.
async fn burst(
    pipelined_sends: &str,
    writer_thread: &str,
    actor_thread: &str,
) -> (Vec<Vec<Value>>, [Uuid; 3]) {
    let app = spawn_app_with(&[
        ("sessions.pipelined_sends", pipelined_sends),
        ("limits.max_content_chars", "20"),
        ("database.writer_thread", writer_thread),
        ("rooms.actor_thread", actor_thread),
    ])
    .await;
    refuse_boom(&app).await;
    let [mut alice, mut alice_too, mut bob, mut carol] = app.users([1, 1, 2, 3]).await;
    let group = create_group(
        &mut alice,
        &[2, 3],
        &mut [&mut alice_too, &mut bob, &mut carol],
    )
    .await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    alice_too.recv_dispatch("roomcreate.dispatch").await;
    let others = create_one_to_one(&mut bob, 2, &mut carol, 3).await;

    let send = |room: Uuid, content: &str| json!({"event_type": "message.send", "data": {"room_id": room, "content": content}});
    let first = [
        send(group, "a"),
        send(group, "longer than twenty characters"),
        send(group, "c"),
        send(others, "not a member"),
        send(group, "e"),
        send(pair, "to bob alone"),
        send(group, "f"),
        json!({"event_type": "session.heartbeat", "data": {}}),
        send(group, "boom"),
        send(group, "g"),
    ];
    let then = [
        json!({"event_type": "message.send", "data": {"room_id": "nope", "content": "h"}}),
        send(group, "i"),
        send(group, "j"),
        json!({"event_type": "room.info", "data": {"room_id": group}}),
        send(group, "k"),
        json!({"event_type": "session.heartbeat", "data": {}}),
    ];
    for event in first {
        alice.send(event).await;
    }
    // Once "g" has reached Bob, Alice's connection has had every chance to write it too: the
    // refusal of "boom" before it must not be held back until her next event.
    let mut bob_frames = next_frames(&mut bob, 6).await;
    assert_eq!(bob_frames[5]["content"], "g");
    for event in then {
        alice.send(event).await;
    }
    bob_frames.extend(next_frames(&mut bob, 3).await);
    let frames = vec![
        next_frames(&mut alice, 16).await,
        next_frames(&mut alice_too, 10).await,
        bob_frames,
        next_frames(&mut carol, 8).await,
    ];
    for client in [&mut alice_too, &mut bob, &mut carol] {
        client.assert_nothing_pending().await;
    }
    (frames, [group, pair, others])
}

async fn the_order_of_a_burst_is_the_order_of_its_events(
    pipelined_sends: &str,
    writer_thread: &str,
    actor_thread: &str,
) {
    let (frames, [group, pair, _]) = burst(pipelined_sends, writer_thread, actor_thread).await;
    let [alice, alice_too, bob, carol]: [Vec<Value>; 4] = frames.try_into().expect("four");
    let room_info = json!({"dispatch": "roominfo.dispatch", "room": group});
    let dispatches = [
        sent(group, "a"),
        sent(group, "c"),
        sent(group, "e"),
        sent(pair, "to bob alone"),
        sent(group, "f"),
        sent(group, "g"),
        sent(group, "i"),
        sent(group, "j"),
        sent(group, "k"),
    ];
    // The refused ones stored nothing: the other members see the sends that passed, in order
    // (and the sender's other connection the room.info answer, which goes to all of them).
    let mut with_info = dispatches.to_vec();
    with_info.insert(8, room_info.clone());
    assert_eq!(alice_too, with_info);
    assert_eq!(bob, dispatches.to_vec());
    let without_pair: Vec<Value> = dispatches
        .iter()
        .filter(|d| d["room"] != json!(pair))
        .cloned()
        .collect();
    assert_eq!(carol, without_pair);
    // The sender: each answer exactly where its event was.
    let too_long = field(
        "content",
        "Ensure this field has no more than 20 characters.",
    );
    let expected = vec![
        sent(group, "a"),
        too_long,
        sent(group, "c"),
        denied(texts::SEND),
        sent(group, "e"),
        sent(pair, "to bob alone"),
        sent(group, "f"),
        heartbeat_ack(),
        // Refused by the database after every check passed: answered in its place.
        internal(),
        sent(group, "g"),
        rule("\u{201c}nope\u{201d} is not a valid UUID."),
        sent(group, "i"),
        sent(group, "j"),
        room_info,
        sent(group, "k"),
        heartbeat_ack(),
    ];
    assert_eq!(alice, expected);
}

#[tokio::test]
async fn a_pipelined_burst_comes_out_in_the_order_of_its_events_for_every_connection() {
    the_order_of_a_burst_is_the_order_of_its_events("8", "own", "actors").await;
}

#[tokio::test]
async fn a_window_of_two_keeps_the_same_order() {
    the_order_of_a_burst_is_the_order_of_its_events("2", "own", "actors").await;
}

/// The writer on the room actors' thread (`database.writer_thread = "rooms"`): the rooms wait
/// while a batch commits, and every frame still comes out in the order of the events, pipelined
/// or one at a time.
#[tokio::test]
async fn with_the_writer_on_the_rooms_thread_a_burst_keeps_the_same_order() {
    the_order_of_a_burst_is_the_order_of_its_events("8", "rooms", "actors").await;
    the_order_of_a_burst_is_the_order_of_its_events("1", "rooms", "actors").await;
}

/// The writer committing a send on the room actors' thread while it is idle
/// (`database.writer_thread = "adaptive"`): at window 1 most sends commit there, pipelined most
/// queue behind a batch, and every frame still comes out in the order of the events.
#[tokio::test]
async fn with_sends_committed_where_they_are_while_the_writer_is_idle_a_burst_keeps_the_same_order()
{
    the_order_of_a_burst_is_the_order_of_its_events("8", "adaptive", "actors").await;
    the_order_of_a_burst_is_the_order_of_its_events("1", "adaptive", "actors").await;
}

/// Each room's actor on the HTTP worker of the connection that first needs it
/// (`rooms.actor_thread = "worker"`): Alice's connection, Bob's and Carol's sit on both of the
/// test server's workers, so some dispatches are flushed where the room is and some cross to
/// the other worker; with the writer committing in the sender's place while it is idle, the
/// commits run on a worker too. Every frame still comes out in the order of the events.
#[tokio::test]
async fn with_rooms_on_their_first_callers_worker_a_burst_keeps_the_same_order() {
    the_order_of_a_burst_is_the_order_of_its_events("8", "adaptive", "worker").await;
    the_order_of_a_burst_is_the_order_of_its_events("1", "adaptive", "worker").await;
    the_order_of_a_burst_is_the_order_of_its_events("8", "own", "worker").await;
}

#[tokio::test]
async fn one_event_at_a_time_gives_the_same_frames_as_pipelining() {
    let (one_at_a_time, _) = burst("1", "own", "actors").await;
    let (pipelined, _) = burst("8", "own", "actors").await;
    // Rooms have new ids on each server: compare with the rooms named by their position.
    let rename = |runs: Vec<Vec<Value>>| -> Vec<Vec<Value>> {
        runs.into_iter()
            .map(|frames| {
                frames
                    .into_iter()
                    .map(|mut f| {
                        if f.get("room").is_some() {
                            f["room"] = json!("<room>");
                        }
                        f
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(rename(one_at_a_time), rename(pipelined));
}

/// Alice and Bob in a group, on a server pipelining 8 sends; Alice has sent `m0`, `m1`, …
/// (`n` of them) without reading.
async fn alice_sends_to_bob(n: usize) -> (TestApp, Client, Client, Uuid) {
    let app = spawn_app_with(&[("sessions.pipelined_sends", "8")]).await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    for i in 0..n {
        let content = format!("m{i}");
        alice
            .emit(
                "message.send",
                json!({"room_id": group, "content": content}),
            )
            .await;
    }
    (app, alice, bob, group)
}

#[tokio::test]
async fn sends_in_flight_when_the_sender_hangs_up_are_dispatched_in_order_if_stored() {
    let (app, alice, mut bob, group) = alice_sends_to_bob(20).await;
    alice.close().await;
    let state = app.state();
    app.eventually("the sender's connection is gone", || {
        let state = state.clone();
        async move { state.presence.connection_count() == 1 }
    })
    .await;
    // Bob's own send is queued behind whatever of Alice's the room still had.
    bob.emit("message.send", json!({"room_id": group, "content": "last"}))
        .await;
    let mut seen = Vec::new();
    loop {
        let got = bob.recv_dispatch("message.dispatch").await;
        if got["content"] == "last" {
            break;
        }
        seen.push(got["content"].clone());
    }
    // A prefix of Alice's sends (those queued before her connection ended), in her order,
    // and exactly what was stored.
    let expected: Vec<Value> = (0..seen.len()).map(|i| json!(format!("m{i}"))).collect();
    assert_eq!(seen, expected);
    let answer = history(&mut bob, group, None).await;
    let mut stored: Vec<Value> = answer["data"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {answer}"))
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    stored.reverse();
    expected
        .iter()
        .chain([&json!("last")])
        .zip(&stored)
        .for_each(|(e, s)| assert_eq!(e, s));
    assert_eq!(stored.len(), seen.len() + 1);
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn an_unknown_event_and_a_malformed_frame_wait_for_the_sends_before_them() {
    let (_app, mut alice, _bob, group) = alice_sends_to_bob(3).await;
    alice.send_text("{not json").await;
    alice
        .emit("message.send", json!({"room_id": group, "content": "m3"}))
        .await;
    alice.emit("no.such.event", json!({})).await;
    let mut frames = next_frames(&mut alice, 6).await;
    let unknown = frames.pop().expect("six frames");
    let malformed = frames.remove(3);
    assert_eq!(
        frames,
        vec![
            sent(group, "m0"),
            sent(group, "m1"),
            sent(group, "m2"),
            sent(group, "m3")
        ]
    );
    assert_eq!(
        malformed,
        rule("Invalid frame: not valid JSON (key must be a string at line 1 column 2)")
    );
    assert_eq!(unknown, json!({"error": "invalid event type"}));
    alice.assert_nothing_pending().await;
}
