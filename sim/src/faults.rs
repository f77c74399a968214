//! Fault knobs for reliability tests. All off by default; set at start (`sim serve
//! --fault ...`) or at runtime through the admin API (`sim fault ...`).

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct FaultSettings {
    /// Close an exec WebSocket abruptly (no status, no Close frame) once this many bytes of
    /// stdout have been sent.
    pub exec_drop_after: Option<u64>,
    /// The same, once this many bytes of stdin have been received.
    pub exec_drop_stdin_after: Option<u64>,
    /// Share of API requests (0.0–1.0) answered with `error_code` instead.
    pub error_rate: f64,
    /// 500 or 429.
    pub error_code: u16,
    /// Added before every API request is served.
    pub latency_ms: u64,
    /// SIGKILL the pod's processes as an exec whose command line contains this text
    /// starts (once; the pod then restarts as Kubernetes restarts a crashed container).
    pub kill_pod_on_exec: Option<String>,
    /// An exec of this program fails to start, as in a container whose image lacks it
    /// (a UBI-minimal image has no `find`).
    pub exec_missing: Option<String>,
}

impl FaultSettings {
    /// Parses `name=value` as given on the command line.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("fault `{assignment}`: expected NAME=VALUE"))?;
        let bad = |e: &dyn std::fmt::Display| format!("fault `{assignment}`: {e}");
        match name {
            "exec-drop-after" => {
                self.exec_drop_after = if value == "off" {
                    None
                } else {
                    Some(parse_size(value).map_err(|e| bad(&e))?)
                }
            }
            "exec-drop-stdin-after" => {
                self.exec_drop_stdin_after = if value == "off" {
                    None
                } else {
                    Some(parse_size(value).map_err(|e| bad(&e))?)
                }
            }
            "error-rate" => {
                let rate: f64 = value.parse().map_err(|e| bad(&e))?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(bad(&"must be between 0 and 1"));
                }
                self.error_rate = rate;
            }
            "error-code" => {
                let code: u16 = value.parse().map_err(|e| bad(&e))?;
                if code != 500 && code != 429 {
                    return Err(bad(&"must be 500 or 429"));
                }
                self.error_code = code;
            }
            "latency-ms" => self.latency_ms = value.parse().map_err(|e| bad(&e))?,
            "kill-pod-on-exec" => {
                self.kill_pod_on_exec =
                    (value != "off" && !value.is_empty()).then(|| value.to_string())
            }
            "exec-missing" => {
                self.exec_missing = (value != "off" && !value.is_empty()).then(|| value.to_string())
            }
            _ => return Err(format!("unknown fault `{name}` (see `sim serve --help`)")),
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct Faults(Mutex<FaultSettings>);

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        Faults(Mutex::new(settings))
    }
    pub fn get(&self) -> FaultSettings {
        self.0.lock().unwrap().clone()
    }
    pub fn replace(&self, settings: FaultSettings) {
        *self.0.lock().unwrap() = settings;
    }
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.0.lock().unwrap().latency_ms)
    }
    /// The status to answer instead of serving, if this request draws the short straw.
    pub fn injected_error(&self) -> Option<u16> {
        let f = self.0.lock().unwrap();
        (f.error_rate > 0.0 && rand::random::<f64>() < f.error_rate)
            .then_some(if f.error_code == 429 { 429 } else { 500 })
    }
    /// Whether an exec of `program` is to fail as if the image lacked it.
    pub fn missing(&self, program: &str) -> bool {
        self.0.lock().unwrap().exec_missing.as_deref() == Some(program)
    }
    /// True once for an exec whose command line contains the configured text.
    pub fn take_kill_on_exec(&self, command_line: &str) -> bool {
        let mut f = self.0.lock().unwrap();
        if f.kill_pod_on_exec
            .as_deref()
            .is_some_and(|needle| command_line.contains(needle))
        {
            f.kill_pod_on_exec = None;
            return true;
        }
        false
    }
}

/// `64MiB`, `2GB`, `1048576`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 64MiB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit `{other}`")),
    };
    Ok((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_fault_assignments_parse() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert!(parse_size("x").is_err());
        let mut f = FaultSettings::default();
        f.set("exec-drop-after=1MiB").unwrap();
        f.set("error-rate=0.5").unwrap();
        f.set("error-code=429").unwrap();
        assert_eq!(f.exec_drop_after, Some(1 << 20));
        f.set("exec-drop-stdin-after=256KiB").unwrap();
        assert_eq!(f.exec_drop_stdin_after, Some(256 << 10));
        assert!(f.set("error-rate=2").is_err());
        assert!(f.set("nonsense=1").is_err());
    }
}
