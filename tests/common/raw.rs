//! Below the WebSocket library: hand-built frames (what a hostile client sends and a
//! well-behaved library refuses to), and the server's end of a test connection, found in this
//! process (the test server runs in-process) so its socket options can be read.

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

/// A client frame header (masked, as RFC 6455 §5.3 requires of clients) that declares `len`
/// payload bytes, whatever follows it.
pub fn frame_header(fin: bool, opcode: u8, len: u64, mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
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
    out.extend_from_slice(&mask);
    out
}

/// A whole masked client frame carrying `payload` as it is (no UTF-8 check).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = frame_header(fin, opcode, payload.len() as u64, mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

pub const TEXT: u8 = 0x1;
pub const CONTINUATION: u8 = 0x0;

/// The server's socket of the connection whose client end is `client`: the descriptor of this
/// process whose local port is the server's and whose peer is `client`.
pub fn server_side_of(client: SocketAddr, server_port: u16) -> socket2::Socket {
    let fds = std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd");
    for entry in fds.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // SAFETY: `try_clone_to_owned` only asks the kernel to duplicate descriptor `fd`. Other
        // test threads may close it meanwhile; then the call fails, or duplicates whatever now
        // holds the number, which the address checks below reject. Only the duplicate is used.
        let Ok(owned) = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned() else {
            continue;
        };
        let socket = socket2::Socket::from(owned);
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
        if local.map(|a| a.port()) == Some(server_port) && peer == Some(client) {
            return socket;
        }
    }
    panic!("no server-side socket for the client at {client}");
}
