//! Who a request comes from, as the authenticators name them
//! (staging/src/k8s.io/apiserver/pkg/authentication/user/user.go, serviceaccount/util.go).

/// `user.SystemPrivilegedGroup`: the group the privileged-groups authorizer lets do
/// anything, before RBAC is asked.
pub const MASTERS: &str = "system:masters";
/// `user.AllAuthenticated`, which the authenticator chain adds to every user it
/// recognises (authentication/group/authenticated_group_adder.go).
pub const AUTHENTICATED: &str = "system:authenticated";
/// `user.AllUnauthenticated`, the anonymous user's only group.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// `serviceaccount.AllServiceAccountsGroup`.
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    /// The holder of the token in the kubeconfig the simulator writes: a cluster admin,
    /// as kubeadm's `kubernetes-admin` is, by its group.
    pub fn admin() -> User {
        User {
            name: "sim-admin".into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
        }
    }

    /// serviceaccount.UserInfo: `system:serviceaccount:NS:NAME`, in
    /// `system:serviceaccounts` and `system:serviceaccounts:NS` (MakeGroupNames), plus
    /// `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> User {
        User {
            name: format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"),
            groups: vec![
                SERVICE_ACCOUNTS.into(),
                format!("{SERVICE_ACCOUNTS}:{namespace}"),
                AUTHENTICATED.into(),
            ],
        }
    }

    /// `system:anonymous` (authentication/request/anonymous/anonymous.go), which only
    /// reaches the paths every client may read (`/version`, `/healthz`, ...).
    pub fn anonymous() -> User {
        User {
            name: "system:anonymous".into(),
            groups: vec![UNAUTHENTICATED.into()],
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// serviceaccount.MatchesUsername: whether this is the user of ServiceAccount
    /// `namespace/name`.
    pub fn is_service_account(&self, namespace: &str, name: &str) -> bool {
        self.name
            .strip_prefix(SERVICE_ACCOUNT_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(ns, n)| ns == namespace && n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_user_is_named_and_grouped_like_kubernetes_names_it() {
        let user = User::service_account("3scale", "host");
        assert_eq!(user.name, "system:serviceaccount:3scale:host");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:3scale",
                "system:authenticated"
            ]
        );
        assert!(user.is_service_account("3scale", "host"));
        assert!(!user.is_service_account("3scale", "hos"));
        assert!(!user.is_service_account("default", "host"));
        assert!(!User::admin().is_service_account("3scale", "host"));
    }
}
