//! Finding the pod a step runs in, as the manual's `oc get pods -l SELECTOR -o json | jq
//! .items[0]` does, but only among pods that are Running and not being deleted.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use super::Cluster;
use crate::capability::Permit;
use crate::error::{Error, Result};

impl Cluster {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn find_pod(&self, _: &Permit, selector: &str) -> Result<String> {
        let list = self
            .pods()
            .list(&ListParams::default().labels(selector))
            .await?;
        let total = list.items.len();
        list.items
            .into_iter()
            .find(|p| {
                p.metadata.deletion_timestamp.is_none() && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .and_then(|p| p.metadata.name)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no Running pod matches `{selector}` in namespace {} ({total} pods match, none running)",
                    self.namespace
                ))
            })
    }

    /// The labels the capability check compares with a grant's selectors. Read by the
    /// host with the user's credentials; not a plugin call.
    pub async fn pod_labels(&self, pod: &str) -> Result<BTreeMap<String, String>> {
        let pod = self.pods().get_opt(pod).await?.ok_or_else(|| {
            Error::NotFound(format!("pod `{pod}` in namespace {}", self.namespace))
        })?;
        Ok(pod.metadata.labels.unwrap_or_default())
    }
}
