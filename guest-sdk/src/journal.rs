//! Notes about cluster state a restore changes, kept by the host on disk before each
//! call returns, so `resume` can put things back after a failure, a trap or a crash.

use serde_json::Value;

use crate::__bindings::host::plugin::journal as wit;
use crate::Result;

pub fn record(key: &str, value: &str) -> Result<()> {
    Ok(wit::record(key, value)?)
}

pub fn recall(key: &str) -> Option<String> {
    wit::recall(key)
}

pub fn forget(key: &str) -> Result<()> {
    Ok(wit::forget(key)?)
}

pub fn record_json(key: &str, value: &Value) -> Result<()> {
    record(key, &value.to_string())
}

/// The note as JSON; a note that is not JSON is an error, not a missing note.
pub fn recall_json(key: &str) -> Result<Option<Value>> {
    recall(key)
        .map(|text| serde_json::from_str(&text).map_err(Into::into))
        .transpose()
}
