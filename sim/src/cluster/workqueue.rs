//! A controller's work queue, as client-go's delaying queue works for one worker: keys
//! wait until they are due, a key added again while it waits keeps the earlier time (so a
//! burst of changes coalesces into one sync), and a key is handed out once at a time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
pub struct WorkQueue {
    due: Mutex<HashMap<String, Instant>>,
    changed: Notify,
}

impl WorkQueue {
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    /// Queues `key` to be handed out after `delay` (or earlier, if it already waits for
    /// an earlier time).
    pub fn add_after(&self, key: &str, delay: Duration) {
        let at = Instant::now() + delay;
        let mut due = self.due.lock().unwrap();
        let slot = due.entry(key.to_string()).or_insert(at);
        if at < *slot {
            *slot = at;
        }
        drop(due);
        self.changed.notify_one();
    }

    /// The next key that is due, waiting for one.
    pub async fn next(&self) -> String {
        loop {
            let notified = self.changed.notified();
            let wait = {
                let mut due = self.due.lock().unwrap();
                let now = Instant::now();
                let earliest = due
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, at)| (k.clone(), *at));
                match earliest {
                    Some((key, at)) if at <= now => {
                        due.remove(&key);
                        return key;
                    }
                    Some((_, at)) => Some(at - now),
                    None => None,
                }
            };
            match wait {
                Some(d) => {
                    let _ = tokio::time::timeout(d, notified).await;
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_coalesce_and_come_out_when_due() {
        let q = WorkQueue::new();
        q.add_after("b", Duration::from_millis(60));
        q.add_after("a", Duration::from_millis(20));
        q.add_after("a", Duration::from_millis(500));
        let start = Instant::now();
        assert_eq!(q.next().await, "a");
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert_eq!(q.next().await, "b");
        assert!(q.due.lock().unwrap().is_empty(), "a was handed out once");
    }
}
