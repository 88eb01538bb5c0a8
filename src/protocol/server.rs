//! Server → client frames. Payload structs keep the reference's key order; a dispatch is
//! encoded once into a [`Frame`] whose bytes are shared by every recipient.

use std::sync::Arc;

use bytestring::ByteString;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::Timestamp;

/// An encoded text frame. Cloning shares the bytes.
pub type Frame = ByteString;

/// `{"type": "broadcast_group", "eventType": …, "data": …}`: every dispatch but
/// `chat.notifications`.
pub fn routed<T: Serialize>(event_type: &str, data: &T) -> Frame {
    #[derive(Serialize)]
    struct Routed<'a, T> {
        r#type: &'static str,
        #[serde(rename = "eventType")]
        event_type: &'a str,
        data: &'a T,
    }
    encode(&Routed {
        r#type: "broadcast_group",
        event_type,
        data,
    })
}

/// `{"eventType": …, "data": …}`: only `chat.notifications`.
pub fn direct<T: Serialize>(event_type: &str, data: &T) -> Frame {
    #[derive(Serialize)]
    struct Direct<'a, T> {
        #[serde(rename = "eventType")]
        event_type: &'a str,
        data: &'a T,
    }
    encode(&Direct { event_type, data })
}

/// The `session.heartbeat` answer.
pub fn heartbeat_ack() -> Frame {
    ByteString::from_static(r#"{"status": "success"}"#)
}

fn encode<T: Serialize>(value: &T) -> Frame {
    // Our payload types contain only strings, numbers and JSON values: encoding cannot fail.
    ByteString::from(serde_json::to_string(value).unwrap_or_default())
}

pub mod event {
    pub const ROOM_CREATE: &str = "roomcreate.dispatch";
    pub const ROOM_LIST: &str = "roomlist.dispatch";
    pub const ROOM_INFO: &str = "roominfo.dispatch";
    pub const ROOM_ADD_MEMBERS: &str = "roomaddmembers.dispatch";
    pub const ROOM_REMOVE_MEMBERS: &str = "roomremovemembers.dispatch";
    pub const ROOM_EXIT: &str = "roomexit.dispatch";
    pub const ROOM_DELETE: &str = "roomdelete.dispatch";
    pub const ROOM_UPDATE: &str = "roomupdate.dispatch";
    pub const MESSAGE: &str = "message.dispatch";
    pub const MESSAGE_DELIVERED: &str = "messagedelivered.dispatch";
    pub const NOTIFICATIONS: &str = "chat.notifications";
    pub const MESSAGE_MODIFICATION: &str = "messagemodification.dispatch";
    pub const REACTION: &str = "reaction.dispatch";
    pub const READ_RECEIPT: &str = "readreceipt.dispatch";
    pub const TYPING: &str = "messagetyping.dispatch";
    pub const ROOM_MESSAGES: &str = "roommessages.dispatch";
}

/// A user as every payload shows one; all five keys are always present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomRef {
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadReceiptView {
    pub reader: UserView,
    pub read_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReactionView {
    pub id: Uuid,
    pub user: UserView,
    pub reaction_content: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentView {
    pub id: Uuid,
    pub media_url: String,
    pub media_type: String,
    pub file_size: i64,
    pub mime_type: String,
    pub caption: Option<String>,
    pub metadata: Value,
}

/// The message object of messages.md §5.2; replies and forwards nest their source in full.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub id: Uuid,
    pub room: RoomRef,
    /// Shared: a new message's view, its dispatch and its notification hold one copy.
    pub sender: Arc<UserView>,
    pub read_receipts: Vec<ReadReceiptView>,
    pub reactions: Vec<ReactionView>,
    pub attachments: Vec<AttachmentView>,
    pub parent_message: Option<Box<MessageView>>,
    pub forwarded_from: Option<Box<MessageView>>,
    /// Usernames, in acknowledgement order.
    pub delivered_to: Vec<String>,
    pub content: String,
    pub is_deleted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub is_forwarded: bool,
    pub is_edited: bool,
}

impl MessageView {
    /// A message just stored: nobody has read, reacted to or acknowledged it yet.
    pub fn fresh(
        id: Uuid,
        room_id: Uuid,
        sender: Arc<UserView>,
        content: String,
        at: Timestamp,
        is_forwarded: bool,
    ) -> MessageView {
        MessageView {
            id,
            room: RoomRef { id: room_id },
            sender,
            read_receipts: Vec::new(),
            reactions: Vec::new(),
            attachments: Vec::new(),
            parent_message: None,
            forwarded_from: None,
            delivered_to: Vec::new(),
            content,
            is_deleted: false,
            created_at: at,
            updated_at: at,
            is_forwarded,
            is_edited: false,
        }
    }
}

/// A room's `last_message`: the message, or the reference's placeholder object (never `null`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LastMessage {
    Message(Box<MessageView>),
    None(NoMessage),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoMessage {
    id: Option<Uuid>,
    room_id: Option<Uuid>,
    sender_id: Option<i64>,
    parent_message_id: Option<Uuid>,
    forwarded_from_id: Option<Uuid>,
    content: &'static str,
    is_deleted: bool,
    is_forwarded: bool,
    is_edited: bool,
}

impl LastMessage {
    pub fn placeholder() -> LastMessage {
        LastMessage::None(NoMessage {
            id: None,
            room_id: None,
            sender_id: None,
            parent_message_id: None,
            forwarded_from_id: None,
            content: "",
            is_deleted: false,
            is_forwarded: false,
            is_edited: false,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyView {
    pub preferences: Value,
}

/// The room detail shape (rooms.md §5.2), always the state after the event's change.
/// `polymorphic_ctype` is omitted (DECISIONS 6); `type` names the room type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RoomDetail {
    OneToOne(OneToOneDetail),
    Group(GroupDetail),
    Channel(ChannelDetail),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OneToOneDetail {
    pub id: Uuid,
    pub participants: Vec<UserView>,
    pub property: PropertyView,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub r#type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDetail {
    pub id: Uuid,
    /// Shown even after the creator left.
    pub creator: UserView,
    pub participants: Vec<UserView>,
    pub property: PropertyView,
    pub admins: Vec<UserView>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub name: String,
    pub description: Option<String>,
    pub max_participants: i64,
    pub avatar: Option<String>,
    pub join_approval_required: bool,
    pub group_locked: bool,
    pub r#type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelDetail {
    pub id: Uuid,
    pub creator: UserView,
    pub subscribers: Vec<UserView>,
    pub property: PropertyView,
    pub moderators: Vec<UserView>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub avatar: Option<String>,
    pub max_subscribers: i64,
    pub r#type: &'static str,
}

/// `roominfo.dispatch`: the room detail and, ours and additive, how many of the room's
/// messages the caller has not read (docs/protocol-notes.md, "Unread counts").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomInfo {
    #[serde(flatten)]
    pub detail: RoomDetail,
    pub unread_count: i64,
}

/// The room list entry shape (rooms.md §5.3): no member lists, no `property`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RoomListEntry {
    OneToOne(OneToOneEntry),
    Group(GroupEntry),
    Channel(ChannelEntry),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OneToOneEntry {
    pub id: Uuid,
    pub peer: UserView,
    pub last_message: LastMessage,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub r#type: &'static str,
    /// Ours, additive: messages of the room the caller has not read (docs/protocol-notes.md).
    pub unread_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupEntry {
    pub id: Uuid,
    pub creator: UserView,
    pub last_message: LastMessage,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub name: String,
    pub description: Option<String>,
    pub max_participants: i64,
    pub avatar: Option<String>,
    pub join_approval_required: bool,
    pub group_locked: bool,
    pub r#type: &'static str,
    /// Ours, additive: messages of the room the caller has not read (docs/protocol-notes.md).
    pub unread_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelEntry {
    pub id: Uuid,
    pub creator: UserView,
    pub last_message: LastMessage,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub avatar: Option<String>,
    pub max_subscribers: i64,
    pub r#type: &'static str,
    /// Ours, additive: messages of the room the caller has not read (docs/protocol-notes.md).
    pub unread_count: i64,
}

/// `roomaddmembers.dispatch` (`room.add_members`, and `room.join` with `added_by: "self"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembersAdded<'a> {
    pub room: &'a RoomDetail,
    /// Usernames of the users actually added, in request order.
    pub new_members: Vec<String>,
    pub added_by: &'a str,
}

/// `roomremovemembers.dispatch` (`room.remove_members`, and `room.leave` with
/// `removed_by: "self"`), to the members who remain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembersRemoved<'a> {
    pub room: &'a RoomDetail,
    pub removed_members: Vec<String>,
    pub removed_by: &'a str,
}

/// `roomexit.dispatch`: to each user who left or was removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomExit<'a> {
    pub room: &'a RoomDetail,
    pub message: String,
}

/// `roomdelete.dispatch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomDeleted {
    pub room_id: Uuid,
}

/// One item of `chat.notifications`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationView {
    pub id: Uuid,
    pub message: MessageView,
    pub notification_type: String,
}

/// `messagemodification.dispatch` of an edit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageEdited {
    pub status: &'static str,
    pub action: &'static str,
    pub message: MessageView,
}

impl MessageEdited {
    pub fn new(message: MessageView) -> Self {
        MessageEdited {
            status: SUCCESSFUL,
            action: "update",
            message,
        }
    }
}

/// `messagemodification.dispatch` of a delete: the ids exactly as the client sent them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessagesDeleted {
    pub status: &'static str,
    pub action: &'static str,
    pub message_ids: Vec<Value>,
}

impl MessagesDeleted {
    pub fn new(message_ids: Vec<Value>) -> Self {
        MessagesDeleted {
            status: SUCCESSFUL,
            action: "delete",
            message_ids,
        }
    }
}

const SUCCESSFUL: &str = "successful";

/// `reaction.dispatch` of an add: `type`, before the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReactionAdded {
    pub status: &'static str,
    pub r#type: &'static str,
    pub message: MessageView,
}

impl ReactionAdded {
    pub fn new(message: MessageView) -> Self {
        ReactionAdded {
            status: SUCCESSFUL,
            r#type: "add",
            message,
        }
    }
}

/// `reaction.dispatch` of a removal: `action` (not `type`), after the message; `failed` when
/// there was nothing to remove (messages.md §9.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReactionRemoved {
    pub status: &'static str,
    pub message: MessageView,
    pub action: &'static str,
}

impl ReactionRemoved {
    pub fn new(removed: bool, message: MessageView) -> Self {
        ReactionRemoved {
            status: if removed { SUCCESSFUL } else { "failed" },
            message,
            action: "remove",
        }
    }
}

/// `messagetyping.dispatch`: the reference's `username` plus the room (DECISIONS 23).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypingView {
    pub username: String,
    pub room_id: Uuid,
}

/// `roommessages.dispatch`: the pagination keys (only when the client paginated), then the
/// nested `data` (messages.md §13.5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomMessagesView {
    #[serde(flatten)]
    pub page: Option<PageView>,
    pub data: RoomMessagesData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageView {
    pub has_next: bool,
    pub has_previous: bool,
    pub next_page_number: Option<i64>,
    pub prev_page_number: Option<i64>,
    /// The page the client asked for, even when a different one was served (§13.4 rule 4).
    pub page: i64,
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomMessagesData {
    pub room_id: Uuid,
    /// Newest first.
    pub messages: Vec<MessageView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_frames_carry_broadcast_group() {
        let f = routed("x.dispatch", &serde_json::json!({"a": 1}));
        assert_eq!(
            &*f,
            r#"{"type":"broadcast_group","eventType":"x.dispatch","data":{"a":1}}"#
        );
    }

    #[test]
    fn the_no_message_placeholder_is_verbatim() {
        let v = serde_json::to_value(LastMessage::placeholder()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": null, "room_id": null, "sender_id": null,
                "parent_message_id": null, "forwarded_from_id": null, "content": "",
                "is_deleted": false, "is_forwarded": false, "is_edited": false})
        );
    }
}
