//! `oc get configmaps NAME -o json > NAME.json` (9.4.6.2) and `oc apply -f NAME.json`
//! (9.5.1), the same in every release. The export is sanitised: a file with the live
//! object's resourceVersion would conflict on apply.

use guest_sdk::prelude::*;

use crate::export::sanitize;

const CONFIGMAPS: &[&str] = &["system-environment", "apicast-environment"];

pub fn backup() -> Result<()> {
    for name in CONFIGMAPS {
        let object = sanitize(&objects::get("v1", "ConfigMap", name)?);
        let text = json::to_vec_pretty(&object).map_err(|e| Error::failed(e.to_string()))?;
        store::write(&format!("{name}.json"), &text)?;
        info!("9.4.6.2: configmap {name} -> {name}.json");
    }
    Ok(())
}

pub fn restore() -> Result<()> {
    for name in CONFIGMAPS {
        let file = format!("{name}.json");
        let object: Value = json::from_slice(&store::read_bytes(&file)?)
            .or_invalid(&format!("{file} is not JSON"))?;
        if object["kind"] != "ConfigMap" || object["metadata"]["name"] != *name {
            return Err(Error::invalid(format!(
                "{file} is not the ConfigMap {name}"
            )));
        }
        objects::apply(&object)?;
        info!("9.5.1: oc apply -f {file}");
    }
    Ok(())
}
