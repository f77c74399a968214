//! RBAC for ServiceAccount tokens, through the real kubectl: a ServiceAccount, Role and
//! RoleBinding applied with `kubectl apply -f`, a token from `kubectl create token`, and
//! kubectl run with a kubeconfig holding that token. Each test has its own account in
//! the one simulator the file shares.

mod common;
#[path = "common/ws.rs"]
mod ws;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::Sim;
use serde_json::Value;

fn sim() -> &'static Sim {
    common::shared(None)
}

/// A ServiceAccount of namespace 3scale, bound to a Role of the same name, and a
/// kubeconfig that is the admin's with the account's token.
struct Account {
    name: String,
    token: String,
    kubeconfig: PathBuf,
}

impl Account {
    /// Applies the three objects with `rules` (the Role's `rules:` as YAML, a list) and
    /// asks for a token.
    fn new(name: &str, rules: &str) -> Account {
        let applied = apply(name, rules);
        assert_eq!(
            applied,
            format!(
                "serviceaccount/{name} created\nrole.rbac.authorization.k8s.io/{name} created\nrolebinding.rbac.authorization.k8s.io/{name} created\n"
            )
        );
        let token = sim().ok(&["create", "token", name]).trim().to_string();
        assert!(!token.is_empty());
        let admin = std::fs::read_to_string(&sim().kubeconfig).unwrap();
        let swapped: Vec<String> = admin
            .lines()
            .map(|line| match line.split_once("token: ") {
                Some((indent, _)) => format!("{indent}token: {token}"),
                None => line.to_string(),
            })
            .collect();
        let kubeconfig = sim().dir.join(format!("kubeconfig-{name}"));
        std::fs::write(&kubeconfig, swapped.join("\n") + "\n").unwrap();
        Account {
            name: name.to_string(),
            token,
            kubeconfig,
        }
    }

    fn user(&self) -> String {
        format!("system:serviceaccount:3scale:{}", self.name)
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        sim()
            .kubectl_cmd(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} as {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// kubectl that must fail; returns stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} as {} succeeded: {}",
            self.name,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// `GET path` with this account's token (curl, to see the body kubectl summarises).
    fn raw_get(&self, path: &str) -> Value {
        let (server, _, ca) = sim::endpoint(&sim().dir).unwrap();
        let ca_file = sim().dir.join("ca.pem");
        std::fs::write(&ca_file, ca).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca_file)
            .args(["-H", &format!("Authorization: Bearer {}", self.token)])
            .arg(format!("{server}{path}"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// `kubectl auth can-i ARGS` as this account: its answer and whether it said yes.
    fn can_i(&self, args: &[&str]) -> (String, bool) {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        let out = self.kubectl(&all);
        (
            String::from_utf8(out.stdout).unwrap().trim().to_string(),
            out.status.success(),
        )
    }
}

/// `kubectl apply -f` of the account's ServiceAccount, Role and RoleBinding; kubectl's
/// report.
fn apply(name: &str, rules: &str) -> String {
    let manifest = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\nrules:\n{rules}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {name}\n\
         subjects:\n- kind: ServiceAccount\n  name: {name}\n  namespace: 3scale\n"
    );
    let file = sim().dir.join(format!("rbac-{name}.yaml"));
    std::fs::write(&file, manifest).unwrap();
    sim().ok(&["apply", "-f", file.to_str().unwrap()])
}

fn forbidden(object: &str, user: &str, verb: &str, resource: &str, group: &str) -> String {
    format!(
        "Error from server (Forbidden): {object} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"3scale\""
    )
}

#[test]
fn a_token_gets_what_its_role_allows_and_a_forbidden_list_says_what_is_missing() {
    let reader = Account::new(
        "reader",
        "- {apiGroups: [''], resources: [pods, configmaps], verbs: [get, list]}",
    );
    let pods = reader.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(pods.lines().count(), 15, "{pods}");
    let cm = reader.ok(&["get", "configmap", "redis-config", "-o", "name"]);
    assert_eq!(cm, "configmap/redis-config\n");

    let secrets = reader.refused(&["get", "secrets"]);
    assert_eq!(
        secrets.trim(),
        forbidden("secrets", &reader.user(), "list", "secrets", "")
    );
    let deployment = reader.refused(&["get", "deployment", "system-app"]);
    assert_eq!(
        deployment.trim(),
        forbidden(
            "deployments.apps \"system-app\"",
            &reader.user(),
            "get",
            "deployments",
            "apps"
        )
    );
    // A RoleBinding grants in its own namespace only.
    let elsewhere = reader.refused(&["get", "pods", "-n", "default"]);
    assert!(
        elsewhere.contains(&format!(
            "pods is forbidden: User \"{}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"",
            reader.user()
        )),
        "{elsewhere}"
    );
    // The simulator's own API is the admin's.
    let admin_api = reader.refused(&["get", "--raw", "/sim/v1/events"]);
    assert_eq!(
        admin_api.trim(),
        format!(
            "Error from server (Forbidden): forbidden: User \"{}\" cannot get path \"/sim/v1/events\"",
            reader.user()
        )
    );

    // The Status itself, as a client library reads it.
    let status = reader.raw_get("/api/v1/namespaces/3scale/secrets");
    assert_eq!(
        status,
        serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": secrets.trim().trim_start_matches("Error from server (Forbidden): "),
            "reason": "Forbidden", "details": {"kind": "secrets"}, "code": 403,
        })
    );
}

#[test]
fn exec_needs_create_on_pods_exec() {
    let pod = sim().pod("system-redis");
    // `get` alone is what a WebSocket upgrade asks the authorization filter for; since
    // Kubernetes 1.35 the exec handler asks for `create` too, and kubectl, refused,
    // falls back to SPDY, whose POST is a `create`.
    let viewer = Account::new(
        "exec-viewer",
        "- {apiGroups: [''], resources: [pods, pods/exec], verbs: [get]}",
    );
    let refused = viewer.refused(&["exec", &pod, "--", "echo", "in"]);
    assert_eq!(
        refused.trim(),
        forbidden(
            &format!("pods \"{pod}\""),
            &viewer.user(),
            "create",
            "pods/exec",
            ""
        )
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let path = ws::exec_path(&pod, None, &["echo", "in"], false);
    let protocols = "v5.channel.k8s.io,v4.channel.k8s.io";
    let (code, body) = match rt.block_on(ws::open_as(&sim().dir, &viewer.token, &path, protocols)) {
        Ok(_) => panic!("a WebSocket exec with `get` alone was let in"),
        Err(refused) => refused,
    };
    assert_eq!(code, 403);
    let status: Value = serde_json::from_str(&body).unwrap();
    // ensureAuthorizedForVerb's NewForbidden with RBAC's (empty) reason.
    assert_eq!(status["message"], format!("pods \"{pod}\" is forbidden: "));
    assert_eq!(status["details"]["name"], pod.as_str());

    // With `create` the same account execs, over WebSocket and with kubectl.
    apply(
        "exec-viewer",
        "- {apiGroups: [''], resources: [pods, pods/exec], verbs: [get, create]}",
    );
    assert_eq!(viewer.ok(&["exec", &pod, "--", "echo", "in"]), "in\n");
    let mut exec = rt
        .block_on(ws::open_as(&sim().dir, &viewer.token, &path, protocols))
        .unwrap();
    let got = rt.block_on(exec.receive(Duration::from_secs(10)));
    assert_eq!(got.stdout, b"in\n");

    // `create` without `get`: the WebSocket upgrade is refused by the filter, and kubectl
    // gets in over SPDY.
    let creator = Account::new(
        "exec-creator",
        "- {apiGroups: [''], resources: [pods], verbs: [get]}\n- {apiGroups: [''], resources: [pods/exec], verbs: [create]}",
    );
    let (code, body) = match rt.block_on(ws::open_as(&sim().dir, &creator.token, &path, protocols))
    {
        Ok(_) => panic!("a WebSocket exec without `get` was let in"),
        Err(refused) => refused,
    };
    assert_eq!(code, 403);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        format!(
            "pods \"{pod}\" is forbidden: User \"{}\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"3scale\"",
            creator.user()
        )
    );
    assert_eq!(creator.ok(&["exec", &pod, "--", "echo", "spdy"]), "spdy\n");
}

#[test]
fn resource_names_restrict_gets_lists_and_watches_to_the_named_objects() {
    let named = Account::new(
        "named",
        "- {apiGroups: [''], resources: [secrets], resourceNames: [system-seed], verbs: [get]}\n\
         - {apiGroups: [apps], resources: [deployments], resourceNames: [system-app], verbs: [get, list, watch]}",
    );
    assert_eq!(
        named.ok(&["get", "secret", "system-seed", "-o", "name"]),
        "secret/system-seed\n"
    );
    let other = named.refused(&["get", "secret", "system-app"]);
    assert_eq!(
        other.trim(),
        forbidden(
            "secrets \"system-app\"",
            &named.user(),
            "get",
            "secrets",
            ""
        )
    );
    let all = named.refused(&["get", "secrets"]);
    assert_eq!(
        all.trim(),
        forbidden("secrets", &named.user(), "list", "secrets", "")
    );
    // A list or watch whose field selector names the object is that object's: what
    // `kubectl rollout status` sends.
    let status = named.ok(&[
        "rollout",
        "status",
        "deployment/system-app",
        "--timeout=30s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let unnamed = named.refused(&["get", "deployments"]);
    assert_eq!(
        unnamed.trim(),
        forbidden(
            "deployments.apps",
            &named.user(),
            "list",
            "deployments",
            "apps"
        )
    );
}

#[test]
fn auth_can_i_answers_for_the_tokens_user() {
    let asker = Account::new(
        "asker",
        "- {apiGroups: [''], resources: [secrets], resourceNames: [system-seed], verbs: [get]}\n\
         - {apiGroups: [''], resources: [pods/exec], verbs: [create]}",
    );
    let yes = |args: &[&str]| assert_eq!(asker.can_i(args), ("yes".into(), true), "{args:?}");
    let no = |args: &[&str]| assert_eq!(asker.can_i(args), ("no".into(), false), "{args:?}");
    yes(&["get", "secrets/system-seed"]);
    no(&["get", "secrets/system-app"]);
    no(&["list", "secrets"]);
    yes(&["create", "pods", "--subresource=exec"]);
    no(&["get", "pods", "--subresource=exec"]);
    no(&["get", "secrets/system-seed", "-n", "default"]);
    yes(&["get", "/version"]);
    no(&["get", "/sim/v1/events"]);

    let list = asker.ok(&["auth", "can-i", "--list"]);
    let row = |resource: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .unwrap_or_else(|| panic!("no {resource} in {list}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("secrets"), ["secrets", "[]", "[system-seed]", "[get]"]);
    assert_eq!(row("pods/exec"), ["pods/exec", "[]", "[]", "[create]"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("selfsubjectaccessreviews.authorization.k8s.io")),
        "{list}"
    );

    let whoami = asker.ok(&["auth", "whoami"]);
    assert!(
        whoami.contains(&format!("Username    {}", asker.user()))
            && whoami.contains(
                "Groups      [system:serviceaccounts system:serviceaccounts:3scale system:authenticated]"
            ),
        "{whoami}"
    );

    // The admin may do anything.
    assert_eq!(sim().ok(&["auth", "can-i", "*", "*"]), "yes\n");
}

#[test]
fn a_deleted_service_accounts_token_is_unauthorized_and_stays_so() {
    let gone = Account::new(
        "gone",
        "- {apiGroups: [''], resources: [configmaps], verbs: [list]}",
    );
    gone.ok(&["get", "configmaps", "-o", "name"]);
    sim().ok(&["delete", "serviceaccount", "gone"]);
    let refused = gone.refused(&["get", "configmaps"]);
    assert!(
        refused.contains("error: You must be logged in to the server (Unauthorized)"),
        "{refused}"
    );
    // A new account of the same name is another account: the old token is not its.
    sim().ok(&["create", "serviceaccount", "gone"]);
    let refused = gone.refused(&["get", "configmaps"]);
    assert!(refused.contains("(Unauthorized)"), "{refused}");
    let fresh = sim().ok(&["create", "token", "gone"]).trim().to_string();
    assert_ne!(fresh, gone.token);
}

#[test]
fn create_token_honours_the_duration_and_refuses_a_missing_account() {
    let missing = sim().kubectl(&["create", "token", "nobody"]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "error: failed to create token: serviceaccounts \"nobody\" not found"
    );
    sim().ok(&["create", "serviceaccount", "timed"]);
    let short = sim().kubectl(&["create", "token", "timed", "--duration=5m"]);
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr)
            .contains("may not specify a duration less than 10 minutes"),
        "{short:?}"
    );

    let request = sim().dir.join("token-request.json");
    std::fs::write(
        &request,
        r#"{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}}"#,
    )
    .unwrap();
    let answer: Value = serde_json::from_str(&sim().ok(&[
        "create",
        "--raw",
        "/api/v1/namespaces/3scale/serviceaccounts/timed/token",
        "-f",
        request.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(answer["spec"]["expirationSeconds"], 7200);
    let expires = chrono::DateTime::parse_from_rfc3339(
        answer["status"]["expirationTimestamp"].as_str().unwrap(),
    )
    .unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((7190..=7200).contains(&left), "{left} s left");
    assert!(!answer["status"]["token"].as_str().unwrap().is_empty());
}

#[test]
fn the_admin_token_still_does_everything() {
    let secrets = sim().ok(&["get", "secrets", "-o", "name"]);
    assert!(secrets.contains("secret/system-seed"), "{secrets}");
    let pod = sim().pod("system-mysql");
    assert_eq!(sim().ok(&["exec", &pod, "--", "echo", "admin"]), "admin\n");
    sim().sim(&["events"]);

    // and manages the RBAC kinds like any other: apply, get (by short name too), delete.
    apply(
        "managed",
        "- {apiGroups: [''], resources: [pods], verbs: [get]}",
    );
    let listed = sim().ok(&[
        "get",
        "sa/managed",
        "role/managed",
        "rolebinding/managed",
        "-o",
        "name",
    ]);
    assert_eq!(
        listed,
        "serviceaccount/managed\nrole.rbac.authorization.k8s.io/managed\nrolebinding.rbac.authorization.k8s.io/managed\n"
    );
    let binding = sim().json("rolebinding", "managed");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["subjects"][0]["name"], "managed");
    let file = sim().dir.join("rbac-managed.yaml");
    let deleted = sim().ok(&["delete", "-f", file.to_str().unwrap()]);
    assert_eq!(
        deleted,
        "serviceaccount \"managed\" deleted\nrole.rbac.authorization.k8s.io \"managed\" deleted\nrolebinding.rbac.authorization.k8s.io \"managed\" deleted\n"
    );
}
