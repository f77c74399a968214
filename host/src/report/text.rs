//! The text of `host list`, `host describe` and `host prune`, for people.

use std::fmt::Write;

use super::schema::{Prune, SetDescription};
use crate::progress::human;
use crate::repository::SetEntry;

fn seconds(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into())
}

pub fn list(location: &str, sets: &[SetEntry]) -> String {
    let mut out = String::new();
    if sets.is_empty() {
        let _ = writeln!(out, "{location}: no sets yet");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<34} {:<10} {:>10} {:>8} {:<7} {:<12} {:>5} {:<6}",
        "SET", "RESULT", "SIZE", "TIME", "3SCALE", "NAMESPACE", "COMP", "SEALED"
    );
    for e in sets {
        let m = e.manifest.as_ref();
        let _ = writeln!(
            out,
            "{:<34} {:<10} {:>10} {:>8} {:<7} {:<12} {:>5} {:<6}",
            format!("{}{}", e.name, if e.latest { " *" } else { "" }),
            e.state.word(),
            human(e.bytes),
            seconds(m.and_then(super::schema::duration)),
            m.and_then(|m| m.threescale_version.clone())
                .unwrap_or_else(|| "-".into()),
            m.map(|m| m.namespace.clone()).unwrap_or_else(|| "-".into()),
            m.map(|m| m.components.len().to_string())
                .unwrap_or_else(|| "-".into()),
            if e.sealed { "yes" } else { "no" },
        );
    }
    let _ = writeln!(out, "* latest: what `host restore --repo {location}` takes");
    out
}

pub fn describe(d: &SetDescription) -> String {
    let s = &d.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "set:        {}{}",
        s.name,
        if s.latest { " (latest)" } else { "" }
    );
    let _ = writeln!(out, "path:       {}", s.path.display());
    let _ = writeln!(out, "result:     {}", s.result.word());
    let _ = writeln!(out, "namespace:  {}", s.namespace.as_deref().unwrap_or("-"));
    let _ = writeln!(
        out,
        "3scale:     {}",
        s.threescale_version.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "started:    {}   finished: {}   duration: {}",
        s.started_at,
        s.finished_at.as_deref().unwrap_or("-"),
        seconds(s.duration_seconds)
    );
    let _ = writeln!(out, "size:       {}", human(s.bytes));
    let _ = writeln!(
        out,
        "sealed:     {}",
        match (&d.sealed_by_claimed, s.sealed) {
            (Some(k), _) =>
                format!("yes, by {k} as the seal says (`host verify --trust-key` checks it)"),
            (None, true) => "a seal file is there, but it names no key".into(),
            (None, false) => "no".into(),
        }
    );
    let _ = writeln!(
        out,
        "encrypted:  {}",
        match &s.encryption {
            Some(e) if e.passphrase => format!(
                "yes, every file an age file to the set's own key (restore with --passphrase-file){}",
                match e.recipients.saturating_sub(1) {
                    0 => String::new(),
                    n => format!(" and {n} more recipient{}", if n == 1 { "" } else { "s" }),
                }
            ),
            Some(e) => format!(
                "yes, every file an age file to {} recipient{} (restore with --identity)",
                e.recipients,
                if e.recipients == 1 { "" } else { "s" }
            ),
            None => "no".into(),
        }
    );
    if let Some(tool) = &d.tool {
        let _ = writeln!(out, "made by:    {tool}");
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:>6} {:>10} {:>8}  PLUGIN",
        "COMPONENT", "FILES", "SIZE", "TIME"
    );
    for c in &d.component_details {
        let _ = writeln!(
            out,
            "{:<20} {:>6} {:>10} {:>8}  {} {} ({}, sha256 {})",
            c.name,
            c.files,
            human(c.bytes),
            seconds(c.duration_seconds),
            c.plugin.name,
            c.plugin.version,
            c.plugin.file,
            &c.plugin.sha256[..c.plugin.sha256.len().min(16)]
        );
    }
    for (name, why) in &d.failed {
        let _ = writeln!(out, "{name:<20} FAILED: {why}");
    }
    let others: Vec<String> = d
        .plugins
        .iter()
        .filter(|p| !d.component_details.iter().any(|c| c.name == p.name))
        .map(|p| {
            format!(
                "{} {} (sha256 {})",
                p.name,
                p.version,
                &p.sha256[..p.sha256.len().min(16)]
            )
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "also made with: {}", others.join(", "));
    }
    out
}

pub fn prune(p: &Prune) -> String {
    let mut out = String::new();
    let verb = if p.dry_run { "would delete" } else { "deleted" };
    for s in &p.sets {
        let action = if s.action == "delete" { verb } else { "keep" };
        let _ = writeln!(
            out,
            "{action:<12} {:<32} {:<10} {:>10}  {}",
            s.name,
            s.result.word(),
            human(s.bytes),
            s.reason
        );
    }
    let n = p.sets.iter().filter(|s| s.action == "delete").count();
    let _ = writeln!(
        out,
        "{verb} {n} set{}, {}{}",
        if n == 1 { "" } else { "s" },
        human(p.freed_bytes),
        if p.dry_run {
            " (--dry-run: nothing was deleted)"
        } else {
            ""
        }
    );
    out
}
