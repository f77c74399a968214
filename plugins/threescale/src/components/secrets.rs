//! The Secrets a 3scale installation needs back after a disaster: credentials of the
//! databases and of the internal APIs, the release's list ([`Release::secrets`]). Each is
//! written sanitised (no resourceVersion, uid or owner), so it applies to a new cluster
//! as well as to this one, under the manual's own file name, so `oc apply -f NAME.json`
//! restores it by hand too.

use guest_sdk::prelude::*;

use crate::export::sanitize;
use crate::release::Release;

pub fn backup(release: &Release) -> Result<()> {
    let mut saved = 0;
    for name in release.secrets {
        match objects::get("v1", "Secret", name) {
            Ok(secret) => {
                let text = json::to_vec_pretty(&sanitize(&secret))
                    .map_err(|e| Error::failed(e.to_string()))?;
                store::write(&format!("{name}.json"), &text)?;
                saved += 1;
            }
            // Optional in some installations (an external SMTP, no recaptcha).
            Err(e) if e.is_not_found() => warn!("secret {name} does not exist; not backed up"),
            Err(e) => return Err(e),
        }
    }
    info!("9.4.6.1: {saved} secrets saved as NAME.json");
    Ok(())
}

pub fn restore(release: &Release) -> Result<()> {
    let mut applied = 0;
    for name in release.secrets {
        let file = format!("{name}.json");
        let legacy = release
            .legacy_secrets_dir
            .map(|dir| format!("{dir}/{name}.json"));
        let path = if store::exists(&file)? {
            file
        } else if let Some(legacy) = legacy
            && store::exists(&legacy)?
        {
            legacy
        } else {
            warn!("the set holds no {file}; secret {name} is left as it is");
            continue;
        };
        let object: Value = json::from_slice(&store::read_bytes(&path)?)
            .or_invalid(&format!("{path} is not JSON"))?;
        if object["kind"] != "Secret" || object["metadata"]["name"] != *name {
            return Err(Error::invalid(format!("{path} is not the Secret {name}")));
        }
        objects::apply(&object)?;
        applied += 1;
    }
    if applied == 0 {
        return Err(Error::invalid("the set holds no Secret to restore"));
    }
    info!("9.5.1: {applied} secrets created or replaced");
    Ok(())
}
