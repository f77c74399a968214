//! `host`: backs up and restores 3scale through sandboxed Wasm plugins.
