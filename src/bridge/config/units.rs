//! The config's value units, read and shown: durations (`5S`, `3s`, `500ms`, `1m30s`) and byte
//! sizes (`32KB`, `1MB`, powers of 1024).

use std::time::Duration;

/// `b` in the largest unit that shows it exactly (`64KB`, `1GB`, `1000B`).
pub(super) fn show_size(b: u64) -> String {
    for (unit, shift) in [("GB", 30), ("MB", 20), ("KB", 10)] {
        if b >= 1 << shift && b.is_multiple_of(1 << shift) {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b}B")
}

/// Parses a duration: one or more `<integer><unit>` pairs, units `ms`, `s`, `m`, `h`, `d`, `w`,
/// case-insensitive (`5S`, `3s`, `500ms`, `1m30s`).
///
/// # Errors
/// A short description of what was expected.
pub fn parse_duration(s: &str) -> Result<Duration, &'static str> {
    const EXPECTED: &str = "a duration such as 500ms, 3s, 5S, 1m, 1h (units ms s m h d w)";
    let lower = s.to_ascii_lowercase();
    let mut rest = lower.as_str();
    if rest.is_empty() {
        return Err(EXPECTED);
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(EXPECTED);
        }
        let num: u64 = rest[..digits]
            .parse()
            .map_err(|_| "a duration that is not this large")?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let mult: u64 = match &rest[..letters] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(EXPECTED),
        };
        rest = &rest[letters..];
        total_ms = num
            .checked_mul(mult)
            .and_then(|v| v.checked_add(total_ms))
            .ok_or("a duration that is not this large")?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses a byte size: an integer with an optional unit `B`, `KB`, `MB`, `GB` (powers of 1024),
/// case-insensitive (`32KB`, `1MB`, `4096`).
///
/// # Errors
/// A short description of what was expected.
pub fn parse_bytesize(s: &str) -> Result<u64, &'static str> {
    const EXPECTED: &str = "a size such as 4096, 32KB, 1MB (units B KB MB GB)";
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(EXPECTED);
    }
    let num: u64 = s[..digits]
        .parse()
        .map_err(|_| "a size that is not this large")?;
    let shift = match s[digits..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "kb" => 10,
        "mb" => 20,
        "gb" => 30,
        _ => return Err(EXPECTED),
    };
    num.checked_mul(1 << shift)
        .ok_or("a size that is not this large")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_in_any_case() {
        assert_eq!(parse_duration("5S"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("500MS"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1M30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "-1s",
            "1.5s",
            "5 s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn byte_sizes_use_powers_of_1024() {
        assert_eq!(parse_bytesize("32KB"), Ok(32 * 1024));
        assert_eq!(parse_bytesize("32kb"), Ok(32 * 1024));
        assert_eq!(parse_bytesize("1MB"), Ok(1024 * 1024));
        assert_eq!(parse_bytesize("1mb"), Ok(1024 * 1024));
        assert_eq!(parse_bytesize("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytesize("4096"), Ok(4096));
        assert_eq!(parse_bytesize("7B"), Ok(7));
        for bad in [
            "",
            "KB",
            "1TB",
            "1.5MB",
            "-1KB",
            "1 KB",
            "99999999999999999999GB",
        ] {
            assert!(parse_bytesize(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes_are_shown_in_the_largest_exact_unit() {
        assert_eq!(show_size(4 << 20), "4MB");
        assert_eq!(show_size(1536), "1536B");
        assert_eq!(show_size(2048), "2KB");
    }
}
