//! The connections beneath HTTP. hyper refuses a request line over 64 KiB (414) and a header
//! block too large (431) before any handler runs, with an empty body; `Connection` rewrites
//! those two answers into the shaped error of the API the request was for (PostgREST's,
//! GoTrue's or Storage's), judged by the start of the refused request.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections shape hyper's own refusals.
pub struct Listener(pub TcpListener);

/// The address of the client, for `ConnectInfo`.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.0).await;
        (Connection::new(stream), address)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// How many bytes of a request's start tell which API it was for (`GET /storage/v1/…`), and
/// how many unanswered requests are remembered.
const PREFIX: usize = 32;

/// A client connection that remembers how the current request starts and replaces hyper's
/// empty 414/431 answer with a shaped one.
pub struct Connection {
    stream: TcpStream,
    /// The first bytes of each request read whose answer has not been written yet.
    heads: VecDeque<Vec<u8>>,
    /// The first bytes of the request being read (those after the last blank line).
    start: Vec<u8>,
    /// The last bytes read, to find a head's end (`\r\n\r\n`) across reads.
    tail: [u8; 4],
    /// The shaped answer still to be written in place of hyper's.
    replacement: Vec<u8>,
}

impl Connection {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            heads: VecDeque::new(),
            start: Vec::with_capacity(PREFIX),
            tail: [0; 4],
            replacement: Vec::new(),
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.start.len() < PREFIX {
                self.start.push(byte);
            }
            self.tail = [self.tail[1], self.tail[2], self.tail[3], byte];
            if &self.tail == b"\r\n\r\n" {
                // A body that holds blank lines adds guesses; keep the queue bounded.
                if self.heads.len() == PREFIX {
                    self.heads.pop_front();
                }
                self.heads.push_back(std::mem::take(&mut self.start));
            }
        }
    }

    /// Writes what is left of the replacement; ready once it is all written.
    fn poll_replacement(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.replacement.is_empty() {
            let written =
                ready!(Pin::new(&mut self.stream).poll_write(context, &self.replacement))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.replacement.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

/// The shaped answer for hyper's bare `status` line, or `None` for any other write.
fn shaped(response: &[u8], start: &[u8]) -> Option<Vec<u8>> {
    let (status, reason, what) = if response.starts_with(b"HTTP/1.1 414 ") {
        (
            414,
            "URI Too Long",
            "the request line is longer than 65534 bytes",
        )
    } else if response.starts_with(b"HTTP/1.1 431 ") {
        (
            431,
            "Request Header Fields Too Large",
            "the request headers are too large or too many",
        )
    } else {
        return None;
    };
    // Only hyper's own refusal: the application's answers always carry a body.
    let empty = b"\r\ncontent-length: 0\r\n";
    let bare = response
        .windows(empty.len())
        .any(|window| window.eq_ignore_ascii_case(empty));
    if !bare {
        return None;
    }
    let path = start
        .splitn(3, |byte| *byte == b' ')
        .nth(1)
        .unwrap_or_default();
    let body = if path.starts_with(b"/auth/v1") {
        json!({"code": status, "error_code": "request_too_large", "msg": what})
    } else if path.starts_with(b"/storage/v1") {
        json!({"statusCode": status.to_string(), "error": reason, "message": what})
    } else {
        json!({
            "code": "54000",
            "message": format!("the request is too large: {what}"),
            "details": null,
            "hint": "Send long filters in the body of a POST to /rest/v1/rpc/{function}.",
        })
    }
    .to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(context, buf))?;
        let this = &mut *self;
        this.saw(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(context))?;
        if buf.starts_with(b"HTTP/1.1 ") {
            // An answer starts: it belongs to the oldest request not yet answered.
            let head = self.heads.pop_front();
            let start = head.as_deref().unwrap_or(&self.start);
            if let Some(replacement) = shaped(buf, start) {
                self.replacement = replacement;
                // hyper's bytes count as written; the replacement goes out in their place.
                let _ = self.poll_replacement(context)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.stream).poll_write(context, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(context))?;
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(context))?;
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::shaped;

    const BARE: &[u8] =
        b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";

    fn body(response: &[u8]) -> serde_json::Value {
        let text = String::from_utf8(response.to_vec()).unwrap();
        serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
    }

    #[test]
    fn each_api_gets_its_own_error_shape() {
        let rest = shaped(BARE, b"GET /rest/v1/items?select=cccc").unwrap();
        assert!(rest.starts_with(b"HTTP/1.1 414 URI Too Long\r\n"));
        assert_eq!(body(&rest)["code"], "54000");
        let auth = shaped(BARE, b"GET /auth/v1/user?x=aaaaaaaaaaaa").unwrap();
        assert_eq!(body(&auth)["error_code"], "request_too_large");
        let storage = shaped(BARE, b"GET /storage/v1/object/x?y=aaaa").unwrap();
        assert_eq!(body(&storage)["statusCode"], "414");
    }

    #[test]
    fn other_answers_pass_unchanged() {
        assert!(shaped(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", b"GET /").is_none());
        let with_body = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 2\r\n\r\n{}";
        assert!(shaped(with_body, b"GET /rest/v1/x").is_none());
    }
}
