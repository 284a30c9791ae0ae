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
    requests: Requests,
    /// The shaped answer still to be written in place of hyper's.
    replacement: Vec<u8>,
}

impl Connection {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            requests: Requests::default(),
            replacement: Vec::new(),
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

/// The starts of the requests read on a connection and not answered yet.
#[derive(Default)]
struct Requests {
    /// The first bytes of each request read whose answer has not been written yet.
    heads: VecDeque<Vec<u8>>,
    /// The first bytes of the request being read (those after the last blank line).
    start: Vec<u8>,
    /// The last bytes read, to find a head's end (`\r\n\r\n`) across reads.
    tail: [u8; 4],
}

impl Requests {
    fn saw(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let end = self.head_end(bytes);
            let (request, rest) = bytes.split_at(end.unwrap_or(bytes.len()));
            let wanted = PREFIX.saturating_sub(self.start.len()).min(request.len());
            self.start.extend_from_slice(&request[..wanted]);
            self.keep_tail(request);
            if end.is_some() {
                // A body that holds blank lines adds guesses; keep the queue bounded.
                if self.heads.len() == PREFIX {
                    self.heads.pop_front();
                }
                self.heads.push_back(std::mem::take(&mut self.start));
            }
            bytes = rest;
        }
    }

    /// Where in `bytes` the first `\r\n\r\n` ends, counting one begun by the bytes before.
    fn head_end(&self, bytes: &[u8]) -> Option<usize> {
        let mut joined = [0u8; 7];
        let carried = bytes.len().min(3);
        joined[..4].copy_from_slice(&self.tail);
        joined[4..4 + carried].copy_from_slice(&bytes[..carried]);
        let across = (1..=carried).find(|&taken| &joined[taken..taken + 4] == b"\r\n\r\n");
        across.or_else(|| memchr::memmem::find(bytes, b"\r\n\r\n").map(|at| at + 4))
    }

    /// Remembers the last four bytes read, to find a head's end that spans two reads.
    fn keep_tail(&mut self, bytes: &[u8]) {
        if bytes.len() >= 4 {
            self.tail.copy_from_slice(&bytes[bytes.len() - 4..]);
        } else {
            self.tail.rotate_left(bytes.len());
            let kept = 4 - bytes.len();
            self.tail[kept..].copy_from_slice(bytes);
        }
    }

    /// The start of the oldest request not answered yet, which an answer now begins for.
    fn answering(&mut self) -> Vec<u8> {
        self.heads.pop_front().unwrap_or_else(|| self.start.clone())
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
        this.requests.saw(&buf.filled()[before..]);
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
            let start = self.requests.answering();
            if let Some(replacement) = shaped(buf, &start) {
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
    use super::{Requests, shaped};

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
    fn each_request_start_is_remembered_however_the_reads_split_it() {
        let stream: &[u8] = b"GET /rest/v1/items?select=id HTTP/1.1\r\nhost: x\r\n\r\n\
            POST /auth/v1/token HTTP/1.1\r\ncontent-length: 4\r\n\r\n{}\r\n\
            GET /storage/v1/object/list/bucket-with-a-long-name HTTP/1.1\r\n\r\n\r\n\
            GET /rest/v1/unfinished";
        let heads = |chunk: usize| {
            let mut requests = Requests::default();
            stream.chunks(chunk).for_each(|bytes| requests.saw(bytes));
            let mut seen: Vec<Vec<u8>> = requests.heads.iter().cloned().collect();
            seen.push(requests.start.clone());
            seen
        };
        let expected: Vec<&[u8]> = vec![
            b"GET /rest/v1/items?select=id HTT",
            b"POST /auth/v1/token HTTP/1.1\r\nco",
            // A body belongs to what follows its head, as far as the start can tell.
            b"{}\r\nGET /storage/v1/object/list/",
            b"\r\n",
            b"GET /rest/v1/unfinished",
        ];
        for chunk in [1, 2, 3, 5, 7, 64, stream.len()] {
            assert_eq!(heads(chunk), expected, "reads of {chunk} bytes");
        }
    }

    #[test]
    fn other_answers_pass_unchanged() {
        assert!(shaped(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", b"GET /").is_none());
        let with_body = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 2\r\n\r\n{}";
        assert!(shaped(with_body, b"GET /rest/v1/x").is_none());
    }
}
