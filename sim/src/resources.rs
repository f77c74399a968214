//! The resource kinds the simulator serves, and how their URLs map to them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceType {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    pub verbs: &'static [&'static str],
    /// Namespaced, or cluster-scoped (namespaces).
    pub namespaced: bool,
    /// What `kubectl get` also accepts (`po`, `svc`, ...).
    pub short_names: &'static [&'static str],
}

const CRUD: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// The reviews: a request, answered, never kept.
const CREATE_ONLY: &[&str] = &["create"];
const READ_ONLY_PODS: &[&str] = &["delete", "get", "list", "watch"];

pub const PODS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    list_kind: "PodList",
    verbs: READ_ONLY_PODS,
    namespaced: true,
    short_names: &["po"],
};
pub const CONFIGMAPS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    list_kind: "ConfigMapList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["cm"],
};
pub const SECRETS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "secrets",
    singular: "secret",
    kind: "Secret",
    list_kind: "SecretList",
    verbs: CRUD,
    namespaced: true,
    short_names: &[],
};
pub const DEPLOYMENTS: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    plural: "deployments",
    singular: "deployment",
    kind: "Deployment",
    list_kind: "DeploymentList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["deploy"],
};
pub const APIMANAGERS: ResourceType = ResourceType {
    group: "apps.3scale.net",
    version: "v1alpha1",
    plural: "apimanagers",
    singular: "apimanager",
    kind: "APIManager",
    list_kind: "APIManagerList",
    verbs: CRUD,
    namespaced: true,
    short_names: &[],
};

pub const SERVICES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "services",
    singular: "service",
    kind: "Service",
    list_kind: "ServiceList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["svc"],
};
pub const PERSISTENT_VOLUME_CLAIMS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    kind: "PersistentVolumeClaim",
    list_kind: "PersistentVolumeClaimList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["pvc"],
};
pub const NAMESPACES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    list_kind: "NamespaceList",
    verbs: CRUD,
    namespaced: false,
    short_names: &["ns"],
};
pub const REPLICASETS: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    plural: "replicasets",
    singular: "replicaset",
    kind: "ReplicaSet",
    list_kind: "ReplicaSetList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["rs"],
};
pub const JOBS: ResourceType = ResourceType {
    group: "batch",
    version: "v1",
    plural: "jobs",
    singular: "job",
    kind: "Job",
    list_kind: "JobList",
    verbs: CRUD,
    namespaced: true,
    short_names: &[],
};
pub const EVENTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    list_kind: "EventList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["ev"],
};

/// OpenShift's DeploymentConfig (openshift/api apps/v1/types.go; served by
/// openshift-apiserver pkg/apps/apiserver/registry/deployconfig/etcd/etcd.go: short name
/// `dc`, category `all`). Only a 3scale 2.14 cluster serves it here (`Release::serves`).
pub const DEPLOYMENT_CONFIGS: ResourceType = ResourceType {
    group: "apps.openshift.io",
    version: "v1",
    plural: "deploymentconfigs",
    singular: "deploymentconfig",
    kind: "DeploymentConfig",
    list_kind: "DeploymentConfigList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["dc"],
};
/// The core ReplicationController, a DeploymentConfig's deployments.
pub const REPLICATION_CONTROLLERS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "replicationcontrollers",
    singular: "replicationcontroller",
    kind: "ReplicationController",
    list_kind: "ReplicationControllerList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["rc"],
};

/// ServiceAccounts (core v1, `sa`). Their tokens come from the TokenRequest subresource
/// `serviceaccounts/NAME/token` (pkg/registry/core/serviceaccount/storage/token.go),
/// served by `api::rbac::token_request`.
pub const SERVICE_ACCOUNTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    list_kind: "ServiceAccountList",
    verbs: CRUD,
    namespaced: true,
    short_names: &["sa"],
};
/// rbac.authorization.k8s.io/v1 Role and RoleBinding, which `api::rbac` authorizes
/// ServiceAccount users by. ClusterRoles and ClusterRoleBindings are not served: the
/// cluster-wide policy is the bootstrap one (`api::rbac::bootstrap`).
pub const ROLES: ResourceType = ResourceType {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "roles",
    singular: "role",
    kind: "Role",
    list_kind: "RoleList",
    verbs: CRUD,
    namespaced: true,
    short_names: &[],
};
pub const ROLE_BINDINGS: ResourceType = ResourceType {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "rolebindings",
    singular: "rolebinding",
    kind: "RoleBinding",
    list_kind: "RoleBindingList",
    verbs: CRUD,
    namespaced: true,
    short_names: &[],
};
/// authorization.k8s.io/v1 reviews: create-only, cluster-scoped, never stored
/// (pkg/registry/authorization/selfsubjectaccessreview/rest.go,
/// selfsubjectrulesreview/rest.go); `kubectl auth can-i` and `can-i --list` use them.
pub const SELF_SUBJECT_ACCESS_REVIEWS: ResourceType = ResourceType {
    group: "authorization.k8s.io",
    version: "v1",
    plural: "selfsubjectaccessreviews",
    singular: "selfsubjectaccessreview",
    kind: "SelfSubjectAccessReview",
    list_kind: "SelfSubjectAccessReviewList",
    verbs: CREATE_ONLY,
    namespaced: false,
    short_names: &[],
};
pub const SELF_SUBJECT_RULES_REVIEWS: ResourceType = ResourceType {
    group: "authorization.k8s.io",
    version: "v1",
    plural: "selfsubjectrulesreviews",
    singular: "selfsubjectrulesreview",
    kind: "SelfSubjectRulesReview",
    list_kind: "SelfSubjectRulesReviewList",
    verbs: CREATE_ONLY,
    namespaced: false,
    short_names: &[],
};
/// authentication.k8s.io/v1 SelfSubjectReview ("who am I?", `kubectl auth whoami`;
/// pkg/registry/authentication/selfsubjectreview/rest.go): create-only, never stored.
pub const SELF_SUBJECT_REVIEWS: ResourceType = ResourceType {
    group: "authentication.k8s.io",
    version: "v1",
    plural: "selfsubjectreviews",
    singular: "selfsubjectreview",
    kind: "SelfSubjectReview",
    list_kind: "SelfSubjectReviewList",
    verbs: CREATE_ONLY,
    namespaced: false,
    short_names: &[],
};

pub const ALL: &[ResourceType] = &[
    PODS,
    CONFIGMAPS,
    SECRETS,
    SERVICES,
    PERSISTENT_VOLUME_CLAIMS,
    NAMESPACES,
    DEPLOYMENTS,
    APIMANAGERS,
    REPLICASETS,
    JOBS,
    EVENTS,
    DEPLOYMENT_CONFIGS,
    REPLICATION_CONTROLLERS,
    SERVICE_ACCOUNTS,
    ROLES,
    ROLE_BINDINGS,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_RULES_REVIEWS,
    SELF_SUBJECT_REVIEWS,
];

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn find(group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        ALL.iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .copied()
    }

    /// For a plural known to be served (taken from a `ResourceType` earlier).
    pub fn find_plural(plural: &str) -> ResourceType {
        *ALL.iter()
            .find(|r| r.plural == plural)
            .expect("a served resource")
    }

    pub fn by_kind(kind: &str) -> Option<ResourceType> {
        ALL.iter().find(|r| r.kind == kind).copied()
    }

    pub fn in_group_version(group: &str, version: &str) -> Vec<ResourceType> {
        ALL.iter()
            .filter(|r| r.group == group && r.version == version)
            .copied()
            .collect()
    }
}
