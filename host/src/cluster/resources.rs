//! get, list, apply and patch of any kind as JSON, built-in or custom (the APIManager),
//! without discovery: the plural comes from the kind as kube-rs derives it.

use kube::Api;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::Value;

use super::Cluster;
use crate::capability::{PatchKind, Permit};
use crate::error::{Error, Result};

impl Cluster {
    fn dynamic(&self, api_version: &str, kind: &str) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    pub async fn get(
        &self,
        _: &Permit,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<Value> {
        let object = self.dynamic(api_version, kind).get(name).await?;
        Ok(serde_json::to_value(object).expect("objects serialise"))
    }

    pub async fn list(
        &self,
        _: &Permit,
        api_version: &str,
        kind: &str,
        selector: &str,
    ) -> Result<Value> {
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        let list = self.dynamic(api_version, kind).list(&params).await?;
        let items: Vec<Value> = list
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).expect("objects serialise"))
            .collect();
        Ok(serde_json::json!({ "items": items }))
    }

    /// Create, or replace what exists, after dropping what the server owns: an object
    /// exported with `oc get -o json` from another cluster (or an older version of this
    /// one) would otherwise conflict on resourceVersion or point at owners that are gone.
    pub async fn apply(&self, _: &Permit, object: &Value) -> Result<Value> {
        let mut object = object.clone();
        strip_server_fields(&mut object);
        object["metadata"]["namespace"] = Value::String(self.namespace.clone());
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api = self.dynamic(&api_version, &kind);
        let typed: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| Error::Invalid(format!("not a Kubernetes object: {e}")))?;
        match api.create(&PostParams::default(), &typed).await {
            Ok(created) => return Ok(serde_json::to_value(created).expect("objects serialise")),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        // It exists: replace it, retrying if someone changes it in between.
        for _ in 0..5 {
            let current = api.get(&name).await?;
            let mut replacement = typed.clone();
            replacement.metadata.resource_version = current.metadata.resource_version.clone();
            match api
                .replace(&name, &PostParams::default(), &replacement)
                .await
            {
                Ok(replaced) => {
                    return Ok(serde_json::to_value(replaced).expect("objects serialise"));
                }
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Kube(format!(
            "{kind} {name} kept changing while being replaced"
        )))
    }

    pub async fn patch(
        &self,
        _: &Permit,
        api_version: &str,
        kind: &str,
        name: &str,
        patch_kind: PatchKind,
        body: &Value,
    ) -> Result<Value> {
        let api = self.dynamic(api_version, kind);
        let params = PatchParams::default();
        let patched = match patch_kind {
            PatchKind::Merge => api.patch(name, &params, &Patch::Merge(body)).await?,
            PatchKind::Strategic => api.patch(name, &params, &Patch::Strategic(body)).await?,
            PatchKind::Json => {
                let ops: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| Error::Invalid(format!("not a JSON patch: {e}")))?;
                api.patch(name, &params, &Patch::<()>::Json(ops)).await?
            }
        };
        Ok(serde_json::to_value(patched).expect("objects serialise"))
    }
}

pub fn strip_server_fields(object: &mut Value) {
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
    }
}
