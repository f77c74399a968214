use std::fmt;

use serde::{Deserialize, Serialize};

/// A function a plugin exports. `describe` is always exported and runs with nothing
/// granted; the others run only if the manifest lists them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Describe,
    Backup,
    Quiesce,
    Restore,
    Resume,
}

impl Hook {
    /// The hooks a manifest may list, in the order a full restore runs its phases.
    pub const LISTABLE: [Hook; 4] = [Hook::Backup, Hook::Quiesce, Hook::Restore, Hook::Resume];

    pub fn name(self) -> &'static str {
        match self {
            Hook::Describe => "describe",
            Hook::Backup => "backup",
            Hook::Quiesce => "quiesce",
            Hook::Restore => "restore",
            Hook::Resume => "resume",
        }
    }

    /// Whether the backup set is writable during this hook: only while backing up.
    pub fn writes_the_set(self) -> bool {
        self == Hook::Backup
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
