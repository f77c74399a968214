//! kube-controller-manager's garbage collector, background propagation: when an object is
//! deleted, whatever names it in `ownerReferences` is deleted too (a Deployment takes its
//! ReplicaSets, they take their pods; a Job its pods; the APIManager everything the
//! operator made except Secrets, which it never owns).

use std::sync::Arc;

use super::owners::is_owned_by;
use super::{Cluster, watch};
use crate::resources::{ALL, PODS};
use crate::store::EventType;

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster,
        |_| {},
        |c, event| {
            if event.kind != EventType::Deleted {
                return;
            }
            if let Some(uid) = event.object["metadata"]["uid"].as_str() {
                collect(c, uid);
            }
        },
    );
}

fn collect(cluster: &Cluster, owner_uid: &str) {
    for rt in ALL {
        for dependent in cluster.store.list(rt, Some(&cluster.namespace)).0 {
            if !is_owned_by(&dependent, owner_uid) {
                continue;
            }
            let name = dependent["metadata"]["name"].as_str().unwrap_or_default();
            if rt.plural == PODS.plural {
                cluster.delete_pod(name);
            } else {
                let _ = cluster.store.delete(rt, &cluster.namespace, name);
            }
        }
    }
}
