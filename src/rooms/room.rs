//! The `Room` domain type: what a room is — its kind, creator, members, managers (admins of a
//! GroupChat, moderators of a Channel), object permissions, lock, visibility and member cap —
//! and who may do what in it. [`Room::authorize`] is rooms.md §4.4 written down once; every
//! event asks it (through the room's `RoomActor`, which owns the `Room` while it runs).

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::protocol::errors::{denied, ChatError};

/// The three room types, by their wire names (the only place those names are spelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKind {
    OneToOneChat,
    GroupChat,
    Channel,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::OneToOneChat => "OneToOneChat",
            RoomKind::GroupChat => "GroupChat",
            RoomKind::Channel => "Channel",
        }
    }

    pub fn parse(s: &str) -> Option<RoomKind> {
        match s {
            "OneToOneChat" => Some(RoomKind::OneToOneChat),
            "GroupChat" => Some(RoomKind::GroupChat),
            "Channel" => Some(RoomKind::Channel),
            _ => None,
        }
    }

    /// The name of the cap field: `max_participants` (GroupChat) or `max_subscribers`.
    pub fn cap_field(self) -> &'static str {
        match self {
            RoomKind::Channel => "max_subscribers",
            RoomKind::GroupChat | RoomKind::OneToOneChat => "max_participants",
        }
    }

    /// The field holding the initial members at creation: `subscribers` (Channel) or
    /// `participants`.
    pub fn members_field(self) -> &'static str {
        match self {
            RoomKind::Channel => "subscribers",
            RoomKind::GroupChat | RoomKind::OneToOneChat => "participants",
        }
    }

    /// The 4003 text when adding members would exceed the cap (rooms.md §3.6).
    pub fn cap_exceeded(self) -> &'static str {
        match self {
            RoomKind::Channel => "Maximum number of channel subscribers exceeded",
            RoomKind::GroupChat | RoomKind::OneToOneChat => {
                "Maximum number of group participants exceeded"
            }
        }
    }
}

/// The object-permission codenames (rooms.md §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    CanAddNewParticipants,
    CanRemoveParticipants,
    CanAddNewSubscribers,
    CanRemoveSubscribers,
    CanSendMessages,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::CanAddNewParticipants,
        Permission::CanRemoveParticipants,
        Permission::CanAddNewSubscribers,
        Permission::CanRemoveSubscribers,
        Permission::CanSendMessages,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CanAddNewParticipants => "can_add_new_participants",
            Permission::CanRemoveParticipants => "can_remove_participants",
            Permission::CanAddNewSubscribers => "can_add_new_subscribers",
            Permission::CanRemoveSubscribers => "can_remove_subscribers",
            Permission::CanSendMessages => "can_send_messages",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The room type a codename belongs to.
    pub fn kind(self) -> RoomKind {
        match self {
            Permission::CanAddNewParticipants | Permission::CanRemoveParticipants => {
                RoomKind::GroupChat
            }
            _ => RoomKind::Channel,
        }
    }

    /// What becoming an admin (GroupChat) or moderator (Channel) grants, and what losing the
    /// role, leaving or being removed revokes (rooms.md §4.2, §4.3).
    pub fn of_role(kind: RoomKind) -> &'static [Permission] {
        match kind {
            RoomKind::GroupChat => &[
                Permission::CanAddNewParticipants,
                Permission::CanRemoveParticipants,
            ],
            RoomKind::Channel => &[
                Permission::CanAddNewSubscribers,
                Permission::CanRemoveSubscribers,
                Permission::CanSendMessages,
            ],
            RoomKind::OneToOneChat => &[],
        }
    }

    fn to_add_members(kind: RoomKind) -> Option<Permission> {
        match kind {
            RoomKind::GroupChat => Some(Permission::CanAddNewParticipants),
            RoomKind::Channel => Some(Permission::CanAddNewSubscribers),
            RoomKind::OneToOneChat => None,
        }
    }

    fn to_remove_members(kind: RoomKind) -> Option<Permission> {
        match kind {
            RoomKind::GroupChat => Some(Permission::CanRemoveParticipants),
            RoomKind::Channel => Some(Permission::CanRemoveSubscribers),
            RoomKind::OneToOneChat => None,
        }
    }
}

/// What a user asks to do in a room; each maps to one row of rooms.md §4.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `room.info`, `room.messages`.
    View,
    /// `message.react`, `message.read`, `message.acknowledged`, and the membership step of
    /// `message.modify`: the same rule as [`Action::View`], told with the message's text.
    UseMessages,
    /// `message.send`, `message.typing`.
    Post,
    Join,
    Leave,
    AddMembers,
    RemoveMembers,
    /// `room.modify` `delete`.
    Delete,
    /// `room.modify` with any other action value, valid or not.
    Manage,
}

/// One room as its actor holds it. Managers and permission holders are always members: the
/// schema cascades them away with the membership, and so must every change applied here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: Uuid,
    pub kind: RoomKind,
    /// GroupChat/Channel only; kept after the creator leaves (rights return if re-added).
    pub creator: Option<i64>,
    pub members: BTreeSet<i64>,
    /// Admins (GroupChat) or moderators (Channel).
    pub managers: BTreeSet<i64>,
    pub permissions: BTreeSet<(i64, Permission)>,
    pub group_locked: bool,
    pub is_public: bool,
    /// `max_participants` / `max_subscribers`; none for a OneToOneChat.
    pub cap: Option<i64>,
}

impl Room {
    pub fn is_member(&self, user: i64) -> bool {
        self.members.contains(&user)
    }

    pub fn is_creator(&self, user: i64) -> bool {
        self.creator == Some(user)
    }

    pub fn is_manager(&self, user: i64) -> bool {
        self.managers.contains(&user)
    }

    pub fn holds(&self, user: i64, permission: Permission) -> bool {
        self.permissions.contains(&(user, permission))
    }

    /// Would `newcomers` more members exceed the cap (rooms.md §3.6)? Reaching it is allowed.
    pub fn exceeds_cap(&self, newcomers: usize) -> bool {
        self.cap
            .is_some_and(|cap| (self.members.len() + newcomers) as i128 > i128::from(cap))
    }

    /// Of `users`, those who are not members yet, in the order given (no duplicates).
    pub fn newcomers(&self, users: &[i64]) -> Vec<i64> {
        let mut seen = BTreeSet::new();
        users
            .iter()
            .copied()
            .filter(|u| !self.is_member(*u) && seen.insert(*u))
            .collect()
    }

    /// Adds `users` as members, refusing the whole change if it would exceed the cap.
    pub fn admit(&mut self, users: &[i64]) -> Result<(), ChatError> {
        let newcomers = self.newcomers(users);
        if self.exceeds_cap(newcomers.len()) {
            return Err(ChatError::rule(self.kind.cap_exceeded()));
        }
        self.members.extend(newcomers);
        Ok(())
    }

    /// Of `users`, those `by` may take out with `room.remove_members`, in the order given:
    /// members only, and never the creator unless the creator removes themself (§12.3).
    pub fn removable(&self, by: i64, users: &[i64]) -> Vec<i64> {
        let mut seen = BTreeSet::new();
        users
            .iter()
            .copied()
            .filter(|u| self.is_member(*u) && (!self.is_creator(*u) || by == *u))
            .filter(|u| seen.insert(*u))
            .collect()
    }

    /// Takes `users` out of the room: membership, role and every permission go together
    /// (rooms.md §4.3), as the schema's cascades do.
    pub fn remove(&mut self, users: &[i64]) {
        for u in users {
            self.members.remove(u);
            self.managers.remove(u);
        }
        self.permissions.retain(|(u, _)| !users.contains(u));
    }

    /// Of `users`, the targets of a role or permission action, in the order given: current
    /// members, never the creator (compared as numbers: DECISIONS 18).
    pub fn role_targets(&self, users: &[i64]) -> Vec<i64> {
        let mut seen = BTreeSet::new();
        users
            .iter()
            .copied()
            .filter(|u| self.is_member(*u) && !self.is_creator(*u) && seen.insert(*u))
            .collect()
    }

    /// `users` become admins/moderators, with the role's permissions.
    pub fn promote(&mut self, users: &[i64]) {
        self.managers.extend(users.iter().copied());
        self.grant(users, Permission::of_role(self.kind));
    }

    /// `users` stop being admins/moderators and lose the role's permissions (also ones
    /// granted explicitly), but stay members.
    pub fn demote(&mut self, users: &[i64]) {
        for u in users {
            self.managers.remove(u);
        }
        self.revoke(users, Permission::of_role(self.kind));
    }

    pub fn grant(&mut self, users: &[i64], permissions: &[Permission]) {
        for u in users {
            self.permissions
                .extend(permissions.iter().map(|p| (*u, *p)));
        }
    }

    pub fn revoke(&mut self, users: &[i64], permissions: &[Permission]) {
        self.permissions
            .retain(|(u, p)| !(users.contains(u) && permissions.contains(p)));
    }

    /// May `user` do `action` here? The first failing check of rooms.md §4.4 decides the
    /// error. Every right requires current membership (§4.1).
    pub fn authorize(&self, user: i64, action: Action) -> Result<(), ChatError> {
        use RoomKind::{Channel, GroupChat, OneToOneChat};
        let member = self.is_member(user);
        // Creator or admin/moderator, while a member.
        let manager = member && (self.is_creator(user) || self.is_manager(user));
        let holds = |p: Option<Permission>| member && p.is_some_and(|p| self.holds(user, p));
        let require = |ok: bool, text: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(ChatError::PermissionDenied(text))
            }
        };
        match (action, self.kind) {
            (Action::View, _) => require(member, denied::ACCESS_ROOM),
            (Action::UseMessages, _) => require(member, denied::ACCESS_MESSAGE),
            (Action::Post, OneToOneChat) => require(member, denied::SEND_MESSAGE),
            (Action::Post, GroupChat) => require(
                member && (!self.group_locked || manager),
                denied::SEND_MESSAGE,
            ),
            (Action::Post, Channel) => require(
                manager || holds(Some(Permission::CanSendMessages)),
                denied::SEND_MESSAGE,
            ),
            (Action::Join, OneToOneChat) => {
                Err(ChatError::rule("You can only join a channel/group chat"))
            }
            (Action::Join, GroupChat) => {
                Err(ChatError::rule("Ask an admin to add you to the group"))
            }
            (Action::Join, Channel) if self.is_public => Ok(()),
            (Action::Join, Channel) => Err(ChatError::rule(
                "Channel is private, ask a moderator to add you to the channel",
            )),
            (Action::Leave, kind) => {
                require(member, denied::ACCESS_ROOM)?;
                if kind == OneToOneChat {
                    return Err(ChatError::rule("You can only leave a channel/group chat"));
                }
                Ok(())
            }
            // The room type is checked before membership (rooms.md §11.2 row 5).
            (Action::AddMembers | Action::RemoveMembers, OneToOneChat) => Err(ChatError::rule(
                "Invalid room, Can only add or remove members from Groups/Channels",
            )),
            (Action::AddMembers, kind) => require(
                manager || holds(Permission::to_add_members(kind)),
                denied::ADD_MEMBERS,
            ),
            (Action::RemoveMembers, kind) => require(
                manager || holds(Permission::to_remove_members(kind)),
                denied::REMOVE_MEMBERS,
            ),
            (Action::Delete, OneToOneChat) => require(member, denied::NOT_CREATOR),
            (Action::Delete, _) => require(member && self.is_creator(user), denied::NOT_CREATOR),
            (Action::Manage, OneToOneChat) => require(member, denied::NOT_ADMIN),
            (Action::Manage, _) => require(manager, denied::NOT_ADMIN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATOR: i64 = 1;
    const MANAGER: i64 = 2;
    const HOLDER: i64 = 3;
    const MEMBER: i64 = 4;
    const OUTSIDER: i64 = 5;
    /// The creator's id, but no longer a member.
    const LEFT_CREATOR: i64 = 6;

    fn room(kind: RoomKind) -> Room {
        let one_to_one = kind == RoomKind::OneToOneChat;
        let mut permissions = BTreeSet::new();
        if !one_to_one {
            for p in Permission::ALL.into_iter().filter(|p| p.kind() == kind) {
                permissions.insert((HOLDER, p));
            }
        }
        Room {
            id: Uuid::nil(),
            kind,
            creator: (!one_to_one).then_some(CREATOR),
            members: if one_to_one {
                BTreeSet::from([CREATOR, MEMBER])
            } else {
                BTreeSet::from([CREATOR, MANAGER, HOLDER, MEMBER])
            },
            managers: if one_to_one {
                BTreeSet::new()
            } else {
                BTreeSet::from([MANAGER])
            },
            permissions,
            group_locked: false,
            is_public: false,
            cap: None,
        }
    }

    fn ok() -> Result<(), ChatError> {
        Ok(())
    }

    fn no(text: &'static str) -> Result<(), ChatError> {
        Err(ChatError::PermissionDenied(text))
    }

    fn rule(text: &str) -> Result<(), ChatError> {
        Err(ChatError::rule(text))
    }

    /// One row of rooms.md §4.4 per assertion: (room, user, action, expected).
    fn check(rows: Vec<(&Room, i64, Action, Result<(), ChatError>)>) {
        let mut failures = Vec::new();
        for (room, user, action, want) in rows {
            let got = room.authorize(user, action);
            if got != want {
                failures.push(format!(
                    "{:?} user {user} {action:?}: got {got:?}, want {want:?}",
                    room.kind
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn viewing_and_using_messages_needs_membership_in_every_room_type() {
        let rooms = [
            room(RoomKind::OneToOneChat),
            room(RoomKind::GroupChat),
            room(RoomKind::Channel),
        ];
        let mut rows = Vec::new();
        for r in &rooms {
            rows.push((r, MEMBER, Action::View, ok()));
            rows.push((r, OUTSIDER, Action::View, no(denied::ACCESS_ROOM)));
            rows.push((r, MEMBER, Action::UseMessages, ok()));
            rows.push((r, OUTSIDER, Action::UseMessages, no(denied::ACCESS_MESSAGE)));
        }
        check(rows);
    }

    #[test]
    fn posting_follows_room_type_lock_and_channel_rights() {
        let one = room(RoomKind::OneToOneChat);
        let group = room(RoomKind::GroupChat);
        let mut locked = room(RoomKind::GroupChat);
        locked.group_locked = true;
        let channel = room(RoomKind::Channel);
        let mut left = room(RoomKind::GroupChat);
        left.creator = Some(LEFT_CREATOR);
        let mut left_channel = room(RoomKind::Channel);
        left_channel.creator = Some(LEFT_CREATOR);
        left_channel.managers.insert(LEFT_CREATOR);
        check(vec![
            (&one, MEMBER, Action::Post, ok()),
            (&one, OUTSIDER, Action::Post, no(denied::SEND_MESSAGE)),
            (&group, MEMBER, Action::Post, ok()),
            (&group, OUTSIDER, Action::Post, no(denied::SEND_MESSAGE)),
            (&locked, CREATOR, Action::Post, ok()),
            (&locked, MANAGER, Action::Post, ok()),
            // Holding group permissions is not the admin role.
            (&locked, HOLDER, Action::Post, no(denied::SEND_MESSAGE)),
            (&locked, MEMBER, Action::Post, no(denied::SEND_MESSAGE)),
            (&locked, OUTSIDER, Action::Post, no(denied::SEND_MESSAGE)),
            (&channel, CREATOR, Action::Post, ok()),
            (&channel, MANAGER, Action::Post, ok()),
            (&channel, HOLDER, Action::Post, ok()),
            (&channel, MEMBER, Action::Post, no(denied::SEND_MESSAGE)),
            (&channel, OUTSIDER, Action::Post, no(denied::SEND_MESSAGE)),
            // A creator (or moderator) who is not a member has no rights.
            (&left, LEFT_CREATOR, Action::Post, no(denied::SEND_MESSAGE)),
            (
                &left_channel,
                LEFT_CREATOR,
                Action::Post,
                no(denied::SEND_MESSAGE),
            ),
        ]);
    }

    #[test]
    fn joining_only_works_for_public_channels_members_included() {
        let one = room(RoomKind::OneToOneChat);
        let group = room(RoomKind::GroupChat);
        let private = room(RoomKind::Channel);
        let mut public = room(RoomKind::Channel);
        public.is_public = true;
        check(vec![
            (
                &one,
                OUTSIDER,
                Action::Join,
                rule("You can only join a channel/group chat"),
            ),
            (
                &group,
                OUTSIDER,
                Action::Join,
                rule("Ask an admin to add you to the group"),
            ),
            (
                &group,
                MEMBER,
                Action::Join,
                rule("Ask an admin to add you to the group"),
            ),
            (
                &private,
                OUTSIDER,
                Action::Join,
                rule("Channel is private, ask a moderator to add you to the channel"),
            ),
            (&public, OUTSIDER, Action::Join, ok()),
            (&public, MEMBER, Action::Join, ok()),
        ]);
    }

    #[test]
    fn leaving_needs_membership_and_a_group_or_channel() {
        let one = room(RoomKind::OneToOneChat);
        let group = room(RoomKind::GroupChat);
        let channel = room(RoomKind::Channel);
        check(vec![
            (
                &one,
                MEMBER,
                Action::Leave,
                rule("You can only leave a channel/group chat"),
            ),
            (&one, OUTSIDER, Action::Leave, no(denied::ACCESS_ROOM)),
            (&group, CREATOR, Action::Leave, ok()),
            (&group, MEMBER, Action::Leave, ok()),
            (&group, OUTSIDER, Action::Leave, no(denied::ACCESS_ROOM)),
            (&channel, MEMBER, Action::Leave, ok()),
            (&channel, OUTSIDER, Action::Leave, no(denied::ACCESS_ROOM)),
        ]);
    }

    #[test]
    fn adding_and_removing_members_needs_a_role_or_the_permission() {
        let one = room(RoomKind::OneToOneChat);
        let both = "Invalid room, Can only add or remove members from Groups/Channels";
        let mut rows = vec![
            // The room type is refused before membership is looked at.
            (&one, MEMBER, Action::AddMembers, rule(both)),
            (&one, OUTSIDER, Action::AddMembers, rule(both)),
            (&one, MEMBER, Action::RemoveMembers, rule(both)),
        ];
        let group = room(RoomKind::GroupChat);
        let channel = room(RoomKind::Channel);
        let mut only_add = room(RoomKind::GroupChat);
        only_add
            .permissions
            .retain(|(_, p)| *p == Permission::CanAddNewParticipants);
        for r in [&group, &channel] {
            for user in [CREATOR, MANAGER, HOLDER] {
                rows.push((r, user, Action::AddMembers, ok()));
                rows.push((r, user, Action::RemoveMembers, ok()));
            }
            for user in [MEMBER, OUTSIDER] {
                rows.push((r, user, Action::AddMembers, no(denied::ADD_MEMBERS)));
                rows.push((r, user, Action::RemoveMembers, no(denied::REMOVE_MEMBERS)));
            }
        }
        rows.push((&only_add, HOLDER, Action::AddMembers, ok()));
        rows.push((
            &only_add,
            HOLDER,
            Action::RemoveMembers,
            no(denied::REMOVE_MEMBERS),
        ));
        check(rows);
    }

    #[test]
    fn channel_permissions_do_not_count_in_groups() {
        let mut group = room(RoomKind::GroupChat);
        group.permissions = BTreeSet::from([
            (MEMBER, Permission::CanAddNewSubscribers),
            (MEMBER, Permission::CanSendMessages),
        ]);
        group.group_locked = true;
        check(vec![
            (&group, MEMBER, Action::AddMembers, no(denied::ADD_MEMBERS)),
            (&group, MEMBER, Action::Post, no(denied::SEND_MESSAGE)),
        ]);
    }

    #[test]
    fn deleting_needs_the_creator_and_managing_needs_creator_or_manager() {
        let one = room(RoomKind::OneToOneChat);
        let mut rows = vec![
            (&one, MEMBER, Action::Delete, ok()),
            (&one, CREATOR, Action::Delete, ok()),
            (&one, OUTSIDER, Action::Delete, no(denied::NOT_CREATOR)),
            (&one, MEMBER, Action::Manage, ok()),
            (&one, OUTSIDER, Action::Manage, no(denied::NOT_ADMIN)),
        ];
        let group = room(RoomKind::GroupChat);
        let channel = room(RoomKind::Channel);
        let mut left = room(RoomKind::GroupChat);
        left.creator = Some(LEFT_CREATOR);
        for r in [&group, &channel] {
            rows.push((r, CREATOR, Action::Delete, ok()));
            rows.push((r, CREATOR, Action::Manage, ok()));
            rows.push((r, MANAGER, Action::Delete, no(denied::NOT_CREATOR)));
            rows.push((r, MANAGER, Action::Manage, ok()));
            for user in [HOLDER, MEMBER, OUTSIDER] {
                rows.push((r, user, Action::Delete, no(denied::NOT_CREATOR)));
                rows.push((r, user, Action::Manage, no(denied::NOT_ADMIN)));
            }
        }
        rows.push((&left, LEFT_CREATOR, Action::Delete, no(denied::NOT_CREATOR)));
        rows.push((&left, LEFT_CREATOR, Action::Manage, no(denied::NOT_ADMIN)));
        check(rows);
    }

    #[test]
    fn the_cap_counts_only_newcomers_and_may_be_reached_but_not_exceeded() {
        let mut group = room(RoomKind::GroupChat);
        group.cap = Some(5);
        // Four members; one more fits, two do not, and nothing is added then.
        assert_eq!(
            group.admit(&[OUTSIDER, 7]),
            Err(ChatError::rule(
                "Maximum number of group participants exceeded"
            ))
        );
        assert_eq!(group.members.len(), 4);
        // Existing members and duplicates do not count.
        group.admit(&[MEMBER, OUTSIDER, OUTSIDER]).unwrap();
        assert_eq!(group.members.len(), 5);
        group.admit(&[CREATOR, MEMBER]).unwrap();
        let mut channel = room(RoomKind::Channel);
        channel.cap = Some(4);
        assert_eq!(
            channel.admit(&[OUTSIDER]),
            Err(ChatError::rule(
                "Maximum number of channel subscribers exceeded"
            ))
        );
    }

    #[test]
    fn removal_takes_role_and_every_permission_with_the_membership() {
        let mut group = room(RoomKind::GroupChat);
        group.remove(&[MANAGER, HOLDER]);
        assert!(!group.is_member(MANAGER) && !group.is_manager(MANAGER));
        assert!(group.permissions.is_empty());
        // Re-added, a former holder has nothing (rooms.md §4.3).
        group.admit(&[HOLDER]).unwrap();
        assert_eq!(
            group.authorize(HOLDER, Action::AddMembers),
            no(denied::ADD_MEMBERS)
        );
    }

    #[test]
    fn only_the_creator_may_remove_the_creator_and_outsiders_are_skipped() {
        let group = room(RoomKind::GroupChat);
        assert_eq!(
            group.removable(MANAGER, &[CREATOR, MEMBER, OUTSIDER, MEMBER]),
            vec![MEMBER]
        );
        assert_eq!(group.removable(CREATOR, &[CREATOR]), vec![CREATOR]);
    }

    #[test]
    fn role_changes_skip_the_creator_and_non_members_and_carry_the_role_permissions() {
        let mut channel = room(RoomKind::Channel);
        let targets = channel.role_targets(&[CREATOR, MEMBER, OUTSIDER, MEMBER]);
        assert_eq!(targets, vec![MEMBER]);
        channel.promote(&targets);
        assert!(channel.is_manager(MEMBER));
        for p in Permission::of_role(RoomKind::Channel) {
            assert!(channel.holds(MEMBER, *p));
        }
        channel.demote(&targets);
        assert!(!channel.is_manager(MEMBER));
        assert!(!channel.permissions.iter().any(|(u, _)| *u == MEMBER));
        assert!(channel.is_member(MEMBER));
        // Revoking one permission leaves the others.
        channel.grant(
            &[MEMBER],
            &[
                Permission::CanSendMessages,
                Permission::CanAddNewSubscribers,
            ],
        );
        channel.revoke(&[MEMBER], &[Permission::CanSendMessages]);
        assert!(channel.holds(MEMBER, Permission::CanAddNewSubscribers));
        assert!(!channel.holds(MEMBER, Permission::CanSendMessages));
    }

    #[test]
    fn kinds_and_permissions_round_trip_their_wire_names() {
        for kind in [
            RoomKind::OneToOneChat,
            RoomKind::GroupChat,
            RoomKind::Channel,
        ] {
            assert_eq!(RoomKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(RoomKind::parse("groupchat"), None);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        assert_eq!(Permission::parse("can_fly"), None);
    }
}
