//! The cluster-wide policy every kube-apiserver bootstraps
//! (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go `ClusterRoles`,
//! `ClusterRoleBindings`): the ClusterRoleBindings that apply to the users the simulator
//! knows. The simulator serves no ClusterRoles or ClusterRoleBindings, so these are fixed.

use super::rules::PolicyRule;
use super::user::{AUTHENTICATED, MASTERS, SERVICE_ACCOUNTS, UNAUTHENTICATED};

/// A ClusterRoleBinding of the ClusterRole of the same name to groups.
pub struct ClusterBinding {
    pub name: &'static str,
    pub groups: &'static [&'static str],
    pub rules: Vec<PolicyRule>,
}

/// In the order a resolver visits them (the real one lists them from an informer cache,
/// in no order that matters but for which binding an allowed request's reason names).
pub fn cluster_bindings() -> Vec<ClusterBinding> {
    vec![
        ClusterBinding {
            name: "cluster-admin",
            groups: &[MASTERS],
            rules: vec![
                PolicyRule::resources(&["*"], &["*"], &["*"]),
                PolicyRule::urls(&["*"], &["*"]),
            ],
        },
        // Discovery and readiness: what every client reads before it asks for anything.
        ClusterBinding {
            name: "system:discovery",
            groups: &[AUTHENTICATED],
            rules: vec![PolicyRule::urls(
                &["get"],
                &[
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                ],
            )],
        },
        // What a user may learn about itself: `kubectl auth can-i` and `auth whoami`.
        ClusterBinding {
            name: "system:basic-user",
            groups: &[AUTHENTICATED],
            rules: vec![
                PolicyRule::resources(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                PolicyRule::resources(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        },
        ClusterBinding {
            name: "system:public-info-viewer",
            groups: &[AUTHENTICATED, UNAUTHENTICATED],
            rules: vec![PolicyRule::urls(
                &["get"],
                &["/livez", "/readyz", "/healthz", "/version", "/version/"],
            )],
        },
        ClusterBinding {
            name: "system:service-account-issuer-discovery",
            groups: &[SERVICE_ACCOUNTS],
            rules: vec![PolicyRule::urls(
                &["get"],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
        },
    ]
}
