//! Bounds on what the host reads from a set before trusting it. A set can come from
//! anyone (a hand-made set has no manifest to check against), so every read that is not
//! a stream of known size is bounded, and the bound is named when it is hit.

/// manifest.json: a record is about 250 bytes, so this is a million files.
pub const MAX_MANIFEST: u64 = 256 << 20;
/// The seal: a key and a signature, in hex.
pub const MAX_SEAL: u64 = 64 << 10;
/// A JSON artifact checked whole in a hand-made set. Kubernetes objects are at most
/// about 1.5 MiB (etcd's request limit); a bigger file is not an export.
pub const MAX_JSON: u64 = 16 << 20;
/// How much a gzip artifact of a hand-made set may expand to while it is checked, unless
/// `HOST_MAX_UNPACKED` says otherwise (a size such as `200GiB`). A gzip stream can
/// expand a thousandfold, so a small file could keep verification busy for hours.
pub const DEFAULT_MAX_UNPACKED: u64 = 64 << 30;
pub const MAX_UNPACKED_ENV: &str = "HOST_MAX_UNPACKED";

/// The bound on a gzip artifact's expanded size: `HOST_MAX_UNPACKED` or the default.
pub fn max_unpacked() -> Result<u64, String> {
    match std::env::var(MAX_UNPACKED_ENV) {
        Ok(text) => parse_size(&text)
            .ok_or_else(|| format!("{MAX_UNPACKED_ENV}=`{text}` is not a size such as 200GiB")),
        Err(_) => Ok(DEFAULT_MAX_UNPACKED),
    }
}

/// `123`, `10KiB`, `64MiB`, `2GiB`, `1TiB` (also K, M, G, T, KB, MB, GB, TB as powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("10KiB"), Some(10 << 10));
        assert_eq!(parse_size("64 MiB"), Some(64 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5XB"), None);
    }
}
