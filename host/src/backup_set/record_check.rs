//! What manifest.json's records must be before any file is read: a record's path is its
//! artifact (a file) or lies inside it (a tree), is a plain path of the set, has the
//! artifact's format, and is listed once, so a record cannot vouch for a decoy while the
//! plugin reads another file. Checked as the records stream past (`manifest_stream.rs`):
//! each artifact keeps a count and a 16-byte digest of each path listed, not the paths,
//! which is enough to find a path listed twice and, in a tree, a file listed by none.

use std::collections::{BTreeMap, HashSet};

use sha2::{Digest, Sha256};

use super::manifest::ArtifactRecord;
use contract::manifest::{Artifact, Format, Manifest};
use contract::paths::{check_relative_path, is_within};

/// The artifacts whose records are checked, by component and then by path.
pub struct Records {
    by_component: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Every record is checked, its artifact known from its first record (what `host
    /// seal` vouches for); otherwise only those of the artifacts declared beforehand.
    every: bool,
}

/// One artifact's records, as far as read.
pub struct Tally {
    pub artifact: Artifact,
    pub records: usize,
    /// A digest of each path listed (see [`path_digest`]).
    paths: HashSet<[u8; 16]>,
    /// The first thing wrong with a record, told once the rest of the manifest (its
    /// seal, its namespace) has been checked.
    pub fault: Option<String>,
}

impl Records {
    /// The records of the artifacts `plugins` declare; those of other components or
    /// other artifacts are not read by any of them, and are ignored.
    pub fn declared<'a>(plugins: impl Iterator<Item = &'a Manifest>) -> Records {
        let mut by_component: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
        for plugin in plugins {
            let artifacts = by_component.entry(plugin.name.clone()).or_default();
            for a in &plugin.artifacts {
                artifacts.insert(a.path.clone(), Tally::new(a.clone()));
            }
        }
        Records {
            by_component,
            every: false,
        }
    }

    /// Every record of the manifest, whatever the plugins.
    pub fn every() -> Records {
        Records {
            by_component: BTreeMap::new(),
            every: true,
        }
    }

    /// Notes one record as it is parsed.
    pub fn note(&mut self, component: &str, record: &ArtifactRecord) {
        let known = self
            .by_component
            .get(component)
            .is_some_and(|a| a.contains_key(&record.artifact));
        if !known {
            if !self.every {
                return;
            }
            self.by_component
                .entry(component.to_string())
                .or_default()
                .insert(
                    record.artifact.clone(),
                    Tally::new(Artifact {
                        path: record.artifact.clone(),
                        format: record.format,
                        optional: false,
                        content: None,
                    }),
                );
        }
        if let Some(tally) = self
            .by_component
            .get_mut(component)
            .and_then(|a| a.get_mut(&record.artifact))
        {
            tally.note(record);
        }
    }

    /// The artifact `record` of `component` belongs to, if its records are checked.
    pub fn get(&self, component: &str, artifact: &str) -> Option<&Tally> {
        self.by_component.get(component)?.get(artifact)
    }

    /// Every artifact checked, by component.
    pub fn iter(&self) -> impl Iterator<Item = &Tally> {
        self.by_component.values().flat_map(|a| a.values())
    }
}

impl Tally {
    fn new(artifact: Artifact) -> Tally {
        Tally {
            artifact,
            records: 0,
            paths: HashSet::new(),
            fault: None,
        }
    }

    fn note(&mut self, r: &ArtifactRecord) {
        self.records += 1;
        if self.fault.is_some() {
            return;
        }
        if let Err(e) = self.check(r) {
            self.fault = Some(e);
        } else if !self.paths.insert(path_digest(&r.path)) {
            self.fault = Some(format!("manifest.json lists `{}` twice", r.path));
        } else if self.artifact.format != Format::Tree && self.records > 1 {
            self.fault = Some(format!(
                "manifest.json lists artifact `{}` more than once",
                self.artifact.path
            ));
        }
    }

    /// What one record must be, alone: a plain path of the set, inside its artifact, of
    /// its artifact's format.
    pub fn check(&self, r: &ArtifactRecord) -> Result<(), String> {
        let artifact = &self.artifact;
        if let Err(e) = check_relative_path(&r.path) {
            return Err(format!(
                "manifest.json's record `{}` for artifact `{}` is not a path of the set: {e}",
                r.path, artifact.path
            ));
        }
        let inside = match artifact.format {
            Format::Tree => is_within(&r.path, &artifact.path) && r.path != artifact.path,
            _ => r.path == artifact.path,
        };
        if !inside {
            return Err(format!(
                "manifest.json's record for artifact `{}` names `{}`, another file: tampered",
                artifact.path, r.path
            ));
        }
        if r.format != artifact.format {
            return Err(format!(
                "manifest.json records `{}` as {}, the plugin declares {}",
                r.path,
                r.format.name(),
                artifact.format.name()
            ));
        }
        Ok(())
    }

    /// Whether a record lists `path`. Two paths of one digest would make a file seem
    /// listed that is not; the count of a tree's files against its records still finds
    /// it (see `verify.rs`), so a collision can refuse a set, never pass one.
    pub fn lists(&self, path: &str) -> bool {
        self.paths.contains(&path_digest(path))
    }
}

/// The first 16 bytes of the path's sha256: 100,000 paths in under 3 MB, where the paths
/// themselves took some 10 MB, and no two paths of a real set share one.
fn path_digest(path: &str) -> [u8; 16] {
    let digest = Sha256::digest(path.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, artifact: &str, format: Format) -> ArtifactRecord {
        ArtifactRecord {
            path: path.into(),
            artifact: artifact.into(),
            format,
            size: 1,
            sha256: "00".into(),
            plain_size: None,
            mtime: None,
        }
    }

    fn tree() -> Manifest {
        Manifest {
            name: "system-storage".into(),
            version: "1.0.0".into(),
            description: String::new(),
            threescale: vec![],
            after: vec![],
            hooks: vec![],
            restore_when: Default::default(),
            artifacts: vec![Artifact {
                path: "system".into(),
                format: Format::Tree,
                optional: false,
                content: None,
            }],
            capabilities: Default::default(),
        }
    }

    #[test]
    fn a_path_listed_twice_deep_in_a_tree_is_found() {
        let plugin = tree();
        let mut records = Records::declared(std::iter::once(&plugin));
        for i in 0..50_000 {
            records.note(
                "system-storage",
                &record(&format!("system/{i}"), "system", Format::Tree),
            );
        }
        let tally = records.get("system-storage", "system").unwrap();
        assert!(tally.fault.is_none());
        assert!(tally.lists("system/49999") && !tally.lists("system/50000"));
        records.note(
            "system-storage",
            &record("system/31337", "system", Format::Tree),
        );
        let tally = records.get("system-storage", "system").unwrap();
        assert_eq!(
            tally.fault.as_deref(),
            Some("manifest.json lists `system/31337` twice")
        );
    }

    #[test]
    fn records_outside_their_artifact_or_of_undeclared_ones() {
        let plugin = tree();
        let mut records = Records::declared(std::iter::once(&plugin));
        // Not read by any plugin: not checked.
        records.note("zync", &record("../x", "zync.gz", Format::Gzip));
        records.note("system-storage", &record("other", "other", Format::Raw));
        assert_eq!(records.iter().count(), 1);
        records.note(
            "system-storage",
            &record("system-mysql-backup.gz", "system", Format::Tree),
        );
        let fault = records
            .get("system-storage", "system")
            .unwrap()
            .fault
            .clone();
        assert!(fault.unwrap().contains("another file: tampered"));

        let mut every = Records::every();
        every.note("zync", &record("zync.gz", "zync.gz", Format::Gzip));
        every.note("zync", &record("zync.gz", "zync.gz", Format::Gzip));
        let fault = every.get("zync", "zync.gz").unwrap().fault.clone();
        assert_eq!(
            fault.as_deref(),
            Some("manifest.json lists `zync.gz` twice")
        );
    }
}
