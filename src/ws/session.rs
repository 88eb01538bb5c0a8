//! `WsSession`: one actor per connection. It owns the socket: decodes frames into events,
//! runs them one at a time (all frames of one event go out before the next is read), and
//! writes what the rest of the system sends it. The one exception is a run of consecutive
//! `message.send` events to one room, which are handed to the room without waiting for each
//! other (up to `sessions.pipelined_sends`; see [`WsSession::pipeline_send`]) while every frame
//! still comes out in the order of the events. It closes idle connections (4008), oversized
//! frames (1009, found by the `FrameGuard`), text that is not UTF-8 (1007) and connections
//! that stop reading (1013).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws;
use entity::user;
use futures_util::future::Either;
use uuid::Uuid;

use super::frame_guard::{Verdict, Violation};
use super::upgrade::WriteBuffer;
use crate::app::AppState;
use crate::events::{self, Caller};
use crate::logging;
use crate::metrics::UNKNOWN_EVENT;
use crate::notifications::PendingFrame;
use crate::presence::{Outbound, Outbox};
use crate::protocol::client::{event_type_of, ClientEvent, MessageSend};
use crate::protocol::errors::ChatError;
use crate::protocol::server::heartbeat_ack;
use crate::store::render::user_view;

pub struct WsSession {
    app: Arc<AppState>,
    caller: Caller,
    /// When the client last sent a frame of any kind.
    last_heard: Instant,
    /// A fragmented text message being reassembled. The `FrameGuard` ends the stream before
    /// it outgrows `limits.max_frame_bytes`.
    fragments: Option<Vec<u8>>,
    /// Why the `FrameGuard` ended the client's stream, if it did.
    verdict: Verdict,
    /// Dispatches waiting for this socket, flushed on [`Outbound::Flush`].
    outbox: Arc<Outbox>,
    /// This connection's pipelined sends whose outcome has not been taken yet, oldest first:
    /// each is the task that waits for it (and yields the error frame that no one else
    /// could write, if any).
    sends: VecDeque<actix_rt::task::JoinHandle<Option<ChatError>>>,
    /// The room of the latest pipelined send.
    sends_room: Option<Uuid>,
    /// Where its text frames are encoded, in the order it writes them, for the socket.
    out: WriteBuffer,
}

impl WsSession {
    pub fn new(
        app: Arc<AppState>,
        user: user::Model,
        verdict: Verdict,
        connection_id: Uuid,
        out: WriteBuffer,
    ) -> Self {
        WsSession {
            app,
            caller: Caller {
                user: Arc::new(user_view(&user)),
                connection_id,
            },
            last_heard: Instant::now(),
            fragments: None,
            verdict,
            outbox: Arc::default(),
            sends: VecDeque::new(),
            sends_room: None,
            out,
        }
    }

    fn close(ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    fn reply_error(&self, err: &ChatError) {
        self.out.text(&err.to_frame_text());
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let decoded = ClientEvent::decode(text);
        match decoded {
            Ok(ClientEvent::MessageSend(req)) if self.app.settings.sessions.pipelined_sends > 1 => {
                self.pipeline_send(req, ctx)
            }
            decoded => {
                let name = event_type_of(text).unwrap_or(UNKNOWN_EVENT);
                self.after_sends(ctx, move |act, ctx| act.run_event(decoded, name, ctx));
            }
        }
    }

    /// Runs one event; nothing else is read until its frames are out.
    fn run_event(
        &mut self,
        decoded: Result<ClientEvent, ChatError>,
        name: &'static str,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        match decoded {
            Err(err) => {
                self.app.metrics.event(name, Some(&err));
                self.reply_error(&err)
            }
            Ok(ClientEvent::SessionHeartbeat) => {
                self.app.metrics.event("session.heartbeat", None);
                self.out.text(&heartbeat_ack());
                // Noted only: `last_seen` is written in batches (presence::ledger).
                self.app.sessions.heard(self.caller.connection_id);
            }
            Ok(event) => {
                let app = self.app.clone();
                let caller = self.caller.clone();
                let name = event.name();
                let handled = logging::in_connection(
                    caller.connection_id,
                    events::handle(app, caller, event),
                );
                // `wait` holds back the next frame until this event is done (messages.md §1.5).
                ctx.wait(handled.into_actor(self).map(move |result, act, _ctx| {
                    act.app.metrics.event(name, result.as_ref().err());
                    match result {
                        Ok(Some(frame)) => act.out.text(&frame),
                        Ok(None) => {}
                        Err(err) => act.reply_error(&err),
                    }
                    // What the event dispatched to this connection from another thread goes
                    // out before the next frame is read: its flush may still be on its way
                    // through this worker (`presence::Wakes`) rather than in the mailbox.
                    act.flush_outbox();
                }));
            }
        }
    }

    /// Runs `then` once every pipelined send of this connection is done and its frames are
    /// out (at once when there is none): every frame but a pipelined send's is a barrier.
    fn after_sends(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        then: impl FnOnce(&mut Self, &mut ws::WebsocketContext<Self>) + 'static,
    ) {
        if self.sends.is_empty() {
            then(self, ctx);
        } else {
            ctx.wait(Settle { keep: 0 }.map(move |(), act, ctx| then(act, ctx)));
        }
    }

    /// A `message.send` with `sessions.pipelined_sends` > 1. It is checked while the
    /// connection's earlier sends are still being written, then queued with its room's actor
    /// behind them, and the next frame is read without waiting for its commit. The room's
    /// actor fans the room's sends out in the order it queued them, and answers a refused
    /// or failed one by queueing its error frame on this connection's outbox at that point
    /// ([`crate::rooms::messages::Pipelined`]), so every member sees the connection's sends,
    /// and the connection sees their dispatches and errors, in the order it sent them.
    ///
    /// What waits instead: a send refused before it is queued (its error is written here, so
    /// it waits until the earlier sends are done and their frames are out), a send to
    /// another room (rooms fan out independently, so it waits until the earlier room's sends
    /// are done), and a send beyond the window (until the oldest is done). Every other frame
    /// waits for all of them ([`WsSession::after_sends`]).
    fn pipeline_send(&mut self, req: MessageSend, ctx: &mut ws::WebsocketContext<Self>) {
        let window = self.app.settings.sessions.pipelined_sends;
        let (app, caller) = (self.app.clone(), self.caller.clone());
        let prepared = logging::in_connection(caller.connection_id, async move {
            let prepared = events::prepare_send(&app, &caller, req).await?;
            Ok::<_, ChatError>((app, caller, prepared))
        });
        let queued = Settle { keep: window - 1 }
            .then(move |(), act: &mut Self, _ctx| prepared.into_actor(act))
            .then(|prepared, act: &mut Self, _ctx| {
                let elsewhere =
                    matches!(&prepared, Ok((_, _, p)) if act.sends_room != Some(p.room_id()));
                let keep = if elsewhere { 0 } else { usize::MAX };
                Settle { keep }.map(move |(), _act, _ctx| prepared)
            })
            .then(|prepared, act: &mut Self, _ctx| {
                async move {
                    let (app, caller, prepared) = prepared?;
                    let room_id = prepared.room_id();
                    let queued = events::queue_send(&app, &caller, prepared).await?;
                    Ok::<_, ChatError>((app, room_id, queued))
                }
                .into_actor(act)
            })
            .then(|queued, act: &mut Self, _ctx| match queued {
                Ok((app, room_id, (outcome, received))) => {
                    let task = async move {
                        let (result, unwritten) = match outcome.await {
                            Ok(outcome) => (events::sent(&app, received, outcome), None),
                            // The room's actor ended without an answer: no one wrote it.
                            Err(_) => {
                                let err = ChatError::internal("room actor", "ended before");
                                (Err(err.clone()), Some(err))
                            }
                        };
                        app.metrics.event("message.send", result.as_ref().err());
                        unwritten
                    };
                    let conn = act.caller.connection_id;
                    act.sends
                        .push_back(actix_rt::spawn(logging::in_connection(conn, task)));
                    act.sends_room = Some(room_id);
                    Either::Left(fut::ready(()))
                }
                Err(err) => {
                    act.app.metrics.event("message.send", Some(&err));
                    Either::Right(
                        Settle { keep: 0 }.map(move |(), act, _ctx| act.reply_error(&err)),
                    )
                }
            });
        ctx.wait(queued);
    }

    /// Writes every frame the outbox holds.
    fn flush_outbox(&self) {
        let frames = self.outbox.take_all();
        self.out.texts(frames.iter().map(|frame| &**frame));
    }

    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (first, last, bytes) = match item {
            actix_http::ws::Item::FirstText(b) => (true, false, b),
            actix_http::ws::Item::FirstBinary(_) => {
                self.fragments = None;
                return self.reply_error(&ChatError::InvalidFrame(
                    "binary frames are not supported".into(),
                ));
            }
            actix_http::ws::Item::Continue(b) => (false, false, b),
            actix_http::ws::Item::Last(b) => (false, true, b),
        };
        if first {
            self.fragments = Some(Vec::new());
        }
        let Some(buf) = self.fragments.as_mut() else {
            // The rest of a binary message, or a continuation without a start.
            return;
        };
        buf.extend_from_slice(&bytes);
        if last {
            let buf = self.fragments.take().unwrap_or_default();
            match String::from_utf8(buf) {
                Ok(text) => self.on_text(&text, ctx),
                Err(_) => Self::close_for(ctx, Violation::InvalidUtf8),
            }
        }
    }

    /// Closes the connection with 4008 once it has been silent for the inactivity threshold.
    /// One timer per connection, due when the threshold would pass and moved on only when it
    /// fires: a connection that keeps talking costs one wake-up per threshold rather than a
    /// periodic check (10,000 idle connections made 2,000 of those a second), and a silent one
    /// is closed when its threshold passes.
    fn expire_when_silent(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let threshold = self.app.settings.inactivity_threshold();
        let due = threshold.saturating_sub(self.last_heard.elapsed());
        ctx.run_later(due, move |act, ctx| {
            if act.last_heard.elapsed() >= threshold {
                Self::close(ctx, ws::CloseCode::Other(4008), "Session expired");
            } else {
                act.expire_when_silent(ctx);
            }
        });
    }

    fn close_for(ctx: &mut ws::WebsocketContext<Self>, violation: Violation) {
        match violation {
            Violation::TooBig => Self::close(ctx, ws::CloseCode::Size, "Message too big"),
            Violation::InvalidUtf8 => Self::close(ctx, ws::CloseCode::Invalid, "Invalid UTF-8"),
        }
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The mailbox carries flushes and close notices only; the frames wait in the outbox,
        // whose capacity (`mailboxes.session`) Presence enforces.
        self.app.presence.register(
            self.caller.user.id,
            self.caller.connection_id,
            ctx.address().recipient(),
            self.outbox.clone(),
        );

        self.expire_when_silent(ctx);

        // The session row is written by the ledger's row writer on the system runtime (so a
        // worker shutting down cannot cut it off), with those of the connections that open
        // meanwhile.
        let user_id = self.caller.user.id;
        let conn = self.caller.connection_id;
        log::info!(conn:% = conn; "connection opened for user {user_id}");
        let mut written = self.app.sessions.open(user_id, conn);

        // The session row and the pending notifications come before anything else is read or
        // written: `chat.notifications` is always the first frame, sent once the row is
        // written (messages.md §15.2). The replay is read meanwhile; Presence already knows
        // the connection, so whatever is committed after the replay's read is dispatched to
        // it. Dispatches that arrive meanwhile wait in the mailbox.
        let app = self.app.clone();
        let pending = PendingFrame {
            user_id,
            connection_id: conn,
        };
        ctx.wait(
            logging::in_connection(conn, async move {
                let replay = async {
                    match app.notifications.send(pending).await {
                        Ok(result) => result,
                        Err(e) => Err(ChatError::internal("notification actor", e)),
                    }
                };
                let (_, result) = tokio::join!(written.wait_for(|done| *done), replay);
                result
            })
            .into_actor(self)
            .map(|result, act, _ctx| match result {
                Ok(Some(frame)) => act.out.text(&frame),
                Ok(None) => {}
                Err(err) => act.reply_error(&err),
            }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.app
            .presence
            .unregister(self.caller.user.id, self.caller.connection_id);
        let conn = self.caller.connection_id;
        log::info!(conn:% = conn; "connection closed");
        // Queued after the connection's open, so its removal never overtakes the row's write.
        self.app.sessions.close(conn);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            other => self.after_sends(ctx, move |act, ctx| act.on_message(other, ctx)),
        }
    }

    /// The client's stream ended: it went away, or the `FrameGuard` stopped reading it.
    fn finished(&mut self, ctx: &mut Self::Context) {
        self.after_sends(ctx, |act, ctx| match act.verdict.get() {
            Some(violation) => Self::close_for(ctx, violation),
            None => ctx.stop(),
        });
    }
}

impl WsSession {
    /// Every frame from the client but a text frame.
    fn on_message(
        &mut self,
        msg: Result<ws::Message, ws::ProtocolError>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.reply_error(&ChatError::InvalidFrame(
                "binary frames are not supported".into(),
            )),
            Ok(ws::Message::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(ws::ProtocolError::Overflow) => Self::close_for(ctx, Violation::TooBig),
            Err(e) => {
                log::debug!(conn:% = self.caller.connection_id; "protocol error: {e}");
                Self::close(ctx, ws::CloseCode::Protocol, "Protocol error");
            }
        }
    }
}

/// Takes the outcomes of the connection's pipelined sends, oldest first, until at most `keep`
/// are still in flight. With none left it writes whatever the outbox holds: each send's
/// frames were queued there before its outcome arrived, so a frame the session writes next
/// cannot overtake them. (While it runs, as inside any `wait`, the session reads no frame and
/// takes no flush.)
struct Settle {
    keep: usize,
}

impl ActorFuture<WsSession> for Settle {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut WsSession,
        _ctx: &mut ws::WebsocketContext<WsSession>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        while act.sends.len() > self.keep {
            let Some(oldest) = act.sends.front_mut() else {
                break;
            };
            let Poll::Ready(outcome) = Pin::new(oldest).poll(task) else {
                return Poll::Pending;
            };
            act.sends.pop_front();
            let unwritten =
                outcome.unwrap_or_else(|e| Some(ChatError::internal("message.send", e)));
            if let Some(err) = unwritten {
                act.flush_outbox();
                act.reply_error(&err);
            }
        }
        if self.keep == 0 {
            act.flush_outbox();
        }
        Poll::Ready(())
    }
}

impl Handler<Outbound> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: Outbound, ctx: &mut Self::Context) {
        match msg {
            // All of them before the socket is written: one send() (`upgrade::Pump`).
            Outbound::Flush => self.flush_outbox(),
            // The flush for what the outbox holds may still be on its way through this
            // session's worker (`presence::Wakes`), behind the notice: what was queued before
            // the notice goes out before the close.
            Outbound::Overloaded => {
                self.flush_outbox();
                Self::close(ctx, ws::CloseCode::Again, "Try again later")
            }
            Outbound::GoingAway => {
                self.flush_outbox();
                Self::close(ctx, ws::CloseCode::Away, "Server shutting down")
            }
        }
    }
}
