//! What the API server (or the way to it) said, in words a person reads: not kube's
//! debug dump of a `Status`.

/// `the API server answered 500 Internal Server Error (InternalError): etcdserver: leader changed`
pub fn in_words(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let code = http::StatusCode::from_u16(status.code)
                .map(|c| c.to_string())
                .unwrap_or_else(|_| status.code.to_string());
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", status.reason)
            };
            let message = if status.message.is_empty() {
                "no message".to_string()
            } else {
                status.message.clone()
            };
            format!("the API server answered {code}{reason}: {message}")
        }
        kube::Error::HyperError(e) => format!("the connection to the API server failed: {e}"),
        kube::Error::Service(e) => format!("the request to the API server failed: {e}"),
        kube::Error::SerdeError(e) => {
            format!("the API server's answer is not what was expected: {e}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_a_sentence() {
        let status = kube::core::Status::failure("etcdserver: leader changed", "InternalError")
            .with_code(500);
        let words = in_words(&kube::Error::Api(Box::new(status)));
        assert_eq!(
            words,
            "the API server answered 500 Internal Server Error (InternalError): etcdserver: leader changed"
        );
        assert!(!words.contains("Status {"));
    }
}
