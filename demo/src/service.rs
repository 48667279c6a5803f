//! The HTTP service: the request handler, the heap profile, and plain
//! statistics about the process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::cache::RequestCache;
use crate::ServiceArgs;

/// The header that carries a request's id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the handlers share.
pub struct App {
    cache: RequestCache,
    fixed: bool,
    requests: AtomicU64,
}

impl App {
    /// The leaky service's state, or the fixed one's.
    pub fn new(args: &ServiceArgs) -> App {
        let cache = if args.fixed {
            RequestCache::bounded(args.capacity)
        } else {
            RequestCache::unbounded()
        };
        App {
            cache,
            fixed: args.fixed,
            requests: AtomicU64::new(0),
        }
    }
}

/// The routes: `GET /work`, `GET /debug/pprof/heap`, `GET /stats`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/work", get(work))
        .route("/debug/pprof/heap", get(heap_profile))
        .route("/stats", get(stats))
        .with_state(app)
}

/// Binds, prints `listening on http://HOST:PORT`, starts the load driver and
/// serves until SIGTERM or SIGINT.
pub async fn serve(args: ServiceArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;

    let app = Arc::new(App::new(&args));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {} (--addr)", args.addr))?;
    let local = listener.local_addr()?;
    let mode = if args.fixed { "fixed" } else { "leaky" };
    // The parent reads this line to find the port; flush it now, as stdout
    // is a pipe and would otherwise sit in a buffer.
    // Nothing else goes to stdout: a parent that has read this line may
    // close the pipe.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{local}")?;
    out.flush()?;
    drop(out);
    eprintln!(
        "leakwatch-demo: {mode} service, load {} requests/s",
        args.rate
    );

    let driver =
        (args.rate > 0).then(|| tokio::spawn(crate::load::drive(Arc::clone(&app), args.rate)));
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    if let Some(driver) = driver {
        driver.abort();
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action (exit) still applies.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn index(State(app): State<Arc<App>>) -> String {
    let mode = if app.fixed {
        "fixed (bounded LRU)"
    } else {
        "leaky (unbounded map)"
    };
    format!(
        "leakwatch demo service, {mode}\n\
         GET /work                 one request (header {REQUEST_ID_HEADER}: a unique id)\n\
         GET /debug/pprof/heap     jemalloc heap profile, pprof format\n\
         GET /stats                cache entries, requests, jemalloc byte counts\n"
    )
}

/// The request handler: looks up (and, being a cache, creates) the state for
/// the request's id. Requests without an id get a fresh one, as a service
/// minting ids at its edge would.
pub async fn work(State(app): State<Arc<App>>, headers: HeaderMap) -> String {
    let n = app.requests.fetch_add(1, Ordering::Relaxed);
    let minted;
    let id = match headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()) {
        Some(id) => id,
        None => {
            minted = format!("edge-{n:012}");
            &minted
        }
    };
    let checksum = app.cache.get_or_insert(id);
    format!("{id} {checksum:08x}\n")
}

async fn heap_profile() -> Response {
    let Some(ctl) = jemalloc_pprof::PROF_CTL.as_ref() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "jemalloc heap profiling is off\n",
        )
            .into_response();
    };
    let dumped = {
        let mut ctl = ctl.lock().await;
        ctl.dump_pprof()
    };
    match dumped {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("jemalloc heap profile dump failed: {err:#}\n"),
        )
            .into_response(),
    }
}

/// Numbers as the allocator and the cache see them; RSS is left to
/// `/proc/PID/status`, where leakwatch reads it.
async fn stats(State(app): State<Arc<App>>) -> Response {
    use tikv_jemalloc_ctl::{epoch, stats};
    // jemalloc's statistics are a snapshot refreshed on each epoch advance.
    let numbers =
        epoch::advance().and_then(|_| Ok((stats::allocated::read()?, stats::resident::read()?)));
    let (allocated, resident) = match numbers {
        Ok(n) => n,
        Err(err) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading jemalloc statistics failed: {err}\n"),
            )
                .into_response()
        }
    };
    let body = serde_json::json!({
        "mode": if app.fixed { "fixed" } else { "leaky" },
        "requests": app.requests.load(Ordering::Relaxed),
        "cache_entries": app.cache.len(),
        "jemalloc_allocated_bytes": allocated,
        "jemalloc_resident_bytes": resident,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
