//! One wasmtime engine per process: component model, epoch interruption driven by a
//! ticker thread (the guest CPU deadline), Cranelift optimising for speed.

use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel};

use crate::error::{Error, Result};

/// How often the epoch advances; the deadline check happens at this granularity.
pub const TICK: Duration = Duration::from_millis(10);

pub fn new() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    let engine = Engine::new(&config).map_err(|e| Error::wasm("cannot start wasmtime", e))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map_err(|e| Error::io("the epoch ticker thread", e))?;
    Ok(engine)
}
