//! A request's authorization attributes, as kube-apiserver's `RequestInfoFactory` reads
//! them from the URL (staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go,
//! `NewRequestInfo`) and the authorization filter passes them on
//! (endpoints/filters/authorization.go `GetAuthorizerAttributes`).

use axum::http::Method;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, ...) of a resource request;
    /// the lower-case HTTP method of any other.
    pub verb: String,
    /// The URL path (what non-resource rules match).
    pub path: String,
    /// Under `/api/VERSION/...` or `/apis/GROUP/VERSION/...`, past the discovery documents.
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// requestinfo.go `specialVerbs`: the deprecated verb-in-path forms.
const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
/// `namespaceSubresources`: `/namespaces/NAME/status` is the namespace's subresource,
/// not a resource inside it.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

impl Attributes {
    /// `NewRequestInfo` for kube-apiserver's prefixes (`api` without a group, `apis` with
    /// one). `Err` is its "unable to determine kind and namespace from url".
    pub fn of(method: &Method, path: &str, query: Option<&str>) -> Result<Attributes, String> {
        let mut info = Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
            ..Attributes::default()
        };
        let trimmed = path.trim_matches('/');
        let mut parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
            return Ok(info);
        }
        let grouped = parts[0] == "apis";
        parts.remove(0);
        if grouped {
            // /apis/GROUP/VERSION alone is discovery.
            if parts.len() < 3 {
                return Ok(info);
            }
            info.api_group = parts.remove(0).to_string();
        }
        info.resource_request = true;
        info.api_version = parts.remove(0).to_string();

        if SPECIAL_VERBS.contains(&parts[0]) {
            if parts.len() < 2 {
                return Err(format!(
                    "unable to determine kind and namespace from url, {path}"
                ));
            }
            info.verb = parts.remove(0).to_string();
        } else {
            info.verb = match *method {
                Method::POST => "create",
                Method::GET | Method::HEAD => "get",
                Method::PUT => "update",
                Method::PATCH => "patch",
                Method::DELETE => "delete",
                _ => "",
            }
            .to_string();
        }

        // /namespaces/NS/RESOURCE/...: the rest is relative to the resource.
        if parts[0] == "namespaces" && parts.len() > 1 {
            info.namespace = parts[1].to_string();
            if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
                parts.drain(..2);
            }
        }

        // resource/name/subresource/...
        if parts.len() >= 3 && info.verb != "proxy" {
            info.subresource = parts[2].to_string();
        }
        if parts.len() >= 2 {
            info.name = parts[1].to_string();
        }
        info.resource = parts[0].to_string();

        // No name and a get: a list or a watch. The query decodes as ListOptions; a
        // `fieldSelector` that requires `metadata.name=X` names the object, so a rule
        // with resourceNames can allow a list or watch of that one object (what
        // `kubectl get NAME -w` and `rollout status` send).
        if info.name.is_empty() && info.verb == "get" {
            let options = ListOptions::decode(query);
            info.verb = if options.watch { "watch" } else { "list" }.to_string();
            if let Some(name) = options.name.filter(|n| valid_path_segment(n)) {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_string();
        }
        Ok(info)
    }

    /// The same request asked about another verb (pod/rest/subresources.go
    /// `overrideVerb`).
    pub fn with_verb(&self, verb: &str) -> Attributes {
        Attributes {
            verb: verb.to_string(),
            ..self.clone()
        }
    }

    /// `resource/subresource`, as RBAC rules and the forbidden message name it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// What `NewRequestInfo` takes from the query of a list or watch.
struct ListOptions {
    watch: bool,
    /// The name a `metadata.name=X` field selector requires.
    name: Option<String>,
}

impl ListOptions {
    /// `ParameterCodec.DecodeParameters` into ListOptions: `watch` is true for any value
    /// but `0` and `false` (apimachinery runtime/conversion.go
    /// `Convert_Slice_string_To_bool`). If the selectors do not parse, decoding fails and
    /// requestinfo.go keeps only `watch`, with no name.
    fn decode(query: Option<&str>) -> ListOptions {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let first = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let watch = first("watch").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
        let labels_parse =
            first("labelSelector").is_none_or(|s| crate::selector::LabelSelector::parse(s).is_ok());
        let name = match first("fieldSelector").map(required_name) {
            Some(Ok(name)) if labels_parse => name,
            _ => None,
        };
        ListOptions { watch, name }
    }
}

/// fields.Selector `RequiresExactMatch("metadata.name")` of a field selector
/// (apimachinery pkg/fields/selector.go): the value of a `metadata.name=X` or
/// `metadata.name==X` term. `Err` if the selector does not parse (a term without an
/// operator).
fn required_name(selector: &str) -> Result<Option<String>, ()> {
    let mut name = None;
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once("==") {
            (f, v, true)
        } else if let Some((f, v)) = term.split_once('=') {
            (f, v, true)
        } else {
            return Err(());
        };
        if equal && field.trim() == "metadata.name" && name.is_none() {
            name = Some(value.trim().to_string());
        }
    }
    Ok(name)
}

/// apimachinery api/validation/path `IsValidPathSegmentName`.
fn valid_path_segment(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(method: Method, path_and_query: &str) -> Attributes {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        Attributes::of(&method, path, query).unwrap()
    }

    /// `verb group ns resource subresource name`, `-` for empty.
    fn summary(a: &Attributes) -> String {
        assert!(a.resource_request, "{a:?}");
        [
            &a.verb,
            &a.api_group,
            &a.namespace,
            &a.resource,
            &a.subresource,
            &a.name,
        ]
        .map(|s| if s.is_empty() { "-" } else { s.as_str() })
        .join(" ")
    }

    #[test]
    fn verbs_and_names_come_from_the_method_the_path_and_the_list_options() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods",
                "list - 3scale pods - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?watch=true",
                "watch - 3scale pods - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?watch=1&resourceVersion=5",
                "watch - 3scale pods - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?watch=false",
                "list - 3scale pods - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods/p1",
                "get - 3scale pods - p1",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods/p1/exec?command=ls",
                "get - 3scale pods exec p1",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/3scale/pods/p1/exec?command=ls",
                "create - 3scale pods exec p1",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/3scale/serviceaccounts/host/token",
                "create - 3scale serviceaccounts token host",
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/3scale/deployments/d/scale",
                "patch apps 3scale deployments scale d",
            ),
            (
                Method::PUT,
                "/apis/apps/v1/namespaces/3scale/deployments/d",
                "update apps 3scale deployments - d",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/3scale/secrets/s",
                "delete - 3scale secrets - s",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/3scale/secrets",
                "deletecollection - 3scale secrets - -",
            ),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "create authorization.k8s.io - selfsubjectaccessreviews - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale",
                "get - 3scale namespaces - 3scale",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/status",
                "get - 3scale namespaces status 3scale",
            ),
            (Method::GET, "/api/v1/pods", "list - - pods - -"),
            (
                Method::GET,
                "/api/v1/watch/namespaces/3scale/pods",
                "watch - 3scale pods - -",
            ),
            // A field selector on the name names the object of a list or watch.
            (
                Method::GET,
                "/apis/apps/v1/namespaces/3scale/deployments?fieldSelector=metadata.name%3Dsystem-app&watch=true",
                "watch apps 3scale deployments - system-app",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?fieldSelector=status.phase%3DRunning,metadata.name%3D%3Dp1",
                "list - 3scale pods - p1",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?fieldSelector=metadata.name!%3Dp1",
                "list - 3scale pods - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?fieldSelector=metadata.name%3Dp1&labelSelector=a+in+(b",
                "list - 3scale pods - -",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/3scale/pods?fieldSelector=metadata.name%3D..",
                "list - 3scale pods - -",
            ),
        ];
        for (method, url, want) in cases {
            assert_eq!(summary(&of(method.clone(), url)), want, "{method} {url}");
        }
    }

    #[test]
    fn discovery_and_other_paths_are_not_resource_requests() {
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3/apis/apps/v1",
            "/sim/v1/events",
        ] {
            let a = of(Method::GET, path);
            assert!(!a.resource_request, "{path}");
            assert_eq!(a.verb, "get");
            assert_eq!(a.path, path);
        }
        assert_eq!(of(Method::POST, "/sim/v1/seed").verb, "post");
        assert!(Attributes::of(&Method::GET, "/api/v1/watch", None).is_err());
    }
}
