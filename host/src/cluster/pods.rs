//! Finding the pod a step runs in, as the manual's `oc get pods -l SELECTOR -o json | jq
//! .items[0]` does, but only among pods that are Running and not being deleted; and what
//! the capability check must know of a pod before a command may run in it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use super::{Cluster, PodSearchPermit, retry};
use crate::error::{Error, Result};

/// kubectl's annotation for the container `kubectl exec` and `cp` use when none is named.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// A pod as the capability check sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodFacts {
    pub labels: BTreeMap<String, String>,
    /// In the order of the pod's spec.
    pub containers: Vec<String>,
    /// The `kubectl.kubernetes.io/default-container` annotation, if the pod has one.
    pub default_container: Option<String>,
}

impl PodFacts {
    /// The container kubectl would pick with no `-c`: the annotated default if it names a
    /// container of the pod, else the first (kubectl's `podcmd.FindOrDefaultContainerByName`).
    pub fn kubectl_default(&self) -> Option<&str> {
        self.default_container
            .as_deref()
            .filter(|d| self.containers.iter().any(|c| c == d))
            .or_else(|| self.containers.first().map(String::as_str))
    }
}

impl Cluster {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn find_pod(&self, permit: &PodSearchPermit) -> Result<String> {
        let selector = permit.selector.as_str();
        let params = ListParams::default().labels(selector);
        let api = self.pods();
        let list = retry::idempotent(|| api.list(&params))
            .await
            .map_err(|e| Error::api(format!("listing pods matching `{selector}`"), e))?;
        let total = list.items.len();
        list.items
            .into_iter()
            .find(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .and_then(|p| p.metadata.name)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no Running pod matches `{selector}` in namespace {} ({total} pods match, none running)",
                    self.namespace
                ))
            })
    }

    /// Read by the host with the user's credentials for the capability check; not a
    /// plugin call.
    pub async fn pod_facts(&self, pod: &str) -> Result<PodFacts> {
        let api = self.pods();
        let found = retry::idempotent(|| api.get_opt(pod))
            .await
            .map_err(|e| Error::api(format!("reading pod {pod}"), e))?
            .ok_or_else(|| {
                Error::NotFound(format!("pod `{pod}` in namespace {}", self.namespace))
            })?;
        Ok(facts(found))
    }

    /// Running pods the host may probe (its own check of the exec protocol).
    pub async fn running_pods(&self, selector: &str) -> Result<Vec<(String, PodFacts)>> {
        let params = ListParams::default().labels(selector);
        let api = self.pods();
        let list = retry::idempotent(|| api.list(&params))
            .await
            .map_err(|e| Error::api(format!("listing pods matching `{selector}`"), e))?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .filter_map(|p| Some((p.metadata.name.clone()?, facts(p))))
            .collect())
    }
}

fn facts(pod: Pod) -> PodFacts {
    let default_container = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION).cloned());
    PodFacts {
        labels: pod.metadata.labels.unwrap_or_default(),
        containers: pod
            .spec
            .map(|s| s.containers.into_iter().map(|c| c.name).collect())
            .unwrap_or_default(),
        default_container,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_container_is_chosen_as_kubectl_does() {
        let mut f = PodFacts {
            containers: vec![
                "system-master".into(),
                "system-provider".into(),
                "system-developer".into(),
            ],
            ..PodFacts::default()
        };
        assert_eq!(f.kubectl_default(), Some("system-master"));
        f.default_container = Some("system-provider".into());
        assert_eq!(f.kubectl_default(), Some("system-provider"));
        f.default_container = Some("gone".into());
        assert_eq!(
            f.kubectl_default(),
            Some("system-master"),
            "an annotation naming no container is ignored"
        );
        assert_eq!(PodFacts::default().kubectl_default(), None);
    }
}
