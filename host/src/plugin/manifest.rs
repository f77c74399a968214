//! The plugin manifest (TOML, embedded in the component; format in `wit/README.md`):
//! what the plugin is and every capability it asks for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::capability::selector::Selector;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// 3scale versions the plugin supports.
    pub threescale: Vec<String>,
    /// Position in a full restore, lower first.
    pub order: u32,
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    #[serde(default)]
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Backup,
    Quiesce,
    Restore,
    Resume,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Backup => "backup",
            Hook::Quiesce => "quiesce",
            Hook::Restore => "restore",
            Hook::Resume => "resume",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Label selectors of the pods the plugin may exec and copy in.
    #[serde(default)]
    pub exec: Vec<String>,
    #[serde(default)]
    pub read: Vec<KindGrant>,
    #[serde(default)]
    pub write: Vec<KindGrant>,
    #[serde(default)]
    pub patch: Vec<PatchGrant>,
    /// Deployments the plugin may restart and wait for.
    #[serde(default)]
    pub rollout: Vec<String>,
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
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| format!("its manifest is not valid: {e}"))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn has_hook(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }

    pub fn artifact(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }

    fn validate(&self) -> Result<(), String> {
        let bad = |m: String| Err(format!("its manifest is not valid: {m}"));
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return bad(format!(
                "name `{}` must be lowercase letters, digits and dashes",
                self.name
            ));
        }
        if self.hooks.is_empty() {
            return bad("it lists no hooks".into());
        }
        let mut hooks = self.hooks.clone();
        hooks.sort();
        hooks.dedup();
        if hooks.len() != self.hooks.len() {
            return bad("a hook is listed twice".into());
        }
        if self.threescale.is_empty() {
            return bad("it names no 3scale version (threescale = [\"2.15\"])".into());
        }
        for a in &self.artifacts {
            if let Err(e) = check_relative_path(&a.path) {
                return bad(format!("artifact `{}`: {e}", a.path));
            }
        }
        for (i, a) in self.artifacts.iter().enumerate() {
            for b in &self.artifacts[i + 1..] {
                if a.path == b.path
                    || b.path.starts_with(&format!("{}/", a.path))
                    || a.path.starts_with(&format!("{}/", b.path))
                {
                    return bad(format!("artifacts `{}` and `{}` overlap", a.path, b.path));
                }
            }
        }
        for s in &self.capabilities.exec {
            Selector::parse(s)
                .map_err(|e| format!("its manifest is not valid: exec selector `{s}`: {e}"))?;
        }
        for p in &self.capabilities.patch {
            if p.paths.is_empty() {
                return bad(format!("patch grant for {} lists no paths", p.kind));
            }
            for path in &p.paths {
                if !path.starts_with('/') {
                    return bad(format!(
                        "patch path `{path}` must be a JSON pointer starting with /"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A path inside the backup set: relative, `/`-separated, no `.` or `..` or empty parts.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.starts_with('/') {
        return Err("absolute paths are not allowed".into());
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("backslashes and NUL are not allowed".into());
    }
    for part in path.split('/') {
        match part {
            "" => return Err("empty path component".into()),
            "." | ".." => return Err(format!("`{part}` is not allowed")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZYNC: &str = r#"
name = "zync-database"
version = "0.1.0"
threescale = ["2.15"]
order = 60
hooks = ["backup", "restore", "resume"]

[[artifacts]]
path = "zync-database-backup.gz"
format = "gzip"

[capabilities]
exec = ["deployment=zync-database"]
read = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager" }]
patch = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager", paths = ["/spec/zync"] }]
"#;

    #[test]
    fn parses_a_plugin_manifest() {
        let m = Manifest::parse(ZYNC).unwrap();
        assert_eq!(m.name, "zync-database");
        assert!(m.has_hook(Hook::Restore) && !m.has_hook(Hook::Quiesce));
        assert_eq!(m.artifacts[0].format, Format::Gzip);
        assert_eq!(m.capabilities.patch[0].paths, vec!["/spec/zync"]);
    }

    #[test]
    fn refuses_bad_manifests() {
        let bad = |from: &str, to: &str| Manifest::parse(&ZYNC.replace(from, to)).unwrap_err();
        assert!(bad("format = \"gzip\"", "format = \"zip\"").contains("format"));
        assert!(bad("zync-database-backup.gz", "../escape.gz").contains(".."));
        assert!(bad("zync-database-backup.gz", "/abs.gz").contains("absolute"));
        assert!(bad("\"/spec/zync\"", "\"spec/zync\"").contains("JSON pointer"));
        assert!(
            bad(
                "hooks = [\"backup\", \"restore\", \"resume\"]",
                "hooks = []"
            )
            .contains("no hooks")
        );
        assert!(
            bad(
                "hooks = [\"backup\", \"restore\", \"resume\"]",
                "hooks = [\"backup\", \"explode\"]"
            )
            .contains("explode")
        );
        assert!(bad("order = 60", "order = 60\nsurprise = true").contains("surprise"));
    }

    #[test]
    fn relative_paths() {
        assert!(check_relative_path("system/provider-1/file.css").is_ok());
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./x",
            "a\\b",
        ] {
            assert!(check_relative_path(p).is_err(), "{p}");
        }
    }
}
