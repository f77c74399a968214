//! Kubernetes names, kinds and API versions as the API server spells them. A name goes
//! into a URL path segment (`/api/v1/namespaces/NS/secrets/NAME`), so anything beyond the
//! API server's own grammar is a way around a grant: `x/status` reaches a subresource,
//! `svc:80/proxy/...` the service proxy, `../secrets/s` another kind behind a proxy that
//! folds dot-segments, `a?b` a query. Each is refused here, before a URL is built.

/// An RFC 1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63): how Kubernetes names
/// containers, Deployments and Services (`IsDNS1123Label`).
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// An RFC 1123 subdomain (dot-separated labels, at most 253): the name of most objects,
/// ConfigMaps, Secrets and Pods among them (`IsDNS1123Subdomain`).
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Why an object name cannot be one, in words, or `Ok`.
pub fn check_object_name(name: &str) -> Result<(), String> {
    if is_dns_subdomain(name) {
        return Ok(());
    }
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > 253 {
        "it is longer than 253 characters"
    } else if name.contains('/') {
        "`/` would reach another resource or a subresource"
    } else if name.contains(['?', '#', '%', ':']) {
        "`?`, `#`, `%` and `:` have a meaning in a URL"
    } else {
        "only lowercase letters, digits, `-` and `.` are allowed, starting and ending with a letter or digit"
    };
    Err(format!(
        "`{}` is not a Kubernetes object name (RFC 1123 subdomain): {why}",
        shorten(name)
    ))
}

/// A kind as the API server spells it: `ConfigMap`, `APIManager`. Kinds are
/// case-sensitive, and kube derives a resource's plural from the kind's spelling, so
/// `secret` or `configmap` would reach what `Secret` names under another name.
pub fn is_kind(kind: &str) -> bool {
    kind.len() <= 63
        && kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `v1` (the core group) or `GROUP/VERSION`, the group a DNS subdomain and the version a
/// DNS label; `/v1`, `apps/` or `a/b/c` are refused rather than guessed at. Returns
/// (group, version).
pub fn split_api_version(api_version: &str) -> Result<(&str, &str), String> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let group_ok = group.is_empty() && !api_version.contains('/') || is_dns_subdomain(group);
    if !group_ok || !is_dns_label(version) {
        return Err(format!(
            "`{}` is not an API version (`v1` or `GROUP/VERSION`, such as `apps/v1`)",
            shorten(api_version)
        ));
    }
    Ok((group, version))
}

/// A plugin's string in a message: never more than a line's worth of it.
fn shorten(s: &str) -> String {
    const SHOWN: usize = 100;
    if s.chars().count() <= SHOWN {
        return s.to_string();
    }
    let head: String = s.chars().take(SHOWN).collect();
    format!("{head}… ({} bytes in all)", s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_rfc1123_subdomains() {
        for ok in [
            "redis-config",
            "system-app-1-abc12",
            "a",
            "a.b-c.d",
            "3scale",
        ] {
            check_object_name(ok).unwrap();
        }
        for (bad, why) in [
            ("x/status", "subresource"),
            ("svc:80/proxy/metrics", "subresource"),
            ("../secrets/s", "subresource"),
            ("a?b", "meaning in a URL"),
            ("a#b", "meaning in a URL"),
            ("%2e%2e", "meaning in a URL"),
            ("System-App", "lowercase"),
            ("-a", "lowercase"),
            ("a..b", "lowercase"),
            (".", "lowercase"),
            ("", "empty"),
        ] {
            let m = check_object_name(bad).unwrap_err();
            assert!(m.contains(why), "{bad}: {m}");
        }
        assert!(check_object_name(&"a".repeat(254)).is_err());
        let huge = check_object_name(&"/".repeat(1 << 20)).unwrap_err();
        assert!(
            huge.len() < 500,
            "a message quotes a line of the name, not all of it"
        );
    }

    #[test]
    fn kinds_are_spelled_as_the_api_server_does() {
        for ok in ["Secret", "ConfigMap", "APIManager", "PodMetrics"] {
            assert!(is_kind(ok), "{ok}");
        }
        for bad in [
            "secret",
            "configmaps",
            "Config Map",
            "Secret/status",
            "",
            "Pod\u{1b}",
        ] {
            assert!(!is_kind(bad), "{bad}");
        }
    }

    #[test]
    fn api_versions_are_v1_or_group_slash_version() {
        assert_eq!(split_api_version("v1").unwrap(), ("", "v1"));
        assert_eq!(split_api_version("apps/v1").unwrap(), ("apps", "v1"));
        assert_eq!(
            split_api_version("apps.3scale.net/v1alpha1").unwrap(),
            ("apps.3scale.net", "v1alpha1")
        );
        for bad in ["/v1", "apps/", "a/b/c", "", "V1", "apps/v1?x=y", "../v1"] {
            assert!(split_api_version(bad).is_err(), "{bad}");
        }
    }
}
