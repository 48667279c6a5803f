//! Where a profile comes from: a file, `-` for standard input, or an
//! http(s) URL — read with bounded memory and decoded, every error naming
//! the place.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};
use leakwatch_profile::{decode, scan, DecodeError, Limits, Profile, ScannedProfile};

use crate::probe::http::{self, FetchError, FetchOptions};

/// A profile argument as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path on disk.
    File(String),
    /// `-`: standard input.
    Stdin,
    /// An `http://` or `https://` URL, e.g. a `/debug/pprof/heap` endpoint.
    /// Only `http://` is fetched (pprof endpoints are internal, and the
    /// binary carries no TLS); `https://` is refused with a message.
    Url(String),
}

impl Source {
    /// Classifies a command-line argument.
    pub fn parse(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else if arg.starts_with("http://") || arg.starts_with("https://") {
            Source::Url(arg.to_owned())
        } else {
            Source::File(arg.to_owned())
        }
    }

    /// How errors name the source.
    pub fn name(&self) -> &str {
        match self {
            Source::File(p) | Source::Url(p) => p,
            Source::Stdin => "standard input",
        }
    }

    /// Whether the source is a URL (only those can be fetched twice).
    pub fn is_url(&self) -> bool {
        matches!(self, Source::Url(_))
    }

    /// Reads the raw bytes. No input may exceed `limits.max_decompressed`:
    /// compressed data is never larger than what it decompresses to, so a
    /// larger input would be refused by the decoder anyway.
    pub fn read(&self, limits: &Limits) -> anyhow::Result<Vec<u8>> {
        let cap = limits.max_decompressed;
        match self {
            Source::File(path) => {
                let file =
                    File::open(Path::new(path)).with_context(|| format!("reading {path}"))?;
                read_capped(file, cap).with_context(|| format!("reading {path}"))
            }
            Source::Stdin => {
                let stdin = std::io::stdin();
                if stdin.is_terminal() {
                    return Err(anyhow!(
                        "reading standard input: it is a terminal; pipe a profile into it, e.g. `curl -s URL | leakwatch top -`"
                    ));
                }
                read_capped(stdin.lock(), cap).context("reading standard input")
            }
            Source::Url(url) => fetch(url, cap),
        }
    }

    /// Reads and decodes the profile.
    pub fn load(&self, limits: &Limits) -> anyhow::Result<Profile> {
        let bytes = self.read(limits)?;
        decode(&bytes, limits).map_err(|e| self.decode_error(e))
    }

    /// Reads the profile, decoding all but its samples (see
    /// [`leakwatch_profile::scan`]): enough for tables, at a fraction of
    /// the time and memory of [`Source::load`] on large profiles.
    pub fn scan(&self, limits: &Limits) -> anyhow::Result<ScannedProfile> {
        let bytes = self.read(limits)?;
        scan(bytes, limits).map_err(|e| self.decode_error(e))
    }

    /// A profile that does not decode, named as every command names it —
    /// also when the defect is found only while its samples are read.
    pub fn decode_error(&self, e: DecodeError) -> anyhow::Error {
        anyhow::Error::new(e).context(format!("reading {}", self.name()))
    }
}

/// Reads all of `r`, refusing more than `cap` bytes.
fn read_capped(r: impl Read, cap: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    r.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(anyhow!(
            "the input is larger than {cap} bytes, the --max-decompressed limit; raise the limit if the profile is genuine"
        ));
    }
    Ok(bytes)
}

/// Fetches a profile over HTTP with bounded time and memory: at most `cap`
/// bytes (the `--max-decompressed` limit) within two minutes.
fn fetch(url: &str, cap: u64) -> anyhow::Result<Vec<u8>> {
    let opts = FetchOptions {
        deadline: Duration::from_secs(120),
        max_body: cap,
        ..FetchOptions::default()
    };
    // FetchError's messages start with the URL.
    http::fetch(url, &opts).map_err(|e| match e {
        // The cap is --max-decompressed here, not watch's --max-body.
        FetchError::Oversize { url, limit } => anyhow!(
            "fetching {url}: the body is larger than {limit} bytes, the --max-decompressed limit; raise the limit if the profile is genuine"
        ),
        e => anyhow!("fetching {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_classified() {
        assert_eq!(Source::parse("-"), Source::Stdin);
        assert_eq!(
            Source::parse("http://h:6060/debug/pprof/heap"),
            Source::Url("http://h:6060/debug/pprof/heap".into())
        );
        assert_eq!(
            Source::parse("heap.pb.gz"),
            Source::File("heap.pb.gz".into())
        );
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let err = Source::parse("/nonexistent/heap.pb.gz")
            .load(&Limits::default())
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with("reading /nonexistent/heap.pb.gz: "),
            "{msg}"
        );
    }

    #[test]
    fn oversized_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        let limits = Limits {
            max_decompressed: 10,
        };
        let err = Source::parse(path.to_str().unwrap())
            .load(&limits)
            .unwrap_err();
        assert!(format!("{err:#}").contains("--max-decompressed"), "{err:#}");
    }
}
