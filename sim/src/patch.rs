//! The three patch flavours clients send, by Content-Type.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Applies `body` to `target`. Strategic merge and server-side apply are treated as merge
/// patches, which is exact for the maps our kinds use (data, annotations, spec fields);
/// `$`-directives are dropped rather than half-implemented.
pub fn apply(kind: PatchKind, target: &mut Value, body: &[u8]) -> Result<(), String> {
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON patch: {e}"))?;
            json_patch::patch(target, &ops.0).map_err(|e| e.to_string())
        }
        PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply => {
            let mut patch: Value = if kind == PatchKind::Apply {
                serde_json::from_slice(body)
                    .or_else(|_| serde_yaml::from_slice(body))
                    .map_err(|e| format!("invalid apply patch: {e}"))?
            } else {
                serde_json::from_slice(body).map_err(|e| format!("invalid merge patch: {e}"))?
            };
            if !patch.is_object() {
                return Err("a merge patch must be a JSON object".into());
            }
            if kind != PatchKind::Merge {
                strip_directives(&mut patch);
            }
            merge(target, &patch);
            Ok(())
        }
    }
}

/// RFC 7386.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let object = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_replaces_adds_and_deletes() {
        let mut doc =
            json!({"spec": {"zync": {"appSpec": {"replicas": 1}, "queSpec": {"replicas": 1}}}});
        apply(
            PatchKind::Merge,
            &mut doc,
            br#"{"spec":{"zync":{"appSpec":{"replicas":0},"queSpec":null}}}"#,
        )
        .unwrap();
        assert_eq!(doc, json!({"spec": {"zync": {"appSpec": {"replicas": 0}}}}));
    }

    #[test]
    fn json_patch_replace_and_failed_test() {
        let mut doc = json!({"spec": {"system": {"appSpec": {"replicas": 0}}}});
        apply(
            PatchKind::Json,
            &mut doc,
            br#"[{"op":"replace","path":"/spec/system/appSpec","value":{"replicas":2}}]"#,
        )
        .unwrap();
        assert_eq!(doc["spec"]["system"]["appSpec"]["replicas"], 2);
        assert!(
            apply(
                PatchKind::Json,
                &mut doc,
                br#"[{"op":"replace","path":"/nope/x","value":1}]"#
            )
            .is_err()
        );
    }

    #[test]
    fn strategic_drops_directives() {
        let mut doc = json!({"data": {"a": "1"}});
        apply(
            PatchKind::Strategic,
            &mut doc,
            br#"{"data":{"b":"2"},"$setElementOrder/x":[]}"#,
        )
        .unwrap();
        assert_eq!(doc, json!({"data": {"a": "1", "b": "2"}}));
    }
}
