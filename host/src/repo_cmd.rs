//! `host list`, `host describe` and `host prune`: a repository's sets, read without a
//! cluster.

use std::path::{Path, PathBuf};

use host::error::Error;
use host::report::schema;
use host::report::text;
use host::repository::{self, SetEntry, SetState, prune};

use crate::cli::{Global, RepoArg};
use crate::emit;

pub fn list(g: &Global, location: &Path) -> Result<u8, Error> {
    let repo = repository::open(location, false)?;
    let sets = repo.list()?;
    let body = schema::SetList {
        repository: repo.location(),
        latest: sets.iter().find(|e| e.latest).map(|e| e.name.clone()),
        sets: sets.iter().map(schema::SetSummary::new).collect(),
    };
    emit(g, "SetList", &body, || text::list(&repo.location(), &sets));
    Ok(0)
}

pub fn describe(
    g: &Global,
    repo: &RepoArg,
    backup_dir: &Option<PathBuf>,
    name: Option<&str>,
) -> Result<u8, Error> {
    let entry = match (&repo.repo, backup_dir) {
        (Some(location), _) => repository::open(location, false)?.resolve(name)?,
        (None, dir) => single(dir.clone().unwrap_or_else(|| ".".into()))?,
    };
    let claimed = host::backup_set::BackupSet::at(&entry.location, false)
        .ok()
        .and_then(|set| host::backup_set::seal::claimed_key(&set));
    let body = schema::SetDescription::new(&entry, claimed);
    emit(g, "SetDescription", &body, || text::describe(&body));
    Ok(0)
}

/// A `--backup-dir` set described as a repository's would be.
fn single(path: PathBuf) -> Result<SetEntry, Error> {
    let set = host::backup_set::BackupSet::open(&path)?;
    let manifest = set.manifest()?;
    let time = manifest
        .as_ref()
        .and_then(|m| chrono::DateTime::parse_from_rfc3339(&m.started).ok())
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let state = match &manifest {
        Some(m) if m.failed.is_empty() => SetState::Good,
        Some(_) => SetState::Failed,
        None => SetState::Incomplete,
    };
    let bytes = manifest
        .as_ref()
        .map(|m| {
            m.components
                .values()
                .flat_map(|c| &c.artifacts)
                .map(|a| a.size)
                .sum()
        })
        .unwrap_or(0);
    Ok(SetEntry {
        name: path.display().to_string(),
        state,
        sealed: path.join(host::backup_set::seal::FILE).is_file(),
        location: host::backup_set::SetLocation::Dir(path),
        latest: false,
        time,
        manifest,
        bytes,
    })
}

pub fn prune(
    g: &Global,
    location: &Path,
    policy: prune::Policy,
    dry_run: bool,
) -> Result<u8, Error> {
    let repo = repository::open(location, false)?;
    let sets = repo.list()?;
    let decisions = prune::decide(&sets, policy, chrono::Utc::now());
    let mut freed = 0;
    let mut rows = Vec::new();
    for (d, e) in decisions.iter().zip(&sets) {
        if d.delete {
            if !dry_run {
                repo.remove(e)?;
                if !g.quiet && !crate::format(g).machine() {
                    eprintln!("deleted {} ({})", e.name, host::progress::human(e.bytes));
                }
            }
            freed += e.bytes;
        }
        rows.push(schema::PruneDecision {
            name: e.name.clone(),
            result: e.state,
            action: if d.delete { "delete" } else { "keep" },
            reason: d.why.clone(),
            bytes: e.bytes,
        });
    }
    let body = schema::Prune {
        repository: repo.location(),
        dry_run,
        sets: rows,
        freed_bytes: freed,
    };
    emit(g, "PruneReport", &body, || text::prune(&body));
    Ok(0)
}
