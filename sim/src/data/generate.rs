//! Deterministic pseudo-random content: the same seed gives the same bytes on every run
//! and machine, so the same `--size` gives the same fingerprint.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// SplitMix64.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// Words, so dumps compress about as well as real 3scale data does.
    pub fn text(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(self.pick(WORDS));
            if self.below(9) == 0 {
                s.push_str(&format!(" {:x}", self.next()));
            }
        }
        s.truncate(len);
        s
    }

    pub fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes * 2);
        while s.len() < bytes * 2 {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(bytes * 2);
        s
    }

    pub fn bytes(&mut self, len: usize, out: &mut Vec<u8>) {
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
    }
}

const WORDS: &[&str] = &[
    "api",
    "account",
    "application",
    "plan",
    "service",
    "metric",
    "hits",
    "limit",
    "usage",
    "developer",
    "portal",
    "provider",
    "backend",
    "gateway",
    "policy",
    "token",
    "oauth",
    "rate",
    "billing",
    "invoice",
    "webhook",
    "mapping",
    "rule",
    "endpoint",
    "product",
    "proxy",
    "staging",
    "production",
    "tenant",
    "admin",
    "user",
    "key",
    "secret",
    "access",
    "method",
    "analytics",
    "alert",
    "signup",
    "approval",
    "state",
    "live",
    "suspended",
];

/// `2026-01-01 00:00:00` plus `offset` seconds, without depending on the clock.
pub fn timestamp(offset: u64) -> String {
    let day = offset / 86_400 % 365;
    let (month, dom) = (day / 31 % 12 + 1, day % 28 + 1);
    let secs = offset % 86_400;
    format!(
        "2026-{month:02}-{dom:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// SQL string literal for MariaDB and PostgreSQL (our text has no quotes or backslashes,
/// but be safe).
pub fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}
