//! Events as the controllers and the kubelet record them (`v1` Event objects that
//! `kubectl get events` and `kubectl describe` show), and the simulator's own log of what
//! happened (`sim events`), which also gets every event.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::Cluster;
use crate::resources::EVENTS;

/// A real cluster keeps events for an hour; the simulator keeps the newest ones.
const KEEP: usize = 2000;

#[derive(Default)]
pub struct Recorder {
    names: Mutex<VecDeque<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

impl Cluster {
    /// Records an event about `object` from `component` (e.g. `deployment-controller`,
    /// `kubelet`), as client-go's event recorder does: one Event named
    /// `<object>.<hex nanoseconds>`.
    pub fn event(&self, object: &Value, kind: Kind, reason: &str, message: &str, component: &str) {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let event_name = format!("{name}.{nanos:x}");
        let now = crate::store::now();
        let kind_str = if kind == Kind::Warning {
            "Warning"
        } else {
            "Normal"
        };
        let mut source = json!({"component": component});
        if component == "kubelet" {
            source["host"] = json!(super::NODE_NAME);
        }
        let event = json!({
            "metadata": {"name": event_name},
            "involvedObject": {
                "kind": object["kind"], "namespace": self.namespace, "name": name,
                "uid": object["metadata"]["uid"], "apiVersion": object["apiVersion"],
                "resourceVersion": object["metadata"]["resourceVersion"],
            },
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": kind_str,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": if component == "kubelet" { super::NODE_NAME } else { "" },
        });
        if self.store.create(&EVENTS, &self.namespace, event).is_ok() {
            let mut names = self.recorder.names.lock().unwrap();
            names.push_back(event_name);
            while names.len() > KEEP {
                if let Some(old) = names.pop_front() {
                    let _ = self.store.delete(&EVENTS, &self.namespace, &old);
                }
            }
        }
        let object_kind = object["kind"].as_str().unwrap_or("Object").to_lowercase();
        self.note(&format!(
            "{kind_str} {reason} {object_kind}/{name}: {message}"
        ));
    }

    /// One line in the simulator's event log (`sim events`).
    pub fn note(&self, line: &str) {
        let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dirs.events_log)
        {
            let _ = writeln!(f, "{stamp} {line}");
        }
    }
}
