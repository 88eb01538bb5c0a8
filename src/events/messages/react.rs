//! `message.react`: one reaction per user and message — add (a new emoji replaces the old
//! one; the same emoji again changes nothing, DECISIONS 24) or remove. Any member may react.
//! Checked and written while the message's room is lent to this event (see `rooms::lease`).

use super::gate::{live_messages, still_live};
use crate::app::AppState;
use crate::events::Caller;
use crate::notifications::Created;
use crate::protocol::client::{parse_reaction, MessageReact, ReactionChange};
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, ReactionAdded, ReactionRemoved};
use crate::rooms::lease;
use crate::rooms::room::Action;
use crate::store::messages::{Reacted, References};
use crate::store::notifications::NotificationKind;
use crate::store::{self, now};

pub async fn react(
    app: &AppState,
    caller: &Caller,
    req: MessageReact,
) -> Result<Option<Frame>, ChatError> {
    let user_id = caller.user.id;
    let id = req.message_id;
    let message = live_messages(&app.reader, &[id])
        .await?
        .remove(&id)
        .ok_or(ChatError::NotFound)?;
    let lease = lease::borrow(&app.rooms, message.room_id).await?;
    lease.room().authorize(user_id, Action::UseMessages)?;
    let change = parse_reaction(req.kind.as_ref(), req.reaction_content.as_ref())?;

    let at = now();
    let (removed, notice) = app
        .rooms
        .writer()
        .transaction(References::Checked, async |txn| -> Result<_, ChatError> {
            still_live(txn, &[id]).await?;
            let content = match &change {
                ReactionChange::Add(content) => content,
                ReactionChange::Remove => {
                    return Ok((store::messages::unreact(txn, id, user_id).await?, None))
                }
            };
            let reacted = store::messages::react(txn, id, user_id, content).await?;
            if reacted == Reacted::Unchanged || !app.settings.notifications.enabled {
                return Ok((false, None));
            }
            // Everyone in the room but the reactor, the author included (§14.2).
            let others: Vec<i64> = lease
                .room()
                .members
                .iter()
                .copied()
                .filter(|u| *u != user_id)
                .collect();
            let kind = NotificationKind::Reaction;
            let room_id = message.room_id;
            let created =
                store::notifications::create(txn, room_id, id, kind, user_id, &others, at).await?;
            let notice = created.map(|notification_id| Created {
                notification_id,
                kind,
                room_id,
                message_id: id,
                actor: caller.user.clone(),
                content: message.content.clone(),
                reaction: Some(content.clone()),
                recipients: others,
                at,
            });
            Ok((false, notice))
        })
        .await?;

    let view = store::render::message_views(&app.reader, &[id])
        .await?
        .pop()
        .ok_or(ChatError::NotFound)?;
    let frame = match change {
        ReactionChange::Add(_) => routed(event::REACTION, &ReactionAdded::new(view)),
        ReactionChange::Remove => routed(event::REACTION, &ReactionRemoved::new(removed, view)),
    };
    lease.give_back(vec![frame]).await;
    // After the fan-out: who is offline now is who did not get the frame.
    if let Some(created) = notice {
        app.notices.created(created);
    }
    Ok(None)
}
