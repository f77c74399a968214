//! Query strings as clients send them: form-encoded, repeated keys, and kube-rs's leading
//! `&` (empty pairs are skipped).

#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let raw = raw.unwrap_or("");
        Query(
            form_urlencoded::parse(raw.as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_rs_and_kubectl_queries() {
        let q = Query::parse(Some(
            "&stdin=true&command=bash&command=-c&command=echo+hi%21",
        ));
        assert!(q.flag("stdin"));
        assert!(!q.flag("tty"));
        assert_eq!(q.all("command"), vec!["bash", "-c", "echo hi!"]);
    }
}
