//! The plugin manifest: `plugin.toml`, embedded in the component's `host-plugin-manifest`
//! section, read by the host without running the plugin. This is the one definition of
//! its grammar; `wit/README.md` shows an example and points here.
//!
//! ```toml
//! name = "zync-database"      # lowercase, digits, dashes; unique in a plugin set
//! version = "0.2.0"
//! description = "zync's PostgreSQL database (manual 9.4.5 and 9.5.4.1)"
//! threescale = ["2.15"]       # 3scale releases the plugin is written for
//! after = ["apimanager"]      # plugins whose steps run before this one's, in every phase
//! hooks = ["backup", "restore", "resume"]   # of backup, quiesce, restore, resume
//! restore-when = "resumed"    # quiesced (the default): the restore runs while the
//!                             # quiescing plugins (system-app) hold their workloads
//!                             # down; resumed: once their resume hooks have put them
//!                             # back, out of the outage, for a load that needs nothing
//!                             # held but what it holds itself
//!
//! [[artifacts]]               # what the plugin writes into (and reads from) the set
//! path = "zync-database-backup.gz"
//! format = "gzip"             # gzip | json | rdb | tree | raw
//! optional = false            # true: a set without it restores with a warning
//! content = "postgresql-dump" # what the stream is, if a client will read it: mysql-dump
//!                             # | postgresql-dump. The host then refuses client commands
//!                             # in it (psql's `\!`, mysql's `system`) where it is
//!                             # streamed into a pod and when a hand-made set is verified.
//!
//! [capabilities]
//! # Pods the plugin may exec and copy in, by label selector; find-pod takes exactly one
//! # of these selectors. A table names the container (else the pod's default container,
//! # as kubectl picks it) and may narrow the commands (argv[0]) the plugin may run there;
//! # copying files runs `tar`. An exec grant is full control of the container (its
//! # environment and mounted secrets, its service-account token, its network): the list
//! # narrows what is run, it does not sandbox it (`bash -c` runs anything).
//! exec = ["deployment=zync-database",
//!         { selector = "deployment=system-app", container = "system-master", commands = ["tar"] }]
//! # get, list and wait-for. `names` omitted: any name of that kind in the namespace.
//! read = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager" }]
//! # apply (create or replace).
//! write = [{ api-version = "v1", kind = "ConfigMap", names = ["system-environment"] }]
//! # patch, only under these JSON-pointer prefixes.
//! patch = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager", paths = ["/spec/zync"] }]
//! # rollout restart and status of these Deployments, and rollout latest and status of
//! # these OpenShift DeploymentConfigs.
//! rollout = ["zync", "zync-que", { deployment-config = "system-app" }]
//! ```

use serde::{Deserialize, Serialize};

use crate::error::ManifestError;
use crate::hook::Hook;
use crate::names::{check_object_name, is_dns_label, is_kind, split_api_version};
use crate::paths::{check_relative_path, overlap};
use crate::selector::Selector;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// 3scale versions the plugin supports.
    pub threescale: Vec<String>,
    /// Plugins whose steps come before this plugin's in each phase of a restore.
    #[serde(default)]
    pub after: Vec<String>,
    pub hooks: Vec<Hook>,
    /// Whether the restore hook needs the quiescing plugins' workloads held down.
    #[serde(default, skip_serializing_if = "RestoreWhen::is_default")]
    pub restore_when: RestoreWhen,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// When a plugin's restore runs, against the quiesces of a restore (system-app scaled to
/// 0: the admin and developer portals' outage).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreWhen {
    /// While every quiescing plugin holds its workloads down (unless that plugin comes
    /// after this one, whose restore then runs before the quiesce).
    #[default]
    Quiesced,
    /// Once the quiescing plugins' resume hooks have put their workloads back: the load
    /// needs nothing held but what it holds itself, so it stays out of the outage.
    Resumed,
}

impl RestoreWhen {
    fn is_default(&self) -> bool {
        *self == RestoreWhen::Quiesced
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Artifact {
    /// Relative to the backup set's root, `/`-separated.
    pub path: String,
    pub format: Format,
    /// A set without it restores with a warning (hand-made sets may lack it).
    #[serde(default)]
    pub optional: bool,
    /// What the (decompressed) bytes are, when a database client will read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

/// A stream a database client reads as a script. Such a script can hold the client's own
/// commands (psql's `\!` runs a shell, mysql's `system` too), which a dump never needs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Content {
    /// mysqldump's output, for the `mysql` (MariaDB) client.
    MysqlDump,
    /// pg_dump's plain output, for `psql`.
    PostgresqlDump,
}

impl Content {
    pub fn name(self) -> &'static str {
        match self {
            Content::MysqlDump => "mysql-dump",
            Content::PostgresqlDump => "postgresql-dump",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Gzip,
    Json,
    Rdb,
    /// A directory of files.
    Tree,
    Raw,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Json => "json",
            Format::Rdb => "rdb",
            Format::Tree => "tree",
            Format::Raw => "raw",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    #[serde(default)]
    pub exec: Vec<ExecGrant>,
    #[serde(default)]
    pub read: Vec<KindGrant>,
    #[serde(default)]
    pub write: Vec<KindGrant>,
    #[serde(default)]
    pub patch: Vec<PatchGrant>,
    /// Deployments (and DeploymentConfigs) the plugin may roll out and wait for.
    #[serde(default)]
    pub rollout: Vec<RolloutGrant>,
}

/// A workload the plugin may roll out: a Deployment by name, or an OpenShift
/// DeploymentConfig (`{ deployment-config = "NAME" }`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RolloutGrant {
    Deployment(String),
    Config(ConfigTarget),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigTarget {
    pub deployment_config: String,
}

impl RolloutGrant {
    pub fn name(&self) -> &str {
        match self {
            RolloutGrant::Deployment(n) => n,
            RolloutGrant::Config(c) => &c.deployment_config,
        }
    }
}

/// Pods a plugin may run commands in, and which of their containers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ExecGrant {
    /// Only a selector: the pod's default container.
    Selector(String),
    Detailed(ExecTarget),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecTarget {
    pub selector: String,
    /// The container commands run in. Pods with several containers (3scale's system-app
    /// has system-master, system-provider and system-developer) need one named, or the
    /// pod's `kubectl.kubernetes.io/default-container`, or its first, is taken.
    #[serde(default)]
    pub container: Option<String>,
    /// The commands (argv[0], exactly) the plugin may run; `None`: any. Copying files
    /// runs `tar`.
    #[serde(default)]
    pub commands: Option<Vec<String>>,
}

impl ExecGrant {
    pub fn selector(&self) -> &str {
        match self {
            ExecGrant::Selector(s) => s,
            ExecGrant::Detailed(t) => &t.selector,
        }
    }

    pub fn container(&self) -> Option<&str> {
        match self {
            ExecGrant::Selector(_) => None,
            ExecGrant::Detailed(t) => t.container.as_deref(),
        }
    }

    /// The commands the grant allows (argv[0]); `None`: any command.
    pub fn commands(&self) -> Option<&[String]> {
        match self {
            ExecGrant::Selector(_) => None,
            ExecGrant::Detailed(t) => t.commands.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KindGrant {
    pub api_version: String,
    pub kind: String,
    /// `None`: any name of that kind in the namespace.
    #[serde(default)]
    pub names: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PatchGrant {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// JSON-pointer prefixes a patch may touch.
    pub paths: Vec<String>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn has_hook(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }

    pub fn artifact(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }

    /// The manifest's hooks as a person reads them, in phase order.
    pub fn hook_list(&self) -> String {
        Hook::LISTABLE
            .iter()
            .filter(|h| self.has_hook(**h))
            .map(|h| h.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let rule = |m: String| Err(ManifestError::Rule(m));
        if !is_plugin_name(&self.name) {
            return rule(format!(
                "name `{}` must be lowercase letters, digits and dashes",
                self.name
            ));
        }
        if self.hooks.is_empty() {
            return rule("it lists no hooks".into());
        }
        if self.has_hook(Hook::Describe) {
            return rule("`describe` is always exported; do not list it in hooks".into());
        }
        let mut hooks = self.hooks.clone();
        hooks.sort();
        hooks.dedup();
        if hooks.len() != self.hooks.len() {
            return rule("a hook is listed twice".into());
        }
        if self.restore_when == RestoreWhen::Resumed {
            if !self.has_hook(Hook::Restore) {
                return rule("`restore-when` is set, but it has no restore hook".into());
            }
            if self.has_hook(Hook::Quiesce) {
                return rule(
                    "a plugin that quiesces restores while it holds its workloads down: `restore-when = \"resumed\"` would restore after its own resume".into(),
                );
            }
        }
        if self.threescale.is_empty() {
            return rule("it names no 3scale version (threescale = [\"2.15\"])".into());
        }
        for name in &self.after {
            if !is_plugin_name(name) {
                return rule(format!(
                    "`after` names `{name}`, which is not a plugin name"
                ));
            }
            if *name == self.name {
                return rule("a plugin cannot come after itself".into());
            }
        }
        for a in &self.artifacts {
            if let Err(e) = check_relative_path(&a.path) {
                return rule(format!("artifact `{}`: {e}", a.path));
            }
            if a.path.chars().any(char::is_control) {
                return rule(format!(
                    "artifact `{}`: control characters are not allowed",
                    a.path.escape_debug()
                ));
            }
            if let Some(c) = a.content
                && !matches!(a.format, Format::Gzip | Format::Raw)
            {
                return rule(format!(
                    "artifact `{}`: content `{}` needs format gzip or raw (a stream)",
                    a.path,
                    c.name()
                ));
            }
        }
        for v in std::iter::once(&self.version).chain(&self.threescale) {
            if !is_version(v) {
                return rule(format!(
                    "`{}` is not a version (letters, digits, `.`, `-`, `+`)",
                    v.escape_debug()
                ));
            }
        }
        for (i, a) in self.artifacts.iter().enumerate() {
            for b in &self.artifacts[i + 1..] {
                if overlap(&a.path, &b.path) {
                    return rule(format!("artifacts `{}` and `{}` overlap", a.path, b.path));
                }
            }
        }
        for g in &self.capabilities.exec {
            Selector::parse(g.selector()).map_err(|e| {
                ManifestError::Rule(format!("exec selector `{}`: {e}", g.selector()))
            })?;
            if let Some(c) = g.container()
                && !is_dns_label(c)
            {
                return rule(format!("container `{c}` is not a container name"));
            }
            if let Some(commands) = g.commands() {
                check_commands(g.selector(), commands)?;
            }
        }
        check_kinds(&self.capabilities)?;
        for p in &self.capabilities.patch {
            if p.paths.is_empty() {
                return rule(format!("patch grant for {} lists no paths", p.kind));
            }
            for path in &p.paths {
                if !path.starts_with('/') {
                    return rule(format!(
                        "patch path `{path}` must be a JSON pointer starting with /"
                    ));
                }
            }
        }
        for r in &self.capabilities.rollout {
            if !is_dns_label(r.name()) {
                return rule(format!(
                    "rollout names `{}`, which is not a workload name",
                    r.name()
                ));
            }
        }
        Ok(())
    }
}

/// Each kind, API version and name a read, write or patch grant names, in the API
/// server's own spelling: what `host inspect` shows is then exactly what is reached.
fn check_kinds(c: &Capabilities) -> Result<(), ManifestError> {
    let grants = c
        .read
        .iter()
        .chain(&c.write)
        .map(|g| (&g.api_version, &g.kind, &g.names))
        .chain(c.patch.iter().map(|g| (&g.api_version, &g.kind, &g.names)));
    for (api_version, kind, names) in grants {
        split_api_version(api_version).map_err(ManifestError::Rule)?;
        if !is_kind(kind) {
            return Err(ManifestError::Rule(format!(
                "`{}` is not a kind as the API server spells it (`Secret`, `ConfigMap`: kinds are case-sensitive)",
                kind.escape_debug()
            )));
        }
        for name in names.iter().flatten() {
            check_object_name(name)
                .map_err(|e| ManifestError::Rule(format!("{kind}: {}", e.escape_debug())))?;
        }
    }
    Ok(())
}

/// An exec grant's command list: program names or paths, each exactly as argv[0].
fn check_commands(selector: &str, commands: &[String]) -> Result<(), ManifestError> {
    if commands.is_empty() {
        return Err(ManifestError::Rule(format!(
            "the exec grant for {selector} lists no commands: name them, or drop the grant"
        )));
    }
    for c in commands {
        if c.is_empty() || c.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
            return Err(ManifestError::Rule(format!(
                "the exec grant for {selector} lists `{}`, which is not a command name",
                c.escape_debug()
            )));
        }
    }
    Ok(())
}

fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZYNC: &str = r#"
name = "zync-database"
version = "0.1.0"
threescale = ["2.15"]
after = ["apimanager"]
hooks = ["backup", "restore", "resume"]

[[artifacts]]
path = "zync-database-backup.gz"
format = "gzip"
content = "postgresql-dump"

[capabilities]
exec = ["deployment=zync-database", { selector = "deployment=system-app", container = "system-master" }]
read = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager" }]
patch = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager", paths = ["/spec/zync"] }]
rollout = ["zync", { deployment-config = "zync-que" }]
"#;

    #[test]
    fn parses_a_plugin_manifest() {
        let m = Manifest::parse(ZYNC).unwrap();
        assert_eq!(m.name, "zync-database");
        assert!(m.has_hook(Hook::Restore) && !m.has_hook(Hook::Quiesce));
        assert_eq!(m.artifacts[0].format, Format::Gzip);
        assert_eq!(m.artifacts[0].content, Some(Content::PostgresqlDump));
        assert_eq!(m.capabilities.patch[0].paths, vec!["/spec/zync"]);
        assert_eq!(m.after, vec!["apimanager"]);
        assert_eq!(m.capabilities.exec[0].container(), None);
        assert_eq!(m.capabilities.exec[1].container(), Some("system-master"));
        assert_eq!(m.capabilities.exec[1].selector(), "deployment=system-app");
        assert_eq!(m.hook_list(), "backup, restore, resume");
        assert_eq!(
            m.capabilities.rollout[0],
            RolloutGrant::Deployment("zync".into())
        );
        assert_eq!(m.capabilities.rollout[1].name(), "zync-que");
        assert!(matches!(m.capabilities.rollout[1], RolloutGrant::Config(_)));
    }

    #[test]
    fn refuses_bad_manifests() {
        let bad = |from: &str, to: &str| {
            let text = ZYNC.replace(from, to);
            assert_ne!(text, ZYNC, "{from}");
            Manifest::parse(&text).unwrap_err().to_string()
        };
        assert!(bad("format = \"gzip\"", "format = \"zip\"").contains("format"));
        assert!(bad("format = \"gzip\"", "format = \"tree\"").contains("needs format gzip"));
        assert!(bad("\"postgresql-dump\"", "\"oracle-dump\"").contains("content"));
        assert!(bad("zync-database-backup.gz", "../escape.gz").contains(".."));
        assert!(bad("zync-database-backup.gz", "/abs.gz").contains("absolute"));
        assert!(bad("zync-database-backup.gz", "runs").contains("kept by the host"));
        assert!(bad("\"/spec/zync\"", "\"spec/zync\"").contains("JSON pointer"));
        let hooks = "hooks = [\"backup\", \"restore\", \"resume\"]";
        assert!(bad(hooks, "hooks = []").contains("no hooks"));
        assert!(bad(hooks, "hooks = [\"backup\", \"explode\"]").contains("explode"));
        assert!(bad(hooks, "hooks = [\"backup\", \"describe\"]").contains("always exported"));
        assert!(bad(hooks, "hooks = [\"backup\", \"backup\"]").contains("twice"));
        assert!(bad("after = [\"apimanager\"]", "after = [\"zync-database\"]").contains("itself"));
        assert!(
            bad("after = [\"apimanager\"]", "after = [\"Api Manager\"]")
                .contains("not a plugin name")
        );
        assert!(
            bad(
                "container = \"system-master\"",
                "container = \"System_Master\""
            )
            .contains("container")
        );
        assert!(bad("after = [\"apimanager\"]", "after = []\norder = 60").contains("order"));
        assert!(
            bad(
                "deployment-config = \"zync-que\"",
                "deployment-config = \"zync que\""
            )
            .contains("workload")
        );
        assert!(
            bad(
                "{ deployment-config = \"zync-que\" }",
                "{ deploymentconfig = \"zync-que\" }"
            )
            .contains("rollout")
        );
        assert!(
            bad("format = \"gzip\"", "format = \"gzip\"\n\n[[artifacts]]\npath = \"zync-database-backup.gz/x\"\nformat = \"raw\"")
                .contains("overlap")
        );
    }

    #[test]
    fn grants_name_kinds_and_objects_as_the_api_server_does() {
        let bad = |from: &str, to: &str| {
            let text = ZYNC.replace(from, to);
            assert_ne!(text, ZYNC, "{from}");
            Manifest::parse(&text).unwrap_err().to_string()
        };
        let kind = "kind = \"APIManager\" }]\npatch";
        assert!(bad(kind, "kind = \"apimanager\" }]\npatch").contains("case-sensitive"));
        assert!(bad(kind, "kind = \"PodMetrics/x\" }]\npatch").contains("not a kind"));
        let api = "read = [{ api-version = \"apps.3scale.net/v1alpha1\"";
        assert!(bad(api, "read = [{ api-version = \"/v1\"").contains("not an API version"));
        assert!(
            bad(
                "kind = \"APIManager\" }]\npatch",
                "kind = \"APIManager\", names = [\"x/status\"] }]\npatch"
            )
            .contains("subresource")
        );
        assert!(
            bad(
                "kind = \"APIManager\" }]\npatch",
                "kind = \"APIManager\", names = [\"svc:80\"] }]\npatch"
            )
            .contains("not a Kubernetes object name")
        );
        assert!(bad("zync-database-backup.gz", "zync\\u001b[2J.gz").contains("control characters"));
        assert!(bad("version = \"0.1.0\"", "version = \"0.1\\u001b\"").contains("not a version"));
    }

    #[test]
    fn exec_grants_may_narrow_the_commands() {
        let narrowed = ZYNC.replace(
            "container = \"system-master\" }",
            "container = \"system-master\", commands = [\"bash\", \"tar\"] }",
        );
        let m = Manifest::parse(&narrowed).unwrap();
        assert_eq!(m.capabilities.exec[0].commands(), None);
        assert_eq!(
            m.capabilities.exec[1].commands(),
            Some(&["bash".to_string(), "tar".to_string()][..])
        );
        for (list, why) in [
            ("[]", "lists no commands"),
            ("[\"\"]", "not a command name"),
            ("[\"bash -c\"]", "not a command name"),
        ] {
            let text = ZYNC.replace(
                "container = \"system-master\" }",
                &format!("container = \"system-master\", commands = {list} }}"),
            );
            let e = Manifest::parse(&text).unwrap_err().to_string();
            assert!(e.contains(why), "{list}: {e}");
        }
    }
}
