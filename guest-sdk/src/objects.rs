//! Kubernetes objects, as far as the plugin's `read`, `write` and `patch` grants reach.

use serde_json::Value;

use crate::__bindings::host::plugin::objects as wit;
use crate::__bindings::host::plugin::types::ResourceRef;
use crate::Result;

pub use wit::PatchType;

fn target(api_version: &str, kind: &str, name: &str) -> ResourceRef {
    ResourceRef {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
    }
}

pub fn get(api_version: &str, kind: &str, name: &str) -> Result<Value> {
    let text = wit::get(&target(api_version, kind, name))?;
    Ok(serde_json::from_str(&text)?)
}

/// The items of a list.
pub fn list(api_version: &str, kind: &str, label_selector: &str) -> Result<Vec<Value>> {
    let text = wit::list(api_version, kind, label_selector)?;
    let list: Value = serde_json::from_str(&text)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Creates or replaces an object (server-managed metadata is dropped by the host).
pub fn apply(object: &Value) -> Result<Value> {
    Ok(serde_json::from_str(&wit::apply(&object.to_string())?)?)
}

pub fn patch(
    api_version: &str,
    kind: &str,
    name: &str,
    patch_type: PatchType,
    body: &Value,
) -> Result<Value> {
    let text = wit::patch(
        &target(api_version, kind, name),
        patch_type,
        &body.to_string(),
    )?;
    Ok(serde_json::from_str(&text)?)
}

/// `oc patch KIND/NAME --type merge -p BODY`.
pub fn merge_patch(api_version: &str, kind: &str, name: &str, body: &Value) -> Result<Value> {
    patch(api_version, kind, name, PatchType::Merge, body)
}

/// `oc patch KIND/NAME --type json -p BODY`.
pub fn json_patch(api_version: &str, kind: &str, name: &str, body: &Value) -> Result<Value> {
    patch(api_version, kind, name, PatchType::Json, body)
}

/// `kubectl wait --for=CONDITION KIND/NAME --timeout=Ns`: `condition=Complete`,
/// `jsonpath={.spec.replicas}=0`, `create`, `delete`. Returns the object as it was when
/// the condition held (`Null` after `delete`).
pub fn wait_for(
    api_version: &str,
    kind: &str,
    name: &str,
    condition: &str,
    timeout_seconds: u32,
) -> Result<Value> {
    let text = wit::wait_for(&target(api_version, kind, name), condition, timeout_seconds)?;
    Ok(serde_json::from_str(&text)?)
}
