//! Sizes and durations as people write them on a command line: `256Mi`, `500GiB`, `15m`,
//! `1h30m`, `30d`. The duration grammar is Go's `time.ParseDuration` (what kubectl's
//! `--timeout` takes) less the sub-second units, plus `d` for retention periods.

use std::time::Duration;

/// `1024`, `64KiB`, `8Mi`, `1GiB`, `1TiB` (`K`, `M`, `G`, `T` mean the same: binary
/// units, as Kubernetes quantities `Ki`, `Mi` do). A bare number is in `bare_unit` bytes.
pub fn parse_size(text: &str, bare_unit: u64) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 256Mi or 500GiB"))?;
    let factor = match unit {
        "" => bare_unit,
        "B" => 1,
        "K" | "Ki" | "KiB" => 1 << 10,
        "M" | "Mi" | "MiB" => 1 << 20,
        "G" | "Gi" | "GiB" => 1 << 30,
        "T" | "Ti" | "TiB" => 1 << 40,
        _ => {
            return Err(format!(
                "`{unit}`: sizes are in B, Ki/KiB, Mi/MiB, Gi/GiB or Ti/TiB"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// `90s`, `15m`, `6h`, `1h30m`, `30d`; a bare number is seconds (as these flags took
/// before units).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration such as 90s, 15m, 1h30m or 30d");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let seconds = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("`{text}` is too long"))?;
    }
    Ok(Duration::from_secs(total))
}

/// A duration as the flags take it: `30d`, `1h30m`, `45s`, `0s`.
pub fn duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1024", 1), Ok(1024));
        assert_eq!(parse_size("8MiB", 1), Ok(8 << 20));
        assert_eq!(parse_size("8Mi", 1), Ok(8 << 20));
        assert_eq!(parse_size("8M", 1), Ok(8 << 20));
        assert_eq!(parse_size("256", 1 << 20), Ok(256 << 20));
        assert_eq!(parse_size("1TiB", 1), Ok(1 << 40));
        assert!(parse_size("8MB", 1).unwrap_err().contains("Mi/MiB"));
        assert!(parse_size("lots", 1).is_err());
        assert!(
            parse_size("99999999TiB", 1)
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "m", "15x", "1.5h", "-1s", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(duration(Duration::from_secs(30 * 86400)), "30d");
    }
}
