//! Whether the API server would allow a request, asked before acting
//! (`SelfSubjectAccessReview`, as `kubectl auth can-i` asks): a restore that lacks a
//! permission is refused before it scales anything down.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use super::{Cluster, retry};
use crate::error::{Error, Result};

/// One request, as RBAC sees it. `resource` may name a subresource: `pods/exec`.
pub struct Access<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub name: Option<&'a str>,
}

impl Cluster {
    /// `Some(allowed)`, or `None` when the server has no authorization API to ask.
    pub async fn can(&self, a: &Access<'_>) -> Result<Option<bool>> {
        let (resource, subresource) = match a.resource.split_once('/') {
            Some((r, s)) => (r, Some(s.to_string())),
            None => (a.resource, None),
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(self.namespace.clone()),
                    verb: Some(a.verb.to_string()),
                    group: Some(a.group.to_string()),
                    resource: Some(resource.to_string()),
                    subresource,
                    name: a.name.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        // A review creates nothing: asking twice is asking once.
        let post = PostParams::default();
        match retry::idempotent(|| api.create(&post, &review)).await {
            Ok(answer) => Ok(Some(answer.status.is_some_and(|s| s.allowed))),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(Error::api(
                format!("asking whether {} {} is allowed", a.verb, a.resource),
                e,
            )),
        }
    }
}
