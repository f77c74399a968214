//! Rust types and host traits generated from the contract, `wit/plugin.wit`. Each
//! interface's host trait is implemented by the capability module of the same name.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host calls talk to the API server and stream data, so they are async; `trappable`
    // lets a host call end a plugin that abuses the host (a log flood) with a trap, and
    // `trappable_error_type` lets host code return the host's own error, mapped once.
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "host:plugin/types.error" => super::HostError,
    },
    with: {
        "host:plugin/store.reader": super::artifacts::ReaderHandle,
        "host:plugin/store.writer": super::artifacts::WriterHandle,
    },
});
