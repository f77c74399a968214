//! The last result of each kind of run as Prometheus metrics, in the text format
//! node_exporter's textfile collector reads (`--metrics-file`): an alert on "no good
//! backup for 26 hours" is then one PromQL expression.
//!
//! The file keeps one series per (kind, namespace): a backup of one namespace leaves a
//! restore's lines and other namespaces' lines as they were, and a failed run keeps the
//! time of the last good one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// One finished (or refused) run.
pub struct Outcome<'a> {
    /// `backup`, `restore` or `resume`.
    pub kind: &'a str,
    pub namespace: &'a str,
    pub exit_code: u8,
    pub finished: SystemTime,
    pub duration: Duration,
}

const METRICS: &[(&str, &str, &str)] = &[
    (
        "host_last_run_timestamp_seconds",
        "gauge",
        "When the last run of this kind ended (Unix time).",
    ),
    (
        "host_last_run_success",
        "gauge",
        "1 if the last run of this kind ended with exit code 0, else 0.",
    ),
    (
        "host_last_run_exit_code",
        "gauge",
        "The exit code of the last run of this kind (host --help lists them).",
    ),
    (
        "host_last_run_duration_seconds",
        "gauge",
        "How long the last run of this kind took.",
    ),
    (
        "host_last_success_timestamp_seconds",
        "gauge",
        "When the last run of this kind that ended with exit code 0 ended (Unix time).",
    ),
];

/// `name{labels}` -> value, as the file holds them.
type Series = BTreeMap<(String, String), String>;

fn read(path: &Path) -> Series {
    let mut series = Series::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return series;
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match key.split_once('{') {
            Some((n, l)) => (n, format!("{{{l}")),
            None => (key, String::new()),
        };
        if METRICS.iter().any(|(m, _, _)| *m == name) {
            series.insert((name.to_string(), labels), value.to_string());
        }
    }
    series
}

/// A label value as the text format quotes it.
fn quoted(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Updates the file with `outcome`, atomically: a collector never reads half a file.
pub fn record(path: &Path, outcome: &Outcome) -> Result<()> {
    let mut series = read(path);
    let labels = format!(
        "{{kind=\"{}\",namespace=\"{}\"}}",
        quoted(outcome.kind),
        quoted(outcome.namespace)
    );
    let when = outcome
        .finished
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let ok = outcome.exit_code == 0;
    let mut set = |name: &str, value: String| {
        series.insert((name.to_string(), labels.clone()), value);
    };
    set("host_last_run_timestamp_seconds", format!("{when:.3}"));
    set("host_last_run_success", u8::from(ok).to_string());
    set("host_last_run_exit_code", outcome.exit_code.to_string());
    set(
        "host_last_run_duration_seconds",
        format!("{:.3}", outcome.duration.as_secs_f64()),
    );
    if ok {
        set("host_last_success_timestamp_seconds", format!("{when:.3}"));
    }
    let mut text = String::new();
    for (name, kind, help) in METRICS {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for ((n, labels), value) in &series {
            if n == name {
                text.push_str(&format!("{name}{labels} {value}\n"));
            }
        }
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| Error::io(tmp.path(), e))?;
    // The collector runs as another user: the file says when backups ran, nothing secret.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: &str, code: u8, at: u64) -> Outcome<'_> {
        Outcome {
            kind,
            namespace: "3scale",
            exit_code: code,
            finished: UNIX_EPOCH + Duration::from_secs(at),
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_and_other_kinds_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.prom");
        record(&path, &outcome("backup", 0, 1000)).unwrap();
        record(&path, &outcome("restore", 0, 1500)).unwrap();
        record(&path, &outcome("backup", 1, 2000)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let backup = "{kind=\"backup\",namespace=\"3scale\"}";
        let restore = "{kind=\"restore\",namespace=\"3scale\"}";
        for line in [
            format!("host_last_run_timestamp_seconds{backup} 2000.000"),
            format!("host_last_run_success{backup} 0"),
            format!("host_last_run_exit_code{backup} 1"),
            format!("host_last_run_duration_seconds{backup} 1.500"),
            format!("host_last_success_timestamp_seconds{backup} 1000.000"),
            format!("host_last_success_timestamp_seconds{restore} 1500.000"),
            "# TYPE host_last_run_success gauge".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert_eq!(
            text.matches("# HELP host_last_run_success ").count(),
            1,
            "{text}"
        );
    }
}
