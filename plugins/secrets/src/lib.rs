//! The Secrets a 3scale installation needs back after a disaster: credentials of the
//! databases and of the internal APIs. Each is written sanitised (no resourceVersion,
//! uid or owner), so it applies to a new cluster as well as to this one.

use guest_sdk::prelude::*;
use guest_sdk::threescale::sanitize_for_export;

const SECRETS: &[&str] = &[
    "system-smtp",
    "system-seed",
    "system-database",
    "backend-internal-api",
    "system-events-hook",
    "system-app",
    "system-recaptcha",
    "system-redis",
    "zync",
    "system-master-apicast",
    "backend-listener",
    "backend-redis",
    "system-memcache",
];

struct Secrets;

impl Plugin for Secrets {
    fn backup() -> Result<()> {
        let mut saved = 0;
        for name in SECRETS {
            match cluster::get("v1", "Secret", name) {
                Ok(secret) => {
                    let text = json::to_vec_pretty(&sanitize_for_export(&secret))
                        .map_err(|e| Error::failed(e.to_string()))?;
                    store::write(&format!("secrets/{name}.json"), &text)?;
                    saved += 1;
                }
                // Optional in some installations (an external SMTP, no recaptcha).
                Err(Error::NotFound(_)) => warn!("secret {name} does not exist; not backed up"),
                Err(e) => return Err(e),
            }
        }
        info!("9.4.6.1: {saved} secrets saved under secrets/");
        Ok(())
    }

    fn restore() -> Result<()> {
        let mut applied = 0;
        for entry in store::list("secrets")? {
            if entry.is_dir || !entry.path.ends_with(".json") {
                continue;
            }
            let object: Value = json::from_slice(&store::read_bytes(&entry.path)?)
                .or_invalid(&format!("{} is not JSON", entry.path))?;
            if object["kind"] != "Secret" {
                return Err(Error::invalid(format!("{} is not a Secret", entry.path)));
            }
            cluster::apply(&object)?;
            applied += 1;
        }
        if applied == 0 {
            return Err(Error::invalid("secrets/ holds no Secret to restore"));
        }
        info!("9.5.1: {applied} secrets created or replaced");
        Ok(())
    }
}

guest_sdk::export_plugin!(Secrets);
