//! The PersistentVolumeClaims the 3scale operator creates, bound as a cluster with a
//! default storage class binds them. Their data are the folders under the data
//! directory's `volumes/` that the pods mount (see `pod::templates`).

use serde_json::{Value, json};

use crate::resources::PERSISTENT_VOLUME_CLAIMS;
use crate::store::Store;

struct Claim {
    name: &'static str,
    component: &'static str,
    element: &'static str,
    access_mode: &'static str,
    storage: &'static str,
    storage_class: &'static str,
}

const CLAIMS: &[Claim] = &[
    // system_mysql.go:90-118; 1Gi by default (system_mysql_options.go:75)
    Claim {
        name: "mysql-storage",
        component: "system",
        element: "mysql",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
        storage_class: "standard",
    },
    // redis.go:443-466
    Claim {
        name: "system-redis-storage",
        component: "system",
        element: "redis",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
        storage_class: "standard",
    },
    // redis.go:246-279
    Claim {
        name: "backend-redis-storage",
        component: "backend",
        element: "redis",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
        storage_class: "standard",
    },
    // system.go:1039-1067: ReadWriteMany, 100Mi by default (system_options.go:287), the class
    // the APIManager's fileStorage asks for.
    Claim {
        name: "system-storage",
        component: "system",
        element: "app",
        access_mode: "ReadWriteMany",
        storage: "100Mi",
        storage_class: "nfs",
    },
    // system_searchd.go:138-160; 1Gi by default (system_searchd_options_provider.go:94-99)
    Claim {
        name: "system-searchd-manticore",
        component: "system",
        element: "searchd",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
        storage_class: "standard",
    },
];

/// Creates the claims a namespace lacks (a new one, or one made by an older simulator).
pub fn ensure(store: &Store, ns: &str) -> crate::Result<()> {
    for c in CLAIMS {
        if store.get(&PERSISTENT_VOLUME_CLAIMS, ns, c.name).is_some() {
            continue;
        }
        store
            .create(&PERSISTENT_VOLUME_CLAIMS, ns, object(c))
            .map_err(|e| crate::SimError::Other(e.message))?;
    }
    Ok(())
}

fn object(c: &Claim) -> Value {
    let volume = format!("pvc-{}", crate::store::new_uid());
    json!({
        "metadata": {
            "name": c.name,
            "labels": {
                "app": "3scale-api-management",
                "threescale_component": c.component,
                "threescale_component_element": c.element,
            },
            "annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
            },
            "finalizers": ["kubernetes.io/pvc-protection"],
        },
        "spec": {
            "accessModes": [c.access_mode],
            "resources": {"requests": {"storage": c.storage}},
            "storageClassName": c.storage_class,
            "volumeMode": "Filesystem",
            "volumeName": volume,
        },
        "status": {
            "phase": "Bound",
            "accessModes": [c.access_mode],
            "capacity": {"storage": c.storage},
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_claim_a_pod_mounts_exists() {
        for t in crate::pod::templates::TEMPLATES {
            for claim in t.claims() {
                assert!(
                    super::CLAIMS.iter().any(|c| c.name == claim),
                    "{} mounts {claim}",
                    t.deployment
                );
            }
        }
    }
}
