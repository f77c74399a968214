//! The `read`, `write` and `patch` capabilities and `host:plugin/objects`: Kubernetes
//! objects by kind and name, patches only under granted JSON-pointer paths.
//!
//! Kinds, API versions and names are checked against the API server's grammar before
//! anything else (`contract::names`): they end up in URLs. A patch reads nothing it may
//! not read: it must change a granted path, its `copy` and `test` ops read only granted
//! paths, and the patched object comes back whole only to a plugin that may read it.

use std::time::Duration;

use contract::Manifest;
use contract::manifest::{KindGrant, PatchGrant};
use contract::names::{check_object_name, is_kind, split_api_version};
use contract::patch_paths::{is_under, json_patch_paths, merge_patch_paths};
use serde_json::Value;

use super::bindings::host::plugin::objects::{self, PatchType};
use super::bindings::host::plugin::types::ResourceRef;
use super::{Call, Grant as FullGrant, HostError, HostState, list_or_none};
use crate::cluster::wait::Condition;
use crate::cluster::{ObjectPermit, PatchKind, PodFacts};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Grant {
    namespace: String,
    read: Vec<KindGrant>,
    write: Vec<KindGrant>,
    patch: Vec<PatchGrant>,
}

impl Grant {
    pub fn new(manifest: &Manifest, namespace: &str) -> Grant {
        let c = &manifest.capabilities;
        Grant {
            namespace: namespace.to_string(),
            read: c.read.clone(),
            write: c.write.clone(),
            patch: c.patch.clone(),
        }
    }
}

fn names(n: &Option<Vec<String>>) -> String {
    match n {
        Some(n) => n.join(", "),
        None => "any name".to_string(),
    }
}

/// `host inspect`'s words for the object grants.
pub fn describe(manifest: &Manifest) -> Vec<String> {
    let c = &manifest.capabilities;
    let mut out = Vec::new();
    for g in &c.read {
        out.push(format!(
            "read {} ({}): {}",
            g.kind,
            g.api_version,
            names(&g.names)
        ));
    }
    for g in &c.write {
        out.push(format!(
            "create or replace {} ({}): {}",
            g.kind,
            g.api_version,
            names(&g.names)
        ));
    }
    for g in &c.patch {
        out.push(format!(
            "patch {} ({}): {}, at {}",
            g.kind,
            g.api_version,
            names(&g.names),
            g.paths.join(", ")
        ));
    }
    out
}

/// The API requests the object grants make (cluster/resources.rs): a read is a `get`
/// (and `wait-for` polls with `get`), or a `list` when any name is granted; a write is a
/// `create`, then a `get` and an `update` (replace) when the object exists; a patch is a
/// `patch`. RBAC cannot narrow `create` by name (the name is in the body, not the URL),
/// nor a patch by JSON path: those stay the host's check.
pub fn rbac(manifest: &Manifest) -> Vec<crate::cluster::rbac::Rule> {
    use crate::cluster::rbac::Rule;
    let c = &manifest.capabilities;
    let mut rules = Vec::new();
    for g in &c.read {
        let verbs: &[&str] = if g.names.is_some() {
            &["get"]
        } else {
            &["get", "list"]
        };
        rules.push(Rule::for_kind(
            &g.api_version,
            &g.kind,
            verbs,
            g.names.as_deref(),
        ));
    }
    for g in &c.write {
        rules.push(Rule::for_kind(&g.api_version, &g.kind, &["create"], None));
        rules.push(Rule::for_kind(
            &g.api_version,
            &g.kind,
            &["get", "update"],
            g.names.as_deref(),
        ));
    }
    for g in &c.patch {
        rules.push(Rule::for_kind(
            &g.api_version,
            &g.kind,
            &["patch"],
            g.names.as_deref(),
        ));
    }
    rules
}

fn names_allow(names: &Option<Vec<String>>, name: Option<&str>) -> bool {
    match (names, name) {
        (None, _) => true,
        (Some(names), Some(name)) => names.iter().any(|n| n == name),
        // Listing a kind reveals every name; only a grant for any name allows it.
        (Some(_), None) => false,
    }
}

/// The API server's grammar for what a call names, before any grant is looked at.
fn well_formed(api_version: &str, kind: &str, name: Option<&str>) -> Result<()> {
    split_api_version(api_version).map_err(Error::Invalid)?;
    if !is_kind(kind) {
        return Err(Error::Invalid(format!(
            "`{}` is not a kind as the API server spells it (`Secret`, `ConfigMap`: kinds are case-sensitive)",
            crate::audit::cut(kind, 100)
        )));
    }
    if let Some(name) = name {
        check_object_name(name).map_err(Error::Invalid)?;
    }
    Ok(())
}

/// The biggest object or patch a plugin may send: the API server's own limit on a
/// request body (3 MiB); anything bigger is refused before it is parsed.
pub const BODY_LIMIT: usize = 3 << 20;

fn parse_body(what: &str, text: &str) -> std::result::Result<Value, String> {
    if text.len() > BODY_LIMIT {
        return Err(format!(
            "the {what} is {} bytes; the API server takes at most {} MiB",
            text.len(),
            BODY_LIMIT >> 20
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

fn check_kind(
    grants: &[KindGrant],
    what: &str,
    api_version: &str,
    kind: &str,
    name: Option<&str>,
) -> Result<ObjectPermit> {
    well_formed(api_version, kind, name)?;
    if grants
        .iter()
        .any(|g| g.api_version == api_version && g.kind == kind && names_allow(&g.names, name))
    {
        return Ok(ObjectPermit::issue(api_version, kind, name));
    }
    let target = match name {
        Some(n) => format!("{kind} ({api_version}) `{n}`"),
        None => format!("listing {kind} ({api_version})"),
    };
    let granted: Vec<String> = grants
        .iter()
        .map(|g| match &g.names {
            Some(n) => format!("{} {}", g.kind, n.join("/")),
            None => format!("{} (any)", g.kind),
        })
        .collect();
    Err(Error::Denied(format!(
        "{target} needs a {what} capability for it; granted {what}: {}",
        list_or_none(&granted)
    )))
}

pub struct Get {
    api_version: String,
    kind: String,
    name: String,
}

impl Get {
    pub fn new(api_version: &str, kind: &str, name: &str) -> Get {
        Get {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }
}

impl Call for Get {
    type Permit = ObjectPermit;
    fn audit(&self) -> (&'static str, String) {
        (
            "get",
            format!("{}.{}/{}", self.kind, self.api_version, self.name),
        )
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<ObjectPermit> {
        check_kind(
            &g.objects.read,
            "read",
            &self.api_version,
            &self.kind,
            Some(&self.name),
        )
    }
}

pub struct List {
    api_version: String,
    kind: String,
}

impl Call for List {
    type Permit = ObjectPermit;
    fn audit(&self) -> (&'static str, String) {
        ("list", format!("{}.{}", self.kind, self.api_version))
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<ObjectPermit> {
        check_kind(&g.objects.read, "read", &self.api_version, &self.kind, None)
    }
}

pub struct Apply {
    object: std::result::Result<Value, String>,
}

impl Call for Apply {
    type Permit = ObjectPermit;
    fn audit(&self) -> (&'static str, String) {
        let o = self.object.as_ref().unwrap_or(&Value::Null);
        (
            "apply",
            format!(
                "{}.{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["apiVersion"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            ),
        )
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<ObjectPermit> {
        let object = self
            .object
            .as_ref()
            .map_err(|e| Error::Invalid(e.clone()))?;
        let field = |v: &Value, what: &str| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::Invalid(format!("the object has no {what}")))
        };
        let api_version = field(&object["apiVersion"], "apiVersion")?;
        let kind = field(&object["kind"], "kind")?;
        let name = field(&object["metadata"]["name"], "metadata.name")?;
        if let Some(ns) = object["metadata"]["namespace"].as_str()
            && !ns.is_empty()
            && ns != g.objects.namespace
        {
            return Err(Error::Denied(format!(
                "apply into namespace `{ns}`: this run targets namespace `{}` only",
                g.objects.namespace
            )));
        }
        check_kind(&g.objects.write, "write", &api_version, &kind, Some(&name))
    }
}

pub struct Patch {
    target: ResourceRef,
    kind: PatchKind,
    body: std::result::Result<Value, String>,
}

impl Patch {
    /// The paths the body changes and reads; a body that cannot be parsed is invalid.
    fn reach(&self) -> Result<(Vec<String>, Vec<String>)> {
        let body = self.body.as_ref().map_err(|e| Error::Invalid(e.clone()))?;
        Ok(match self.kind {
            PatchKind::Json => {
                let r = json_patch_paths(body).map_err(|e| Error::Invalid(e.to_string()))?;
                (r.changed, r.read)
            }
            PatchKind::Merge | PatchKind::Strategic => (merge_patch_paths(body), Vec::new()),
        })
    }
}

impl Call for Patch {
    type Permit = ObjectPermit;
    fn audit(&self) -> (&'static str, String) {
        let t = &self.target;
        // A Secret's values must not land in the audit log: only the paths are kept.
        let body = match (&self.body, t.kind.as_str()) {
            (Err(e), _) => format!("({e})"),
            (Ok(_), "Secret") => match self.reach() {
                Ok((changed, _)) => format!(
                    "(a Secret's values, not recorded) at {}",
                    changed.join(", ")
                ),
                Err(_) => "(a Secret's values, not recorded)".to_string(),
            },
            (Ok(b), _) => b.to_string(),
        };
        (
            "patch",
            format!(
                "{}.{}/{} ({:?}) {body}",
                t.kind, t.api_version, t.name, self.kind
            ),
        )
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<ObjectPermit> {
        let t = &self.target;
        well_formed(&t.api_version, &t.kind, Some(&t.name))?;
        let (changed, read) = self.reach()?;
        let grants: Vec<&PatchGrant> = g
            .objects
            .patch
            .iter()
            .filter(|p| {
                p.api_version == t.api_version
                    && p.kind == t.kind
                    && names_allow(&p.names, Some(&t.name))
            })
            .collect();
        if grants.is_empty() {
            return Err(Error::Denied(format!(
                "patch of {} ({}) `{}` needs a patch capability for it; the plugin has none",
                t.kind, t.api_version, t.name
            )));
        }
        let allowed: Vec<&str> = grants
            .iter()
            .flat_map(|p| p.paths.iter().map(String::as_str))
            .collect();
        // An empty patch, or one that only tests, changes nothing and would return the
        // whole object: a read through the patch grant.
        if changed.is_empty() {
            return Err(Error::Denied(format!(
                "patch of {} `{}` changes nothing; a patch must change something under the granted paths {}",
                t.kind,
                t.name,
                allowed.join(", ")
            )));
        }
        for (path, verb) in changed
            .iter()
            .map(|p| (p, "touches"))
            .chain(read.iter().map(|p| (p, "reads")))
        {
            if !allowed.iter().any(|q| is_under(path, q)) {
                return Err(Error::Denied(format!(
                    "patch of {} `{}` {verb} {}, outside the granted paths {}",
                    t.kind,
                    t.name,
                    crate::audit::cut(path, 200),
                    allowed.join(", ")
                )));
            }
        }
        Ok(ObjectPermit::issue(&t.api_version, &t.kind, Some(&t.name)))
    }
}

/// The patched object as the plugin may see it: whole if it may read the object, else
/// only what names it (so a patch grant on one path is not a read of the rest, a
/// Secret's values among them).
fn patched_for(g: &FullGrant, target: &ResourceRef, patched: Value) -> Value {
    let readable = check_kind(
        &g.objects.read,
        "read",
        &target.api_version,
        &target.kind,
        Some(&target.name),
    )
    .is_ok();
    if readable {
        return patched;
    }
    let meta = &patched["metadata"];
    serde_json::json!({
        "apiVersion": patched["apiVersion"],
        "kind": patched["kind"],
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "resourceVersion": meta["resourceVersion"],
        },
    })
}

/// `wait-for`: it shows the object's state, so it needs `read` on it.
pub struct WaitFor {
    target: ResourceRef,
    condition: String,
}

impl Call for WaitFor {
    type Permit = (ObjectPermit, Condition);
    fn audit(&self) -> (&'static str, String) {
        let t = &self.target;
        (
            "wait-for",
            format!("{}.{}/{} {}", t.kind, t.api_version, t.name, self.condition),
        )
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<Self::Permit> {
        let condition = Condition::parse(&self.condition)?;
        let t = &self.target;
        let permit = check_kind(
            &g.objects.read,
            "read",
            &t.api_version,
            &t.kind,
            Some(&t.name),
        )?;
        Ok((permit, condition))
    }
}

/// The longest a plugin's wait may be: a plugin asking for `u32::MAX` seconds (136 years)
/// would keep 3scale quiesced until the hook's own limit; the 3scale plugins wait 900 s.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// What a plugin's `timeout-seconds` becomes: at least a second, at most [`MAX_WAIT`].
pub fn wait_timeout(seconds: u32) -> Duration {
    Duration::from_secs(seconds.max(1) as u64).min(MAX_WAIT)
}

impl objects::Host for HostState {
    async fn get(&mut self, target: ResourceRef) -> std::result::Result<String, HostError> {
        let call = Get::new(&target.api_version, &target.kind, &target.name);
        self.guarded(call, async |permit, ctx| {
            ctx.run.cluster.get(&permit).await.map(|v| v.to_string())
        })
        .await
    }

    async fn list(
        &mut self,
        api_version: String,
        kind: String,
        label_selector: String,
    ) -> std::result::Result<String, HostError> {
        self.guarded(List { api_version, kind }, async move |permit, ctx| {
            ctx.run
                .cluster
                .list(&permit, &label_selector)
                .await
                .map(|v| v.to_string())
        })
        .await
    }

    async fn apply(&mut self, manifest: String) -> std::result::Result<String, HostError> {
        let object = parse_body("object", &manifest);
        drop(manifest);
        let body = object.clone().unwrap_or(Value::Null);
        self.guarded(Apply { object }, async move |permit, ctx| {
            ctx.run
                .cluster
                .apply(&permit, &body)
                .await
                .map(|v| v.to_string())
        })
        .await
    }

    async fn patch(
        &mut self,
        target: ResourceRef,
        patch_type: PatchType,
        body: String,
    ) -> std::result::Result<String, HostError> {
        let kind = match patch_type {
            PatchType::Merge => PatchKind::Merge,
            PatchType::Json => PatchKind::Json,
            PatchType::Strategic => PatchKind::Strategic,
        };
        let body = parse_body("patch", &body);
        let value = body.clone().unwrap_or(Value::Null);
        let shown = target.clone();
        self.guarded(Patch { target, kind, body }, async move |permit, ctx| {
            let patched = ctx.run.cluster.patch(&permit, kind, &value).await?;
            Ok(patched_for(&ctx.grant, &shown, patched).to_string())
        })
        .await
    }

    async fn wait_for(
        &mut self,
        target: ResourceRef,
        condition: String,
        timeout_seconds: u32,
    ) -> std::result::Result<String, HostError> {
        let timeout = wait_timeout(timeout_seconds);
        self.guarded(
            WaitFor { target, condition },
            async move |(permit, condition), ctx| {
                ctx.run
                    .cluster
                    .wait_for(&permit, &condition, timeout)
                    .await
                    .map(|v| v.to_string())
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use contract::Hook;
    use serde_json::json;

    use super::super::testing::{denial, grant};
    use super::*;

    fn target(api_version: &str, kind: &str, name: &str) -> ResourceRef {
        ResourceRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn patch(api: &str, kind: &str, name: &str, k: PatchKind, body: Value) -> Patch {
        Patch {
            target: target(api, kind, name),
            kind: k,
            body: Ok(body),
        }
    }

    #[test]
    fn reads_need_a_read_grant() {
        let g = grant(Hook::Restore);
        Get::new("apps.3scale.net/v1alpha1", "APIManager", "3scale")
            .check(&g, None)
            .unwrap();
        let list = List {
            api_version: "apps.3scale.net/v1alpha1".into(),
            kind: "APIManager".into(),
        };
        list.check(&g, None).unwrap();
        denial(Get::new("v1", "Secret", "system-database").check(&g, None));
        let secrets = List {
            api_version: "v1".into(),
            kind: "Secret".into(),
        };
        denial(secrets.check(&g, None));
        let jobs = List {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
        };
        denial(jobs.check(&g, None));
    }

    #[test]
    fn waits_need_a_read_grant_and_a_condition_kubectl_would_take() {
        let g = grant(Hook::Restore);
        let wait = |kind: &str, name: &str, c: &str| WaitFor {
            target: target(
                if kind == "Job" { "batch/v1" } else { "apps/v1" },
                kind,
                name,
            ),
            condition: c.into(),
        };
        wait("Job", "system-app-pre", "condition=Complete")
            .check(&g, None)
            .unwrap();
        denial(wait("Job", "other", "condition=Complete").check(&g, None));
        denial(wait("Deployment", "system-app", "jsonpath={.spec.replicas}=0").check(&g, None));
        assert!(matches!(
            wait("Job", "system-app-pre", "forever").check(&g, None),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn writes_need_a_write_grant_for_that_name_and_namespace() {
        let g = grant(Hook::Restore);
        let apply = |v: Value| Apply { object: Ok(v) }.check(&g, None);
        apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "system-environment"}})).unwrap();
        denial(apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "redis-config"}}),
        ));
        let m = denial(apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "system-environment", "namespace": "kube-system"}}),
        ));
        assert!(m.contains("kube-system"), "{m}");
        assert!(matches!(
            Apply {
                object: Err("eof".into())
            }
            .check(&g, None),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn names_and_kinds_that_would_bend_the_url_are_invalid() {
        let g = grant(Hook::Restore);
        let invalid = |r: Result<ObjectPermit>| match r {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected invalid, got {other:?}"),
        };
        // APIManager is granted for any name: the name alone must keep the call on it.
        let api = "apps.3scale.net/v1alpha1";
        for name in [
            "x/status",
            "svc:80/proxy/metrics?q=1",
            "../secrets/s",
            "a?b",
            "",
        ] {
            let m = invalid(Get::new(api, "APIManager", name).check(&g, None));
            assert!(m.contains("not a Kubernetes object name"), "{name}: {m}");
        }
        assert!(
            invalid(Get::new("v1", "secret", "system-seed").check(&g, None))
                .contains("case-sensitive")
        );
        assert!(
            invalid(Get::new("/v1", "Secret", "system-seed").check(&g, None))
                .contains("not an API version")
        );
        let wait = WaitFor {
            target: target(api, "APIManager", "3scale/scale"),
            condition: "create".into(),
        };
        assert!(matches!(wait.check(&g, None), Err(Error::Invalid(_))));
        let p = patch(
            api,
            "APIManager",
            "../x",
            PatchKind::Merge,
            json!({"spec": {"zync": 1}}),
        );
        assert!(matches!(p.check(&g, None), Err(Error::Invalid(_))));
        let apply = Apply {
            object: Ok(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "system-environment/status"}}),
            ),
        };
        assert!(matches!(apply.check(&g, None), Err(Error::Invalid(_))));
    }

    #[test]
    fn bodies_past_the_api_servers_limit_are_not_parsed() {
        let huge = format!("[{}0]", "0,".repeat(BODY_LIMIT / 2));
        let m = parse_body("patch", &huge).unwrap_err();
        assert!(m.contains("at most 3 MiB"), "{m}");
        parse_body("patch", "[]").unwrap();
    }

    #[test]
    fn plugin_timeouts_are_capped() {
        assert_eq!(wait_timeout(u32::MAX), MAX_WAIT);
        assert_eq!(wait_timeout(0), Duration::from_secs(1));
        assert_eq!(wait_timeout(900), Duration::from_secs(900));
    }

    #[test]
    fn a_patch_grant_is_not_a_read() {
        let g = grant(Hook::Restore);
        let (api, kind) = ("apps.3scale.net/v1alpha1", "APIManager");
        let p = |k: PatchKind, body: Value| patch(api, kind, "3scale", k, body).check(&g, None);
        assert!(denial(p(PatchKind::Json, json!([]))).contains("changes nothing"));
        let test_only = json!([{"op": "test", "path": "/spec/zync", "value": {}}]);
        denial(p(PatchKind::Json, test_only));
        // A test elsewhere is an oracle for values the plugin may not read.
        let oracle = json!([
            {"op": "test", "path": "/spec/system/database", "value": "guess"},
            {"op": "replace", "path": "/spec/zync", "value": {}}
        ]);
        assert!(denial(p(PatchKind::Json, oracle)).contains("reads /spec/system/database"));
        let copy_in = json!([{"op": "copy", "from": "/spec/system", "path": "/spec/zync/x"}]);
        assert!(denial(p(PatchKind::Json, copy_in)).contains("reads /spec/system"));
        let copy_within = json!([{"op": "copy", "from": "/spec/zync/a", "path": "/spec/zync/b"}]);
        p(PatchKind::Json, copy_within).unwrap();
        denial(p(PatchKind::Merge, json!({})));

        // The object comes back whole only to a plugin that may read it.
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "zync", "namespace": "3scale", "resourceVersion": "7"}, "spec": {"template": {"spec": {"containers": [{"env": [{"name": "SECRET", "value": "s3cr3t"}]}]}}}});
        let shown = patched_for(&g, &target("apps/v1", "Deployment", "zync"), object.clone());
        assert_eq!(
            shown,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "zync", "namespace": "3scale", "resourceVersion": "7"}})
        );
        let readable = patched_for(&g, &target(api, kind, "3scale"), object.clone());
        assert_eq!(readable, object);
    }

    #[test]
    fn secret_values_stay_out_of_the_audit_log() {
        let p = patch(
            "v1",
            "Secret",
            "system-seed",
            PatchKind::Merge,
            json!({"data": {"ADMIN_PASSWORD": "c2VjcmV0LXZhbHVl"}}),
        );
        let (_, target) = p.audit();
        assert!(!target.contains("c2VjcmV0LXZhbHVl"), "{target}");
        assert!(target.contains("/data/ADMIN_PASSWORD"), "{target}");
        let c = patch(
            "v1",
            "ConfigMap",
            "redis-config",
            PatchKind::Merge,
            json!({"data": {"x": "y"}}),
        );
        assert!(c.audit().1.contains(r#"{"data":{"x":"y"}}"#));
    }

    #[test]
    fn patches_only_under_granted_paths() {
        let g = grant(Hook::Restore);
        let (api, kind) = ("apps.3scale.net/v1alpha1", "APIManager");
        let scale =
            json!({"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": {"replicas": 0}}}});
        patch(api, kind, "3scale", PatchKind::Merge, scale)
            .check(&g, None)
            .unwrap();
        let back = json!([{"op": "replace", "path": "/spec/zync", "value": {}}]);
        patch(api, kind, "3scale", PatchKind::Json, back)
            .check(&g, None)
            .unwrap();
        let system = json!({"spec": {"system": {"appSpec": {"replicas": 0}}}});
        let m = denial(patch(api, kind, "3scale", PatchKind::Merge, system).check(&g, None));
        assert!(m.contains("/spec/system/appSpec/replicas"), "{m}");
        denial(patch(api, kind, "3scale", PatchKind::Merge, json!({"spec": null})).check(&g, None));
        let sneaky = json!([{"op": "move", "from": "/spec/system", "path": "/spec/zync/x"}]);
        denial(patch(api, kind, "3scale", PatchKind::Json, sneaky).check(&g, None));
        let replicas = json!({"spec": {"replicas": 1}});
        patch(
            "apps/v1",
            "Deployment",
            "zync",
            PatchKind::Strategic,
            replicas.clone(),
        )
        .check(&g, None)
        .unwrap();
        denial(
            patch(
                "apps/v1",
                "Deployment",
                "system-app",
                PatchKind::Merge,
                replicas,
            )
            .check(&g, None),
        );
    }
}
