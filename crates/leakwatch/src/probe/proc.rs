//! A process's memory as `/proc` reports it.
//!
//! Values the kernel does not show (an older kernel without `RssAnon`, a
//! `smaps_rollup` we may not read) are `None`, never 0: a zero would read as
//! "the process uses no memory" to every later analysis.

use std::fs;
use std::io;
use std::path::PathBuf;

/// Memory figures of one process at one moment, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcMemory {
    /// Resident set size (`VmRSS`).
    pub vm_rss: Option<u64>,
    /// Peak resident set size (`VmHWM`).
    pub vm_hwm: Option<u64>,
    /// Resident anonymous memory (`RssAnon`).
    pub rss_anon: Option<u64>,
    /// Resident file mappings (`RssFile`).
    pub rss_file: Option<u64>,
    /// Resident shared memory (`RssShmem`).
    pub rss_shmem: Option<u64>,
    /// Swapped-out anonymous memory (`VmSwap`).
    pub vm_swap: Option<u64>,
}

/// The `/proc` directory of `pid`.
fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// Reads `/proc/PID/status`. Fails when the process does not exist (or is a
/// zombie whose memory is gone, which reads as no `VmRSS` line at all).
pub fn read_status(pid: u32) -> io::Result<ProcMemory> {
    let text = fs::read_to_string(proc_dir(pid).join("status"))?;
    let mem = parse_status(&text);
    if mem.vm_rss.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("process {pid} has no memory (exited, a zombie or a kernel thread)"),
        ));
    }
    Ok(mem)
}

/// Parses the text of `/proc/PID/status`.
pub fn parse_status(text: &str) -> ProcMemory {
    let mut mem = ProcMemory::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "VmRSS" => &mut mem.vm_rss,
            "VmHWM" => &mut mem.vm_hwm,
            "RssAnon" => &mut mem.rss_anon,
            "RssFile" => &mut mem.rss_file,
            "RssShmem" => &mut mem.rss_shmem,
            "VmSwap" => &mut mem.vm_swap,
            _ => continue,
        };
        *slot = parse_kb(value);
    }
    mem
}

/// Parses `   14512 kB` into bytes.
fn parse_kb(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// Proportional set size from `/proc/PID/smaps_rollup`; `None` when the file
/// is missing (kernels before 4.14) or not readable (another user's process).
pub fn read_pss(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(proc_dir(pid).join("smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(parse_kb)
}

/// The process's start time in clock ticks since boot (field 22 of
/// `/proc/PID/stat`). Together with the PID it identifies one process: a
/// reused PID has a different start time.
pub fn start_time(pid: u32) -> io::Result<u64> {
    let text = fs::read_to_string(proc_dir(pid).join("stat"))?;
    parse_start_time(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: unexpected format"),
        )
    })
}

/// Field 22 of a `/proc/PID/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After ")" come fields 3 (state) onwards; starttime is field 22.
    after.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Whether the process `pid` that started at `start_ticks` still runs (a
/// zombie counts as gone).
pub fn is_same_process_alive(pid: u32, start_ticks: u64) -> bool {
    let Ok(text) = fs::read_to_string(proc_dir(pid).join("stat")) else {
        return false;
    };
    let state = text
        .rfind(')')
        .and_then(|i| text[i + 1..].split_whitespace().next());
    state != Some("Z") && parse_start_time(&text) == Some(start_ticks)
}

/// The command line of `pid`, for the recording's metadata.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(proc_dir(pid).join("cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then_some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_bytes_and_missing_ones_absent() {
        let text =
            "Name:\tx\nVmHWM:\t  200 kB\nVmRSS:\t  100 kB\nRssAnon:\t   60 kB\nVmSwap:\t0 kB\n";
        let m = parse_status(text);
        assert_eq!(m.vm_rss, Some(100 * 1024));
        assert_eq!(m.vm_hwm, Some(200 * 1024));
        assert_eq!(m.rss_anon, Some(60 * 1024));
        assert_eq!(m.vm_swap, Some(0));
        assert_eq!(m.rss_file, None);
        assert_eq!(m.rss_shmem, None);
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
    }

    #[test]
    fn this_process_reads() {
        let pid = std::process::id();
        let m = read_status(pid).unwrap();
        assert!(m.vm_rss.unwrap() > 0);
        let t = start_time(pid).unwrap();
        assert!(is_same_process_alive(pid, t));
        assert!(!is_same_process_alive(pid, t + 1));
    }
}
