//! Schema steps applied to databases that already hold data, on SQLite and PostgreSQL.

mod common;

use common::rooms::create_group;
use common::spawn_app;
use entity::{room_manager, room_member, room_permission};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// How many steps, counted from the newest, take the schema back to before the step whose
/// name contains `step`.
fn steps_since(step: &str) -> u32 {
    let since = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name().contains(step))
        .expect("the step is in the list");
    since as u32 + 1
}

#[tokio::test]
async fn roles_and_permissions_belong_to_a_membership_and_the_step_keeps_existing_rows() {
    let app = spawn_app().await;
    let [mut alice, mut bob, _carol] = app.users([1, 2, 3]).await;
    let room = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    let db = app.db().await;
    let managers = || {
        room_manager::Entity::find()
            .filter(room_manager::Column::RoomId.eq(room))
            .order_by_asc(room_manager::Column::Id)
            .all(&db)
    };
    let permissions = || {
        room_permission::Entity::find()
            .filter(room_permission::Column::RoomId.eq(room))
            .order_by_asc(room_permission::Column::Id)
            .all(&db)
    };
    let kept_managers = managers().await.unwrap();
    let kept_permissions = permissions().await.unwrap();
    assert_eq!(kept_managers.len(), 1);
    assert_eq!(kept_permissions.len(), 2);

    // Back to the schema before the step (and any later ones), where a role could outlive
    // its membership.
    Migrator::down(&db, Some(steps_since("_000009_")))
        .await
        .unwrap();
    room_manager::Entity::insert(room_manager::ActiveModel {
        room_id: Set(room),
        user_id: Set(3),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap();
    room_permission::Entity::insert(room_permission::ActiveModel {
        room_id: Set(room),
        user_id: Set(3),
        permission: Set("can_add_new_participants".into()),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap();

    Migrator::up(&db, None).await.unwrap();
    // Rows with a membership are kept as they were; the orphans could not be.
    assert_eq!(managers().await.unwrap(), kept_managers);
    assert_eq!(permissions().await.unwrap(), kept_permissions);

    // The membership takes role and permissions with it.
    room_member::Entity::delete_many()
        .filter(room_member::Column::RoomId.eq(room))
        .filter(room_member::Column::UserId.eq(1))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(managers().await.unwrap(), vec![]);
    assert_eq!(permissions().await.unwrap(), vec![]);
    // And nothing without a membership can be written.
    let orphan = room_manager::Entity::insert(room_manager::ActiveModel {
        room_id: Set(room),
        user_id: Set(3),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    })
    .exec(&db)
    .await;
    assert!(orphan.is_err(), "a role without a membership was stored");
}

/// What `user_id` sees on connecting: the `chat.notifications` data and, per room, the
/// `unread_count` of `room.list`.
async fn what_is_owed(app: &common::TestApp, user_id: i64) -> (serde_json::Value, Vec<i64>) {
    let (mut client, pending) = app.connect(user_id).await;
    client.emit("room.list", serde_json::json!({})).await;
    let list = client.recv_dispatch("roomlist.dispatch").await;
    let unread = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["unread_count"].as_i64().expect("unread_count"))
        .collect();
    client.close().await;
    (pending, unread)
}

#[tokio::test]
async fn the_notification_layout_step_keeps_what_each_user_is_owed_and_every_unread_count() {
    use common::messages::{react_to, send_to};
    use sea_orm::{ConnectionTrait, Statement};
    use serde_json::json;

    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let room = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    let one = send_to(&mut alice, room, "one", &mut [&mut bob, &mut carol]).await;
    let two = send_to(&mut bob, room, "two", &mut [&mut alice, &mut carol]).await;
    react_to(&mut carol, &one, "👍", &mut [&mut alice, &mut bob]).await;
    bob.emit("message.acknowledged", json!({"message_id": one["id"]}))
        .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;
    carol
        .emit("message.read", json!({"message_id": two["id"]}))
        .await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.recv_dispatch("readreceipt.dispatch").await;
    }
    for client in [alice, bob, carol] {
        client.close().await;
    }
    let mut before = Vec::new();
    for user in 1..=3 {
        before.push(what_is_owed(&app, user).await);
    }
    // Unread: Alice "two", Bob "one", Carol "one" (she read "two").
    assert_eq!(
        before.iter().map(|(_, u)| u.clone()).collect::<Vec<_>>(),
        vec![vec![1], vec![1], vec![1]]
    );

    // Back to one recipient row per user owed, then forward again.
    let db = app.db().await;
    Migrator::down(&db, Some(steps_since("_000013_")))
        .await
        .unwrap();
    let recipients = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM notification_recipients",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    // "one": Carol (Bob acknowledged it); "two": Alice and Carol; the reaction: Alice.
    assert_eq!(recipients, 4);
    Migrator::up(&db, None).await.unwrap();

    for (user, seen) in (1..=3).zip(&before) {
        assert_eq!(&what_is_owed(&app, user).await, seen, "user {user}");
    }
    // The room's sequence goes on from where the converted rows left it.
    let mut alice = app.connect(1).await.0;
    let three = send_to(&mut alice, room, "three", &mut []).await;
    let (pending, unread) = what_is_owed(&app, 2).await;
    let items = pending[room.to_string()].as_array().unwrap();
    assert_eq!(items.last().unwrap()["message"]["id"], three["id"]);
    assert_eq!(unread, vec![2]);
}
