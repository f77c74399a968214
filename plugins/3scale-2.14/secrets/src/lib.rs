//! The 3scale Secrets as NAME.json (9.4.6.1, 9.5.1): [`threescale::components::secrets`]
//! with the 2.14 manual's ten ([`threescale::v2_14::SECRETS`]).

use guest_sdk::prelude::*;
use threescale::components::secrets;
use threescale::v2_14::RELEASE;

struct Secrets;

impl Plugin for Secrets {
    fn backup() -> Result<()> {
        secrets::backup(&RELEASE)
    }

    fn restore() -> Result<()> {
        secrets::restore(&RELEASE)
    }
}

guest_sdk::export_plugin!(Secrets);
