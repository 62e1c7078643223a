//! Just enough HTTP/1.1 for the admin listener: read one request head
//! (bounded in size and time), parse it with httparse, write one response
//! and close. Scrapers and probes (Prometheus, curl, a load balancer's
//! health check) send a GET with no body and accept `Connection: close`,
//! so there is no keep-alive, no chunking and no request body to read.

use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

/// The largest request head read; a longer one is answered 431.
pub const REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// Headers parsed; more is a malformed request.
const HEADERS_MAX: usize = 32;
/// How long a client may take to send its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// The request line of a request that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query string.
    pub path: String,
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed or the read failed: nothing to answer.
    Gone,
    /// Too slow, too large or not HTTP: answered with this status.
    Refused(u16, &'static str),
}

/// Reads and parses one request head.
pub async fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = crate::shard::until(deadline, stream.read(&mut chunk)).await;
        let count = match read {
            None => return Err(ReadError::Refused(408, "request head not received in time")),
            Some(Ok(0)) | Some(Err(_)) => return Err(ReadError::Gone),
            Some(Ok(count)) => count,
        };
        head.extend_from_slice(&chunk[..count]);
        match parse(&head) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) if head.len() >= REQUEST_HEAD_BYTES_MAX => {
                return Err(ReadError::Refused(431, "request head too large"))
            }
            Ok(None) => continue,
            Err(reason) => return Err(ReadError::Refused(400, reason)),
        }
    }
}

/// Parses a request head: `Ok(None)` while it is incomplete.
pub fn parse(bytes: &[u8]) -> Result<Option<Request>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {
            let method = request.method.unwrap_or_default().to_string();
            let target = request.path.unwrap_or_default();
            let path = target.split('?').next().unwrap_or_default().to_string();
            Ok(Some(Request { method, path }))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err("malformed request"),
    }
}

/// A response to write.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes the response, then the connection is closed by the caller.
/// A HEAD request gets the head only.
pub async fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(&response.body).await?;
    }
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_scrape_and_waits_for_an_incomplete_head() {
        let scrape = b"GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9644\r\nAccept: */*\r\n\r\n";
        assert_eq!(
            parse(scrape).unwrap(),
            Some(Request {
                method: "GET".into(),
                path: "/metrics".into()
            })
        );
        assert_eq!(parse(&scrape[..20]).unwrap(), None);
        assert!(parse(b"\x00\x01garbage\r\n\r\n").is_err());
    }
}
