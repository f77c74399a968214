//! Trees between a pod and the set (the manual's `oc rsync` of system/). Out of a pod
//! (`copy-from-pod` of a `tree` artifact): whole, as `tar cf` in the pod, or
//! incrementally against the repository's previous good set (see
//! `backup_set/incremental.rs`). Into a pod (`copy-to-pod`): in several tar streams side
//! by side.

use std::sync::{Arc, Mutex};

use super::CallCtx;
use super::quota::QuotaReader;
use crate::backup_set::artifacts::Entry;
use crate::backup_set::{incremental, tar_stream};
use crate::cluster::PodPermit;
use crate::error::{Error, Result};
use crate::progress::Transfer;

/// The most listing an incremental copy reads (about 100 bytes a file): past it, the tree
/// is copied whole rather than held in memory.
const MAX_LISTING: usize = 64 << 20;
/// Names a tar in the pod is given at once: the exec request carries them in its URL.
const MEMBERS_PER_TAR: usize = 200;
/// Tar streams into one pod side by side, at most. A pod's `tar -x` of small files is
/// bound by its own work per file (create, write, close), on one core: on the simulator
/// (2 cores, shared with the host), 67,000 of system-storage's files went in 1.5x faster
/// in two streams than in one, and 100,000 in 1.75x faster in three (measured with `tar
/// | kubectl exec tar -x`). On a shared volume (NFS, CephFS), where each create is a
/// round trip, streams overlap the waits.
const STREAMS_INTO_POD: usize = 3;
/// A stream costs an exec: a tree gets one more stream per this many files.
const FILES_PER_STREAM: usize = 2000;
/// Tar streams out of one pod side by side, at most: both ends cost per file (the pod's
/// tar opens and reads each, the host creates, writes and hashes each).
const STREAMS_OUT_OF_POD: usize = 3;

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
    // One progress line for all the batches.
    let transfer = Arc::new(std::sync::Mutex::new(
        ctx.run
            .progress
            .transfer(label("changed files"), Some(plan.fetch_bytes)),
    ));
    let mut fetched = 0u64;
    let mut failed = None;
    for batch in fetch.chunks(MEMBERS_PER_TAR) {
        let members: Vec<String> = batch.iter().map(|rel| format!("{base}/{rel}")).collect();
        let r = members_into_set(ctx, permit, dir, base, artifact, members, &transfer).await;
        match r {
            Ok(n) => fetched += n,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    finish(transfer, failed.is_none());
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

/// The whole tree into the artifact: `tar cf - -C DIR BASE/NAME...` in up to
/// [`STREAMS_OUT_OF_POD`] streams side by side, the names directly under the tree dealt
/// out among them; in one stream (`tar cf - -C DIR BASE`) when the tree has fewer than
/// two names, too many for exec URLs, or the pod cannot list them.
pub(super) async fn whole(
    ctx: &CallCtx,
    permit: &PodPermit,
    path: &str,
    dir: &str,
    base: &str,
    artifact: &str,
) -> Result<u64> {
    let names = ctx
        .run
        .cluster
        .list_top_level(permit, path, 1 << 20)
        .await
        .unwrap_or_default();
    let streams = names.len().min(STREAMS_OUT_OF_POD);
    if streams < 2 || names.len() > STREAMS_OUT_OF_POD * MEMBERS_PER_TAR {
        return one_stream(ctx, permit, path, dir, base, artifact).await;
    }
    let store = ctx.artifacts.clone();
    store.create_dir_all(artifact)?;
    let transfer = Arc::new(Mutex::new(ctx.run.progress.transfer(
        ctx.transfer_label(&format!(
            "{artifact} <- {}:{path} ({streams} streams)",
            permit.pod()
        )),
        None,
    )));
    let copies = (0..streams).map(|i| {
        let members: Vec<String> = names
            .iter()
            .skip(i)
            .step_by(streams)
            .map(|name| format!("{base}/{name}"))
            .collect();
        members_into_set(ctx, permit, dir, base, artifact, members, &transfer)
    });
    let result = futures::future::try_join_all(copies).await;
    finish(transfer, result.is_ok());
    result.map(|copied| copied.iter().sum())
}

/// `tar cf - -C DIR -- MEMBER...` in the pod, extracted into the artifact (each entry
/// checked: under BASE, no links), counted on the shared progress line.
async fn members_into_set(
    ctx: &CallCtx,
    permit: &PodPermit,
    dir: &str,
    base: &str,
    artifact: &str,
    members: Vec<String>,
    transfer: &Arc<Mutex<Transfer>>,
) -> Result<u64> {
    let (store, transfer, quota) = (
        ctx.artifacts.clone(),
        transfer.clone(),
        ctx.run.quota.clone(),
    );
    let (base, artifact, pod) = (
        base.to_string(),
        artifact.to_string(),
        permit.pod().to_string(),
    );
    ctx.run
        .cluster
        .tar_members_from_pod(permit, dir, &members, move |reader| {
            tar_stream::extract(
                QuotaReader::new(reader, quota),
                &base,
                &store,
                &artifact,
                &pod,
                &transfer,
            )
        })
        .await
}

/// Ends a progress line the streams of one copy shared, once they have all let go of it.
fn finish(transfer: Arc<Mutex<Transfer>>, ok: bool) {
    if let Ok(t) = Arc::try_unwrap(transfer) {
        t.into_inner().unwrap_or_else(|p| p.into_inner()).finish(ok);
    }
}

/// `tar cf - -C DIR BASE` of the whole tree into the artifact.
async fn one_stream(
    ctx: &CallCtx,
    permit: &PodPermit,
    path: &str,
    dir: &str,
    base: &str,
    artifact: &str,
) -> Result<u64> {
    let store = ctx.artifacts.clone();
    let transfer = Mutex::new(ctx.run.progress.transfer(
        ctx.transfer_label(&format!("{artifact} <- {}:{path}", permit.pod())),
        None,
    ));
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
                &transfer,
            );
            let transfer = transfer.into_inner().unwrap_or_else(|p| p.into_inner());
            transfer.finish(r.is_ok());
            r
        })
        .await
}

/// `copy-to-pod` of a tree: its entries in up to [`STREAMS_INTO_POD`] tar streams, each
/// into its own `tar -x` under `path`. Each stream takes a contiguous share of the sorted
/// listing, so most of a directory's files go in one stream; a stream whose files' parent
/// directories another stream carries has tar create them. The first stream to fail
/// ends the others (their execs are dropped, and with them their tars' input).
pub(super) async fn into_pod(
    ctx: &CallCtx,
    permit: &PodPermit,
    artifact: &str,
    path: &str,
) -> Result<u64> {
    let store = ctx.artifacts.clone();
    let entries = {
        let (store, artifact) = (store.clone(), artifact.to_string());
        tokio::task::spawn_blocking(move || store.list(&artifact))
            .await
            .map_err(|e| Error::task("listing a tree", e))??
    };
    let total = entries.iter().map(|e| e.size).sum();
    let files = entries.iter().filter(|e| !e.is_dir).count();
    let shares = shares(
        entries,
        (files / FILES_PER_STREAM).clamp(1, STREAMS_INTO_POD),
    );
    let streams = if shares.len() > 1 {
        format!(" ({} streams)", shares.len())
    } else {
        String::new()
    };
    let transfer = Arc::new(Mutex::new(ctx.run.progress.transfer(
        ctx.transfer_label(&format!("{artifact} -> {}:{path}{streams}", permit.pod())),
        Some(total),
    )));
    let sends = shares.into_iter().map(|share| {
        let (store, artifact, transfer) = (store.clone(), artifact.to_string(), transfer.clone());
        ctx.run.cluster.tar_into_pod(permit, path, move |writer| {
            tar_stream::build_tree(writer, &store, &artifact, &share, &transfer)
        })
    });
    let result = futures::future::try_join_all(sends).await;
    finish(transfer, result.is_ok());
    result.map(|sent| sent.iter().sum())
}

/// `entries` cut into `n` contiguous shares of about equal tar bytes (a 512-byte header
/// per entry, data padded to 512). An empty tree is one empty share: its stream still
/// makes the directory in the pod.
fn shares(entries: Vec<Entry>, n: usize) -> Vec<Vec<Entry>> {
    let weight = |e: &Entry| 512 + e.size.div_ceil(512) * 512;
    let total: u64 = entries.iter().map(weight).sum();
    let per_share = total.div_ceil(n.max(1) as u64).max(1);
    let mut out: Vec<Vec<Entry>> = vec![Vec::new()];
    let mut filled = 0u64;
    for entry in entries {
        if filled >= per_share && out.len() < n {
            out.push(Vec::new());
            filled = 0;
        }
        filled += weight(&entry);
        out.last_mut().expect("never empty").push(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, size: u64) -> Entry {
        Entry {
            path: path.to_string(),
            is_dir: size == 0,
            size,
        }
    }

    #[test]
    fn shares_are_contiguous_balanced_and_keep_every_entry_once() {
        let entries: Vec<Entry> = (0..3000)
            .map(|i| entry(&format!("system/f{i:05}"), 1 + i % 7 * 300))
            .collect();
        let paths: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
        let cut = shares(entries, 3);
        assert_eq!(cut.len(), 3);
        let again: Vec<String> = cut.iter().flatten().map(|e| e.path.clone()).collect();
        assert_eq!(again, paths, "every entry once, in order");
        let weights: Vec<u64> = cut
            .iter()
            .map(|s| s.iter().map(|e| 512 + e.size.div_ceil(512) * 512).sum())
            .collect();
        let (min, max) = (weights.iter().min().unwrap(), weights.iter().max().unwrap());
        // Off by at most a few entries (the biggest weighs 2,560 bytes) of 1.7 MB each.
        assert!(max - min <= 3 * 2560, "{weights:?}");
        assert_eq!(shares(vec![entry("system/a", 10)], 3).len(), 1);
        assert_eq!(shares(Vec::new(), 3).len(), 1);
    }
}
