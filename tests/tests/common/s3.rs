//! A real S3-compatible server for the tests: moto's standalone server (scripts/setup
//! installs it in /opt/moto), on a free port of 127.0.0.1, with one bucket. Objects are
//! read and written behind the host's back with curl's SigV4, as a user with the AWS CLI
//! would.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BUCKET: &str = "backups";
const KEY_ID: &str = "testing";
const SECRET: &str = "testing-secret";

pub struct S3 {
    pub endpoint: String,
    child: Mutex<Child>,
}

impl S3 {
    pub fn start() -> S3 {
        let server = std::env::var("HOST_TEST_MOTO")
            .unwrap_or_else(|_| "/opt/moto/bin/moto_server".to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&server);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = super::lifetime::spawn_for_process(cmd)
            .unwrap_or_else(|e| panic!("{server} starts ({e}); ./scripts/setup installs it"));
        let s3 = S3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Mutex::new(child),
        };
        let started = Instant::now();
        loop {
            let code = s3.curl(&["-X", "PUT"], BUCKET, None).0;
            if code == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not answer on {} within 60 s",
                s3.endpoint
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        s3
    }

    /// The environment a host run needs to reach the bucket: the usual AWS variables.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1");
    }

    /// `s3://BUCKET/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// (HTTP status, body) of a signed request for `path` (`BUCKET/KEY...`).
    fn curl(&self, args: &[&str], path: &str, body: Option<&[u8]>) -> (u16, Vec<u8>) {
        let out_file = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o"])
            .arg(out_file.path())
            .args(["-w", "%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3"])
            .args(["--user", &format!("{KEY_ID}:{SECRET}")])
            .args(args)
            .arg(format!("{}/{path}", self.endpoint));
        let input = body.map(|b| {
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), b).unwrap();
            f
        });
        if let Some(f) = &input {
            cmd.arg("--data-binary")
                .arg(format!("@{}", f.path().display()));
        }
        let out = cmd.output().expect("curl runs");
        let code = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
        (code, std::fs::read(out_file.path()).unwrap_or_default())
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        let (code, body) = self.curl(&[], &format!("{BUCKET}/{key}"), None);
        assert_eq!(code, 200, "GET {key}: {}", String::from_utf8_lossy(&body));
        body
    }

    pub fn put(&self, key: &str, bytes: &[u8]) {
        let (code, body) = self.curl(&["-X", "PUT"], &format!("{BUCKET}/{key}"), Some(bytes));
        assert_eq!(code, 200, "PUT {key}: {}", String::from_utf8_lossy(&body));
    }

    /// Every key under `prefix`, as S3's ListObjectsV2 gives them.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("{BUCKET}?list-type=2&prefix={prefix}");
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={}", urlencode(t)));
            }
            let (code, body) = self.curl(&[], &query, None);
            let xml = String::from_utf8_lossy(&body).into_owned();
            assert_eq!(code, 200, "LIST {prefix}: {xml}");
            keys.extend(between(&xml, "<Key>", "</Key>"));
            token = between(&xml, "<NextContinuationToken>", "</NextContinuationToken>")
                .into_iter()
                .next();
            if token.is_none() {
                return keys;
            }
        }
    }
}

fn between(xml: &str, open: &str, close: &str) -> Vec<String> {
    xml.split(open)
        .skip(1)
        .filter_map(|s| s.split(close).next())
        .map(|s| s.replace("&amp;", "&"))
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for S3 {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}
