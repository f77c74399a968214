//! What several 3scale plugins share: the APIManager, putting a recorded spec back,
//! exporting objects for re-apply, and the redis-config edits of the restore procedure.
//! Everything here except [`apimanager_name`] is pure and tested natively.

use serde_json::{Value, json};

use crate::{Error, Result, cluster};

pub const APIMANAGER_API: &str = "apps.3scale.net/v1alpha1";
pub const APIMANAGER_KIND: &str = "APIManager";

/// The namespace's APIManager (the manual's `${DEPLOYMENT_NAME}`): there must be exactly one.
pub fn apimanager_name() -> Result<String> {
    let items = cluster::list(APIMANAGER_API, APIMANAGER_KIND, "")?;
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    match names.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(Error::not_found("no APIManager in the namespace")),
        many => Err(Error::invalid(format!(
            "more than one APIManager in the namespace ({}); 3scale backup expects one",
            many.join(", ")
        ))),
    }
}

/// A JSON patch that puts `recorded` back at `pointer` (`add` replaces an existing member
/// and creates a missing one, so it also works if someone removed the key meanwhile).
/// `None` means the key did not exist when recorded: remove it if it exists now.
pub fn put_back_patch(pointer: &str, recorded: Option<&Value>, exists_now: bool) -> Value {
    match (recorded, exists_now) {
        (Some(value), _) => json!([{"op": "add", "path": pointer, "value": value}]),
        (None, true) => json!([{"op": "remove", "path": pointer}]),
        (None, false) => json!([]),
    }
}

/// Whether a recorded component spec sets `replicas`; if not, the operator leaves the
/// deployment at whatever it is, so the manual scales it to 1 by hand.
pub fn has_replicas(spec: &Value) -> bool {
    spec.get("replicas").is_some_and(|r| !r.is_null())
}

/// The manual checks `$SYSTEM_SPEC` holds "at least a pair of braces and is not empty".
pub fn is_nonempty_object(value: &Value) -> bool {
    value.as_object().is_some_and(|o| !o.is_empty())
}

/// An object as `oc get -o json` gives it, minus what the server owns, so that
/// `oc apply -f` (or the host's apply) works on a namespace where it no longer exists.
/// Owner references go too: they name the old owner's uid, and a garbage collector would
/// delete a restored object whose owner it cannot find.
pub fn sanitize_for_export(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
            "ownerReferences",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    object
}

/// redis.conf for loading a dump (manual 9.5.5.1 steps 2-3): `save` lines commented out,
/// `appendonly no`, plus `save ""`. The manual only comments the lines out, but Redis 6.2
/// and later then fall back to built-in save points, and the old pod's shutdown during
/// the next rollout saves its memory over the dump.rdb just put in place. `save ""` turns
/// snapshotting off for real.
pub fn redis_conf_for_restore(conf: &str) -> String {
    let mut out = Vec::new();
    let mut saw_appendonly = false;
    for line in conf.lines() {
        let trimmed = line.trim_start();
        if directive(trimmed) == Some("save") {
            out.push(format!("#{trimmed}"));
        } else if directive(trimmed) == Some("appendonly") {
            out.push("appendonly no".to_string());
            saw_appendonly = true;
        } else {
            out.push(line.to_string());
        }
    }
    if !saw_appendonly {
        out.push("appendonly no".to_string());
    }
    out.push("save \"\"".to_string());
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn directive(line: &str) -> Option<&str> {
    if line.starts_with('#') {
        return None;
    }
    line.split_whitespace().next()
}

/// Settings of a redis.conf that matter to the procedure: (save rules, appendonly).
pub fn redis_persistence(conf: &str) -> (Vec<String>, Option<String>) {
    let mut saves = Vec::new();
    let mut appendonly = None;
    for line in conf.lines().map(str::trim_start) {
        match directive(line) {
            Some("save") => saves.push(line["save".len()..].trim().to_string()),
            Some("appendonly") => appendonly = line.split_whitespace().nth(1).map(String::from),
            _ => {}
        }
    }
    (saves, appendonly)
}

/// A field of `redis-cli INFO` output, e.g. `aof_rewrite_in_progress`.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "port 6379\n# a comment about save\nsave 900 1\nsave 300 10\n  save 60 10000\nappendonly yes\ndir /var/lib/redis/data\n";

    #[test]
    fn restore_config_disables_every_kind_of_snapshot() {
        let edited = redis_conf_for_restore(CONF);
        let (saves, appendonly) = redis_persistence(&edited);
        assert_eq!(
            saves,
            vec!["\"\""],
            "only save \"\" remains active: {edited}"
        );
        assert_eq!(appendonly.as_deref(), Some("no"));
        assert!(edited.contains("#save 900 1") && edited.contains("#save 60 10000"));
        assert!(edited.contains("dir /var/lib/redis/data"));
        let (orig_saves, orig_aof) = redis_persistence(CONF);
        assert_eq!(orig_saves.len(), 3);
        assert_eq!(orig_aof.as_deref(), Some("yes"));
    }

    #[test]
    fn restore_config_adds_appendonly_when_missing() {
        let edited = redis_conf_for_restore("port 6379\n");
        assert_eq!(redis_persistence(&edited).1.as_deref(), Some("no"));
    }

    #[test]
    fn put_back_patches() {
        let spec = json!({"replicas": 2});
        assert_eq!(
            put_back_patch("/spec/zync", Some(&spec), true),
            json!([{"op": "add", "path": "/spec/zync", "value": {"replicas": 2}}])
        );
        assert_eq!(
            put_back_patch("/spec/zync", None, true),
            json!([{"op": "remove", "path": "/spec/zync"}])
        );
        assert_eq!(put_back_patch("/spec/zync", None, false), json!([]));
    }

    #[test]
    fn replicas_and_emptiness() {
        assert!(has_replicas(&json!({"replicas": 0})));
        assert!(!has_replicas(&json!({"resources": {}})));
        assert!(!has_replicas(&json!({"replicas": null})));
        assert!(is_nonempty_object(&json!({"replicas": 1})));
        assert!(!is_nonempty_object(&json!({})));
        assert!(!is_nonempty_object(&Value::Null));
    }

    #[test]
    fn export_drops_what_the_server_owns() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "system-environment", "namespace": "3scale", "uid": "u", "resourceVersion": "9",
                         "creationTimestamp": "t", "labels": {"app": "3scale"},
                         "ownerReferences": [{"uid": "old"}],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "data": {"A": "1"}
        });
        let clean = sanitize_for_export(&object);
        assert_eq!(
            clean,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "system-environment", "namespace": "3scale", "labels": {"app": "3scale"}},
                   "data": {"A": "1"}})
        );
    }

    #[test]
    fn info_fields() {
        let info = "# Persistence\r\naof_rewrite_in_progress:1\r\nrdb_bgsave_in_progress:0\r\n";
        assert_eq!(info_field(info, "aof_rewrite_in_progress"), Some("1"));
        assert_eq!(info_field(info, "rdb_bgsave_in_progress"), Some("0"));
        assert_eq!(info_field(info, "missing"), None);
    }
}
