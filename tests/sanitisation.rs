//! The sanitiser is what the wire sees: rows of messages.md §6 sent with `message.send` over
//! real WebSockets come back in the dispatch to every member, and are stored, exactly as the
//! table says.

mod common;

use common::{assert_uuid, create_one_to_one, normalize_times, send_message, spawn_app, user_json};
use serde_json::json;

#[tokio::test]
async fn sent_content_is_dispatched_and_stored_as_the_spec_table_says() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    for (input, content) in [
        (
            "&amp; &copy; &nbsp; &#169; &bogus;",
            "&amp; &copy; &nbsp; &#169; &amp;bogus;",
        ),
        (
            r#"<a href="https://example.com/?a=1&b=2">q</a>"#,
            r#"<a href="https://example.com/?a=1&amp;b=2">q</a>"#,
        ),
        (r#"<a href="javascript:alert(1)">link</a>"#, "<a>link</a>"),
        ("<<b>>", "&lt;<b>&gt;</b>"),
        (r#"<img src="x" onerror="alert(1)">"#, ""),
        // The spec's row keeps `alert(1)`; DECISIONS 29 drops the text inside <script>.
        ("Hello<br><script>alert(1)</script>World", "Hello<br>World"),
        ("emoji 👍 ok", "emoji 👍 ok"),
        // Step 2 trims before sanitising.
        ("  Tom & Jerry \n", "Tom &amp; Jerry"),
    ] {
        let mut sent = send_message(&mut alice, room, input).await;
        assert_eq!(
            bob.recv_dispatch("message.dispatch").await,
            sent,
            "{input:?}"
        );

        let id = assert_uuid(&sent["id"]);
        let stored = chatd::store::messages::find_many(&app.db().await, &[id])
            .await
            .expect("stored message");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].content, content, "stored for {input:?}");

        normalize_times(&mut sent);
        assert_eq!(
            sent,
            json!({"id": id, "room": {"id": room}, "sender": user_json(1),
                   "read_receipts": [], "reactions": [], "attachments": [],
                   "parent_message": null, "forwarded_from": null, "delivered_to": [],
                   "content": content, "is_deleted": false,
                   "created_at": "<ts>", "updated_at": "<ts>",
                   "is_forwarded": false, "is_edited": false}),
            "dispatched for {input:?}"
        );
    }
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
}
