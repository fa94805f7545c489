//! Just enough HTTP/1.1 for the test servers of this crate ([`crate::fault_proxy`],
//! [`crate::lambda_runtime_api`], [`crate::model_kinesis`]): a loopback [`Server`] that hands each
//! connection to a handler on its own thread, reading a request or a response (Content-Length,
//! chunked, or until EOF) and writing one back with a Content-Length. Loopback only, bounded sizes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server on a free `127.0.0.1` port, on its own thread and tokio runtime: every accepted
/// connection is handed to the handler in a task of its own. Stops (and joins its thread) on drop.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds a free loopback port and starts serving. `workers`: 0 for a current-thread runtime,
    /// else a multi-thread runtime with that many workers.
    ///
    /// # Panics
    /// When no loopback port can be bound or the thread cannot be started.
    pub fn start<F, Fut>(name: &str, workers: usize, handle: F) -> Server
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + Send + 'static,
    {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("a free loopback port for {name}: {e}"));
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("bound address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = if workers == 0 {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(workers)
                        .enable_all()
                        .build()
                }
                .expect("server runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                    tokio::select! {
                        _ = rx => {}
                        _ = accept_loop(listener, handle) => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("server thread");
        Server {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn accept_loop<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let connection = handle(stream);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Largest head (start line plus headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted (a 10,000-record Kinesis event is ~15 MB).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// One HTTP message: its start line, headers and body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Message {
    /// `GET /path HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start: String,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Message {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Method and path of a request.
    pub fn request_line(&self) -> (&str, &str) {
        let mut parts = self.start.split(' ');
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    /// Status code of a response (0 when unreadable).
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the peer asked to close the connection after this message.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || self.start.ends_with("HTTP/1.0")
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads a start line and headers. `Ok(None)` on a clean end of stream before the first byte.
pub(crate) async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Message>> {
    let mut total = 0usize;
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return if lines.is_empty() && total == 0 {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of stream inside an HTTP head",
                ))
            };
        }
        total += n;
        if total > MAX_HEAD {
            return Err(bad("HTTP head too large"));
        }
        let text = String::from_utf8(line).map_err(|_| bad("HTTP head is not UTF-8"))?;
        let text = text.trim_end_matches(['\r', '\n']).to_string();
        if text.is_empty() {
            if lines.is_empty() {
                // Tolerate stray empty lines between messages.
                continue;
            }
            break;
        }
        lines.push(text);
    }
    let start = lines.remove(0);
    let headers = lines
        .into_iter()
        .map(|l| match l.split_once(':') {
            Some((n, v)) => Ok((n.trim().to_string(), v.trim().to_string())),
            None => Err(bad("malformed header line")),
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Some(Message {
        start,
        headers,
        body: Vec::new(),
    }))
}

/// Reads the body that belongs to `head` into it. `until_eof`: a response without framing runs to
/// the end of the stream (requests without framing have no body).
pub(crate) async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    head: &mut Message,
    until_eof: bool,
) -> io::Result<()> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await? == 0 {
                return Err(bad("end of stream inside a chunked body"));
            }
            let size_text = line.trim().split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size line"))?;
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).await? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).await?;
            let mut crlf = String::new();
            r.read_line(&mut crlf).await?;
        }
        head.body = body;
    } else if let Some(len) = head.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        if len > MAX_BODY {
            return Err(bad("body too large"));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        head.body = body;
    } else if until_eof {
        let mut body = Vec::new();
        r.take(MAX_BODY as u64).read_to_end(&mut body).await?;
        head.body = body;
    }
    Ok(())
}

/// Reads one whole message (head and body); `Ok(None)` on a clean end of stream.
pub(crate) async fn read_message<R: AsyncBufRead + Unpin>(
    r: &mut R,
    until_eof: bool,
) -> io::Result<Option<Message>> {
    let Some(mut m) = read_head(r).await? else {
        return Ok(None);
    };
    read_body(r, &mut m, until_eof).await?;
    Ok(Some(m))
}

/// Headers that describe one hop's framing and are rewritten on the next hop.
pub(crate) fn is_hop_header(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Writes `m` with its end-to-end headers, a Content-Length and the given Connection header.
pub(crate) async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    m: &Message,
    close: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(m.body.len() + 512);
    out.extend_from_slice(m.start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in &m.headers {
        if is_hop_header(n) {
            continue;
        }
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n", m.body.len()).as_bytes());
    out.extend_from_slice(if close {
        b"connection: close\r\n\r\n".as_slice()
    } else {
        b"connection: keep-alive\r\n\r\n".as_slice()
    });
    out.extend_from_slice(&m.body);
    w.write_all(&out).await?;
    w.flush().await
}

/// A response with a JSON body.
pub(crate) fn json_response(
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Message {
    let mut h: Vec<(String, String)> = vec![(
        "content-type".to_string(),
        "application/x-amz-json-1.1".to_string(),
    )];
    h.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    Message {
        start: format!("HTTP/1.1 {status} {reason}"),
        headers: h,
        body,
    }
}

/// The reason phrase of the status codes the test servers use.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
