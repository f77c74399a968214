//! `host plugin new NAME`: a plugin crate that builds for wasm32-wasip2, passes `host
//! inspect`, and backs up something real (the namespace's APIManager objects) with the
//! narrowest grant that does it, as a start to edit.
//!
//! Where the crate goes decides its shape. Inside this repository, at a path the
//! workspace's `members` take in (`plugins/3scale-2.15/NAME`), it is a member like its
//! siblings. Anywhere else it is a workspace of its own (so cargo does not take it for a
//! stray member of an enclosing one) with the plugin profile of `scripts/build-plugins`,
//! and reaches guest-sdk and host-contract by path: found by walking up from the new
//! crate to this repository, or given with `--sdk`.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// What `host plugin new` made.
#[derive(Debug)]
pub struct Made {
    pub dir: PathBuf,
    /// A member of the enclosing workspace (built by `scripts/build-plugins`).
    pub member: bool,
    /// The wasm file `cargo build --release --target wasm32-wasip2` writes, relative to
    /// the crate's target directory.
    pub wasm: String,
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

/// The directory holding guest-sdk/ and contract/ (this repository's root) at or above
/// `start`.
fn find_sdk(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| {
            d.join("guest-sdk/Cargo.toml").is_file() && d.join("contract/Cargo.toml").is_file()
        })
        .map(Path::to_path_buf)
}

/// `dir` made absolute and free of `.`/`..` without touching the filesystem (it does not
/// exist yet).
fn absolute(dir: &Path) -> Result<PathBuf> {
    let base = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let mut out = PathBuf::new();
    for c in base.join(dir).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Whether `rel` (a path below the workspace root) matches one of the workspace's member
/// patterns (`plugins/3scale-*/*`): a `*` stands for one path component, as in cargo's
/// globs.
fn is_member(root: &Path, rel: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join("Cargo.toml")) else {
        return false;
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return false;
    };
    let members = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    members.iter().filter_map(|m| m.as_str()).any(|pattern| {
        let pats: Vec<&str> = pattern.split('/').collect();
        pats.len() == parts.len() && pats.iter().zip(&parts).all(|(p, part)| glob_one(p, part))
    })
}

/// One path component against a pattern with `*` wildcards.
fn glob_one(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_one(tail, &rest[i..]))
        }
    }
}

/// A relative path from `from` to `to` (both absolute), for a Cargo.toml path dependency
/// that still works when the two move together.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// Writes the crate `name` into `dir` (default: `./NAME`), for 3scale `threescale`.
pub fn new(name: &str, dir: Option<&Path>, sdk: Option<&Path>, threescale: &str) -> Result<Made> {
    if !valid_name(name) {
        return Err(Error::Invalid(format!(
            "`{name}` is not a plugin name: lowercase letters, digits and `-`, starting with a letter (it names the crate, the component and its artifact)"
        )));
    }
    let dir = absolute(dir.unwrap_or(Path::new(name)))?;
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Invalid(format!(
            "{} exists and is not empty: not overwritten",
            dir.display()
        )));
    }
    let sdk = match sdk {
        Some(s) => absolute(s)?,
        None => find_sdk(&dir).ok_or_else(|| {
            Error::Invalid(format!(
                "{} is not inside a host source tree: give --sdk DIR, the checkout holding guest-sdk/ and contract/",
                dir.display()
            ))
        })?,
    };
    if find_sdk(&sdk).as_deref() != Some(sdk.as_path()) {
        return Err(Error::Invalid(format!(
            "{} holds no guest-sdk/ and contract/: --sdk is the host source tree's root",
            sdk.display()
        )));
    }
    let member = dir.strip_prefix(&sdk).is_ok_and(|rel| is_member(&sdk, rel));
    let to_sdk = relative(&dir, &sdk);
    let lib = name.replace('-', "_");
    let files = [
        ("Cargo.toml", cargo_toml(name, &lib, &to_sdk, member)),
        ("plugin.toml", plugin_toml(name, threescale)),
        ("build.rs", BUILD_RS.to_string()),
        ("src/lib.rs", lib_rs(name)),
        ("README.md", readme(name, member)),
    ];
    std::fs::create_dir_all(dir.join("src")).map_err(|e| Error::io(&dir, e))?;
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(Made {
        dir,
        member,
        wasm: format!("wasm32-wasip2/release/{lib}.wasm"),
    })
}

fn cargo_toml(name: &str, lib: &str, to_sdk: &Path, member: bool) -> String {
    let sdk = to_sdk.display();
    let package = if member {
        "version.workspace = true\nedition.workspace = true\nlicense.workspace = true"
    } else {
        "version = \"0.1.0\"\nedition = \"2024\""
    };
    let mut out = format!(
        r#"[package]
name = "{name}"
{package}
publish = false

[lib]
name = "{lib}"
# A component for wasm32-wasip2: `cargo build --release --target wasm32-wasip2`.
crate-type = ["cdylib"]

[dependencies]
guest-sdk = {{ path = "{sdk}/guest-sdk" }}

[build-dependencies]
# build.rs checks plugin.toml: a manifest the host would refuse fails the build.
host-contract = {{ path = "{sdk}/contract" }}
"#
    );
    if !member {
        out.push_str(
            r#"
# A workspace of its own, so it builds wherever it sits.
[workspace]

# As scripts/build-plugins builds the shipped plugins: small, no unwinding.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#,
        );
    }
    out
}

fn plugin_toml(name: &str, threescale: &str) -> String {
    format!(
        r#"# The plugin's manifest: what it is and the narrowest grant that does its job. The host
# reads it from the built component without running it (`host inspect`) and refuses every
# call outside it. The grammar: contract/src/manifest.rs.
name = "{name}"
version = "0.1.0"
description = "{name}: the namespace's APIManager objects, backed up as JSON"
# The 3scale releases whose procedure this plugin follows; a run on another is refused.
threescale = ["{threescale}"]
# Plugins whose steps must come first in every phase, e.g. ["secrets", "configmaps"].
after = []
hooks = ["backup", "restore"]

[[artifacts]]
path = "{name}.json"
format = "json"

[capabilities]
read = [{{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager" }}]
"#
    )
}

const BUILD_RS: &str = "fn main() {
    contract::build::check_plugin_manifest();
}
";

fn lib_rs(name: &str) -> String {
    let type_name: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let type_name = if type_name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("P{type_name}")
    } else {
        type_name
    };
    format!(
        r#"//! {name}: a host plugin. Its hooks run in the host's sandbox and reach the cluster
//! and the backup set only as plugin.toml allows; `host inspect` shows what that is.

use guest_sdk::prelude::*;

const ARTIFACT: &str = "{name}.json";

struct {type_name};

impl Plugin for {type_name} {{
    fn backup() -> Result<()> {{
        let found = objects::list("apps.3scale.net/v1alpha1", "APIManager", "")?;
        let text = json::to_vec_pretty(&found).or_invalid("encoding the APIManagers")?;
        store::write(ARTIFACT, &text)?;
        info!("{{}} APIManager(s) -> {{ARTIFACT}}", found.len());
        Ok(())
    }}

    fn restore() -> Result<()> {{
        let saved: Vec<Value> =
            json::from_str(&store::read_to_string(ARTIFACT)?).or_invalid("reading the set")?;
        // A start: it reads what the backup wrote and changes nothing. Grant `write` or
        // `patch` in plugin.toml before putting objects back.
        info!("{{ARTIFACT}} holds {{}} APIManager(s); nothing to put back", saved.len());
        Ok(())
    }}
}}

guest_sdk::export_plugin!({type_name});
"#
    )
}

fn readme(name: &str, member: bool) -> String {
    let build = if member {
        "`./scripts/build-plugins` builds it into `target/plugins/3scale-VERSION/`".to_string()
    } else {
        format!(
            "`cargo build --release --target wasm32-wasip2` builds `target/wasm32-wasip2/release/{}.wasm`",
            name.replace('-', "_")
        )
    };
    format!(
        "# {name}\n\nA host plugin: {build}; `host inspect` on the file shows what it may do, \
`host run backup --plugin FILE` runs its backup, and `host plugin sign` signs it for \
`--require-signed`.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_patterns_match_one_component_per_star() {
        assert!(glob_one("3scale-*", "3scale-2.15"));
        assert!(glob_one("*", "zync"));
        assert!(!glob_one("3scale-*", "threescale"));
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"host\", \"plugins/3scale-*/*\"]\n",
        )
        .unwrap();
        assert!(is_member(root.path(), Path::new("plugins/3scale-2.15/new")));
        assert!(!is_member(root.path(), Path::new("plugins/new")));
        assert!(!is_member(root.path(), Path::new("target/tmp/x/new")));
    }

    #[test]
    fn names_and_paths() {
        assert!(valid_name("my-plugin2"));
        for bad in ["", "My", "2x", "a_b", "a-", "../x"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            relative(Path::new("/w/target/tmp/x/p"), Path::new("/w")),
            Path::new("../../../..")
        );
        assert_eq!(
            relative(Path::new("/w/plugins/3scale-2.15/p"), Path::new("/w")),
            Path::new("../../..")
        );
    }

    #[test]
    fn nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep"), b"x").unwrap();
        let e = new("p", Some(dir.path()), None, "2.15").unwrap_err();
        assert!(e.to_string().contains("not overwritten"), "{e}");
    }
}
