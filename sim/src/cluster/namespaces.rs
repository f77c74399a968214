//! The Namespace objects a cluster has: Kubernetes' own and the one 3scale runs in. The
//! simulator serves one namespace of pods; the others are there because clients list them.

use serde_json::json;

use crate::resources::NAMESPACES;
use crate::store::Store;

const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

pub fn ensure(store: &Store, ns: &str) -> crate::Result<()> {
    for name in SYSTEM_NAMESPACES.iter().copied().chain([ns]) {
        if store.get(&NAMESPACES, "", name).is_some() {
            continue;
        }
        let object = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        store
            .create(&NAMESPACES, "", object)
            .map_err(|e| crate::SimError::Other(e.message))?;
    }
    Ok(())
}
