//! A WebSocket after its handshake, outside actix-http's h1 dispatcher.
//!
//! Why: the dispatcher keeps an 8 KiB read and an 8 KiB write buffer for as long as it serves a
//! connection, and a WebSocket answered from a handler is served by it until it closes: most
//! of what an idle connection held (docs/performance.md "What an idle connection holds").
//! actix-http hands a request with `Upgrade: websocket` to an upgrade service together with the
//! socket and ends the dispatcher, freeing its buffers. That service here passes the request to
//! the same application as any other (so every answer, the handshake's included, comes from
//! [`super::endpoint`] and the routes), writes the response, and, when the endpoint accepted the
//! WebSocket, runs its actor over the raw socket: reads go through the worker thread's buffer
//! (`server.socket_read_bytes`), and writes gather the encoded frames of a burst into one
//! buffer that is released once written (`server.socket_write_bytes`). The session encodes its
//! text frames straight into that buffer ([`WriteBuffer`]); only control frames (pong, close)
//! go through actix's WebSocket context.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_codec::{Encoder, Framed};
use actix_http::body::{self, BodySize, BoxBody};
use actix_http::ws::{OpCode, Parser};
use actix_http::{h1, ConnectionType, HttpMessage, Request, Response, StatusCode};
use actix_rt::net::TcpStream;
use actix_service::boxed::{BoxService, BoxServiceFactory};
use actix_service::{Service, ServiceFactory};
use actix_web::error::PayloadError;
use actix_web::web::{Buf, Bytes, BytesMut};
use actix_web_actors::ws;
use futures_core::future::LocalBoxFuture;
use futures_core::stream::LocalBoxStream;
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Sleep;

use super::frame_guard::FrameGuard;
use super::{Handover, Rejected, Upgrading, WsSession};

/// The application as the upgrade service calls it: a request in, a response out (its errors
/// already rendered as responses).
pub type AppFactory = BoxServiceFactory<(), Request, Response<BoxBody>, Response<BoxBody>, ()>;
type AppService = BoxService<Request, Response<BoxBody>, Response<BoxBody>>;

/// Socket buffer sizes of an upgraded connection (`server.socket_*_bytes`), and how long its
/// pending bytes may wait on a client that takes none (`server.write_stall_timeout`).
#[derive(Debug, Clone, Copy)]
pub struct SocketBuffers {
    pub read: usize,
    pub write: usize,
    pub write_stall: Duration,
}

/// actix-http's upgrade service factory, one per HTTP worker.
pub struct UpgradeFactory {
    app: AppFactory,
    buffers: SocketBuffers,
}

impl UpgradeFactory {
    pub fn new(app: AppFactory, buffers: SocketBuffers) -> UpgradeFactory {
        UpgradeFactory { app, buffers }
    }
}

type Upgraded = (Request, Framed<TcpStream, h1::Codec>);

impl ServiceFactory<Upgraded> for UpgradeFactory {
    type Response = ();
    type Error = actix_web::Error;
    type Config = ();
    type Service = UpgradeService;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<UpgradeService, ()>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let app = self.app.new_service(());
        let buffers = self.buffers;
        Box::pin(async move {
            Ok(UpgradeService {
                app: app.await?,
                buffers,
            })
        })
    }
}

pub struct UpgradeService {
    app: AppService,
    buffers: SocketBuffers,
}

impl Service<Upgraded> for UpgradeService {
    type Response = ();
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<(), actix_web::Error>>;

    actix_service::always_ready!();

    fn call(&self, (req, framed): Upgraded) -> Self::Future {
        // Tells the endpoint that it may accept: someone will take the socket over.
        req.extensions_mut().insert(Upgrading);
        let answered = self.app.call(req);
        // This future lives as long as the connection, and its size is fixed at its largest
        // state: what only the hand-over needs is boxed apart (the dispatcher's codec and
        // buffers, the accepted session's parts) or awaited in a box of its own (any answer
        // but a 101), so that it is freed once used.
        let framed = Box::new(framed);
        let buffers = self.buffers;
        Box::pin(async move {
            let res = answered.await.unwrap_or_else(|res| res);
            let ended = match hand_over(res, *framed) {
                Ok(HandOver::Accepted(accepted)) => run(accepted, buffers).await,
                Ok(HandOver::Answer(answer)) => answer.await,
                Err(e) => Err(e),
            };
            match ended {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    log::info!("dropped a WebSocket whose client stopped reading: {e}")
                }
                // A client that went away is not the server's error: nothing to report.
                Err(e) => log::debug!("upgraded connection ended with an I/O error: {e}"),
                Ok(()) => {}
            }
            Ok(())
        })
    }
}

enum HandOver {
    /// The WebSocket was accepted: its 101 is encoded, ready to be written first.
    Accepted(Box<Accepted>),
    /// Any other answer, written by this future.
    Answer(LocalBoxFuture<'static, io::Result<()>>),
}

struct Accepted {
    handover: Handover,
    io: TcpStream,
    /// What the client sent after the handshake's request, read along with it.
    unread: Bytes,
    head: BytesMut,
}

fn hand_over(res: Response<BoxBody>, framed: Framed<TcpStream, h1::Codec>) -> io::Result<HandOver> {
    // The dispatcher's buffers come along: the read buffer's unread bytes are kept (as their
    // own allocation), the rest is freed now rather than held for the connection's lifetime.
    let parts = framed.into_parts();
    let (mut codec, io) = (parts.codec, parts.io);
    let unread = Bytes::copy_from_slice(&parts.read_buf);
    drop((parts.read_buf, parts.write_buf));
    let (mut head, body) = res.into_parts();
    let handover = head.extensions_mut().remove::<Handover>();
    let mut out = BytesMut::new();
    match handover {
        Some(handover) if head.status() == StatusCode::SWITCHING_PROTOCOLS => {
            codec.encode(h1::Message::Item((head, BodySize::None)), &mut out)?;
            Ok(HandOver::Accepted(Box::new(Accepted {
                handover,
                io,
                unread,
                head: out,
            })))
        }
        _ => Ok(HandOver::Answer(Box::pin(async move {
            // As the dispatcher would give it: the request's body (which `Upgrade: websocket`
            // makes the rest of the stream) is not read, so the connection closes after it.
            head.head_mut().set_connection_type(ConnectionType::Close);
            let body = body::to_bytes(body)
                .await
                .map_err(|e| io::Error::other(e.to_string()))?;
            let size = BodySize::Sized(body.len() as u64);
            codec.encode(h1::Message::Item((head, size)), &mut out)?;
            if !body.is_empty() {
                codec.encode(h1::Message::Chunk(Some(body)), &mut out)?;
            }
            codec.encode(h1::Message::Chunk(None), &mut out)?;
            let (_, mut write) = io.into_split();
            write_out(&mut write, &mut out).await
        }))),
    }
}

/// Runs the accepted connection's actor until it stops, then closes the socket (without
/// lingering: bytes the client still sends are refused).
async fn run(accepted: Box<Accepted>, buffers: SocketBuffers) -> io::Result<()> {
    let Accepted {
        handover,
        io,
        unread,
        head,
    } = *accepted;
    let (read, mut write) = io.into_split();
    let input = SocketReader {
        read,
        unread: (!unread.is_empty()).then_some(unread),
        chunk: buffers.read,
    };
    let max_frame = handover.max_frame();
    // Every byte from the client passes the guard before the codec buffers it.
    let (input, verdict) = FrameGuard::new(input, max_frame);
    let codec = actix_http::ws::Codec::new().max_size(max_frame);
    let pending = WriteBuffer::holding(head);
    let output: LocalBoxStream<'static, Result<Bytes, actix_web::Error>> = match handover {
        Handover::Session(parts) => Box::pin(ws::WebsocketContext::with_codec(
            WsSession::new(parts.app, parts.user, verdict, parts.conn, pending.clone()),
            input,
            codec,
        )),
        Handover::Rejected { .. } => {
            Box::pin(ws::WebsocketContext::with_codec(Rejected, input, codec))
        }
    };
    let mut pump = Pump {
        output,
        ended: false,
        pending,
        limit: buffers.write,
        stall: buffers.write_stall,
        stalled: None,
    };
    poll_fn(|cx| pump.poll(cx, &mut write)).await
}

async fn write_out(write: &mut OwnedWriteHalf, out: &mut BytesMut) -> io::Result<()> {
    poll_fn(|cx| poll_write_all(Pin::new(&mut *write), cx, out)).await
}

fn poll_write_all(
    mut write: Pin<&mut OwnedWriteHalf>,
    cx: &mut Context<'_>,
    out: &mut BytesMut,
) -> Poll<io::Result<()>> {
    while !out.is_empty() {
        match ready!(write.as_mut().poll_write(cx, out))? {
            0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            n => out.advance(n),
        }
    }
    Poll::Ready(Ok(()))
}

/// A connection's write buffer: the session encodes its text frames into it as it writes them,
/// and the [`Pump`] writes it to the socket. Encoding there rather than through actix's
/// WebSocket context saves, per burst of frames, the context's own buffer (grown frame by
/// frame) and the copy from it into this one: a burst of frames is one allocation of its exact
/// size and one copy of each frame. Both ends run in the connection's one task, on its worker
/// thread; the session writes only while the pump polls it, so the two never overlap.
#[derive(Clone)]
pub struct WriteBuffer(Rc<RefCell<BytesMut>>);

impl WriteBuffer {
    fn holding(bytes: BytesMut) -> WriteBuffer {
        WriteBuffer(Rc::new(RefCell::new(bytes)))
    }

    /// Encodes one text frame after whatever the buffer holds.
    pub fn text(&self, payload: &str) {
        self.texts(std::iter::once(payload));
    }

    /// Encodes each of `payloads` as a text frame, in order, growing the buffer once for all.
    pub fn texts<'a>(&self, payloads: impl Iterator<Item = &'a str> + Clone) {
        let size: usize = payloads
            .clone()
            .map(|p| p.len() + header_len(p.len()))
            .sum();
        let mut buf = self.0.borrow_mut();
        buf.reserve(size);
        for payload in payloads {
            // A server's frames are not masked (RFC 6455 §5.1).
            Parser::write_message(&mut buf, payload, OpCode::Text, true, false);
        }
    }

    fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// The bytes of an unmasked frame's header before a payload of `len` bytes (RFC 6455 §5.2).
fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// Moves the connection's encoded frames to the socket. The actor runs inside `output`
/// (actix's context future is polled by whoever reads its stream), so while `limit` bytes wait
/// for a client that does not read, it does not run: its outbox fills and Presence closes it
/// (1013) once the client reads again. A client that takes no byte for `stall` is dropped: the
/// session could not end it otherwise (its timers and mailbox are not run meanwhile).
///
/// The session's text frames reach `pending` while `output` is polled; what `output` yields
/// (control frames: pong, close) is appended after them, so a close always comes last.
struct Pump {
    output: LocalBoxStream<'static, Result<Bytes, actix_web::Error>>,
    ended: bool,
    pending: WriteBuffer,
    limit: usize,
    stall: Duration,
    /// Runs while the socket takes none of `pending`; restarted by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Pump {
    fn poll(&mut self, cx: &mut Context<'_>, write: &mut OwnedWriteHalf) -> Poll<io::Result<()>> {
        loop {
            // Everything the actor has ready joins one write: a burst costs one send().
            let mut idle = false;
            while !self.ended && self.pending.len() < self.limit {
                let held = self.pending.len();
                match self.output.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(chunk))) => {
                        self.pending.0.borrow_mut().extend_from_slice(&chunk)
                    }
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Err(io::Error::other(e.to_string())))
                    }
                    Poll::Ready(None) => self.ended = true,
                    // The session wrote frames of its own meanwhile (it yields after a few
                    // client frames, waking itself): take them as a chunk, and ask for more.
                    Poll::Pending if self.pending.len() > held => {}
                    Poll::Pending => {
                        idle = true;
                        break;
                    }
                }
            }
            // Not borrowed while `output` is polled: the session writes into it then.
            let mut pending = self.pending.0.borrow_mut();
            let before = pending.len();
            if poll_write_all(Pin::new(&mut *write), cx, &mut pending)?.is_pending() {
                if pending.len() < before {
                    self.stalled = None;
                }
                let waiting = pending.len();
                drop(pending);
                let stall = self.stall;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                ready!(timer.as_mut().poll(cx));
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{waiting} bytes waited {stall:?} for a client that took none"),
                )));
            }
            self.stalled = None;
            // Written: an idle connection keeps no write buffer.
            *pending = BytesMut::new();
            drop(pending);
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            if idle {
                return Poll::Pending;
            }
        }
    }
}

thread_local! {
    /// Where a worker thread's WebSocket reads land (`server.socket_read_bytes`); what was
    /// read is copied out, so no connection holds it.
    static READ_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The client's bytes, read from the socket as they arrive, through the worker thread's read
/// buffer ([`READ_SCRATCH`]) and handed on at their size, so nothing stays allocated between
/// frames.
struct SocketReader {
    read: OwnedReadHalf,
    /// What the client sent after the handshake's request, read along with it.
    unread: Option<Bytes>,
    chunk: usize,
}

impl Stream for SocketReader {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(unread) = self.unread.take() {
            return Poll::Ready(Some(Ok(unread)));
        }
        let chunk = self.chunk;
        // Read into the worker thread's buffer, and keep a copy of what came, at its size:
        // a buffer of `chunk` bytes allocated and freed for every read cost more than the
        // copy (a client frame is a few hundred bytes; glibc serves that size from its
        // per-thread cache, and a 4 KiB block from its bins, consolidating them as it goes).
        // `poll_read` rather than `try_read`: a read that fills less than the buffer has
        // drained the socket, and tokio then waits for the next readiness without the read
        // that would only answer `EAGAIN` (one system call less per frame a client sends).
        let read = &mut self.read;
        READ_SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < chunk {
                scratch.resize(chunk, 0);
            }
            let mut buf = ReadBuf::new(&mut scratch[..chunk]);
            match ready!(Pin::new(read).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => Poll::Ready(None),
                Ok(()) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(buf.filled())))),
                Err(e) => Poll::Ready(Some(Err(PayloadError::Io(e)))),
            }
        })
    }
}
