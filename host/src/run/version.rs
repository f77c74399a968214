//! Which 3scale runs in the namespace: the operator stamps it on the APIManager.

use crate::cluster::{Cluster, ObjectPermit};
use crate::error::{Error, Result};

pub const ANNOTATION: &str = "apps.3scale.net/apimanager-threescale-version";
const API_VERSION: &str = "apps.3scale.net/v1alpha1";

pub async fn read(cluster: &Cluster) -> Result<Option<String>> {
    let list = match cluster
        .list(&ObjectPermit::issue(API_VERSION, "APIManager", None), "")
        .await
    {
        Ok(list) => list,
        // No APIManager CRD at all: not a 3scale namespace as far as we can tell.
        Err(Error::NotFound(_)) => return Ok(None),
        // The host's first request after connecting: credentials refused here (a real
        // API server answers /version to anyone) mean the cluster cannot be used at all,
        // which scripts tell apart from a failed run (exit 5).
        // Reached, and the user is known, but may not read the APIManagers: refused
        // before anything changed, with the API server's words.
        Err(Error::Forbidden(message)) => return Err(Error::Refused(message)),
        Err(Error::Denied(message)) => {
            return Err(Error::Connect {
                what: format!("cannot use the API server at {}", cluster.server()),
                source: Box::new(std::io::Error::other(message)),
            });
        }
        Err(e) => return Err(e),
    };
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|m| {
            m["metadata"]["annotations"][ANNOTATION]
                .as_str()
                .map(str::to_string)
        }))
}

/// "2.15" supports "2.15" and "2.15.3".
pub fn supports(declared: &[String], running: &str) -> bool {
    declared.iter().any(|d| {
        running == d
            || running
                .strip_prefix(d.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Two versions of one 3scale release: "2.15" and "2.15.5" are, "2.14" and "2.15" are not.
pub fn same_release(a: &str, b: &str) -> bool {
    let release = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    release(a) == release(b)
}

#[cfg(test)]
mod tests {
    use super::{same_release, supports};

    #[test]
    fn releases_compare_by_major_and_minor() {
        assert!(same_release("2.15", "2.15.5"));
        assert!(same_release("2.15.1", "2.15.5"));
        assert!(!same_release("2.14", "2.15.5"));
    }

    #[test]
    fn versions_match_by_release_prefix() {
        let declared = vec!["2.15".to_string()];
        assert!(supports(&declared, "2.15"));
        assert!(supports(&declared, "2.15.1"));
        assert!(!supports(&declared, "2.150"));
        assert!(!supports(&declared, "2.14"));
    }
}
