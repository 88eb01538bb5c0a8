//! `FrameGuard`: the client's bytes pass through it on their way from the socket to
//! actix-http's WebSocket codec, and it enforces the frame limits as they arrive.
//!
//! Why it exists: the codec compares a frame's declared length with its limit only once the
//! whole frame is buffered (actix-http 3.x `ws::Parser::parse` waits for "enough data" first),
//! so a header declaring 2^40 bytes made it buffer whatever the client streamed. The guard reads
//! each frame header (RFC 6455 §5.2) as soon as it is complete and ends the stream there, before
//! any of the payload is passed on, when the frame, or the fragmented message it continues,
//! declares more than `limits.max_frame_bytes` (→ close 1009). It also checks that text messages
//! are UTF-8 while they stream in (→ close 1007, RFC 6455 §8.1): the codec's own check surfaces
//! only as an untyped I/O error.
//!
//! Ending the stream lets the session handle the frames before the offending one, then its
//! `finished` reads the [`Violation`] from the shared [`Verdict`] and closes with its code. The
//! guard reads nothing more, so the payload left in the socket is never buffered by us.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_core::Stream;

/// Why the guard ended the client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A frame, or a fragmented message so far, longer than `limits.max_frame_bytes`.
    TooBig,
    /// A text message that is not UTF-8.
    InvalidUtf8,
}

/// The guard's verdict, read by the session when the stream ends. Both live on the
/// connection's worker thread.
#[derive(Debug, Clone, Default)]
pub struct Verdict(Rc<Cell<Option<Violation>>>);

impl Verdict {
    pub fn get(&self) -> Option<Violation> {
        self.0.get()
    }
}

pub struct FrameGuard<S> {
    inner: S,
    scanner: Scanner,
    verdict: Verdict,
    ended: bool,
}

impl<S> FrameGuard<S> {
    pub fn new(inner: S, max_frame_bytes: usize) -> (FrameGuard<S>, Verdict) {
        let verdict = Verdict::default();
        let guard = FrameGuard {
            inner,
            scanner: Scanner::new(max_frame_bytes as u64),
            verdict: verdict.clone(),
            ended: false,
        };
        (guard, verdict)
    }
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
            Some(Ok(chunk)) => match this.scanner.scan(&chunk) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(Stop { at, violation }) => {
                    this.verdict.0.set(Some(violation));
                    this.ended = true;
                    if at == 0 {
                        Poll::Ready(None)
                    } else {
                        // The frames before the offending one; it stays incomplete for the codec.
                        Poll::Ready(Some(Ok(chunk.slice(..at))))
                    }
                }
            },
            other => Poll::Ready(other),
        }
    }
}

/// Where in a chunk the stream must stop, and why. `at` is exclusive and always falls before
/// the offending frame's last byte, so that frame never reaches the codec whole.
#[derive(Debug, PartialEq, Eq)]
struct Stop {
    at: usize,
    violation: Violation,
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
/// Opcodes from here on are control frames, which may come between a message's fragments.
const OP_FIRST_CONTROL: u8 = 0x8;
/// 2 fixed bytes, at most 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

/// Follows the client's byte stream frame by frame.
struct Scanner {
    max: u64,
    state: State,
    /// Declared bytes of the data message in progress (all its fragments so far).
    message_len: u64,
    /// Whether the data message in progress is text, whose UTF-8 is checked.
    message_is_text: bool,
    utf8: Utf8Stream,
}

enum State {
    /// `buf[..have]` of the next frame's header.
    Header {
        buf: [u8; MAX_HEADER],
        have: usize,
    },
    Payload(Payload),
}

struct Payload {
    remaining: u64,
    mask: [u8; 4],
    /// Bytes of this payload seen so far (selects the mask byte).
    offset: u64,
    /// Part of a text message.
    text: bool,
    /// The last frame of a data message.
    ends_message: bool,
}

struct Header {
    fin: bool,
    opcode: u8,
    len: u64,
    mask: [u8; 4],
}

impl Header {
    /// The header at the start of `bytes`, once all of it is there.
    fn parse(bytes: &[u8]) -> Option<Header> {
        let (&first, &second) = (bytes.first()?, bytes.get(1)?);
        let ext = match second & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let masked = second & 0x80 != 0;
        let mask_at = 2 + ext;
        if bytes.len() < mask_at + if masked { 4 } else { 0 } {
            return None;
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            8 => u64::from_be_bytes(bytes[2..10].try_into().ok()?),
            _ => u64::from(second & 0x7F),
        };
        // An unmasked client frame is refused by the codec; unmasking with zeros keeps the
        // UTF-8 check meaningful until then.
        let mask = if masked {
            bytes[mask_at..mask_at + 4].try_into().ok()?
        } else {
            [0; 4]
        };
        Some(Header {
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
            len,
            mask,
        })
    }
}

impl Scanner {
    fn new(max: u64) -> Scanner {
        Scanner {
            max,
            state: State::Header {
                buf: [0; MAX_HEADER],
                have: 0,
            },
            message_len: 0,
            message_is_text: false,
            utf8: Utf8Stream::default(),
        }
    }

    fn scan(&mut self, chunk: &[u8]) -> Result<(), Stop> {
        let mut i = 0;
        while i < chunk.len() {
            match &mut self.state {
                State::Header { buf, have } => {
                    buf[*have] = chunk[i];
                    *have += 1;
                    i += 1;
                    if let Some(header) = Header::parse(&buf[..*have]) {
                        // Stop before the header's last byte: the frame stays incomplete.
                        self.start_frame(header).map_err(|violation| Stop {
                            at: i - 1,
                            violation,
                        })?;
                    }
                }
                State::Payload(payload) => {
                    let n = usize::try_from(payload.remaining)
                        .unwrap_or(usize::MAX)
                        .min(chunk.len() - i);
                    let segment = &chunk[i..i + n];
                    if payload.text {
                        self.utf8
                            .push_masked(segment, payload.mask, payload.offset)
                            .map_err(|violation| Stop { at: i, violation })?;
                    }
                    payload.remaining -= n as u64;
                    payload.offset += n as u64;
                    i += n;
                    if payload.remaining == 0 {
                        let ends_message = payload.ends_message;
                        self.state = State::Header {
                            buf: [0; MAX_HEADER],
                            have: 0,
                        };
                        if ends_message {
                            self.end_message().map_err(|violation| Stop {
                                at: i - 1,
                                violation,
                            })?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, header: Header) -> Result<(), Violation> {
        if header.len > self.max {
            return Err(Violation::TooBig);
        }
        let data = header.opcode < OP_FIRST_CONTROL;
        match header.opcode {
            OP_TEXT | OP_BINARY => {
                self.message_len = header.len;
                self.message_is_text = header.opcode == OP_TEXT;
                self.utf8 = Utf8Stream::default();
            }
            OP_CONTINUATION => {
                self.message_len = self.message_len.saturating_add(header.len);
                if self.message_len > self.max {
                    return Err(Violation::TooBig);
                }
            }
            // Control frames (and reserved opcodes, which the codec refuses).
            _ => {}
        }
        let ends_message = data && header.fin;
        if header.len == 0 {
            self.state = State::Header {
                buf: [0; MAX_HEADER],
                have: 0,
            };
            if ends_message {
                self.end_message()?;
            }
        } else {
            self.state = State::Payload(Payload {
                remaining: header.len,
                mask: header.mask,
                offset: 0,
                text: data && self.message_is_text,
                ends_message,
            });
        }
        Ok(())
    }

    fn end_message(&mut self) -> Result<(), Violation> {
        let complete = !self.message_is_text || self.utf8.is_complete();
        self.message_len = 0;
        self.message_is_text = false;
        self.utf8 = Utf8Stream::default();
        if complete {
            Ok(())
        } else {
            Err(Violation::InvalidUtf8)
        }
    }
}

/// UTF-8 validation of a text that arrives in pieces: a character may be split between two
/// pieces (or two fragments), so up to 3 bytes of an unfinished one are carried over.
#[derive(Default)]
struct Utf8Stream {
    pending: [u8; 4],
    pending_len: usize,
}

impl Utf8Stream {
    /// Unmasks `masked` (RFC 6455 §5.3; `offset` is its position in the payload) and checks it.
    fn push_masked(&mut self, masked: &[u8], mask: [u8; 4], offset: u64) -> Result<(), Violation> {
        let mut plain = [0u8; 256];
        let mut at = offset;
        for piece in masked.chunks(plain.len()) {
            for (out, byte) in plain.iter_mut().zip(piece) {
                *out = byte ^ mask[(at % 4) as usize];
                at += 1;
            }
            self.push(&plain[..piece.len()])?;
        }
        Ok(())
    }

    fn push(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        // First finish the character left unfinished by the previous piece.
        while self.pending_len > 0 {
            let Some((&next, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.pending[self.pending_len] = next;
            self.pending_len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() => return Err(Violation::InvalidUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Violation::InvalidUtf8),
            Err(e) => {
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
        }
    }

    fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0xA1, 0x02, 0x7F, 0x10];

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = header(fin, opcode, payload.len() as u64);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | opcode];
        match len {
            0..=125 => out.push(0x80 | len as u8),
            126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        out.extend_from_slice(&MASK);
        out
    }

    /// Scans `bytes` in pieces of `step` bytes; the stop's position is in the whole stream.
    fn scan_in_steps(max: u64, bytes: &[u8], step: usize) -> Result<(), Stop> {
        let mut scanner = Scanner::new(max);
        for (n, piece) in bytes.chunks(step).enumerate() {
            scanner.scan(piece).map_err(|stop| Stop {
                at: n * step + stop.at,
                ..stop
            })?;
        }
        Ok(())
    }

    #[test]
    fn frames_within_the_limit_pass_whatever_the_chunking() {
        let mut stream = frame(true, OP_TEXT, "héllo €".as_bytes());
        stream.extend(frame(false, OP_TEXT, &[b'a'; 300]));
        stream.extend(frame(true, 0x9, b"ping between fragments"));
        stream.extend(frame(true, OP_CONTINUATION, &[b'b'; 700]));
        stream.extend(frame(true, OP_BINARY, &[0xFF; 1000]));
        stream.extend(frame(true, OP_TEXT, b""));
        for step in [1, 2, 3, 7, 64, stream.len()] {
            assert_eq!(scan_in_steps(1000, &stream, step), Ok(()), "step {step}");
        }
    }

    #[test]
    fn an_oversized_header_stops_before_its_last_byte() {
        for len in [1001, 70_000, 1 << 40, u64::MAX] {
            let mut stream = frame(true, OP_TEXT, b"ok");
            let first = stream.len();
            stream.extend(header(true, OP_TEXT, len));
            for step in [1, 5, stream.len()] {
                assert_eq!(
                    scan_in_steps(1000, &stream, step),
                    Err(Stop {
                        at: stream.len() - 1,
                        violation: Violation::TooBig
                    }),
                    "len {len} step {step}"
                );
            }
            assert!(stream.len() - 1 > first);
        }
    }

    #[test]
    fn a_fragmented_message_is_limited_as_a_whole() {
        let mut stream = frame(false, OP_BINARY, &[0; 600]);
        stream.extend(frame(true, 0xA, b"pong"));
        stream.extend(header(true, OP_CONTINUATION, 401));
        assert_eq!(
            scan_in_steps(1000, &stream, 100),
            Err(Stop {
                at: stream.len() - 1,
                violation: Violation::TooBig
            })
        );
        let mut exact = frame(false, OP_BINARY, &[0; 600]);
        exact.extend(frame(true, OP_CONTINUATION, &[0; 400]));
        exact.extend(frame(true, OP_TEXT, &[b'x'; 1000]));
        assert_eq!(scan_in_steps(1000, &exact, 100), Ok(()));
    }

    #[test]
    fn invalid_utf8_stops_the_stream_before_the_frame_completes() {
        let cases: [&[&[u8]]; 4] = [
            &[b"ok \xFF ok"],
            &[b"split \xE2\x82", b"(bad continuation"],
            &[b"ends inside \xE2\x82"],
            &[b"a", b"\xF0\x9F", b""],
        ];
        for fragments in cases {
            let mut stream = Vec::new();
            for (n, payload) in fragments.iter().enumerate() {
                let opcode = if n == 0 { OP_TEXT } else { OP_CONTINUATION };
                stream.extend(frame(n + 1 == fragments.len(), opcode, payload));
            }
            for step in [1, 4, stream.len()] {
                let stop = scan_in_steps(1000, &stream, step).expect_err("invalid");
                assert_eq!(stop.violation, Violation::InvalidUtf8, "{fragments:?}");
                assert!(stop.at < stream.len(), "{fragments:?} step {step}");
            }
        }
    }

    #[test]
    fn characters_split_between_chunks_and_fragments_are_valid() {
        let text = "€😀é".as_bytes();
        for cut in 0..=text.len() {
            let mut stream = frame(false, OP_TEXT, &text[..cut]);
            stream.extend(frame(true, OP_CONTINUATION, &text[cut..]));
            for step in [1, 2, 3, stream.len()] {
                assert_eq!(scan_in_steps(100, &stream, step), Ok(()), "cut {cut}");
            }
        }
    }
}
