//! What a file is, read with a Wasm parser and never run: a component or not, which
//! contract version it was built for, what it exports, and its embedded manifest.

use std::fmt::Write;
use std::path::Path;

use wasmparser::{Encoding, Parser, Payload};

use contract::{CONTRACT, CONTRACT_MAJOR, CONTRACT_VERSION, Hook, MANIFEST_SECTION, Manifest};

use crate::capabilities::Grant;
use crate::error::{Error, Result};
use crate::printable::printable;

#[derive(Debug, Clone)]
pub struct Examined {
    pub manifest: Manifest,
    pub manifest_text: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

pub fn examine(path: &Path, bytes: &[u8]) -> Result<Examined> {
    let bad = |m: String| Error::bad_plugin(path, m);
    if !bytes.starts_with(b"\0asm") {
        let head = &bytes[..bytes.len().min(4096)];
        let text = std::str::from_utf8(head).is_ok() || head.iter().all(|b| b.is_ascii());
        return Err(bad(if bytes.is_empty() {
            "is empty, not a WebAssembly component".into()
        } else if text {
            "is a text file, not a WebAssembly component".into()
        } else {
            "is not a WebAssembly file".into()
        }));
    }
    let mut depth = 0i32;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut manifest_text = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| bad(format!("is not valid WebAssembly: {e}")))?;
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => {
                return Err(bad(
                    "is a core WebAssembly module, not a component: build the plugin with guest-sdk for --target wasm32-wasip2".into(),
                ));
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import =
                        import.map_err(|e| bad(format!("is not valid WebAssembly: {e}")))?;
                    imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    let export =
                        export.map_err(|e| bad(format!("is not valid WebAssembly: {e}")))?;
                    exports.push(export.name.name.to_string());
                }
            }
            Payload::CustomSection(reader) if reader.name() == MANIFEST_SECTION => {
                // Tools differ in which of two sections they read (the first, the last,
                // the outermost); a file that could show one manifest and be granted
                // from another is refused.
                if manifest_text.is_some() {
                    return Err(bad(format!(
                        "has more than one `{MANIFEST_SECTION}` section, so what it may do is ambiguous"
                    )));
                }
                let text = std::str::from_utf8(reader.data())
                    .map_err(|_| bad("has a manifest that is not UTF-8 text".into()))?;
                manifest_text = Some(text.to_string());
            }
            _ => {}
        }
    }
    check_contract(&imports, &exports).map_err(bad)?;
    let manifest_text = manifest_text.ok_or_else(|| {
        bad(format!("has no `{MANIFEST_SECTION}` section: it was not built with guest-sdk's export_plugin!, so what it may do is unknown"))
    })?;
    let manifest = Manifest::parse(&manifest_text).map_err(|e| bad(e.to_string()))?;
    for hook in &manifest.hooks {
        if !exports.iter().any(|e| e == hook.name()) {
            return Err(bad(format!(
                "lists the hook `{hook}` but does not export it"
            )));
        }
    }
    Ok(Examined {
        manifest,
        manifest_text,
        imports,
        exports,
    })
}

/// `host inspect`'s text: what the plugin is and what it may do. Every line goes through
/// [`printable`]: the manifest is the plugin author's text.
pub fn render(file: &Path, examined: &Examined) -> String {
    let m = &examined.manifest;
    let mut lines = vec![format!("{} {} ({})", m.name, m.version, file.display())];
    if !m.description.is_empty() {
        lines.push(format!("  {}", m.description));
    }
    lines.push(format!("  3scale versions: {}", m.threescale.join(", ")));
    if !m.after.is_empty() {
        lines.push(format!("  runs after:      {}", m.after.join(", ")));
    }
    lines.push(format!("  hooks:           {}", m.hook_list()));
    if m.restore_when == contract::manifest::RestoreWhen::Resumed {
        lines.push(
            "  restores:        once the quiesced plugins are back (restore-when = \"resumed\"), out of their outage".to_string(),
        );
    }
    lines.push("  capabilities:".to_string());
    let caps = Grant::describe(m);
    if caps.is_empty() {
        lines.push("    (none)".to_string());
    }
    lines.extend(caps.into_iter().map(|c| format!("    {c}")));
    // The same grants in RBAC's words: what the Role of whoever runs the plugin must
    // allow (`host rbac` prints it for a whole set).
    let rules = crate::rbac::plugin_rules(m);
    if !rules.is_empty() {
        lines.push("  Kubernetes RBAC it needs (host rbac prints the Role):".to_string());
        lines.extend(rules.iter().map(|r| format!("    {}", r.words())));
    }
    let mut out = String::new();
    for line in lines {
        let _ = writeln!(out, "{}", printable(&line));
    }
    out
}

/// The component must speak the host's major contract version and export the world's functions.
fn check_contract(imports: &[String], exports: &[String]) -> std::result::Result<(), String> {
    for name in imports
        .iter()
        .filter(|n| n.starts_with(&format!("{CONTRACT}/")))
    {
        let version = name.split_once('@').map(|(_, v)| v).unwrap_or("");
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u64>().ok());
        if major != Some(CONTRACT_MAJOR) {
            return Err(format!(
                "was built for contract {CONTRACT}@{version} (it imports `{name}`); this host speaks {CONTRACT}@{CONTRACT_VERSION}"
            ));
        }
    }
    let world: Vec<&str> = std::iter::once(Hook::Describe)
        .chain(Hook::LISTABLE)
        .map(Hook::name)
        .collect();
    let missing: Vec<&str> = world
        .iter()
        .copied()
        .filter(|f| !exports.iter().any(|e| e == f))
        .collect();
    if missing.len() == world.len() {
        let shown = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        return Err(format!(
            "is a component of another world, not a {CONTRACT} plugin (it exports {shown})"
        ));
    }
    if !missing.is_empty() {
        return Err(format!(
            "does not export {} of the {CONTRACT} world",
            missing.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> String {
        examine(Path::new("x.wasm"), bytes).unwrap_err().to_string()
    }

    #[test]
    fn files_that_are_not_plugins_say_what_they_are() {
        assert!(err(b"").contains("empty"));
        assert!(err(b"name = \"zync\"\n").contains("text file"));
        assert!(err(&[0xff, 0xfe, 0x00, 0x80, 0x81]).contains("not a WebAssembly file"));
        let core = wat::parse_str("(module (func (export \"backup\")))").unwrap();
        assert!(err(&core).contains("core WebAssembly module"));
        let other = wat::parse_str("(component (core module $m (func (export \"run\"))) (core instance $i (instantiate $m)) (func $f (canon lift (core func $i \"run\"))) (export \"run\" (func $f)))").unwrap();
        assert!(err(&other).contains("another world"), "{}", err(&other));
    }

    #[test]
    fn the_contract_version_is_the_wit_packages() {
        let wit = include_str!("../../../wit/plugin.wit");
        assert!(
            wit.contains(&format!("package {CONTRACT}@{CONTRACT_VERSION};")),
            "contract::CONTRACT_VERSION differs from wit/plugin.wit's package version"
        );
    }

    #[test]
    fn contract_versions_are_checked() {
        let ok = ["host:plugin/pods@2.0.0".to_string()];
        let all: Vec<String> = ["describe", "backup", "quiesce", "restore", "resume"]
            .map(String::from)
            .to_vec();
        assert!(check_contract(&ok, &all).is_ok());
        let v1 = ["host:plugin/cluster@1.0.0".to_string()];
        let m = check_contract(&v1, &all).unwrap_err();
        assert!(
            m.contains("host:plugin@1.0.0")
                && m.contains(&format!("host:plugin@{CONTRACT_VERSION}")),
            "{m}"
        );
        let partial = vec!["describe".to_string(), "backup".to_string()];
        assert!(
            check_contract(&ok, &partial)
                .unwrap_err()
                .contains("quiesce")
        );
    }
}
