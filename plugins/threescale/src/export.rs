//! Objects as the manual exports them (`oc get KIND NAME -o json > NAME.json`), minus what
//! the server owns, so that `oc apply -f` (or the host's apply) works on a namespace where
//! they no longer exist, or on a new cluster.

use guest_sdk::json::Value;

/// Owner references go too: they name the old owner's uid, and a garbage collector would
/// delete a restored object whose owner it cannot find (the operator puts its own back,
/// `EnsureOwnerReference`, base_apimanager_logic_reconciler.go:271-278).
pub fn sanitize(object: &Value) -> Value {
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
            "finalizers",
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

#[cfg(test)]
mod tests {
    use super::*;
    use guest_sdk::json::json;

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
        assert_eq!(
            sanitize(&object),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "system-environment", "namespace": "3scale", "labels": {"app": "3scale"}},
                   "data": {"A": "1"}})
        );
    }
}
