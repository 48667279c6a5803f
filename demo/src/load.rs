//! The built-in load driver: calls the request handler at a steady rate, as
//! a stream of clients with ever-new request ids would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};

use crate::service::{work, App, REQUEST_ID_HEADER};

/// How often the driver wakes up; each tick sends the requests due since the
/// last one, so high rates do not mean thousands of timer wake-ups.
const TICK: Duration = Duration::from_millis(10);

/// Sends `rate` requests per second to the handler until the task is
/// dropped. Each request gets a unique id, like the seed's traffic.
pub async fn drive(app: Arc<App>, rate: u32) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let per_tick = f64::from(rate) * TICK.as_secs_f64();
    let mut owed = 0.0;
    loop {
        ticker.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let mut headers = HeaderMap::new();
            let id = HeaderValue::from_str(&format!("load-{n:012}"))
                .expect("ASCII digits make a valid header value");
            headers.insert(REQUEST_ID_HEADER, id);
            work(State(Arc::clone(&app)), headers).await;
        }
    }
}
