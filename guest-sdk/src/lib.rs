//! The crate a `host` plugin author depends on: the contract, and nothing of any one
//! product. (The 3scale procedures are in the plugins' own `threescale` crate.)
//!
//! A plugin is a type implementing [`Plugin`], exported with [`export_plugin!`], next to a
//! `plugin.toml` manifest that the macro embeds in the component so the host can read
//! what the plugin may touch without running it (its grammar: `host-contract`'s
//! `manifest` module; a `build.rs` calling `contract::build::check_plugin_manifest()`
//! refuses a wrong manifest at build time). The plugin orchestrates; the host moves the
//! bytes: dumps and files flow between a pod and the backup set through
//! [`pods::exec_to_artifact`], [`pods::artifact_to_exec`], [`pods::copy_from_pod`] and
//! [`pods::copy_to_pod`] and never enter the plugin's memory.
//!
//! ```ignore
//! use guest_sdk::prelude::*;
//!
//! struct Zync;
//!
//! impl Plugin for Zync {
//!     fn backup() -> Result<()> {
//!         let pod = pods::find_pod("deployment=zync-database")?;
//!         pods::exec_to_artifact(&pod, &["bash", "-c", "pg_dump zync_production"],
//!             "zync-database-backup.gz", Compression::Gzip)?;
//!         Ok(())
//!     }
//! }
//!
//! guest_sdk::export_plugin!(Zync);
//! ```

extern crate self as guest_sdk;

#[doc(hidden)]
pub mod __bindings {
    //! What wit-bindgen generates from `wit/plugin.wit` (inside this crate). Not part of
    //! the SDK's API: the modules below wrap it.
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "guest_sdk::__bindings",
        runtime_path: "guest_sdk::__private::wit_bindgen::rt",
        generate_all,
    });
}

mod error;
pub mod journal;
pub mod log;
pub mod objects;
pub mod pods;
pub mod rollout;
pub mod store;

pub use __bindings::host::plugin::types::Compression;
pub use error::{CommandFailure, Error, ErrorKind, OrInvalid, Result};
pub use serde_json as json;

/// What a plugin implements: one function per hook. Hooks its manifest does not list are
/// never called, so only those need writing.
pub trait Plugin {
    /// Write this component's artifacts into the backup set.
    fn backup() -> Result<()> {
        Err(Error::invalid("this plugin has no backup hook"))
    }
    /// Stop what would write to the data, before any restore begins.
    fn quiesce() -> Result<()> {
        Ok(())
    }
    /// Put this component's artifacts back.
    fn restore() -> Result<()> {
        Err(Error::invalid("this plugin has no restore hook"))
    }
    /// Bring back what quiesce or restore stopped, from the journal. Runs after every
    /// restore, successful or not, and may run more than once.
    fn resume() -> Result<()> {
        Ok(())
    }
}

pub mod prelude {
    //! `use guest_sdk::prelude::*;` for a plugin.
    pub use crate::json::{self, Value, json};
    pub use crate::{
        Compression, Error, ErrorKind, OrInvalid, Plugin, Result, journal, log, objects, pods,
        rollout, store,
    };
    pub use crate::{info, warn};
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::__bindings::host::plugin::types::Error as WitError;

    pub fn hook(result: crate::Result<()>) -> Result<(), WitError> {
        result.map_err(Into::into)
    }
}

/// Exports a [`Plugin`] as the component's `plugin` world and embeds the crate's
/// `plugin.toml` in the `host-plugin-manifest` custom section, which the host reads
/// without running the plugin; `describe()` returns the same text.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            const MANIFEST: &[u8] =
                include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml"));

            #[unsafe(link_section = "host-plugin-manifest")]
            #[used]
            static EMBEDDED_MANIFEST: [u8; MANIFEST.len()] = {
                let mut out = [0u8; MANIFEST.len()];
                let mut i = 0;
                while i < MANIFEST.len() {
                    out[i] = MANIFEST[i];
                    i += 1;
                }
                out
            };

            struct Exports;

            impl $crate::__bindings::Guest for Exports {
                fn describe() -> ::std::string::String {
                    ::std::string::String::from_utf8_lossy(&EMBEDDED_MANIFEST).into_owned()
                }
                fn backup()
                -> ::core::result::Result<(), $crate::__bindings::host::plugin::types::Error>
                {
                    $crate::__private::hook(<$plugin as $crate::Plugin>::backup())
                }
                fn quiesce()
                -> ::core::result::Result<(), $crate::__bindings::host::plugin::types::Error>
                {
                    $crate::__private::hook(<$plugin as $crate::Plugin>::quiesce())
                }
                fn restore()
                -> ::core::result::Result<(), $crate::__bindings::host::plugin::types::Error>
                {
                    $crate::__private::hook(<$plugin as $crate::Plugin>::restore())
                }
                fn resume()
                -> ::core::result::Result<(), $crate::__bindings::host::plugin::types::Error>
                {
                    $crate::__private::hook(<$plugin as $crate::Plugin>::resume())
                }
            }

    $crate::__bindings::__export_world!(Exports with_types_in $crate::__bindings);
        };
    };
}
