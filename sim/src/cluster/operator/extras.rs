//! Services and PersistentVolumeClaims the operator reconciles, at the places its
//! reconcilers do: Services with CreateOnlyMutator plus ServiceSelectorMutator, claims with
//! CreateOnlyMutator (e.g. system_mysql_reconciler.go:61-88, pkg/reconcilers/service.go
//! 58-76). What each looks like is in `cluster::services` and `cluster::claims`.

use serde_json::json;

use super::Ctx;
use crate::SimError;
use crate::cluster::{claims, services};
use crate::release::Release;
use crate::resources::{PERSISTENT_VOLUME_CLAIMS, SERVICES};

pub fn service(ctx: &Ctx, name: &str) -> crate::Result<()> {
    let release = ctx.release();
    let desired = services::desired_for(name, &ctx.app_label(), release).ok_or_else(|| {
        SimError::Other(format!("no Service {name} in 3scale {}", release.as_str()))
    })?;
    ctx.reconcile_object(&SERVICES, desired, |existing, desired| {
        // 2.14 reconciles Services with CreateOnlyMutator alone (e.g. 3scale-2.14-stable
        // system_reconciler.go:54-75): a changed selector stays.
        if release == Release::V2_14 {
            return false;
        }
        if existing["spec"]["selector"] == desired["spec"]["selector"] {
            return false;
        }
        existing["spec"]["selector"] = desired["spec"]["selector"].clone();
        true
    })
}

/// Where the APIManager may name each claim's storage class (apimanager_types.go; read by
/// the options providers, e.g. system_options_provider.go:498).
const STORAGE_CLASS: &[(&str, &str)] = &[
    (
        "mysql-storage",
        "/spec/system/database/mysql/persistentVolumeClaim/storageClassName",
    ),
    (
        "system-redis-storage",
        "/spec/system/redisPersistentVolumeClaim/storageClassName",
    ),
    (
        "backend-redis-storage",
        "/spec/backend/redisPersistentVolumeClaim/storageClassName",
    ),
    (
        "system-storage",
        "/spec/system/fileStorage/persistentVolumeClaim/storageClassName",
    ),
    (
        "system-searchd-manticore",
        "/spec/system/searchdSpec/persistentVolumeClaim/storageClassName",
    ),
];

pub fn persistent_volume_claim(ctx: &Ctx, claim: &str) -> crate::Result<()> {
    let class = STORAGE_CLASS
        .iter()
        .find(|(c, _)| *c == claim)
        .and_then(|(_, pointer)| ctx.apimanager.pointer(pointer))
        .and_then(|v| v.as_str());
    let desired = claims::desired(claim, &ctx.app_label(), class)
        .ok_or_else(|| SimError::Other(format!("no PersistentVolumeClaim {claim} in 3scale")))?;
    let existed = ctx.get(&PERSISTENT_VOLUME_CLAIMS, claim).is_some();
    ctx.reconcile_object(&PERSISTENT_VOLUME_CLAIMS, desired, |_, _| false)?;
    if !existed {
        // The persistent volume controller, not the operator: a new claim of a class
        // with a dynamic provisioner is bound at once.
        let cluster = ctx.cluster;
        let _ = cluster
            .store
            .modify(&PERSISTENT_VOLUME_CLAIMS, &cluster.namespace, claim, |c| {
                if c["status"]["phase"] != json!("Bound") {
                    claims::bind(c);
                }
                Ok(())
            });
    }
    Ok(())
}
