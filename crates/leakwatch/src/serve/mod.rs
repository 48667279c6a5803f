//! The live view (`watch --serve ADDR`, `check --serve ADDR`): a page that
//! shows the memory and the verdict forming while the watch runs, and the
//! JSON API behind it (docs/json.md).
//!
//! The server only reads the recording directory the watch engine writes,
//! as `analyze` would, so the engine knows nothing about it. One analyst
//! thread re-judges the recording when it has changed, no more often than
//! its own cost allows (see [`snapshot`]); requests are answered from the
//! latest snapshot and never analyse anything themselves, so many clients
//! cost no more analysis than one.

pub mod http;
mod page;
pub mod snapshot;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::Context;

use crate::analysis::Options;
use http::{Request, Response};
use snapshot::Analyst;

/// Most connections served at once; more get a 503 at once rather than a
/// thread each.
const MAX_CLIENTS: usize = 32;

/// Parses `--serve ADDR`: `HOST:PORT`, or `:PORT` for loopback.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{s}`: the port must be a number from 0 to 65535"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| {
        format!("`{s}`: write HOST:PORT, e.g. 127.0.0.1:8080, or :8080 for this machine only")
    })
}

/// The running live view.
pub struct LiveView {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    analyst: Arc<Analyst>,
    acceptor: Option<JoinHandle<()>>,
    analyst_thread: Option<JoinHandle<()>>,
}

impl LiveView {
    /// Binds `addr` and serves the recording in `dir` (which the watch is
    /// about to create or is writing). A non-loopback address gets a
    /// warning: the page shows function names and command lines.
    pub fn start(addr: SocketAddr, dir: &Path, opts: Options) -> anyhow::Result<LiveView> {
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("--serve {addr}: cannot listen there"))?;
        let addr = listener.local_addr().context("--serve: no local address")?;
        if !addr.ip().is_loopback() {
            eprintln!(
                "leakwatch: warning: --serve {addr} is reachable from other machines; the page shows the target's function names and command line"
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let analyst = Arc::new(Analyst::new(dir.to_owned(), opts));
        let analyst_thread = {
            let (analyst, stop) = (analyst.clone(), stop.clone());
            thread::Builder::new()
                .name("leakwatch-analyst".into())
                .spawn(move || analyst.run(&stop))
                .context("cannot start the analyst thread")?
        };
        let acceptor = {
            let (analyst, stop) = (analyst.clone(), stop.clone());
            thread::Builder::new()
                .name("leakwatch-serve".into())
                .spawn(move || accept_loop(listener, analyst, stop))
                .context("cannot start the live view's server thread")?
        };
        Ok(LiveView {
            addr,
            stop,
            analyst,
            acceptor: Some(acceptor),
            analyst_thread: Some(analyst_thread),
        })
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Judges the recording once more now, not when the rate limit allows:
    /// the watch has ended and the final verdict must be what `analyze`
    /// says.
    pub fn finish(&self) {
        self.analyst.refresh_now();
    }

    /// Shows the final verdict the caller has already reached on the
    /// recording, rather than judging it a second time.
    pub fn finish_with(&self, judgement: &crate::analysis::Judgement) {
        self.analyst.publish(judgement);
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        self.analyst.wake();
        if let Some(t) = self.analyst_thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, analyst: Arc<Analyst>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let (rejected, to_turn_away) = mpsc::sync_channel::<TcpStream>(MAX_CLIENTS);
    let _ = thread::Builder::new()
        .name("leakwatch-busy".into())
        .spawn(move || turn_away_loop(to_turn_away));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else {
            // EMFILE and friends: back off instead of spinning.
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        let _ = stream.set_read_timeout(Some(http::IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(http::IO_TIMEOUT));
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            active.fetch_sub(1, Ordering::SeqCst);
            // A full queue drops the connection: a flood costs nothing more.
            let _ = rejected.try_send(stream);
            continue;
        }
        let (analyst, active) = (analyst.clone(), active.clone());
        let spawned = thread::Builder::new()
            .name("leakwatch-client".into())
            .spawn(move || {
                let _ = serve_one(stream, &analyst);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Answers 503 to the connections it is handed, one after another on one
/// thread; more than it can queue are simply closed. It reads what the
/// client sent before closing (briefly): closing on unread data resets the
/// connection, and the client would lose the answer.
fn turn_away_loop(rejected: mpsc::Receiver<TcpStream>) {
    for mut stream in rejected {
        let busy = Response::error(503, "too many clients; try again");
        let _ = http::write_response(&mut stream, &busy, false, page::CSP);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = io::copy(&mut io::Read::take(&stream, 64 * 1024), &mut io::sink());
    }
}

fn serve_one(mut stream: TcpStream, analyst: &Analyst) -> io::Result<()> {
    let request = match http::read_request(&stream) {
        Ok(r) => r,
        Err(bad) => {
            let Some(r) = bad.response() else {
                return Ok(());
            };
            http::write_response(&mut stream, &r, false, page::CSP)?;
            // Closing with the rest of an oversized request unread would
            // reset the connection and lose the answer: read a bounded
            // amount of it first.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = io::copy(&mut io::Read::take(&stream, 1 << 20), &mut io::sink());
            return Ok(());
        }
    };
    let response = route(&request, analyst);
    http::write_response(&mut stream, &response, request.method == "HEAD", page::CSP)
}

/// The answer to `request`.
pub fn route(request: &Request, analyst: &Analyst) -> Response {
    match request.path.as_str() {
        "/" => Response::ok("text/html; charset=utf-8", page::PAGE),
        "/live.js" => Response::ok("text/javascript; charset=utf-8", page::SCRIPT),
        "/live.css" => Response::ok("text/css; charset=utf-8", page::style()),
        "/api/verdict" => {
            let latest = analyst.latest();
            if latest.verdict_json.is_empty() {
                Response::error(503, "no verdict yet: the watch has not recorded anything")
            } else {
                Response::ok("application/json", latest.verdict_json.clone().into_bytes())
            }
        }
        "/api/view" => Response::ok(
            "text/html; charset=utf-8",
            analyst.latest().view_html.clone().into_bytes(),
        ),
        "/api/samples" => match snapshot::samples_since(analyst.dir(), request.param("since")) {
            Ok(body) => Response::ok("application/json", body),
            Err(snapshot::SamplesError::BadSince(why)) => Response::error(400, &why),
            Err(snapshot::SamplesError::Io(e)) => {
                Response::error(500, &format!("cannot read the samples: {e}"))
            }
        },
        _ => Response::error(404, "no such page; the live view is at /"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_addresses() {
        assert_eq!(parse_addr(":8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(parse_addr("0.0.0.0:0").unwrap().port(), 0);
        assert_eq!(parse_addr("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_addr("localhost").unwrap_err().contains("HOST:PORT"));
        assert!(parse_addr(":99999").unwrap_err().contains("port"));
    }
}
