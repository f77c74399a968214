//! The Secrets a 3scale installation needs back after a disaster: credentials of the
//! databases and of the internal APIs. Each is written sanitised (no resourceVersion,
//! uid or owner), so it applies to a new cluster as well as to this one, under the
//! manual's own file name, so `oc apply -f NAME.json` restores it by hand too.

use guest_sdk::prelude::*;
use threescale::export::sanitize;

/// The Secrets the 2.15 operator reconciles (the component constants and their
/// ReconcileSecret calls in pkg/3scale/amp/operator/*_reconciler.go).
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

/// Where host 0.1 kept them.
const LEGACY_DIR: &str = "secrets";

struct Secrets;

impl Plugin for Secrets {
    fn backup() -> Result<()> {
        let mut saved = 0;
        for name in SECRETS {
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

    fn restore() -> Result<()> {
        let mut applied = 0;
        for name in SECRETS {
            let file = format!("{name}.json");
            let legacy = format!("{LEGACY_DIR}/{name}.json");
            let path = if store::exists(&file)? {
                file
            } else if store::exists(&legacy)? {
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
}

guest_sdk::export_plugin!(Secrets);
