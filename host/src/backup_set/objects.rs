//! A backup set in object storage (`--repo s3://bucket/prefix`): each file of the set is
//! one object under the set's prefix, named as in a directory set (`SET/system/...`,
//! `SET/system-mysql-backup.gz`), so `aws s3 cp --recursive` of a set gives the manual's
//! layout on disk.
//!
//! Bytes stream both ways: a writer is object_store's `BufWriter` (one PUT for a small
//! file, a multipart upload of 5 MiB parts past that, completed only by `finish`, so a
//! half-written object is never visible), a reader is the GET's body as it arrives.
//!
//! The set code is synchronous in places (verification, tar into a pod), run on blocking
//! threads; [`block_on`] gives those the runtime for one request.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

use super::blocking::{Blocking, block_on};
use crate::error::{Error, Result};

/// S3's smallest part (but the last); bigger parts only cost memory.
const PART: usize = 5 * 1024 * 1024;
/// Parts in flight per upload: two keep the link busy while the next part fills, and hold
/// the writer to 15 MiB whatever the artifact's size.
const PARTS_IN_FLIGHT: usize = 2;

/// A prefix in an object store: a repository, or one set in it.
#[derive(Clone)]
pub struct ObjectPrefix {
    store: Arc<dyn ObjectStore>,
    /// Empty for a bucket's root.
    prefix: String,
    /// `s3://bucket/prefix`, for messages.
    url: String,
}

impl std::fmt::Debug for ObjectPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl ObjectPrefix {
    pub fn new(store: Arc<dyn ObjectStore>, bucket_url: &str, prefix: &str) -> ObjectPrefix {
        let prefix = prefix.trim_matches('/').to_string();
        let url = if prefix.is_empty() {
            bucket_url.to_string()
        } else {
            format!("{bucket_url}/{prefix}")
        };
        ObjectPrefix { store, prefix, url }
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The prefix one level down (a set in a repository).
    pub fn child(&self, name: &str) -> ObjectPrefix {
        ObjectPrefix {
            store: self.store.clone(),
            prefix: self.join(name),
            url: format!("{}/{name}", self.url),
        }
    }

    fn join(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{rel}", self.prefix),
        }
    }

    /// Where `rel` is, for messages.
    pub fn shown(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{rel}", self.url)
        }
    }

    /// The object's key. A path the grant checks let through is always a valid key; one
    /// that is not (an empty segment, `..`) is refused rather than normalised into
    /// another object.
    pub fn key(&self, rel: &str) -> Result<Key> {
        let joined = self.join(rel);
        let key = Key::parse(&joined).map_err(|e| {
            Error::Invalid(format!(
                "`{rel}` cannot name an object in {}: {e}",
                self.url
            ))
        })?;
        if key.as_ref() != joined {
            return Err(Error::Invalid(format!(
                "`{rel}` is not a plain object name in {}",
                self.url
            )));
        }
        Ok(key)
    }

    fn error(&self, rel: &str, source: object_store::Error) -> Error {
        Error::Storage {
            at: self.shown(rel),
            source,
        }
    }

    /// The object's size, or `None` if there is no such object.
    pub async fn head(&self, rel: &str) -> Result<Option<u64>> {
        match self.store.head(&self.key(rel)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(rel, e)),
        }
    }

    /// Every object under `rel` (all of the prefix for ""), with its size, by the name
    /// relative to this prefix, sorted.
    pub async fn list(&self, rel: &str) -> Result<Vec<(String, u64)>> {
        let base = if self.join(rel).is_empty() {
            None
        } else {
            Some(self.key(rel)?)
        };
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out: Vec<(String, u64)> = self
            .store
            .list(base.as_ref())
            .map_ok(|meta| {
                let name = meta.location.as_ref();
                let name = name.strip_prefix(&strip).unwrap_or(name).to_string();
                (name, meta.size)
            })
            .try_collect()
            .await
            .map_err(|e| self.error(rel, e))?;
        out.sort();
        Ok(out)
    }

    /// Whether any object lies under `rel` (a tree), from the first one listed: a tree of
    /// 100,000 files is not listed whole to learn that it is there.
    pub async fn any_under(&self, rel: &str) -> Result<bool> {
        let base = self.key(rel)?;
        let mut listed = self.store.list(Some(&base));
        match listed.next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(self.error(rel, e)),
        }
    }

    /// The names one level below this prefix (a repository's sets and its own objects).
    pub async fn children(&self) -> Result<(Vec<String>, Vec<String>)> {
        let base = (!self.prefix.is_empty())
            .then(|| self.key(""))
            .transpose()?;
        let listed = self
            .store
            .list_with_delimiter(base.as_ref())
            .await
            .map_err(|e| self.error("", e))?;
        let name = |k: &Key| k.filename().unwrap_or_default().to_string();
        Ok((
            listed.common_prefixes.iter().map(name).collect(),
            listed.objects.iter().map(|m| name(&m.location)).collect(),
        ))
    }

    /// A small object (manifest.json, a seal, a repository's own records), refused past
    /// `limit` without reading it.
    pub async fn get_small(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let got = match self.store.get(&self.key(rel)?).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(rel, e)),
        };
        if got.meta.size > limit {
            return Err(Error::bad_set(
                self.url.clone(),
                format!(
                    "{rel} is {}, more than the {} it may be: not read",
                    crate::progress::human(got.meta.size),
                    crate::progress::human(limit)
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(got.meta.size as usize);
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(rel, e))?;
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(Error::bad_set(
                    self.url.clone(),
                    format!(
                        "{rel} grew past {} while read",
                        crate::progress::human(limit)
                    ),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// One PUT: the object appears whole or not at all.
    pub async fn put_small(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.key(rel)?, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| self.error(rel, e))
    }

    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.key(rel)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(rel, e)),
        }
    }

    /// Deletes every object under `rel` (the whole prefix for ""), in the store's batches.
    pub async fn delete_all(&self, rel: &str) -> Result<()> {
        let keys: Vec<Key> = self
            .list(rel)
            .await?
            .into_iter()
            .map(|(name, _)| self.key(&name))
            .collect::<Result<_>>()?;
        let stream = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let results: Vec<_> = self.store.delete_stream(stream).collect().await;
        for r in results {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error(rel, e)),
            }
        }
        Ok(())
    }

    /// The object's bytes as they arrive.
    pub async fn reader(&self, rel: &str) -> Result<ObjectReader> {
        let got = self.store.get(&self.key(rel)?).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => {
                Error::NotFound(format!("artifact `{rel}` ({})", self.shown(rel)))
            }
            e => self.error(rel, e),
        })?;
        let stream = got.into_stream().map_err(std::io::Error::other).boxed();
        Ok(tokio_util::io::StreamReader::new(stream))
    }

    /// [`ObjectPrefix::reader`] for synchronous code (verification, a tar into a pod).
    pub fn blocking_reader(&self, rel: &str) -> Result<Box<dyn std::io::Read + Send>> {
        let reader = block_on(self.reader(rel))?;
        // Each read of the bridge is a trip to the runtime: taken in big bites.
        Ok(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            Blocking(reader),
        )))
    }

    /// A new object, visible only once the writer is shut down.
    pub fn writer(&self, rel: &str) -> Result<object_store::buffered::BufWriter> {
        Ok(object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            self.key(rel)?,
            PART,
        )
        .with_max_concurrency(PARTS_IN_FLIGHT))
    }
}

pub type ObjectReader = tokio_util::io::StreamReader<
    futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
    bytes::Bytes,
>;

/// The bucket and prefix of `s3://bucket/prefix`.
pub fn check_url(url: &str) -> Result<(&str, &str)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| Error::Invalid(format!("`{url}` is not an s3:// location")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Invalid(format!(
            "`{url}` names no bucket: s3://BUCKET/PREFIX"
        )));
    }
    Ok((bucket, prefix))
}

/// Opens `s3://bucket/prefix` with the credentials and endpoint of the usual `AWS_*`
/// environment (access keys, session token, web identity for a ServiceAccount on EKS or
/// OpenShift STS, ECS and instance metadata), as object_store's builder reads them.
/// `AWS_ENDPOINT_URL` points it at MinIO, Ceph RGW or another S3-compatible store;
/// plain `http://` is allowed only for a loopback endpoint or with `AWS_ALLOW_HTTP=true`.
pub fn open_s3(url: &str) -> Result<ObjectPrefix> {
    let (bucket, prefix) = check_url(url)?;
    // reqwest is built without a TLS provider of its own (see host/Cargo.toml): ring, as
    // for the cluster and the OCI registry.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .ok();
    if let Some(endpoint) = &endpoint {
        let loopback = endpoint.starts_with("http://127.")
            || endpoint.starts_with("http://localhost")
            || endpoint.starts_with("http://[::1]");
        // Path-style requests: S3-compatible servers on an address have no bucket
        // subdomains.
        builder = builder.with_endpoint(endpoint.clone());
        if loopback {
            builder = builder.with_allow_http(true);
        }
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    } else if let Ok(region) = std::env::var("AWS_DEFAULT_REGION")
        && std::env::var("AWS_REGION").is_err()
    {
        builder = builder.with_region(region);
    }
    let store = builder.build().map_err(|source| Error::Storage {
        at: url.to_string(),
        source,
    })?;
    Ok(ObjectPrefix::new(
        Arc::new(store),
        &format!("s3://{bucket}"),
        prefix,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> ObjectPrefix {
        ObjectPrefix::new(
            Arc::new(object_store::memory::InMemory::new()),
            "s3://b",
            "repo/",
        )
    }

    #[test]
    fn names_are_plain_keys_under_the_prefix() {
        let p = memory().child("20261125T101500Z-backup-1");
        assert_eq!(
            p.key("system/a.txt").unwrap().as_ref(),
            "repo/20261125T101500Z-backup-1/system/a.txt"
        );
        assert_eq!(p.url(), "s3://b/repo/20261125T101500Z-backup-1");
        for bad in ["a//b", "../x", "a/./b", "/abs", "a/"] {
            assert!(p.key(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_object_appears_only_when_its_writer_is_shut_down() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let p = memory();
        let mut w = p.writer("big.gz").unwrap();
        let block = vec![7u8; 1024 * 1024];
        for _ in 0..12 {
            w.write_all(&block).await.unwrap();
        }
        assert_eq!(p.head("big.gz").await.unwrap(), None);
        w.shutdown().await.unwrap();
        assert_eq!(p.head("big.gz").await.unwrap(), Some(12 * 1024 * 1024));
        let mut back = Vec::new();
        p.reader("big.gz")
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert_eq!(back.len(), 12 * 1024 * 1024);
        assert!(matches!(p.reader("nope").await, Err(Error::NotFound(_))));
        p.put_small("x/y", b"1".to_vec()).await.unwrap();
        assert_eq!(
            p.list("").await.unwrap(),
            vec![
                ("big.gz".to_string(), 12 * 1024 * 1024),
                ("x/y".to_string(), 1)
            ]
        );
        assert!(p.any_under("x").await.unwrap());
        assert!(!p.any_under("nope").await.unwrap());
        p.delete_all("x").await.unwrap();
        assert!(!p.any_under("x").await.unwrap());
        assert_eq!(p.list("").await.unwrap().len(), 1);
    }
}
