//! Waiting for an object's state, as `kubectl wait --for=...` does. Waits poll with a
//! short, growing interval rather than watch: a watch dropped by the server (as real ones
//! are, during upgrades) would need the same retry logic, and the states waited for here
//! (an operator's reconcile, a Job) take seconds, not milliseconds.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{Cluster, ObjectPermit};
use crate::error::{Error, Result};

/// What `wait-for` waits for, in `kubectl wait --for` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `condition=NAME` or `condition=NAME=VALUE` (VALUE defaults to True).
    Status {
        name: String,
        value: String,
    },
    /// `jsonpath={.a.b}=VALUE`.
    Field {
        path: Vec<String>,
        value: String,
    },
    Create,
    Delete,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition> {
        let bad = |why: &str| Error::Invalid(format!("wait condition `{text}`: {why}"));
        if text == "create" {
            return Ok(Condition::Create);
        }
        if text == "delete" {
            return Ok(Condition::Delete);
        }
        if let Some(rest) = text.strip_prefix("condition=") {
            let (name, value) = rest.split_once('=').unwrap_or((rest, "True"));
            if name.is_empty() || value.is_empty() {
                return Err(bad("expected condition=NAME or condition=NAME=VALUE"));
            }
            return Ok(Condition::Status {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
        if let Some(rest) = text.strip_prefix("jsonpath=") {
            let close = rest
                .find('}')
                .ok_or_else(|| bad("expected jsonpath={.path}=VALUE"))?;
            let (expr, tail) = rest.split_at(close + 1);
            let value = tail
                .strip_prefix('=')
                .ok_or_else(|| bad("expected jsonpath={.path}=VALUE"))?;
            let inner = expr
                .strip_prefix("{.")
                .and_then(|e| e.strip_suffix('}'))
                .ok_or_else(|| bad("the path must look like {.spec.replicas}"))?;
            let path = split_path(inner);
            if path.iter().any(String::is_empty) {
                return Err(bad("empty path segment"));
            }
            return Ok(Condition::Field {
                path,
                value: value.to_string(),
            });
        }
        Err(bad(
            "expected condition=NAME[=VALUE], jsonpath={.path}=VALUE, create or delete",
        ))
    }

    fn holds(&self, object: Option<&Value>) -> bool {
        match (self, object) {
            (Condition::Delete, o) => o.is_none(),
            (_, None) => false,
            (Condition::Create, Some(_)) => true,
            (Condition::Status { name, value }, Some(o)) => {
                condition(o, name).is_some_and(|c| c["status"].as_str() == Some(value))
            }
            (Condition::Field { path, value }, Some(o)) => {
                let mut at = o;
                for key in path {
                    at = &at[key.as_str()];
                }
                match at {
                    Value::String(s) => s == value,
                    Value::Null => false,
                    // A number or a boolean: compared as JSON, as kubectl prints it.
                    other => serde_json::from_str::<Value>(value).is_ok_and(|v| v == *other),
                }
            }
        }
    }
}

/// `a.b\.c.d` -> [a, b.c, d]: kubectl's escape for dots inside a key.
fn split_path(inner: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                out.last_mut().expect("one").push('.');
                chars.next();
            }
            '.' => out.push(String::new()),
            c => out.last_mut().expect("one").push(c),
        }
    }
    out
}

fn condition<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(name))
}

/// A Job that has failed will never complete: say so instead of waiting out the time.
fn failed_job(object: &Value) -> Option<String> {
    if object["kind"].as_str() != Some("Job") {
        return None;
    }
    let c = condition(object, "Failed").filter(|c| c["status"] == "True")?;
    Some(format!(
        "{}: {}",
        c["reason"].as_str().unwrap_or("Failed"),
        c["message"].as_str().unwrap_or("no message")
    ))
}

impl Cluster {
    /// Waits until `condition` holds on the permitted object, or `timeout` passes.
    /// Returns the object as it was then (`Null` once deleted).
    pub async fn wait_for(
        &self,
        p: &ObjectPermit,
        condition: &Condition,
        timeout: Duration,
    ) -> Result<Value> {
        let (held, last) = poll_until(timeout, || async move {
            let object = self.get_opt(p).await?;
            if let (Condition::Status { name, .. }, Some(o)) = (condition, &object)
                && name == "Complete"
                && let Some(why) = failed_job(o)
            {
                return Err(Error::Stream(format!(
                    "Job {} failed and will not complete ({why})",
                    p.name()
                )));
            }
            Ok((condition.holds(object.as_ref()), object))
        })
        .await?;
        if held {
            return Ok(last.unwrap_or(Value::Null));
        }
        let state = match &last {
            None => "it does not exist".to_string(),
            Some(_) => "the condition does not hold".to_string(),
        };
        Err(Error::Timeout(format!(
            "waited {}s for {} {} to reach `{}`; {state}",
            timeout.as_secs(),
            p.kind,
            p.name(),
            shown(condition)
        )))
    }
}

fn shown(c: &Condition) -> String {
    match c {
        Condition::Status { name, value } => format!("condition={name}={value}"),
        Condition::Field { path, value } => format!("jsonpath={{.{}}}={value}", path.join(".")),
        Condition::Create => "create".into(),
        Condition::Delete => "delete".into(),
    }
}

/// Calls `check` until it says done or `timeout` passes, 100 ms apart at first and at
/// most a second apart later. Returns whether it got done, and what it saw last.
pub(super) async fn poll_until<F, Fut, S>(timeout: Duration, mut check: F) -> Result<(bool, S)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(bool, S)>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(100);
    loop {
        let (done, seen) = check().await?;
        let now = Instant::now();
        if done || now >= deadline {
            return Ok((done, seen));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 3 / 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_parse_like_kubectl_wait() {
        assert_eq!(
            Condition::parse("condition=Complete").unwrap(),
            Condition::Status {
                name: "Complete".into(),
                value: "True".into()
            }
        );
        assert_eq!(
            Condition::parse("condition=Available=False").unwrap(),
            Condition::Status {
                name: "Available".into(),
                value: "False".into()
            }
        );
        assert_eq!(
            Condition::parse("jsonpath={.metadata.annotations.apps\\.3scale\\.net/x}=2").unwrap(),
            Condition::Field {
                path: vec![
                    "metadata".into(),
                    "annotations".into(),
                    "apps.3scale.net/x".into()
                ],
                value: "2".into()
            }
        );
        for bad in [
            "",
            "condition=",
            "jsonpath=.spec",
            "jsonpath={.spec..a}=1",
            "for=ever",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_hold_on_objects() {
        let job = json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert!(
            Condition::parse("condition=Complete")
                .unwrap()
                .holds(Some(&job))
        );
        assert!(!Condition::parse("condition=Complete").unwrap().holds(None));
        let d = json!({"spec": {"replicas": 0}, "metadata": {"annotations": {"redisConfigMapResourceVersion": "42"}}});
        assert!(
            Condition::parse("jsonpath={.spec.replicas}=0")
                .unwrap()
                .holds(Some(&d))
        );
        assert!(
            !Condition::parse("jsonpath={.spec.replicas}=1")
                .unwrap()
                .holds(Some(&d))
        );
        assert!(
            Condition::parse("jsonpath={.metadata.annotations.redisConfigMapResourceVersion}=42")
                .unwrap()
                .holds(Some(&d))
        );
        assert!(Condition::Delete.holds(None) && !Condition::Delete.holds(Some(&d)));
        assert!(Condition::Create.holds(Some(&d)));
        let failed = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert_eq!(
            failed_job(&failed).as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn polling_ends_at_the_deadline() {
        let mut calls = 0;
        let (done, ()) = poll_until(Duration::from_secs(3), || {
            calls += 1;
            async { Ok((false, ())) }
        })
        .await
        .unwrap();
        assert!(!done);
        assert!((4..20).contains(&calls), "{calls}");
    }
}
