//! `room.messages`: history newest first in the full message shape, the reference's pagination
//! quirks (clamping, the echoed page, `"0"`, floats, sizes), every error of messages.md §13.6,
//! and what keeps a page cheap: the history index and a fixed number of queries per page.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chatd::store::messages::{history as history_query, history_page, Newest};
use common::messages::{
    alice_and_bob, history, history_ids, keys, not_a_uuid, react_to, recv_on_all, send_to,
    send_with,
};
use common::rooms::{denied, internal, not_found, rule};
use common::{assert_uuid, create_one_to_one, spawn_app, Client};
use sea_orm::{ConnectionTrait, DatabaseBackend, QuerySelect, QueryTrait, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn history_is_newest_first_in_the_full_shape_to_every_device_of_the_asker() {
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut alice_laptop = app.user(1).await;
    let mut carol = app.user(3).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    let first = send_to(&mut alice, ab, "one", &mut [&mut bob, &mut alice_laptop]).await;
    let from_carol = send_to(&mut carol, bc, "from carol", &mut [&mut bob]).await;
    let forward = send_with(
        &mut bob,
        json!({"room_id": ab, "content": "from carol",
               "extra_fields": {"forwarded_from_id": from_carol["id"]}}),
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    let reply = send_with(
        &mut alice,
        json!({"room_id": ab, "content": "re: one",
               "extra_fields": {"parent_message_id": first["id"]}}),
        &mut [&mut bob, &mut alice_laptop],
    )
    .await;

    // Any accepted spelling of the room id; the answer names it canonically.
    alice
        .emit(
            "room.messages",
            json!({"room_id": ab.simple().to_string().to_uppercase()}),
        )
        .await;
    let answer = recv_on_all(
        "roommessages.dispatch",
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    assert_eq!(
        answer,
        json!({"data": {"room_id": ab, "messages": [reply, forward, first]}})
    );
    assert_eq!(keys(&answer), ["data"]);
    assert_eq!(keys(&answer["data"]), ["room_id", "messages"]);
    assert_eq!(answer["data"]["messages"][1]["forwarded_from"], from_carol);
    bob.assert_nothing_pending().await;
    carol.assert_nothing_pending().await;
}

/// Sends `n` messages to `room` and returns their ids newest first (history order).
async fn fill(sender: &mut Client, other: &mut Client, room: Uuid, n: usize) -> Vec<Value> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(send_to(sender, room, &format!("m{i}"), &mut [&mut *other]).await["id"].clone());
    }
    ids.reverse();
    ids
}

/// The pagination keys of an answer (everything but `data`).
fn pagination(answer: &Value) -> Value {
    let mut keys = answer.clone();
    keys.as_object_mut().unwrap().remove("data");
    keys
}

#[tokio::test]
async fn pages_follow_the_reference_paginator() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let ids = fill(&mut alice, &mut bob, room, 23).await;
    let page_of = |page: Value, size: Value| Some(json!({"page": page, "size": size}));

    // (page, size) asked → messages served, then the pagination keys.
    let cases = [
        (
            page_of(json!(1), json!(5)),
            &ids[0..5],
            json!({"has_next": true, "has_previous": false, "next_page_number": 2,
                   "prev_page_number": null, "page": 1, "size": 5}),
        ),
        (
            page_of(json!(3), json!(5)),
            &ids[10..15],
            json!({"has_next": true, "has_previous": true, "next_page_number": 4,
                   "prev_page_number": 2, "page": 3, "size": 5}),
        ),
        (
            page_of(json!(5), json!(5)),
            &ids[20..23],
            json!({"has_next": false, "has_previous": true, "next_page_number": null,
                   "prev_page_number": 4, "page": 5, "size": 5}),
        ),
        // Past the end, below 1, or "0": the last page, with the page asked for echoed.
        (
            page_of(json!(6), json!(5)),
            &ids[20..23],
            json!({"has_next": false, "has_previous": true, "next_page_number": null,
                   "prev_page_number": 4, "page": 6, "size": 5}),
        ),
        (
            page_of(json!("0"), json!(5)),
            &ids[20..23],
            json!({"has_next": false, "has_previous": true, "next_page_number": null,
                   "prev_page_number": 4, "page": 0, "size": 5}),
        ),
        (
            page_of(json!(-3), json!(5)),
            &ids[20..23],
            json!({"has_next": false, "has_previous": true, "next_page_number": null,
                   "prev_page_number": 4, "page": -3, "size": 5}),
        ),
        (
            page_of(json!(i64::MIN), json!(5)),
            &ids[20..23],
            json!({"has_next": false, "has_previous": true, "next_page_number": null,
                   "prev_page_number": 4, "page": i64::MIN, "size": 5}),
        ),
        (
            page_of(json!(1_000_000_000_000i64), json!(10)),
            &ids[20..23],
            json!({"has_next": false, "has_previous": true, "next_page_number": null,
                   "prev_page_number": 2, "page": 1_000_000_000_000i64, "size": 10}),
        ),
        // Python int(): numeric strings (whitespace allowed), floats truncated, true is 1.
        (
            page_of(json!(" 2 "), json!("10")),
            &ids[10..20],
            json!({"has_next": true, "has_previous": true, "next_page_number": 3,
                   "prev_page_number": 1, "page": 2, "size": 10}),
        ),
        (
            page_of(json!(2.9), json!(10.5)),
            &ids[10..20],
            json!({"has_next": true, "has_previous": true, "next_page_number": 3,
                   "prev_page_number": 1, "page": 2, "size": 10}),
        ),
        (
            page_of(json!(true), json!(23)),
            &ids[..],
            json!({"has_next": false, "has_previous": false, "next_page_number": null,
                   "prev_page_number": null, "page": 1, "size": 23}),
        ),
        (
            page_of(json!(i64::MAX), json!(i64::MAX)),
            &ids[..],
            json!({"has_next": false, "has_previous": false, "next_page_number": null,
                   "prev_page_number": null, "page": i64::MAX, "size": i64::MAX}),
        ),
    ];
    for (paginate, served, keys_expected) in cases {
        let answer = history(&mut alice, room, paginate.clone()).await;
        assert_eq!(history_ids(&answer), served, "{paginate:?}");
        assert_eq!(pagination(&answer), keys_expected, "{paginate:?}");
        assert_eq!(
            keys(&answer),
            [
                "has_next",
                "has_previous",
                "next_page_number",
                "prev_page_number",
                "page",
                "size",
                "data"
            ]
        );
    }
    // An empty object, or anything that is not an object, means every message.
    for paginate in [json!({}), json!(null), json!("x"), json!([1])] {
        let answer = history(&mut alice, room, Some(paginate)).await;
        assert_eq!(keys(&answer), ["data"]);
        assert_eq!(history_ids(&answer), ids);
    }

    // An empty room has one empty page.
    let mut carol = app.user(3).await;
    let empty = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    for (page, expected_page) in [(json!(1), 1), (json!(2), 2)] {
        let answer = history(&mut carol, empty, page_of(page, json!(5))).await;
        assert_eq!(
            answer,
            json!({"has_next": false, "has_previous": false, "next_page_number": null,
                   "prev_page_number": null, "page": expected_page, "size": 5,
                   "data": {"room_id": empty, "messages": []}})
        );
    }
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn the_acceptance_scenarios_of_the_spec_hold() {
    // messages.md §20 item 14, as written there.
    let app = spawn_app().await;
    let (mut alice, mut bob, fifty) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let ten = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    fill(&mut alice, &mut bob, fifty, 50).await;
    fill(&mut alice, &mut carol, ten, 10).await;

    let answer = history(&mut alice, fifty, Some(json!({"page": 1, "size": 10}))).await;
    assert_eq!(history_ids(&answer).len(), 10);
    assert_eq!(
        pagination(&answer),
        json!({"has_next": true, "has_previous": false, "next_page_number": 2,
               "prev_page_number": null, "page": 1, "size": 10})
    );
    let answer = history(&mut alice, fifty, Some(json!({"page": 5, "size": 10}))).await;
    assert_eq!(history_ids(&answer).len(), 10);
    assert_eq!(
        pagination(&answer),
        json!({"has_next": false, "has_previous": true, "next_page_number": null,
               "prev_page_number": 4, "page": 5, "size": 10})
    );
    let answer = history(&mut alice, ten, Some(json!({"page": 3, "size": 5}))).await;
    assert_eq!(history_ids(&answer).len(), 5);
    assert_eq!(
        pagination(&answer),
        json!({"has_next": false, "has_previous": true, "next_page_number": null,
               "prev_page_number": 1, "page": 3, "size": 5})
    );
    for paginate in [json!({"page": 1}), json!({"size": 1})] {
        alice
            .refused(
                "room.messages",
                json!({"room_id": ten, "paginate": paginate}),
                rule("page and size required"),
            )
            .await;
    }
    let answer = history(&mut alice, ten, Some(json!({}))).await;
    assert_eq!(history_ids(&answer).len(), 10);
    assert_eq!(keys(&answer), ["data"]);
}

#[tokio::test]
async fn room_messages_answers_every_error_of_the_catalogue_after_its_gate() {
    let app = spawn_app().await;
    let (mut alice, _bob, room) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let required = rule("page and size required");
    let invalid = rule("Invalid types");
    let paginated = |paginate: Value| json!({"room_id": room, "paginate": paginate});
    let cases = [
        (json!(null), internal()),
        (json!([room]), internal()),
        (json!({}), rule("Invalid room_id type")),
        (json!({"room_id": true}), rule("Invalid room_id type")),
        (json!({"room_id": "abc"}), not_a_uuid("abc")),
        (json!({"room_id": Uuid::new_v4()}), not_found()),
        (paginated(json!({"page": 1})), required.clone()),
        (paginated(json!({"page": 0, "size": 5})), required.clone()),
        (
            paginated(json!({"page": null, "size": 5})),
            required.clone(),
        ),
        (
            paginated(json!({"page": false, "size": 5})),
            required.clone(),
        ),
        (paginated(json!({"page": "", "size": 5})), required.clone()),
        (paginated(json!({"page": [], "size": 5})), required.clone()),
        (paginated(json!({"page": 1, "size": 0})), required.clone()),
        (
            paginated(json!({"page": "abc", "size": 5})),
            invalid.clone(),
        ),
        (
            paginated(json!({"page": "2.5", "size": 5})),
            invalid.clone(),
        ),
        (paginated(json!({"page": [1], "size": 5})), invalid.clone()),
        (
            paginated(json!({"page": {"n": 1}, "size": 5})),
            invalid.clone(),
        ),
        (paginated(json!({"page": 1, "size": -1})), invalid.clone()),
        (paginated(json!({"page": 1, "size": "0"})), invalid.clone()),
        (paginated(json!({"page": 1, "size": 0.5})), invalid.clone()),
    ];
    for (data, frame) in cases {
        alice.refused("room.messages", data, frame).await;
    }
    // A non-member is refused before the pagination is looked at.
    for paginate in [json!(null), json!({"page": "abc", "size": 1})] {
        carol
            .refused(
                "room.messages",
                paginated(paginate),
                denied("User is not authorized access this room"),
            )
            .await;
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn history_pages_walk_the_history_index_without_sorting() {
    let app = spawn_app().await;
    let db = app.db().await;
    let backend = db.get_database_backend();
    let room = Uuid::new_v4();
    for (newest, offset, limit) in [(Newest::First, 40, 11), (Newest::Last, 0, 3)] {
        let query = history_query(room, newest)
            .offset(offset)
            .limit(limit)
            .build(backend);
        let plan: Vec<String> = match backend {
            DatabaseBackend::Sqlite => {
                let explain = Statement::from_sql_and_values(
                    backend,
                    format!("EXPLAIN QUERY PLAN {}", query.sql),
                    query.values.clone().map(|v| v.0).unwrap_or_default(),
                );
                db.query_all_raw(explain)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String>("", "detail").unwrap())
                    .collect()
            }
            _ => {
                // Forbid the alternatives, so that a plan without the index would show a
                // sequential scan or a sort.
                let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
                for setting in ["enable_seqscan", "enable_sort", "enable_bitmapscan"] {
                    txn.execute_unprepared(&format!("SET LOCAL {setting} = off"))
                        .await
                        .unwrap();
                }
                let explain = Statement::from_sql_and_values(
                    backend,
                    format!("EXPLAIN {}", query.sql),
                    query.values.clone().map(|v| v.0).unwrap_or_default(),
                );
                let rows = txn.query_all_raw(explain).await.unwrap();
                rows.iter()
                    .map(|row| row.try_get::<String>("", "QUERY PLAN").unwrap())
                    .collect()
            }
        };
        let plan = plan.join("\n");
        assert!(
            plan.contains("idx_messages_room_id_is_deleted_created_at_id"),
            "{newest:?}: {plan}"
        );
        // SQLite says SCAN for a full scan and TEMP B-TREE for a sort; PostgreSQL says
        // Seq Scan and Sort.
        for bad in ["SCAN ", "TEMP B-TREE", "Seq Scan", "Sort"] {
            assert!(!plan.contains(bad), "{newest:?} plan has {bad}: {plan}");
        }
    }
}

#[tokio::test]
async fn a_page_costs_the_same_three_queries_whatever_its_size_and_depth() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    // Thirty messages, the newest six a chain of replies, reactions and receipts on some.
    let mut previous = send_to(&mut alice, room, "m0", &mut [&mut bob]).await;
    for i in 1..30 {
        let extra = if i >= 24 {
            json!({"parent_message_id": previous["id"]})
        } else {
            json!({})
        };
        previous = send_with(
            &mut alice,
            json!({"room_id": room, "content": format!("m{i}"), "extra_fields": extra}),
            &mut [&mut bob],
        )
        .await;
        if i % 3 == 0 {
            react_to(&mut bob, &previous, "👍", &mut [&mut alice]).await;
            bob.emit("message.read", json!({"message_id": previous["id"]}))
                .await;
            recv_on_all("readreceipt.dispatch", &mut [&mut bob, &mut alice]).await;
        }
    }

    let mut db = app.db().await;
    let queries = Arc::new(AtomicUsize::new(0));
    let counter = queries.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    for size in [1, 5, 30] {
        queries.store(0, Ordering::Relaxed);
        let (page, more) = history_page(&db, room, Newest::First, 0, Some(size))
            .await
            .unwrap();
        assert_eq!(queries.load(Ordering::Relaxed), 3, "page of {size}");
        assert_eq!(page.len() as u64, size);
        assert_eq!(more, size < 30);
        // The newest message quotes six levels deep, all rendered.
        let mut depth = 0;
        let mut quoted = page[0].parent_message.as_deref();
        while let Some(m) = quoted {
            depth += 1;
            quoted = m.parent_message.as_deref();
        }
        assert_eq!(depth, 6);
        assert_eq!(page[0].id, assert_uuid(&previous["id"]));
    }
}
