//! Starting the demo service for a test, and stopping it when the test ends.

#![allow(dead_code)] // each test target uses a different part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `leakwatch-demo`, killed on drop.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Service {
    /// Starts the service with `args` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Service {
        let mut child = Command::new(binary())
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start leakwatch-demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the service's first line");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from leakwatch-demo: {first:?}"))
            .to_owned();
        Service { child, url }
    }

    /// The body of `GET path`.
    pub fn get(&self, path: &str) -> Vec<u8> {
        let url = format!("{}{path}", self.url);
        ureq::get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .body_mut()
            .read_to_vec()
            .unwrap_or_else(|e| panic!("reading {url}: {e}"))
    }

    /// The service's `/stats`, as JSON text.
    pub fn stats(&self) -> String {
        String::from_utf8(self.get("/stats")).expect("UTF-8 stats")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo binary cargo built for this test.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_leakwatch-demo"))
}

/// The 1-based line of `demo/src/cache.rs` that contains `needle`: where the
/// profile must place the cache's allocation.
pub fn cache_line(needle: &str) -> i64 {
    let source = include_str!("../../../src/cache.rs");
    let index = source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in demo/src/cache.rs"));
    index as i64 + 1
}
