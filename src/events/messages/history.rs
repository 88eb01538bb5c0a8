//! `room.messages`: a room's history, newest first, whole or by page, to every device of the
//! member who asked. Pages follow the reference's paginator exactly (messages.md §13.4): an
//! out-of-range page serves the last one and still echoes the page asked for.
//!
//! Cost: a page in range is one query for its ids plus two for its rendering (three,
//! whatever its size); an out-of-range page adds a count. Both walk the history index from
//! the nearer end, so the room's size does not matter (benches/history.rs).

use uuid::Uuid;

use super::gate::authorize;
use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::{parse_page_request, PageRequest, RoomMessages};
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, PageView, RoomMessagesData, RoomMessagesView};
use crate::rooms::room::Action;
use crate::store::messages::{count_live, history_page, Newest};
use crate::store::{self, StoreError};

pub async fn room_messages(
    app: &AppState,
    caller: &Caller,
    req: RoomMessages,
) -> Result<Option<Frame>, ChatError> {
    let room_id = req.room_id;
    authorize(app, room_id, caller.user.id, Action::View).await?;
    let asked = req.paginate.as_ref().map(parse_page_request).transpose()?;

    // The ids of a page and its rendering are separate queries: one snapshot keeps a message
    // sent meanwhile from shifting the page between them.
    let snapshot = store::read_snapshot(&app.reader).await?;
    let view = match asked {
        None => {
            let (messages, _) = history_page(&snapshot, room_id, Newest::First, 0, None).await?;
            RoomMessagesView {
                page: None,
                data: RoomMessagesData { room_id, messages },
            }
        }
        Some(asked) => page(&snapshot, room_id, asked).await?,
    };
    snapshot.commit().await.map_err(StoreError::from)?;
    app.delivery
        .to_user(caller.user.id, &routed(event::ROOM_MESSAGES, &view));
    Ok(None)
}

async fn page(
    db: &sea_orm::DatabaseTransaction,
    room_id: Uuid,
    asked: PageRequest,
) -> Result<RoomMessagesView, ChatError> {
    // `size` is at least 1 (parse_page_request), so these conversions hold.
    let size = asked.size.unsigned_abs();
    // The page asked for, if it exists: page 1 always does, a later one if it has messages.
    let offset = asked
        .page
        .checked_sub(1)
        .and_then(|before| u64::try_from(before).ok())
        .and_then(|before| before.checked_mul(size))
        .filter(|offset| i64::try_from(*offset).is_ok());
    if let Some(offset) = offset {
        let (messages, more) = history_page(db, room_id, Newest::First, offset, Some(size)).await?;
        if asked.page == 1 || !messages.is_empty() {
            return Ok(paged(room_id, asked, asked.page, more, messages));
        }
    }
    // Otherwise the last page, read from the oldest end: it costs its own length.
    let count = count_live(db, room_id).await?;
    let pages = count.div_ceil(size).max(1);
    let last_len = count - (pages - 1) * size;
    let (mut messages, _) = history_page(db, room_id, Newest::Last, 0, Some(last_len)).await?;
    messages.reverse();
    let served = i64::try_from(pages).unwrap_or(i64::MAX);
    Ok(paged(room_id, asked, served, false, messages))
}

/// The paginated answer for page `served` (which may differ from the page asked for).
fn paged(
    room_id: Uuid,
    asked: PageRequest,
    served: i64,
    has_next: bool,
    messages: Vec<crate::protocol::server::MessageView>,
) -> RoomMessagesView {
    let has_previous = served > 1;
    RoomMessagesView {
        page: Some(PageView {
            has_next,
            has_previous,
            next_page_number: has_next.then_some(served + 1),
            prev_page_number: has_previous.then_some(served - 1),
            page: asked.page,
            size: asked.size,
        }),
        data: RoomMessagesData { room_id, messages },
    }
}
