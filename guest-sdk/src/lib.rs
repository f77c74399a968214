//! The crate plugin authors use.
