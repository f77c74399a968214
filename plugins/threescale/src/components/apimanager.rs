//! 9.5.1 on a new cluster: with the operator installed and the Secrets and ConfigMaps
//! restored, the APIManager from the set is created and the operator deploys 3scale.
//! system-app comes after this plugin, so its quiesce then scales the new install's
//! system-app down as 9.5 asks, and the data load into a quiet install. The operator's
//! own first run of `rake boot openshift:deploy` (2.15's system-app-pre Job,
//! 2.14's pre hook of system-app's first rollout) seeds an empty database; the MySQL load
//! replaces it.

use guest_sdk::prelude::*;

use crate::apimanager::{self, API, KIND, WAIT};
use crate::export::sanitize;
use crate::release::Release;

const ARTIFACT: &str = "apimanager.json";

pub fn backup() -> Result<()> {
    let name = apimanager::name()?;
    let object = sanitize(&objects::get(API, KIND, &name)?);
    let text = json::to_vec_pretty(&object).map_err(|e| Error::failed(e.to_string()))?;
    store::write(ARTIFACT, &text)?;
    info!("9.5.1: APIManager {name} -> {ARTIFACT}");
    Ok(())
}

pub fn restore(release: &Release) -> Result<()> {
    if let Some(name) = apimanager::find()? {
        info!("9.5.1: APIManager {name} exists; it stays as it is");
        return Ok(());
    }
    if !store::exists(ARTIFACT)? {
        return Err(Error::not_found(format!(
            "the namespace has no APIManager and the set holds no {ARTIFACT} (a set made with the manual's commands): install the 3scale operator and create the APIManager first (manual 9.5.1), then restore"
        )));
    }
    let object: Value = json::from_slice(&store::read_bytes(ARTIFACT)?)
        .or_invalid(&format!("{ARTIFACT} is not JSON"))?;
    if object["kind"] != KIND {
        return Err(Error::invalid(format!("{ARTIFACT} is not an APIManager")));
    }
    let name = object["metadata"]["name"]
        .as_str()
        .or_invalid("the APIManager has no name")?
        .to_string();
    info!("9.5.1: creating APIManager {name}; the operator deploys 3scale");
    objects::apply(&object).map_err(|e| {
        if e.is_not_found() {
            e.context(
                "the APIManager kind is unknown: install the 3scale operator first (manual 9.5.1)",
            )
        } else {
            e
        }
    })?;
    let w = release.workload;
    for component in release.components {
        w.wait_available(component, WAIT).map_err(|e| {
            e.context(&format!(
                "waiting for the operator to deploy {}",
                w.noun(component)
            ))
        })?;
    }
    info!("9.5.1: 3scale is deployed");
    Ok(())
}
