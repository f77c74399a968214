//! The PersistentVolumeClaims the 3scale operator creates (see `operator::extras`), bound as
//! a cluster with a default storage class binds them. Their data are the folders under the data
//! directory's `volumes/` that the pods mount (see `pod::templates`).

use serde_json::{Value, json};

struct Claim {
    name: &'static str,
    component: &'static str,
    element: &'static str,
    access_mode: &'static str,
    storage: &'static str,
}

/// The class the cluster marks as its default.
const DEFAULT_STORAGE_CLASS: &str = "standard";

const CLAIMS: &[Claim] = &[
    // system_mysql.go:90-118; 1Gi by default (system_mysql_options.go:75)
    Claim {
        name: "mysql-storage",
        component: "system",
        element: "mysql",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
    },
    // redis.go:443-466
    Claim {
        name: "system-redis-storage",
        component: "system",
        element: "redis",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
    },
    // redis.go:246-279
    Claim {
        name: "backend-redis-storage",
        component: "backend",
        element: "redis",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
    },
    // system.go:1039-1067: ReadWriteMany, 100Mi by default (system_options.go:287), in the
    // class the APIManager's fileStorage asks for.
    Claim {
        name: "system-storage",
        component: "system",
        element: "app",
        access_mode: "ReadWriteMany",
        storage: "100Mi",
    },
    // system_searchd.go:138-160; 1Gi by default (system_searchd_options_provider.go:94-99)
    Claim {
        name: "system-searchd-manticore",
        component: "system",
        element: "searchd",
        access_mode: "ReadWriteOnce",
        storage: "1Gi",
    },
];

/// The claim `name` as the operator builds it (labelled with the APIManager's
/// `appLabel`). `storage_class` is the APIManager's when it names one (system-storage:
/// `.spec.system.fileStorage.persistentVolumeClaim.storageClassName`); otherwise the
/// cluster's default class, which the DefaultStorageClass admission plugin fills in.
pub fn desired(name: &str, app_label: &str, storage_class: Option<&str>) -> Option<Value> {
    let c = CLAIMS.iter().find(|c| c.name == name)?;
    Some(json!({
        "metadata": {
            "name": c.name,
            "labels": {
                "app": app_label,
                "threescale_component": c.component,
                "threescale_component_element": c.element,
            },
        },
        "spec": {
            "accessModes": [c.access_mode],
            "resources": {"requests": {"storage": c.storage}},
            "storageClassName": storage_class.unwrap_or(DEFAULT_STORAGE_CLASS),
            "volumeMode": "Filesystem",
        },
    }))
}

/// What the persistent volume controller does to a new claim with a dynamic provisioner:
/// a volume provisioned and bound at once. Its data are the folder `volumes/<claim>`.
pub fn bind(claim: &mut Value) {
    let volume = format!("pvc-{}", crate::store::new_uid());
    claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
    claim["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
    claim["metadata"]["finalizers"] = json!(["kubernetes.io/pvc-protection"]);
    claim["spec"]["volumeName"] = json!(volume);
    claim["status"] = json!({
        "phase": "Bound",
        "accessModes": claim["spec"]["accessModes"],
        "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
    });
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
