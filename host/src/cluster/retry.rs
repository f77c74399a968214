//! Retries of idempotent API calls. A real API server answers some requests with 500,
//! 503 or a timeout while etcd elects a leader or the server is upgraded; a two-hour
//! restore must not end on one of them. Only calls that can be repeated safely are
//! retried (reads, replaces, patches that set values, the upgrade of an exec before the
//! command starts), with bounded exponential backoff from `backon`. When the retries run
//! out, the caller's error names the call and the server's last answer.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// How many times a call is tried again, and how long it waits in between: about 15 s
/// in all, longer than an etcd leader election takes.
fn policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(3))
        .with_max_times(8)
        .with_jitter()
}

/// An answer that a second try can change: the server or the path to it failed.
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        // Connection reset, refused while the server restarts, a read timeout.
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or the retries run out.
pub async fn idempotent<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    call.retry(policy())
        .sleep(tokio::time::sleep)
        .when(transient)
        .notify(|e, after| {
            tracing::debug!(
                "transient API error, trying again in {after:?}: {}",
                crate::error::api_words(e)
            )
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("x", "InternalError").with_code(code),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_and_client_errors_are_not() {
        let tries = AtomicU32::new(0);
        let got = idempotent(|| async {
            if tries.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(status(500))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((got, tries.load(Ordering::SeqCst)), (7, 4));

        let tries = AtomicU32::new(0);
        let e = idempotent(|| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(status(404))
        })
        .await
        .unwrap_err();
        assert!(matches!(e, kube::Error::Api(s) if s.code == 404));
        assert_eq!(tries.load(Ordering::SeqCst), 1);

        let tries = AtomicU32::new(0);
        idempotent(|| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(status(503))
        })
        .await
        .unwrap_err();
        assert_eq!(
            tries.load(Ordering::SeqCst),
            9,
            "bounded: one try and 8 more"
        );
    }
}
