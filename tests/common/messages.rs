//! Fixtures for the message tests: a one-to-one chat with its users connected, sending and
//! checking that every other connection got the same dispatch, history. (Error frames are
//! built with the helpers of `super::rooms`.)

use serde_json::{json, Value};
use uuid::Uuid;

use super::rooms::rule;
use super::{create_one_to_one, Client, TestApp};

/// `["“<s>” is not a valid UUID."]`.
pub fn not_a_uuid(s: &str) -> Value {
    rule(&format!("\u{201c}{s}\u{201d} is not a valid UUID."))
}

/// Alice (user 1) and Bob (user 2), connected, in a one-to-one chat.
pub async fn alice_and_bob(app: &TestApp) -> (Client, Client, Uuid) {
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    (alice, bob, room)
}

/// Sends `data` as `message.send` and returns the `message.dispatch` the sender got; every
/// connection in `others` must have received exactly the same.
pub async fn send_with(sender: &mut Client, data: Value, others: &mut [&mut Client]) -> Value {
    sender.emit("message.send", data).await;
    let sent = sender.recv_dispatch("message.dispatch").await;
    for other in others.iter_mut() {
        assert_eq!(other.recv_dispatch("message.dispatch").await, sent);
    }
    sent
}

/// Sends plain `content` to `room`; see [`send_with`].
pub async fn send_to(
    sender: &mut Client,
    room: Uuid,
    content: &str,
    others: &mut [&mut Client],
) -> Value {
    send_with(sender, json!({"room_id": room, "content": content}), others).await
}

/// Asks for `room`'s history (`paginate` as given, if any) and returns the dispatch's `data`.
pub async fn history(client: &mut Client, room: Uuid, paginate: Option<Value>) -> Value {
    let mut data = json!({"room_id": room});
    if let Some(paginate) = paginate {
        data["paginate"] = paginate;
    }
    client.emit("room.messages", data).await;
    client.recv_dispatch("roommessages.dispatch").await
}

/// The ids of a history answer's messages, in order.
pub fn history_ids(answer: &Value) -> Vec<Value> {
    answer["data"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {answer}"))
        .iter()
        .map(|m| m["id"].clone())
        .collect()
}

/// The keys of an object, in wire order (the harness keeps JSON key order).
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// The next dispatch of `event_type` on every listed connection: the same frame on each.
/// Returns its `data`.
pub async fn recv_on_all(event_type: &str, clients: &mut [&mut Client]) -> Value {
    let (first, rest) = clients.split_first_mut().expect("at least one connection");
    let data = first.recv_dispatch(event_type).await;
    for client in rest {
        assert_eq!(client.recv_dispatch(event_type).await, data);
    }
    data
}

/// `reactor` adds `emoji` to `message`; every connection in `others` must hear the same
/// `reaction.dispatch`. Returns its `data`.
pub async fn react_to(
    reactor: &mut Client,
    message: &Value,
    emoji: &str,
    others: &mut [&mut Client],
) -> Value {
    reactor
        .emit(
            "message.react",
            json!({"type": "add", "message_id": message["id"], "reaction_content": emoji}),
        )
        .await;
    let frame = reactor.recv_dispatch("reaction.dispatch").await;
    assert_eq!(recv_on_all("reaction.dispatch", others).await, frame);
    frame
}

/// The `notification_type` of each pending notification of `room`, in order.
pub fn pending_kinds(pending: &Value, room: Uuid) -> Vec<Value> {
    pending[room.to_string()]
        .as_array()
        .unwrap_or_else(|| panic!("nothing pending for {room}: {pending}"))
        .iter()
        .map(|n| n["notification_type"].clone())
        .collect()
}

/// How many rows the table of `E` holds.
pub async fn rows<E>(db: &sea_orm::DatabaseConnection) -> u64
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::PaginatorTrait;
    E::find().count(db).await.expect("count rows")
}

/// About `len` characters of markup that sanitising grows far past six-fold: 30 unclosed
/// formatting elements, then paragraphs; the HTML parser re-opens all 30 in each paragraph.
pub fn crafted_markup(len: usize) -> String {
    let mut crafted: String = (0..30).map(|i| format!("<b class={i}>")).collect();
    crafted.insert_str(0, "<p>");
    while crafted.len() + 4 <= len {
        crafted.push_str("<p>x");
    }
    crafted
}

/// The refusal of content whose sanitised form would be longer than `most` characters.
pub fn overgrown(most: usize) -> Value {
    super::rooms::field(
        "content",
        &format!("Ensure this field has no more than {most} characters once sanitised."),
    )
}
