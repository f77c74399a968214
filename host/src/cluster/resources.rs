//! get, list, apply and patch of any kind as JSON, built-in or custom (the APIManager).
//! A kind is resolved through the API server's discovery for its group-version, once per
//! run: the resource is the one the server serves under exactly that kind, never a plural
//! guessed from the kind's spelling (kube's guess turns `PodMetrics` into `pods`).

use kube::Api;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::Scope;
use serde_json::Value;

use super::{Cluster, ObjectPermit, retry};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
}

fn value(object: DynamicObject) -> Value {
    serde_json::to_value(object).expect("objects serialise")
}

impl Cluster {
    /// The resource the server serves `kind` of `api_version` as, if it is namespaced.
    pub async fn discover(&self, api_version: &str, kind: &str) -> Result<ApiResource> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.resources.lock().await.get(&key) {
            return Ok(found.clone());
        }
        let (group, version) =
            contract::names::split_api_version(api_version).map_err(Error::Invalid)?;
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = match retry::idempotent(|| {
            kube::discovery::pinned_kind(&self.client, &gvk)
        })
        .await
        {
            Ok(found) => found,
            Err(kube::Error::Discovery(_)) => {
                return Err(Error::Invalid(format!(
                    "the API server has no kind `{kind}` in {api_version} (kinds are case-sensitive)"
                )));
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(Error::Invalid(format!(
                    "the API server does not serve {api_version}"
                )));
            }
            Err(e) => {
                return Err(Error::api(
                    format!("discovering {kind} in {api_version}"),
                    e,
                ));
            }
        };
        if caps.scope != Scope::Namespaced {
            return Err(Error::Invalid(format!(
                "{kind} ({api_version}) is not a namespaced resource: plugins reach only the run's namespace"
            )));
        }
        self.resources.lock().await.insert(key, resource.clone());
        Ok(resource)
    }

    async fn api_of(&self, p: &ObjectPermit) -> Result<Api<DynamicObject>> {
        let resource = self.discover(&p.api_version, &p.kind).await?;
        Ok(Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &resource,
        ))
    }

    pub async fn get(&self, p: &ObjectPermit) -> Result<Value> {
        let api = self.api_of(p).await?;
        let object = retry::idempotent(|| api.get(p.name()))
            .await
            .map_err(|e| Error::api(format!("reading {} {}", p.kind, p.name()), e))?;
        Ok(value(object))
    }

    /// `None` when the object does not exist.
    pub async fn get_opt(&self, p: &ObjectPermit) -> Result<Option<Value>> {
        let api = self.api_of(p).await?;
        let object = retry::idempotent(|| api.get_opt(p.name()))
            .await
            .map_err(|e| Error::api(format!("reading {} {}", p.kind, p.name()), e))?;
        Ok(object.map(value))
    }

    pub async fn list(&self, p: &ObjectPermit, selector: &str) -> Result<Value> {
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        let api = self.api_of(p).await?;
        let list = retry::idempotent(|| api.list(&params))
            .await
            .map_err(|e| Error::api(format!("listing {}", p.kind), e))?;
        let items: Vec<Value> = list.items.into_iter().map(value).collect();
        Ok(serde_json::json!({ "items": items }))
    }

    /// Create, or replace what exists, after dropping what the server owns: an object
    /// exported with `oc get -o json` from another cluster (or an older version of this
    /// one) would otherwise conflict on resourceVersion or point at owners that are gone.
    /// Server-side apply would take ownership of every field from the operator that
    /// manages these objects; a plain replace keeps the manual's `oc apply -f` meaning.
    pub async fn apply(&self, p: &ObjectPermit, object: &Value) -> Result<Value> {
        let mut object = object.clone();
        strip_server_fields(&mut object);
        object["metadata"]["namespace"] = Value::String(self.namespace.clone());
        let name = p.name().to_string();
        let what = format!("applying {} {name}", p.kind);
        let api = self.api_of(p).await?;
        let typed: DynamicObject = serde_json::from_value(object)
            .map_err(|e| Error::Invalid(format!("not a Kubernetes object: {e}")))?;
        // A create that was answered with an error may still have happened; the retry then
        // meets 409 and replaces, which is the same end state.
        let post = PostParams::default();
        match retry::idempotent(|| api.create(&post, &typed)).await {
            Ok(created) => return Ok(value(created)),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(Error::api(what, e)),
        }
        // It exists: replace it, retrying if someone changes it in between.
        for _ in 0..5 {
            let current = retry::idempotent(|| api.get(&name))
                .await
                .map_err(|e| Error::api(what.clone(), e))?;
            let mut replacement = typed.clone();
            replacement.metadata.resource_version = current.metadata.resource_version.clone();
            match retry::idempotent(|| api.replace(&name, &post, &replacement)).await {
                Ok(replaced) => return Ok(value(replaced)),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(e) => return Err(Error::api(what, e)),
            }
        }
        Err(Error::Stream(format!(
            "{what}: it kept changing while being replaced"
        )))
    }

    pub async fn patch(
        &self,
        p: &ObjectPermit,
        patch_kind: PatchKind,
        body: &Value,
    ) -> Result<Value> {
        let api = self.api_of(p).await?;
        let params = PatchParams::default();
        let name = p.name();
        let what = format!("patching {} {name}", p.kind);
        let patched = match patch_kind {
            PatchKind::Merge => {
                let patch = Patch::Merge(body);
                retry::idempotent(|| api.patch(name, &params, &patch)).await
            }
            PatchKind::Strategic => {
                let patch = Patch::Strategic(body);
                retry::idempotent(|| api.patch(name, &params, &patch)).await
            }
            PatchKind::Json => {
                let ops: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| Error::Invalid(format!("not a JSON patch: {e}")))?;
                let patch = Patch::<()>::Json(ops.clone());
                if repeatable(&ops) {
                    retry::idempotent(|| api.patch(name, &params, &patch)).await
                } else {
                    api.patch(name, &params, &patch).await
                }
            }
        };
        patched.map(value).map_err(|e| Error::api(what, e))
    }
}

/// A JSON patch whose second application changes nothing more than its first: only
/// `add`, `replace` and `test` (a `remove` applied twice fails the second time, a
/// `move` moves again).
fn repeatable(ops: &json_patch::Patch) -> bool {
    ops.0.iter().all(|op| {
        matches!(
            op,
            json_patch::PatchOperation::Add(_)
                | json_patch::PatchOperation::Replace(_)
                | json_patch::PatchOperation::Test(_)
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_patches_that_can_be_applied_twice_are_retried() {
        let ops = |v: Value| serde_json::from_value::<json_patch::Patch>(v).unwrap();
        assert!(repeatable(&ops(serde_json::json!([
            {"op": "add", "path": "/spec/zync", "value": {}},
            {"op": "replace", "path": "/spec/x", "value": 1}
        ]))));
        assert!(!repeatable(&ops(serde_json::json!([
            {"op": "remove", "path": "/spec/zync"}
        ]))));
    }
}
