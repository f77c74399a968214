//! Plugin sets, one per 3scale release. A directory of `*.wasm` files is one set; a
//! directory whose subdirectories are sets (`target/plugins/` with `3scale-2.14/` and
//! `3scale-2.15/`, or the default `$XDG_DATA_HOME/host/plugins`) holds several, and a run
//! takes the one whose manifests declare the release it works on. The manifests are read
//! from the files without running (or compiling) anything.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plugin::inspect;
use crate::run::version::supports;

/// What a `--plugins` directory holds.
#[derive(Debug)]
pub enum Layout {
    /// The directory is one set (or holds nothing, which loading it reports).
    One,
    /// Sets in its subdirectories; one is chosen once the 3scale version is known.
    Several(Sets),
}

#[derive(Debug)]
pub struct Sets {
    pub dir: PathBuf,
    pub sets: Vec<Set>,
}

#[derive(Debug)]
pub struct Set {
    pub dir: PathBuf,
    /// The 3scale versions every plugin of the set declares.
    pub versions: Vec<String>,
    /// Why the set cannot be used (a file that is not a plugin this host runs); such a
    /// set is never chosen, and named when none fits.
    pub unusable: Option<String>,
}

/// The set a run takes, and the line that says why.
#[derive(Debug)]
pub struct Chosen {
    pub dir: PathBuf,
    pub reason: String,
}

/// One set, or several in subdirectories.
pub fn survey(dir: &Path) -> Result<Layout> {
    if !super::wasm_files(dir)?.is_empty() {
        return Ok(Layout::One);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    let mut sets = Vec::new();
    for sub in subdirs {
        let files = super::wasm_files(&sub)?;
        if files.is_empty() {
            continue;
        }
        let mut versions: Option<Vec<String>> = None;
        let mut unusable = None;
        for file in &files {
            let examined = super::read(file).and_then(|bytes| inspect::examine(file, &bytes));
            let declared = match examined {
                Ok(e) => e.manifest.threescale,
                Err(e) => {
                    unusable = Some(e.to_string());
                    break;
                }
            };
            versions = Some(match versions {
                None => declared,
                Some(v) => v.into_iter().filter(|x| declared.contains(x)).collect(),
            });
        }
        sets.push(Set {
            dir: sub,
            versions: if unusable.is_some() {
                Vec::new()
            } else {
                versions.unwrap_or_default()
            },
            unusable,
        });
    }
    Ok(if sets.is_empty() {
        Layout::One
    } else {
        Layout::Several(Sets {
            dir: dir.to_path_buf(),
            sets,
        })
    })
}

impl Sets {
    /// The set whose plugins all declare `version`; `source` says where the version was
    /// read, for the line that reports the choice and for a refusal.
    pub fn choose(&self, version: Option<&str>, source: &str) -> Result<Chosen> {
        let Some(version) = version else {
            return Err(Error::Refused(format!(
                "{} holds plugin sets for {}, and which to use depends on the 3scale version: {source}; give --plugins DIR/SET",
                self.dir.display(),
                self.offered()
            )));
        };
        let fitting: Vec<&Set> = self
            .sets
            .iter()
            .filter(|s| supports(&s.versions, version))
            .collect();
        match fitting.as_slice() {
            [one] => Ok(Chosen {
                dir: one.dir.clone(),
                reason: format!(
                    "plugin set {} (3scale {}) chosen from {}: {source}",
                    one.dir.display(),
                    one.versions.join(", "),
                    self.dir.display()
                ),
            }),
            [] => Err(Error::Refused(format!(
                "no plugin set in {} is for 3scale {version} ({source}); it holds sets for {}",
                self.dir.display(),
                self.offered()
            ))),
            many => Err(Error::Refused(format!(
                "{} plugin sets in {} are for 3scale {version}: {}; give --plugins DIR/SET",
                many.len(),
                self.dir.display(),
                many.iter()
                    .map(|s| s.dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// `3scale 2.14 (3scale-2.14/), 3scale 2.15 (3scale-2.15/)`.
    fn offered(&self) -> String {
        self.sets
            .iter()
            .map(|s| {
                let name = s
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Some(why) = &s.unusable {
                    format!("none ({name}/: {why})")
                } else if s.versions.is_empty() {
                    format!("no one version ({name}/: its plugins disagree)")
                } else {
                    format!("3scale {} ({name}/)", s.versions.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where sets are installed when `--plugins` is not given: `$XDG_DATA_HOME/host/plugins`,
/// else `~/.local/share/host/plugins` (the XDG Base Directory default).
pub fn default_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .map(|h| h.join(".local/share"))
        })?;
    Some(data.join("host/plugins"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets() -> Sets {
        Sets {
            dir: "plugins".into(),
            sets: vec![
                Set {
                    dir: "plugins/3scale-2.14".into(),
                    versions: vec!["2.14".into()],
                    unusable: None,
                },
                Set {
                    dir: "plugins/3scale-2.15".into(),
                    versions: vec!["2.15".into()],
                    unusable: None,
                },
                Set {
                    dir: "plugins/test".into(),
                    versions: Vec::new(),
                    unusable: Some("broken.wasm: is not a WebAssembly file".into()),
                },
            ],
        }
    }

    #[test]
    fn the_set_that_declares_the_version_is_chosen_and_the_line_says_why() {
        let chosen = sets()
            .choose(Some("2.15.5"), "the APIManager says so")
            .unwrap();
        assert_eq!(chosen.dir, Path::new("plugins/3scale-2.15"));
        assert_eq!(
            chosen.reason,
            "plugin set plugins/3scale-2.15 (3scale 2.15) chosen from plugins: the APIManager says so"
        );
        let chosen = sets().choose(Some("2.14"), "").unwrap();
        assert_eq!(chosen.dir, Path::new("plugins/3scale-2.14"));
    }

    #[test]
    fn no_fitting_set_is_refused_with_what_there_is() {
        let e = sets().choose(Some("2.13"), "from the cluster").unwrap_err();
        assert!(matches!(e, Error::Refused(_)));
        assert_eq!(
            e.to_string(),
            "no plugin set in plugins is for 3scale 2.13 (from the cluster); it holds sets for 3scale 2.14 (3scale-2.14/), 3scale 2.15 (3scale-2.15/), none (test/: broken.wasm: is not a WebAssembly file)"
        );
        let e = sets().choose(None, "no APIManager").unwrap_err();
        assert!(e.to_string().contains("give --plugins DIR/SET"), "{e}");
    }

    #[test]
    fn a_directory_of_sets_is_told_from_a_set() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(survey(dir.path()).unwrap(), Layout::One));
        std::fs::create_dir(dir.path().join("3scale-2.15")).unwrap();
        std::fs::write(dir.path().join("3scale-2.15/zync.wasm"), b"not wasm").unwrap();
        // The subdirectory's files are read: a set with a broken one is never chosen.
        let Layout::Several(sets) = survey(dir.path()).unwrap() else {
            panic!("a directory of sets")
        };
        let e = sets.choose(Some("2.15"), "").unwrap_err().to_string();
        assert!(e.contains("3scale-2.15/zync.wasm"), "{e}");
        std::fs::write(dir.path().join("zync.wasm"), b"not wasm").unwrap();
        assert!(matches!(survey(dir.path()).unwrap(), Layout::One));
    }
}
