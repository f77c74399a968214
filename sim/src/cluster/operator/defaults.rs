//! What the operator writes into an APIManager before anything else
//! (apis/apps/v1alpha1/apimanager_types.go SetDefaults, ~863-1175; 3scale-2.14-stable
//! 819-1066): its version annotations and an empty spec for every component it manages.
//! An empty spec has no `replicas`, so the operator then leaves that deployment's
//! replicas alone.

use serde_json::{Value, json};

use crate::release::Release;

/// version/version.go in 3scale-operator branch 3scale-2.15-stable.
pub const OPERATOR_VERSION: &str = "0.12.5";
pub const THREESCALE_RELEASE: &str = "2.15.5";
pub const VERSION_ANNOTATION: &str = "apps.3scale.net/apimanager-threescale-version";
pub const OPERATOR_VERSION_ANNOTATION: &str = "apps.3scale.net/threescale-operator-version";
/// 3scale-2.14-stable version/version.go and pkg/3scale/amp/product/3scale_release.go:4
/// (the annotation is the release, not a MajorMinorPatch; apimanager_types.go:860-861).
pub const OPERATOR_VERSION_2_14: &str = "0.11.3";
pub const THREESCALE_RELEASE_2_14: &str = "2.14";

/// The APIManager with its defaults, if that changes it.
pub fn apply(apimanager: &Value, release: Release) -> Option<Value> {
    let mut am = apimanager.clone();
    let annotations = &mut am["metadata"]["annotations"];
    if !annotations.is_object() {
        *annotations = json!({});
    }
    let (operator, threescale) = match release {
        Release::V2_15 => (OPERATOR_VERSION, THREESCALE_RELEASE),
        Release::V2_14 => (OPERATOR_VERSION_2_14, THREESCALE_RELEASE_2_14),
    };
    annotations[OPERATOR_VERSION_ANNOTATION] = json!(operator);
    annotations[VERSION_ANNOTATION] = json!(threescale);
    let spec = &mut am["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    // setAPIManagerCommonSpecDefaults
    default(spec, "appLabel", json!("3scale-api-management"));
    default(spec, "tenantName", json!("3scale"));
    if release == Release::V2_14 {
        // 2.14's ImageStreams (apimanager_types.go:944-952).
        default(spec, "imageStreamTagImportInsecure", json!(false));
    }
    default(spec, "resourceRequirementsEnabled", json!(true));
    // setBackendSpecDefaults
    for key in ["listenerSpec", "cronSpec", "workerSpec"] {
        default(object(spec, "backend"), key, json!({}));
    }
    // setApicastSpecDefaults
    let apicast = object(spec, "apicast");
    default(apicast, "managementAPI", json!("status"));
    default(apicast, "openSSLVerify", json!(false));
    default(apicast, "responseCodes", json!(true));
    default(
        apicast,
        "registryURL",
        json!("http://apicast-staging:8090/policies"),
    );
    default(apicast, "stagingSpec", json!({}));
    default(apicast, "productionSpec", json!({}));
    // setSystemSpecDefaults
    for key in ["appSpec", "sidekiqSpec", "searchdSpec"] {
        default(object(spec, "system"), key, json!({}));
    }
    // setZyncDefaults
    for key in ["appSpec", "queSpec"] {
        default(object(spec, "zync"), key, json!({}));
    }
    (am != *apimanager).then_some(am)
}

fn object<'a>(parent: &'a mut Value, key: &str) -> &'a mut Value {
    if !parent[key].is_object() {
        parent[key] = json!({});
    }
    &mut parent[key]
}

fn default(parent: &mut Value, key: &str, value: Value) {
    if parent.get(key).is_none_or(Value::is_null) {
        parent[key] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_apimanager_gets_the_operators_defaults() {
        let am = json!({"metadata": {"name": "3scale"}, "spec": {"wildcardDomain": "example.com"}});
        let d = apply(&am, Release::V2_15).unwrap();
        assert_eq!(d["spec"]["system"]["appSpec"], json!({}));
        assert_eq!(d["spec"]["zync"], json!({"appSpec": {}, "queSpec": {}}));
        assert_eq!(d["metadata"]["annotations"][VERSION_ANNOTATION], "2.15.5");
        assert!(d["spec"].get("imageStreamTagImportInsecure").is_none());
        assert!(apply(&d, Release::V2_15).is_none(), "defaults are stable");
        let kept = apply(
            &json!({"spec": {"zync": {"appSpec": {"replicas": 0}}}}),
            Release::V2_15,
        )
        .unwrap();
        assert_eq!(kept["spec"]["zync"]["appSpec"], json!({"replicas": 0}));
    }

    #[test]
    fn a_2_14_apimanager_says_2_14() {
        let am = json!({"metadata": {"name": "3scale"}, "spec": {"wildcardDomain": "example.com"}});
        let d = apply(&am, Release::V2_14).unwrap();
        assert_eq!(d["metadata"]["annotations"][VERSION_ANNOTATION], "2.14");
        assert_eq!(
            d["metadata"]["annotations"][OPERATOR_VERSION_ANNOTATION],
            "0.11.3"
        );
        assert_eq!(d["spec"]["system"]["appSpec"], json!({}));
        assert_eq!(d["spec"]["zync"], json!({"appSpec": {}, "queSpec": {}}));
        assert_eq!(d["spec"]["imageStreamTagImportInsecure"], false);
        assert!(apply(&d, Release::V2_14).is_none());
    }
}
