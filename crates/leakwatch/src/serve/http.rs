//! Just enough HTTP/1.1 for the live view: GET and HEAD, one request per
//! connection, every limit explicit. A browser polling a page is the only
//! client it has to please; anything else — a slow or hostile client, a
//! flood of them — gets a status code or a closed connection, never an
//! unbounded buffer or a stuck watcher.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Longest request head accepted (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long a client may take to send its request or read the response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The query's parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
}

impl Request {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response, written whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A 200 response.
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type,
            body: body.into(),
        }
    }

    /// An error response whose body is one line of text saying why.
    pub fn error(status: u16, why: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status} {}: {why}\n", reason(status)).into_bytes(),
        }
    }
}

/// Why a request could not be read; each maps to a status code, or to
/// closing the connection when the client is gone.
#[derive(Debug)]
pub enum BadRequest {
    /// The client sent nothing usable or went away.
    Gone,
    /// A malformed request line, header or encoding.
    Malformed(&'static str),
    /// The head is larger than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// A method other than GET or HEAD.
    Method,
}

impl BadRequest {
    /// The response it deserves, if the client is still there.
    pub fn response(&self) -> Option<Response> {
        match self {
            BadRequest::Gone => None,
            BadRequest::Malformed(why) => Some(Response::error(400, why)),
            BadRequest::TooLarge => Some(Response::error(431, "request head too large")),
            BadRequest::Method => Some(Response::error(405, "only GET and HEAD are served")),
        }
    }
}

/// Reads one request head from `stream` (the body, if any, is ignored: GET
/// has none worth reading).
pub fn read_request(stream: &TcpStream) -> Result<Request, BadRequest> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD_BYTES as u64 + 1));
    let mut line = Vec::new();
    let mut head_bytes = 0usize;
    let mut request_line = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|_| BadRequest::Gone)?;
        if n == 0 {
            return Err(if head_bytes > MAX_HEAD_BYTES {
                BadRequest::TooLarge
            } else {
                BadRequest::Gone
            });
        }
        head_bytes += n;
        if head_bytes > MAX_HEAD_BYTES {
            return Err(BadRequest::TooLarge);
        }
        if !line.ends_with(b"\n") {
            return Err(BadRequest::Gone);
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| BadRequest::Malformed("the request is not UTF-8"))?
            .trim_end_matches(['\r', '\n']);
        if request_line.is_none() {
            if text.is_empty() {
                continue; // a stray CRLF before the request is allowed
            }
            request_line = Some(text.to_owned());
        } else if text.is_empty() {
            break;
        }
    }
    let request_line = request_line.ok_or(BadRequest::Gone)?;
    parse_request_line(&request_line)
}

/// Parses `METHOD TARGET HTTP/1.x`.
pub fn parse_request_line(line: &str) -> Result<Request, BadRequest> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Malformed("bad request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(BadRequest::Malformed("only HTTP/1.x is spoken"));
    }
    if method != "GET" && method != "HEAD" {
        return Err(BadRequest::Method);
    }
    if !target.starts_with('/') {
        return Err(BadRequest::Malformed("the target must be a path"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path).ok_or(BadRequest::Malformed("bad percent-encoding"))?;
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(BadRequest::Malformed("bad percent-encoding in the query"))?;
    Ok(Request {
        method: method.to_owned(),
        path,
        query,
    })
}

/// Decodes `%XX` escapes and `+` (a space, in queries as forms send
/// them); `None` for a broken escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Writes `response` (without its body for HEAD) and the headers every
/// response carries: no caching, no sniffing, no framing, a strict
/// Content-Security-Policy.
pub fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    head_only: bool,
    csp: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: {csp}\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&response.body)?;
    }
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_with_a_query_is_decoded() {
        let r = parse_request_line("GET /api/samples?since=2026-12-01T10%3A00%3A00Z&x HTTP/1.1")
            .unwrap();
        assert_eq!(r.path, "/api/samples");
        assert_eq!(r.param("since"), Some("2026-12-01T10:00:00Z"));
        assert_eq!(r.param("x"), Some(""));
        assert_eq!(r.param("y"), None);
    }

    #[test]
    fn bad_request_lines_get_their_status() {
        let status = |line: &str| {
            parse_request_line(line)
                .unwrap_err()
                .response()
                .map(|r| r.status)
        };
        assert_eq!(status("POST / HTTP/1.1"), Some(405));
        assert_eq!(status("GET / HTTP/2"), Some(400));
        assert_eq!(status("GET http://x/ HTTP/1.1"), Some(400));
        assert_eq!(status("GET /%zz HTTP/1.1"), Some(400));
        assert_eq!(status("GET /?a=%ff HTTP/1.1"), Some(400));
        assert_eq!(status("GET  / HTTP/1.1"), Some(400));
        assert_eq!(status("GET / HTTP/1.1 extra"), Some(400));
    }
}
