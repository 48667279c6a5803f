//! A real Prometheus (the distribution's `prometheus` and `promtool`; the
//! README's test command installs them) serving a history the test writes:
//! OpenMetrics text backfilled with `promtool tsdb create-blocks-from
//! openmetrics` into a scratch storage directory, then served on a free
//! loopback port; or one scraping live targets at a fast interval
//! ([`Prometheus::scraping`]). Stopped by PID when the last handle is dropped.
//!
//! ```ignore
//! let prom = support::prometheus::Prometheus::start(&openmetrics, None);
//! // prom.url is "http://127.0.0.1:PORT"
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{describe, scenario::free_port, scratch};

/// Writes the OpenMetrics file `input` into TSDB blocks in `data` with
/// promtool, then removes it.
fn backfill(input: &Path, data: &Path) {
    let mut cmd = Command::new("promtool");
    cmd.args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(input)
        .arg(data);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run promtool ({e}); install it (Debian: apt-get install prometheus)")
    });
    assert!(out.status.success(), "{}", describe(&cmd, &out));
    std::fs::remove_file(input).ok();
}

/// A running Prometheus over a backfilled history.
pub struct Prometheus {
    /// `http://127.0.0.1:PORT` (or `https://localhost:PORT` with TLS).
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// TLS and basic auth for `--web.config.file`.
pub struct WebConfig<'a> {
    /// PEM certificate and key files.
    pub cert: &'a Path,
    pub key: &'a Path,
    /// `user: bcrypt-hash`.
    pub user: &'a str,
    pub bcrypt: &'a str,
}

impl Prometheus {
    /// Backfills `openmetrics` (which must end with `# EOF`; every sample
    /// in the past) and starts Prometheus on it, waiting until it is ready.
    pub fn start(openmetrics: &str, web: Option<&WebConfig>) -> Prometheus {
        Prometheus::start_with(web, |input| {
            std::fs::write(input, openmetrics).expect("write the OpenMetrics file")
        })
    }

    /// [`Prometheus::start`] with the OpenMetrics file written by `write`
    /// (a history too large to hold in memory as one string).
    pub fn start_with(web: Option<&WebConfig>, write: impl FnOnce(&Path)) -> Prometheus {
        let dir = scratch();
        let data = dir.path().join("data");
        let input = dir.path().join("fleet.om");
        write(&input);
        backfill(&input, &data);

        Prometheus::serve(dir, "global:\n  scrape_interval: 1m\n", web)
    }

    /// A Prometheus with an empty scratch storage that scrapes each of
    /// `targets` (`host:port`, whose address becomes its `instance` label)
    /// at `/metrics` every `interval_s` seconds, under job `fleet`.
    pub fn scraping(targets: &[&str], interval_s: u32) -> Prometheus {
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: {interval_s}s\n  scrape_timeout: {interval_s}s\n\
             scrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        Prometheus::serve(scratch(), &config, None)
    }

    /// [`Prometheus::start_with`] on blocks backfilled once into `cache`
    /// (kept across runs, as a benchmark's large history is minutes of
    /// promtool) and copied to a scratch directory for each run, so the
    /// cache is never written by the server.
    pub fn start_cached(cache: &Path, write: impl FnOnce(&Path)) -> Prometheus {
        let blocks = cache.join("data");
        if !blocks.is_dir() {
            std::fs::create_dir_all(cache).unwrap();
            let tmp = cache.join("data.tmp");
            std::fs::remove_dir_all(&tmp).ok();
            let input = cache.join("history.om");
            write(&input);
            backfill(&input, &tmp);
            std::fs::rename(&tmp, &blocks).unwrap();
        }
        let dir = scratch();
        let mut cmd = Command::new("cp");
        cmd.arg("-a").arg(&blocks).arg(dir.path().join("data"));
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", describe(&cmd, &out));
        Prometheus::serve(dir, "global:\n  scrape_interval: 1m\n", None)
    }

    /// Starts Prometheus on `dir/data` with `config` on a free loopback
    /// port and waits until it is ready.
    fn serve(dir: tempfile::TempDir, config_yaml: &str, web: Option<&WebConfig>) -> Prometheus {
        let data = dir.path().join("data");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml).unwrap();
        let port = free_port();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--config.file={}", config.display()))
            // Backfilled blocks older than the retention would be deleted
            // at once.
            .arg("--storage.tsdb.retention.time=10y");
        let scheme = match web {
            Some(w) => {
                let web_config = dir.path().join("web.yml");
                std::fs::write(
                    &web_config,
                    format!(
                        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {}: {}\n",
                        w.cert.display(),
                        w.key.display(),
                        w.user,
                        w.bcrypt
                    ),
                )
                .unwrap();
                cmd.arg(format!("--web.config.file={}", web_config.display()));
                "https"
            }
            None => "http",
        };
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        cmd.stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start prometheus ({e}); install it (Debian: apt-get install prometheus)")
        });
        let host = if web.is_some() {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let mut prom = Prometheus {
            url: format!("{scheme}://{host}:{port}"),
            child,
            dir,
        };
        prom.wait_ready(port);
        prom
    }

    /// The log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Waits until the port accepts connections and the TSDB has loaded
    /// (the log says "Server is ready to receive web requests").
    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up
                && self
                    .log()
                    .contains("Server is ready to receive web requests")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after 120 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGTERM to its PID, so it closes its TSDB cleanly; SIGKILL if it
        // takes too long.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the PID of our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes OpenMetrics: families in order, each a `# TYPE` line and its
/// samples (timestamps in Unix seconds).
#[derive(Default)]
pub struct OpenMetrics {
    families: Vec<(String, String)>,
}

impl OpenMetrics {
    /// Starts the gauge family `name`; samples follow with [`sample`].
    pub fn gauge(&mut self, name: &str) {
        self.families
            .push((name.to_owned(), format!("# TYPE {name} gauge\n")));
    }

    /// One sample of the current family.
    pub fn sample(&mut self, labels: &str, value: f64, unix: i64) {
        let (name, text) = self.families.last_mut().expect("a family first");
        use std::fmt::Write;
        let _ = writeln!(text, "{name}{{{labels}}} {value} {unix}");
    }

    /// The text, with `# EOF`.
    pub fn finish(self) -> String {
        let mut out = String::new();
        for (_, text) in self.families {
            out.push_str(&text);
        }
        out.push_str("# EOF\n");
        out
    }
}
