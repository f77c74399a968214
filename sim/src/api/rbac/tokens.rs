//! ServiceAccount tokens the TokenRequest subresource issued. A real API server signs a
//! JWT and keeps nothing; its token authenticator then checks the signature, the expiry
//! and that the ServiceAccount named in the claims still exists with the same UID
//! (pkg/serviceaccount/claims.go `validator.Validate`). Here a token is an opaque random
//! string and the claims are kept by the simulator, under the token's SHA-256 (not the
//! token itself), in the data directory so a restart of `sim serve` keeps them valid.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Result, SimError};

/// What a token says, as a bound token's claims do (`kubernetes.io/serviceaccount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub namespace: String,
    pub name: String,
    /// The ServiceAccount's UID when the token was issued: a new ServiceAccount of the
    /// same name is another account, and the old token is not its.
    pub uid: String,
    /// Unix seconds.
    pub expires: i64,
}

pub struct Tokens {
    path: Option<PathBuf>,
    issued: Mutex<BTreeMap<String, Claims>>,
}

impl Tokens {
    /// The tokens kept at `path` (none if it does not exist yet); `None` keeps them in
    /// memory only.
    pub fn open(path: Option<PathBuf>) -> Result<Tokens> {
        let mut issued = BTreeMap::new();
        if let Some(path) = &path
            && path.exists()
        {
            let text = std::fs::read(path).map_err(|e| SimError::io(path, e))?;
            issued = serde_json::from_slice(&text)?;
        }
        Ok(Tokens {
            path,
            issued: Mutex::new(issued),
        })
    }

    /// A new token for `claims`.
    pub fn issue(&self, claims: Claims) -> Result<String> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let mut issued = self.issued.lock().unwrap();
        let now = chrono::Utc::now().timestamp();
        issued.retain(|_, c| c.expires > now);
        issued.insert(digest(&token), claims);
        self.persist(&issued)?;
        Ok(token)
    }

    /// The claims of `token` if it was issued here and has not expired.
    pub fn claims(&self, token: &str) -> Option<Claims> {
        let issued = self.issued.lock().unwrap();
        issued
            .get(&digest(token))
            .filter(|c| c.expires > chrono::Utc::now().timestamp())
            .cloned()
    }

    fn persist(&self, issued: &BTreeMap<String, Claims>) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec(issued)?;
        // Private, like the admin token's kubeconfig should be.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| SimError::io(&tmp, e))?;
        std::io::Write::write_all(&mut file, &text).map_err(|e| SimError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| SimError::io(path, e))
    }
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: i64) -> Claims {
        Claims {
            namespace: "3scale".into(),
            name: "host".into(),
            uid: "u1".into(),
            expires,
        }
    }

    #[test]
    fn a_token_is_known_until_it_expires_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let tokens = Tokens::open(Some(path.clone())).unwrap();
        let later = chrono::Utc::now().timestamp() + 3600;
        let token = tokens.issue(claims(later)).unwrap();
        let expired = tokens.issue(claims(1)).unwrap();
        assert_eq!(tokens.claims(&token), Some(claims(later)));
        assert_eq!(tokens.claims(&expired), None);
        assert_eq!(tokens.claims("not-a-token"), None);
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&token));
        let reopened = Tokens::open(Some(path)).unwrap();
        assert_eq!(reopened.claims(&token), Some(claims(later)));
    }
}
