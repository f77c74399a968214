//! `manifest.json`: what a backup set holds and how to check it. Written last, atomically,
//! so a set without one was never finished by `host` (or was made by hand).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use contract::manifest::Format;

pub const FORMAT: &str = "host-backup-set/1";
pub const FILE: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetManifest {
    pub format: String,
    pub tool: Tool,
    pub namespace: String,
    /// As the cluster's APIManager reported it when the backup ran.
    pub threescale_version: Option<String>,
    pub started: String,
    pub finished: String,
    /// By plugin name.
    pub components: BTreeMap<String, Component>,
    /// Every plugin the set was made with, by name (also those that write nothing), so a
    /// restore can refuse plugins other than these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, PluginRecord>,
    /// Components whose last backup failed, with why. Their older artifacts (if any) are
    /// not trusted for a restore.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, String>,
    /// Every artifact file is an age file (see `encryption.rs`); how, never which keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<super::encryption::Encryption>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Component {
    pub plugin: PluginRecord,
    pub started: String,
    pub finished: String,
    /// One entry per file; a directory artifact lists each file under it.
    pub artifacts: Vec<ArtifactRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginRecord {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArtifactRecord {
    pub path: String,
    /// The declared artifact this file belongs to (itself, or the directory it is in).
    pub artifact: String,
    pub format: Format,
    /// Of the file as stored (an encrypted set's age file).
    pub size: u64,
    pub sha256: String,
    /// The plaintext's size, for an encrypted file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_size: Option<u64>,
    /// A tree file's modification time in its pod (seconds): an incremental backup
    /// reuses the file when size and mtime are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<u64>,
}

impl SetManifest {
    pub fn new(
        namespace: &str,
        threescale_version: Option<String>,
        started: String,
    ) -> SetManifest {
        SetManifest {
            format: FORMAT.to_string(),
            tool: Tool {
                name: "host".to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            namespace: namespace.to_string(),
            threescale_version,
            started: started.clone(),
            finished: started,
            components: BTreeMap::new(),
            plugins: BTreeMap::new(),
            failed: BTreeMap::new(),
            encryption: None,
        }
    }
}

/// RFC 3339 in UTC, to the millisecond: a component of a small set is backed up well
/// within a second, and `host describe` shows how long each took.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
