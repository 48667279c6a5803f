//! Standard output the Unix way: when the reader goes away (`| head`), the
//! rest of the output is dropped quietly and the exit code stays the
//! command's own, as with ripgrep; any other write error (a full disk) is an
//! error of its own, never a panic.

use std::io::{self, Write};

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // Rust ignores SIGPIPE, so a closed pipe is an EPIPE here: the
        // reader has all it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
    }
}

/// [`print`] with a line break after `text`.
pub fn println(text: &str) -> anyhow::Result<()> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    print(&line)
}
