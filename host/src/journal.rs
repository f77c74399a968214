//! A plugin's restore notes (the `journal` WIT interface): key/value pairs written to disk
//! (temp file, fsync, rename) before a call returns, so whatever a restore scaled down can
//! be put back after a failure, a trap, or a crash of the host itself.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    notes: BTreeMap<String, String>,
}

/// Keys and values are for small notes (specs, config files), not data.
const MAX_NOTE: usize = 1 << 20;
const MAX_NOTES: usize = 256;

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        let notes = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io(path, e)),
        };
        Ok(Journal {
            path: path.to_path_buf(),
            notes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    pub fn keys(&self) -> Vec<String> {
        self.notes.keys().cloned().collect()
    }

    pub fn recall(&self, key: &str) -> Option<String> {
        self.notes.get(key).cloned()
    }

    pub fn record(&mut self, key: &str, value: &str) -> Result<()> {
        if key.is_empty() || key.len() > 256 || value.len() > MAX_NOTE {
            return Err(Error::Invalid(format!(
                "journal notes take keys of 1-256 bytes and values up to {MAX_NOTE} bytes"
            )));
        }
        if !self.notes.contains_key(key) && self.notes.len() >= MAX_NOTES {
            return Err(Error::Invalid(format!(
                "a plugin keeps at most {MAX_NOTES} journal notes"
            )));
        }
        self.notes.insert(key.to_string(), value.to_string());
        self.save()
    }

    pub fn forget(&mut self, key: &str) -> Result<()> {
        if self.notes.remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let dir = self
            .path
            .parent()
            .expect("journal files live in a directory");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let text = serde_json::to_vec_pretty(&self.notes).expect("strings serialise");
        file.write_all(&text).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal/zync.json");
        let mut j = Journal::open(&path).unwrap();
        assert!(j.is_empty());
        j.record("zync-spec", r#"{"appSpec":{"replicas":1}}"#)
            .unwrap();
        let reopened = Journal::open(&path).unwrap();
        assert_eq!(
            reopened.recall("zync-spec").as_deref(),
            Some(r#"{"appSpec":{"replicas":1}}"#)
        );
        j.forget("zync-spec").unwrap();
        assert!(Journal::open(&path).unwrap().is_empty());
    }
}
