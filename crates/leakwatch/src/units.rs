//! Human units: bytes as KiB/MiB/GiB, durations as `500ms`/`10s`/`5m`/`1h`,
//! and the parsers for the same spellings on the command line.

use std::time::Duration;

/// Formats a byte count with binary units, e.g. `4.6 MiB`; negative values
/// keep their sign (diffs).
pub fn format_bytes(bytes: i64) -> String {
    format_bytes_f64(bytes as f64)
}

/// [`format_bytes`] for fractional values such as slopes.
pub fn format_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let sign = if bytes < 0.0 { "-" } else { "" };
    let mut v = bytes.abs();
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{sign}{v:.0} B")
    } else if v >= 100.0 {
        format!("{sign}{v:.0} {}", UNITS[unit])
    } else {
        format!("{sign}{v:.1} {}", UNITS[unit])
    }
}

/// Parses a byte size: `2147483648`, `512MiB`, `2GiB`, `1.5G`, `64k`
/// (decimal suffixes K/M/G/T without `i` are read as binary too, as `free`
/// and cgroup tooling do).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. 512MiB, 2GiB or 1048576"))?;
    let mult: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "`{s}`: unknown size unit `{other}`; use B, KiB, MiB, GiB or TiB"
            ))
        }
    };
    Ok((num * mult as f64).round() as u64)
}

/// Parses a duration written `500ms`, `10s`, `5m`, `1h`, `2d` (or
/// combinations such as `1h30m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 500ms, 10s, 5m or 1h"))
}

/// Formats a duration for people: `850ms`, `42s`, `5m 3s`, `3h 12m`, `3d 22h`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return format!("{}ms", d.as_millis());
    }
    let (days, hours, mins, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) if s == 0 => format!("{m}m"),
        (0, 0, m) => format!("{m}m {s}s"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_binary_and_signed() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(-4_823_449), "-4.6 MiB");
        assert_eq!(format_bytes(2 << 30), "2.0 GiB");
        assert_eq!(format_bytes(300 << 20), "300 MiB");
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert!(parse_bytes("lots").unwrap_err().contains("not a size"));
        assert!(parse_bytes("3 parsecs")
            .unwrap_err()
            .contains("unknown size unit"));
    }

    #[test]
    fn durations_round_trip_the_documented_spellings() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("soon").is_err());
        assert_eq!(format_duration(Duration::from_secs(338_400)), "3d 22h");
        assert_eq!(format_duration(Duration::from_secs(303)), "5m 3s");
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
    }
}
