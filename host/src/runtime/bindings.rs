//! Rust types and host traits generated from the contract, `wit/plugin.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host calls talk to the API server and stream data, so they are async; `trappable`
    // lets a host call end a plugin that abuses the host (a log flood) with a trap.
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "host:plugin/store.reader": crate::iface::store::ReaderHandle,
        "host:plugin/store.writer": crate::iface::store::WriterHandle,
    },
});
