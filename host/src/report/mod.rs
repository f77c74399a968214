//! Reports for machines: `-o json` and `-o yaml`. Every document carries `apiVersion`
//! and `kind`, as Kubernetes objects do, so a script can check what it reads; the fields
//! of each kind are in `schema.rs` and documented in docs/reports.md. Fields are only
//! ever added within one `apiVersion`; a change that would break a reader takes a new
//! one.

pub mod metrics;
pub mod schema;
pub mod text;

use serde::Serialize;

pub const API_VERSION: &str = "host.3scale.net/v1";

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// For people: tables and sentences.
    #[default]
    Text,
    Json,
    Yaml,
}

impl Format {
    pub fn machine(self) -> bool {
        self != Format::Text
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, T: Serialize> {
    api_version: &'static str,
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// The document for `body` as `kind`, in `format` (JSON or YAML), ending in a newline.
pub fn render<T: Serialize>(format: Format, kind: &str, body: &T) -> String {
    let doc = Document {
        api_version: API_VERSION,
        kind,
        body,
    };
    match format {
        Format::Yaml => serde_yaml::to_string(&doc).expect("reports serialise"),
        _ => {
            let mut text = serde_json::to_string_pretty(&doc).expect("reports serialise");
            text.push('\n');
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_say_what_they_are() {
        let body = schema::ErrorReport {
            message: "refused".into(),
            exit_code: 3,
        };
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, "Error", &body)).unwrap();
        assert_eq!(json["apiVersion"], API_VERSION);
        assert_eq!(json["kind"], "Error");
        assert_eq!(json["exitCode"], 3);
        let yaml = render(Format::Yaml, "Error", &body);
        assert!(yaml.contains("kind: Error"), "{yaml}");
    }
}
