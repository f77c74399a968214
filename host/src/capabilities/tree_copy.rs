//! A tree out of a pod into the set (`copy-from-pod` of a `tree` artifact, the manual's
//! `oc rsync` of system/): whole, as `tar cf` in the pod, or incrementally against the
//! repository's previous good set (see `backup_set/incremental.rs`).

use std::sync::Arc;

use super::CallCtx;
use super::quota::QuotaReader;
use crate::backup_set::{incremental, tar_stream};
use crate::cluster::PodPermit;
use crate::error::{Error, Result};

/// The most listing an incremental copy reads (about 100 bytes a file): past it, the tree
/// is copied whole rather than held in memory.
const MAX_LISTING: usize = 64 << 20;
/// Names a tar in the pod is given at once: the exec request carries them in its URL.
const MEMBERS_PER_TAR: usize = 200;

/// A tree out of a pod as rsync copies it: listed first, then only new and changed files
/// fetched, every other one copied from the previous set (see `incremental.rs`). Falls
/// back to the whole tree when the pod cannot list it or most of it changed.
pub(super) async fn incremental(
    ctx: &CallCtx,
    permit: &PodPermit,
    path: &str,
    dir: &str,
    base: &str,
    artifact: &str,
    previous: Arc<incremental::Previous>,
) -> Result<u64> {
    let cluster = &ctx.run.cluster;
    let label =
        |what: &str| ctx.transfer_label(&format!("{artifact} <- {}:{path}: {what}", permit.pod()));
    let mut listing_transfer = ctx.run.progress.transfer(label("listing"), None);
    let listed = cluster
        .list_tree(
            permit,
            path,
            incremental::LISTING_FORMAT,
            MAX_LISTING,
            &mut listing_transfer,
        )
        .await
        .and_then(|bytes| incremental::parse_listing(&bytes));
    listing_transfer.finish(listed.is_ok());
    let copied_whole = |why: String| {
        ctx.run.progress.line(&format!(
            "  {}: {artifact} copied whole ({why})",
            ctx.grant.plugin
        ));
    };
    let plan = match listed {
        Ok(listing) => incremental::Plan::new(listing, artifact, &previous),
        Err(e) => {
            copied_whole(format!("the pod did not list it: {e}"));
            return whole(ctx, permit, path, dir, base, artifact).await;
        }
    };
    if plan.fetch.len() > plan.reuse.len() {
        copied_whole(format!(
            "{} of {} files are new or changed since set {}",
            plan.fetch.len(),
            plan.fetch.len() + plan.reuse.len(),
            previous.name
        ));
        return whole(ctx, permit, path, dir, base, artifact).await;
    }
    let mut plan = plan;
    let store = ctx.artifacts.clone();
    store.create_dir_all(artifact)?;
    // Unchanged files, from the previous set, on a blocking thread (local reads and
    // writes); those that no longer match what that set recorded are fetched too.
    let reuse_count = plan.reuse.len();
    let reuse = std::mem::take(&mut plan.reuse);
    let (reused, mismatched) = {
        let (store, previous, artifact) = (store.clone(), previous.clone(), artifact.to_string());
        tokio::task::spawn_blocking(move || -> Result<(u64, Vec<String>)> {
            let mut bytes = 0;
            let mut mismatched = Vec::new();
            for (rel, size, sha, mtime) in reuse {
                let key = format!("{artifact}/{rel}");
                if incremental::reuse(&previous, &store, &key, &sha, mtime)? {
                    bytes += size;
                } else {
                    let _ = store.remove_all(&key);
                    mismatched.push(rel);
                }
            }
            Ok((bytes, mismatched))
        })
        .await
        .map_err(|e| Error::task("copying unchanged files", e))??
    };
    let reused_count = reuse_count - mismatched.len();
    let mut fetch = plan.fetch;
    fetch.extend(mismatched);
    let fetch_count = fetch.len();
    // One progress line for all the batches; each batch's extraction holds it in turn.
    let transfer = Arc::new(std::sync::Mutex::new(
        ctx.run
            .progress
            .transfer(label("changed files"), Some(plan.fetch_bytes)),
    ));
    let mut fetched = 0u64;
    let mut failed = None;
    for batch in fetch.chunks(MEMBERS_PER_TAR) {
        let members: Vec<String> = batch.iter().map(|rel| format!("{base}/{rel}")).collect();
        let (store, artifact, base, pod) = (
            store.clone(),
            artifact.to_string(),
            base.to_string(),
            permit.pod().to_string(),
        );
        let (quota, transfer) = (ctx.run.quota.clone(), transfer.clone());
        let r = cluster
            .tar_members_from_pod(permit, dir, &members, move |reader| {
                let mut transfer = transfer.lock().unwrap_or_else(|p| p.into_inner());
                tar_stream::extract(
                    QuotaReader::new(reader, quota),
                    &base,
                    &store,
                    &artifact,
                    &pod,
                    &mut transfer,
                )
            })
            .await;
        match r {
            Ok(n) => fetched += n,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Ok(t) = Arc::try_unwrap(transfer) {
        t.into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .finish(failed.is_none());
    }
    if let Some(e) = failed {
        return Err(e);
    }
    for d in &plan.dirs {
        store.create_dir_all(&format!("{artifact}/{d}"))?;
    }
    let line = format!(
        "incremental: {} unchanged files ({}) copied from set {}, {fetch_count} new or changed fetched ({})",
        reused_count,
        crate::progress::human(reused),
        previous.name,
        crate::progress::human(fetched),
    );
    ctx.run
        .progress
        .line(&format!("  {}: {artifact}: {line}", ctx.grant.plugin));
    ctx.run
        .audit
        .note(&ctx.grant.plugin, "copy-from-pod", &line);
    Ok(reused + fetched)
}

/// `tar cf - -C DIR BASE` of the whole tree into the artifact.
pub(super) async fn whole(
    ctx: &CallCtx,
    permit: &PodPermit,
    path: &str,
    dir: &str,
    base: &str,
    artifact: &str,
) -> Result<u64> {
    let store = ctx.artifacts.clone();
    let mut transfer = ctx.run.progress.transfer(
        ctx.transfer_label(&format!("{artifact} <- {}:{path}", permit.pod())),
        None,
    );
    let (pod, base_owned, artifact) = (
        permit.pod().to_string(),
        base.to_string(),
        artifact.to_string(),
    );
    let quota = ctx.run.quota.clone();
    ctx.run
        .cluster
        .tar_from_pod(permit, dir, base, move |reader| {
            let r = tar_stream::extract(
                QuotaReader::new(reader, quota),
                &base_owned,
                &store,
                &artifact,
                &pod,
                &mut transfer,
            );
            transfer.finish(r.is_ok());
            r
        })
        .await
}
