//! Equality-based label selectors (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined): the
//! form grants and plugins use. Kept to that form on purpose: a grant must be readable at
//! a glance.

use std::collections::BTreeMap;
use std::fmt;

/// Why a selector was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Vec<Term>);

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut terms = Vec::new();
        for raw in text.split(',') {
            let t = raw.trim();
            if t.is_empty() {
                return Err(SelectorError("empty term".into()));
            }
            let term = if let Some((k, v)) = t.split_once("!=") {
                Term::NotEquals(key(k)?, value(v)?)
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Term::Equals(key(k)?, value(v)?)
            } else if let Some(k) = t.strip_prefix('!') {
                Term::Absent(key(k)?)
            } else {
                Term::Exists(key(t)?)
            };
            terms.push(term);
        }
        if terms
            .iter()
            .all(|t| matches!(t, Term::NotEquals(..) | Term::Absent(_)))
        {
            return Err(SelectorError(
                "a selector must require something (k=v or k), or it would match almost every pod"
                    .into(),
            ));
        }
        terms.sort();
        terms.dedup();
        Ok(Selector(terms))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|t| match t {
            Term::Equals(k, v) => labels.get(k) == Some(v),
            Term::NotEquals(k, v) => labels.get(k) != Some(v),
            Term::Exists(k) => labels.contains_key(k),
            Term::Absent(k) => !labels.contains_key(k),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|t| match t {
                Term::Equals(k, v) => format!("{k}={v}"),
                Term::NotEquals(k, v) => format!("{k}!={v}"),
                Term::Exists(k) => k.clone(),
                Term::Absent(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn key(k: &str) -> Result<String, SelectorError> {
    let k = k.trim();
    let ok = !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(k.to_string())
    } else {
        Err(SelectorError(format!("bad label key `{k}`")))
    }
}

fn value(v: &str) -> Result<String, SelectorError> {
    let v = v.trim();
    let ok = v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(v.to_string())
    } else {
        Err(SelectorError(format!("bad label value `{v}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_normalises_and_matches() {
        let s = Selector::parse("deployment=zync-database, app").unwrap();
        assert_eq!(
            s,
            Selector::parse("app,deployment==zync-database").unwrap(),
            "order and == do not matter"
        );
        assert!(s.matches(&labels(&[
            ("deployment", "zync-database"),
            ("app", "3scale")
        ])));
        assert!(!s.matches(&labels(&[
            ("deployment", "system-mysql"),
            ("app", "3scale")
        ])));
        assert!(
            Selector::parse("!app").is_err(),
            "a selector that requires nothing is refused"
        );
        assert!(Selector::parse("a=b c").is_err());
        assert!(Selector::parse("").is_err());
    }
}
