//! The operator's informer cache, `--operator-delay` behind the API server: every change
//! reaches the operator (its reads and its queue) that long after it was made, so no
//! reconcile can act on a change sooner. The operator's own writes go to the API server
//! with the resourceVersion it read (a stale read is a Conflict, as with
//! controller-runtime's client) and into this cache at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::resources::{ALL, ResourceType};
use crate::store::{EventType, WatchEvent};

/// The kinds the operator reads.
const WATCHED: &[&str] = &[
    "apimanagers",
    "deployments",
    "deploymentconfigs",
    "configmaps",
    "secrets",
    "jobs",
    "services",
    "persistentvolumeclaims",
];

type Key = (&'static str, String);
/// Changes waiting to reach the cache, with when they may; `None` asks for a re-list.
type DelayLine = Mutex<VecDeque<(Instant, Option<WatchEvent>)>>;

#[derive(Default)]
pub struct Cache {
    objects: Mutex<HashMap<Key, Value>>,
    /// resourceVersions of deletions, so a late event cannot bring an object back.
    deleted: Mutex<HashMap<Key, u64>>,
}

fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Cache {
    pub fn get(&self, rt: &ResourceType, name: &str) -> Option<Value> {
        self.objects
            .lock()
            .unwrap()
            .get(&(rt.plural, name.to_string()))
            .cloned()
    }

    pub fn list(&self, rt: &ResourceType) -> Vec<Value> {
        let mut items: Vec<Value> = self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|((p, _), _)| *p == rt.plural)
            .map(|(_, v)| v.clone())
            .collect();
        items.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        items
    }

    /// Takes in `object` unless the cache already has it or a newer state; returns the
    /// object it replaced.
    pub fn put(&self, rt: &ResourceType, object: &Value) -> Option<Value> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = (rt.plural, name);
        let version = rv(object);
        if self
            .deleted
            .lock()
            .unwrap()
            .get(&key)
            .is_some_and(|d| *d >= version)
        {
            return None;
        }
        let mut objects = self.objects.lock().unwrap();
        if objects.get(&key).is_some_and(|o| rv(o) >= version) {
            return objects.get(&key).cloned();
        }
        objects.insert(key, object.clone())
    }

    pub fn remove(&self, rt: &ResourceType, object: &Value) -> Option<Value> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = (rt.plural, name);
        let version = rv(object);
        self.deleted.lock().unwrap().insert(key.clone(), version);
        let mut objects = self.objects.lock().unwrap();
        if objects.get(&key).is_some_and(|o| rv(o) > version) {
            return None;
        }
        objects.remove(&key)
    }

    fn load(&self, cluster: &Cluster) {
        let mut objects = self.objects.lock().unwrap();
        objects.clear();
        for plural in WATCHED {
            let rt = ResourceType::find_plural(plural);
            for o in cluster.store.list(&rt, Some(&cluster.namespace)).0 {
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                objects.insert((rt.plural, name), o);
            }
        }
    }
}

/// Starts the cache: the initial list now, then every change `delay` after it happened;
/// `on_change(old, event)` runs as each change reaches the cache.
pub fn spawn<F>(cluster: Arc<Cluster>, delay: Duration, mut on_change: F) -> Arc<Cache>
where
    F: FnMut(&Cluster, Option<&Value>, &WatchEvent) + Send + 'static,
{
    let cache = Arc::new(Cache::default());
    let Some((_, mut events)) = cluster.store.watch_from(cluster.store.resource_version()) else {
        return cache;
    };
    cache.load(&cluster);
    let line: Arc<DelayLine> = Arc::default();
    let arrived = Arc::new(Notify::new());
    let (in_line, in_arrived, in_cluster) = (line.clone(), arrived.clone(), cluster.clone());
    tokio::spawn(async move {
        loop {
            let item = match events.recv().await {
                Ok(e) if e.namespace == in_cluster.namespace && WATCHED.contains(&e.plural) => {
                    Some(e)
                }
                Ok(_) => continue,
                // Fell behind: re-list, as an informer does.
                Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return,
            };
            in_line
                .lock()
                .unwrap()
                .push_back((Instant::now() + delay, item));
            in_arrived.notify_one();
            if in_cluster.is_stopping() {
                return;
            }
        }
    });
    let out_cache = cache.clone();
    tokio::spawn(async move {
        loop {
            let next = line.lock().unwrap().front().map(|(due, _)| *due);
            let Some(due) = next else {
                arrived.notified().await;
                continue;
            };
            tokio::time::sleep_until(due).await;
            let Some((_, item)) = line.lock().unwrap().pop_front() else {
                continue;
            };
            if cluster.is_stopping() {
                return;
            }
            let Some(event) = item else {
                out_cache.load(&cluster);
                continue;
            };
            let Some(rt) = ALL.iter().find(|r| r.plural == event.plural) else {
                continue;
            };
            let old = if event.kind == EventType::Deleted {
                out_cache.remove(rt, &event.object)
            } else {
                out_cache.put(rt, &event.object)
            };
            on_change(&cluster, old.as_ref(), &event);
        }
    });
    cache
}
