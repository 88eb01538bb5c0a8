//! Schema steps applied to databases that already hold data, on SQLite and PostgreSQL.

mod common;

use common::rooms::create_group;
use common::spawn_app;
use entity::{room_manager, room_member, room_permission};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

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
    let since_the_step = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name().contains("_000009_"))
        .expect("the step is in the list")
        + 1;
    Migrator::down(&db, Some(since_the_step as u32))
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
