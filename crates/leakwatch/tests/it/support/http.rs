//! A loopback HTTP server for tests that need an endpoint to fetch from, and
//! a plain GET to fetch with.
//!
//! ```ignore
//! let server = support::http::Server::builder()
//!     .respond("/debug/pprof/heap?gc=1", Response::ok(heap))
//!     .handle("/debug/pprof/goroutine", |req| Response::ok(nth(req.hit)))
//!     .start();
//! // server.url is "http://127.0.0.1:PORT"; anything unrouted is 404.
//! assert!(server.hits("/debug/pprof/heap?gc=1") >= 2);
//! // Dropping it stops it: its thread is joined and its port closed.
//! ```
//!
//! It is written on `std` rather than taken from a crate such as
//! `tiny_http` because the point of sharing it is a faster test build, and
//! the little HTTP these tests speak (one GET per connection, answered with
//! `Content-Length` and `Connection: close`) fits in a page. Requests are
//! answered one at a time on one thread: the clients are leakwatch's own
//! scrapers, and serving in order keeps hit counts and handler state simple.
//! A server that must break HTTP on purpose (`watch::faults`) does not
//! belong here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A server stops answering this long after it starts, even if a test
/// forgets to drop it: no test here needs one for more than a few minutes.
const LIFETIME: Duration = Duration::from_secs(600);
/// How long one connection may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the stop flag and the clock.
const POLL: Duration = Duration::from_millis(50);
/// The longest request head read; the rest of a longer one is ignored.
const MAX_HEAD: usize = 16 * 1024;

/// One request, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?` (empty when there is none).
    pub query: String,
    /// Which request this is for the route that answers it: 1 for the
    /// first.
    pub hit: usize,
}

impl Request {
    /// Whether the query holds `param` (`"gc=1"`) as one of its `&` parts.
    pub fn has(&self, param: &str) -> bool {
        self.query.split('&').any(|p| p == param)
    }
}

/// An answer: a status and a body, sent with `Content-Length` and
/// `Connection: close`.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// 200 with a binary body (what a pprof endpoint sends).
    pub fn ok(body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type: "application/octet-stream",
            body: body.into(),
        }
    }

    /// 404 with Go's body, as an endpoint a service does not have.
    pub fn not_found() -> Response {
        Response {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: b"404 page not found\n".to_vec(),
        }
    }
}

type Handler = Box<dyn FnMut(&Request) -> Response + Send>;

/// A route: a path and the query parts a request must hold to match.
struct Route {
    spec: String,
    path: String,
    params: Vec<String>,
    handler: Handler,
}

impl Route {
    fn matches(&self, req: &Request) -> bool {
        req.path == self.path && self.params.iter().all(|p| req.has(p))
    }
}

/// The routes of a server to be started; the first route that matches a
/// request answers it.
#[must_use]
pub struct Builder {
    routes: Vec<Route>,
}

impl Builder {
    /// Answers requests matching `route` with `f`. A route is a path,
    /// optionally followed by `?` and `&`-separated query parts that a
    /// request must all hold: `/debug/pprof/heap?gc=1` matches
    /// `/debug/pprof/heap?seconds=0&gc=1` but not `/debug/pprof/heap`.
    pub fn handle(
        mut self,
        route: &str,
        f: impl FnMut(&Request) -> Response + Send + 'static,
    ) -> Builder {
        let (path, query) = route.split_once('?').unwrap_or((route, ""));
        self.routes.push(Route {
            spec: route.to_owned(),
            path: path.to_owned(),
            params: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            handler: Box::new(f),
        });
        self
    }

    /// Answers requests matching `route` with the same `response` each time.
    pub fn respond(self, route: &str, response: Response) -> Builder {
        self.handle(route, move |_| response.clone())
    }

    /// Binds a free loopback port and starts answering.
    pub fn start(self) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let specs: Vec<String> = self.routes.iter().map(|r| r.spec.clone()).collect();
        let hits: Arc<Vec<AtomicUsize>> =
            Arc::new(specs.iter().map(|_| AtomicUsize::new(0)).collect());
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let state = Serving {
            routes: self.routes,
            hits: hits.clone(),
            requests: requests.clone(),
        };
        let halt = stop.clone();
        let thread = thread::spawn(move || state.run(&listener, &halt));
        Server {
            url,
            specs,
            hits,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

/// A running server; dropping it stops it and closes its port.
pub struct Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    specs: Vec<String>,
    hits: Arc<Vec<AtomicUsize>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A server with no routes yet.
    pub fn builder() -> Builder {
        Builder { routes: Vec::new() }
    }

    /// How many requests the route given as `route` to the builder has
    /// answered.
    pub fn hits(&self, route: &str) -> usize {
        let i = self
            .specs
            .iter()
            .position(|s| s == route)
            .unwrap_or_else(|| panic!("no route {route:?}; the routes are {:?}", self.specs));
        self.hits[i].load(Ordering::SeqCst)
    }

    /// How many requests it has answered, 404s included.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // A handler's panic is the test's failure, unless the test is
            // already failing (a second panic would abort the run).
            if let Err(panic) = t.join() {
                if !thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

/// What the server's thread owns.
struct Serving {
    routes: Vec<Route>,
    hits: Arc<Vec<AtomicUsize>>,
    requests: Arc<AtomicUsize>,
}

impl Serving {
    fn run(mut self, listener: &TcpListener, stop: &AtomicBool) {
        let deadline = Instant::now() + LIFETIME;
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            // poll(2) rather than a blocking accept, so that the flag is seen
            // within POLL without a wake-up connection, and rather than a
            // non-blocking accept loop, so that a request waits for nothing.
            let mut fd = libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for a socket that outlives the call.
            let ready = unsafe { libc::poll(&mut fd, 1, POLL.as_millis() as libc::c_int) };
            if ready > 0 {
                if let Ok((conn, _)) = listener.accept() {
                    self.answer(conn);
                }
            }
        }
    }

    fn answer(&mut self, mut conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
        let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
        let Some(target) = read_target(&mut conn) else {
            return;
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut req = Request {
            path: path.to_owned(),
            query: query.to_owned(),
            hit: 0,
        };
        let resp = match self.routes.iter_mut().position(|r| r.matches(&req)) {
            Some(i) => {
                req.hit = self.hits[i].fetch_add(1, Ordering::SeqCst) + 1;
                (self.routes[i].handler)(&req)
            }
            None => Response::not_found(),
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            resp.status,
            reason(resp.status),
            resp.content_type,
            resp.body.len()
        );
        let _ = conn
            .write_all(head.as_bytes())
            .and_then(|_| conn.write_all(&resp.body));
    }
}

/// Reads a request head and returns its target (`/path?query`); `None` if
/// the client sent no request line in time.
fn read_target(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let line = head.lines().next()?;
    let mut words = line.split(' ');
    let (_method, target) = (words.next()?, words.next()?);
    Some(target.to_owned())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// GETs `url`; its status and body.
pub fn fetch(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    (resp.status().as_u16(), body)
}

/// GETs `url`, failing the test unless it answers 200; the body.
pub fn get(url: &str) -> Vec<u8> {
    let (status, body) = fetch(url);
    assert_eq!(
        status,
        200,
        "GET {url}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    body
}

#[test]
fn routes_answer_by_path_and_query_and_count_their_hits() {
    let server = Server::builder()
        .respond("/heap?debug=1", Response::not_found())
        .handle("/heap", |req| Response::ok(format!("heap {}", req.hit)))
        .respond("/goroutine", Response::ok("g"))
        .start();
    assert_eq!(get(&format!("{}/heap", server.url)), b"heap 1");
    assert_eq!(get(&format!("{}/heap?gc=1", server.url)), b"heap 2");
    assert_eq!(
        fetch(&format!("{}/heap?gc=1&debug=1", server.url)),
        (404, b"404 page not found\n".to_vec())
    );
    assert_eq!(get(&format!("{}/goroutine?debug=2", server.url)), b"g");
    assert_eq!(fetch(&format!("{}/other", server.url)).0, 404);
    assert_eq!(fetch(&format!("{}/heapx", server.url)).0, 404);
    assert_eq!(server.hits("/heap"), 2);
    assert_eq!(server.hits("/heap?debug=1"), 1);
    assert_eq!(server.hits("/goroutine"), 1);
    assert_eq!(server.requests(), 6);
}

#[test]
fn a_dropped_server_has_stopped_and_closed_its_port() {
    let server = Server::builder().respond("/", Response::ok("up")).start();
    assert_eq!(get(&format!("{}/", server.url)), b"up");
    let addr = server.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    drop(server);
    // Joined within one poll, not at the end of its lifetime.
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = TcpStream::connect(&addr).expect_err("the port is still open");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
