//! Which JSON-pointer paths a patch touches, so a grant on `/spec/zync` can allow a patch
//! of `spec.zync.appSpec.replicas` and refuse one of `spec.system` or of `spec` as a whole.

use serde_json::Value;

/// A body that is not a JSON patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(String);

/// Leaf paths a merge patch (RFC 7386) writes or deletes. An empty object or a non-object
/// value replaces (or deletes) the whole member, so it is a leaf.
pub fn merge_patch_paths(patch: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(patch, String::new(), &mut out);
    out
}

fn walk(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                walk(v, format!("{at}/{}", escape(k)), out);
            }
        }
        _ => out.push(if at.is_empty() { "/".to_string() } else { at }),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// What a JSON patch (RFC 6902) reaches: the paths it changes and the paths it only
/// reads. Both need a grant: `copy` writes its `from` somewhere the plugin may read back,
/// and `test` answers whether a value is what the plugin guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Each op's `path` but `test`'s, and `from` for `move` (which removes it).
    pub changed: Vec<String>,
    /// `copy`'s `from` and `test`'s `path`.
    pub read: Vec<String>,
}

pub fn json_patch_paths(patch: &Value) -> Result<Reach, PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be an array of operations".into()))?;
    let mut out = Reach::default();
    for op in ops {
        let kind = op["op"]
            .as_str()
            .ok_or_else(|| PatchError("a JSON patch operation needs `op`".into()))?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError("a JSON patch operation needs `path`".into()))?
            .to_string();
        let from = || {
            op["from"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| PatchError(format!("`{kind}` needs `from`")))
        };
        match kind {
            "test" => out.read.push(path),
            "add" | "remove" | "replace" => out.changed.push(path),
            "copy" => {
                out.changed.push(path);
                out.read.push(from()?);
            }
            "move" => {
                out.changed.push(path);
                out.changed.push(from()?);
            }
            other => return Err(PatchError(format!("unknown JSON patch op `{other}`"))),
        }
    }
    Ok(out)
}

/// Whether `path` is `prefix` or below it.
pub fn is_under(path: &str, prefix: &str) -> bool {
    prefix == "/" || path == prefix || path.starts_with(&format!("{prefix}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_leaves() {
        let mut paths = merge_patch_paths(
            &json!({"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": null}}}),
        );
        paths.sort();
        assert_eq!(
            paths,
            vec!["/spec/zync/appSpec/replicas", "/spec/zync/queSpec"]
        );
        assert_eq!(merge_patch_paths(&json!({"spec": {}})), vec!["/spec"]);
        assert_eq!(merge_patch_paths(&json!({"a/b": 1})), vec!["/a~1b"]);
    }

    #[test]
    fn json_patch_ops() {
        let p = json!([
            {"op": "test", "path": "/spec", "value": 1},
            {"op": "replace", "path": "/spec/zync", "value": {}},
            {"op": "move", "from": "/spec/system", "path": "/spec/zync/x"},
            {"op": "copy", "from": "/data/password", "path": "/spec/zync/y"}
        ]);
        let reach = json_patch_paths(&p).unwrap();
        assert_eq!(
            reach.changed,
            vec!["/spec/zync", "/spec/zync/x", "/spec/system", "/spec/zync/y"]
        );
        assert_eq!(reach.read, vec!["/spec", "/data/password"]);
        assert!(json_patch_paths(&json!([{"op": "copy", "path": "/a"}])).is_err());
        assert_eq!(json_patch_paths(&json!([])).unwrap(), Reach::default());
        assert!(json_patch_paths(&json!({"op": "add"})).is_err());
        assert!(json_patch_paths(&json!([{"op": "explode", "path": "/a"}])).is_err());
    }

    #[test]
    fn prefixes() {
        assert!(is_under("/spec/zync/appSpec", "/spec/zync"));
        assert!(is_under("/spec/zync", "/spec/zync"));
        assert!(!is_under("/spec/zyncx", "/spec/zync"));
        assert!(!is_under("/spec", "/spec/zync"));
    }
}
