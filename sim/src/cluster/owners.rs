//! Owner references: how controllers find what they made, and how the garbage collector
//! finds what to delete with its owner.

use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::store::Store;

/// A controller reference to `owner`, as `metav1.NewControllerRef` builds it.
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The object's controller: (kind, name, uid).
pub fn controller_of(object: &Value) -> Option<(String, String, String)> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("name"), s("uid"))
        })
}

pub fn is_owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

/// Objects of a kind in `ns` that `uid` owns.
pub fn owned(store: &Store, rt: &ResourceType, ns: &str, uid: &str) -> Vec<Value> {
    store
        .list(rt, Some(ns))
        .0
        .into_iter()
        .filter(|o| is_owned_by(o, uid))
        .collect()
}

/// Adds a controller reference to `owner` unless the object has one to it already
/// (controllerutil.SetControllerReference). Returns whether it changed.
pub fn ensure_controller_ref(object: &mut Value, owner: &Value) -> bool {
    let uid = owner["metadata"]["uid"].clone();
    if is_owned_by(object, uid.as_str().unwrap_or_default()) {
        return false;
    }
    if !object["metadata"]["ownerReferences"].is_array() {
        object["metadata"]["ownerReferences"] = json!([]);
    }
    if let Some(refs) = object["metadata"]["ownerReferences"].as_array_mut() {
        refs.retain(|r| r["controller"] != true);
        refs.push(controller_ref(owner));
    }
    true
}
