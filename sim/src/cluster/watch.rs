//! The informer side of a controller: every change in the store is mapped to the keys a
//! controller must sync, and one worker per controller drains its queue.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use super::Cluster;
use super::workqueue::WorkQueue;
use crate::store::WatchEvent;

/// Calls `resync` once at the start (the initial list) and whenever the watch fell behind,
/// and `on_event` for every change in the cluster's namespace.
pub fn spawn_informer<R, E>(cluster: Arc<Cluster>, resync: R, mut on_event: E)
where
    R: Fn(&Cluster) + Send + 'static,
    E: FnMut(&Cluster, &WatchEvent) + Send + 'static,
{
    tokio::spawn(async move {
        let Some((_, mut events)) = cluster.store.watch_from(cluster.store.resource_version())
        else {
            return;
        };
        resync(&cluster);
        loop {
            match events.recv().await {
                Ok(event) if event.namespace == cluster.namespace => on_event(&cluster, &event),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => resync(&cluster),
                Err(RecvError::Closed) => return,
            }
            if cluster.is_stopping() {
                return;
            }
        }
    });
}

/// One worker: takes due keys from the controller's queue and syncs them one at a time.
pub fn spawn_worker<Q, S>(cluster: Arc<Cluster>, queue: Q, mut sync: S)
where
    Q: Fn(&Cluster) -> &WorkQueue + Send + 'static,
    S: FnMut(&Arc<Cluster>, &str) + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let key = queue(&cluster).next().await;
            if cluster.is_stopping() {
                return;
            }
            sync(&cluster, &key);
        }
    });
}
